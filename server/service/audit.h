// The security audit of NOT_FOUND answers: whether a run the caller could not
// see belongs to another business. Lives in service/ because it reads the
// store (auth/ stays free of it); used by RunService and the watch handlers.
#ifndef CAMPAIGN_SERVER_SERVICE_AUDIT_H_
#define CAMPAIGN_SERVER_SERVICE_AUDIT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "server/model/model.h"
#include "server/store/run_repository.h"

namespace campaign {

// Logs a security warning when a NOT_FOUND for `run_id` hides a run of
// another business than `business_id` (the one the caller acts for); returns
// `status` unchanged either way, so both cases stay indistinguishable to the
// caller.
absl::Status AuditNotFound(store::RunRepository& store, const Principal& principal,
                           int64_t business_id, int64_t run_id, absl::Status status);

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_SERVICE_AUDIT_H_
