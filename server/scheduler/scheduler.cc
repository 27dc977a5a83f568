#include "server/scheduler/scheduler.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "server/util/crypto.h"
#include "server/util/logging.h"

namespace campaign::scheduler {
namespace {

SchedulerMetrics* NoMetrics() {
  static SchedulerMetrics* const none = new SchedulerMetrics();
  return none;
}

SchedulerOptions Normalized(SchedulerOptions options) {
  if (options.worker_id.empty()) options.worker_id = DefaultWorkerId();
  if (options.metrics == nullptr) options.metrics = NoMetrics();
  options.max_claim_batch = std::max(1, options.max_claim_batch);
  options.max_dials_in_flight = std::max(1, options.max_dials_in_flight);
  if (!options.clock) options.clock = [] { return absl::Now(); };
  // A held claim must be given back well before the dial pipeline's stall
  // guard (half the TTL) would refuse it anyway.
  options.replication.timeout = std::min(options.replication.timeout, options.lease_ttl / 4);
  return options;
}

}  // namespace

std::string DefaultWorkerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host[0] != '\0' ? host : "unknown", ":", getpid(), ":", RandomToken(6));
}

Scheduler::Scheduler(store::LeaseRepository* leases, dialer::Dialer* dialer,
                     SchedulerOptions options)
    : leases_(leases),
      dialer_(dialer),
      options_(Normalized(std::move(options))),
      errors_(options_.poll_interval, options_.lease_ttl),
      keeper_(leases, options_.worker_id, options_.max_runs, options_.max_runs_per_business),
      claimer_(leases, options_.max_claim_batch, options_.poll_interval, options_.metrics),
      // Past half the TTL since the claim (which renewed the lease), another
      // worker may be about to take the run over: do not dial on it.
      pipeline_(dialer, options_.worker_id, options_.lease_ttl / 2),
      completer_(leases, dialer, options_.metrics, &rule_keeper_, options_.clock),
      reconciler_(leases, dialer, options_.metrics, options_.worker_id),
      rule_keeper_(leases, options_.default_policy),
      gate_(leases, options_.metrics, options_.replication) {
  dialer_->SetEventCallback([this](const dialer::DialEvent& event) { pipeline_.OnEvent(event); });
}

Scheduler::~Scheduler() { Shutdown(absl::ZeroDuration()); }

void Scheduler::Start() {
  absl::MutexLock lock(&signal_mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
  spdlog::info("scheduler worker {} started", options_.worker_id);
}

void Scheduler::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&signal_mu_);
    if (!started_ || !thread_.joinable()) return;
    if (!draining_) {
      draining_ = true;
      drain_deadline_ = absl::Now() + grace;
    } else {
      drain_deadline_ = std::min(drain_deadline_, absl::Now() + grace);
    }
  }
  pipeline_.Wake();
  thread_.join();
}

std::vector<int64_t> Scheduler::HeldRuns() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> ids;
  for (const auto& [id, run] : runs_) ids.push_back(id);
  return ids;
}

int Scheduler::UndispatchedClaims() const {
  absl::MutexLock lock(&mu_);
  int claims = 0;
  for (const auto& [id, tokens] : undispatched_) claims += static_cast<int>(tokens.size());
  return claims;
}

int Scheduler::SweepNow() {
  absl::MutexLock lock(&mu_);
  reconciler_.FinalizeAbandonedCancels(options_.max_runs);
  const size_t before = runs_.size();
  AcquireRuns(store::AcquireMode::kExpired);
  return static_cast<int>(runs_.size() - before);
}

void Scheduler::Loop() {
  for (;;) {
    bool draining = false;
    absl::Time drain_deadline;
    {
      absl::MutexLock lock(&signal_mu_);
      draining = draining_;
      drain_deadline = drain_deadline_;
    }
    absl::Duration wait;
    {
      absl::MutexLock lock(&mu_);
      bool done = false;
      wait = Round(draining, drain_deadline, &done);
      if (done) return;
    }
    // Until an event arrives, a shutdown begins, or the wait ends.
    if (wait > absl::ZeroDuration()) pipeline_.Wait(wait);
  }
}

