// Schema migrations (sql/NNN_name.sql), compiled into the binary and applied at start-up.
#pragma once
#include <pqxx/pqxx>

#include <string>
#include <vector>

namespace migrations {

struct File {
  const char* name;
  const char* sql;
};
const std::vector<File>& files();  // generated from sql/*.sql, in name order

// Applies every migration not yet recorded in schema_migrations, each in its own transaction,
// under an advisory lock so that engine instances starting together do not race. Idempotent.
// Returns the names applied now.
std::vector<std::string> apply(pqxx::connection& conn);

}  // namespace migrations
