// The life of a connection driven by a fake clock: every deadline (header, body, idle, write,
// linger), every limit, error answers and closing after them, graceful shutdown, protocol upgrades
// and tunnels, and the same output however the input is split.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "connection_test_support.hpp"
#include "taut/status.hpp"

namespace taut::test {
namespace {

std::string post(std::string_view target, std::string_view body, std::string_view extra = {}) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

/// Drains the output of a closing connection and walks it to the end: the write side is shut,
/// then it lingers until `linger` passes.
void expect_closes_after_linger(harness& h) {
  h.drain();
  connection_wants w = h.wants();
  ASSERT_TRUE(w.shutdown_write);
  ASSERT_FALSE(w.close);
  EXPECT_EQ(w.deadline, h.now + connection_options{}.linger_timeout);
  h.advance(connection_options{}.linger_timeout - 1ms);
  EXPECT_FALSE(h.wants().close);
  h.advance(1ms);
  EXPECT_TRUE(h.wants().close);
  EXPECT_TRUE(h.conn->holds_nothing());
}

// --- Deadlines -----------------------------------------------------------------------------------

TEST(Timeout, NewConnectionThatSendsNothingIsClosedSilently) {
  harness h;
  EXPECT_EQ(h.wants().deadline, h.now + 10s) << "the header timeout runs from the start";
  h.advance(9999ms);
  EXPECT_TRUE(h.wants().read);
  h.advance(1ms);
  EXPECT_TRUE(h.wants().close);
  EXPECT_EQ(h.drain(), "");
}

TEST(Timeout, PartialHeadIsAnswered408) {
  harness h;
  h.send("GET / HTTP/1.1\r\nHost: a\r\n");
  h.advance(10s);
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 408);
  EXPECT_EQ(responses[0].field("Connection"), "close");
  expect_closes_after_linger(h);
}

TEST(Timeout, SlowlorisCannotExtendTheHeaderDeadline) {
  harness h;
  const std::string request = get("/", "X-Slow: " + std::string(100, 'z') + "\r\n");
  std::size_t sent = 0;
  for (; sent < request.size() && !h.wants().write; ++sent) {
    h.send(request.substr(sent, 1));
    h.advance(500ms);  // one byte every half second: never idle, never done
  }
  EXPECT_LT(sent, request.size());
  EXPECT_EQ(sent, 20u) << "cut at 10 s, whatever the trickle";
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 408);
  EXPECT_EQ(h.handler.requests, 0);
}

TEST(Timeout, HeaderTimerStartsWithTheFirstByteOfAKeepAliveRequest) {
  harness h;
  h.exchange(get("/1"));
  h.advance(50s);  // idle, under the idle timeout
  h.send("GET /2 HT");
  EXPECT_EQ(h.wants().deadline, h.now + 10s);
  h.advance(9s);
  h.send("TP/1.1\r\nHost: a\r\n\r\n");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 200);
}

TEST(Timeout, IdleKeepAliveConnectionIsClosedSilently) {
  harness h;
  h.exchange(get("/"));
  EXPECT_EQ(h.wants().deadline, h.now + 60s);
  h.advance(59s);
  EXPECT_FALSE(h.wants().close);
  h.advance(1s);
  EXPECT_TRUE(h.wants().close);
  EXPECT_EQ(h.drain(), "");
}

TEST(Timeout, IdleTimerStartsWhenTheLastResponseIsWritten) {
  harness h;
  h.handler.request = [&](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  h.send(get("/"));
  EXPECT_EQ(h.wants().deadline, time_point::max()) << "the handler is working: nothing timed";
  h.pass(100s);
  h.writers[0].send("late");
  EXPECT_EQ(h.wants().deadline, h.now + connection_options{}.write_timeout);
  h.drain();
  EXPECT_EQ(h.wants().deadline, h.now + 60s);
}

TEST(Timeout, BufferedBodyMustArriveInTime) {
  harness h;
  const std::string request = post("/", std::string(100, 'b'));
  h.send(request.substr(0, request.size() - 50));
  EXPECT_EQ(h.wants().deadline, h.now + 30s);
  h.advance(20s);
  h.send(request.substr(request.size() - 50, 10));  // progress does not extend a buffered body
  h.advance(10s);
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 408);
  EXPECT_EQ(h.handler.requests, 0);
  expect_closes_after_linger(h);
}

