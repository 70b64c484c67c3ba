#include "engine/money.h"

#include <algorithm>

namespace money {

namespace {

// Beyond this an amount is rejected: it leaves headroom for sums of amounts and for rounding.
constexpr int64_t kMaxUnits = 9'000'000'000'000'000'000;
// Exponent digits saturate here: a larger exponent moves every digit a request can carry beyond
// both ends of an int64 anyway, and saturating keeps all the position arithmetic far from overflow.
constexpr int64_t kExponentCap = 1'000'000'000;
// 10^19 > kMaxUnits: an integer part with more significant digits than this is out of range.
constexpr int64_t kMaxIntegerDigits = 19;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

size_t skip_digits(std::string_view s, size_t i) {
  while (i < s.size() && is_digit(s[i])) ++i;
  return i;
}

}  // namespace

// No big arithmetic at all: the number is its digit string D (integer digits then fraction digits)
// and the position of the decimal point of value * 10^scale within D. The integer part, at most 19
// significant digits, is summed in uint64; the digits after it only decide exactness and rounding.
// Any exponent and any count of digits therefore yield the exact answer or a rejection, never an
// overflow.
std::optional<int64_t> parse_decimal_scaled(std::string_view s, int scale, bool allow_rounding) {
  if (scale < 0 || scale > 12) return std::nullopt;
  size_t i = 0;
  const bool neg = i < s.size() && s[i] == '-';
  if (neg) ++i;
  const size_t int_begin = i, int_end = skip_digits(s, i);
  if (int_end == int_begin) return std::nullopt;                            // "", "-", ".5"
  if (int_end - int_begin > 1 && s[int_begin] == '0') return std::nullopt;  // JSON forbids "01"
  size_t frac_begin = int_end, frac_end = int_end;
  i = int_end;
  if (i < s.size() && s[i] == '.') {
    frac_begin = i + 1;
    frac_end = skip_digits(s, frac_begin);
    if (frac_end == frac_begin) return std::nullopt;  // "1." is not a number
    i = frac_end;
  }
  int64_t exp = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    const size_t e_begin = i;
    i = skip_digits(s, i);
    if (i == e_begin) return std::nullopt;
    for (size_t k = e_begin; k < i; ++k) exp = std::min(exp * 10 + (s[k] - '0'), kExponentCap);
    if (eneg) exp = -exp;
  }
  if (i != s.size()) return std::nullopt;

  const auto int_len = static_cast<int64_t>(int_end - int_begin);
  const auto n = int_len + static_cast<int64_t>(frac_end - frac_begin);
  // Digit k of D; positions outside D are the zeros a decimal shift brings in.
  auto digit = [&](int64_t k) -> int {
    if (k < 0 || k >= n) return 0;
    return k < int_len ? s[int_begin + static_cast<size_t>(k)] - '0'
                       : s[frac_begin + static_cast<size_t>(k - int_len)] - '0';
  };
  int64_t first = 0;  // first significant digit
  while (first < n && digit(first) == 0) ++first;
  if (first == n) return 0;  // zero, whatever the exponent ("-0", "0e99999")

  const int64_t point = int_len + exp + scale;  // units = D[0, point) . D[point, ...)
  if (point - first > kMaxIntegerDigits) return std::nullopt;
  uint64_t units = 0;
  for (int64_t k = std::max<int64_t>(first, 0); k < point; ++k) units = units * 10 + static_cast<uint64_t>(digit(k));
  bool exact = true;
  for (int64_t k = std::max<int64_t>(point, first); k < n && exact; ++k) exact = digit(k) == 0;
  if (!exact) {
    if (!allow_rounding) return std::nullopt;
    if (digit(point) >= 5) ++units;  // half away from zero: the first dropped digit decides
  }
  if (units > static_cast<uint64_t>(kMaxUnits)) return std::nullopt;
  const auto v = static_cast<int64_t>(units);
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