absl::Duration Scheduler::Round(bool draining, absl::Time drain_deadline, bool* done) {
  static thread_local absl::BitGen random;
  const absl::Time now = absl::Now();
  more_work_ = false;
  if (!draining && now >= next_sweep_) {
    reconciler_.FinalizeAbandonedCancels(options_.max_runs);
    AcquireRuns(store::AcquireMode::kExpired);
    next_sweep_ = now + options_.sweep_interval * absl::Uniform(random, 0.5, 1.5);
  }
  if (!draining && now >= next_acquire_) {
    AcquireRuns(store::AcquireMode::kFree);
    next_acquire_ = now + options_.poll_interval;
  }
  // Renewed every heartbeat, and at once when the database answers again
  // after a back-off (a write outage must not outlive the leases); a failed
  // renewal is retried every round until one succeeds.
  const bool recovered = errors_.TakeRecovered();
  if (now >= next_renewal_ || recovered) {
    next_renewal_ = RenewLeases() ? now + options_.heartbeat_interval : now;
  }
  if (!draining) gate_.Detect(now);
  ApplyEvents();
  if (now >= next_reconcile_) {
    for (auto& [id, run] : runs_) reconciler_.PollRemoteCalls(run);
    next_reconcile_ = now + options_.reconcile_interval;
  }
  const bool check_untracked = now >= next_untracked_check_;
  if (check_untracked) next_untracked_check_ = now + options_.lease_ttl;
  for (int64_t id : TurnOrder()) {
    // Older than the lease TTL: no claim of this worker is still on its way
    // to a dial (the stall guard undoes those), so an untracked dialing job
    // is a claim whose commit this worker never learned of.
    // A claim whose commit was in doubt is looked for every round until the
    // database answers: what it committed goes back to the queue at once.
    if (check_untracked || in_doubt_claims_.count(id) > 0) {
      if (runs_.count(id) == 0) continue;
      absl::Status reconciled = ReconcileRun(id, options_.lease_ttl);
      if (!reconciled.ok() && Handle(id, reconciled)) continue;
    }
    Settle(id);
  }
  if (!draining) ClaimAndDial();
  const absl::Time gate_due = ConfirmHeld(draining);
  ReleaseIdleRuns();
  if (draining) {
    bool calls_left = false;
    // Claims never dialed are given back (Settle, every round) before the
    // leases are: the next holder would otherwise reconcile them.
    for (const auto& [id, run] : runs_) calls_left |= !run.calls.empty() || !run.unstarted.empty();
    if (!calls_left || absl::Now() >= drain_deadline) {
      ReleaseAll();
      spdlog::info("scheduler worker {} stopped", options_.worker_id);
      *done = true;
      return absl::ZeroDuration();
    }
  }
  if (more_work_) return absl::ZeroDuration();
  absl::Duration wait = options_.poll_interval + errors_.backoff();
  // A run waiting for its business's next token (the rate governor) claims
  // when it is due, not a poll interval later. A jitter of up to 2 ms keeps
  // replicas waiting for the same bucket from always racing in the same order.
  // (Not while draining, which claims nothing, nor backing off from errors.)
  const absl::Time now_after = absl::Now();
  const absl::Time next_token = draining || errors_.backoff() > absl::ZeroDuration()
                                    ? absl::InfiniteFuture()
                                    : NextTokenDue(now_after);
  if (next_token < absl::InfiniteFuture()) {
    wait = std::min(wait, std::max(absl::ZeroDuration(), next_token - now_after) +
                              absl::Microseconds(absl::Uniform(random, 0, 2000)));
  }
  // Batches held by the replicated-claims gate are checked when due.
  if (gate_due < absl::InfiniteFuture()) {
    wait = std::min(wait, std::max(absl::ZeroDuration(), gate_due - now_after));
  }
  return wait;
}

