#include "server/scheduler/rule_keeper.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/util/logging.h"
#include "server/util/status_macros.h"

namespace campaign::scheduler {
namespace {

// The zones of a zone spec; one that does not load is decided in the
// policy's default zone (as rules::Decide does).
std::vector<absl::TimeZone> Zones(absl::string_view spec, const DialingPolicy& policy) {
  absl::StatusOr<std::vector<absl::TimeZone>> zones = rules::ZonesOf(spec, policy);
  if (zones.ok() && !zones->empty()) return *zones;
  zones = rules::ZonesOf("", policy);
  if (zones.ok() && !zones->empty()) return *zones;
  return {absl::UTCTimeZone()};
}

}  // namespace

absl::Status RuleKeeper::Refresh(HeldRun& run, absl::Time now, bool force) {
  if (run.rules_loaded && !force && now < run.rules_read_at + kPolicyRefresh) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(store::RunDialingRules stored, leases_->DialingRules(run.lease));
  DialingPolicy policy = rules::Effective(defaults_, stored.business, stored.run);
  rules::RunSchedule schedule{stored.start_at, stored.end_at};
  const bool changed = !run.rules_loaded || !(policy == run.policy) ||
                       schedule.start_at != run.schedule.start_at ||
                       schedule.end_at != run.schedule.end_at;
  run.policy = std::move(policy);
  run.schedule = schedule;
  run.rules_read_at = now;
  run.rules_loaded = true;
  // A new policy may close or open windows: screen again at once.
  if (changed) run.next_screen = absl::InfinitePast();
  return absl::OkStatus();
}

std::vector<store::ClaimedJob> RuleKeeper::Vet(const HeldRun& run,
                                               const std::vector<store::ClaimedJob>& jobs,
                                               absl::Time now,
                                               std::vector<store::ClaimUndo>* vetoed) const {
  std::vector<store::ClaimedJob> dial;
  for (const store::ClaimedJob& job : jobs) {
    rules::LeadFacts facts;
    facts.time_zone = job.time_zone;
    // Decided as before this claim: the attempts made so far.
    facts.attempts_made = std::max(0, job.attempts - 1);
    facts.on_do_not_call = job.on_do_not_call;
    facts.recent_dials = job.recent_dials;
    facts.oldest_recent_dial = job.oldest_recent_dial;
    rules::Decision decision = rules::Decide(run.policy, facts, run.schedule, now);
    // The claim-time do-not-call check does not depend on the rules library.
    if (job.on_do_not_call && decision.action != rules::Decision::Action::kSkip) {
      decision.action = rules::Decision::Action::kSkip;
      decision.skip = SkipReason::kDoNotCall;
      decision.rule = "the number is on the business's do-not-call list";
    }
    switch (decision.action) {
      case rules::Decision::Action::kDialNow:
        dial.push_back(job);
        continue;
      case rules::Decision::Action::kDefer: {
        store::ClaimUndo undo;
        undo.job_id = job.job_id;
        undo.token = job.token;
        undo.to = JobStatus::kQueued;
        undo.until = decision.until;
        undo.wait = decision.wait;
        undo.rule = decision.rule;
        vetoed->push_back(std::move(undo));
        continue;
      }
      case rules::Decision::Action::kSkip: {
        store::ClaimUndo undo;
        undo.job_id = job.job_id;
        undo.token = job.token;
        undo.to = JobStatus::kSkipped;
        undo.skip = decision.skip;
        undo.rule = decision.rule;
        vetoed->push_back(std::move(undo));
        continue;
      }
    }
  }
  return dial;
}

absl::Status RuleKeeper::Screen(HeldRun& run, absl::Time now) {
  if (!run.rules_loaded || !run.control.Dispatchable() || PastEnd(run, now)) {
    return absl::OkStatus();
  }
  if (now < run.next_screen) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<store::ZoneDue> due, leases_->DueZones(run.lease, now));
  absl::Time next = now + kScreenInterval;
  std::vector<store::ZoneScreen> screens;
  int64_t deferred = 0, skipped = 0;
  for (const store::ZoneDue& zone : due) {
    const rules::WindowState window = rules::Window(run.policy, Zones(zone.zone, run.policy), now);
    if (window.open) {
      // Screened again when it closes.
      next = std::min(next, window.next_change);
      continue;
    }
    store::ZoneScreen screen;
    screen.zone = zone.zone;
    screen.rule = window.rule;
    const bool never = window.next_change == absl::InfiniteFuture() ||
                       (run.schedule.end_at && window.next_change >= *run.schedule.end_at);
    if (never) {
      screen.skip = true;
      skipped += zone.jobs;
    } else {
      screen.until = window.next_change;
      deferred += zone.jobs;
    }
    screens.push_back(std::move(screen));
  }
  if (!screens.empty()) {
    ASSIGN_OR_RETURN(run.control, leases_->ScreenZones(run.lease, now, screens));
    spdlog::info("run {}: screened {} closed zones: {} jobs deferred, {} skipped", run.lease.run_id,
                 screens.size(), deferred, skipped);
  }
  run.next_screen = std::max(next, now + absl::Seconds(1));
  return absl::OkStatus();
}

std::optional<absl::Time> RuleKeeper::RetryAt(const HeldRun& run, const store::JobResult& result,
                                              absl::Time now) const {
  if (!result.retryable || !run.rules_loaded) return std::nullopt;
  if (result.status != JobStatus::kBusy && result.status != JobStatus::kNoAnswer &&
      result.status != JobStatus::kFailed) {
    return std::nullopt;
  }
  std::optional<absl::Time> at = rules::RetryAt(run.policy, result.status, result.attempts, now);
  if (!at) return std::nullopt;
  if (run.schedule.end_at && *at >= *run.schedule.end_at) return std::nullopt;
  return at;
}

absl::Status RuleKeeper::EnforceEndAt(HeldRun& run, absl::Time now) {
  if (!PastEnd(run, now) || run.Ended() || run.control.status != RunStatus::kRunning) {
    return absl::OkStatus();
  }
  // Something to do: queued jobs to cancel, or nothing in progress any more.
  if (run.control.queued <= 0 && !(run.control.in_progress == 0 && run.calls.empty())) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(run.control, leases_->EndAtPassed(run.lease, kEndAtPassedReason));
  spdlog::info("run {}: end_at passed; queued jobs cancelled{}", run.lease.run_id,
               run.control.status == RunStatus::kCompleted ? ", run completed" : "");
  return absl::OkStatus();
}

}  // namespace campaign::scheduler
