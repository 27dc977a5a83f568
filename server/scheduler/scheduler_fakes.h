// Fakes of the scheduler's two dependencies for unit tests without a
// database or a provider: FakeLeases (one run, kRun, with queued jobs; records
// every call, failures and stalls scripted per test) and FakeDialer (accepts
// or refuses, answers before Dial returns, ends calls on request).
#ifndef CAMPAIGN_SERVER_SCHEDULER_SCHEDULER_FAKES_H_
#define CAMPAIGN_SERVER_SCHEDULER_SCHEDULER_FAKES_H_

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/dialer/dialer.h"
#include "server/store/lease_repository.h"

namespace campaign::scheduler::testing {

inline constexpr int64_t kRun = 1;
inline constexpr int64_t kBusiness = 7;
// Longest wait for something the dispatcher thread does.
inline constexpr absl::Duration kDeadline = absl::Seconds(20);

// What LeaseStore answers when a fenced write finds its lease gone.
inline absl::Status LeaseLostStatus() {
  store::Lease lease;
  lease.run_id = kRun;
  return store::LeaseLostError(lease);
}

// One run (kRun) with queued jobs, handed to the first Acquire of free runs.
// Records every call; failures and stalls are scripted per test. Thread-safe:
// the scheduler calls it from its dispatcher thread.
class FakeLeases : public store::LeaseRepository {
 public:
  explicit FakeLeases(int queued_jobs, int concurrency = 1) : concurrency_(concurrency) {
    control_.status = RunStatus::kRunning;
    for (int i = 1; i <= queued_jobs; ++i) queue_.push_back(i);
    control_.queued = queued_jobs;
  }

  // Waits until `done` holds for this fake's state (checked whenever it
  // changes); false after kDeadline.
  bool WaitFor(const std::function<bool(const FakeLeases&)>& done) {
    absl::MutexLock lock(&mu_);
    auto check = [&] { return done(*this); };
    return mu_.AwaitWithTimeout(absl::Condition(&check), kDeadline);
  }

  // Scripted behaviour (set before Start).
  void SetClaimErrors(int count, absl::Status status) {
    absl::MutexLock lock(&mu_);
    claim_errors_left_ = count;
    claim_error_ = std::move(status);
  }
  // The next `count` claims commit (their jobs are dialing, as the database
  // would have them) but answer `status`: a COMMIT whose answer was lost.
  void SetClaimsCommitThenFail(int count, absl::Status status) {
    absl::MutexLock lock(&mu_);
    in_doubt_claims_left_ = count;
    in_doubt_error_ = std::move(status);
  }
  void SetRecordErrors(int count, absl::Status status) {
    absl::MutexLock lock(&mu_);
    record_errors_left_ = count;
    record_error_ = std::move(status);
  }
  // Turns the rate governor on: the business's bucket holds `tokens` whole
  // tokens (AddTokens adds more); a claim takes no more jobs than that. An
  // empty bucket gets one token `token_interval` after it was found empty,
  // and a claim that leaves it empty reports when.
  void SetBucket(int tokens, absl::Duration token_interval) {
    absl::MutexLock lock(&mu_);
    bucket_ = tokens;
    token_interval_ = token_interval;
    next_token_at_ = tokens == 0 ? absl::Now() + token_interval : absl::InfinitePast();
  }
  void AddTokens(int tokens) {
    absl::MutexLock lock(&mu_);
    *bucket_ += tokens;
  }
  void StallFirstClaim(absl::Duration stall) {
    absl::MutexLock lock(&mu_);
    first_claim_stall_ = stall;
  }
  void SetCancelRequested() {
    absl::MutexLock lock(&mu_);
    control_.cancel_requested = true;
  }
  // The run as a Stop (or another end) leaves it: `status`, ended at `ended_at`.
  // `hang_up`: the run's hang_up_on_end (StopRun's option).
  void EndRun(RunStatus status, absl::Time ended_at, bool hang_up = true) {
    absl::MutexLock lock(&mu_);
    control_.status = status;
    control_.ended_at = ended_at;
    control_.hang_up_on_end = hang_up;
  }
  // Renewals from now on find the lease lost.
  void LoseLease() {
    absl::MutexLock lock(&mu_);
    lease_lost_ = true;
  }
  // The lease lapsed (a database outage longer than the TTL): every fenced
  // write and renewal with the old epoch finds it lost, and the next Acquire
  // (either mode) hands the run out again at the next epoch, naming the
  // last holder as the previous worker. Store errors scripted for
  // ReleaseClaim end (the database is back).
  void ExpireLeaseForTakeover() {
    absl::MutexLock lock(&mu_);
    ++epoch_;
    reoffer_ = true;
    release_errors_left_ = 0;
  }
  void SetGateErrors(int count, absl::Status status) {
    absl::MutexLock lock(&mu_);
    gate_errors_left_ = count;
    gate_error_ = std::move(status);
  }
  void SetReleaseErrors(int count, absl::Status status) {
    absl::MutexLock lock(&mu_);
    release_errors_left_ = count;
    release_error_ = std::move(status);
  }
  // What ReadReplication answers from now on (replication_reads counts
  // reads); claims that ask for their commit position get increasing ones
  // (last_commit_lsn).
  void SetReplication(store::ReplicationState state) {
    absl::MutexLock lock(&mu_);
    replication_ = std::move(state);
  }