absl::Time Scheduler::NextTokenDue(absl::Time now) const {
  absl::Time due = absl::InfiniteFuture();
  if (options_.max_dials_in_flight - DialPipeline::InFlight(runs_) <= 0) return due;
  for (const auto& [id, run] : runs_) {
    // Only a run that waits for nothing but the token (as Claimer::Wanted
    // and ClaimAndDial decide): one waiting for a probe, a free slot, the
    // worker's budget or pending records does not shorten the wait.
    if (run.next_token == absl::InfinitePast() || !run.control.Dispatchable() ||
        run.FreeSlots() <= 0 || !run.unstarted.empty() || !run.starts.empty() ||
        !run.results.empty() || (run.control.queued <= 0 && now < run.next_probe)) {
      continue;
    }
    due = std::min(due, run.next_token);
  }
  return due;
}

std::vector<int64_t> Scheduler::TurnOrder() {
  std::vector<int64_t> order;
  for (const auto& [id, run] : runs_) order.push_back(id);
  if (order.empty()) return order;
  std::rotate(order.begin(), std::upper_bound(order.begin(), order.end(), next_run_turn_),
              order.end());
  return order;
}

void Scheduler::AcquireRuns(store::AcquireMode mode) {
  absl::StatusOr<std::vector<store::AcquiredRun>> acquired =
      keeper_.Acquire(static_cast<int>(runs_.size()), mode);
  errors_.DatabaseAnswered(acquired.status());
  if (!acquired.ok()) {
    spdlog::warn("worker {} cannot acquire runs: {}", options_.worker_id,
                 acquired.status().ToString());
    return;
  }
  for (store::AcquiredRun& run : *acquired) {
    if (run.previous_worker.empty()) {
      spdlog::info("worker {} acquired run {} (epoch {})", options_.worker_id, run.lease.run_id,
                   run.lease.epoch);
    } else {
      options_.metrics->LeaseTakenOver();
      spdlog::warn("worker {} took over run {} from {} (epoch {})", options_.worker_id,
                   run.lease.run_id, run.previous_worker, run.lease.epoch);
    }
    const int64_t id = run.lease.run_id;
    HeldRun& held = runs_[id];
    held.lease = run.lease;
    held.concurrency = run.concurrency;
    held.call_settings = run.call_settings;
    held.previous_worker = run.previous_worker;
    // Claims this process made for the run and never handed to the dialer
    // (its lease lapsed before it gave them back: a database outage longer
    // than the TTL) go back to the queue (Settle), not to the reconciler,
    // which would fail them as dials of unknown outcome.
    if (auto known = undispatched_.find(id); known != undispatched_.end()) {
      // (A run this worker still held in memory may already list some.)
      std::set<std::string> listed;
      for (const store::ClaimedJob& job : held.unstarted) listed.insert(job.token);
      for (const auto& [token, job] : known->second) {
        if (listed.count(token) == 0) held.unstarted.push_back(job);
      }
      if (!known->second.empty()) {
        spdlog::warn(
            "worker {} holds run {} again (previous holder: {}): {} claims it never dialed go "
            "back to the queue",
            options_.worker_id, id, run.previous_worker.empty() ? "none" : run.previous_worker,
            known->second.size());
      }
    }
    absl::StatusOr<store::RunControl> control = leases_->Control(held.lease);
    if (!control.ok()) {
      if (Handle(id, control.status())) continue;
    } else {
      held.control = *control;
    }
    // What the run dials by, before anything is recorded for it (retries
    // are decided by its policy); on error, the next round reads it.
    absl::Status rules = rule_keeper_.Refresh(held, RulesNow(), /*force=*/true);
    if (!rules.ok() && Handle(id, rules)) continue;
    // Whatever is dialing or calling now was started by another worker (or
    // by an earlier life of this one): find out what became of it.
    absl::Status reconciled = ReconcileRun(id, absl::ZeroDuration());
    if (!reconciled.ok() && Handle(id, reconciled)) continue;
    // What the reconciliation found is recorded now (SweepNow callers and
    // the next claim's free slots see it); on error, the next round retries.
    absl::Status recorded = completer_.Flush(runs_[id]);
    if (!recorded.ok()) Handle(id, recorded);
  }
}

