// Pipelined requests and their methods with plain calls (RFC 9112 section 9.3.2): a request
// starts while earlier ones are unanswered only if it and they all have safe methods; a waiting
// head survives the client's EOF, a shutdown and time; and no handler runs inside a writer call
// made from outside the connection's calls.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "connection_test_support.hpp"

namespace taut::test {
namespace {

std::string post(std::string_view target, std::string_view body, std::string_view fields = {}) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: example.com\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + std::string(fields) + "\r\n" + std::string(body);
}

/// A harness whose handler keeps every writer (answers come later, from the test) and logs the
/// targets it was given, on_head and on_request alike.
struct later_harness : harness {
  explicit later_harness(connection_options options = {}) : harness(options) {
    handler.head = [this](server_request& r) {
      log.push_back("head " + std::string(r.target()));
      return body_mode::buffer;
    };
    handler.request = [this](server_request& r, response_writer w) {
      log.push_back("request " + std::string(r.target()) + " " + std::string(r.body()));
      writers.push_back(std::move(w));
    };
  }
  std::vector<std::string> log;
};

TEST(ConnectionOrder, AnUnsafeRequestWaitsForTheAnswersBeforeIt) {
  later_harness h;
  h.send(get("/a") + post("/b", "xy"));
  EXPECT_EQ(h.log, (std::vector<std::string>{"head /a", "request /a "}));
  EXPECT_FALSE(h.wants().read) << "a whole head waits: nothing more is read meanwhile";
  EXPECT_EQ(h.wants().deadline, time_point::max()) << "waiting for ourselves, not the client";
  h.advance(std::chrono::hours(1));
  EXPECT_EQ(h.log.size(), 2u) << "no timeout while it waits";

  h.writers[0].send("a");
  EXPECT_EQ(h.log.size(), 2u) << "not inside the writer call that finished the answer";
  EXPECT_LE(h.wants().deadline, h.now) << "the owner is asked to call at once";
  h.advance(0ms);
  EXPECT_EQ(h.log,
            (std::vector<std::string>{"head /a", "request /a ", "head /b", "request /b xy"}));
  h.writers[1].send("b");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].body, "a");
  EXPECT_EQ(responses[1].body, "b");
  EXPECT_TRUE(h.wants().read);
}

