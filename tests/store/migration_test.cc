// store::Migrate and `campaignd migrate`: fresh databases, re-runs, edited
// migrations, concurrent replicas, legacy databases upgraded in place, and
// databases stopped at an intermediate version.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <latch>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/embedded_migrations.h"
#include "server/store/lease_store.h"
#include "server/store/migrator.h"
#include "server/store/run_store.h"
#include "server/util/crypto.h"
#include "tests/support/legacy_schema.h"
#include "tests/support/test_database.h"
#include "tests/support/test_server.h"

namespace campaign {
namespace {

// The versions of the files in migrations/, in order; add every new one.
const std::vector<int> kVersions = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
// The newest version.
constexpr int kLatestVersion = 15;
// How many migrations there are.
const int kMigrationCount = static_cast<int>(kVersions.size());

// campaign::Run under a name that gtest's Test::Run does not hide in tests.
using RunRecord = ::campaign::Run;

using store::EmbeddedMigrations;
using store::MigrationFile;
using store::MigrationReport;
using testing::TestDatabase;

// Success when `text` contains `part`; the failure shows both.
::testing::AssertionResult Contains(absl::string_view text, absl::string_view part) {
  if (absl::StrContains(text, part)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// The text of a one-value query (NULL as "<null>").
std::string QueryText(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction txn(connection);
  pqxx::row row = txn.exec1(sql);
  return row[0].is_null() ? "<null>" : row[0].as<std::string>();
}

// Runs SQL on `url` outside a transaction block.
void Exec(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction txn(connection);
  txn.exec(sql);
}

// Everything that makes up the schema of the public namespace, one sorted
// line per column, index, constraint, policy, table RLS setting, function and
// trigger, so two databases can be compared for having converged to the same
// schema.
std::string SchemaDump(const TestDatabase& db) {
  return QueryText(db.admin_url(), R"sql(
SELECT string_agg(line, E'\n' ORDER BY line) FROM (
  SELECT format('column %s.%s #%s %s(%s) null=%s default=%s', table_name, column_name,
                ordinal_position, data_type, character_maximum_length, is_nullable,
                column_default) AS line
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL
  SELECT format('index %s %s', indexname, indexdef)
    FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL
  SELECT format('constraint %s %s %s %s validated=%s', conrelid::regclass, conname, contype,
                pg_get_constraintdef(oid), convalidated)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT format('policy %s %s %s %s %s', tablename, policyname, cmd, qual, with_check)
    FROM pg_policies WHERE schemaname = 'public'
  UNION ALL
  SELECT format('table %s rls=%s force=%s', relname, relrowsecurity, relforcerowsecurity)
    FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
  UNION ALL
  SELECT format('function %s', pg_get_functiondef(oid))
    FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prokind IN ('f', 'p')
  UNION ALL
  SELECT format('trigger %s %s', tgrelid::regclass, pg_get_triggerdef(oid))
    FROM pg_trigger WHERE NOT tgisinternal
) lines)sql");
}

// The first `count` embedded migrations.
std::vector<MigrationFile> FirstMigrations(size_t count) {
  const std::vector<MigrationFile>& all = EmbeddedMigrations();
  return std::vector<MigrationFile>(all.begin(), all.begin() + std::min(count, all.size()));
}

// Names of the embedded migrations from index `from` on.
std::vector<std::string> NamesFrom(size_t from) {
  std::vector<std::string> names;
  const std::vector<MigrationFile>& all = EmbeddedMigrations();
  for (size_t i = from; i < all.size(); ++i) names.push_back(all[i].name);
  return names;
}

// The ledger as "version:name:checksum" lines in version order.
std::string Ledger(const TestDatabase& db) {
  return QueryText(db.admin_url(),
                   "SELECT coalesce(string_agg(format('%s:%s:%s', version, name, checksum), "
                   "E'\\n' ORDER BY version), '') FROM schema_migrations");
}

// What the ledger must hold once every embedded migration is applied.
std::string ExpectedLedger() {
  std::vector<std::string> lines;
  for (const MigrationFile& file : EmbeddedMigrations()) {
    lines.push_back(absl::StrCat(file.version, ":", file.name, ":", Sha256Hex(file.sql)));
  }
  return absl::StrJoin(lines, "\n");
}

// A fresh, empty database per test (not migrated).
class MigrationTest : public ::testing::Test {
 protected:
  TestDatabase db_;
};

TEST_F(MigrationTest, TheBuildEmbedsEveryMigrationInOrder) {
  const std::vector<MigrationFile>& files = EmbeddedMigrations();
  ASSERT_EQ(files.size(), kVersions.size());
  EXPECT_EQ(kVersions.back(), kLatestVersion);
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i].version, kVersions[i]);
    EXPECT_TRUE(absl::StartsWith(files[i].name, absl::StrFormat("%04d_", kVersions[i])))
        << files[i].name;
    EXPECT_GT(std::string(files[i].sql).size(), 0u);
  }
}

TEST_F(MigrationTest, FreshDatabaseGetsEveryMigrationOnceAndReapplyingIsANoOp) {
  absl::StatusOr<MigrationReport> first = store::Migrate(db_.app_url(), EmbeddedMigrations());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->applied, NamesFrom(0));
  EXPECT_EQ(first->current_version, kLatestVersion);
  EXPECT_EQ(Ledger(db_), ExpectedLedger());
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM schema_migrations"), kMigrationCount);
  for (const char* table : {"business", "outbound_call_runs", "outbound_call_jobs", "api_keys"}) {
    EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM pg_tables WHERE schemaname = "
                                        "'public' AND tablename = '",
                                        table, "'")),
              1)
        << table;
  }
  const std::string schema = SchemaDump(db_);
  const std::string applied_at =
      QueryText(db_.admin_url(),
                "SELECT string_agg(applied_at::text, ',' ORDER BY version) FROM schema_migrations");

  absl::StatusOr<MigrationReport> second = store::Migrate(db_.app_url(), EmbeddedMigrations());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->applied.empty());
  EXPECT_EQ(second->current_version, kLatestVersion);
  EXPECT_EQ(SchemaDump(db_), schema);
  EXPECT_EQ(Ledger(db_), ExpectedLedger());
  EXPECT_EQ(
      QueryText(db_.admin_url(),
                "SELECT string_agg(applied_at::text, ',' ORDER BY version) FROM schema_migrations"),
      applied_at);

  // The binary agrees: nothing left to do, exit 0.
  testing::ProcessResult again =
      testing::RunCampaignd({"migrate", "--database-url", db_.app_url()});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(SchemaDump(db_), schema);
}

