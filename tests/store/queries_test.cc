// The store's named queries (server/store/queries/*.sql) against the migrated
// schema: every one parses and plans, and the shared rules of migration 0009
// (the lease fence, the run_version stamp) are inlined into the statements.

#include "server/store/queries.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <set>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "server/store/pg_array.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using testing::TestDatabase;

// Every query is known to the server: tables, columns, functions and
// parameter types resolve. A query the tests never run would otherwise fail
// only in production.
TEST(StoreQueriesTest, EveryNamedQueryPreparesAgainstTheMigratedSchema) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection connection(db.app_url());
  pqxx::work txn(connection);
  // InsertStagedJobs reads the transaction-local table this one creates.
  txn.exec(store::sql::kCreateIncomingLeads);
  std::set<std::string> names;
  for (const store::sql::NamedQuery& query : store::sql::kAllQueries) {
    EXPECT_TRUE(names.insert(query.name).second) << "duplicate name " << query.name;
    EXPECT_FALSE(absl::StrContains(query.sql, "{{")) << query.name << ": unexpanded fragment";
    connection.prepare(query.name, query.sql);
    EXPECT_NO_THROW(connection.prepare_now(query.name)) << query.name << ":\n" << query.sql;
  }
  EXPECT_GT(names.size(), 40u);
}

// The array literals of the batched statements (store::PgArray) reach the
// server as exactly the values given, whatever they hold: outcomes carry a
// provider's free-text error, which a lost quote or backslash would corrupt
// (or, unescaped, split into other elements).
TEST(StoreQueriesTest, ArrayParametersRoundTripExactly) {
  const std::vector<std::string> texts = {"",
                                          "plain",
                                          "NULL",
                                          "null",
                                          "a,b",
                                          "{braces}",
                                          "say \"hi\"",
                                          "back\\slash",
                                          "trailing\\",
                                          "tab\tand\nnewline",
                                          "multi-byte: é, 日本, 🙂",
                                          " spaced ",
                                          "\"",
                                          "'quote'"};
  const std::vector<int64_t> numbers = {0, -1, 42, 9223372036854775807LL,
                                        -9223372036854775807LL - 1};
  TestDatabase db;
  pqxx::connection connection(db.app_url());
  pqxx::work txn(connection);
  std::vector<std::string> got_texts;
  for (const pqxx::row& row : txn.exec_params(
           "SELECT t, t IS NULL AS missing FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) "
           "ORDER BY n",
           store::PgArray(texts))) {
    EXPECT_FALSE(row["missing"].as<bool>()) << "an element became NULL";
    got_texts.push_back(row["t"].is_null() ? "<null>" : row["t"].as<std::string>());
  }
  EXPECT_EQ(got_texts, texts);
  std::vector<int64_t> got_numbers;
  for (const pqxx::row& row :
       txn.exec_params("SELECT v FROM unnest($1::int8[]) WITH ORDINALITY AS u(v, n) ORDER BY n",
                       store::PgArray(numbers))) {
    got_numbers.push_back(row["v"].as<int64_t>());
  }
  EXPECT_EQ(got_numbers, numbers);
  EXPECT_EQ(txn.exec_params1("SELECT cardinality($1::text[]) AS n",
                             store::PgArray(std::vector<std::string>{}))["n"]
                .as<int>(),
            0);
}

// The shared rules are SQL functions (migration 0009) that the planner
// inlines: the plans of the statements using them test and compute on the
// columns directly, with no function call per execution or per row.
TEST(StoreQueriesTest, TheSharedRulesAreInlinedIntoTheStatements) {
  struct Statement {
    const char* name;
    const char* arguments;
    bool fenced;
  };
  const Statement kStatements[] = {
      {"RenewLeases", "('w', '{1}', '{1}', '{1}')", true},
      {"LockLeasedRun", "(1, 1, 1, 'w')", true},
      {"ReadControl", "(1, 1, 1, 'w')", true},
      {"PendingCancel", "(1, 1, 1, 'w')", true},
      {"ReleaseLease", "(1, 1, 1, 'w')", true},
      {"ClaimJobs", "(1, 1, 1, 'w', 5, 0, 0, 'c')", true},
      {"ClaimJobsGoverned", "(1, 1, 1, 'w', 5, 0, 0, 'c')", true},
      {"ReleaseClaim", "(1, 1, 1, 't', 'queued', '')", false},
      {"RecordCallsStarted", "(1, 1, '{1}', '{t}', '{sid}')", false},
      {"FinishJobs",
       "(1, 1, '{1}', '{t}', '{completed}', '{\"\"}', '{\"\"}', '{0}', '{\"\"}', '{0}')",
       false},
      {"CancelQueuedJobs", "(1, 1, 'Stopped by user')", false},
  };
  TestDatabase db;
  db.Migrate();
  pqxx::connection connection(db.app_url());
  pqxx::work txn(connection);
  txn.exec("SELECT set_config('campaign.all_businesses', 'on', true)");
  for (const Statement& statement : kStatements) {
    const std::string name = statement.name;
    int found = 0;
    for (const store::sql::NamedQuery& query : store::sql::kAllQueries) {
      if (query.name == name) {
        connection.prepare(name, query.sql);
        ++found;
      }
    }
    ASSERT_EQ(found, 1) << name;
    connection.prepare_now(name);
    std::string plan;
    for (const pqxx::row& row :
         txn.exec("EXPLAIN (VERBOSE) EXECUTE \"" + name + "\"" + statement.arguments)) {
      plan += row[0].as<std::string>() + "\n";
    }
    EXPECT_FALSE(absl::StrContains(plan, "campaign_lease_held")) << name << ":\n" << plan;
    EXPECT_FALSE(absl::StrContains(plan, "campaign_next_run_version")) << name << ":\n" << plan;
    if (statement.fenced) {
      EXPECT_TRUE(absl::StrContains(plan, "lease_epoch")) << name << ":\n" << plan;
    } else {
      // The run row's alias is r, or r_N where the statement's own run
      // update (or another subquery) is r.
      EXPECT_TRUE(std::regex_search(plan, std::regex(R"(\(r(_[0-9]+)?\.version \+ 1\))")))
          << name << ":\n"
          << plan;
    }
  }
}

}  // namespace
}  // namespace campaign
