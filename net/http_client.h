// Asynchronous HTTP/1.1 client on net::EventLoop: keep-alive pools per endpoint, thousands of
// requests in flight without a thread each (a processor may hold a request for 5 s while we
// send 600/s), and an error model exact about whether the server may have acted on a request.
#pragma once
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/event_loop.h"
#include "net/http_parse.h"

namespace net {

// What a failed request means for the server side. The engine's "never pay twice" rule rests
// on this: only connect_failed proves the server never saw a byte of the request.
enum class ClientError {
  none,
  // Not one byte of the request was written: connection refused or unreachable, connect
  // timeout, or the whole timeout spent waiting for a pooled connection. Safe to retry anywhere.
  connect_failed,
  // Written (maybe partially), no complete answer in time. Outcome UNKNOWN. The connection
  // was closed, so a late answer can never be mistaken for another request's.
  timeout,
  // Written (maybe partially), then the connection closed or was reset before a complete
  // answer. Outcome UNKNOWN.
  disconnected,
  // Written, and the server answered something that is not HTTP/1.x. Outcome UNKNOWN.
  bad_response,
  // Not one byte was written: the request's start_by passed before it could start (waiting for a
  // connection, or connecting). The caller's right to send had a deadline; nothing was sent.
  expired,
};

const char* to_string(ClientError e);

struct ClientResult {
  ClientError error = ClientError::none;
  int status = 0;  // HTTP status when error == none
  std::string body;
  // First byte handed to the kernel .. last byte of the answer read (steady clock): the
  // honest latency, queueing for a connection and connecting excluded (like k6's
  // http_req_duration). For connect_failed both are the moment of failure.
  Clock::time_point write_started, completed;

  // True when the server may have processed the request although we got no answer.
  bool outcome_unknown() const {
    return error != ClientError::none && error != ClientError::connect_failed && error != ClientError::expired;
  }
  std::chrono::microseconds latency() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(completed - write_started);
  }
};

// Always called exactly once per request() (unless the client is destroyed first, see
// ~HttpClient), on the loop thread, never synchronously inside request().
using ResponseCallback = std::function<void(ClientResult&&)>;

struct Endpoint {
  // "http://host[:port][/path/prefix]" (port 80 by default; IPv6 as [::1]). The host is
  // resolved once, here, with getaddrinfo (IPv4 preferred). Throws std::invalid_argument on a
  // malformed URL, an unsupported scheme or an unresolvable host.
  static Endpoint parse(std::string_view url);

  std::string host_header;  // "host:port" as given
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string base_path;  // "" or "/prefix" without a trailing slash; prepended to every path
  // Connections are pooled per distinct pool_key (address + Host by default). A caller that
  // wants separate connection sets to the same server (the load generator gives each virtual
  // user its own, like k6) appends its own tag.
  std::string pool_key;
};

class HttpClient {
 public:
  struct Options {
    size_t max_connections = 256;  // per pool (endpoint); requests beyond wait FIFO
    std::chrono::milliseconds connect_timeout{1000};
    // A longer answer fails as bad_response and its connection is closed: a server announcing
    // 2 GB and streaming must not be buffered (it drove the engine from 41 to 522 MB in 5 s).
    size_t max_response_body = ResponseLimits{}.max_body;
  };

  explicit HttpClient(EventLoop& loop);
  HttpClient(EventLoop& loop, Options opt);
  // Loop thread, or any thread once the loop no longer runs. Closes every connection; the
  // callbacks of requests still pending are destroyed WITHOUT being called (callers that must
  // learn every outcome call fail_all() first, or wait for in_flight() == 0).
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Loop thread only. extra_headers: complete "Name: value\r\n" lines, may be empty. A
  // non-empty body gets "Content-Type: application/json" unless extra_headers has one.
  // timeout covers everything: waiting for a pooled connection, connecting, writing, reading.
  void request(const Endpoint& ep, std::string_view method, std::string_view path, std::string_view body,
               std::string_view extra_headers, std::chrono::milliseconds timeout, ResponseCallback cb);
  // The same, but the first byte may only be written before start_by (checked against the clock
  // right before the write, not the loop's cached time): after it, the request completes with
  // `expired` and nothing was sent. For a sender whose right to send is a lease that expires.
  void request(const Endpoint& ep, std::string_view method, std::string_view path, std::string_view body,
               std::string_view extra_headers, std::chrono::milliseconds timeout, Clock::time_point start_by,
               ResponseCallback cb);

  // Loop thread only. Completes every pending request now (connect_failed if not a byte was
  // written, else disconnected) and closes every connection. Callbacks may issue new requests.
  void fail_all();

  size_t in_flight() const { return in_flight_; }          // requests whose callback is still due
  size_t open_connections() const { return open_conns_; }  // sockets connecting, busy or idle

  struct Conn;
  struct Req;
  struct Pool;

 private:
  friend struct Conn;
  Pool& pool_for(const Endpoint& ep);
  void dispatch(Pool& p, Req* r);
  void open_connection(Pool& p);
  void start_on(Conn* c, Req* r);
  bool expire_if_late(Req* r);  // completes r with `expired` if its start_by has passed
  void on_io(Conn* c, uint32_t events);
  void on_connected(Conn* c);
  void on_connect_failed(Conn* c);
  void continue_write(Conn* c);
  void read_response(Conn* c);
  void finish_ok(Conn* c);
  void fail_on_conn(Conn* c, ClientError e);
  void release_conn(Conn* c);  // busy -> next queued request, or idle
  void drop(Conn* c);          // close and bury; not for a connection with a request on it
  void on_timeout(Req* r);
  void complete(Req* r, ClientResult&& res);
  void flush_deferred();
  void reap();
  Req* new_req();
  void free_req(Req* r);

  EventLoop& loop_;
  Options opt_;
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<Pool>, KeyHash, std::equal_to<>> pools_;
  std::vector<Req*> free_reqs_;                 // recycled: their buffers keep their capacity
  std::vector<std::unique_ptr<Conn>> graveyard_;  // closed, deleted after the current epoll batch
  std::vector<std::pair<Req*, ClientResult>> deferred_;  // failures detected inside request()
  bool reap_posted_ = false, deferred_posted_ = false;
  int request_depth_ = 0;  // > 0 while inside request(): completions must be deferred
  size_t in_flight_ = 0, open_conns_ = 0;
  Conn* conns_ = nullptr;  // every open connection (intrusive list), for fail_all and ~HttpClient
  std::unique_ptr<char[]> scratch_;  // recv buffer shared by all connections of this loop
  std::shared_ptr<char> alive_;  // posted functions check it: the client may be gone by then
};

}  // namespace net