bool Scheduler::RenewLeases() {
  absl::StatusOr<LeaseKeeper::Renewal> renewal = keeper_.Renew(runs_);
  errors_.DatabaseAnswered(renewal.status());
  if (!renewal.ok()) {
    spdlog::warn("worker {} cannot renew its leases: {}", options_.worker_id,
                 renewal.status().ToString());
    return false;
  }
  for (int64_t id : renewal->lost) {
    spdlog::warn("worker {} lost its lease on run {}; letting go", options_.worker_id, id);
    Drop(id);
  }
  for (const auto& [id, control] : renewal->held) {
    auto it = runs_.find(id);
    if (it == runs_.end()) continue;
    it->second.control = control;
    completer_.EnforceRunEnd(it->second);
  }
  return true;
}

void Scheduler::ApplyEvents() {
  for (const dialer::DialEvent& event : pipeline_.TakeEvents()) {
    // A run this worker no longer holds: its new holder reconciles the call.
    auto it = runs_.find(event.request.run_id);
    if (it != runs_.end()) completer_.Apply(it->second, event);
  }
}

void Scheduler::Settle(int64_t run_id) {
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return;
  HeldRun& run = it->second;
  const absl::Time now = RulesNow();
  absl::Status rules = rule_keeper_.Refresh(run, now);
  if (!rules.ok()) {
    if (Handle(run_id, rules)) return;
  }
  if (!UndoVetoed(run_id, run)) return;
  absl::Status flushed = completer_.Flush(run);
  if (!flushed.ok()) {
    Handle(run_id, flushed);
    return;  // dropped, or retried next round
  }
  while (!run.unstarted.empty()) {
    absl::StatusOr<JobStatus> undone = leases_->ReleaseClaim(run.lease, run.unstarted.back());
    if (!undone.ok()) {
      Handle(run_id, undone.status());
      return;
    }
    spdlog::info("run {}: claim of job {} undone: {}", run_id, run.unstarted.back().job_id,
                 JobStatusName(*undone));
    NoteGone(run_id, run.unstarted.back().token);
    run.unstarted.pop_back();
  }
  if (run.control.cancel_requested && !run.Ended() && !run.cancel_finalized) {
    absl::StatusOr<int64_t> cancelled = leases_->FinalizeCancel(run.lease);
    if (!cancelled.ok()) {
      Handle(run_id, cancelled.status());
      return;
    }
    run.cancel_finalized = true;
    spdlog::info("run {} cancelled by request: {} queued jobs cancelled, {} calls hung up", run_id,
                 *cancelled, run.calls.size());
    absl::StatusOr<store::RunControl> control = leases_->Control(run.lease);
    if (!control.ok()) {
      Handle(run_id, control.status());
      return;
    }
    run.control = *control;
  }
  absl::Status ended = rule_keeper_.EnforceEndAt(run, now);
  if (!ended.ok()) {
    Handle(run_id, ended);
    return;
  }
  completer_.EnforceRunEnd(run);
}

bool Scheduler::UndoVetoed(int64_t run_id, HeldRun& run) {
  if (run.vetoed.empty()) return true;
  absl::StatusOr<store::RunControl> undone = leases_->UndoClaims(run.lease, run.vetoed);
  if (!undone.ok()) {
    Handle(run_id, undone.status());
    return false;
  }
  spdlog::info("run {}: {} claims vetoed by the dialing rules undone", run_id, run.vetoed.size());
  for (const store::ClaimUndo& undo : run.vetoed) NoteGone(run_id, undo.token);
  run.vetoed.clear();
  run.control = *undone;
  return true;
}

