// The call-event inbox (migrations/0012_call_events.sql): the status
// callbacks of a telephony provider (Twilio), recorded by whichever replica
// received them and read by the replica whose dialer placed the call. Rows
// are plain data here; what a status means is the provider's business
// (server/twilio/), reached through an adapter in server/app/.
#ifndef CAMPAIGN_SERVER_STORE_CALL_EVENT_STORE_H_
#define CAMPAIGN_SERVER_STORE_CALL_EVENT_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/database.h"

namespace campaign::store {

// One event of one call: a (call, status) pair, as recorded.
struct CallEventRow {
  int64_t business_id = 0;
  int64_t run_id = 0;
  int64_t job_id = 0;
  // The job's dial_lock_token the call was placed with.
  std::string dial_token;
  std::string call_sid;
  // The provider's spelling ("ringing", "no-answer", ...).
  std::string call_status;
  std::optional<int> sequence_number;
  std::optional<std::string> answered_by;
  std::optional<int64_t> call_duration_seconds;
  std::optional<int> sip_response_code;
  // Set by the database on insert (ignored by Record).
  absl::Time received_at = absl::InfinitePast();
};

// Reads and writes outbound_call_events. Thread-safe.
class CallEventStore {
 public:
  // `database` is not owned.
  explicit CallEventStore(Database* database) : database_(database) {}

  // Records `event` in a transaction of its business. True when it was
  // stored; false when it was a duplicate of a recorded (call, status) or
  // its (business, run, job, token) is not the job's current dial (an older
  // attempt, or no such job): such a callback changes nothing.
  absl::StatusOr<bool> Record(const CallEventRow& event);
  // Records a batch of events in one statement per business (the status
  // callback listener's handler drains its queue this way). Returns how many
  // were new. Stops at the first business whose write fails: the events of
  // the businesses before it are stored.
  absl::StatusOr<int> RecordAll(const std::vector<CallEventRow>& events);

  // The first final event (completed, busy, no-answer, canceled, failed)
  // recorded for each of `call_sids` of `business_id` that has one; one
  // statement for all of them.
  absl::StatusOr<std::vector<CallEventRow>> FinalEvents(int64_t business_id,
                                                        const std::vector<std::string>& call_sids);

  // Every event of call `call_sid` / of the dial with token `token`, oldest
  // first, whichever business it belongs to (the reconciler's lookups know
  // the call or the token only).
  absl::StatusOr<std::vector<CallEventRow>> EventsByCallSid(const std::string& call_sid);
  absl::StatusOr<std::vector<CallEventRow>> EventsByToken(const std::string& token);

 private:
  Database* database_;
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_CALL_EVENT_STORE_H_
