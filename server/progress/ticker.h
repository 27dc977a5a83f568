// The hub's timer: wakes a subscription when a message it holds back
// for the rate limit comes due (Subscription::Next asks for the wake-up).
// Holds subscriptions weakly, so a wake-up never keeps a closed stream alive.
#ifndef CAMPAIGN_SERVER_PROGRESS_TICKER_H_
#define CAMPAIGN_SERVER_PROGRESS_TICKER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace campaign::progress {

class Subscription;

// Calls Subscription::Woken at the times asked for. Thread-safe.
class Ticker {
 public:
  Ticker() = default;
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // The timer loop: fires wake-ups as they come due until Stop. Run on one
  // thread.
  void RunLoop();
  // Arranges subscription->Woken() at `at` (or soon after); dropped after
  // Stop or when the subscription is gone by then.
  void ScheduleWake(const std::shared_ptr<Subscription>& subscription, absl::Time at);
  // Ends RunLoop and drops later wake-ups. Idempotent.
  void Stop();

 private:
  struct Wake {
    absl::Time at;
    std::weak_ptr<Subscription> subscription;
    bool operator>(const Wake& other) const { return at > other.at; }
  };

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Changes whenever a wake-up is added, so the loop re-reads its deadline.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::priority_queue<Wake, std::vector<Wake>, std::greater<Wake>> wakes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_TICKER_H_
