// The HTTP/1.1 request and response parsers on plain buffers, no sockets: every framing rule,
// and the incremental contract (any split of the bytes, the buffer moving between calls).
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "net/http_parse.h"
#include "tests/support/parsed_request.h"

using net::RequestParser;
using net::ResponseParser;
using State = RequestParser::State;

namespace {

using Parsed = testsupport::ParsedRequest;
using testsupport::parse_all;
using testsupport::parse_trickled;

net::RequestLimits small_limits() { return {.max_header = 512, .max_body = 100, .max_fields = 8}; }

Parsed one(std::string_view wire, net::RequestLimits limits = {}) {
  auto all = parse_all(wire, limits);
  REQUIRE(!all.empty());
  return all.front();
}

int status_of(std::string_view wire, net::RequestLimits limits = small_limits()) {
  auto p = one(wire, limits);
  return p.state == State::error ? p.error : p.state == State::complete ? 200 : 0;
}

}  // namespace

TEST_CASE("a request parses into its parts") {
  const std::string wire = "POST /payments?x=1&y=2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Pad:  v v \t\r\n\r\nhello";
  auto p = one(wire + "GET /next");
  CHECK(p.state == State::complete);
  CHECK(p.method == "POST");
  CHECK(p.target == "/payments?x=1&y=2");
  CHECK(p.path == "/payments");
  CHECK(p.query == "x=1&y=2");
  CHECK(p.body == "hello");
  CHECK(p.headers() == "Host=a;Content-Length=5;X-Pad=v v;");
  CHECK(p.keep_alive);
  CHECK_FALSE(p.http10);
  CHECK(p.consumed == wire.size());
}

