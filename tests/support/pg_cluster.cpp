#include "tests/support/pg_cluster.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace testpg {
namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace

Cluster& Cluster::shared() {
  static Cluster c;
  return c;
}

Cluster::Cluster() {
  as_postgres_ = geteuid() == 0;
  // TESTPG_DIR puts the cluster elsewhere, e.g. /dev/shm for benchmarks on a tmpfs cluster.
  const char* base = std::getenv("TESTPG_DIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/payeng-pgtest-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("testpg: mkdtemp failed in " + tmpl);
  dir_ = tmpl;
  if (as_postgres_) {
    passwd* pw = getpwnam("postgres");
    if (!pw || chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("testpg: running as root needs the postgres user (apt-get install postgresql)");
  }
  start();
}

int Cluster::run_as_server_user(const std::string& cmd) const {
  std::string full = as_postgres_ ? "runuser -u postgres -- sh -c " + shell_quote(cmd) : cmd;
  return std::system(full.c_str());
}

void Cluster::start() {
  const std::string data = dir_ + "/data";
  if (!std::filesystem::exists(data)) {
    // --no-sync only skips flushing initdb's own files; the server below runs with fsync on.
    auto init = fmt::format("{}/initdb -D {} -U postgres -A trust -E UTF8 --no-sync >{}/initdb.log 2>&1", bin_, data,
                            dir_);
    if (run_as_server_user(init) != 0) throw std::runtime_error("testpg: initdb failed, see " + dir_ + "/initdb.log");
  }
  auto ctl = fmt::format(
      "{}/pg_ctl -D {} -l {}/server.log -w -t 60 -o \"-k {} -c listen_addresses='' -c fsync=on"
      " -c max_connections=200 -c shared_buffers=128MB\" start >/dev/null",
      bin_, data, dir_, dir_);
  if (run_as_server_user(ctl) != 0) throw std::runtime_error("testpg: pg_ctl start failed, see " + dir_ + "/server.log");
}

void Cluster::restart_immediate() {
  run_as_server_user(fmt::format("{}/pg_ctl -D {}/data -m immediate -w stop >/dev/null", bin_, dir_));
  start();
}

void Cluster::restart_fast() {
  auto ctl = fmt::format(
      "{}/pg_ctl -D {}/data -l {}/server.log -m fast -w -t 60 restart >/dev/null", bin_, dir_, dir_);
  if (run_as_server_user(ctl) != 0) throw std::runtime_error("testpg: pg_ctl restart failed, see " + dir_ + "/server.log");
}

namespace {

int postmaster_pid(const std::string& data) {
  std::ifstream f(data + "/postmaster.pid");
  int pid = 0;
  f >> pid;
  return pid;
}

// Direct children of `parent`: the backends and auxiliary processes of a postmaster.
std::vector<int> children_of(int parent) {
  std::vector<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace

void Cluster::freeze() {
  int pm = postmaster_pid(dir_ + "/data");
  if (pm <= 0) throw std::runtime_error("testpg: no postmaster to freeze");
  // The postmaster first, so that it forks no new backend while the others are being stopped.
  ::kill(pm, SIGSTOP);
  frozen_ = {pm};
  for (int c : children_of(pm)) {
    ::kill(c, SIGSTOP);
    frozen_.push_back(c);
  }
}

void Cluster::thaw() {
  for (auto it = frozen_.rbegin(); it != frozen_.rend(); ++it) ::kill(*it, SIGCONT);
  frozen_.clear();
}

Cluster::~Cluster() {
  thaw();
  run_as_server_user(fmt::format("{}/pg_ctl -D {}/data -m immediate -w stop >/dev/null 2>&1", bin_, dir_));
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string Cluster::conninfo(const std::string& schema) const {
  std::string s = fmt::format("host={} dbname=postgres user=postgres", dir_);
  if (!schema.empty()) s += fmt::format(" options=-csearch_path={}", schema);
  return s;
}

Schema::Schema() {
  static std::atomic<int> counter{0};
  name = fmt::format("t_{}_{}", getpid(), counter++);
  auto& c = Cluster::shared();
  pqxx::connection conn(c.conninfo());
  pqxx::nontransaction tx(conn);
  tx.exec("CREATE SCHEMA " + name);
  conninfo = c.conninfo(name);
}

Schema::~Schema() {
  try {
    pqxx::connection conn(Cluster::shared().conninfo());
    pqxx::nontransaction tx(conn);
    tx.exec("DROP SCHEMA IF EXISTS " + name + " CASCADE");
  } catch (...) {
    // The cluster is torn down at exit anyway.
  }
}

}  // namespace testpg
