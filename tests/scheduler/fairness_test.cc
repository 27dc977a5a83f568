// One business cannot starve the others (issue item 8): with
// --max-runs-per-business a worker keeps room for other businesses, so a
// run of business B starts at the next poll although business A has more
// runs than the worker can hold, all of them busy with long calls.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/dialer/simulated_dialer.h"
#include "server/model/model.h"
#include "server/scheduler/scheduler.h"
#include "server/store/database.h"
#include "server/store/lease_store.h"
#include "server/store/run_store.h"
#include "tests/scheduler/scheduler_test_support.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using testing::MakeLeads;
using testing::TestDatabase;
using testing::sched::Inspector;
using testing::sched::RunRow;
using testing::sched::SimulatedWorker;
using testing::sched::TempPath;
using testing::sched::WaitForRunState;

TEST(FairnessTest, AnotherBusinessRunStartsWhileOneBusinessFillsTheWorker) {
  TestDatabase db;
  db.Migrate();
  const int64_t business_a = db.CreateBusiness("A");
  const int64_t business_b = db.CreateBusiness("B");
  store::Database database(db.app_url(), store::PoolOptions{.size = 4});
  store::RunStore runs(&database, absl::Seconds(5));
  store::LeaseStore leases(&database, absl::Seconds(5));
  auto create = [&](int64_t business_id, const std::string& request_id) {
    NewRun run;
    run.business_id = business_id;
    run.request_id = request_id;
    run.request_digest = "d";
    run.concurrency = 1;
    run.leads = MakeLeads(3);
    absl::StatusOr<store::CreatedRun> created = runs.CreateRun(run);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->run.id : 0;
  };
  std::vector<int64_t> a_runs;
  for (int i = 0; i < 4; ++i) a_runs.push_back(create(business_a, absl::StrCat("a-", i)));

  TempPath dial_log("fairness-dial-log");
  dialer::SimulatedDialerOptions sim;
  // Calls outlast the test: A's runs never free a slot by finishing.
  sim.call_duration = absl::Seconds(120);
  sim.dial_log_path = dial_log.path();
  scheduler::SchedulerOptions options;
  options.worker_id = "fair-w1";
  options.heartbeat_interval = absl::Milliseconds(200);
  options.lease_ttl = absl::Seconds(5);
  options.sweep_interval = absl::Seconds(1);
  options.poll_interval = absl::Milliseconds(50);
  options.max_runs = 3;
  options.max_runs_per_business = 2;
  SimulatedWorker w(&leases, sim, options);
  w.scheduler().Start();

  Inspector inspect(db.admin_url());
  // The worker holds two of A's runs (its cap for A), each with a call up.
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(WaitForRunState(
        inspect, a_runs[i], [](const RunRow& r) { return r.in_progress == 1; }, "dialing"));
  }
  EXPECT_EQ(
      inspect.Int("SELECT count(*) FROM outbound_call_runs WHERE locked_by_worker IS NOT NULL"), 2);

  const int64_t b_run = create(business_b, "b-0");
  RunRow b_seen;
  EXPECT_TRUE(WaitForRunState(
      inspect, b_run, [](const RunRow& r) { return r.worker == "fair-w1"; }, "acquired", &b_seen,
      absl::Seconds(20)));
  // Not by a slot freed up: A's runs are all still busy or waiting.
  EXPECT_EQ(inspect.Int(absl::StrCat(
                "SELECT count(*) FROM outbound_call_runs WHERE business_id = ", business_a,
                " AND status IN ('pending', 'running')"
                " AND completed_count = 0")),
            4);
  EXPECT_EQ(inspect.Int(absl::StrCat("SELECT count(*) FROM outbound_call_runs WHERE business_id = ",
                                     business_a, " AND locked_by_worker = 'fair-w1'")),
            2);
}

}  // namespace
}  // namespace campaign
