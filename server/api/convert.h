// Translation between the outbound.v1 protobuf messages and domain types.
#ifndef CAMPAIGN_SERVER_API_CONVERT_H_
#define CAMPAIGN_SERVER_API_CONVERT_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "outbound/v1/campaign_service.pb.h"
#include "outbound/v1/resources.pb.h"
#include "server/model/model.h"

namespace campaign::api {

// Domain status → proto enum (UNSPECIFIED for a status this build does not know).
outbound::v1::RunStatus ToProto(std::optional<RunStatus> status);
outbound::v1::JobStatus ToProto(std::optional<JobStatus> status);

// Proto enum used as a filter → domain status; UNSPECIFIED means no filter.
// A value outside the enum is INVALID_ARGUMENT naming `field`.
absl::StatusOr<std::optional<RunStatus>> RunStatusFilter(int value);
absl::StatusOr<std::optional<JobStatus>> JobStatusFilter(int value);

// Who a run is shown to: the lease holder's identity (a worker's host:pid)
// is internal, for system admins only; tenants see whether the run is held
// and since when (lock_ts), never by whom.
enum class RunAudience { kTenant, kSystemAdmin };

// The audience of `principal`.
RunAudience AudienceOf(const Principal& principal);

// Fills `out` from a run for `audience`, or from a job.
void ToProto(const Run& run, RunAudience audience, outbound::v1::OutboundCallRun* out);
void ToProto(const Job& job, outbound::v1::OutboundCallJob* out);
void ToProto(const Business& business, outbound::v1::Business* out);

// Copies request call settings into domain ones (validation happens later);
// a machine_detection outside the enum is INVALID_ARGUMENT.
absl::StatusOr<CallSettings> FromProto(const outbound::v1::CallSettings& settings);
// Fills `out` from call settings.
void ToProto(const CallSettings& settings, outbound::v1::CallSettings* out);

// Copies request leads into domain leads (validation happens later).
std::vector<Lead> FromProto(const google::protobuf::RepeatedPtrField<outbound::v1::Lead>& leads);

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_CONVERT_H_
