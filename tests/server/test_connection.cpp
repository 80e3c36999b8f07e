// The connection core with plain calls: exact bytes of simple exchanges, the keep-alive matrix,
// pipelining (synchronous and asynchronous), the pipeline bound, HEAD/204/304, and the pieces
// the connection is made of (Date cache, reason phrases, buffer pool).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>

#include <stdexcept>
#include <string>
#include <tuple>

#include "connection_test_support.hpp"
#include "taut/status.hpp"

namespace taut::test {
namespace {

// --- Building blocks -----------------------------------------------------------------------------

TEST(DateCache, FormatsImfFixdate) {
  date_cache cache{std::chrono::system_clock::time_point(std::chrono::seconds(rfc_date_seconds))};
  EXPECT_EQ(cache.value(), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(cache.field_line(), rfc_date_line);
  char text[29];
  date_cache::format(0, text);
  EXPECT_EQ(std::string_view(text, 29), "Thu, 01 Jan 1970 00:00:00 GMT");
  date_cache::format(951782400, text);  // a leap day in a year divisible by 400
  EXPECT_EQ(std::string_view(text, 29), "Tue, 29 Feb 2000 00:00:00 GMT");
  date_cache::format(1709251199, text);
  EXPECT_EQ(std::string_view(text, 29), "Thu, 29 Feb 2024 23:59:59 GMT");
  date_cache::format(4102444800, text);
  EXPECT_EQ(std::string_view(text, 29), "Fri, 01 Jan 2100 00:00:00 GMT");
  date_cache::format(-1, text);
  EXPECT_EQ(std::string_view(text, 29), "Wed, 31 Dec 1969 23:59:59 GMT");
}

TEST(DateCache, RecognisesImfFixdatesOnly) {
  for (const std::string_view date :
       {"Sun, 06 Nov 1994 08:49:37 GMT", "Thu, 01 Jan 1970 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:60 GMT", "Thu, 29 Feb 2024 10:00:00 GMT",
        "Sat, 01 Jan 0000 00:00:00 GMT", "Tue, 29 Feb 2000 12:00:00 GMT"}) {
    EXPECT_TRUE(is_imf_fixdate(date)) << date;
  }
  for (const std::string_view date :
       {"", "yesterday", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
        "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 GMT ",
        "sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 NOV 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:37 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT", "Sun; 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08-49-37 GMT", "Sun, 06 Nov 19x4 08:49:37 GMT",
        // impossible dates: no 31st in February or April, no 29 February in 2023 or 1900
        "Sat, 31 Feb 2024 10:00:00 GMT", "Mon, 31 Apr 2024 10:00:00 GMT",
        "Wed, 29 Feb 2023 10:00:00 GMT", "Thu, 29 Feb 1900 10:00:00 GMT",
        // a day-name that is not the date's
        "Mon, 06 Nov 1994 08:49:37 GMT", "Wed, 31 Dec 9999 23:59:60 GMT",
        // a leap second other than the last of a day
        "Sun, 06 Nov 1994 08:49:60 GMT", "Sun, 06 Nov 1994 22:59:60 GMT",
        // three letters of the packed name lists that straddle two names
        "unM, 06 Nov 1994 08:49:37 GMT", "Sun, 06 ovD 1994 08:49:37 GMT"}) {
    EXPECT_FALSE(is_imf_fixdate(date)) << date;
  }
}

TEST(DateCache, FormatsOncePerSecond) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(rfc_date_seconds));
  date_cache cache(t);
  EXPECT_FALSE(cache.update(t + 999ms));
  EXPECT_EQ(cache.value(), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_TRUE(cache.update(t + 1s));
  EXPECT_EQ(cache.value(), "Sun, 06 Nov 1994 08:49:38 GMT");
}

TEST(Status, ReasonPhrasesAndContentRules) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(299), "");
  EXPECT_TRUE(status_forbids_body(101));
  EXPECT_TRUE(status_forbids_body(204));
  EXPECT_TRUE(status_forbids_body(304));
  EXPECT_FALSE(status_forbids_body(200));
  EXPECT_FALSE(status_forbids_body(404));
}

TEST(BlockPool, ReusesReleasedBlocks) {
  block_pool pool(256, 2, 3);
  char* a = pool.acquire();
  char* b = pool.acquire();
  char* c = pool.acquire();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(pool.acquire(), nullptr) << "max_blocks is a hard limit";
  EXPECT_EQ(pool.in_use(), 3u);
  pool.release(a);
  pool.release(b);
  pool.release(c);  // beyond max_free: given back to the heap
  EXPECT_EQ(pool.free_blocks(), 2u);
  EXPECT_EQ(pool.heap_allocations(), 3u);
  char* again = pool.acquire();
  EXPECT_TRUE(again == a || again == b);
  EXPECT_EQ(pool.heap_allocations(), 3u);
  pool.release(again);
}

