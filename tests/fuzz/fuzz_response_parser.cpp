// net::ResponseParser on arbitrary bytes, fed as the client feeds it (the unconsumed rest is fed
// again with more appended). Checks, beyond "no crash, no UB": the whole input at once and the
// same bytes in pieces end in the same phase with the same status, body and consumed length
// (after an error, only the error must agree); the body never exceeds the limit; a completed
// Content-Length body has exactly that length.
#include <algorithm>
#include <optional>
#include <string>

#include "net/ascii.h"
#include "net/http_parse.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using net::ResponseParser;
using Phase = ResponseParser::Phase;

constexpr net::ResponseLimits kLimits{.max_header = 1024, .max_line = 64, .max_body = 512};

struct Seen {
  Phase phase;
  int status;
  bool keep_alive;
  std::string body;
  size_t used;
  bool operator==(const Seen&) const = default;
};

Seen feed(std::string_view wire, size_t step, bool head) {
  ResponseParser p(kLimits);
  std::string pending;
  size_t pos = 0, used = 0;
  while (pos < wire.size() && p.phase != Phase::done && p.phase != Phase::error) {
    size_t take = std::min(step, wire.size() - pos);
    pending.append(wire.substr(pos, take));
    pos += take;
    size_t u = p.feed(pending.data(), pending.size(), head);
    FUZZ_CHECK(u <= pending.size());
    used += u;
    pending.erase(0, u);
    FUZZ_CHECK(p.body.size() <= kLimits.max_body);
  }
  return {p.phase, p.status, p.keep_alive, p.body, used};
}

// The Content-Length of the final (non-1xx) head, if that head has one.
std::optional<size_t> final_length(std::string_view wire) {
  std::optional<size_t> len;
  size_t head_end;
  while ((head_end = wire.find("\r\n\r\n")) != std::string_view::npos) {
    std::string_view head = wire.substr(0, head_end + 2);
    bool interim = head.size() > 12 && head[9] == '1';
    len.reset();
    size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
      size_t le = head.find("\r\n", pos);
      std::string_view line = head.substr(pos, le - pos);
      pos = le + 2;
      size_t colon = line.find(':');
      if (colon != std::string_view::npos && net::iequals(line.substr(0, colon), "content-length")) {
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        size_t n = 0;
        for (char c : v) n = n * 10 + static_cast<size_t>(c - '0');
        len = n;
      }
    }
    if (!interim) return len;
    wire.remove_prefix(head_end + 4);
  }
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view wire(reinterpret_cast<const char*>(data), size);
  const uint64_t h = fuzz::hash(wire);
  const bool head = (h & 7) == 0;  // sometimes the answer to a HEAD
  Seen whole = feed(wire, wire.size() + 1, head);
  const size_t step = size <= 300 ? 1 : 2 + (h >> 8) % 61;
  Seen pieces = feed(wire, step, head);
  if (whole.phase == Phase::error) FUZZ_CHECK(pieces.phase == Phase::error);  // where it stopped may differ
  else FUZZ_CHECK(pieces == whole);
  if (whole.phase == Phase::done) {
    FUZZ_CHECK(whole.status >= 200 || whole.status == 101);
    FUZZ_CHECK(whole.used <= size);
    if (!head && whole.status != 204 && whole.status != 304 && whole.status != 101)
      if (auto len = final_length(wire)) FUZZ_CHECK(whole.body.size() == *len);
    if (head) FUZZ_CHECK(whole.body.empty());
  }
  return 0;
}
