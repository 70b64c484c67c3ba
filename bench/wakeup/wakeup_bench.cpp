// What one wake-up costs on this machine: two threads bounce a byte over a pair of pipes, either
// on the same CPU or on different CPUs, back to back or after an idle gap (as a request at a
// few hundred per second finds its next hop asleep). A POST crosses about seven such hops
// (client, load balancer, engine, PostgreSQL, its WAL flush, and back), so this is part of the
// latency floor that no code of ours removes (bench/README.md).
//   wakeup_bench [ROUND_TRIPS]        prints p50/p90/p99 of one round trip (two wake-ups), in us
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void measure(int cpu_a, int cpu_b, int gap_us, int n) {
  int a2b[2], b2a[2];
  if (pipe(a2b) != 0 || pipe(b2a) != 0) std::exit(1);
  std::thread echo([&] {
    pin(cpu_b);
    char c;
    while (read(a2b[0], &c, 1) == 1 && c != 'q') {
      if (write(b2a[1], &c, 1) != 1) break;
    }
  });
  pin(cpu_a);
  std::vector<double> us;
  us.reserve(n);
  char c = 'x';
  for (int i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (write(a2b[1], &c, 1) != 1 || read(b2a[0], &c, 1) != 1) std::exit(1);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (gap_us) std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
  }
  c = 'q';
  if (write(a2b[1], &c, 1) != 1) std::exit(1);
  echo.join();
  for (int fd : {a2b[0], a2b[1], b2a[0], b2a[1]}) close(fd);
  std::sort(us.begin(), us.end());
  auto q = [&](double p) { return us[static_cast<size_t>(p * (us.size() - 1))]; };
  std::printf("%-9s gap %4d us: round trip p50 %6.1f  p90 %6.1f  p99 %6.1f us\n",
              cpu_a == cpu_b ? "same CPU" : "two CPUs", gap_us, q(0.5), q(0.9), q(0.99));
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  if (std::thread::hardware_concurrency() < 2) {
    std::printf("one CPU: nothing to compare\n");
    return 0;
  }
  for (int gap : {0, 2000})
    for (int other : {0, 1}) measure(0, other, gap, n);
  return 0;
}
