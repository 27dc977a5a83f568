#include "server/twilio/call_status.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace campaign::twilio {
namespace {

struct Named {
  CallStatus status;
  absl::string_view name;
};

constexpr Named kNames[] = {
    {CallStatus::kQueued, "queued"},       {CallStatus::kInitiated, "initiated"},
    {CallStatus::kRinging, "ringing"},     {CallStatus::kInProgress, "in-progress"},
    {CallStatus::kCompleted, "completed"}, {CallStatus::kBusy, "busy"},
    {CallStatus::kNoAnswer, "no-answer"},  {CallStatus::kCanceled, "canceled"},
    {CallStatus::kFailed, "failed"},
};

// The single value of `name` in `params`: absent -> nullopt (or an error when
// `required`), repeated -> error.
absl::StatusOr<std::optional<std::string>> Single(const FormParams& params, absl::string_view name,
                                                  absl::string_view where, bool required) {
  const int count = CountParam(params, name);
  if (count > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("status callback: ", where, " field ", name, " given ", count, " times"));
  }
  if (count == 0) {
    if (required) {
      return absl::InvalidArgumentError(
          absl::StrCat("status callback: missing ", where, " field ", name));
    }
    return std::optional<std::string>();
  }
  return FindParam(params, name);
}

// Only ASCII digits, at least one (SimpleAtoi alone would take "+1" and " 1").
bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::Status BadValue(absl::string_view name, absl::string_view value, absl::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat("status callback: field ", name, " = '", value, "' is not ", want));
}

// A positive id from our query.
absl::StatusOr<int64_t> QueryId(const FormParams& query, absl::string_view name) {
  absl::StatusOr<std::optional<std::string>> value = Single(query, name, "query", true);
  if (!value.ok()) return value.status();
  int64_t id = 0;
  if (!AllDigits(**value) || !absl::SimpleAtoi(**value, &id) || id <= 0) {
    return BadValue(name, **value, "a positive integer");
  }
  return id;
}

// An optional non-negative integer field of Twilio's form.
template <typename T>
absl::StatusOr<std::optional<T>> OptionalNumber(const FormParams& body, absl::string_view name) {
  absl::StatusOr<std::optional<std::string>> value = Single(body, name, "form", false);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<T>();
  T number = 0;
  if (!AllDigits(**value) || !absl::SimpleAtoi(**value, &number)) {
    return BadValue(name, **value, "a non-negative integer");
  }
  return std::optional<T>(number);
}

// A Twilio SID: `prefix` then 32 hex digits.
bool IsSid(absl::string_view value, absl::string_view prefix) {
  if (value.size() != 34 || !absl::ConsumePrefix(&value, prefix)) return false;
  for (const char c : value) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

absl::string_view CallStatusName(CallStatus status) {
  for (const Named& named : kNames) {
    if (named.status == status) return named.name;
  }
  return "unknown";
}

absl::StatusOr<CallStatus> ParseCallStatus(absl::string_view name) {
  for (const Named& named : kNames) {
    if (named.name == name) return named.status;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown Twilio call status '", name, "'"));
}

int ProgressRank(CallStatus status) {
  switch (status) {
    case CallStatus::kQueued:
      return 0;
    case CallStatus::kInitiated:
      return 1;
    case CallStatus::kRinging:
      return 2;
    case CallStatus::kInProgress:
      return 3;
    case CallStatus::kCompleted:
    case CallStatus::kBusy:
    case CallStatus::kNoAnswer:
    case CallStatus::kCanceled:
    case CallStatus::kFailed:
      return 4;
  }
  return 0;
}

bool IsFinal(CallStatus status) { return ProgressRank(status) == 4; }

bool IsProgress(CallStatus current, CallStatus reported) {
  return ProgressRank(reported) > ProgressRank(current);
}

std::optional<FinalOutcome> OutcomeOf(CallStatus status, std::optional<int> sip_response_code) {
  const std::string sip =
      sip_response_code.has_value() ? absl::StrCat(" (SIP ", *sip_response_code, ")") : "";
  switch (status) {
    case CallStatus::kCompleted:
      return FinalOutcome{JobStatus::kCompleted, ""};
    case CallStatus::kBusy:
      return FinalOutcome{JobStatus::kBusy, ""};
    case CallStatus::kNoAnswer:
      return FinalOutcome{JobStatus::kNoAnswer, ""};
    case CallStatus::kFailed:
      return FinalOutcome{JobStatus::kFailed, absl::StrCat("twilio: call failed", sip)};
    case CallStatus::kCanceled:
      return FinalOutcome{JobStatus::kFailed, absl::StrCat("twilio: call canceled", sip)};
    default:
      return std::nullopt;
  }
}

std::string StatusCallbackUrl(absl::string_view public_url, int64_t business_id, int64_t run_id,
                              int64_t job_id, absl::string_view token) {
  absl::ConsumeSuffix(&public_url, "/");
  return absl::StrCat(public_url, kStatusCallbackPath, "?",
                      FormEncode({{"b", absl::StrCat(business_id)},
                                  {"r", absl::StrCat(run_id)},
                                  {"j", absl::StrCat(job_id)},
                                  {"t", std::string(token)}}));
}

absl::StatusOr<StatusCallback> ParseStatusCallback(const FormParams& query,
                                                   const FormParams& body) {
  StatusCallback callback;
  absl::StatusOr<int64_t> id = QueryId(query, "b");
  if (!id.ok()) return id.status();
  callback.business_id = *id;
  id = QueryId(query, "r");
  if (!id.ok()) return id.status();
  callback.run_id = *id;
  id = QueryId(query, "j");
  if (!id.ok()) return id.status();
  callback.job_id = *id;
  absl::StatusOr<std::optional<std::string>> text = Single(query, "t", "query", true);
  if (!text.ok()) return text.status();
  if ((*text)->empty()) return BadValue("t", "", "a dial token");
  callback.token = **text;

  text = Single(body, "CallSid", "form", true);
  if (!text.ok()) return text.status();
  if (!IsSid(**text, "CA")) return BadValue("CallSid", **text, "a Twilio call SID (CA…)");
  callback.call_sid = **text;
  text = Single(body, "AccountSid", "form", true);
  if (!text.ok()) return text.status();
  if (!IsSid(**text, "AC")) return BadValue("AccountSid", **text, "a Twilio account SID (AC…)");
  callback.account_sid = **text;
  text = Single(body, "CallStatus", "form", true);
  if (!text.ok()) return text.status();
  absl::StatusOr<CallStatus> status = ParseCallStatus(**text);
  if (!status.ok()) return BadValue("CallStatus", **text, "a Twilio call status");
  callback.call_status = *status;

  text = Single(body, "AnsweredBy", "form", false);
  if (!text.ok()) return text.status();
  if (text->has_value() && !(*text)->empty()) callback.answered_by = **text;
  absl::StatusOr<std::optional<int64_t>> duration = OptionalNumber<int64_t>(body, "CallDuration");
  if (!duration.ok()) return duration.status();
  callback.call_duration_seconds = *duration;
  absl::StatusOr<std::optional<int>> number = OptionalNumber<int>(body, "SipResponseCode");
  if (!number.ok()) return number.status();
  callback.sip_response_code = *number;
  number = OptionalNumber<int>(body, "SequenceNumber");
  if (!number.ok()) return number.status();
  callback.sequence_number = *number;
  return callback;
}

}  // namespace campaign::twilio
