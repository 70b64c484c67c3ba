// Correlation ids for tests: valid v4-shaped UUIDs, unique across test processes and runs.
#pragma once
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace testsupport {

inline std::string test_uuid(int n) {
  static std::atomic<int> run{0};
  static const int salt = (getpid() & 0xffff) ^ (run++ << 8);
  return fmt::format("{:08x}-0000-4000-8000-{:012d}", salt, n);
}

}  // namespace testsupport
