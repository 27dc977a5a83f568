// Unit tests of the per-subscriber coalescing and rate limiting, on a fake
// clock (plain absl::Time values): no threads, no database.
#include "server/progress/coalescer.h"

#include <gtest/gtest.h>

namespace campaign::progress {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

Run MakeRun(int64_t id, int64_t version, RunStatus status = RunStatus::kRunning) {
  Run run;
  run.id = id;
  run.version = version;
  run.status = status;
  run.completed_count = version;  // a visible field that follows the version
  return run;
}

JobUpdate Job(int64_t job_id, int64_t run_version, JobStatus status = JobStatus::kCompleted) {
  return JobUpdate{job_id, job_id + 1000, status, "", run_version};
}

// A snapshot whose job feed covers (after, run version] completely.
Snapshot Snap(int64_t run_id, int64_t version, std::vector<JobUpdate> jobs = {},
              int64_t jobs_after = 0, RunStatus status = RunStatus::kRunning) {
  Snapshot snapshot;
  snapshot.run = MakeRun(run_id, version, status);
  snapshot.jobs = std::make_shared<const std::vector<JobUpdate>>(std::move(jobs));
  snapshot.jobs_after_version = jobs_after;
  snapshot.jobs_complete_through = version;
  return snapshot;
}

// The first snapshot goes out at once; later ones wait for the rate
// interval (10/s -> 100 ms) and only the latest is sent.
TEST(CoalescerTest, RateLimitsAndKeepsOnlyTheLatest) {
  Coalescer coalescer(CoalescerOptions{.max_rate = 10});
  coalescer.Follow(1, 0);
  ASSERT_TRUE(coalescer.Offer(Snap(1, 5)));
  std::optional<Update> first = coalescer.Take(kStart);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->run.version, 5);

  for (int64_t version = 6; version <= 50; ++version) {
    ASSERT_TRUE(coalescer.Offer(Snap(1, version)));
    EXPECT_EQ(coalescer.PendingSnapshots(), 1u);
  }
  EXPECT_FALSE(coalescer.Take(kStart + absl::Milliseconds(99)).has_value());
  ASSERT_EQ(coalescer.NextReadyTime(), kStart + absl::Milliseconds(100));
  std::optional<Update> second = coalescer.Take(kStart + absl::Milliseconds(100));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->run.version, 50);
  EXPECT_EQ(second->run.completed_count, 50);
  EXPECT_EQ(coalescer.PendingSnapshots(), 0u);
  EXPECT_FALSE(coalescer.NextReadyTime().has_value());
}

// Over any window, a run gets at most max_rate messages per second.
TEST(CoalescerTest, NeverExceedsTheRate) {
  Coalescer coalescer(CoalescerOptions{.max_rate = 10});
  coalescer.Follow(1, 0);
  int sent = 0;
  int64_t version = 1;
  for (int ms = 0; ms < 1000; ++ms) {
    coalescer.Offer(Snap(1, version++));
    if (coalescer.Take(kStart + absl::Milliseconds(ms)).has_value()) ++sent;
  }
  EXPECT_EQ(sent, 10);
}

// Older or equal versions (a late fan-out, a repeated read) are dropped.
TEST(CoalescerTest, DropsVersionsNotNewer) {
  Coalescer coalescer(CoalescerOptions{.max_rate = 0});
  coalescer.Follow(1, 0);
  ASSERT_TRUE(coalescer.Offer(Snap(1, 7)));
  EXPECT_FALSE(coalescer.Offer(Snap(1, 7)));
  EXPECT_FALSE(coalescer.Offer(Snap(1, 3)));
  ASSERT_TRUE(coalescer.Take(kStart).has_value());
  EXPECT_FALSE(coalescer.Offer(Snap(1, 7)));
  EXPECT_FALSE(coalescer.Take(kStart).has_value());
}

