#include "server/store/call_event_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/store/pg_array.h"
#include "server/store/queries.h"

namespace campaign::store {
namespace {

// '' for none, else the decimal text (the statement maps '' to NULL).
template <typename T>
std::string OptionalText(const std::optional<T>& value) {
  return value.has_value() ? absl::StrCat(*value) : std::string();
}

template <typename T>
std::optional<T> ParseOptional(const pqxx::field& field) {
  const std::string text = field.as<std::string>();
  T value{};
  if (text.empty() || !absl::SimpleAtoi(text, &value)) return std::nullopt;
  return value;
}

CallEventRow ReadRow(const pqxx::row& row) {
  CallEventRow event;
  event.business_id = row["business_id"].as<int64_t>();
  event.run_id = row["run_id"].as<int64_t>();
  event.job_id = row["job_id"].as<int64_t>();
  event.dial_token = row["dial_token"].as<std::string>();
  event.call_sid = row["call_sid"].as<std::string>();
  event.call_status = row["call_status"].as<std::string>();
  event.sequence_number = ParseOptional<int>(row["sequence_number"]);
  const std::string answered_by = row["answered_by"].as<std::string>();
  if (!answered_by.empty()) event.answered_by = answered_by;
  event.call_duration_seconds = ParseOptional<int64_t>(row["call_duration"]);
  event.sip_response_code = ParseOptional<int>(row["sip_response_code"]);
  event.received_at = absl::FromUnixMicros(row["received_at_us"].as<int64_t>());
  return event;
}

std::vector<CallEventRow> ReadRows(const pqxx::result& rows) {
  std::vector<CallEventRow> events;
  events.reserve(rows.size());
  for (const pqxx::row& row : rows) events.push_back(ReadRow(row));
  return events;
}

}  // namespace

absl::StatusOr<bool> CallEventStore::Record(const CallEventRow& event) {
  return database_->Transact(
      Tenancy::Business(event.business_id), "record call event",
      [&](pqxx::work& txn) -> absl::StatusOr<bool> {
        const pqxx::result rows = txn.exec_params(
            sql::kRecordCallEvent, event.business_id, event.run_id, event.job_id, event.call_sid,
            event.call_status, event.dial_token, OptionalText(event.sequence_number),
            event.answered_by.value_or(""), OptionalText(event.call_duration_seconds),
            OptionalText(event.sip_response_code));
        return !rows.empty();
      });
}

absl::StatusOr<std::vector<CallEventRow>> CallEventStore::FinalEvents(
    int64_t business_id, const std::vector<std::string>& call_sids) {
  if (call_sids.empty()) return std::vector<CallEventRow>();
  return database_->Transact(
      Tenancy::Business(business_id), "read final call events",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<CallEventRow>> {
        return ReadRows(txn.exec_params(sql::kFinalCallEvents, business_id, PgArray(call_sids)));
      });
}

absl::StatusOr<std::vector<CallEventRow>> CallEventStore::EventsByCallSid(
    const std::string& call_sid) {
  return database_->Transact(
      Tenancy::AllBusinesses(), "read call events by call id",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<CallEventRow>> {
        return ReadRows(txn.exec_params(sql::kCallEventsByCallSid, call_sid));
      });
}

absl::StatusOr<std::vector<CallEventRow>> CallEventStore::EventsByToken(const std::string& token) {
  return database_->Transact(Tenancy::AllBusinesses(), "read call events by dial token",
                             [&](pqxx::work& txn) -> absl::StatusOr<std::vector<CallEventRow>> {
                               return ReadRows(txn.exec_params(sql::kCallEventsByToken, token));
                             });
}

}  // namespace campaign::store
