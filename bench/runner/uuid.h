// Random (version 4) UUIDs for correlationIds: one fast generator per thread, no locking.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace scenario {

class UuidGen {
 public:
  UuidGen();  // seeded from std::random_device
  explicit UuidGen(uint64_t seed);
  // Writes 36 characters "xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx" (no NUL).
  void next(char out[36]);
  std::string next();

 private:
  std::mt19937_64 rng_;
};

// True for the canonical lower- or upper-case 8-4-4-4-12 form of a version 4, RFC 4122 UUID.
bool is_uuid_v4(std::string_view s);

}  // namespace scenario
