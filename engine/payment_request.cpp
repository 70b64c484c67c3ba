#include "engine/payment_request.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cctype>
#include <cstring>

#include "net/ascii.h"
#include "engine/money.h"

namespace engine {
namespace {

ParseResult fail(int status, std::string_view message, std::string_view field = {}) {
  ParseResult r;
  r.status = status;
  if (field.empty()) r.error_json = fmt::format(R"({{"error":"{}"}})", message);
  else r.error_json = fmt::format(R"({{"error":"{}","field":"{}"}})", message, field);
  return r;
}

// A field name safe to echo inside our JSON error without escaping.
std::string_view printable_name(std::string_view key) {
  if (key.empty() || key.size() > 40) return "?";
  for (char c : key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return "?";
  return key;
}

bool is_json_content_type(std::string_view ct) {
  auto semi = ct.find(';');
  auto media = ct.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return net::iequals(media, "application/json");
}

// simdjson needs SIMDJSON_PADDING readable bytes past the end: one reused buffer per thread.
struct ThreadParser {
  simdjson::ondemand::parser parser;
  simdjson::padded_string buffer{size_t(4096)};
};

}  // namespace

bool parse_uuid(std::string_view text, CorrelationId& out) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (c >= '0' && c <= '9') {
    } else if (c >= 'a' && c <= 'f') {
    } else if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    } else {
      return false;
    }
    out[i] = c;
  }
  return true;
}

ParseResult parse_payment_request(std::string_view content_type, std::string_view body) {
  using namespace simdjson;
  if (!is_json_content_type(content_type)) return fail(415, "Content-Type must be application/json");
  thread_local ThreadParser tp;
  if (tp.buffer.size() < body.size()) tp.buffer = padded_string(body.size() * 2);
  std::memcpy(tp.buffer.data(), body.data(), body.size());
  ondemand::document doc;
  if (tp.parser.iterate(tp.buffer.data(), body.size(), tp.buffer.size() + SIMDJSON_PADDING).get(doc))
    return fail(400, "body is not valid JSON");
  ondemand::object obj;
  if (doc.get_object().get(obj)) return fail(400, "body must be a JSON object");

  ParseResult r;
  bool have_id = false, have_amount = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return fail(400, "body is not valid JSON");
    ondemand::value v = field.value();
    if (key == "correlationId") {
      if (have_id) return fail(422, "duplicate field", "correlationId");
      std::string_view s;
      if (v.get_string().get(s)) return fail(422, "correlationId must be a string", "correlationId");
      if (!parse_uuid(s, r.payment.correlation_id)) return fail(422, "correlationId must be a UUID", "correlationId");
      have_id = true;
    } else if (key == "amount") {
      if (have_amount) return fail(422, "duplicate field", "amount");
      ondemand::json_type t;
      if (v.type().get(t) || t != ondemand::json_type::number) return fail(422, "amount must be a number", "amount");
      std::string_view raw = v.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
        raw.remove_suffix(1);
      auto cents = money::parse_amount_cents(raw, false);
      if (!cents) return fail(422, "amount must be a decimal with at most 2 fraction digits", "amount");
      if (*cents <= 0) return fail(422, "amount must be greater than 0", "amount");
      if (*cents > kMaxAmountCents) return fail(422, "amount is too large", "amount");
      r.payment.amount_cents = *cents;
      have_amount = true;
    } else {
      return fail(422, "unknown field", printable_name(key));
    }
  }
  // The object loop stops at the closing brace; anything after it is malformed input too.
  const char* rest = nullptr;
  if (doc.current_location().get(rest) == simdjson::SUCCESS) return fail(400, "trailing content after the JSON object");
  if (!have_id) return fail(422, "correlationId is required", "correlationId");
  if (!have_amount) return fail(422, "amount is required", "amount");
  r.ok = true;
  return r;
}

}  // namespace engine
