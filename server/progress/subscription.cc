#include "server/progress/subscription.h"

#include <utility>

#include "server/progress/ticker.h"

namespace campaign::progress {

Subscription::Subscription(Ticker* ticker, SubscriptionSink* sink,
                           std::optional<int64_t> business_id, std::optional<int64_t> run_id,
                           CoalescerOptions options)
    : ticker_(ticker),
      business_id_(business_id),
      run_id_(run_id),
      sink_(sink),
      coalescer_(options) {}

Poll Subscription::Next() {
  Poll poll;
  std::optional<absl::Time> wake;
  {
    absl::MutexLock lock(&mu_);
    if (closed_.has_value()) {
      poll.closed = closed_;
      return poll;
    }
    const absl::Time now = absl::Now();
    poll.update = coalescer_.Take(now);
    if (!poll.update.has_value()) {
      std::optional<absl::Time> next = coalescer_.NextReadyTime();
      if (next.has_value() && (!wake_at_.has_value() || *next < *wake_at_)) {
        wake_at_ = next;
        wake = next;
      }
    }
  }
  if (wake.has_value()) ticker_->ScheduleWake(shared_from_this(), *wake);
  return poll;
}

size_t Subscription::PendingSnapshots() const {
  absl::MutexLock lock(&mu_);
  return coalescer_.PendingSnapshots();
}

std::optional<RunStatus> Subscription::status_filter() const {
  absl::MutexLock lock(&mu_);
  return coalescer_.status_filter();
}

bool Subscription::Offer(const Snapshot& snapshot) {
  absl::MutexLock lock(&mu_);
  if (closed_.has_value()) return false;
  return coalescer_.Offer(snapshot);
}

std::optional<int64_t> Subscription::JobCursor(int64_t run_id) const {
  absl::MutexLock lock(&mu_);
  return coalescer_.JobCursor(run_id);
}

void Subscription::Follow(int64_t run_id, int64_t after_version) {
  absl::MutexLock lock(&mu_);
  coalescer_.Follow(run_id, after_version);
}

void Subscription::Signal() {
  absl::MutexLock lock(&sink_mu_);
  if (sink_ != nullptr) sink_->OnReady();
}

void Subscription::Woken() {
  {
    absl::MutexLock lock(&mu_);
    if (wake_at_.has_value() && *wake_at_ <= absl::Now()) wake_at_.reset();
  }
  Signal();
}

void Subscription::Detach() {
  absl::MutexLock lock(&sink_mu_);
  sink_ = nullptr;
}

void Subscription::Close(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_.has_value()) return;
    closed_ = std::move(status);
  }
  Signal();
}

}  // namespace campaign::progress
