// PreviewRun's arithmetic on domain types: every lead decided by
// rules::Decide (the function the scheduler decides by) and the decisions
// counted by outcome and reason. No database: the service reads the leads'
// facts (do-not-call, recent dials, the jobs' state) and calls Summarize.
#ifndef CAMPAIGN_SERVER_SERVICE_PREVIEW_H_
#define CAMPAIGN_SERVER_SERVICE_PREVIEW_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/rules/dialing_rules.h"

namespace campaign {

// One lead of a preview and what is known of it.
struct PreviewLead {
  int64_t lead_id = 0;
  // E.164 when valid; as given otherwise.
  std::string phone;
  // False: the number does not parse as a valid one (proposed runs only).
  bool valid = true;
  // For existing runs: the job's status (queued jobs are decided; a job
  // dialing or calling is in progress; any other is done). Unset for a
  // proposed run's leads (all decided).
  std::optional<JobStatus> status;
  std::string caller_id;
  rules::LeadFacts facts;
};

// What would happen to one lead (PreviewRunResponse.lead_decision).
struct LeadPreview {
  enum class Action { kDialNow, kDefer, kSkip, kInvalid, kDone, kInProgress };
  int64_t lead_id = 0;
  std::string phone;
  std::string time_zone;
  std::string caller_id;
  Action action = Action::kDialNow;
  // kDefer.
  absl::Time next_dial_at = absl::InfinitePast();
  WaitReason wait = WaitReason::kNone;
  // kSkip.
  SkipReason skip = SkipReason::kNone;
  std::string rule;
};

// Deferred leads of one reason.
struct DeferredCount {
  int64_t count = 0;
  absl::Time earliest = absl::InfiniteFuture();
};

// PreviewRunResponse on domain types.
struct PreviewSummary {
  // Leads decided (a proposed run's leads; an existing run's queued jobs).
  int64_t total = 0;
  int64_t callable_now = 0;
  std::map<WaitReason, DeferredCount> deferred;
  // On the do-not-call list.
  int64_t suppressed = 0;
  int64_t invalid = 0;
  // Skipped for another reason (per-number cap, unreachable window).
  int64_t skipped = 0;
  std::optional<LeadPreview> lead;
  DialingPolicy policy;
  absl::Time at;
};

// Decides every lead with rules::Decide as of `now` and counts the
// decisions; `explain_lead` (0: none) also gets its LeadPreview, whatever
// its status (NOT_FOUND is the caller's to report when it is not among
// `leads`). Leads that are not queued (existing runs) are not counted in
// `total`.
PreviewSummary Summarize(const DialingPolicy& policy, const rules::RunSchedule& schedule,
                         const std::vector<PreviewLead>& leads, absl::Time now,
                         int64_t explain_lead);

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_SERVICE_PREVIEW_H_
