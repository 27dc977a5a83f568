#include "server/twilio/call_resource.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace campaign::twilio {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

std::optional<Struct> ParseObject(absl::string_view json) {
  Struct object;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto status =
      google::protobuf::util::JsonStringToMessage(std::string(json), &object, options);
  if (!status.ok()) return std::nullopt;
  return object;
}

// The field if it is a string; nullopt when absent or null; error otherwise.
absl::StatusOr<std::optional<std::string>> StringField(const Struct& object,
                                                       absl::string_view name) {
  const auto it = object.fields().find(std::string(name));
  if (it == object.fields().end() || it->second.has_null_value()) {
    return std::optional<std::string>();
  }
  if (!it->second.has_string_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Twilio call resource: field '", name, "' is not a string"));
  }
  return std::optional<std::string>(it->second.string_value());
}

}  // namespace

absl::StatusOr<CallResource> ParseCallResource(absl::string_view json) {
  std::optional<Struct> object = ParseObject(json);
  if (!object.has_value()) {
    return absl::InvalidArgumentError("Twilio call resource: not a JSON object");
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
  std::optional<Struct> object = ParseObject(json);
  if (!object.has_value()) return std::nullopt;
  TwilioError error;
  bool found = false;
  const auto code = object->fields().find("code");
  if (code != object->fields().end() && code->second.has_number_value()) {
    const double number = code->second.number_value();
    if (number >= 0 && number < 1e9 && std::floor(number) == number) {
      error.code = static_cast<int>(number);
      found = true;
    }
  }
  const auto message = object->fields().find("message");
  if (message != object->fields().end() && message->second.has_string_value()) {
    error.message = message->second.string_value();
    found = true;
  }
  if (!found) return std::nullopt;
  return error;
}

}  // namespace campaign::twilio
