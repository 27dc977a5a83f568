// Translation between the outbound.v1 protobuf messages and domain types.
#ifndef CAMPAIGN_SERVER_API_CONVERT_H_
#define CAMPAIGN_SERVER_API_CONVERT_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "outbound/v1/campaign_service.pb.h"
#include "outbound/v1/resources.pb.h"
#include "server/model/model.h"
#include "server/service/preview.h"
#include "server/service/run_service.h"

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

// Domain wait / skip reason → proto enum.
outbound::v1::WaitReason ToProto(WaitReason reason);
outbound::v1::SkipReason ToProto(SkipReason reason);

// Copies a request's dialing policy into a domain one (unset fields stay
// unset; rules::ValidatePolicy checks ranges later). What cannot be
// represented is INVALID_ARGUMENT naming the field under `field_prefix`
// ("policy."): a day_of_week that is unspecified or outside the enum, a
// restricted date not of the form YYYY-MM-DD, a retry outcome that is
// unspecified or outside the enum.
absl::StatusOr<DialingPolicy> FromProto(const outbound::v1::DialingPolicy& policy,
                                        absl::string_view field_prefix);
// Fills `out` from a policy (dates as "YYYY-MM-DD").
void ToProto(const DialingPolicy& policy, outbound::v1::DialingPolicy* out);

// A request's timestamp `field` when `present`: nullopt when absent;
// INVALID_ARGUMENT naming the field when out of google.protobuf.Timestamp's
// range (years 1..9999, nanos 0..999,999,999).
absl::StatusOr<std::optional<absl::Time>> FromProto(const google::protobuf::Timestamp& time,
                                                    bool present, absl::string_view field);

// CreateRun's request as the service takes it (validation happens there);
// what cannot be represented is INVALID_ARGUMENT naming the field under
// `field_prefix` ("" for CreateRun, "create_request." for PreviewRun).
absl::StatusOr<CreateRunInput> FromProto(const outbound::v1::CreateRunRequest& request,
                                         absl::string_view field_prefix);

// Fills PreviewRun's response from a preview.
void ToProto(const PreviewSummary& summary, outbound::v1::PreviewRunResponse* out);

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_CONVERT_H_
