// The array literals batched statements are given (their round trip through
// PostgreSQL is checked in tests/store/queries_test.cc).
#include "server/store/pg_array.h"

#include "gtest/gtest.h"

namespace campaign::store {
namespace {

TEST(PgArrayTest, IntegersAreCommaSeparatedInBraces) {
  EXPECT_EQ(PgArray(std::vector<int64_t>{}), "{}");
  EXPECT_EQ(PgArray(std::vector<int64_t>{7}), "{7}");
  EXPECT_EQ(PgArray(std::vector<int64_t>{1, -2, 9223372036854775807}),
            "{1,-2,9223372036854775807}");
}

TEST(PgArrayTest, TextIsQuotedAndEscaped) {
  EXPECT_EQ(PgArray(std::vector<std::string>{}), "{}");
  EXPECT_EQ(PgArray(std::vector<std::string>{""}), R"({""})");
  EXPECT_EQ(PgArray(std::vector<std::string>{"a", "NULL", "b,c", "{d}"}),
            R"({"a","NULL","b,c","{d}"})");
  EXPECT_EQ(PgArray(std::vector<std::string>{R"(say "hi")", R"(back\slash)"}),
            R"({"say \"hi\"","back\\slash"})");
}

}  // namespace
}  // namespace campaign::store
