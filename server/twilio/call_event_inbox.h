// Where status callbacks meet the dialer: the callback listener of any
// replica records each signed callback, and the TwilioDialer of the replica
// that placed the call reads how it ended. Production's inbox is a table
// (store::CallEventStore, adapted in server/app/), so the effect of a
// callback reaches the holder of the run whichever replica received it;
// tests use an in-memory one.
#ifndef CAMPAIGN_SERVER_TWILIO_CALL_EVENT_INBOX_H_
#define CAMPAIGN_SERVER_TWILIO_CALL_EVENT_INBOX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/twilio/call_status.h"

namespace campaign::twilio {

// A recorded callback and when it was recorded.
struct RecordedCallEvent {
  StatusCallback callback;
  absl::Time received_at = absl::InfinitePast();
};

// The store of status callbacks. Implementations are thread-safe.
class CallEventInbox {
 public:
  virtual ~CallEventInbox() = default;

  // Records a signed callback. True when it was new; false when it changes
  // nothing: a duplicate (same call and status), or its job no longer
  // carries the callback's dial token (an older attempt).
  virtual absl::StatusOr<bool> Record(const StatusCallback& callback) = 0;

  // Records a batch of signed callbacks (the listener's queue, drained);
  // returns how many were new. The default records them one by one; a store
  // writes the batch at once.
  virtual absl::StatusOr<int> RecordAll(absl::Span<const StatusCallback> callbacks) {
    int recorded = 0;
    for (const StatusCallback& callback : callbacks) {
      absl::StatusOr<bool> is_new = Record(callback);
      if (!is_new.ok()) return is_new.status();
      recorded += *is_new;
    }
    return recorded;
  }

  // The first final event recorded for each of `call_sids` of `business_id`
  // that has one (one read for all of them).
  virtual absl::StatusOr<std::vector<RecordedCallEvent>> FinalEvents(
      int64_t business_id, const std::vector<std::string>& call_sids) = 0;

  // Every event of one call, or of the dial with one token, oldest first.
  virtual absl::StatusOr<std::vector<RecordedCallEvent>> EventsByCallSid(
      absl::string_view call_sid) = 0;
  virtual absl::StatusOr<std::vector<RecordedCallEvent>> EventsByToken(absl::string_view token) = 0;
};

}  // namespace campaign::twilio

#endif  // CAMPAIGN_SERVER_TWILIO_CALL_EVENT_INBOX_H_
