// HTTP/1.1 message parsing over plain byte buffers: no sockets, no timers, so every rule can be
// unit-tested and fuzzed on its own. The server's connections (http_server.cpp) and the client's
// (http_client.cpp) only move bytes between the kernel and these parsers.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace net {

using HeaderField = std::pair<std::string_view, std::string_view>;

struct Request {
  std::string_view method, target, path, query, body;
  std::span<const HeaderField> headers;  // in arrival order, names as sent
  bool keep_alive = true;                // what the connection will do after this request
  bool http10 = false;                   // HTTP/1.0 (else 1.1)
  // When the kernel received the read that brought its first bytes, on the steady clock, with
  // HttpServer::Options::receive_times; else the epoch. What a handler's own clock cannot see:
  // how long the request waited in the socket before its loop read it.
  std::chrono::steady_clock::time_point received{};

  // Case-insensitive name; empty if absent (first occurrence wins).
  std::string_view header(std::string_view name) const;
  // The raw (still percent-encoded) value of the first `key=` in the query; empty if absent.
  // Use url_decode() when values may carry escapes (e.g. "%3A" in timestamps).
  std::string_view query_param(std::string_view key) const;
};

// Percent-decoding of a query component ("+" becomes a space). Invalid escapes are kept verbatim.
std::string url_decode(std::string_view raw);

// True if the comma-separated header value holds `token` (case-insensitive), e.g. "keep-alive, close".
bool has_token(std::string_view value, std::string_view token);

// Finds the end of a header block (its empty line) incrementally, checking line endings on the way.
struct HeadScan {
  enum class Result { need_more, complete, bare_lf, empty_first_line };
  size_t scanned = 0;     // bytes already looked at
  size_t line_start = 0;  // where the current line begins
  // data: the message from its first byte, possibly longer than last time. complete: the block is
  // data[0, scanned), its empty line included.
  Result scan(std::string_view data);
};

struct RequestLimits {
  size_t max_header = 8 * 1024;  // request line + header fields + the blank line
  size_t max_body = 16 * 1024;
  size_t max_fields = 64;
};

// One request at a time, incrementally. parse() is given every unconsumed byte of the connection,
// starting at the request's first byte, each time more have arrived; the bytes may have moved in
// memory between calls (nothing points into them across calls) and work done by earlier calls is
// not repeated. After `complete`, the request is data[0, consumed()); reset() before the next one.
class RequestParser {
 public:
  using Limits = RequestLimits;
  enum class State {
    need_head,  // the header block is not complete yet
    need_body,  // the head is valid; wanted() bytes in all are needed
    complete,   // request() is valid
    error,      // error_status()/error_message(): answer it and close the connection
  };

  explicit RequestParser(Limits limits) : limits_(limits) {}

  State parse(std::string_view data);
  void reset();

  State state() const { return state_; }
  // complete: views into the data given to the last parse(), valid while those bytes are.
  const Request& request() const { return req_; }
  size_t consumed() const { return head_len_ + content_length_; }
  // need_body / complete: head + body length.
  size_t wanted() const { return head_len_ + content_length_; }
  // need_body: the client waits for "100 Continue" before it sends the body.
  bool expect_continue() const { return expect_continue_; }
  int error_status() const { return error_status_; }
  std::string_view error_message() const { return error_message_; }

 private:
  struct Span {  // a slice of the request, as offsets: the bytes may move between parse() calls
    uint32_t off = 0, len = 0;
  };
  State fail(int status, std::string_view message);
  State parse_head(std::string_view head);
  std::string_view view(std::string_view data, Span s) const { return data.substr(s.off, s.len); }
  void materialize(std::string_view data);

  Limits limits_;
  State state_ = State::need_head;
  HeadScan scan_;
  size_t head_len_ = 0, content_length_ = 0;
  bool expect_continue_ = false, keep_alive_ = true, http10_ = false;
  int error_status_ = 0;
  std::string_view error_message_;
  Span method_, target_;
  std::vector<std::pair<Span, Span>> field_spans_;
  std::vector<HeaderField> fields_;
  Request req_;
};

struct ResponseLimits {
  size_t max_header = 64 * 1024;  // status line + header fields; also all trailers together
  size_t max_line = 1024;         // a chunk-size line or a trailer line
  size_t max_body = 1 << 20;      // a longer body is an error, whatever frames it
};

// Incremental response parser; bodies are copied once, into `body`. Framing is strict: one
// Content-Length or Transfer-Encoding: chunked (never both), CRLF line endings, header fields as
// in requests. Anything else is an error: the connection can no longer be trusted.
struct ResponseParser {
  using Limits = ResponseLimits;
  enum class Phase { headers, length_body, chunk_size, chunk_data, chunk_crlf, trailers, close_body, done, error };

  explicit ResponseParser(Limits limits = {}) : limits(limits) {}

  Limits limits;
  Phase phase = Phase::headers;
  int status = 0;
  bool keep_alive = true;
  size_t remaining = 0;
  std::string body;
  HeadScan scan;              // of the head being read
  size_t trailer_bytes = 0;

  void reset();
  // Consumes a prefix of [p, p+n); what is left must be fed again with more data appended.
  // head_request: the answer to a HEAD has no body whatever its headers say.
  size_t feed(const char* p, size_t n, bool head_request);
  // The peer closed the connection: true if that completes the answer (a body delimited by close).
  bool finish_at_eof();

 private:
  bool parse_head(std::string_view lines, bool head_request);  // false: malformed
  Phase fail() { return phase = Phase::error; }
};

}  // namespace net
