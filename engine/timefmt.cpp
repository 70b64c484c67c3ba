#include "engine/timefmt.h"

#include <algorithm>
#include <chrono>

namespace timefmt {

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

namespace {

struct Civil {
  int64_t y;
  unsigned m, d;
};

Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at s[pos..]; false if any is not a digit or the text is short.
bool digits(std::string_view s, size_t pos, size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  unsigned v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    char c = s[i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  out = v;
  return true;
}

void put(char*& p, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  p += width;
}

}  // namespace

std::optional<int64_t> parse_iso8601_ms(std::string_view s) {
  unsigned y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
    return std::nullopt;

  size_t pos = 19;
  int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) ms = ms * 10 + (s[pos] - '0');
      ++pos;
    }
    size_t n = pos - start;
    if (n == 0) return std::nullopt;
    for (size_t i = n; i < 3; ++i) ms *= 10;
  }

  int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    unsigned oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59)
      return std::nullopt;
    offset_min = static_cast<int64_t>(oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;  // a timestamp without a zone is ambiguous
  }
  if (pos != s.size()) return std::nullopt;

  int64_t days = days_from_civil(y, mo, d);
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return secs * 1000 + ms;
}

void format_iso8601_ms(int64_t epoch_ms, char out[25]) {
  // Instants outside years 0000..9999 have no text in this format: they print as the nearest
  // representable one, and clamping first keeps every product below far from int64 overflow.
  static const int64_t kFirstMs = days_from_civil(0, 1, 1) * 86400000;
  static const int64_t kLastMs = days_from_civil(10000, 1, 1) * 86400000 - 1;
  epoch_ms = std::clamp(epoch_ms, kFirstMs, kLastMs);
  int64_t days = epoch_ms / 86400000;
  int64_t rem = epoch_ms % 86400000;
  if (rem < 0) {  // floor division: the time of day is never negative
    rem += 86400000;
    --days;
  }
  Civil c = civil_from_days(days);
  unsigned msec = static_cast<unsigned>(rem % 1000);
  unsigned secs = static_cast<unsigned>(rem / 1000);
  char* p = out;
  put(p, static_cast<unsigned>(c.y), 4);
  *p++ = '-';
  put(p, c.m, 2);
  *p++ = '-';
  put(p, c.d, 2);
  *p++ = 'T';
  put(p, secs / 3600, 2);
  *p++ = ':';
  put(p, secs / 60 % 60, 2);
  *p++ = ':';
  put(p, secs % 60, 2);
  *p++ = '.';
  put(p, msec, 3);
  *p++ = 'Z';
  *p = '\0';
}

std::string format_iso8601_ms(int64_t epoch_ms) {
  char buf[25];
  format_iso8601_ms(epoch_ms, buf);
  return std::string(buf, 24);
}

int64_t now_epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace timefmt
