// Unit tests of the simulated dialer: magic numbers, deterministic outcomes,
// delivery of outcomes after the call duration, call ids that any process can
// decode, lookups through a shared dial log, concurrency bookkeeping, hang-up
// and the --sim-outcomes parser. No database; waits are on callbacks, never
// on sleeps.
#include "server/dialer/simulated_dialer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace campaign::dialer {
namespace {

// A dial log file unique to one test, removed at the end.
class TempDialLog {
 public:
  TempDialLog() {
    static std::atomic<int> counter{0};
    path_ = absl::StrCat(::testing::TempDir(), "/sim-dial-log-", getpid(), "-", counter++, ".log");
    std::remove(path_.c_str());
  }
  ~TempDialLog() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::ifstream file(path_);
    for (std::string line; std::getline(file, line);) lines.push_back(line);
    return lines;
  }

 private:
  std::string path_;
};

// One parsed dial log line: "<time> run=R job=J lead=L phone=P worker=W
// token=T sid=S" or "... token=T rejected".
struct LogLine {
  absl::Time time;
  std::map<std::string, std::string> fields;
  bool rejected = false;
};

// Parses a line; fails the test (and returns nullopt) when it is malformed.
std::optional<LogLine> ParseLine(const std::string& line) {
  std::vector<std::string> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 8) {
    ADD_FAILURE() << "dial log line has " << parts.size() << " fields: " << line;
    return std::nullopt;
  }
  LogLine parsed;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, parts[0], &parsed.time, &error)) {
    ADD_FAILURE() << "bad time in dial log line (" << error << "): " << line;
    return std::nullopt;
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    if (i == 7 && parts[i] == "rejected") {
      parsed.rejected = true;
      continue;
    }
    std::pair<std::string, std::string> kv = absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) {
      ADD_FAILURE() << "bad field \"" << parts[i] << "\" in dial log line: " << line;
      return std::nullopt;
    }
    parsed.fields[kv.first] = kv.second;
  }
  return parsed;
}

// A phone without a magic suffix (its last four digits are 1000..9999).
std::string PlainPhone(int64_t i) {
  return absl::StrFormat("+1415%03d%04d", 100 + i / 9000, 1000 + i % 9000);
}

DialRequest Request(int64_t run_id, int64_t lead_id, const std::string& phone,
                    const std::string& token = "") {
  DialRequest request;
  request.business_id = 1;
  request.run_id = run_id;
  request.job_id = 1000 + lead_id;
  request.lead_id = lead_id;
  request.phone = phone;
  request.token = token.empty() ? absl::StrCat("token-", run_id, "-", lead_id) : token;
  request.worker = "test-worker";
  return request;
}

SimulatedDialerOptions Options(absl::Duration call_duration, std::string dial_log = "") {
  SimulatedDialerOptions options;
  options.seed = 7;
  options.call_duration = call_duration;
  options.dial_log_path = std::move(dial_log);
  return options;
}

// Collects delivered events: ended calls as deliveries (Await blocks until
// `count` have arrived), acceptances and refusals apart.
class OutcomeSink {
 public:
  struct Delivery {
    DialRequest request;
    std::string call_sid;
    CallOutcome outcome;
    absl::Time at;
  };

  DialEventCallback Callback() {
    return [this](const DialEvent& event) {
      absl::MutexLock lock(&mu_);
      Delivery delivery{event.request, event.call_sid, event.outcome, absl::Now()};
      switch (event.kind) {
        case DialEvent::Kind::kAccepted:
          accepted_.push_back(std::move(delivery));
          break;
        case DialEvent::Kind::kRejected:
          rejected_.push_back(std::move(delivery));
          break;
        case DialEvent::Kind::kEnded:
          deliveries_.push_back(std::move(delivery));
          break;
      }
    };
  }

  // The ended calls once at least `count` arrived; fails after 10 s.
  std::vector<Delivery> Await(size_t count) { return AwaitIn(deliveries_, count, "ended calls"); }
  // The acceptances once at least `count` arrived; fails after 10 s.
  std::vector<Delivery> AwaitAccepted(size_t count) {
    return AwaitIn(accepted_, count, "acceptances");
  }
  // The refusals once at least `count` arrived; fails after 10 s.
  std::vector<Delivery> AwaitRejected(size_t count) {
    return AwaitIn(rejected_, count, "refusals");
  }

  std::vector<Delivery> Snapshot() {
    absl::MutexLock lock(&mu_);
    return deliveries_;
  }

