// Who watches what: the open subscriptions indexed by run (WatchRun) and by
// business (WatchRuns), and the caps on open streams (per process and per
// business). Pure bookkeeping, no threads and no I/O; the fetcher asks it
// whom a changed run goes to.
#ifndef CAMPAIGN_SERVER_PROGRESS_REGISTRY_H_
#define CAMPAIGN_SERVER_PROGRESS_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/progress/options.h"
#include "server/progress/subscription.h"

namespace campaign::progress {

// The status message of streams refused or ended by a shutdown.
inline constexpr char kShutdownMessage[] =
    "the server is shutting down; reconnect (with after_version) to resume";

// Subscribers of one changed run.
struct RunTargets {
  // Its WatchRun subscribers, then the WatchRuns subscribers of its business,
  // then those of every business.
  std::vector<std::shared_ptr<Subscription>> subscribers;
  // The lowest job cursor of its WatchRun subscribers (job transitions after
  // it are read); unset when none takes job updates yet.
  std::optional<int64_t> jobs_after;
};

// The open subscriptions and their slots. Thread-safe.
class SubscriptionRegistry {
 public:
  // Applies the stream caps of `options`.
  explicit SubscriptionRegistry(const HubOptions& options);

  // Takes a slot for a stream of `business_id` (unset: every business).
  // RESOURCE_EXHAUSTED over a cap, UNAVAILABLE after Shutdown.
  absl::Status Reserve(std::optional<int64_t> business_id);
  // Gives back a slot taken by Reserve that no subscription holds.
  void Release(std::optional<int64_t> business_id);
  // Adds a subscription whose slot is reserved. After Shutdown the slot is
  // released and UNAVAILABLE returned.
  absl::Status Add(const std::shared_ptr<Subscription>& subscription);
  // Reserve and Add in one step (nothing falls between them).
  absl::Status ReserveAndAdd(const std::shared_ptr<Subscription>& subscription);
  // Removes a subscription and frees its slot; false when it was not here.
  bool Remove(const std::shared_ptr<Subscription>& subscription);

  // Whether a change of `run_id` of `business_id` has any subscriber.
  bool Watched(int64_t business_id, int64_t run_id) const;
  // The subscribers of a change of `run_id` of `business_id`.
  RunTargets TargetsOf(int64_t business_id, int64_t run_id) const;
  // (business id, run id) of every run watched by WatchRun.
  std::vector<std::pair<int64_t, int64_t>> WatchedRuns() const;
  // Every WatchRuns subscription (every business first, then per business).
  std::vector<std::shared_ptr<Subscription>> RunSetSubscribers() const;

  // Refuses new subscriptions from now on; returns the open ones (still
  // registered until removed).
  std::vector<std::shared_ptr<Subscription>> Shutdown();
  // Open slots.
  int streams() const;

 private:
  absl::Status ReserveLocked(std::optional<int64_t> business_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseLocked(std::optional<int64_t> business_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddLocked(const std::shared_ptr<Subscription>& subscription)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int max_streams_;
  const int max_streams_per_business_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int streams_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<int64_t, int> streams_by_business_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::shared_ptr<Subscription>> all_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, std::vector<std::shared_ptr<Subscription>>> by_run_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, std::vector<std::shared_ptr<Subscription>>> runs_of_business_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Subscription>> runs_of_all_ ABSL_GUARDED_BY(mu_);
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_REGISTRY_H_
