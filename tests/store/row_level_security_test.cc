// Row-level security, the second wall behind the business filter of every
// query: connected as the service's role, SQL without any business filter
// still sees and changes only the business the transaction declares.

#include <gtest/gtest.h>

#include <cstdint>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/run_store.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using store::Database;
using store::PoolOptions;
using store::Tenancy;
using testing::TestDatabase;

// SQLSTATE of "new row violates row-level security policy".
constexpr char kInsufficientPrivilege[] = "42501";

// One integer from a query in `txn`.
int64_t Int(pqxx::work& txn, const std::string& sql) { return txn.exec1(sql)[0].as<int64_t>(); }

// Runs `sql` and returns the SQLSTATE it failed with ("" when it succeeded).
// A failed statement spoils its transaction, so callers use a fresh one per
// refused statement.
std::string SqlStateOf(pqxx::work& txn, const std::string& sql) {
  try {
    txn.exec(sql);
    return "";
  } catch (const pqxx::insufficient_privilege& error) {
    // libpqxx 6.4 raises this class for exactly SQLSTATE 42501 but leaves
    // its sqlstate() empty.
    return error.sqlstate().empty() ? kInsufficientPrivilege : error.sqlstate();
  } catch (const pqxx::sql_error& error) {
    return error.sqlstate().empty() ? "<no sqlstate>" : error.sqlstate();
  }
}

// A migrated database where business A has two runs (3 jobs each) and
// business B one run (2 jobs), created through the store; tests open their own
// connections as the service's role.
class RowLevelSecurityTest : public ::testing::Test {
 protected:
  RowLevelSecurityTest() {
    db_.Migrate();
    business_a_ = db_.CreateBusiness("A");
    business_b_ = db_.CreateBusiness("B");
    Database database(db_.app_url(), PoolOptions{.size = 1});
    store::RunStore runs(&database, absl::Seconds(30));
    run_a1_ = Create(runs, business_a_, "a1", 3);
    run_a2_ = Create(runs, business_a_, "a2", 3);
    run_b_ = Create(runs, business_b_, "b", 2);
  }

  // Creates a run of `leads` queued jobs through the store; returns its id.
  static int64_t Create(store::RunStore& runs, int64_t business_id, const std::string& request_id,
                        int leads) {
    NewRun run;
    run.business_id = business_id;
    run.request_id = request_id;
    run.request_digest = "d";
    run.concurrency = 1;
    for (int i = 1; i <= leads; ++i) {
      run.leads.push_back(Lead{i, absl::StrCat("+1415555000", i), ""});
    }
    absl::StatusOr<store::CreatedRun> created = runs.CreateRun(run);
    if (!created.ok()) throw std::runtime_error(created.status().ToString());
    return created->run.id;
  }

  // Declares business `business_id` for the rest of `txn`, as the store does.
  static void SetBusiness(pqxx::work& txn, int64_t business_id) {
    txn.exec_params("SELECT set_config('campaign.business_id', $1, true)",
                    std::to_string(business_id));
  }

  TestDatabase db_;
  int64_t business_a_ = 0;
  int64_t business_b_ = 0;
  int64_t run_a1_ = 0;
  int64_t run_a2_ = 0;
  int64_t run_b_ = 0;
};

TEST_F(RowLevelSecurityTest, TheServiceRoleCannotBypassRowLevelSecurity) {
  pqxx::connection connection(db_.app_url());
  pqxx::work txn(connection);
  EXPECT_EQ(txn.exec1("SELECT current_user")[0].as<std::string>(), testing::kAppRole);
  EXPECT_FALSE(txn.exec1("SELECT rolsuper OR rolbypassrls FROM pg_roles"
                         " WHERE rolname = current_user")[0]
                   .as<bool>());
  for (const char* table : {"outbound_call_runs", "outbound_call_jobs", "business_dial_rate"}) {
    SCOPED_TRACE(table);
    pqxx::row row = txn.exec_params1(
        "SELECT relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner) FROM pg_class"
        " WHERE oid = $1::regclass",
        std::string(table));
    EXPECT_TRUE(row[0].as<bool>());
    EXPECT_TRUE(row[1].as<bool>());
    // The service's role owns the tables, which is why FORCE is needed.
    EXPECT_EQ(row[2].as<std::string>(), testing::kAppRole);
  }
}