 private:
  std::vector<Delivery> AwaitIn(std::vector<Delivery>& list, size_t count, const char* what) {
    absl::MutexLock lock(&mu_);
    auto enough = [&list, count]() { return list.size() >= count; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10))) {
      ADD_FAILURE() << "only " << list.size() << " of " << count << " " << what
                    << " delivered within 10 s";
    }
    return list;
  }

  absl::Mutex mu_;
  std::vector<Delivery> deliveries_ ABSL_GUARDED_BY(mu_);
  std::vector<Delivery> accepted_ ABSL_GUARDED_BY(mu_);
  std::vector<Delivery> rejected_ ABSL_GUARDED_BY(mu_);
};

// Dials and returns the call id the provider gave the call (known at once to
// the provider itself); nullopt when the provider refuses the number.
std::optional<std::string> Place(SimulatedDialer& dialer, const DialRequest& request) {
  dialer.Dial(request);
  absl::StatusOr<std::optional<CallState>> state = dialer.LookupByToken(request.token);
  if (!state.ok() || !state->has_value()) return std::nullopt;
  return (*state)->call_sid;
}

// The documented magic suffixes force each path, whatever the seed and mix.
TEST(SimulatedDialerTest, MagicNumbersForceEachOutcome) {
  for (uint64_t seed : {1u, 2u, 99u}) {
    SimulatedDialerOptions options = Options(absl::Seconds(1));
    options.seed = seed;
    options.completed_percent = 100;
    options.no_answer_percent = 0;
    options.busy_percent = 0;
    SimulatedDialer dialer(options);
    for (int64_t lead = 1; lead <= 20; ++lead) {
      std::optional<CallOutcome> busy = dialer.PlannedOutcome(5, lead, "+14155550001");
      ASSERT_TRUE(busy.has_value());
      EXPECT_EQ(busy->status, JobStatus::kBusy);
      EXPECT_FALSE(busy->error.empty());
      std::optional<CallOutcome> no_answer = dialer.PlannedOutcome(5, lead, "+14155550002");
      ASSERT_TRUE(no_answer.has_value());
      EXPECT_EQ(no_answer->status, JobStatus::kNoAnswer);
      std::optional<CallOutcome> failed = dialer.PlannedOutcome(5, lead, "+14155550003");
      ASSERT_TRUE(failed.has_value());
      EXPECT_EQ(failed->status, JobStatus::kFailed);
      EXPECT_FALSE(failed->error.empty());
      EXPECT_FALSE(dialer.PlannedOutcome(5, lead, "+14155550004").has_value())
          << "…0004 must be rejected by the provider";
      // With completed=100 every other number completes.
      std::optional<CallOutcome> plain = dialer.PlannedOutcome(5, lead, "+14155550005");
      ASSERT_TRUE(plain.has_value());
      EXPECT_EQ(plain->status, JobStatus::kCompleted);
      EXPECT_TRUE(plain->error.empty());
    }
  }
}

// A magic number's outcome is also what a real Dial delivers.
TEST(SimulatedDialerTest, DialDeliversMagicOutcomes) {
  SimulatedDialer dialer(Options(absl::Milliseconds(5)));
  OutcomeSink sink;
  dialer.SetEventCallback(sink.Callback());
  const std::map<std::string, JobStatus> want = {{"+14155550001", JobStatus::kBusy},
                                                 {"+14155550002", JobStatus::kNoAnswer},
                                                 {"+14155550003", JobStatus::kFailed}};
  int64_t lead = 0;
  for (const auto& [phone, status] : want)
    ASSERT_TRUE(Place(dialer, Request(1, ++lead, phone)).has_value());
  std::vector<OutcomeSink::Delivery> got = sink.Await(3);
  ASSERT_EQ(got.size(), 3u);
  for (const OutcomeSink::Delivery& delivery : got) {
    EXPECT_EQ(delivery.outcome.status, want.at(delivery.request.phone)) << delivery.request.phone;
  }
}

