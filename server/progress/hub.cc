#include "server/progress/hub.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/util/logging.h"

namespace campaign::progress {
namespace {

// How long a run whose read failed waits before it is read again.
constexpr absl::Duration kRetryReadDelay = absl::Seconds(1);
// fanned_version_ is forgotten past this many runs (it only saves reads).
constexpr size_t kMaxRememberedRuns = 100'000;

constexpr char kShutdownMessage[] =
    "the server is shutting down; reconnect (with after_version) to resume";

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

void Remove(std::vector<std::shared_ptr<Subscription>>& list,
            const std::shared_ptr<Subscription>& subscription) {
  list.erase(std::remove(list.begin(), list.end(), subscription), list.end());
}

}  // namespace

Subscription::Subscription(ProgressHub* hub, SubscriptionSink* sink,
                           std::optional<int64_t> business_id, std::optional<int64_t> run_id,
                           CoalescerOptions options)
    : hub_(hub),
      business_id_(business_id),
      run_id_(run_id),
      status_filter_(options.status_filter),
      sink_(sink),
      coalescer_(options) {}

Poll Subscription::Next() {
  Poll poll;
  std::optional<absl::Time> wake;
  {
    absl::MutexLock lock(&mu_);
    if (closed_.has_value()) {
      poll.closed = closed_;
      return poll;
    }
    const absl::Time now = absl::Now();
    poll.update = coalescer_.Take(now);
    if (!poll.update.has_value()) {
      std::optional<absl::Time> next = coalescer_.NextReadyTime();
      if (next.has_value() && (!wake_at_.has_value() || *next < *wake_at_)) {
        wake_at_ = next;
        wake = next;
      }
    }
  }
  if (wake.has_value()) hub_->ScheduleWake(shared_from_this(), *wake);
  return poll;
}

size_t Subscription::PendingSnapshots() const {
  absl::MutexLock lock(&mu_);
  return coalescer_.PendingSnapshots();
}

bool Subscription::Offer(const Snapshot& snapshot) {
  absl::MutexLock lock(&mu_);
  if (closed_.has_value()) return false;
  return coalescer_.Offer(snapshot);
}

std::optional<int64_t> Subscription::JobCursor(int64_t run_id) const {
  absl::MutexLock lock(&mu_);
  return coalescer_.JobCursor(run_id);
}

void Subscription::Follow(int64_t run_id, int64_t after_version) {
  absl::MutexLock lock(&mu_);
  coalescer_.Follow(run_id, after_version);
}

void Subscription::Signal() {
  absl::MutexLock lock(&sink_mu_);
  if (sink_ != nullptr) sink_->OnReady();
}

void Subscription::Woken() {
  {
    absl::MutexLock lock(&mu_);
    if (wake_at_.has_value() && *wake_at_ <= absl::Now()) wake_at_.reset();
  }
  Signal();
}

void Subscription::Detach() {
  absl::MutexLock lock(&sink_mu_);
  sink_ = nullptr;
}

void Subscription::Close(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_.has_value()) return;
    closed_ = std::move(status);
  }
  Signal();
}

ProgressHub::ProgressHub(store::ProgressStore* store, HubOptions options)
    : store_(store), options_(options) {}

ProgressHub::~ProgressHub() { Shutdown(); }

void ProgressHub::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  fetcher_ = std::thread([this] { FetchLoop(); });
  timer_ = std::thread([this] { TimerLoop(); });
}

absl::Status ProgressHub::Reserve(std::optional<int64_t> business_id) {
  if (stopping_) return absl::UnavailableError(kShutdownMessage);
  if (streams_ >= options_.max_streams) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this server already serves ", streams_, " watch streams (--watch-max-streams ",
        options_.max_streams, "); retry later or on another replica"));
  }
  if (business_id.has_value()) {
    int& count = streams_by_business_[*business_id];
    if (count >= options_.max_streams_per_business) {
      return absl::ResourceExhaustedError(
          absl::StrCat("business ", *business_id, " already has ", count,
                       " watch streams open on this server (--watch-max-streams-per-business ",
                       options_.max_streams_per_business, "); close some first"));
    }
    ++count;
  }
  ++streams_;
  return absl::OkStatus();
}

void ProgressHub::ReleaseSlot(std::optional<int64_t> business_id) {
  --streams_;
  if (!business_id.has_value()) return;
  auto it = streams_by_business_.find(*business_id);
  if (it != streams_by_business_.end() && --it->second <= 0) streams_by_business_.erase(it);
}

