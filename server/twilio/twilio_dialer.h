// The Twilio dialer: dialer::Dialer over Twilio Programmable Voice.
//
// Dial sends a create request (RestClient::CreateCall) with the run's call
// settings (From, Url, Timeout, MachineDetection when asked for), each
// falling back to the flag's default, and returns at once.
// Its answer is the call's first event: 2xx → kAccepted with the call SID;
// a definite refusal (4xx, retries used up) → kRejected with "twilio
// <code>: <message>". When the outcome of the create request is unknown (a
// timeout after sending), the dial stays pending and is resolved through
// the inbox by its dial token: a callback for the token brings the call SID
// (kAccepted, and kEnded once it is final); without one within
// `unknown_outcome_wait`, the dial is kRejected "dial outcome unknown (no
// callback)" — never sent again.
//
// Calls end through the status callbacks: the listener of whichever replica
// Twilio reached records them in the inbox, and this dialer's poller thread
// asks the inbox, every `poll_interval`, for the final events of the calls
// it has in flight (one read per business) and reports each as kEnded with
// OutcomeOf(status). A call without a final callback after its own ring
// timeout + `max_call_duration` is looked up at Twilio (GET Calls/{sid}).
//
// Lookups (reconciliation after a takeover) read the inbox first and ask
// Twilio only when it has no final answer; HangUp ends a call (Status=
// canceled while it is not known to be answered, else completed).
#ifndef CAMPAIGN_SERVER_TWILIO_TWILIO_DIALER_H_
#define CAMPAIGN_SERVER_TWILIO_TWILIO_DIALER_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/dialer/dialer.h"
#include "server/twilio/call_event_inbox.h"
#include "server/twilio/rest_client.h"

namespace campaign::twilio {

// Settings of the Twilio dialer (flags --twilio-*, --webhook-public-url).
// from, twiml_url and ring_timeout are defaults: a run's call settings
// (DialRequest::settings) override them per call.
struct TwilioDialerOptions {
  // The caller id (E.164) of calls whose run names none.
  std::string from;
  // The TwiML Twilio fetches when a call is answered, for runs naming none.
  std::string twiml_url;
  // The base URL of our status-callback listener as Twilio reaches it.
  std::string public_url;
  // Ring time before no-answer (Twilio's Timeout) for runs naming none.
  absl::Duration ring_timeout = absl::Seconds(30);
  // Longest a call may last; a call without a final callback after its ring
  // timeout + this is looked up at Twilio.
  absl::Duration max_call_duration = absl::Hours(4);
  // How often the inbox is read for the calls in flight.
  absl::Duration poll_interval = absl::Milliseconds(250);
  // How long a dial whose create request had an unknown outcome waits for a
  // callback naming its token before it is reported failed; zero: twice the
  // ring timeout.
  absl::Duration unknown_outcome_wait = absl::ZeroDuration();
  // How often a call past its time is looked up again while Twilio does not
  // report it final.
  absl::Duration overdue_lookup_interval = absl::Minutes(1);
  // Longest a synchronous lookup (LookupByCallId) waits for Twilio.
  absl::Duration lookup_timeout = absl::Seconds(20);
  // After Twilio said a call is still in progress, LookupByCallId answers
  // "in progress" for this long without asking again: the reconciler polls
  // every call of a taken-over run about once a second, synchronously, and
  // the callbacks (read first) end the call meanwhile.
  absl::Duration in_progress_lookup_ttl = absl::Seconds(5);
};

// The dialer. Thread-safe.
class TwilioDialer final : public dialer::Dialer {
 public:
  // Takes the client; `inbox` is not owned and must outlive the dialer.
  // Starts the poller thread.
  TwilioDialer(std::unique_ptr<RestClient> client, CallEventInbox* inbox,
               TwilioDialerOptions options);
  // Stops the poller and the client (pending requests end; no event is
  // reported after the destructor began).
  ~TwilioDialer() override;
  TwilioDialer(const TwilioDialer&) = delete;
  TwilioDialer& operator=(const TwilioDialer&) = delete;

  void Dial(const dialer::DialRequest& request) override;
  absl::StatusOr<std::optional<dialer::CallState>> LookupByToken(absl::string_view token) override;
  absl::StatusOr<std::optional<dialer::CallState>> LookupByCallId(
      absl::string_view call_sid) override;
  absl::Status HangUp(absl::string_view call_sid) override;
  void SetEventCallback(dialer::DialEventCallback callback) override;

  // Status callbacks this replica's listener has just recorded in the inbox
  // (call only after they are stored): a call of this process they finish
  // ends at once instead of at the next poll of the inbox, and a dial whose
  // create answer was lost (or has not arrived yet) is accepted by its token.
  // Callbacks of dials this process does not hold are ignored: the poller of
  // the replica that holds them reads them from the inbox.
  void OnCallbacksRecorded(absl::Span<const StatusCallback> callbacks);

  // Dials of this process without a final event yet (creating, pending an
  // unknown outcome, or in a call).
  int InFlight() const;
  // Of those, dials whose create request had an unknown outcome and that
  // wait for a callback naming their token.
  int UnknownOutcomes() const;

 private:
  // A dial of this process without a final event, by token.
  struct Live {
    enum class State { kCreating, kUnknownOutcome, kInCall };
    dialer::DialRequest request;
    State state = State::kCreating;
    std::string call_sid;
    absl::Time dialed_at;
    absl::Time accepted_at;
    // kUnknownOutcome: since when.
    absl::Time unknown_since;
    // The last Twilio lookup of an overdue call, and whether one is running.
    absl::Time last_lookup = absl::InfinitePast();
    bool lookup_running = false;
  };

  void OnCreated(const std::string& token, const RestResult& result);
  // Marks the dial with `token` accepted as `call_sid` and reports it.
  void Accept(const std::string& token, const std::string& call_sid);
  // Ends the call `call_sid` of this process with `outcome` and reports it.
  void End(const std::string& call_sid, const dialer::CallOutcome& outcome);
  // Reports the dial with `token` rejected with `error`.
  void Reject(const std::string& token, const std::string& error);
  void Emit(const dialer::DialEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(emit_mu_);
  void Poll();
  void PollLoop();
  // GET Calls/{sid}, waiting up to lookup_timeout.
  RestResult FetchSync(absl::string_view call_sid);
  // The call's ring timeout: the run's, else options_.ring_timeout.
  absl::Duration RingTimeout(const dialer::DialRequest& request) const;
  absl::Duration UnknownOutcomeWait(const dialer::DialRequest& request) const;

  const TwilioDialerOptions options_;
  std::unique_ptr<RestClient> client_;
  CallEventInbox* inbox_;

  // Held while an event is reported and while the state change it reports
  // is made, so a call's kAccepted always precedes its kEnded.
  absl::Mutex emit_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  dialer::DialEventCallback callback_ ABSL_GUARDED_BY(emit_mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Live> live_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> token_by_sid_ ABSL_GUARDED_BY(mu_);
  // When Twilio last said a call (by SID) was in progress.
  absl::flat_hash_map<std::string, absl::Time> fetched_in_progress_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread poller_;
};

}  // namespace campaign::twilio

#endif  // CAMPAIGN_SERVER_TWILIO_TWILIO_DIALER_H_
