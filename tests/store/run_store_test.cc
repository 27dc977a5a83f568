// RunStore, ApiKeyStore and the Database pool against a real, migrated
// PostgreSQL database, connected as the service's (row-level-secured) role.

#include "server/store/run_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/service/run_service.h"
#include "server/store/api_key_store.h"
#include "server/store/database.h"
#include "server/store/lease_store.h"
#include "server/util/crypto.h"
#include "tests/support/leads.h"
#include "tests/support/test_database.h"
#include "tests/support/wait.h"

namespace campaign {
namespace {

// campaign::Run under a name that gtest's Test::Run does not hide in tests.
using RunRecord = ::campaign::Run;

using store::ApiKeyStore;
using store::ChangedRun;
using store::CreatedRun;
using store::Database;
using store::PoolOptions;
using store::RunStore;
using store::Tenancy;
using testing::MakeLeads;
using testing::TestDatabase;
using testing::WaitUntil;

// The lease TTL given to RunStore: a lease whose lock_ts is older is expired.
constexpr absl::Duration kLeaseTtl = absl::Seconds(30);

// Success when `text` contains `part`; the failure shows both.
::testing::AssertionResult Contains(absl::string_view text, absl::string_view part) {
  if (absl::StrContains(text, part)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// A validated CreateRun request for `business_id`.
NewRun MakeRun(int64_t business_id, const std::string& request_id, std::vector<Lead> leads,
               const std::string& digest = "digest-1") {
  NewRun run;
  run.business_id = business_id;
  run.created_by_user_id = 42;
  run.request_id = request_id;
  run.request_digest = digest;
  run.concurrency = 3;
  run.outbound_list_id = 7;
  run.project_id = 9;
  run.leads = std::move(leads);
  return run;
}

// A migrated database with two businesses, a pool on it as the service's
// role, and the stores under test.
class RunStoreTest : public ::testing::Test {
 protected:
  RunStoreTest()
      : database_(db_.app_url(), PoolOptions{.size = 8}),
        runs_(&database_, kLeaseTtl),
        keys_(&database_) {
    db_.Migrate();
    business_a_ = db_.CreateBusiness("Business A");
    business_b_ = db_.CreateBusiness("Business B");
  }

  // Creates a run that must succeed; returns it.
  RunRecord MustCreate(int64_t business_id, const std::string& request_id, int leads,
                       bool start_paused = false) {
    NewRun request = MakeRun(business_id, request_id, MakeLeads(leads, 1));
    request.start_paused = start_paused;
    absl::StatusOr<CreatedRun> created = runs_.CreateRun(request);
    if (!created.ok()) {
      ADD_FAILURE() << created.status();
      return RunRecord{};
    }
    EXPECT_TRUE(created->created);
    return created->run;
  }

  // Applies an action that must succeed; returns the result.
  ChangedRun MustApply(int64_t business_id, int64_t run_id, RunAction action) {
    absl::StatusOr<ChangedRun> changed = runs_.ApplyAction(business_id, run_id, action);
    if (!changed.ok()) {
      ADD_FAILURE() << "action " << RunActionName(action) << ": " << changed.status();
      return ChangedRun{};
    }
    return *changed;
  }

  // Jobs of `run_id` (in `status` when given), counted as the superuser.
  int64_t CountJobs(int64_t run_id, const std::string& status = "") const {
    return db_.QueryInt(
        absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ", run_id,
                     status.empty() ? "" : absl::StrCat(" AND status = '", status, "'")));
  }

  int64_t CountRuns() const { return db_.QueryInt("SELECT count(*) FROM outbound_call_runs"); }

  // Asserts that the run's counters add up to its total.
  static void ExpectCountersAddUp(const RunRecord& run) {
    EXPECT_EQ(run.queued_count + run.in_progress_count + run.completed_count + run.failed_count +
                  run.cancelled_count,
              run.total_leads)
        << "queued " << run.queued_count << " in_progress " << run.in_progress_count
        << " completed " << run.completed_count << " failed " << run.failed_count << " cancelled "
        << run.cancelled_count;
  }

  TestDatabase db_;
  Database database_;
  RunStore runs_;
  ApiKeyStore keys_;
  int64_t business_a_ = 0;
  int64_t business_b_ = 0;
};

// ---------------------------------------------------------------- CreateRun

TEST_F(RunStoreTest, CreateRunWritesRunAndOneQueuedJobPerLeadInLeadOrder) {
  // Lead ids deliberately out of numeric order: jobs must follow the request.
  std::vector<Lead> leads = {
      {30, "+14155550030", "Carol"}, {10, "+442071838750", "Alice"}, {20, "+4915123456789", ""}};
  absl::StatusOr<CreatedRun> created = runs_.CreateRun(MakeRun(business_a_, "req-1", leads));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->created);
  const RunRecord& run = created->run;
  EXPECT_GT(run.id, 0);
  EXPECT_EQ(run.business_id, business_a_);
  EXPECT_EQ(run.status, RunStatus::kPending);
  EXPECT_EQ(run.request_id, "req-1");
  EXPECT_EQ(run.concurrency, 3);
  EXPECT_EQ(run.outbound_list_id, 7);
  EXPECT_EQ(run.created_by_user_id, 42);
  EXPECT_EQ(run.total_leads, 3);
  EXPECT_EQ(run.queued_count, 3);
  EXPECT_EQ(run.in_progress_count, 0);
  EXPECT_EQ(run.completed_count, 0);
  EXPECT_EQ(run.failed_count, 0);
  EXPECT_EQ(run.cancelled_count, 0);
  EXPECT_EQ(run.cursor_position, 0);
  EXPECT_FALSE(run.cancel_requested);
  EXPECT_FALSE(run.started_at.has_value());
  EXPECT_FALSE(run.ended_at.has_value());
  EXPECT_EQ(
      db_.QueryInt(absl::StrCat("SELECT project_id FROM outbound_call_runs WHERE id = ", run.id)),
      9);

  absl::StatusOr<RunRecord> read = runs_.GetRun(business_a_, run.id);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->total_leads, 3);
  EXPECT_EQ(read->version, run.version);

  absl::StatusOr<store::Page<Job>> jobs =
      runs_.ListJobs(business_a_, run.id, std::nullopt, std::nullopt, 100);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->items.size(), 3u);
  EXPECT_FALSE(jobs->next_after_id.has_value());
  for (size_t i = 0; i < leads.size(); ++i) {
    const Job& job = jobs->items[i];
    SCOPED_TRACE(absl::StrCat("job ", i));
    EXPECT_EQ(job.lead_id, leads[i].lead_id);
    EXPECT_EQ(job.phone, leads[i].phone);
    EXPECT_EQ(job.lead_name, leads[i].name);
    EXPECT_EQ(job.status, JobStatus::kQueued);
    EXPECT_EQ(job.run_id, run.id);
    EXPECT_EQ(job.business_id, business_a_);
    EXPECT_EQ(job.project_id, 9);
    EXPECT_EQ(job.attempts, 0);
    EXPECT_FALSE(job.completed_at.has_value());
    if (i > 0) {
      EXPECT_GT(job.id, jobs->items[i - 1].id);
    }
  }
  EXPECT_EQ(CountJobs(run.id), 3);
}

TEST_F(RunStoreTest, CreateRunStartPausedMakesAPausedRun) {
  const RunRecord run = MustCreate(business_a_, "paused", 2, /*start_paused=*/true);
  EXPECT_EQ(run.status, RunStatus::kPaused);
  EXPECT_EQ(run.queued_count, 2);
}

TEST_F(RunStoreTest, RetryWithSameRequestReturnsTheSameRunAndWritesNothing) {
  const RunRecord first = MustCreate(business_a_, "retry-me", 4);
  absl::StatusOr<CreatedRun> again =
      runs_.CreateRun(MakeRun(business_a_, "retry-me", MakeLeads(4, 1)));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->run.id, first.id);
  EXPECT_EQ(again->run.total_leads, 4);
  EXPECT_EQ(CountRuns(), 1);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"), 4);
}

TEST_F(RunStoreTest, SameRequestIdWithAnotherPayloadIsAlreadyExists) {
  const RunRecord first = MustCreate(business_a_, "req-x", 2);
  absl::StatusOr<CreatedRun> other =
      runs_.CreateRun(MakeRun(business_a_, "req-x", MakeLeads(3, 1), "digest-2"));
  ASSERT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists) << other.status();
  EXPECT_TRUE(Contains(other.status().message(), "req-x"));
  EXPECT_TRUE(Contains(other.status().message(), absl::StrCat("run ", first.id)));
  EXPECT_EQ(CountRuns(), 1);
  EXPECT_EQ(CountJobs(first.id), 2);
}