TEST_F(RowLevelSecurityTest, UnfilteredQueriesSeeAndChangeOnlyTheDeclaredBusiness) {
  pqxx::connection connection(db_.app_url());
  {
    pqxx::work txn(connection);
    SetBusiness(txn, business_a_);
    EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_runs"), 2);
    EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_jobs"), 6);
    EXPECT_EQ(Int(txn, "SELECT count(DISTINCT business_id) FROM outbound_call_runs"), 1);
    EXPECT_EQ(Int(txn, absl::StrCat("SELECT count(*) FROM outbound_call_runs WHERE id = ", run_b_)),
              0);
    EXPECT_EQ(
        Int(txn, absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ", run_b_)),
        0);
    EXPECT_EQ(txn.exec("UPDATE outbound_call_runs SET last_error = 'touched'").affected_rows(), 2u);
    EXPECT_EQ(txn.exec("UPDATE outbound_call_jobs SET error_message = 'touched'").affected_rows(),
              6u);
    txn.commit();
  }
  // As the superuser (no RLS): A's rows changed, B's did not.
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_runs WHERE last_error = 'touched'"),
            2);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_runs WHERE id = ", run_b_,
                                      " AND last_error IS NULL")),
            1);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ",
                                      run_b_, " AND error_message IS NULL")),
            2);

  // A DELETE without a filter removes B's rows only (rolled back).
  {
    pqxx::work txn(connection);
    SetBusiness(txn, business_b_);
    EXPECT_EQ(txn.exec("DELETE FROM outbound_call_jobs").affected_rows(), 2u);
    EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_jobs"), 0);
    txn.abort();
  }
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"), 8);
}

// The rate governor's buckets (migration 0014) are a tenant table too: a
// transaction of one business sees and changes only its own bucket.
TEST_F(RowLevelSecurityTest, ABusinessSeesAndChangesOnlyItsOwnDialRateBucket) {
  db_.ExecAsAdmin(absl::StrCat("INSERT INTO business_dial_rate (business_id, tokens) VALUES (",
                               business_a_, ", 1), (", business_b_, ", 1)"));
  pqxx::connection connection(db_.app_url());
  {
    pqxx::work txn(connection);
    SetBusiness(txn, business_a_);
    EXPECT_EQ(Int(txn, "SELECT count(*) FROM business_dial_rate"), 1);
    EXPECT_EQ(txn.exec("UPDATE business_dial_rate SET tokens = 0").affected_rows(), 1u);
    txn.commit();
  }
  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT count(*) FROM business_dial_rate WHERE tokens = 1 AND business_id = ",
                business_b_)),
            1);
  pqxx::work txn(connection);
  SetBusiness(txn, business_a_);
  EXPECT_EQ(SqlStateOf(txn, absl::StrCat("INSERT INTO business_dial_rate (business_id, tokens)"
                                         " VALUES (",
                                         db_.CreateBusiness("C"), ", 1)")),
            kInsufficientPrivilege);
}

