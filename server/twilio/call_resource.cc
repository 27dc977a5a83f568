#include "server/twilio/call_resource.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/twilio/flat_json.h"

namespace campaign::twilio {
namespace {

using Members = std::map<std::string, JsonValue>;

// The member if it is a string; nullopt when absent or null; error otherwise.
absl::StatusOr<std::optional<std::string>> StringField(const Members& object,
                                                       absl::string_view name) {
  const auto it = object.find(std::string(name));
  if (it == object.end() || it->second.kind == JsonValue::Kind::kNull) {
    return std::optional<std::string>();
  }
  if (it->second.kind != JsonValue::Kind::kString) {
    return absl::InvalidArgumentError(
        absl::StrCat("Twilio call resource: field '", name, "' is not a string"));
  }
  return std::optional<std::string>(it->second.text);
}

}  // namespace

absl::StatusOr<CallResource> ParseCallResource(absl::string_view json) {
  absl::StatusOr<Members> object = ParseFlatJsonObject(json);
  if (!object.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Twilio call resource: not a JSON object (", object.status().message(), ")"));
  }
  CallResource call;
  absl::StatusOr<std::optional<std::string>> field = StringField(*object, "sid");
  if (!field.ok()) return field.status();
  if (!field->has_value() || (*field)->size() != 34 || (*field)->rfind("CA", 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Twilio call resource: field 'sid' is missing or not a call SID: '",
                     field->value_or(""), "'"));
  }
  call.sid = **field;
  field = StringField(*object, "status");
  if (!field.ok()) return field.status();
  if (!field->has_value()) {
    return absl::InvalidArgumentError("Twilio call resource: field 'status' is missing");
  }
  absl::StatusOr<CallStatus> status = ParseCallStatus(**field);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Twilio call resource: field 'status': ", status.status().message()));
  }
  call.status = *status;
  field = StringField(*object, "duration");
  if (!field.ok()) return field.status();
  if (field->has_value()) {
    int64_t seconds = 0;
    if (!absl::SimpleAtoi(**field, &seconds) || seconds < 0) {
      return absl::InvalidArgumentError(absl::StrCat("Twilio call resource: field 'duration' = '",
                                                     **field, "' is not a number of seconds"));
    }
    call.duration_seconds = seconds;
  }
  field = StringField(*object, "answered_by");
  if (!field.ok()) return field.status();
  call.answered_by = *field;
  return call;
}

std::optional<TwilioError> ParseTwilioError(absl::string_view json) {
  absl::StatusOr<Members> object = ParseFlatJsonObject(json);
  if (!object.ok()) return std::nullopt;
  TwilioError error;
  bool found = false;
  const auto code = object->find("code");
  if (code != object->end() && code->second.kind == JsonValue::Kind::kNumber &&
      absl::SimpleAtoi(code->second.text, &error.code) && error.code >= 0) {
    found = true;
  } else {
    error.code = 0;
  }
  const auto message = object->find("message");
  if (message != object->end() && message->second.kind == JsonValue::Kind::kString) {
    error.message = message->second.text;
    found = true;
  }
  if (!found) return std::nullopt;
  return error;
}

}  // namespace campaign::twilio
