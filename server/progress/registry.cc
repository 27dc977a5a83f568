#include "server/progress/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace campaign::progress {
namespace {

void Remove(std::vector<std::shared_ptr<Subscription>>& list,
            const std::shared_ptr<Subscription>& subscription) {
  list.erase(std::remove(list.begin(), list.end(), subscription), list.end());
}

}  // namespace

SubscriptionRegistry::SubscriptionRegistry(const HubOptions& options)
    : max_streams_(options.max_streams),
      max_streams_per_business_(options.max_streams_per_business) {}

absl::Status SubscriptionRegistry::Reserve(std::optional<int64_t> business_id) {
  absl::MutexLock lock(&mu_);
  return ReserveLocked(business_id);
}

void SubscriptionRegistry::Release(std::optional<int64_t> business_id) {
  absl::MutexLock lock(&mu_);
  ReleaseLocked(business_id);
}

absl::Status SubscriptionRegistry::Add(const std::shared_ptr<Subscription>& subscription) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    ReleaseLocked(subscription->business_id());
    return absl::UnavailableError(kShutdownMessage);
  }
  AddLocked(subscription);
  return absl::OkStatus();
}

absl::Status SubscriptionRegistry::ReserveAndAdd(
    const std::shared_ptr<Subscription>& subscription) {
  absl::MutexLock lock(&mu_);
  if (absl::Status reserved = ReserveLocked(subscription->business_id()); !reserved.ok()) {
    return reserved;
  }
  AddLocked(subscription);
  return absl::OkStatus();
}

bool SubscriptionRegistry::Remove(const std::shared_ptr<Subscription>& subscription) {
  absl::MutexLock lock(&mu_);
  if (all_.erase(subscription) == 0) return false;
  if (subscription->run_id().has_value()) {
    auto it = by_run_.find(*subscription->run_id());
    if (it != by_run_.end()) {
      progress::Remove(it->second, subscription);
      if (it->second.empty()) by_run_.erase(it);
    }
  } else if (subscription->business_id().has_value()) {
    auto it = runs_of_business_.find(*subscription->business_id());
    if (it != runs_of_business_.end()) {
      progress::Remove(it->second, subscription);
      if (it->second.empty()) runs_of_business_.erase(it);
    }
  } else {
    progress::Remove(runs_of_all_, subscription);
  }
  ReleaseLocked(subscription->business_id());
  return true;
}

bool SubscriptionRegistry::Watched(int64_t business_id, int64_t run_id) const {
  absl::MutexLock lock(&mu_);
  return by_run_.contains(run_id) || runs_of_business_.contains(business_id) ||
         !runs_of_all_.empty();
}

RunTargets SubscriptionRegistry::TargetsOf(int64_t business_id, int64_t run_id) const {
  RunTargets targets;
  absl::MutexLock lock(&mu_);
  if (auto it = by_run_.find(run_id); it != by_run_.end()) {
    for (const auto& subscription : it->second) {
      targets.subscribers.push_back(subscription);
      std::optional<int64_t> cursor = subscription->JobCursor(run_id);
      if (cursor.has_value()) {
        targets.jobs_after = std::min(targets.jobs_after.value_or(*cursor), *cursor);
      }
    }
  }
  if (auto it = runs_of_business_.find(business_id); it != runs_of_business_.end()) {
    targets.subscribers.insert(targets.subscribers.end(), it->second.begin(), it->second.end());
  }
  targets.subscribers.insert(targets.subscribers.end(), runs_of_all_.begin(), runs_of_all_.end());
  return targets;
}

std::vector<std::pair<int64_t, int64_t>> SubscriptionRegistry::WatchedRuns() const {
  std::vector<std::pair<int64_t, int64_t>> runs;
  absl::MutexLock lock(&mu_);
  for (const auto& [run_id, subscribers] : by_run_) {
    if (!subscribers.empty() && subscribers.front()->business_id().has_value()) {
      runs.emplace_back(*subscribers.front()->business_id(), run_id);
    }
  }
  return runs;
}

std::vector<std::shared_ptr<Subscription>> SubscriptionRegistry::RunSetSubscribers() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Subscription>> subscribers = runs_of_all_;
  for (const auto& [business_id, of_business] : runs_of_business_) {
    subscribers.insert(subscribers.end(), of_business.begin(), of_business.end());
  }
  return subscribers;
}

std::vector<std::shared_ptr<Subscription>> SubscriptionRegistry::Shutdown() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  return {all_.begin(), all_.end()};
}

int SubscriptionRegistry::streams() const {
  absl::MutexLock lock(&mu_);
  return streams_;
}

absl::Status SubscriptionRegistry::ReserveLocked(std::optional<int64_t> business_id) {
  if (stopping_) return absl::UnavailableError(kShutdownMessage);
  if (streams_ >= max_streams_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this server already serves ", streams_, " watch streams (--watch-max-streams ",
        max_streams_, "); retry later or on another replica"));
  }
  if (business_id.has_value()) {
    int& count = streams_by_business_[*business_id];
    if (count >= max_streams_per_business_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("business ", *business_id, " already has ", count,
                       " watch streams open on this server (--watch-max-streams-per-business ",
                       max_streams_per_business_, "); close some first"));
    }
    ++count;
  }
  ++streams_;
  return absl::OkStatus();
}

void SubscriptionRegistry::ReleaseLocked(std::optional<int64_t> business_id) {
  --streams_;
  if (!business_id.has_value()) return;
  auto it = streams_by_business_.find(*business_id);
  if (it != streams_by_business_.end() && --it->second <= 0) streams_by_business_.erase(it);
}

void SubscriptionRegistry::AddLocked(const std::shared_ptr<Subscription>& subscription) {
  all_.insert(subscription);
  if (subscription->run_id().has_value()) {
    by_run_[*subscription->run_id()].push_back(subscription);
  } else if (subscription->business_id().has_value()) {
    runs_of_business_[*subscription->business_id()].push_back(subscription);
  } else {
    runs_of_all_.push_back(subscription);
  }
}

}  // namespace campaign::progress