// --- Simple exchanges ----------------------------------------------------------------------------

TEST(Connection, AnswersAGetWithExactBytes) {
  harness h;
  EXPECT_EQ(h.exchange(get("/hello")), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" +
                                           std::string(rfc_date_line) +
                                           "Content-Length: 10\r\n\r\nGET /hello");
  EXPECT_TRUE(h.wants().read);
  EXPECT_FALSE(h.wants().close);
  EXPECT_TRUE(h.conn->holds_nothing()) << "an idle keep-alive connection holds no buffer";
  EXPECT_EQ(h.pool.in_use(), 0u);
  EXPECT_EQ(h.context->states_in_use(), 0u);
}

// A connection gives its working state (response slots, header array) back to the context when
// it goes idle, and the next request, on it or on another connection, borrows one again: a
// state that served a full, out-of-order pipeline must come back as good as new.
TEST(Connection, AWorkingStateGivenBackServesTheNextRequestsAsNew) {
  connection_options options;
  options.max_pipeline_depth = 3;
  harness h(options);
  h.handler.request = [&](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  h.send(get("/1") + get("/2") + get("/3"));
  ASSERT_EQ(h.writers.size(), 3u);
  EXPECT_TRUE(h.writers[2].add_header("Content-Type", "text/a"));
  EXPECT_TRUE(h.writers[2].add_header("Content-Type", "text/b"));
  EXPECT_TRUE(h.writers[2].send("three"));
  EXPECT_TRUE(h.writers[1].begin());
  EXPECT_TRUE(h.writers[1].write("two"));
  EXPECT_TRUE(h.writers[0].send(404, "one"));
  EXPECT_TRUE(h.writers[1].finish());
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].status, 404);
  EXPECT_EQ(responses[1].body, "two");
  EXPECT_EQ(responses[2].body, "three");
  EXPECT_EQ(responses[2].field("Content-Type"), "text/b");
  EXPECT_EQ(responses[2].count("Content-Type"), 1);
  h.writers.clear();
  EXPECT_TRUE(h.conn->holds_nothing());
  EXPECT_EQ(h.context->states_in_use(), 0u);

  const std::string expected = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" +
                               std::string(rfc_date_line) + "Content-Length: 10\r\n\r\nGET /again";
  h.handler.request = nullptr;
  for (int round = 0; round < 4; ++round) {
    EXPECT_EQ(h.exchange(get("/again")), expected) << round;
    EXPECT_EQ(h.context->states_in_use(), 0u);
  }
  // Another connection of the same context borrows the state this one gave back.
  connection other(*h.context, h.now);
  EXPECT_EQ(other.receive(get("/again"), h.now), get("/again").size());
  std::string out;
  while (other.wants().write) {
    out += other.output();
    other.commit_write(other.output().size(), h.now);
  }
  EXPECT_EQ(out, expected);
  EXPECT_TRUE(other.holds_nothing());
  EXPECT_EQ(h.context->states_in_use(), 0u);
}

TEST(Connection, ContextRefusesBlocksTooSmallForAStatusLine) {
  block_pool tiny(64);
  date_cache date;
  lambda_handler handler;
  EXPECT_THROW(connection_context(handler, tiny, date), std::invalid_argument);
}

TEST(Connection, IsSmallWhileIdle) {
  EXPECT_LE(sizeof(connection), 160u);
  EXPECT_LE(sizeof(response_writer), 16u);
}

TEST(Connection, AddsServerHeaderWhenConfigured) {
  connection_options options;
  options.server_name = "taut";
  harness h(options);
  const auto responses = parse_responses(h.exchange(get("/")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].field("Server"), "taut");
  EXPECT_EQ(responses[0].count("Date"), 1);
}

TEST(Connection, ServesManyRequestsOnOneConnection) {
  harness h;
  for (int i = 0; i < 50; ++i) {
    const auto responses = parse_responses(h.exchange(get("/n" + std::to_string(i))));
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].body, "GET /n" + std::to_string(i));
  }
  EXPECT_EQ(h.conn->requests(), 50u);
  EXPECT_EQ(h.pool.heap_allocations(), 3u)
      << "one input block, one output block and one holding a head's fields until it ends, reused";
}

