// Issue 13's writes of the API against a real, migrated database: CreateRun's
// new fields (zone specs and caller ids on the jobs, the run's schedule, pool
// and override row) and PolicyStore (masks, clearing, isolation, ended runs).

#include "server/store/policy_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/run_store.h"
#include "tests/support/leads.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using store::Database;
using store::PolicyMask;
using store::PolicyStore;
using store::PoolOptions;
using store::RunStore;
using store::StoredPolicies;
using testing::MakeLeads;
using testing::TestDatabase;
// campaign::Run under a name that gtest's Test::Run does not hide in tests.
using RunRecord = ::campaign::Run;

class PolicyStoreTest : public ::testing::Test {
 protected:
  PolicyStoreTest()
      : database_(db_.app_url(), PoolOptions{.size = 4}),
        runs_(&database_, absl::Seconds(30)),
        policies_(&database_) {
    db_.Migrate();
    business_a_ = db_.CreateBusiness("A");
    business_b_ = db_.CreateBusiness("B");
  }

  NewRun MakeRun(int64_t business_id, const std::string& request_id, int leads) {
    NewRun run;
    run.business_id = business_id;
    run.request_id = request_id;
    run.request_digest = "d";
    run.concurrency = 2;
    run.leads = MakeLeads(leads, 1);
    return run;
  }

  int64_t MustCreate(const NewRun& run) {
    absl::StatusOr<store::CreatedRun> created = runs_.CreateRun(run);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->run.id : 0;
  }

  TestDatabase db_;
  Database database_;
  RunStore runs_;
  PolicyStore policies_;
  int64_t business_a_ = 0;
  int64_t business_b_ = 0;
};

TEST_F(PolicyStoreTest, CreateRunStoresZonesCallerIdsScheduleAndTheOverrideRow) {
  NewRun run = MakeRun(business_a_, "r1", 3);
  run.lead_time_zones = {"America/New_York", "", "America/Boise&America/Los_Angeles"};
  run.lead_caller_ids = {"+12125550100", "+14155550100", ""};
  run.caller_ids = {"+12125550100", "+14155550100"};
  run.local_presence = true;
  const absl::Time start = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 3600);
  run.start_at = start;
  run.end_at = start + absl::Hours(8);
  run.policy.max_attempts = 3;
  run.policy.calling_windows = {{1, 540, 1020}, {2, 540, 1020}};
  run.policy.restricted_dates = {{2026, 12, 25}};
  run.policy.retry_delays = {{JobStatus::kBusy, absl::Seconds(600)}};
  run.policy.default_time_zone = "America/Chicago";
  absl::StatusOr<store::CreatedRun> created = runs_.CreateRun(run);
  ASSERT_TRUE(created.ok()) << created.status();
  const RunRecord& stored = created->run;
  EXPECT_EQ(stored.caller_ids, run.caller_ids);
  EXPECT_TRUE(stored.local_presence);
  EXPECT_EQ(stored.start_at, start);
  EXPECT_EQ(stored.end_at, start + absl::Hours(8));
  // A start still to come is what the run waits for.
  EXPECT_EQ(stored.next_dial_at, start);
  EXPECT_EQ(stored.waiting_reason, WaitReason::kStartAt);
  EXPECT_EQ(stored.skipped_count, 0);
  absl::StatusOr<RunRecord> read = runs_.GetRun(business_a_, stored.id);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->caller_ids, run.caller_ids);
  EXPECT_EQ(read->next_dial_at, start);

  absl::StatusOr<store::Page<Job>> jobs = runs_.ListJobs(business_a_, stored.id, {}, {}, 10);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->items.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const Job& job = jobs->items[i];
    EXPECT_EQ(job.time_zone, run.lead_time_zones[i]) << i;
    EXPECT_EQ(job.caller_id, run.lead_caller_ids[i]) << i;
    EXPECT_FALSE(job.next_attempt_at.has_value()) << "'-infinity': due now";
    EXPECT_EQ(job.waiting_reason, WaitReason::kNone);
    EXPECT_EQ(job.skip_reason, SkipReason::kNone);
  }
  // Empty zone specs and caller ids are stored as NULL.
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ",
                                      stored.id, " AND (time_zone IS NULL OR caller_id IS NULL)")),
            2);

  absl::StatusOr<StoredPolicies> policies = policies_.GetPolicies(business_a_, stored.id);
  ASSERT_TRUE(policies.ok()) << policies.status();
  EXPECT_EQ(policies->run, run.policy);
  EXPECT_EQ(policies->business, DialingPolicy{});
}

