// A small HTTP/1.1 server on net::EventLoop, for the engine's API and the processor simulator.
// Why not cpp-httplib: it pins one thread per keep-alive connection and sleeps up to 1 ms between
// requests; here hundreds of keep-alive connections share one loop thread and a response leaves
// in a single writev as soon as it is ready, which is what a sub-millisecond p99 needs.
#pragma once
#include <atomic>
#include <cstdint>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/event_loop.h"
#include "net/http_parse.h"

namespace net {

class HttpServer;
struct ServerWorker;

// Cheap copyable handle that answers one request. send() may be called later and from any thread,
// at most once per request (further calls are ignored). If the connection has gone away meanwhile,
// or the server has been stopped, it is a no-op.
class Responder {
 public:
  Responder() = default;
  void send(int status, std::string body, std::string_view content_type = "application/json") const;
  // The loop that owns the connection (for timers); nullptr if the server is gone.
  EventLoop* loop() const;

 private:
  friend struct ServerWorker;
  Responder(std::weak_ptr<ServerWorker> w, uint64_t conn_id, uint64_t req_no)
      : worker_(std::move(w)), conn_id_(conn_id), req_no_(req_no) {}
  std::weak_ptr<ServerWorker> worker_;  // weak: responders parked in the loop's own timers must not keep it alive
  uint64_t conn_id_ = 0;
  uint64_t req_no_ = 0;
};

// Called on a loop thread. The Request's views are valid only during the call.
using Handler = std::function<void(const Request&, Responder)>;

class HttpServer {
 public:
  struct Options {
    std::string listen = "127.0.0.1:0";  // "host:port" or "unix:/path/to.sock"
    // A unix socket path, or empty: where net::Balancer connects to hand over client connections
    // (net/handoff.h), which are then served like accepted ones. `listen` stays open beside it.
    std::string handoff{};
    int threads = 1;
    // Open connections over all loop threads. One more is accepted and closed at once (the client
    // sees a plain FIN before any byte): each costs a descriptor and buffers, and 10,000 idle ones
    // from one client were otherwise accepted in half a second.
    size_t max_connections = 4096;
    size_t max_body = 16 * 1024;
    size_t max_header = 8 * 1024;
    int idle_timeout_ms = 60000;  // no byte in or out for this long, between requests: closed
    // Deadlines for one request, which arriving bytes do not extend (a client trickling one byte
    // at a time would hold its connection forever under the idle timeout alone): 408, then close.
    int header_timeout_ms = 5000;  // from its first byte to the end of its header block
    int body_timeout_ms = 5000;    // from the end of its header block to its last body byte
    // Each read asks for the kernel's receive time of its bytes (SO_TIMESTAMPNS), passed on as
    // Request::received. Off by default: it makes the kernel stamp every incoming packet.
    bool receive_times = false;
  };

  HttpServer(Options opts, Handler handler);
  ~HttpServer();  // stops if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (backlog 4096, SO_REUSEADDR; SO_REUSEPORT, one listener per thread, for TCP),
  // spawns `threads` loop threads and returns. Throws std::system_error if the address is unusable.
  void start();
  // Graceful close: stops accepting now; each connection then closes after its next answer
  // (Connection: close) or once idle. Returns when none is left (true) or after `limit` (false).
  // The loops keep running: stop() them afterwards.
  bool drain(std::chrono::milliseconds limit);
  // Stops accepting, closes every connection, joins the threads. Idempotent.
  void stop();

  uint16_t port() const { return port_; }  // actual bound TCP port; 0 for unix sockets
  EventLoop& loop(int i);
  int thread_count() const { return static_cast<int>(workers_.size()); }
  // Connections open right now, over all loop threads (any thread may read it).
  size_t open_connections() const { return open_.load(std::memory_order_relaxed); }

 private:
  Options opts_;
  Handler handler_;
  std::vector<std::shared_ptr<ServerWorker>> workers_;
  std::atomic<size_t> open_{0};  // the workers count into it; all their connections close in stop()
  uint16_t port_ = 0;
  bool running_ = false;
  int shared_listen_fd_ = -1;  // unix socket: one listening fd polled by every loop
};

}  // namespace net
