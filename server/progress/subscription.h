// One watch stream's view of the hub: what it watches (a run, or the runs of
// a business or of every business), its Coalescer, and the sink it tells when
// a message is ready. The hub's fetcher offers snapshots to it; the ticker
// wakes it when a rate-limited message comes due.
#ifndef CAMPAIGN_SERVER_PROGRESS_SUBSCRIPTION_H_
#define CAMPAIGN_SERVER_PROGRESS_SUBSCRIPTION_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/progress/coalescer.h"

namespace campaign::progress {

class Fetcher;
class ProgressHub;
class SubscriptionRegistry;
class SubscriptionTestPeer;
class Ticker;

// Told when a subscription may have a message, or has ended. Implemented by
// the gRPC stream.
class SubscriptionSink {
 public:
  virtual ~SubscriptionSink() = default;
  // Call Subscription::Poll. May run on any thread, never after
  // ProgressHub::Unsubscribe has returned for the subscription.
  virtual void OnReady() = 0;
};

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
  // `ticker` schedules the wake-ups Next() asks for; `options` say what is
  // delivered (its status_filter is the subscription's only status filter).
  Subscription(Ticker* ticker, SubscriptionSink* sink, std::optional<int64_t> business_id,
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
  // WatchRuns' status filter (unset: every status), as the Coalescer applies it.
  std::optional<RunStatus> status_filter() const;

  // Ends the subscription: from now on Next() returns `status` and nothing
  // more is offered or delivered; the sink is told. The first close wins.
  // Used by the hub on shutdown and by the API when the stream's key is
  // revoked.
  void Close(absl::Status status);

 private:
  friend class Fetcher;
  friend class ProgressHub;
  friend class SubscriptionRegistry;
  friend class SubscriptionTestPeer;
  friend class Ticker;

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

  Ticker* const ticker_;
  const std::optional<int64_t> business_id_;
  const std::optional<int64_t> run_id_;

  // Held while calling the sink, and to detach it.
  absl::Mutex sink_mu_;
  SubscriptionSink* sink_ ABSL_GUARDED_BY(sink_mu_);

  mutable absl::Mutex mu_;
  Coalescer coalescer_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
  // The time a wake-up is scheduled for, if any.
  std::optional<absl::Time> wake_at_ ABSL_GUARDED_BY(mu_);
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_SUBSCRIPTION_H_
