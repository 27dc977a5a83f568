// A thread that asks whether the database answers every `interval` and
// reports changes (for the gRPC health service and campaign_database_up),
// and runs periodic refreshes (the runs-by-status gauge). Free of gRPC.
#ifndef CAMPAIGN_SERVER_OBSERVABILITY_HEALTH_PROBE_H_
#define CAMPAIGN_SERVER_OBSERVABILITY_HEALTH_PROBE_H_

#include <functional>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace campaign::observability {

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
  std::thread thread_;
};

}  // namespace campaign::observability

#endif  // CAMPAIGN_SERVER_OBSERVABILITY_HEALTH_PROBE_H_
