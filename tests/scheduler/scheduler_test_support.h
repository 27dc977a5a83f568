// Helpers shared by the scheduler tests (in-process workers and campaignd
// processes): reading the simulated dialer's dial log, inspecting runs and
// jobs as the superuser, bounded waits for database conditions, and the
// bookkeeping checks every scheduler test ends with.
#ifndef CAMPAIGN_TESTS_SCHEDULER_SCHEDULER_TEST_SUPPORT_H_
#define CAMPAIGN_TESTS_SCHEDULER_SCHEDULER_TEST_SUPPORT_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/dialer/simulated_dialer.h"
#include "server/model/model.h"
#include "server/rules/dialing_rules.h"
#include "server/scheduler/scheduler.h"
#include "server/store/lease_store.h"
#include "server/store/run_store.h"
#include "tests/support/leads.h"
#include "tests/support/wait.h"

extern char** environ;

namespace campaign::testing::sched {

// The server's default dialing policy with calls allowed all day (every
// test worker that is not about calling windows dials by it).
inline DialingPolicy AllDayPolicy() { return rules::AllDayPolicy(); }

// The flag that gives a campaignd process the all-day default calling hours
// (kept when the test set its own).
inline void AddAllDayFlags(std::map<std::string, std::string>& flags) {
  flags.emplace("default-calling-hours", "00:00-24:00");
}

// Creates a run of `leads` for `business_id` through RunStore::CreateRun
// (created by user 1, request `request_id`); returns its id, throws when the
// store refuses.
inline int64_t CreateStoreRun(store::RunStore& runs, int64_t business_id,
                              const std::string& request_id, int32_t concurrency,
                              std::vector<Lead> leads) {
  NewRun run;
  run.business_id = business_id;
  run.created_by_user_id = 1;
  run.request_id = request_id;
  run.request_digest = "digest";
  run.concurrency = concurrency;
  run.leads = std::move(leads);
  absl::StatusOr<store::CreatedRun> created = runs.CreateRun(run);
  if (!created.ok()) throw std::runtime_error(created.status().ToString());
  return created->run.id;
}

// A fresh path under the test temp dir, unique in this process; the file is
// removed now and when the object goes away.
class TempPath {
 public:
  explicit TempPath(absl::string_view stem) {
    static std::atomic<int> counter{0};

    path_ = absl::StrCat(::testing::TempDir(), "/", stem, "-", getpid(), "-", counter++);
    std::remove(path_.c_str());
  }
  ~TempPath() { std::remove(path_.c_str()); }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A `campaignd` child process with stdout and stderr in files. Killed
// (SIGKILL, which also ends a stopped process) and reaped on destruction if
// still running.
class Campaignd {
 public:
  Campaignd(const std::string& name, const std::map<std::string, std::string>& flags)
      : name_(name),
        out_(absl::StrCat("campaignd-", name, "-out")),
        err_(absl::StrCat("campaignd-", name, "-err")) {
    std::vector<std::string> args = {CAMPAIGND_PATH, "serve"};
    // Calls all day unless the test says otherwise (tests pass at any hour).
    std::map<std::string, std::string> all_flags = flags;
    AddAllDayFlags(all_flags);
    for (const auto& [flag, value] : all_flags) {
      args.push_back(absl::StrCat("--", flag, "=", value));
    }
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_.path().c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_.path().c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error(absl::StrCat("cannot spawn ", CAMPAIGND_PATH));
  }

  ~Campaignd() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  Campaignd(const Campaignd&) = delete;
  Campaignd& operator=(const Campaignd&) = delete;

  const std::string& name() const { return name_; }
  void Signal(int signal_number) { ASSERT_EQ(kill(pid_, signal_number), 0) << name_; }

  // The wait status once the process exited, polling up to `timeout`.
  std::optional<int> WaitExit(absl::Duration timeout) {
    if (exited_) return status_;
    const bool done = WaitUntil(
        [&] {
          const pid_t got = waitpid(pid_, &status_, WNOHANG);
          return got == pid_;
        },
        timeout, absl::Milliseconds(10));
    if (!done) return std::nullopt;
    exited_ = true;
    return status_;
  }

