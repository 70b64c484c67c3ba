// Runs the real payment_engine binary as a child process for black-box tests.
#pragma once
#include <sys/types.h>

#include <map>
#include <string>

namespace testsupport {

class EngineProcess {
 public:
  // env: extra variables on top of the required ones the caller passes (DATABASE_URL, ...).
  explicit EngineProcess(std::map<std::string, std::string> env);
  ~EngineProcess();  // SIGKILL if still running
  // Starts and waits until GET /health answers (throws after 20 s).
  void start();
  void kill9();
  // SIGTERM and wait; returns the exit status.
  int terminate();
  uint16_t port() const { return port_; }
  std::string url() const;
  const std::string& log_path() const { return log_; }

 private:
  std::map<std::string, std::string> env_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string log_;
};

// A free loopback TCP port (bound and released; fine for tests on one machine).
uint16_t free_port();

}  // namespace testsupport