TEST(Timeout, StreamedBodyTimesOutBetweenBytes) {
  harness h;
  recording_sink sink;
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [&](server_request& r, response_writer w) {
    r.stream_body(sink);
    h.writers.push_back(std::move(w));
  };
  const std::string request = post("/", std::string(100, 's'));
  h.send(request.substr(0, request.size() - 60));
  for (int i = 0; i < 5; ++i) {
    h.advance(25s);
    h.send(request.substr(request.size() - 60 + i, 1));  // slow but steady: allowed
  }
  EXPECT_FALSE(sink.error);
  h.advance(30s);
  EXPECT_EQ(sink.error, std::make_error_code(std::errc::timed_out));
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 408) << "the handler had not answered: the connection does";
}

TEST(Timeout, WriteWithoutProgressClosesTheConnection) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) { w.send(std::string(10000, 'w')); };
  h.send(get("/"));
  EXPECT_EQ(h.wants().deadline, h.now + 30s);
  h.advance(20s);
  h.conn->commit_write(100, h.now);  // progress restarts the timer
  EXPECT_EQ(h.wants().deadline, h.now + 30s);
  h.advance(29s);
  EXPECT_FALSE(h.wants().close);
  h.advance(1s);
  EXPECT_TRUE(h.wants().close);
  EXPECT_TRUE(h.conn->holds_nothing());
  EXPECT_EQ(h.pool.in_use(), 0u);
}

TEST(Timeout, LingerEndsAtEofOrDeadline) {
  harness h;
  h.exchange(get("/", "Connection: close\r\n"));
  EXPECT_TRUE(h.wants().shutdown_write);
  EXPECT_TRUE(h.wants().read) << "lingering: read and discard";
  EXPECT_EQ(h.send("late garbage"), 12u);
  EXPECT_EQ(h.drain(), "");
  h.conn->receive_eof(h.now);
  EXPECT_TRUE(h.wants().close);

  harness slow;
  slow.exchange(get("/", "Connection: close\r\n"));
  expect_closes_after_linger(slow);
}

TEST(Timeout, PeerThatClosedFirstIsNotLingeredFor) {
  harness h;
  h.handler.request = [&](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  h.send(get("/"));
  h.conn->receive_eof(h.now);  // half-close after the request, like `nc -N`
  EXPECT_FALSE(h.wants().read);
  EXPECT_FALSE(h.wants().close) << "the response is still owed";
  h.writers[0].send("answer");
  EXPECT_EQ(parse_responses(h.drain()).size(), 1u);
  EXPECT_TRUE(h.wants().close);
}

// --- Limits --------------------------------------------------------------------------------------

TEST(Limit, HeaderSectionTooLargeIs431) {
  connection_options options;
  options.parse.max_header_bytes = 1000;
  harness h(options);
  const auto responses =
      parse_responses(h.exchange(get("/", "X-Big: " + std::string(1000, 'h') + "\r\n")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 431);
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_EQ(h.handler.requests, 0);
}

TEST(Limit, HeaderSectionLimitHoldsForHeadsLargerThanABlock) {
  harness h({}, 1024);  // default limit: 32 KiB, block: 1 KiB
  std::string fields;
  for (int i = 0; i < 60; ++i)
    fields += "X-F" + std::to_string(i) + ": " + std::string(600, 'f') + "\r\n";
  std::string request = get("/", fields);
  std::size_t offset = 0;
  while (offset < request.size() && h.wants().read) {
    offset += h.send(std::string_view(request).substr(offset, 1000));
  }
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 431);
  EXPECT_LT(offset, request.size()) << "read no further than the limit";
}

TEST(Limit, RequestLineTooLongIs414) {
  connection_options options;
  options.parse.max_request_line = 100;
  harness h(options);
  const auto responses = parse_responses(h.exchange(get("/" + std::string(200, 'p'))));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 414);
}

