// The handler executor: refusal codes and draining, which shutdown relies on.
#include "server/api/executor.h"

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"

namespace campaign::api {
namespace {

// After StopAccepting, new work is UNAVAILABLE (clients retry elsewhere)
// while work already queued still runs.
TEST(ExecutorTest, StopAcceptingRefusesNewWorkButRunsQueuedWork) {
  Executor executor(1, 10);
  absl::Notification release;
  absl::Notification ran;
  ASSERT_TRUE(executor.Submit([&] { release.WaitForNotification(); }).ok());
  ASSERT_TRUE(executor.Submit([&] { ran.Notify(); }).ok());
  executor.StopAccepting();
  absl::Status refused = executor.Submit([] {});
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  release.Notify();
  ran.WaitForNotification();
  EXPECT_TRUE(executor.AwaitIdle(absl::InfiniteFuture()));
}

// A full queue is RESOURCE_EXHAUSTED.
TEST(ExecutorTest, FullQueueIsResourceExhausted) {
  Executor executor(1, 1);
  absl::Notification started;
  absl::Notification release;
  ASSERT_TRUE(executor
                  .Submit([&] {
                    started.Notify();
                    release.WaitForNotification();
                  })
                  .ok());
  started.WaitForNotification();  // the thread is busy; the queue is empty
  ASSERT_TRUE(executor.Submit([] {}).ok());
  absl::Status refused = executor.Submit([] {});
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  release.Notify();
}

// AwaitIdle reports a task still running at the deadline, and idleness once
// it ended.
TEST(ExecutorTest, AwaitIdleWaitsForRunningTasks) {
  Executor executor(2, 10);
  absl::Notification started;
  absl::Notification release;
  ASSERT_TRUE(executor
                  .Submit([&] {
                    started.Notify();
                    release.WaitForNotification();
                  })
                  .ok());
  started.WaitForNotification();
  EXPECT_FALSE(executor.AwaitIdle(absl::Now()));
  release.Notify();
  EXPECT_TRUE(executor.AwaitIdle(absl::InfiniteFuture()));
}

}  // namespace
}  // namespace campaign::api
