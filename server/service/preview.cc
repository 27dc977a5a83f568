#include "server/service/preview.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace campaign {
namespace {

LeadPreview Explain(const PreviewLead& lead, const rules::Decision* decision) {
  LeadPreview preview;
  preview.lead_id = lead.lead_id;
  preview.phone = lead.phone;
  preview.time_zone = lead.facts.time_zone;
  preview.caller_id = lead.caller_id;
  if (!lead.valid) {
    preview.action = LeadPreview::Action::kInvalid;
    preview.rule = "the phone number is not a valid number";
    return preview;
  }
  if (lead.status && *lead.status != JobStatus::kQueued) {
    const bool in_progress =
        *lead.status == JobStatus::kDialing || *lead.status == JobStatus::kCalling;
    preview.action = in_progress ? LeadPreview::Action::kInProgress : LeadPreview::Action::kDone;
    preview.rule = in_progress ? "the lead is being dialed now"
                               : absl::StrCat("the job is final (", JobStatusName(*lead.status),
                                              "): nothing more is dialed");
    return preview;
  }
  preview.rule = decision->rule;
  switch (decision->action) {
    case rules::Decision::Action::kDialNow:
      preview.action = LeadPreview::Action::kDialNow;
      break;
    case rules::Decision::Action::kDefer:
      preview.action = LeadPreview::Action::kDefer;
      preview.next_dial_at = decision->until;
      preview.wait = decision->wait;
      break;
    case rules::Decision::Action::kSkip:
      preview.action = LeadPreview::Action::kSkip;
      preview.skip = decision->skip;
      break;
  }
  return preview;
}

}  // namespace

PreviewSummary Summarize(const DialingPolicy& policy, const rules::RunSchedule& schedule,
                         const std::vector<PreviewLead>& leads, absl::Time now,
                         int64_t explain_lead) {
  PreviewSummary summary;
  summary.policy = policy;
  summary.at = now;
  for (const PreviewLead& lead : leads) {
    const bool decided = lead.valid && (!lead.status || *lead.status == JobStatus::kQueued);
    std::optional<rules::Decision> decision;
    if (decided) decision = rules::Decide(policy, lead.facts, schedule, now);
    if (explain_lead != 0 && lead.lead_id == explain_lead) {
      summary.lead = Explain(lead, decision ? &*decision : nullptr);
    }
    if (!lead.valid) {
      ++summary.total;
      ++summary.invalid;
      continue;
    }
    if (!decided) continue;
    ++summary.total;
    switch (decision->action) {
      case rules::Decision::Action::kDialNow:
        ++summary.callable_now;
        break;
      case rules::Decision::Action::kDefer: {
        DeferredCount& count = summary.deferred[decision->wait];
        ++count.count;
        count.earliest = std::min(count.earliest, decision->until);
        break;
      }
      case rules::Decision::Action::kSkip:
        if (decision->skip == SkipReason::kDoNotCall) {
          ++summary.suppressed;
        } else {
          ++summary.skipped;
        }
        break;
    }
  }
  return summary;
}

}  // namespace campaign
