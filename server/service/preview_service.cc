#include "server/service/preview_service.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/rules/dialing_rules.h"
#include "server/rules/time_zone_map.h"
#include "server/service/validation.h"
#include "server/util/status_macros.h"

namespace campaign {
namespace {

// The per-number cap's rolling window (zero when there is no cap: its
// count is then not read at all).
absl::Duration CapWindow(const DialingPolicy& policy) {
  if (policy.max_dials_per_number <= 0) return absl::ZeroDuration();
  return absl::Hours(24) * std::max(1, policy.per_number_window_days);
}

absl::Status LeadNotFound(int64_t lead_id) {
  return absl::NotFoundError(
      absl::StrCat("lead_id ", lead_id, " is not a lead of the previewed run"));
}

}  // namespace

PreviewService::PreviewService(RunService* runs, PolicyService* policies,
                               store::PreviewStore* store, Limits limits,
                               std::function<absl::Time()> clock)
    : runs_(runs), policies_(policies), store_(store), limits_(limits), clock_(std::move(clock)) {}

absl::StatusOr<PreviewSummary> PreviewService::Preview(const Caller& caller,
                                                       const PreviewInput& input) {
  RETURN_IF_ERROR(ValidateOptionalId(input.lead_id, "lead_id"));
  const absl::Time at = input.at.value_or(clock_());
  if (input.create) return PreviewProposed(caller, input, at);
  if (input.run_id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("run_id: a run (> 0) or create_request is required, got ", input.run_id));
  }
  return PreviewExisting(caller, input, at);
}

absl::StatusOr<PreviewSummary> PreviewService::PreviewExisting(const Caller& caller,
                                                               const PreviewInput& input,
                                                               absl::Time at) {
  // GetRun authorises the read and reports another business's run exactly
  // like a missing one.
  ASSIGN_OR_RETURN(const Run run, runs_->GetRun(caller, input.run_id));
  ASSIGN_OR_RETURN(const DialingPolicy policy, policies_->GetDialingPolicy(caller, run.id));
  ASSIGN_OR_RETURN(std::vector<store::JobFacts> jobs,
                   store_->Jobs(run.business_id, run.id, CapWindow(policy), at));
  std::vector<PreviewLead> leads;
  leads.reserve(jobs.size());
  bool lead_found = input.lead_id == 0;
  for (store::JobFacts& job : jobs) {
    PreviewLead lead;
    lead.lead_id = job.lead_id;
    lead.phone = std::move(job.phone);
    lead.status = job.status;
    lead.caller_id = job.caller_id.empty() ? run.call_settings.caller_id : job.caller_id;
    lead.facts.time_zone = std::move(job.time_zone);
    lead.facts.attempts_made = job.attempts;
    lead.facts.next_attempt_at = job.next_attempt_at;
    lead.facts.waiting_reason = job.waiting_reason;
    lead.facts.on_do_not_call = job.standing.on_do_not_call;
    lead.facts.recent_dials = job.standing.recent_dials;
    lead.facts.oldest_recent_dial = job.standing.oldest_recent_dial;
    lead_found = lead_found || lead.lead_id == input.lead_id;
    leads.push_back(std::move(lead));
  }
  if (!lead_found) return LeadNotFound(input.lead_id);
  return Summarize(policy, rules::RunSchedule{run.start_at, run.end_at}, leads, at,
                   input.lead_id);
}

absl::StatusOr<PreviewSummary> PreviewService::PreviewProposed(const Caller& caller,
                                                               const PreviewInput& input,
                                                               absl::Time at) {
  const CreateRunInput& create = *input.create;
  // The business's effective policy (this also authorises the read), with
  // the request's overrides on top.
  ASSIGN_OR_RETURN(const DialingPolicy business, policies_->GetDialingPolicy(caller, 0));
  RETURN_IF_ERROR(rules::ValidatePolicy(create.policy, "create_request.policy."));
  const DialingPolicy policy = rules::Effective(business, DialingPolicy{}, create.policy);
  RETURN_IF_ERROR(ValidateConcurrency(create.concurrency, limits_));
  ASSIGN_OR_RETURN(const CallSettings settings, NormalizeCallSettings(create.call_settings));
  ASSIGN_OR_RETURN(const std::vector<std::string> pool, NormalizeCallerIds(create.caller_ids));
  RETURN_IF_ERROR(ValidateSchedule(create.start_at, create.end_at, clock_()));
  if (create.leads.empty()) {
    return absl::InvalidArgumentError("create_request.leads: at least one lead is required");
  }
  if (static_cast<int64_t>(create.leads.size()) > limits_.max_leads_per_request) {
    return absl::InvalidArgumentError(
        absl::StrCat("create_request.leads: at most ", limits_.max_leads_per_request,
                     " leads per request, got ", create.leads.size()));
  }

  // Each lead as CreateRun would store it; an invalid one is counted, not
  // refused. A lead_id given twice is kept once (first wins), as CreateRun
  // does.
  std::vector<PreviewLead> leads;
  leads.reserve(create.leads.size());
  std::vector<std::string> phones;
  absl::flat_hash_set<int64_t> seen;
  bool lead_found = input.lead_id == 0;
  for (size_t i = 0; i < create.leads.size(); ++i) {
    const Lead& given = create.leads[i];
    RETURN_IF_ERROR(ValidatePositiveId(given.lead_id, absl::StrCat("create_request.leads[", i,
                                                                   "].lead_id")));
    if (!seen.insert(given.lead_id).second) continue;
    PreviewLead lead;
    lead.lead_id = given.lead_id;
    lead.phone = given.phone;
    absl::StatusOr<std::string> phone = NormalizePhone(given.phone, "phone");
    const bool zone_ok =
        given.time_zone.empty() || ValidateTimeZone(given.time_zone, "time_zone").ok();
    lead.valid = phone.ok() && zone_ok;
    if (lead.valid) {
      lead.phone = *phone;
      lead.facts.time_zone = rules::TimeZones().ZoneSpecFor(lead.phone, given.time_zone);
      lead.caller_id = pool.empty() ? settings.caller_id
                                    : rules::PickCallerId(pool, create.local_presence, lead.phone);
      phones.push_back(lead.phone);
    }
    lead_found = lead_found || lead.lead_id == input.lead_id;
    leads.push_back(std::move(lead));
  }
  if (!lead_found) return LeadNotFound(input.lead_id);
  ASSIGN_OR_RETURN(const auth::Scope scope,
                   auth::AuthorizeCall(caller, auth::Permission::kRead,
                                       /*allow_all_businesses=*/false, "preview runs"));
  ASSIGN_OR_RETURN(const auto standings,
                   store_->Phones(*scope.business_id, phones, CapWindow(policy), at));
  for (PreviewLead& lead : leads) {
    if (!lead.valid) continue;
    const auto it = standings.find(lead.phone);
    if (it == standings.end()) continue;
    lead.facts.on_do_not_call = it->second.on_do_not_call;
    lead.facts.recent_dials = it->second.recent_dials;
    lead.facts.oldest_recent_dial = it->second.oldest_recent_dial;
  }
  return Summarize(policy, rules::RunSchedule{create.start_at, create.end_at}, leads, at,
                   input.lead_id);
}

}  // namespace campaign
