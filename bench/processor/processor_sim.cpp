#include "bench/processor/processor_sim.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "net/http_server.h"
#include "engine/money.h"
#include "engine/timefmt.h"

namespace sim {

namespace {

constexpr int kFeeScale = 6;  // fee kept as integer millionths: exact for any realistic rate

struct Payment {
  int64_t cents;
  int64_t requested_at_ms;
};

std::string error_json(std::string_view msg) { return fmt::format("{{\"error\":\"{}\"}}", msg); }

// Lower-cases a canonical 8-4-4-4-12 UUID; nullopt for anything else (the reference binds a Guid).
std::optional<std::string> normalize_uuid(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  std::string out(36, '\0');
  for (size_t i = 0; i < 36; ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
    } else if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c + 32);
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return std::nullopt;
    }
    out[i] = c;
  }
  return out;
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// One parser and one padded copy per thread: simdjson needs SIMDJSON_PADDING readable bytes past
// the end, and re-allocating either per request would dominate the cost of a tiny body.
struct JsonScratch {
  simdjson::ondemand::parser parser;
  std::string pad;
};

// Walks the top-level object of `body`, calling on_field(key, value) for each field; on_field
// returns an error message or nullptr. Returns an error message, or nullptr when all was well.
template <class F>
const char* for_each_field(std::string_view body, F&& on_field) {
  thread_local JsonScratch js;
  if (js.pad.size() < body.size() + simdjson::SIMDJSON_PADDING)
    js.pad.resize(body.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(js.pad.data(), body.data(), body.size());
  auto doc = js.parser.iterate(simdjson::padded_string_view(js.pad.data(), body.size(), js.pad.size()));
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return "body must be a JSON object";
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return "malformed JSON";
    simdjson::ondemand::value v;
    if (field.value().get(v)) return "malformed JSON";
    if (const char* err = on_field(key, v)) return err;
  }
  // At the end of a well-formed document the location is out of bounds; anything else is trailing junk.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return "malformed JSON";
  return nullptr;
}

}  // namespace

struct ProcessorSim::State {
  Options opts;
  int64_t fee_units = 0;
  std::string fee_text;

  std::atomic<int> delay_ms{0};
  std::atomic<bool> failure{false};

  mutable std::mutex token_mu;
  std::string token;

  mutable std::mutex store_mu;
  std::unordered_map<std::string, Payment> payments;

  // Admission control of POST /payments: a slot per request in progress, then a FIFO of waiters.
  struct Waiter {
    net::EventLoop* loop;
    std::function<void()> start;
  };
  std::mutex admit_mu;
  int in_progress = 0;
  std::deque<Waiter> waiting;

  // Fixed-window limiter of the health endpoint, replenished by a timer on loop 0.
  std::mutex health_mu;
  int health_permits = 1;
  std::deque<net::Responder> health_queue;

  net::HttpServer* server = nullptr;

  void log(const std::string& msg) const {
    if (!opts.quiet) std::fprintf(stderr, "processor_sim[%s]: %s\n", opts.name.c_str(), msg.c_str());
  }

  bool authorized(const net::Request& req) const {
    std::lock_guard lk(token_mu);
    return req.header("X-Rinha-Token") == token;
  }

  std::string health_body() const {
    return fmt::format("{{\"failing\":{},\"minResponseTime\":{}}}", failure.load() ? "true" : "false",
                       delay_ms.load());
  }

  void handle(const net::Request& req, net::Responder res);
  void post_payment(const net::Request& req, net::Responder res);
  void run_payment(std::string id, Payment p, net::Responder res);
  void finish_payment(const std::string& id, Payment p, const net::Responder& res);
  void release_slot();
  void get_health(net::Responder res);
  void health_tick();
  void get_payment(std::string_view id, net::Responder res);
  void summary(const net::Request& req, net::Responder res);
  void put_config(std::string_view what, const net::Request& req, net::Responder res);
};

