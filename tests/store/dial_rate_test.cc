// The rate governor's token bucket (migration 0014, ClaimJobsGoverned)
// against the real database: claims take whole tokens from their business's
// bucket in the claim's statement, the bucket refills by database time up to
// its capacity and never goes negative or back in time, concurrent claims of
// many runs of one business never take more than it holds, and a store that
// does not enforce calls per second never touches it.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/store/api_key_store.h"
#include "server/store/database.h"
#include "server/store/lease_store.h"
#include "server/store/run_store.h"
#include "tests/support/leads.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using testing::MakeLeads;
using testing::TestDatabase;

constexpr absl::Duration kLeaseTtl = absl::Seconds(60);

class DialRateTest : public ::testing::Test {
 protected:
  DialRateTest() : database_((db_.Migrate(), db_.app_url()), store::PoolOptions{.size = 4}) {
    business_ = db_.CreateBusiness("governed");
  }

  // Creates a running run of `business` with `leads` queued jobs at
  // `concurrency`, leased by a new worker; returns its lease.
  store::Lease LeasedRun(store::LeaseStore& leases, int64_t business, int leads, int concurrency,
                         const std::string& worker) {
    store::RunStore runs(&database_, kLeaseTtl);
    NewRun run;
    run.business_id = business;
    run.request_id = absl::StrCat("run-", ++created_);
    run.request_digest = "d";
    run.concurrency = concurrency;
    run.leads = MakeLeads(leads);
    absl::StatusOr<store::CreatedRun> created = runs.CreateRun(run);
    if (!created.ok()) throw std::runtime_error(created.status().ToString());
    absl::StatusOr<std::vector<store::AcquiredRun>> acquired =
        leases.Acquire(worker, 1, store::AcquireMode::kFree);
    if (!acquired.ok() || acquired->size() != 1 || (*acquired)[0].lease.run_id != created->run.id) {
      throw std::runtime_error("the new run was not leased");
    }
    return (*acquired)[0].lease;
  }

  void SetLimit(int64_t business, double cps) {
    store::ApiKeyStore businesses(&database_);
    ASSERT_TRUE(businesses.SetBusinessLimits(business, cps).ok());
  }

  double Tokens(int64_t business) {
    pqxx::connection connection(db_.admin_url());
    pqxx::nontransaction txn(connection);
    return txn
        .exec_params1("SELECT tokens FROM business_dial_rate WHERE business_id = $1", business)[0]
        .as<double>();
  }

  // The bucket's refill time in microseconds since the epoch.
  int64_t RefilledAtUs(int64_t business) {
    return db_.QueryInt(absl::StrCat(
        "SELECT (extract(epoch from refilled_at) * 1000000)::int8 FROM business_dial_rate"
        " WHERE business_id = ",
        business));
  }

  // Moves the bucket's refill time by `seconds` (negative: into the past, as
  // if that much time had gone by).
  void ShiftRefill(int64_t business, double seconds) {
    db_.ExecAsAdmin(absl::StrCat("UPDATE business_dial_rate SET refilled_at = refilled_at + ",
                                 seconds, " * interval '1 second' WHERE business_id = ", business));
  }

  TestDatabase db_;
  store::Database database_;
  int64_t business_ = 0;
  int created_ = 0;
};