// An applied migration whose file changed is refused by name, and nothing
// after it is applied; with the original checksum back, migration resumes.
TEST_F(MigrationTest, EditedAppliedMigrationIsRefusedByName) {
  ASSERT_TRUE(store::Migrate(db_.app_url(), FirstMigrations(3)).ok());
  const MigrationFile& edited = EmbeddedMigrations()[1];
  db_.ExecAsAdmin(
      absl::StrCat("UPDATE schema_migrations SET checksum = repeat('0', 64)"
                   " WHERE version = ",
                   edited.version));

  absl::StatusOr<MigrationReport> refused = store::Migrate(db_.app_url(), EmbeddedMigrations());
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_TRUE(Contains(refused.status().message(), edited.name));
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM schema_migrations"), 3);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM pg_tables WHERE tablename = 'api_keys'"), 0);

  testing::ProcessResult process =
      testing::RunCampaignd({"migrate", "--database-url", db_.app_url()});
  EXPECT_NE(process.exit_code, 0);
  EXPECT_TRUE(Contains(process.err, edited.name));
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM schema_migrations"), 3);

  db_.ExecAsAdmin(absl::StrCat("UPDATE schema_migrations SET checksum = '", Sha256Hex(edited.sql),
                               "' WHERE version = ", edited.version));
  absl::StatusOr<MigrationReport> resumed = store::Migrate(db_.app_url(), EmbeddedMigrations());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->applied, NamesFrom(3));
  EXPECT_EQ(Ledger(db_), ExpectedLedger());
}

// Four replicas migrating one empty database at the same moment: all succeed,
// each migration is applied and recorded exactly once, and the schema is the
// one a single migration produces.
TEST_F(MigrationTest, ConcurrentCampaigndMigrateProcessesConverge) {
  constexpr int kProcesses = 4;
  std::latch start(kProcesses);
  std::vector<testing::ProcessResult> results(kProcesses);
  std::vector<std::thread> threads;
  for (int i = 0; i < kProcesses; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = testing::RunCampaignd({"migrate", "--database-url", db_.app_url()});
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kProcesses; ++i) {
    EXPECT_EQ(results[i].exit_code, 0) << "process " << i << ": " << results[i].err;
  }
  EXPECT_EQ(Ledger(db_), ExpectedLedger());
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM schema_migrations"), kMigrationCount);

  TestDatabase reference;
  reference.Migrate();
  EXPECT_EQ(SchemaDump(db_), SchemaDump(reference));
}

// A database stopped at any earlier version (holding a row written at that
// version) converges to exactly the schema of a fresh full migration.
TEST_F(MigrationTest, EveryIntermediateVersionConvergesToTheFreshSchema) {
  db_.Migrate();
  const std::string fresh = SchemaDump(db_);
  for (size_t version = 1; version < EmbeddedMigrations().size(); ++version) {
    SCOPED_TRACE(absl::StrCat("stopped at version ", version));
    TestDatabase partial;
    absl::StatusOr<MigrationReport> first =
        store::Migrate(partial.app_url(), FirstMigrations(version));
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->applied.size(), version);
    EXPECT_EQ(first->current_version, static_cast<int>(version));
    // Data written while the database was at this version.
    // (Jobs carry business_id from 0003 on.)
    const bool jobs_have_business = version >= 3;
    partial.ExecAsAdmin(absl::StrCat(
        "INSERT INTO business (id, name) VALUES (1, 'b');"
        "INSERT INTO outbound_call_runs (id, business_id, total_leads, queued_count)"
        " VALUES (1, 1, 1, 1);"
        "INSERT INTO outbound_call_jobs (id, run_id, lead_id",
        jobs_have_business ? ", business_id) VALUES (1, 1, 7, 1)" : ") VALUES (1, 1, 7)"));

    absl::StatusOr<MigrationReport> rest = store::Migrate(partial.app_url(), EmbeddedMigrations());
    ASSERT_TRUE(rest.ok()) << rest.status();
    EXPECT_EQ(rest->applied, NamesFrom(version));
    EXPECT_EQ(rest->current_version, kLatestVersion);
    EXPECT_EQ(Ledger(partial), ExpectedLedger());
    EXPECT_EQ(SchemaDump(partial), fresh);
    EXPECT_EQ(partial.QueryInt("SELECT business_id FROM outbound_call_jobs WHERE id = 1"), 1);
    EXPECT_EQ(partial.QueryInt("SELECT total_leads FROM outbound_call_runs WHERE id = 1"), 1);
  }
}

