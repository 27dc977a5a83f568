// Domain types of the campaign service, free of protobuf and libpqxx so that
// validation, authorisation and state rules can be tested on their own.
#ifndef CAMPAIGN_SERVER_MODEL_MODEL_H_
#define CAMPAIGN_SERVER_MODEL_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
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
  int64_t lead_id = 0;
  std::string phone;
  std::string name;
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
  std::vector<Lead> leads;
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
