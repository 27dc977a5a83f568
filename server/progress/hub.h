// In-process fan-out of run progress. Notifications (from the Listener) name
// changed runs; one fetcher thread turns each into ONE database read and
// offers the result to every subscriber of the run (WatchRun) and of its
// business (WatchRuns). Each subscriber coalesces what it is offered (see
// Coalescer), so a slow one holds at most one pending snapshot per run.
#ifndef CAMPAIGN_SERVER_PROGRESS_HUB_H_
#define CAMPAIGN_SERVER_PROGRESS_HUB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/progress/coalescer.h"
#include "server/store/progress_store.h"

namespace campaign::progress {

// Settings of a ProgressHub.
struct HubOptions {
  // Most open streams in the process.
  int max_streams = 1000;
  // Most open streams per business (a system admin watching every business
  // counts against max_streams only).
  int max_streams_per_business = 100;
  // Most messages per second per run and stream.
  double max_rate = 10;
  // Most job updates in one WatchRun message.
  int max_job_updates = 500;
  // How long after a notification a run is read again, to pick up changes
  // the writers' debounce (100 ms) kept quiet.
  absl::Duration trailing_read_delay = absl::Milliseconds(150);
  // Most runs in the first set of a WatchRuns stream.
  int initial_runs_limit = 1000;
};

// Told when a subscription may have a message, or has ended. Implemented by
// the gRPC stream.
class SubscriptionSink {
 public:
  virtual ~SubscriptionSink() = default;
  // Call Subscription::Poll. May run on any thread, never after
  // ProgressHub::Unsubscribe has returned for the subscription.
  virtual void OnReady() = 0;
};

class ProgressHub;

// What Subscription::Poll returns.
struct Poll {
  // A message to send now.
  std::optional<Update> update;
  // Set when the hub ended the subscription (shutdown); finish the stream
  // with this status.
  std::optional<absl::Status> closed;
};

// One stream's view of the hub. Thread-safe.
class Subscription : public std::enable_shared_from_this<Subscription> {
 public:
  Subscription(ProgressHub* hub, SubscriptionSink* sink, std::optional<int64_t> business_id,
               std::optional<int64_t> run_id, CoalescerOptions options);

  // The next message ready now, or the hub's closing status. When messages
  // wait for the rate limit, the sink is called again when one is due.
  Poll Next();

  // Number of runs with a pending snapshot (at most one each).
  size_t PendingSnapshots() const;
  // The business watched (unset: every business).
  std::optional<int64_t> business_id() const { return business_id_; }
  // The run watched by WatchRun (unset for WatchRuns).
  std::optional<int64_t> run_id() const { return run_id_; }
  // WatchRuns' status filter (unset: every status).
  std::optional<RunStatus> status_filter() const { return status_filter_; }

  // Ends the subscription: from now on Next() returns `status` and nothing
  // more is offered or delivered; the sink is told. The first close wins.
  // Used by the hub on shutdown and by the API when the stream's key is
  // revoked.
  void Close(absl::Status status);

 private:
  friend class ProgressHub;

  // Offers a snapshot; true when the sink should be told.
  bool Offer(const Snapshot& snapshot);
  std::optional<int64_t> JobCursor(int64_t run_id) const;
  void Follow(int64_t run_id, int64_t after_version);
  // Calls the sink unless detached.
  void Signal();
  // The timer fired for a wake-up this subscription asked for.
  void Woken();
  // After this returns the sink is never called again.
  void Detach();

  ProgressHub* const hub_;
  const std::optional<int64_t> business_id_;
  const std::optional<int64_t> run_id_;
  const std::optional<RunStatus> status_filter_;

  // Held while calling the sink, and to detach it.
  absl::Mutex sink_mu_;
  SubscriptionSink* sink_ ABSL_GUARDED_BY(sink_mu_);

  mutable absl::Mutex mu_;
  Coalescer coalescer_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
  // The time a wake-up is scheduled for, if any.
  std::optional<absl::Time> wake_at_ ABSL_GUARDED_BY(mu_);
};

// Counters for tests and logs.
struct HubStats {
  // Open subscriptions.
  int streams = 0;
  // Database reads of a run (with its job transitions) for fan-out.
  int64_t run_reads = 0;
  // Notifications received for watched runs.
  int64_t notifications = 0;
  // Highest PendingSnapshots() of any subscription seen after an offer.
  size_t max_pending_snapshots = 0;
};

// Subscriptions by run and by business, and the fetcher that feeds them.
class ProgressHub {
 public:
  ProgressHub(store::ProgressStore* store, HubOptions options);
  // Shuts down.
  ~ProgressHub();
  ProgressHub(const ProgressHub&) = delete;
  ProgressHub& operator=(const ProgressHub&) = delete;

