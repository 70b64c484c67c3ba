#include "net/http_parse.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "net/ascii.h"

namespace net {

namespace {

// Character classes of RFC 9110, one table lookup per byte. NUL is in neither class (a strchr
// over the tchar list used to match it, as the terminator).
constexpr uint8_t kTokenChar = 1;  // tchar
constexpr uint8_t kFieldChar = 2;  // field-vchar, SP or HTAB: no other control character, no DEL
constexpr auto kCharClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    bool tchar = alnum || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    bool field = c == '\t' || (c >= 0x20 && c != 0x7f);
    t[static_cast<size_t>(c)] = static_cast<uint8_t>((tchar ? kTokenChar : 0) | (field ? kFieldChar : 0));
  }
  return t;
}();

bool is_token_char(char c) { return kCharClass[static_cast<unsigned char>(c)] & kTokenChar; }
bool is_field_char(char c) { return kCharClass[static_cast<unsigned char>(c)] & kFieldChar; }

bool all_field_chars(std::string_view s) {
  for (char c : s)
    if (!is_field_char(c)) return false;
  return true;
}

// Digits only: no sign, no list ("5, 5"), no spaces inside; false on overflow.
bool parse_content_length(std::string_view value, size_t& out) {
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  return !value.empty() && ec == std::errc{} && p == value.data() + value.size();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

HeadScan::Result HeadScan::scan(std::string_view data) {
  while (scanned < data.size()) {
    const void* lf = std::memchr(data.data() + scanned, '\n', data.size() - scanned);
    if (lf == nullptr) {
      scanned = data.size();
      return Result::need_more;
    }
    size_t i = static_cast<size_t>(static_cast<const char*>(lf) - data.data());
    // Only CRLF ends a line. Some parsers also split on a bare LF, some do not: a message whose
    // meaning depends on that choice is how requests get smuggled past a proxy, so refuse it.
    if (i == 0 || data[i - 1] != '\r') return Result::bare_lf;
    bool empty_line = i - 1 == line_start;
    scanned = line_start = i + 1;
    if (empty_line) return line_start == 2 ? Result::empty_first_line : Result::complete;
  }
  return Result::need_more;
}

bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view part = value.substr(0, comma);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (iequals(part, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Request

std::string_view Request::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.first, name)) return h.second;
  return {};
}

std::string_view Request::query_param(std::string_view key) const {
  std::string_view q = query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    size_t eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    if (k == key) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return {};
}

std::string url_decode(std::string_view raw) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%' && i + 2 < raw.size() && hex(raw[i + 1]) >= 0 && hex(raw[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(raw[i + 1]) * 16 + hex(raw[i + 2])));
      i += 2;
    } else if (c == '+') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// RequestParser

void RequestParser::reset() {
  state_ = State::need_head;
  scan_ = {};
  head_len_ = content_length_ = 0;
  expect_continue_ = false;
  keep_alive_ = true;
  http10_ = false;
  error_status_ = 0;
  error_message_ = {};
  field_spans_.clear();
  req_ = Request{};
}

RequestParser::State RequestParser::fail(int status, std::string_view message) {
  error_status_ = status;
  error_message_ = message;
  return state_ = State::error;
}

RequestParser::State RequestParser::parse(std::string_view data) {
  if (state_ == State::need_head) {
    // Nothing past the limit is looked at: whether an error lies beyond it must not decide the
    // answer, which would then depend on how the bytes happened to be split into reads.
    switch (scan_.scan(data.substr(0, limits_.max_header))) {
      case HeadScan::Result::need_more:
        if (data.size() > limits_.max_header) return fail(431, "request header too large");
        return state_;
      case HeadScan::Result::bare_lf:
        return fail(400, "line ending without CR");
      case HeadScan::Result::empty_first_line:
        return fail(400, "malformed request line");
      case HeadScan::Result::complete:
        break;
    }
    head_len_ = scan_.scanned;
    if (parse_head(data.substr(0, head_len_ - 2)) == State::error) return state_;
    state_ = State::need_body;
  }
  if (state_ == State::need_body) {
    if (data.size() < head_len_ + content_length_) return state_;
    materialize(data);
    state_ = State::complete;
  }
  return state_;
}

