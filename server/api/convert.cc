#include "server/api/convert.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"
#include "absl/strings/str_format.h"

namespace campaign::api {
namespace {

namespace pb = ::outbound::v1;

void SetTime(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(time);
  int64_t seconds = micros / 1'000'000;
  int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    rest += 1'000'000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

}  // namespace

pb::RunStatus ToProto(std::optional<RunStatus> status) {
  if (!status) return pb::RUN_STATUS_UNSPECIFIED;
  switch (*status) {
    case RunStatus::kPending:
      return pb::RUN_STATUS_PENDING;
    case RunStatus::kRunning:
      return pb::RUN_STATUS_RUNNING;
    case RunStatus::kPaused:
      return pb::RUN_STATUS_PAUSED;
    case RunStatus::kStopped:
      return pb::RUN_STATUS_STOPPED;
    case RunStatus::kCancelled:
      return pb::RUN_STATUS_CANCELLED;
    case RunStatus::kCompleted:
      return pb::RUN_STATUS_COMPLETED;
    case RunStatus::kFailed:
      return pb::RUN_STATUS_FAILED;
  }
  return pb::RUN_STATUS_UNSPECIFIED;
}

pb::JobStatus ToProto(std::optional<JobStatus> status) {
  if (!status) return pb::JOB_STATUS_UNSPECIFIED;
  switch (*status) {
    case JobStatus::kQueued:
      return pb::JOB_STATUS_QUEUED;
    case JobStatus::kDialing:
      return pb::JOB_STATUS_DIALING;
    case JobStatus::kCalling:
      return pb::JOB_STATUS_CALLING;
    case JobStatus::kCompleted:
      return pb::JOB_STATUS_COMPLETED;
    case JobStatus::kFailed:
      return pb::JOB_STATUS_FAILED;
    case JobStatus::kNoAnswer:
      return pb::JOB_STATUS_NO_ANSWER;
    case JobStatus::kBusy:
      return pb::JOB_STATUS_BUSY;
    case JobStatus::kCancelled:
      return pb::JOB_STATUS_CANCELLED;
    case JobStatus::kSkipped:
      return pb::JOB_STATUS_SKIPPED;
  }
  return pb::JOB_STATUS_UNSPECIFIED;
}

absl::StatusOr<std::optional<RunStatus>> RunStatusFilter(int value) {
  if (value == pb::RUN_STATUS_UNSPECIFIED) return std::optional<RunStatus>();
  for (RunStatus status :
       {RunStatus::kPending, RunStatus::kRunning, RunStatus::kPaused, RunStatus::kStopped,
        RunStatus::kCancelled, RunStatus::kCompleted, RunStatus::kFailed}) {
    if (ToProto(status) == value) return std::optional<RunStatus>(status);
  }
  return absl::InvalidArgumentError(absl::StrCat("status ", value, " is not a RunStatus"));
}

absl::StatusOr<std::optional<JobStatus>> JobStatusFilter(int value) {
  if (value == pb::JOB_STATUS_UNSPECIFIED) return std::optional<JobStatus>();
  for (JobStatus status : {JobStatus::kQueued, JobStatus::kDialing, JobStatus::kCalling,
                           JobStatus::kCompleted, JobStatus::kFailed, JobStatus::kNoAnswer,
                           JobStatus::kBusy, JobStatus::kCancelled, JobStatus::kSkipped}) {
    if (ToProto(status) == value) return std::optional<JobStatus>(status);
  }
  return absl::InvalidArgumentError(absl::StrCat("status ", value, " is not a JobStatus"));
}

RunAudience AudienceOf(const Principal& principal) {
  return principal.role == Role::kSystemAdmin ? RunAudience::kSystemAdmin : RunAudience::kTenant;
}

void ToProto(const Run& run, RunAudience audience, pb::OutboundCallRun* out) {
  out->set_id(run.id);
  out->set_business_id(run.business_id);
  out->set_outbound_list_id(run.outbound_list_id);
  out->set_created_by_user_id(run.created_by_user_id);
  out->set_request_id(run.request_id);
  out->set_concurrency(run.concurrency);
  out->set_total_leads(run.total_leads);
  out->set_queued_count(run.queued_count);
  out->set_in_progress_count(run.in_progress_count);
  out->set_completed_count(run.completed_count);
  out->set_failed_count(run.failed_count);
  out->set_cancelled_count(run.cancelled_count);
  out->set_cursor_position(run.cursor_position);
  pb::RunOutcomes* outcomes = out->mutable_outcomes();
  outcomes->set_completed(run.completed_count);
  outcomes->set_busy(run.busy_count);
  outcomes->set_no_answer(run.no_answer_count);
  outcomes->set_failed(
      std::max<int64_t>(0, run.failed_count - run.busy_count - run.no_answer_count));
  outcomes->set_cancelled(run.cancelled_count);
  outcomes->set_skipped(run.skipped_count);
  out->set_skipped_count(run.skipped_count);
  out->set_status(ToProto(run.status));
  out->set_cancel_requested(run.cancel_requested);
  out->set_last_error(run.last_error);
  if (audience == RunAudience::kSystemAdmin) out->set_locked_by_worker(run.locked_by_worker);
  if (run.lock_ts) SetTime(*run.lock_ts, out->mutable_lock_ts());
  SetTime(run.created_at, out->mutable_created_at());
  if (run.started_at) SetTime(*run.started_at, out->mutable_started_at());
  if (run.ended_at) SetTime(*run.ended_at, out->mutable_ended_at());
  SetTime(run.updated_at, out->mutable_updated_at());
  if (run.call_settings != CallSettings{}) ToProto(run.call_settings, out->mutable_call_settings());
  out->set_hang_up_on_end(run.hang_up_on_end);
  if (run.next_dial_at) SetTime(*run.next_dial_at, out->mutable_next_dial_at());
  out->set_waiting_reason(ToProto(run.waiting_reason));
  if (run.start_at) SetTime(*run.start_at, out->mutable_start_at());
  if (run.end_at) SetTime(*run.end_at, out->mutable_end_at());
  for (const std::string& caller_id : run.caller_ids) out->add_caller_ids(caller_id);
  out->set_local_presence(run.local_presence);
}

absl::StatusOr<CallSettings> FromProto(const pb::CallSettings& settings) {
  CallSettings out;
  out.caller_id = settings.caller_id();
  out.twiml_url = settings.twiml_url();
  out.ring_timeout_seconds = settings.ring_timeout_seconds();
  switch (settings.machine_detection()) {
    case pb::MACHINE_DETECTION_UNSPECIFIED:
      out.machine_detection = MachineDetection::kOff;
      break;
    case pb::MACHINE_DETECTION_ENABLE:
      out.machine_detection = MachineDetection::kEnable;
      break;
    case pb::MACHINE_DETECTION_DETECT_MESSAGE_END:
      out.machine_detection = MachineDetection::kDetectMessageEnd;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("call_settings.machine_detection ",
                                                     settings.machine_detection(),
                                                     " is not a MachineDetection"));
  }
  return out;
}

void ToProto(const CallSettings& settings, pb::CallSettings* out) {
  out->set_caller_id(settings.caller_id);
  out->set_twiml_url(settings.twiml_url);
  out->set_ring_timeout_seconds(settings.ring_timeout_seconds);
  switch (settings.machine_detection) {
    case MachineDetection::kOff:
      out->set_machine_detection(pb::MACHINE_DETECTION_UNSPECIFIED);
      break;
    case MachineDetection::kEnable:
      out->set_machine_detection(pb::MACHINE_DETECTION_ENABLE);
      break;
    case MachineDetection::kDetectMessageEnd:
      out->set_machine_detection(pb::MACHINE_DETECTION_DETECT_MESSAGE_END);
      break;
  }
}

void ToProto(const Business& business, pb::Business* out) {
  out->set_id(business.id);
  out->set_name(business.name);
  out->set_max_calls_per_second(business.max_calls_per_second);
  SetTime(business.created_at, out->mutable_created_at());
}

void ToProto(const Job& job, pb::OutboundCallJob* out) {
  out->set_id(job.id);
  out->set_run_id(job.run_id);
  out->set_business_id(job.business_id);
  out->set_lead_id(job.lead_id);
  out->set_lead_name(job.lead_name);
  out->set_phone(job.phone);
  out->set_project_id(job.project_id);
  out->set_call_log_id(job.call_log_id);
  out->set_status(ToProto(job.status));
  out->set_error_message(job.error_message);
  out->set_call_sid(job.call_sid);
  out->set_attempts(job.attempts);
  if (job.dial_started_at) SetTime(*job.dial_started_at, out->mutable_dial_started_at());
  SetTime(job.created_at, out->mutable_created_at());
  if (job.started_at) SetTime(*job.started_at, out->mutable_started_at());
  if (job.completed_at) SetTime(*job.completed_at, out->mutable_completed_at());
  // Only a queued job waits; a claimed or final one may keep a stale value.
  if (job.status == JobStatus::kQueued && job.next_attempt_at) {
    SetTime(*job.next_attempt_at, out->mutable_next_attempt_at());
    out->set_waiting_reason(ToProto(job.waiting_reason));
  }
  out->set_time_zone(job.time_zone);
  out->set_caller_id(job.caller_id);
  out->set_skip_reason(ToProto(job.skip_reason));
}

std::vector<Lead> FromProto(const google::protobuf::RepeatedPtrField<pb::Lead>& leads) {
  std::vector<Lead> result;
  result.reserve(leads.size());
  for (const pb::Lead& lead : leads) {
    result.push_back(Lead{lead.lead_id(), lead.phone(), lead.name(), lead.time_zone()});
  }
  return result;
}

pb::WaitReason ToProto(WaitReason reason) {
  switch (reason) {
    case WaitReason::kNone:
      return pb::WAIT_REASON_UNSPECIFIED;
    case WaitReason::kStartAt:
      return pb::WAIT_REASON_START_AT;
    case WaitReason::kCallingWindow:
      return pb::WAIT_REASON_CALLING_WINDOW;
    case WaitReason::kRetryDelay:
      return pb::WAIT_REASON_RETRY_DELAY;
    case WaitReason::kPerNumberCap:
      return pb::WAIT_REASON_PER_NUMBER_CAP;
  }
  return pb::WAIT_REASON_UNSPECIFIED;
}

pb::SkipReason ToProto(SkipReason reason) {
  switch (reason) {
    case SkipReason::kNone:
      return pb::SKIP_REASON_UNSPECIFIED;
    case SkipReason::kDoNotCall:
      return pb::SKIP_REASON_DO_NOT_CALL;
    case SkipReason::kPerNumberCap:
      return pb::SKIP_REASON_PER_NUMBER_CAP;
    case SkipReason::kWindowUnreachable:
      return pb::SKIP_REASON_WINDOW_UNREACHABLE;
  }
  return pb::SKIP_REASON_UNSPECIFIED;
}

absl::StatusOr<DialingPolicy> FromProto(const pb::DialingPolicy& policy,
                                        absl::string_view field_prefix) {
  DialingPolicy out;
  for (int i = 0; i < policy.calling_windows_size(); ++i) {
    const pb::DailyWindow& window = policy.calling_windows(i);
    const int day = window.day_of_week();
    if (day == pb::DAY_OF_WEEK_UNSPECIFIED || !pb::DayOfWeek_IsValid(day)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%scalling_windows[%d].day_of_week must be a day (DAY_OF_WEEK_MONDAY (1) .. "
          "DAY_OF_WEEK_SUNDAY (7)), got %d",
          field_prefix, i, day));
    }
    // DayOfWeek's values are ISO 8601's (Monday 1 .. Sunday 7), as DailyWindow's.
    out.calling_windows.push_back(DailyWindow{day, window.start_minute(), window.end_minute()});
  }
  for (int i = 0; i < policy.restricted_dates_size(); ++i) {
    const std::string& text = policy.restricted_dates(i);
    LocalDate date;
    const bool shaped = text.size() == 10 && text[4] == '-' && text[7] == '-' &&
                        absl::c_all_of(text.substr(0, 4) + text.substr(5, 2) + text.substr(8, 2),
                                       absl::ascii_isdigit);
    if (!shaped || !absl::SimpleAtoi(text.substr(0, 4), &date.year) ||
        !absl::SimpleAtoi(text.substr(5, 2), &date.month) ||
        !absl::SimpleAtoi(text.substr(8, 2), &date.day)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%srestricted_dates[%d] \"%s\" is not a date of the form YYYY-MM-DD",
                          field_prefix, i, absl::CHexEscape(text.substr(0, 64))));
    }
    out.restricted_dates.push_back(date);
  }
  out.max_attempts = policy.max_attempts();
  for (int i = 0; i < policy.retry_delays_size(); ++i) {
    const pb::RetryDelay& retry = policy.retry_delays(i);
    std::optional<JobStatus> outcome;
    for (JobStatus status : {JobStatus::kBusy, JobStatus::kNoAnswer, JobStatus::kFailed,
                             JobStatus::kQueued, JobStatus::kDialing, JobStatus::kCalling,
                             JobStatus::kCompleted, JobStatus::kCancelled, JobStatus::kSkipped}) {
      if (ToProto(status) == retry.outcome()) outcome = status;
    }
    if (!outcome) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%sretry_delays[%d].outcome must be JOB_STATUS_BUSY, JOB_STATUS_NO_ANSWER or "
          "JOB_STATUS_FAILED, got %d",
          field_prefix, i, static_cast<int>(retry.outcome())));
    }
    out.retry_delays.push_back(RetryDelay{*outcome, absl::Seconds(retry.delay_seconds())});
  }
  out.max_dials_per_number = policy.max_dials_per_number();
  out.per_number_window_days = policy.per_number_window_days();
  out.default_time_zone = policy.default_time_zone();
  return out;
}