TEST_CASE("keep-alive follows the version and the Connection header") {
  CHECK_FALSE(one("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
  CHECK_FALSE(one("GET / HTTP/1.0\r\n\r\n").keep_alive);
  CHECK(one("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
  CHECK(one("GET / HTTP/1.0\r\n\r\n").http10);
  CHECK(one("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, keep-alive\r\n\r\n").keep_alive);
}

TEST_CASE("pipelined requests parse one after another and any split gives the same result") {
  std::string wire;
  for (int i = 0; i < 20; ++i) {
    std::string body(static_cast<size_t>(i * 3), static_cast<char>('a' + i));
    wire += "POST /p" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body;
  }
  auto whole = parse_all(wire);
  REQUIRE(whole.size() == 20);
  for (int i = 0; i < 20; ++i) {
    CHECK(whole[static_cast<size_t>(i)].path == "/p" + std::to_string(i));
    CHECK(whole[static_cast<size_t>(i)].body.size() == static_cast<size_t>(i * 3));
  }
  for (size_t step : {1, 2, 3, 7, 64, 1000}) {
    CAPTURE(step);
    CHECK(parse_trickled(wire, step) == whole);
  }
}

TEST_CASE("need_head then need_body then complete") {
  RequestParser p({});
  std::string wire = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc";
  CHECK(p.parse(std::string_view(wire).substr(0, 20)) == State::need_head);
  CHECK(p.parse(std::string_view(wire).substr(0, wire.size() - 3)) == State::need_body);
  CHECK(p.expect_continue());
  CHECK(p.wanted() == wire.size());
  CHECK(p.parse(std::string_view(wire).substr(0, wire.size() - 1)) == State::need_body);
  CHECK(p.parse(wire) == State::complete);
  CHECK(p.request().body == "abc");
}

TEST_CASE("framing errors: 400 411 413 431") {
  CHECK(status_of("GARBAGE\r\n\r\n") == 400);
  CHECK(status_of("GET /x HTTP/2.0\r\n\r\n") == 400);
  CHECK(status_of("GET  HTTP/1.1\r\n\r\n") == 400);
  CHECK(status_of("GET /x HTTP/1.1\r\nNo colon here\r\n\r\n") == 400);
  CHECK(status_of("GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n") == 400);
  CHECK(status_of("GET /x HTTP/1.1\r\nName : v\r\n\r\n") == 400);
  CHECK(status_of("GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n") == 400);  // obs-fold
  CHECK(status_of("POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n") == 400);
  CHECK(status_of("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == 400);
  CHECK(status_of("POST /x HTTP/1.1\r\nContent-Length: +1\r\n\r\n") == 400);
  CHECK(status_of("POST /x HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n") == 400);
  CHECK(status_of("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n") == 400);
  CHECK(status_of("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab") == 400);
  // Even an identical repetition: a proxy in front may have dropped or kept either field.
  CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na") == 400);
  CHECK(status_of("POST /x HTTP/1.1\r\nContent-Length: 101\r\n\r\n") == 413);
  CHECK(status_of("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 411);
  CHECK(status_of("POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") == 411);
  CHECK(status_of("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n") == 411);
  CHECK(status_of("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n") == 411);
  CHECK(status_of("GET /x HTTP/1.1\r\nX-Big: " + std::string(600, 'a') + "\r\n\r\n") == 431);
  CHECK(status_of("GET /x HTTP/1.1\r\nX-Big: " + std::string(600, 'a')) == 431);  // no end in sight
  std::string many = "GET /x HTTP/1.1\r\n";
  for (int i = 0; i < 9; ++i) many += "X" + std::to_string(i) + ": v\r\n";
  CHECK(status_of(many + "\r\n") == 431);
  // The limits are inclusive.
  CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b')) == 200);
}

TEST_CASE("NUL is not a token character and header values refuse control characters") {
  using namespace std::string_literals;
  CHECK(status_of("GET /x HTTP/1.1\r\nHost: a\r\nX\0A: b\r\n\r\n"s) == 400);
  CHECK(status_of("G\0T /x HTTP/1.1\r\nHost: a\r\n\r\n"s) == 400);
  CHECK(status_of("GET /x HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"s) == 400);
  CHECK(status_of("GET /x HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n") == 400);      // bare CR
  CHECK(status_of("GET /x HTTP/1.1\r\nHost: a\r\nX: a\x1b[2Jb\r\n\r\n") == 400);  // ESC
  CHECK(status_of("GET /x HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n") == 400);      // DEL
  CHECK(status_of("GET /x HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n") == 400);
  CHECK(status_of("GET /x\r HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  CHECK(status_of("GET /x HTTP/1.1\r\r\nHost: a\r\n\r\n") == 400);
  // HTAB, SP inside and obs-text (bytes >= 0x80) are field content.
  auto p = one("GET /x HTTP/1.1\r\nHost: a\r\nX: a\tb c\xc3\xa9\r\n\r\n");
  CHECK(p.state == State::complete);
  CHECK(p.headers() == "Host=a;X=a\tb c\xc3\xa9;");
}

TEST_CASE("a bare LF is refused at once wherever it is") {
  // Kept in the value, "X: a\nTransfer-Encoding: chunked" would be one header here and two for a
  // proxy that splits on LF. And a request using only LF used to wait for the idle timeout.
  CHECK(status_of("GET /x HTTP/1.1\r\nHost: a\r\nX: a\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  CHECK(status_of("GET /x HTTP/1.1\nHost: a\n\n") == 400);
  CHECK(status_of("GET /x HTTP/1.1\n") == 400);  // no need to wait for the rest
  CHECK(status_of("GET /x HTTP/1.1\r\nHost: a\r\n\n") == 400);
  CHECK(status_of("\n") == 400);
  CHECK(status_of("\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  // Any split finds the same error.
  for (size_t step : {1, 2, 5})
    CHECK(parse_trickled("GET /x HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", step, small_limits()).back().error == 400);
}

TEST_CASE("HTTP 1.1 needs exactly one Host and only 100-continue may be expected") {
  CHECK(status_of("GET /x HTTP/1.1\r\n\r\n") == 400);
  CHECK(status_of("GET /x HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n") == 400);
  CHECK(status_of("GET /x HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n") == 400);
  CHECK(status_of("GET /x HTTP/1.0\r\n\r\n") == 200);
  CHECK(status_of("GET /x HTTP/1.1\r\nHost:\r\n\r\n") == 200);  // empty is allowed (no authority)
  CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nExpect: something\r\nContent-Length: 1\r\n\r\n") == 417);
  CHECK(status_of("GET /x HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n") == 417);
  CHECK(status_of("GET /x HTTP/1.0\r\nExpect: 100-continue, x\r\n\r\n") == 417);
  CHECK(one("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expect_continue);
  CHECK_FALSE(one("POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").expect_continue);
}

// ---------------------------------------------------------------------------------------------

namespace {

struct Answer {
  ResponseParser::Phase phase;
  int status = 0;
  bool keep_alive = false;
  std::string body;
  size_t used = 0;
};

// Feeds `wire` `step` bytes at a time, re-feeding the unconsumed rest as the client does.
Answer feed(std::string_view wire, size_t step, bool head = false, net::ResponseLimits limits = {}) {
  ResponseParser p(limits);
  std::string pending;
  size_t pos = 0, used_total = 0;
  while (pos < wire.size() && p.phase != ResponseParser::Phase::done && p.phase != ResponseParser::Phase::error) {
    size_t take = std::min(step, wire.size() - pos);
    pending.append(wire.substr(pos, take));
    pos += take;
    size_t used = p.feed(pending.data(), pending.size(), head);
    used_total += used;
    pending.erase(0, used);
  }
  return {p.phase, p.status, p.keep_alive, p.body, used_total};
}

}  // namespace

TEST_CASE("responses: Content-Length chunked close-delimited HEAD and interim answers") {
  using Phase = ResponseParser::Phase;
  for (size_t step : {1, 3, 1000}) {
    CAPTURE(step);
    auto a = feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", step);
    CHECK(a.phase == Phase::done);
    CHECK(a.status == 200);
    CHECK(a.body == "hello");
    CHECK(a.keep_alive);
    auto c = feed("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\n",
                  step);
    CHECK(c.phase == Phase::done);
    CHECK(c.body == "hello0123456789");
    auto i = feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", step);
    CHECK(i.phase == Phase::done);
    CHECK(i.status == 204);
    auto h = feed("HTTP/1.1 200 OK\r\nContent-Length: 21\r\n\r\n", step, /*head=*/true);
    CHECK(h.phase == Phase::done);
    CHECK(h.body.empty());
    auto z = feed("HTTP/1.0 200 OK\r\n\r\nuntil close", step);
    CHECK(z.phase == Phase::close_body);
    CHECK_FALSE(z.keep_alive);
  }
  ResponseParser p;
  std::string wire = "HTTP/1.1 200 OK\r\n\r\nabc";
  p.feed(wire.data(), wire.size(), false);
  CHECK(p.finish_at_eof());
  CHECK(p.body == "abc");
  CHECK(feed("SMTP ready\r\n\r\n", 100).phase == Phase::error);
  CHECK(feed("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 100).phase == Phase::error);
  CHECK(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100).phase == Phase::error);
}

TEST_CASE("responses: framing is strict and the body is bounded") {
  using Phase = ResponseParser::Phase;
  auto phase = [](std::string_view wire, size_t max_body = 1000) {
    return feed(wire, 1000, false, {.max_body = max_body}).phase;
  };
  // Repeated or conflicting Content-Length, CL with TE, codings we cannot decode: errors.
  CHECK(phase("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunkedx\r\n\r\n0\r\n\r\n") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") == Phase::error);
  // Line endings and field syntax as in requests.
  CHECK(phase("HTTP/1.1 200 OK\nContent-Length: 0\n\n") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nNo colon\r\nContent-Length: 0\r\n\r\n") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nContent-Length: 0\r\r\n\r\n") == Phase::error);
  CHECK(phase("HTTP/1.7 200 OK\r\nContent-Length: 0\r\n\r\n") == Phase::error);
  // The body limit holds for every framing, the announced length included (no waiting for it).
  CHECK(phase("HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n") == Phase::error);
  CHECK(phase("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'x')) == Phase::done);
  std::string chunks = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 11; ++i) chunks += "64\r\n" + std::string(100, 'c') + "\r\n";
  CHECK(phase(chunks + "0\r\n\r\n") == Phase::error);
  CHECK(phase(chunks + "0\r\n\r\n", 1100) == Phase::done);
  CHECK(phase("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n") == Phase::error);
  CHECK(phase("HTTP/1.0 200 OK\r\n\r\n" + std::string(1001, 'z')) == Phase::error);
  CHECK(phase("HTTP/1.0 200 OK\r\n\r\n" + std::string(1000, 'z')) == Phase::close_body);
  std::string trailers = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  for (int i = 0; i < 10000; ++i) trailers += "T: 0123456789\r\n";
  CHECK(phase(trailers + "\r\n") == Phase::error);
}

// Found by the fuzzers (tests/fuzz/corpus/*/regress_*): outcomes that depended on how the bytes
// were split into reads.
TEST_CASE("limits decide the same way however the bytes are split") {
  // A bare LF past the header limit: 431 whether or not it was in the first read.
  std::string wire = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(600, 'a') + "\n";
  CHECK(one(wire, small_limits()).error == 431);
  for (size_t step : {1, 100, 512})
    CHECK(parse_trickled(wire, step, small_limits()).back().error == 431);
  // A chunk-size line exactly at the limit whose LF comes in the next read.
  using Phase = ResponseParser::Phase;
  const net::ResponseLimits lim{.max_line = 64};
  std::string line = "8;" + std::string(62, 'e');  // 64 bytes
  std::string ok = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + line + "\r\n01234567\r\n0\r\n\r\n";
  for (size_t step : {1, 7, 1000}) CHECK(feed(ok, step, false, lim).phase == Phase::done);
  std::string too_long = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + line + "e\r\n01234567\r\n0\r\n\r\n";
  for (size_t step : {1, 7, 1000}) CHECK(feed(too_long, step, false, lim).phase == Phase::error);
  // A CR inside the status line is not a line break.
  CHECK(feed("HTTP/1.1 200 OK\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1000).phase == Phase::error);
}