// lines: the request line and the header fields, each ending in CRLF; no LF elsewhere (HeadScan).
RequestParser::State RequestParser::parse_head(std::string_view lines) {
  // Request line: METHOD SP target SP HTTP/1.x
  size_t eol = lines.find("\r\n");
  std::string_view rl = lines.substr(0, eol);
  size_t sp1 = rl.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1) return fail(400, "malformed request line");
  method_ = {0, static_cast<uint32_t>(sp1)};
  target_ = {static_cast<uint32_t>(sp1 + 1), static_cast<uint32_t>(sp2 - sp1 - 1)};
  std::string_view version = rl.substr(sp2 + 1);
  if (version == "HTTP/1.1") http10_ = false;
  else if (version == "HTTP/1.0") http10_ = true;
  else return fail(400, "unsupported HTTP version");
  bool bad = false;
  for (char c : rl.substr(0, sp1)) bad |= !is_token_char(c);
  for (char c : rl.substr(sp1 + 1, sp2 - sp1 - 1)) bad |= (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f);
  if (bad) return fail(400, "malformed request line");

  // Header fields: token ":" OWS value OWS, the value free of control characters but HTAB (a
  // bare CR or a NUL would be cut or kept differently by whoever reads it next).
  field_spans_.clear();
  size_t pos = eol + 2;
  while (pos < lines.size()) {
    size_t le = lines.find("\r\n", pos);
    std::string_view line = lines.substr(pos, le - pos);
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return fail(400, "malformed header field");
    for (char c : line.substr(0, colon))
      if (!is_token_char(c)) return fail(400, "malformed header field");  // also obs-fold and "name :"
    size_t vb = colon + 1, ve = line.size();
    while (vb < ve && (line[vb] == ' ' || line[vb] == '\t')) ++vb;
    while (ve > vb && (line[ve - 1] == ' ' || line[ve - 1] == '\t')) --ve;
    if (!all_field_chars(line.substr(vb, ve - vb))) return fail(400, "control character in a header field");
    if (field_spans_.size() == limits_.max_fields) return fail(431, "too many header fields");
    field_spans_.push_back({{static_cast<uint32_t>(pos), static_cast<uint32_t>(colon)},
                            {static_cast<uint32_t>(pos + vb), static_cast<uint32_t>(ve - vb)}});
    pos = le + 2;
  }

  bool have_length = false, unknown_expectation = false;
  int hosts = 0;
  keep_alive_ = !http10_;
  for (const auto& [ns, vs] : field_spans_) {
    std::string_view name = view(lines, ns), value = view(lines, vs);
    if (iequals(name, "content-length")) {
      // One Content-Length field, digits only: any repetition, even of the same value, is
      // refused, as the client refuses it in answers (a proxy may have kept the other one).
      if (have_length || !parse_content_length(value, content_length_)) return fail(400, "invalid Content-Length");
      have_length = true;
    } else if (iequals(name, "transfer-encoding")) {
      return fail(411, "chunked request bodies are not supported; send Content-Length");
    } else if (iequals(name, "connection")) {
      if (has_token(value, "close")) keep_alive_ = false;
      else if (http10_ && has_token(value, "keep-alive")) keep_alive_ = true;
    } else if (iequals(name, "host")) {
      ++hosts;
    } else if (iequals(name, "expect")) {
      if (iequals(value, "100-continue")) expect_continue_ = !http10_;  // 1.0 clients cannot expect it
      else unknown_expectation = true;
    }
  }
  if (content_length_ > limits_.max_body) return fail(413, "request body too large");
  // RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
  if (hosts > 1 || (hosts == 0 && !http10_)) return fail(400, "exactly one Host header is required");
  if (unknown_expectation) return fail(417, "the only expectation supported is 100-continue");
  return state_;
}

void RequestParser::materialize(std::string_view data) {
  fields_.clear();
  for (const auto& [ns, vs] : field_spans_) fields_.emplace_back(view(data, ns), view(data, vs));
  req_.method = view(data, method_);
  req_.target = view(data, target_);
  size_t qm = req_.target.find('?');
  req_.path = req_.target.substr(0, qm);
  req_.query = qm == std::string_view::npos ? std::string_view{} : req_.target.substr(qm + 1);
  req_.body = data.substr(head_len_, content_length_);
  req_.headers = fields_;
  req_.keep_alive = keep_alive_;
  req_.http10 = http10_;
}

// ---------------------------------------------------------------------------------------------
// ResponseParser

void ResponseParser::reset() {
  phase = Phase::headers;
  status = 0;
  keep_alive = true;
  remaining = 0;
  body.clear();
  scan = {};
  trailer_bytes = 0;
}

bool ResponseParser::finish_at_eof() {
  if (phase != Phase::close_body) return false;
  phase = Phase::done;
  return true;
}

