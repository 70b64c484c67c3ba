// Requests parsed per second by net::RequestParser and, when built WITH_BEAST, by Boost.Beast 1.81
// on the same bytes: a POST /payments as haproxy forwards it, a GET /payments-summary, and 16 of
// the POSTs pipelined in one buffer. Beast twice: request_parser<string_body> (what a server would
// use: it copies fields and body) and a basic_parser with empty callbacks (parsing alone, like ours).
// One run of a few seconds; the machine is shared, so read the figures as ratios.
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "net/http_parse.h"

#ifdef WITH_BEAST
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
namespace http = boost::beast::http;
#endif

namespace {

const std::string kBody = R"({"correlationId":"4a7901b8-7d26-4d9d-aa19-000000000001","amount":19.90})";
const std::string kPost =
    "POST /payments HTTP/1.1\r\nhost: localhost:9999\r\nuser-agent: k6/0.49.0 (https://k6.io/)\r\n"
    "content-type: application/json\r\ncontent-length: " + std::to_string(kBody.size()) +
    "\r\nx-forwarded-for: 172.18.0.1\r\nconnection: keep-alive\r\n\r\n" + kBody;
const std::string kGet =
    "GET /payments-summary?from=2025-07-10T12:34:56.000Z&to=2025-07-10T12:35:10.000Z HTTP/1.1\r\n"
    "Host: localhost:9999\r\nUser-Agent: k6/0.49.0 (https://k6.io/)\r\nAccept-Encoding: gzip\r\n\r\n";

volatile size_t sink;  // keeps the work observable

template <class F>
void measure(const char* name, const std::string& wire, int requests_per_wire, F&& parse_all) {
  using Clock = std::chrono::steady_clock;
  long iterations = 0;
  auto t0 = Clock::now(), t1 = t0;
  while (t1 - t0 < std::chrono::milliseconds(600)) {
    for (int k = 0; k < 1000; ++k) sink = parse_all(wire);
    iterations += 1000;
    t1 = Clock::now();
  }
  double secs = std::chrono::duration<double>(t1 - t0).count();
  double reqs = static_cast<double>(iterations) * requests_per_wire;
  std::printf("  %-34s %8.0f ns/request %8.2f M requests/s %7.0f MB/s\n", name, secs * 1e9 / reqs, reqs / secs / 1e6,
              static_cast<double>(iterations) * static_cast<double>(wire.size()) / secs / 1e6);
}

size_t ours(const std::string& wire) {
  static net::RequestParser p({});
  std::string_view rest = wire;
  size_t n = 0;
  while (!rest.empty()) {
    if (p.parse(rest) != net::RequestParser::State::complete) std::abort();
    n += p.request().headers.size() + p.request().body.size();
    rest.remove_prefix(p.consumed());
    p.reset();
  }
  return n;
}

#ifdef WITH_BEAST
size_t beast_request_parser(const std::string& wire) {
  std::string_view rest = wire;
  size_t n = 0;
  while (!rest.empty()) {
    http::request_parser<http::string_body> p;  // one per message, as Beast requires
    p.eager(true);
    p.header_limit(8 * 1024);
    p.body_limit(16 * 1024);
    boost::beast::error_code ec;
    size_t used = p.put(boost::asio::const_buffer(rest.data(), rest.size()), ec);
    if (ec || !p.is_done()) std::abort();
    n += p.get().body().size();
    rest.remove_prefix(used);
  }
  return n;
}

// Beast's parser with callbacks that only count: the cost of parsing, nothing stored.
class CountingParser : public http::basic_parser<true> {
 public:
  size_t fields = 0, body = 0;

 private:
  void on_request_impl(http::verb, boost::beast::string_view, boost::beast::string_view, int,
                       boost::beast::error_code&) override {}
  void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code&) override {}
  void on_field_impl(http::field, boost::beast::string_view, boost::beast::string_view,
                     boost::beast::error_code&) override {
    ++fields;
  }
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(boost::optional<std::uint64_t> const&, boost::beast::error_code&) override {}
  std::size_t on_body_impl(boost::beast::string_view s, boost::beast::error_code&) override {
    body += s.size();
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view s, boost::beast::error_code&) override {
    return s.size();
  }
  void on_finish_impl(boost::beast::error_code&) override {}
};

size_t beast_basic_parser(const std::string& wire) {
  std::string_view rest = wire;
  size_t n = 0;
  while (!rest.empty()) {
    CountingParser p;
    p.eager(true);
    boost::beast::error_code ec;
    size_t used = p.put(boost::asio::const_buffer(rest.data(), rest.size()), ec);
    if (ec || !p.is_done()) std::abort();
    n += p.fields + p.body;
    rest.remove_prefix(used);
  }
  return n;
}
#endif

void run(const char* title, const std::string& wire, int requests) {
  std::printf("%s (%zu bytes, %d request%s)\n", title, wire.size(), requests, requests > 1 ? "s" : "");
  measure("net::RequestParser", wire, requests, ours);
#ifdef WITH_BEAST
  measure("beast request_parser<string_body>", wire, requests, beast_request_parser);
  measure("beast basic_parser, empty callbacks", wire, requests, beast_basic_parser);
#endif
}

}  // namespace

int main() {
  std::string pipelined;
  for (int i = 0; i < 16; ++i) pipelined += kPost;
  run("POST /payments", kPost, 1);
  run("GET /payments-summary", kGet, 1);
  run("16 pipelined POST /payments", pipelined, 16);
#ifndef WITH_BEAST
  std::printf("(built without Boost.Beast: configure with -DBEAST_INCLUDE_DIR=<boost include dir> to compare)\n");
#endif
}
