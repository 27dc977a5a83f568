// The schema and the store's queries are ready to be distributed by
// business_id (docs/scaling.md): every primary key, unique constraint, unique
// index and foreign key of a tenant table includes business_id (read from the
// catalog of the migrated schema), and every named query that reads a tenant
// table names the business on each table it reads (read from the generic
// plans), except an explicit list of statements that read across businesses
// by design.

#include <gtest/gtest.h>

#include <algorithm>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/store/embedded_migrations.h"
#include "server/store/migrator.h"
#include "server/store/queries.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using testing::TestDatabase;

// Tables with a business_id column that are not distributed by it: in a
// distributed deployment they are reference tables (copied to every node).
// api_keys: a key is looked up by its hash before the business is known, and
// a system admin's key belongs to no business (business_id NULL).
// (business has no business_id column: its id is the business.)
const std::vector<std::string> kReferenceTables = {"api_keys"};

// The tenant tables as the catalog defines them: every table of the public
// schema with a business_id column, except the reference tables.
constexpr char kTenantTablesSql[] = R"sql(
SELECT c.oid, c.relname::text AS name
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
   AND EXISTS (SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'business_id' AND NOT a.attisdropped)
   AND c.relname <> ALL (string_to_array($1, ','))
)sql";

// One line per key of a tenant table without business_id: primary keys,
// unique and exclusion constraints and foreign keys of a tenant table
// without it; foreign keys into a tenant table whose referenced columns lack
// it; foreign keys between tenant tables that do not pair business_id with
// business_id (co-location); unique indexes (not backing a constraint) of a
// tenant table without it.
constexpr char kKeysWithoutBusinessSql[] = R"sql(
WITH tenant AS (%TENANT%),
business_column AS (
  SELECT a.attrelid AS rel, a.attnum
    FROM pg_attribute a WHERE a.attname = 'business_id' AND NOT a.attisdropped),
lines AS (
  SELECT format('%s: %s %s', con.conrelid::regclass, con.conname,
                pg_get_constraintdef(con.oid)) AS line
    FROM pg_constraint con
    LEFT JOIN business_column src ON src.rel = con.conrelid
    LEFT JOIN business_column dst ON dst.rel = con.confrelid
   WHERE con.contype IN ('p', 'u', 'f', 'x')
     AND ((con.conrelid IN (SELECT oid FROM tenant)
           AND (src.attnum IS NULL OR NOT src.attnum = ANY (con.conkey)))
          OR (con.contype = 'f' AND con.confrelid IN (SELECT oid FROM tenant)
              AND (dst.attnum IS NULL OR NOT dst.attnum = ANY (con.confkey)))
          OR (con.contype = 'f' AND con.conrelid IN (SELECT oid FROM tenant)
              AND con.confrelid IN (SELECT oid FROM tenant)
              AND array_position(con.conkey, src.attnum)
                  IS DISTINCT FROM array_position(con.confkey, dst.attnum)))
  UNION ALL
  SELECT format('%s: unique index %s', i.indrelid::regclass, pg_get_indexdef(i.indexrelid))
    FROM pg_index i
    LEFT JOIN business_column b ON b.rel = i.indrelid
   WHERE i.indisunique AND i.indrelid IN (SELECT oid FROM tenant)
     AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                        AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
     AND (b.attnum IS NULL OR NOT b.attnum = ANY (i.indkey::int2[])))
SELECT coalesce(string_agg(line, E'\n' ORDER BY line), '') AS lines FROM lines
)sql";

// The tenant tables of the database at `url`, sorted.
std::vector<std::string> TenantTables(const std::string& url) {
  pqxx::connection connection(url);
  pqxx::nontransaction txn(connection);
  std::vector<std::string> names;
  for (const pqxx::row& row :
       txn.exec_params(absl::StrCat("SELECT name FROM (", kTenantTablesSql, ") t ORDER BY name"),
                       absl::StrJoin(kReferenceTables, ","))) {
    names.push_back(row["name"].as<std::string>());
  }
  return names;
}

