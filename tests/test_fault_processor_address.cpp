// A processor that comes back on a new address (a restarted container gets a new IP), black-box:
// the engine resolves the processor's host name again after connection failures. The engine runs
// in its own mount namespace where /etc/hosts is a file this test rewrites.
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "tests/support/audit.h"

using namespace testsupport;
using namespace std::chrono_literals;

TEST_CASE("processor back on a new address is reached again") {
  if (geteuid() != 0 || std::system("unshare --mount true 2>/dev/null") != 0) {
    MESSAGE("skipped: needs root and unshare(1) to give the engine its own /etc/hosts");
    return;
  }
  const std::string hosts = fmt::format("/tmp/payeng-hosts-{}", getpid());
  auto write_hosts = [&](const char* ip) {
    std::ofstream f(hosts, std::ios::trunc);  // in place: the bind mount follows the inode
    f << "127.0.0.1 localhost\n" << ip << " processor-default.test\n";
  };
  write_hosts("127.0.0.2");
  const uint16_t port = free_port();
  auto opts = sim_options("default", "0.05");
  opts.listen = fmt::format("127.0.0.2:{}", port);
  auto def = std::make_unique<sim::ProcessorSim>(opts);
  def->start();
  sim::ProcessorSim fb(sim_options("fallback", "0.15"));
  fb.start();
  fb.set_failure(true);  // the engine has nowhere else to go
  testpg::Schema schema;
  EngineProcess engine({{"DATABASE_URL", schema.conninfo},
                        {"PAYMENT_PROCESSOR_URL_DEFAULT", fmt::format("http://processor-default.test:{}", port)},
                        {"PAYMENT_PROCESSOR_URL_FALLBACK", fb.base_url()}});
  engine.use_hosts_file(hosts);
  engine.start();
  auto post = [&](int i) {
    httplib::Client c("127.0.0.1", engine.port());
    auto r = c.Post("/payments", fmt::format(R"({{"correlationId":"{}","amount":20.05}})", test_uuid(i)),
                    "application/json");
    return r ? r->status : 0;
  };
  for (int i = 0; i < 10; ++i) CHECK(post(i) == 202);
  auto wait_for = [](auto&& cond) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!cond() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
    return cond();
  };
  REQUIRE(wait_for([&] { return def->records().size() == 10; }));

  // The processor moves: same port, new address.
  def->stop();
  opts.listen = fmt::format("127.0.0.3:{}", port);
  auto moved = std::make_unique<sim::ProcessorSim>(opts);
  moved->start();
  write_hosts("127.0.0.3");
  for (int i = 10; i < 20; ++i) CHECK(post(i) == 202);
  CHECK(wait_for([&] { return moved->records().size() == 10; }));
  CHECK(fb.records().empty());
  std::remove(hosts.c_str());
}
