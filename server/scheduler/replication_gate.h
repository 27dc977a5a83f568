// The replicated-claims gate (--require-replicated-claims): a claimed batch
// is dialed only once its claim is durable on two machines, i.e. once a
// synchronous standby (pg_stat_replication.sync_state sync or quorum) has
// flushed the WAL past the claim's commit record. Until then the batch is
// held, never dialed; past the timeout its claims go back to the queue.
// This makes a failover that loses the primary's last writes (pg_auto_failover
// 2.0's wait_primary window: synchronous replication turned off, writes go
// on, then the standby is promoted without them) harmless: a claim lost that
// way was never dialed, so its lead is dialed once, by whoever claims it
// again. See docs/design.md ("Claims durable on two machines").
#ifndef CAMPAIGN_SERVER_SCHEDULER_REPLICATION_GATE_H_
#define CAMPAIGN_SERVER_SCHEDULER_REPLICATION_GATE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/scheduler/held_run.h"
#include "server/store/lease_repository.h"

namespace campaign::scheduler {

// --require-replicated-claims.
enum class ReplicatedClaimsMode {
  // Gate once the database shows replication: the primary has (or had, in
  // this process's life) a standby in pg_stat_replication, or
  // synchronous_standby_names is (or was) set, or the database URL names
  // several hosts. Once on, it stays on for the process's life.
  kAuto,
  // Always gate.
  kOn,
  // Never gate (a single-machine database: nothing to wait for).
  kOff,
};

// Parses "auto", "on" or "off"; INVALID_ARGUMENT naming the flag and the
// value otherwise.
absl::StatusOr<ReplicatedClaimsMode> ParseReplicatedClaimsMode(absl::string_view text);
absl::string_view ReplicatedClaimsModeName(ReplicatedClaimsMode mode);

// True when the libpq connection string or URI `url` names more than one
// host (a multi-host URI such as pg_auto_failover's, or host=a,b).
bool NamesSeveralHosts(absl::string_view url);

// Settings of the gate (flags of `campaignd serve`).
struct ReplicationGateOptions {
  ReplicatedClaimsMode mode = ReplicatedClaimsMode::kAuto;
  // The database URL names several hosts (auto: gate from the start).
  bool multi_host = false;
  // Longest hold (--replicated-claim-timeout); the scheduler caps it at a
  // quarter of the lease TTL (a held claim must not reach the dial
  // pipeline's stall guard at half the TTL).
  absl::Duration timeout = absl::Seconds(2);
  // How often held batches are checked (one statement for all of them).
  absl::Duration poll_interval = absl::Milliseconds(10);
  // auto, not on yet: how often replication is looked for.
  absl::Duration detect_interval = absl::Seconds(1);
  // Called from the dispatcher thread with the gate's health whenever it
  // changes: false with the reason when claims cannot be confirmed (the
  // role cannot read the positions, or held claims were given back
  // unconfirmed), true once a batch is confirmed again. May be empty.
  std::function<void(bool ok, const std::string& why)> on_health;
};

// The gate's decisions and bookkeeping (the scheduler holds batches in
// HeldRun::gated and asks it). Dispatcher thread only.
class ReplicationGate {
 public:
  // `leases` and `metrics` are not owned.
  ReplicationGate(store::LeaseRepository* leases, SchedulerMetrics* metrics,
                  ReplicationGateOptions options);

  // Whether claims are gated now.
  bool Active() const { return active_; }
  // auto, not on yet: looks for replication once per detect interval and
  // turns the gate on (for good) when it finds any. Free otherwise.
  void Detect(absl::Time now);

  // Reads the replication state for the held batches (one statement),
  // updating detection and health.
  absl::StatusOr<store::ReplicationState> Poll();
  // True when a synchronous standby in `state` flushed past `lsn`.
  static bool Confirmed(const store::ReplicationState& state, uint64_t lsn) {
    return state.sync_flushed.has_value() && *state.sync_flushed >= lsn;
  }
  // A batch of `jobs` confirmed after `held`.
  void NoteConfirmed(int jobs, absl::Duration held);
  // A batch of `jobs` given back unconfirmed after `held`, because `why`.
  void NoteGivenBack(int jobs, absl::Duration held, const std::string& why);

  const ReplicationGateOptions& options() const { return options_; }
  // Why the last batch was not confirmed (for a person), from `state`.
  static std::string Explain(const store::ReplicationState& state);

 private:
  void TurnOn(const std::string& why);
  void Observe(const store::ReplicationState& state);
  void SetHealth(bool ok, const std::string& why);

  store::LeaseRepository* leases_;
  SchedulerMetrics* metrics_;
  const ReplicationGateOptions options_;
  bool active_ = false;
  absl::Time next_detect_ = absl::InfinitePast();
  std::optional<bool> healthy_;
  bool warned_unreadable_ = false;
};

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_REPLICATION_GATE_H_