// Call settings (issue 12): stored as given, read back by every read, part
// of the request's digest (through the service's CreateRunDigest), and NULL
// in the row when not given.
TEST_F(RunStoreTest, CallSettingsRoundTripAndAreCoveredByTheRequestDigest) {
  CallSettings settings;
  settings.caller_id = "+14155550199";
  settings.twiml_url = "https://run.example.com/voice.xml";
  settings.ring_timeout_seconds = 45;
  settings.machine_detection = MachineDetection::kDetectMessageEnd;
  CreateRunInput input;
  input.concurrency = 3;
  const std::vector<Lead> leads = MakeLeads(2, 1);
  NewRun request = MakeRun(business_a_, "with-settings", leads,
                           CreateRunDigest(input, leads, settings));
  request.call_settings = settings;
  absl::StatusOr<CreatedRun> created = runs_.CreateRun(request);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->run.call_settings, settings);
  EXPECT_TRUE(created->run.hang_up_on_end);
  absl::StatusOr<RunRecord> read = runs_.GetRun(business_a_, created->run.id);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->call_settings, settings);
  absl::StatusOr<store::Page<RunRecord>> listed =
      runs_.ListRuns(business_a_, std::nullopt, std::nullopt, 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0].call_settings, settings);

  // The same request again: the same run. The same request_id with any
  // setting changed: ALREADY_EXISTS.
  absl::StatusOr<CreatedRun> retry = runs_.CreateRun(request);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE(retry->created);
  EXPECT_EQ(retry->run.call_settings, settings);
  for (int field = 0; field < 4; ++field) {
    CallSettings changed = settings;
    if (field == 0) changed.caller_id = "+14155550198";
    if (field == 1) changed.twiml_url = "https://run.example.com/other.xml";
    if (field == 2) changed.ring_timeout_seconds = 46;
    if (field == 3) changed.machine_detection = MachineDetection::kEnable;
    NewRun other = MakeRun(business_a_, "with-settings", leads,
                           CreateRunDigest(input, leads, changed));
    other.call_settings = changed;
    EXPECT_EQ(runs_.CreateRun(other).status().code(), absl::StatusCode::kAlreadyExists) << field;
  }
  NewRun without = MakeRun(business_a_, "with-settings", leads, CreateRunDigest(input, leads, {}));
  EXPECT_EQ(runs_.CreateRun(without).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(CountRuns(), 1);

  // A run without settings: NULL columns, read back as empty.
  const RunRecord plain = MustCreate(business_a_, "no-settings", 1);
  EXPECT_EQ(plain.call_settings, CallSettings{});
  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT count(*) FROM outbound_call_runs WHERE id = ", plain.id,
                " AND caller_id IS NULL AND twiml_url IS NULL AND ring_timeout_seconds IS NULL"
                " AND machine_detection IS NULL AND hang_up_on_end")),
            1);
}

TEST_F(RunStoreTest, SameRequestIdInAnotherBusinessMakesASeparateRun) {
  const RunRecord a = MustCreate(business_a_, "shared-id", 2);
  const RunRecord b = MustCreate(business_b_, "shared-id", 3);
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(b.business_id, business_b_);
  EXPECT_EQ(CountRuns(), 2);
  EXPECT_EQ(CountJobs(a.id), 2);
  EXPECT_EQ(CountJobs(b.id), 3);
}

// Eight identical requests released together: one run, one set of jobs, and
// every caller is answered with that run.
TEST_F(RunStoreTest, ConcurrentIdenticalCreatesMakeExactlyOneRun) {
  constexpr int kThreads = 8;
  constexpr int kLeads = 50;
  std::latch start(kThreads);
  std::vector<absl::StatusOr<CreatedRun>> results(kThreads, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      NewRun request = MakeRun(business_a_, "concurrent", MakeLeads(kLeads, 1));
      start.arrive_and_wait();
      results[t] = runs_.CreateRun(request);
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::set<int64_t> ids;
  int created = 0;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(results[t].ok()) << "thread " << t << ": " << results[t].status();
    ids.insert(results[t]->run.id);
    if (results[t]->created) ++created;
    EXPECT_EQ(results[t]->run.total_leads, kLeads) << "thread " << t;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(created, 1);
  EXPECT_EQ(CountRuns(), 1);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"), kLeads);
}

TEST_F(RunStoreTest, CreateRunForMissingBusinessIsNotFoundAndWritesNothing) {
  absl::StatusOr<CreatedRun> created =
      runs_.CreateRun(MakeRun(business_b_ + 1000, "nobody", MakeLeads(3, 1)));
  ASSERT_EQ(created.status().code(), absl::StatusCode::kNotFound) << created.status();
  EXPECT_TRUE(Contains(created.status().message(), absl::StrCat(business_b_ + 1000)));
  EXPECT_EQ(CountRuns(), 0);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"), 0);
}

// The COPY path: a large request lands completely, in order, in one call.
TEST_F(RunStoreTest, BulkCreateOfTwentyThousandLeads) {
  constexpr int kLeads = 20'000;
  absl::StatusOr<CreatedRun> created =
      runs_.CreateRun(MakeRun(business_a_, "bulk", MakeLeads(kLeads, 1)));
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t run_id = created->run.id;
  EXPECT_EQ(created->run.total_leads, kLeads);
  EXPECT_EQ(created->run.queued_count, kLeads);
  EXPECT_EQ(CountJobs(run_id, "queued"), kLeads);
  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT count(DISTINCT lead_id) FROM outbound_call_jobs WHERE run_id = ", run_id)),
            kLeads);
  // Lead order is id order: lead_id rises with the job id throughout.
  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT count(*) FROM (SELECT lead_id, lag(lead_id) OVER (ORDER BY id) AS prev"
                " FROM outbound_call_jobs WHERE run_id = ",
                run_id, ") s WHERE prev IS NOT NULL AND lead_id <> prev + 1")),
            0);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT lead_id FROM outbound_call_jobs WHERE run_id = ",
                                      run_id, " ORDER BY id DESC LIMIT 1")),
            kLeads);
}

// ----------------------------------------------------------------- AddLeads

TEST_F(RunStoreTest, AddLeadsAppendsNewLeadsAndSkipsExistingOnes) {
  const RunRecord run = MustCreate(business_a_, "add", 3);  // leads 1..3
  std::vector<Lead> more = MakeLeads(3, 3);                 // leads 3..5; 3 exists
  absl::StatusOr<store::AddedLeads> added = runs_.AddLeads(business_a_, run.id, more);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->added, 2);
  EXPECT_EQ(added->skipped, 1);
  EXPECT_EQ(added->run.total_leads, 5);
  EXPECT_EQ(added->run.queued_count, 5);
  EXPECT_GT(added->run.version, run.version);
  ExpectCountersAddUp(added->run);
  EXPECT_EQ(CountJobs(run.id), 5);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ",
                                      run.id, " AND lead_id = 3")),
            1);
  // The stored counters match the rows (written in the same transaction).
  EXPECT_EQ(
      db_.QueryInt(absl::StrCat("SELECT total_leads FROM outbound_call_runs WHERE id = ", run.id)),
      5);
  // Appended jobs come after the existing ones, carry the run's project and
  // the business of the run.
  absl::StatusOr<store::Page<Job>> jobs =
      runs_.ListJobs(business_a_, run.id, std::nullopt, std::nullopt, 10);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->items.size(), 5u);
  std::vector<int64_t> lead_ids;
  for (const Job& job : jobs->items) {
    lead_ids.push_back(job.lead_id);
    EXPECT_EQ(job.project_id, 9);
    EXPECT_EQ(job.business_id, business_a_);
  }
  EXPECT_EQ(lead_ids, (std::vector<int64_t>{1, 2, 3, 4, 5}));

  // Adding only known leads adds nothing and still succeeds.
  absl::StatusOr<store::AddedLeads> none = runs_.AddLeads(business_a_, run.id, MakeLeads(5, 1));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->added, 0);
  EXPECT_EQ(none->skipped, 5);
  EXPECT_EQ(none->run.total_leads, 5);
  EXPECT_EQ(CountJobs(run.id), 5);
}

// Overlapping AddLeads calls at once: each lead_id lands once, and since
// counters change in the same transaction as the rows, they match the rows.
TEST_F(RunStoreTest, ConcurrentOverlappingAddLeadsKeepRowsAndCountersInStep) {
  const RunRecord run = MustCreate(business_a_, "overlap", 10);  // leads 1..10
  constexpr int kThreads = 4;
  std::latch start(kThreads);
  std::vector<absl::StatusOr<store::AddedLeads>> results(kThreads, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Thread t adds leads 5+5t .. 24+5t: overlapping the run and each other.
      std::vector<Lead> leads = MakeLeads(20, 5 + 5 * t);
      start.arrive_and_wait();
      results[t] = runs_.AddLeads(business_a_, run.id, leads);
    });
  }
  for (std::thread& thread : threads) thread.join();
  int64_t added = 0;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(results[t].ok()) << "thread " << t << ": " << results[t].status();
    EXPECT_EQ(results[t]->added + results[t]->skipped, 20) << "thread " << t;
    added += results[t]->added;
  }
  // Leads 1..39 in all.
  EXPECT_EQ(added, 29);
  EXPECT_EQ(CountJobs(run.id), 39);
  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT count(DISTINCT lead_id) FROM outbound_call_jobs WHERE run_id = ", run.id)),
            39);
  absl::StatusOr<RunRecord> after = runs_.GetRun(business_a_, run.id);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->total_leads, 39);
  EXPECT_EQ(after->queued_count, 39);
}

