// The Twilio dialer under the failures and the load a production account
// sees, end to end (`campaignd serve --dialer=twilio` processes, a real
// database, the loopback fake Twilio): the holder killed with creates
// answered, refused with 429/500 and hung at Twilio; and 500 calls in flight
// against a provider that takes 300 ms to answer each create. The fake's
// record of create requests is the oracle of what was dialed.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/twilio/form.h"
#include "tests/e2e/twilio_campaignd.h"
#include "tests/scheduler/scheduler_test_support.h"
#include "tests/support/fake_twilio.h"
#include "tests/support/wait.h"

namespace campaign {
namespace {

using testing::AutoStep;
using testing::FakeCreate;
using testing::FakeReply;
using testing::TwilioCampaigndTest;
using testing::WaitUntil;
using testing::WebhookPort;
using testing::sched::AllFinal;
using testing::sched::Campaignd;
using testing::sched::CountersExact;
using testing::sched::JobRow;
using testing::sched::RunRow;

// Plays Twilio's side of every call the fake created, on its own thread:
// sends "initiated" for each new call at once, and "completed" once
// completing is allowed — each callback to whichever listener port is
// current. Every callback must be acknowledged (204).
class CallDriver {
 public:
  CallDriver(testing::FakeTwilio& fake, int port) : fake_(fake), port_(port) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~CallDriver() {
    stop_ = true;
    thread_.join();
  }

  // From now on, calls are completed after their "initiated".
  void CompleteCalls() { complete_ = true; }
  int Initiated() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(initiated_.size());
  }
  // Callbacks not answered 204.
  int Refused() const { return refused_; }

 private:
  void Loop() {
    while (!stop_) {
      bool sent = false;
      for (const FakeCreate& create : fake_.Creates()) {
        if (create.call_sid.empty()) continue;
        bool initiated = false;
        bool completed = false;
        {
          absl::MutexLock lock(&mu_);
          initiated = initiated_.count(create.call_sid) > 0;
          completed = completed_.count(create.call_sid) > 0;
        }
        if (!initiated) {
          Send(create.call_sid, "initiated", {{"SequenceNumber", "0"}});
          absl::MutexLock lock(&mu_);
          initiated_.insert(create.call_sid);
          sent = true;
        } else if (complete_ && !completed) {
          Send(create.call_sid, "completed", {{"SequenceNumber", "3"}, {"CallDuration", "5"}});
          absl::MutexLock lock(&mu_);
          completed_.insert(create.call_sid);
          sent = true;
        }
      }
      if (!sent) absl::SleepFor(absl::Milliseconds(10));
    }
  }

  void Send(const std::string& sid, const std::string& status, const twilio::FormParams& extra) {
    fake_.SetCallbackDelivery(testing::kPublicUrl, absl::StrCat("http://127.0.0.1:", port_));
    absl::StatusOr<int> answer = fake_.SendCallStatus(sid, status, extra);
    if (!answer.ok() || *answer != 204) ++refused_;
  }

  testing::FakeTwilio& fake_;
  const int port_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> complete_{false};
  std::atomic<int> refused_{0};
  mutable absl::Mutex mu_;
  std::set<std::string> initiated_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> completed_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// The calls the fake created per To number (the oracle of dials).
std::map<std::string, std::vector<std::string>> CallsByPhone(testing::FakeTwilio& fake) {
  std::map<std::string, std::vector<std::string>> calls;
  for (const FakeCreate& create : fake.Creates()) {
    if (create.call_sid.empty()) continue;
    calls[twilio::FindParam(create.form, "To").value_or("")].push_back(create.call_sid);
  }
  return calls;
}

// The holder is killed (-9) with a full claim batch at Twilio: some creates
// answered, two retried after 429, one after 500, two hung. The hung ones
// become calls after the holder died (Twilio placed them; nobody heard the
// answer). The survivor takes the run over after the lease TTL, finds every
// one of those calls (by call id, or by dial token through the callbacks
// in the inbox), dials the rest, and no lead is ever created twice.
TEST_F(TwilioCampaigndTest, KillingTheHolderMidBatchDialsNoLeadTwice) {
  constexpr int kLeads = 40;
  constexpr int kConcurrency = 8;
  // The first batch's eight creates, in arrival order; retries and every
  // later create get the default (201 at once).
  for (const FakeReply& reply :
       {FakeReply::TooManyRequests(), FakeReply::TooManyRequests(), FakeReply::ServerError(),
        FakeReply::Ok(), FakeReply::Ok(), FakeReply::Ok(), FakeReply::Hang(),
        FakeReply::Hang()}) {
    fake_.PushReply(reply);
  }
  std::map<std::string, std::string> flags = Flags("doomed");
  flags["lease-ttl"] = "2s";
  Campaignd& doomed = Start("doomed", flags);
  ASSERT_GT(WebhookPort(doomed), 0);
  const int64_t run = CreateRun(kLeads, kConcurrency);
  ASSERT_TRUE(testing::sched::WaitForRunState(
      *inspect_, run, [](const RunRow& r) { return r.worker == "doomed"; },
      "held by doomed"));
  flags = Flags("survivor");
  flags["lease-ttl"] = "2s";
  Campaignd& survivor = Start("survivor", flags);
  const int survivor_port = WebhookPort(survivor);
  ASSERT_GT(survivor_port, 0);
  CallDriver driver(fake_, survivor_port);

  // Six calls placed (three at once, three after a retry), two creates hung.
  auto placed = [&] {
    int calls = 0;
    for (const FakeCreate& create : fake_.Creates()) calls += !create.call_sid.empty();
    return calls;
  };
  ASSERT_TRUE(WaitUntil([&] { return placed() == 6 && fake_.InFlightCreates() == 2; },
                        absl::Seconds(30)))
      << "placed " << placed() << ", in flight " << fake_.InFlightCreates();
  int refused = 0;
  for (const FakeCreate& create : fake_.Creates()) {
    refused += create.http_status == 429 || create.http_status == 500;
  }
  EXPECT_EQ(refused, 3) << "two 429s and a 500 before their retries";

  doomed.Signal(SIGKILL);
  ASSERT_TRUE(doomed.WaitExit(absl::Seconds(10)).has_value());
  // Twilio answers the hung creates after the holder died: two more calls
  // nobody recorded, known to the survivor only through their callbacks.
  fake_.ReleaseHung();
  ASSERT_TRUE(WaitUntil([&] { return placed() == 8 && driver.Initiated() == 8; },
                        absl::Seconds(20)));
  driver.CompleteCalls();

  RunRow done;
  ASSERT_TRUE(testing::sched::WaitForRunState(
      *inspect_, run, [](const RunRow& r) { return r.status == "completed"; }, "completed",
      &done, absl::Seconds(120)));
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));