// …0004: the provider refuses the dial (a kRejected event naming the number),
// the dial is logged as `rejected`, counted in TotalDials, never becomes an
// active call and never ends as a call.
TEST(SimulatedDialerTest, RejectedNumberFailsTheDialAndIsLogged) {
  TempDialLog log;
  SimulatedDialer dialer(Options(absl::Milliseconds(5), log.path()));
  OutcomeSink sink;
  dialer.SetEventCallback(sink.Callback());

  std::optional<std::string> rejected = Place(dialer, Request(3, 1, "+14155550004", "tok-rej"));
  EXPECT_FALSE(rejected.has_value());
  EXPECT_EQ(dialer.TotalDials(), 1);
  EXPECT_EQ(dialer.ActiveCalls(3), 0);
  EXPECT_EQ(dialer.MaxConcurrentCalls(3), 0);

  std::vector<OutcomeSink::Delivery> refused = sink.AwaitRejected(1);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].request.token, "tok-rej");
  EXPECT_EQ(refused[0].outcome.status, JobStatus::kFailed);
  EXPECT_TRUE(absl::StrContains(refused[0].outcome.error, "+14155550004"))
      << refused[0].outcome.error;
  EXPECT_TRUE(refused[0].call_sid.empty());

  // A later accepted call ends; the rejected one never does.
  std::optional<std::string> accepted = Place(dialer, Request(3, 2, PlainPhone(2), "tok-ok"));
  ASSERT_TRUE(accepted.has_value());
  std::vector<OutcomeSink::Delivery> got = sink.Await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].call_sid, *accepted);
  EXPECT_EQ(sink.AwaitAccepted(1).size(), 1u);
  EXPECT_EQ(dialer.TotalDials(), 2);

  std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 2u);
  std::optional<LogLine> first = ParseLine(lines[0]);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->rejected) << lines[0];
  EXPECT_EQ(first->fields["run"], "3");
  EXPECT_EQ(first->fields["lead"], "1");
  EXPECT_EQ(first->fields["phone"], "+14155550004");
  EXPECT_EQ(first->fields["token"], "tok-rej");
  EXPECT_EQ(first->fields.count("sid"), 0u);
  std::optional<LogLine> second = ParseLine(lines[1]);
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->rejected);
  EXPECT_EQ(second->fields["sid"], *accepted);

  // The provider has no call for a rejected token.
  absl::StatusOr<std::optional<CallState>> lookup = dialer.LookupByToken("tok-rej");
  ASSERT_TRUE(lookup.ok()) << lookup.status();
  EXPECT_FALSE(lookup->has_value());
}

// Same seed, same outcomes (also across instances, i.e. processes); another
// seed draws differently; the default mix is followed over 10,000 leads.
TEST(SimulatedDialerTest, OutcomesAreDeterministicAndFollowTheMix) {
  constexpr int kLeads = 10'000;
  SimulatedDialerOptions options = Options(absl::Seconds(1));
  options.seed = 1234;
  SimulatedDialer first(options);
  SimulatedDialer second(options);
  options.seed = 4321;
  SimulatedDialer other_seed(options);

  std::map<JobStatus, int> counts;
  int differing = 0;
  for (int64_t lead = 1; lead <= kLeads; ++lead) {
    const std::string phone = PlainPhone(lead);
    std::optional<CallOutcome> a = first.PlannedOutcome(77, lead, phone);
    std::optional<CallOutcome> b = second.PlannedOutcome(77, lead, phone);
    std::optional<CallOutcome> c = other_seed.PlannedOutcome(77, lead, phone);
    ASSERT_TRUE(a.has_value() && b.has_value() && c.has_value());
    ASSERT_EQ(a->status, b->status) << "lead " << lead;
    ASSERT_EQ(a->error, b->error) << "lead " << lead;
    // Drawn again by the same instance: still the same.
    ASSERT_EQ(first.PlannedOutcome(77, lead, phone)->status, a->status);
    if (c->status != a->status) ++differing;
    ++counts[a->status];
  }
  // 80/10/5/5 by default.
  EXPECT_GE(counts[JobStatus::kCompleted], kLeads * 75 / 100);
  EXPECT_LE(counts[JobStatus::kCompleted], kLeads * 85 / 100);
  EXPECT_GE(counts[JobStatus::kNoAnswer], kLeads * 7 / 100);
  EXPECT_LE(counts[JobStatus::kNoAnswer], kLeads * 13 / 100);
  EXPECT_GE(counts[JobStatus::kBusy], kLeads * 3 / 100);
  EXPECT_LE(counts[JobStatus::kBusy], kLeads * 7 / 100);
  EXPECT_GE(counts[JobStatus::kFailed], kLeads * 3 / 100);
  EXPECT_LE(counts[JobStatus::kFailed], kLeads * 7 / 100);
  // Two independent draws of this mix differ for about a third of the leads.
  EXPECT_GT(differing, kLeads / 10) << "another seed must draw other outcomes";

  // The outcome also depends on the run: another run draws differently.
  int differing_runs = 0;
  for (int64_t lead = 1; lead <= 1000; ++lead) {
    if (first.PlannedOutcome(77, lead, PlainPhone(lead))->status !=
        first.PlannedOutcome(78, lead, PlainPhone(lead))->status) {
      ++differing_runs;
    }
  }
  EXPECT_GT(differing_runs, 100);
}

