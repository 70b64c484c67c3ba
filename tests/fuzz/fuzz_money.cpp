// money::parse_decimal_scaled against ref::decimal_scaled (reference.h: the decimal point moved
// through a string of digits) for every scale the code base uses, with and without rounding; and
// the round trip parse(format_cents(v)) == v for every amount it accepts.
#include <string>

#include "engine/money.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (int scale : {0, 2, 6, 12}) {
    for (bool rounding : {false, true}) {
      auto got = money::parse_decimal_scaled(text, scale, rounding);
      auto want = ref::decimal_scaled(text, scale, rounding);
      if (got != want) {
        std::fprintf(stderr, "scale %d rounding %d: got %s, reference %s\n", scale, rounding,
                     got ? std::to_string(*got).c_str() : "none", want ? std::to_string(*want).c_str() : "none");
      }
      FUZZ_CHECK(got == want);
    }
  }
  if (auto cents = money::parse_amount_cents(text, true)) {
    std::string printed = money::format_cents(*cents);
    FUZZ_CHECK(money::parse_amount_cents(printed, false) == cents);
  }
  return 0;
}
