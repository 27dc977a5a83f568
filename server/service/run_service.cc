#include "server/service/run_service.h"

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "server/rules/dialing_rules.h"
#include "server/rules/time_zone_map.h"
#include "server/service/audit.h"
#include "server/service/page_token.h"
#include "server/util/crypto.h"
#include "server/util/logging.h"
#include "server/util/status_macros.h"

namespace campaign {
namespace {

void AppendField(std::string& out, absl::string_view value) {
  absl::StrAppend(&out, value.size(), ":", value, ";");
}

std::string ScopeText(std::optional<int64_t> business_id) {
  return business_id ? absl::StrCat(*business_id) : std::string("*");
}

// The process-wide prefix -> time-zone map (campaignd --time-zone-map, else
// the embedded one).
const rules::TimeZoneMap& ZoneMap() { return rules::TimeZones(); }

// Appends the canonical encoding of a policy (every field, set or not).
void AppendPolicy(std::string& out, const DialingPolicy& policy) {
  absl::StrAppend(&out, "policy/v1;", policy.calling_windows.size(), ";");
  for (const DailyWindow& window : policy.calling_windows) {
    absl::StrAppend(&out, window.day_of_week, ",", window.start_minute, ",", window.end_minute,
                    ";");
  }
  absl::StrAppend(&out, policy.restricted_dates.size(), ";");
  for (const LocalDate& date : policy.restricted_dates) {
    absl::StrAppend(&out, date.year, "-", date.month, "-", date.day, ";");
  }
  absl::StrAppend(&out, policy.max_attempts, ";", policy.retry_delays.size(), ";");
  for (const RetryDelay& retry : policy.retry_delays) {
    absl::StrAppend(&out, JobStatusName(retry.outcome), ",", absl::ToInt64Seconds(retry.delay),
                    ";");
  }
  absl::StrAppend(&out, policy.max_dials_per_number, ";", policy.per_number_window_days, ";");
  AppendField(out, policy.default_time_zone);
}

}  // namespace

ResolvedLeads ResolveLeads(const std::vector<Lead>& leads,
                           const std::vector<std::string>& caller_ids, bool local_presence) {
  const rules::TimeZoneMap& zones = ZoneMap();
  ResolvedLeads resolved;
  resolved.time_zones.reserve(leads.size());
  for (const Lead& lead : leads) {
    resolved.time_zones.push_back(zones.ZoneSpecFor(lead.phone, lead.time_zone));
  }
  if (!caller_ids.empty()) {
    resolved.caller_ids.reserve(leads.size());
    for (const Lead& lead : leads) {
      resolved.caller_ids.push_back(rules::PickCallerId(caller_ids, local_presence, lead.phone));
    }
  }
  return resolved;
}

std::string CreateRunDigest(const CreateRunInput& input, const std::vector<Lead>& leads,
                            const CallSettings& settings,
                            const std::vector<std::string>& caller_ids) {
  std::string canonical =
      absl::StrCat("create-run/v1;", input.concurrency, ";", input.outbound_list_id, ";",
                   input.project_id, ";", input.start_paused ? 1 : 0, ";", leads.size(), ";");
  for (const Lead& lead : leads) {
    absl::StrAppend(&canonical, lead.lead_id, ";");
    AppendField(canonical, lead.phone);
    AppendField(canonical, lead.name);
  }
  // After the leads (their count is above, so where they end is known).
  if (settings != CallSettings{}) {
    absl::StrAppend(&canonical, "call-settings/v1;");
    AppendField(canonical, settings.caller_id);
    AppendField(canonical, settings.twiml_url);
    absl::StrAppend(&canonical, settings.ring_timeout_seconds, ";",
                    MachineDetectionName(settings.machine_detection), ";");
  }
  // Issue 13's fields, each section only when given, in a fixed order.
  if (absl::c_any_of(leads, [](const Lead& lead) { return !lead.time_zone.empty(); })) {
    absl::StrAppend(&canonical, "lead-time-zones/v1;");
    for (const Lead& lead : leads) AppendField(canonical, lead.time_zone);
  }
  if (input.policy != DialingPolicy{}) AppendPolicy(canonical, input.policy);
  if (!caller_ids.empty() || input.local_presence) {
    absl::StrAppend(&canonical, "caller-ids/v1;", caller_ids.size(), ";");
    for (const std::string& caller_id : caller_ids) AppendField(canonical, caller_id);
    absl::StrAppend(&canonical, input.local_presence ? 1 : 0, ";");
  }
  if (input.start_at || input.end_at) {
    absl::StrAppend(&canonical, "schedule/v1;",
                    input.start_at ? absl::StrCat(absl::ToUnixMicros(*input.start_at)) : "-", ";",
                    input.end_at ? absl::StrCat(absl::ToUnixMicros(*input.end_at)) : "-", ";");
  }
  return Sha256Hex(canonical);
}

RunService::RunService(store::RunRepository* store, Limits limits, std::function<absl::Time()> now)
    : store_(store), limits_(limits), now_(std::move(now)) {}

absl::StatusOr<int64_t> RunService::BusinessOf(const Caller& caller, auth::Permission permission) {
  ASSIGN_OR_RETURN(const auth::Scope scope,
                   AuthorizeCall(caller, permission, /*allow_all_businesses=*/false,
                                 permission == auth::Permission::kWrite ? "create runs or add leads"
                                                                        : "do this"));
  return *scope.business_id;
}

absl::StatusOr<CreateRunOutput> RunService::CreateRun(const Caller& caller,
                                                      const CreateRunInput& input) {
  ASSIGN_OR_RETURN(const int64_t business_id, BusinessOf(caller, auth::Permission::kWrite));
  RETURN_IF_ERROR(ValidateRequestId(input.request_id));
  RETURN_IF_ERROR(ValidateConcurrency(input.concurrency, limits_));
  RETURN_IF_ERROR(ValidateOptionalId(input.outbound_list_id, "outbound_list_id"));
  RETURN_IF_ERROR(ValidateOptionalId(input.project_id, "project_id"));
  ASSIGN_OR_RETURN(CallSettings settings, NormalizeCallSettings(input.call_settings));
  RETURN_IF_ERROR(rules::ValidatePolicy(input.policy, "policy."));
  ASSIGN_OR_RETURN(std::vector<std::string> caller_ids, NormalizeCallerIds(input.caller_ids));
  if (input.local_presence && caller_ids.empty()) {
    return absl::InvalidArgumentError(
        "local_presence is set but caller_ids is empty: local presence picks from the run's "
        "caller id pool");
  }
  RETURN_IF_ERROR(ValidateSchedule(input.start_at, input.end_at, now_()));
  ASSIGN_OR_RETURN(NormalizedLeads leads, NormalizeLeads(input.leads, limits_));

  NewRun run;
  run.business_id = business_id;
  run.created_by_user_id = caller.principal.user_id;
  run.request_id = input.request_id;
  run.request_digest = CreateRunDigest(input, leads.leads, settings, caller_ids);
  run.concurrency = input.concurrency;
  run.outbound_list_id = input.outbound_list_id;
  run.project_id = input.project_id;
  run.start_paused = input.start_paused;
  run.call_settings = std::move(settings);
  run.policy = input.policy;
  run.local_presence = input.local_presence;
  run.start_at = input.start_at;
  run.end_at = input.end_at;
  ResolvedLeads resolved = ResolveLeads(leads.leads, caller_ids, input.local_presence);
  run.lead_time_zones = std::move(resolved.time_zones);
  run.lead_caller_ids = std::move(resolved.caller_ids);
  run.caller_ids = std::move(caller_ids);
  run.leads = std::move(leads.leads);
  ASSIGN_OR_RETURN(store::CreatedRun created, store_->CreateRun(run));
  if (created.created) {
    spdlog::info("{} created run {} with {} leads (request_id {})",
                 auth::DescribePrincipal(caller.principal), created.run.id, created.run.total_leads,
                 input.request_id);
  }
  return CreateRunOutput{std::move(created.run), leads.duplicates_dropped};
}

absl::StatusOr<AddLeadsOutput> RunService::AddLeads(const Caller& caller, int64_t run_id,
                                                    const std::vector<Lead>& leads) {
  ASSIGN_OR_RETURN(const int64_t business_id, BusinessOf(caller, auth::Permission::kWrite));
  RETURN_IF_ERROR(ValidatePositiveId(run_id, "run_id"));
  ASSIGN_OR_RETURN(const NormalizedLeads normalized, NormalizeLeads(leads, limits_));
  // The run's caller id pool (fixed at creation) decides the new jobs' caller ids.
  absl::StatusOr<Run> run = store_->GetRun(business_id, run_id);
  if (!run.ok()) return AuditNotFound(*store_, caller.principal, business_id, run_id, run.status());
  const ResolvedLeads resolved =
      ResolveLeads(normalized.leads, run->caller_ids, run->local_presence);
  absl::StatusOr<store::AddedLeads> added = store_->AddLeads(
      business_id, run_id, normalized.leads, resolved.time_zones, resolved.caller_ids);
  if (!added.ok()) {
    return AuditNotFound(*store_, caller.principal, business_id, run_id, added.status());
  }
  return AddLeadsOutput{std::move(added->run), added->added,
                        added->skipped + normalized.duplicates_dropped};
}

absl::StatusOr<Run> RunService::GetRun(const Caller& caller, int64_t run_id) {
  ASSIGN_OR_RETURN(const int64_t business_id, BusinessOf(caller, auth::Permission::kRead));
  RETURN_IF_ERROR(ValidatePositiveId(run_id, "run_id"));
  absl::StatusOr<Run> run = store_->GetRun(business_id, run_id);
  if (!run.ok()) {
    return AuditNotFound(*store_, caller.principal, business_id, run_id, run.status());
  }
  return run;
}

absl::StatusOr<Business> RunService::GetBusiness(const Caller& caller, int64_t business_id) {
  RETURN_IF_ERROR(ValidatePositiveId(business_id, "business_id"));
  if (caller.principal.role != Role::kSystemAdmin) {
    ASSIGN_OR_RETURN(const int64_t own, BusinessOf(caller, auth::Permission::kRead));
    if (own != business_id) {
      spdlog::warn("security: {} asked for business {}; refused",
                   auth::DescribePrincipal(caller.principal), business_id);
      return absl::PermissionDeniedError(
          absl::StrCat("business ", business_id,
                       " is not the business of this API key; only system_admin keys may read "
                       "another business"));
    }
  }
  return store_->GetBusiness(business_id);
}

absl::StatusOr<Listing<Run>> RunService::ListRuns(const Caller& caller,
                                                  const ListRunsInput& input) {
  ASSIGN_OR_RETURN(const auth::Scope scope,
                   AuthorizeCall(caller, auth::Permission::kRead,
                                 /*allow_all_businesses=*/true, "list runs"));
  ASSIGN_OR_RETURN(const int32_t page_size, EffectivePageSize(input.page_size));
  const std::string query = absl::StrCat("runs|", ScopeText(scope.business_id), "|",
                                         input.status ? RunStatusName(*input.status) : "any");
  ASSIGN_OR_RETURN(const std::optional<int64_t> after, DecodePageToken(input.page_token, query));
  ASSIGN_OR_RETURN(store::Page<Run> page,
                   store_->ListRuns(scope.business_id, input.status, after, page_size));
  Listing<Run> listing{std::move(page.items), ""};
  if (page.next_after_id) listing.next_page_token = EncodePageToken(query, *page.next_after_id);
  return listing;
}

absl::StatusOr<Listing<Job>> RunService::ListJobs(const Caller& caller,
                                                  const ListJobsInput& input) {
  ASSIGN_OR_RETURN(const int64_t business_id, BusinessOf(caller, auth::Permission::kRead));
  RETURN_IF_ERROR(ValidatePositiveId(input.run_id, "run_id"));
  ASSIGN_OR_RETURN(const int32_t page_size, EffectivePageSize(input.page_size));
  const std::string query = absl::StrCat("jobs|", business_id, "|", input.run_id, "|",
                                         input.status ? JobStatusName(*input.status) : "any");
  ASSIGN_OR_RETURN(const std::optional<int64_t> after, DecodePageToken(input.page_token, query));
  absl::StatusOr<store::Page<Job>> page =
      store_->ListJobs(business_id, input.run_id, input.status, after, page_size);
  if (!page.ok()) {
    return AuditNotFound(*store_, caller.principal, business_id, input.run_id, page.status());
  }
  Listing<Job> listing{std::move(page->items), ""};
  if (page->next_after_id) listing.next_page_token = EncodePageToken(query, *page->next_after_id);
  return listing;
}

absl::StatusOr<StopRunOutput> RunService::StopRun(const Caller& caller, int64_t run_id,
                                                  bool hang_up) {
  ASSIGN_OR_RETURN(const int64_t business_id, BusinessOf(caller, auth::Permission::kControl));
  RETURN_IF_ERROR(ValidatePositiveId(run_id, "run_id"));
  absl::StatusOr<store::ChangedRun> changed =
      store_->ApplyAction(business_id, run_id, RunAction::kStop, hang_up);
  if (!changed.ok()) {
    return AuditNotFound(*store_, caller.principal, business_id, run_id, changed.status());
  }
  spdlog::info("{} stopped run {} ({} queued jobs cancelled; calls in progress {})",
               auth::DescribePrincipal(caller.principal), run_id, changed->cancelled_jobs,
               changed->run.hang_up_on_end ? "hung up" : "left to finish");
  return StopRunOutput{std::move(changed->run), changed->cancelled_jobs};
}

absl::StatusOr<Run> RunService::ChangeRun(const Caller& caller, int64_t run_id, RunAction action,
                                          bool hang_up) {
  ASSIGN_OR_RETURN(const int64_t business_id, BusinessOf(caller, auth::Permission::kControl));
  RETURN_IF_ERROR(ValidatePositiveId(run_id, "run_id"));
  absl::StatusOr<store::ChangedRun> changed =
      store_->ApplyAction(business_id, run_id, action, hang_up);
  if (!changed.ok()) {
    return AuditNotFound(*store_, caller.principal, business_id, run_id, changed.status());
  }
  spdlog::info("{} asked to {} run {}: now {}", auth::DescribePrincipal(caller.principal),
               RunActionName(action), run_id,
               changed->run.status ? RunStatusName(*changed->run.status) : "unknown");
  return std::move(changed->run);
}

}  // namespace campaign
