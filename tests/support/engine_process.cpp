#include "tests/support/engine_process.h"

#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace testsupport {

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

EngineProcess::EngineProcess(std::map<std::string, std::string> env) : env_(std::move(env)) {
  port_ = free_port();
  env_["LISTEN_ADDR"] = "127.0.0.1:" + std::to_string(port_);
  if (!env_.count("ADMIN_TOKEN")) env_["ADMIN_TOKEN"] = "secret";
  log_ = "/tmp/payment_engine_test_" + std::to_string(getpid()) + "_" + std::to_string(port_) + ".log";
}

EngineProcess::~EngineProcess() {
  if (pid_ > 0) kill9();
}

std::string EngineProcess::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void EngineProcess::start() {
  std::vector<std::string> kv;
  for (char** e = environ; *e; ++e) kv.emplace_back(*e);
  for (auto& [k, v] : env_) kv.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : kv) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string bin = std::string(BUILD_DIR) + "/payment_engine";
  pid_ = fork();
  if (pid_ == 0) {
    FILE* f = std::fopen(log_.c_str(), "a");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    if (!hosts_file_.empty()) {
      // unshare execs sh, which execs the engine: the pid stays the engine's.
      std::string script = "mount --bind \"$1\" /etc/hosts && exec \"$0\"";
      std::vector<std::string> args = {"unshare", "--mount", "--propagation", "private", "sh", "-c", script, bin,
                                       hosts_file_};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvpe("unshare", argv.data(), envp.data());
      _exit(127);
    }
    char* argv[] = {bin.data(), nullptr};
    execve(bin.c_str(), argv, envp.data());
    _exit(127);
  }
  httplib::Client cli("127.0.0.1", port_);
  cli.set_connection_timeout(std::chrono::milliseconds(200));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto r = cli.Get("/health"); r && r->status == 200) return;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("payment_engine exited at start, see " + log_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("payment_engine did not become healthy, see " + log_);
}

void EngineProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void EngineProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int64_t EngineProcess::rss_kb() const {
  if (pid_ <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return 0;
}

int EngineProcess::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace testsupport
