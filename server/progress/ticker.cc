#include "server/progress/ticker.h"

#include "server/progress/subscription.h"

namespace campaign::progress {

void Ticker::ScheduleWake(const std::shared_ptr<Subscription>& subscription, absl::Time at) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  wakes_.push(Wake{at, subscription});
  ++generation_;
}

void Ticker::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

void Ticker::RunLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time deadline = wakes_.empty() ? absl::InfiniteFuture() : wakes_.top().at;
    const uint64_t seen = generation_;
    auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || generation_ != seen;
    };
    mu_.AwaitWithDeadline(absl::Condition(&changed), deadline);
    if (stopping_) break;
    const absl::Time now = absl::Now();
    std::vector<std::weak_ptr<Subscription>> due;
    while (!wakes_.empty() && wakes_.top().at <= now) {
      due.push_back(wakes_.top().subscription);
      wakes_.pop();
    }
    if (due.empty()) continue;
    mu_.Unlock();
    for (const auto& weak : due) {
      if (std::shared_ptr<Subscription> subscription = weak.lock()) subscription->Woken();
    }
    mu_.Lock();
  }
}

}  // namespace campaign::progress