// --- Keep-alive matrix (RFC 9112 section 9.3) ----------------------------------------------------

struct keep_alive_case {
  const char* version;
  const char* connection_field;  // empty: absent
  bool keep_alive;
  const char* response_connection;  // expected Connection field of the response
};

class KeepAlive : public ::testing::TestWithParam<keep_alive_case> {};

TEST_P(KeepAlive, FollowsVersionAndConnectionTokens) {
  const keep_alive_case& c = GetParam();
  harness h;
  std::string request = "GET / " + std::string(c.version) + "\r\nHost: a\r\n";
  if (*c.connection_field != '\0')
    request += "Connection: " + std::string(c.connection_field) + "\r\n";
  request += "\r\n";
  const auto responses = parse_responses(h.exchange(request));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].field("Connection"), c.response_connection);
  EXPECT_EQ(responses[0].keep_alive, c.keep_alive);
  const connection_wants w = h.wants();
  if (c.keep_alive) {
    EXPECT_TRUE(w.read);
    EXPECT_FALSE(w.shutdown_write);
    // And the connection really is reusable.
    EXPECT_EQ(parse_responses(h.exchange(request)).size(), 1u);
  } else {
    EXPECT_TRUE(w.shutdown_write) << "flushed: shut down the write side, then linger";
    EXPECT_FALSE(w.close);
    const std::string more = get("/more");
    EXPECT_EQ(h.send(more), more.size()) << "lingering reads and discards";
    EXPECT_EQ(h.drain(), "");
    h.conn->receive_eof(h.now);
    EXPECT_TRUE(h.wants().close);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, KeepAlive,
    ::testing::Values(keep_alive_case{"HTTP/1.1", "", true, ""},
                      keep_alive_case{"HTTP/1.1", "keep-alive", true, ""},
                      keep_alive_case{"HTTP/1.1", "close", false, "close"},
                      keep_alive_case{"HTTP/1.1", "Close", false, "close"},
                      keep_alive_case{"HTTP/1.1", "foo, close", false, "close"},
                      keep_alive_case{"HTTP/1.0", "", false, "close"},
                      keep_alive_case{"HTTP/1.0", "keep-alive", true, "keep-alive"},
                      keep_alive_case{"HTTP/1.0", "Keep-Alive", true, "keep-alive"},
                      keep_alive_case{"HTTP/1.0", "close", false, "close"},
                      keep_alive_case{"HTTP/1.0", "keep-alive, close", false, "close"}));

TEST(Connection, HandlerCanAskToClose) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    w.add_header("Connection", "close");
    w.send("bye");
  };
  const auto responses = parse_responses(h.exchange(get("/") + get("/never")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_EQ(h.handler.requests, 1) << "nothing after a close is handled";
  EXPECT_TRUE(h.wants().shutdown_write);
}

// --- Pipelining ----------------------------------------------------------------------------------

TEST(Connection, AnswersPipelinedRequestsInOrder) {
  harness h;
  const auto responses = parse_responses(h.exchange(get("/a") + get("/b") + get("/c")));
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].body, "GET /a");
  EXPECT_EQ(responses[1].body, "GET /b");
  EXPECT_EQ(responses[2].body, "GET /c");
}

TEST(Connection, QueuesResponsesBehindALateOne) {
  harness h;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/slow") {
      h.writers.push_back(std::move(w));  // finish later
    } else {
      w.send(std::string(r.target()));
    }
  };
  h.send(get("/fast1") + get("/slow") + get("/fast2") + get("/fast3"));
  const std::string before = h.drain();
  const auto first = parse_responses(before);
  ASSERT_EQ(first.size(), 1u) << "only the response before the slow one may leave";
  EXPECT_EQ(first[0].body, "/fast1");
  EXPECT_EQ(h.handler.requests, 4) << "later requests are handled; their answers wait";
  EXPECT_GT(h.conn->queued_output(), 0u);
  ASSERT_EQ(h.writers.size(), 1u);
  EXPECT_TRUE(h.writers[0].send("slow, finished late"));
  EXPECT_FALSE(h.writers[0].valid());
  const auto rest = parse_responses(h.drain());
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[0].body, "slow, finished late");
  EXPECT_EQ(rest[1].body, "/fast2");
  EXPECT_EQ(rest[2].body, "/fast3");
  h.writers.clear();
  EXPECT_TRUE(h.conn->holds_nothing());
}