TEST(Limit, TooManyHeaderFieldsIs431) {
  connection_options options;
  options.parse.max_headers = 10;
  harness h(options);
  std::string fields;
  for (int i = 0; i < 10; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
  const auto responses = parse_responses(h.exchange(get("/", fields)));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 431) << "Host plus ten fields is eleven";
}

TEST(Limit, RequestsPerConnection) {
  connection_options options;
  options.max_requests = 3;
  harness h(options);
  const auto responses = parse_responses(h.exchange(get("/1") + get("/2") + get("/3") + get("/4")));
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[1].field("Connection"), "");
  EXPECT_EQ(responses[2].field("Connection"), "close") << "the last one says so";
  EXPECT_EQ(h.handler.requests, 3);
  EXPECT_TRUE(h.wants().shutdown_write);
}

// --- Errors --------------------------------------------------------------------------------------

struct error_case {
  const char* request;
  int status;
};

class ParseErrors : public ::testing::TestWithParam<error_case> {};

TEST_P(ParseErrors, AnsweredWithTheParsersStatusThenClosed) {
  harness h;
  const std::string out = h.exchange(std::string(GetParam().request) + get("/next"));
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, GetParam().status);
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_EQ(responses[0].field("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(responses[0].field("X-Content-Type-Options"), "nosniff");
  // reply::error()'s body: "<status> <reason>\n".
  EXPECT_EQ(responses[0].body, std::to_string(GetParam().status) + " " +
                                   std::string(reason_phrase(GetParam().status)) + "\n");
  EXPECT_EQ(h.handler.requests, 0);
  expect_closes_after_linger(h);
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, ParseErrors,
    ::testing::Values(
        error_case{"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400},
        error_case{"GET / HTTP/1.1\r\n\r\n", 400},  // no Host
        error_case{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        error_case{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked, br\r\n\r\n",
                   501},
        error_case{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501},
        error_case{"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
        error_case{"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        // Smuggling shapes: never a second request out of the first one's body.
        error_case{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
                   "chunked\r\n\r\n0\r\n\r\n",
                   400},
        error_case{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                   400}));

TEST(Errors, EarlierPipelinedResponsesAreSentFirst) {
  harness h;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/slow") {
      h.writers.push_back(std::move(w));
    } else {
      w.send("fast");
    }
  };
  h.send(get("/fast") + get("/slow") + "BROKEN\r\n\r\n" + get("/never"));
  std::string out = h.drain();
  EXPECT_EQ(parse_responses(out).size(), 1u) << "the error waits behind the slow response";
  EXPECT_FALSE(h.wants().shutdown_write);
  h.writers[0].send("slow");
  out += h.drain();
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].body, "fast");
  EXPECT_EQ(responses[1].body, "slow");
  EXPECT_EQ(responses[2].status, 400);
  EXPECT_EQ(h.handler.requests, 2);
  expect_closes_after_linger(h);
}

TEST(Errors, NothingIsSentAfterAConnectionCloseResponse) {
  harness h;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/first") {
      h.writers.push_back(std::move(w));
    } else {
      w.send("second");  // already handled: its answer must be dropped
    }
  };
  h.send(get("/first") + get("/second"));
  EXPECT_EQ(h.handler.requests, 2);
  h.writers[0].close_after();
  h.writers[0].send("first");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].field("Connection"), "close");
}

TEST(Errors, EofMidHeadClosesWithoutAnswer) {
  harness h;
  h.send("GET / HTTP/1.1\r\nHo");
  h.conn->receive_eof(h.now);
  EXPECT_EQ(h.drain(), "");
  EXPECT_TRUE(h.wants().close);
}

