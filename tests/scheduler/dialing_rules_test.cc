// The scheduler enforces the dialing rules (issue 13), with in-process
// workers on a real database and the simulated dialer's dial log as the
// oracle: calling windows (deferred across a window boundary set relative to
// an injected clock), do-not-call numbers added mid-run, retries by outcome
// up to max_attempts, the per-number cap across runs, the attempt ledger
// against the dial log, and the run schedule (start_at, end_at).
//
// Tests that need the real rules library (server/rules, helper R's branch)
// say so: with the placeholder rules (Decide always "dial now", Window
// always open, RetryAt never) they fail.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/dialer/simulated_dialer.h"
#include "server/model/model.h"
#include "server/rules/dialing_rules.h"
#include "server/scheduler/rule_keeper.h"
#include "server/scheduler/scheduler.h"
#include "server/store/database.h"
#include "server/store/lease_store.h"
#include "server/store/run_store.h"
#include "tests/scheduler/scheduler_test_support.h"
#include "tests/support/leads.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using testing::MakeLeads;
using testing::PlainPhone;
using testing::TestDatabase;
using testing::sched::AllFinal;
using testing::sched::AllDayPolicy;
using testing::sched::AtMostOnce;
using testing::sched::CountersExact;
using testing::sched::CreateStoreRun;
using testing::sched::DialLine;
using testing::sched::DialsOfRun;
using testing::sched::Inspector;
using testing::sched::JobRow;
using testing::sched::ReadDialLog;
using testing::sched::RunRow;
using testing::sched::SimulatedWorker;
using testing::sched::TempPath;
using testing::sched::WaitForRunState;

constexpr absl::Duration kLeaseTtl = absl::Seconds(5);

// An attempt's row of the ledger, as the superuser reads it.
struct LedgerRow {
  int64_t job_id = 0;
  int attempt = 0;
  std::string token;
  std::string call_sid;
  std::string outcome;
  bool ended = false;
};

class DialingRulesTest : public ::testing::Test {
 protected:
  DialingRulesTest() : dial_log_("dialing-rules-dial-log") {
    db_.Migrate();
    business_id_ = db_.CreateBusiness("rules");
    database_ = std::make_unique<store::Database>(db_.app_url(), store::PoolOptions{.size = 4});
    runs_ = std::make_unique<store::RunStore>(database_.get(), kLeaseTtl);
    leases_ = std::make_unique<store::LeaseStore>(database_.get(), kLeaseTtl);
    inspect_ = std::make_unique<Inspector>(db_.admin_url());
  }

  int64_t CreateRun(std::vector<Lead> leads, int32_t concurrency) {
    static int counter = 0;
    return CreateStoreRun(*runs_, business_id_, absl::StrCat("rules-", counter++), concurrency,
                          std::move(leads));
  }

  // Starts a worker whose calls last `call_duration`, with `options` (its
  // default policy all day unless the test set one).
  SimulatedWorker& StartWorker(scheduler::SchedulerOptions options,
                               absl::Duration call_duration = absl::Milliseconds(20)) {
    dialer::SimulatedDialerOptions sim;
    sim.seed = 1;
    sim.call_duration = call_duration;
    sim.dial_log_path = dial_log_.path();
    if (options.worker_id.empty()) options.worker_id = absl::StrCat("w", workers_.size() + 1);
    options.heartbeat_interval = absl::Milliseconds(100);
    options.lease_ttl = kLeaseTtl;
    options.poll_interval = absl::Milliseconds(20);
    options.reconcile_interval = absl::Milliseconds(50);
    workers_.push_back(std::make_unique<SimulatedWorker>(leases_.get(), sim, options));
    workers_.back()->scheduler().Start();
    return *workers_.back();
  }

  static scheduler::SchedulerOptions AllDay() {
    scheduler::SchedulerOptions options;
    options.default_policy = AllDayPolicy();
    return options;
  }

  std::vector<DialLine> Dials(int64_t run_id) {
    return DialsOfRun(ReadDialLog(dial_log_.path()), run_id);
  }

  ::testing::AssertionResult WaitForRun(int64_t run_id,
                                        const std::function<bool(const RunRow&)>& condition,
                                        absl::string_view what, RunRow* last = nullptr,
                                        absl::Duration timeout = absl::Seconds(60)) {
    return WaitForRunState(*inspect_, run_id, condition, what, last, timeout);
  }