TEST_F(RowLevelSecurityTest, RowsForAnotherBusinessAreRefusedOnWrite) {
  pqxx::connection connection(db_.app_url());
  {
    pqxx::work txn(connection);
    SetBusiness(txn, business_a_);
    EXPECT_EQ(
        SqlStateOf(txn,
                   absl::StrCat("INSERT INTO outbound_call_runs (business_id, status, concurrency)"
                                " VALUES (",
                                business_b_, ", 'pending', 1)")),
        kInsufficientPrivilege);
  }
  {
    pqxx::work txn(connection);
    SetBusiness(txn, business_a_);
    EXPECT_EQ(
        SqlStateOf(txn, absl::StrCat("INSERT INTO outbound_call_jobs (run_id, business_id, lead_id)"
                                     " VALUES (",
                                     run_b_, ", ", business_b_, ", 99)")),
        kInsufficientPrivilege);
  }
  {
    // Moving one of A's runs to B is refused too.
    pqxx::work txn(connection);
    SetBusiness(txn, business_a_);
    EXPECT_EQ(SqlStateOf(txn, absl::StrCat("UPDATE outbound_call_runs SET business_id = ",
                                           business_b_, " WHERE id = ", run_a1_)),
              kInsufficientPrivilege);
  }
  {
    // A's own insert goes through.
    pqxx::work txn(connection);
    SetBusiness(txn, business_a_);
    EXPECT_EQ(
        SqlStateOf(txn,
                   absl::StrCat("INSERT INTO outbound_call_runs (business_id, status, concurrency)"
                                " VALUES (",
                                business_a_, ", 'pending', 1)")),
        "");
    txn.commit();
  }
  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT count(*) FROM outbound_call_runs WHERE business_id = ", business_b_)),
            1);
  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT count(*) FROM outbound_call_runs WHERE business_id = ", business_a_)),
            3);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"), 8);
}

TEST_F(RowLevelSecurityTest, NoDeclaredBusinessSeesNothing) {
  pqxx::connection connection(db_.app_url());
  {
    pqxx::work txn(connection);
    EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_runs"), 0);
    EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_jobs"), 0);
    EXPECT_EQ(txn.exec("UPDATE outbound_call_runs SET last_error = 'x'").affected_rows(), 0u);
    EXPECT_EQ(txn.exec("DELETE FROM outbound_call_jobs").affected_rows(), 0u);
    txn.commit();
  }
  {
    // An empty business id is no business either.
    pqxx::work txn(connection);
    txn.exec("SELECT set_config('campaign.business_id', '', true)");
    EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_runs"), 0);
    EXPECT_EQ(
        SqlStateOf(txn,
                   absl::StrCat("INSERT INTO outbound_call_runs (business_id, status, concurrency)"
                                " VALUES (",
                                business_a_, ", 'pending', 1)")),
        kInsufficientPrivilege);
  }
  {
    // Only the exact value 'on' opens every business.
    pqxx::work txn(connection);
    txn.exec("SELECT set_config('campaign.all_businesses', 'off', true)");
    EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_runs"), 0);
  }
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_runs WHERE last_error IS NULL"), 3);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"), 8);
}

TEST_F(RowLevelSecurityTest, AllBusinessesSeesEverything) {
  pqxx::connection connection(db_.app_url());
  pqxx::work txn(connection);
  txn.exec("SELECT set_config('campaign.all_businesses', 'on', true)");
  EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_runs"), 3);
  EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_jobs"), 8);
  EXPECT_EQ(Int(txn, "SELECT count(DISTINCT business_id) FROM outbound_call_jobs"), 2);
}

// The setting is transaction-local (SET LOCAL): a pooled connection never
// carries one transaction's business into the next.
TEST_F(RowLevelSecurityTest, TheDeclaredBusinessEndsWithItsTransaction) {
  pqxx::connection connection(db_.app_url());
  {
    pqxx::work txn(connection);
    SetBusiness(txn, business_a_);
    EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_runs"), 2);
    txn.commit();
  }
  {
    pqxx::work txn(connection);
    txn.exec("SELECT set_config('campaign.all_businesses', 'on', true)");
    EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_runs"), 3);
    txn.abort();
  }
  pqxx::work txn(connection);
  EXPECT_EQ(Int(txn, "SELECT count(*) FROM outbound_call_runs"), 0);
}

// The one-round-trip read (Database::ReadOnce, GetRun's path) sets its own
// tenancy inside its statement: a run is visible to its business only, the
// setting ends with the statement (the next statement on the same pooled
// connection, one that does not set it, sees nothing), and Transact on that
// connection is unaffected. Both with and without prepared statements.
class ReadOnceTest : public RowLevelSecurityTest, public ::testing::WithParamInterface<bool> {};

