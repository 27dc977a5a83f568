#include "server/store/call_event_store.h"

#include <map>

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
  absl::StatusOr<int> recorded = RecordAll({event});
  if (!recorded.ok()) return recorded.status();
  return *recorded > 0;
}

absl::StatusOr<int> CallEventStore::RecordAll(const std::vector<CallEventRow>& events) {
  // One statement per business (each in a transaction of its business, for
  // row-level security), the batch's order kept within each.
  std::map<int64_t, std::vector<const CallEventRow*>> by_business;
  for (const CallEventRow& event : events) by_business[event.business_id].push_back(&event);
  int recorded = 0;
  for (const auto& [business_id, rows] : by_business) {
    std::vector<int64_t> run_ids, job_ids;
    std::vector<std::string> call_sids, statuses, tokens, sequence_numbers, answered_by,
        durations, sip_codes;
    for (const CallEventRow* event : rows) {
      run_ids.push_back(event->run_id);
      job_ids.push_back(event->job_id);
      call_sids.push_back(event->call_sid);
      statuses.push_back(event->call_status);
      tokens.push_back(event->dial_token);
      sequence_numbers.push_back(OptionalText(event->sequence_number));
      answered_by.push_back(event->answered_by.value_or(""));
      durations.push_back(OptionalText(event->call_duration_seconds));
      sip_codes.push_back(OptionalText(event->sip_response_code));
    }
    absl::StatusOr<int> stored = database_->Transact(
        Tenancy::Business(business_id), "record call events",
        [&](pqxx::work& txn) -> absl::StatusOr<int> {
          return static_cast<int>(
              txn.exec_params(sql::kRecordCallEvents, business_id, PgArray(run_ids),
                              PgArray(job_ids), PgArray(call_sids), PgArray(statuses),
                              PgArray(tokens), PgArray(sequence_numbers), PgArray(answered_by),
                              PgArray(durations), PgArray(sip_codes))
                  .size());
        });
    if (!stored.ok()) return stored.status();
    recorded += *stored;
  }
  return recorded;
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