TEST(Connection, AsyncResponsesFinishedOutOfOrderLeaveInOrder) {
  harness h;
  h.handler.request = [&](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  h.send(get("/1") + get("/2") + get("/3"));
  ASSERT_EQ(h.writers.size(), 3u);
  h.writers[2].send("three");
  h.writers[1].begin();
  h.writers[1].write("tw");
  EXPECT_EQ(h.drain(), "");
  h.writers[0].send("one");
  h.writers[1].write("o");
  h.writers[1].finish();
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].body, "one");
  EXPECT_EQ(responses[1].body, "two");
  EXPECT_EQ(responses[1].framing, body_kind::chunked);
  EXPECT_EQ(responses[2].body, "three");
}

TEST(Connection, StopsReadingAtThePipelineDepth) {
  connection_options options;
  options.max_pipeline_depth = 2;
  harness h(options);
  h.handler.request = [&](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  h.send(get("/1") + get("/2"));
  EXPECT_EQ(h.writers.size(), 2u);
  EXPECT_FALSE(h.wants().read) << "two responses pending: read no more";
  EXPECT_TRUE(h.conn->read_buffer().empty());
  EXPECT_EQ(h.send(get("/3")), 0u);
  EXPECT_EQ(h.wants().deadline, time_point::max()) << "waiting for ourselves, not the client";
  h.writers[0].send("1");
  EXPECT_TRUE(h.wants().read);
  EXPECT_EQ(h.send(get("/3")), get("/3").size());
  EXPECT_EQ(h.writers.size(), 3u);
  EXPECT_FALSE(h.wants().read);
  h.writers[1].send("2");
  h.writers[2].send("3");
  EXPECT_EQ(parse_responses(h.drain()).size(), 3u);
}

TEST(Connection, PipelinedBytesAlreadyReadWaitForASlot) {
  connection_options options;
  options.max_pipeline_depth = 2;
  harness h(options);
  h.handler.request = [&](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  h.send(get("/1") + get("/2") + get("/3"));
  EXPECT_EQ(h.writers.size(), 2u) << "the third request is read but not handled yet";
  h.writers[0].send("1");
  // A slot freed, from outside every call of the connection: the third request starts at the
  // owner's next call, which the connection asks for at once.
  EXPECT_EQ(h.writers.size(), 2u) << "no handler runs inside another request's writer call";
  EXPECT_LE(h.wants().deadline, h.now);
  h.advance(0ms);
  EXPECT_EQ(h.writers.size(), 3u) << "a slot freed: the third request is handled";
  h.writers[1].send("2");
  h.writers[2].send("3");
  EXPECT_EQ(parse_responses(h.drain()).size(), 3u);
}

TEST(Connection, StopsReadingWhileOutputIsQueued) {
  connection_options options;
  options.max_output_bytes = 1000;
  harness h(options);
  h.handler.request = [](server_request&, response_writer w) { w.send(std::string(600, 'x')); };
  std::string requests;
  for (int i = 0; i < 5; ++i) requests += get("/");
  h.send(requests);
  EXPECT_EQ(h.handler.requests, 2) << "1200 bytes queued: no third request until they leave";
  EXPECT_FALSE(h.wants().read);
  EXPECT_TRUE(h.wants().write);
  const std::string out = h.drain();
  EXPECT_EQ(h.handler.requests, 5);
  EXPECT_EQ(parse_responses(out + h.drain()).size(), 5u);
}

// --- Responses without content -------------------------------------------------------------------

TEST(Connection, HeadGetsTheLengthButNoBody) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    EXPECT_TRUE(w.body_suppressed());
    w.send("twelve bytes");
  };
  const std::string out = h.exchange("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
  const auto responses = parse_responses(out, {method::head});
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].field("Content-Length"), "12");
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
  EXPECT_EQ(out.find("twelve"), std::string::npos);
}

TEST(Connection, HeadWithStreamingBodySendsNoChunks) {
  harness h;
  h.handler.request = [](server_request& r, response_writer w) {
    w.begin();
    w.write(r.method() == method::head ? "data" : "other");
    w.finish();
  };
  const std::string out = h.exchange("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + get("/next"));
  const auto responses = parse_responses(out, {method::head, method::get});
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].field("Transfer-Encoding"), "chunked");
  EXPECT_EQ(responses[1].status, 200);
  EXPECT_EQ(out.find("data"), std::string::npos);
}