TEST_F(DialRateTest, TheMigrationGivesEveryBusinessTheDefaultLimitAndAFullBucket) {
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT max_calls_per_second::int8 FROM business WHERE id = ",
                                      business_)),
            1);
  store::ApiKeyStore businesses(&database_);
  absl::StatusOr<Business> read = businesses.GetBusiness(business_);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->name, "governed");
  EXPECT_EQ(read->max_calls_per_second, 1);
  EXPECT_EQ(businesses.SetBusinessLimits(business_, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(businesses.SetBusinessLimits(business_, 1000.5).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(businesses.SetBusinessLimits(999999, 2).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<Business> half = businesses.SetBusinessLimits(business_, 0.5);
  ASSERT_TRUE(half.ok()) << half.status();
  EXPECT_EQ(half->max_calls_per_second, 0.5);
  // The database refuses what the store would: a zero or negative limit.
  EXPECT_ANY_THROW(db_.ExecAsAdmin(
      absl::StrCat("UPDATE business SET max_calls_per_second = 0 WHERE id = ", business_)));
}

TEST_F(DialRateTest, AClaimTakesTheWholeTokensAndSaysWhenTheNextIsDue) {
  SetLimit(business_, 5);  // capacity 1: one call, then one every 200 ms
  store::LeaseStore leases(&database_, kLeaseTtl, /*enforce_calls_per_second=*/true);
  const store::Lease lease = LeasedRun(leases, business_, 20, 10, "w");

  // The business has no bucket yet (created after the migration): the
  // claim creates it full and takes its one token.
  store::ClaimRate rate;
  absl::StatusOr<std::vector<store::ClaimedJob>> jobs = leases.Claim(lease, 10, &rate);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->size(), 1u);
  EXPECT_TRUE(rate.limited);
  EXPECT_GT(rate.next_token_in, absl::Milliseconds(150));
  EXPECT_LE(rate.next_token_in, absl::Milliseconds(200));
  EXPECT_LT(Tokens(business_), 1);

  // At once again: nothing, limited, the token is still due (no sooner).
  jobs = leases.Claim(lease, 10, &rate);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_TRUE(jobs->empty());
  EXPECT_TRUE(rate.limited);
  EXPECT_GT(rate.next_token_in, absl::ZeroDuration());
  EXPECT_LE(rate.next_token_in, absl::Milliseconds(200));
  EXPECT_GE(Tokens(business_), 0);

  // Ten seconds later (by the database's clock) the bucket holds its
  // capacity, one token, not fifty.
  ShiftRefill(business_, -10);
  jobs = leases.Claim(lease, 10, &rate);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->size(), 1u);
  EXPECT_TRUE(rate.limited);

  // A bigger limit has a bigger capacity: 100 per second, a tenth of a
  // second's worth (10). Eight free slots are not limited by it.
  SetLimit(business_, 100);
  ShiftRefill(business_, -10);
  jobs = leases.Claim(lease, 7, &rate);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->size(), 7u);
  EXPECT_FALSE(rate.limited);
  EXPECT_EQ(rate.next_token_in, absl::ZeroDuration()) << "three tokens are left";
  EXPECT_NEAR(Tokens(business_), 3, 0.5);
}

TEST_F(DialRateTest, TheBucketNeverGoesBackInTimeOrBelowZero) {
  SetLimit(business_, 5);
  store::LeaseStore leases(&database_, kLeaseTtl, /*enforce_calls_per_second=*/true);
  const store::Lease lease = LeasedRun(leases, business_, 5, 5, "w");
  ASSERT_EQ(leases.Claim(lease, 5)->size(), 1u);
  // A refill time ahead of this transaction's start (another claim's
  // transaction began later and refilled first): no time is added and the
  // refill time stays where it is.
  ShiftRefill(business_, 2);
  const int64_t ahead = RefilledAtUs(business_);
  store::ClaimRate rate;
  absl::StatusOr<std::vector<store::ClaimedJob>> jobs = leases.Claim(lease, 5, &rate);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_TRUE(jobs->empty());
  EXPECT_EQ(RefilledAtUs(business_), ahead);
  EXPECT_GE(Tokens(business_), 0);
  EXPECT_GT(rate.next_token_in, absl::Seconds(2)) << "due 200 ms after the refill time";
  // The table itself refuses a negative bucket.
  EXPECT_ANY_THROW(db_.ExecAsAdmin(
      absl::StrCat("UPDATE business_dial_rate SET tokens = -1 WHERE business_id = ", business_)));
}