// The keys of tenant tables without business_id at `url` (sorted lines).
std::vector<std::string> KeysWithoutBusiness(const std::string& url) {
  std::string sql = kKeysWithoutBusinessSql;
  sql.replace(sql.find("%TENANT%"), 8, kTenantTablesSql);
  pqxx::connection connection(url);
  pqxx::nontransaction txn(connection);
  const std::string lines =
      txn.exec_params1(sql, absl::StrJoin(kReferenceTables, ","))["lines"].as<std::string>();
  if (lines.empty()) return {};
  return absl::StrSplit(lines, '\n');
}

// The first `count` embedded migrations.
std::vector<store::MigrationFile> FirstMigrations(size_t count) {
  const std::vector<store::MigrationFile>& all = store::EmbeddedMigrations();
  return std::vector<store::MigrationFile>(all.begin(), all.begin() + std::min(count, all.size()));
}

// The index of migration 0010 (distribution-ready keys) in the embedded list.
constexpr size_t kBeforeDistributionKeys = 9;

TEST(DistributionKeysTest, TenantTablesAreTheTablesOfABusinessExceptTheReferenceTables) {
  TestDatabase db;
  db.Migrate();
  EXPECT_EQ(TenantTables(db.admin_url()),
            (std::vector<std::string>{"business_dial_rate", "call_attempts", "dialing_policy",
                                      "do_not_call", "outbound_call_events", "outbound_call_jobs",
                                      "outbound_call_runs"}));
}

TEST(DistributionKeysTest, EveryKeyOfATenantTableIncludesTheBusiness) {
  TestDatabase db;
  db.Migrate();
  const std::vector<std::string> violations = KeysWithoutBusiness(db.admin_url());
  EXPECT_TRUE(violations.empty()) << absl::StrJoin(violations, "\n");
}

// The check is not vacuous: on the schema before migration 0010 it finds
// exactly the keys that migration changes.
TEST(DistributionKeysTest, TheCheckFindsTheKeysBeforeTheirMigration) {
  TestDatabase db;
  ASSERT_TRUE(store::Migrate(db.app_url(), FirstMigrations(kBeforeDistributionKeys)).ok());
  EXPECT_EQ(KeysWithoutBusiness(db.admin_url()),
            (std::vector<std::string>{
                "outbound_call_jobs: outbound_call_jobs_pkey PRIMARY KEY (id)",
                "outbound_call_jobs: unique_run_lead UNIQUE (run_id, lead_id)",
                "outbound_call_runs: outbound_call_runs_pkey PRIMARY KEY (id)",
            }));
  // A unique index and a foreign key of a new tenant table are found too.
  db.ExecAsAdmin(
      "CREATE TABLE probe (id bigint, business_id bigint, run_id bigint,"
      " FOREIGN KEY (run_id) REFERENCES outbound_call_runs (id));"
      "CREATE UNIQUE INDEX probe_id_key ON probe (id)");
  const std::vector<std::string> with_probe = KeysWithoutBusiness(db.admin_url());
  EXPECT_EQ(with_probe.size(), 5u) << absl::StrJoin(with_probe, "\n");
  EXPECT_TRUE(absl::StrContains(absl::StrJoin(with_probe, "\n"),
                                "probe: unique index CREATE UNIQUE INDEX probe_id_key"))
      << absl::StrJoin(with_probe, "\n");
}

// The keys keep their guarantees and names: one job per lead per run, one
// run per (business, request id).
TEST(DistributionKeysTest, TheNewKeysKeepTheirGuarantees) {
  TestDatabase db;
  db.Migrate();
  db.ExecAsAdmin(
      "INSERT INTO business (id, name) VALUES (1, 'a'), (2, 'b');"
      "INSERT INTO outbound_call_runs (id, business_id, request_id) VALUES (1, 1, 'r');"
      "INSERT INTO outbound_call_jobs (id, run_id, business_id, lead_id) VALUES (1, 1, 1, 7)");
  EXPECT_THROW(db.ExecAsAdmin("INSERT INTO outbound_call_jobs (run_id, business_id, lead_id)"
                              " VALUES (1, 1, 7)"),
               pqxx::unique_violation);
  // A job cannot claim the run of another business.
  EXPECT_THROW(db.ExecAsAdmin("INSERT INTO outbound_call_jobs (run_id, business_id, lead_id)"
                              " VALUES (1, 2, 7)"),
               pqxx::foreign_key_violation);
  EXPECT_THROW(db.ExecAsAdmin("INSERT INTO outbound_call_runs (business_id, request_id)"
                              " VALUES (1, 'r')"),
               pqxx::unique_violation);
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM pg_constraint WHERE conname = 'unique_run_lead'"
                        " AND conrelid = 'outbound_call_jobs'::regclass AND contype = 'u'"),
            1);
}

