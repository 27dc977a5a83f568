#include "server/observability/metrics_dialer.h"

#include <utility>

#include "server/model/model.h"
#include "server/observability/metrics.h"

namespace campaign::observability {

absl::StatusOr<std::string> MetricsDialer::Dial(const dialer::DialRequest& request) {
  // Counted as started first: the outcome may be delivered before Dial returns.
  metrics_->CallStarted();
  absl::StatusOr<std::string> call_sid = inner_->Dial(request);
  if (!call_sid.ok()) {
    metrics_->CallEnded();
    metrics_->RecordDial("rejected");
  }
  return call_sid;
}

void MetricsDialer::SetOutcomeCallback(dialer::OutcomeCallback callback) {
  inner_->SetOutcomeCallback([metrics = metrics_, callback = std::move(callback)](
                                 const dialer::DialRequest& request, const std::string& call_sid,
                                 const dialer::CallOutcome& outcome) {
    metrics->CallEnded();
    metrics->RecordDial(JobStatusName(outcome.status));
    callback(request, call_sid, outcome);
  });
}

}  // namespace campaign::observability
