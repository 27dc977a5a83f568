// Per-subscriber coalescing of run snapshots: at most `max_rate` messages per
// second per run, always the latest state, and at most one pending snapshot
// per run however far the subscriber lags (plus a bounded list of job
// updates). Pure logic over an injected clock value; no threads, no I/O.
#ifndef CAMPAIGN_SERVER_PROGRESS_COALESCER_H_
#define CAMPAIGN_SERVER_PROGRESS_COALESCER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "server/model/model.h"

namespace campaign::progress {

// One job's status as of a run version.
struct JobUpdate {
  int64_t job_id = 0;
  int64_t lead_id = 0;
  // nullopt when the stored status is unknown to this version.
  std::optional<JobStatus> status;
  std::string error_message;
  // The run version the transition belongs to.
  int64_t run_version = 0;
};

// A run as read once by the hub, shared by all its subscribers.
struct Snapshot {
  // The run; run.version orders snapshots.
  Run run;
  // Job transitions read with the run, ordered by run_version; null when no
  // transitions were read.
  std::shared_ptr<const std::vector<JobUpdate>> jobs;
  // `jobs` holds every transition with run_version in
  // (jobs_after_version, jobs_complete_through]. Meaningless when jobs is null.
  int64_t jobs_after_version = 0;
  int64_t jobs_complete_through = 0;
};

// A message for one subscriber.
struct Update {
  Run run;
  // Jobs whose status changed since the previous message (latest status
  // each, in the order they changed).
  std::vector<JobUpdate> jobs;
  // Some transitions were left out (over the bound, or not read).
  bool jobs_truncated = false;
};

// Options of a Coalescer.
struct CoalescerOptions {
  // Most messages per second per run; <= 0 means no limit.
  double max_rate = 10;
  // Whether messages carry job updates (WatchRun) or not (WatchRuns).
  bool with_jobs = true;
  // Most job updates held for (and sent in) one message.
  size_t max_job_updates = 500;
  // Only runs in this status are delivered, plus the first snapshot that
  // takes a delivered run out of it; unset delivers every run.
  std::optional<RunStatus> status_filter = std::nullopt;
};

// Coalesces the snapshots of one or more runs for one subscriber. Not
// thread-safe: the owner serialises calls.
class Coalescer {
 public:
  explicit Coalescer(CoalescerOptions options);

  // Starts following `run_id` with the client's last known version:
  // snapshots with version <= after_version are dropped. With
  // after_version > 0 job updates after it are expected in the first
  // message; with 0 the first message carries none.
  void Follow(int64_t run_id, int64_t after_version);

  // Offers a snapshot. Kept (replacing any pending one of the run) when its
  // version is newer than what the subscriber has or holds; returns whether
  // it was kept.
  bool Offer(const Snapshot& snapshot);

  // The next message that may be sent at `now`, oldest-ready run first.
  std::optional<Update> Take(absl::Time now);

  // When a pending message may next be sent (now or later); nullopt when
  // nothing is pending.
  std::optional<absl::Time> NextReadyTime() const;

  // The version through which this subscriber has been handed job updates
  // for `run_id` (pending or sent); nullopt when it does not take job
  // updates for the run yet.
  std::optional<int64_t> JobCursor(int64_t run_id) const;

  // Number of runs with a pending snapshot (never more than one per run).
  size_t PendingSnapshots() const;

  // Runs followed (with or without a pending snapshot).
  size_t TrackedRuns() const { return runs_.size(); }

  // The status filter applied by Offer (unset: every status).
  std::optional<RunStatus> status_filter() const { return options_.status_filter; }

 private:
  struct RunState {
    // Highest version accepted (pending or sent).
    int64_t version = 0;
    // Job updates handed over through this version; unset before the first.
    std::optional<int64_t> job_cursor;
    // The last accepted snapshot passed the status filter.
    bool matched = false;
    // The earliest time the next message of this run may go out.
    absl::Time next_send = absl::InfinitePast();
    // At most one pending message.
    std::unique_ptr<Update> pending;
    // (job id, position in pending->jobs), sorted by job id: merging a
    // snapshot of thousands of transitions into a pending list of hundreds
    // is a binary search per transition, not a scan. A sorted vector, not a
    // hash map: with 1,000 streams each holding one, the map's empty slots
    // cost ~10 MB (jobs are claimed in id order, so inserts are appends).
    std::vector<std::pair<int64_t, uint32_t>> pending_jobs;
  };

  void MergeJobs(RunState& state, const Snapshot& snapshot, Update& update) const;

  const CoalescerOptions options_;
  const absl::Duration interval_;
  absl::flat_hash_map<int64_t, RunState> runs_;
  // Runs with a pending message, in the order they became pending.
  std::deque<int64_t> order_;
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_COALESCER_H_
