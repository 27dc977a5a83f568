// The loopback fake Twilio (tests/support/fake_twilio.h) as a process, for
// tools/bench: it answers every create request after --latency, then plays
// each call through Twilio's signed status callbacks ("initiated" at once,
// "completed" after --call_duration) to the call's StatusCallback URL.
//
// Prints "fake twilio on http://127.0.0.1:PORT (port PORT)" on stdout once it
// listens; on SIGTERM or SIGINT prints one JSON line of what it saw and
// exits 0.

#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "tests/support/fake_twilio.h"

ABSL_FLAG(absl::Duration, latency, absl::Milliseconds(300), "time to answer a create request");
ABSL_FLAG(absl::Duration, call_duration, absl::Seconds(1),
          "from the create's answer to the call's \"completed\" callback");
ABSL_FLAG(std::string, account_sid, "AC0123456789abcdef0123456789abcdef", "the account");
ABSL_FLAG(std::string, auth_token, "fake-auth-token", "the auth token (callbacks are signed)");
ABSL_FLAG(int, threads, 1100, "HTTP threads: at least the creates in flight at once");
ABSL_FLAG(int, callback_threads, 16, "threads sending status callbacks");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Blocked before any thread starts, so only sigwait sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  campaign::testing::FakeTwilio::Options options;
  options.account_sid = absl::GetFlag(FLAGS_account_sid);
  options.auth_token = absl::GetFlag(FLAGS_auth_token);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.callback_threads = absl::GetFlag(FLAGS_callback_threads);
  campaign::testing::FakeTwilio fake(options);
  fake.SetDefaultReply(campaign::testing::FakeReply::Slow(absl::GetFlag(FLAGS_latency)));
  fake.SetAutoCallbacks({{"initiated", absl::ZeroDuration()},
                         {"completed", absl::GetFlag(FLAGS_call_duration)}});
  const std::string base = fake.BaseUrl();
  std::cout << "fake twilio on " << base << " (port " << base.substr(base.rfind(':') + 1) << ")"
            << std::endl;

  int signal_number = 0;
  sigwait(&stop, &signal_number);
  std::cout << absl::StrFormat(
                   "{\"creates\": %d, \"max_creates_in_flight\": %d, \"callbacks_delivered\": %d, "
                   "\"callbacks_failed\": %d, \"callbacks_pending\": %d}",
                   fake.CreateCount(), fake.MaxConcurrentCreates(), fake.AutoCallbacksDelivered(),
                   fake.AutoCallbacksFailed(), fake.AutoCallbacksPending())
            << std::endl;
  return 0;
}
