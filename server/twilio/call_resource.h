// The parts of Twilio's JSON answers the client needs: a Call resource
// (create, fetch, update) and an error body (4xx/5xx). Parsed with the
// strict flat reader of flat_json.h (nested members are validated, skipped).
#ifndef CAMPAIGN_SERVER_TWILIO_CALL_RESOURCE_H_
#define CAMPAIGN_SERVER_TWILIO_CALL_RESOURCE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/twilio/call_status.h"

namespace campaign::twilio {

// What we read of a Call resource.
struct CallResource {
  // "CA…".
  std::string sid;
  CallStatus status = CallStatus::kQueued;
  // Seconds; Twilio sends it as a string, null until the call ended.
  std::optional<int64_t> duration_seconds;
  // Set when machine detection ran.
  std::optional<std::string> answered_by;
};

// Twilio's error body: {"code": 21211, "message": "...", "status": 400, ...}.
struct TwilioError {
  // Twilio's error code (0 when the body had none).
  int code = 0;
  std::string message;
};

// Parses a Call resource; INVALID_ARGUMENT naming the field when the body is
// not a JSON object, or `sid` / `status` is missing or malformed.
absl::StatusOr<CallResource> ParseCallResource(absl::string_view json);

// Parses an error body; nullopt when it is not JSON with a `code` or a
// `message` (a proxy's HTML page, say).
std::optional<TwilioError> ParseTwilioError(absl::string_view json);

}  // namespace campaign::twilio

#endif  // CAMPAIGN_SERVER_TWILIO_CALL_RESOURCE_H_
