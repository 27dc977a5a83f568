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

std::string EncodePageToken(absl::string_view query, PagePosition last) {
  // The major key as the id of a token for a query that also names the
  // minor one (so neither can be altered unnoticed), with the minor key
  // after a '.' (never in web-safe base64), all encoded once more.
  std::string encoded;
  absl::WebSafeBase64Escape(
      absl::StrCat(EncodePageToken(absl::StrCat(query, "|after:", last.minor), last.major), ".",
                   last.minor),
      &encoded);
  return encoded;
}

absl::StatusOr<std::optional<PagePosition>> DecodePagePositionToken(absl::string_view token,
                                                                    absl::string_view query) {
  if (token.empty()) return std::optional<PagePosition>();
  const absl::Status malformed =
      absl::InvalidArgumentError("page_token is malformed; pass next_page_token unchanged");
  std::string plain;
  if (!absl::WebSafeBase64Unescape(token, &plain)) return malformed;
  const size_t cut = plain.rfind('.');
  int64_t minor = 0;
  if (cut == std::string::npos || cut == 0 ||
      !absl::SimpleAtoi(absl::string_view(plain).substr(cut + 1), &minor) || minor <= 0) {
    return malformed;
  }
  absl::StatusOr<std::optional<int64_t>> major = DecodePageToken(
      absl::string_view(plain).substr(0, cut), absl::StrCat(query, "|after:", minor));
  if (!major.ok()) return major.status();
  if (!major->has_value()) return malformed;
  return std::optional<PagePosition>(PagePosition{**major, minor});
}

}  // namespace campaign
