// Twilio's request signature (X-Twilio-Signature): how Twilio proves that a
// webhook request (our status callbacks) comes from it and was not altered.
//
// The signature is Base64(HMAC-SHA1(auth token, URL + params)) where URL is
// the full URL Twilio requested (scheme, host, path and query exactly as
// sent) and params is every POST parameter sorted by name, each appended as
// name then value with no separators. A name that occurs several times
// contributes each of its values, sorted (byte order), as Twilio's helper
// libraries do.
#ifndef CAMPAIGN_SERVER_TWILIO_SIGNATURE_H_
#define CAMPAIGN_SERVER_TWILIO_SIGNATURE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "server/twilio/form.h"

namespace campaign::twilio {

// The HTTP header that carries the signature.
inline constexpr absl::string_view kSignatureHeader = "X-Twilio-Signature";

// The signature Twilio sends for a POST of `params` to `full_url`, signed
// with `auth_token`.
std::string ComputeSignature(absl::string_view auth_token, absl::string_view full_url,
                             const FormParams& params);

// True when `signature` is the one of ComputeSignature for these inputs.
// Constant-time over the signature bytes (CRYPTO_memcmp); an empty
// signature, an empty token or a length mismatch is a mismatch.
bool SignatureMatches(absl::string_view auth_token, absl::string_view full_url,
                      const FormParams& params, absl::string_view signature);

}  // namespace campaign::twilio

#endif  // CAMPAIGN_SERVER_TWILIO_SIGNATURE_H_