void Scheduler::ClaimAndDial() {
  int budget = options_.max_dials_in_flight - DialPipeline::InFlight(runs_);
  std::vector<int64_t> order = TurnOrder();
  if (!order.empty()) next_run_turn_ = order.front();
  // Runs waiting for their business's calls-per-second tokens go first, the
  // longest waiting first, so the runs of one business on this worker take
  // turns at its tokens; the others keep their turn order (all of them when
  // the governor is off).
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return runs_.at(a).rate_waiting_since < runs_.at(b).rate_waiting_since;
  });
  for (int64_t id : order) {
    if (budget <= 0) break;
    auto it = runs_.find(id);
    if (it == runs_.end()) continue;
    HeldRun& run = it->second;
    // What an earlier error left undone goes first.
    if (!run.unstarted.empty() || !run.starts.empty() || !run.results.empty() ||
        !run.vetoed.empty() || !run.gated.empty()) {
      continue;
    }
    // Nothing is claimed before the run's dialing rules were read.
    if (!run.rules_loaded) continue;
    const absl::Time rules_now = RulesNow();
    // Closed zones' due jobs are deferred before they cost a claim each.
    absl::Status screened = rule_keeper_.Screen(run, rules_now);
    if (!screened.ok()) {
      Handle(id, screened);
      continue;
    }
    const int wanted = claimer_.Wanted(run, budget, absl::Now());
    const absl::Time claimed_at = absl::Now();
    const bool gated = gate_.Active();
    std::optional<uint64_t> commit_lsn;
    // This claim's id, chosen here so that if its commit is in doubt the
    // jobs it committed can be told apart: never dialed, queued again.
    const std::string claim_id = RandomToken(16);
    absl::StatusOr<std::vector<store::ClaimedJob>> claimed =
        claimer_.Claim(run, budget, rules_now, gated ? &commit_lsn : nullptr, claim_id);
    if (!claimed.ok()) {
      NoteInDoubt(id, claim_id);
      Handle(id, claimed.status());
      continue;
    }
    if (claimed->empty()) continue;
    errors_.Succeeded(id);
    NoteClaimed(id, *claimed);
    // Every claimed job goes through the dialing rules; the vetoed ones are
    // undone (deferred or skipped) before anything is dialed.
    const std::vector<store::ClaimedJob> jobs =
        rule_keeper_.Vet(run, *claimed, rules_now, &run.vetoed);
    if (!run.vetoed.empty()) {
      if (!UndoVetoed(id, run)) continue;
      if (static_cast<int>(claimed->size()) == wanted) more_work_ = true;
    }
    if (jobs.empty()) continue;
    if (gated) {
      // Held until a synchronous standby flushed the claim (ConfirmHeld,
      // right after this loop): never dialed before.
      if (!commit_lsn) {
        gate_.NoteGivenBack(static_cast<int>(jobs.size()), absl::ZeroDuration(),
                            "the claim's WAL position could not be read");
        run.unstarted.insert(run.unstarted.end(), jobs.begin(), jobs.end());
        more_work_ = true;
        continue;
      }
      run.gated.push_back(GatedBatch{jobs, *commit_lsn, claimed_at, absl::Now()});
      budget -= static_cast<int>(jobs.size());
      next_gate_poll_ = absl::InfinitePast();
      continue;
    }
    DialBatch(id, run, jobs, claimed_at, &budget);
    if (runs_.count(id) == 0) continue;  // dropped (lease lost)
    // A full claim may have left more to claim right away.
    if (static_cast<int>(claimed->size()) == wanted && run.FreeSlots() > 0 && budget > 0) {
      more_work_ = true;
    }
    if (!run.unstarted.empty()) more_work_ = true;
  }
}

