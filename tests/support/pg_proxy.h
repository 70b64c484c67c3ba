// A TCP proxy between the engines and the test cluster's unix socket, for the database faults a
// test must inject at an exact moment: stall every connection (packets held, sockets open), cut
// every connection, or cut one connection right after the server committed a given prepared
// statement, before its answer reaches the client (an in-doubt commit).
//
// It understands just enough of the PostgreSQL wire protocol to see a Bind naming a statement and
// the ReadyForQuery that ends its answer. Clients must connect with sslmode=disable and
// gssencmode=disable (conninfo() does): the SSL/GSS negotiation bytes are not framed messages.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace testpg {

class PgProxy {
 public:
  // Forwards 127.0.0.1:<ephemeral> to the unix socket `socket_dir`/.s.PGSQL.`port`.
  PgProxy(std::string socket_dir, int port);
  ~PgProxy();
  PgProxy(const PgProxy&) = delete;
  PgProxy& operator=(const PgProxy&) = delete;

  uint16_t port() const { return port_; }
  // libpq conninfo through the proxy, with search_path set to `schema` if not empty.
  std::string conninfo(const std::string& schema = "") const;

  // While paused nothing is read from either side and no connection is accepted: to a client
  // the server looks frozen.
  void pause(bool on);
  // Resets every open connection (both sides).
  void cut_all();
  // The next `n` times a client binds one of the prepared statements `stmts`, its connection is
  // reset once the server has finished that statement (its ReadyForQuery: the implicit
  // transaction committed), and nothing of the answer reaches the client.
  // `on_cut`, if given, runs on the proxy's thread at each such cut, just before the reset: a
  // test can stall the server at that very moment (nothing of the answer has reached the client).
  void cut_after_commit(std::vector<std::string> stmts, int n = 1, std::function<void()> on_cut = {});
  int cuts_done() const { return cuts_done_.load(); }
  int connections_seen() const { return accepted_.load(); }

 private:
  void run();
  std::string socket_path_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> cut_all_{false};
  std::mutex mu_;
  std::vector<std::string> cut_stmts_;
  int cut_left_ = 0;
  std::function<void()> on_cut_;
  std::atomic<int> cuts_done_{0};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace testpg
