// The rate governor end to end (issue 12): a business's calls-per-second
// limit holds across two `campaignd serve --dialer=twilio` replicas dialing
// three runs of that business through the loopback fake Twilio. The fake's
// arrival time of every create request is the oracle: over every sliding
// window the count stays within the documented bound (docs/design.md,
// "Calls per second"), and dialing went on at about the limit, every run
// getting its turn. `campaignd set-business-limits` sets the limit.
// Every wait polls for a state up to a bound; nothing sleeps to synchronise.

#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/run_store.h"
#include "server/twilio/form.h"
#include "tests/e2e/twilio_campaignd.h"
#include "tests/scheduler/scheduler_test_support.h"
#include "tests/support/fake_twilio.h"
#include "tests/support/leads.h"
#include "tests/support/test_database.h"
#include "tests/support/wait.h"

namespace campaign {
namespace {

using testing::MakeLeads;
using testing::WaitUntil;
using testing::sched::Campaignd;
using testing::sched::JobRow;

// The limit under test and the bucket capacity it implies
// (campaign_dial_capacity: max(1, cps / 10)).
constexpr double kCps = 5;
constexpr double kCapacity = 1;
constexpr int kRuns = 3;
constexpr int kLeadsPerRun = 15;
constexpr int kDials = kRuns * kLeadsPerRun;
// The spread of the delay between a claim's commit (when the bucket is
// debited) and the fake's receipt of the create request: the dial gate's
// transaction, the hand-over to the dialer's HTTP threads and the loopback
// request. A few milliseconds on an idle machine; the allowance covers a
// loaded 2-core CI machine where either replica may be descheduled for a
// while. Dials received in a window of T seconds were claimed in a window
// of at most T + kJitter seconds.
constexpr absl::Duration kJitter = absl::Milliseconds(250);

// The output and exit code of `campaignd <args>` (stdout and stderr).
struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult RunCampaignd(const std::vector<std::string>& args) {
  std::string command = CAMPAIGND_PATH;
  for (const std::string& arg : args) absl::StrAppend(&command, " '", arg, "'");
  absl::StrAppend(&command, " 2>&1");
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[512];
  size_t read = 0;
  while ((read = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, read);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The Twilio fixture's database, business and fake, with replicas that hold
// at most two runs of one business each.
class RateGovernorTest : public testing::TwilioCampaigndTest {
 protected:
  // A replica dialing through the fake. At most two runs of one business per
  // replica, so the three runs are spread over both.
  Campaignd& StartReplica(const std::string& worker) {
    std::map<std::string, std::string> flags = Flags(worker);
    flags["max-runs-per-business"] = "2";
    return Start(worker, flags);
  }

  int64_t CreateRun(int index) {
    // Concurrency 20: far more slots than the limit lets the run use, so only
    // the bucket paces the dials (no call ends during the test).
    return testing::sched::CreateStoreRun(*runs_, business_id_, absl::StrCat("governed-", index),
                                          /*concurrency=*/20,
                                          MakeLeads(kLeadsPerRun, 1 + index * 1000));
  }
};

TEST_F(RateGovernorTest, SetBusinessLimitsValidatesAndPrintsTheBusiness) {
  const std::string business = absl::StrCat(business_id_);
  CommandResult set = RunCampaignd({"set-business-limits", "--database-url=" + db_.app_url(),
                                    "--business-id=" + business, "--max-calls-per-second=2.5"});
  EXPECT_EQ(set.exit_code, 0) << set.output;
  EXPECT_TRUE(absl::StrContains(set.output, absl::StrCat("id=", business,
                                                         " name=twilio test"
                                                         " max_calls_per_second=2.5")))
      << set.output;
  for (const std::string bad : {"0", "-1", "1000.5", "lots"}) {
    CommandResult refused =
        RunCampaignd({"set-business-limits", "--database-url=" + db_.app_url(),
                      "--business-id=" + business, "--max-calls-per-second=" + bad});
    EXPECT_NE(refused.exit_code, 0) << bad << ": " << refused.output;
  }
  CommandResult unknown = RunCampaignd({"set-business-limits", "--database-url=" + db_.app_url(),
                                        "--business-id=999999", "--max-calls-per-second=3"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_TRUE(absl::StrContains(unknown.output, "NOT_FOUND: business 999999 not found"))
      << unknown.output;
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT (max_calls_per_second * 10)::int8 FROM business"
                                      " WHERE id = ",
                                      business)),
            25);
}

TEST_F(RateGovernorTest, TwoReplicasAndThreeRunsOfOneBusinessStayWithinItsCallsPerSecond) {
  CommandResult set =
      RunCampaignd({"set-business-limits", "--database-url=" + db_.app_url(),
                    absl::StrCat("--business-id=", business_id_), "--max-calls-per-second=5"});
  ASSERT_EQ(set.exit_code, 0) << set.output;
  StartReplica("replica-a");
  StartReplica("replica-b");
  std::map<std::string, int> run_of_phone;
  std::vector<int64_t> run_ids;
  for (int i = 0; i < kRuns; ++i) {
    run_ids.push_back(CreateRun(i));
    for (const JobRow& job : inspect_->Jobs(run_ids.back())) run_of_phone[job.phone] = i;
  }

  // Both replicas hold runs of the business (at most two each).
  std::set<std::string> holders;
  ASSERT_TRUE(WaitUntil(
      [&] {
        holders.clear();
        for (int64_t run : run_ids) {
          const std::string holder = inspect_->Text(absl::StrCat(
              "SELECT coalesce(locked_by_worker, '') FROM outbound_call_runs WHERE id = ", run));
          if (!holder.empty()) holders.insert(holder);
        }
        return holders.size() == 2;
      },
      absl::Seconds(30)))
      << holders.size();

  ASSERT_TRUE(WaitUntil([&] { return fake_.CreateCount() >= kDials; }, absl::Seconds(60)))
      << fake_.CreateCount() << " of " << kDials << " dials";
  std::vector<testing::FakeCreate> creates = fake_.Creates();
  ASSERT_EQ(creates.size(), static_cast<size_t>(kDials)) << "every lead dialed exactly once";
  std::vector<absl::Time> received;
  std::vector<int> run_of_dial;
  for (const testing::FakeCreate& create : creates) {
    received.push_back(create.received);
    const std::string to = twilio::FindParam(create.form, "To").value_or("");
    ASSERT_EQ(run_of_phone.count(to), 1u) << to;
    run_of_dial.push_back(run_of_phone[to]);
  }
  std::sort(received.begin(), received.end());

  // Over every window of T seconds starting at a dial: at most
  // capacity + cps * (T + jitter) dials.
  for (absl::Duration window :
       {absl::Milliseconds(500), absl::Seconds(1), absl::Seconds(2), absl::Seconds(5)}) {
    const int bound = static_cast<int>(kCapacity + kCps * absl::ToDoubleSeconds(window + kJitter));
    int worst = 0;
    for (size_t i = 0; i < received.size(); ++i) {
      const auto end = std::lower_bound(received.begin() + i, received.end(), received[i] + window);
      worst = std::max(worst, static_cast<int>(end - (received.begin() + i)));
    }
    EXPECT_LE(worst, bound) << "dials in a window of " << window;
  }
  // Not starved: the whole span is about what the limit allows
  // ((kDials - capacity) / cps = 8.8 s), not far more.
  const double span = absl::ToDoubleSeconds(received.back() - received.front());
  EXPECT_GE(span, (kDials - kCapacity) / kCps - absl::ToDoubleSeconds(kJitter));
  EXPECT_LE(span, (kDials - kCapacity) / kCps * 1.6) << "dialing far below the limit";
  // Every run had its turn early on (no run waited for the others to end).
  std::map<int, int> early;
  for (int i = 0; i < kDials / 2; ++i) ++early[run_of_dial[i]];
  for (int run = 0; run < kRuns; ++run) {
    EXPECT_GE(early[run], 2) << "run " << run << " among the first " << kDials / 2 << " dials";
  }
  std::cerr << "governed dials: " << kDials << " in " << span << " s (" << (kDials - 1) / span
            << " per second at a limit of " << kCps << "); first half: " << early[0] << "/"
            << early[1] << "/" << early[2] << "\n";
}

}  // namespace
}  // namespace campaign
