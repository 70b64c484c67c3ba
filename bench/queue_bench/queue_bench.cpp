// Queue throughput and latency on a real PostgreSQL (fsync on). Not a test: it reports figures.
//   queue_bench [--conninfo "host=... dbname=..."] [--runs 3] [--seconds 3]
// Without --conninfo it starts a throwaway cluster (tests/support/pg_cluster). Each figure is the
// median of --runs runs, with the min-max spread, so one noisy run cannot mislead.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "queue/queue.h"
#include "tests/support/pg_cluster.h"

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::string g_conninfo;
double g_seconds = 3;

double secs_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

const char* payload_name(pgq::Payload p) { return p == pgq::Payload::jsonb ? "jsonb" : "text"; }

// A payment-sized message in each layout: what the engine would store.
std::string sample(pgq::Payload p, int i) {
  if (p == pgq::Payload::jsonb)
    return fmt::format(R"({{"correlationId":"4a7901b8-7d26-4d9d-aa19-{:012d}","amountCents":2005}})", i);
  return fmt::format("4a7901b8-7d26-4d9d-aa19-{:012d} 2005", i);
}

void fresh_queue(pgq::Payload p) {
  pqxx::connection c(g_conninfo);
  pgq::drop_queue(c, "bench");
  pgq::create_queue(c, "bench", {p, 0});
}

struct Figure {
  double rate = 0;  // messages per second
  double p50_us = 0, p99_us = 0;
  int64_t backlog = -1;  // end to end: messages sent but not yet consumed when the clock stopped
};

Figure send_single(pgq::Payload p) {
  fresh_queue(p);
  pqxx::connection c(g_conninfo);
  pgq::Queue q(c, "bench");
  std::vector<double> lat;
  auto start = Clock::now();
  int i = 0;
  while (secs_since(start) < g_seconds) {
    auto t = Clock::now();
    q.send(sample(p, i++));
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  double el = secs_since(start);
  std::sort(lat.begin(), lat.end());
  return {lat.size() / el, lat[lat.size() / 2], lat[std::min(lat.size() - 1, lat.size() * 99 / 100)]};
}

Figure send_batch(pgq::Payload p, int batch) {
  fresh_queue(p);
  pqxx::connection c(g_conninfo);
  pgq::Queue q(c, "bench");
  std::vector<std::string> msgs;
  for (int i = 0; i < batch; ++i) msgs.push_back(sample(p, i));
  size_t n = 0;
  auto start = Clock::now();
  while (secs_since(start) < g_seconds) n += q.send_batch(msgs).size();
  return {n / secs_since(start)};
}

Figure read_delete(pgq::Payload p, int batch) {
  fresh_queue(p);
  pqxx::connection c(g_conninfo);
  pgq::Queue q(c, "bench");
  std::vector<std::string> msgs;
  for (int i = 0; i < 1000; ++i) msgs.push_back(sample(p, i));
  for (int i = 0; i < 60; ++i) q.send_batch(msgs);  // 60,000 ready messages
  size_t n = 0;
  auto start = Clock::now();
  while (secs_since(start) < g_seconds) {
    auto got = q.read(30s, batch);
    if (got.empty()) break;
    std::vector<int64_t> ids;
    for (auto& m : got) ids.push_back(m.msg_id);
    n += q.remove(ids).size();
  }
  return {n / secs_since(start)};
}

// One producer sending batches at a paced `rate` (msg/s), one consumer reading and deleting
// batches, concurrently. The figure is what the consumer completed per second; the rate is
// sustained when that matches the offered rate (an unpaced producer would only measure how fast
// it can bury the consumer under a growing table).
Figure end_to_end(pgq::Payload p, int batch, double rate) {
  fresh_queue(p);
  std::atomic<bool> stop{false};
  std::atomic<size_t> consumed{0}, sent{0};
  std::thread producer([&] {
    pqxx::connection c(g_conninfo);
    pgq::Queue q(c, "bench");
    std::vector<std::string> msgs;
    for (int i = 0; i < batch; ++i) msgs.push_back(sample(p, i));
    auto interval = std::chrono::duration<double>(batch / rate);
    auto next = Clock::now();
    while (!stop) {
      sent += q.send_batch(msgs).size();
      next += std::chrono::duration_cast<Clock::duration>(interval);
      std::this_thread::sleep_until(next);
    }
  });
  std::thread consumer([&] {
    pqxx::connection c(g_conninfo);
    pgq::Queue q(c, "bench");
    while (!stop) {
      auto got = q.read_with_poll(30s, batch, 100ms, 10ms);
      std::vector<int64_t> ids;
      for (auto& m : got) ids.push_back(m.msg_id);
      consumed += q.remove(ids).size();
    }
  });
  auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(g_seconds));
  double el = secs_since(start);
  size_t n = consumed.load();
  int64_t backlog = static_cast<int64_t>(sent.load()) - static_cast<int64_t>(n);
  stop = true;
  producer.join();
  consumer.join();
  return {n / el, 0, 0, backlog};
}

