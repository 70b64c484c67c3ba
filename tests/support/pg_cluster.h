// A throwaway PostgreSQL 15 cluster for integration tests: initdb into a temp dir (under
// $TESTPG_DIR if set, else /tmp), listen on a unix socket in that dir only (no TCP port to
// collide on), fsync on, torn down at exit.
// Works as root (the server runs as user postgres) and as a normal user.
#pragma once
#include <pqxx/pqxx>

#include <string>
#include <vector>

namespace testpg {

class Cluster {
 public:
  // The process-wide cluster, started on first use (about 1.5 s).
  static Cluster& shared();
  ~Cluster();

  const std::string& dir() const { return dir_; }
  // Connection string for database "postgres" with search_path set to `schema` (if not empty).
  std::string conninfo(const std::string& schema = "") const;
  // Runs a command as the server's user (pg_ctl etc.); returns its exit status.
  int run_as_server_user(const std::string& cmd) const;
  // Stops the server abruptly and starts it again on the same data (crash recovery tests).
  void restart_immediate();
  // pg_ctl restart -m fast: what an operator does; sessions are terminated, the server is back
  // when it returns.
  void restart_fast();
  // SIGSTOP / SIGCONT of the postmaster and every backend: a server that hangs (a stalled disk,
  // a paused VM) while its sockets stay open. Connections and statements just wait.
  void freeze();
  void thaw();
  // The server's unix socket directory and port, for tools that connect by other means.
  int port() const { return 5432; }

 private:
  Cluster();
  void start();
  std::string dir_;
  std::string bin_ = "/usr/lib/postgresql/15/bin";
  bool as_postgres_ = false;
  std::vector<int> frozen_;
};

// A fresh, empty schema per test: the returned conninfo puts it first on search_path.
struct Schema {
  Schema();
  ~Schema();
  std::string name;
  std::string conninfo;
};

}  // namespace testpg