  // The oracle: one call per lead, each job holding its lead's call, none
  // given up as unknown (every call was found again), no job dialed twice.
  const std::map<std::string, std::vector<std::string>> calls = CallsByPhone(fake_);
  for (const auto& [phone, sids] : calls) EXPECT_EQ(sids.size(), 1u) << phone << " dialed twice";
  EXPECT_EQ(calls.size(), static_cast<size_t>(kLeads));
  for (const JobRow& job : jobs) {
    SCOPED_TRACE(absl::StrCat("lead ", job.lead_id, " job ", job.id, " error ", job.error));
    EXPECT_EQ(job.status, "completed");
    EXPECT_EQ(job.attempts, 1);
    auto it = calls.find(job.phone);
    ASSERT_NE(it, calls.end());
    EXPECT_EQ(job.call_sid, it->second.front());
  }
  EXPECT_EQ(driver.Refused(), 0);
  // The survivor never hung up or re-created a call it took over.
  EXPECT_TRUE(fake_.Updates().empty());
}

// 500 calls in flight against a Twilio that answers each create after
// 300 ms and ends each call with a signed "completed" callback at once: the
// replica keeps ~500 creates open and dials at a rate near concurrency /
// latency (1,667 calls/s), not one request at a time. tools/bench
// (twilio_provider) measures the same pipeline precisely on a quiet machine
// (0.56 of the ideal here with the machine busy); this test runs beside
// others on 2 cores, so its bound is a quarter of the ideal: far above what
// a serialised pipeline reaches (a blocking client: 3 calls/s; a cap of 8
// connections: 27/s; the listener's Nagle stall or a per-callback database
// write: 100-250/s, both seen while this test was written).
TEST_F(TwilioCampaigndTest, FiveHundredCallsInFlightKeepTheRateNearConcurrencyOverLatency) {
  constexpr int kConcurrency = 500;
  constexpr int kLeads = 3000;
  const absl::Duration latency = absl::Milliseconds(300);
  fake_.SetDefaultReply(FakeReply::Slow(latency));
  fake_.SetAutoCallbacks({AutoStep{"completed", absl::ZeroDuration()}});
  std::map<std::string, std::string> flags = Flags("loaded");
  flags["max-concurrency"] = "1000";
  flags["db-pool-size"] = "8";
  // The pipeline alone: the business's limit (1,000 calls/s here) would
  // cap the rate below the 1,667/s under test.
  flags["enforce-calls-per-second"] = "false";
  Campaignd& loaded = Start("loaded", flags);
  const int port = WebhookPort(loaded);
  ASSERT_GT(port, 0);
  fake_.SetCallbackDelivery(testing::kPublicUrl, absl::StrCat("http://127.0.0.1:", port));

  const int64_t run = CreateRun(kLeads, kConcurrency);
  RunRow done;
  ASSERT_TRUE(testing::sched::WaitForRunState(
      *inspect_, run, [](const RunRow& r) { return r.status == "completed"; }, "completed",
      &done, absl::Seconds(120)));
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_EQ(done.completed, kLeads);

  const std::vector<FakeCreate> creates = fake_.Creates();
  ASSERT_EQ(creates.size(), static_cast<size_t>(kLeads));
  EXPECT_EQ(CallsByPhone(fake_).size(), static_cast<size_t>(kLeads));
  EXPECT_GE(fake_.MaxConcurrentCreates(), kConcurrency * 9 / 10);
  EXPECT_LE(fake_.MaxConcurrentCreates(), kConcurrency);
  EXPECT_EQ(fake_.AutoCallbacksFailed(), 0);
  // The rate from the first full batch on (the start-up's first claim
  // excluded): creates received after the first 500, over their span.
  const absl::Duration span = creates.back().received - creates[kConcurrency].received;
  const double rate = (kLeads - kConcurrency - 1) / absl::ToDoubleSeconds(span);
  const double ideal = kConcurrency / absl::ToDoubleSeconds(latency);
  std::cerr << "[ rate ] " << rate << " creates/s, " << rate / ideal << " of " << ideal
            << " (concurrency / latency); most in flight " << fake_.MaxConcurrentCreates()
            << "\n";
  EXPECT_GE(rate, ideal / 4);
}

}  // namespace
}  // namespace campaign
