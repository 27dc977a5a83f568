#include "server/progress/hub.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace campaign::progress {

ProgressHub::ProgressHub(store::ProgressStore* store, HubOptions options)
    : options_(options), registry_(options), fetcher_(store, &registry_, options) {}

ProgressHub::~ProgressHub() { Shutdown(); }

void ProgressHub::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  fetcher_thread_ = std::thread([this] { fetcher_.RunLoop(); });
  ticker_thread_ = std::thread([this] { ticker_.RunLoop(); });
}

absl::StatusOr<std::shared_ptr<Subscription>> ProgressHub::WatchRun(int64_t business_id,
                                                                    int64_t run_id,
                                                                    int64_t after_version,
                                                                    SubscriptionSink* sink) {
  if (absl::Status status = registry_.Reserve(business_id); !status.ok()) return status;
  absl::StatusOr<Snapshot> read = fetcher_.ReadRun(business_id, run_id, after_version);
  if (!read.ok()) {
    registry_.Release(business_id);
    return read.status();
  }
  auto subscription = std::make_shared<Subscription>(
      &ticker_, sink, business_id, run_id,
      CoalescerOptions{
          .max_rate = options_.max_rate,
          .with_jobs = true,
          .max_job_updates = static_cast<size_t>(std::max(options_.max_job_updates, 0)),
          .status_filter = std::nullopt});
  subscription->Follow(run_id, after_version);
  const bool finished_before = read->run.status.has_value() && IsTerminal(*read->run.status) &&
                               read->run.version <= after_version;
  subscription->Offer(*read);
  // The client already has the final state: nothing will follow.
  if (finished_before) subscription->Close(absl::OkStatus());
  if (absl::Status added = registry_.Add(subscription); !added.ok()) return added;
  // A change committed between the read above and now was fanned out
  // without this subscription: read once more.
  fetcher_.Refresh(business_id, run_id);
  return subscription;
}

absl::StatusOr<std::shared_ptr<Subscription>> ProgressHub::WatchRuns(
    std::optional<int64_t> business_id, std::optional<RunStatus> status, SubscriptionSink* sink) {
  auto subscription = std::make_shared<Subscription>(&ticker_, sink, business_id, std::nullopt,
                                                     CoalescerOptions{.max_rate = options_.max_rate,
                                                                      .with_jobs = false,
                                                                      .max_job_updates = 0,
                                                                      .status_filter = status});
  // Registered before the current set is read, so no change falls between.
  if (absl::Status added = registry_.ReserveAndAdd(subscription); !added.ok()) return added;
  absl::StatusOr<std::vector<Run>> runs = fetcher_.RecentRuns(business_id, status);
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
  registry_.Remove(subscription);
}

void ProgressHub::OnNotification(int64_t business_id, int64_t run_id) {
  if (!registry_.Watched(business_id, run_id)) return;
  fetcher_.Notified(business_id, run_id);
}

void ProgressHub::RefreshAll() { fetcher_.RefreshAll(); }

void ProgressHub::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  fetcher_.Stop();
  ticker_.Stop();
  for (const auto& subscription : registry_.Shutdown()) {
    subscription->Close(absl::UnavailableError(kShutdownMessage));
  }
  if (fetcher_thread_.joinable()) fetcher_thread_.join();
  if (ticker_thread_.joinable()) ticker_thread_.join();
}

HubStats ProgressHub::stats() const {
  HubStats stats = fetcher_.stats();
  stats.streams = registry_.streams();
  return stats;
}

}  // namespace campaign::progress