absl::StatusOr<std::shared_ptr<Subscription>> ProgressHub::WatchRun(int64_t business_id,
                                                                    int64_t run_id,
                                                                    int64_t after_version,
                                                                    SubscriptionSink* sink) {
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status status = Reserve(business_id); !status.ok()) return status;
  }
  const std::optional<int64_t> jobs_after =
      after_version > 0 ? std::optional(after_version) : std::nullopt;
  absl::StatusOr<store::RunProgress> read =
      store_->ReadRun(business_id, run_id, jobs_after, options_.max_job_updates);
  if (!read.ok()) {
    absl::MutexLock lock(&mu_);
    ReleaseSlot(business_id);
    return read.status();
  }
  auto subscription = std::make_shared<Subscription>(
      this, sink, business_id, run_id,
      CoalescerOptions{
          .max_rate = options_.max_rate,
          .with_jobs = true,
          .max_job_updates = static_cast<size_t>(std::max(options_.max_job_updates, 0)),
          .status_filter = std::nullopt});
  subscription->Follow(run_id, after_version);
  const bool finished_before = read->run.status.has_value() && IsTerminal(*read->run.status) &&
                               read->run.version <= after_version;
  subscription->Offer(SnapshotOf(*std::move(read), jobs_after));
  // The client already has the final state: nothing will follow.
  if (finished_before) subscription->Close(absl::OkStatus());
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    ReleaseSlot(business_id);
    return absl::UnavailableError(kShutdownMessage);
  }
  all_.insert(subscription);
  by_run_[run_id].push_back(subscription);
  // A change committed between the read above and now was fanned out
  // without this subscription: read once more.
  MarkDirty(business_id, run_id, Reason::kRefresh);
  return subscription;
}

absl::StatusOr<std::shared_ptr<Subscription>> ProgressHub::WatchRuns(
    std::optional<int64_t> business_id, std::optional<RunStatus> status, SubscriptionSink* sink) {
  auto subscription = std::make_shared<Subscription>(this, sink, business_id, std::nullopt,
                                                     CoalescerOptions{.max_rate = options_.max_rate,
                                                                      .with_jobs = false,
                                                                      .max_job_updates = 0,
                                                                      .status_filter = status});
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status reserved = Reserve(business_id); !reserved.ok()) return reserved;
    // Registered before the current set is read, so no change falls between.
    all_.insert(subscription);
    if (business_id.has_value()) {
      runs_of_business_[*business_id].push_back(subscription);
    } else {
      runs_of_all_.push_back(subscription);
    }
  }
  absl::StatusOr<std::vector<Run>> runs =
      store_->RecentRuns(business_id, status, options_.initial_runs_limit);
  if (!runs.ok()) {
    Unsubscribe(subscription);
    return runs.status();
  }
  for (Run& run : *runs) {
    Snapshot snapshot;
    snapshot.run = std::move(run);
    subscription->Offer(snapshot);
  }
  return subscription;
}

void ProgressHub::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  if (subscription == nullptr) return;
  subscription->Detach();
  absl::MutexLock lock(&mu_);
  if (all_.erase(subscription) == 0) return;
  if (subscription->run_id().has_value()) {
    auto it = by_run_.find(*subscription->run_id());
    if (it != by_run_.end()) {
      Remove(it->second, subscription);
      if (it->second.empty()) by_run_.erase(it);
    }
  } else if (subscription->business_id().has_value()) {
    auto it = runs_of_business_.find(*subscription->business_id());
    if (it != runs_of_business_.end()) {
      Remove(it->second, subscription);
      if (it->second.empty()) runs_of_business_.erase(it);
    }
  } else {
    Remove(runs_of_all_, subscription);
  }
  ReleaseSlot(subscription->business_id());
}

bool ProgressHub::Watched(int64_t business_id, int64_t run_id) const {
  return by_run_.contains(run_id) || runs_of_business_.contains(business_id) ||
         !runs_of_all_.empty();
}

void ProgressHub::MarkDirty(int64_t business_id, int64_t run_id, Reason reason) {
  auto [it, inserted] = dirty_.try_emplace(run_id, business_id, reason);
  // A notification or refresh outranks a trailing read of the same run.
  if (!inserted && reason != Reason::kTrailing) it->second.second = reason;
}

void ProgressHub::OnNotification(int64_t business_id, int64_t run_id, int64_t version) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || !Watched(business_id, run_id)) return;
  ++stats_.notifications;
  MarkDirty(business_id, run_id, Reason::kNotified);
}

void ProgressHub::RefreshAll() {
  absl::MutexLock lock(&mu_);
  refresh_all_ = true;
}

