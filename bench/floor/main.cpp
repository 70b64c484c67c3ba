// floor_server --listen HOST:PORT [--handoff SOCKET]: answers every request 202 {"status":"accepted"} at once.
// Everything a POST /payments pays except the engine's own work (validation, the commit): the
// load balancer hop, the event loop, HTTP parsing and writing. bench/latency.sh measures it
// beside the engine to tell the two apart.
#include <cstdio>
#include <string>

#include "net/http_server.h"
#include "net/stop_signals.h"

int main(int argc, char** argv) {
  net::HttpServer::Options opt;
  opt.listen = "127.0.0.1:9003";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--listen") opt.listen = argv[i + 1];
    else if (std::string(argv[i]) == "--handoff") opt.handoff = argv[i + 1];
  const sigset_t sigs = net::block_stop_signals();
  net::HttpServer server(opt, [](const net::Request&, net::Responder r) { r.send(202, R"({"status":"accepted"})"); });
  server.start();
  std::fprintf(stderr, "floor_server: listening on %s\n", opt.listen.c_str());
  net::wait_stop_signal(sigs);
  server.stop();
  return 0;
}
