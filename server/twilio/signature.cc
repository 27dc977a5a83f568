#include "server/twilio/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace campaign::twilio {

std::string ComputeSignature(absl::string_view auth_token, absl::string_view full_url,
                             const FormParams& params) {
  // Sorted by name, then by value for repeated names; std::string compares
  // bytes, which for UTF-8 is code point order.
  std::vector<const std::pair<std::string, std::string>*> sorted;
  sorted.reserve(params.size());
  for (const auto& param : params) sorted.push_back(&param);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return *a < *b; });

  std::string data(full_url);
  for (const auto* param : sorted) absl::StrAppend(&data, param->first, param->second);

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  HMAC(EVP_sha1(), auth_token.data(), static_cast<int>(auth_token.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &digest_size);
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(digest), digest_size));
}

bool SignatureMatches(absl::string_view auth_token, absl::string_view full_url,
                      const FormParams& params, absl::string_view signature) {
  if (auth_token.empty() || signature.empty()) return false;
  const std::string expected = ComputeSignature(auth_token, full_url, params);
  // The expected length is public (always 28 for SHA-1); only the bytes are
  // compared in constant time.
  if (signature.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) == 0;
}

}  // namespace campaign::twilio
