// Structured logs: one JSON object per line on stderr, {"ts","level","instance","event"[,"detail"]}.
// Used for state changes and errors only, never per request (the hot path stays quiet).
#pragma once
#include <string>
#include <string_view>

namespace engine {

// Escapes s for use inside a JSON string.
std::string json_escape(std::string_view s);

// Names this process in every line (INSTANCE_ID); 0 until set.
void set_log_instance(int id);

void log_event(std::string_view level, std::string_view event, std::string_view detail = {});

}  // namespace engine