  // Read under the fake's lock (inside WaitFor, or via Snapshot).
  int claims = 0;
  std::vector<int> max_jobs_asked;
  int renewals = 0;
  int gates = 0;
  int control_reads = 0;
  int record_batches = 0;
  std::vector<store::ClaimedJob> claimed;
  // Jobs claimed by the claims SetClaimsCommitThenFail scripted.
  std::vector<store::ClaimedJob> in_doubt_claimed;
  std::vector<store::ClaimedJob> released_claims;
  std::vector<std::string> started_calls;  // tokens
  std::vector<store::JobResult> outcomes;
  std::vector<std::string> failed_runs;  // errors
  int finalized_cancels = 0;
  int releases = 0;
  // Claims the bucket (SetBucket) limited.
  int rate_limited_claims = 0;
  // ReleaseClaim calls (failed ones included), ReadReplication calls, claims
  // that asked for their commit position and the last position handed out.
  int release_attempts = 0;
  int replication_reads = 0;
  int lsn_claims = 0;
  uint64_t last_commit_lsn = 0;
  // The epochs of the leases handed out, in order, and their previous
  // workers.
  std::vector<int64_t> acquired_epochs;
  std::vector<std::string> previous_workers;

  // The lock of the fields above.
  absl::Mutex& mu() { return mu_; }

  absl::StatusOr<std::vector<store::AcquiredRun>> Acquire(const std::string& worker, int max_runs,
                                                          store::AcquireMode mode,
                                                          int max_runs_per_business) override {
    absl::MutexLock lock(&mu_);
    store::AcquiredRun run;
    if (reoffer_) {
      reoffer_ = false;
      run.previous_worker = holder_;
    } else if (mode != store::AcquireMode::kFree || handed_out_) {
      return std::vector<store::AcquiredRun>{};
    }
    handed_out_ = true;
    holder_ = worker;
    run.lease = store::Lease{kRun, kBusiness, epoch_, worker};
    run.concurrency = concurrency_;
    acquired_epochs.push_back(epoch_);
    previous_workers.push_back(run.previous_worker);
    return std::vector<store::AcquiredRun>{run};
  }

  absl::StatusOr<std::map<int64_t, store::RunControl>> RenewLeases(
      const std::string& worker, const std::vector<store::Lease>& leases) override {
    absl::MutexLock lock(&mu_);
    ++renewals;
    std::map<int64_t, store::RunControl> held;
    if (lease_lost_) return held;
    for (const store::Lease& lease : leases) {
      if (lease.epoch == epoch_) held[lease.run_id] = control_;
    }
    return held;
  }

  absl::StatusOr<store::RunControl> Control(const store::Lease& lease) override {
    absl::MutexLock lock(&mu_);
    ++control_reads;
    return control_;
  }

