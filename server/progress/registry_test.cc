// SubscriptionRegistry without a database: the stream caps, who a changed
// run goes to, and shutdown.
#include "server/progress/registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "server/progress/subscription_test_peer.h"
#include "server/progress/ticker.h"

namespace campaign::progress {
namespace {

class RegistryTest : public ::testing::Test {
 protected:
  // A WatchRun subscription (jobs followed after `after_version`).
  std::shared_ptr<Subscription> RunWatcher(int64_t business_id, int64_t run_id,
                                           int64_t after_version = 0) {
    auto subscription = std::make_shared<Subscription>(&ticker_, nullptr, business_id, run_id,
                                                       CoalescerOptions{.with_jobs = true});
    SubscriptionTestPeer::Follow(*subscription, run_id, after_version);
    return subscription;
  }
  // A WatchRuns subscription (every business when unset).
  std::shared_ptr<Subscription> SetWatcher(std::optional<int64_t> business_id) {
    return std::make_shared<Subscription>(&ticker_, nullptr, business_id, std::nullopt,
                                          CoalescerOptions{.with_jobs = false});
  }

  Ticker ticker_;
};

TEST_F(RegistryTest, ProcessCapRefusesWithTheFlagName) {
  SubscriptionRegistry registry(HubOptions{.max_streams = 2, .max_streams_per_business = 10});
  ASSERT_TRUE(registry.Reserve(1).ok());
  ASSERT_TRUE(registry.Reserve(std::nullopt).ok());
  const absl::Status over = registry.Reserve(2);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(over.message().find("--watch-max-streams 2"), absl::string_view::npos) << over;
  EXPECT_EQ(registry.streams(), 2);
  registry.Release(1);
  EXPECT_EQ(registry.streams(), 1);
  EXPECT_TRUE(registry.Reserve(2).ok());
}

TEST_F(RegistryTest, BusinessCapCountsPerBusinessOnly) {
  SubscriptionRegistry registry(HubOptions{.max_streams = 10, .max_streams_per_business = 1});
  ASSERT_TRUE(registry.Reserve(1).ok());
  const absl::Status over = registry.Reserve(1);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(over.message().find("--watch-max-streams-per-business 1"), absl::string_view::npos)
      << over;
  // Another business, and streams of every business, are not held back.
  EXPECT_TRUE(registry.Reserve(2).ok());
  EXPECT_TRUE(registry.Reserve(std::nullopt).ok());
  EXPECT_TRUE(registry.Reserve(std::nullopt).ok());
  EXPECT_EQ(registry.streams(), 4);
  // The refused reservation took no slot; a released one is free again.
  registry.Release(1);
  EXPECT_TRUE(registry.Reserve(1).ok());
}

TEST_F(RegistryTest, RemoveFreesTheSlotOnce) {
  SubscriptionRegistry registry(HubOptions{.max_streams = 1, .max_streams_per_business = 1});
  std::shared_ptr<Subscription> watcher = RunWatcher(1, 7);
  ASSERT_TRUE(registry.ReserveAndAdd(watcher).ok());
  EXPECT_EQ(registry.ReserveAndAdd(RunWatcher(1, 8)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(registry.Watched(1, 7));
  EXPECT_TRUE(registry.Remove(watcher));
  EXPECT_FALSE(registry.Remove(watcher));
  EXPECT_EQ(registry.streams(), 0);
  EXPECT_FALSE(registry.Watched(1, 7));
  EXPECT_TRUE(registry.ReserveAndAdd(RunWatcher(1, 8)).ok());
}

TEST_F(RegistryTest, TargetsOfAChangedRun) {
  SubscriptionRegistry registry(HubOptions{});
  std::shared_ptr<Subscription> fresh = RunWatcher(1, 7, /*after_version=*/0);
  std::shared_ptr<Subscription> resumed = RunWatcher(1, 7, /*after_version=*/5);
  std::shared_ptr<Subscription> later = RunWatcher(1, 7, /*after_version=*/9);
  std::shared_ptr<Subscription> other_run = RunWatcher(1, 8);
  std::shared_ptr<Subscription> business_one = SetWatcher(1);
  std::shared_ptr<Subscription> business_two = SetWatcher(2);
  std::shared_ptr<Subscription> everyone = SetWatcher(std::nullopt);
  for (const auto& s : {fresh, resumed, later, other_run, business_one, business_two, everyone}) {
    ASSERT_TRUE(registry.ReserveAndAdd(s).ok());
  }

  RunTargets targets = registry.TargetsOf(1, 7);
  EXPECT_EQ(targets.subscribers, (std::vector<std::shared_ptr<Subscription>>{
                                     fresh, resumed, later, business_one, everyone}));
  // Jobs are read after the lowest cursor of those that take job updates.
  EXPECT_EQ(targets.jobs_after, 5);

  targets = registry.TargetsOf(2, 70);
  EXPECT_EQ(targets.subscribers,
            (std::vector<std::shared_ptr<Subscription>>{business_two, everyone}));
  EXPECT_FALSE(targets.jobs_after.has_value());

  EXPECT_EQ(registry.RunSetSubscribers().size(), 3u);
  std::vector<std::pair<int64_t, int64_t>> runs = registry.WatchedRuns();
  std::sort(runs.begin(), runs.end());
  EXPECT_EQ(runs, (std::vector<std::pair<int64_t, int64_t>>{{1, 7}, {1, 8}}));
}

TEST_F(RegistryTest, WatchedOnlyWithASubscriber) {
  SubscriptionRegistry registry(HubOptions{});
  EXPECT_FALSE(registry.Watched(1, 7));
  std::shared_ptr<Subscription> business = SetWatcher(1);
  ASSERT_TRUE(registry.ReserveAndAdd(business).ok());
  EXPECT_TRUE(registry.Watched(1, 7));
  EXPECT_FALSE(registry.Watched(2, 7));
  std::shared_ptr<Subscription> everyone = SetWatcher(std::nullopt);
  ASSERT_TRUE(registry.ReserveAndAdd(everyone).ok());
  EXPECT_TRUE(registry.Watched(2, 7));
  registry.Remove(everyone);
  registry.Remove(business);
  EXPECT_FALSE(registry.Watched(1, 7));
}

TEST_F(RegistryTest, ShutdownRefusesAndHandsBackTheOpenOnes) {
  SubscriptionRegistry registry(HubOptions{});
  std::shared_ptr<Subscription> open = SetWatcher(1);
  ASSERT_TRUE(registry.ReserveAndAdd(open).ok());
  // A WatchRun between its reservation and its registration.
  ASSERT_TRUE(registry.Reserve(1).ok());
  EXPECT_EQ(registry.Shutdown(), (std::vector<std::shared_ptr<Subscription>>{open}));
  EXPECT_EQ(registry.Add(RunWatcher(1, 7)).code(), absl::StatusCode::kUnavailable);
  // Its slot was given back.
  EXPECT_EQ(registry.streams(), 1);
  EXPECT_EQ(registry.Reserve(1).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(registry.ReserveAndAdd(SetWatcher(2)).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace campaign::progress
