// Exact money: amounts travel as decimal text and live as integer cents, never as double,
// so that summaries compared by the load test match to the cent.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace money {

// Parses a JSON-style decimal number ("19.90", "20", "1.5e1", "-3.25") into an integer count of
// 10^-scale units. More fraction digits than `scale`: an error unless allow_rounding, which
// rounds half away from zero (19.905 -> 19.91). Leading/trailing spaces, an empty mantissa,
// a lone ".", "+", hex, inf/nan and magnitudes beyond 9e18 units are rejected. Any length of
// digits and any exponent give the exact value or a rejection ("0e99999" is 0).
std::optional<int64_t> parse_decimal_scaled(std::string_view text, int scale, bool allow_rounding);

// Cents: parse_decimal_scaled(text, 2, allow_rounding).
std::optional<int64_t> parse_amount_cents(std::string_view decimal_text, bool allow_rounding);

// 2005 -> "20.05", 10 -> "0.10", -5 -> "-0.05", 123456700 -> "1234567.00".
std::string format_cents(int64_t cents);
// Writes into out without allocating; returns the number of characters written (no NUL).
size_t format_cents(int64_t cents, char* out /* at least 24 bytes */);

// Fixed-point with `scale` digits, trailing fraction zeros trimmed: (50000, 6) -> "0.05".
std::string format_scaled_trimmed(int64_t units, int scale);

// round_half_up(value * rate_units / 10^rate_scale): a fee on an amount, exactly.
int64_t apply_rate(int64_t amount_cents, int64_t rate_units, int rate_scale);

}  // namespace money

using money::format_cents;
using money::parse_amount_cents;
