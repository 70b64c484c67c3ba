// Slow, obviously-correct reference implementations the fuzz targets compare the engine's code
// with. They share nothing with engine/money.cpp or engine/timefmt.cpp: decimals are handled as
// strings of digits (the decimal point is moved by moving characters), dates by counting days
// one year and one month at a time.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ref {

inline bool digit(char c) { return c >= '0' && c <= '9'; }

// value x 10^scale as an exact integer, for a JSON number; rounding half away from zero when
// allowed, else only exact values; nullopt beyond 9e18 in magnitude or for anything not a number.
inline std::optional<int64_t> decimal_scaled(std::string_view s, int scale, bool allow_rounding) {
  if (scale < 0 || scale > 12) return std::nullopt;
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && s[i] == '-') neg = (++i, true);
  std::string int_digits, frac_digits, exp_digits;
  while (i < s.size() && digit(s[i])) int_digits += s[i++];
  if (int_digits.empty() || (int_digits.size() > 1 && int_digits[0] == '0')) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && digit(s[i])) frac_digits += s[i++];
    if (frac_digits.empty()) return std::nullopt;
  }
  bool exp_neg = false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) exp_neg = s[i++] == '-';
    while (i < s.size() && digit(s[i])) exp_digits += s[i++];
    if (exp_digits.empty()) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;

  std::string all = int_digits + frac_digits;
  bool zero = all.find_first_not_of('0') == std::string::npos;
  if (zero) return 0;
  // The exponent, as a number when it is small enough to move characters by.
  while (exp_digits.size() > 1 && exp_digits[0] == '0') exp_digits.erase(0, 1);
  const bool huge_exp = exp_digits.size() > 6;
  long long exp = huge_exp || exp_digits.empty() ? 0 : std::stoll(exp_digits);
  if (exp_neg) exp = -exp;
  if (huge_exp) {
    if (!exp_neg) return std::nullopt;  // a non-zero digit times 10^1000000 or more
    return allow_rounding ? std::optional<int64_t>(0) : std::nullopt;  // far below half a unit
  }
  // Move the point: the integer part of the result is all[0, point), the rest is dropped.
  long long point = static_cast<long long>(int_digits.size()) + exp + scale;
  // Shortcuts that keep the strings short: more than 20 integer digits is beyond 9e18; a point
  // left of every digit drops a leading 0 first, so the value rounds to 0 and is not exact.
  long long first_nonzero = static_cast<long long>(all.find_first_not_of('0'));
  if (point - first_nonzero > 20) return std::nullopt;
  if (point < 0) return allow_rounding ? std::optional<int64_t>(0) : std::nullopt;
  std::string int_part, dropped;
  if (point == 0) {
    int_part = "0";
    dropped = all;
  } else if (point >= static_cast<long long>(all.size())) {
    int_part = all + std::string(static_cast<size_t>(point) - all.size(), '0');
  } else {
    int_part = all.substr(0, static_cast<size_t>(point));
    dropped = all.substr(static_cast<size_t>(point));
  }
  bool exact = dropped.find_first_not_of('0') == std::string::npos;
  if (!exact && !allow_rounding) return std::nullopt;
  while (int_part.size() > 1 && int_part[0] == '0') int_part.erase(0, 1);
  if (!exact && dropped[0] >= '5') {  // add one, as on paper
    size_t k = int_part.size();
    while (k > 0 && int_part[k - 1] == '9') int_part[--k] = '0';
    if (k == 0) int_part.insert(0, "1");
    else ++int_part[k - 1];
  }
  const std::string limit = "9000000000000000000";
  if (int_part.size() > limit.size() || (int_part.size() == limit.size() && int_part > limit)) return std::nullopt;
  int64_t v = std::stoll(int_part);
  return neg ? -v : v;
}

inline bool leap(long long y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
inline int month_days(long long y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Days from 1970-01-01 to y-m-d, one year at a time.
inline long long days_since_epoch(long long y, int m, int d) {
  long long days = 0;
  for (long long yy = 1970; yy < y; ++yy) days += leap(yy) ? 366 : 365;
  for (long long yy = y; yy < 1970; ++yy) days -= leap(yy) ? 366 : 365;
  for (int mm = 1; mm < m; ++mm) days += month_days(y, mm);
  return days + d - 1;
}

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" -> epoch ms, fraction truncated to ms.
inline std::optional<int64_t> iso8601_ms(std::string_view s) {
  auto num = [&](size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (size_t k = pos; k < pos + n; ++k) {
      if (!digit(s[k])) return false;
      out = out * 10 + (s[k] - '0');
    }
    return true;
  };
  auto at = [&](size_t pos, char c) { return pos < s.size() && s[pos] == c; };
  int y, mo, d, h, mi, se;
  if (!num(0, 4, y) || !at(4, '-') || !num(5, 2, mo) || !at(7, '-') || !num(8, 2, d) || !(at(10, 'T') || at(10, 't')) ||
      !num(11, 2, h) || !at(13, ':') || !num(14, 2, mi) || !at(16, ':') || !num(17, 2, se))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 || se > 59) return std::nullopt;
  size_t pos = 19;
  std::string frac;
  if (at(pos, '.')) {
    ++pos;
    while (pos < s.size() && digit(s[pos])) frac += s[pos++];
    if (frac.empty()) return std::nullopt;
  }
  frac = (frac + "000").substr(0, 3);
  int offset_min = 0;
  if (at(pos, 'Z') || at(pos, 'z')) {
    ++pos;
  } else if (at(pos, '+') || at(pos, '-')) {
    int oh, om;
    if (!num(pos + 1, 2, oh) || !at(pos + 3, ':') || !num(pos + 4, 2, om) || oh > 23 || om > 59) return std::nullopt;
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  long long secs = days_since_epoch(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + se - offset_min * 60LL;
  return secs * 1000 + std::stoi(frac);
}

}  // namespace ref
