// processor_sim: the payment-processor simulator as a standalone daemon (see README.md).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "bench/processor/processor_sim.h"
#include "net/stop_signals.h"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: processor_sim [--port N] [--listen host:port|unix:/path] [--fee 0.05] [--token 123]\n"
               "                     [--health-window-ms 5000] [--name default] [--threads 1]\n"
               "                     [--delay MS] [--failure] [--max-in-progress 800] [--max-waiting 500]\n"
               "env: PORT (default 8080) when neither --port nor --listen is given\n");
}

int to_int(const char* flag, const char* v) {
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0' || x < 0 || x > 100'000'000) {
    std::fprintf(stderr, "processor_sim: %s needs a non-negative integer, got '%s'\n", flag, v);
    std::exit(2);
  }
  return static_cast<int>(x);
}

}  // namespace

int main(int argc, char** argv) {
  sim::ProcessorSim::Options o;
  const char* env_port = std::getenv("PORT");
  std::string port = env_port && *env_port ? env_port : "8080";
  std::string listen;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "processor_sim: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--port") port = val();
    else if (a == "--listen") listen = val();
    else if (a == "--fee") o.fee = val();
    else if (a == "--token") o.token = val();
    else if (a == "--health-window-ms") o.health_window_ms = to_int("--health-window-ms", val());
    else if (a == "--name") o.name = val();
    else if (a == "--threads") o.threads = to_int("--threads", val());
    else if (a == "--delay") o.delay_ms = to_int("--delay", val());
    else if (a == "--failure") o.failure = true;
    else if (a == "--max-in-progress") o.max_in_progress = to_int("--max-in-progress", val());
    else if (a == "--max-waiting") o.max_waiting = to_int("--max-waiting", val());
    else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      usage();
      return 2;
    }
  }
  o.listen = listen.empty() ? "0.0.0.0:" + port : listen;

  // Block the stop signals before any thread exists so that only the wait below receives them.
  const sigset_t set = net::block_stop_signals();

  sim::ProcessorSim ps(o);
  try {
    ps.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "processor_sim[%s]: %s\n", o.name.c_str(), e.what());
    return 1;
  }
  net::wait_stop_signal(set);
  ps.stop();
  return 0;
}