void ProcessorSim::State::handle(const net::Request& req, net::Responder res) {
  std::string_view path = req.path, m = req.method;
  if (path == "/payments") {
    if (m == "POST") return post_payment(req, std::move(res));
  } else if (path == "/payments/service-health") {
    if (m == "GET") return get_health(std::move(res));
  } else if (path.rfind("/payments/", 0) == 0) {
    if (m == "GET") return get_payment(path.substr(10), std::move(res));
  } else if (path.rfind("/admin/", 0) == 0) {
    bool known = path == "/admin/payments-summary" || path == "/admin/purge-payments" ||
                 path.rfind("/admin/configurations/", 0) == 0;
    if (!known) return res.send(404, error_json("not found"));
    if (!authorized(req)) return res.send(401, error_json("invalid or missing X-Rinha-Token"));
    if (path == "/admin/payments-summary" && m == "GET") return summary(req, std::move(res));
    if (path == "/admin/purge-payments" && m == "POST") {
      {
        std::lock_guard lk(store_mu);
        payments.clear();
      }
      log("payments purged");
      return res.send(200, R"({"message":"All payments purged."})");
    }
    if (path.rfind("/admin/configurations/", 0) == 0 && m == "PUT")
      return put_config(path.substr(22), req, std::move(res));
    return res.send(405, error_json("method not allowed"));
  } else {
    return res.send(404, error_json("not found"));
  }
  res.send(405, error_json("method not allowed"));
}

void ProcessorSim::State::post_payment(const net::Request& req, net::Responder res) {
  std::optional<std::string> id;
  std::optional<int64_t> cents, at;
  const char* err = for_each_field(req.body, [&](std::string_view key, simdjson::ondemand::value& v) -> const char* {
    if (key == "correlationId") {
      std::string_view s;
      if (v.get_string().get(s) || !(id = normalize_uuid(s))) return "correlationId must be a UUID";
    } else if (key == "amount") {
      simdjson::ondemand::json_type t;
      if (v.type().get(t) || t != simdjson::ondemand::json_type::number) return "amount must be a number";
      cents = money::parse_amount_cents(trim_right(v.raw_json_token()), true);
      if (!cents || *cents < 0) return "amount must be a non-negative decimal";
    } else if (key == "requestedAt") {
      std::string_view s;
      if (v.get_string().get(s) || !(at = timefmt::parse_iso8601_ms(s)))
        return "requestedAt must be an ISO-8601 UTC timestamp";
    }
    return nullptr;
  });
  if (err) return res.send(400, error_json(err));
  if (!id || !cents || !at) return res.send(400, error_json("correlationId, amount and requestedAt are required"));

  net::EventLoop* loop = res.loop();
  if (!loop) return;
  Payment p{*cents, *at};
  {
    std::unique_lock lk(admit_mu);
    if (in_progress < opts.max_in_progress) {
      ++in_progress;
    } else if (static_cast<int>(waiting.size()) < opts.max_waiting) {
      waiting.push_back(Waiter{loop, [this, id = std::move(*id), p, res]() mutable {
                                 run_payment(std::move(id), p, std::move(res));
                               }});
      return;
    } else {
      lk.unlock();
      return res.send(429, error_json("too many requests"));
    }
  }
  run_payment(std::move(*id), p, std::move(res));
}

// Holds a slot: sleeps the delay configured now, then decides (failure is read after the sleep).
void ProcessorSim::State::run_payment(std::string id, Payment p, net::Responder res) {
  int delay = delay_ms.load();
  if (delay <= 0) {
    finish_payment(id, p, res);
    return;
  }
  net::EventLoop* loop = res.loop();
  if (!loop) return;  // server gone: nothing left to answer
  loop->add_timer(std::chrono::milliseconds(delay),
                  [this, id = std::move(id), p, res = std::move(res)] { finish_payment(id, p, res); });
}

void ProcessorSim::State::finish_payment(const std::string& id, Payment p, const net::Responder& res) {
  if (failure.load()) {
    res.send(500, error_json("payment processor failure"));
  } else {
    bool inserted;
    {
      std::lock_guard lk(store_mu);
      inserted = payments.try_emplace(id, p).second;
    }
    if (inserted) res.send(200, R"({"message":"payment processed successfully"})");
    else res.send(422, error_json("correlationId already exists"));
  }
  release_slot();
}

