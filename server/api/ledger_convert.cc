#include "server/api/ledger_convert.h"

#include "google/protobuf/util/time_util.h"
#include "server/api/convert.h"

namespace campaign::api {
namespace {

namespace pb = ::outbound::v1;

void SetTime(absl::Time time, google::protobuf::Timestamp* out) {
  *out = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(time));
}

}  // namespace

void ToProto(const CallAttempt& attempt, pb::CallAttempt* out) {
  out->set_job_id(attempt.job_id);
  out->set_run_id(attempt.run_id);
  out->set_lead_id(attempt.lead_id);
  out->set_attempt(attempt.attempt);
  out->set_phone(attempt.phone);
  out->set_caller_id(attempt.caller_id);
  out->set_dial_token(attempt.dial_token);
  out->set_call_sid(attempt.call_sid);
  SetTime(attempt.started_at, out->mutable_started_at());
  if (attempt.answered_at) SetTime(*attempt.answered_at, out->mutable_answered_at());
  if (attempt.ended_at) SetTime(*attempt.ended_at, out->mutable_ended_at());
  out->set_outcome(attempt.outcome ? ToProto(attempt.outcome) : pb::JOB_STATUS_UNSPECIFIED);
  out->set_answered_by(attempt.answered_by);
  out->set_error(attempt.error);
}

void ToProto(const store::DoNotCallNumber& number, pb::DoNotCallNumber* out) {
  out->set_phone(number.phone);
  SetTime(number.created_at, out->mutable_created_at());
}

}  // namespace campaign::api