// A mix parsed from --sim-outcomes is honoured by the draw.
TEST(SimulatedDialerTest, ParsedMixIsHonoured) {
  SimulatedDialerOptions options = Options(absl::Seconds(1));
  ASSERT_TRUE(ParseOutcomeMix("completed=50,no_answer=50", &options).ok());
  EXPECT_EQ(options.completed_percent, 50);
  EXPECT_EQ(options.no_answer_percent, 50);
  EXPECT_EQ(options.busy_percent, 0);
  SimulatedDialer dialer(options);
  std::map<JobStatus, int> counts;
  for (int64_t lead = 1; lead <= 10'000; ++lead) {
    ++counts[dialer.PlannedOutcome(1, lead, PlainPhone(lead))->status];
  }
  EXPECT_EQ(counts[JobStatus::kBusy], 0);
  EXPECT_EQ(counts[JobStatus::kFailed], 0);
  EXPECT_GE(counts[JobStatus::kCompleted], 4'500);
  EXPECT_LE(counts[JobStatus::kCompleted], 5'500);
  EXPECT_EQ(counts[JobStatus::kCompleted] + counts[JobStatus::kNoAnswer], 10'000);
}

// The outcome arrives through the callback once call_duration has passed,
// carrying the request it was placed with, the call id Dial returned and the
// planned outcome.
TEST(SimulatedDialerTest, OutcomeIsDeliveredAfterTheCallDuration) {
  constexpr absl::Duration kDuration = absl::Milliseconds(60);
  SimulatedDialer dialer(Options(kDuration));
  OutcomeSink sink;
  dialer.SetEventCallback(sink.Callback());
  const DialRequest request = Request(9, 42, PlainPhone(42));
  const absl::Time before = absl::Now();
  std::optional<std::string> sid = Place(dialer, request);
  ASSERT_TRUE(sid.has_value());
  EXPECT_FALSE(sid->empty());
  EXPECT_EQ(dialer.ActiveCalls(9), 1);

  std::vector<OutcomeSink::Delivery> got = sink.Await(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_GE(got[0].at - before, kDuration);
  EXPECT_EQ(got[0].call_sid, *sid);
  EXPECT_EQ(got[0].request.run_id, 9);
  EXPECT_EQ(got[0].request.job_id, request.job_id);
  EXPECT_EQ(got[0].request.lead_id, 42);
  EXPECT_EQ(got[0].request.token, request.token);
  EXPECT_EQ(got[0].request.worker, "test-worker");
  std::optional<CallOutcome> planned = dialer.PlannedOutcome(9, 42, request.phone);
  ASSERT_TRUE(planned.has_value());
  EXPECT_EQ(got[0].outcome.status, planned->status);
  EXPECT_EQ(got[0].outcome.error, planned->error);
  EXPECT_EQ(dialer.ActiveCalls(9), 0);
}

// With one call duration, calls end in the order they were placed, each
// delivering exactly one outcome.
TEST(SimulatedDialerTest, OutcomesArriveInEndOrder) {
  SimulatedDialer dialer(Options(absl::Milliseconds(20)));
  OutcomeSink sink;
  dialer.SetEventCallback(sink.Callback());
  std::vector<std::string> sids;
  for (int64_t lead = 1; lead <= 5; ++lead) {
    std::optional<std::string> sid = Place(dialer, Request(4, lead, PlainPhone(lead)));
    ASSERT_TRUE(sid.has_value());
    sids.push_back(*sid);
  }
  std::vector<OutcomeSink::Delivery> got = sink.Await(5);
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].call_sid, sids[i]) << i;
}

// A call id decodes to "in progress" before its end and to its outcome after,
// in any instance (the id carries the outcome and end time).
TEST(SimulatedDialerTest, LookupByCallIdDecodesOutcomeAndEndTime) {
  SimulatedDialer dialer(Options(absl::Milliseconds(300)));
  SimulatedDialer elsewhere(Options(absl::Seconds(1)));
  OutcomeSink sink;
  dialer.SetEventCallback(sink.Callback());
  const DialRequest request = Request(11, 3, PlainPhone(3));
  std::optional<std::string> sid = Place(dialer, request);
  ASSERT_TRUE(sid.has_value());

  for (SimulatedDialer* who : {&dialer, &elsewhere}) {
    absl::StatusOr<std::optional<CallState>> during = who->LookupByCallId(*sid);
    ASSERT_TRUE(during.ok()) << during.status();
    ASSERT_TRUE(during->has_value());
    EXPECT_EQ((*during)->call_sid, *sid);
    EXPECT_FALSE((*during)->outcome.has_value()) << "the call is still in progress";
  }

  ASSERT_EQ(sink.Await(1).size(), 1u);
  std::optional<CallOutcome> planned = dialer.PlannedOutcome(11, 3, request.phone);
  for (SimulatedDialer* who : {&dialer, &elsewhere}) {
    absl::StatusOr<std::optional<CallState>> after = who->LookupByCallId(*sid);
    ASSERT_TRUE(after.ok()) << after.status();
    ASSERT_TRUE(after->has_value());
    ASSERT_TRUE((*after)->outcome.has_value()) << "the call has ended";
    EXPECT_EQ((*after)->outcome->status, planned->status);
    EXPECT_EQ((*after)->outcome->error, planned->error);
  }

  // Ids the simulated provider never issued are unknown.
  for (const char* bogus : {"", "CA1234", "SIM", "SIMzz-C-token", "SIM12-C", "SIM12-CC-tok"}) {
    absl::StatusOr<std::optional<CallState>> unknown = dialer.LookupByCallId(bogus);
    ASSERT_TRUE(unknown.ok()) << bogus;
    EXPECT_FALSE(unknown->has_value()) << "\"" << bogus << "\" decoded as a call";
  }
}

// Each magic outcome survives the round trip through the call id.
TEST(SimulatedDialerTest, CallIdCarriesEveryOutcome) {
  SimulatedDialer dialer(Options(absl::ZeroDuration()));
  SimulatedDialer elsewhere(Options(absl::Seconds(1)));
  const std::map<std::string, JobStatus> want = {{"+14155550001", JobStatus::kBusy},
                                                 {"+14155550002", JobStatus::kNoAnswer},
                                                 {"+14155550003", JobStatus::kFailed}};
  int64_t lead = 0;
  for (const auto& [phone, status] : want) {
    std::optional<std::string> sid = Place(dialer, Request(2, ++lead, phone));
    ASSERT_TRUE(sid.has_value());
    absl::StatusOr<std::optional<CallState>> state = elsewhere.LookupByCallId(*sid);
    ASSERT_TRUE(state.ok() && state->has_value() && (*state)->outcome.has_value()) << phone;
    EXPECT_EQ((*state)->outcome->status, status) << phone;
  }
}

// LookupByToken finds a call this instance placed, and one that another
// instance (another process) placed when both share the dial log; without
// the shared log the other instance cannot know it.
TEST(SimulatedDialerTest, LookupByTokenFindsCallsOfAnotherInstanceThroughTheDialLog) {
  TempDialLog log;
  SimulatedDialer placer(Options(absl::Seconds(30), log.path()));
  SimulatedDialer reader(Options(absl::Seconds(30), log.path()));
  SimulatedDialer blind(Options(absl::Seconds(30)));

  // Fill the log with other calls around the one looked up.
  for (int64_t lead = 1; lead <= 20; ++lead) {
    ASSERT_TRUE(Place(placer, Request(6, lead, PlainPhone(lead))).has_value());
  }
  std::optional<std::string> sid = Place(placer, Request(6, 100, PlainPhone(100), "tok-abc-123"));
  ASSERT_TRUE(sid.has_value());
  // A token that is a prefix of another must not match it.
  ASSERT_TRUE(Place(placer, Request(6, 101, PlainPhone(101), "tok-abc-1234")).has_value());

  for (SimulatedDialer* who : {&placer, &reader}) {
    absl::StatusOr<std::optional<CallState>> found = who->LookupByToken("tok-abc-123");
    ASSERT_TRUE(found.ok()) << found.status();
    ASSERT_TRUE(found->has_value());
    EXPECT_EQ((*found)->call_sid, *sid);
    EXPECT_FALSE((*found)->outcome.has_value()) << "the 30 s call is in progress";
  }
  absl::StatusOr<std::optional<CallState>> missing = reader.LookupByToken("tok-none");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  absl::StatusOr<std::optional<CallState>> unseen = blind.LookupByToken("tok-abc-123");
  ASSERT_TRUE(unseen.ok());
  EXPECT_FALSE(unseen->has_value()) << "an instance without the shared log knows no other calls";
}

// A finished call found by token through the log reports its outcome.
TEST(SimulatedDialerTest, LookupByTokenReportsTheOutcomeOfAnEndedCall) {
  TempDialLog log;
  SimulatedDialer placer(Options(absl::ZeroDuration(), log.path()));
  SimulatedDialer reader(Options(absl::Seconds(1), log.path()));
  ASSERT_TRUE(Place(placer, Request(8, 1, "+14155550001", "tok-busy")).has_value());
  absl::StatusOr<std::optional<CallState>> found = reader.LookupByToken("tok-busy");
  ASSERT_TRUE(found.ok() && found->has_value());
  ASSERT_TRUE((*found)->outcome.has_value());
  EXPECT_EQ((*found)->outcome->status, JobStatus::kBusy);
}

// MaxConcurrentCalls keeps the high-water mark per run; ActiveCalls follows
// calls as they start, end and are hung up.
TEST(SimulatedDialerTest, TracksActiveAndMostConcurrentCallsPerRun) {
  SimulatedDialer dialer(Options(absl::Hours(1)));
  std::vector<std::string> run1;
  for (int64_t lead = 1; lead <= 3; ++lead) {
    std::optional<std::string> sid = Place(dialer, Request(1, lead, PlainPhone(lead)));
    ASSERT_TRUE(sid.has_value());
    run1.push_back(*sid);
  }
  ASSERT_TRUE(Place(dialer, Request(2, 1, PlainPhone(1))).has_value());
  EXPECT_FALSE(Place(dialer, Request(1, 9, "+14155550004")).has_value());
  EXPECT_EQ(dialer.ActiveCalls(1), 3);
  EXPECT_EQ(dialer.MaxConcurrentCalls(1), 3);
  EXPECT_EQ(dialer.ActiveCalls(2), 1);
  EXPECT_EQ(dialer.MaxConcurrentCalls(2), 1);
  EXPECT_EQ(dialer.ActiveCalls(3), 0);
  EXPECT_EQ(dialer.MaxConcurrentCalls(3), 0);
  EXPECT_EQ(dialer.TotalDials(), 5);

  ASSERT_TRUE(dialer.HangUp(run1[0]).ok());
  ASSERT_TRUE(dialer.HangUp(run1[1]).ok());
  EXPECT_EQ(dialer.ActiveCalls(1), 1);
  EXPECT_EQ(dialer.MaxConcurrentCalls(1), 3) << "the high-water mark stays";
  ASSERT_TRUE(Place(dialer, Request(1, 4, PlainPhone(4))).has_value());
  EXPECT_EQ(dialer.ActiveCalls(1), 2);
  EXPECT_EQ(dialer.MaxConcurrentCalls(1), 3);
  ASSERT_TRUE(Place(dialer, Request(1, 5, PlainPhone(5))).has_value());
  ASSERT_TRUE(Place(dialer, Request(1, 6, PlainPhone(6))).has_value());
  EXPECT_EQ(dialer.ActiveCalls(1), 4);
  EXPECT_EQ(dialer.MaxConcurrentCalls(1), 4);
  EXPECT_EQ(dialer.ActiveCalls(2), 1) << "runs are counted apart";
}

// Active calls drop back to zero as outcomes are delivered.
TEST(SimulatedDialerTest, ActiveCallsEndWithTheirOutcomes) {
  SimulatedDialer dialer(Options(absl::Milliseconds(10)));
  OutcomeSink sink;
  dialer.SetEventCallback(sink.Callback());
  for (int64_t lead = 1; lead <= 8; ++lead) {
    ASSERT_TRUE(Place(dialer, Request(5, lead, PlainPhone(lead))).has_value());
  }
  EXPECT_EQ(sink.Await(8).size(), 8u);
  EXPECT_EQ(dialer.ActiveCalls(5), 0);
  EXPECT_GE(dialer.MaxConcurrentCalls(5), 1);
  EXPECT_LE(dialer.MaxConcurrentCalls(5), 8);
}

// With a dial latency, Dial returns before the provider answers: the call is
// accepted `dial_latency` after the dial and ends `call_duration` after that,
// and a refusal also takes the latency. Many dials wait at once.
TEST(SimulatedDialerTest, DialLatencyDelaysTheAnswerNotTheCaller) {
  constexpr absl::Duration kLatency = absl::Milliseconds(150);
  constexpr absl::Duration kDuration = absl::Milliseconds(50);
  SimulatedDialerOptions options = Options(kDuration);
  options.dial_latency = kLatency;
  SimulatedDialer dialer(options);
  OutcomeSink sink;
  dialer.SetEventCallback(sink.Callback());
  const absl::Time before = absl::Now();
  for (int64_t lead = 1; lead <= 20; ++lead) dialer.Dial(Request(13, lead, PlainPhone(lead)));
  dialer.Dial(Request(13, 99, "+14155550004"));
  // All 21 were asked for before the first answer was due.
  EXPECT_LT(absl::Now() - before, kLatency) << "Dial waited for the provider";
  EXPECT_EQ(dialer.ActiveCalls(13), 20);
  EXPECT_TRUE(sink.Snapshot().empty());

  std::vector<OutcomeSink::Delivery> accepted = sink.AwaitAccepted(20);
  ASSERT_EQ(accepted.size(), 20u);
  for (const OutcomeSink::Delivery& a : accepted) EXPECT_GE(a.at - before, kLatency);
  std::vector<OutcomeSink::Delivery> refused = sink.AwaitRejected(1);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_GE(refused[0].at - before, kLatency);
  std::vector<OutcomeSink::Delivery> ended = sink.Await(20);
  ASSERT_EQ(ended.size(), 20u);
  for (const OutcomeSink::Delivery& e : ended) EXPECT_GE(e.at - before, kLatency + kDuration);
  EXPECT_EQ(dialer.ActiveCalls(13), 0);
  EXPECT_EQ(dialer.MaxConcurrentCalls(13), 20);
}

// A call hung up while the provider has not answered yet ends once, and is
// never accepted afterwards.
TEST(SimulatedDialerTest, HangUpBeforeTheAnswerEndsTheCallOnce) {
  SimulatedDialerOptions options = Options(absl::Milliseconds(10));
  options.dial_latency = absl::Milliseconds(100);
  SimulatedDialer dialer(options);
  OutcomeSink sink;
  dialer.SetEventCallback(sink.Callback());
  std::optional<std::string> hung = Place(dialer, Request(14, 1, PlainPhone(1)));
  ASSERT_TRUE(hung.has_value());
  ASSERT_TRUE(dialer.HangUp(*hung).ok());
  // A later call's events come after the hung-up call's deadlines.
  std::optional<std::string> later = Place(dialer, Request(14, 2, PlainPhone(2)));
  ASSERT_TRUE(later.has_value());
  std::vector<OutcomeSink::Delivery> ended = sink.Await(2);
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_EQ(ended[0].call_sid, *hung);
  EXPECT_EQ(ended[0].outcome.error, "hung up");
  EXPECT_EQ(ended[1].call_sid, *later);
  std::vector<OutcomeSink::Delivery> accepted = sink.AwaitAccepted(1);
  ASSERT_EQ(accepted.size(), 1u) << "the hung-up call was accepted after all";
  EXPECT_EQ(accepted[0].call_sid, *later);
}

// HangUp ends a call at once with a failed "hung up" outcome delivered
// exactly once; the call's own deadline then delivers nothing; unknown or
// already ended calls are NOT_FOUND.
TEST(SimulatedDialerTest, HangUpEndsTheCallOnce) {
  SimulatedDialer dialer(Options(absl::Milliseconds(40)));
  OutcomeSink sink;
  dialer.SetEventCallback(sink.Callback());
  std::optional<std::string> hung = Place(dialer, Request(7, 1, PlainPhone(1)));
  ASSERT_TRUE(hung.has_value());
  ASSERT_TRUE(dialer.HangUp(*hung).ok());
  // Delivered synchronously by HangUp.
  std::vector<OutcomeSink::Delivery> now = sink.Snapshot();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].call_sid, *hung);
  EXPECT_EQ(now[0].outcome.status, JobStatus::kFailed);
  EXPECT_TRUE(absl::StrContains(now[0].outcome.error, "hung up")) << now[0].outcome.error;
  EXPECT_EQ(dialer.ActiveCalls(7), 0);

  EXPECT_EQ(dialer.HangUp(*hung).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(dialer.HangUp("SIM1-C-nothing").code(), absl::StatusCode::kNotFound);

  // A call placed after it ends after it: once its outcome arrives, the
  // hung-up call's deadline has passed too.
  std::optional<std::string> later = Place(dialer, Request(7, 2, PlainPhone(2)));
  ASSERT_TRUE(later.has_value());
  std::vector<OutcomeSink::Delivery> got = sink.Await(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].call_sid, *later);
  int for_hung = 0;
  for (const OutcomeSink::Delivery& delivery : sink.Snapshot()) {
    if (delivery.call_sid == *hung) ++for_hung;
  }
  EXPECT_EQ(for_hung, 1) << "a hung-up call delivers exactly one outcome";
  EXPECT_EQ(dialer.HangUp(*later).code(), absl::StatusCode::kNotFound)
      << "an ended call cannot be hung up";
}

