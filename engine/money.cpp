#include "engine/money.h"

namespace money {

namespace {
constexpr int64_t kMaxUnits = 9'000'000'000'000'000;  // leaves headroom for sums and rounding
}

std::optional<int64_t> parse_decimal_scaled(std::string_view s, int scale, bool allow_rounding) {
  if (scale < 0 || scale > 12) return std::nullopt;
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && s[i] == '-') {
    neg = true;
    ++i;
  }
  // Collect significant digits (at most 19 kept exactly, beyond that the value is out of range
  // anyway unless they are fraction digits that only matter for rounding).
  __int128 mant = 0;
  int frac_digits = 0;  // digits after the point that went into mant
  size_t int_digits = 0, all_digits = 0;
  bool any_nonzero_dropped = false;  // digits beyond what mant can hold, for rounding
  int dropped_first = -1;            // first dropped digit, decides half-up
  auto take = [&](char c, bool fractional) {
    ++all_digits;
    if (mant < static_cast<__int128>(1) << 100) {
      mant = mant * 10 + (c - '0');
      if (fractional) ++frac_digits;
    } else if (fractional) {
      if (dropped_first < 0) dropped_first = c - '0';
      else if (c != '0') any_nonzero_dropped = true;
    } else {
      return false;  // integer part far too large
    }
    return true;
  };
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (!take(s[i], false)) return std::nullopt;
    ++int_digits;
    ++i;
  }
  if (int_digits > 1 && s[i - int_digits] == '0') return std::nullopt;  // JSON forbids "01"
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (!take(s[i], true)) return std::nullopt;
      ++i;
    }
    if (i == start) return std::nullopt;  // "1." is not a number
  }
  if (all_digits == 0 || int_digits == 0) return std::nullopt;  // ".5", "-", ""
  int exp = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (exp > 1000) return std::nullopt;
      exp = exp * 10 + (s[i] - '0');
      ++i;
    }
    if (i == start) return std::nullopt;
    if (eneg) exp = -exp;
  }
  if (i != s.size()) return std::nullopt;

  // value = mant * 10^(exp - frac_digits); we want units = value * 10^scale.
  int shift = exp - frac_digits + scale;
  if (shift >= 0) {
    if (shift > 20) {
      if (mant != 0) return std::nullopt;
    } else {
      for (int k = 0; k < shift; ++k) {
        mant *= 10;
        if (mant > kMaxUnits) return std::nullopt;
      }
    }
    if (dropped_first > 0 || any_nonzero_dropped) {
      if (!allow_rounding) return std::nullopt;
      if (dropped_first >= 5) ++mant;
    }
  } else {
    if (!allow_rounding) {
      // Extra fraction digits are fine when they are all zeros ("19.900").
      __int128 p = 1;
      for (int k = 0; k < -shift && k < 40; ++k) p *= 10;
      if (-shift >= 40 ? mant != 0 : mant % p != 0) return std::nullopt;
      if (dropped_first > 0 || any_nonzero_dropped) return std::nullopt;
      mant = -shift >= 40 ? 0 : mant / p;
    } else {
      __int128 p = 1;
      int k = 0;
      for (; k < -shift - 1 && k < 40; ++k) p *= 10;
      // Keep one extra digit to decide the rounding, then drop it.
      __int128 one_more = k < -shift - 1 ? 0 : mant / p;
      mant = (one_more + 5) / 10;
    }
  }
  if (mant > kMaxUnits) return std::nullopt;
  int64_t v = static_cast<int64_t>(mant);
  return neg ? -v : v;
}

std::optional<int64_t> parse_amount_cents(std::string_view text, bool allow_rounding) {
  return parse_decimal_scaled(text, 2, allow_rounding);
}

size_t format_cents(int64_t cents, char* out) {
  char tmp[24];
  size_t n = 0;
  bool neg = cents < 0;
  // Work in unsigned to survive INT64_MIN.
  uint64_t v = neg ? 0 - static_cast<uint64_t>(cents) : static_cast<uint64_t>(cents);
  tmp[n++] = static_cast<char>('0' + v % 10);
  v /= 10;
  tmp[n++] = static_cast<char>('0' + v % 10);
  v /= 10;
  tmp[n++] = '.';
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  size_t w = 0;
  if (neg) out[w++] = '-';
  while (n > 0) out[w++] = tmp[--n];
  return w;
}

std::string format_cents(int64_t cents) {
  char buf[24];
  return std::string(buf, format_cents(cents, buf));
}

std::string format_scaled_trimmed(int64_t units, int scale) {
  bool neg = units < 0;
  uint64_t v = neg ? 0 - static_cast<uint64_t>(units) : static_cast<uint64_t>(units);
  uint64_t p = 1;
  for (int k = 0; k < scale; ++k) p *= 10;
  std::string s = neg ? "-" : "";
  s += std::to_string(v / p);
  uint64_t frac = v % p;
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f.insert(0, static_cast<size_t>(scale) - f.size(), '0');
    while (!f.empty() && f.back() == '0') f.pop_back();
    s += '.';
    s += f;
  }
  return s;
}

int64_t apply_rate(int64_t amount_cents, int64_t rate_units, int rate_scale) {
  __int128 p = 1;
  for (int k = 0; k < rate_scale; ++k) p *= 10;
  __int128 x = static_cast<__int128>(amount_cents) * rate_units;
  bool neg = x < 0;
  if (neg) x = -x;
  __int128 q = (x * 2 + p) / (2 * p);  // half away from zero
  return static_cast<int64_t>(neg ? -q : q);
}

}  // namespace money