void ToProto(const DialingPolicy& policy, pb::DialingPolicy* out) {
  for (const DailyWindow& window : policy.calling_windows) {
    pb::DailyWindow* proto = out->add_calling_windows();
    proto->set_day_of_week(static_cast<pb::DayOfWeek>(window.day_of_week));
    proto->set_start_minute(window.start_minute);
    proto->set_end_minute(window.end_minute);
  }
  for (const LocalDate& date : policy.restricted_dates) {
    out->add_restricted_dates(absl::StrFormat("%04d-%02d-%02d", date.year, date.month, date.day));
  }
  out->set_max_attempts(policy.max_attempts);
  for (const RetryDelay& retry : policy.retry_delays) {
    pb::RetryDelay* proto = out->add_retry_delays();
    proto->set_outcome(ToProto(retry.outcome));
    proto->set_delay_seconds(static_cast<int32_t>(absl::ToInt64Seconds(retry.delay)));
  }
  out->set_max_dials_per_number(policy.max_dials_per_number);
  out->set_per_number_window_days(policy.per_number_window_days);
  out->set_default_time_zone(policy.default_time_zone);
}

absl::StatusOr<std::optional<absl::Time>> FromProto(const google::protobuf::Timestamp& time,
                                                    bool present, absl::string_view field) {
  if (!present) return std::optional<absl::Time>();
  // google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
  constexpr int64_t kMinSeconds = -62135596800;
  constexpr int64_t kMaxSeconds = 253402300799;
  if (time.seconds() < kMinSeconds || time.seconds() > kMaxSeconds || time.nanos() < 0 ||
      time.nanos() > 999'999'999) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is not a valid timestamp (seconds %d, nanos %d)", field, time.seconds(), time.nanos()));
  }
  return std::optional<absl::Time>(absl::FromUnixSeconds(time.seconds()) +
                                   absl::Nanoseconds(time.nanos()));
}