// Every dial appends one well-formed line; lines of several instances and
// threads writing at once never interleave.
TEST(SimulatedDialerTest, DialLogLinesNeverInterleave) {
  TempDialLog log;
  constexpr int kThreads = 4;
  constexpr int kDialsPerThread = 300;
  SimulatedDialer a(Options(absl::ZeroDuration(), log.path()));
  SimulatedDialer b(Options(absl::ZeroDuration(), log.path()));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SimulatedDialer& dialer = t % 2 == 0 ? a : b;
      for (int i = 0; i < kDialsPerThread; ++i) {
        const int64_t lead = t * kDialsPerThread + i + 1;
        DialRequest request = Request(12, lead, PlainPhone(lead));
        request.worker = absl::StrCat("w", t);
        EXPECT_TRUE(Place(dialer, request).has_value());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(a.TotalDials() + b.TotalDials(), kThreads * kDialsPerThread);

  std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kDialsPerThread));
  std::set<int64_t> leads;
  for (const std::string& line : lines) {
    std::optional<LogLine> parsed = ParseLine(line);
    ASSERT_TRUE(parsed.has_value());
    int64_t lead = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parsed->fields["lead"], &lead)) << line;
    EXPECT_EQ(parsed->fields["run"], "12");
    EXPECT_EQ(parsed->fields["job"], absl::StrCat(1000 + lead));
    EXPECT_EQ(parsed->fields["phone"], PlainPhone(lead));
    EXPECT_EQ(parsed->fields["worker"], absl::StrCat("w", (lead - 1) / kDialsPerThread));
    EXPECT_EQ(parsed->fields["token"], absl::StrCat("token-12-", lead));
    EXPECT_TRUE(absl::StartsWith(parsed->fields["sid"], "SIM")) << line;
    EXPECT_LE(absl::AbsDuration(absl::Now() - parsed->time), absl::Minutes(1)) << line;
    leads.insert(lead);
  }
  EXPECT_EQ(leads.size(), lines.size()) << "each dial is logged exactly once";
}

