// Queue throughput and latency on a real PostgreSQL (fsync on), workload by workload, in the
// terms of the PGMQ comparison of issue 11. Not a test: it reports figures.
//   queue_bench [--conninfo "host=... dbname=..."] [--runs 3] [--seconds 5] [--only a,b,...]
//               [--rates 10000,20000,...] [--big 1000000]
// Workloads (--only): single, batch, read_delete, e2e, paced, leased, big, wakeup, notify_cost.
// Without --conninfo it starts a throwaway cluster (tests/support/pg_cluster; TESTPG_DIR=/dev/shm
// puts it on tmpfs). Each figure is the median of --runs runs with the min-max spread, so one
// noisy run cannot mislead.
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "queue/queue.h"
#include "tests/support/pg_cluster.h"

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::string g_conninfo;
double g_seconds = 5;
int g_runs = 3;
int64_t g_big = 1000000;
std::vector<double> g_rates = {10000, 20000, 30000, 40000};

constexpr const char* kQueue = "bench";
constexpr int kBatch = 100;
constexpr size_t kPayloadBytes = 75;  // the PGMQ comparison's payload size

double secs_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// A 75-byte JSON message (jsonb, as PGMQ stores them).
std::string payload(int64_t i) {
  std::string s = fmt::format(R"({{"correlationId":"4a7901b8-7d26-4d9d-aa19-{:012d}","amount":2005,"p":""}})", i);
  s.insert(s.size() - 2, std::string(kPayloadBytes > s.size() ? kPayloadBytes - s.size() : 0, 'x'));
  return s;
}

std::vector<std::string> batch_of(int n, int64_t base = 0) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(payload(base + i));
  return out;
}

void exec(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

void fresh_queue() {
  pqxx::connection c(g_conninfo);
  pgq::drop_queue(c, kQueue);
  pgq::create_queue(c, kQueue, {pgq::Payload::jsonb, 0});
}

std::vector<int64_t> ids_of(const std::vector<pgq::Message>& msgs) {
  std::vector<int64_t> ids;
  for (auto& m : msgs) ids.push_back(m.msg_id);
  return ids;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

using Figures = std::map<std::string, double>;  // one run's named results

// --- workloads --------------------------------------------------------------------------------

Figures single_send() {
  fresh_queue();
  pqxx::connection c(g_conninfo);
  pgq::Queue q(c, kQueue);
  std::vector<double> lat;
  auto start = Clock::now();
  for (int i = 0; secs_since(start) < g_seconds; ++i) {
    auto t = Clock::now();
    q.send(payload(i));
    lat.push_back(ms_since(t) * 1000);
  }
  return {{"msg/s", lat.size() / secs_since(start)}, {"p50 us", percentile(lat, 0.5)}, {"p99 us", percentile(lat, 0.99)}};
}

Figures send_batch() {
  fresh_queue();
  pqxx::connection c(g_conninfo);
  pgq::Queue q(c, kQueue);
  auto msgs = batch_of(kBatch);
  size_t n = 0;
  auto start = Clock::now();
  while (secs_since(start) < g_seconds) n += q.send_batch(msgs).size();
  return {{"msg/s", n / secs_since(start)}};
}

Figures read_delete() {
  fresh_queue();
  pqxx::connection c(g_conninfo);
  pgq::Queue q(c, kQueue);
  auto msgs = batch_of(1000);
  for (int i = 0; i < 300; ++i) q.send_batch(msgs);  // 300,000 ready: more than a run consumes
  size_t n = 0;
  auto start = Clock::now();
  while (secs_since(start) < g_seconds) {
    auto got = q.read(30s, kBatch);
    if (got.empty()) break;
    n += q.remove(ids_of(got)).size();
  }
  return {{"msg/s", n / secs_since(start)}};
}

// One producer sending batches of 100, flat out (rate 0) or paced at `rate` msg/s, and one
// consumer reading 100 (waiting on NOTIFY when there is nothing) and deleting them. The figure is
// what the consumer completed per second; a paced rate is kept up when that matches the offer
// and the backlog stays bounded.
Figures end_to_end(double rate) {
  fresh_queue();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> consumed{0}, sent{0};
  std::thread producer([&] {
    pqxx::connection c(g_conninfo);
    pgq::Queue q(c, kQueue);
    auto msgs = batch_of(kBatch);
    auto next = Clock::now();
    while (!stop) {
      sent += static_cast<int64_t>(q.send_batch(msgs).size());
      if (rate > 0) {
        next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kBatch / rate));
        std::this_thread::sleep_until(next);
      }
    }
  });
  std::thread consumer([&] {
    pqxx::connection c(g_conninfo);
    pgq::Queue q(c, kQueue);
    while (!stop) {
      auto got = q.read_with_poll(30s, kBatch, 100ms, 100ms);
      if (!got.empty()) consumed += static_cast<int64_t>(q.remove(ids_of(got)).size());
    }
  });
  auto start = Clock::now();
  int64_t max_backlog = 0;
  while (secs_since(start) < g_seconds) {
    std::this_thread::sleep_for(50ms);
    max_backlog = std::max(max_backlog, sent.load() - consumed.load());
  }
  double el = secs_since(start);
  int64_t n = consumed.load(), backlog = sent.load() - n;
  stop = true;
  producer.join();
  consumer.join();
  return {{"msg/s", n / el}, {"sent/s", sent.load() / el}, {"backlog at end", static_cast<double>(backlog)},
          {"max backlog", static_cast<double>(max_backlog)}};
}