  using store::LeaseRepository::Claim;
  absl::StatusOr<std::vector<store::ClaimedJob>> Claim(const store::Lease& lease,
                                                       const store::ClaimOptions& options,
                                                       store::ClaimRate* rate) override {
    int max_jobs = options.max_jobs;
    absl::Duration stall;
    std::vector<store::ClaimedJob> jobs;
    {
      absl::MutexLock lock(&mu_);
      ++claims;
      if (claim_errors_left_ > 0) {
        --claim_errors_left_;
        return claim_error_;
      }
      max_jobs_asked.push_back(max_jobs);
      store::ClaimRate governed;
      const absl::Time now = absl::Now();
      if (bucket_ && *bucket_ == 0 && now >= next_token_at_) *bucket_ = 1;
      if (bucket_ && control_.Dispatchable()) {
        governed.limited = *bucket_ < max_jobs;
        max_jobs = std::min(max_jobs, *bucket_);
      }
      while (control_.Dispatchable() && !queue_.empty() &&
             static_cast<int>(jobs.size()) < max_jobs) {
        const int64_t job_id = queue_.front();
        queue_.pop_front();
        --control_.queued;
        ++control_.in_progress;
        // Like the store: `<claim id>.<job id>` when the caller chose one.
        jobs.push_back(store::ClaimedJob{job_id, /*lead_id=*/job_id, "+14155550100",
                                         options.claim_id.empty()
                                             ? absl::StrCat("token-", job_id, "-", claims)
                                             : absl::StrCat(options.claim_id, ".", job_id)});
        jobs.back().attempts = ++attempts_[job_id];
        jobs.back().on_do_not_call = do_not_call_.count(job_id) > 0;
        claimed.push_back(jobs.back());
        dialing_[job_id] = store::ActiveJob{job_id,
                                            job_id,
                                            "+14155550100",
                                            jobs.back().token,
                                            "",
                                            JobStatus::kDialing,
                                            absl::Now(),
                                            jobs.back().attempts};
      }
      if (bucket_) {
        *bucket_ -= static_cast<int>(jobs.size());
        if (*bucket_ == 0) {
          if (next_token_at_ <= now) next_token_at_ = now + token_interval_;
          governed.next_token_in = next_token_at_ - now;
        }
        if (governed.limited) ++rate_limited_claims;
      }
      if (options.read_commit_lsn && !jobs.empty()) {
        ++lsn_claims;
        governed.commit_lsn = last_commit_lsn += 100;
      }
      if (rate != nullptr) *rate = governed;
      if (in_doubt_claims_left_ > 0 && !jobs.empty()) {
        --in_doubt_claims_left_;
        in_doubt_claimed.insert(in_doubt_claimed.end(), jobs.begin(), jobs.end());
        return in_doubt_error_;
      }
      stall = std::exchange(first_claim_stall_, absl::ZeroDuration());
    }
    // A worker stalled between its claim and its dial (swapped out, paused).
    if (stall > absl::ZeroDuration()) absl::SleepFor(stall);
    return jobs;
  }

  absl::StatusOr<bool> GateDials(const store::Lease& lease,
                                 const std::function<void()>& dial) override {
    {
      absl::MutexLock lock(&mu_);
      ++gates;
      if (gate_errors_left_ > 0) {
        --gate_errors_left_;
        return gate_error_;
      }
      if (!control_.Dispatchable()) return false;
    }
    dial();
    return true;
  }

  absl::StatusOr<JobStatus> ReleaseClaim(const store::Lease& lease,
                                         const store::ClaimedJob& job) override {
    absl::MutexLock lock(&mu_);
    ++release_attempts;
    if (release_errors_left_ > 0) {
      --release_errors_left_;
      return release_error_;
    }
    if (lease.epoch != epoch_) return LeaseLostStatus();
    released_claims.push_back(job);
    // Like the store: only a claim still dialing with this token moves.
    auto it = dialing_.find(job.job_id);
    if (it == dialing_.end() || it->second.token != job.token) return JobStatus::kQueued;
    dialing_.erase(it);
    --attempts_[job.job_id];
    queue_.push_front(job.job_id);
    ++control_.queued;
    --control_.in_progress;
    return JobStatus::kQueued;
  }

  absl::StatusOr<store::RunControl> RecordCalls(
      const store::Lease& lease, const std::vector<store::CallStart>& starts,
      const std::vector<store::JobResult>& results) override {
    absl::MutexLock lock(&mu_);
    if (record_errors_left_ > 0) {
      --record_errors_left_;
      return record_error_;
    }
    ++record_batches;
    for (const store::CallStart& start : starts) started_calls.push_back(start.token);
    for (const store::CallStart& start : starts) dialing_.erase(start.job_id);
    for (const store::JobResult& result : results) {
      dialing_.erase(result.job_id);
      outcomes.push_back(result);
      --control_.in_progress;
    }
    return control_;
  }

