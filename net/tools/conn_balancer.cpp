// conn_balancer --frontend HOST:PORT=SOCKET[,SOCKET...] [--frontend ...] [--retry-ms N]
// The deployment's load balancer (net/balancer.h): each client connection on HOST:PORT is handed,
// round robin, to one of the servers listening for hand-overs on the unix SOCKETs (the engine's
// HANDOFF_SOCKET), and served by it directly.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "net/balancer.h"
#include "net/event_loop.h"
#include "net/stop_signals.h"

namespace {

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "conn_balancer: %s\nusage: conn_balancer --frontend HOST:PORT=SOCKET[,SOCKET...] ... [--retry-ms N]\n", why);
  std::exit(2);
}

net::Balancer::Frontend parse_frontend(const std::string& s) {
  size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) usage(("bad --frontend '" + s + "'").c_str());
  net::Balancer::Frontend f;
  f.listen = s.substr(0, eq);
  for (size_t pos = eq + 1; pos <= s.size();) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    if (comma == pos) usage(("empty socket path in '" + s + "'").c_str());
    f.backends.push_back(s.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  net::Balancer::Options opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    if (a == "--frontend") opts.frontends.push_back(parse_frontend(argv[++i]));
    else if (a == "--retry-ms") opts.retry = std::chrono::milliseconds(std::atoi(argv[++i]));
    else usage(("unknown argument " + a).c_str());
  }
  if (opts.frontends.empty()) usage("no --frontend");
  if (opts.retry.count() < 1) usage("--retry-ms must be at least 1");
  const sigset_t sigs = net::block_stop_signals();
  net::EventLoop loop;
  try {
    net::Balancer balancer(loop, opts);
    std::thread t([&loop] { loop.run(); });
    for (size_t i = 0; i < opts.frontends.size(); ++i)
      std::fprintf(stderr, "conn_balancer: listening on %s (port %u)\n", opts.frontends[i].listen.c_str(),
                   static_cast<unsigned>(balancer.port(i)));
    net::wait_stop_signal(sigs);
    loop.stop();
    t.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "conn_balancer: %s\n", e.what());
    return 1;
  }
  return 0;
}
