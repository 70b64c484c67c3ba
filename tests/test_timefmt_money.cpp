// Unit tests of the exact helpers every summary depends on: ISO-8601 <-> epoch ms, decimal <-> cents.
#include <doctest/doctest.h>

#include "engine/money.h"
#include "engine/timefmt.h"

TEST_CASE("parse_iso8601_ms accepts the contract's formats") {
  CHECK(timefmt::parse_iso8601_ms("1970-01-01T00:00:00.000Z") == 0);
  CHECK(timefmt::parse_iso8601_ms("2025-07-10T12:34:56.000Z") == 1752150896000);
  CHECK(timefmt::parse_iso8601_ms("2025-07-10T12:34:56.789Z") == 1752150896789);
  CHECK(timefmt::parse_iso8601_ms("2025-07-10T12:34:56Z") == 1752150896000);
  CHECK(timefmt::parse_iso8601_ms("2025-07-10T12:34:56.000+00:00") == 1752150896000);
  CHECK(timefmt::parse_iso8601_ms("2025-07-10T14:34:56.000+02:00") == 1752150896000);
  CHECK(timefmt::parse_iso8601_ms("2025-07-10T10:34:56.000-02:00") == 1752150896000);
  // Fractions: shorter ones are scaled, longer ones truncated to ms.
  CHECK(timefmt::parse_iso8601_ms("2025-07-10T12:34:56.5Z") == 1752150896500);
  CHECK(timefmt::parse_iso8601_ms("2025-07-10T12:34:56.123456Z") == 1752150896123);
  CHECK(timefmt::parse_iso8601_ms("2024-02-29T23:59:59.999Z") == 1709251199999);
  CHECK(timefmt::parse_iso8601_ms("1969-12-31T23:59:59.999Z") == -1);
  // The unqualified name is what the engine uses.
  CHECK(parse_iso8601_ms("2000-03-01T00:00:00Z") == 951868800000);
}

