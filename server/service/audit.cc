#include "server/service/audit.h"

#include <optional>

#include "absl/status/statusor.h"
#include "server/auth/auth.h"
#include "server/util/logging.h"

namespace campaign {

absl::Status AuditNotFound(store::RunRepository& store, const Principal& principal,
                           int64_t business_id, int64_t run_id, absl::Status status) {
  if (status.code() != absl::StatusCode::kNotFound) return status;
  absl::StatusOr<std::optional<int64_t>> owner = store.RunOwner(run_id);
  if (owner.ok() && owner->has_value() && **owner != business_id) {
    spdlog::warn(
        "security: {} acting for business {} addressed run {} of business {}; "
        "answered NOT_FOUND",
        auth::DescribePrincipal(principal), business_id, run_id, **owner);
  }
  return status;
}

}  // namespace campaign
