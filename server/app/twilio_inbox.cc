#include "server/app/twilio_inbox.h"

#include "server/util/logging.h"

namespace campaign::app {
namespace {

// The rows as events; a row whose status this build does not know is
// skipped (the table's check allows only Twilio's statuses).
std::vector<twilio::RecordedCallEvent> ToEvents(const std::vector<store::CallEventRow>& rows) {
  std::vector<twilio::RecordedCallEvent> events;
  events.reserve(rows.size());
  for (const store::CallEventRow& row : rows) {
    absl::StatusOr<twilio::CallStatus> status = twilio::ParseCallStatus(row.call_status);
    if (!status.ok()) {
      spdlog::warn("call event of {} has an unknown status: {}", row.call_sid,
                   status.status().ToString());
      continue;
    }
    twilio::RecordedCallEvent event;
    event.callback.business_id = row.business_id;
    event.callback.run_id = row.run_id;
    event.callback.job_id = row.job_id;
    event.callback.token = row.dial_token;
    event.callback.call_sid = row.call_sid;
    event.callback.call_status = *status;
    event.callback.sequence_number = row.sequence_number;
    event.callback.answered_by = row.answered_by;
    event.callback.call_duration_seconds = row.call_duration_seconds;
    event.callback.sip_response_code = row.sip_response_code;
    event.received_at = row.received_at;
    events.push_back(std::move(event));
  }
  return events;
}

store::CallEventRow ToRow(const twilio::StatusCallback& callback) {
  store::CallEventRow row;
  row.business_id = callback.business_id;
  row.run_id = callback.run_id;
  row.job_id = callback.job_id;
  row.dial_token = callback.token;
  row.call_sid = callback.call_sid;
  row.call_status = std::string(twilio::CallStatusName(callback.call_status));
  row.sequence_number = callback.sequence_number;
  row.answered_by = callback.answered_by;
  row.call_duration_seconds = callback.call_duration_seconds;
  row.sip_response_code = callback.sip_response_code;
  return row;
}

}  // namespace

absl::StatusOr<bool> StoreCallEventInbox::Record(const twilio::StatusCallback& callback) {
  return events_->Record(ToRow(callback));
}

absl::StatusOr<int> StoreCallEventInbox::RecordAll(
    absl::Span<const twilio::StatusCallback> callbacks) {
  std::vector<store::CallEventRow> rows;
  rows.reserve(callbacks.size());
  for (const twilio::StatusCallback& callback : callbacks) rows.push_back(ToRow(callback));
  return events_->RecordAll(rows);
}

absl::StatusOr<std::vector<twilio::RecordedCallEvent>> StoreCallEventInbox::FinalEvents(
    int64_t business_id, const std::vector<std::string>& call_sids) {
  absl::StatusOr<std::vector<store::CallEventRow>> rows =
      events_->FinalEvents(business_id, call_sids);
  if (!rows.ok()) return rows.status();
  return ToEvents(*rows);
}

absl::StatusOr<std::vector<twilio::RecordedCallEvent>> StoreCallEventInbox::EventsByCallSid(
    absl::string_view call_sid) {
  absl::StatusOr<std::vector<store::CallEventRow>> rows =
      events_->EventsByCallSid(std::string(call_sid));
  if (!rows.ok()) return rows.status();
  return ToEvents(*rows);
}

absl::StatusOr<std::vector<twilio::RecordedCallEvent>> StoreCallEventInbox::EventsByToken(
    absl::string_view token) {
  absl::StatusOr<std::vector<store::CallEventRow>> rows =
      events_->EventsByToken(std::string(token));
  if (!rows.ok()) return rows.status();
  return ToEvents(*rows);
}

}  // namespace campaign::app