// after_version skips what the client already has and the first message
// carries the job transitions after it.
TEST(CoalescerTest, AfterVersionSkipsKnownSnapshotsAndResumesJobs) {
  Coalescer coalescer(CoalescerOptions{.max_rate = 0});
  coalescer.Follow(1, 10);
  EXPECT_FALSE(coalescer.Offer(Snap(1, 10, {Job(1, 9)}, 0)));
  EXPECT_FALSE(coalescer.Take(kStart).has_value());
  ASSERT_TRUE(coalescer.Offer(Snap(1, 12, {Job(1, 9), Job(2, 11), Job(3, 12), Job(4, 13)}, 0)));
  std::optional<Update> update = coalescer.Take(kStart);
  ASSERT_TRUE(update.has_value());
  ASSERT_EQ(update->jobs.size(), 2u);  // 9 was known, 13 belongs to a later message
  EXPECT_EQ(update->jobs[0].job_id, 2);
  EXPECT_EQ(update->jobs[1].job_id, 3);
  EXPECT_FALSE(update->jobs_truncated);
}

// A fresh watch's first message is the baseline without job updates; later
// messages carry exactly the transitions since the previous one, merged per
// job while pending.
TEST(CoalescerTest, JobUpdatesFollowTheCursorAndMergePerJob) {
  Coalescer coalescer(CoalescerOptions{.max_rate = 10});
  coalescer.Follow(1, 0);
  ASSERT_TRUE(coalescer.Offer(Snap(1, 4, {Job(1, 2)}, 0)));
  std::optional<Update> first = coalescer.Take(kStart);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->jobs.empty());
  EXPECT_EQ(coalescer.JobCursor(1), 4);

  ASSERT_TRUE(coalescer.Offer(Snap(1, 5, {Job(7, 5, JobStatus::kDialing)}, 4)));
  ASSERT_TRUE(coalescer.Offer(
      Snap(1, 6, {Job(7, 6, JobStatus::kCompleted), Job(8, 6, JobStatus::kDialing)}, 5)));
  std::optional<Update> second = coalescer.Take(kStart + absl::Seconds(1));
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->jobs.size(), 2u);
  EXPECT_EQ(second->jobs[0].job_id, 7);
  EXPECT_EQ(second->jobs[0].status, JobStatus::kCompleted);
  EXPECT_EQ(second->jobs[1].job_id, 8);
  EXPECT_FALSE(second->jobs_truncated);
}

// Each message merges per job on its own: a job sent in one message and
// changed again starts a fresh entry in the next, and one that changes many
// times within a message is one entry with its latest status.
TEST(CoalescerTest, JobMergeStartsOverWithEachMessage) {
  Coalescer coalescer(CoalescerOptions{.max_rate = 10});
  coalescer.Follow(1, 0);
  ASSERT_TRUE(coalescer.Offer(Snap(1, 1)));
  ASSERT_TRUE(coalescer.Take(kStart).has_value());
  ASSERT_TRUE(coalescer.Offer(Snap(
      1, 3, {Job(7, 2, JobStatus::kDialing), Job(8, 2, JobStatus::kDialing), Job(7, 3)}, 1)));
  std::optional<Update> second = coalescer.Take(kStart + absl::Seconds(1));
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->jobs.size(), 2u);
  EXPECT_EQ(second->jobs[0].job_id, 7);
  EXPECT_EQ(second->jobs[0].status, JobStatus::kCompleted);
  EXPECT_EQ(second->jobs[1].job_id, 8);
  ASSERT_TRUE(coalescer.Offer(Snap(1, 4, {Job(8, 4, JobStatus::kBusy)}, 3)));
  ASSERT_TRUE(coalescer.Offer(Snap(1, 5, {Job(9, 5), Job(8, 5, JobStatus::kNoAnswer)}, 4)));
  std::optional<Update> third = coalescer.Take(kStart + absl::Seconds(2));
  ASSERT_TRUE(third.has_value());
  ASSERT_EQ(third->jobs.size(), 2u);
  EXPECT_EQ(third->jobs[0].job_id, 8);
  EXPECT_EQ(third->jobs[0].status, JobStatus::kNoAnswer);
  EXPECT_EQ(third->jobs[1].job_id, 9);
}

