// Subscription and Ticker without a database: what a stream is handed, its
// one status filter, closing, detaching, and rate-limit wake-ups.
#include "server/progress/subscription.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "server/progress/subscription_test_peer.h"
#include "server/progress/ticker.h"
#include "tests/support/wait.h"

namespace campaign::progress {
namespace {

using campaign::testing::WaitUntil;

// Counts OnReady calls.
class CountingSink : public SubscriptionSink {
 public:
  void OnReady() override { ++ready_; }
  int ready() const { return ready_.load(); }

 private:
  std::atomic<int> ready_{0};
};

Snapshot RunAt(int64_t run_id, int64_t version, RunStatus status) {
  Snapshot snapshot;
  snapshot.run.id = run_id;
  snapshot.run.business_id = 1;
  snapshot.run.version = version;
  snapshot.run.status = status;
  return snapshot;
}

class SubscriptionTest : public ::testing::Test {
 protected:
  std::shared_ptr<Subscription> WatchRuns(std::optional<RunStatus> filter, double max_rate = 0) {
    return std::make_shared<Subscription>(
        &ticker_, &sink_, 1, std::nullopt,
        CoalescerOptions{.max_rate = max_rate, .with_jobs = false, .status_filter = filter});
  }

  CountingSink sink_;
  Ticker ticker_;
};

using Peer = SubscriptionTestPeer;

TEST_F(SubscriptionTest, TheStatusFilterIsTheCoalescers) {
  std::shared_ptr<Subscription> running = WatchRuns(RunStatus::kRunning);
  EXPECT_EQ(running->status_filter(), RunStatus::kRunning);
  EXPECT_FALSE(Peer::Offer(*running, RunAt(1, 1, RunStatus::kPaused)));
  EXPECT_TRUE(Peer::Offer(*running, RunAt(2, 1, RunStatus::kRunning)));
  Poll poll = running->Next();
  ASSERT_TRUE(poll.update.has_value());
  EXPECT_EQ(poll.update->run.id, 2);
  EXPECT_FALSE(running->Next().update.has_value());

  std::shared_ptr<Subscription> every = WatchRuns(std::nullopt);
  EXPECT_FALSE(every->status_filter().has_value());
  EXPECT_TRUE(Peer::Offer(*every, RunAt(1, 1, RunStatus::kPaused)));
}

TEST_F(SubscriptionTest, CloseWinsOnceAndStopsOffers) {
  std::shared_ptr<Subscription> subscription = WatchRuns(std::nullopt);
  ASSERT_TRUE(Peer::Offer(*subscription, RunAt(1, 1, RunStatus::kRunning)));
  subscription->Close(absl::UnavailableError("first"));
  subscription->Close(absl::OkStatus());
  EXPECT_EQ(sink_.ready(), 1);
  Poll poll = subscription->Next();
  EXPECT_FALSE(poll.update.has_value());
  ASSERT_TRUE(poll.closed.has_value());
  EXPECT_EQ(poll.closed->message(), "first");
  EXPECT_FALSE(Peer::Offer(*subscription, RunAt(1, 2, RunStatus::kRunning)));
}

TEST_F(SubscriptionTest, DetachedSinkIsNeverCalled) {
  std::shared_ptr<Subscription> subscription = WatchRuns(std::nullopt);
  Peer::Signal(*subscription);
  EXPECT_EQ(sink_.ready(), 1);
  Peer::Detach(*subscription);
  Peer::Signal(*subscription);
  subscription->Close(absl::OkStatus());
  EXPECT_EQ(sink_.ready(), 1);
}

// A message held back by the rate limit comes with a wake-up from the ticker.
TEST_F(SubscriptionTest, TickerWakesWhenAHeldMessageIsDue) {
  std::thread timer([this] { ticker_.RunLoop(); });
  // One message per second per run.
  std::shared_ptr<Subscription> subscription = WatchRuns(std::nullopt, /*max_rate=*/1);
  ASSERT_TRUE(Peer::Offer(*subscription, RunAt(1, 1, RunStatus::kRunning)));
  ASSERT_TRUE(subscription->Next().update.has_value());
  ASSERT_TRUE(Peer::Offer(*subscription, RunAt(1, 2, RunStatus::kRunning)));
  const int before = sink_.ready();
  // Within a second of the first message, the second waits.
  ASSERT_FALSE(subscription->Next().update.has_value());
  ASSERT_TRUE(WaitUntil([&] { return sink_.ready() > before; }));
  Poll due = subscription->Next();
  ASSERT_TRUE(due.update.has_value());
  EXPECT_EQ(due.update->run.version, 2);
  ticker_.Stop();
  timer.join();
}

}  // namespace
}  // namespace campaign::progress