TEST_F(PolicyStoreTest, ARunWithoutOverridesOrScheduleHasNoRowAndNothingWaits) {
  const int64_t run_id = MustCreate(MakeRun(business_a_, "plain", 2));
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM dialing_policy"), 0);
  absl::StatusOr<RunRecord> run = runs_.GetRun(business_a_, run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->start_at || run->end_at || run->next_dial_at);
  EXPECT_EQ(run->waiting_reason, WaitReason::kNone);
  EXPECT_TRUE(run->caller_ids.empty());
  // A start_at already past waits for nothing.
  NewRun past = MakeRun(business_a_, "past", 1);
  past.start_at = absl::Now() - absl::Hours(1);
  const int64_t past_id = MustCreate(past);
  absl::StatusOr<RunRecord> started = runs_.GetRun(business_a_, past_id);
  ASSERT_TRUE(started.ok());
  EXPECT_TRUE(started->start_at.has_value());
  EXPECT_FALSE(started->next_dial_at.has_value());
  EXPECT_EQ(started->waiting_reason, WaitReason::kNone);
}

TEST_F(PolicyStoreTest, AddLeadsStoresZonesAndCallerIds) {
  const int64_t run_id = MustCreate(MakeRun(business_a_, "r", 1));
  absl::StatusOr<store::AddedLeads> added =
      runs_.AddLeads(business_a_, run_id, MakeLeads(2, 10), {"Europe/Paris", ""}, {"+33123456789"});
  ASSERT_TRUE(added.ok()) << added.status();
  absl::StatusOr<store::Page<Job>> jobs = runs_.ListJobs(business_a_, run_id, {}, {}, 10);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->items.size(), 3u);
  EXPECT_EQ(jobs->items[1].time_zone, "Europe/Paris");
  EXPECT_EQ(jobs->items[1].caller_id, "+33123456789");
  EXPECT_EQ(jobs->items[2].time_zone, "");
  EXPECT_EQ(jobs->items[2].caller_id, "") << "a missing entry is none";
}

TEST_F(PolicyStoreTest, MaskedWritesSetClearAndKeepFields) {
  DialingPolicy values;
  values.max_attempts = 4;
  values.max_dials_per_number = 2;
  values.per_number_window_days = 7;
  values.default_time_zone = "Europe/Paris";
  values.retry_delays = {{JobStatus::kNoAnswer, absl::Seconds(3600)},
                         {JobStatus::kFailed, absl::Seconds(60)}};
  absl::StatusOr<StoredPolicies> written =
      policies_.UpdatePolicy(business_a_, 0, values, PolicyMask::All());
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->business, values);

  // Only max_attempts is in the mask: the others keep their value.
  DialingPolicy change;
  change.max_attempts = 2;
  change.default_time_zone = "ignored";
  PolicyMask attempts;
  attempts.max_attempts = true;
  written = policies_.UpdatePolicy(business_a_, 0, change, attempts);
  ASSERT_TRUE(written.ok()) << written.status();
  DialingPolicy expected = values;
  expected.max_attempts = 2;
  EXPECT_EQ(written->business, expected);

  // An empty value in the mask clears the field (NULL: inherit).
  PolicyMask clear;
  clear.retry_delays = true;
  clear.default_time_zone = true;
  written = policies_.UpdatePolicy(business_a_, 0, DialingPolicy{}, clear);
  ASSERT_TRUE(written.ok()) << written.status();
  expected.retry_delays.clear();
  expected.default_time_zone.clear();
  EXPECT_EQ(written->business, expected);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM dialing_policy WHERE retry_outcomes IS NULL AND "
                         "retry_delay_seconds IS NULL AND default_time_zone IS NULL"),
            1);
  // The other business sees none of it.
  absl::StatusOr<StoredPolicies> other = policies_.GetPolicies(business_b_, 0);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->business, DialingPolicy{});
}

TEST_F(PolicyStoreTest, RunOverridesAreIsolatedAndEndedRunsRefuseThem) {
  const int64_t run_id = MustCreate(MakeRun(business_a_, "r", 1));
  DialingPolicy values;
  values.max_attempts = 5;
  PolicyMask mask;
  mask.max_attempts = true;
  absl::StatusOr<StoredPolicies> written =
      policies_.UpdatePolicy(business_a_, run_id, values, mask);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->run.max_attempts, 5);
  EXPECT_EQ(written->business, DialingPolicy{});

  // Another business: NOT_FOUND, read or write, with nothing written.
  absl::StatusOr<StoredPolicies> theirs = policies_.GetPolicies(business_b_, run_id);
  EXPECT_EQ(theirs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(theirs.status().message(), store::RunNotFoundMessage(run_id));
  EXPECT_EQ(policies_.UpdatePolicy(business_b_, run_id, values, mask).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(policies_.GetPolicies(business_a_, run_id + 1000).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM dialing_policy WHERE business_id = ",
                                      business_b_)),
            0);

  // An ended run's policy can be read but not changed.
  ASSERT_TRUE(runs_.ApplyAction(business_a_, run_id, RunAction::kStop).ok());
  absl::StatusOr<StoredPolicies> ended = policies_.UpdatePolicy(business_a_, run_id, values, mask);
  EXPECT_EQ(ended.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ended.status().message(),
            absl::StrCat("cannot change the dialing policy of run ", run_id,
                         ": it is stopped; policies of pending, running or paused runs can be "
                         "changed"));
  EXPECT_TRUE(policies_.GetPolicies(business_a_, run_id).ok());
}

}  // namespace
}  // namespace campaign
