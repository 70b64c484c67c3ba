// Encodes a list of strings as a PostgreSQL array literal ({"a","b"}), so that N values travel
// as ONE bound parameter: this is how batch operations stay one statement and one round trip
// (libpqxx 6.4 has no array parameter binding).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgq {

// Appends "e" with backslash and double quote escaped, inside double quotes.
void pg_array_append(std::string& out, std::string_view e);

std::string pg_array(const std::vector<std::string>& items);
std::string pg_array(const std::vector<std::string_view>& items);
std::string pg_array(const std::vector<int64_t>& items);

}  // namespace pgq