TEST_F(DialRateTest, WithoutEnforcementTheClaimNeverTouchesTheBucket) {
  SetLimit(business_, 1);
  store::LeaseStore governed(&database_, kLeaseTtl, /*enforce_calls_per_second=*/true);
  const store::Lease first = LeasedRun(governed, business_, 3, 3, "w");
  ASSERT_EQ(governed.Claim(first, 3)->size(), 1u);
  const double tokens = Tokens(business_);
  const int64_t refilled = RefilledAtUs(business_);

  store::LeaseStore free_running(&database_, kLeaseTtl, /*enforce_calls_per_second=*/false);
  const store::Lease second = LeasedRun(free_running, business_, 10, 10, "v");
  store::ClaimRate rate;
  rate.limited = true;
  absl::StatusOr<std::vector<store::ClaimedJob>> jobs = free_running.Claim(second, 10, &rate);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->size(), 10u);
  EXPECT_FALSE(rate.limited);
  EXPECT_EQ(Tokens(business_), tokens);
  EXPECT_EQ(RefilledAtUs(business_), refilled);
  // Another business's claims create no bucket either.
  const int64_t other = db_.CreateBusiness("free");
  const store::Lease third = LeasedRun(free_running, other, 2, 2, "u");
  ASSERT_EQ(free_running.Claim(third, 2)->size(), 2u);
  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT count(*) FROM business_dial_rate WHERE business_id = ", other)),
            0);
}

// Many runs of one business claimed at once from their own connections:
// together they never take more than the bucket held at the start plus what
// the elapsed database time refilled, whatever the interleaving.
TEST_F(DialRateTest, ConcurrentClaimsNeverTakeMoreThanTheBucketHolds) {
  constexpr int kRuns = 6;
  constexpr double kCps = 20;  // capacity 2
  SetLimit(business_, kCps);
  std::vector<store::Lease> leases;
  {
    store::LeaseStore setup(&database_, kLeaseTtl, /*enforce_calls_per_second=*/true);
    for (int i = 0; i < kRuns; ++i) {
      leases.push_back(LeasedRun(setup, business_, 200, 50, absl::StrCat("w", i)));
    }
  }
  // A fresh, full bucket; its refill time is the start of the accounting.
  db_.ExecAsAdmin(absl::StrCat(
      "INSERT INTO business_dial_rate (business_id, tokens, refilled_at) VALUES (", business_,
      ", 2, now()) ON CONFLICT (business_id) DO UPDATE SET tokens = 2, refilled_at = now()"));
  const int64_t start_us = RefilledAtUs(business_);

  std::atomic<int64_t> claimed{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const absl::Time stop = absl::Now() + absl::Milliseconds(1500);
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&, i] {
      store::Database database(db_.app_url(), store::PoolOptions{.size = 1});
      store::LeaseStore store(&database, kLeaseTtl, /*enforce_calls_per_second=*/true);
      while (absl::Now() < stop) {
        absl::StatusOr<std::vector<store::ClaimedJob>> jobs = store.Claim(leases[i], 50);
        if (!jobs.ok()) {
          ++failures;
          continue;
        }
        claimed += static_cast<int64_t>(jobs->size());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  const double elapsed = (RefilledAtUs(business_) - start_us) / 1e6;
  const double tokens_left = Tokens(business_);
  // Tokens are conserved: taken + left <= start + refilled (less when the
  // bucket sat full and refills were capped).
  EXPECT_LE(static_cast<double>(claimed.load()) + tokens_left, 2 + kCps * elapsed + 1e-6)
      << claimed.load() << " claimed in " << elapsed << " s";
  EXPECT_GE(tokens_left, 0);
  // The claims kept the bucket busy: most of the refilled tokens were taken.
  EXPECT_GE(static_cast<double>(claimed.load()), 0.5 * kCps * elapsed) << elapsed;
  EXPECT_GT(elapsed, 1.0);
  EXPECT_EQ(db_.QueryInt(
                absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE status = 'dialing' AND "
                             "business_id = ",
                             business_)),
            claimed.load());
}

}  // namespace
}  // namespace campaign
