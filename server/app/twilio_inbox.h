// The Twilio dialer's call-event inbox over the database: twilio::CallEventInbox
// implemented with store::CallEventStore (the twilio library does not see the
// store, nor the store Twilio's types).
#ifndef CAMPAIGN_SERVER_APP_TWILIO_INBOX_H_
#define CAMPAIGN_SERVER_APP_TWILIO_INBOX_H_

#include <string>
#include <vector>

#include "server/store/call_event_store.h"
#include "server/twilio/call_event_inbox.h"

namespace campaign::app {

class StoreCallEventInbox final : public twilio::CallEventInbox {
 public:
  // `events` is not owned.
  explicit StoreCallEventInbox(store::CallEventStore* events) : events_(events) {}

  absl::StatusOr<bool> Record(const twilio::StatusCallback& callback) override;
  absl::StatusOr<int> RecordAll(absl::Span<const twilio::StatusCallback> callbacks) override;
  absl::StatusOr<std::vector<twilio::RecordedCallEvent>> FinalEvents(
      int64_t business_id, const std::vector<std::string>& call_sids) override;
  absl::StatusOr<std::vector<twilio::RecordedCallEvent>> EventsByCallSid(
      absl::string_view call_sid) override;
  absl::StatusOr<std::vector<twilio::RecordedCallEvent>> EventsByToken(
      absl::string_view token) override;

 private:
  store::CallEventStore* events_;
};

}  // namespace campaign::app

#endif  // CAMPAIGN_SERVER_APP_TWILIO_INBOX_H_
