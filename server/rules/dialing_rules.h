// Dialing rules as pure functions: the effective policy of a run, whether a
// calling window is open in the callee's zone(s) now and when that changes,
// and the decision for one lead (dial now, wait until a time, skip). The
// scheduler and PreviewRun both decide through Decide(), so a preview says
// exactly what the scheduler then does. No database, no clock of its own:
// `now` is always an argument.
#ifndef CAMPAIGN_SERVER_RULES_DIALING_RULES_H_
#define CAMPAIGN_SERVER_RULES_DIALING_RULES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/model/model.h"

namespace campaign::rules {

// How far ahead a window opening is searched; a lead whose window does not
// open within it (no window days, every day restricted) is skipped.
inline constexpr absl::Duration kWindowSearchHorizon = absl::Hours(24 * 366);

// The server's defaults (every field set): every day 08:00-21:00, no
// restricted dates, max_attempts 1, retries busy 600 s and no answer 3600 s,
// no per-number cap (window 1 day), default zone "UTC".
DialingPolicy ServerDefaultPolicy();

// Parses "HH:MM-HH:MM" (campaignd --default-calling-hours; "00:00-24:00" is
// all day) into the same window on every weekday.
absl::StatusOr<std::vector<DailyWindow>> ParseDailyHours(absl::string_view text);

// Field by field: `run`'s value when set, else `business`'s, else
// `defaults`'s (an effective policy).
DialingPolicy Effective(const DialingPolicy& defaults, const DialingPolicy& business,
                        const DialingPolicy& run);

// INVALID_ARGUMENT naming the field ("policy.calling_windows[2].end_minute")
// and the offending value, for a stored policy (fields may be unset) as
// UpdateDialingPolicy and CreateRun accept it. `field_prefix` is prepended
// to field names ("policy.").
absl::Status ValidatePolicy(const DialingPolicy& policy, absl::string_view field_prefix);

// The zones of a job's zone spec ("A&B"; empty: the policy's default zone).
// INVALID_ARGUMENT when a zone does not load.
absl::StatusOr<std::vector<absl::TimeZone>> ZonesOf(absl::string_view zone_spec,
                                                    const DialingPolicy& policy);

// Whether calls may start now in every one of `zones`, and when that next
// changes.
struct WindowState {
  bool open = false;
  // When open: when the first of the zones' windows closes. When closed:
  // the earliest time all of them are open together; InfiniteFuture when
  // that is not within kWindowSearchHorizon.
  absl::Time next_change = absl::InfiniteFuture();
  // For a person: the zone and local time that decided, e.g. "window
  // 08:00-21:00 in America/Chicago (local Mon 07:15)".
  std::string rule;
};
WindowState Window(const DialingPolicy& policy, const std::vector<absl::TimeZone>& zones,
                   absl::Time now);

// What is known of one lead when it is decided on.
struct LeadFacts {
  // The job's zone spec (Job::time_zone).
  std::string time_zone;
  // Dials of this lead in this run so far (the job's attempts).
  int attempts_made = 0;
  // The job's next_attempt_at (InfinitePast: due now) and why.
  absl::Time next_attempt_at = absl::InfinitePast();
  WaitReason waiting_reason = WaitReason::kNone;
  // On the business's do-not-call list.
  bool on_do_not_call = false;
  // The number's dials in the last per_number_window_days across the
  // business (not counting this claim), and the oldest of them.
  int recent_dials = 0;
  absl::Time oldest_recent_dial = absl::InfinitePast();
};

// The run's schedule.
struct RunSchedule {
  std::optional<absl::Time> start_at;
  std::optional<absl::Time> end_at;
};

// The decision for one lead.
struct Decision {
  enum class Action { kDialNow, kDefer, kSkip };
  Action action = Action::kDialNow;
  // kDefer: not before this, for this reason.
  absl::Time until = absl::InfinitePast();
  WaitReason wait = WaitReason::kNone;
  // kSkip.
  SkipReason skip = SkipReason::kNone;
  // The rule behind it, for a person (PreviewRun's lead_decision.rule, a
  // skipped job's error_message).
  std::string rule;
};

// Decides, in this order: do-not-call (skip); the run's start_at (defer);
// the job's own retry delay (defer until next_attempt_at); the per-number
// cap (defer until the oldest recent dial leaves the window, or skip when
// that is at or after end_at); the calling window in every zone of the spec
// (defer until it opens, or skip when it does not open before end_at or
// within the horizon). A deferral past end_at is a skip. An invalid zone
// spec is decided in the policy's default zone.
Decision Decide(const DialingPolicy& policy, const LeadFacts& lead, const RunSchedule& schedule,
                absl::Time now);

// The retry after an attempt that ended with `outcome` (kBusy, kNoAnswer,
// kFailed): the time of the next attempt, or nullopt when there is none
// (max_attempts reached, or no delay for that outcome). `attempts_made`
// counts the attempt that just ended.
std::optional<absl::Time> RetryAt(const DialingPolicy& policy, JobStatus outcome,
                                  int attempts_made, absl::Time ended_at);

// The caller id of a lead from a run's pool: with local_presence, a number
// of the same NANP area code (else the same country calling code) when the
// pool has one; otherwise (and among several candidates) a stable choice by
// the lead's number, so a lead keeps its caller id on every attempt. Empty
// when the pool is empty.
std::string PickCallerId(const std::vector<std::string>& pool, bool local_presence,
                         absl::string_view lead_e164);

}  // namespace campaign::rules

#endif  // CAMPAIGN_SERVER_RULES_DIALING_RULES_H_
