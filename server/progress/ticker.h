// The hub's timer thread: wakes a subscription when a message it holds back
// for the rate limit comes due (Subscription::Next asks for the wake-up).
// Holds subscriptions weakly, so a wake-up never keeps a closed stream alive.
#ifndef CAMPAIGN_SERVER_PROGRESS_TICKER_H_
#define CAMPAIGN_SERVER_PROGRESS_TICKER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <thread>
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
  // Stops and joins the thread.
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // Starts the timer thread; no-op when started or stopped before.
  void Start();
  // Arranges subscription->Woken() at `at` (or soon after); dropped after
  // Stop or when the subscription is gone by then.
  void ScheduleWake(const std::shared_ptr<Subscription>& subscription, absl::Time at);
  // Drops pending wake-ups and ends the thread (without waiting). Idempotent.
  void Stop();
  // Waits for the thread to end; call after Stop.
  void Join();

 private:
  struct Wake {
    absl::Time at;
    std::weak_ptr<Subscription> subscription;
    bool operator>(const Wake& other) const { return at > other.at; }
  };

  void Loop();

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Changes whenever a wake-up is added, so the loop re-reads its deadline.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::priority_queue<Wake, std::vector<Wake>, std::greater<Wake>> wakes_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_TICKER_H_
