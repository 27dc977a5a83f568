// Domain types of the campaign service, free of protobuf and libpqxx so that
// validation, authorisation and state rules can be tested on their own.
#ifndef CAMPAIGN_SERVER_MODEL_MODEL_H_
#define CAMPAIGN_SERVER_MODEL_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace campaign {

// Lifecycle of a run; see DESIGN.md "State machines".
enum class RunStatus {
  kPending,
  kRunning,
  kPaused,
  kStopped,
  kCancelled,
  kCompleted,
  kFailed,
};

// Lifecycle of a job (one lead of a run).
enum class JobStatus {
  kQueued,
  kDialing,
  kCalling,
  kCompleted,
  kFailed,
  kNoAnswer,
  kBusy,
  kCancelled,
  // Never dialed (or not again) because a dialing rule forbids it.
  kSkipped,
};

// The lowercase name stored in the database ("pending", "no_answer", ...).
absl::string_view RunStatusName(RunStatus status);
absl::string_view JobStatusName(JobStatus status);

// Parses a stored name; nullopt for a name this version does not know.
std::optional<RunStatus> ParseRunStatus(absl::string_view name);
std::optional<JobStatus> ParseJobStatus(absl::string_view name);

// True for stopped, cancelled, completed and failed.
bool IsTerminal(RunStatus status);

// A lead as given by a caller, after validation (phone in E.164).
struct Lead {
  Lead() = default;
  // The time zone is optional (most callers and tests give none).
  Lead(int64_t lead_id, std::string phone, std::string name, std::string time_zone = "")
      : lead_id(lead_id),
        phone(std::move(phone)),
        name(std::move(name)),
        time_zone(std::move(time_zone)) {}

  int64_t lead_id = 0;
  std::string phone;
  std::string name;
  // The callee's IANA zone when the caller gave one (validated); empty
  // otherwise.
  std::string time_zone;
};

// Why a job (or a run) waits for a later time to dial. Stored by name
// (WaitReasonName); kNone is stored as NULL.
enum class WaitReason {
  kNone,
  // The run's start_at has not come.
  kStartAt,
  // Outside the calling window in the callee's zone, or a restricted date.
  kCallingWindow,
  // The retry delay after the previous attempt.
  kRetryDelay,
  // The number's dials in the rolling window reached the cap.
  kPerNumberCap,
};

// Why a job was skipped. Stored by name; kNone is stored as NULL.
enum class SkipReason {
  kNone,
  kDoNotCall,
  kPerNumberCap,
  kWindowUnreachable,
};

// Stored names ("calling_window", "do_not_call", ...); empty for kNone.
absl::string_view WaitReasonName(WaitReason reason);
absl::string_view SkipReasonName(SkipReason reason);
// Parses a stored name; empty is kNone; nullopt for an unknown name.
std::optional<WaitReason> ParseWaitReason(absl::string_view name);
std::optional<SkipReason> ParseSkipReason(absl::string_view name);

// A span of one local weekday when calls may start: [start_minute,
// end_minute) after local midnight.
struct DailyWindow {
  // 1 = Monday .. 7 = Sunday (ISO 8601, as google.type.DayOfWeek).
  int day_of_week = 1;
  // 0..1439.
  int start_minute = 0;
  // start_minute+1..1440.
  int end_minute = 0;

  friend bool operator==(const DailyWindow&, const DailyWindow&) = default;
};

// A local calendar date (a restricted date).
struct LocalDate {
  int year = 0;
  int month = 0;
  int day = 0;

  friend bool operator==(const LocalDate&, const LocalDate&) = default;
  friend auto operator<=>(const LocalDate&, const LocalDate&) = default;
};

// The retry delay after an attempt that ended with `outcome` (kBusy,
// kNoAnswer or kFailed).
struct RetryDelay {
  JobStatus outcome = JobStatus::kBusy;
  absl::Duration delay;

  friend bool operator==(const RetryDelay&, const RetryDelay&) = default;
};