absl::StatusOr<CreateRunInput> FromProto(const pb::CreateRunRequest& request,
                                         absl::string_view field_prefix) {
  CreateRunInput input;
  input.request_id = request.request_id();
  input.concurrency = request.concurrency();
  input.leads = FromProto(request.leads());
  input.outbound_list_id = request.outbound_list_id();
  input.project_id = request.project_id();
  input.start_paused = request.start_paused();
  ASSIGN_OR_RETURN(input.call_settings, FromProto(request.call_settings()));
  ASSIGN_OR_RETURN(input.policy,
                   FromProto(request.policy(), absl::StrCat(field_prefix, "policy.")));
  input.caller_ids.assign(request.caller_ids().begin(), request.caller_ids().end());
  input.local_presence = request.local_presence();
  ASSIGN_OR_RETURN(input.start_at, FromProto(request.start_at(), request.has_start_at(),
                                             absl::StrCat(field_prefix, "start_at")));
  ASSIGN_OR_RETURN(input.end_at, FromProto(request.end_at(), request.has_end_at(),
                                           absl::StrCat(field_prefix, "end_at")));
  return input;
}

namespace {

pb::LeadDecision::Action ToProto(LeadPreview::Action action) {
  switch (action) {
    case LeadPreview::Action::kDialNow:
      return pb::LeadDecision::ACTION_DIAL_NOW;
    case LeadPreview::Action::kDefer:
      return pb::LeadDecision::ACTION_DEFER;
    case LeadPreview::Action::kSkip:
      return pb::LeadDecision::ACTION_SKIP;
    case LeadPreview::Action::kInvalid:
      return pb::LeadDecision::ACTION_INVALID;
    case LeadPreview::Action::kDone:
      return pb::LeadDecision::ACTION_DONE;
    case LeadPreview::Action::kInProgress:
      return pb::LeadDecision::ACTION_IN_PROGRESS;
  }
  return pb::LeadDecision::ACTION_UNSPECIFIED;
}

}  // namespace