TEST(ConnectionOrder, NothingStartsWhileAnUnsafeRequestIsUnanswered) {
  later_harness h;
  h.send(post("/a", "1") + get("/b") + "HEAD /c HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(h.log.size(), 2u);
  h.writers[0].send("a");
  h.advance(0ms);
  // Both safe requests start once the POST is answered, in parallel.
  EXPECT_EQ(h.log, (std::vector<std::string>{"head /a", "request /a 1", "head /b", "request /b ",
                                             "head /c", "request /c "}));
}

TEST(ConnectionOrder, SafeRequestsStartInParallel) {
  later_harness h;
  h.send(get("/a") + "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n" +
         "TRACE /t HTTP/1.1\r\nHost: example.com\r\n\r\n" + get("/d"));
  EXPECT_EQ(h.writers.size(), 4u);
}

TEST(ConnectionOrder, AnAnswerFinishedButNotSentHoldsNothingUp) {
  later_harness h;
  h.send(get("/a") + post("/b", "1") + post("/c", "2"));
  h.writers[0].send("a");
  h.advance(0ms);
  ASSERT_EQ(h.writers.size(), 2u);
  h.writers[1].send("b");  // not sent: the client reads nothing
  h.advance(0ms);
  EXPECT_EQ(h.writers.size(), 3u);
  h.writers[2].send("c");
  EXPECT_EQ(parse_responses(h.drain()).size(), 3u);
}

// A request whose turn comes while the output is over max_output_bytes waits for the client to
// take it, as any other start does: its answer would only add to what the client does not read.
TEST(ConnectionOrder, AWaitingRequestWaitsForTheOutputToDrain) {
  connection_options options;
  options.max_output_bytes = 16;
  later_harness h(options);
  h.send(get("/a") + post("/b", "1"));
  ASSERT_EQ(h.writers.size(), 1u);
  h.writers[0].send(std::string(64, 'a'));
  h.advance(0ms);
  EXPECT_EQ(h.writers.size(), 1u) << "started with the output over its limit";
  const auto first = parse_responses(h.drain());
  ASSERT_EQ(h.writers.size(), 2u) << "taking the output starts it";
  h.writers[1].send("b");
  const auto second = parse_responses(h.drain());
  ASSERT_EQ(first.size() + second.size(), 2u);
  EXPECT_EQ(second.back().body, "b");
}

/// A request with `request_line` pipelined behind an unanswered GET waits for the GET's answer:
/// its method is not safe.
void expect_waits_behind_a_get(std::string_view request_line, std::string_view host) {
  later_harness h;
  h.send(get("/a") + std::string(request_line) + "\r\nHost: " + std::string(host) + "\r\n\r\n");
  EXPECT_EQ(h.writers.size(), 1u);
  h.writers[0].send("a");
  h.advance(0ms);
  EXPECT_EQ(h.writers.size(), 2u);
}

TEST(ConnectionOrder, AMethodUnknownToTheServerIsNotSafe) {
  expect_waits_behind_a_get("PROPFIND /b HTTP/1.1", "example.com");
}

/// The client's EOF behind `whole` whole requests (and maybe a partial head) of which only the
/// first has started: the connection stays open, each starts in its turn as the one before it
/// is answered (RFC 9112 section 9.6: only the client's sending side is done), the last answer
/// closes the connection, and the partial head never starts.
void expect_all_answered_after_eof(later_harness& h, std::size_t whole) {
  h.conn->receive_eof(h.now);
  EXPECT_FALSE(h.wants().close);
  for (std::size_t i = 0; i < whole; ++i) {
    ASSERT_EQ(h.writers.size(), i + 1) << "request " << i + 1 << " never started";
    h.writers[i].send(std::string(1, static_cast<char>('a' + i)));
    h.advance(0ms);
  }
  EXPECT_EQ(h.writers.size(), whole) << "a partial head started";
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), whole);
  for (std::size_t i = 0; i + 1 < whole; ++i) EXPECT_EQ(responses[i].field("Connection"), "");
  EXPECT_EQ(responses.back().body, std::string(1, static_cast<char>('a' + whole - 1)));
  EXPECT_EQ(responses.back().field("Connection"), "close");
  EXPECT_TRUE(h.wants().close);
}

/// The same on a connection that handles one request at a time: the requests in `input` after
/// the first are read but wait, unparsed, for its slot.
void expect_all_answered_one_at_a_time(const std::string& input, std::size_t whole) {
  connection_options options;
  options.max_pipeline_depth = 1;
  later_harness h(options);
  h.send(input);
  expect_all_answered_after_eof(h, whole);
}

TEST(ConnectionOrder, AWaitingRequestIsAnsweredAfterTheClientsEof) {
  later_harness h;
  h.send(post("/a", "1") + get("/b"));
  EXPECT_EQ(h.handler.heads, 1);
  expect_all_answered_after_eof(h, 2);
}

// The same with a safe first request and no free slot: the whole head behind it was not parsed
// yet when the EOF came, and is answered all the same; a partial head is dropped.
TEST(ConnectionOrder, AWholeUnparsedRequestIsAnsweredAfterTheClientsEof) {
  expect_all_answered_one_at_a_time(get("/a") + get("/b"), 2);
}

// RFC 9112 section 9.6: a half-close ends only the client's sending. Every whole request it sent
// is answered, each in its turn, the last with `close`; only the partial head after them is
// dropped.
TEST(ConnectionOrder, EveryWholeRequestIsAnsweredAfterTheClientsEof) {
  later_harness h;
  h.send(post("/a", "1") + post("/b", "xy") + get("/c") + "GET /d HTTP/1.1\r\nHost: exa");
  expect_all_answered_after_eof(h, 3);
  EXPECT_EQ(h.log.back(), "request /c ") << "the partial head never started";
}

