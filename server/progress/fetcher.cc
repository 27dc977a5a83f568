#include "server/progress/fetcher.h"

#include <algorithm>
#include <map>
#include <utility>

#include "server/util/logging.h"

namespace campaign::progress {
namespace {

// How long a run whose read failed waits before it is read again.
constexpr absl::Duration kRetryReadDelay = absl::Seconds(1);
// fanned_version_ is forgotten past this many runs (it only saves reads).
constexpr size_t kMaxRememberedRuns = 100'000;

// The snapshot of a read: jobs cover (after, complete_through].
Snapshot SnapshotOf(store::RunProgress progress, std::optional<int64_t> jobs_after) {
  Snapshot snapshot;
  snapshot.run = std::move(progress.run);
  if (jobs_after.has_value()) {
    auto jobs = std::make_shared<std::vector<JobUpdate>>();
    jobs->reserve(progress.jobs.size());
    for (store::JobChange& change : progress.jobs) {
      jobs->push_back(JobUpdate{change.job_id, change.lead_id, change.status,
                                std::move(change.error_message), change.run_version});
    }
    snapshot.jobs_after_version = *jobs_after;
    // Rows come in run_version order: when cut, the last version read may be
    // incomplete, everything before it is whole.
    snapshot.jobs_complete_through = progress.jobs_truncated && !jobs->empty()
                                         ? jobs->back().run_version - 1
                                         : snapshot.run.version;
    if (progress.jobs_truncated && jobs->empty()) snapshot.jobs_complete_through = *jobs_after;
    snapshot.jobs = std::move(jobs);
  }
  return snapshot;
}

}  // namespace

Fetcher::Fetcher(store::ProgressStore* store, SubscriptionRegistry* registry,
                 const HubOptions& options)
    : store_(store), registry_(registry), options_(options) {}

void Fetcher::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

absl::StatusOr<Snapshot> Fetcher::ReadRun(int64_t business_id, int64_t run_id,
                                          int64_t after_version) {
  const std::optional<int64_t> jobs_after =
      after_version > 0 ? std::optional(after_version) : std::nullopt;
  absl::StatusOr<store::RunProgress> read =
      store_->ReadRun(business_id, run_id, jobs_after, options_.max_job_updates);
  if (!read.ok()) return read.status();
  return SnapshotOf(*std::move(read), jobs_after);
}

absl::StatusOr<std::vector<Run>> Fetcher::RecentRuns(std::optional<int64_t> business_id,
                                                     std::optional<RunStatus> status) {
  return store_->RecentRuns(business_id, status, options_.initial_runs_limit);
}

void Fetcher::Notified(int64_t business_id, int64_t run_id) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  ++stats_.notifications;
  MarkDirty(business_id, run_id, Reason::kNotified);
}

void Fetcher::Refresh(int64_t business_id, int64_t run_id) {
  absl::MutexLock lock(&mu_);
  MarkDirty(business_id, run_id, Reason::kRefresh);
}

void Fetcher::RefreshAll() {
  absl::MutexLock lock(&mu_);
  refresh_all_ = true;
}

HubStats Fetcher::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Fetcher::MarkDirty(int64_t business_id, int64_t run_id, Reason reason) {
  auto [it, inserted] = dirty_.try_emplace(run_id, business_id, reason);
  // A notification or refresh outranks a trailing read of the same run.
  if (!inserted && reason != Reason::kTrailing) it->second.second = reason;
}

void Fetcher::RunLoop() {
  while (true) {
    absl::flat_hash_map<int64_t, std::pair<int64_t, Reason>> work;
    std::vector<std::shared_ptr<Subscription>> set_targets;
    bool refresh_sets = false;
    {
      absl::MutexLock lock(&mu_);
      absl::Time deadline = absl::InfiniteFuture();
      for (const auto& [run_id, due] : trailing_) deadline = std::min(deadline, due.second);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || refresh_all_ || !dirty_.empty();
      };
      mu_.AwaitWithDeadline(absl::Condition(&has_work), deadline);
      if (stopping_) return;
      const absl::Time now = absl::Now();
      for (auto it = trailing_.begin(); it != trailing_.end();) {
        if (it->second.second <= now) {
          if (registry_->Watched(it->second.first, it->first)) {
            MarkDirty(it->second.first, it->first, Reason::kTrailing);
          }
          trailing_.erase(it++);
        } else {
          ++it;
        }
      }
      if (refresh_all_) {
        refresh_all_ = false;
        refresh_sets = true;
        for (const auto& [business_id, run_id] : registry_->WatchedRuns()) {
          MarkDirty(business_id, run_id, Reason::kRefresh);
        }
        set_targets = registry_->RunSetSubscribers();
      }
      work.swap(dirty_);
    }
    if (refresh_sets) RefreshRunSets(std::move(set_targets));
    for (const auto& [run_id, entry] : work) FetchAndFanOut(entry.first, run_id, entry.second);
  }
}

