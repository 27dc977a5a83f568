// A deterministic stand-in for a telephony provider, the default dialer. The
// outcome of a call depends only on the seed, the run and the lead, except
// for documented magic numbers that force each path:
//   phone ending in 0001 → busy, 0002 → no answer, 0003 → failed,
//   0004 → the provider rejects the dial (the job fails without a call).
// Call ids encode the outcome and the end time, so any process (a worker that
// took over a run) can reconcile a call another process placed. Like a real
// provider it answers a dial after `dial_latency` (kAccepted or kRejected)
// and ends the call `call_duration` later (kEnded), from its timer thread.
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
  // How long the provider takes to accept (or refuse) a dial: the answer
  // time of a real provider's create-call request (--sim-dial-latency).
  absl::Duration dial_latency = absl::ZeroDuration();
  // How long every call lasts from its acceptance to its outcome.
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

  void Dial(const DialRequest& request) override;
  absl::StatusOr<std::optional<CallState>> LookupByToken(absl::string_view token) override;
  absl::StatusOr<std::optional<CallState>> LookupByCallId(absl::string_view call_sid) override;
  absl::Status HangUp(absl::string_view call_sid) override;
  void SetEventCallback(DialEventCallback callback) override;

  // Most calls of `run_id` this process had in progress at once (from the
  // dial to the call's end).
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
  // A call placed by this process that has not ended yet.
  struct LiveCall {
    DialRequest request;
    CallOutcome outcome;
  };
  // A scheduled event: at `at`, in dial order for equal times (`seq`), so a
  // call is always accepted before it ends.
  struct Deadline {
    absl::Time at;
    uint64_t seq = 0;
    DialEvent::Kind kind = DialEvent::Kind::kAccepted;
    // The call (kAccepted, kEnded) or the refused request (kRejected).
    std::string call_sid;
    DialRequest rejected;
    bool operator>(const Deadline& other) const {
      return at != other.at ? at > other.at : seq > other.seq;
    }
  };

  void DeliverEvents();
  void AppendDialLog(const DialRequest& request, absl::string_view call_sid, bool rejected);
  // Removes a live call and returns it.
  std::optional<LiveCall> TakeCall(const std::string& call_sid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Schedule(Deadline deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SimulatedDialerOptions options_;
  int dial_log_fd_ = -1;
  mutable absl::Mutex mu_;
  DialEventCallback callback_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
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