// Reads of 100 visible messages behind 30,000 leased (hidden) ones, which are older by msg_id.
Figures leased_ahead() {
  fresh_queue();
  pqxx::connection c(g_conninfo);
  pgq::Queue q(c, kQueue);
  auto msgs = batch_of(1000);
  for (int i = 0; i < 30; ++i) q.send_batch(msgs);
  while (!q.read(1h, 1000).empty()) {
  }
  for (int i = 0; i < 10; ++i) q.send_batch(msgs);
  std::vector<double> t;
  for (int i = 0; i < 50; ++i) {
    auto s = Clock::now();
    if (q.read(1h, kBatch).size() != static_cast<size_t>(kBatch)) throw std::runtime_error("leased: short read");
    t.push_back(ms_since(s));
  }
  // Then nothing visible at all: the read that finds nothing, as a consumer that keeps up does.
  while (!q.read(1h, 1000).empty()) {
  }
  std::vector<double> e;
  for (int i = 0; i < 20; ++i) {
    auto s = Clock::now();
    if (!q.read(1h, kBatch).empty()) throw std::runtime_error("leased: expected nothing visible");
    e.push_back(ms_since(s));
  }
  return {{"ms per read", percentile(t, 0.5)}, {"ms per empty read", percentile(e, 0.5)}};
}

// The statement metrics() ran before the counters: a count of each table and min(enqueued_at).
std::string metrics_by_counting() {
  return fmt::format(
      "SELECT (SELECT count(*) FROM pgq_q_{q}),"
      " (SELECT (extract(epoch from clock_timestamp() - min(enqueued_at)) * 1000)::bigint FROM pgq_q_{q}),"
      " coalesce(pg_sequence_last_value('pgq_q_{q}_msg_id_seq'::regclass), 0),"
      " (SELECT count(*) FROM pgq_d_{q}), (SELECT count(*) FROM pgq_a_{q})",
      fmt::arg("q", kQueue));
}

