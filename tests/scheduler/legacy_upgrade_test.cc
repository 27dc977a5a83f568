// A legacy database upgraded in place, then served by a scheduler worker:
// legacy rows the new checks refuse do not block acquisition, legacy jobs in
// dialing or calling without a dial lock token are reconciled and finished,
// and a lead whose later duplicate was dialed is not dialed again.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/dialer/simulated_dialer.h"
#include "server/model/model.h"
#include "server/scheduler/scheduler.h"
#include "server/store/database.h"
#include "server/store/lease_store.h"
#include "server/store/run_store.h"
#include "tests/scheduler/scheduler_test_support.h"
#include "tests/support/legacy_schema.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using testing::MakeLeads;
using testing::TestDatabase;
using testing::sched::AllFinal;
using testing::sched::AtMostOnce;
using testing::sched::CountersExact;
using testing::sched::DialLine;
using testing::sched::DialsOfRun;
using testing::sched::Inspector;
using testing::sched::JobRow;
using testing::sched::ReadDialLog;
using testing::sched::RunRow;
using testing::sched::SimulatedWorker;
using testing::sched::TempPath;
using testing::sched::WaitForRunState;

using testing::kLegacySchemaSql;

// Run 100 (running): a job dialing and one calling, both without a dial
// lock token; lead 1007 twice, the later row dialed (completed); two queued
// leads. Run 101: pending with a concurrency of 0 (refused by the checks).
constexpr char kLegacyDataSql[] = R"sql(
INSERT INTO business (id, name) VALUES (10, 'Acme');
SELECT setval('business_id_seq', 10);
INSERT INTO outbound_call_runs (id, business_id, concurrency, status) VALUES
  (100, 10, 2, 'running'), (101, 10, 0, 'pending');
SELECT setval('outbound_call_runs_id_seq', 101);
INSERT INTO outbound_call_jobs
  (id, run_id, lead_id, status, call_sid, twilio_call_sid, dial_started_at, dial_lock_token)
VALUES
  (1, 100, 1001, 'dialing', NULL, NULL, now() - interval '1 hour', NULL),
  (2, 100, 1002, 'calling', NULL, 'CA-legacy-2', now() - interval '1 hour', NULL),
  (3, 100, 1007, 'queued', NULL, NULL, NULL, NULL),
  (4, 100, 1007, 'completed', 'CA-legacy-4', 'CA-legacy-4', now() - interval '2 hours', NULL),
  (5, 100, 1005, 'queued', NULL, NULL, NULL, NULL),
  (6, 100, 1006, 'queued', NULL, NULL, NULL, NULL),
  (7, 101, 1001, 'queued', NULL, NULL, NULL, NULL);
SELECT setval('outbound_call_jobs_id_seq', 7);
)sql";

// Issue items 2 and 9: before the fix, the run of concurrency 0 made every
// acquisition fail (check_violation) so nothing ran, and even without it the
// tokenless active jobs could never be finished, so run 100 never completed.
TEST(LegacyUpgradeTest, AWorkerFinishesLegacyRunsAndNewRunsAfterTheUpgrade) {
  TestDatabase db;
  {
    pqxx::connection connection(db.app_url());
    pqxx::nontransaction txn(connection);
    txn.exec(kLegacySchemaSql);
    txn.exec(kLegacyDataSql);
  }
  db.Migrate();
  // The CRM's phones for the queued legacy leads (legacy jobs had none).
  db.ExecAsAdmin(
      "UPDATE outbound_call_jobs SET phone = '+141555' || lead_id + 50000"
      " WHERE status = 'queued'");

  TempPath dial_log("legacy-dial-log");
  store::Database database(db.app_url(), store::PoolOptions{.size = 4});
  store::RunStore runs(&database, absl::Seconds(1));
  store::LeaseStore leases(&database, absl::Seconds(1));
  dialer::SimulatedDialerOptions sim;
  sim.call_duration = absl::Milliseconds(10);
  sim.dial_log_path = dial_log.path();
  scheduler::SchedulerOptions options;
  options.worker_id = "legacy-w1";
  options.heartbeat_interval = absl::Milliseconds(100);
  options.lease_ttl = absl::Seconds(1);
  options.sweep_interval = absl::Milliseconds(200);
  options.poll_interval = absl::Milliseconds(20);
  options.reconcile_interval = absl::Milliseconds(50);
  SimulatedWorker w(&leases, sim, options);
  w.scheduler().Start();

  NewRun fresh;
  fresh.business_id = 10;
  fresh.request_id = "after-upgrade";
  fresh.request_digest = "d";
  fresh.concurrency = 2;
  fresh.leads = MakeLeads(3, 2001);
  absl::StatusOr<store::CreatedRun> created = runs.CreateRun(fresh);
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t new_run = created->run.id;

  Inspector inspect(db.admin_url());
  auto completed = [](const RunRow& run) { return run.status == "completed"; };
  RunRow legacy_done, new_done;
  EXPECT_TRUE(WaitForRunState(inspect, new_run, completed, "completed", &new_done));
  EXPECT_TRUE(WaitForRunState(inspect, 100, completed, "completed", &legacy_done));
  w.scheduler().Shutdown(absl::ZeroDuration());

  const std::vector<DialLine> dials = ReadDialLog(dial_log.path());
  EXPECT_TRUE(AtMostOnce(DialsOfRun(dials, 100)));
  EXPECT_TRUE(AtMostOnce(DialsOfRun(dials, new_run)));
  EXPECT_EQ(DialsOfRun(dials, new_run).size(), 3u);
  // Run 100: the two queued leads dialed; lead 1007 (its dialed duplicate
  // kept) and the two legacy active jobs never.
  std::vector<int64_t> dialed_leads;
  for (const DialLine& dial : DialsOfRun(dials, 100)) dialed_leads.push_back(dial.lead_id);
  std::sort(dialed_leads.begin(), dialed_leads.end());
  EXPECT_EQ(dialed_leads, (std::vector<int64_t>{1005, 1006}));
  EXPECT_TRUE(DialsOfRun(dials, 101).empty());

  const std::vector<JobRow> legacy_jobs = inspect.Jobs(100);
  EXPECT_TRUE(AllFinal(legacy_jobs));
  EXPECT_TRUE(CountersExact(legacy_done, legacy_jobs));
  EXPECT_TRUE(CountersExact(new_done, inspect.Jobs(new_run)));
  ASSERT_EQ(legacy_jobs.size(), 5u);
  EXPECT_EQ(legacy_jobs[0].id, 1);
  EXPECT_EQ(legacy_jobs[0].status, "failed");
  EXPECT_TRUE(absl::StartsWith(legacy_jobs[0].error, testing::sched::kDialOutcomeUnknown))
      << legacy_jobs[0].error;
  EXPECT_EQ(legacy_jobs[1].id, 2);
  EXPECT_EQ(legacy_jobs[1].status, "failed");
  EXPECT_TRUE(absl::StrContains(legacy_jobs[1].error, "CA-legacy-2")) << legacy_jobs[1].error;
  EXPECT_EQ(legacy_jobs[2].id, 4);
  EXPECT_EQ(legacy_jobs[2].lead_id, 1007);
  EXPECT_EQ(legacy_jobs[2].status, "completed");

  const RunRow refused = inspect.Run(101);
  EXPECT_EQ(refused.status, "failed");
  EXPECT_TRUE(absl::StrContains(refused.last_error, "concurrency 0")) << refused.last_error;
  EXPECT_TRUE(CountersExact(refused, inspect.Jobs(101)));
}

}  // namespace
}  // namespace campaign