TEST(Errors, EofMidBodyAnswers400) {
  harness h;
  const std::string request = post("/", "0123456789");
  h.send(request.substr(0, request.size() - 3));
  h.conn->receive_eof(h.now);
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 400);
  EXPECT_TRUE(h.wants().close) << "the peer is gone: no linger";
}

TEST(Errors, PoolExhaustionClosesInsteadOfCorrupting) {
  harness h({}, 4096, 3);  // at most three blocks in all
  h.handler.request = [](server_request&, response_writer w) {
    EXPECT_TRUE(w.send(std::string(20000, 'x')));  // needs five output blocks
  };
  h.send(get("/"));
  EXPECT_TRUE(h.wants().close);
  EXPECT_EQ(h.pool.in_use(), 0u);
  EXPECT_TRUE(h.conn->holds_nothing());
}

// --- Graceful shutdown ---------------------------------------------------------------------------

// An idle keep-alive connection may have a request on the wire when the drain starts: closing
// with it unread would send a reset. The write side is shut at once and what comes is read and
// dropped (RFC 9112 section 9.6), until the client's EOF or linger_timeout.
TEST(Shutdown, IdleConnectionShutsItsWriteSideAndLingersInsteadOfClosingWithInputUnread) {
  connection_options options;
  options.linger_timeout = 2s;
  harness h(options);
  h.exchange(get("/"));
  h.conn->begin_shutdown(h.now);
  EXPECT_FALSE(h.wants().close) << "a close now would reset a request in flight";
  EXPECT_TRUE(h.wants().shutdown_write);
  EXPECT_TRUE(h.wants().read);
  EXPECT_EQ(h.send(get("/in-flight")), get("/in-flight").size()) << "read, not left unread";
  EXPECT_EQ(h.drain(), "") << "dropped: the client sees the close and may retry";
  EXPECT_EQ(h.handler.requests, 1);
  h.conn->receive_eof(h.now);
  EXPECT_TRUE(h.wants().close) << "the client's EOF ends the linger";

  harness fresh(options);
  fresh.conn->begin_shutdown(fresh.now);
  EXPECT_FALSE(fresh.wants().close);
  EXPECT_TRUE(fresh.wants().shutdown_write);
  fresh.advance(1999ms);
  EXPECT_FALSE(fresh.wants().close);
  fresh.advance(1ms);
  EXPECT_TRUE(fresh.wants().close) << "bounded by linger_timeout";
}

// A partial head may still complete during a drain, but it gets linger_timeout at most, not the
// whole header_timeout: then 408, and the close.
TEST(Shutdown, PartialHeadGetsLingerTimeoutAtMost) {
  connection_options options;
  options.header_timeout = 10s;
  options.linger_timeout = 2s;
  harness h(options);
  h.exchange(get("/"));
  h.send("GET /sl");
  h.pass(1s);
  h.conn->begin_shutdown(h.now);
  EXPECT_TRUE(h.wants().read);
  EXPECT_EQ(h.wants().deadline, h.now + 2s);
  h.advance(2s);
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 408);
  EXPECT_EQ(responses[0].field("Connection"), "close");

  // A head timeout already nearer stays as it was.
  harness near(options);
  near.exchange(get("/"));
  near.send("GET /sl");
  near.pass(9s);
  near.conn->begin_shutdown(near.now);
  EXPECT_EQ(near.wants().deadline, near.now + 1s);
}

