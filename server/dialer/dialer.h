// The telephony provider behind an interface, so the scheduler never knows
// which provider it drives. The simulated dialer (simulated_dialer.h) is the
// only implementation so far.
#ifndef CAMPAIGN_SERVER_DIALER_DIALER_H_
#define CAMPAIGN_SERVER_DIALER_DIALER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/model/model.h"

namespace campaign::dialer {

// What the scheduler hands the provider for one call.
struct DialRequest {
  int64_t business_id = 0;
  int64_t run_id = 0;
  int64_t job_id = 0;
  int64_t lead_id = 0;
  // E.164.
  std::string phone;
  // The job's dial_lock_token: lets a later worker find the call again.
  std::string token;
  // The worker placing the call (for logs).
  std::string worker;
};

// How a call ended.
struct CallOutcome {
  // kCompleted, kFailed, kNoAnswer or kBusy.
  JobStatus status = JobStatus::kCompleted;
  // Why it failed; empty otherwise.
  std::string error;
};

// What the provider knows of one call.
struct CallState {
  std::string call_sid;
  // Unset while the call is still in progress.
  std::optional<CallOutcome> outcome;
};

// Receives the outcome of a call this process placed, identified by the
// DialRequest it was placed with and the provider's call id.
using OutcomeCallback = std::function<void(const DialRequest& request, const std::string& call_sid,
                                           const CallOutcome& outcome)>;

// A telephony provider. Implementations are thread-safe.
class Dialer {
 public:
  virtual ~Dialer() = default;

  // Places a call and returns the provider's call id once the provider has
  // accepted it. An error means the provider did not accept the call.
  virtual absl::StatusOr<std::string> Dial(const DialRequest& request) = 0;

  // The call placed with `token`; nullopt when the provider has no such call.
  virtual absl::StatusOr<std::optional<CallState>> LookupByToken(absl::string_view token) = 0;

  // The call with this id; nullopt when the provider does not know it.
  virtual absl::StatusOr<std::optional<CallState>> LookupByCallId(absl::string_view call_sid) = 0;

  // Ends a call in progress.
  virtual absl::Status HangUp(absl::string_view call_sid) = 0;

  // Sets where outcomes of calls placed by this process are delivered. Call
  // once, before the first Dial.
  virtual void SetOutcomeCallback(OutcomeCallback callback) = 0;
};

}  // namespace campaign::dialer

#endif  // CAMPAIGN_SERVER_DIALER_DIALER_H_
