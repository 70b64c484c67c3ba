// ISO-8601 UTC timestamps <-> Unix epoch milliseconds, shared by the engine and the simulator.
// Plain civil-calendar arithmetic: the contract only ever speaks UTC, so no timezone database.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace timefmt {

// Accepts "YYYY-MM-DDTHH:MM:SS[.f...]" followed by "Z" or a "+HH:MM"/"-HH:MM" offset
// (so "+00:00" too). Fraction digits beyond milliseconds are truncated. Anything else,
// including out-of-range fields (month 13, Feb 30, hour 24), yields nullopt.
std::optional<int64_t> parse_iso8601_ms(std::string_view text);

// Writes exactly 24 characters "YYYY-MM-DDTHH:MM:SS.mmmZ" plus a terminating NUL. Instants
// before year 0000 or after 9999 print as 0000-01-01T00:00:00.000Z / 9999-12-31T23:59:59.999Z.
void format_iso8601_ms(int64_t epoch_ms, char out[25]);
std::string format_iso8601_ms(int64_t epoch_ms);

// Now, as Unix epoch milliseconds (the wall clock: what requestedAt and the summaries speak).
int64_t now_epoch_ms();

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

}  // namespace timefmt

// The names the rest of the code base uses unqualified.
using timefmt::format_iso8601_ms;
using timefmt::now_epoch_ms;
using timefmt::parse_iso8601_ms;