// --sim-outcomes: valid mixes set the options; malformed ones are rejected
// with a message naming the problem, leaving the options untouched.
TEST(ParseOutcomeMixTest, AcceptsValidMixes) {
  SimulatedDialerOptions options;
  ASSERT_TRUE(ParseOutcomeMix("completed=80,no_answer=10,busy=5", &options).ok());
  EXPECT_EQ(options.completed_percent, 80);
  EXPECT_EQ(options.no_answer_percent, 10);
  EXPECT_EQ(options.busy_percent, 5);
  ASSERT_TRUE(ParseOutcomeMix("busy=100", &options).ok());
  EXPECT_EQ(options.completed_percent, 0);
  EXPECT_EQ(options.no_answer_percent, 0);
  EXPECT_EQ(options.busy_percent, 100);
  ASSERT_TRUE(ParseOutcomeMix("no_answer=30,completed=70", &options).ok());
  EXPECT_EQ(options.completed_percent, 70);
  EXPECT_EQ(options.no_answer_percent, 30);
  EXPECT_EQ(options.busy_percent, 0);
}

TEST(ParseOutcomeMixTest, RejectsMalformedMixes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"completed=abc", "completed=abc"},
      {"completed=101", "completed=101"},
      {"completed=-1", "completed=-1"},
      {"completed", "completed"},
      {"completed=", "completed="},
      {"bogus=5", "bogus"},
      {"completed=60,no_answer=30,busy=20", "more than 100"},
  };
  for (const auto& [mix, mentions] : cases) {
    SimulatedDialerOptions options;
    options.completed_percent = 11;
    options.no_answer_percent = 22;
    options.busy_percent = 33;
    absl::Status status = ParseOutcomeMix(mix, &options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << mix << ": " << status;
    EXPECT_TRUE(absl::StrContains(status.message(), mentions))
        << mix << ": message \"" << status.message() << "\" should mention \"" << mentions << "\"";
    EXPECT_TRUE(absl::StrContains(status.message(), "--sim-outcomes")) << status.message();
    EXPECT_EQ(options.completed_percent, 11) << mix << " changed the options";
    EXPECT_EQ(options.no_answer_percent, 22) << mix;
    EXPECT_EQ(options.busy_percent, 33) << mix;
  }
}

}  // namespace
}  // namespace campaign::dialer