TEST(ConnectionOrder, WholeRequestsWaitingForASlotAreAllAnsweredAfterTheClientsEof) {
  expect_all_answered_one_at_a_time(get("/a") + get("/b") + get("/c"), 3);
}

// Empty lines before a request line are skipped (RFC 9112 section 2.2): they end no head, so
// what follows them at the EOF is a partial head, and the answer before it is the last.
TEST(ConnectionOrder, EmptyLinesBeforeAPartialHeadAtTheEofLeaveTheCloseOnTheLastAnswer) {
  expect_all_answered_one_at_a_time(get("/a") + "\r\n\r\nGET /b HTTP/1.1\r\nHost: exa", 1);
}

TEST(ConnectionOrder, APartialHeadBehindABusySlotIsDroppedAtTheClientsEof) {
  expect_all_answered_one_at_a_time(get("/a") + "GET /b HTTP/1.1\r\nHost: exa", 1);
}

TEST(ConnectionOrder, AWaitingRequestWhoseBodyTheEofCutIsAnswered400) {
  later_harness h;
  const std::string cut = post("/b", "0123456789");
  h.send(get("/a") + cut.substr(0, cut.size() - 4));
  EXPECT_EQ(h.handler.heads, 1);
  h.conn->receive_eof(h.now);
  EXPECT_EQ(h.drain(), "") << "the waiting request is not answered before the one before it";
  h.writers[0].send("a");
  h.advance(0ms);
  EXPECT_EQ(h.writers.size(), 1u) << "its handler never gets the body";
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[1].status, 400);
  EXPECT_TRUE(h.wants().close);
}

TEST(ConnectionOrder, AWaitingRequestIsAnsweredWithCloseAtShutdown) {
  later_harness h;
  h.send(get("/a") + post("/b", "1"));
  EXPECT_EQ(h.handler.heads, 1);
  h.conn->begin_shutdown(h.now);
  h.writers[0].send("a");
  h.advance(0ms);
  ASSERT_EQ(h.writers.size(), 2u);
  h.writers[1].send("b");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].field("Connection"), "");
  EXPECT_EQ(responses[1].field("Connection"), "close");
}

TEST(ConnectionOrder, AWaitingRequestAfterAClosingAnswerNeverStarts) {
  later_harness h;
  h.send(get("/a") + post("/b", "1"));
  h.writers[0].close_after();
  h.writers[0].send("a");
  h.advance(0ms);
  EXPECT_EQ(h.writers.size(), 1u);  // RFC 9112 section 9.6: no request after a close
  EXPECT_EQ(parse_responses(h.drain()).size(), 1u);
}

TEST(ConnectionOrder, ContinueIsSentOnlyOnceAWaitingRequestStarts) {
  later_harness h;
  h.send(get("/a") +
         "POST /b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n"
         "Expect: 100-continue\r\n\r\n");
  EXPECT_EQ(h.handler.heads, 1);
  EXPECT_EQ(h.drain(), "") << "no 100 Continue while it waits";
  h.writers[0].send("a");
  const std::string out = h.drain();  // the owner's call: the POST starts
  ASSERT_EQ(h.handler.heads, 2);
  const std::size_t answer = out.find("\r\n\r\na");
  const std::size_t go_on = out.find("HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_NE(answer, std::string::npos);
  ASSERT_NE(go_on, std::string::npos);
  EXPECT_LT(answer, go_on);
}

TEST(ConnectionOrder, ConnectWaitsToo) {
  expect_waits_behind_a_get("CONNECT example.com:443 HTTP/1.1", "example.com:443");
}

// RFC 9112 section 9.6: once the connection knows that a response will close it, no request
// behind that response starts, whatever makes it close and whatever the methods. `first` is sent
// behind an unanswered GET (so that nothing of its response is on its way out when the close is
// known) and before a safe request; `in_handler` runs in its handler call, with its writer, which
// the harness then keeps. The safe request's handler must never run.
struct closing_first {
  std::string first;
  std::function<void(response_writer&)> in_handler = [](response_writer&) {};
  connection_options options{};
};

void expect_nothing_starts_behind(const closing_first& c) {
  harness h(c.options);
  int later_starts = 0;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/b") ++later_starts;
    if (r.target() == "/a") c.in_handler(w);
    h.writers.push_back(std::move(w));
  };
  h.send(get("/0") + c.first + get("/b"));
  ASSERT_GE(h.writers.size(), 2u);
  h.writers[0].send("0");
  if (!h.writers[1].send("a")) h.writers[1].finish();
  h.advance(0ms);
  EXPECT_EQ(later_starts, 0) << "a request behind a closing response started";
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[1].field("Connection"), "close");
}

