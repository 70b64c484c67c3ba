// The engine's HTTP API (SPEC section 1): a thin handler that validates and hands work on.
//   POST /payments          -> payment_request.h, then Ingress (group commit)
//   GET  /payments-summary  -> SummaryService
//   GET  /payments/{id}     -> SummaryService: the payment's state, from PostgreSQL
//   POST /purge-payments    -> SummaryService (admin token in X-Rinha-Token)
//   GET  /admin/reconciliation?from&to -> the dispatcher's Reconciler (admin token)
//   GET  /metrics, GET /health (503 while the database is unreachable or the engine is stopping:
//        the load balancer's cue to send requests elsewhere)
#pragma once
#include <functional>

#include "engine/config.h"
#include "net/http_server.h"
#include "engine/ingress.h"
#include "engine/summary.h"

namespace engine {

net::Handler make_http_handler(const Config& cfg, Ingress& ingress, SummaryService& summary, Dispatcher& dispatcher,
                               std::function<bool()> ready);

}  // namespace engine
