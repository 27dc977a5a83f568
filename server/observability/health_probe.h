// A thread that asks whether the database answers every `interval` and
// reports changes (for the gRPC health service and campaign_database_up),
// and runs periodic refreshes (the runs-by-status gauge). Free of gRPC.
#ifndef CAMPAIGN_SERVER_OBSERVABILITY_HEALTH_PROBE_H_
#define CAMPAIGN_SERVER_OBSERVABILITY_HEALTH_PROBE_H_

#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace campaign::observability {

// A named part of the service whose health is reported besides the
// database's (the gRPC health service's status for that name), e.g. the
// LISTEN connection of live progress.
struct HealthDetail {
  std::string name;
  // True while the part works; polled on the probe thread every interval.
  std::function<bool()> healthy;
};

struct HealthProbeOptions {
  // How often the database is asked.
  absl::Duration interval = absl::Seconds(1);
  // Answers OK while the database is reachable.
  std::function<absl::Status()> check;
  // Called from the probe thread with the first result and every change.
  std::function<void(bool healthy)> on_change;
  // Called after each successful check (a cheap periodic refresh); optional.
  std::function<void()> refresh;
  // How often `refresh` runs at most.
  absl::Duration refresh_interval = absl::Seconds(5);
  // Details polled with every check; `on_detail_change` gets the first result
  // of each and every change.
  std::vector<HealthDetail> details;
  std::function<void(const std::string& name, bool healthy)> on_detail_change;
};

class HealthProbe {
 public:
  explicit HealthProbe(HealthProbeOptions options);
  // Stops.
  ~HealthProbe();
  HealthProbe(const HealthProbe&) = delete;
  HealthProbe& operator=(const HealthProbe&) = delete;

  // Checks once now (reporting the result), then starts the thread.
  void Start();
  // Stops the thread; no callback runs after it returns. Idempotent.
  void Stop();
  // The last result; nullopt before the first check.
  std::optional<bool> healthy() const;

 private:
  void CheckOnce();
  void Loop();

  const HealthProbeOptions options_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<bool> healthy_ ABSL_GUARDED_BY(mu_);
  absl::Time next_refresh_ = absl::InfinitePast();  // probe thread only
  // The last result of each detail (probe thread only).
  std::vector<std::optional<bool>> detail_states_;
  std::thread thread_;
};

}  // namespace campaign::observability

#endif  // CAMPAIGN_SERVER_OBSERVABILITY_HEALTH_PROBE_H_
