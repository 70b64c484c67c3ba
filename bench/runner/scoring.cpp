#include "bench/runner/scoring.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>

#include "engine/money.h"

namespace scenario {

double round2(double v) { return std::round(v * 100.0) / 100.0; }

Score compute_score(const ProcessorTotals& def, const ProcessorTotals& fb, double p99_ms, int64_t inconsistencies,
                    int64_t successes) {
  Score s;
  s.gross_cents = def.total_amount_cents + fb.total_amount_cents;
  s.fees_nano = def.total_amount_cents * def.fee_micros + fb.total_amount_cents * fb.fee_micros;
  s.p99_ms = round2(p99_ms);
  s.bonus = std::max((11.0 - s.p99_ms) * 0.02, 0.0);
  s.fine = inconsistencies > 0 ? 0.35 : 0.0;
  // Net in exact 10^-8 units first; only the final multiplication by the bonus is floating.
  const int64_t net_nano = s.gross_cents * 1'000'000 - s.fees_nano;
  s.score = static_cast<double>(net_nano) / 1e8 * (1.0 + s.bonus - s.fine);
  s.lag = successes - def.total_requests - fb.total_requests;
  return s;
}

namespace {

// Reads a JSON number field from its raw text. The ondemand parser needs a padded copy.
std::optional<std::string> raw_number(simdjson::ondemand::object obj, std::string_view key) {
  simdjson::ondemand::value v;
  if (obj.find_field_unordered(key).get(v) != simdjson::SUCCESS) return std::nullopt;
  simdjson::ondemand::json_type t;
  if (v.type().get(t) != simdjson::SUCCESS) return std::nullopt;
  if (t == simdjson::ondemand::json_type::number) {
    std::string_view raw = v.raw_json_token();
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
      raw.remove_suffix(1);
    return std::string(raw);
  }
  if (t == simdjson::ondemand::json_type::string) {  // some implementations quote decimals
    std::string_view sv;
    if (v.get_string().get(sv) != simdjson::SUCCESS) return std::nullopt;
    return std::string(sv);
  }
  return std::nullopt;
}

std::optional<ProcessorTotals> read_totals(simdjson::ondemand::object obj, bool want_fee) {
  ProcessorTotals t;
  auto req = raw_number(obj, "totalRequests");
  auto amt = raw_number(obj, "totalAmount");
  if (!req || !amt) return std::nullopt;
  auto r = money::parse_decimal_scaled(*req, 0, false);
  auto a = money::parse_amount_cents(*amt, true);
  if (!r || !a) return std::nullopt;
  t.total_requests = *r;
  t.total_amount_cents = *a;
  if (want_fee) {
    t.fee_micros = -1;  // absent: the caller substitutes the configured fee
    if (auto f = raw_number(obj, "feePerTransaction")) {
      auto fm = money::parse_decimal_scaled(*f, 6, true);
      if (!fm) return std::nullopt;
      t.fee_micros = *fm;
    }
  }
  return t;
}

}  // namespace

std::optional<ProcessorTotals> parse_admin_summary(std::string_view json) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return std::nullopt;
  return read_totals(obj, true);
}

std::optional<EngineSummary> parse_engine_summary(std::string_view json) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::ondemand::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) return std::nullopt;
  EngineSummary s;
  simdjson::ondemand::object o;
  if (root.find_field_unordered("default").get_object().get(o) != simdjson::SUCCESS) return std::nullopt;
  auto d = read_totals(o, false);
  if (root.find_field_unordered("fallback").get_object().get(o) != simdjson::SUCCESS) return std::nullopt;
  auto f = read_totals(o, false);
  if (!d || !f) return std::nullopt;
  s.def = *d;
  s.fb = *f;
  return s;
}

}  // namespace scenario