  absl::StatusOr<int64_t> FinalizeCancel(const store::Lease& lease) override {
    absl::MutexLock lock(&mu_);
    ++finalized_cancels;
    const int64_t cancelled = control_.queued;
    queue_.clear();
    control_.queued = 0;
    control_.status = RunStatus::kCancelled;
    return cancelled;
  }

  absl::StatusOr<bool> CompleteIfDone(const store::Lease& lease) override { return false; }

  absl::Status FailRun(const store::Lease& lease, absl::string_view error) override {
    absl::MutexLock lock(&mu_);
    failed_runs.emplace_back(error);
    control_.status = RunStatus::kFailed;
    return absl::OkStatus();
  }

  // Claims neither released, undone nor recorded (dialing, no call id).
  absl::StatusOr<std::vector<store::ActiveJob>> ActiveJobs(const store::Lease& lease) override {
    absl::MutexLock lock(&mu_);
    std::vector<store::ActiveJob> active;
    for (const auto& [job_id, job] : dialing_) active.push_back(job);
    return active;
  }

  absl::StatusOr<store::ReplicationState> ReadReplication() override {
    absl::MutexLock lock(&mu_);
    ++replication_reads;
    return replication_;
  }

  absl::Status Release(const store::Lease& lease) override {
    absl::MutexLock lock(&mu_);
    ++releases;
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> FinalizeAbandonedCancels(int max_runs) override { return 0; }

  absl::StatusOr<store::RunDialingRules> DialingRules(const store::Lease& lease) override {
    absl::MutexLock lock(&mu_);
    ++rules_reads;
    return rules_;
  }

  absl::StatusOr<store::RunControl> UndoClaims(const store::Lease& lease,
                                               const std::vector<store::ClaimUndo>& undo) override {
    absl::MutexLock lock(&mu_);
    for (const store::ClaimUndo& job : undo) {
      undone.push_back(job);
      dialing_.erase(job.job_id);
      --control_.in_progress;
      --attempts_[job.job_id];
      if (job.to == JobStatus::kQueued) {
        ++control_.queued;  // deferred: not claimed again by this fake
      }
    }
    return control_;
  }

  absl::StatusOr<store::RunWaiting> NoteWaiting(const store::Lease& lease,
                                                absl::Time now) override {
    absl::MutexLock lock(&mu_);
    ++control_reads;
    ++waiting_notes;
    return store::RunWaiting{control_, std::nullopt};
  }

  absl::StatusOr<std::vector<store::ZoneDue>> DueZones(const store::Lease& lease,
                                                       absl::Time now) override {
    absl::MutexLock lock(&mu_);
    ++zone_reads;
    if (queue_.empty()) return std::vector<store::ZoneDue>{};
    return std::vector<store::ZoneDue>{{"", static_cast<int64_t>(queue_.size())}};
  }

  absl::StatusOr<store::RunControl> ScreenZones(
      const store::Lease& lease, absl::Time now,
      const std::vector<store::ZoneScreen>& screens) override {
    absl::MutexLock lock(&mu_);
    for (const store::ZoneScreen& screen : screens) screened.push_back(screen);
    return control_;
  }

  absl::StatusOr<store::RunControl> EndAtPassed(const store::Lease& lease,
                                                absl::string_view reason) override {
    absl::MutexLock lock(&mu_);
    ++end_at_calls;
    control_.queued = 0;
    queue_.clear();
    if (control_.in_progress == 0) control_.status = RunStatus::kCompleted;
    return control_;
  }

  // Dialing rules scripted per test (before Start): the stored policy rows
  // and schedule DialingRules returns, and the jobs on the do-not-call list.
  void SetDialingRules(store::RunDialingRules rules) {
    absl::MutexLock lock(&mu_);
    rules_ = std::move(rules);
  }
  void AddDoNotCall(int64_t job_id) {
    absl::MutexLock lock(&mu_);
    do_not_call_.insert(job_id);
  }

  // Read under the fake's lock, like the fields above.
  int rules_reads = 0;
  int waiting_notes = 0;
  int zone_reads = 0;
  int end_at_calls = 0;
  std::vector<store::ClaimUndo> undone;
  std::vector<store::ZoneScreen> screened;

 private:
  store::RunDialingRules rules_;
  std::set<int64_t> do_not_call_;
  std::map<int64_t, int> attempts_;
  absl::Mutex mu_;
  const int concurrency_;
  store::RunControl control_;
  std::deque<int64_t> queue_;
  bool handed_out_ = false;
  bool lease_lost_ = false;
  // The current lease epoch; a re-offer after ExpireLeaseForTakeover.
  int64_t epoch_ = 1;
  bool reoffer_ = false;
  std::string holder_;
  std::map<int64_t, store::ActiveJob> dialing_;
  int gate_errors_left_ = 0;
  absl::Status gate_error_;
  int release_errors_left_ = 0;
  absl::Status release_error_;
  store::ReplicationState replication_ = [] {
    store::ReplicationState none;
    none.can_read_positions = true;
    return none;
  }();
  int record_errors_left_ = 0;
  absl::Status record_error_;
  int claim_errors_left_ = 0;
  absl::Status claim_error_;
  int in_doubt_claims_left_ = 0;
  absl::Status in_doubt_error_;
  absl::Duration first_claim_stall_;
  // Whole tokens of the business's bucket; no governor when unset.
  std::optional<int> bucket_;
  absl::Duration token_interval_;
  absl::Time next_token_at_;
};

// Accepts every call (or refuses the first `refusals`), answering before
// Dial returns (the interface allows it), and never ends one on its own;
// knows no calls it did not place. EndAll ends every accepted call.
class FakeDialer : public dialer::Dialer {
 public:
  explicit FakeDialer(int refusals = 0) : refusals_left_(refusals) {}