TEST_F(RunStoreTest, AddLeadsIsRefusedOnStoppedAndCompletedRuns) {
  const RunRecord stopped = MustCreate(business_a_, "stopped", 2);
  MustApply(business_a_, stopped.id, RunAction::kStop);
  absl::StatusOr<store::AddedLeads> refused =
      runs_.AddLeads(business_a_, stopped.id, MakeLeads(2, 10));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_TRUE(Contains(refused.status().message(), "stopped"));
  EXPECT_EQ(CountJobs(stopped.id), 2);

  const RunRecord completed = MustCreate(business_a_, "completed", 2);
  db_.ExecAsAdmin(absl::StrCat(
      "UPDATE outbound_call_jobs SET status = 'completed' WHERE run_id = ", completed.id,
      "; UPDATE outbound_call_runs SET status = 'completed', queued_count = 0,"
      " completed_count = 2, cursor_position = 2 WHERE id = ",
      completed.id));
  refused = runs_.AddLeads(business_a_, completed.id, MakeLeads(2, 10));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_TRUE(Contains(refused.status().message(), "completed"));
  EXPECT_EQ(CountJobs(completed.id), 2);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT total_leads FROM outbound_call_runs WHERE id = ",
                                      completed.id)),
            2);
}

// Another business's run is answered exactly like a run that does not exist:
// the message for run N is the same before and after run N is deleted.
TEST_F(RunStoreTest, AddLeadsToAnotherBusinessRunIsNotFoundLikeAMissingRun) {
  const RunRecord theirs = MustCreate(business_b_, "theirs", 2);
  absl::StatusOr<store::AddedLeads> foreign =
      runs_.AddLeads(business_a_, theirs.id, MakeLeads(2, 10));
  ASSERT_EQ(foreign.status().code(), absl::StatusCode::kNotFound) << foreign.status();
  EXPECT_EQ(CountJobs(theirs.id), 2);

  db_.ExecAsAdmin(absl::StrCat("DELETE FROM outbound_call_runs WHERE id = ", theirs.id));
  absl::StatusOr<store::AddedLeads> missing =
      runs_.AddLeads(business_a_, theirs.id, MakeLeads(2, 10));
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_EQ(foreign.status().message(), missing.status().message());
  EXPECT_EQ(missing.status().message(), store::RunNotFoundMessage(theirs.id));
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"), 0);
}

// Holds a session-level advisory lock on its own superuser connection; a
// statement-level trigger on outbound_call_jobs makes every INSERT into jobs
// wait for it, so a test can stop AddLeads after its COPY, exactly where it
// inserts the staged leads, and look at the run row from outside meanwhile.
class JobInsertGate {
 public:
  static constexpr int64_t kKey = 0x6a0b;

  explicit JobInsertGate(const TestDatabase& db) : db_(db), holder_(db.admin_url()) {
    db_.ExecAsAdmin(
        absl::StrCat("CREATE FUNCTION test_job_insert_gate() RETURNS trigger LANGUAGE plpgsql AS $$"
                     " BEGIN PERFORM pg_advisory_xact_lock_shared(",
                     kKey,
                     "); RETURN NULL; END $$;"
                     "CREATE TRIGGER test_job_insert_gate BEFORE INSERT ON outbound_call_jobs"
                     " FOR EACH STATEMENT EXECUTE FUNCTION test_job_insert_gate()"));
    pqxx::nontransaction txn(holder_);
    txn.exec(absl::StrCat("SELECT pg_advisory_lock(", kKey, ")"));
  }
  ~JobInsertGate() {
    Open();
    db_.ExecAsAdmin(
        "DROP TRIGGER test_job_insert_gate ON outbound_call_jobs;"
        "DROP FUNCTION test_job_insert_gate()");
  }

  // True once some session waits at the gate (within `timeout`).
  bool WaitForWaiter(absl::Duration timeout = absl::Seconds(60)) const {
    return WaitUntil(
        [&] {
          return db_.QueryInt(absl::StrCat("SELECT count(*) FROM pg_locks WHERE locktype = "
                                           "'advisory' AND NOT granted AND objid = ",
                                           kKey)) > 0;
        },
        timeout, absl::Milliseconds(5));
  }

  // Lets waiting and later inserts through.
  void Open() {
    if (open_) return;
    open_ = true;
    pqxx::nontransaction txn(holder_);
    txn.exec(absl::StrCat("SELECT pg_advisory_unlock(", kKey, ")"));
  }

 private:
  const TestDatabase& db_;
  pqxx::connection holder_;
  bool open_ = false;
};

// The sqlstate of locking the run row FOR NO KEY UPDATE NOWAIT (what a claim
// and a heartbeat need) from another session; empty when the lock was had.
std::string TryNoKeyUpdateLock(const TestDatabase& db, int64_t run_id) {
  pqxx::connection connection(db.admin_url());
  pqxx::work txn(connection);
  try {
    txn.exec(absl::StrCat("SELECT 1 FROM outbound_call_runs WHERE id = ", run_id,
                          " FOR NO KEY UPDATE NOWAIT"));
    txn.exec(absl::StrCat("UPDATE outbound_call_runs SET lock_ts = lock_ts WHERE id = ", run_id));
  } catch (const pqxx::sql_error& error) {
    return error.sqlstate();
  }
  txn.abort();
  return "";
}

