// The campaign API's logic, free of gRPC: authorisation, validation, paging
// and the calls into the store. Handlers only translate protobuf to these
// types and back, so everything here is testable without a server.
#ifndef CAMPAIGN_SERVER_SERVICE_RUN_SERVICE_H_
#define CAMPAIGN_SERVER_SERVICE_RUN_SERVICE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
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
  // The run's dialing policy overrides (unset fields inherit), as sent.
  DialingPolicy policy;
  // The caller id pool as sent (normalised to E.164 by CreateRun) and local
  // presence.
  std::vector<std::string> caller_ids;
  bool local_presence = false;
  // The run's schedule; unset when not given.
  std::optional<absl::Time> start_at;
  std::optional<absl::Time> end_at;
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
  // `now` is the clock end_at is checked against.
  RunService(store::RunRepository* store, Limits limits,
             std::function<absl::Time()> now = absl::Now);

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
  std::function<absl::Time()> now_;
};

// Per lead (parallel to `leads`, phones in E.164), what a job is inserted
// with: its zone spec (the lead's zone, else the zones of its number's prefix
// joined by '&', else empty) and its sticky caller id from `caller_ids` (empty
// when the pool is).
struct ResolvedLeads {
  std::vector<std::string> time_zones;
  std::vector<std::string> caller_ids;
};
ResolvedLeads ResolveLeads(const std::vector<Lead>& leads,
                           const std::vector<std::string>& caller_ids, bool local_presence);

// SHA-256 over a canonical encoding of what a CreateRun asks for (everything
// but request_id), so a retry is told apart from a different request.
// `leads`, `settings` and `caller_ids` are the validated, normalised ones.
// Settings left at their defaults, and the fields of issue 13 (lead time
// zones, policy, caller ids, local presence, start_at, end_at) when not
// given, add nothing, so the digest of a request without them is the one
// earlier versions computed (a retry across an upgrade still matches).
std::string CreateRunDigest(const CreateRunInput& input, const std::vector<Lead>& leads,
                            const CallSettings& settings,
                            const std::vector<std::string>& caller_ids = {});

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_SERVICE_RUN_SERVICE_H_
