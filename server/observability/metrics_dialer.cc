#include "server/observability/metrics_dialer.h"

#include <utility>

#include "server/model/model.h"
#include "server/observability/metrics.h"

namespace campaign::observability {

void MetricsDialer::Dial(const dialer::DialRequest& request) {
  // Counted as started first: the events may be delivered before Dial returns.
  metrics_->CallStarted();
  inner_->Dial(request);
}

void MetricsDialer::SetEventCallback(dialer::DialEventCallback callback) {
  inner_->SetEventCallback(
      [metrics = metrics_, callback = std::move(callback)](const dialer::DialEvent& event) {
        if (event.kind == dialer::DialEvent::Kind::kRejected) {
          metrics->CallEnded();
          metrics->RecordDial("rejected");
        } else if (event.kind == dialer::DialEvent::Kind::kEnded) {
          metrics->CallEnded();
          metrics->RecordDial(JobStatusName(event.outcome.status));
        }
        callback(event);
      });
}

}  // namespace campaign::observability
