// net::RequestParser on arbitrary bytes. Beyond "no crash, no UB" it checks:
//  - split invariance: the bytes parsed all at once, and trickled in pieces into a buffer that
//    moves on every call (as a connection's does), give the same requests and the same error;
//  - every request it accepts obeys the framing rules (tokens, field characters, one
//    Content-Length that matches the body, no Transfer-Encoding, Host, limits);
//  - re-serialising an accepted request and parsing that gives the same request back.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "net/ascii.h"
#include "net/http_parse.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/support/parsed_request.h"

namespace {

using net::RequestParser;
using State = RequestParser::State;

// Small limits, so that short inputs reach 413, 431 and the field cap.
constexpr net::RequestLimits kLimits{.max_header = 1024, .max_body = 512, .max_fields = 16};

using Seen = testsupport::ParsedRequest;

std::vector<Seen> parse_whole(std::string_view wire) { return testsupport::parse_all(wire, kLimits); }
std::vector<Seen> parse_trickled(std::string_view wire, size_t step) {
  return testsupport::parse_trickled(wire, step, kLimits);
}

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

void check_accepted(const Seen& s) {
  FUZZ_CHECK(!s.method.empty());
  for (char c : s.method) FUZZ_CHECK(is_tchar(c));
  FUZZ_CHECK(!s.target.empty());
  for (char c : s.target) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
  FUZZ_CHECK(s.fields.size() <= kLimits.max_fields);
  FUZZ_CHECK(s.body.size() <= kLimits.max_body);
  int lengths = 0, hosts = 0;
  for (const auto& [n, v] : s.fields) {
    FUZZ_CHECK(!n.empty());
    for (char c : n) FUZZ_CHECK(is_tchar(c));
    for (char c : v) FUZZ_CHECK(c == '\t' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
    FUZZ_CHECK(v.empty() || (v.front() != ' ' && v.front() != '\t' && v.back() != ' ' && v.back() != '\t'));
    FUZZ_CHECK(!net::iequals(n, "transfer-encoding"));
    if (net::iequals(n, "content-length")) {
      ++lengths;
      FUZZ_CHECK(v == std::to_string(s.body.size()) || (v.size() > 1 && v.front() == '0'));  // leading zeros
    }
    if (net::iequals(n, "host")) ++hosts;
    if (net::iequals(n, "expect")) FUZZ_CHECK(net::iequals(v, "100-continue"));
  }
  FUZZ_CHECK(lengths <= 1);
  FUZZ_CHECK(lengths == 1 || s.body.empty());
  FUZZ_CHECK(hosts <= 1);
  FUZZ_CHECK(hosts == 1 || s.http10);
}

// The shortest form (no whitespace around values): never longer than what was parsed, so the
// header limit cannot refuse it.
std::string serialise(const Seen& s) {
  std::string w = s.method + " " + s.target + (s.http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  for (const auto& [n, v] : s.fields) w += n + ":" + v + "\r\n";
  return w + "\r\n" + s.body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view wire(reinterpret_cast<const char*>(data), size);
  auto whole = parse_whole(wire);
  for (const auto& s : whole) {
    if (s.state == State::error)
      FUZZ_CHECK(s.error == 400 || s.error == 411 || s.error == 413 || s.error == 417 || s.error == 431);
    if (s.state != State::complete) continue;
    FUZZ_CHECK(s.consumed > 0 && s.consumed <= wire.size());
    check_accepted(s);
    auto again = parse_whole(serialise(s));
    FUZZ_CHECK(!again.empty());
    Seen back = again.front();
    back.consumed = s.consumed;  // whitespace around values is not kept, so lengths may differ
    FUZZ_CHECK(back == s);
  }
  // Byte-at-a-time is quadratic: only for short inputs; a step from the input's hash otherwise.
  const uint64_t h = fuzz::hash(wire);
  const size_t step = size <= 300 ? 1 : 2 + h % 61;
  FUZZ_CHECK(parse_trickled(wire, step) == whole);
  return 0;
}
