// Validation of caller input: every error is INVALID_ARGUMENT naming the
// field and, for leads, the first offending lead's index and id.
#ifndef CAMPAIGN_SERVER_SERVICE_VALIDATION_H_
#define CAMPAIGN_SERVER_SERVICE_VALIDATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/model/model.h"

namespace campaign {

// Server-side limits on requests; configured by flags.
struct Limits {
  // Highest concurrency a run may ask for.
  int32_t max_concurrency = 100;
  // Most leads in one CreateRun or AddLeads request.
  int64_t max_leads_per_request = 100'000;
};

// Longest request_id, in bytes.
inline constexpr size_t kMaxRequestIdBytes = 128;
// Longest phone string accepted for parsing, in bytes.
inline constexpr size_t kMaxPhoneBytes = 64;
// Longest lead name, in bytes.
inline constexpr size_t kMaxLeadNameBytes = 255;
// Default and largest page sizes of the list methods.
inline constexpr int32_t kDefaultPageSize = 50;
inline constexpr int32_t kMaxPageSize = 1000;

// Longest TwiML URL, in bytes.
inline constexpr size_t kMaxUrlBytes = 2048;
// Ring timeouts a run may ask for, seconds (Twilio accepts 5..600).
inline constexpr int32_t kMinRingTimeoutSeconds = 5;
inline constexpr int32_t kMaxRingTimeoutSeconds = 600;

// Leads after validation: phones in E.164, repeated lead_ids dropped.
struct NormalizedLeads {
  std::vector<Lead> leads;
  // Leads dropped because their lead_id appeared earlier in the same list.
  int64_t duplicates_dropped = 0;
};

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(absl::string_view text);

// Parses `phone` as an international number and returns it in E.164, or
// INVALID_ARGUMENT. `field` names it in the message (e.g. "leads[3].phone").
absl::StatusOr<std::string> NormalizePhone(absl::string_view phone, absl::string_view field);

// Validates `leads` (count within limits, lead_id > 0, phone valid, name
// UTF-8 of at most kMaxLeadNameBytes, time_zone empty or a zone
// ValidateTimeZone accepts) and de-duplicates them, first wins.
absl::StatusOr<NormalizedLeads> NormalizeLeads(const std::vector<Lead>& leads,
                                               const Limits& limits);

// Validates CreateRun's request_id: required, UTF-8, no control characters,
// at most kMaxRequestIdBytes.
absl::Status ValidateRequestId(absl::string_view request_id);

// Validates a concurrency against 1..limits.max_concurrency.
absl::Status ValidateConcurrency(int32_t concurrency, const Limits& limits);

// Validates an id field that must be > 0 (`field` names it).
absl::Status ValidatePositiveId(int64_t id, absl::string_view field);

// Validates an optional id field that must be >= 0 (`field` names it).
absl::Status ValidateOptionalId(int64_t id, absl::string_view field);

// Validates a URL the provider fetches or that reaches us: https, or http
// only to a loopback host (127.0.0.1, [::1], localhost: tests and local
// fakes); no userinfo, no spaces or control characters, at most kMaxUrlBytes.
// INVALID_ARGUMENT naming `field` (a request field or a flag such as
// "--twilio-twiml-url") and the value; empty is "is required". The one rule
// for the --twilio-*/--webhook-* URL flags (server/app) and CreateRun's
// call_settings.twiml_url.
absl::Status ValidateHttpsUrl(absl::string_view url, absl::string_view field);

// Validates CreateRun's call settings and normalises the caller id to E.164
// (any format NormalizePhone accepts); fields left empty or zero stay so (the
// server's defaults apply). Errors name "call_settings.<field>" and the value.
absl::StatusOr<CallSettings> NormalizeCallSettings(const CallSettings& settings);

// Most caller ids in a run's pool (CreateRunRequest.caller_ids).
inline constexpr size_t kMaxCallerIds = 1000;
// Longest IANA time zone name accepted, in bytes.
inline constexpr size_t kMaxTimeZoneBytes = 64;

// Validates an IANA time zone name: at most kMaxTimeZoneBytes of letters,
// digits and `_+-/`, no "." or empty path part (nothing outside the zone
// database is read), not "localtime", and absl::LoadTimeZone loads it.
// INVALID_ARGUMENT naming `field` and the value.
absl::Status ValidateTimeZone(absl::string_view name, absl::string_view field);

// Validates a run's caller id pool and normalises it to E.164 (order kept):
// at most kMaxCallerIds, each a valid number (errors name "caller_ids[i]"
// and the value), no number twice after normalisation.
absl::StatusOr<std::vector<std::string>> NormalizeCallerIds(const std::vector<std::string>& ids);

// Validates a run's schedule: end_at, when given, after start_at (when
// given) and after `now`; start_at may be in the past (the run starts at
// once). INVALID_ARGUMENT naming the field and the times (RFC 3339, UTC).
absl::Status ValidateSchedule(const std::optional<absl::Time>& start_at,
                              const std::optional<absl::Time>& end_at, absl::Time now);

// Maps a requested page size to the effective one: 0 means the default,
// larger than the maximum is lowered to it, negative is INVALID_ARGUMENT.
absl::StatusOr<int32_t> EffectivePageSize(int32_t page_size);

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_SERVICE_VALIDATION_H_