void Fetcher::Deliver(const std::shared_ptr<Subscription>& subscription, const Snapshot& snapshot) {
  if (!subscription->Offer(snapshot)) return;
  const size_t pending = subscription->PendingSnapshots();
  {
    absl::MutexLock lock(&mu_);
    stats_.max_pending_snapshots = std::max(stats_.max_pending_snapshots, pending);
  }
  subscription->Signal();
}

void Fetcher::FetchAndFanOut(int64_t business_id, int64_t run_id, Reason reason) {
  RunTargets targets = registry_->TargetsOf(business_id, run_id);
  if (targets.subscribers.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    ++stats_.run_reads;
  }
  const std::optional<int64_t> jobs_after = targets.jobs_after;
  absl::StatusOr<store::RunProgress> read =
      store_->ReadRun(business_id, run_id, jobs_after, options_.max_job_updates);
  if (!read.ok()) {
    if (read.status().code() == absl::StatusCode::kNotFound) return;
    spdlog::warn("progress: cannot read run {}: {}; retrying", run_id, read.status().ToString());
    absl::MutexLock lock(&mu_);
    trailing_.try_emplace(run_id, business_id, absl::Now() + kRetryReadDelay);
    return;
  }
  const int64_t version = read->run.version;
  const bool terminal = read->run.status.has_value() && IsTerminal(*read->run.status);
  auto fanned = fanned_version_.find(run_id);
  const bool newer = fanned == fanned_version_.end() || fanned->second < version;
  if (newer || reason == Reason::kRefresh) {
    const int64_t remembered = newer ? version : fanned->second;
    if (fanned_version_.size() >= kMaxRememberedRuns) fanned_version_.clear();
    fanned_version_[run_id] = remembered;
    const Snapshot snapshot = SnapshotOf(*std::move(read), jobs_after);
    for (const auto& subscription : targets.subscribers) Deliver(subscription, snapshot);
  }
  // Changes inside the writers' debounce window sent no notification: read
  // the run again shortly, and keep doing so while it keeps changing.
  if (!terminal && (reason == Reason::kNotified || (reason == Reason::kTrailing && newer))) {
    absl::MutexLock lock(&mu_);
    trailing_.try_emplace(run_id, business_id, absl::Now() + options_.trailing_read_delay);
  }
}

void Fetcher::RefreshRunSets(std::vector<std::shared_ptr<Subscription>> targets) {
  // One read per distinct (business, filter) scope.
  std::map<std::pair<int64_t, int>, std::vector<std::shared_ptr<Subscription>>> scopes;
  for (auto& subscription : targets) {
    const int64_t business = subscription->business_id().value_or(-1);
    const std::optional<RunStatus> filter = subscription->status_filter();
    const int status = filter.has_value() ? static_cast<int>(*filter) : -1;
    scopes[{business, status}].push_back(std::move(subscription));
  }
  for (const auto& [scope, subscribers] : scopes) {
    const std::optional<int64_t> business =
        scope.first >= 0 ? std::optional(scope.first) : std::nullopt;
    const std::optional<RunStatus> status =
        scope.second >= 0 ? std::optional(static_cast<RunStatus>(scope.second)) : std::nullopt;
    absl::StatusOr<std::vector<Run>> runs = RecentRuns(business, status);
    if (!runs.ok()) {
      // Their runs' next notifications still reach them.
      spdlog::warn("progress: cannot refresh watched runs: {}", runs.status().ToString());
      continue;
    }
    for (const Run& run : *runs) {
      Snapshot snapshot;
      snapshot.run = run;
      for (const auto& subscription : subscribers) Deliver(subscription, snapshot);
    }
  }
}

}  // namespace campaign::progress