// Issue item 8: a large AddLeads must not hold the run row locked while it
// stages and inserts 100k leads: a claim or heartbeat (NO KEY UPDATE on the
// row) gets the lock at once while AddLeads is held after its COPY.
TEST_F(RunStoreTest, LargeAddLeadsDoesNotLockTheRunRowWhileItCopiesAndInserts) {
  const RunRecord run = MustCreate(business_a_, "large-add", 2);
  JobInsertGate gate(db_);
  absl::StatusOr<store::AddedLeads> added = absl::UnknownError("not run");
  std::thread adder([&] { added = runs_.AddLeads(business_a_, run.id, MakeLeads(100'000, 10)); });
  const bool waiting = gate.WaitForWaiter();
  const std::string lock_error = waiting ? TryNoKeyUpdateLock(db_, run.id) : "not reached";
  gate.Open();
  adder.join();
  ASSERT_TRUE(waiting) << "AddLeads never reached the jobs insert";
  EXPECT_EQ(lock_error, "") << "the run row was locked during AddLeads (55P03: lock not available)";
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->added, 100'000);
  EXPECT_EQ(added->run.total_leads, 100'002);
  EXPECT_EQ(added->run.queued_count, 100'002);
  EXPECT_EQ(CountJobs(run.id, "queued"), 100'002);
}

// A Stop that commits while AddLeads inserts its leads wins: the Stop does
// not wait for the insert, AddLeads then fails as for a stopped run and
// adds nothing, and no queued job is left in the stopped run.
TEST_F(RunStoreTest, StopCommittingDuringAddLeadsLeavesNoQueuedJobs) {
  const RunRecord run = MustCreate(business_a_, "stop-during-add", 2);
  JobInsertGate gate(db_);
  absl::StatusOr<store::AddedLeads> added = absl::UnknownError("not run");
  std::thread adder([&] { added = runs_.AddLeads(business_a_, run.id, MakeLeads(1'000, 10)); });
  if (!gate.WaitForWaiter()) {
    gate.Open();
    adder.join();
    FAIL() << "AddLeads never reached the jobs insert";
  }
  std::atomic<bool> stop_done{false};
  absl::StatusOr<ChangedRun> stopped = absl::UnknownError("not run");
  std::thread stopper([&] {
    stopped = runs_.ApplyAction(business_a_, run.id, RunAction::kStop);
    stop_done = true;
  });
  // The Stop must finish while AddLeads is still held at the gate.
  const bool stop_finished_first =
      WaitUntil([&] { return stop_done.load(); }, absl::Seconds(30), absl::Milliseconds(5));
  gate.Open();
  stopper.join();
  adder.join();
  EXPECT_TRUE(stop_finished_first) << "Stop waited for AddLeads";
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->run.status, RunStatus::kStopped);
  if (stop_finished_first) {
    ASSERT_EQ(added.status().code(), absl::StatusCode::kFailedPrecondition) << added.status();
    EXPECT_TRUE(Contains(added.status().message(), "stopped"));
  }
  EXPECT_EQ(CountJobs(run.id, "queued"), 0);
  absl::StatusOr<RunRecord> after = runs_.GetRun(business_a_, run.id);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->queued_count, 0);
  EXPECT_EQ(after->total_leads, CountJobs(run.id));
  ExpectCountersAddUp(*after);
}

// A Stop that starts after AddLeads inserted its leads waits for it and then
// cancels the added jobs too.
TEST_F(RunStoreTest, StopAfterAddLeadsInsertedCancelsTheAddedJobs) {
  const RunRecord run = MustCreate(business_a_, "stop-after-add", 2);
  absl::StatusOr<store::AddedLeads> added = runs_.AddLeads(business_a_, run.id, MakeLeads(50, 10));
  ASSERT_TRUE(added.ok()) << added.status();
  const ChangedRun stopped = MustApply(business_a_, run.id, RunAction::kStop);
  EXPECT_EQ(stopped.cancelled_jobs, 52);
  EXPECT_EQ(CountJobs(run.id, "queued"), 0);
  ExpectCountersAddUp(stopped.run);
}

// ----------------------------------------------------------------- Listing

TEST_F(RunStoreTest, ListRunsPagesNewestFirstWithoutRepeatsOrGaps) {
  std::vector<int64_t> a_ids;
  for (int i = 0; i < 7; ++i) a_ids.push_back(MustCreate(business_a_, absl::StrCat("a", i), 1).id);
  std::vector<int64_t> b_ids;
  for (int i = 0; i < 2; ++i) b_ids.push_back(MustCreate(business_b_, absl::StrCat("b", i), 1).id);

  // Business A, three per page: 3 + 3 + 1, newest first.
  std::vector<int64_t> seen;
  std::optional<int64_t> after;
  int pages = 0;
  do {
    absl::StatusOr<store::Page<RunRecord>> page =
        runs_.ListRuns(business_a_, std::nullopt, after, 3);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_LE(page->items.size(), 3u);
    for (const RunRecord& run : page->items) {
      EXPECT_EQ(run.business_id, business_a_);
      seen.push_back(run.id);
    }
    after = page->next_after_id;
    if (after) {
      EXPECT_EQ(*after, page->items.back().id);
    }
    ASSERT_LT(++pages, 10) << "paging does not end";
  } while (after);
  EXPECT_EQ(pages, 3);
  std::vector<int64_t> expected(a_ids.rbegin(), a_ids.rend());
  EXPECT_EQ(seen, expected);

  // An exact multiple of the page size ends without an empty extra page.
  absl::StatusOr<store::Page<RunRecord>> b_page =
      runs_.ListRuns(business_b_, std::nullopt, std::nullopt, 2);
  ASSERT_TRUE(b_page.ok()) << b_page.status();
  ASSERT_EQ(b_page->items.size(), 2u);
  EXPECT_FALSE(b_page->next_after_id.has_value());
  EXPECT_EQ(b_page->items[0].id, b_ids[1]);
  EXPECT_EQ(b_page->items[1].id, b_ids[0]);

  // All businesses (nullopt): every run, newest first.
  absl::StatusOr<store::Page<RunRecord>> all =
      runs_.ListRuns(std::nullopt, std::nullopt, std::nullopt, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->items.size(), 9u);
  for (size_t i = 1; i < all->items.size(); ++i) {
    EXPECT_GT(all->items[i - 1].id, all->items[i].id);
  }
  EXPECT_EQ(all->items.front().id, b_ids[1]);
}

TEST_F(RunStoreTest, ListRunsFiltersByStatus) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(MustCreate(business_a_, absl::StrCat("r", i), 1).id);
  MustApply(business_a_, ids[1], RunAction::kPause);
  MustApply(business_a_, ids[3], RunAction::kPause);
  MustApply(business_a_, ids[4], RunAction::kStop);
  // A paused run of another business must not show up in A's listing.
  MustApply(business_b_, MustCreate(business_b_, "b", 1).id, RunAction::kPause);

  absl::StatusOr<store::Page<RunRecord>> paused =
      runs_.ListRuns(business_a_, RunStatus::kPaused, std::nullopt, 10);
  ASSERT_TRUE(paused.ok()) << paused.status();
  ASSERT_EQ(paused->items.size(), 2u);
  EXPECT_EQ(paused->items[0].id, ids[3]);
  EXPECT_EQ(paused->items[1].id, ids[1]);

  // Paging within a filter.
  absl::StatusOr<store::Page<RunRecord>> first =
      runs_.ListRuns(business_a_, RunStatus::kPending, std::nullopt, 1);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->items.size(), 1u);
  EXPECT_EQ(first->items[0].id, ids[2]);
  ASSERT_TRUE(first->next_after_id.has_value());
  absl::StatusOr<store::Page<RunRecord>> second =
      runs_.ListRuns(business_a_, RunStatus::kPending, first->next_after_id, 1);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_EQ(second->items[0].id, ids[0]);
  EXPECT_FALSE(second->next_after_id.has_value());

  absl::StatusOr<store::Page<RunRecord>> all_paused =
      runs_.ListRuns(std::nullopt, RunStatus::kPaused, std::nullopt, 10);
  ASSERT_TRUE(all_paused.ok()) << all_paused.status();
  EXPECT_EQ(all_paused->items.size(), 3u);
}

TEST_F(RunStoreTest, ListJobsPagesInIdOrderAndFiltersByStatus) {
  const RunRecord run = MustCreate(business_a_, "jobs", 10);
  std::vector<int64_t> seen;
  std::optional<int64_t> after;
  int pages = 0;
  do {
    absl::StatusOr<store::Page<Job>> page =
        runs_.ListJobs(business_a_, run.id, std::nullopt, after, 4);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const Job& job : page->items) seen.push_back(job.id);
    after = page->next_after_id;
    ASSERT_LT(++pages, 10) << "paging does not end";
  } while (after);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 10u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i - 1], seen[i]);
  EXPECT_EQ(static_cast<int64_t>(std::set<int64_t>(seen.begin(), seen.end()).size()),
            CountJobs(run.id));

  // Three jobs claimed by a worker (set up directly in SQL).
  db_.ExecAsAdmin(absl::StrCat("UPDATE outbound_call_jobs SET status = 'dialing' WHERE id IN (",
                               seen[2], ", ", seen[5], ", ", seen[7], ")"));
  absl::StatusOr<store::Page<Job>> dialing =
      runs_.ListJobs(business_a_, run.id, JobStatus::kDialing, std::nullopt, 100);
  ASSERT_TRUE(dialing.ok()) << dialing.status();
  ASSERT_EQ(dialing->items.size(), 3u);
  EXPECT_EQ(dialing->items[0].id, seen[2]);
  EXPECT_EQ(dialing->items[1].id, seen[5]);
  EXPECT_EQ(dialing->items[2].id, seen[7]);
  absl::StatusOr<store::Page<Job>> queued =
      runs_.ListJobs(business_a_, run.id, JobStatus::kQueued, std::nullopt, 100);
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(queued->items.size(), 7u);
  for (const Job& job : queued->items) EXPECT_EQ(job.status, JobStatus::kQueued);
}

TEST_F(RunStoreTest, ListJobsOfAnotherBusinessRunIsNotFound) {
  const RunRecord theirs = MustCreate(business_b_, "theirs", 3);
  absl::StatusOr<store::Page<Job>> foreign =
      runs_.ListJobs(business_a_, theirs.id, std::nullopt, std::nullopt, 10);
  ASSERT_EQ(foreign.status().code(), absl::StatusCode::kNotFound) << foreign.status();
  EXPECT_EQ(foreign.status().message(), store::RunNotFoundMessage(theirs.id));
  absl::StatusOr<RunRecord> get = runs_.GetRun(business_a_, theirs.id);
  ASSERT_EQ(get.status().code(), absl::StatusCode::kNotFound) << get.status();
  EXPECT_EQ(get.status().message(), store::RunNotFoundMessage(theirs.id));
  absl::StatusOr<store::Page<Job>> missing =
      runs_.ListJobs(business_a_, theirs.id + 1000, std::nullopt, std::nullopt, 10);
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  // RunOwner tells the two apart, for security logs only.
  absl::StatusOr<std::optional<int64_t>> owner = runs_.RunOwner(theirs.id);
  ASSERT_TRUE(owner.ok()) << owner.status();
  EXPECT_EQ(*owner, business_b_);
  owner = runs_.RunOwner(theirs.id + 1000);
  ASSERT_TRUE(owner.ok()) << owner.status();
  EXPECT_FALSE(owner->has_value());
}

// ------------------------------------------------------------- ApplyAction

// A running run with 10 jobs of which a worker has claimed three (two
// dialing, one calling), with counters as the worker would keep them.
class RunActionTest : public RunStoreTest {
 protected:
  RunRecord MakeRunningRunWithActiveJobs() {
    const RunRecord run = MustCreate(business_a_, "active", 10);
    db_.ExecAsAdmin(
        absl::StrCat("UPDATE outbound_call_jobs SET status = 'dialing', dial_started_at = now()"
                     " WHERE id IN (SELECT id FROM outbound_call_jobs WHERE run_id = ",
                     run.id,
                     " ORDER BY id LIMIT 2);"
                     "UPDATE outbound_call_jobs SET status = 'calling', call_sid = 'CA1'"
                     " WHERE id = (SELECT id FROM outbound_call_jobs WHERE run_id = ",
                     run.id,
                     " AND status = 'queued' ORDER BY id LIMIT 1);"
                     "UPDATE outbound_call_runs SET status = 'running', started_at = now(),"
                     " queued_count = 7, in_progress_count = 3, cursor_position = 3 WHERE id = ",
                     run.id));
    absl::StatusOr<RunRecord> read = runs_.GetRun(business_a_, run.id);
    EXPECT_TRUE(read.ok()) << read.status();
    return read.ok() ? *read : run;
  }
};

TEST_F(RunActionTest, StopCancelsEveryQueuedJobAndLeavesActiveJobsAlone) {
  const RunRecord before = MakeRunningRunWithActiveJobs();
  ChangedRun stopped = MustApply(business_a_, before.id, RunAction::kStop);
  EXPECT_EQ(stopped.cancelled_jobs, 7);
  const RunRecord& run = stopped.run;
  EXPECT_EQ(run.status, RunStatus::kStopped);
  EXPECT_TRUE(run.cancel_requested);
  EXPECT_TRUE(run.ended_at.has_value());
  EXPECT_EQ(run.queued_count, 0);
  EXPECT_EQ(run.in_progress_count, 3);
  EXPECT_EQ(run.cancelled_count, 7);
  EXPECT_EQ(run.cursor_position, before.cursor_position + 7);
  EXPECT_EQ(run.total_leads, 10);
  EXPECT_GT(run.version, before.version);
  ExpectCountersAddUp(run);

  EXPECT_EQ(CountJobs(run.id, "queued"), 0);
  EXPECT_EQ(CountJobs(run.id, "cancelled"), 7);
  EXPECT_EQ(CountJobs(run.id, "dialing"), 2);
  EXPECT_EQ(CountJobs(run.id, "calling"), 1);
  EXPECT_EQ(
      db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ", run.id,
                                " AND status = 'cancelled' AND error_message = 'Stopped by user'"
                                " AND completed_at IS NOT NULL")),
      7);
  EXPECT_EQ(
      db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ", run.id,
                                " AND status IN ('dialing', 'calling')"
                                " AND error_message IS NULL AND completed_at IS NULL")),
      3);

  // Stopping again changes nothing.
  ChangedRun again = MustApply(business_a_, run.id, RunAction::kStop);
  EXPECT_EQ(again.cancelled_jobs, 0);
  EXPECT_EQ(again.run.status, RunStatus::kStopped);
  EXPECT_EQ(again.run.version, run.version);
  EXPECT_EQ(again.run.cancelled_count, 7);
  EXPECT_EQ(again.run.ended_at, run.ended_at);
}

