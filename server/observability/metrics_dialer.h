// A Dialer decorator that counts dials by outcome and calls in progress
// (campaign_dials_total, campaign_active_calls), so neither the scheduler nor
// the providers know about metrics.
#ifndef CAMPAIGN_SERVER_OBSERVABILITY_METRICS_DIALER_H_
#define CAMPAIGN_SERVER_OBSERVABILITY_METRICS_DIALER_H_

#include <optional>
#include <string>

#include "server/dialer/dialer.h"

namespace campaign::observability {

class Metrics;

class MetricsDialer : public dialer::Dialer {
 public:
  // Neither is owned; both must outlive this object.
  MetricsDialer(dialer::Dialer* inner, Metrics* metrics) : inner_(inner), metrics_(metrics) {}

  void Dial(const dialer::DialRequest& request) override;
  absl::StatusOr<std::optional<dialer::CallState>> LookupByToken(absl::string_view token) override {
    return inner_->LookupByToken(token);
  }
  absl::StatusOr<std::optional<dialer::CallState>> LookupByCallId(
      absl::string_view call_sid) override {
    return inner_->LookupByCallId(call_sid);
  }
  absl::Status HangUp(absl::string_view call_sid) override { return inner_->HangUp(call_sid); }
  void SetEventCallback(dialer::DialEventCallback callback) override;

 private:
  dialer::Dialer* inner_;
  Metrics* metrics_;
};

}  // namespace campaign::observability

#endif  // CAMPAIGN_SERVER_OBSERVABILITY_METRICS_DIALER_H_