// The SQL text of one value.
std::string Text(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction txn(connection);
  pqxx::row row = txn.exec1(sql);
  return row[0].is_null() ? "<null>" : row[0].as<std::string>();
}

// Indexes built online by an operator before the upgrade (the way
// docs/scaling.md recommends for large tables) become the keys as they are,
// without a rebuild; an invalid one (a failed concurrent build) is rebuilt.
TEST(DistributionKeysTest, IndexesBuiltBeforehandBecomeTheKeysWithoutARebuild) {
  TestDatabase db;
  ASSERT_TRUE(store::Migrate(db.app_url(), FirstMigrations(kBeforeDistributionKeys)).ok());
  db.ExecAsAdmin(
      "INSERT INTO business (id, name) VALUES (1, 'a');"
      "INSERT INTO outbound_call_runs (id, business_id) VALUES (1, 1);"
      "INSERT INTO outbound_call_jobs (id, run_id, business_id, lead_id) VALUES (1, 1, 1, 7)");
  for (const char* sql :
       {"CREATE UNIQUE INDEX CONCURRENTLY outbound_call_jobs_business_id_id_key"
        " ON outbound_call_jobs (business_id, id)",
        "CREATE UNIQUE INDEX CONCURRENTLY outbound_call_jobs_business_run_lead_key"
        " ON outbound_call_jobs (business_id, run_id, lead_id)",
        "CREATE INDEX CONCURRENTLY outbound_call_runs_id_idx ON outbound_call_runs (id)"}) {
    db.ExecAsAdmin(sql);
  }
  const std::string pkey_oid =
      Text(db.admin_url(), "SELECT 'outbound_call_jobs_business_id_id_key'::regclass::oid");
  const std::string runs_id_oid =
      Text(db.admin_url(), "SELECT 'outbound_call_runs_id_idx'::regclass::oid");
  // As a failed CREATE INDEX CONCURRENTLY leaves it.
  db.ExecAsAdmin(
      "UPDATE pg_index SET indisvalid = false"
      " WHERE indexrelid = 'outbound_call_jobs_business_run_lead_key'::regclass");
  const std::string invalid_oid =
      Text(db.admin_url(), "SELECT 'outbound_call_jobs_business_run_lead_key'::regclass::oid");

  ASSERT_TRUE(store::Migrate(db.app_url(), store::EmbeddedMigrations()).ok());
  EXPECT_EQ(Text(db.admin_url(), "SELECT 'outbound_call_jobs_pkey'::regclass::oid"), pkey_oid);
  EXPECT_EQ(Text(db.admin_url(), "SELECT 'outbound_call_runs_id_idx'::regclass::oid"), runs_id_oid);
  EXPECT_NE(Text(db.admin_url(), "SELECT 'unique_run_lead'::regclass::oid"), invalid_oid);
  EXPECT_EQ(Text(db.admin_url(),
                 "SELECT indisvalid FROM pg_index"
                 " WHERE indexrelid = 'unique_run_lead'::regclass"),
            "t");
  EXPECT_TRUE(KeysWithoutBusiness(db.admin_url()).empty());
  EXPECT_THROW(db.ExecAsAdmin("INSERT INTO outbound_call_jobs (run_id, business_id, lead_id)"
                              " VALUES (1, 1, 7)"),
               pqxx::unique_violation);
}

