#include "engine/log.h"

#include <fmt/format.h>

#include <cstdio>

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

void log_event(std::string_view level, std::string_view msg, std::string_view detail) {
  std::string line = fmt::format(R"({{"level":"{}","msg":"{}")", level, json_escape(msg));
  if (!detail.empty()) line += fmt::format(R"(,"detail":"{}")", json_escape(detail.substr(0, 500)));
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace engine
