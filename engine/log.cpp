#include "engine/log.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>

#include "engine/timefmt.h"

namespace engine {

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += c;
    }
  }
  return out;
}

namespace {
std::atomic<int> instance{0};
}  // namespace

void set_log_instance(int id) { instance = id; }

void log_event(std::string_view level, std::string_view event, std::string_view detail) {
  char ts[25];
  auto now = std::chrono::system_clock::now();
  format_iso8601_ms(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count(), ts);
  std::string line = fmt::format(R"({{"ts":"{}","level":"{}","instance":{},"event":"{}")", std::string_view(ts, 24),
                                 level, instance.load(), json_escape(event));
  if (!detail.empty()) line += fmt::format(R"(,"detail":"{}")", json_escape(detail.substr(0, 500)));
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace engine
