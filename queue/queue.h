// A PGMQ-style message queue over plain PostgreSQL tables (no extension). Knows nothing of
// what the messages mean. One Queue object per connection, and one connection per thread
// (libpqxx has no internal locking).
//
// Tables for queue "x": pgq_q_x (live messages), pgq_a_x (archive), pgq_d_x (dead letters),
// plus the shared pgq_meta (one row per queue: payload type, max reads).
//
// Delivery is at-least-once: read() hides a message for a visibility timeout (vt) and bumps
// read_ct; a reader that does not delete it in time lets it reappear. Concurrent readers never
// receive the same message (FOR UPDATE SKIP LOCKED). To make processing effectively exactly-once,
// do the consumer's own writes and the delete in one transaction: consume().
#pragma once
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
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
};

struct Message {
  int64_t msg_id = 0;
  int32_t read_ct = 0;
  int64_t enqueued_at_ms = 0;  // Unix epoch milliseconds
  int64_t vt_ms = 0;           // visible again at (epoch ms)
  std::string message;         // payload as text (jsonb is rendered by the server)
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

// Idempotent: creates the tables if missing. Options of an existing queue are kept.
void create_queue(pqxx::connection& conn, std::string_view name, QueueOptions opts = {});
// Drops the queue's tables and meta row (idempotent).
void drop_queue(pqxx::connection& conn, std::string_view name);

class Queue {
 public:
  using ms = std::chrono::milliseconds;

  // The queue must exist (create_queue). Prepares every statement now, so the first call is fast.
  Queue(pqxx::connection& conn, std::string_view name);

  const std::string& name() const { return name_; }
  const QueueOptions& options() const { return opts_; }

  // Autocommitted sends; `delay` hides the message from readers until now + delay.
  int64_t send(std::string_view message, ms delay = ms{0});
  std::vector<int64_t> send_batch(const std::vector<std::string>& messages, ms delay = ms{0});
  // The same inside the caller's transaction: visible only if it commits. Call notify() after.
  std::vector<int64_t> send_batch(pqxx::transaction_base& tx, const std::vector<std::string>& messages,
                                  ms delay = ms{0});

  // The send as a statement fragment, for a caller that needs its own writes and the send in ONE
  // statement (one round trip, atomic without BEGIN/COMMIT): an INSERT to put in a CTE of the
  // caller's statement. `messages_select` yields one text column of messages; `delay_ms_expr` is
  // an SQL expression (for example a parameter "$3"). Returns msg_id and message (as text).
  std::string send_sql(std::string_view messages_select, std::string_view delay_ms_expr) const;

  // Up to qty visible messages, hidden for vt afterwards, read_ct incremented: those visible the
  // longest (smallest vt, then msg_id) are taken, and returned in msg_id order.
  std::vector<Message> read(ms vt, int qty);
  // read(), but when nothing is visible waits for a send of this process (or polls every
  // `poll`) until max_wait has passed.
  std::vector<Message> read_with_poll(ms vt, int qty, ms max_wait, ms poll = ms{100});
  // Reads and deletes one message at once (at-most-once).
  std::optional<Message> pop();

  bool remove(int64_t msg_id);
  std::vector<int64_t> remove(const std::vector<int64_t>& msg_ids);  // ids actually deleted
  std::vector<int64_t> remove(pqxx::transaction_base& tx, const std::vector<int64_t>& msg_ids);
  bool archive(int64_t msg_id);
  std::vector<int64_t> archive(const std::vector<int64_t>& msg_ids);
  // Makes a message visible again at now + vt (0 releases it at once). Empty if it does not exist.
  std::optional<Message> set_vt(int64_t msg_id, ms vt);
  std::vector<int64_t> set_vt(const std::vector<int64_t>& msg_ids, ms vt);  // ids that exist
  std::vector<int64_t> set_vt(pqxx::transaction_base& tx, const std::vector<int64_t>& msg_ids, ms vt);
  int64_t purge();  // deletes every live message, returns how many
  int64_t purge(pqxx::transaction_base& tx);
  Metrics metrics();

  // Runs fn(tx) and deletes msg_ids in ONE transaction: a crash between the consumer's work and
  // the delete cannot lose or duplicate the work. Throws (and changes nothing) if fn throws or
  // if any of msg_ids is no longer in the queue (someone else consumed it: the lease was lost).
  template <class F>
  void consume(const std::vector<int64_t>& msg_ids, F&& fn) {
    pqxx::work tx(conn_);
    fn(static_cast<pqxx::transaction_base&>(tx));
    auto removed = remove(tx, msg_ids);
    if (removed.size() != msg_ids.size()) throw std::runtime_error("pgq: consume lost messages to another reader");
    tx.commit();
  }

  // Wakes readers of this queue in this process (after a transaction holding sends committed).
  void notify();

 private:
  std::string stmt(std::string_view op) const;
  std::vector<Message> to_messages(const pqxx::result& r) const;
  void check_qty(int qty) const;

  pqxx::connection& conn_;
  std::string name_;
  QueueOptions opts_;
};

}  // namespace pgq
