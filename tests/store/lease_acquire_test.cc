// LeaseStore::Acquire against a real, migrated database: businesses take
// turns, and a worker holds at most max_runs_per_business runs of one.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/lease_store.h"
#include "server/store/run_store.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using store::AcquiredRun;
using store::AcquireMode;
using testing::TestDatabase;

class LeaseAcquireTest : public ::testing::Test {
 protected:
  LeaseAcquireTest()
      : database_(db_.app_url(), store::PoolOptions{.size = 4}),
        runs_(&database_, absl::Seconds(30)),
        leases_(&database_, absl::Seconds(30)) {
    db_.Migrate();
    business_a_ = db_.CreateBusiness("A");
    business_b_ = db_.CreateBusiness("B");
  }

  // Creates a pending run of `business_id` with two leads; returns its id.
  int64_t CreateRun(int64_t business_id) {
    static std::atomic<int> counter{0};
    NewRun run;
    run.business_id = business_id;
    run.request_id = absl::StrCat("acquire-", counter++);
    run.request_digest = "d";
    run.concurrency = 1;
    run.leads = {Lead{1, "+14155551001", "One"}, Lead{2, "+14155551002", "Two"}};
    absl::StatusOr<store::CreatedRun> created = runs_.CreateRun(run);
    if (!created.ok()) {
      ADD_FAILURE() << created.status();
      return 0;
    }
    return created->run.id;
  }

  // Acquires for `worker`; the ids acquired, in the order returned.
  std::vector<int64_t> Acquire(const std::string& worker, int max_runs, int per_business = 0) {
    absl::StatusOr<std::vector<AcquiredRun>> acquired =
        leases_.Acquire(worker, max_runs, AcquireMode::kFree, per_business);
    if (!acquired.ok()) {
      ADD_FAILURE() << acquired.status();
      return {};
    }
    std::vector<int64_t> ids;
    for (const AcquiredRun& run : *acquired) ids.push_back(run.lease.run_id);
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  TestDatabase db_;
  store::Database database_;
  store::RunStore runs_;
  store::LeaseStore leases_;
  int64_t business_a_ = 0;
  int64_t business_b_ = 0;
};

// Business A has more runs than the workers can hold, business B one run,
// created last: the first acquisition round already takes B's run (the
// oldest waiting run of every business comes before A's second).
TEST_F(LeaseAcquireTest, ABusinessWithOneRunIsServedInTheFirstRound) {
  std::vector<int64_t> a_runs;
  for (int i = 0; i < 6; ++i) a_runs.push_back(CreateRun(business_a_));
  const int64_t b_run = CreateRun(business_b_);

  // Two workers holding two runs each: four slots for seven runs.
  const std::vector<int64_t> first = Acquire("w1", 2);
  EXPECT_EQ(first, (std::vector<int64_t>{a_runs[0], b_run}));
  const std::vector<int64_t> second = Acquire("w2", 2);
  EXPECT_EQ(second, (std::vector<int64_t>{a_runs[1], a_runs[2]}));
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_runs WHERE id = ", b_run,
                                      " AND status = 'running' AND locked_by_worker = 'w1'")),
            1);
}

// The per-business cap counts the runs the worker already holds; another
// worker has its own count.
TEST_F(LeaseAcquireTest, MaxRunsPerBusinessBoundsTheRunsOfOneBusinessAWorkerHolds) {
  std::vector<int64_t> a_runs;
  for (int i = 0; i < 5; ++i) a_runs.push_back(CreateRun(business_a_));
  EXPECT_EQ(Acquire("w1", 10, 2), (std::vector<int64_t>{a_runs[0], a_runs[1]}));
  // Holding two of A: nothing more of A for w1, however much room it has.
  EXPECT_TRUE(Acquire("w1", 10, 2).empty());
  // A run of B still fits.
  const int64_t b_run = CreateRun(business_b_);
  EXPECT_EQ(Acquire("w1", 10, 2), (std::vector<int64_t>{b_run}));
  // w2 holds none yet: two of A.
  EXPECT_EQ(Acquire("w2", 10, 2), (std::vector<int64_t>{a_runs[2], a_runs[3]}));
  // Without a cap the rest is taken.
  EXPECT_EQ(Acquire("w2", 10), (std::vector<int64_t>{a_runs[4]}));
}

// Turns among three businesses: each round gives every business one run
// before any gets a second, oldest first within a business.
TEST_F(LeaseAcquireTest, BusinessesTakeTurnsOldestRunFirst) {
  const int64_t business_c = db_.CreateBusiness("C");
  const int64_t a1 = CreateRun(business_a_);
  const int64_t a2 = CreateRun(business_a_);
  const int64_t a3 = CreateRun(business_a_);
  const int64_t b1 = CreateRun(business_b_);
  const int64_t c1 = CreateRun(business_c);
  const int64_t b2 = CreateRun(business_b_);
  EXPECT_EQ(Acquire("w1", 3), (std::vector<int64_t>{a1, b1, c1}));
  // w1 holds one of each: A's and B's second runs come next, then A's third.
  EXPECT_EQ(Acquire("w1", 2), (std::vector<int64_t>{a2, b2}));
  EXPECT_EQ(Acquire("w1", 2), (std::vector<int64_t>{a3}));
}

}  // namespace
}  // namespace campaign