using testing::kLegacySchemaSql;

// The data the original code left behind (on the tables of
// tests/support/legacy_schema.h, created by hand as the service's role):
// duplicate (run, lead) jobs, a job of a deleted run, cancelled jobs counted
// as failed, drifted counters and the provider's id in twilio_call_sid only.

constexpr char kLegacyDataSql[] = R"sql(
INSERT INTO business (id, name) VALUES (10, 'Acme'), (20, 'Globex');
SELECT setval('business_id_seq', 20);

INSERT INTO outbound_call_runs
  (id, business_id, outbound_list_id, concurrency, total_leads, queued_count,
   in_progress_count, completed_count, failed_count, status, cancel_requested,
   last_error, created_at, updated_at, completed_at)
VALUES
  (100, 10, 5, 4, 7, 2, 1, 1, 3, 'running', false, NULL,
   '2023-01-02 03:04:05+00', '2023-01-02 04:00:00+00', NULL),
  (101, 10, 6, 3, 1, 0, 0, 0, 1, 'stopped', true, 'stopped by user',
   '2023-01-05 00:00:00+00', '2023-02-01 00:00:00+00', '2023-02-01 00:00:00+00'),
  (200, 20, 7, 2, 2, 2, 0, 0, 0, 'pending', false, NULL,
   '2023-03-01 00:00:00+00', '2023-03-01 00:00:00+00', NULL);
SELECT setval('outbound_call_runs_id_seq', 200);

INSERT INTO outbound_call_jobs
  (id, run_id, lead_id, call_log_id, project_id, status, error_message, call_sid,
   twilio_call_sid, dial_lock_token, lead_name, created_at, completed_at)
VALUES
  (1, 100, 1, NULL, 3, 'completed', NULL, 'CA-done', 'CA-done', NULL, 'Ann',
   '2023-01-02 03:04:05+00', '2023-01-02 03:10:00+00'),
  (2, 100, 2, NULL, 3, 'queued', NULL, NULL, NULL, NULL, 'Ben', '2023-01-02 03:04:05+00', NULL),
  (3, 100, 2, NULL, 3, 'failed', 'duplicate', NULL, NULL, NULL, 'Ben again',
   '2023-01-02 03:04:06+00', NULL),
  (4, 100, 3, NULL, 3, 'cancelled', 'Stopped', NULL, NULL, NULL, 'Cid',
   '2023-01-02 03:04:05+00', '2023-01-02 03:20:00+00'),
  (5, 100, 4, NULL, 3, 'calling', NULL, NULL, 'CA123', 'tok-5', 'Dee',
   '2023-01-02 03:04:05+00', NULL),
  (6, 100, 1, NULL, 3, 'queued', NULL, NULL, NULL, NULL, 'Ann again',
   '2023-01-02 03:04:07+00', NULL),
  (7, 100, 5, NULL, 3, 'failed', 'busy line', NULL, NULL, NULL, 'Eve',
   '2023-01-02 03:04:05+00', '2023-01-02 03:30:00+00'),
  (8, 101, 1, NULL, NULL, 'cancelled', 'Stopped', NULL, NULL, NULL, NULL,
   '2023-01-05 00:00:00+00', '2023-02-01 00:00:00+00'),
  (9, 200, 1, 55, 77, 'queued', NULL, NULL, NULL, NULL, 'Zoë', '2023-03-01 00:00:00+00', NULL),
  (10, 200, 2, NULL, 77, 'queued', NULL, NULL, NULL, NULL, 'Bob', '2023-03-01 00:00:00+00', NULL),
  (11, 999, 1, NULL, NULL, 'queued', NULL, NULL, NULL, NULL, 'Orphan',
   '2023-03-01 00:00:00+00', NULL);
SELECT setval('outbound_call_jobs_id_seq', 11);
)sql";

