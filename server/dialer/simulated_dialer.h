// A deterministic stand-in for a telephony provider, the default dialer. The
// outcome of a call depends only on the seed, the run and the lead, except
// for documented magic numbers that force each path:
//   phone ending in 0001 → busy, 0002 → no answer, 0003 → failed,
//   0004 → the provider rejects the dial (the job fails without a call).
// Call ids encode the outcome and the end time, so any process (a worker that
// took over a run) can reconcile a call another process placed.
#ifndef CAMPAIGN_SERVER_DIALER_SIMULATED_DIALER_H_
#define CAMPAIGN_SERVER_DIALER_SIMULATED_DIALER_H_

#include <cstdint>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/dialer/dialer.h"

namespace campaign::dialer {

// Settings of the simulated dialer (flags --sim-*).
struct SimulatedDialerOptions {
  // Seed of the outcome draw.
  uint64_t seed = 1;
  // How long every call lasts from dial to outcome.
  absl::Duration call_duration = absl::Seconds(3);
  // Outcome mix, in percent, for numbers without a magic suffix; the rest
  // of 100 fails.
  int completed_percent = 80;
  int no_answer_percent = 10;
  int busy_percent = 5;
  // When set, one line per dial is appended (O_APPEND) to this file: time,
  // run, job, lead, phone, worker, token and call id.
  std::string dial_log_path;
};

// Parses an outcome mix "completed=80,no_answer=10,busy=5" (failed takes the
// rest) into `options`.
absl::Status ParseOutcomeMix(absl::string_view mix, SimulatedDialerOptions* options);

// The simulated provider.
class SimulatedDialer final : public Dialer {
 public:
  explicit SimulatedDialer(SimulatedDialerOptions options);
  ~SimulatedDialer() override;

  absl::StatusOr<std::string> Dial(const DialRequest& request) override;
  absl::StatusOr<std::optional<CallState>> LookupByToken(absl::string_view token) override;
  absl::StatusOr<std::optional<CallState>> LookupByCallId(absl::string_view call_sid) override;
  absl::Status HangUp(absl::string_view call_sid) override;
  void SetOutcomeCallback(OutcomeCallback callback) override;

  // Most calls of `run_id` this process had in progress at once.
  int MaxConcurrentCalls(int64_t run_id) const;
  // Calls of `run_id` this process has in progress now.
  int ActiveCalls(int64_t run_id) const;
  // Dials this process made (accepted or rejected).
  int64_t TotalDials() const;

  // The outcome the simulation gives a lead of a run (magic numbers first);
  // nullopt when the dial itself is rejected.
  std::optional<CallOutcome> PlannedOutcome(int64_t run_id, int64_t lead_id,
                                            absl::string_view phone) const;

 private:
  // A call in progress in this process.
  struct LiveCall {
    DialRequest request;
    CallOutcome outcome;
  };
  // When a call ends, ordered earliest first.
  using Deadline = std::pair<absl::Time, std::string>;

  void DeliverOutcomes();
  void AppendDialLog(const DialRequest& request, absl::string_view call_sid, bool rejected);
  // Removes a live call and returns it with the callback to deliver it to.
  std::optional<std::pair<LiveCall, OutcomeCallback>> TakeCall(const std::string& call_sid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SimulatedDialerOptions options_;
  int dial_log_fd_ = -1;
  mutable absl::Mutex mu_;
  OutcomeCallback callback_ ABSL_GUARDED_BY(mu_);
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, LiveCall> live_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> sid_by_token_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, int> active_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, int> max_active_ ABSL_GUARDED_BY(mu_);
  int64_t total_dials_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread timer_;
};

}  // namespace campaign::dialer

#endif  // CAMPAIGN_SERVER_DIALER_SIMULATED_DIALER_H_