void Scheduler::DialBatch(int64_t run_id, HeldRun& run, const std::vector<store::ClaimedJob>& jobs,
                          absl::Time claimed_at, int* budget) {
  // The gate: a Stop, Cancel or Pause that committed after the claim is
  // seen here, or waits until the batch is dialed.
  bool dialed = false;
  absl::StatusOr<bool> gated = leases_->GateDials(run.lease, [&] {
    *budget -= pipeline_.Dial(run, jobs, claimed_at);
    dialed = true;
  });
  if (!dialed) {
    // Not dialed: the claims are undone in the next round (the store
    // decides between queued and cancelled on the locked run row).
    run.unstarted.insert(run.unstarted.end(), jobs.begin(), jobs.end());
    more_work_ = true;
    if (!gated.ok()) Handle(run_id, gated.status());
    return;
  }
  // Handed to the dialer: from now on a lost outcome is reconciled, never
  // given back.
  for (const store::ClaimedJob& job : jobs) {
    auto call = run.calls.find(job.job_id);
    if (call != run.calls.end() && call->second.token == job.token) NoteGone(run_id, job.token);
  }
}

absl::Time Scheduler::ConfirmHeld(bool draining) {
  bool held = false;
  for (const auto& [id, run] : runs_) held |= !run.gated.empty();
  if (!held) {
    next_gate_poll_ = absl::InfiniteFuture();
    return absl::InfiniteFuture();
  }
  const absl::Time now = absl::Now();
  if (!draining && now < next_gate_poll_) return next_gate_poll_;
  std::optional<absl::StatusOr<store::ReplicationState>> state;
  if (!draining) {
    // One statement for every batch the worker holds.
    state = gate_.Poll();
    if (!state->ok()) errors_.DatabaseAnswered(state->status());
  }
  // Hold times include the check's round trip: what the gate adds.
  const absl::Time checked = absl::Now();
  for (int64_t id : TurnOrder()) {
    auto it = runs_.find(id);
    if (it == runs_.end() || it->second.gated.empty()) continue;
    std::vector<GatedBatch> batches;
    batches.swap(it->second.gated);
    for (GatedBatch& batch : batches) {
      auto run = runs_.find(id);
      if (run == runs_.end()) break;  // dropped: its claims stay in undispatched_
      const absl::Duration waited = checked - batch.held_since;
      const int jobs = static_cast<int>(batch.jobs.size());
      if (state && state->ok() && ReplicationGate::Confirmed(**state, batch.lsn)) {
        gate_.NoteConfirmed(jobs, waited);
        int unlimited = jobs;  // the batch took its slots when it was claimed
        DialBatch(id, run->second, batch.jobs, batch.claimed_at, &unlimited);
      } else if (draining || waited >= options_.replication.timeout) {
        gate_.NoteGivenBack(jobs, waited,
                            draining       ? std::string("the worker is shutting down")
                            : !state->ok() ? state->status().ToString()
                                           : ReplicationGate::Explain(**state));
        run->second.unstarted.insert(run->second.unstarted.end(), batch.jobs.begin(),
                                     batch.jobs.end());
        more_work_ = true;
      } else {
        run->second.gated.push_back(std::move(batch));
      }
    }
  }
  next_gate_poll_ = now + options_.replication.poll_interval;
  for (const auto& [id, run] : runs_) {
    if (!run.gated.empty()) return next_gate_poll_;
  }
  next_gate_poll_ = absl::InfiniteFuture();
  return next_gate_poll_;
}

void Scheduler::NoteClaimed(int64_t run_id, const std::vector<store::ClaimedJob>& jobs) {
  std::map<std::string, store::ClaimedJob>& tokens = undispatched_[run_id];
  for (const store::ClaimedJob& job : jobs) tokens[job.token] = job;
}