TEST(Connection, HeadFinishedAfterDeclaredLengthKeepsTheConnection) {
  harness h;
  h.handler.request = [](server_request& r, response_writer w) {
    if (r.method() == method::head) {
      EXPECT_TRUE(w.begin(1000));
      EXPECT_TRUE(w.finish());  // no body is ever sent for HEAD: nothing is missing
    } else {
      w.send("next");
    }
  };
  const std::string out = h.exchange("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + get("/next"));
  const auto responses = parse_responses(out, {method::head, method::get});
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].field("Content-Length"), "1000");
  EXPECT_FALSE(responses[0].has("Connection"));
  EXPECT_EQ(responses[1].body, "next");
  EXPECT_EQ(h.handler.requests, 2);
}

TEST(Connection, NoContentFinishedAfterBeginKeepsTheConnection) {
  harness h;
  h.handler.request = [](server_request& r, response_writer w) {
    if (r.target() == "/") {
      w.set_status(304);
      EXPECT_TRUE(w.begin(10));
      EXPECT_TRUE(w.finish());
    } else {
      w.send("next");
    }
  };
  const auto responses = parse_responses(h.exchange(get("/") + get("/next")));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 304);
  EXPECT_FALSE(responses[0].has("Connection"));
  EXPECT_EQ(responses[1].body, "next");
}

class NoContent : public ::testing::TestWithParam<int> {};

TEST_P(NoContent, StatusForbidsBodyAndLength) {
  harness h;
  const int status = GetParam();
  h.handler.request = [status](server_request&, response_writer w) {
    w.set_status(status);
    w.add_header("ETag", "\"x\"");
    w.send("ignored body");
  };
  const std::string out = h.exchange(get("/") + get("/"));
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, status);
  EXPECT_FALSE(responses[0].has("Content-Length"));
  EXPECT_FALSE(responses[0].has("Transfer-Encoding"));
  EXPECT_EQ(out.find("ignored"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Statuses, NoContent, ::testing::Values(204, 304));

TEST(Connection, SendsInformationalResponsesBeforeTheFinalOne) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    const header hint{"Link", "</style.css>; rel=preload"};
    EXPECT_TRUE(w.send_informational(103, std::span(&hint, 1)));
    EXPECT_FALSE(w.send_informational(100));
    EXPECT_FALSE(w.send_informational(200));
    w.send("page");
  };
  const auto responses = parse_responses(h.exchange(get("/")));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 103);
  EXPECT_EQ(responses[0].field("Link"), "</style.css>; rel=preload");
  EXPECT_EQ(responses[1].status, 200);
  EXPECT_EQ(responses[1].body, "page");
}

TEST(Connection, NeverSendsInterimResponsesToHttp10) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    w.send_informational(103);
    w.send("page");
  };
  const auto responses = parse_responses(h.exchange("GET / HTTP/1.0\r\n\r\n"));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 200);
}

// --- Response writer rules -----------------------------------------------------------------------

TEST(ResponseWriter, RefusesHeadersThatWouldSplitOrReframeTheResponse) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    EXPECT_FALSE(w.add_header("X-Evil", "a\r\nSet-Cookie: x=1"));
    EXPECT_FALSE(w.add_header("X-Evil", std::string_view("a\0b", 3)));
    EXPECT_FALSE(w.add_header("Bad Name", "v"));
    EXPECT_FALSE(w.add_header("", "v"));
    EXPECT_FALSE(w.add_header("Content-Length", "5"));
    EXPECT_FALSE(w.add_header("transfer-encoding", "chunked"));
    EXPECT_FALSE(w.add_header("Date", "yesterday"));
    EXPECT_FALSE(w.add_header("X-Evil", " leading space"));  // RFC 9110 section 5.5
    EXPECT_FALSE(w.add_header("X-Evil", "trailing tab\t"));
    EXPECT_FALSE(w.add_header("X-Evil", "trailing space "));
    EXPECT_TRUE(w.add_header("X-Fine", "tab\there, obs-text \xff"));
    EXPECT_FALSE(w.set_status(99));
    w.send("ok");
    EXPECT_FALSE(w.set_status(404)) << "the head is written";
    EXPECT_FALSE(w.send("twice"));
    EXPECT_FALSE(w.valid());
  };
  const std::string out = h.exchange(get("/"));
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[0].field("X-Fine"), "tab\there, obs-text \xff");
  EXPECT_EQ(out.find("Evil"), std::string::npos);
  EXPECT_EQ(responses[0].count("Content-Length"), 1);
}