// StopRun's and CancelRun's hang_up (issue 12): the first Stop or Cancel of
// a run records it; a later one leaves it as it is (first wins).
TEST_F(RunActionTest, TheFirstStopOrCancelDecidesWhetherCallsAreHungUp) {
  const RunRecord stopped_run = MakeRunningRunWithActiveJobs();
  absl::StatusOr<ChangedRun> stopped =
      runs_.ApplyAction(business_a_, stopped_run.id, RunAction::kStop, /*hang_up=*/false);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->run.status, RunStatus::kStopped);
  EXPECT_FALSE(stopped->run.hang_up_on_end);
  absl::StatusOr<ChangedRun> again =
      runs_.ApplyAction(business_a_, stopped_run.id, RunAction::kStop, /*hang_up=*/true);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->run.hang_up_on_end) << "a second Stop does not flip the choice";

  // A cancel requested while a worker holds the run records its choice; the
  // Stop that follows does not change it.
  const RunRecord held = MustCreate(business_a_, "held", 3);
  db_.ExecAsAdmin(absl::StrCat(
      "UPDATE outbound_call_runs SET status = 'running', locked_by_worker = 'w', lock_ts = now()"
      " WHERE id = ",
      held.id));
  absl::StatusOr<ChangedRun> requested =
      runs_.ApplyAction(business_a_, held.id, RunAction::kCancel, /*hang_up=*/false);
  ASSERT_TRUE(requested.ok()) << requested.status();
  EXPECT_TRUE(requested->run.cancel_requested);
  EXPECT_FALSE(requested->run.hang_up_on_end);
  absl::StatusOr<ChangedRun> stop_after =
      runs_.ApplyAction(business_a_, held.id, RunAction::kStop, /*hang_up=*/true);
  ASSERT_TRUE(stop_after.ok()) << stop_after.status();
  EXPECT_EQ(stop_after->run.status, RunStatus::kStopped);
  EXPECT_FALSE(stop_after->run.hang_up_on_end);

  // Without a choice (the three-argument form, StopRun's default): true.
  const RunRecord plain = MustCreate(business_a_, "plain", 2);
  EXPECT_TRUE(MustApply(business_a_, plain.id, RunAction::kStop).run.hang_up_on_end);
  // Pause and resume ignore the option.
  const RunRecord paused = MustCreate(business_a_, "paused", 2);
  absl::StatusOr<ChangedRun> pause =
      runs_.ApplyAction(business_a_, paused.id, RunAction::kPause, /*hang_up=*/false);
  ASSERT_TRUE(pause.ok()) << pause.status();
  EXPECT_TRUE(pause->run.hang_up_on_end);
}

TEST_F(RunActionTest, StopOfPendingAndPausedRunsCancelsAllJobs) {
  const RunRecord pending = MustCreate(business_a_, "pending", 4);
  ChangedRun stopped = MustApply(business_a_, pending.id, RunAction::kStop);
  EXPECT_EQ(stopped.cancelled_jobs, 4);
  EXPECT_EQ(stopped.run.status, RunStatus::kStopped);
  EXPECT_EQ(stopped.run.cursor_position, 4);
  ExpectCountersAddUp(stopped.run);

  const RunRecord paused = MustCreate(business_a_, "paused", 3, /*start_paused=*/true);
  stopped = MustApply(business_a_, paused.id, RunAction::kStop);
  EXPECT_EQ(stopped.cancelled_jobs, 3);
  EXPECT_EQ(stopped.run.status, RunStatus::kStopped);
  EXPECT_EQ(CountJobs(paused.id, "cancelled"), 3);
}

TEST_F(RunActionTest, CancelWithoutALeaseCancelsAtOnce) {
  const RunRecord before = MustCreate(business_a_, "cancel", 5);
  ChangedRun cancelled = MustApply(business_a_, before.id, RunAction::kCancel);
  EXPECT_EQ(cancelled.cancelled_jobs, 5);
  EXPECT_EQ(cancelled.run.status, RunStatus::kCancelled);
  EXPECT_TRUE(cancelled.run.cancel_requested);
  EXPECT_TRUE(cancelled.run.ended_at.has_value());
  EXPECT_EQ(cancelled.run.queued_count, 0);
  EXPECT_EQ(cancelled.run.cancelled_count, 5);
  EXPECT_GT(cancelled.run.version, before.version);
  ExpectCountersAddUp(cancelled.run);
  EXPECT_EQ(db_.QueryInt(
                absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ", before.id,
                             " AND status = 'cancelled' AND error_message = 'Cancelled by user'"
                             " AND completed_at IS NOT NULL")),
            5);

  // Cancelling a cancelled run is a no-op.
  ChangedRun again = MustApply(business_a_, before.id, RunAction::kCancel);
  EXPECT_EQ(again.cancelled_jobs, 0);
  EXPECT_EQ(again.run.version, cancelled.run.version);
}

