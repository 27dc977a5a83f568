// A small, strict JSON reader for the flat fields of Twilio's answers. The
// whole document is validated (RFC 8259: strings with every escape, numbers,
// literals, nested objects and arrays up to a depth limit); the top-level
// object's members are returned, nested values only as "present". No JSON
// library is in the stack, and protobuf's JSON parser into
// google.protobuf.Struct is not safe to inline into sanitizer builds against
// Debian's uninstrumented libprotobuf.
#ifndef CAMPAIGN_SERVER_TWILIO_FLAT_JSON_H_
#define CAMPAIGN_SERVER_TWILIO_FLAT_JSON_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace campaign::twilio {

// One member value of the top-level object.
struct JsonValue {
  enum class Kind { kString, kNumber, kTrue, kFalse, kNull, kObject, kArray };
  Kind kind = Kind::kNull;
  // kString: the decoded text (UTF-8); kNumber: the number as written.
  std::string text;
};

// The members of a top-level JSON object by name. INVALID_ARGUMENT with the
// offset for anything that is not exactly one valid JSON object (trailing
// bytes, a repeated member name, invalid escapes or UTF-16 surrogates,
// nesting deeper than 64).
absl::StatusOr<std::map<std::string, JsonValue>> ParseFlatJsonObject(absl::string_view json);

}  // namespace campaign::twilio

#endif  // CAMPAIGN_SERVER_TWILIO_FLAT_JSON_H_
