// Free TCP ports on the loopback interface, for tests that start servers
// (PostgreSQL, PgBouncer, campaignd) which must be told their port up front.
#ifndef CAMPAIGN_TESTS_SUPPORT_PORTS_H_
#define CAMPAIGN_TESTS_SUPPORT_PORTS_H_

namespace campaign::testing {

// A port on 127.0.0.1 that nothing listens on right now: the kernel's pick
// for a socket bound to port 0, then closed. Another process may take it
// before the caller binds it, so a caller that can lose the race retries.
// Throws std::runtime_error when no socket can be bound.
int FreeLoopbackPort();

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_PORTS_H_