  std::string Stderr() const {
    std::ifstream file(err_.path());
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

  // The last `lines` lines of stderr, for failure messages.
  std::string StderrTail(size_t lines = 40) const {
    std::vector<std::string> all = absl::StrSplit(Stderr(), '\n');
    const size_t from = all.size() > lines ? all.size() - lines : 0;
    std::string tail;
    for (size_t i = from; i < all.size(); ++i) absl::StrAppend(&tail, all[i], "\n");
    return tail;
  }

 private:
  std::string name_;
  TempPath out_;
  TempPath err_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// One line of the dial log.
struct DialLine {
  absl::Time time;
  int64_t run_id = 0;
  int64_t job_id = 0;
  int64_t lead_id = 0;
  std::string phone;
  std::string worker;
  std::string token;
  // Empty for a rejected dial.
  std::string sid;
  bool rejected = false;
};

// Every complete line of the dial log at `path` (none when it does not
// exist yet; a last line still being written is left out); a malformed line
// is a test failure.
inline std::vector<DialLine> ReadDialLog(const std::string& path) {
  std::vector<DialLine> lines;
  std::ifstream file(path);
  for (std::string text; std::getline(file, text);) {
    if (file.eof()) break;  // no newline yet: a dial being logged right now
    std::vector<std::string> parts = absl::StrSplit(text, ' ');
    DialLine line;
    std::string error;
    if (parts.size() != 8 || !absl::ParseTime(absl::RFC3339_full, parts[0], &line.time, &error)) {
      ADD_FAILURE() << "malformed dial log line: " << text;
      continue;
    }
    bool ok = true;
    for (size_t i = 1; i < parts.size(); ++i) {
      if (i == 7 && parts[i] == "rejected") {
        line.rejected = true;
        continue;
      }
      std::pair<std::string, std::string> kv = absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
      if (kv.first == "run") {
        ok &= absl::SimpleAtoi(kv.second, &line.run_id);
      } else if (kv.first == "job") {
        ok &= absl::SimpleAtoi(kv.second, &line.job_id);
      } else if (kv.first == "lead") {
        ok &= absl::SimpleAtoi(kv.second, &line.lead_id);
      } else if (kv.first == "phone") {
        line.phone = kv.second;
      } else if (kv.first == "worker") {
        line.worker = kv.second;
      } else if (kv.first == "token") {
        line.token = kv.second;
      } else if (kv.first == "sid") {
        line.sid = kv.second;
      } else {
        ok = false;
      }
    }
    if (!ok) {
      ADD_FAILURE() << "malformed dial log line: " << text;
      continue;
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

// The dial log lines of one run.
inline std::vector<DialLine> DialsOfRun(const std::vector<DialLine>& lines, int64_t run_id) {
  std::vector<DialLine> out;
  for (const DialLine& line : lines) {
    if (line.run_id == run_id) out.push_back(line);
  }
  return out;
}

// Number of dials per lead.
inline std::map<int64_t, int> DialsPerLead(const std::vector<DialLine>& lines) {
  std::map<int64_t, int> per_lead;
  for (const DialLine& line : lines) ++per_lead[line.lead_id];
  return per_lead;
}

// Success when no lead was dialed twice; the failure lists the repeats.
inline ::testing::AssertionResult AtMostOnce(const std::vector<DialLine>& lines) {
  std::vector<std::string> repeats;
  for (const auto& [lead, dials] : DialsPerLead(lines)) {
    if (dials > 1) repeats.push_back(absl::StrCat("lead ", lead, " x", dials));
  }
  if (repeats.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << repeats.size() << " leads dialed more than once: " << absl::StrJoin(repeats, ", ");
}

// A run as stored, read as the superuser.
struct RunRow {
  std::string status;
  int32_t concurrency = 0;
  int64_t total = 0;
  int64_t queued = 0;
  int64_t in_progress = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t cancelled = 0;
  int64_t cursor = 0;
  bool cancel_requested = false;
  std::string worker;
  int64_t epoch = 0;
  std::optional<absl::Time> lock_ts;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> ended_at;
  std::string last_error;
  int64_t busy = 0;
  int64_t no_answer = 0;
  // Jobs a dialing rule skipped (final).
  int64_t skipped = 0;
};

// A job as stored, read as the superuser.
struct JobRow {
  int64_t id = 0;
  int64_t lead_id = 0;
  std::string phone;
  std::string status;
  std::string error;
  int32_t attempts = 0;
  std::string call_sid;
  std::string token;
  std::optional<absl::Time> dial_started_at;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> completed_at;

  bool Final() const { return status != "queued" && status != "dialing" && status != "calling"; }
};

inline std::ostream& operator<<(std::ostream& out, const RunRow& run) {
  return out << "{status=" << run.status << " total=" << run.total << " queued=" << run.queued
             << " in_progress=" << run.in_progress << " completed=" << run.completed
             << " failed=" << run.failed << " (busy=" << run.busy << " no_answer=" << run.no_answer
             << ") cancelled=" << run.cancelled << " skipped=" << run.skipped
             << " cursor=" << run.cursor
             << " cancel_requested=" << run.cancel_requested << " worker=" << run.worker
             << " epoch=" << run.epoch << "}";
}

// Reads and writes the test database as the superuser (no row-level
// security), over one connection.
class Inspector {
 public:
  explicit Inspector(const std::string& admin_url) : connection_(admin_url) {}

  RunRow Run(int64_t run_id) {
    pqxx::nontransaction txn(connection_);
    pqxx::row row = txn.exec_params1(
        "SELECT status, concurrency, total_leads, queued_count, in_progress_count,"
        "       completed_count, failed_count, cancelled_count, cursor_position,"
        "       cancel_requested, coalesce(locked_by_worker, ''), lease_epoch,"
        "       (extract(epoch from lock_ts) * 1000000)::int8,"
        "       (extract(epoch from started_at) * 1000000)::int8,"
        "       (extract(epoch from ended_at) * 1000000)::int8, coalesce(last_error, ''),"
        "       busy_count, no_answer_count, skipped_count"
        "  FROM outbound_call_runs WHERE id = $1",
        run_id);
    RunRow run;
    run.status = row[0].as<std::string>();
    run.concurrency = row[1].as<int32_t>();
    run.total = row[2].as<int64_t>();
    run.queued = row[3].as<int64_t>();
    run.in_progress = row[4].as<int64_t>();
    run.completed = row[5].as<int64_t>();
    run.failed = row[6].as<int64_t>();
    run.cancelled = row[7].as<int64_t>();
    run.cursor = row[8].as<int64_t>();
    run.cancel_requested = row[9].as<bool>();
    run.worker = row[10].as<std::string>();
    run.epoch = row[11].as<int64_t>();
    run.lock_ts = Time(row[12]);
    run.started_at = Time(row[13]);
    run.ended_at = Time(row[14]);
    run.last_error = row[15].as<std::string>();
    run.busy = row[16].as<int64_t>();
    run.no_answer = row[17].as<int64_t>();
    run.skipped = row[18].as<int64_t>();
    return run;
  }

  std::vector<JobRow> Jobs(int64_t run_id) {
    pqxx::nontransaction txn(connection_);
    std::vector<JobRow> jobs;
    for (const pqxx::row& row : txn.exec_params(
             "SELECT id, lead_id, coalesce(phone, ''), status, coalesce(error_message, ''),"
             "       attempts, coalesce(call_sid, ''), coalesce(dial_lock_token, ''),"
             "       (extract(epoch from dial_started_at) * 1000000)::int8,"
             "       (extract(epoch from started_at) * 1000000)::int8,"
             "       (extract(epoch from completed_at) * 1000000)::int8"
             "  FROM outbound_call_jobs WHERE run_id = $1 ORDER BY id",
             run_id)) {
      JobRow job;
      job.id = row[0].as<int64_t>();
      job.lead_id = row[1].as<int64_t>();
      job.phone = row[2].as<std::string>();
      job.status = row[3].as<std::string>();
      job.error = row[4].as<std::string>();
      job.attempts = row[5].as<int32_t>();
      job.call_sid = row[6].as<std::string>();
      job.token = row[7].as<std::string>();
      job.dial_started_at = Time(row[8]);
      job.started_at = Time(row[9]);
      job.completed_at = Time(row[10]);
      jobs.push_back(std::move(job));
    }
    return jobs;
  }

  int64_t Int(const std::string& sql) {
    pqxx::nontransaction txn(connection_);
    return txn.exec1(sql)[0].as<int64_t>();
  }

  std::string Text(const std::string& sql) {
    pqxx::nontransaction txn(connection_);
    pqxx::row row = txn.exec1(sql);
    return row[0].is_null() ? "" : row[0].as<std::string>();
  }

  void Exec(const std::string& sql) {
    pqxx::nontransaction txn(connection_);
    txn.exec(sql);
  }

 private:
  static std::optional<absl::Time> Time(const pqxx::field& field) {
    if (field.is_null()) return std::nullopt;
    return absl::FromUnixMicros(field.as<int64_t>());
  }

  pqxx::connection connection_;
};

// Success when the run's counters equal what its jobs say, sum to the total
// and the cursor counts exactly the final jobs.
inline ::testing::AssertionResult CountersExact(const RunRow& run,
                                                const std::vector<JobRow>& jobs) {
  int64_t queued = 0, in_progress = 0, completed = 0, failed = 0, cancelled = 0, unknown = 0;
  int64_t skipped = 0;
  int64_t busy = 0, no_answer = 0;
  for (const JobRow& job : jobs) {
    if (job.status == "queued") {
      ++queued;
    } else if (job.status == "dialing" || job.status == "calling") {
      ++in_progress;
    } else if (job.status == "completed") {
      ++completed;
    } else if (job.status == "failed" || job.status == "no_answer" || job.status == "busy") {
      ++failed;
      busy += job.status == "busy";
      no_answer += job.status == "no_answer";
    } else if (job.status == "cancelled") {
      ++cancelled;
    } else if (job.status == "skipped") {
      ++skipped;
    } else {
      ++unknown;
    }
  }
  const int64_t total = static_cast<int64_t>(jobs.size());
  if (unknown == 0 && run.total == total && run.queued == queued &&
      run.in_progress == in_progress && run.completed == completed && run.failed == failed &&
      run.cancelled == cancelled && run.busy == busy && run.no_answer == no_answer &&
      run.skipped == skipped &&
      run.queued + run.in_progress + run.completed + run.failed + run.cancelled + run.skipped ==
          run.total &&
      run.cursor == completed + failed + cancelled + skipped) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "run " << run << " disagrees with its jobs {total=" << total << " queued=" << queued
         << " in_progress=" << in_progress << " completed=" << completed << " failed=" << failed
         << " (busy=" << busy << " no_answer=" << no_answer << ") cancelled=" << cancelled
         << " skipped=" << skipped << " unknown statuses=" << unknown << "}";
}

// Success when every job is final.
inline ::testing::AssertionResult AllFinal(const std::vector<JobRow>& jobs) {
  std::vector<std::string> open;
  for (const JobRow& job : jobs) {
    if (!job.Final()) open.push_back(absl::StrCat("job ", job.id, " ", job.status));
  }
  if (open.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << open.size() << " jobs not final: "
         << absl::StrJoin(open.begin(), open.begin() + std::min<size_t>(open.size(), 20), ", ");
}

// The status name the simulated dialer gives a lead ("busy", ...); "rejected"
// when it rejects the dial.
inline std::string PlannedStatus(const dialer::SimulatedDialer& dialer, int64_t run_id,
                                 const JobRow& job) {
  std::optional<dialer::CallOutcome> outcome =
      dialer.PlannedOutcome(run_id, job.lead_id, job.phone);
  return outcome ? std::string(JobStatusName(outcome->status)) : "rejected";
}

// Prefix of the error of a job whose dial outcome nobody could learn.
inline constexpr char kDialOutcomeUnknown[] = "dial outcome unknown";

// Success when every dial of the run matches its job (same job id, phone and
// token) and the job records what the dial did: the call id it returned and
// the outcome the simulation planned. A job failed as "dial outcome unknown"
// although it was dialed is a failure unless `tolerate_unknown` (a worker
// that read the run's state just before it lost its lease may still place
// that one call; the job then stays failed, never dialed twice).
inline ::testing::AssertionResult DialsMatchJobs(const dialer::SimulatedDialer& reference,
                                                 int64_t run_id, const std::vector<JobRow>& jobs,
                                                 const std::vector<DialLine>& dials,
                                                 bool tolerate_unknown = false) {
  std::map<int64_t, const JobRow*> by_lead;
  for (const JobRow& job : jobs) by_lead[job.lead_id] = &job;
  std::vector<std::string> problems;
  for (const DialLine& dial : dials) {
    auto it = by_lead.find(dial.lead_id);
    if (it == by_lead.end()) {
      problems.push_back(absl::StrCat("lead ", dial.lead_id, " dialed but has no job"));
      continue;
    }
    const JobRow& job = *it->second;
    if (dial.job_id != job.id || dial.phone != job.phone || dial.token != job.token) {
      problems.push_back(absl::StrCat("lead ", dial.lead_id, ": dial (job ", dial.job_id, ", ",
                                      dial.phone, ", token ", dial.token, ") vs job (", job.id,
                                      ", ", job.phone, ", token ", job.token, ")"));
      continue;
    }
    if (absl::StartsWith(job.error, kDialOutcomeUnknown)) {
      if (!tolerate_unknown) {
        problems.push_back(absl::StrCat("lead ", dial.lead_id, " was dialed (", dial.worker,
                                        ") but its job says: ", job.error));
      }
      continue;
    }
    const std::string planned = PlannedStatus(reference, run_id, job);
    if (dial.rejected) {
      if (job.status != "failed" || planned != "rejected") {
        problems.push_back(absl::StrCat("lead ", dial.lead_id, ": rejected dial, job ", job.status,
                                        " (", job.error, ")"));
      }
      continue;
    }
    if (job.status != planned || job.call_sid != dial.sid) {
      problems.push_back(absl::StrCat("lead ", dial.lead_id, ": job ", job.status, " sid ",
                                      job.call_sid, ", dial planned ", planned, " sid ", dial.sid));
    }
  }
  if (problems.empty()) return ::testing::AssertionSuccess();
  problems.resize(std::min<size_t>(problems.size(), 20));
  return ::testing::AssertionFailure()
         << "dials disagree with jobs: " << absl::StrJoin(problems, "; ");
}

// Success when every job whose lead was never dialed was failed as "dial
// outcome unknown" (or, when `cancelled_ok`, cancelled), and — when `strict`
// — no dialed job carries that error.
inline ::testing::AssertionResult UndialedJobsAreUnknown(const std::vector<JobRow>& jobs,
                                                         const std::vector<DialLine>& dials,
                                                         bool strict, bool cancelled_ok = false) {
  std::set<int64_t> dialed;
  for (const DialLine& dial : dials) dialed.insert(dial.lead_id);
  std::vector<std::string> problems;
  for (const JobRow& job : jobs) {
    const bool unknown = job.status == "failed" && absl::StartsWith(job.error, kDialOutcomeUnknown);
    if (dialed.count(job.lead_id) == 0) {
      if (!unknown && !(cancelled_ok && job.status == "cancelled")) {
        problems.push_back(
            absl::StrCat("job ", job.id, " never dialed but ", job.status, " (", job.error, ")"));
      }
    } else if (strict && unknown) {
      problems.push_back(absl::StrCat("job ", job.id, " dialed but failed: ", job.error));
    }
  }
  if (problems.empty()) return ::testing::AssertionSuccess();
  problems.resize(std::min<size_t>(problems.size(), 20));
  return ::testing::AssertionFailure() << absl::StrJoin(problems, "; ");
}

// Jobs whose attempts differ from `want`, listed.
inline ::testing::AssertionResult AttemptsAre(const std::vector<JobRow>& jobs, int32_t want,
                                              const std::function<bool(const JobRow&)>& which) {
  std::vector<std::string> wrong;
  for (const JobRow& job : jobs) {
    if (which(job) && job.attempts != want) {
      wrong.push_back(absl::StrCat("job ", job.id, " (", job.status, ") attempts=", job.attempts));
    }
  }
  if (wrong.empty()) return ::testing::AssertionSuccess();
  wrong.resize(std::min<size_t>(wrong.size(), 20));
  return ::testing::AssertionFailure() << absl::StrJoin(wrong, "; ");
}

// Collects failed expectations about many rows and reports them as one
// assertion (the first ten and how many in all).
class Problems {
 public:
  void Check(bool ok, const std::string& what) {
    if (!ok) list_.push_back(what);
  }
  ::testing::AssertionResult Result() const {
    if (list_.empty()) return ::testing::AssertionSuccess();
    std::vector<std::string> first(list_.begin(),
                                   list_.begin() + std::min<size_t>(list_.size(), 10));
    return ::testing::AssertionFailure()
           << list_.size() << " problems: " << absl::StrJoin(first, "; ");
  }

 private:
  std::vector<std::string> list_;
};

// Waits until `condition` holds for the run as `inspect` reads it (polling
// every 20 ms, up to `timeout`); `last` receives the last state seen.
inline ::testing::AssertionResult WaitForRunState(
    Inspector& inspect, int64_t run_id, const std::function<bool(const RunRow&)>& condition,
    absl::string_view what, RunRow* last = nullptr, absl::Duration timeout = absl::Seconds(60)) {
  RunRow seen;
  const bool held = WaitUntil(
      [&] {
        seen = inspect.Run(run_id);
        return condition(seen);
      },
      timeout);
  if (last != nullptr) *last = seen;
  if (held) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "run " << run_id << " not " << what << " within "
                                       << absl::FormatDuration(timeout) << "; last seen " << seen;
}

// A scheduler worker dialing through a simulated dialer of its own, torn down
// in the order that keeps every callback target alive: the scheduler thread
// stops first, then the dialer (whose outcomes go to the scheduler), then the
// scheduler object. Not started: call scheduler().Start().
class SimulatedWorker {
 public:
  // A worker whose default policy is still the server's gets the all-day
  // calling hours (AllDayPolicy).
  SimulatedWorker(store::LeaseStore* leases, const dialer::SimulatedDialerOptions& sim,
                  scheduler::SchedulerOptions options)
      : dialer_(std::make_unique<dialer::SimulatedDialer>(sim)),
        scheduler_(std::make_unique<scheduler::Scheduler>(leases, dialer_.get(),
                                                          WithAllDay(std::move(options)))) {}
  ~SimulatedWorker() {
    scheduler_->Shutdown(absl::ZeroDuration());
    dialer_.reset();
    scheduler_.reset();
  }
  SimulatedWorker(const SimulatedWorker&) = delete;
  SimulatedWorker& operator=(const SimulatedWorker&) = delete;

  scheduler::Scheduler& scheduler() { return *scheduler_; }

 private:
  static scheduler::SchedulerOptions WithAllDay(scheduler::SchedulerOptions options) {
    if (options.default_policy == rules::ServerDefaultPolicy()) {
      options.default_policy = AllDayPolicy();
    }
    return options;
  }

  std::unique_ptr<dialer::SimulatedDialer> dialer_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
};

}  // namespace campaign::testing::sched

#endif  // CAMPAIGN_TESTS_SCHEDULER_SCHEDULER_TEST_SUPPORT_H_