// A handler may give the Date (a proxy passing on its origin's, RFC 9110 section 6.6.1): one
// valid IMF-fixdate replaces the connection's. A second one, or one in another form, is refused:
// a response never carries two.
TEST(ResponseWriter, AHandlersDateReplacesTheConnectionsOwn) {
  harness h;
  h.handler.request = [](server_request& request, response_writer w) {
    if (request.target() == "/given") {
      EXPECT_TRUE(w.add_header("Date", "Tue, 15 Nov 1994 08:12:31 GMT"));
      EXPECT_FALSE(w.add_header("date", "Wed, 16 Nov 1994 08:12:31 GMT"));
    } else {
      EXPECT_FALSE(w.add_header("Date", "Tuesday, 15-Nov-94 08:12:31 GMT"));  // RFC 850 form
      EXPECT_FALSE(w.add_header("Date", "Tue, 15 Nov 1994 08:12:31 UTC"));
      EXPECT_FALSE(w.add_header("Date", "Tue, 15 Nov 1994 08:12:31 GMT\r\nX-Evil: 1"));
    }
    w.send("ok");
  };
  const std::string out = h.exchange(get("/given") + get("/refused"));
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].count("Date"), 1);
  EXPECT_EQ(responses[0].field("Date"), "Tue, 15 Nov 1994 08:12:31 GMT");
  EXPECT_EQ(responses[1].count("Date"), 1);
  EXPECT_EQ(responses[1].field("Date"), "Sun, 06 Nov 1994 08:49:37 GMT");  // the connection's
  EXPECT_EQ(out.find("Evil"), std::string::npos);
}

// One Server field: the handler's (a proxy passing on its origin's) or server_name.
TEST(ResponseWriter, AHandlersServerFieldReplacesTheServerName) {
  connection_options options;
  options.server_name = "taut";
  harness h(options);
  h.handler.request = [](server_request& request, response_writer w) {
    if (request.target() == "/named") {
      EXPECT_TRUE(w.add_header("Server", "origin/2.0"));
    }
    w.send("ok");
  };
  const auto responses = parse_responses(h.exchange(get("/named") + get("/")));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].count("Server"), 1);
  EXPECT_EQ(responses[0].field("Server"), "origin/2.0");
  EXPECT_EQ(responses[1].count("Server"), 1);
  EXPECT_EQ(responses[1].field("Server"), "taut");
}

TEST(ResponseWriter, RejectsStatusesOutsideTheFinalRange) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    EXPECT_FALSE(w.set_status(100));
    EXPECT_FALSE(w.set_status(600));
    EXPECT_TRUE(w.set_status(418));
    w.send("teapot");
  };
  const auto responses = parse_responses(h.exchange(get("/")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 418);
}

TEST(ResponseWriter, ContentLengthBodyMustMatch) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    EXPECT_TRUE(w.begin(5));
    EXPECT_TRUE(w.write("abc"));
    EXPECT_FALSE(w.write("def")) << "more than declared";
    EXPECT_TRUE(w.write("de"));
    EXPECT_TRUE(w.finish());
  };
  const auto responses = parse_responses(h.exchange(get("/")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "abcde");
}

TEST(ResponseWriter, ShortContentLengthBodyClosesTheConnection) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    w.begin(10);
    w.write("abc");
    EXPECT_FALSE(w.finish()) << "7 bytes missing";
  };
  const std::string out = h.exchange(get("/") + get("/"));
  EXPECT_TRUE(out.ends_with("\r\n\r\nabc")) << "nothing after the short body";
  EXPECT_NE(out.find("Content-Length: 10\r\n"), std::string::npos);
  EXPECT_EQ(h.handler.requests, 1);
  EXPECT_TRUE(h.wants().shutdown_write) << "only closing tells the client the body is short";
}

TEST(ResponseWriter, DroppedWithoutAnswerSends500) {
  harness h;
  h.handler.request = [](server_request&, response_writer) {};
  const auto responses = parse_responses(h.exchange(get("/") + get("/")));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 500);
  EXPECT_TRUE(responses[0].keep_alive) << "a forgotten answer is a bug, not a reason to close";
}

// The held status and fields described a response that never came: a plain 500 without them.
TEST(ResponseWriter, DroppedAfterHeadersAnswersAPlain500) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    w.set_status(201);
    w.add_header("Location", "/x");
    w.add_header("Server", "mine");
  };
  const auto responses = parse_responses(h.exchange(get("/") + get("/")));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 500);
  EXPECT_EQ(responses[0].field("Location"), "");
  EXPECT_EQ(responses[0].field("Server"), "");
  EXPECT_TRUE(responses[0].keep_alive);
}

