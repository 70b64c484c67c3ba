#include "queue/pg_array.h"

namespace pgq {

void pg_array_append(std::string& out, std::string_view e) {
  out.push_back('"');
  for (char c : e) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

template <class Seq>
static std::string encode(const Seq& items) {
  std::string out;
  size_t total = 2;
  for (const auto& s : items) total += s.size() + 3;
  out.reserve(total);
  out.push_back('{');
  bool first = true;
  for (const auto& s : items) {
    if (!first) out.push_back(',');
    first = false;
    pg_array_append(out, s);
  }
  out.push_back('}');
  return out;
}

std::string pg_array(const std::vector<std::string>& items) { return encode(items); }
std::string pg_array(const std::vector<std::string_view>& items) { return encode(items); }

std::string pg_array(const std::vector<int64_t>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out.push_back(',');
    out += std::to_string(items[i]);
  }
  out.push_back('}');
  return out;
}

}  // namespace pgq