TEST_F(RunActionTest, CancelWithALiveLeaseOnlyRequestsCancellation) {
  const RunRecord before = MakeRunningRunWithActiveJobs();
  db_.ExecAsAdmin(
      absl::StrCat("UPDATE outbound_call_runs SET locked_by_worker = 'worker-1', lock_ts = now()"
                   " WHERE id = ",
                   before.id));
  ChangedRun requested = MustApply(business_a_, before.id, RunAction::kCancel);
  EXPECT_EQ(requested.cancelled_jobs, 0);
  EXPECT_EQ(requested.run.status, RunStatus::kRunning);
  EXPECT_TRUE(requested.run.cancel_requested);
  EXPECT_FALSE(requested.run.ended_at.has_value());
  EXPECT_EQ(requested.run.queued_count, 7);
  EXPECT_GT(requested.run.version, before.version);
  EXPECT_EQ(CountJobs(before.id, "queued"), 7);
  EXPECT_EQ(CountJobs(before.id, "cancelled"), 0);

  // Asking again changes nothing; pausing or resuming a run being cancelled
  // is refused.
  ChangedRun again = MustApply(business_a_, before.id, RunAction::kCancel);
  EXPECT_EQ(again.run.version, requested.run.version);
  absl::StatusOr<ChangedRun> pause = runs_.ApplyAction(business_a_, before.id, RunAction::kPause);
  EXPECT_EQ(pause.status().code(), absl::StatusCode::kFailedPrecondition) << pause.status();
  EXPECT_TRUE(Contains(pause.status().message(), "running"));
  absl::StatusOr<store::AddedLeads> add = runs_.AddLeads(business_a_, before.id, MakeLeads(1, 50));
  EXPECT_EQ(add.status().code(), absl::StatusCode::kFailedPrecondition) << add.status();
  EXPECT_TRUE(Contains(add.status().message(), "being cancelled"));
  EXPECT_EQ(CountJobs(before.id), 10);

  // Stop still wins at once over a pending cancellation.
  ChangedRun stopped = MustApply(business_a_, before.id, RunAction::kStop);
  EXPECT_EQ(stopped.run.status, RunStatus::kStopped);
  EXPECT_EQ(stopped.cancelled_jobs, 7);
  EXPECT_EQ(CountJobs(before.id, "queued"), 0);
}

// Item 4 (store): a paused run whose holder still has a call in flight gets
// a Cancel (live lease: only requested); when the holder records the last
// call and releases the run, the release finalises the cancel: queued jobs
// cancelled, the run cancelled, so it never stays paused with a pending
// cancel that nothing would pick up again.
TEST_F(RunActionTest, ReleasingAPausedRunFinalisesAPendingCancel) {
  const RunRecord run = MustCreate(business_a_, "paused-cancel", 4);
  store::LeaseStore leases(&database_, kLeaseTtl);
  absl::StatusOr<std::vector<store::AcquiredRun>> acquired =
      leases.Acquire("worker-1", 10, store::AcquireMode::kFree);
  ASSERT_TRUE(acquired.ok()) << acquired.status();
  ASSERT_EQ(acquired->size(), 1u);
  const store::Lease lease = (*acquired)[0].lease;
  absl::StatusOr<std::vector<store::ClaimedJob>> claimed = leases.Claim(lease, 1);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 1u);
  const store::ClaimedJob& job = (*claimed)[0];
  ASSERT_TRUE(leases.RecordCalls(lease, {store::CallStart{job.job_id, job.token, "CA-last"}}, {})
                  .ok());

  EXPECT_EQ(MustApply(business_a_, run.id, RunAction::kPause).run.status, RunStatus::kPaused);
  const ChangedRun requested = MustApply(business_a_, run.id, RunAction::kCancel);
  ASSERT_TRUE(requested.run.cancel_requested);

  absl::StatusOr<store::RunControl> recorded = leases.RecordCalls(
      lease, {}, {store::JobResult{job.job_id, job.token, JobStatus::kCompleted, "", ""}});
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_TRUE(leases.Release(lease).ok());

  absl::StatusOr<RunRecord> released = runs_.GetRun(business_a_, run.id);
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(released->status, RunStatus::kCancelled);
  EXPECT_TRUE(released->ended_at.has_value());
  EXPECT_EQ(released->queued_count, 0);
  EXPECT_EQ(released->in_progress_count, 0);
  EXPECT_EQ(released->completed_count, 1);
  EXPECT_EQ(released->cancelled_count, 3);
  EXPECT_EQ(released->cursor_position, 4);
  EXPECT_GT(released->version, requested.run.version);
  ExpectCountersAddUp(*released);
  EXPECT_EQ(CountJobs(run.id, "cancelled"), 3);
  absl::StatusOr<ChangedRun> resume = runs_.ApplyAction(business_a_, run.id, RunAction::kResume);
  EXPECT_EQ(resume.status().code(), absl::StatusCode::kFailedPrecondition) << resume.status();

  // Releasing a running run (a graceful hand-over) does not end it.
  const RunRecord other = MustCreate(business_a_, "handover", 2);
  acquired = leases.Acquire("worker-1", 10, store::AcquireMode::kFree);
  ASSERT_TRUE(acquired.ok()) << acquired.status();
  ASSERT_EQ(acquired->size(), 1u);
  ASSERT_TRUE(leases.Release((*acquired)[0].lease).ok());
  absl::StatusOr<RunRecord> handed = runs_.GetRun(business_a_, other.id);
  ASSERT_TRUE(handed.ok()) << handed.status();
  EXPECT_EQ(handed->status, RunStatus::kRunning);
  EXPECT_EQ(handed->queued_count, 2);
}

TEST_F(RunActionTest, CancelWithAnExpiredLeaseCancelsAtOnce) {
  const RunRecord before = MakeRunningRunWithActiveJobs();
  // Older than kLeaseTtl (30 s): the worker is presumed dead.
  db_.ExecAsAdmin(
      absl::StrCat("UPDATE outbound_call_runs SET locked_by_worker = 'worker-1',"
                   " lock_ts = now() - interval '5 minutes' WHERE id = ",
                   before.id));
  ChangedRun cancelled = MustApply(business_a_, before.id, RunAction::kCancel);
  EXPECT_EQ(cancelled.run.status, RunStatus::kCancelled);
  EXPECT_EQ(cancelled.cancelled_jobs, 7);
  EXPECT_TRUE(cancelled.run.ended_at.has_value());
  EXPECT_EQ(CountJobs(before.id, "queued"), 0);
  EXPECT_EQ(CountJobs(before.id, "dialing"), 2);
  ExpectCountersAddUp(cancelled.run);
}

TEST_F(RunActionTest, PauseAndResumeFollowTheStateMachine) {
  const RunRecord pending = MustCreate(business_a_, "pr", 2);
  ChangedRun paused = MustApply(business_a_, pending.id, RunAction::kPause);
  EXPECT_EQ(paused.run.status, RunStatus::kPaused);
  EXPECT_GT(paused.run.version, pending.version);
  EXPECT_EQ(paused.cancelled_jobs, 0);
  EXPECT_EQ(CountJobs(pending.id, "queued"), 2);

  // Pausing again is a no-op.
  ChangedRun paused_again = MustApply(business_a_, pending.id, RunAction::kPause);
  EXPECT_EQ(paused_again.run.status, RunStatus::kPaused);
  EXPECT_EQ(paused_again.run.version, paused.run.version);

  // Never started: back to pending.
  ChangedRun resumed = MustApply(business_a_, pending.id, RunAction::kResume);
  EXPECT_EQ(resumed.run.status, RunStatus::kPending);
  EXPECT_GT(resumed.run.version, paused.run.version);
  ChangedRun resumed_again = MustApply(business_a_, pending.id, RunAction::kResume);
  EXPECT_EQ(resumed_again.run.version, resumed.run.version);

  // Started by a worker: resume goes back to running.
  db_.ExecAsAdmin(absl::StrCat(
      "UPDATE outbound_call_runs SET status = 'running', started_at = now() WHERE id = ",
      pending.id));
  ChangedRun paused_running = MustApply(business_a_, pending.id, RunAction::kPause);
  EXPECT_EQ(paused_running.run.status, RunStatus::kPaused);
  ChangedRun resumed_running = MustApply(business_a_, pending.id, RunAction::kResume);
  EXPECT_EQ(resumed_running.run.status, RunStatus::kRunning);
  EXPECT_GT(resumed_running.run.version, paused_running.run.version);
  EXPECT_FALSE(resumed_running.run.ended_at.has_value());
  EXPECT_EQ(CountJobs(pending.id, "queued"), 2);
}

