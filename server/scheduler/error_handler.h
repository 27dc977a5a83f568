// The scheduler's error policy in one place: what the loop does with a run
// after a failed store call. Roles only report statuses; the loop applies
// the decision, so only the loop drops runs.
#ifndef CAMPAIGN_SERVER_SCHEDULER_ERROR_HANDLER_H_
#define CAMPAIGN_SERVER_SCHEDULER_ERROR_HANDLER_H_

#include <cstdint>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace campaign::scheduler {

// What to do with a run after an error.
enum class ErrorAction {
  // Keep the run; what failed is retried in a later round.
  kKeep,
  // The lease was lost: let the run go at once, without writing to it (it is
  // another worker's now).
  kDrop,
  // Too many unexpected errors in a row: fail the run, release it, drop it.
  kFail,
};

// Decides keep / drop / fail per run and the worker's back-off. Not
// thread-safe (the dispatcher thread owns it).
class ErrorHandler {
 public:
  // Consecutive unexpected errors on one run before the run is failed.
  static constexpr int kMaxConsecutiveErrors = 5;
  // Longest pause after database errors, whatever the lease TTL.
  static constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
  // The pause never exceeds this fraction of the lease TTL: a worker whose
  // database comes back renews its leases long before they expire (a 3 s
  // lease backs off at most 300 ms, a 30 s one at most 3 s).
  static constexpr double kMaxBackoffTtlFraction = 0.1;

  // The longest pause for `lease_ttl`: min(kMaxBackoff, TTL x fraction),
  // never below `min_backoff`.
  static absl::Duration MaxBackoffFor(absl::Duration lease_ttl, absl::Duration min_backoff);

  // `min_backoff` is the first pause when the database is away; the pause
  // doubles up to MaxBackoffFor(`lease_ttl`).
  ErrorHandler(absl::Duration min_backoff, absl::Duration lease_ttl)
      : min_backoff_(min_backoff), max_backoff_(MaxBackoffFor(lease_ttl, min_backoff)) {}

  // The action for `run_id` after `status` (not OK). A lease loss drops; an
  // unavailable database (UNAVAILABLE, DEADLINE_EXCEEDED) never fails a run
  // but backs the worker off; anything else counts towards failing the run.
  ErrorAction Decide(int64_t run_id, const absl::Status& status);

  // The database answered a store call that is not about one run (acquire,
  // renew) with `status`: backs off when it is away; OK resets the back-off.
  void DatabaseAnswered(const absl::Status& status);

  // A store call for `run_id` succeeded: its error count starts again.
  void Succeeded(int64_t run_id) { errors_.erase(run_id); }
  // The run is gone from this worker.
  void Forget(int64_t run_id) { errors_.erase(run_id); }

  // Extra wait before the next round (zero while the database answers).
  absl::Duration backoff() const { return backoff_; }
  // The longest pause this handler takes.
  absl::Duration max_backoff() const { return max_backoff_; }

  // True once after the database answered again following a back-off: the
  // loop renews its leases at once rather than at the next heartbeat.
  bool TakeRecovered() { return std::exchange(recovered_, false); }

 private:
  void BackOff();

  absl::Duration min_backoff_;
  absl::Duration max_backoff_;
  absl::Duration backoff_ = absl::ZeroDuration();
  bool recovered_ = false;
  std::map<int64_t, int> errors_;
};

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_ERROR_HANDLER_H_