void ProcessorSim::State::release_slot() {
  std::optional<Waiter> next;
  {
    std::lock_guard lk(admit_mu);
    if (waiting.empty()) {
      --in_progress;
      return;
    }
    next.emplace(std::move(waiting.front()));  // the slot passes straight to the oldest waiter
    waiting.pop_front();
  }
  // Always through post: starting inline could recurse through a long queue of zero-delay waiters.
  next->loop->post(std::move(next->start));
}

void ProcessorSim::State::get_health(net::Responder res) {
  std::unique_lock lk(health_mu);
  if (health_permits > 0 && health_queue.empty()) {
    --health_permits;
    lk.unlock();
    return res.send(200, health_body());
  }
  if (static_cast<int>(health_queue.size()) < opts.health_queue) {
    health_queue.push_back(std::move(res));
    return;
  }
  lk.unlock();
  res.send(429, error_json("too many requests"));
}

// Start of a window: one permit, spent at once on the oldest queued call if there is one.
void ProcessorSim::State::health_tick() {
  std::optional<net::Responder> waiter;
  {
    std::lock_guard lk(health_mu);
    health_permits = 1;
    if (!health_queue.empty()) {
      waiter.emplace(std::move(health_queue.front()));
      health_queue.pop_front();
      health_permits = 0;
    }
  }
  if (waiter) waiter->send(200, health_body());
  server->loop(0).add_timer(std::chrono::milliseconds(opts.health_window_ms), [this] { health_tick(); });
}

void ProcessorSim::State::get_payment(std::string_view raw_id, net::Responder res) {
  auto id = normalize_uuid(raw_id);
  std::optional<Payment> p;
  if (id) {
    std::lock_guard lk(store_mu);
    auto it = payments.find(*id);
    if (it != payments.end()) p = it->second;
  }
  if (!p) return res.send(404, error_json("payment not found"));
  char at[25];
  timefmt::format_iso8601_ms(p->requested_at_ms, at);
  res.send(200, fmt::format(R"({{"correlationId":"{}","amount":{},"requestedAt":"{}"}})", *id,
                            money::format_cents(p->cents), at));
}

void ProcessorSim::State::summary(const net::Request& req, net::Responder res) {
  std::string from_s = net::url_decode(req.query_param("from"));
  std::string to_s = net::url_decode(req.query_param("to"));
  bool filter = !from_s.empty() && !to_s.empty();
  int64_t from = 0, to = 0;
  if (filter) {
    auto f = timefmt::parse_iso8601_ms(from_s), t = timefmt::parse_iso8601_ms(to_s);
    if (!f || !t) return res.send(400, error_json("from and to must be ISO-8601 UTC timestamps"));
    from = *f;
    to = *t;
  }
  int64_t count = 0, total = 0;
  {
    std::lock_guard lk(store_mu);
    for (const auto& [id, p] : payments) {
      if (filter && (p.requested_at_ms < from || p.requested_at_ms > to)) continue;
      ++count;
      total += p.cents;
    }
  }
  int64_t fee = money::apply_rate(total, fee_units, kFeeScale);
  res.send(200, fmt::format(R"({{"totalRequests":{},"totalAmount":{},"totalFee":{},"feePerTransaction":{}}})", count,
                            money::format_cents(total), money::format_cents(fee), fee_text));
}

