// Twilio's call statuses and the status callbacks that report them, in the
// project's terms.
//
// Status callback URL. Each call is created with
//   StatusCallback = {public_url}/twilio/status?b=<business>&r=<run>&j=<job>&t=<dial token>
// (StatusCallbackUrl below builds it; the token is the job's dial_lock_token,
// form-escaped). Twilio POSTs every event of the call there; the query names
// the job and the dial attempt, so a callback of an older attempt of the same
// job (another token) can be recognised and ignored.
#ifndef CAMPAIGN_SERVER_TWILIO_CALL_STATUS_H_
#define CAMPAIGN_SERVER_TWILIO_CALL_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/model/model.h"
#include "server/twilio/form.h"

namespace campaign::twilio {

// A Twilio call's `status` / `CallStatus`.
enum class CallStatus {
  kQueued,
  kInitiated,
  kRinging,
  kInProgress,
  kCompleted,
  kBusy,
  kNoAnswer,
  kCanceled,
  kFailed,
};

// Twilio's spelling ("in-progress", "no-answer", ...).
absl::string_view CallStatusName(CallStatus status);

// Parses Twilio's spelling (exact, lowercase); INVALID_ARGUMENT naming the
// value otherwise.
absl::StatusOr<CallStatus> ParseCallStatus(absl::string_view name);

// How far a call has come: queued 0, initiated 1, ringing 2, in-progress 3,
// every final status 4. Callbacks arrive out of order; one whose rank is not
// above what is already known (a late `ringing` after `completed`, or a
// second final status) is not progress.
int ProgressRank(CallStatus status);

// True for completed, busy, no-answer, canceled and failed.
bool IsFinal(CallStatus status);

// True when a call known to be at `current` moves forward by learning
// `reported` (ProgressRank strictly higher).
bool IsProgress(CallStatus current, CallStatus reported);

// How a call ended, as a job outcome.
struct FinalOutcome {
  // kCompleted, kBusy, kNoAnswer or kFailed.
  JobStatus status = JobStatus::kCompleted;
  // Why it failed; empty otherwise.
  std::string error;
};

// The job outcome of a final status: completed -> kCompleted, busy -> kBusy,
// no-answer -> kNoAnswer, failed and canceled -> kFailed with a reason (the
// SIP response code when Twilio gave one). nullopt for a status that is not
// final.
std::optional<FinalOutcome> OutcomeOf(CallStatus status,
                                      std::optional<int> sip_response_code = std::nullopt);

// The path of the status-callback route on our listener.
inline constexpr absl::string_view kStatusCallbackPath = "/twilio/status";

// Our status callback URL for one dial (see the top of this file).
// `public_url` is the base Twilio calls (scheme, host, optional prefix; a
// trailing '/' is dropped).
std::string StatusCallbackUrl(absl::string_view public_url, int64_t business_id, int64_t run_id,
                              int64_t job_id, absl::string_view token);

// One status callback: our query parameters plus Twilio's POST fields.
struct StatusCallback {
  // From our query (b, r, j, t).
  int64_t business_id = 0;
  int64_t run_id = 0;
  int64_t job_id = 0;
  std::string token;
  // From Twilio's form.
  std::string call_sid;
  std::string account_sid;
  CallStatus call_status = CallStatus::kQueued;
  // "human", "machine_start", ... when machine detection ran.
  std::optional<std::string> answered_by;
  // Seconds; sent with the final event.
  std::optional<int64_t> call_duration_seconds;
  std::optional<int> sip_response_code;
  // Twilio's order of the events of one call (0, 1, ...), when sent.
  std::optional<int> sequence_number;
};

// Parses a callback from the request's decoded query and POST body.
// INVALID_ARGUMENT naming the field and value for a missing, repeated or
// malformed field (ids must be positive integers, CallSid "CA…" and
// AccountSid "AC…" of 34 characters).
absl::StatusOr<StatusCallback> ParseStatusCallback(const FormParams& query, const FormParams& body);

}  // namespace campaign::twilio

#endif  // CAMPAIGN_SERVER_TWILIO_CALL_STATUS_H_
