// Small cryptographic helpers over OpenSSL used by API keys and request digests.
#ifndef CAMPAIGN_SERVER_UTIL_CRYPTO_H_
#define CAMPAIGN_SERVER_UTIL_CRYPTO_H_

#include <string>

#include "absl/strings/string_view.h"

namespace campaign {

// Lowercase hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(absl::string_view data);

// `bytes` bytes from OpenSSL's CSPRNG, as unpadded web-safe base64.
std::string RandomToken(int bytes);

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_UTIL_CRYPTO_H_
