// An asynchronous PostgreSQL connection on net::EventLoop, over raw libpq (PQsendQueryPrepared,
// PQconsumeInput, PQisBusy, with the socket in the loop's epoll). Knows nothing of payments.
//
// Why not libpqxx's blocking calls: a frozen server keeps its socket open, so neither TCP
// keepalives nor a server-side statement_timeout ever fire, and a blocking call waits forever.
// Here every statement carries a deadline that the loop enforces; connecting and reconnecting
// never block the loop; and the thread that sent a statement keeps serving its other sockets
// (an HTTP loop keeps reading requests while its commit is in flight).
//
// The outcome model is exact about what the server may have done, like net::HttpClient's:
//   ok        the statement ran; the result holds its rows
//   not_sent  nothing reached the server before the deadline (no connection): it did not run
//   failed    the server answered with an error: an autocommit statement had no effect
//   in_doubt  sent, but no answer by the deadline or the connection broke: it may have committed.
//             The connection is then closed (its late answer would belong to no one) and reopened.
#pragma once
#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/event_loop.h"

namespace net {

enum class PgStatus { ok, not_sent, failed, in_doubt };
const char* to_string(PgStatus s);

// Owns one PGresult. Values are text (the text protocol).
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return r_ ? PQntuples(r_.get()) : 0; }
  bool null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col))};
  }
  int64_t int64(int row, int col) const;  // 0 for NULL or a non-integer
  bool boolean(int row, int col) const { return text(row, col) == "t"; }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_{nullptr, &PQclear};
};

struct PgReply {
  PgStatus status = PgStatus::not_sent;
  PgResult result;
  std::string error;       // server or connection message when not ok
  // The server process and session name that ran it: after in_doubt, the statement may still be
  // running there until that process ends (see PgConn::Options::application_name).
  int backend_pid = 0;
  std::string session;
  Clock::time_point sent;  // when the statement was handed to the socket (ok, failed, in_doubt)
  Clock::time_point done;
};

using PgCallback = std::function<void(PgReply&&)>;

class PgConn final : public IoHandler {
 public:
  struct Options {
    std::string conninfo;
    std::string setup_sql;  // run after every connect, before the statements are prepared (SET ...)
    std::vector<std::pair<std::string, std::string>> prepare;  // (name, sql), prepared after every connect
    std::chrono::milliseconds connect_timeout{2000};            // connect + setup + prepare
    std::chrono::milliseconds retry_min{20}, retry_max{500};    // reconnect backoff
    // Names each session uniquely (application_name), so that after an in-doubt statement the
    // caller can find the server process that may still be running it, and no other.
    std::string application_name = "pgconn";
  };

  PgConn(EventLoop& loop, Options opt);
  // Loop thread (or any thread once the loop no longer runs). Callbacks still due are dropped.
  ~PgConn() override;
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Loop thread only. Starts connecting; later failures reconnect by themselves.
  void start();
  // Loop thread only. Runs prepared statement `stmt` (one of Options::prepare) with text
  // parameters, FIFO after the statements already queued. `cb` runs exactly once, on the loop,
  // never inside exec(), at the latest at `deadline` (see the outcome model above).
  void exec(std::string_view stmt, std::vector<std::string> params, Clock::time_point deadline, PgCallback cb);

  bool ready() const { return state_ == State::ready || state_ == State::busy; }  // connected and prepared
  size_t pending() const { return queue_.size() + (current_ ? 1 : 0); }
  uint64_t reconnects() const { return reconnects_; }
  const std::string& last_error() const { return last_error_; }

  // Called on the loop thread when the connection becomes ready (true) or is lost (false).
  std::function<void(bool)> on_state;
  // LISTEN notifications (channel, payload), on the loop thread.
  std::function<void(std::string_view, std::string_view)> on_notify;

 private:
  enum class State { waiting, connecting, setting_up, ready, busy };
  struct Op {
    std::string stmt;
    std::vector<std::string> params;
    Clock::time_point deadline;
    PgCallback cb;
    EventLoop::TimerId timer = 0;
    Clock::time_point sent;
    PgResult result;
    std::string error;
    bool failed = false;
  };

  void on_io(uint32_t events) override;
  void connect();
  void connect_poll();
  void setup_step();
  void send_next();
  void read_input();
  void write_output();
  void on_command_done();
  void lose_connection(const std::string& why);
  void schedule_reconnect();
  void watch(uint32_t events);
  void finish(std::unique_ptr<Op> op, PgStatus status);
  void on_deadline(Op* op);

  EventLoop& loop_;
  Options opt_;
  PGconn* conn_ = nullptr;
  int fd_ = -1;
  uint32_t watched_ = 0;
  State state_ = State::waiting;
  size_t setup_index_ = 0;  // 0: setup_sql, 1..n: prepare[i-1]
  bool setup_failed_ = false;
  bool awaiting_ = false;    // a command was sent and its results are not all in
  bool ever_ready_ = false;
  std::deque<std::unique_ptr<Op>> queue_;
  std::unique_ptr<Op> current_;
  EventLoop::TimerId connect_timer_ = 0, retry_timer_ = 0;
  std::chrono::milliseconds retry_delay_{0};
  uint64_t reconnects_ = 0;
  bool started_ = false;
  std::string last_error_;
  std::string session_;  // application_name of the current session
  int backend_pid_ = 0;
  std::shared_ptr<char> alive_;  // posted completions check it: the connection may be gone by then
};

}  // namespace net
