// A PGMQ-style message queue over plain PostgreSQL tables (no extension). Knows nothing of
// what the messages mean. One Queue object per connection, and one connection per thread
// (libpqxx has no internal locking).
//
// Tables for queue "x": pgq_q_x (live messages), pgq_a_x (archive), pgq_d_x (dead letters),
// pgq_c_x (counters kept by triggers, so that metrics never scan a table), plus the shared
// pgq_meta (one row per queue: payload type, max reads).
//
// Senders NOTIFY channel "pgq_x" in the transaction of the send; read_with_poll() LISTENs, so a
// reader in any process wakes when a send commits, and still polls as a safety net.
//
// Delivery is at-least-once: read() hides a message for a visibility timeout (vt) and bumps
// read_ct; a reader that does not delete it in time lets it reappear. Concurrent readers never
// receive the same message (FOR UPDATE SKIP LOCKED). To make processing effectively exactly-once,
// do the consumer's own writes and the delete in one transaction: consume().
//
// A reader that may outlive its visibility timeout (a process stopped, a database stall) must not
// act on a message another reader took meanwhile: read_ct only grows, so (msg_id, read_ct) is a
// fencing token, a Lease. The Lease overloads of set_vt, remove and consume change a message only
// while nobody has read it since, and report which ones they changed.
#pragma once
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pgq {

// Bad arguments (names, negative timeouts, quantities): thrown before anything reaches the database.
struct InvalidArgument : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

enum class Payload { jsonb, text };  // text: a compact caller-defined layout; jsonb: validated JSON

struct QueueOptions {
  Payload payload = Payload::jsonb;
  int max_reads = 0;  // a message read this many times is dead-lettered on its next read; 0 = never
  // Counting triggers keep metrics() O(1) at any size, for about 0.02-0.1 ms of server time per
  // writing statement (bench/README.md). Off, metrics() counts the tables instead: for a queue
  // that stays small, such as one holding only the work in flight. Unlike the other options,
  // create_queue() brings an existing queue in line with this one.
  bool counters = true;
};

// A message as leased to one reader: see the header comment.
struct Lease {
  int64_t msg_id = 0;
  int32_t read_ct = 0;
};

struct Message {
  int64_t msg_id = 0;
  int32_t read_ct = 0;
  int64_t enqueued_at_ms = 0;  // Unix epoch milliseconds
  int64_t vt_ms = 0;           // visible again at (epoch ms)
  std::string message;         // payload as text (jsonb is rendered by the server)
  Lease lease() const { return {msg_id, read_ct}; }
};

struct Metrics {
  int64_t queue_length = 0;
  std::optional<int64_t> oldest_msg_age_ms;  // empty when the queue is empty
  int64_t total_messages = 0;                // ever sent
  int64_t dead_letters = 0;
  int64_t archived = 0;
};

// Validates a queue name: 1..40 chars of [a-z0-9_], starting with a letter or underscore.
// Names become part of table names, so anything else is refused rather than quoted.
void validate_name(std::string_view name);

// Idempotent: creates the tables if missing, and brings a queue made by an earlier version of
// this library up to date (counters, index). Options of an existing queue are kept, but for
// `counters`, which follows `opts` (switching them on counts what the tables hold).
void create_queue(pqxx::connection& conn, std::string_view name, QueueOptions opts = {});
// Drops the queue's tables and meta row (idempotent).
void drop_queue(pqxx::connection& conn, std::string_view name);

// The queue's statements as SQL text, for callers that run them through another driver (an
// asynchronous connection) or inside a statement of their own (one round trip, atomic without
// BEGIN/COMMIT, e.g. as a CTE). Queue prepares exactly these. Arguments are SQL expressions,
// typically parameters ("$1"); times are milliseconds.
class Statements {
 public:
  Statements(std::string_view name, const QueueOptions& opts);
  const std::string& table() const { return table_; }
  // INSERT of the messages yielded by `rows_select`: two columns, the message (text) and how long
  // it stays hidden (ms, 0 = visible now). Returns msg_id, message (as text). Usable as a CTE.
  // It wakes no reader by itself: see notify().
  std::string send(std::string_view rows_select) const;
  // The same as one complete statement (not a CTE) that also wakes the queue's listeners when
  // its transaction commits, only if it inserted something.
  std::string send_and_notify(std::string_view rows_select) const;
  // A SELECT that wakes the queue's listeners (every process LISTENing on channel()) when the
  // transaction commits; NOTIFY is transactional, so a rolled-back send wakes nobody.
  std::string notify() const;
  const std::string& channel() const { return channel_; }
  // Leases up to `qty` visible messages (those visible the longest, by vt) for vt_ms; returns,
  // per message: msg_id, read_ct, enqueued_at and vt (epoch ms), message (as text), in no
  // particular order. With max_reads set, exhausted messages move to the dead-letter table instead.
  std::string read(std::string_view qty, std::string_view vt_ms) const;
  // read() for readers that take over other readers' messages whose vt ran out. A vt that ran out
  // while the database itself was stalled (or while no guarded reader ran) proves nothing about
  // its holder: it could not renew its lease either. So each guarded read notes when it ran; after
  // a gap of more than stall_ms between guarded reads, messages whose vt passed before the reads
  // resumed are left alone for settle_ms, for their holders to renew or remove them first.
  // Messages that became visible since (sent visible, given back) are taken at once.
  // It returns CTEs, for a caller's `WITH <these> SELECT ... FROM <alias>` (its clock is a
  // data-modifying CTE, which PostgreSQL allows only at the top level); `alias` yields read()'s
  // columns, named msg_id, read_ct, enqueued_ms, vt_ms, message.
  std::string read_guarded(std::string_view qty, std::string_view vt_ms, std::string_view stall_ms,
                           std::string_view settle_ms, std::string_view alias) const;
  // Fenced by leases (bigint[] ids, int[] read counts): hides for vt_ms / deletes only the
  // messages nobody read since; returns their msg_id.
  std::string set_vt_leased(std::string_view ids, std::string_view read_cts, std::string_view vt_ms) const;
  std::string remove_leased(std::string_view ids, std::string_view read_cts) const;
  // Unfenced, by ids (bigint[]): delete, or move to the archive table; both return the msg_ids
  // they moved. Each is one statement, atomic without BEGIN/COMMIT; archive is a complete
  // statement (its DELETE is a CTE of its own), not usable as a CTE.
  std::string remove(std::string_view ids) const;
  std::string archive(std::string_view ids) const;
  // One row: depth, age of the oldest message (ms, NULL if empty), messages ever sent, dead
  // letters, archived. Reads the counters and one primary-key probe: O(1) in the queue's size.
  std::string metrics() const;

 private:
  std::string read_ctes(std::string_view qty, std::string_view vt_ms, std::string_view alias,
                        std::string_view first_ctes, std::string_view also) const;
  std::string name_, table_, dead_, archive_, counters_, channel_, type_;
  int max_reads_ = 0;
  bool counted_ = true;
};

class Queue {
 public:
  using ms = std::chrono::milliseconds;

  // The queue must exist (create_queue). Prepares every statement now, so the first call is fast.
  Queue(pqxx::connection& conn, std::string_view name);
  ~Queue();
  Queue(Queue&&) noexcept;

  const std::string& name() const { return name_; }
  const QueueOptions& options() const { return opts_; }

  // Autocommitted sends; `delay` hides the message from readers until now + delay. Each wakes
  // the queue's listeners in the same statement (see Statements::notify).
  int64_t send(std::string_view message, ms delay = ms{0});
  std::vector<int64_t> send_batch(const std::vector<std::string>& messages, ms delay = ms{0});
  // The same inside the caller's transaction: visible, and readers woken, only if it commits.
  std::vector<int64_t> send_batch(pqxx::transaction_base& tx, const std::vector<std::string>& messages,
                                  ms delay = ms{0});

  const Statements& statements() const { return sql_; }

  // Up to qty visible messages, hidden for vt afterwards, read_ct incremented: those visible the
  // longest (smallest vt; equal vt in index order) are taken, and returned in msg_id order.
  std::vector<Message> read(ms vt, int qty);
  // read(), but when nothing is visible waits until max_wait has passed for a send to commit (in
  // any process: LISTEN on this connection, which stays listening afterwards), reading again on
  // each wake-up and at least every `poll` (the safety net, should a notification be missed).
  std::vector<Message> read_with_poll(ms vt, int qty, ms max_wait, ms poll = ms{100});
  // Reads and deletes one message at once (at-most-once).
  std::optional<Message> pop();

  bool remove(int64_t msg_id);
  std::vector<int64_t> remove(const std::vector<int64_t>& msg_ids);  // ids actually deleted
  std::vector<int64_t> remove(pqxx::transaction_base& tx, const std::vector<int64_t>& msg_ids);
  bool archive(int64_t msg_id);
  std::vector<int64_t> archive(const std::vector<int64_t>& msg_ids);  // one statement, no BEGIN/COMMIT
  // Makes a message visible again at now + vt (0 releases it at once). Empty if it does not exist.
  std::optional<Message> set_vt(int64_t msg_id, ms vt);
  std::vector<int64_t> set_vt(const std::vector<int64_t>& msg_ids, ms vt);  // ids that exist
  std::vector<int64_t> set_vt(pqxx::transaction_base& tx, const std::vector<int64_t>& msg_ids, ms vt);
  // Fenced: only messages still leased as given (nobody read them since); returns their ids.
  std::vector<int64_t> set_vt(pqxx::transaction_base& tx, const std::vector<Lease>& leases, ms vt);
  std::vector<int64_t> remove(pqxx::transaction_base& tx, const std::vector<Lease>& leases);
  int64_t purge();  // deletes every live message, returns how many
  int64_t purge(pqxx::transaction_base& tx);
  Metrics metrics();

  // Runs fn(tx) and deletes the leased messages in ONE transaction: a crash between the
  // consumer's work and the delete cannot lose or duplicate the work. Throws (and changes nothing)
  // if fn throws or if any lease was lost (the message was read again by someone else, or is gone).
  template <class F>
  void consume(const std::vector<Lease>& leases, F&& fn) {
    pqxx::work tx(conn_);
    fn(static_cast<pqxx::transaction_base&>(tx));
    auto removed = remove(tx, leases);
    if (removed.size() != leases.size()) throw std::runtime_error("pgq: consume lost messages to another reader");
    tx.commit();
  }

  // Wakes every reader of this queue (any process) now. Sends do it themselves; this is for
  // messages made visible by other means (set_vt to 0, a driver's own INSERT).
  void notify();
  // Whether this Queue's sends notify (default on). PostgreSQL serialises the commits of
  // notifying transactions (a database-wide lock from pre-commit to the end of the commit), so
  // concurrent single-message senders lose their shared fsyncs: measured 43% fewer msg/s at 4
  // clients. With it off, readers find these messages by their poll.
  void notify_on_send(bool on) { notify_on_send_ = on; }

 private:
  class Listener;
  std::string stmt(std::string_view op) const;
  std::vector<Message> to_messages(const pqxx::result& r) const;
  void check_qty(int qty) const;

  pqxx::connection& conn_;
  std::string name_;
  QueueOptions opts_;
  Statements sql_;
  std::unique_ptr<Listener> listener_;  // LISTENing since the first read_with_poll
  bool notify_on_send_ = true;
};

}  // namespace pgq