TEST_F(RunActionTest, IllegalTransitionsAreFailedPreconditionNamingTheStatus) {
  const RunRecord stopped = MustCreate(business_a_, "s", 1);
  MustApply(business_a_, stopped.id, RunAction::kStop);
  for (RunAction action : {RunAction::kPause, RunAction::kResume, RunAction::kCancel}) {
    absl::StatusOr<ChangedRun> refused = runs_.ApplyAction(business_a_, stopped.id, action);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
        << RunActionName(action) << ": " << refused.status();
    EXPECT_TRUE(Contains(refused.status().message(), "stopped"));
  }

  const RunRecord completed = MustCreate(business_a_, "c", 1);
  db_.ExecAsAdmin(absl::StrCat(
      "UPDATE outbound_call_jobs SET status = 'completed' WHERE run_id = ", completed.id,
      "; UPDATE outbound_call_runs SET status = 'completed', queued_count = 0,"
      " completed_count = 1, cursor_position = 1 WHERE id = ",
      completed.id));
  const int64_t version = db_.QueryInt(
      absl::StrCat("SELECT version FROM outbound_call_runs WHERE id = ", completed.id));
  for (RunAction action : {RunAction::kPause, RunAction::kResume, RunAction::kCancel}) {
    absl::StatusOr<ChangedRun> refused = runs_.ApplyAction(business_a_, completed.id, action);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
        << RunActionName(action) << ": " << refused.status();
    EXPECT_TRUE(Contains(refused.status().message(), "completed"));
  }
  // Stopping a finished run succeeds without change.
  ChangedRun stop = MustApply(business_a_, completed.id, RunAction::kStop);
  EXPECT_EQ(stop.run.status, RunStatus::kCompleted);
  EXPECT_EQ(stop.cancelled_jobs, 0);
  EXPECT_EQ(db_.QueryInt(
                absl::StrCat("SELECT version FROM outbound_call_runs WHERE id = ", completed.id)),
            version);

  // A cancelled run cannot be paused.
  const RunRecord cancelled = MustCreate(business_a_, "x", 1);
  MustApply(business_a_, cancelled.id, RunAction::kCancel);
  absl::StatusOr<ChangedRun> pause =
      runs_.ApplyAction(business_a_, cancelled.id, RunAction::kPause);
  EXPECT_EQ(pause.status().code(), absl::StatusCode::kFailedPrecondition) << pause.status();
  EXPECT_TRUE(Contains(pause.status().message(), "cancelled"));
}

TEST_F(RunActionTest, ActionsOnAnotherBusinessRunAreNotFoundAndChangeNothing) {
  const RunRecord theirs = MustCreate(business_b_, "theirs", 3);
  for (RunAction action :
       {RunAction::kStop, RunAction::kCancel, RunAction::kPause, RunAction::kResume}) {
    absl::StatusOr<ChangedRun> refused = runs_.ApplyAction(business_a_, theirs.id, action);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound)
        << RunActionName(action) << ": " << refused.status();
    EXPECT_EQ(refused.status().message(), store::RunNotFoundMessage(theirs.id));
  }
  absl::StatusOr<RunRecord> unchanged = runs_.GetRun(business_b_, theirs.id);
  ASSERT_TRUE(unchanged.ok()) << unchanged.status();
  EXPECT_EQ(unchanged->status, RunStatus::kPending);
  EXPECT_EQ(unchanged->version, theirs.version);
  EXPECT_EQ(CountJobs(theirs.id, "queued"), 3);
}

// One thread claims queued jobs in batches the way the scheduler does (run
// row locked, then FOR UPDATE SKIP LOCKED on jobs, counters kept in the same
// transaction) while another stops the run. Whatever the interleaving, every
// job ends up either claimed or cancelled, never both, none stays queued, and
// nothing can be claimed once StopRun has returned.
TEST_F(RunActionTest, StopRacingWithClaimsLeavesNoQueuedJobs) {
  constexpr int kJobs = 2000;
  const RunRecord run = MustCreate(business_a_, "race", kJobs);
  db_.ExecAsAdmin(absl::StrCat(
      "UPDATE outbound_call_runs SET status = 'running', started_at = now() WHERE id = ", run.id));

  pqxx::connection worker(db_.app_url());
  // Claims up to 5 jobs; returns how many. 0 once the run is not running.
  auto claim = [&]() -> int64_t {
    pqxx::work txn(worker);
    txn.exec("SELECT set_config('campaign.all_businesses', 'on', true)");
    pqxx::result status =
        txn.exec_params("SELECT status FROM outbound_call_runs WHERE id = $1 FOR UPDATE", run.id);
    if (status.empty() || status[0][0].as<std::string>() != "running") {
      txn.commit();
      return 0;
    }
    const int64_t claimed =
        txn.exec_params(
               "UPDATE outbound_call_jobs SET status = 'dialing', dial_started_at = now()"
               " WHERE id IN (SELECT id FROM outbound_call_jobs"
               "               WHERE run_id = $1 AND status = 'queued'"
               "               ORDER BY id LIMIT 5 FOR UPDATE SKIP LOCKED)",
               run.id)
            .affected_rows();
    txn.exec_params(
        "UPDATE outbound_call_runs SET queued_count = queued_count - $2,"
        " in_progress_count = in_progress_count + $2, cursor_position = cursor_position + $2"
        " WHERE id = $1",
        run.id, claimed);
    txn.commit();
    return claimed;
  };

  std::latch first_claim_done(1);
  std::atomic<int64_t> total_claimed{0};
  std::thread claimer([&] {
    bool signalled = false;
    while (true) {
      const int64_t claimed = claim();
      total_claimed += claimed;
      if (!signalled) {
        first_claim_done.count_down();
        signalled = true;
      }
      if (claimed == 0) break;
    }
  });
  first_claim_done.wait();
  absl::StatusOr<ChangedRun> stopped = runs_.ApplyAction(business_a_, run.id, RunAction::kStop);
  claimer.join();
  ASSERT_TRUE(stopped.ok()) << stopped.status();

  // No claim succeeds after StopRun returned.
  EXPECT_EQ(claim(), 0);

  const int64_t claimed = total_claimed.load();
  EXPECT_GE(claimed, 5);
  EXPECT_EQ(CountJobs(run.id, "queued"), 0);
  EXPECT_EQ(CountJobs(run.id, "dialing"), claimed);
  EXPECT_EQ(CountJobs(run.id, "cancelled"), stopped->cancelled_jobs);
  EXPECT_EQ(claimed + stopped->cancelled_jobs, kJobs);

  absl::StatusOr<RunRecord> after = runs_.GetRun(business_a_, run.id);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->status, RunStatus::kStopped);
  EXPECT_EQ(after->queued_count, 0);
  EXPECT_EQ(after->in_progress_count, claimed);
  EXPECT_EQ(after->cancelled_count, stopped->cancelled_jobs);
  EXPECT_EQ(after->cursor_position, kJobs);
  ExpectCountersAddUp(*after);
}

TEST_F(RunActionTest, ActionsOnAMissingRunAreNotFound) {
  absl::StatusOr<ChangedRun> missing = runs_.ApplyAction(business_a_, 987654, RunAction::kStop);
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_EQ(missing.status().message(), store::RunNotFoundMessage(987654));
}

// --------------------------------------------------------------- ApiKeyStore

// The same migrated database with two businesses, for the key store.
using ApiKeyStoreTest = RunStoreTest;

TEST_F(ApiKeyStoreTest, CreateBusinessChecksTheName) {
  absl::StatusOr<int64_t> empty = keys_.CreateBusiness("");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument) << empty.status();
  absl::StatusOr<int64_t> too_long = keys_.CreateBusiness(std::string(256, 'x'));
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument) << too_long.status();
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM business"), 2);

  absl::StatusOr<int64_t> longest = keys_.CreateBusiness(std::string(255, 'y'));
  ASSERT_TRUE(longest.ok()) << longest.status();
  absl::StatusOr<int64_t> named = keys_.CreateBusiness("Zoë's Café");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_NE(*named, *longest);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM business WHERE id = ", *named,
                                      " AND name = 'Zoë''s Café'")),
            1);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT length(name) FROM business WHERE id = ", *longest)),
            255);
}

TEST_F(ApiKeyStoreTest, CreateApiKeyEnforcesRoleAndBusinessRules) {
  absl::StatusOr<store::NewApiKey> admin_with_business =
      keys_.CreateApiKey(business_a_, Role::kSystemAdmin, 0, "x");
  EXPECT_EQ(admin_with_business.status().code(), absl::StatusCode::kInvalidArgument)
      << admin_with_business.status();
  for (Role role : {Role::kOwner, Role::kAdmin, Role::kAgent}) {
    absl::StatusOr<store::NewApiKey> without = keys_.CreateApiKey(std::nullopt, role, 0, "x");
    EXPECT_EQ(without.status().code(), absl::StatusCode::kInvalidArgument)
        << RoleName(role) << ": " << without.status();
  }
  absl::StatusOr<store::NewApiKey> unknown =
      keys_.CreateApiKey(business_b_ + 1000, Role::kOwner, 0, "x");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound) << unknown.status();
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM api_keys"), 0);

  absl::StatusOr<store::NewApiKey> system =
      keys_.CreateApiKey(std::nullopt, Role::kSystemAdmin, 0, "ops");
  ASSERT_TRUE(system.ok()) << system.status();
  absl::StatusOr<store::NewApiKey> agent = keys_.CreateApiKey(business_a_, Role::kAgent, 5, "desk");
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM api_keys"), 2);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM api_keys WHERE id = ", system->id,
                                      " AND business_id IS NULL AND role = 'system_admin'")),
            1);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM api_keys WHERE id = ", agent->id,
                                      " AND business_id = ", business_a_,
                                      " AND role = 'agent' AND user_id = 5")),
            1);
}

