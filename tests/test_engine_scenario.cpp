// The scenario runner's smoke preset against the real engine: the challenge's load test in
// miniature, processor stages included, in CI.
#include "bench/runner/report.h"
#include "bench/runner/scenario.h"
#include "tests/support/stack_fixture.h"

using testsupport::Stack;
using namespace scenario;

TEST_CASE("smoke preset against the engine: no failures no inconsistencies and nothing left behind") {
  Stack s(Stack::Env{{"ADMIN_TOKEN", "123"}});
  RunConfig cfg = config_for_preset("smoke");
  cfg.target = s.engine->url();
  cfg.default_url = s.def.base_url();
  cfg.fallback_url = s.fb.base_url();
  cfg.progress = false;
  RunResult r = run_scenario(cfg);
  INFO(result_json(r));
  CHECK(r.cfg.stages);
  CHECK(r.summaries_ok);
  CHECK(r.successes > 50);
  CHECK(r.failures == 0);
  CHECK(r.consistency_checks >= 2);
  CHECK(r.inconsistencies == 0);
  CHECK(r.lag_after_recheck == 0);
  CHECK(r.score.lag >= 0);  // negative would mean a payment processed twice
  // After the recheck, what the processors hold is exactly what the engine recorded and accepted.
  auto d = Stack::admin_totals(s.def), f = Stack::admin_totals(s.fb);
  CHECK(d.requests + f.requests == s.db_count("SELECT count(*) FROM processed_payments"));
  CHECK(d.requests + f.requests == s.db_count("SELECT count(*) FROM payments"));
}