// Named queries that read tenant tables across businesses by design; each
// is a multi-shard statement in a distributed deployment (docs/scaling.md).
const std::set<std::string> kCrossBusinessQueries = {
    // The scheduler's acquisition: free runs of every business take turns.
    "AcquireRuns",
    // The sweep of cancels no live lease holds (one sweeper at a time).
    "AbandonedCancels",
    // A worker renews every lease it holds, across businesses, in one
    // statement per heartbeat (not per dial); each row is matched on its
    // (business_id, id) key.
    "RenewLeases",
    // Which business a run belongs to, for the security log of a NOT_FOUND.
    "RunOwner",
    // A system admin's ListRuns and WatchRuns over every business.
    "ListRunsAllBusinesses",
    "RecentRunsAllBusinesses",
    // The runs-by-status gauge.
    "CountRunsByStatus",
    // The Twilio dialer's lookups of a call by its id or its dial token: the
    // reconciler knows the call of a run it took over, not the business
    // (each is an index lookup of one call's few events).
    "CallEventsByCallSid",
    "CallEventsByToken",
};

// `condition` without the parentheses that enclose all of it.
std::string_view StripEnclosingParentheses(std::string_view condition) {
  while (condition.size() >= 2 && condition.front() == '(' && condition.back() == ')') {
    int depth = 0;
    for (size_t i = 0; i < condition.size(); ++i) {
      if (condition[i] == '(') ++depth;
      if (condition[i] == ')' && --depth == 0 && i + 1 < condition.size()) return condition;
    }
    condition = condition.substr(1, condition.size() - 2);
  }
  return condition;
}

// The terms of `condition` (as EXPLAIN prints it) joined by a top-level AND.
void Conjuncts(std::string_view condition, std::vector<std::string>* terms) {
  condition = StripEnclosingParentheses(condition);
  int depth = 0;
  size_t start = 0;
  bool split = false;
  for (size_t i = 0; i < condition.size(); ++i) {
    if (condition[i] == '(') ++depth;
    if (condition[i] == ')') --depth;
    if (depth == 0 && condition.substr(i, 5) == " AND ") {
      Conjuncts(condition.substr(start, i - start), terms);
      start = i + 5;
      split = true;
    }
  }
  if (!split) {
    terms->push_back(std::string(condition));
    return;
  }
  Conjuncts(condition.substr(start), terms);
}

// True when one of the top-level AND terms of `conditions` pins the business:
// `business_id = <parameter or another row's business_id>` (not under an OR).
bool PinsTheBusiness(const std::vector<std::string>& conditions) {
  static const std::regex kPin(R"(\(?(\w+\.)?business_id = (\$\d+|\w+\.business_id)\)?)");
  for (const std::string& condition : conditions) {
    std::vector<std::string> terms;
    Conjuncts(condition, &terms);
    for (const std::string& term : terms) {
      if (std::regex_match(term, kPin)) return true;
    }
  }
  return false;
}

