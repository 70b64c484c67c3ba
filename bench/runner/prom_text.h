// Reads single values out of a Prometheus text exposition (GET /metrics) without a client
// library: the runner only samples a gauge and a few counters once a second.
#pragma once
#include <optional>
#include <string_view>

namespace scenario {

// Sum of every sample of metric `name` whose label set contains `label` (e.g.
// processor="default"; empty = any labels). nullopt when no such sample exists.
std::optional<double> prom_value(std::string_view text, std::string_view name, std::string_view label = {});

}  // namespace scenario