TEST_CASE("parse_iso8601_ms rejects garbage") {
  for (const char* bad : {"", "2025", "2025-07-10", "2025-07-10T12:34:56", "2025-07-10T12:34:56.000",
                          "2025-13-10T12:34:56Z", "2025-02-29T12:00:00Z", "2025-04-31T12:00:00Z",
                          "2025-07-10T24:00:00Z", "2025-07-10T12:60:00Z", "2025-07-10T12:34:60Z",
                          "2025-07-10T12:34:56.Z", "2025-07-10T12:34:56.000ZZ", "2025-07-10 12:34:56Z",
                          "2025-7-10T12:34:56Z", "2025-07-10T12:34:56+0000", "x025-07-10T12:34:56Z",
                          "2025-07-10T12:34:56.000Z ", " 2025-07-10T12:34:56.000Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(timefmt::parse_iso8601_ms(bad).has_value());
  }
}

TEST_CASE("format_iso8601_ms round-trips") {
  CHECK(timefmt::format_iso8601_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(timefmt::format_iso8601_ms(1752150896789) == "2025-07-10T12:34:56.789Z");
  CHECK(timefmt::format_iso8601_ms(-1) == "1969-12-31T23:59:59.999Z");
  char buf[25];
  timefmt::format_iso8601_ms(1709251199999, buf);
  CHECK(std::string(buf) == "2024-02-29T23:59:59.999Z");
  // Every ms step across a few leap-year boundaries and a spread of instants survives the trip.
  for (int64_t ms = -86'400'000LL * 800; ms < 86'400'000LL * 20000; ms += 86'400'000LL * 7 + 3'600'123) {
    auto s = timefmt::format_iso8601_ms(ms);
    auto back = timefmt::parse_iso8601_ms(s);
    REQUIRE(back.has_value());
    CHECK(*back == ms);
  }
}

TEST_CASE("parse_amount_cents is exact") {
  CHECK(money::parse_amount_cents("19.90", false) == 1990);
  CHECK(money::parse_amount_cents("20.05", false) == 2005);
  CHECK(money::parse_amount_cents("20", false) == 2000);
  CHECK(money::parse_amount_cents("0.1", false) == 10);
  CHECK(money::parse_amount_cents("0", false) == 0);
  CHECK(money::parse_amount_cents("-3.25", false) == -325);
  CHECK(money::parse_amount_cents("19.900", false) == 1990);  // zeros beyond cents lose nothing
  CHECK(money::parse_amount_cents("1.5e1", false) == 1500);
  CHECK(money::parse_amount_cents("2005E-2", false) == 2005);
  CHECK(money::parse_amount_cents("123456789012.34", false) == 12345678901234);
  CHECK(parse_amount_cents("0.07", false) == 7);
}

TEST_CASE("parse_amount_cents rounds half up only when allowed") {
  CHECK_FALSE(money::parse_amount_cents("19.905", false).has_value());
  CHECK(money::parse_amount_cents("19.905", true) == 1991);
  CHECK(money::parse_amount_cents("19.904999", true) == 1990);
  CHECK(money::parse_amount_cents("0.005", true) == 1);
  CHECK(money::parse_amount_cents("0.0049", true) == 0);
  CHECK(money::parse_amount_cents("-0.005", true) == -1);
  CHECK(money::parse_amount_cents("1.2345e1", true) == 1235);
  CHECK(money::parse_amount_cents("1e-9", true) == 0);
}

TEST_CASE("parse_amount_cents rejects what is not a JSON number") {
  for (const char* bad : {"", "-", ".5", "1.", "01", "+1", "1,5", "1.2.3", " 1", "1 ", "0x10", "inf", "nan",
                          "1e", "1e+", "\"1\"", "99999999999999999999", "1e30"}) {
    CAPTURE(bad);
    CHECK_FALSE(money::parse_amount_cents(bad, true).has_value());
  }
}

TEST_CASE("format_cents prints two decimals") {
  CHECK(money::format_cents(2005) == "20.05");
  CHECK(money::format_cents(10) == "0.10");
  CHECK(money::format_cents(0) == "0.00");
  CHECK(money::format_cents(123456700) == "1234567.00");
  CHECK(money::format_cents(-5) == "-0.05");
  CHECK(format_cents(415542345'98) == "415542345.98");
}

TEST_CASE("fees are exact") {
  CHECK(money::parse_decimal_scaled("0.05", 6, false) == 50000);
  CHECK(money::format_scaled_trimmed(50000, 6) == "0.05");
  CHECK(money::format_scaled_trimmed(150000, 6) == "0.15");
  CHECK(money::format_scaled_trimmed(1000000, 6) == "1");
  CHECK(money::apply_rate(1991, 50000, 6) == 100);    // 0.9955 -> 1.00
  CHECK(money::apply_rate(1990, 50000, 6) == 100);    // 0.995 -> 1.00 (half up)
  CHECK(money::apply_rate(1989, 50000, 6) == 99);     // 0.9945 -> 0.99
  CHECK(money::apply_rate(181653000'00LL, 70000, 6) == 12715710'00LL);
}

// These inputs overflowed __int128 (UB: the UBSan build aborted on one POST /payments body).
TEST_CASE("parse_decimal_scaled is exact for any exponent and any count of digits") {
  const std::string tiny = "0." + std::string(3000, '0') + "1";
  CHECK_FALSE(money::parse_amount_cents("1e-41", false).has_value());
  CHECK(money::parse_amount_cents("1e-41", true) == 0);
  CHECK(money::parse_amount_cents("1e-42", true) == 0);
  CHECK(money::parse_amount_cents("-1e-42", true) == 0);
  CHECK_FALSE(money::parse_amount_cents(tiny, false).has_value());
  CHECK(money::parse_amount_cents(tiny, true) == 0);
  CHECK(money::parse_amount_cents(tiny + "e3001", false) == 100);  // 10^-3001 x 10^3001 = 1
  CHECK(money::parse_amount_cents("0.005" + std::string(3000, '0'), true) == 1);
  CHECK(money::parse_amount_cents("0.004" + std::string(3000, '9'), true) == 0);
  CHECK(money::parse_amount_cents("19.90" + std::string(3000, '0'), false) == 1990);
  CHECK(money::parse_amount_cents("5e-3", true) == 1);
  CHECK(money::parse_amount_cents("0e99999", false) == 0);
  CHECK(money::parse_amount_cents("0.000e-99999", false) == 0);
  CHECK_FALSE(money::parse_amount_cents("1e99999", true).has_value());
  CHECK_FALSE(money::parse_amount_cents("1e-99999", false).has_value());
  CHECK(money::parse_amount_cents("1e-99999", true) == 0);
  CHECK(money::parse_amount_cents("1e" + std::string(5000, '9'), true) == std::nullopt);
  CHECK(money::parse_amount_cents("1e-" + std::string(5000, '9'), true) == 0);
  // The range ends at 9e18 units, in both directions, rounding included.
  CHECK(money::parse_decimal_scaled("9000000000000000000", 0, false) == 9'000'000'000'000'000'000);
  CHECK(money::parse_decimal_scaled("-9000000000000000000", 0, false) == -9'000'000'000'000'000'000);
  CHECK_FALSE(money::parse_decimal_scaled("9000000000000000001", 0, false).has_value());
  CHECK(money::parse_decimal_scaled("8999999999999999999.5", 0, true) == 9'000'000'000'000'000'000);
  CHECK_FALSE(money::parse_decimal_scaled("9000000000000000000.5", 0, true).has_value());
  CHECK(money::parse_decimal_scaled("8999999999999999998.5", 0, true) == 8'999'999'999'999'999'999);
  CHECK(money::parse_decimal_scaled("0.000000000001", 12, false) == 1);
  CHECK(money::parse_decimal_scaled("1", 12, false) == 1'000'000'000'000);
  CHECK(money::parse_decimal_scaled("1e6", 12, false) == 1'000'000'000'000'000'000);
  // Found by tests/fuzz/fuzz_money run against the old parser: a UBSan abort and a wrong refusal.
  CHECK(money::parse_amount_cents("0e-2222", false) == 0);
  CHECK(money::parse_decimal_scaled("1.5e10", 6, false) == 15'000'000'000'000'000);
}

TEST_CASE("format_iso8601_ms clamps instants outside years 0000 to 9999 without overflow") {
  CHECK(timefmt::format_iso8601_ms(INT64_MIN) == "0000-01-01T00:00:00.000Z");
  CHECK(timefmt::format_iso8601_ms(INT64_MIN + 1) == "0000-01-01T00:00:00.000Z");
  CHECK(timefmt::format_iso8601_ms(INT64_MAX) == "9999-12-31T23:59:59.999Z");
  CHECK(timefmt::format_iso8601_ms(-62167219200000) == "0000-01-01T00:00:00.000Z");
  CHECK(timefmt::format_iso8601_ms(-62167219200001) == "0000-01-01T00:00:00.000Z");
  CHECK(timefmt::format_iso8601_ms(253402300799999) == "9999-12-31T23:59:59.999Z");
  CHECK(timefmt::format_iso8601_ms(253402300800000) == "9999-12-31T23:59:59.999Z");
  CHECK(timefmt::parse_iso8601_ms("0000-01-01T00:00:00.000Z") == -62167219200000);
  CHECK(timefmt::parse_iso8601_ms("9999-12-31T23:59:59.999Z") == 253402300799999);
}
