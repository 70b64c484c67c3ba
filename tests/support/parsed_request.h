// What net::RequestParser produced, as owned strings: comparable across runs over different
// buffers. Shared by the parser's tests and its fuzzer, which both parse the same bytes whole and
// trickled in pieces and compare.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_parse.h"

namespace testsupport {

struct ParsedRequest {
  net::RequestParser::State state = net::RequestParser::State::need_head;
  int error = 0;
  std::string method, target, path, query, body;
  std::vector<std::pair<std::string, std::string>> fields;
  bool keep_alive = false, http10 = false, expect_continue = false;
  size_t consumed = 0;
  bool operator==(const ParsedRequest&) const = default;
  // "name=value;" each, in order: short to compare in a test.
  std::string headers() const {
    std::string out;
    for (const auto& [n, v] : fields) out += n + "=" + v + ";";
    return out;
  }
};

inline ParsedRequest snapshot(const net::RequestParser& p) {
  using State = net::RequestParser::State;
  ParsedRequest r;
  r.state = p.state();
  r.expect_continue = p.expect_continue();
  if (p.state() == State::error) r.error = p.error_status();
  if (p.state() != State::complete) return r;
  const auto& q = p.request();
  r.method = q.method;
  r.target = q.target;
  r.path = q.path;
  r.query = q.query;
  r.body = q.body;
  for (const auto& [n, v] : q.headers) r.fields.emplace_back(n, v);
  r.keep_alive = q.keep_alive;
  r.http10 = q.http10;
  r.consumed = p.consumed();
  return r;
}

// All requests in `wire`, parsed from one buffer holding everything.
inline std::vector<ParsedRequest> parse_all(std::string_view wire, net::RequestLimits limits = {}) {
  using State = net::RequestParser::State;
  net::RequestParser p(limits);
  std::vector<ParsedRequest> out;
  while (!wire.empty()) {
    p.parse(wire);
    out.push_back(snapshot(p));
    if (p.state() != State::complete || p.consumed() == 0 || p.consumed() > wire.size()) break;
    wire.remove_prefix(p.consumed());
    p.reset();
  }
  return out;
}

// The same, but the bytes arrive `step` at a time and every call sees a fresh heap copy (the
// buffer moved): a parser keeping a pointer into an old buffer reads freed memory under ASan.
inline std::vector<ParsedRequest> parse_trickled(std::string_view wire, size_t step, net::RequestLimits limits = {}) {
  using State = net::RequestParser::State;
  net::RequestParser p(limits);
  std::vector<ParsedRequest> out;
  size_t start = 0, have = 0;
  while (start < wire.size()) {
    have = std::min(wire.size(), have + step);
    auto copy = std::make_unique<std::string>(wire.substr(start, have - start));
    p.parse(*copy);
    if (p.state() == State::complete) {
      out.push_back(snapshot(p));
      start += p.consumed();
      have = start;  // re-deliver what follows, as a connection does after consuming
      p.reset();
      continue;
    }
    if (p.state() == State::error || have == wire.size()) {
      out.push_back(snapshot(p));
      break;
    }
  }
  return out;
}

}  // namespace testsupport
