// What every fuzz target shares: a check that turns a wrong answer into a crash libFuzzer keeps
// (the input is saved as a crash-* artifact), and a cheap deterministic hash of the input that
// targets use to vary how they feed it without changing the corpus format (seeds stay plain text).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace fuzz {

inline uint64_t hash(std::string_view s) {  // FNV-1a
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

}  // namespace fuzz