TEST(ResponseWriter, ResetDropsTheHeldHeadUntilItIsWritten) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    EXPECT_TRUE(w.set_status(404));
    EXPECT_TRUE(w.add_header("X-Gone", "1"));
    EXPECT_TRUE(w.reset());
    EXPECT_TRUE(w.add_header("X-Kept", "1"));
    EXPECT_TRUE(w.send("ok"));
    EXPECT_FALSE(w.reset());
  };
  const auto responses = parse_responses(h.exchange(get("/")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[0].field("X-Gone"), "");
  EXPECT_EQ(responses[0].field("X-Kept"), "1");
}

TEST(ResponseWriter, DroppedMidChunkedBodyCutsTheConnection) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    w.begin();
    w.write("partial");
  };
  const std::string out = h.exchange(get("/") + get("/"));
  EXPECT_TRUE(out.ends_with("7\r\npartial\r\n"))
      << "no last-chunk: the client must see the body as incomplete";
  EXPECT_TRUE(h.wants().shutdown_write);
}

TEST(ResponseWriter, HandlerExceptionAnswers500AndCloses) {
  harness h;
  h.handler.request = [](server_request& r, response_writer w) {
    if (r.target() == "/throw") throw std::runtime_error("boom");
    w.send("fine");
  };
  const auto responses = parse_responses(h.exchange(get("/") + get("/throw") + get("/after")));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].body, "fine");
  EXPECT_EQ(responses[1].status, 500);
  EXPECT_EQ(responses[1].field("Connection"), "close");
  EXPECT_EQ(h.handler.requests, 2);
}

TEST(ResponseWriter, BecomesInvalidWhenTheConnectionAborts) {
  harness h;
  h.handler.request = [&](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  h.send(get("/"));
  ASSERT_EQ(h.writers.size(), 1u);
  EXPECT_EQ(h.conn->outstanding_writers(), 1u);
  h.conn->abort();
  EXPECT_TRUE(h.wants().close);
  EXPECT_FALSE(h.writers[0].valid());
  EXPECT_FALSE(h.writers[0].send("too late"));
  h.writers.clear();
  EXPECT_EQ(h.conn->outstanding_writers(), 0u);
  EXPECT_TRUE(h.conn->holds_nothing());
}

TEST(ServerRequest, ExposesTheHead) {
  harness h;
  h.handler.request = [](server_request& r, response_writer w) {
    EXPECT_EQ(r.method(), method::get);
    EXPECT_EQ(r.method_name(), "GET");
    EXPECT_EQ(r.target(), "/p?q=1");
    EXPECT_EQ(r.version_minor(), 1);
    EXPECT_EQ(r.host(), "example.com");
    EXPECT_EQ(r.header_value("x-custom"), "Value");
    EXPECT_EQ(r.header_value("X-CUSTOM"), "Value");
    EXPECT_EQ(r.find_header("absent"), nullptr);
    EXPECT_EQ(r.headers().size(), 2u);
    EXPECT_FALSE(r.has_body());
    EXPECT_EQ(r.sequence(), 1u);
    w.send("");
  };
  h.exchange(get("/p?q=1", "X-Custom: Value\r\n"));
  EXPECT_EQ(h.handler.requests, 1);
}

// --- File bodies (send_file) ---------------------------------------------------------------------

/// An unlinked temporary file holding `content`; the descriptor is handed to send_file.
int temp_file(std::string_view content) {
  char path[] = "/tmp/taut-sendfile-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return -1;
  ::unlink(path);
  if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool fd_closed(int fd) {
  errno = 0;
  return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

TEST(ConnectionFile, SegmentLeavesBetweenPipelinedResponsesInOrder) {
  harness h;
  int fd = -1;
  h.handler.request = [&fd](server_request& r, response_writer w) {
    if (r.target() == "/file") {
      fd = temp_file("0123456789");
      ASSERT_GE(fd, 0);
      EXPECT_TRUE(w.send_file(fd, 2, 5));
    } else {
      w.send(r.target() == "/a" ? "first" : "third");
    }
  };
  h.send(get("/a") + get("/file") + get("/c"));
  // The bytes before the segment go first; only then is the segment due.
  EXPECT_EQ(h.conn->pending_file().fd, -1);
  std::string out;
  while (!h.conn->output().empty()) {
    out += h.conn->output();
    h.conn->commit_write(h.conn->output().size(), h.now);
  }
  const file_segment due = h.conn->pending_file();
  EXPECT_EQ(due.fd, fd);
  EXPECT_EQ(due.offset, 2u);
  EXPECT_EQ(due.length, 5u);
  EXPECT_FALSE(fd_closed(fd));
  out += h.drain();
  EXPECT_TRUE(fd_closed(fd));
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].body, "first");
  EXPECT_EQ(responses[1].field("Content-Length"), "5");
  EXPECT_EQ(responses[1].body, "23456");
  EXPECT_EQ(responses[2].body, "third");
  EXPECT_FALSE(h.conn->wants().write);
}

TEST(ConnectionFile, SegmentWaitsBehindAnUnfinishedResponse) {
  harness h;
  response_writer first;
  int fd = -1;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/slow") {
      first = std::move(w);
    } else {
      fd = temp_file("file body");
      ASSERT_GE(fd, 0);
      EXPECT_TRUE(w.send_file(fd, 0, 9));
    }
  };
  EXPECT_EQ(h.exchange(get("/slow") + get("/file")), "");
  EXPECT_EQ(h.conn->pending_file().fd, -1);
  EXPECT_FALSE(fd_closed(fd));
  first.send("slow");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].body, "slow");
  EXPECT_EQ(responses[1].body, "file body");
  EXPECT_TRUE(fd_closed(fd));
}

