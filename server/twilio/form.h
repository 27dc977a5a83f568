// application/x-www-form-urlencoded, both ways: Twilio's REST API takes its
// requests in it and sends its status callbacks in it. Repeated names are
// kept, in order (StatusCallbackEvent is sent four times).
#ifndef CAMPAIGN_SERVER_TWILIO_FORM_H_
#define CAMPAIGN_SERVER_TWILIO_FORM_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace campaign::twilio {

// Name/value pairs in the order they appear (or are to be sent).
using FormParams = std::vector<std::pair<std::string, std::string>>;

// Percent-encodes one name or value: letters, digits and `-._*` stay,
// a space becomes `+`, every other byte `%XX` (uppercase hex).
std::string FormEscape(absl::string_view text);

// `name=value` pairs joined by `&`, each side FormEscape'd.
std::string FormEncode(const FormParams& params);

// Decodes a form body or a raw query string (without the `?`): pairs split on
// `&` (empty pieces skipped), `+` is a space, `%XX` a byte; a piece without
// `=` is a name with an empty value. A `%` not followed by two hex digits is
// INVALID_ARGUMENT naming its position.
absl::StatusOr<FormParams> FormDecode(absl::string_view encoded);

// The value of the first pair named `name`; nullopt when there is none.
std::optional<std::string> FindParam(const FormParams& params, absl::string_view name);

// How many pairs are named `name`.
int CountParam(const FormParams& params, absl::string_view name);

}  // namespace campaign::twilio

#endif  // CAMPAIGN_SERVER_TWILIO_FORM_H_