// A backlog of g_big messages arriving in one statement at a consumer whose plans were made on
// the empty table (the worst case for cached plans): metrics, reads and deletes against the full
// backlog, then the drain (read 100 + delete), all without session settings beyond keeping the
// generic plan.
Figures big_backlog() {
  fresh_queue();
  pqxx::connection cc(g_conninfo);
  exec(cc, "SET plan_cache_mode = force_generic_plan");
  pgq::Queue q(cc, kQueue);
  q.read(30s, kBatch);
  q.metrics();
  pqxx::connection pc(g_conninfo);
  pgq::Statements sql(kQueue, {pgq::Payload::jsonb, 0});
  auto t0 = Clock::now();
  exec(pc, sql.send_and_notify(fmt::format(
               "SELECT json_build_object('correlationId', '4a7901b8-7d26-4d9d-aa19-' || lpad(g::text, 12, '0'),"
               " 'amount', 2005, 'p', 'xxx')::text, 0 FROM generate_series(1, {}) g",
               g_big)));
  Figures f{{"build s", secs_since(t0)}};
  std::vector<double> m;
  for (int i = 0; i < 21; ++i) {
    auto s = Clock::now();
    auto r = q.metrics();
    m.push_back(ms_since(s));
    if (r.queue_length != g_big) throw std::runtime_error("big: metrics disagree with the backlog");
  }
  f["metrics ms"] = percentile(m, 0.5);
  f["metrics max ms"] = percentile(m, 1.0);
  {
    auto s = Clock::now();
    exec(pc, metrics_by_counting());
    f["metrics by counting ms"] = ms_since(s);
  }
  std::vector<double> rd, del;
  for (int i = 0; i < 50; ++i) {
    auto s = Clock::now();
    auto got = q.read(30s, kBatch);
    rd.push_back(ms_since(s));
    s = Clock::now();
    q.remove(ids_of(got));
    del.push_back(ms_since(s));
  }
  f["read 100 ms"] = percentile(rd, 0.5);
  f["delete 100 ms"] = percentile(del, 0.5);
  if (g_big <= 1000000) {
    int64_t n = 50 * kBatch;
    auto s = Clock::now();
    for (;;) {
      auto got = q.read(30s, kBatch);
      if (got.empty()) break;
      n += static_cast<int64_t>(q.remove(ids_of(got)).size());
    }
    f["drain msg/s"] = (n - 50 * kBatch) / secs_since(s);
    if (n != g_big) throw std::runtime_error("big: drained a different count");
  }
  return f;
}

// A reader in another process, waiting in read_with_poll (1 s poll, so a wake-up by NOTIFY shows
// as milliseconds), and this process sending single messages at random intervals. Latency: from
// just before the send (its own commit included) to the message in the reader's hands; both
// processes read the same CLOCK_MONOTONIC.
Figures wakeup() {
  fresh_queue();
  constexpr int kMessages = 200;
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("wakeup: pipe");
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    try {
      pqxx::connection c(g_conninfo);
      pgq::Queue q(c, kQueue);
      std::vector<double> lat;
      char ready = 'r';
      if (write(fds[1], &ready, 1) != 1) _exit(2);
      while (lat.size() < static_cast<size_t>(kMessages)) {
        auto got = q.read_with_poll(30s, 10, 5s, 1s);
        auto now = Clock::now().time_since_epoch().count();
        for (auto& m : got) {
          auto p = m.message.find("\"t\":");
          lat.push_back((now - std::stoll(m.message.substr(p + 4))) / 1e6);
        }
        if (!got.empty()) q.remove(ids_of(got));
      }
      auto bytes = lat.size() * sizeof(double);
      if (write(fds[1], lat.data(), bytes) != static_cast<ssize_t>(bytes)) _exit(3);
      _exit(0);
    } catch (...) {
      _exit(1);
    }
  }
  close(fds[1]);
  char ready;
  if (read(fds[0], &ready, 1) != 1) throw std::runtime_error("wakeup: reader did not start");
  std::this_thread::sleep_for(200ms);  // the reader is waiting by now
  pqxx::connection c(g_conninfo);
  pgq::Queue q(c, kQueue);
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> gap_ms(5, 25);
  for (int i = 0; i < kMessages; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms(rng)));
    q.send(fmt::format(R"({{"t":{}}})", Clock::now().time_since_epoch().count()));
  }
  std::vector<double> lat(kMessages);
  size_t want = lat.size() * sizeof(double), got = 0;
  while (got < want) {
    auto r = read(fds[0], reinterpret_cast<char*>(lat.data()) + got, want - got);
    if (r <= 0) throw std::runtime_error("wakeup: reader failed");
    got += static_cast<size_t>(r);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {{"p50 ms", percentile(lat, 0.5)}, {"p99 ms", percentile(lat, 0.99)}, {"max ms", percentile(lat, 1.0)}};
}

