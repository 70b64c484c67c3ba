#include "bench/runner/prom_text.h"

#include <cstdlib>
#include <string>

namespace scenario {

std::optional<double> prom_value(std::string_view text, std::string_view name, std::string_view label) {
  std::optional<double> sum;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty() || line.front() == '#' || line.substr(0, name.size()) != name) continue;
    std::string_view rest = line.substr(name.size());
    std::string_view labels;
    if (!rest.empty() && rest.front() == '{') {
      size_t close = rest.find('}');
      if (close == std::string_view::npos) continue;
      labels = rest.substr(1, close - 1);
      rest.remove_prefix(close + 1);
    } else if (rest.empty() || rest.front() != ' ') {
      continue;  // another metric sharing the prefix (name_bucket...)
    }
    if (!label.empty() && labels.find(label) == std::string_view::npos) continue;
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    std::string num(rest.substr(0, rest.find(' ')));  // a timestamp may follow the value
    char* end = nullptr;
    double v = std::strtod(num.c_str(), &end);
    if (end == num.c_str()) continue;
    sum = sum.value_or(0) + v;
  }
  return sum;
}

}  // namespace scenario