void ToProto(const PreviewSummary& summary, pb::PreviewRunResponse* out) {
  out->set_total(summary.total);
  out->set_callable_now(summary.callable_now);
  for (const auto& [reason, count] : summary.deferred) {
    pb::DeferredLeads* deferred = out->add_deferred();
    deferred->set_reason(ToProto(reason));
    deferred->set_count(count.count);
    SetTime(count.earliest, deferred->mutable_earliest());
  }
  out->set_suppressed(summary.suppressed);
  out->set_invalid(summary.invalid);
  out->set_skipped(summary.skipped);
  if (summary.lead) {
    const LeadPreview& lead = *summary.lead;
    pb::LeadDecision* decision = out->mutable_lead_decision();
    decision->set_lead_id(lead.lead_id);
    decision->set_phone(lead.phone);
    decision->set_time_zone(lead.time_zone);
    decision->set_action(ToProto(lead.action));
    if (lead.action == LeadPreview::Action::kDefer) {
      SetTime(lead.next_dial_at, decision->mutable_next_dial_at());
      decision->set_waiting_reason(ToProto(lead.wait));
    }
    decision->set_skip_reason(ToProto(lead.skip));
    decision->set_rule(lead.rule);
    decision->set_caller_id(lead.caller_id);
  }
  ToProto(summary.policy, out->mutable_policy());
  SetTime(summary.at, out->mutable_at());
}

}  // namespace campaign::api
