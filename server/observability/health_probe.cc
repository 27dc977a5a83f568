#include "server/observability/health_probe.h"

#include "server/util/logging.h"

namespace campaign::observability {

HealthProbe::HealthProbe(HealthProbeOptions options) : options_(std::move(options)) {}

HealthProbe::~HealthProbe() { Stop(); }

void HealthProbe::Start() {
  CheckOnce();
  thread_ = std::thread([this] { Loop(); });
}

void HealthProbe::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::optional<bool> HealthProbe::healthy() const {
  absl::MutexLock lock(&mu_);
  return healthy_;
}

void HealthProbe::CheckOnce() {
  const absl::Status status = options_.check();
  const bool healthy = status.ok();
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    changed = !healthy_.has_value() || *healthy_ != healthy;
    healthy_ = healthy;
  }
  if (changed) {
    if (healthy) {
      spdlog::info("health: the database answers; SERVING");
    } else {
      spdlog::warn("health: the database does not answer ({}); NOT_SERVING", status.message());
    }
    if (options_.on_change) options_.on_change(healthy);
  }
  detail_states_.resize(options_.details.size());
  for (size_t i = 0; i < options_.details.size(); ++i) {
    const HealthDetail& detail = options_.details[i];
    const bool detail_healthy = detail.healthy();
    if (detail_states_[i] == detail_healthy) continue;
    detail_states_[i] = detail_healthy;
    spdlog::info("health: {} is {}", detail.name, detail_healthy ? "SERVING" : "NOT_SERVING");
    if (options_.on_detail_change) options_.on_detail_change(detail.name, detail_healthy);
  }
  if (healthy && options_.refresh && absl::Now() >= next_refresh_) {
    options_.refresh();
    next_refresh_ = absl::Now() + options_.refresh_interval;
  }
}

void HealthProbe::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      // Wakes at once on Stop.
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.interval);
      if (stopping_) return;
    }
    CheckOnce();
  }
}

}  // namespace campaign::observability