TEST_F(ApiKeyStoreTest, OnlyTheHashOfAKeyIsStored) {
  absl::StatusOr<store::NewApiKey> key = keys_.CreateApiKey(business_a_, Role::kOwner, 3, "label");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(absl::StartsWith(key->key, store::kApiKeyPrefix)) << key->key;
  EXPECT_GE(key->key.size(), store::kApiKeyPrefix.size() + 40);
  absl::StatusOr<store::NewApiKey> other =
      keys_.CreateApiKey(business_a_, Role::kOwner, 3, "label");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(key->key, other->key);

  // The key is web-safe base64 behind its prefix, so it can be quoted as is.
  ASSERT_EQ(key->key.find('\''), std::string::npos);
  const std::string random_part = key->key.substr(store::kApiKeyPrefix.size());
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM api_keys WHERE id = ", key->id,
                                      " AND key_hash = '", Sha256Hex(key->key), "'")),
            1);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM api_keys a WHERE strpos(a::text, '",
                                      random_part, "') > 0")),
            0);
}

TEST_F(ApiKeyStoreTest, FindByHashAndRevoke) {
  absl::StatusOr<store::NewApiKey> key = keys_.CreateApiKey(business_a_, Role::kAdmin, 17, "mine");
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<std::optional<ApiKeyRecord>> found = keys_.FindByHash(Sha256Hex(key->key));
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  const ApiKeyRecord& record = **found;
  EXPECT_EQ(record.principal.api_key_id, key->id);
  EXPECT_EQ(record.principal.business_id, business_a_);
  EXPECT_EQ(record.principal.role, Role::kAdmin);
  EXPECT_EQ(record.principal.user_id, 17);
  EXPECT_EQ(record.label, "mine");
  EXPECT_FALSE(record.revoked);

  // The plaintext is not a hash; an unknown hash finds nothing.
  absl::StatusOr<std::optional<ApiKeyRecord>> by_plaintext = keys_.FindByHash(key->key);
  ASSERT_TRUE(by_plaintext.ok()) << by_plaintext.status();
  EXPECT_FALSE(by_plaintext->has_value());
  absl::StatusOr<std::optional<ApiKeyRecord>> unknown = keys_.FindByHash(Sha256Hex("ocs_nope"));
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_FALSE(unknown->has_value());

  ASSERT_TRUE(keys_.RevokeApiKey(key->id).ok());
  found = keys_.FindByHash(Sha256Hex(key->key));
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_TRUE((*found)->revoked);
  const int64_t revoked_at = db_.QueryInt(absl::StrCat(
      "SELECT (extract(epoch from revoked_at) * 1000000)::int8 FROM api_keys WHERE id = ",
      key->id));

  // Revoking again succeeds and keeps the first revocation time.
  absl::Status again = keys_.RevokeApiKey(key->id);
  EXPECT_TRUE(again.ok()) << again;
  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT (extract(epoch from revoked_at) * 1000000)::int8 FROM api_keys WHERE id = ",
                key->id)),
            revoked_at);

  absl::Status missing = keys_.RevokeApiKey(key->id + 1000);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;

  // A system admin key has no business.
  absl::StatusOr<store::NewApiKey> system =
      keys_.CreateApiKey(std::nullopt, Role::kSystemAdmin, 0, "");
  ASSERT_TRUE(system.ok()) << system.status();
  found = keys_.FindByHash(Sha256Hex(system->key));
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->principal.role, Role::kSystemAdmin);
  EXPECT_FALSE((*found)->principal.business_id.has_value());
}

// ------------------------------------------------------------ Database pool

// A pool whose connection the server killed: the next transaction fails
// cleanly (UNAVAILABLE) or already runs on a fresh connection, and the one
// after it succeeds: the pool recovers by itself.
TEST_F(RunStoreTest, PoolRecoversAfterTheServerKillsItsConnection) {
  Database pool(db_.app_url(), PoolOptions{.size = 1});
  auto count_runs = [&pool]() {
    return pool.Transact(
        Tenancy::AllBusinesses(), "count runs", [](pqxx::work& txn) -> absl::StatusOr<int64_t> {
          return txn.exec1("SELECT count(*) FROM outbound_call_runs")[0].as<int64_t>();
        });
  };
  MustCreate(business_a_, "one", 1);
  absl::StatusOr<int64_t> before = count_runs();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 1);
  EXPECT_EQ(pool.OpenConnections(), 1);

  // Every backend of the app role on this database, waiting until each has
  // exited: the fixture's pool loses its idle connection as well.
  const int64_t killed = db_.QueryInt(
      absl::StrCat("SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) AS gone"
                   " FROM pg_stat_activity WHERE usename = '",
                   testing::kAppRole, "' AND datname = '", db_.name(), "') t WHERE gone"));
  EXPECT_GE(killed, 1);

  absl::StatusOr<int64_t> during = count_runs();
  if (!during.ok()) {
    EXPECT_EQ(during.status().code(), absl::StatusCode::kUnavailable) << during.status();
  } else {
    EXPECT_EQ(*during, 1);
  }
  absl::StatusOr<int64_t> after = count_runs();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, 1);
  EXPECT_EQ(pool.OpenConnections(), 1);
  EXPECT_EQ(pool.BusyConnections(), 0);
  EXPECT_TRUE(pool.Ping().ok());

  // The store on the fixture's pool recovers the same way.
  absl::StatusOr<store::Page<RunRecord>> first =
      runs_.ListRuns(business_a_, std::nullopt, std::nullopt, 10);
  if (!first.ok()) {
    EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  }
  absl::StatusOr<store::Page<RunRecord>> listed =
      runs_.ListRuns(business_a_, std::nullopt, std::nullopt, 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->items.size(), 1u);
}

// A pool of one whose connection is held: another caller waits at most the
// acquire timeout and is told UNAVAILABLE; once released, it works again.
TEST_F(RunStoreTest, ExhaustedPoolIsUnavailableAfterTheAcquireTimeout) {
  Database pool(db_.app_url(), PoolOptions{.size = 1, .acquire_timeout = absl::Milliseconds(200)});
  std::latch held(1);
  std::latch release(1);
  std::thread holder([&] {
    absl::Status status =
        pool.Transact(Tenancy::AllBusinesses(), "hold", [&](pqxx::work& txn) -> absl::Status {
          txn.exec("SELECT 1");
          held.count_down();
          release.wait();
          return absl::OkStatus();
        });
    EXPECT_TRUE(status.ok()) << status;
  });
  held.wait();
  EXPECT_EQ(pool.BusyConnections(), 1);
  absl::Status waited = pool.Ping();
  EXPECT_EQ(waited.code(), absl::StatusCode::kUnavailable) << waited;
  EXPECT_TRUE(Contains(waited.message(), "pool size 1"));
  release.count_down();
  holder.join();
  EXPECT_TRUE(pool.Ping().ok());
  EXPECT_EQ(pool.BusyConnections(), 0);
  EXPECT_EQ(pool.OpenConnections(), 1);
}

// A connection that cannot be opened is UNAVAILABLE and gives its slot back:
// with a pool of one, the second attempt fails to connect again rather than
// waiting for a slot that leaked.
TEST_F(RunStoreTest, FailedConnectsAreUnavailableAndFreeTheirSlot) {
  Database pool(testing::WithDatabase(db_.app_url(), "no_such_database_here"),
                PoolOptions{.size = 1, .acquire_timeout = absl::Milliseconds(100)});
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::Status status = pool.Ping();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_FALSE(Contains(status.message(), "became free")) << "attempt " << attempt;
  }
  EXPECT_EQ(pool.OpenConnections(), 0);
  EXPECT_EQ(pool.BusyConnections(), 0);
}

// A failing body rolls its transaction back and leaves the connection usable.
TEST_F(RunStoreTest, TransactRollsBackWhenTheBodyFails) {
  Database pool(db_.app_url(), PoolOptions{.size = 1});
  absl::Status failed = pool.Transact(
      Tenancy::AllBusinesses(), "create and fail", [&](pqxx::work& txn) -> absl::Status {
        txn.exec("INSERT INTO business (name) VALUES ('rolled back')");
        return absl::InternalError("body failed");
      });
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal);
  absl::Status thrown =
      pool.Transact(Tenancy::AllBusinesses(), "bad sql", [&](pqxx::work& txn) -> absl::Status {
        txn.exec("INSERT INTO business (name) VALUES ('also rolled back')");
        txn.exec("SELECT no_such_column FROM business");
        return absl::OkStatus();
      });
  EXPECT_FALSE(thrown.ok());
  EXPECT_TRUE(Contains(thrown.message(), "bad sql"));
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM business WHERE name LIKE '%rolled back'"), 0);
  EXPECT_TRUE(pool.Ping().ok());
}

}  // namespace
}  // namespace campaign