// A legacy database upgraded in place, checked column by column.
TEST_F(MigrationTest, LegacyDatabaseIsUpgradedInPlace) {
  Exec(db_.app_url(), kLegacySchemaSql);
  Exec(db_.app_url(), kLegacyDataSql);

  absl::StatusOr<MigrationReport> report = store::Migrate(db_.app_url(), EmbeddedMigrations());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->applied, NamesFrom(0));
  auto admin_int = [&](const std::string& sql) { return db_.QueryInt(sql); };
  auto admin_text = [&](const std::string& sql) { return QueryText(db_.admin_url(), sql); };

  // Duplicates gone: the lowest id kept unless only a later one was dialed
  // (lead 2: the failed job 3 was dialed, the queued job 2 not); the orphan
  // job is gone too.
  EXPECT_EQ(admin_text("SELECT string_agg(id::text, ',' ORDER BY id) FROM outbound_call_jobs"),
            "1,3,4,5,7,8,9,10");
  EXPECT_EQ(
      admin_text("SELECT lead_name FROM outbound_call_jobs WHERE run_id = 100 AND lead_id = 1"),
      "Ann");
  EXPECT_EQ(
      admin_text("SELECT lead_name FROM outbound_call_jobs WHERE run_id = 100 AND lead_id = 2"),
      "Ben again");

  // At most one job per lead per run: the legacy name unique_run_lead, with
  // the business leading its columns since 0010 (distribution-ready keys).
  EXPECT_EQ(admin_text("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                       " WHERE conrelid = 'outbound_call_jobs'::regclass"
                       " AND conname = 'unique_run_lead' AND contype = 'u'"),
            "UNIQUE (business_id, run_id, lead_id)");
  EXPECT_THROW(db_.ExecAsAdmin("INSERT INTO outbound_call_jobs (run_id, business_id, lead_id)"
                               " VALUES (100, 10, 3)"),
               pqxx::unique_violation);

  // business_id from the parent run, NOT NULL, and an index. Every job's
  // business is its run's and exists: the validated key (business_id, run_id)
  // -> the run's (business_id, id), and the run's validated key to business
  // (the jobs' own key to business, implied by the two, is gone since 0011).
  EXPECT_EQ(admin_text("SELECT string_agg(id || ':' || business_id, ',' ORDER BY id)"
                       " FROM outbound_call_jobs"),
            "1:10,3:10,4:10,5:10,7:10,8:10,9:20,10:20");
  EXPECT_EQ(admin_text("SELECT is_nullable FROM information_schema.columns"
                       " WHERE table_name = 'outbound_call_jobs' AND column_name = 'business_id'"),
            "NO");
  EXPECT_EQ(admin_text("SELECT string_agg(format('%s %s %s', conrelid::regclass, "
                       "pg_get_constraintdef(oid), convalidated), E'\\n' ORDER BY conname)"
                       " FROM pg_constraint WHERE contype = 'f'"
                       " AND conrelid IN ('outbound_call_jobs'::regclass,"
                       " 'outbound_call_runs'::regclass)"),
            "outbound_call_jobs FOREIGN KEY (business_id, run_id) REFERENCES "
            "outbound_call_runs(business_id, id) ON DELETE CASCADE t\n"
            "outbound_call_runs FOREIGN KEY (business_id) REFERENCES business(id) t");
  EXPECT_EQ(admin_int("SELECT count(*) FROM outbound_call_jobs j LEFT JOIN outbound_call_runs r"
                      " ON r.id = j.run_id AND r.business_id = j.business_id"
                      " LEFT JOIN business b ON b.id = r.business_id WHERE b.id IS NULL"),
            0);
  EXPECT_GE(admin_int("SELECT count(*) FROM pg_index i"
                      " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                      " WHERE i.indrelid = 'outbound_call_jobs'::regclass"
                      " AND a.attname = 'business_id'"),
            1);
  EXPECT_THROW(db_.ExecAsAdmin("INSERT INTO outbound_call_jobs (run_id, business_id, lead_id)"
                               " VALUES (100, 30, 99)"),
               pqxx::foreign_key_violation);
  // A business with runs (and so with jobs) cannot be deleted.
  EXPECT_THROW(db_.ExecAsAdmin("DELETE FROM business WHERE id = 20"), pqxx::foreign_key_violation);

  // The new run columns, with their defaults.
  for (const char* column :
       {"created_by_user_id", "started_at", "ended_at", "cursor_position", "locked_by_worker",
        "lock_ts", "cancelled_count", "lease_epoch", "request_id", "version"}) {
    EXPECT_EQ(admin_int(absl::StrCat("SELECT count(*) FROM information_schema.columns"
                                     " WHERE table_name = 'outbound_call_runs'"
                                     " AND column_name = '",
                                     column, "'")),
              1)
        << column;
  }
  EXPECT_EQ(
      admin_text("SELECT column_default FROM information_schema.columns"
                 " WHERE table_name = 'outbound_call_runs' AND column_name = 'cursor_position'"),
      "0");
  EXPECT_EQ(
      admin_text("SELECT character_maximum_length FROM information_schema.columns"
                 " WHERE table_name = 'outbound_call_runs' AND column_name = 'locked_by_worker'"),
      "128");
  EXPECT_EQ(admin_int("SELECT count(*) FROM outbound_call_runs WHERE created_by_user_id IS NULL"
                      " AND started_at IS NULL AND locked_by_worker IS NULL AND lock_ts IS NULL"
                      " AND lease_epoch = 0 AND request_id IS NULL"),
            3);

  // Counters recomputed from the jobs: cancelled apart from failed, the sum
  // equal to the total, the cursor past every job no longer queued or active.
  const std::string counters =
      "SELECT format('total=%s queued=%s in_progress=%s completed=%s failed=%s cancelled=%s"
      " cursor=%s', total_leads, queued_count, in_progress_count, completed_count,"
      " failed_count, cancelled_count, cursor_position) FROM outbound_call_runs WHERE id = ";
  EXPECT_EQ(admin_text(counters + "100"),
            "total=5 queued=0 in_progress=1 completed=1 failed=2 cancelled=1 cursor=4");
  EXPECT_EQ(admin_text(counters + "101"),
            "total=1 queued=0 in_progress=0 completed=0 failed=0 cancelled=1 cursor=1");
  EXPECT_EQ(admin_text(counters + "200"),
            "total=2 queued=2 in_progress=0 completed=0 failed=0 cancelled=0 cursor=0");
  EXPECT_EQ(admin_int("SELECT count(*) FROM outbound_call_runs WHERE queued_count"
                      " + in_progress_count + completed_count + failed_count + cancelled_count"
                      " <> total_leads"),
            0);

  // call_sid backfilled from twilio_call_sid; existing call_sids kept.
  EXPECT_EQ(admin_text("SELECT call_sid FROM outbound_call_jobs WHERE id = 5"), "CA123");
  EXPECT_EQ(admin_text("SELECT call_sid FROM outbound_call_jobs WHERE id = 1"), "CA-done");
  EXPECT_EQ(admin_text("SELECT call_sid FROM outbound_call_jobs WHERE id = 3"), "<null>");

  // The original end time carried over.
  EXPECT_EQ(admin_int("SELECT count(*) FROM outbound_call_runs WHERE id = 101"
                      " AND ended_at = '2023-02-01 00:00:00+00'"),
            1);
  EXPECT_EQ(admin_int("SELECT count(*) FROM outbound_call_runs WHERE ended_at IS NOT NULL"), 1);

  // Everything else intact.
  EXPECT_EQ(admin_text("SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM business"),
            "10:Acme,20:Globex");
  EXPECT_EQ(admin_text("SELECT string_agg(format('%s:%s:%s:%s:%s:%s:%s', id, business_id,"
                       " outbound_list_id, concurrency, status, cancel_requested,"
                       " coalesce(last_error, '-')), ',' ORDER BY id) FROM outbound_call_runs"),
            "100:10:5:4:running:f:-,101:10:6:3:stopped:t:stopped by user,"
            "200:20:7:2:pending:f:-");
  EXPECT_EQ(admin_int("SELECT count(*) FROM outbound_call_runs WHERE id = 100"
                      " AND created_at = '2023-01-02 03:04:05+00'"
                      " AND updated_at = '2023-01-02 04:00:00+00'"),
            1);
  EXPECT_EQ(admin_text("SELECT format('%s|%s|%s|%s|%s', lead_name, project_id, call_log_id,"
                       " status, created_at = '2023-03-01 00:00:00+00') FROM outbound_call_jobs"
                       " WHERE id = 9"),
            "Zoë|77|55|queued|t");
  EXPECT_EQ(admin_text("SELECT format('%s|%s|%s', coalesce(error_message, '<null>'), status,"
                       " dial_lock_token)"
                       " FROM outbound_call_jobs WHERE id = 5"),
            "<null>|calling|tok-5");
  EXPECT_EQ(admin_text("SELECT format('%s|%s', error_message, status) FROM outbound_call_jobs"
                       " WHERE id = 7"),
            "busy line|failed");
  EXPECT_EQ(admin_text("SELECT format('%s|%s', status, error_message) FROM outbound_call_jobs"
                       " WHERE id = 4"),
            "cancelled|Stopped");

  // Re-running is a no-op.
  const std::string schema = SchemaDump(db_);
  const std::string data = admin_text(
      "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM ("
      " SELECT r::text AS t FROM outbound_call_runs r UNION ALL"
      " SELECT j::text FROM outbound_call_jobs j UNION ALL SELECT b::text FROM business b) s");
  absl::StatusOr<MigrationReport> again = store::Migrate(db_.app_url(), EmbeddedMigrations());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(SchemaDump(db_), schema);
  EXPECT_EQ(
      admin_text(
          "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM ("
          " SELECT r::text AS t FROM outbound_call_runs r UNION ALL"
          " SELECT j::text FROM outbound_call_jobs j UNION ALL SELECT b::text FROM business b) s"),
      data);

  // The service works on the upgraded data: the legacy run stops cleanly.
  store::Database database(db_.app_url(), store::PoolOptions{.size = 2});
  store::RunStore runs(&database, absl::Seconds(30));
  absl::StatusOr<store::ChangedRun> stopped = runs.ApplyAction(10, 100, RunAction::kStop);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->cancelled_jobs, 0);
  EXPECT_EQ(stopped->run.status, RunStatus::kStopped);
  EXPECT_EQ(stopped->run.queued_count, 0);
  EXPECT_EQ(stopped->run.cancelled_count, 1);
  EXPECT_EQ(stopped->run.cursor_position, 4);
  absl::StatusOr<RunRecord> foreign = runs.GetRun(20, 100);
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kNotFound) << foreign.status();
  // New ids continue after the legacy ones.
  NewRun fresh;
  fresh.business_id = 20;
  fresh.request_id = "after-upgrade";
  fresh.request_digest = "d";
  fresh.concurrency = 1;
  fresh.leads = {Lead{1, "+14155550001", "New"}};
  absl::StatusOr<store::CreatedRun> created = runs.CreateRun(fresh);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_GT(created->run.id, 200);
  EXPECT_EQ(created->run.total_leads, 1);
}

