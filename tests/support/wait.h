// The one wait helper of the tests: poll a condition until it holds or a
// deadline passes. Tests synchronise on observable events this way, never on
// sleeps of a guessed length. Header-only (Abseil only), so unit tests of
// server/ folders can use it too.
#ifndef CAMPAIGN_TESTS_SUPPORT_WAIT_H_
#define CAMPAIGN_TESTS_SUPPORT_WAIT_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace campaign::testing {

// How long WaitUntil waits by default: generous, for a busy 2-core machine.
inline constexpr absl::Duration kWaitTimeout = absl::Seconds(60);

// Polls `condition` every `every` until it holds or `timeout` passes; true
// when it held.
inline bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = kWaitTimeout,
                      absl::Duration every = absl::Milliseconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(every);
  }
}

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_WAIT_H_