size_t ResponseParser::feed(const char* p, size_t n, bool head_request) {
  size_t off = 0;
  while (off < n && phase != Phase::done && phase != Phase::error) {
    std::string_view avail(p + off, n - off);
    switch (phase) {
      case Phase::headers: {
        // Nothing is consumed until the head is complete: avail starts at the head every time.
        // Nothing past the limit is looked at, so the outcome does not depend on the split.
        HeadScan::Result r = scan.scan(avail.substr(0, limits.max_header));
        if (r == HeadScan::Result::need_more) {
          if (avail.size() > limits.max_header) fail();
          return off;
        }
        if (r != HeadScan::Result::complete) {
          fail();
          return off;
        }
        size_t head_len = scan.scanned;
        scan = {};
        off += head_len;
        if (!parse_head(avail.substr(0, head_len - 2), head_request)) {
          fail();
          return off;
        }
        break;
      }
      case Phase::length_body:
      case Phase::chunk_data: {
        size_t take = std::min(remaining, avail.size());
        body.append(avail.data(), take);
        off += take;
        remaining -= take;
        if (remaining == 0) phase = phase == Phase::length_body ? Phase::done : Phase::chunk_crlf;
        break;
      }
      case Phase::chunk_crlf:
        if (avail.size() < 2) return off;
        if (avail[0] != '\r' || avail[1] != '\n') {
          fail();
          return off;
        }
        off += 2;
        phase = Phase::chunk_size;
        break;
      case Phase::chunk_size: {
        size_t eol = avail.find("\r\n");
        if (eol == std::string_view::npos) {
          if (avail.size() > limits.max_line + 1) fail();  // + 1: its CR may be here already
          return off;
        }
        // The same limit whether the CRLF came in this read or a later one; and no CR, LF or
        // other control character inside (extensions are skipped, not trusted).
        if (eol > limits.max_line || !all_field_chars(avail.substr(0, eol))) {
          fail();
          return off;
        }
        std::string_view line = trim(avail.substr(0, eol));
        line = trim(line.substr(0, line.find(';')));  // chunk extensions are ignored
        size_t size = 0;
        auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
        if (line.empty() || ec != std::errc{} || ptr != line.data() + line.size() ||
            size > limits.max_body - body.size()) {
          fail();
          return off;
        }
        off += eol + 2;
        remaining = size;
        phase = size == 0 ? Phase::trailers : Phase::chunk_data;
        break;
      }
      case Phase::trailers: {
        size_t eol = avail.find("\r\n");
        if (eol == std::string_view::npos) {
          if (avail.size() > limits.max_line + 1) fail();
          return off;
        }
        trailer_bytes += eol + 2;
        if (eol > limits.max_line || trailer_bytes > limits.max_header || !all_field_chars(avail.substr(0, eol))) {
          fail();
          return off;
        }
        off += eol + 2;
        if (eol == 0) phase = Phase::done;
        break;
      }
      case Phase::close_body:
        if (avail.size() > limits.max_body - body.size()) {
          fail();
          return off;
        }
        body.append(avail.data(), avail.size());
        off = n;
        break;
      case Phase::done:
      case Phase::error:
        break;
    }
  }
  return off;
}

// lines: the status line and the header fields, each ending in CRLF; no LF elsewhere (HeadScan).
bool ResponseParser::parse_head(std::string_view lines, bool head_request) {
  size_t eol = lines.find("\r\n");
  std::string_view line = lines.substr(0, eol);
  // "HTTP/1.1 200 OK"
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
      (line.size() > 12 && line[12] != ' ') || !all_field_chars(line))
    return false;
  keep_alive = line[7] == '1';  // HTTP/1.0 closes unless it says keep-alive
  auto [ptr, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc{} || ptr != line.data() + 12 || status < 100 || status > 999) return false;
  bool chunked = false, has_length = false;
  size_t length = 0;
  size_t pos = eol + 2;
  while (pos < lines.size()) {
    size_t le = lines.find("\r\n", pos);
    line = lines.substr(pos, le - pos);
    pos = le + 2;
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    for (char c : name)
      if (!is_token_char(c)) return false;
    if (!all_field_chars(value)) return false;
    if (iequals(name, "content-length")) {
      // As in requests: one field, digits only. With two, which one frames the body depends on
      // who reads it, and what follows it on the connection would be misread.
      if (has_length || !parse_content_length(value, length)) return false;
      has_length = true;
    } else if (iequals(name, "transfer-encoding")) {
      // Only plain chunked can be decoded here; a repeat would mean chunked twice.
      if (chunked || !iequals(value, "chunked")) return false;
      chunked = true;
    } else if (iequals(name, "connection")) {
      if (has_token(value, "close")) keep_alive = false;
      else if (has_token(value, "keep-alive")) keep_alive = true;
    }
  }
  if (chunked && has_length) return false;  // RFC 9112 6.3: a sign of smuggling, to be handled as an error
  if (status < 200 && status != 101) {  // interim answer (100 Continue...): the real one follows
    status = 0;
    keep_alive = true;
    phase = Phase::headers;
    return true;
  }
  if (head_request || status == 204 || status == 304 || status == 101) {
    phase = Phase::done;
  } else if (chunked) {
    phase = Phase::chunk_size;
  } else if (has_length) {
    if (length > limits.max_body) return false;
    remaining = length;
    phase = length == 0 ? Phase::done : Phase::length_body;
  } else {
    phase = Phase::close_body;  // the body ends when the server closes
    keep_alive = false;
  }
  return true;
}

}  // namespace net
