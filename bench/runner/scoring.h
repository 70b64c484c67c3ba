// The challenge's score (SPEC section 3), as plain functions over what the processors'
// admin summaries report. Money stays exact: cents and fee rates in millionths.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace scenario {

// One processor's GET /admin/payments-summary.
struct ProcessorTotals {
  int64_t total_requests = 0;
  int64_t total_amount_cents = 0;
  int64_t fee_micros = 0;  // feePerTransaction x 10^6 (0.07 -> 70000); -1 if a summary lacked it
};

struct Score {
  int64_t gross_cents = 0;
  int64_t fees_nano = 0;  // fees in 10^-8 currency units: cents x fee micros, exact
  double p99_ms = 0;      // rounded to 2 places, as the challenge does
  double bonus = 0;
  double fine = 0;
  double score = 0;
  int64_t lag = 0;  // successful POSTs - payments the processors hold

  double gross() const { return static_cast<double>(gross_cents) / 100.0; }
  double fees() const { return static_cast<double>(fees_nano) / 1e8; }
};

// p99 in ms (unrounded); inconsistencies as counted by the checker; successes = 2XX POSTs.
Score compute_score(const ProcessorTotals& def, const ProcessorTotals& fb, double p99_ms, int64_t inconsistencies,
                    int64_t successes);

double round2(double v);

// Parses an admin summary body {"totalRequests", "totalAmount", "totalFee", "feePerTransaction"}.
// Amounts are read from their decimal text, never through a double.
std::optional<ProcessorTotals> parse_admin_summary(std::string_view json);

// The engine's GET /payments-summary body: {"default": {...}, "fallback": {...}} (fees unused).
struct EngineSummary {
  ProcessorTotals def, fb;
};
std::optional<EngineSummary> parse_engine_summary(std::string_view json);

}  // namespace scenario
