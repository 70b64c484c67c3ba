// The engine's HTTP API (SPEC section 1): a thin handler that validates and hands work on.
//   POST /payments          -> payment_request.h, then Ingress (group commit)
//   GET  /payments-summary  -> SummaryService
//   POST /purge-payments    -> SummaryService (admin token in X-Rinha-Token)
//   GET  /metrics, GET /health
#pragma once
#include "engine/config.h"
#include "net/http_server.h"
#include "engine/ingress.h"
#include "engine/summary.h"

namespace engine {

net::Handler make_http_handler(const Config& cfg, Ingress& ingress, SummaryService& summary);

}  // namespace engine
