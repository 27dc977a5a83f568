#include "server/service/page_token.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/util/crypto.h"

namespace campaign {
namespace {

constexpr absl::string_view kVersion = "v1";
// Characters of the query's hash kept in the token: enough to tell queries apart.
constexpr size_t kQueryHashChars = 16;

}  // namespace

std::string EncodePageToken(absl::string_view query, int64_t last_id) {
  std::string encoded;
  absl::WebSafeBase64Escape(
      absl::StrCat(kVersion, ":", Sha256Hex(query).substr(0, kQueryHashChars), ":", last_id),
      &encoded);
  return encoded;
}

absl::StatusOr<std::optional<int64_t>> DecodePageToken(absl::string_view token,
                                                       absl::string_view query) {
  if (token.empty()) return std::optional<int64_t>();
  std::string plain;
  const std::string expected_prefix =
      absl::StrCat(kVersion, ":", Sha256Hex(query).substr(0, kQueryHashChars), ":");
  int64_t last_id = 0;
  if (!absl::WebSafeBase64Unescape(token, &plain) || !absl::StartsWith(plain, kVersion) ||
      plain.size() <= expected_prefix.size()) {
    return absl::InvalidArgumentError("page_token is malformed; pass next_page_token unchanged");
  }
  if (plain.compare(0, expected_prefix.size(), expected_prefix) != 0) {
    return absl::InvalidArgumentError(
        "page_token was issued for a different query; repeat the same filter (and run_id) "
        "with a page_token, or start again without one");
  }
  if (!absl::SimpleAtoi(absl::string_view(plain).substr(expected_prefix.size()), &last_id) ||
      last_id <= 0) {
    return absl::InvalidArgumentError("page_token is malformed; pass next_page_token unchanged");
  }
  return std::optional<int64_t>(last_id);
}

}  // namespace campaign