// At the end of a drain, a request whose handler has not answered (a proxied request whose
// upstream stalls) is answered 503 with `Connection: close` rather than meeting a silent close;
// one whose response head is out cannot be answered again.
TEST(Shutdown, UnansweredRequestIsAnswered503AtTheDrainsEnd) {
  harness h;
  h.handler.request = [&](server_request&, response_writer w) {
    w.add_header("X-Dropped", "the handler's field, for a response it never made");
    h.writers.push_back(std::move(w));
  };
  h.send(get("/stalled") + get("/behind"));
  h.conn->begin_shutdown(h.now);
  EXPECT_EQ(h.drain(), "");
  EXPECT_TRUE(h.conn->answer_unanswered(503, h.now));
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 503);
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_EQ(responses[0].field("X-Dropped"), "");
  EXPECT_FALSE(h.writers[0].valid());
  EXPECT_FALSE(h.writers[0].send("too late"));
  EXPECT_EQ(h.drain(), "");

  harness begun;
  begun.handler.request = [&](server_request&, response_writer w) {
    w.begin();
    w.write("part");
    begun.writers.push_back(std::move(w));
  };
  begun.send(get("/"));
  const std::string head_and_part = begun.drain();
  EXPECT_NE(head_and_part.find("part"), std::string::npos);
  EXPECT_FALSE(begun.conn->answer_unanswered(503, begun.now));
  EXPECT_EQ(begun.drain(), "") << "no second answer after a head that is out";
}

TEST(Shutdown, InFlightRequestIsFinishedAndAnsweredWithClose) {
  harness h;
  h.handler.request = [&](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  h.send(get("/"));
  h.conn->begin_shutdown(h.now);
  EXPECT_FALSE(h.wants().close);
  EXPECT_FALSE(h.wants().read);
  h.writers[0].send("done");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "done");
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_TRUE(h.wants().shutdown_write);
}

TEST(Shutdown, PartialHeadIsCompletedAndAnsweredWithClose) {
  harness h;
  const std::string request = get("/late");
  h.send(request.substr(0, 10));
  h.conn->begin_shutdown(h.now);
  EXPECT_TRUE(h.wants().read);
  h.send(request.substr(10) + get("/never"));
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "GET /late");
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_EQ(h.handler.requests, 1);
}

TEST(Shutdown, BodyInProgressIsFinished) {
  harness h;
  const std::string request = post("/", "0123456789");
  h.send(request.substr(0, request.size() - 5));
  h.conn->begin_shutdown(h.now);
  h.send(request.substr(request.size() - 5));
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "POST / 0123456789");
  EXPECT_EQ(responses[0].field("Connection"), "close");
}

TEST(Shutdown, PipelinedRequestsAlreadyHandledAreAllAnswered) {
  harness h;
  h.handler.request = [&](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  h.send(get("/1") + get("/2"));
  h.conn->begin_shutdown(h.now);
  h.writers[1].send("2");
  h.writers[0].send("1");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].field("Connection"), "");
  EXPECT_EQ(responses[1].field("Connection"), "close");
}

// --- Upgrade and CONNECT -------------------------------------------------------------------------

struct recording_upgrade final : upgrade_handler {
  std::string leftover;
  void* stream = nullptr;
  int calls = 0;
  void on_upgrade(std::string_view bytes, void* s) override {
    leftover = bytes;
    stream = s;
    ++calls;
  }
};

