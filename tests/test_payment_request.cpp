// POST /payments validation, as a pure function.
#include <doctest/doctest.h>

#include "engine/payment_request.h"
#include "engine/store.h"

using engine::parse_payment_request;

namespace {
constexpr const char* kJson = "application/json";
const std::string kId = "4a7901b8-7d26-4d9d-aa19-000000000001";
std::string body(const std::string& amount) { return R"({"correlationId":")" + kId + R"(","amount":)" + amount + "}"; }
}  // namespace

TEST_CASE("a valid payment parses to exact cents and a canonical id") {
  auto r = parse_payment_request(kJson, body("19.90"));
  REQUIRE(r.ok);
  CHECK(r.payment.amount_cents == 1990);
  CHECK(engine::to_view(r.payment.correlation_id) == kId);
  CHECK(parse_payment_request("application/json; charset=utf-8", body("20")).payment.amount_cents == 2000);
  CHECK(parse_payment_request("Application/JSON", body("0.1")).payment.amount_cents == 10);
  auto upper = parse_payment_request(kJson, R"({"amount": 1.5, "correlationId": "4A7901B8-7D26-4D9D-AA19-00000000000F"})");
  REQUIRE(upper.ok);
  CHECK(engine::to_view(upper.payment.correlation_id) == "4a7901b8-7d26-4d9d-aa19-00000000000f");
  CHECK(parse_payment_request(kJson, " \n" + body("1") + " \n").ok);
}

TEST_CASE("invalid payments are refused with the status and field that explain why") {
  struct Case {
    std::string ct, body;
    int status;
    const char* field;
  };
  const Case cases[] = {
      {"text/plain", body("1"), 415, nullptr},
      {"", body("1"), 415, nullptr},
      {kJson, "", 400, nullptr},
      {kJson, "{", 400, nullptr},
      {kJson, "[]", 400, nullptr},
      {kJson, "\"x\"", 400, nullptr},
      {kJson, body("1") + "x", 400, nullptr},
      {kJson, body("1") + "{}", 400, nullptr},
      {kJson, body("0"), 422, "amount"},
      {kJson, body("0.00"), 422, "amount"},
      {kJson, body("-1"), 422, "amount"},
      {kJson, body("1.001"), 422, "amount"},
      {kJson, body("1000000000.01"), 422, "amount"},
      {kJson, body("\"1\""), 422, "amount"},
      {kJson, body("true"), 422, "amount"},
      {kJson, body("[1]"), 422, "amount"},
      {kJson, R"({"correlationId":"4a7901b8-7d26-4d9d-aa19-00000000000","amount":1})", 422, "correlationId"},
      {kJson, R"({"correlationId":"4a7901b8x7d26-4d9d-aa19-000000000001","amount":1})", 422, "correlationId"},
      {kJson, R"({"correlationId":"4a7901b8-7d26-4d9d-aa19-00000000000g","amount":1})", 422, "correlationId"},
      {kJson, R"({"correlationId":null,"amount":1})", 422, "correlationId"},
      {kJson, R"({"amount":1})", 422, "correlationId"},
      {kJson, R"({"correlationId":")" + kId + R"("})", 422, "amount"},
      {kJson, R"({"correlationId":")" + kId + R"(","amount":1,"correlationId":")" + kId + R"("})", 422, "correlationId"},
      {kJson, R"({"correlationId":")" + kId + R"(","amount":1,"x\"y":1})", 422, "?"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.ct);
    CAPTURE(c.body);
    auto r = parse_payment_request(c.ct, c.body);
    CHECK_FALSE(r.ok);
    CHECK(r.status == c.status);
    CHECK(r.error_json.rfind("{\"error\":\"", 0) == 0);
    if (c.field) CHECK(r.error_json.find(std::string("\"field\":\"") + c.field + "\"") != std::string::npos);
  }
  CHECK(parse_payment_request(kJson, body("1000000000.00")).ok);  // the bound itself is allowed
}

TEST_CASE("queue messages as the accept statement writes them decode and garbage is refused") {
  engine::PaymentRequest p;
  REQUIRE(engine::parse_uuid(kId, p.correlation_id));
  const std::string text = kId + " 2005";  // "<uuid> <amount_cents>", built in SQL (store.cpp: accept)
  engine::PaymentRequest back;
  REQUIRE(engine::store::decode_message(text, back));
  CHECK(back.amount_cents == 2005);
  CHECK(back.correlation_id == p.correlation_id);
  REQUIRE(engine::store::decode_message(kId + " 2005 1763948576217", back));  // with its requestedAt
  CHECK(back.amount_cents == 2005);
  for (const char* bad : {"", "x", "4a7901b8-7d26-4d9d-aa19-000000000001", "4a7901b8-7d26-4d9d-aa19-000000000001 ",
                          "4a7901b8-7d26-4d9d-aa19-000000000001 12x", "4a7901b8-7d26-4d9d-aa19-000000000001 0"})
    CHECK_FALSE(engine::store::decode_message(bad, back));
}
