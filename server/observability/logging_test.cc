// Log formats: JSON lines are valid JSON objects carrying the thread's
// fields, whatever bytes the message holds; text lines append key=value.
#include "server/observability/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "server/observability/metrics.h"
#include "server/observability/rpc_interceptor.h"

namespace campaign::observability {
namespace {

// A logger writing to a string in `format`.
struct CapturedLogger {
  explicit CapturedLogger(LogFormat format)
      : sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(out)), logger("test", sink) {
    logger.set_formatter(MakeLogFormatter(format));
  }
  std::ostringstream out;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink;
  spdlog::logger logger;
};

std::string Escaped(absl::string_view text) {
  std::string out;
  AppendJsonEscaped(text, &out);
  return out;
}

TEST(LoggingTest, JsonEscapingCoversQuotesControlsAndBadUtf8) {
  EXPECT_EQ(Escaped("plain"), "plain");
  EXPECT_EQ(Escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(Escaped("line\nnext\ttab\x01"), "line\\nnext\\ttab\\u0001");
  EXPECT_EQ(Escaped("caf\xc3\xa9"), "caf\xc3\xa9");  // valid UTF-8 kept
  EXPECT_EQ(Escaped("bad\xff\xc3"), "bad\\ufffd\\ufffd");
  EXPECT_EQ(Escaped("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");  // a UTF-16 surrogate
}

TEST(LoggingTest, JsonLineCarriesScopedFields) {
  CapturedLogger captured(LogFormat::kJson);
  {
    ScopedLogFields outer({{"request_id", "r-1"}});
    ScopedLogFields inner;
    inner.Add("principal", "key 7 \"ops\"");
    inner.AddNumber("latency_ms", 1.5);
    captured.logger.info("hello \"world\"\n");
  }
  captured.logger.warn("after");
  const std::string text = captured.out.str();
  const size_t newline = text.find('\n');
  ASSERT_NE(newline, std::string::npos);
  const std::string first = text.substr(0, newline);
  EXPECT_EQ(first.front(), '{');
  EXPECT_EQ(first.back(), '}');
  EXPECT_NE(first.find("\"level\":\"info\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"message\":\"hello \\\"world\\\"\\n\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"request_id\":\"r-1\",\"principal\":\"key 7 \\\"ops\\\"\","
                       "\"latency_ms\":1.500}"),
            std::string::npos)
      << first;
  const std::string second = text.substr(newline + 1);
  EXPECT_EQ(second.find("request_id"), std::string::npos) << "fields left their scope";
  EXPECT_NE(second.find("\"level\":\"warning\""), std::string::npos) << second;
}

TEST(LoggingTest, InnerScopeWinsForARepeatedKey) {
  CapturedLogger captured(LogFormat::kJson);
  ScopedLogFields outer({{"request_id", "outer"}, {"principal", "p"}});
  ScopedLogFields inner({{"request_id", "inner"}});
  captured.logger.info("x");
  const std::string line = captured.out.str();
  EXPECT_NE(line.find("\"request_id\":\"inner\",\"principal\":\"p\"}"), std::string::npos) << line;
  EXPECT_EQ(line.find("outer"), std::string::npos) << line;
}

TEST(LoggingTest, TextLineAppendsFields) {
  CapturedLogger captured(LogFormat::kText);
  ScopedLogFields fields({{"request_id", "abc"}, {"principal", "key 3"}});
  captured.logger.info("message");
  EXPECT_NE(captured.out.str().find("message request_id=abc principal=\"key 3\"\n"),
            std::string::npos)
      << captured.out.str();
}

TEST(LoggingTest, ParsesFormats) {
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogFormat("text"), LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("xml").has_value());
}

TEST(RequestIdTest, AcceptsOrdinaryIdsOnly) {
  EXPECT_TRUE(IsAcceptableRequestId("3f2a-99:req/1"));
  EXPECT_FALSE(IsAcceptableRequestId(""));
  EXPECT_FALSE(IsAcceptableRequestId("has space"));
  EXPECT_FALSE(IsAcceptableRequestId(std::string(129, 'a')));
}

TEST(MetricsTest, ValidatesAddressesAndRendersNames) {
  EXPECT_TRUE(ValidateMetricsAddress("127.0.0.1:9100").ok());
  EXPECT_FALSE(ValidateMetricsAddress("9100").ok());
  EXPECT_FALSE(ValidateMetricsAddress("host:99999").ok());
  Metrics metrics;
  metrics.RecordRpc("/x.S/M", "OK", 0.01);
  metrics.RecordDial("completed");
  metrics.SetRunsByStatus({{"running", 2}});
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("campaign_rpcs_total{code=\"OK\",method=\"/x.S/M\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("campaign_dials_total{outcome=\"completed\"} 1"), std::string::npos);
  EXPECT_NE(text.find("campaign_runs{status=\"running\"} 2"), std::string::npos);
  EXPECT_NE(text.find("campaign_runs{status=\"paused\"} 0"), std::string::npos);
}

}  // namespace
}  // namespace campaign::observability