  // Polls `condition` every 20 ms up to `timeout`.
  static bool WaitUntil(const std::function<bool()>& condition,
                        absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!condition()) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return true;
  }

  std::vector<LedgerRow> Ledger(int64_t run_id) {
    pqxx::connection connection(db_.admin_url());
    pqxx::nontransaction txn(connection);
    std::vector<LedgerRow> rows;
    for (const pqxx::row& row : txn.exec_params(
             "SELECT job_id, attempt, dial_token, coalesce(call_sid, ''), coalesce(outcome, ''),"
             "       ended_at IS NOT NULL"
             "  FROM call_attempts WHERE run_id = $1 ORDER BY job_id, attempt",
             run_id)) {
      LedgerRow ledger;
      ledger.job_id = row[0].as<int64_t>();
      ledger.attempt = row[1].as<int>();
      ledger.token = row[2].as<std::string>();
      ledger.call_sid = row[3].as<std::string>();
      ledger.outcome = row[4].as<std::string>();
      ledger.ended = row[5].as<bool>();
      rows.push_back(std::move(ledger));
    }
    return rows;
  }

  // Success when the ledger holds exactly one row per dial of the log (same
  // job, token and call id), every one ended with an outcome.
  ::testing::AssertionResult LedgerEqualsDialLog(int64_t run_id) {
    std::map<std::string, DialLine> dials;
    for (const DialLine& dial : Dials(run_id)) dials[dial.token] = dial;
    const std::vector<LedgerRow> ledger = Ledger(run_id);
    if (ledger.size() != dials.size()) {
      return ::testing::AssertionFailure()
             << ledger.size() << " ledger rows for " << dials.size() << " dials";
    }
    for (const LedgerRow& row : ledger) {
      auto it = dials.find(row.token);
      if (it == dials.end()) {
        return ::testing::AssertionFailure() << "ledger token " << row.token << " never dialed";
      }
      if (it->second.job_id != row.job_id || it->second.sid != row.call_sid || !row.ended ||
          row.outcome.empty()) {
        return ::testing::AssertionFailure()
               << "ledger row of job " << row.job_id << " attempt " << row.attempt << " (sid "
               << row.call_sid << ", outcome '" << row.outcome << "', ended " << row.ended
               << ") disagrees with its dial (job " << it->second.job_id << ", sid "
               << it->second.sid << ")";
      }
    }
    return ::testing::AssertionSuccess();
  }

  std::string RunText(int64_t run_id, const std::string& column) {
    return inspect_->Text(
        absl::StrCat("SELECT ", column, "::text FROM outbound_call_runs WHERE id = ", run_id));
  }

  TestDatabase db_;
  int64_t business_id_ = 0;
  TempPath dial_log_;
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<store::RunStore> runs_;
  std::unique_ptr<store::LeaseStore> leases_;
  std::unique_ptr<Inspector> inspect_;
  std::vector<std::unique_ptr<SimulatedWorker>> workers_;
};

// The attempt ledger equals the dial log: one row per dial with the dial's
// token, job and call id, and its outcome (rules: any; placeholder ok).
TEST_F(DialingRulesTest, LedgerEqualsDialLog) {
  const int64_t run = CreateRun(MakeLeads(40), 5);
  StartWorker(AllDay());
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done));
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_TRUE(AtMostOnce(Dials(run)));
  EXPECT_EQ(Dials(run).size(), 40u);
  EXPECT_TRUE(LedgerEqualsDialLog(run));
}

// A number added to the do-not-call list mid-run is not dialed again: the
// claim checks the list (concurrency 1, slow calls: the next claim comes
// after the insert). Its job ends skipped with the reason.
TEST_F(DialingRulesTest, DoNotCallAddedMidRunStopsTheNextDial) {
  const int64_t run = CreateRun(MakeLeads(6), 1);
  StartWorker(AllDay(), absl::Milliseconds(400));
  ASSERT_TRUE(WaitUntil([&] { return !Dials(run).empty(); })) << "no first dial";
  const absl::Time added = absl::Now();
  for (int lead = 2; lead <= 6; ++lead) {
    inspect_->Exec(absl::StrCat("INSERT INTO do_not_call (business_id, phone) VALUES (",
                                business_id_, ", '", PlainPhone(lead), "')"));
  }
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done));
  std::set<std::string> barred;
  for (int lead = 2; lead <= 6; ++lead) barred.insert(PlainPhone(lead));
  int barred_dials = 0;
  for (const DialLine& dial : Dials(run)) {
    if (barred.count(dial.phone) > 0 && dial.time > added) ++barred_dials;
  }
  EXPECT_EQ(barred_dials, 0);
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  int skipped = 0;
  for (const JobRow& job : jobs) {
    if (barred.count(job.phone) == 0) continue;
    if (job.status == "skipped") {
      ++skipped;
      EXPECT_EQ(job.attempts, 0) << job.id;
    }
  }
  // Lead 2 may have been claimed before the insert; the others cannot.
  EXPECT_GE(skipped, 4);
  EXPECT_EQ(inspect_->Int(absl::StrCat("SELECT skipped_count FROM outbound_call_runs WHERE id = ",
                                       run)),
            skipped);
  EXPECT_EQ(inspect_->Int(absl::StrCat(
                "SELECT count(*) FROM outbound_call_jobs WHERE run_id = ", run,
                " AND status = 'skipped' AND skip_reason = 'do_not_call'")),
            skipped);
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_TRUE(LedgerEqualsDialLog(run));
}

