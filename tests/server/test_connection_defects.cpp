// Defects found by testing the server from outside, each guarded by a test named after the
// behaviour: error responses to HEAD carry no body, a status set after a header is honoured, and
// a streamed body the handler consumed keeps the connection alive whatever its size.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "connection_test_support.hpp"

namespace taut::test {
namespace {

/// What follows the first head in `raw` (which holds one response).
std::string bytes_after_head(const std::string& raw) {
  const std::size_t end = raw.find("\r\n\r\n");
  return end == std::string::npos ? raw : raw.substr(end + 4);
}

/// Sends all of `bytes`, draining output between offers, and returns everything written.
std::string send_all(harness& h, std::string_view bytes) {
  std::string out;
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    const std::size_t taken = h.send(bytes.substr(offset));
    out += h.drain();
    if (taken == 0) break;
    offset += taken;
  }
  return out + h.drain();
}

// --- No response to HEAD carries body bytes (RFC 9110 section 9.3.2) -----------------------------

struct head_error_case {
  const char* name;
  std::string request;
  int status;
};

class HeadRequest : public ::testing::TestWithParam<head_error_case> {};

TEST_P(HeadRequest, ErrorResponseHasNoBody) {
  const head_error_case& c = GetParam();
  harness h;
  h.handler.request = [](server_request&, response_writer w) { w.send("never sent for HEAD"); };
  const std::string out = send_all(h, c.request);
  ASSERT_TRUE(out.starts_with("HTTP/1.1 " + std::to_string(c.status) + " ")) << out;
  EXPECT_EQ(bytes_after_head(out), "") << out;
}

std::vector<head_error_case> head_error_cases() {
  return {
      {"MissingHost", "HEAD / HTTP/1.1\r\n\r\n", 400},
      {"BadFieldLine", "HEAD / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400},
      {"LeadingEmptyLine", "\r\nHEAD / HTTP/1.1\r\n\r\n", 400},
      {"TargetTooLong", "HEAD /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
      {"HeaderSectionTooLarge",
       "HEAD / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(40000, 'a') + "\r\n\r\n", 431},
      {"UnknownTransferCoding", "HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br\r\n\r\n", 501},
      {"UnsupportedVersion", "HEAD / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"BodyOverTheLimit", "HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413},
  };
}

INSTANTIATE_TEST_SUITE_P(Errors, HeadRequest, ::testing::ValuesIn(head_error_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(HeadRequest, TimeoutResponseHasNoBody) {
  harness h;
  h.send("HEAD / HTTP/1.1\r\nHost: a\r\n");
  h.advance(11s);
  const std::string out = h.drain();
  ASSERT_TRUE(out.starts_with("HTTP/1.1 408 ")) << out;
  EXPECT_EQ(bytes_after_head(out), "") << out;
}

TEST(HeadRequest, DroppedWriterResponseHasNoBody) {
  harness h;
  h.handler.request = [](server_request&, response_writer) {};  // answers nothing: 500
  const std::string out = h.exchange("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(out.starts_with("HTTP/1.1 500 ")) << out;
  EXPECT_EQ(bytes_after_head(out), "") << out;
}

TEST(HeadRequest, ThrowingHandlerResponseHasNoBody) {
  harness h;
  h.handler.request = [](server_request&, response_writer) { throw std::runtime_error("x"); };
  const std::string out = h.exchange("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(out.starts_with("HTTP/1.1 500 ")) << out;
  EXPECT_EQ(bytes_after_head(out), "") << out;
}

TEST(HeadRequest, ParseErrorAfterAPipelinedGetStillHasNoBody) {
  harness h;
  const auto responses = parse_responses(h.exchange(get("/") + "HEAD / HTTP/1.1\r\n\r\n"),
                                         {method::get, method::head});
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[1].status, 400);
  EXPECT_EQ(responses[1].body, "");
}

// --- Status and headers in any order until the head is written -----------------------------------

TEST(ResponseWriter, StatusSetAfterAHeaderIsSent) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    EXPECT_TRUE(w.add_header("WWW-Authenticate", "Bearer"));
    EXPECT_TRUE(w.set_status(401));
    EXPECT_TRUE(w.send("no"));
  };
  const auto responses = parse_responses(h.exchange(get("/")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 401);
  EXPECT_EQ(responses[0].field("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(responses[0].body, "no");
  EXPECT_TRUE(responses[0].keep_alive);
}

TEST(ResponseWriter, StatusMayChangeAgainBeforeTheHeadEnds) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    EXPECT_TRUE(w.set_status(204));
    EXPECT_TRUE(w.add_header("X-A", "1"));
    EXPECT_TRUE(w.set_status(431));  // a longer reason phrase
    EXPECT_TRUE(w.add_header("X-B", "2"));
    EXPECT_TRUE(w.set_status(418));
    EXPECT_TRUE(w.add_header("X-C", std::string(5000, 'c')));  // the head spans blocks
    EXPECT_TRUE(w.set_status(201));
    EXPECT_TRUE(w.send("made"));
  };
  const auto responses = parse_responses(h.exchange(get("/")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 201);
  EXPECT_EQ(responses[0].field("X-A"), "1");
  EXPECT_EQ(responses[0].field("X-B"), "2");
  EXPECT_EQ(responses[0].field("X-C").size(), 5000u);
  EXPECT_EQ(responses[0].body, "made");
}

TEST(ResponseWriter, AHeadIsNeverSentHalfWritten) {
  harness h;
  h.handler.request = [&](server_request&, response_writer w) {
    EXPECT_TRUE(w.add_header("X-Early", "yes"));
    h.writers.push_back(std::move(w));  // answered later
  };
  h.send(get("/"));
  EXPECT_EQ(h.drain(), "") << "no byte of an unfinished head leaves";
  response_writer& w = h.writers.back();
  EXPECT_TRUE(w.set_status(404));
  EXPECT_TRUE(w.send("late"));
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 404);
  EXPECT_EQ(responses[0].field("X-Early"), "yes");
  EXPECT_EQ(responses[0].body, "late");
}

TEST(ResponseWriter, StatusSetAfterAHeaderBehindAnUnfinishedResponse) {
  harness h;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/slow") {
      h.writers.push_back(std::move(w));
      return;
    }
    EXPECT_TRUE(w.add_header("WWW-Authenticate", "Basic"));
    EXPECT_TRUE(w.set_status(401));
    EXPECT_TRUE(w.send(""));
  };
  h.send(get("/slow") + get("/fast"));
  EXPECT_EQ(h.drain(), "");
  h.writers.back().send("slow");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].body, "slow");
  EXPECT_EQ(responses[1].status, 401);
  EXPECT_EQ(responses[1].field("WWW-Authenticate"), "Basic");
}

TEST(ResponseWriter, InterimResponseStillLeavesBeforeAnUnfinishedHead) {
  harness h;
  h.handler.request = [&](server_request&, response_writer w) {
    const header hint{"Link", "</a.css>; rel=preload"};
    EXPECT_TRUE(w.send_informational(103, std::span<const header>(&hint, 1)));
    h.writers.push_back(std::move(w));
  };
  h.send(get("/"));
  const std::string early = h.drain();
  EXPECT_TRUE(early.starts_with("HTTP/1.1 103 ")) << early;
  h.writers.back().add_header("X-Late", "1");
  h.writers.back().set_status(202);
  h.writers.back().send("");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 202);
}

// --- A streamed body read to its end is not a discarded one --------------------------------------

class StreamedUpload : public ::testing::TestWithParam<std::size_t> {};

TEST_P(StreamedUpload, AnsweredFromBodyEndKeepsTheConnectionWhateverItsSize) {
  const std::size_t size = GetParam();
  harness h;
  recording_sink sink;
  std::vector<response_writer> pending;
  h.handler.head = [](server_request& r) {
    return r.target() == "/upload" ? body_mode::stream : body_mode::buffer;
  };
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() != "/upload") {
      w.send("next");
      return;
    }
    ASSERT_TRUE(r.stream_body(sink));
    pending.push_back(std::move(w));
  };
  sink.on_end = [&] { pending.back().send(std::to_string(sink.data.size())); };
  const std::string request =
      "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n" +
      std::string(size, 'u');
  const std::string out = send_all(h, request + get("/next"));
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].body, std::to_string(size));
  EXPECT_TRUE(responses[0].keep_alive) << "the handler read the whole body: nothing to discard";
  EXPECT_EQ(responses[1].body, "next");
}

INSTANTIATE_TEST_SUITE_P(Sizes, StreamedUpload,
                         ::testing::Values(std::size_t{1000}, std::size_t{262144},
                                           std::size_t{262145}, std::size_t{1000000}));

}  // namespace
}  // namespace taut::test
