// A whole stack per test: a fresh schema in the throwaway cluster, the two processor simulators
// in-process on ephemeral ports, and the real payment_engine binary as a child process.
// Header-only because it needs processor_sim_lib, which only the tests link.
#pragma once
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "bench/processor/processor_sim.h"
#include "tests/support/engine_process.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/pg_proxy.h"
#include "tests/support/test_ids.h"

namespace testsupport {

inline sim::ProcessorSim::Options sim_options(const char* name, const char* fee) {
  sim::ProcessorSim::Options o;
  o.name = name;
  o.fee = fee;
  o.quiet = true;
  o.health_window_ms = 5000;
  return o;
}

struct Totals {
  int64_t requests = -1;
  std::string amount;
};

struct Stack {
  using Env = std::map<std::string, std::string>;
  struct Options {
    Env env;
    int instances = 1;              // engines started (INSTANCE_ID 1, 2)
    bool db_through_proxy = false;  // engines reach PostgreSQL through a PgProxy (fault injection)
  };

  testpg::Schema schema;
  std::unique_ptr<testpg::PgProxy> proxy;
  sim::ProcessorSim def{sim_options("default", "0.05")};
  sim::ProcessorSim fb{sim_options("fallback", "0.15")};
  std::unique_ptr<EngineProcess> engine;   // instance 1
  std::unique_ptr<EngineProcess> engine2;  // instance 2, when Options::instances == 2
  Env env;

  explicit Stack(Env extra = {}) : Stack(Options{std::move(extra)}) {}
  explicit Stack(Options o) {
    def.start();
    fb.start();
    if (o.db_through_proxy)
      proxy = std::make_unique<testpg::PgProxy>(testpg::Cluster::shared().dir(), testpg::Cluster::shared().port());
    env = {{"DATABASE_URL", proxy ? proxy->conninfo(schema.name) : schema.conninfo},
           {"PAYMENT_PROCESSOR_URL_DEFAULT", def.base_url()},
           {"PAYMENT_PROCESSOR_URL_FALLBACK", fb.base_url()},
           {"ADMIN_TOKEN", "secret"}};
    for (auto& [k, v] : o.env) env[k] = v;
    start_engine();
    if (o.instances > 1) start_engine2();
  }

  void start_engine() {
    engine = std::make_unique<EngineProcess>(env);
    engine->start();
  }
  void start_engine2() {
    auto e = env;
    e.insert_or_assign("INSTANCE_ID", std::string("2"));  // not operator=(const char*): GCC 12 -Wrestrict false positive
    engine2 = std::make_unique<EngineProcess>(e);
    engine2->start();
  }
  std::vector<uint16_t> ports() const {
    std::vector<uint16_t> p{engine->port()};
    if (engine2) p.push_back(engine2->port());
    return p;
  }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", engine->port());
    c.set_read_timeout(std::chrono::seconds(5));
    return c;
  }

  int post(const std::string& cid, const std::string& amount) const {
    auto r = client().Post("/payments", fmt::format(R"({{"correlationId":"{}","amount":{}}})", cid, amount),
                           "application/json");
    return r ? r->status : 0;
  }

  // The engine's GET /payments-summary, parsed just enough for comparisons.
  std::string summary(const std::string& query = "") const {
    auto r = client().Get(("/payments-summary" + query).c_str());
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return r->body;
  }

  static Totals admin_totals(const sim::ProcessorSim& s, const std::string& query = "") {
    httplib::Client c("127.0.0.1", s.port());
    auto r = c.Get(("/admin/payments-summary" + query).c_str(), {{"X-Rinha-Token", "123"}});
    Totals t;
    if (!r || r->status != 200) return t;
    t.requests = std::stoll(field(r->body, "totalRequests"));
    t.amount = field(r->body, "totalAmount");
    return t;
  }

  // The summary the engine should serve if it agrees with the processors exactly.
  static std::string expected_summary(const Totals& d, const Totals& f) {
    return fmt::format(R"({{"default":{{"totalRequests":{},"totalAmount":{}}},"fallback":{{"totalRequests":{},"totalAmount":{}}}}})",
                       d.requests, d.amount, f.requests, f.amount);
  }

  // 200 if the processor holds the payment, 404 if not.
  static int lookup(const sim::ProcessorSim& s, const std::string& cid) {
    httplib::Client c("127.0.0.1", s.port());
    auto r = c.Get(("/payments/" + cid).c_str());
    return r ? r->status : 0;
  }

  // Waits until the processors together hold `n` payments and the engine has recorded them all.
  bool wait_processed(int64_t n, std::chrono::seconds limit = std::chrono::seconds(30)) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto d = admin_totals(def), f = admin_totals(fb);
      if (d.requests + f.requests >= n && summary() == expected_summary(d, f)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  int64_t db_count(const std::string& sql) const {
    pqxx::connection c(schema.conninfo);
    pqxx::nontransaction tx(c);
    return tx.exec(sql)[0][0].as<int64_t>();
  }

  // The raw JSON value after "key": (numbers only; enough for these summaries).
  static std::string field(const std::string& body, const std::string& key) {
    auto at = body.find("\"" + key + "\":");
    if (at == std::string::npos) return "";
    at += key.size() + 3;
    auto end = body.find_first_of(",}", at);
    return body.substr(at, end - at);
  }
};

}  // namespace testsupport