// The run's end_at: nothing is claimed from then on, the queued jobs are
// cancelled with the reason (counted) and the run completes once its calls
// in progress have ended (rules: any).
TEST_F(DialingRulesTest, EndAtCancelsTheRestAndCompletes) {
  const int64_t run = CreateRun(MakeLeads(200), 2);
  const absl::Time end_at = absl::Now() + absl::Seconds(2);
  inspect_->Exec(absl::StrCat("UPDATE outbound_call_runs SET end_at = to_timestamp(",
                              absl::ToUnixMicros(end_at), " / 1000000.0) WHERE id = ", run));
  StartWorker(AllDay(), absl::Milliseconds(200));
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done));
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_GT(dials.size(), 0u);
  EXPECT_LT(dials.size(), 200u);
  for (const DialLine& dial : dials) {
    // A claim just before end_at is dialed at once (the dial gate).
    EXPECT_LT(dial.time, end_at + absl::Milliseconds(500)) << dial.token;
  }
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  int cancelled = 0;
  for (const JobRow& job : jobs) {
    if (job.status != "cancelled") continue;
    ++cancelled;
    EXPECT_EQ(job.error, scheduler::kEndAtPassedReason);
  }
  EXPECT_EQ(cancelled + static_cast<int>(dials.size()), 200);
  EXPECT_EQ(done.cancelled, cancelled);
  EXPECT_TRUE(LedgerEqualsDialLog(run));
}

// A run whose start_at is in the future is not acquired: it stays pending,
// shows next_dial_at = start_at with waiting_reason start_at, and is dialed
// from then on (rules: any).
TEST_F(DialingRulesTest, StartAtWaits) {
  const int64_t run = CreateRun(MakeLeads(5), 5);
  const absl::Time start_at = absl::Now() + absl::Seconds(3);
  // As CreateRun stores a start_at still to come: also the run's
  // next_dial_at, waiting for 'start_at'.
  inspect_->Exec(absl::StrCat("UPDATE outbound_call_runs SET start_at = to_timestamp(",
                              absl::ToUnixMicros(start_at),
                              " / 1000000.0), next_dial_at = to_timestamp(",
                              absl::ToUnixMicros(start_at),
                              " / 1000000.0), waiting_reason = 'start_at' WHERE id = ", run));
  StartWorker(AllDay());
  ASSERT_TRUE(WaitUntil([&] { return RunText(run, "waiting_reason") == "start_at"; }))
      << "the run never showed it waits for start_at";
  EXPECT_EQ(RunText(run, "status"), "pending");
  EXPECT_EQ(inspect_->Int(absl::StrCat("SELECT (next_dial_at = start_at)::int FROM "
                                       "outbound_call_runs WHERE id = ",
                                       run)),
            1);
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done));
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_EQ(dials.size(), 5u);
  for (const DialLine& dial : dials) EXPECT_GE(dial.time, start_at) << dial.token;
  EXPECT_EQ(RunText(run, "waiting_reason"), "");
  EXPECT_TRUE(LedgerEqualsDialLog(run));
}

