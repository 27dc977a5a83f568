// Every database read of the hub. One fetcher thread turns the runs marked
// dirty (by notifications, by trailing reads that pick up what the writers'
// debounce kept quiet, and by refreshes) into ONE read each and offers the
// result to every subscriber the registry names.
#ifndef CAMPAIGN_SERVER_PROGRESS_FETCHER_H_
#define CAMPAIGN_SERVER_PROGRESS_FETCHER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/progress/coalescer.h"
#include "server/progress/options.h"
#include "server/progress/registry.h"
#include "server/progress/subscription.h"
#include "server/store/progress_store.h"

namespace campaign::progress {

// Reads runs and fans them out. Thread-safe.
class Fetcher {
 public:
  // `store` and `registry` outlive the fetcher.
  Fetcher(store::ProgressStore* store, SubscriptionRegistry* registry, const HubOptions& options);
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // The fetcher loop: reads what is dirty until Stop. Run on one thread.
  void RunLoop();
  // Ends RunLoop and ignores later notifications. Idempotent.
  void Stop();

  // Reads run `run_id` of `business_id` now, on the caller's thread, with
  // the job transitions after `after_version` (none when 0).
  absl::StatusOr<Snapshot> ReadRun(int64_t business_id, int64_t run_id, int64_t after_version);
  // Reads the current set of a WatchRuns scope now, on the caller's thread.
  absl::StatusOr<std::vector<Run>> RecentRuns(std::optional<int64_t> business_id,
                                              std::optional<RunStatus> status);

  // A committed change of a watched run: read it and read it again shortly.
  void Notified(int64_t business_id, int64_t run_id);
  // Reads a run once more and offers it even when not newer (a subscription
  // was just added).
  void Refresh(int64_t business_id, int64_t run_id);
  // Reads every watched run and every WatchRuns set again.
  void RefreshAll();

  // A snapshot of the counters.
  // A snapshot of the counters (streams is left 0: the registry counts them).
  HubStats stats() const;

 private:
  // Why a run is read.
  enum class Reason { kNotified, kTrailing, kRefresh };

  void MarkDirty(int64_t business_id, int64_t run_id, Reason reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads one run and fans it out.
  void FetchAndFanOut(int64_t business_id, int64_t run_id, Reason reason);
  // Reads the current set of a WatchRuns scope and offers it to `targets`.
  void RefreshRunSets(std::vector<std::shared_ptr<Subscription>> targets);
  // Offers `snapshot` to `subscription` and signals it when told to.
  void Deliver(const std::shared_ptr<Subscription>& subscription, const Snapshot& snapshot);

  store::ProgressStore* const store_;
  SubscriptionRegistry* const registry_;
  const HubOptions options_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Runs to read: run id -> (business id, reason).
  absl::flat_hash_map<int64_t, std::pair<int64_t, Reason>> dirty_ ABSL_GUARDED_BY(mu_);
  bool refresh_all_ ABSL_GUARDED_BY(mu_) = false;
  // Trailing reads: run id -> (business id, due time).
  absl::flat_hash_map<int64_t, std::pair<int64_t, absl::Time>> trailing_ ABSL_GUARDED_BY(mu_);
  // The version last fanned out per run (fetcher thread only).
  absl::flat_hash_map<int64_t, int64_t> fanned_version_;
  HubStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_FETCHER_H_
