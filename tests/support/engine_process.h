// Runs the real payment_engine binary as a child process for black-box tests.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace testsupport {

class EngineProcess {
 public:
  // env: extra variables on top of the required ones the caller passes (DATABASE_URL, ...).
  explicit EngineProcess(std::map<std::string, std::string> env);
  ~EngineProcess();  // SIGKILL if still running
  // Runs the engine in its own mount namespace where /etc/hosts is `path` (unshare + bind mount;
  // needs root): a test can then move a host name to another address by rewriting the file.
  void use_hosts_file(std::string path) { hosts_file_ = std::move(path); }
  // Starts and waits until GET /health answers (throws after 20 s).
  void start();
  void kill9();
  // Sends a signal (SIGSTOP/SIGCONT to freeze and resume the process).
  void signal(int sig);
  // Resident set size in kB (/proc), 0 if not running.
  int64_t rss_kb() const;
  pid_t pid() const { return pid_; }
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
  std::string hosts_file_;
};

// A free loopback TCP port (bound and released; fine for tests on one machine).
uint16_t free_port();

}  // namespace testsupport