// Busy and unanswered calls are retried after their delays and never beyond
// max_attempts (the business policy row: 3 attempts, busy 1 s, no answer
// 2 s); each attempt has its own token, and the ledger equals the dial log.
// Needs the real rules (RetryAt).
TEST_F(DialingRulesTest, BusyAndNoAnswerRetriedAfterDelaysUpToMaxAttempts) {
  inspect_->Exec(absl::StrCat(
      "INSERT INTO dialing_policy (business_id, run_id, max_attempts, retry_outcomes,"
      " retry_delay_seconds) VALUES (",
      business_id_, ", 0, 3, '{busy,no_answer}', '{1,2}')"));
  std::vector<Lead> leads = {Lead{1, "+14155550001", "busy"}, Lead{2, "+14155550002", "no answer"},
                             Lead{3, PlainPhone(3), "plain"}};
  const int64_t run = CreateRun(leads, 3);
  StartWorker(AllDay());
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done));
  std::map<int64_t, std::vector<absl::Time>> per_lead;
  std::set<std::string> tokens;
  for (const DialLine& dial : Dials(run)) {
    per_lead[dial.lead_id].push_back(dial.time);
    tokens.insert(dial.token);
  }
  EXPECT_EQ(per_lead[1].size(), 3u);
  EXPECT_EQ(per_lead[2].size(), 3u);
  EXPECT_EQ(tokens.size(), per_lead[1].size() + per_lead[2].size() + per_lead[3].size());
  const absl::Duration call = absl::Milliseconds(20);
  for (size_t i = 1; i < per_lead[1].size(); ++i) {
    EXPECT_GE(per_lead[1][i] - per_lead[1][i - 1], absl::Seconds(1) + call);
  }
  for (size_t i = 1; i < per_lead[2].size(); ++i) {
    EXPECT_GE(per_lead[2][i] - per_lead[2][i - 1], absl::Seconds(2) + call);
  }
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].status, "busy");
  EXPECT_EQ(jobs[0].attempts, 3);
  EXPECT_EQ(jobs[1].status, "no_answer");
  EXPECT_EQ(jobs[1].attempts, 3);
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_TRUE(LedgerEqualsDialLog(run));
}

// Calls are deferred until the calling window opens and resumed then: the
// window is set relative to an injected clock a few seconds before a
// minute boundary (closed now, open from the next minute). Needs the real
// rules (Window, Decide).
TEST_F(DialingRulesTest, DefersAndResumesAcrossAWindowBoundary) {
  // Injected now: today 10:00:57 UTC; the window opens at 10:01 (3 s later).
  const absl::Time real_start = absl::Now();
  const absl::CivilDay today = absl::ToCivilDay(real_start, absl::UTCTimeZone());
  const absl::Time injected_start =
      absl::FromCivil(absl::CivilSecond(today.year(), today.month(), today.day(), 10, 0, 57),
                      absl::UTCTimeZone());
  const absl::Duration offset = injected_start - real_start;
  scheduler::SchedulerOptions options;
  options.clock = [offset] { return absl::Now() + offset; };
  options.default_policy = rules::ServerDefaultPolicy();
  options.default_policy.default_time_zone = "UTC";
  options.default_policy.calling_windows.clear();
  for (int day = 1; day <= 7; ++day) {
    options.default_policy.calling_windows.push_back({day, 10 * 60 + 1, 10 * 60 + 30});
  }
  const int64_t run = CreateRun(MakeLeads(10), 10);
  StartWorker(options);
  // The run shows why it waits and until when (the window's opening).
  ASSERT_TRUE(WaitUntil([&] { return RunText(run, "waiting_reason") == "calling_window"; }))
      << "the run never showed it waits for the calling window";
  const absl::Time opens = injected_start + absl::Seconds(3) - offset;  // in real time
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done));
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_EQ(dials.size(), 10u);
  for (const DialLine& dial : dials) EXPECT_GE(dial.time, opens) << dial.token;
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_TRUE(LedgerEqualsDialLog(run));
}

// The per-number cap counts dials across the business's runs: with one dial
// per number per day, a second run of the same numbers dials none of them
// and waits (per_number_cap) instead. Needs the real rules (Decide).
TEST_F(DialingRulesTest, PerNumberCapAcrossTwoRuns) {
  inspect_->Exec(absl::StrCat(
      "INSERT INTO dialing_policy (business_id, run_id, max_dials_per_number,"
      " per_number_window_days) VALUES (",
      business_id_, ", 0, 1, 1)"));
  const int64_t first = CreateRun(MakeLeads(4), 4);
  StartWorker(AllDay());
  ASSERT_TRUE(WaitForRun(
      first, [](const RunRow& r) { return r.status == "completed"; }, "first completed"));
  EXPECT_EQ(Dials(first).size(), 4u);
  const int64_t second = CreateRun(MakeLeads(4), 4);
  ASSERT_TRUE(WaitUntil([&] {
    return inspect_->Int(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ",
                                      second, " AND status = 'queued' AND waiting_reason = "
                                              "'per_number_cap'")) == 4;
  })) << "the second run's jobs never waited for the cap";
  // The run shows why it waits (written by the claim round after the undo).
  EXPECT_TRUE(WaitUntil([&] { return RunText(second, "waiting_reason") == "per_number_cap"; }));
  EXPECT_EQ(Dials(second).size(), 0u);
  RunRow row = inspect_->Run(second);
  EXPECT_TRUE(CountersExact(row, inspect_->Jobs(second)));
  EXPECT_TRUE(Ledger(second).empty());
}

}  // namespace
}  // namespace campaign
