// PostgreSQL array literals for parameters of batched statements: libpqxx
// 6.4 passes parameters as text and has no array conversion, so a batch of
// values travels as one `{...}` literal and the statement casts it
// (`$3::int8[]`, `$4::text[]`) and unnests it. Values are quoted and escaped,
// never spliced into the SQL text.
#ifndef CAMPAIGN_SERVER_STORE_PG_ARRAY_H_
#define CAMPAIGN_SERVER_STORE_PG_ARRAY_H_

#include <cstdint>
#include <string>
#include <vector>

namespace campaign::store {

// `{1,2,3}`: the literal of an int8[].
std::string PgArray(const std::vector<int64_t>& values);

// `{"a","b \"q\"",""}`: the literal of a text[]; every element is quoted,
// with backslashes and double quotes escaped, so any text (commas, braces,
// quotes, NULL-looking words, multibyte characters) round-trips exactly.
// Empty strings stay empty strings (statements map them to NULL with nullif
// where they mean "none").
std::string PgArray(const std::vector<std::string>& values);

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_PG_ARRAY_H_
