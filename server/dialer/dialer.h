// The telephony provider behind an asynchronous interface, so the scheduler
// never waits for a provider and never knows which one it drives. The
// simulated dialer (simulated_dialer.h) is the default; the Twilio dialer
// (server/twilio/twilio_dialer.h) places real calls.
//
// A dial is a request that returns at once; what becomes of the call arrives
// later as events (DialEvent), delivered on the provider's own threads. Many
// dials are in flight at once: a provider that takes 300 ms to accept a call
// does not cap a worker at ~3 dials per second.
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
  // The run's call settings (caller id, TwiML URL, ring timeout, machine
  // detection); an empty or zero field means the provider's default. The
  // simulated dialer ignores them.
  CallSettings settings;
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

// Something that happened to a call this process asked for. Every dial ends
// in exactly one final event: kRejected, or kAccepted followed by kEnded.
struct DialEvent {
  enum class Kind {
    // The provider accepted the call; `call_sid` is its id.
    kAccepted,
    // The provider did not place the call; `outcome` is kFailed with the
    // provider's reason. Final.
    kRejected,
    // The call ended with `outcome`; `call_sid` is its id. Final.
    kEnded,
  };
  Kind kind = Kind::kAccepted;
  // The request the dial was made with.
  DialRequest request;
  std::string call_sid;
  CallOutcome outcome;

  // True for the last event of a dial.
  bool Final() const { return kind != Kind::kAccepted; }
};

// Receives the events of calls this process placed. Called from the
// provider's threads (possibly before Dial returns): it must be quick and
// must not call back into the dialer while holding a lock the dialer's
// caller holds around Dial.
using DialEventCallback = std::function<void(const DialEvent& event)>;

// A telephony provider. Implementations are thread-safe.
class Dialer {
 public:
  virtual ~Dialer() = default;

  // Asks the provider to place a call and returns at once; the call's events
  // follow (see DialEvent).
  virtual void Dial(const DialRequest& request) = 0;

  // The call placed with `token`; nullopt when the provider has no such call
  // (never placed, or refused).
  virtual absl::StatusOr<std::optional<CallState>> LookupByToken(absl::string_view token) = 0;

  // The call with this id; nullopt when the provider does not know it.
  virtual absl::StatusOr<std::optional<CallState>> LookupByCallId(absl::string_view call_sid) = 0;

  // Ends a call in progress; its kEnded event follows when this process
  // placed it.
  virtual absl::Status HangUp(absl::string_view call_sid) = 0;

  // Sets where the events of calls placed by this process are delivered.
  // Call once, before the first Dial.
  virtual void SetEventCallback(DialEventCallback callback) = 0;
};

}  // namespace campaign::dialer

#endif  // CAMPAIGN_SERVER_DIALER_DIALER_H_
