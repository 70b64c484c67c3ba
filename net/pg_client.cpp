#include "net/pg_client.h"

#include <sys/epoll.h>

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>

namespace net {

const char* to_string(PgStatus s) {
  switch (s) {
    case PgStatus::ok: return "ok";
    case PgStatus::not_sent: return "not_sent";
    case PgStatus::failed: return "failed";
    case PgStatus::in_doubt: return "in_doubt";
  }
  return "?";
}

int64_t PgResult::int64(int row, int col) const {
  auto t = text(row, col);
  int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

namespace {

std::chrono::milliseconds until(Clock::time_point t) {
  auto d = std::chrono::ceil<std::chrono::milliseconds>(t - Clock::now());
  return std::max(d, std::chrono::milliseconds(0));
}

std::string trimmed_error(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

PgConn::PgConn(EventLoop& loop, Options opt) : loop_(loop), opt_(std::move(opt)), alive_(std::make_shared<char>(0)) {}

PgConn::~PgConn() {
  alive_.reset();
  for (auto id : {connect_timer_, retry_timer_})
    if (id) loop_.cancel_timer(id);
  if (current_ && current_->timer) loop_.cancel_timer(current_->timer);
  for (auto& op : queue_)
    if (op->timer) loop_.cancel_timer(op->timer);
  if (conn_) {
    if (watched_) loop_.del_fd(fd_);
    PQfinish(conn_);
  }
}

void PgConn::start() {
  if (started_) return;
  started_ = true;
  connect();
}

void PgConn::watch(uint32_t events) {
  if (fd_ < 0 || events == watched_) return;
  if (watched_ == 0) loop_.add_fd(fd_, events, this);
  else loop_.mod_fd(fd_, events, this);
  watched_ = events;
}

void PgConn::connect() {
  state_ = State::connecting;
  static std::atomic<uint64_t> sessions{0};
  session_ = fmt::format("{}-{}-{}", opt_.application_name, getpid(), ++sessions);
  // dbname with expand_dbname=1 takes the whole conninfo (either syntax); application_name overrides.
  const char* keys[] = {"dbname", "application_name", nullptr};
  const char* values[] = {opt_.conninfo.c_str(), session_.c_str(), nullptr};
  conn_ = PQconnectStartParams(keys, values, 1);
  if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) {
    lose_connection(conn_ ? trimmed_error(PQerrorMessage(conn_)) : "out of memory");
    return;
  }
  connect_timer_ = loop_.add_timer(opt_.connect_timeout, [this] {
    connect_timer_ = 0;
    lose_connection("connect timeout");
  });
  // Server notices (and libpq's own, such as a session terminated by an administrator) would go
  // to stderr line by line; the caller learns what matters through replies and on_state.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  fd_ = PQsocket(conn_);
  watched_ = 0;
  watch(EPOLLOUT);  // libpq's connection sequence starts by waiting for the socket to be writable
}

void PgConn::connect_poll() {
  PostgresPollingStatusType st = PQconnectPoll(conn_);
  // libpq may move to another socket (another host or address of the list): the old one may be
  // closed and its number reused, so the registration is always made afresh here.
  if (fd_ >= 0 && watched_) loop_.del_fd(fd_);
  watched_ = 0;
  fd_ = PQsocket(conn_);
  switch (st) {
    case PGRES_POLLING_READING: watch(EPOLLIN); return;
    case PGRES_POLLING_WRITING: watch(EPOLLOUT); return;
    case PGRES_POLLING_OK:
      backend_pid_ = PQbackendPID(conn_);
      if (PQsetnonblocking(conn_, 1) != 0) {
        lose_connection("cannot set non-blocking mode");
        return;
      }
      watch(EPOLLIN);
      state_ = State::setting_up;
      setup_index_ = 0;
      setup_step();
      return;
    default:
      lose_connection(trimmed_error(PQerrorMessage(conn_)));
      return;
  }
}

void PgConn::setup_step() {
  if (setup_index_ == 0 && opt_.setup_sql.empty()) setup_index_ = 1;
  int sent = 0;
  if (setup_index_ == 0) {
    sent = PQsendQuery(conn_, opt_.setup_sql.c_str());
  } else if (setup_index_ <= opt_.prepare.size()) {
    const auto& [name, sql] = opt_.prepare[setup_index_ - 1];
    sent = PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr);
  } else {
    // Connected and prepared.
    if (connect_timer_) loop_.cancel_timer(connect_timer_);
    connect_timer_ = 0;
    state_ = State::ready;
    retry_delay_ = std::chrono::milliseconds(0);
    if (ever_ready_) ++reconnects_;
    ever_ready_ = true;
    if (on_state) on_state(true);
    send_next();
    return;
  }
  if (!sent) {
    lose_connection(trimmed_error(PQerrorMessage(conn_)));
    return;
  }
  awaiting_ = true;
  setup_failed_ = false;
  write_output();
}

void PgConn::exec(std::string_view stmt, std::vector<std::string> params, Clock::time_point deadline,
                  PgCallback cb) {
  auto op = std::make_unique<Op>();
  op->stmt = stmt;
  op->params = std::move(params);
  op->deadline = deadline;
  op->cb = std::move(cb);
  if (deadline <= Clock::now()) {
    // Never call back inside exec(): the caller may not be ready for it.
    loop_.post([alive = std::weak_ptr<char>(alive_), op = std::shared_ptr<Op>(std::move(op))] {
      if (alive.expired()) return;
      PgReply r;
      r.status = PgStatus::not_sent;
      r.error = "deadline passed before the statement could be sent";
      r.done = Clock::now();
      op->cb(std::move(r));
    });
    return;
  }
  Op* raw = op.get();
  op->timer = loop_.add_timer(until(deadline), [this, raw] {
    raw->timer = 0;
    on_deadline(raw);
  });
  queue_.push_back(std::move(op));
  send_next();
}

void PgConn::send_next() {
  if (state_ != State::ready || current_ || queue_.empty()) return;
  current_ = std::move(queue_.front());
  queue_.pop_front();
  std::vector<const char*> values;
  values.reserve(current_->params.size());
  for (const auto& p : current_->params) values.push_back(p.c_str());
  current_->sent = Clock::now();
  if (!PQsendQueryPrepared(conn_, current_->stmt.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                           nullptr, 0)) {
    // Not dispatched: nothing of it left. It goes back to the head of the queue.
    queue_.push_front(std::move(current_));
    lose_connection(trimmed_error(PQerrorMessage(conn_)));
    return;
  }
  state_ = State::busy;
  awaiting_ = true;
  write_output();
}

void PgConn::write_output() {
  if (!conn_) return;
  int r = PQflush(conn_);
  if (r < 0) {
    lose_connection(trimmed_error(PQerrorMessage(conn_)));
    return;
  }
  watch(r == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

void PgConn::on_io(uint32_t events) {
  if (!conn_) return;
  if (state_ == State::connecting) {
    connect_poll();
    return;
  }
  if (events & EPOLLOUT) {
    write_output();
    if (!conn_) return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_input();
}

void PgConn::read_input() {
  if (!PQconsumeInput(conn_)) {
    lose_connection(trimmed_error(PQerrorMessage(conn_)));
    return;
  }
  while (PGnotify* n = PQnotifies(conn_)) {
    if (on_notify) on_notify(n->relname, n->extra ? n->extra : "");
    PQfreemem(n);
  }
  while (conn_ && awaiting_ && !PQisBusy(conn_)) {
    PGresult* r = PQgetResult(conn_);
    if (!r) {
      on_command_done();
      continue;
    }
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (state_ == State::busy && current_) {
      if (!ok) {
        current_->failed = true;
        current_->error = trimmed_error(PQresultErrorMessage(r));
      }
      current_->result = PgResult(r);  // a prepared statement yields one result
    } else {
      if (!ok) {
        setup_failed_ = true;
        last_error_ = trimmed_error(PQresultErrorMessage(r));
      }
      PQclear(r);
    }
  }
  // The server may also end the session on its own (administrator command, shutdown).
  if (conn_ && PQstatus(conn_) == CONNECTION_BAD) lose_connection(trimmed_error(PQerrorMessage(conn_)));
}

void PgConn::on_command_done() {
  awaiting_ = false;
  if (state_ == State::setting_up) {
    if (setup_failed_) {
      lose_connection("setup failed: " + last_error_);
      return;
    }
    ++setup_index_;
    setup_step();
    return;
  }
  if (state_ != State::busy || !current_) return;
  auto op = std::move(current_);
  state_ = State::ready;
  PgStatus st = op->failed ? PgStatus::failed : PgStatus::ok;
  finish(std::move(op), st);
  send_next();
}

void PgConn::on_deadline(Op* op) {
  if (current_.get() == op) {
    // The server has it and did not answer in time: it may still commit. The connection cannot
    // be reused (its late answer would be read as the next statement's).
    lose_connection("statement deadline passed");
    return;
  }
  auto it = std::find_if(queue_.begin(), queue_.end(), [op](const auto& p) { return p.get() == op; });
  if (it == queue_.end()) return;
  auto mine = std::move(*it);
  queue_.erase(it);
  mine->error = last_error_.empty() ? "no database connection before the deadline" : last_error_;
  finish(std::move(mine), PgStatus::not_sent);
}

void PgConn::finish(std::unique_ptr<Op> op, PgStatus status) {
  if (op->timer) loop_.cancel_timer(op->timer);
  op->timer = 0;
  PgReply r;
  r.status = status;
  r.result = std::move(op->result);
  r.error = std::move(op->error);
  r.sent = op->sent;
  r.done = Clock::now();
  r.backend_pid = backend_pid_;
  r.session = session_;
  op->cb(std::move(r));
}

void PgConn::lose_connection(const std::string& why) {
  last_error_ = why;
  const bool was_ready = state_ == State::ready || state_ == State::busy;
  if (connect_timer_) loop_.cancel_timer(connect_timer_);
  connect_timer_ = 0;
  if (conn_) {
    if (watched_) loop_.del_fd(fd_);
    PQfinish(conn_);
  }
  conn_ = nullptr;
  fd_ = -1;
  watched_ = 0;
  awaiting_ = false;
  state_ = State::waiting;
  auto op = std::move(current_);
  schedule_reconnect();
  if (was_ready && on_state) on_state(false);
  if (op) {
    op->error = why;
    finish(std::move(op), PgStatus::in_doubt);
  }
}

void PgConn::schedule_reconnect() {
  if (retry_timer_) return;
  retry_delay_ = std::clamp(retry_delay_ * 2, opt_.retry_min, opt_.retry_max);
  retry_timer_ = loop_.add_timer(retry_delay_, [this] {
    retry_timer_ = 0;
    connect();
  });
}

}  // namespace net
