// Configuration rules checked at start-up (engine/config.cpp), and the engine refusing to start
// on a configuration that could pay twice.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "engine/config.h"
#include "tests/support/engine_process.h"

using engine::Config;
using namespace std::chrono_literals;

TEST_CASE("the unknown horizon must exceed the processor timeout plus the longest processor delay") {
  Config c;
  c.request_timeout = 10000ms;
  c.processor_max_delay = 5000ms;
  c.unknown_horizon = 15000ms;  // a lookup at 15 s could miss a send still sleeping there
  try {
    c.validate();
    FAIL("accepted");
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    CHECK(msg.find("UNKNOWN_HORIZON_MS") != std::string::npos);
    CHECK(msg.find("PROCESSOR_TIMEOUT_MS") != std::string::npos);
    CHECK(msg.find("PROCESSOR_MAX_DELAY_MS") != std::string::npos);
  }
  c.unknown_horizon = 15001ms;
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("the queue gauges never count more than 100,000 messages a second, and a small queue every second") {
  // The engine's queue keeps no counters, so its gauges are a count whose cost grows with depth.
  for (int64_t depth : {0, 1, 5000, 100000})
    CHECK(Config::queue_gauges_interval(depth) == 1000ms);
  for (int64_t depth : {100001, 250000, 1000000, 10000000, 123456789}) {
    const auto every = Config::queue_gauges_interval(depth);
    CHECK(every > 1000ms);
    CHECK(depth * 1000 / every.count() <= 100000);  // messages counted per second
  }
  CHECK(Config::queue_gauges_interval(1000000) == 10000ms);
}

TEST_CASE("a retry waits its first delay, doubled per try, never more than its max") {
  using std::chrono::milliseconds;
  constexpr engine::Backoff b{milliseconds(20), milliseconds(1000)};
  CHECK(b.after(0) == milliseconds(20));
  CHECK(b.after(1) == milliseconds(40));
  CHECK(b.after(5) == milliseconds(640));
  CHECK(b.after(6) == milliseconds(1000));
  CHECK(b.after(1'000'000) == milliseconds(1000));  // a long outage's count does not overflow the shift
  CHECK(b.after(-1) == milliseconds(20));
}

TEST_CASE("the engine refuses to start with a horizon that could pay twice") {
  testsupport::EngineProcess e({{"DATABASE_URL", "host=/nonexistent"},
                                {"PAYMENT_PROCESSOR_URL_DEFAULT", "http://127.0.0.1:1"},
                                {"PAYMENT_PROCESSOR_URL_FALLBACK", "http://127.0.0.1:2"},
                                {"PROCESSOR_TIMEOUT_MS", "1000"},
                                {"PROCESSOR_MAX_DELAY_MS", "5000"},
                                {"UNKNOWN_HORIZON_MS", "3000"}});
  CHECK_THROWS(e.start());  // it exits at once
  std::ifstream log(e.log_path());
  std::stringstream all;
  all << log.rdbuf();
  CHECK(all.str().find("configuration error: UNKNOWN_HORIZON_MS (3000) must exceed") != std::string::npos);
}