  // Starts the fetcher and timer threads.
  void Start();

  // Subscribes `sink` to run `run_id` of `business_id` (blocking: reads the
  // run). The current snapshot is pending at once unless its version is <=
  // after_version. NOT_FOUND for a run the business does not have,
  // RESOURCE_EXHAUSTED over a cap, UNAVAILABLE after shutdown.
  absl::StatusOr<std::shared_ptr<Subscription>> WatchRun(int64_t business_id, int64_t run_id,
                                                         int64_t after_version,
                                                         SubscriptionSink* sink);

  // Subscribes `sink` to every run of `business_id` (every business when
  // unset), optionally filtered by status (blocking: reads the current set).
  absl::StatusOr<std::shared_ptr<Subscription>> WatchRuns(std::optional<int64_t> business_id,
                                                          std::optional<RunStatus> status,
                                                          SubscriptionSink* sink);

  // Ends a subscription and frees its slot; idempotent. The sink is never
  // called after this returns.
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription);

  // A committed change of run `run_id` (payload of a notification).
  void OnNotification(int64_t business_id, int64_t run_id, int64_t version);

  // Reads every watched run again and offers the result to every stream
  // (after the listener lost and regained its connection).
  void RefreshAll();

  // Refuses new subscriptions, ends every open one with UNAVAILABLE and
  // stops the threads. Idempotent.
  void Shutdown();

  // A snapshot of the counters.
  HubStats stats() const;

 private:
  friend class Subscription;

  // Why a run is read.
  enum class Reason { kNotified, kTrailing, kRefresh };

  struct Wake {
    absl::Time at;
    std::weak_ptr<Subscription> subscription;
    bool operator>(const Wake& other) const { return at > other.at; }
  };

  // Arranges subscription->Signal() at `at` (timer thread).
  void ScheduleWake(const std::shared_ptr<Subscription>& subscription, absl::Time at);
  absl::Status Reserve(std::optional<int64_t> business_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseSlot(std::optional<int64_t> business_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Watched(int64_t business_id, int64_t run_id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void MarkDirty(int64_t business_id, int64_t run_id, Reason reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Offers `snapshot` to `subscription` and signals it when told to.
  void Deliver(const std::shared_ptr<Subscription>& subscription, const Snapshot& snapshot);
  void FetchLoop();
  void TimerLoop();
  // Reads one run and fans it out.
  void FetchAndFanOut(int64_t business_id, int64_t run_id, Reason reason);
  // Reads the current set of a WatchRuns scope and offers it to `targets`.
  void RefreshRunSets(std::vector<std::shared_ptr<Subscription>> targets);

  store::ProgressStore* const store_;
  const HubOptions options_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  int streams_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<int64_t, int> streams_by_business_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::shared_ptr<Subscription>> all_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, std::vector<std::shared_ptr<Subscription>>> by_run_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, std::vector<std::shared_ptr<Subscription>>> runs_of_business_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Subscription>> runs_of_all_ ABSL_GUARDED_BY(mu_);
  // Runs to read: run id -> (business id, reason).
  absl::flat_hash_map<int64_t, std::pair<int64_t, Reason>> dirty_ ABSL_GUARDED_BY(mu_);
  bool refresh_all_ ABSL_GUARDED_BY(mu_) = false;
  // Trailing reads: run id -> (business id, due time).
  absl::flat_hash_map<int64_t, std::pair<int64_t, absl::Time>> trailing_ ABSL_GUARDED_BY(mu_);
  // The version last fanned out per run (fetcher thread only).
  absl::flat_hash_map<int64_t, int64_t> fanned_version_;
  HubStats stats_ ABSL_GUARDED_BY(mu_);

  absl::Mutex timer_mu_;
  bool timer_stopping_ ABSL_GUARDED_BY(timer_mu_) = false;
  // Changes whenever a wake-up is added, so the timer re-reads its deadline.
  uint64_t timer_generation_ ABSL_GUARDED_BY(timer_mu_) = 0;
  std::priority_queue<Wake, std::vector<Wake>, std::greater<Wake>> wakes_
      ABSL_GUARDED_BY(timer_mu_);

  std::thread fetcher_;
  std::thread timer_;
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_HUB_H_
