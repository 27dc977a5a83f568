// In-process fan-out of run progress. Notifications (from the Listener) name
// changed runs; one fetcher thread turns each into ONE database read and
// offers the result to every subscriber of the run (WatchRun) and of its
// business (WatchRuns). Each subscriber coalesces what it is offered (see
// Coalescer), so a slow one holds at most one pending snapshot per run.
//
// ProgressHub is the façade the API uses; it composes the pieces:
// SubscriptionRegistry (who watches what, stream caps), Fetcher (every read
// and the fan-out thread), Ticker (rate-limit wake-ups) and Subscription (one
// stream's view).
#ifndef CAMPAIGN_SERVER_PROGRESS_HUB_H_
#define CAMPAIGN_SERVER_PROGRESS_HUB_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/progress/coalescer.h"
#include "server/progress/fetcher.h"
#include "server/progress/registry.h"
#include "server/progress/subscription.h"
#include "server/progress/ticker.h"
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
  void OnNotification(int64_t business_id, int64_t run_id);

  // Reads every watched run again and offers the result to every stream
  // (after the listener lost and regained its connection).
  void RefreshAll();

  // Refuses new subscriptions, ends every open one with UNAVAILABLE and
  // stops the threads. Idempotent.
  void Shutdown();

  // A snapshot of the counters.
  HubStats stats() const;

 private:
  const HubOptions options_;
  // Declared before the threads that use it, so it is destroyed after them.
  SubscriptionRegistry registry_;
  Ticker ticker_;
  Fetcher fetcher_;
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_HUB_H_