// A legacy run of a business the CRM deleted keeps the run's key to business
// NOT VALID (0002); there 0011 keeps the jobs' own key to business, so no new
// job of an unknown business is accepted for such a run either.
TEST_F(MigrationTest, JobsKeepTheirBusinessKeyWhileARunNamesAnUnknownBusiness) {
  Exec(db_.app_url(), kLegacySchemaSql);
  Exec(db_.app_url(),
       "INSERT INTO business (id, name) VALUES (10, 'Acme');"
       "INSERT INTO outbound_call_runs (id, business_id, concurrency, status) VALUES"
       "  (100, 10, 1, 'pending'), (300, 30, 1, 'pending');");
  absl::StatusOr<MigrationReport> report = store::Migrate(db_.app_url(), EmbeddedMigrations());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(QueryText(db_.admin_url(),
                      "SELECT string_agg(conname || '=' || convalidated, ',' ORDER BY conname)"
                      " FROM pg_constraint WHERE contype = 'f'"
                      " AND conrelid IN ('outbound_call_jobs'::regclass,"
                      " 'outbound_call_runs'::regclass)"),
            "outbound_call_jobs_business_id_fkey=true,outbound_call_jobs_run_fkey=true,"
            "outbound_call_runs_business_id_fkey=false");
  EXPECT_THROW(db_.ExecAsAdmin("INSERT INTO outbound_call_jobs (run_id, business_id, lead_id)"
                               " VALUES (300, 30, 1)"),
               pqxx::foreign_key_violation);
  db_.ExecAsAdmin("INSERT INTO outbound_call_jobs (run_id, business_id, lead_id) VALUES (100, 10, 1)");
}