template <class F>
void report(const char* what, int runs, F&& f) {
  std::vector<Figure> r;
  for (int i = 0; i < runs; ++i) r.push_back(f());
  auto med = [&](auto key) {
    std::vector<double> v;
    for (auto& x : r) v.push_back(key(x));
    std::sort(v.begin(), v.end());
    return std::tuple{v[v.size() / 2], v.front(), v.back()};
  };
  auto [rate, lo, hi] = med([](const Figure& x) { return x.rate; });
  fmt::print("| {:<44} | {:>9.0f} | {:>8.0f}-{:<8.0f} |", what, rate, lo, hi);
  if (r[0].backlog >= 0) {
    auto [b, lo_b, hi_b] = med([](const Figure& x) { return static_cast<double>(x.backlog); });
    fmt::print(" backlog at end {:.0f} (max {:.0f}) |\n", b, hi_b);
  } else if (r[0].p50_us > 0) {
    auto [p50, a, b] = med([](const Figure& x) { return x.p50_us; });
    auto [p99, c, d] = med([](const Figure& x) { return x.p99_us; });
    fmt::print(" p50 {:.0f} us, p99 {:.0f} us |\n", p50, p99);
  } else {
    fmt::print("   |\n");
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--conninfo")) g_conninfo = argv[i + 1];
    else if (!std::strcmp(argv[i], "--runs")) runs = std::max(1, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--seconds")) g_seconds = std::atof(argv[i + 1]);
  }
  if (g_conninfo.empty()) g_conninfo = testpg::Cluster::shared().conninfo();
  fmt::print("queue_bench: {} runs of {:.0f} s each, figures are median and min-max\n\n", runs, g_seconds);
  fmt::print("| {:<44} | {:>9} | {:^17} | latency |\n", "operation", "msg/s", "spread");
  fmt::print("|{:-<46}|{:-<11}|{:-<19}|---|\n", "", "", "");
  for (auto p : {pgq::Payload::text, pgq::Payload::jsonb}) {
    auto tag = [&](const char* op) { return fmt::format("{} ({})", op, payload_name(p)); };
    report(tag("send, single, 1 client").c_str(), runs, [&] { return send_single(p); });
    report(tag("send_batch of 100").c_str(), runs, [&] { return send_batch(p, 100); });
    report(tag("read+delete in batches of 100").c_str(), runs, [&] { return read_delete(p, 100); });
    for (double rate : {10000.0, 20000.0, 30000.0})
      report(fmt::format("end to end, {:.0f}/s offered ({})", rate, payload_name(p)).c_str(), runs,
             [&] { return end_to_end(p, 100, rate); });
  }
  pqxx::connection c(g_conninfo);
  pgq::drop_queue(c, "bench");
}