// Every scan of a tenant table in the generic plan of each named query;
// a statement's scans that do not pin the business make it cross-business.
// Plans are read as the superuser, so row-level security adds no condition.
TEST(QueryRoutingTest, EveryQueryOnATenantTableNamesTheBusinessOrIsAnAllowedCrossBusinessOne) {
  TestDatabase db;
  db.Migrate();
  const std::vector<std::string> tenant = TenantTables(db.admin_url());
  pqxx::connection connection(db.admin_url());
  pqxx::work txn(connection);
  // InsertStagedJobs reads the transaction-local table this one creates.
  txn.exec(store::sql::kCreateIncomingLeads);
  txn.exec("SET LOCAL plan_cache_mode = force_generic_plan");
  int on_tenant_tables = 0;
  std::set<std::string> cross_business;
  for (const store::sql::NamedQuery& query : store::sql::kAllQueries) {
    const std::string name = query.name;
    const absl::string_view sql = query.sql;
    if (absl::StartsWith(sql, "CREATE")) continue;  // DDL: nothing to plan
    connection.prepare(name, query.sql);
    connection.prepare_now(name);
    const int parameters = txn.exec_params1(
                                  "SELECT cardinality(parameter_types) AS n"
                                  " FROM pg_prepared_statements WHERE name = $1",
                                  name)["n"]
                               .as<int>();
    const std::vector<std::string> nulls(parameters, "NULL");
    const std::string arguments =
        parameters == 0 ? "" : absl::StrCat("(", absl::StrJoin(nulls, ", "), ")");
    const std::string plan =
        txn.exec1(absl::StrCat("EXPLAIN (FORMAT JSON) EXECUTE \"", name, "\"", arguments))[0]
            .as<std::string>();
    bool touches_tenant = false;
    std::vector<std::string> unpinned;
    for (const pqxx::row& scan : txn.exec_params(R"sql(
SELECT n->>'Node Type' AS node, n->>'Relation Name' AS relation,
       coalesce(n->>'Alias', '') AS alias,
       coalesce(n->>'Index Cond', '') AS index_cond,
       coalesce(n->>'Recheck Cond', '') AS recheck_cond,
       coalesce(n->>'Filter', '') AS filter,
       coalesce(n->>'TID Cond', '') AS tid_cond
  FROM jsonb_path_query($1::jsonb, 'strict $.**') AS n
 WHERE jsonb_typeof(n) = 'object' AND n ? 'Relation Name'
   AND n->>'Node Type' <> 'ModifyTable')sql",
                                                 plan)) {
      const std::string relation = scan["relation"].as<std::string>();
      if (std::find(tenant.begin(), tenant.end(), relation) == tenant.end()) continue;
      touches_tenant = true;
      if (!PinsTheBusiness(
              {scan["index_cond"].as<std::string>(), scan["recheck_cond"].as<std::string>(),
               scan["filter"].as<std::string>(), scan["tid_cond"].as<std::string>()})) {
        unpinned.push_back(absl::StrCat(scan["node"].as<std::string>(), " on ", relation, " ",
                                        scan["alias"].as<std::string>()));
      }
    }
    // Writes carry the business in their rows; a write that reads a tenant
    // table is checked on its scans above.
    const bool names_tenant = std::any_of(tenant.begin(), tenant.end(), [&](const std::string& t) {
      return absl::StrContains(sql, t);
    });
    if (!touches_tenant && names_tenant) {
      EXPECT_TRUE(absl::StartsWith(sql, "INSERT"))
          << name << " names a tenant table, but its plan scans none:\n"
          << plan;
      touches_tenant = true;
    }
    if (touches_tenant) ++on_tenant_tables;
    if (!unpinned.empty()) cross_business.insert(name);
    if (kCrossBusinessQueries.count(name) == 0) {
      EXPECT_TRUE(unpinned.empty())
          << name << " reads a tenant table without naming the business ("
          << absl::StrJoin(unpinned, "; ") << "): add `business_id = $n` where the caller "
          << "knows the business, or list it in kCrossBusinessQueries with the reason:\n"
          << query.sql << "\n"
          << plan;
    }
  }
  // The allow-list holds nothing stale, and the check sees what it should.
  EXPECT_EQ(cross_business, kCrossBusinessQueries);
  EXPECT_GT(on_tenant_tables, 30);
}

// The condition reader on the shapes EXPLAIN prints.
TEST(QueryRoutingTest, ABusinessUnderAnOrDoesNotPinIt) {
  EXPECT_TRUE(PinsTheBusiness({"((business_id = $2) AND (id = $1))"}));
  EXPECT_TRUE(PinsTheBusiness({"(id = $1)", "(j.business_id = r.business_id)"}));
  EXPECT_TRUE(PinsTheBusiness({"((status)::text = 'queued'::text) AND (r.business_id = $2)"}));
  EXPECT_FALSE(PinsTheBusiness({"((($1)::bigint IS NULL) OR (business_id = $1))"}));
  EXPECT_FALSE(PinsTheBusiness({"(id = $1)", ""}));
  EXPECT_FALSE(PinsTheBusiness({"(business_id = NULL::bigint)"}));
  EXPECT_FALSE(PinsTheBusiness({"(business_id <> $1)"}));
}

}  // namespace
}  // namespace campaign