// Legacy rows the checks of 0003 refuse (added NOT VALID): runs with a
// status the service does not know or a concurrency of 0, a job with an
// unknown status, and jobs dialing or calling without a dial lock token.
constexpr char kLegacyBadRowsSql[] = R"sql(
INSERT INTO business (id, name) VALUES (1, 'Old');
INSERT INTO outbound_call_runs (id, business_id, concurrency, total_leads, status) VALUES
  (1, 1, 3, 2, 'in_progress'), (2, 1, 0, 1, 'pending'), (3, 1, 0, 1, 'completed'),
  (4, 1, 2, 4, 'running');
INSERT INTO outbound_call_jobs (id, run_id, lead_id, status, twilio_call_sid) VALUES
  (1, 1, 1, 'completed', NULL), (2, 1, 2, 'queued', NULL), (3, 2, 1, 'queued', NULL),
  (4, 3, 1, 'completed', NULL), (5, 4, 1, 'queued', NULL), (6, 4, 2, 'done', NULL),
  (7, 4, 3, 'dialing', NULL), (8, 4, 4, 'calling', 'CA-legacy-8');
)sql";

// The run ids LeaseStore::Acquire leases to `worker` now (sorted).
absl::StatusOr<std::vector<int64_t>> AcquireAll(const std::string& url, const std::string& worker) {
  store::Database database(url, store::PoolOptions{.size = 1});
  store::LeaseStore leases(&database, absl::Seconds(30));
  absl::StatusOr<std::vector<store::AcquiredRun>> acquired =
      leases.Acquire(worker, 10, store::AcquireMode::kFree);
  if (!acquired.ok()) return acquired.status();
  std::vector<int64_t> ids;
  for (const store::AcquiredRun& run : *acquired) ids.push_back(run.lease.run_id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Issue item 2: one legacy pending run with concurrency 0 made the batch
// UPDATE of every acquisition fail (check_violation): no worker acquired any
// run. Acquisition leaves such a row alone and leases the others, even on a
// database that has not run 0007 yet.
TEST_F(MigrationTest, AcquisitionSkipsLegacyRowsTheChecksRefuse) {
  Exec(db_.app_url(), kLegacySchemaSql);
  Exec(db_.app_url(), kLegacyBadRowsSql);
  ASSERT_TRUE(store::Migrate(db_.app_url(), FirstMigrations(6)).ok());
  // This build's acquisition reads the run columns 0013 adds (call settings,
  // hang_up_on_end); they are added alone (0013 depends on nothing after
  // 0006), so the rows 0007 would finalise are still there.
  for (const MigrationFile& file : EmbeddedMigrations()) {
    if (file.version == 13) Exec(db_.app_url(), std::string(file.sql));
  }
  // And the run schedule columns of 0015 (0015 itself validates the job
  // status check, which the legacy rows here would fail).
  Exec(db_.app_url(),
       "ALTER TABLE outbound_call_runs ADD COLUMN start_at timestamptz,"
       " ADD COLUMN next_dial_at timestamptz, ADD COLUMN waiting_reason text");
  absl::StatusOr<std::vector<int64_t>> acquired = AcquireAll(db_.app_url(), "w1");
  ASSERT_TRUE(acquired.ok()) << acquired.status();
  EXPECT_EQ(*acquired, (std::vector<int64_t>{4}));
  EXPECT_EQ(QueryText(db_.admin_url(), "SELECT status FROM outbound_call_runs WHERE id = 2"),
            "pending");
}

// 0007 finalises every legacy row the checks refuse (failed, with the reason
// in last_error, queued jobs cancelled, counters recounted), gives tokenless
// active jobs a token, and validates the checks: nothing is left that a
// later update could trip over. StopRun and acquisition then work.
TEST_F(MigrationTest, LegacyRowsTheChecksRefuseAreFinalisedAndTheChecksValidated) {
  Exec(db_.app_url(), kLegacySchemaSql);
  Exec(db_.app_url(), kLegacyBadRowsSql);

  absl::StatusOr<MigrationReport> report = store::Migrate(db_.app_url(), EmbeddedMigrations());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->current_version, kLatestVersion);
  auto text = [&](const std::string& sql) { return QueryText(db_.admin_url(), sql); };
  EXPECT_EQ(text("SELECT string_agg(format('%s:%s:%s:total=%s:queued=%s:in_progress=%s:"
                 "completed=%s:failed=%s:cancelled=%s:cursor=%s', id, status, concurrency,"
                 " total_leads, queued_count, in_progress_count, completed_count, failed_count,"
                 " cancelled_count, cursor_position), ',' ORDER BY id) FROM outbound_call_runs"),
            "1:failed:3:total=2:queued=0:in_progress=0:completed=1:failed=0:cancelled=1:cursor=2,"
            "2:failed:1:total=1:queued=0:in_progress=0:completed=0:failed=0:cancelled=1:cursor=1,"
            "3:completed:1:total=1:queued=0:in_progress=0:completed=1:failed=0:cancelled=0:"
            "cursor=1,"
            "4:running:2:total=4:queued=1:in_progress=2:completed=0:failed=1:cancelled=0:"
            "cursor=1");
  EXPECT_TRUE(Contains(text("SELECT last_error FROM outbound_call_runs WHERE id = 1"),
                       "unknown legacy run status \"in_progress\""));
  EXPECT_TRUE(Contains(text("SELECT last_error FROM outbound_call_runs WHERE id = 2"),
                       "concurrency 0 is not valid"));
  EXPECT_EQ(text("SELECT count(*) FROM outbound_call_runs WHERE id IN (1, 2)"
                 " AND ended_at IS NOT NULL"),
            "2");
  EXPECT_EQ(text("SELECT count(*) FROM outbound_call_runs WHERE id IN (3, 4)"
                 " AND last_error IS NULL"),
            "2");
  EXPECT_EQ(text("SELECT string_agg(format('%s:%s', id, status), ',' ORDER BY id)"
                 " FROM outbound_call_jobs"),
            "1:completed,2:cancelled,3:cancelled,4:completed,5:queued,6:failed,7:dialing,"
            "8:calling");
  EXPECT_TRUE(Contains(text("SELECT error_message FROM outbound_call_jobs WHERE id = 2"),
                       "Run failed: upgrade: unknown legacy run status"));
  EXPECT_TRUE(Contains(text("SELECT error_message FROM outbound_call_jobs WHERE id = 6"),
                       "unknown legacy job status \"done\""));
  EXPECT_EQ(text("SELECT count(*) FROM outbound_call_jobs WHERE id IN (7, 8)"
                 " AND dial_lock_token LIKE 'legacy-%'"),
            "2");
  EXPECT_EQ(text("SELECT count(*) FROM outbound_call_jobs WHERE status IN ('dialing', 'calling')"
                 " AND dial_lock_token IS NULL"),
            "0");
  // Every check validated.
  EXPECT_EQ(text("SELECT string_agg(conname || '=' || convalidated, ',' ORDER BY conname)"
                 " FROM pg_constraint WHERE contype = 'c' AND conname IN"
                 " ('outbound_call_runs_status_check', 'outbound_call_runs_numbers_check',"
                 "  'outbound_call_jobs_status_check')"),
            "outbound_call_jobs_status_check=true,outbound_call_runs_numbers_check=true,"
            "outbound_call_runs_status_check=true");
  EXPECT_THROW(db_.ExecAsAdmin("INSERT INTO outbound_call_runs (business_id, status)"
                               " VALUES (1, 'in_progress')"),
               pqxx::check_violation);

  // Stop on the finalised run (it failed with a check violation before) is
  // the no-op of a finished run.
  {
    store::Database database(db_.app_url(), store::PoolOptions{.size = 2});
    store::RunStore runs(&database, absl::Seconds(30));
    absl::StatusOr<store::ChangedRun> stopped = runs.ApplyAction(1, 2, RunAction::kStop);
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    EXPECT_EQ(stopped->run.status, RunStatus::kFailed);
    EXPECT_EQ(stopped->cancelled_jobs, 0);
  }
  // Every run still needing a worker is acquired (run 4 to dial and
  // reconcile), without an error.
  absl::StatusOr<std::vector<int64_t>> acquired = AcquireAll(db_.app_url(), "w1");
  ASSERT_TRUE(acquired.ok()) << acquired.status();
  EXPECT_EQ(*acquired, (std::vector<int64_t>{4}));
  {
    store::Database database(db_.app_url(), store::PoolOptions{.size = 2});
    store::RunStore runs(&database, absl::Seconds(30));
    absl::StatusOr<store::ChangedRun> stopped = runs.ApplyAction(1, 4, RunAction::kStop);
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    EXPECT_EQ(stopped->cancelled_jobs, 1);
  }
}

// Issue item 9: a duplicate (run, lead) whose later row was dialed keeps the
// dialed row (the original kept the lowest id, queued again); without a
// dialed row the lowest id is kept as before.
TEST_F(MigrationTest, LegacyDeduplicationKeepsTheDuplicateThatWasDialed) {
  Exec(db_.app_url(), kLegacySchemaSql);
  Exec(db_.app_url(), R"sql(
INSERT INTO business (id, name) VALUES (1, 'Old');
INSERT INTO outbound_call_runs (id, business_id, concurrency, status) VALUES (1, 1, 2, 'running');
INSERT INTO outbound_call_jobs
  (id, run_id, lead_id, status, call_sid, twilio_call_sid, dial_started_at, dial_lock_token)
VALUES
  (1, 1, 7, 'queued', NULL, NULL, NULL, NULL),
  (2, 1, 7, 'completed', 'CA-7', NULL, now(), 'tok-2'),
  (3, 1, 8, 'queued', NULL, NULL, NULL, NULL),
  (4, 1, 8, 'cancelled', NULL, NULL, NULL, NULL),
  (5, 1, 9, 'queued', NULL, NULL, NULL, NULL),
  (6, 1, 9, 'calling', NULL, 'CA-9', now(), 'tok-6'),
  (7, 1, 10, 'failed', NULL, NULL, now(), 'tok-7'),
  (8, 1, 10, 'completed', 'CA-10', NULL, now(), 'tok-8');
)sql");
  absl::StatusOr<MigrationReport> report = store::Migrate(db_.app_url(), EmbeddedMigrations());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(QueryText(db_.admin_url(),
                      "SELECT string_agg(format('%s:%s:%s', id, lead_id, status),"
                      " ',' ORDER BY id) FROM outbound_call_jobs"),
            "2:7:completed,3:8:queued,6:9:calling,7:10:failed");
  EXPECT_EQ(QueryText(db_.admin_url(),
                      "SELECT format('total=%s queued=%s in_progress=%s completed=%s failed=%s',"
                      " total_leads, queued_count, in_progress_count, completed_count,"
                      " failed_count) FROM outbound_call_runs WHERE id = 1"),
            "total=4 queued=1 in_progress=1 completed=1 failed=1");
}

// A database that applied the first text of 0003 (before its deduplication
// refinement) is not refused: the superseded checksum is accepted, kept in
// the ledger, and the later migrations apply. Any other checksum is refused.
TEST_F(MigrationTest, SupersededChecksumOfARefinedMigrationIsAccepted) {
  constexpr char kFirst0003Checksum[] =
      "d9820adb5482df79e73dd065d604f5338759023cbf4fc5c63d6cb90fe9db409c";
  ASSERT_TRUE(store::Migrate(db_.app_url(), FirstMigrations(3)).ok());
  ASSERT_NE(Sha256Hex(EmbeddedMigrations()[2].sql), kFirst0003Checksum);
  db_.ExecAsAdmin(absl::StrCat("UPDATE schema_migrations SET checksum = '", kFirst0003Checksum,
                               "' WHERE version = 3"));
  absl::StatusOr<MigrationReport> report = store::Migrate(db_.app_url(), EmbeddedMigrations());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->applied, NamesFrom(3));
  EXPECT_EQ(report->current_version, kLatestVersion);
  EXPECT_EQ(QueryText(db_.admin_url(), "SELECT checksum FROM schema_migrations WHERE version = 3"),
            kFirst0003Checksum);
  // The binary agrees.
  testing::ProcessResult again =
      testing::RunCampaignd({"migrate", "--database-url", db_.app_url()});
  EXPECT_EQ(again.exit_code, 0) << again.err;

  // A superseded checksum of another migration is not accepted for 0002.
  db_.ExecAsAdmin(absl::StrCat("UPDATE schema_migrations SET checksum = '", kFirst0003Checksum,
                               "' WHERE version = 2"));
  absl::StatusOr<MigrationReport> refused = store::Migrate(db_.app_url(), EmbeddedMigrations());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
}

}  // namespace
}  // namespace campaign
