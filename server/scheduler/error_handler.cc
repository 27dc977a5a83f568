#include "server/scheduler/error_handler.h"

#include <algorithm>

#include "server/store/lease_repository.h"
#include "server/util/logging.h"

namespace campaign::scheduler {
namespace {

bool DatabaseAway(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

absl::Duration ErrorHandler::MaxBackoffFor(absl::Duration lease_ttl, absl::Duration min_backoff) {
  return std::max(min_backoff, std::min(kMaxBackoff, lease_ttl * kMaxBackoffTtlFraction));
}

void ErrorHandler::BackOff() {
  backoff_ = std::min(max_backoff_, std::max(min_backoff_, backoff_ * 2));
}

void ErrorHandler::DatabaseAnswered(const absl::Status& status) {
  if (status.ok()) {
    if (backoff_ > absl::ZeroDuration()) recovered_ = true;
    backoff_ = absl::ZeroDuration();
  } else if (DatabaseAway(status)) {
    BackOff();
  }
}

ErrorAction ErrorHandler::Decide(int64_t run_id, const absl::Status& status) {
  if (store::IsLeaseLost(status)) {
    spdlog::warn("lost its lease on run {}: {}; letting go", run_id, status.message());
    errors_.erase(run_id);
    return ErrorAction::kDrop;
  }
  if (DatabaseAway(status)) {
    // Nothing is dialed until claims can be recorded; the run is kept.
    BackOff();
    spdlog::warn("run {}: database unavailable ({}); backing off {}", run_id, status.message(),
                 absl::FormatDuration(backoff_));
    return ErrorAction::kKeep;
  }
  const int errors = ++errors_[run_id];
  spdlog::error("run {}: {} (error {} of {})", run_id, status.ToString(), errors,
                kMaxConsecutiveErrors);
  if (errors >= kMaxConsecutiveErrors) {
    errors_.erase(run_id);
    return ErrorAction::kFail;
  }
  return ErrorAction::kKeep;
}

}  // namespace campaign::scheduler