TEST(ConnectionOrder, NothingStartsBehindAHandlersCloseAfter) {
  expect_nothing_starts_behind({get("/a"), [](response_writer& w) { w.close_after(); }});
}

TEST(ConnectionOrder, NothingStartsBehindAHandlersConnectionCloseField) {
  expect_nothing_starts_behind(
      {get("/a"), [](response_writer& w) { w.add_header("Connection", "close"); }});
}

TEST(ConnectionOrder, NothingStartsBehindARequestSayingClose) {
  expect_nothing_starts_behind(
      {"GET /a HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"});
}

TEST(ConnectionOrder, NothingStartsBehindAnHttp10RequestWithoutKeepAlive) {
  expect_nothing_starts_behind({"GET /a HTTP/1.0\r\n\r\n"});
}

TEST(ConnectionOrder, NothingStartsBehindTheLastRequestAllowed) {
  connection_options options;
  options.max_requests = 2;
  expect_nothing_starts_behind({get("/a"), [](response_writer&) {}, options});
}

TEST(ConnectionOrder, NothingStartsBehindABodyDelimitedByTheClose) {
  // HTTP/1.0 knows no chunked coding: a body of unknown length ends with the connection.
  expect_nothing_starts_behind(
      {"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", [](response_writer& w) { w.begin(); }});
}

TEST(ConnectionOrder, NothingStartsBehindAnAnswerCutShort) {
  // A response cut short (its writer dropped mid-body) can only end with the close. It is
  // finished, but behind an unanswered one, so nothing but this rule holds the third request.
  harness h;
  int third_starts = 0;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/c") ++third_starts;
    if (r.target() == "/b") {
      w.begin();
      w.write("part");
      return;  // dropped unfinished
    }
    h.writers.push_back(std::move(w));
  };
  h.send(get("/a") + get("/b") + get("/c"));
  EXPECT_EQ(third_starts, 0);
  h.writers[0].send("a");
  h.advance(0ms);
  EXPECT_EQ(third_starts, 0);
  const std::string out = h.drain();
  EXPECT_NE(out.find("part"), std::string::npos);
  EXPECT_EQ(out.find("HTTP/1.1 200", out.find("part")), std::string::npos);
  EXPECT_TRUE(h.wants().shutdown_write) << "the cut body ends with the close";
}

TEST(ConnectionOrder, NothingStartsBehindACloseLearnedWhileItWaits) {
  // The close becomes known from outside every call of the connection, while the POST behind
  // waits for both GETs: it never starts, even once they are answered.
  harness h;
  int post_starts = 0;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/c") ++post_starts;
    h.writers.push_back(std::move(w));
  };
  h.send(get("/a") + get("/b") + post("/c", "1"));
  ASSERT_EQ(h.writers.size(), 2u);
  h.writers[1].close_after();
  h.writers[1].send("b");
  h.advance(0ms);
  h.writers[0].send("a");
  h.advance(0ms);
  EXPECT_EQ(post_starts, 0);
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[1].field("Connection"), "close");
}

// A safe request that started before the close was known runs on; only its answer is dropped.
TEST(ConnectionOrder, ARequestStartedBeforeTheCloseWasKnownRunsOn) {
  later_harness h;
  h.send(get("/a") + get("/b"));
  ASSERT_EQ(h.writers.size(), 2u);
  h.writers[0].close_after();
  h.writers[0].send("a");
  EXPECT_FALSE(h.writers[1].send("b")) << "its answer has nowhere to go";
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "a");
}

}  // namespace
}  // namespace taut::test