// The rules runs dial by (proto DialingPolicy). As stored per business or per
// run, an empty list, empty string or 0 is "not set here: inherit"; an
// effective policy (rules::Effective) has every field resolved, where
// max_dials_per_number 0 means no cap.
struct DialingPolicy {
  std::vector<DailyWindow> calling_windows;
  std::vector<LocalDate> restricted_dates;
  int max_attempts = 0;
  std::vector<RetryDelay> retry_delays;
  int max_dials_per_number = 0;
  int per_number_window_days = 0;
  std::string default_time_zone;

  friend bool operator==(const DialingPolicy&, const DialingPolicy&) = default;
};

// Answering-machine detection of a run's calls (Twilio's MachineDetection).
enum class MachineDetection {
  // No detection (the default).
  kOff,
  // "Enable": the call's answerer is detected as soon as possible.
  kEnable,
  // "DetectMessageEnd": waits for a machine's greeting to end.
  kDetectMessageEnd,
};

// The stored name of a detection mode ("enable", "detect_message_end"); empty
// for kOff (stored as NULL).
absl::string_view MachineDetectionName(MachineDetection detection);
// Parses a stored name; empty is kOff; nullopt for a name this version does
// not know.
std::optional<MachineDetection> ParseMachineDetection(absl::string_view name);

// How the calls of a run are placed, as CreateRun asked (validated). An empty
// or zero field was not given: the server's flag applies when a call is
// placed (--twilio-from, --twilio-twiml-url, --twilio-ring-timeout). Never
// changes after CreateRun.
struct CallSettings {
  // The caller id (Twilio's `From`), E.164.
  std::string caller_id;
  // The TwiML URL Twilio fetches when a call is answered.
  std::string twiml_url;
  // Ring time before no-answer, seconds (5..600); 0: the server's default.
  int32_t ring_timeout_seconds = 0;
  MachineDetection machine_detection = MachineDetection::kOff;

  friend bool operator==(const CallSettings& a, const CallSettings& b) {
    return a.caller_id == b.caller_id && a.twiml_url == b.twiml_url &&
           a.ring_timeout_seconds == b.ring_timeout_seconds &&
           a.machine_detection == b.machine_detection;
  }
  friend bool operator!=(const CallSettings& a, const CallSettings& b) { return !(a == b); }
};

// A run as stored. Optional timestamps are unset until the event happens.
struct Run {
  int64_t id = 0;
  int64_t business_id = 0;
  int64_t outbound_list_id = 0;
  int64_t created_by_user_id = 0;
  std::string request_id;
  int32_t concurrency = 0;
  int64_t total_leads = 0;
  int64_t queued_count = 0;
  int64_t in_progress_count = 0;
  int64_t completed_count = 0;
  // Every unsuccessful call: failed, busy and no answer (busy_count and
  // no_answer_count say how many of them were which).
  int64_t failed_count = 0;
  int64_t cancelled_count = 0;
  // Of failed_count: calls that were busy, and calls nobody answered.
  int64_t busy_count = 0;
  int64_t no_answer_count = 0;
  int64_t cursor_position = 0;
  // nullopt when the stored status is unknown to this version.
  std::optional<RunStatus> status;
  bool cancel_requested = false;
  std::string last_error;
  std::string locked_by_worker;
  std::optional<absl::Time> lock_ts;
  int64_t lease_epoch = 0;
  int64_t version = 0;
  absl::Time created_at;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> ended_at;
  absl::Time updated_at;
  // CreateRun's call settings.
  CallSettings call_settings;
  // Whether calls in progress are hung up when the run is stopped or
  // cancelled: the `hang_up` of the first StopRun or CancelRun (true before
  // one, and for failed runs).
  bool hang_up_on_end = true;
  // Jobs skipped by a dialing rule (final, like cancelled).
  int64_t skipped_count = 0;
  // When a queued job next becomes due, while none is (and why); unset /
  // kNone when not waiting.
  std::optional<absl::Time> next_dial_at;
  WaitReason waiting_reason = WaitReason::kNone;
  // CreateRun's schedule; unset when not given.
  std::optional<absl::Time> start_at;
  std::optional<absl::Time> end_at;
  // CreateRun's caller id pool and local presence.
  std::vector<std::string> caller_ids;
  bool local_presence = false;
};

