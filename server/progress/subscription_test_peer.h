// Test-only access to the hooks of Subscription that the hub's pieces use
// (offer, follow, signal, detach), for unit tests of those pieces.
#ifndef CAMPAIGN_SERVER_PROGRESS_SUBSCRIPTION_TEST_PEER_H_
#define CAMPAIGN_SERVER_PROGRESS_SUBSCRIPTION_TEST_PEER_H_

#include <cstdint>

#include "server/progress/subscription.h"

namespace campaign::progress {

// Calls Subscription's private hooks.
class SubscriptionTestPeer {
 public:
  static bool Offer(Subscription& s, const Snapshot& snapshot) { return s.Offer(snapshot); }
  static void Follow(Subscription& s, int64_t run_id, int64_t after_version) {
    s.Follow(run_id, after_version);
  }
  static void Signal(Subscription& s) { s.Signal(); }
  static void Detach(Subscription& s) { s.Detach(); }
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_SUBSCRIPTION_TEST_PEER_H_