TEST(ConnectionFile, HeadSendsTheLengthAndClosesTheFileAtOnce) {
  harness h;
  int fd = -1;
  h.handler.request = [&fd](server_request& r, response_writer w) {
    if (r.method() == method::head) {
      fd = temp_file("0123456789");
      ASSERT_GE(fd, 0);
      EXPECT_TRUE(w.send_file(fd, 0, 10));
      EXPECT_TRUE(fd_closed(fd));
    } else {
      w.send("next");
    }
  };
  const std::string out = h.exchange("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + get("/next"));
  const auto responses = parse_responses(out, {method::head, method::get});
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].field("Content-Length"), "10");
  EXPECT_EQ(out.find("0123"), std::string::npos);
  EXPECT_EQ(responses[1].body, "next");
}

TEST(ConnectionFile, AbortClosesTheFile) {
  harness h;
  int fd = -1;
  h.handler.request = [&fd](server_request&, response_writer w) {
    fd = temp_file("never sent");
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(w.send_file(fd, 0, 10));
  };
  h.send(get("/"));
  EXPECT_FALSE(fd_closed(fd));
  h.conn->abort();
  EXPECT_TRUE(fd_closed(fd));
}

TEST(ConnectionFile, RefusedCallStillClosesTheFile) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    EXPECT_TRUE(w.send("done"));
    const int fd = temp_file("x");
    ASSERT_GE(fd, 0);
    EXPECT_FALSE(w.send_file(fd, 0, 1));  // the response is already finished
    EXPECT_TRUE(fd_closed(fd));
  };
  const auto responses = parse_responses(h.exchange(get("/")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "done");
}

TEST(ConnectionFile, UnusableFileIsRefusedBeforeTheHeadSoTheHandlerCanFallBack) {
  harness h;
  int past_end_fd = -1;
  int pipe_fds[2] = {-1, -1};
  h.handler.request = [&](server_request& r, response_writer w) {
    w.add_header("X-Kept", "yes");
    bool sent = false;
    if (r.target() == "/bad-fd") {
      sent = w.send_file(-1, 0, 10);
    } else if (r.target() == "/past-end") {
      past_end_fd = temp_file("short");
      ASSERT_GE(past_end_fd, 0);
      sent = w.send_file(past_end_fd, 2, 4);  // bytes 2..5 of a 5-byte file
      EXPECT_TRUE(fd_closed(past_end_fd));
    } else {
      ASSERT_EQ(::pipe(pipe_fds), 0);
      sent = w.send_file(pipe_fds[0], 0, 1);  // no regular file: sendfile cannot read it
      EXPECT_TRUE(fd_closed(pipe_fds[0]));
      ::close(pipe_fds[1]);
    }
    EXPECT_FALSE(sent);
    EXPECT_TRUE(w.valid());
    EXPECT_TRUE(w.send(404, "no file\n", "text/plain"));
  };
  const std::string out = h.exchange(get("/bad-fd") + get("/past-end") + get("/pipe"));
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 3u) << out;
  for (const auto& response : responses) {
    EXPECT_EQ(response.status, 404);
    EXPECT_EQ(response.body, "no file\n");
    EXPECT_EQ(response.field("X-Kept"), "yes");
    EXPECT_EQ(response.field("Connection"), "");
  }
  EXPECT_EQ(out.find("200"), std::string::npos);
  EXPECT_FALSE(h.wants().close);
}

}  // namespace
}  // namespace taut::test