// A job as stored.
struct Job {
  int64_t id = 0;
  int64_t run_id = 0;
  int64_t business_id = 0;
  int64_t lead_id = 0;
  std::string lead_name;
  std::string phone;
  int64_t project_id = 0;
  int64_t call_log_id = 0;
  // nullopt when the stored status is unknown to this version.
  std::optional<JobStatus> status;
  std::string error_message;
  std::string call_sid;
  int32_t attempts = 0;
  std::optional<absl::Time> dial_started_at;
  absl::Time created_at;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> completed_at;
  // While queued: not dialed before this (unset: due now), and why.
  std::optional<absl::Time> next_attempt_at;
  WaitReason waiting_reason = WaitReason::kNone;
  // The zone spec its window is evaluated in: an IANA zone, several joined
  // by '&' (all must be open), or empty (the policy's default zone).
  std::string time_zone;
  // The caller id of its calls (from the run's pool); empty: none.
  std::string caller_id;
  SkipReason skip_reason = SkipReason::kNone;
};

// One dial of a job (the attempt ledger).
struct CallAttempt {
  int64_t business_id = 0;
  int64_t run_id = 0;
  int64_t job_id = 0;
  int64_t lead_id = 0;
  int32_t attempt = 0;
  std::string phone;
  std::string caller_id;
  std::string dial_token;
  std::string call_sid;
  absl::Time started_at;
  std::optional<absl::Time> answered_at;
  std::optional<absl::Time> ended_at;
  // Unset while the attempt is in progress.
  std::optional<JobStatus> outcome;
  std::string answered_by;
  std::string error;
};

// What CreateRun asks for, after validation and de-duplication of leads.
struct NewRun {
  int64_t business_id = 0;
  int64_t created_by_user_id = 0;
  std::string request_id;
  // Digest of the request's payload; a retry must carry the same one.
  std::string request_digest;
  int32_t concurrency = 0;
  int64_t outbound_list_id = 0;
  int64_t project_id = 0;
  bool start_paused = false;
  CallSettings call_settings;
  // The run's dialing policy overrides (fields not set inherit).
  DialingPolicy policy;
  // Caller id pool (E.164) and local presence.
  std::vector<std::string> caller_ids;
  bool local_presence = false;
  // Schedule; unset when not given.
  std::optional<absl::Time> start_at;
  std::optional<absl::Time> end_at;
  std::vector<Lead> leads;
  // Per lead (parallel to `leads`), resolved by the service before the
  // insert: the zone spec (Job::time_zone) and the sticky caller id.
  std::vector<std::string> lead_time_zones;
  std::vector<std::string> lead_caller_ids;
};

// A change of a run's state a user can ask for.
enum class RunAction { kStop, kCancel, kPause, kResume };

// Name of an action for messages ("stop", "cancel", ...).
absl::string_view RunActionName(RunAction action);

// What an API key may do. system_admin spans every business; the others
// belong to exactly one.
enum class Role { kSystemAdmin, kOwner, kAdmin, kAgent };

// The stored name of a role ("system_admin", "owner", ...).
absl::string_view RoleName(Role role);
// Parses a role name; nullopt for an unknown one.
std::optional<Role> ParseRole(absl::string_view name);

// The authenticated caller of an RPC, resolved from its API key.
struct Principal {
  int64_t api_key_id = 0;
  Role role = Role::kAgent;
  // Unset for system_admin keys only.
  std::optional<int64_t> business_id;
  // The CRM user behind the key; 0 when the key names none.
  int64_t user_id = 0;
};

// A business (a tenant) and its limits.
struct Business {
  int64_t id = 0;
  std::string name;
  // Most calls per second its runs start together, across every replica
  // (the rate governor; enforced where --enforce-calls-per-second is on).
  double max_calls_per_second = 1;
  absl::Time created_at;
};

// An API key as stored (the key itself is never stored, only its hash).
struct ApiKeyRecord {
  Principal principal;
  std::string label;
  bool revoked = false;
};

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_MODEL_MODEL_H_
