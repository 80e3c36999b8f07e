// Connection defects found by the model-based test (test_connection_model.cpp), each kept as the
// smallest command sequence that shows it:
//   - ErrorResponseToHead..., TimeoutResponseToAPartialHead...: defect 2 of issue 12, wider than
//     reported; fixed, enabled;
//   - ...BodyOverTheDiscardLimit...: defect 5, buffered bodies too; fixed, enabled;
//   - NoRequestIsProcessedAfter...: RFC 9112 section 9.6 (no request is processed once a response
//     saying `close` is sent, even while its body still streams); fixed, enabled.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "connection_test_support.hpp"

namespace taut::test {
namespace {

connection_options discard_limit(std::uint64_t bytes) {
  connection_options options;
  options.max_discard_bytes = bytes;
  return options;
}

/// What follows the first response's head when it is read as an answer to HEAD.
std::string after_head_response(const std::string& out) {
  std::string rest;
  const std::vector<parsed_response> responses = parse_responses(out, {method::head}, &rest);
  EXPECT_EQ(responses.size(), 1u);
  return rest;
}

// RFC 9110 section 9.3.2: no response to HEAD carries content, the connection's own errors
// included. Found as: send "HEAD /1/bi HTTP/1.1\r\nX-A: 1\r\n\r\n", deliver it.
TEST(ConnectionModelRegression, ErrorResponseToHeadWithoutHostHasNoBody) {
  harness h;
  const std::string out = h.exchange("HEAD /x HTTP/1.1\r\nX-A: 1\r\n\r\n");
  ASSERT_TRUE(out.starts_with("HTTP/1.1 400 ")) << out;
  EXPECT_EQ(after_head_response(out), "") << out;
}

// Found as: send "HEAD /1/bi HTTP/1.0\r\n...", deliver 5 bytes ("HEAD "), advance 5000 ms (the
// header timeout), drain. The method was received, so the 408 is an answer to HEAD.
TEST(ConnectionModelRegression, TimeoutResponseToAPartialHeadRequestHasNoBody) {
  connection_options options;
  options.header_timeout = 5s;
  harness h(options);
  h.send("HEAD ");
  h.advance(5s);
  const std::string out = h.drain();
  ASSERT_TRUE(out.starts_with("HTTP/1.1 408 ")) << out;
  EXPECT_EQ(after_head_response(out), "") << out;
}

// A buffered body read whole is not an undrained one, however large: the answer keeps the
// connection. Found as: send "POST /1/bi HTTP/1.0" + keep-alive + a 101-byte body (discard limit
// 100), deliver it.
TEST(ConnectionModelRegression, BufferedBodyOverTheDiscardLimitKeepsAlive) {
  harness h(discard_limit(100));
  const std::string body(101, 'b');
  const std::string out =
      h.exchange("POST /x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 101\r\n\r\n" + body);
  const std::vector<parsed_response> responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_TRUE(responses[0].keep_alive) << out;
  EXPECT_TRUE(h.wants().read);
}

// Defect 5 of issue 12, at the model's discard limit: a body a sink read to its end, answered
// from on_body_end, keeps the connection.
TEST(ConnectionModelRegression, StreamedBodyOverTheDiscardLimitKeepsAlive) {
  harness h(discard_limit(100));
  recording_sink sink;
  response_writer later;
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [&](server_request& r, response_writer w) {
    later = std::move(w);
    ASSERT_TRUE(r.stream_body(sink));
  };
  sink.on_end = [&] { later.send(200, sink.data.substr(0, 4), "text/plain"); };
  const std::string out =
      h.exchange("POST /x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 101\r\n\r\n" +
                 std::string(101, 's'));
  const std::vector<parsed_response> responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_TRUE(sink.ended);
  EXPECT_TRUE(responses[0].keep_alive) << out;
  EXPECT_TRUE(h.wants().read);
}

// RFC 9112 section 9.6: "A server that sends a close connection option MUST initiate closure of
// the connection ... after it sends the response containing the close connection option. The
// server MUST NOT process any further requests received on that connection." Here the head with
// `Connection: close` is sent while its body streams (close_after() then begin()); a pipelined
// request behind it must never reach the handler (its answer would be dropped anyway).
TEST(ConnectionModelRegression, NoRequestIsProcessedAfterACloseIsSent) {
  harness h;
  std::vector<std::string> seen;
  h.handler.request = [&](server_request& r, response_writer w) {
    seen.emplace_back(r.target());
    w.close_after();
    w.begin();
    w.write("streaming");
    h.writers.push_back(std::move(w));
  };
  const std::string out = h.exchange(get("/first") + get("/second"));
  ASSERT_NE(out.find("Connection: close"), std::string::npos) << out;
  EXPECT_EQ(seen, std::vector<std::string>{"/first"});
}

// The same for an HTTP/1.0 keep-alive request answered with begin(): the body ends with the
// close, so the head says `close`. Found as: send "GET /1/bu HTTP/1.0 ... keep-alive" and a
// second request, deliver both.
TEST(ConnectionModelRegression, NoRequestIsProcessedAfterAnUntilCloseHeadIsSent) {
  harness h;
  std::vector<std::string> seen;
  h.handler.request = [&](server_request& r, response_writer w) {
    seen.emplace_back(r.target());
    w.begin();
    w.write("x");
    h.writers.push_back(std::move(w));
  };
  const std::string request = "HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n";
  const std::string out = h.exchange("GET /first " + request + "GET /second " + request);
  ASSERT_NE(out.find("Connection: close"), std::string::npos) << out;
  EXPECT_EQ(seen, std::vector<std::string>{"/first"});
}

// The other half of the rule: the request whose own answer says `close` is still read to its end,
// so a handler answering an upload while it streams gets every byte, and only then does reading
// stop (the pipelined request behind it is never handed to the handler).
TEST(ConnectionModelRegression, AnUploadAnsweredWithCloseIsStillReadToItsEnd) {
  harness h;
  recording_sink sink;
  std::vector<std::string> seen;
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [&](server_request& r, response_writer w) {
    seen.emplace_back(r.target());
    r.stream_body(sink);
    w.close_after();
    w.begin();
    w.write("receiving");
    h.writers.push_back(std::move(w));
  };
  const std::string upload =
      "POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\n";
  std::string out = h.exchange(upload + "01234");
  ASSERT_NE(out.find("Connection: close"), std::string::npos) << out;
  out += h.exchange("56789" + get("/next"));
  EXPECT_EQ(sink.data, "0123456789");
  EXPECT_TRUE(sink.ended);
  EXPECT_EQ(seen, std::vector<std::string>{"/upload"});
  EXPECT_FALSE(h.wants().read);
}

}  // namespace
}  // namespace taut::test
