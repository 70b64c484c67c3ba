// The engine's one periodic tick (like PgBouncer's janitor), on its own thread and connection:
//  - the shared health check: claims a processor's 5 s window in Postgres, and only the claimer
//    calls GET /payments/service-health; every instance reads the result and tells its dispatcher;
//  - adoption: takes queue messages whose lease expired (their instance died) to its dispatcher;
//  - queue gauges for /metrics.
#pragma once
#include <atomic>
#include <thread>

#include "engine/config.h"
#include "engine/dispatcher.h"

namespace engine {

class Janitor {
 public:
  Janitor(const Config& cfg, Dispatcher& dispatcher);
  ~Janitor();
  void start();
  void stop();

 private:
  void run();
  void tick(pqxx::connection& conn, pgq::Queue& queue, SteadyClock::time_point now);
  void check_health(pqxx::connection& conn, Processor p);

  const Config& cfg_;
  Dispatcher& dispatcher_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  SteadyClock::time_point last_health_{}, last_adopt_{}, last_gauges_{};
};

}  // namespace engine
