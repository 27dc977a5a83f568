// Unit tests of the listener's payload parsing and connection string
// handling (the connection itself is exercised by tests/e2e/watch_test.cc).
#include "server/store/notification_listener.h"

#include <gtest/gtest.h>

namespace campaign::store {
namespace {

// Well-formed payloads parse; anything else is refused.
TEST(ListenerTest, ParsesPayloads) {
  std::optional<RunNotification> parsed = ParseNotification("3:42:17");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->business_id, 3);
  EXPECT_EQ(parsed->run_id, 42);
  EXPECT_EQ(parsed->version, 17);
  for (const char* bad : {"", "3:42", "3:42:17:1", "a:42:17", "3:0:1", "3::1", "3:42:x"}) {
    EXPECT_FALSE(ParseNotification(bad).has_value()) << bad;
  }
}

// application_name is added to URIs with and without a query, and to
// key=value strings.
TEST(ListenerTest, AddsApplicationName) {
  EXPECT_EQ(WithApplicationName("postgresql://u@h:5/db", "x"),
            "postgresql://u@h:5/db?application_name=x");
  EXPECT_EQ(WithApplicationName("postgresql://u@h/db?sslmode=disable", "x"),
            "postgresql://u@h/db?sslmode=disable&application_name=x");
  EXPECT_EQ(WithApplicationName("host=h dbname=db", "x"), "host=h dbname=db application_name=x");
}

}  // namespace
}  // namespace campaign::store