void ProcessorSim::State::put_config(std::string_view what, const net::Request& req, net::Responder res) {
  if (what == "token") {
    std::optional<std::string> tok;
    const char* err = for_each_field(req.body, [&](std::string_view key, simdjson::ondemand::value& v) -> const char* {
      if (key != "token") return nullptr;
      std::string_view s;
      if (v.get_string().get(s) || s.empty()) return "token must be a non-empty string";
      tok = std::string(s);
      return nullptr;
    });
    if (err || !tok) return res.send(400, error_json(err ? err : "token is required"));
    {
      std::lock_guard lk(token_mu);
      token = *tok;
    }
    log("token changed");
    return res.send(204, "");
  }
  if (what == "delay") {
    std::optional<int64_t> d;
    const char* err = for_each_field(req.body, [&](std::string_view key, simdjson::ondemand::value& v) -> const char* {
      if (key != "delay") return nullptr;
      int64_t x;
      if (v.get_int64().get(x) || x < 0 || x > 3'600'000) return "delay must be an integer of milliseconds";
      d = x;
      return nullptr;
    });
    if (err || !d) return res.send(400, error_json(err ? err : "delay is required"));
    int was = delay_ms.exchange(static_cast<int>(*d));
    log(fmt::format("delay {} -> {} ms", was, *d));
    return res.send(200, fmt::format(R"({{"config":"delay","was":{},"is":{}}})", was, *d));
  }
  if (what == "failure") {
    std::optional<bool> f;
    const char* err = for_each_field(req.body, [&](std::string_view key, simdjson::ondemand::value& v) -> const char* {
      if (key != "failure") return nullptr;
      bool x;
      if (v.get_bool().get(x)) return "failure must be a boolean";
      f = x;
      return nullptr;
    });
    if (err || !f) return res.send(400, error_json(err ? err : "failure is required"));
    bool was = failure.exchange(*f);
    log(fmt::format("failure {} -> {}", was, *f));
    return res.send(200, fmt::format(R"({{"config":"failure","was":{},"is":{}}})", was, *f));
  }
  res.send(404, error_json("unknown configuration"));
}

// ---------------------------------------------------------------------------------------------

ProcessorSim::ProcessorSim(Options opts) : opts_(std::move(opts)) {}

ProcessorSim::~ProcessorSim() { stop(); }

void ProcessorSim::start() {
  if (server_) return;
  auto st = std::make_unique<State>();
  st->opts = opts_;
  auto fee = money::parse_decimal_scaled(opts_.fee, kFeeScale, false);
  if (!fee || *fee < 0) throw std::invalid_argument("processor_sim: bad fee '" + opts_.fee + "'");
  st->fee_units = *fee;
  st->fee_text = money::format_scaled_trimmed(*fee, kFeeScale);
  st->token = opts_.token;
  st->delay_ms = opts_.delay_ms;
  st->failure = opts_.failure;
  if (st->opts.health_window_ms < 1) st->opts.health_window_ms = 1;

  net::HttpServer::Options so;
  so.listen = opts_.listen;
  so.threads = opts_.threads;
  State* raw = st.get();
  auto server = std::make_unique<net::HttpServer>(so, [raw](const net::Request& req, net::Responder res) {
    raw->handle(req, std::move(res));
  });
  raw->server = server.get();
  server->start();
  server->loop(0).post([raw] {
    raw->server->loop(0).add_timer(std::chrono::milliseconds(raw->opts.health_window_ms), [raw] { raw->health_tick(); });
  });
  st_ = std::move(st);
  server_ = std::move(server);
  st_->log(fmt::format("listening on {} (port {}), fee {}, delay {} ms, failure {}", opts_.listen, port(),
                       st_->fee_text, st_->delay_ms.load(), st_->failure.load()));
}

void ProcessorSim::stop() {
  if (!server_) return;
  server_->stop();
  server_.reset();  // closures parked in its loops (timers, waiters' posts) die with it
  st_.reset();
}

uint16_t ProcessorSim::port() const { return server_ ? server_->port() : 0; }

std::string ProcessorSim::base_url() const { return fmt::format("http://127.0.0.1:{}", port()); }

void ProcessorSim::set_delay_ms(int ms) {
  if (st_) st_->delay_ms = ms;
}

void ProcessorSim::set_failure(bool on) {
  if (st_) st_->failure = on;
}

size_t ProcessorSim::payment_count() const {
  if (!st_) return 0;
  std::lock_guard lk(st_->store_mu);
  return st_->payments.size();
}

std::unordered_map<std::string, ProcessorSim::Record> ProcessorSim::records() const {
  std::unordered_map<std::string, Record> out;
  if (!st_) return out;
  std::lock_guard lk(st_->store_mu);
  for (const auto& [id, p] : st_->payments) out.emplace(id, Record{p.cents, p.requested_at_ms});
  return out;
}

}  // namespace sim
