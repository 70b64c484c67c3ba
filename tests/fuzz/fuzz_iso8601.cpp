// timefmt::parse_iso8601_ms against ref::iso8601_ms (reference.h: days counted one year at a
// time), and format_iso8601_ms on any int64 (the input's first 8 bytes): no overflow, and the
// text parses back to the instant, clamped to years 0000..9999.
#include <algorithm>
#include <cstring>

#include "engine/timefmt.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  FUZZ_CHECK(timefmt::parse_iso8601_ms(text) == ref::iso8601_ms(text));

  int64_t ms = 0;
  std::memcpy(&ms, data, std::min(size, sizeof ms));
  static const int64_t first = *ref::iso8601_ms("0000-01-01T00:00:00.000Z");
  static const int64_t last = *ref::iso8601_ms("9999-12-31T23:59:59.999Z");
  std::string printed = timefmt::format_iso8601_ms(ms);
  FUZZ_CHECK(printed.size() == 24);
  FUZZ_CHECK(ref::iso8601_ms(printed) == std::clamp(ms, first, last));
  return 0;
}