void Scheduler::NoteInDoubt(int64_t run_id, const std::string& claim_id) {
  const absl::Time now = absl::Now();
  const absl::Time horizon = now - kInDoubtClaimRetention * options_.lease_ttl;
  for (auto run = in_doubt_claims_.begin(); run != in_doubt_claims_.end();) {
    std::map<std::string, absl::Time>& claims = run->second;
    for (auto it = claims.begin(); it != claims.end();) {
      it = it->second < horizon ? claims.erase(it) : std::next(it);
    }
    run = claims.empty() ? in_doubt_claims_.erase(run) : std::next(run);
  }
  in_doubt_claims_[run_id][claim_id] = now;
}

absl::Status Scheduler::ReconcileRun(int64_t run_id, absl::Duration min_age) {
  std::set<std::string> in_doubt;
  if (auto it = in_doubt_claims_.find(run_id); it != in_doubt_claims_.end()) {
    for (const auto& [claim_id, failed_at] : it->second) in_doubt.insert(claim_id);
  }
  std::vector<store::ClaimedJob> requeued;
  absl::Status reconciled = reconciler_.Reconcile(runs_.at(run_id), min_age, in_doubt, &requeued);
  if (!reconciled.ok()) return reconciled;
  // Seen: what they committed is in run.unstarted now, and in undispatched_
  // in case the lease lapses before Settle queues it again.
  in_doubt_claims_.erase(run_id);
  if (!requeued.empty()) NoteClaimed(run_id, requeued);
  return absl::OkStatus();
}

void Scheduler::NoteGone(int64_t run_id, const std::string& token) {
  auto it = undispatched_.find(run_id);
  if (it == undispatched_.end()) return;
  it->second.erase(token);
  if (it->second.empty()) undispatched_.erase(it);
}

bool Scheduler::Handle(int64_t run_id, const absl::Status& status) {
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return true;
  switch (errors_.Decide(run_id, status)) {
    case ErrorAction::kKeep:
      return false;
    case ErrorAction::kDrop:
      Drop(run_id);
      return true;
    case ErrorAction::kFail: {
      absl::Status failed = leases_->FailRun(it->second.lease, status.message());
      spdlog::error("run {} failed: {}{}", run_id, status.message(),
                    failed.ok() ? "" : absl::StrCat(" (could not record: ", failed.message(), ")"));
      absl::Status released = keeper_.Release(it->second);
      (void)released;
      Drop(run_id);
      return true;
    }
  }
  return false;
}

void Scheduler::Drop(int64_t run_id) {
  errors_.Forget(run_id);
  runs_.erase(run_id);
}

void Scheduler::ReleaseIdleRuns() {
  std::vector<int64_t> idle;
  for (const auto& [id, run] : runs_) {
    if (!run.calls.empty() || !run.starts.empty() || !run.results.empty() || !run.vetoed.empty() ||
        !run.unstarted.empty() || !run.gated.empty()) {
      continue;
    }
    if (run.Ended() || run.control.status == RunStatus::kPaused) idle.push_back(id);
  }
  for (int64_t id : idle) {
    HeldRun& run = runs_[id];
    absl::Status released = keeper_.Release(run);
    if (!released.ok()) {
      if (!Handle(id, released)) continue;
    } else {
      spdlog::info("worker {} released run {} ({})", options_.worker_id, id,
                   run.control.status ? RunStatusName(*run.control.status) : "unknown");
    }
    Drop(id);
  }
}

void Scheduler::ReleaseAll() {
  for (auto& [id, run] : runs_) {
    absl::Status released = keeper_.Release(run);
    if (released.ok()) {
      spdlog::info("worker {} handed run {} back ({} calls still in progress)", options_.worker_id,
                   id, run.calls.size());
    } else {
      spdlog::warn("worker {} could not release run {}: {}", options_.worker_id, id,
                   released.ToString());
    }
  }
  runs_.clear();
}

}  // namespace campaign::scheduler