// Single sends from 4 clients at once, with the NOTIFY and without (Queue::notify_on_send):
// NOTIFY takes a database-wide lock from pre-commit to the end of the commit,
// so notifying commits cannot share an fsync.
Figures notify_cost() {
  Figures f;
  for (bool notify : {true, false}) {
    fresh_queue();
    std::atomic<int64_t> n{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
      clients.emplace_back([&, t] {
        pqxx::connection c(g_conninfo);
        pgq::Queue q(c, kQueue);
        q.notify_on_send(notify);
        for (int64_t i = 0; !stop; ++i) {
          q.send(payload(t * 1000000000LL + i));
          ++n;
        }
      });
    }
    auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(g_seconds));
    double el = secs_since(start);
    int64_t done = n.load();
    stop = true;
    for (auto& t : clients) t.join();
    f[notify ? "with NOTIFY msg/s" : "without msg/s"] = done / el;
  }
  return f;
}

// --- reporting ------------------------------------------------------------------------------

void report(const std::string& what, const std::function<Figures()>& workload) {
  std::vector<Figures> runs;
  for (int i = 0; i < g_runs; ++i) runs.push_back(workload());
  std::string line = fmt::format("| {:<40} |", what);
  for (const auto& [key, unused] : runs[0]) {
    std::vector<double> v;
    for (auto& r : runs) v.push_back(r.at(key));
    std::sort(v.begin(), v.end());
    auto num = [](double x) { return x >= 100 ? fmt::format("{:.0f}", x) : fmt::format("{:.3g}", x); };
    line += fmt::format(" {} {} ({}-{});", key, num(v[v.size() / 2]), num(v.front()), num(v.back()));
  }
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

double load_average() {
  double l = 0;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1;
    std::fclose(f);
  }
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--conninfo") g_conninfo = v;
    else if (a == "--runs") g_runs = std::max(1, std::stoi(v));
    else if (a == "--seconds") g_seconds = std::stod(v);
    else if (a == "--only") only = "," + v + ",";
    else if (a == "--big") g_big = std::stoll(v);
    else if (a == "--rates") {
      g_rates.clear();
      std::stringstream ss(v);
      for (std::string r; std::getline(ss, r, ',');) g_rates.push_back(std::stod(r));
    } else {
      fmt::print(stderr, "unknown option {}\n", a);
      return 2;
    }
  }
  if (g_conninfo.empty()) g_conninfo = testpg::Cluster::shared().conninfo();
  auto want = [&](const char* w) { return only.empty() || only.find(fmt::format(",{},", w)) != std::string::npos; };
  fmt::print("queue_bench: {} runs of {:.0f} s, median (min-max); payload {} bytes jsonb; load average {:.2f}\n\n",
             g_runs, g_seconds, kPayloadBytes, load_average());
  if (want("single")) report("send, 1 message per transaction", single_send);
  if (want("batch")) report("send_batch of 100", send_batch);
  if (want("read_delete")) report("read 100 + delete by ids", read_delete);
  if (want("e2e")) report("end to end, producer flat out", [] { return end_to_end(0); });
  if (want("paced"))
    for (double r : g_rates) report(fmt::format("end to end, paced at {:.0f}/s", r), [r] { return end_to_end(r); });
  if (want("leased")) report("read 100 with 30,000 leased ahead", leased_ahead);
  if (want("big")) report(fmt::format("backlog of {}", g_big), big_backlog);
  if (want("wakeup")) report("wake-up across processes", wakeup);
  if (want("notify_cost")) report("send, 1 per transaction, 4 clients", notify_cost);
  fmt::print("\nload average at the end {:.2f}\n", load_average());
  pqxx::connection c(g_conninfo);
  pgq::drop_queue(c, kQueue);
}
