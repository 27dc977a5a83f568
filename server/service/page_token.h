// Opaque keyset page tokens. A token is bound to the listing and filter it was
// issued for, so it cannot be replayed against another query.
#ifndef CAMPAIGN_SERVER_SERVICE_PAGE_TOKEN_H_
#define CAMPAIGN_SERVER_SERVICE_PAGE_TOKEN_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace campaign {

// Encodes the position after `last_id` of the listing described by `query`
// (e.g. "runs|business=3|status=running").
std::string EncodePageToken(absl::string_view query, int64_t last_id);

// Decodes a token issued for `query`; nullopt for an empty token (first page).
// INVALID_ARGUMENT for a malformed token or one issued for another query.
absl::StatusOr<std::optional<int64_t>> DecodePageToken(absl::string_view token,
                                                       absl::string_view query);

// A position in a listing ordered by two keys, e.g. ListAttempts' (job_id,
// attempt): after `major`, then after `minor` within it.
struct PagePosition {
  int64_t major = 0;
  int64_t minor = 0;
};

// Encodes the position after `last` of the listing described by `query`.
std::string EncodePageToken(absl::string_view query, PagePosition last);

// Decodes a token EncodePageToken(query, PagePosition) issued; nullopt for
// an empty token. INVALID_ARGUMENT like DecodePageToken (both keys must be
// > 0).
absl::StatusOr<std::optional<PagePosition>> DecodePagePositionToken(absl::string_view token,
                                                                    absl::string_view query);

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_SERVICE_PAGE_TOKEN_H_