void ProgressHub::Shutdown() {
  std::vector<std::shared_ptr<Subscription>> open;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    open.assign(all_.begin(), all_.end());
  }
  for (const auto& subscription : open) {
    subscription->Close(absl::UnavailableError(kShutdownMessage));
  }
  {
    absl::MutexLock lock(&timer_mu_);
    timer_stopping_ = true;
  }
  if (fetcher_.joinable()) fetcher_.join();
  if (timer_.joinable()) timer_.join();
}

HubStats ProgressHub::stats() const {
  absl::MutexLock lock(&mu_);
  HubStats stats = stats_;
  stats.streams = streams_;
  return stats;
}

void ProgressHub::ScheduleWake(const std::shared_ptr<Subscription>& subscription, absl::Time at) {
  absl::MutexLock lock(&timer_mu_);
  if (timer_stopping_) return;
  wakes_.push(Wake{at, subscription});
  ++timer_generation_;
}

void ProgressHub::TimerLoop() {
  absl::MutexLock lock(&timer_mu_);
  while (!timer_stopping_) {
    const absl::Time deadline = wakes_.empty() ? absl::InfiniteFuture() : wakes_.top().at;
    const uint64_t seen = timer_generation_;
    auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(timer_mu_) {
      return timer_stopping_ || timer_generation_ != seen;
    };
    timer_mu_.AwaitWithDeadline(absl::Condition(&changed), deadline);
    if (timer_stopping_) break;
    const absl::Time now = absl::Now();
    std::vector<std::weak_ptr<Subscription>> due;
    while (!wakes_.empty() && wakes_.top().at <= now) {
      due.push_back(wakes_.top().subscription);
      wakes_.pop();
    }
    if (due.empty()) continue;
    timer_mu_.Unlock();
    for (const auto& weak : due) {
      if (std::shared_ptr<Subscription> subscription = weak.lock()) subscription->Woken();
    }
    timer_mu_.Lock();
  }
}

void ProgressHub::FetchLoop() {
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
          if (Watched(it->second.first, it->first)) {
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
        for (const auto& [run_id, subscribers] : by_run_) {
          if (!subscribers.empty() && subscribers.front()->business_id().has_value()) {
            MarkDirty(*subscribers.front()->business_id(), run_id, Reason::kRefresh);
          }
        }
        set_targets = runs_of_all_;
        for (const auto& [business_id, subscribers] : runs_of_business_) {
          set_targets.insert(set_targets.end(), subscribers.begin(), subscribers.end());
        }
      }
      work.swap(dirty_);
    }
    if (refresh_sets) RefreshRunSets(std::move(set_targets));
    for (const auto& [run_id, entry] : work) FetchAndFanOut(entry.first, run_id, entry.second);
  }
}

void ProgressHub::Deliver(const std::shared_ptr<Subscription>& subscription,
                          const Snapshot& snapshot) {
  if (!subscription->Offer(snapshot)) return;
  const size_t pending = subscription->PendingSnapshots();
  {
    absl::MutexLock lock(&mu_);
    stats_.max_pending_snapshots = std::max(stats_.max_pending_snapshots, pending);
  }
  subscription->Signal();
}

void ProgressHub::FetchAndFanOut(int64_t business_id, int64_t run_id, Reason reason) {
  std::vector<std::shared_ptr<Subscription>> targets;
  std::optional<int64_t> jobs_after;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = by_run_.find(run_id); it != by_run_.end()) {
      for (const auto& subscription : it->second) {
        targets.push_back(subscription);
        std::optional<int64_t> cursor = subscription->JobCursor(run_id);
        if (cursor.has_value()) jobs_after = std::min(jobs_after.value_or(*cursor), *cursor);
      }
    }
    if (auto it = runs_of_business_.find(business_id); it != runs_of_business_.end()) {
      targets.insert(targets.end(), it->second.begin(), it->second.end());
    }
    targets.insert(targets.end(), runs_of_all_.begin(), runs_of_all_.end());
    if (targets.empty()) return;
    ++stats_.run_reads;
  }
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
    for (const auto& subscription : targets) Deliver(subscription, snapshot);
  }
  // Changes inside the writers' debounce window sent no notification: read
  // the run again shortly, and keep doing so while it keeps changing.
  if (!terminal && (reason == Reason::kNotified || (reason == Reason::kTrailing && newer))) {
    absl::MutexLock lock(&mu_);
    trailing_.try_emplace(run_id, business_id, absl::Now() + options_.trailing_read_delay);
  }
}

void ProgressHub::RefreshRunSets(std::vector<std::shared_ptr<Subscription>> targets) {
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
    absl::StatusOr<std::vector<Run>> runs =
        store_->RecentRuns(business, status, options_.initial_runs_limit);
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
