#include "engine/migrations.h"

namespace migrations {

std::vector<std::string> apply(pqxx::connection& conn) {
  std::vector<std::string> applied;
  pqxx::work tx(conn);
  tx.exec("SELECT pg_advisory_xact_lock(hashtext('payment_engine_migrations'))");
  tx.exec("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
  for (const auto& f : files()) {
    if (!tx.exec_params("SELECT 1 FROM schema_migrations WHERE name = $1", f.name).empty()) continue;
    tx.exec(f.sql);
    tx.exec_params("INSERT INTO schema_migrations (name) VALUES ($1)", f.name);
    applied.emplace_back(f.name);
  }
  tx.commit();  // all or nothing: a failed migration leaves the schema as it was
  return applied;
}

}  // namespace migrations
