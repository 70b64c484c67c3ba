// engine::parse_payment_request (simdjson on demand) against a slow strict JSON reader written
// here: a body is a valid payment exactly when it is well-formed UTF-8 JSON (RFC 8259), an object
// whose members are one correlationId string holding a UUID and one amount number worth a whole
// number of cents in (0, kMaxAmountCents]. Both must agree on that, on the cents and on the id.
#include <optional>
#include <string>
#include <vector>

#include "engine/payment_request.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/reference.h"

namespace {

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

enum class Kind { object, array, string, number, literal };

struct Member {
  std::string key;
  Kind kind;
  std::string text;  // a string's decoded value, or a number's token
};

// Recursive descent over the grammar of RFC 8259, nothing skipped.
struct Reader {
  std::string_view s;
  size_t i = 0;
  int depth = 0;

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool eat(char c) {
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  }
  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool hex4(uint32_t& v) {
    if (i + 4 > s.size()) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  }
  bool string(std::string& out) {
    if (!eat('"')) return false;
    for (;;) {
      if (i >= s.size()) return false;
      char c = s[i++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= s.size()) return false;
      char e = s[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate must be followed by a low one
            uint32_t lo;
            if (!eat('\\') || !eat('u') || !hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          put_utf8(out, cp);
          break;
        }
        default: return false;
      }
    }
  }
  bool number(std::string& token) {
    size_t start = i;
    eat('-');
    if (eat('0')) {
    } else if (i < s.size() && s[i] >= '1' && s[i] <= '9') {
      while (i < s.size() && ref::digit(s[i])) ++i;
    } else {
      return false;
    }
    if (eat('.')) {
      if (i >= s.size() || !ref::digit(s[i])) return false;
      while (i < s.size() && ref::digit(s[i])) ++i;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (i >= s.size() || !ref::digit(s[i])) return false;
      while (i < s.size() && ref::digit(s[i])) ++i;
    }
    token = std::string(s.substr(start, i - start));
    return true;
  }
  bool literal(std::string_view word) {
    if (s.substr(i, word.size()) != word) return false;
    i += word.size();
    return true;
  }
  // members: filled for the outermost object only.
  bool value(Kind& kind, std::string& text, std::vector<Member>* members) {
    ws();
    if (i >= s.size()) return false;
    char c = s[i];
    if (c == '{' || c == '[') {
      if (++depth > 1000) return false;
      ++i;
      kind = c == '{' ? Kind::object : Kind::array;
      ws();
      if (eat(c == '{' ? '}' : ']')) return --depth, true;
      for (;;) {
        ws();
        Member m;
        if (c == '{') {
          if (!string(m.key)) return false;
          ws();
          if (!eat(':')) return false;
        }
        if (!value(m.kind, m.text, nullptr)) return false;
        if (members && c == '{') members->push_back(std::move(m));
        ws();
        if (eat(',')) continue;
        if (!eat(c == '{' ? '}' : ']')) return false;
        return --depth, true;
      }
    }
    if (c == '"') return kind = Kind::string, string(text);
    if (c == '-' || ref::digit(c)) return kind = Kind::number, number(text);
    kind = Kind::literal;
    return literal("true") || literal("false") || literal("null");
  }
};

struct Verdict {
  bool ok = false;
  int64_t cents = 0;
  std::string id;
};

Verdict reference(std::string_view body) {
  Verdict v;
  if (!valid_utf8(body)) return v;
  Reader r{body};
  Kind kind;
  std::string text;
  std::vector<Member> members;
  if (!r.value(kind, text, &members) || kind != Kind::object) return v;
  r.ws();
  if (r.i != body.size()) return v;
  if (members.size() != 2) return v;
  const Member* id = nullptr;
  const Member* amount = nullptr;
  for (const auto& m : members) {
    if (m.key == "correlationId" && !id) id = &m;
    else if (m.key == "amount" && !amount) amount = &m;
    else return v;
  }
  if (!id || !amount || id->kind != Kind::string || amount->kind != Kind::number) return v;
  if (id->text.size() != 36) return v;
  for (size_t k = 0; k < 36; ++k) {
    char c = id->text[k];
    bool dash = k == 8 || k == 13 || k == 18 || k == 23;
    bool hex = ref::digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) return v;
    v.id += (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  auto cents = ref::decimal_scaled(amount->text, 2, false);
  if (!cents || *cents <= 0 || *cents > engine::kMaxAmountCents) return v;
  v.ok = true;
  v.cents = *cents;
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto got = engine::parse_payment_request("application/json", body);
  auto want = reference(body);
  if (got.ok != want.ok) std::fprintf(stderr, "engine: ok=%d %s; reference: ok=%d\n", got.ok, got.error_json.c_str(), want.ok);
  FUZZ_CHECK(got.ok == want.ok);
  if (got.ok) {
    FUZZ_CHECK(got.payment.amount_cents == want.cents);
    FUZZ_CHECK(engine::to_view(got.payment.correlation_id) == want.id);
  } else {
    FUZZ_CHECK(got.status == 400 || got.status == 422);
    FUZZ_CHECK(got.error_json.rfind("{\"error\":\"", 0) == 0);
  }
  return 0;
}