  void Dial(const dialer::DialRequest& request) override {
    dialer::DialEvent event;
    event.request = request;
    {
      absl::MutexLock lock(&mu_);
      dialed_.push_back(request.token);
      if (refusals_left_ > 0) {
        --refusals_left_;
        event.kind = dialer::DialEvent::Kind::kRejected;
        event.outcome = dialer::CallOutcome{JobStatus::kFailed, "provider refused"};
      } else {
        event.kind = dialer::DialEvent::Kind::kAccepted;
        event.call_sid = absl::StrCat("CA", request.job_id);
        accepted_.push_back(event);
      }
    }
    Deliver(event);
  }
  absl::StatusOr<std::optional<dialer::CallState>> LookupByToken(absl::string_view) override {
    return std::optional<dialer::CallState>();
  }
  absl::StatusOr<std::optional<dialer::CallState>> LookupByCallId(absl::string_view) override {
    return std::optional<dialer::CallState>();
  }
  absl::Status HangUp(absl::string_view call_sid) override {
    absl::MutexLock lock(&mu_);
    hung_up_.emplace_back(call_sid);
    return absl::OkStatus();
  }
  void SetEventCallback(dialer::DialEventCallback callback) override {
    absl::MutexLock lock(&mu_);
    callback_ = std::move(callback);
  }

  // Ends every call accepted so far with `status`.
  void EndAll(JobStatus status) {
    std::vector<dialer::DialEvent> accepted;
    {
      absl::MutexLock lock(&mu_);
      accepted.swap(accepted_);
    }
    for (dialer::DialEvent event : accepted) {
      event.kind = dialer::DialEvent::Kind::kEnded;
      event.outcome = dialer::CallOutcome{status, ""};
      Deliver(event);
    }
  }

  // Tokens dialed, in order.
  std::vector<std::string> dialed() {
    absl::MutexLock lock(&mu_);
    return dialed_;
  }
  // Call ids hung up, in order.
  std::vector<std::string> hung_up() {
    absl::MutexLock lock(&mu_);
    return hung_up_;
  }

 private:
  void Deliver(const dialer::DialEvent& event) {
    dialer::DialEventCallback callback;
    {
      absl::MutexLock lock(&mu_);
      callback = callback_;
    }
    if (callback) callback(event);
  }

  absl::Mutex mu_;
  int refusals_left_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> dialed_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> hung_up_ ABSL_GUARDED_BY(mu_);
  std::vector<dialer::DialEvent> accepted_ ABSL_GUARDED_BY(mu_);
  dialer::DialEventCallback callback_ ABSL_GUARDED_BY(mu_);
};

}  // namespace campaign::scheduler::testing

#endif  // CAMPAIGN_SERVER_SCHEDULER_SCHEDULER_FAKES_H_
