#include "tests/support/pg_cluster.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <atomic>
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
  char tmpl[] = "/tmp/payeng-pgtest-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("testpg: mkdtemp failed");
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

Cluster::~Cluster() {
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
