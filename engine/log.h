// Structured logs: one JSON object per line on stderr. Used for state changes and errors only,
// never per request (the hot path stays quiet).
#pragma once
#include <string>
#include <string_view>

namespace engine {

// Escapes s for use inside a JSON string.
std::string json_escape(std::string_view s);

// {"level":level,"msg":msg[,"detail":detail]}
void log_event(std::string_view level, std::string_view msg, std::string_view detail = {});

}  // namespace engine
