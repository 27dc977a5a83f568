// The store's named queries (server/store/queries/*.sql) against the migrated
// schema: every one parses and plans, and the lease fence of the hot
// statements is inlined into them rather than called per row.

#include "server/store/queries.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <set>
#include <string>

#include "absl/strings/match.h"
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

// The fence is a SQL function (migration 0009) that the planner inlines: the
// plans of fenced statements test the columns directly, with no function call.
TEST(StoreQueriesTest, TheLeaseFenceIsInlinedIntoTheStatements) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection connection(db.app_url());
  pqxx::work txn(connection);
  txn.exec("SELECT set_config('campaign.all_businesses', 'on', true)");
  for (const char* name : {"Heartbeat", "LockLeasedRun", "ReadControl", "ClaimJobs"}) {
    for (const store::sql::NamedQuery& query : store::sql::kAllQueries) {
      if (std::string(query.name) == name) connection.prepare(name, query.sql);
    }
    connection.prepare_now(name);
    const std::string arguments =
        std::string(name) == "ClaimJobs" ? "(1, 1, 'w', 5)" : "(1, 1, 'w')";
    std::string plan;
    for (const pqxx::row& row :
         txn.exec(std::string("EXPLAIN (VERBOSE) EXECUTE \"") + name + "\"" + arguments)) {
      plan += row[0].as<std::string>() + "\n";
    }
    EXPECT_FALSE(absl::StrContains(plan, "campaign_lease_held")) << name << ":\n" << plan;
    EXPECT_TRUE(absl::StrContains(plan, "lease_epoch")) << name << ":\n" << plan;
  }
}

}  // namespace
}  // namespace campaign
