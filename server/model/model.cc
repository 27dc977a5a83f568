#include "server/model/model.h"

#include <array>
#include <utility>

namespace campaign {
namespace {

constexpr std::array<std::pair<RunStatus, absl::string_view>, 7> kRunStatusNames = {{
    {RunStatus::kPending, "pending"},
    {RunStatus::kRunning, "running"},
    {RunStatus::kPaused, "paused"},
    {RunStatus::kStopped, "stopped"},
    {RunStatus::kCancelled, "cancelled"},
    {RunStatus::kCompleted, "completed"},
    {RunStatus::kFailed, "failed"},
}};

constexpr std::array<std::pair<JobStatus, absl::string_view>, 9> kJobStatusNames = {{
    {JobStatus::kQueued, "queued"},
    {JobStatus::kDialing, "dialing"},
    {JobStatus::kCalling, "calling"},
    {JobStatus::kCompleted, "completed"},
    {JobStatus::kFailed, "failed"},
    {JobStatus::kNoAnswer, "no_answer"},
    {JobStatus::kBusy, "busy"},
    {JobStatus::kCancelled, "cancelled"},
    {JobStatus::kSkipped, "skipped"},
}};

template <typename Enum, size_t N>
absl::string_view NameOf(const std::array<std::pair<Enum, absl::string_view>, N>& names,
                         Enum value) {
  for (const auto& [candidate, name] : names) {
    if (candidate == value) return name;
  }
  return "unknown";
}

template <typename Enum, size_t N>
std::optional<Enum> ValueOf(const std::array<std::pair<Enum, absl::string_view>, N>& names,
                            absl::string_view name) {
  for (const auto& [value, candidate] : names) {
    if (candidate == name) return value;
  }
  return std::nullopt;
}

constexpr std::array<std::pair<Role, absl::string_view>, 4> kRoleNames = {{
    {Role::kSystemAdmin, "system_admin"},
    {Role::kOwner, "owner"},
    {Role::kAdmin, "admin"},
    {Role::kAgent, "agent"},
}};

constexpr std::array<std::pair<WaitReason, absl::string_view>, 5> kWaitReasonNames = {{
    {WaitReason::kNone, ""},
    {WaitReason::kStartAt, "start_at"},
    {WaitReason::kCallingWindow, "calling_window"},
    {WaitReason::kRetryDelay, "retry_delay"},
    {WaitReason::kPerNumberCap, "per_number_cap"},
}};

constexpr std::array<std::pair<SkipReason, absl::string_view>, 4> kSkipReasonNames = {{
    {SkipReason::kNone, ""},
    {SkipReason::kDoNotCall, "do_not_call"},
    {SkipReason::kPerNumberCap, "per_number_cap"},
    {SkipReason::kWindowUnreachable, "window_unreachable"},
}};

}  // namespace

absl::string_view WaitReasonName(WaitReason reason) { return NameOf(kWaitReasonNames, reason); }
absl::string_view SkipReasonName(SkipReason reason) { return NameOf(kSkipReasonNames, reason); }
std::optional<WaitReason> ParseWaitReason(absl::string_view name) {
  return ValueOf(kWaitReasonNames, name);
}
std::optional<SkipReason> ParseSkipReason(absl::string_view name) {
  return ValueOf(kSkipReasonNames, name);
}

absl::string_view RoleName(Role role) { return NameOf(kRoleNames, role); }
std::optional<Role> ParseRole(absl::string_view name) { return ValueOf(kRoleNames, name); }

absl::string_view RunStatusName(RunStatus status) { return NameOf(kRunStatusNames, status); }
absl::string_view JobStatusName(JobStatus status) { return NameOf(kJobStatusNames, status); }

std::optional<RunStatus> ParseRunStatus(absl::string_view name) {
  return ValueOf(kRunStatusNames, name);
}
std::optional<JobStatus> ParseJobStatus(absl::string_view name) {
  return ValueOf(kJobStatusNames, name);
}

bool IsTerminal(RunStatus status) {
  return status == RunStatus::kStopped || status == RunStatus::kCancelled ||
         status == RunStatus::kCompleted || status == RunStatus::kFailed;
}

absl::string_view MachineDetectionName(MachineDetection detection) {
  switch (detection) {
    case MachineDetection::kOff:
      return "";
    case MachineDetection::kEnable:
      return "enable";
    case MachineDetection::kDetectMessageEnd:
      return "detect_message_end";
  }
  return "";
}

std::optional<MachineDetection> ParseMachineDetection(absl::string_view name) {
  for (MachineDetection detection :
       {MachineDetection::kOff, MachineDetection::kEnable, MachineDetection::kDetectMessageEnd}) {
    if (MachineDetectionName(detection) == name) return detection;
  }
  return std::nullopt;
}

absl::string_view RunActionName(RunAction action) {
  switch (action) {
    case RunAction::kStop:
      return "stop";
    case RunAction::kCancel:
      return "cancel";
    case RunAction::kPause:
      return "pause";
    case RunAction::kResume:
      return "resume";
  }
  return "unknown";
}

}  // namespace campaign
