// POST /payments body -> a validated payment, or the 4xx that explains what is wrong.
// Pure function: no I/O, so the ingress handler stays thin and every rule is unit-tested.
#pragma once
#include <array>
#include <functional>
#include <cstdint>
#include <string>
#include <string_view>

namespace engine {

inline constexpr int64_t kMaxAmountCents = 100'000'000'000;  // 1,000,000,000.00: beyond is a typo or abuse

// A canonical lower-case UUID text, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
using CorrelationId = std::array<char, 36>;

struct PaymentRequest {
  CorrelationId correlation_id{};
  int64_t amount_cents = 0;
};

struct ParseResult {
  bool ok = false;
  PaymentRequest payment;
  int status = 0;           // 400 malformed JSON, 415 wrong content type, 422 a field is invalid
  std::string error_json;  // {"error": "...", "field": "..."} when !ok
};

// content_type: the request's Content-Type header (must be application/json, parameters allowed).
ParseResult parse_payment_request(std::string_view content_type, std::string_view body);

// True for the 8-4-4-4-12 hex form (either case); writes the lower-case form to out.
bool parse_uuid(std::string_view text, CorrelationId& out);

inline std::string_view to_view(const CorrelationId& id) { return {id.data(), id.size()}; }

struct CorrelationIdHash {
  size_t operator()(const CorrelationId& c) const { return std::hash<std::string_view>{}(to_view(c)); }
};

}  // namespace engine
