#include "server/scheduler/replication_gate.h"

#include <libpq-fe.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/util/logging.h"

namespace campaign::scheduler {

absl::StatusOr<ReplicatedClaimsMode> ParseReplicatedClaimsMode(absl::string_view text) {
  if (text == "auto") return ReplicatedClaimsMode::kAuto;
  if (text == "on") return ReplicatedClaimsMode::kOn;
  if (text == "off") return ReplicatedClaimsMode::kOff;
  return absl::InvalidArgumentError(
      absl::StrCat("--require-replicated-claims \"", text, "\" is not one of auto, on, off"));
}

absl::string_view ReplicatedClaimsModeName(ReplicatedClaimsMode mode) {
  switch (mode) {
    case ReplicatedClaimsMode::kAuto:
      return "auto";
    case ReplicatedClaimsMode::kOn:
      return "on";
    case ReplicatedClaimsMode::kOff:
      return "off";
  }
  return "auto";
}

bool NamesSeveralHosts(absl::string_view url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(url).c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return false;
  bool several = false;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    const absl::string_view keyword(option->keyword);
    if ((keyword == "host" || keyword == "hostaddr") && option->val != nullptr &&
        absl::string_view(option->val).find(',') != absl::string_view::npos) {
      several = true;
    }
  }
  PQconninfoFree(options);
  return several;
}

ReplicationGate::ReplicationGate(store::LeaseRepository* leases, SchedulerMetrics* metrics,
                                 ReplicationGateOptions options)
    : leases_(leases), metrics_(metrics), options_(std::move(options)) {
  switch (options_.mode) {
    case ReplicatedClaimsMode::kOff:
      spdlog::info("replicated-claims gate off (--require-replicated-claims=off)");
      break;
    case ReplicatedClaimsMode::kOn:
      TurnOn("--require-replicated-claims=on");
      break;
    case ReplicatedClaimsMode::kAuto:
      if (options_.multi_host) TurnOn("auto: the database URL names several hosts");
      break;
  }
  metrics_->ReplicationGateOn(active_);
  if (!active_) SetHealth(true, "off");
}

void ReplicationGate::TurnOn(const std::string& why) {
  if (active_) return;
  active_ = true;
  metrics_->ReplicationGateOn(true);
  spdlog::info(
      "replicated-claims gate on ({}): a claimed batch is dialed only once a synchronous "
      "standby flushed its commit; held at most {}",
      why, absl::FormatDuration(options_.timeout));
  SetHealth(true, "on");
}

void ReplicationGate::Detect(absl::Time now) {
  if (active_ || options_.mode != ReplicatedClaimsMode::kAuto || now < next_detect_) return;
  next_detect_ = now + options_.detect_interval;
  absl::StatusOr<store::ReplicationState> state = leases_->ReadReplication();
  if (!state.ok()) return;  // the database is away: nothing is claimed either
  Observe(*state);
}

absl::StatusOr<store::ReplicationState> ReplicationGate::Poll() {
  absl::StatusOr<store::ReplicationState> state = leases_->ReadReplication();
  if (state.ok()) Observe(*state);
  return state;
}

void ReplicationGate::Observe(const store::ReplicationState& state) {
  if (!active_ && options_.mode == ReplicatedClaimsMode::kAuto) {
    if (state.standbys > 0) {
      TurnOn(absl::StrCat("auto: the primary has ", state.standbys, " standby(s)"));
    } else if (!state.synchronous_standby_names.empty()) {
      TurnOn(absl::StrCat("auto: synchronous_standby_names is '", state.synchronous_standby_names,
                          "'"));
    }
  }
  if (!active_) return;
  if (!state.can_read_positions && state.standbys > 0) {
    const std::string why =
        "the database role cannot read pg_stat_replication's positions: GRANT "
        "pg_read_all_stats TO the service role, or no claim can be confirmed";
    if (!warned_unreadable_) spdlog::error("replicated-claims gate: {}", why);
    warned_unreadable_ = true;
    SetHealth(false, why);
  }
}

std::string ReplicationGate::Explain(const store::ReplicationState& state) {
  if (state.standbys == 0) {
    return absl::StrCat("no standby is streaming from the primary (synchronous_standby_names '",
                        state.synchronous_standby_names, "')");
  }
  if (!state.can_read_positions) {
    return "the database role cannot read pg_stat_replication (GRANT pg_read_all_stats)";
  }
  if (!state.sync_flushed) {
    return absl::StrCat(state.standbys,
                        " standby(s), none synchronous (synchronous_standby_names '",
                        state.synchronous_standby_names, "')");
  }
  return "the synchronous standby did not flush the claim in time";
}

void ReplicationGate::NoteConfirmed(int jobs, absl::Duration held) {
  metrics_->ClaimsHeld(absl::ToDoubleSeconds(held), /*confirmed=*/true, jobs);
  SetHealth(true, "on");
}

void ReplicationGate::NoteGivenBack(int jobs, absl::Duration held, const std::string& why) {
  metrics_->ClaimsHeld(absl::ToDoubleSeconds(held), /*confirmed=*/false, jobs);
  spdlog::warn("replicated-claims gate: {} claims given back to the queue undialed after {}: {}",
               jobs, absl::FormatDuration(held), why);
  SetHealth(false, absl::StrCat("claims given back unconfirmed: ", why));
}

void ReplicationGate::SetHealth(bool ok, const std::string& why) {
  if (healthy_ == ok) return;
  healthy_ = ok;
  if (options_.on_health) options_.on_health(ok, why);
}

}  // namespace campaign::scheduler
