// In-process fan-out of run progress. Notifications (from the Listener) name
// changed runs; one fetcher thread turns each into ONE database read and
// offers the result to every subscriber of the run (WatchRun) and of its
// business (WatchRuns). Each subscriber coalesces what it is offered (see
// Coalescer), so a slow one holds at most one pending snapshot per run.
//
// ProgressHub is the façade the API uses; it composes the pieces and owns
// their two threads: SubscriptionRegistry (who watches what, stream caps),
// Fetcher (every read, and the fan-out loop), Ticker (the rate-limit wake-up
// loop) and Subscription (one stream's view).
#ifndef CAMPAIGN_SERVER_PROGRESS_HUB_H_
#define CAMPAIGN_SERVER_PROGRESS_HUB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/progress/coalescer.h"
#include "server/progress/fetcher.h"
#include "server/progress/options.h"
#include "server/progress/registry.h"
#include "server/progress/subscription.h"
#include "server/progress/ticker.h"
#include "server/store/progress_store.h"

namespace campaign::progress {

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
  SubscriptionRegistry registry_;
  Ticker ticker_;
  Fetcher fetcher_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Run fetcher_.RunLoop() and ticker_.RunLoop().
  std::thread fetcher_thread_;
  std::thread ticker_thread_;
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_HUB_H_