TEST_P(ReadOnceTest, ScopesItsStatementToTheRunsBusinessAndLeavesNothingBehind) {
  Database database(db_.app_url(), PoolOptions{.size = 1, .prepared_statements = GetParam()});
  store::RunStore runs(&database, absl::Seconds(30));
  for (int round = 0; round < 2; ++round) {  // the second round reuses prepared statements
    absl::StatusOr<campaign::Run> own = runs.GetRun(business_a_, run_a1_);
    ASSERT_TRUE(own.ok()) << own.status();
    EXPECT_EQ(own->id, run_a1_);
    EXPECT_EQ(own->business_id, business_a_);
    EXPECT_EQ(own->total_leads, 3);
    absl::StatusOr<campaign::Run> other = runs.GetRun(business_b_, run_a1_);
    EXPECT_EQ(other.status().code(), absl::StatusCode::kNotFound) << other.status();
  }
  // The same (only) connection, a statement that does not declare a business:
  // the run read just before left no tenancy behind.
  static constexpr store::sql::NamedQuery kUnscoped{"UnscopedCount",
                                                    "SELECT count(*) FROM outbound_call_runs"};
  absl::StatusOr<int64_t> unscoped = database.ReadOnce(
      "count", kUnscoped,
      [](const pqxx::result& rows) -> absl::StatusOr<int64_t> { return rows[0][0].as<int64_t>(); });
  ASSERT_TRUE(unscoped.ok()) << unscoped.status();
  EXPECT_EQ(*unscoped, 0);
  absl::StatusOr<int64_t> in_b = database.Transact(
      Tenancy::Business(business_b_), "count", [](pqxx::work& txn) -> absl::StatusOr<int64_t> {
        return Int(txn, "SELECT count(*) FROM outbound_call_runs");
      });
  ASSERT_TRUE(in_b.ok()) << in_b.status();
  EXPECT_EQ(*in_b, 1);
  // A failing statement is a status, and the connection stays usable.
  static constexpr store::sql::NamedQuery kBroken{"Broken", "SELECT 1/0"};
  absl::StatusOr<int64_t> broken = database.ReadOnce(
      "divide", kBroken,
      [](const pqxx::result& rows) -> absl::StatusOr<int64_t> { return rows[0][0].as<int64_t>(); });
  EXPECT_FALSE(broken.ok());
  EXPECT_TRUE(runs.GetRun(business_a_, run_a2_).ok());
}

INSTANTIATE_TEST_SUITE_P(PreparedOrNot, ReadOnceTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Prepared" : "Unnamed";
                         });

// The store's own transactions: Database::Transact declares the tenancy, so
// even SQL without a business filter stays within it.
TEST_F(RowLevelSecurityTest, TransactScopesUnfilteredSqlToItsTenancy) {
  Database database(db_.app_url(), PoolOptions{.size = 1});
  auto count_in = [&](const Tenancy& tenancy) {
    return database.Transact(tenancy, "count", [](pqxx::work& txn) -> absl::StatusOr<int64_t> {
      return Int(txn, "SELECT count(*) FROM outbound_call_jobs");
    });
  };
  absl::StatusOr<int64_t> a = count_in(Tenancy::Business(business_a_));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, 6);
  absl::StatusOr<int64_t> b = count_in(Tenancy::Business(business_b_));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, 2);
  absl::StatusOr<int64_t> all = count_in(Tenancy::AllBusinesses());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, 8);
  // The same pooled connection again, scoped to B once more.
  b = count_in(Tenancy::Business(business_b_));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, 2);

  // A write for another business through Transact fails and writes nothing.
  absl::Status refused = database.Transact(
      Tenancy::Business(business_a_), "insert for b", [&](pqxx::work& txn) -> absl::Status {
        txn.exec(
            absl::StrCat("INSERT INTO outbound_call_runs (business_id, status, concurrency)"
                         " VALUES (",
                         business_b_, ", 'pending', 1)"));
        return absl::OkStatus();
      });
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_runs"), 3);
}

}  // namespace
}  // namespace campaign