// A lagging subscriber's job list is bounded; what is cut is flagged.
TEST(CoalescerTest, BoundsJobUpdatesAndFlagsTruncation) {
  Coalescer coalescer(CoalescerOptions{.max_rate = 10, .max_job_updates = 3});
  coalescer.Follow(1, 0);
  coalescer.Offer(Snap(1, 1));
  ASSERT_TRUE(coalescer.Take(kStart).has_value());
  for (int64_t version = 2; version <= 20; ++version) {
    coalescer.Offer(Snap(1, version, {Job(version, version)}, version - 1));
  }
  EXPECT_EQ(coalescer.PendingSnapshots(), 1u);
  std::optional<Update> update = coalescer.Take(kStart + absl::Seconds(1));
  ASSERT_TRUE(update.has_value());
  EXPECT_EQ(update->run.version, 20);
  EXPECT_EQ(update->jobs.size(), 3u);
  EXPECT_TRUE(update->jobs_truncated);
}

// A feed that does not reach back to the subscriber's cursor, or was cut by
// the reader's limit, marks the message truncated.
TEST(CoalescerTest, IncompleteFeedIsTruncated) {
  Coalescer coalescer(CoalescerOptions{.max_rate = 0});
  coalescer.Follow(1, 5);
  Snapshot late = Snap(1, 9, {Job(1, 9)}, /*jobs_after=*/7);
  ASSERT_TRUE(coalescer.Offer(late));
  std::optional<Update> update = coalescer.Take(kStart);
  ASSERT_TRUE(update.has_value());
  EXPECT_TRUE(update->jobs_truncated);

  Snapshot cut = Snap(1, 12, {Job(2, 10)}, 9);
  cut.jobs_complete_through = 10;
  ASSERT_TRUE(coalescer.Offer(cut));
  update = coalescer.Take(kStart);
  ASSERT_TRUE(update.has_value());
  EXPECT_TRUE(update->jobs_truncated);
  ASSERT_EQ(update->jobs.size(), 1u);

  Snapshot none;
  none.run = MakeRun(1, 13);
  ASSERT_TRUE(coalescer.Offer(none));
  update = coalescer.Take(kStart);
  ASSERT_TRUE(update.has_value());
  EXPECT_TRUE(update->jobs_truncated);
}

// WatchRuns: one pending snapshot per run, runs rate-limited independently,
// first-pending first out.
TEST(CoalescerTest, ManyRunsAreIndependent) {
  Coalescer coalescer(CoalescerOptions{.max_rate = 10, .with_jobs = false});
  for (int64_t run = 1; run <= 3; ++run) {
    for (int64_t version = 1; version <= 5; ++version) coalescer.Offer(Snap(run, version));
  }
  EXPECT_EQ(coalescer.PendingSnapshots(), 3u);
  for (int64_t run = 1; run <= 3; ++run) {
    std::optional<Update> update = coalescer.Take(kStart);
    ASSERT_TRUE(update.has_value());
    EXPECT_EQ(update->run.id, run);
    EXPECT_EQ(update->run.version, 5);
  }
  coalescer.Offer(Snap(2, 6));
  EXPECT_FALSE(coalescer.Take(kStart + absl::Milliseconds(50)).has_value());
  EXPECT_EQ(coalescer.NextReadyTime(), kStart + absl::Milliseconds(100));
}

// With a status filter: runs outside it are not delivered, a delivered run
// leaving it is delivered once more, and finished runs are forgotten.
TEST(CoalescerTest, StatusFilterAndForgetting) {
  Coalescer coalescer(
      CoalescerOptions{.max_rate = 0, .with_jobs = false, .status_filter = RunStatus::kRunning});
  EXPECT_FALSE(coalescer.Offer(Snap(1, 1, {}, 0, RunStatus::kPending)));
  ASSERT_TRUE(coalescer.Offer(Snap(1, 2, {}, 0, RunStatus::kRunning)));
  ASSERT_TRUE(coalescer.Take(kStart).has_value());
  ASSERT_TRUE(coalescer.Offer(Snap(1, 3, {}, 0, RunStatus::kCompleted)));
  std::optional<Update> last = coalescer.Take(kStart);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->run.status, RunStatus::kCompleted);
  EXPECT_EQ(coalescer.TrackedRuns(), 0u);
  EXPECT_FALSE(coalescer.Offer(Snap(1, 4, {}, 0, RunStatus::kCompleted)));
}

}  // namespace
}  // namespace campaign::progress
