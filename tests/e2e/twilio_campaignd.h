// The fixture of the `campaignd serve --dialer=twilio` end-to-end tests:
// replicas started as child processes against the loopback fake Twilio and a
// real database, with the helpers those tests share (the webhook port from
// a replica's log, signed callbacks through a stand-in for a TLS-terminating
// proxy, the inbox's rows).
#ifndef CAMPAIGN_TESTS_E2E_TWILIO_CAMPAIGND_H_
#define CAMPAIGN_TESTS_E2E_TWILIO_CAMPAIGND_H_

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/store/database.h"
#include "server/store/run_store.h"
#include "server/twilio/form.h"
#include "tests/scheduler/scheduler_test_support.h"
#include "tests/support/fake_twilio.h"
#include "tests/support/leads.h"
#include "tests/support/test_database.h"
#include "tests/support/wait.h"

namespace campaign::testing {

// The public base URL of the webhook (https: behind a TLS-terminating proxy).
inline constexpr char kPublicUrl[] = "https://hooks.example.test/campaign";
// The replicas' --twilio-from.
inline constexpr char kFrom[] = "+15005550006";

// The port of `process`'s status-callback listener, from its start-up log
// line; 0 when it did not appear within the wait.
inline int WebhookPort(const sched::Campaignd& process) {
  int port = 0;
  WaitUntil([&] {
    const std::string err = process.Stderr();
    const size_t line = err.find("twilio status callbacks on ");
    if (line == std::string::npos) return false;
    const size_t start = err.find("(port ", line);
    const size_t end = err.find(')', start);
    return start != std::string::npos && end != std::string::npos &&
           absl::SimpleAtoi(err.substr(start + 6, end - start - 6), &port);
  });
  return port;
}

// Stops `process` with SIGTERM; it must exit cleanly.
inline void Terminate(sched::Campaignd& process) {
  process.Signal(SIGTERM);
  std::optional<int> status = process.WaitExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << process.name() << " did not exit on SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << process.name() << " status " << *status;
}

// A database with one business, a fake Twilio (enough HTTP threads for 500
// creates in flight) and the replicas a test starts; the replicas' stderr is
// printed when the test failed.
class TwilioCampaigndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_.Migrate();
    business_id_ = db_.CreateBusiness("twilio test");
    // The replicas enforce the calls-per-second governor (the default with
    // --dialer=twilio); at the default of 1 call per second these tests
    // would crawl. tests/e2e/rate_governor_test.cc tests the limit itself.
    db_.ExecAsAdmin(absl::StrCat("UPDATE business SET max_calls_per_second = 1000 WHERE id = ",
                                 business_id_));
    database_ = std::make_unique<store::Database>(db_.app_url(), store::PoolOptions{.size = 2});
    runs_ = std::make_unique<store::RunStore>(database_.get(), absl::Seconds(10));
    inspect_ = std::make_unique<sched::Inspector>(db_.admin_url());
    std::ofstream(token_file_.path()) << fake_.options().auth_token << "\n";
  }

  void TearDown() override {
    if (!HasFailure()) return;
    for (const auto& process : processes_) {
      std::string err = process->Stderr();
      if (err.size() > 6000) err = err.substr(err.size() - 6000);
      std::cerr << "---- stderr of campaignd " << process->name() << " (tail) ----\n" << err;
    }
  }

  // Flags of a replica dialing through the fake (change the map to override).
  std::map<std::string, std::string> Flags(const std::string& worker) const {
    return {
        {"database-url", db_.app_url()},
        {"listen", "127.0.0.1:0"},
        {"migrate", "false"},
        {"db-pool-size", "4"},
        {"handler-threads", "2"},
        {"lease-ttl", "10s"},
        {"heartbeat-interval", "300ms"},
        {"poll-interval", "20ms"},
        {"worker-id", worker},
        {"dialer", "twilio"},
        {"twilio-account-sid", fake_.options().account_sid},
        {"twilio-auth-token-file", token_file_.path()},
        {"twilio-api-base", fake_.BaseUrl()},
        {"twilio-from", kFrom},
        {"twilio-twiml-url", "https://twiml.example.test/voice.xml"},
        {"twilio-poll-interval", "50ms"},
        {"webhook-listen", "127.0.0.1:0"},
        {"webhook-public-url", kPublicUrl},
    };
  }

  // Starts `campaignd serve` with `flags`; the fixture keeps it.
  sched::Campaignd& Start(const std::string& name, std::map<std::string, std::string> flags) {
    processes_.push_back(std::make_unique<sched::Campaignd>(name, flags));
    return *processes_.back();
  }

  // Creates a run of `leads` leads (MakeLeads) through the store.
  int64_t CreateRun(int leads, int32_t concurrency) {
    return sched::CreateStoreRun(*runs_, business_id_, "twilio-test", concurrency,
                                 MakeLeads(leads));
  }

  // Sends the callback of `sid` with `status` (signed unless `mode` says
  // otherwise) through the listener at `port`; returns the HTTP status.
  int Send(int port, const std::string& sid, const std::string& status,
           const twilio::FormParams& extra = {}, SignMode mode = SignMode::kSigned) {
    fake_.SetCallbackDelivery(kPublicUrl, absl::StrCat("http://127.0.0.1:", port));
    absl::StatusOr<int> answer = fake_.SendCallStatus(sid, status, extra, mode);
    EXPECT_TRUE(answer.ok()) << answer.status();
    return answer.ok() ? *answer : 0;
  }

  // Rows of the call-event inbox matching `where`.
  int64_t Events(const std::string& where) {
    return inspect_->Int(absl::StrCat("SELECT count(*) FROM outbound_call_events WHERE ", where));
  }

  // Declared first: outlives the processes that call it.
  FakeTwilio fake_{FakeTwilio::Options{.threads = 700}};
  TestDatabase db_;
  int64_t business_id_ = 0;
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<store::RunStore> runs_;
  std::unique_ptr<sched::Inspector> inspect_;
  sched::TempPath token_file_{"twilio-auth-token"};
  std::vector<std::unique_ptr<sched::Campaignd>> processes_;
};

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_E2E_TWILIO_CAMPAIGND_H_
