// The campaign API's logic, free of gRPC: authorisation, validation, paging
// and the calls into the store. Handlers only translate protobuf to these
// types and back, so everything here is testable without a server.
#ifndef CAMPAIGN_SERVER_SERVICE_RUN_SERVICE_H_
#define CAMPAIGN_SERVER_SERVICE_RUN_SERVICE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/auth/auth.h"
#include "server/auth/caller.h"
#include "server/model/model.h"
#include "server/service/validation.h"
#include "server/store/run_repository.h"

namespace campaign {

// The caller every method takes (see server/auth/caller.h).
using auth::Caller;

// CreateRun's input as the caller sent it.
struct CreateRunInput {
  std::string request_id;
  int32_t concurrency = 0;
  std::vector<Lead> leads;
  int64_t outbound_list_id = 0;
  int64_t project_id = 0;
  bool start_paused = false;
  // As sent; validated and normalised by CreateRun.
  CallSettings call_settings;
};

// CreateRun's result.
struct CreateRunOutput {
  Run run;
  // Leads dropped because their lead_id repeated within the request.
  int64_t duplicate_leads_dropped = 0;
};

// AddLeads's result.
struct AddLeadsOutput {
  Run run;
  int64_t added = 0;
  // Repeated within the request or already in the run.
  int64_t duplicates_skipped = 0;
};

// ListRuns's input.
struct ListRunsInput {
  int32_t page_size = 0;
  std::string page_token;
  std::optional<RunStatus> status;
};

// ListJobs's input.
struct ListJobsInput {
  int64_t run_id = 0;
  int32_t page_size = 0;
  std::string page_token;
  std::optional<JobStatus> status;
};

// A page of a listing with the token of the next one (empty on the last).
template <typename T>
struct Listing {
  std::vector<T> items;
  std::string next_page_token;
};

// StopRun's result.
struct StopRunOutput {
  Run run;
  int64_t cancelled_jobs = 0;
};

// Implements the RPCs of outbound.v1.CampaignService on domain types.
class RunService {
 public:
  // `store` (not owned) is RunStore in the server and a fake in unit tests.
  RunService(store::RunRepository* store, Limits limits);

  absl::StatusOr<CreateRunOutput> CreateRun(const Caller& caller, const CreateRunInput& input);
  absl::StatusOr<AddLeadsOutput> AddLeads(const Caller& caller, int64_t run_id,
                                          const std::vector<Lead>& leads);
  absl::StatusOr<Run> GetRun(const Caller& caller, int64_t run_id);
  // A system admin reads any business; a tenant key only its own (another
  // is PERMISSION_DENIED, whether it exists or not).
  absl::StatusOr<Business> GetBusiness(const Caller& caller, int64_t business_id);
  absl::StatusOr<Listing<Run>> ListRuns(const Caller& caller, const ListRunsInput& input);
  absl::StatusOr<Listing<Job>> ListJobs(const Caller& caller, const ListJobsInput& input);
  // `hang_up`: whether calls in progress are hung up (StopRun's option; the
  // first Stop or Cancel of a run decides).
  absl::StatusOr<StopRunOutput> StopRun(const Caller& caller, int64_t run_id, bool hang_up = true);
  // CancelRun (with its `hang_up` option), PauseRun and ResumeRun (which
  // ignore `hang_up`).
  absl::StatusOr<Run> ChangeRun(const Caller& caller, int64_t run_id, RunAction action,
                                bool hang_up = true);

 private:
  // Authorises `permission` and resolves the single business of the call.
  absl::StatusOr<int64_t> BusinessOf(const Caller& caller, auth::Permission permission);

  store::RunRepository* store_;
  const Limits limits_;
};

// SHA-256 over a canonical encoding of what a CreateRun asks for (everything
// but request_id), so a retry is told apart from a different request. `leads`
// and `settings` are the validated, normalised ones. Settings left at their
// defaults add nothing, so the digest of a request without them is the one
// earlier versions computed (a retry across an upgrade still matches).
std::string CreateRunDigest(const CreateRunInput& input, const std::vector<Lead>& leads,
                            const CallSettings& settings);

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_SERVICE_RUN_SERVICE_H_