TEST(Upgrade, SwitchingProtocolsHandsOverTheBytesAlreadyRead) {
  harness h;
  recording_upgrade target;
  h.handler.request = [&](server_request& r, response_writer w) {
    EXPECT_TRUE(r.head().upgrade);
    EXPECT_EQ(r.head().upgrade_protocols, "websocket");
    w.set_status(101);
    w.add_header("Upgrade", "websocket");
    w.add_header("Connection", "Upgrade");
    EXPECT_TRUE(w.upgrade(target));
  };
  const std::string frames = "\x81\x05hello GET / HTTP/1.1\r\n\r\n";  // not HTTP any more
  h.send("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" +
         frames);
  EXPECT_FALSE(h.wants().upgrade) << "the 101 must be written first";
  EXPECT_FALSE(h.wants().read);
  const std::string out = h.drain();
  std::string rest;
  const auto responses = parse_responses(out, {}, &rest);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 101);
  EXPECT_EQ(responses[0].field("Upgrade"), "websocket");
  EXPECT_EQ(responses[0].field("Connection"), "Upgrade");
  EXPECT_FALSE(responses[0].has("Content-Length"));
  EXPECT_EQ(rest, "");
  EXPECT_TRUE(h.wants().upgrade);
  EXPECT_EQ(h.handler.requests, 1);
  int stream = 7;
  h.conn->take_over(&stream);
  EXPECT_EQ(target.calls, 1);
  EXPECT_EQ(target.leftover, frames);
  EXPECT_EQ(target.stream, &stream);
  const connection_wants w = h.wants();
  EXPECT_FALSE(w.read || w.write || w.close || w.upgrade || w.shutdown_write)
      << "the stream belongs to the upgrade handler now";
  EXPECT_TRUE(h.conn->holds_nothing());
}

TEST(Upgrade, AnsweredLaterAfterEarlierResponses) {
  harness h;
  recording_upgrade target;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/chat") {
      h.writers.push_back(std::move(w));
    } else {
      w.send("plain");
    }
  };
  h.send(get("/") + "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n" +
         "raw bytes");
  EXPECT_EQ(h.handler.requests, 2);
  EXPECT_FALSE(h.wants().read) << "nothing after an Upgrade request is read until it is answered";
  h.writers[0].set_status(101);
  h.writers[0].add_header("Upgrade", "x");
  h.writers[0].add_header("Connection", "upgrade");
  EXPECT_TRUE(h.writers[0].upgrade(target));
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[1].status, 101);
  h.conn->take_over(nullptr);
  EXPECT_EQ(target.leftover, "raw bytes");
}

TEST(Upgrade, DeclinedUpgradeKeepsSpeakingHttp) {
  harness h;
  const auto responses = parse_responses(h.exchange(
      "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n" + get("/next")));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[1].body, "GET /next");
}

TEST(Upgrade, RefusedWhenTheRequestDidNotAskOrHasABody) {
  harness h;
  recording_upgrade target;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/plain") {
      EXPECT_FALSE(w.set_status(101)) << "the request did not ask to upgrade";
      EXPECT_FALSE(w.upgrade(target));
      EXPECT_TRUE(w.send("plain"));
      return;
    }
    EXPECT_TRUE(w.set_status(101));
    EXPECT_FALSE(w.upgrade(target)) << "the request body would be taken for the new protocol";
    EXPECT_FALSE(w.send("101 without upgrade"));
    EXPECT_TRUE(w.valid());
  };
  const auto responses =
      parse_responses(h.exchange(
          get("/plain") + "POST /up HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\nConnection: upgrade\r\n"
                          "Content-Length: 2\r\n\r\nhi"));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].body, "plain");
  EXPECT_EQ(responses[1].status, 500) << "the writer was dropped unanswered";
  EXPECT_EQ(target.calls, 0);
}

TEST(Connect, TwoHundredOpensATunnel) {
  harness h;
  recording_upgrade target;
  h.handler.request = [&](server_request& r, response_writer w) {
    EXPECT_EQ(r.method(), method::connect);
    EXPECT_EQ(r.target(), "example.com:443");
    EXPECT_FALSE(w.send("no body for a tunnel"));
    EXPECT_TRUE(w.upgrade(target));
  };
  h.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01");
  std::string rest;
  const auto responses = parse_responses(h.drain(), {method::connect}, &rest);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_FALSE(responses[0].has("Content-Length"));
  EXPECT_FALSE(responses[0].has("Transfer-Encoding"));
  ASSERT_TRUE(h.wants().upgrade);
  h.conn->take_over(nullptr);
  EXPECT_EQ(target.leftover, "\x16\x03\x01");
}

