// In-process stand-in for the challenge's payment processor (SPEC section 2), served by
// net::HttpServer. Tests start it on an ephemeral port; the processor_sim executable wraps it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace net {
class HttpServer;
}

namespace sim {

class ProcessorSim {
 public:
  struct Options {
    std::string listen = "127.0.0.1:0";  // "host:port" or "unix:/path"
    int threads = 1;
    std::string name = "default";  // only for logs
    std::string fee = "0.05";      // feePerTransaction, exact decimal text (up to 6 fraction digits)
    std::string token = "123";     // initial X-Rinha-Token
    int delay_ms = 0;              // initial configured delay
    bool failure = false;          // initial failure mode
    int health_window_ms = 5000;   // fixed rate-limit window of GET /payments/service-health
    int health_queue = 2;          // health calls queued for the next windows before 429
    int max_in_progress = 800;     // POST /payments sleeping or being handled
    int max_waiting = 500;         // POST /payments waiting for a slot before 429
    bool quiet = false;            // no log lines (tests)
  };

  explicit ProcessorSim(Options opts);
  ~ProcessorSim();  // stops if running
  ProcessorSim(const ProcessorSim&) = delete;
  ProcessorSim& operator=(const ProcessorSim&) = delete;

  // Throws std::invalid_argument on a bad fee, std::system_error if the address is unusable.
  void start();
  void stop();  // idempotent; payments still sleeping are dropped unanswered

  uint16_t port() const;
  std::string base_url() const;  // "http://127.0.0.1:<port>"

  // Thread-safe shortcuts to what the admin endpoints do (for tools and tests).
  void set_delay_ms(int ms);
  void set_failure(bool on);
  size_t payment_count() const;
  // Every payment held, by correlationId: the processor's own books, for tests that audit the
  // engine against them.
  struct Record {
    int64_t cents;
    int64_t requested_at_ms;
  };
  std::unordered_map<std::string, Record> records() const;

  struct State;  // defined in processor_sim.cpp

 private:
  Options opts_;
  std::unique_ptr<State> st_;
  std::unique_ptr<net::HttpServer> server_;  // declared last: stopped and destroyed before the state
};

}  // namespace sim
