// The response_record a connection reports for each response (connection_observer), and the one
// Common Log Format formatter that turns records into lines.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "connection_test_support.hpp"
#include "taut/common_log.hpp"

namespace taut::test {
namespace {

class recording_observer final : public connection_observer {
 public:
  std::vector<response_record> records;
  void on_response_finished(const response_record& record) noexcept override {
    records.push_back(record);
  }
};

struct observed_harness : harness {
  observed_harness() { conn->set_observer(&observer); }
  recording_observer observer;
};

TEST(ResponseRecord, ReportsStatusHeadAndBodyBytesInRequestOrder) {
  observed_harness h;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/slow") {
      h.writers.push_back(std::move(w));
      return;
    }
    w.send(201, "fast", "text/plain");
  };
  h.send(get("/slow") + get("/fast"));
  EXPECT_TRUE(h.observer.records.empty()) << "the fast response waits behind the slow one";
  h.pass(250ms);
  h.writers.back().send("slow!");
  const std::string out = h.drain();
  ASSERT_EQ(h.observer.records.size(), 2u);
  const response_record& first = h.observer.records[0];
  EXPECT_EQ(first.sequence, 1u);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body_bytes, 5u);
  EXPECT_EQ(first.duration, 250ms);
  EXPECT_TRUE(first.complete);
  EXPECT_FALSE(first.error);
  const response_record& second = h.observer.records[1];
  EXPECT_EQ(second.sequence, 2u);
  EXPECT_EQ(second.status, 201);
  EXPECT_EQ(second.body_bytes, 4u);
  EXPECT_EQ(first.head_bytes + first.body_bytes + second.head_bytes + second.body_bytes, out.size())
      << "head and body bytes account for every byte written";
}

TEST(ResponseRecord, HeadAndChunkedBodiesCountOnlyBodyBytesSent) {
  observed_harness h;
  h.handler.request = [](server_request&, response_writer w) {
    w.begin();
    w.write("abc");
    w.write("defg");
    w.finish();
  };
  h.exchange(get("/") + "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(h.observer.records.size(), 2u);
  EXPECT_EQ(h.observer.records[0].body_bytes, 7u) << "chunk framing is not body";
  EXPECT_EQ(h.observer.records[1].body_bytes, 0u) << "nothing of a HEAD body is sent";
}

TEST(ResponseRecord, RejectionCarriesTheParseErrorCodeAndOffset) {
  observed_harness h;
  h.exchange("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n");
  ASSERT_EQ(h.observer.records.size(), 1u);
  const response_record& r = h.observer.records[0];
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.sequence, 0u);
  EXPECT_EQ(r.error.category(), parse_category());
  EXPECT_EQ(r.error_offset, 28u) << "the space inside the field name";
}

// A body error is located in the message too: the head's bytes plus the offset in the body.
TEST(ResponseRecord, BodyErrorCarriesItsOffsetInTheMessage) {
  observed_harness h;
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  h.exchange(head + "3\r\nabc\r\nZ\r\n");  // 'Z' is no chunk size: 8 bytes into the body
  ASSERT_EQ(h.observer.records.size(), 1u);
  const response_record& r = h.observer.records[0];
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error.category(), parse_category());
  EXPECT_EQ(r.error_offset, head.size() + 8);
}

TEST(ResponseRecord, DeclaredBodyTooLargeIsLocatedWhereTheBodyWouldBegin) {
  connection_options options;
  options.max_body_bytes = 10;
  harness h(options);
  recording_observer observer;
  h.conn->set_observer(&observer);
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
  h.exchange(head);
  ASSERT_EQ(observer.records.size(), 1u);
  EXPECT_EQ(observer.records[0].status, 413);
  EXPECT_EQ(observer.records[0].error_offset, head.size());
  h.conn->set_observer(nullptr);
}

TEST(ResponseRecord, HeaderTimeoutIsReportedAsTimedOut) {
  observed_harness h;
  h.send("GET / HTTP/1.1\r\nHost");
  h.advance(11s);
  ASSERT_EQ(h.observer.records.size(), 1u);
  EXPECT_EQ(h.observer.records[0].status, 408);
  EXPECT_EQ(h.observer.records[0].error, std::errc::timed_out);
  EXPECT_EQ(h.observer.records[0].error_offset, 20u);
}

TEST(ResponseRecord, ResponseCutShortByTheConnectionIsIncomplete) {
  observed_harness h;
  h.handler.request = [&](server_request&, response_writer w) {
    w.begin(100);
    w.write("only part");
    h.writers.push_back(std::move(w));
  };
  h.exchange(get("/"));
  EXPECT_TRUE(h.observer.records.empty());
  h.conn->abort();
  ASSERT_EQ(h.observer.records.size(), 1u);
  EXPECT_FALSE(h.observer.records[0].complete);
  EXPECT_EQ(h.observer.records[0].body_bytes, 9u);
}

TEST(CommonLog, FormatsALineAndEscapesTheRequestLine) {
  std::array<char, clf_timestamp_size> stamp{};
  format_clf_timestamp(784111777, stamp);
  EXPECT_EQ(std::string(stamp.data(), stamp.size()), "[06/Nov/1994:08:49:37 +0000]");
  common_log_fields fields;
  fields.host = "127.0.0.1";
  fields.timestamp = {stamp.data(), stamp.size()};
  fields.method = "GET";
  fields.target = "/a\"b\\c\x01";
  fields.status = 200;
  fields.body_bytes = 0;
  char line[512];
  const std::size_t n = format_common_log(fields, line);
  EXPECT_EQ(
      std::string(line, n),
      "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a\\x22b\\x5Cc\\x01 HTTP/1.1\" 200 -");
}

TEST(CommonLog, CutsARequestLineThatDoesNotFit) {
  common_log_fields fields;
  fields.timestamp = "[06/Nov/1994:08:49:37 +0000]";
  fields.method = "GET";
  const std::string target(3000, 'x');
  fields.target = target;
  fields.status = 414;
  fields.body_bytes = 3;
  fields.error_field = true;
  fields.error = make_error_code(errc::request_line_too_long);
  fields.error_offset = 8192;
  char line[512];
  const std::string text(line, format_common_log(fields, line));
  EXPECT_TRUE(text.starts_with("- - - [06/Nov/1994:08:49:37 +0000] \"GET xxx")) << text;
  EXPECT_TRUE(text.ends_with("x... HTTP/1.1\" 414 3 request_line_too_long@8192")) << text;
  EXPECT_LE(text.size(), sizeof line);
}

}  // namespace
}  // namespace taut::test