TEST(Connect, AnUnfinishedTunnelAnswerClosesTheConnection) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    w.set_status(200);
    w.add_header("X-Tunnel", "maybe");
    EXPECT_FALSE(w.send("a body would be read as tunnel bytes"));
  };  // dropped without upgrade(): the client already sees a tunnel
  const std::string out = h.exchange("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n" + get("/next"));
  std::string rest;
  const auto responses = parse_responses(out, {method::connect}, &rest);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(rest, "") << "no HTTP after what the client took for a tunnel";
  EXPECT_TRUE(h.wants().shutdown_write);
}

TEST(Connect, RefusedConnectKeepsSpeakingHttp) {
  harness h;
  h.handler.request = [](server_request& r, response_writer w) {
    w.send(r.method() == method::connect ? 403 : 200, "x");
  };
  const auto responses = parse_responses(
      h.exchange("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n" + get("/")), {method::connect});
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 403);
  EXPECT_EQ(responses[1].status, 200);
}

// --- Split invariance ----------------------------------------------------------------------------

/// A conversation touching most paths: bodies, chunked in and out, HEAD, 204, pipelining, an
/// async answer, 100-continue, and an error at the end.
std::string conversation() {
  return get("/a") + post("/b", "body-b") +
         "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2\r\nc1\r\n3;x=y\r\nc22\r\n0\r\nT: 1\r\n\r\n" +
         "HEAD /d HTTP/1.1\r\nHost: a\r\n\r\n" + get("/stream") + get("/empty") + get("/async") +
         post("/e", "continue-body", "Expect: 100-continue\r\n") +
         "GET /f HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + "BAD REQUEST LINE\r\n\r\n";
}

std::string run_conversation(const std::vector<std::size_t>& cuts) {
  harness h({}, 256);
  h.handler.request = [&h](server_request& r, response_writer w) {
    const std::string target(r.target());
    if (target == "/stream") {
      w.begin();
      w.write("s1");
      w.write("s2");
      const header t{"X-T", "v"};
      w.finish(std::span(&t, 1));
    } else if (target == "/empty") {
      w.set_status(204);
      w.finish();
    } else if (target == "/async") {
      h.writers.push_back(std::move(w));
    } else {
      w.send(200, target + ":" + std::string(r.body()), "text/plain");
    }
  };
  // The async answer comes from outside the connection's calls after the piece that started it
  // (POST /e waits for it: it is not a safe method).
  const auto answer_async = [&h] {
    if (h.writers.empty()) return;
    h.writers[0].send("async answer");
    h.writers.clear();
  };
  const std::string input = conversation();
  std::string out;
  std::size_t offset = 0;
  for (std::size_t cut : cuts) {
    const std::size_t end = std::min(input.size(), offset + cut);
    while (offset < end) {
      const std::size_t n = h.send(std::string_view(input).substr(offset, end - offset));
      answer_async();
      out += h.drain();
      if (n == 0) break;
      offset += n;
    }
  }
  while (offset < input.size()) {
    const std::size_t n = h.send(std::string_view(input).substr(offset));
    answer_async();
    out += h.drain();
    if (n == 0) break;
    offset += n;
  }
  return out;
}

TEST(SplitInvariance, SameOutputWholeOrOneByteAtATimeOrRandomPieces) {
  const std::string whole = run_conversation({conversation().size()});
  const auto responses =
      parse_responses(whole, {method::get, method::post, method::post, method::head});
  ASSERT_EQ(responses.size(), 11u);  // ten final responses and one 100 Continue
  EXPECT_EQ(responses.back().status, 400);
  EXPECT_EQ(run_conversation(std::vector<std::size_t>(conversation().size(), 1)), whole);
  std::mt19937 rng(12345);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::size_t> cuts;
    for (std::size_t total = 0; total < conversation().size();) {
      cuts.push_back(1 + rng() % 40);
      total += cuts.back();
    }
    EXPECT_EQ(run_conversation(cuts), whole) << "round " << round;
  }
}

}  // namespace
}  // namespace taut::test
