// Request bodies (Content-Length and chunked; buffered, streamed, discarded), Expect:
// 100-continue, body limits, and response bodies (chunked with trailers, close-delimited).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "connection_test_support.hpp"

namespace taut::test {
namespace {

std::string post(std::string_view target, std::string_view body, std::string_view extra = {}) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

std::string chunked(std::string_view body, std::size_t chunk) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); i += chunk) {
    const std::string_view piece = body.substr(i, chunk);
    char size[20];
    std::snprintf(size, sizeof size, "%zx", piece.size());
    out += std::string(size) + "\r\n" + std::string(piece) + "\r\n";
  }
  return out;
}

std::string post_chunked(std::string_view target, std::string_view encoded_body,
                         std::string_view extra = {}) {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n" +
         std::string(extra) + "\r\n" + std::string(encoded_body);
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return s;
}

// --- Buffered bodies -----------------------------------------------------------------------------

TEST(Body, BuffersAContentLengthBody) {
  harness h;
  const auto responses = parse_responses(h.exchange(post("/echo", "hello")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "POST /echo hello");
}

TEST(Body, BuffersABodyArrivingOneByteAtATime) {
  harness h;
  h.send_bytewise(post("/echo", "hello world"));
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "POST /echo hello world");
}

TEST(Body, BuffersAChunkedBodyWithTrailers) {
  harness h;
  std::vector<std::pair<std::string, std::string>> trailers;
  h.handler.request = [&](server_request& r, response_writer w) {
    for (const header& f : r.trailers()) trailers.emplace_back(f.name, f.value);
    w.send(std::string(r.body()));
  };
  const std::string body =
      "3;ext=1\r\nabc\r\n5\r\ndefgh\r\n0\r\nX-Checksum: 42\r\nX-More: yes\r\n\r\n";
  const auto responses = parse_responses(h.exchange(post_chunked("/", body) + get("/after")));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].body, "abcdefgh");
  ASSERT_EQ(trailers.size(), 2u);
  EXPECT_EQ(trailers[0], (std::pair<std::string, std::string>{"X-Checksum", "42"}));
  EXPECT_EQ(trailers[1], (std::pair<std::string, std::string>{"X-More", "yes"}));
  EXPECT_EQ(responses[1].body, "");
}

class LargeBodies : public ::testing::TestWithParam<std::size_t> {};

TEST_P(LargeBodies, ABodyLargerThanABlockArrivesWhole) {
  const std::size_t size = GetParam();
  harness h({}, 1024);
  std::string seen;
  h.handler.request = [&](server_request& r, response_writer w) {
    seen = r.body();
    w.send(std::to_string(r.body().size()));
  };
  const std::string body = pattern(size);
  // Content-Length, in 100-byte reads.
  const std::string request = post("/", body);
  for (std::size_t i = 0; i < request.size(); i += 100) h.send(request.substr(i, 100));
  EXPECT_EQ(seen, body);
  // Chunked, in chunks of 333 bytes, in 77-byte reads.
  seen.clear();
  const std::string request2 = post_chunked("/", chunked(body, 333) + "0\r\n\r\n");
  for (std::size_t i = 0; i < request2.size(); i += 77) h.send(request2.substr(i, 77));
  EXPECT_EQ(seen, body);
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[1].body, std::to_string(size));
  EXPECT_TRUE(h.conn->holds_nothing());
}

INSTANTIATE_TEST_SUITE_P(Sizes, LargeBodies, ::testing::Values(10, 900, 1000, 1024, 5000, 70000));

TEST(Body, PipelinedBodiesAtEveryOffsetOfTheBuffer) {
  // Bodies and heads land anywhere in the 1 KiB input block, so the connection must move a head
  // (and the views into it) to make room for its body.
  harness h({}, 1024);
  std::vector<std::string> seen;
  h.handler.request = [&](server_request& r, response_writer w) {
    seen.push_back(std::string(r.target()) + "=" + std::string(r.body()) + ";" +
                   std::string(r.header_value("X-Tag")));
    w.send("ok");
  };
  std::string all;
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) {
    const std::string body = pattern(150 + i * 37);
    const std::string tag = "tag" + std::to_string(i);
    all += i % 2 == 0 ? post("/" + std::to_string(i), body, "X-Tag: " + tag + "\r\n")
                      : post_chunked("/" + std::to_string(i), chunked(body, 100) + "0\r\n\r\n",
                                     "X-Tag: " + tag + "\r\n");
    expected.push_back("/" + std::to_string(i) + "=" + body + ";" + tag);
  }
  for (std::size_t i = 0; i < all.size(); i += 700) {
    h.send(all.substr(i, 700));
    h.drain();
  }
  EXPECT_EQ(seen, expected);
}

TEST(Body, AHeadLargerThanABlockIsAccepted) {
  harness h({}, 1024);
  const std::string big(3000, 'v');
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/") {
      EXPECT_EQ(r.header_value("X-Big"), big);
    }
    w.send(std::string(r.body()));
  };
  const auto responses =
      parse_responses(h.exchange(post("/", "body", "X-Big: " + big + "\r\n") + get("/next")));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].body, "body");
}

// --- Streamed bodies -----------------------------------------------------------------------------

/// A handler that streams every body into a sink and answers with what it saw when it ends.
struct streaming_handler {
  explicit streaming_handler(harness& owner) : h(owner) {}
  harness& h;
  recording_sink sink;
  response_writer writer;

  void install() {
    h.handler.head = [](server_request&) { return body_mode::stream; };
    h.handler.request = [this](server_request& r, response_writer w) {
      writer = std::move(w);
      sink = recording_sink{};
      sink.on_end = [this] {
        std::string answer = sink.data;
        for (const auto& [n, v] : sink.trailers) answer += "|" + n + "=" + v;
        writer.send(answer);
      };
      EXPECT_TRUE(r.stream_body(sink));
    };
  }
};

TEST(Body, StreamsAChunkedBodyInPieces) {
  harness h;
  streaming_handler s{h};
  s.install();
  h.send(post_chunked("/", "4\r\nabcd\r\n"));
  EXPECT_EQ(s.sink.data, "abcd") << "delivered before the body ends";
  EXPECT_EQ(h.drain(), "");
  h.send("3\r\nefg\r\n0\r\nX-Sum: 7\r\n\r\n");
  EXPECT_TRUE(s.sink.ended);
  EXPECT_GE(s.sink.pieces, 2);
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "abcdefg|X-Sum=7");
}

TEST(Body, StreamsAContentLengthBodyLargerThanTheBuffer) {
  harness h({}, 1024);
  streaming_handler s{h};
  s.install();
  const std::string body = pattern(100000);
  const std::string request = post("/", body);
  std::size_t offset = 0;
  while (offset < request.size()) offset += h.send(request.substr(offset, 4000));
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, body);
}

TEST(Body, AnEarlyAnswerDetachesTheSinkAndDiscardsTheRest) {
  harness h;
  recording_sink sink;
  h.handler.head = [](server_request& r) {
    return r.target() == "/stream" ? body_mode::stream : body_mode::buffer;
  };
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() != "/stream") {
      w.send("next");
      return;
    }
    r.stream_body(sink);
    w.send(413, "no thanks");  // answered before the body arrived
  };
  h.send(post("/stream", "0123456789") + get("/next"));
  EXPECT_EQ(sink.data, "") << "no call after the response finished";
  EXPECT_FALSE(sink.ended);
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 413);
  EXPECT_EQ(responses[1].body, "next") << "the body was discarded; the connection lives";
}

/// A sink that answers its request whole at the first piece of body, as an upload handler
/// refusing early does.
class answering_sink final : public body_sink {
 public:
  response_writer writer;
  void on_body_data(std::string_view) override { writer.send(200, "early"); }
  void on_body_end(std::span<const header>) override {}
  void on_body_error(std::error_code) override {}
};

TEST(Body, AnEarlyAnswerSaysCloseWhenTheRestIsTooLargeToDiscard) {
  connection_options options;
  options.max_discard_bytes = 100;
  // Content-Length 500 with 50 bytes read: 450 left, more than the connection discards, so it
  // will close after the answer and the head must say so (RFC 9112 section 9.6).
  harness h(options);
  answering_sink sink;
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [&](server_request& r, response_writer w) {
    sink.writer = std::move(w);
    EXPECT_TRUE(r.stream_body(sink));
  };
  const std::string request = post("/up", std::string(500, 'u'));
  h.send(request.substr(0, request.size() - 450));
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "early");
  EXPECT_EQ(responses[0].field("Connection"), "close");
  h.send(request.substr(request.size() - 450) + get("/next"));
  EXPECT_EQ(h.drain(), "") << "the rest passes max_discard_bytes: nothing more is answered";
  EXPECT_TRUE(h.wants().shutdown_write);

  // 70 left: discarded, the connection lives and its head says nothing of closing.
  harness small(options);
  answering_sink small_sink;
  small.handler.head = [](server_request& r) {
    return r.target() == "/up" ? body_mode::stream : body_mode::buffer;
  };
  small.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() != "/up") {
      w.send("next");
      return;
    }
    small_sink.writer = std::move(w);
    EXPECT_TRUE(r.stream_body(small_sink));
  };
  const std::string short_request = post("/up", std::string(120, 'u'));
  small.send(short_request.substr(0, short_request.size() - 70));
  const auto first = parse_responses(small.drain());
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].field("Connection"), "");
  const auto rest = parse_responses(
      small.exchange(short_request.substr(short_request.size() - 70) + get("/next")));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].body, "next");
}

/// A sink made per request with `new`, as a user's program makes it: it keeps its writer, may
/// answer at its first piece of body, and deletes itself in whichever end call it hears.
class self_deleting_sink final : public body_sink {
 public:
  static inline int alive = 0;
  static inline int end_calls = 0;
  static inline std::error_code last_error{};
  explicit self_deleting_sink(bool answer_at_first_piece) : answer_early_(answer_at_first_piece) {
    ++alive;
  }
  ~self_deleting_sink() { --alive; }
  static void reset() {
    alive = 0;
    end_calls = 0;
    last_error = {};
  }
  void on_body_data(std::string_view) override {
    if (answer_early_) writer.send(200, "early");
    ++pieces_;  // the sink is still alive here: its end call comes after this one returns
  }
  void on_body_end(std::span<const header>) override {
    ++end_calls;
    writer.send(200, "whole");
    delete this;
  }
  void on_body_error(std::error_code error) override {
    ++end_calls;
    last_error = error;
    delete this;
  }
  response_writer writer;

 private:
  bool answer_early_;
  int pieces_ = 0;
};

/// Streams every request's body into a new self_deleting_sink that keeps the request's writer;
/// `made`, if given, points at the last one.
void stream_into_new_sinks(harness& h, bool answer_at_first_piece,
                           self_deleting_sink** made = nullptr) {
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [answer_at_first_piece, made](server_request& r, response_writer w) {
    auto* sink = new self_deleting_sink(answer_at_first_piece);
    sink->writer = std::move(w);
    if (!r.stream_body(*sink)) {
      delete sink;
      sink = nullptr;
    }
    if (made != nullptr) *made = sink;
  };
}

// Every sink hears exactly one end call, even when its response was finished before its body
// ended: a sink that frees itself there does not leak (run under the asan preset, LeakSanitizer
// would also report it). Answered at its first piece, the rest then discarded.
TEST(Body, AnEarlyAnsweringSinkHearsTheEndOfItsBodyWhenTheRestIsDiscarded) {
  self_deleting_sink::reset();
  connection_options options;
  options.max_discard_bytes = 100;
  harness h(options);
  h.handler.head = [](server_request& r) {
    return r.target() == "/up" ? body_mode::stream : body_mode::buffer;
  };
  h.handler.request = [](server_request& r, response_writer w) {
    if (r.target() != "/up") {
      w.send("next");
      return;
    }
    auto* sink = new self_deleting_sink(/*answer_at_first_piece=*/true);
    sink->writer = std::move(w);
    if (!r.stream_body(*sink)) delete sink;
  };
  const std::string request = post("/up", std::string(120, 'u'));
  h.send(request.substr(0, request.size() - 70));
  const auto first = parse_responses(h.drain());
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].body, "early");
  EXPECT_EQ(self_deleting_sink::end_calls, 1);
  EXPECT_EQ(self_deleting_sink::last_error, std::errc::operation_canceled);
  EXPECT_EQ(self_deleting_sink::alive, 0);
  const auto rest = parse_responses(h.exchange(request.substr(request.size() - 70) + get("/next")));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].body, "next") << "the rest was discarded; the connection lives";
  EXPECT_EQ(self_deleting_sink::end_calls, 1) << "one end call, never a second";
}

// A sink may be reused for the next request once it heard its end (a pool of them, as the proxy
// keeps): the end comes before any later request starts, even one already in the same input.
TEST(Body, AnEarlyAnsweringSinkHearsItsEndBeforeTheNextRequestStarts) {
  self_deleting_sink::reset();
  harness h;
  std::vector<std::string> events;
  h.handler.head = [&events](server_request& r) {
    events.push_back("head " + std::string(r.target()));
    if (self_deleting_sink::end_calls > 0) events.push_back("(the sink had heard its end)");
    return r.target() == "/up" ? body_mode::stream : body_mode::buffer;
  };
  h.handler.request = [](server_request& r, response_writer w) {
    if (r.target() != "/up") {
      w.send("next");
      return;
    }
    auto* sink = new self_deleting_sink(/*answer_at_first_piece=*/true);
    sink->writer = std::move(w);
    if (!r.stream_body(*sink)) delete sink;
  };
  const auto responses = parse_responses(h.exchange(post("/up", std::string(50, 'u')) + get("/n")));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(self_deleting_sink::end_calls, 1);
  EXPECT_EQ(self_deleting_sink::alive, 0);
  const std::vector<std::string> expected{"head /up", "head /n", "(the sink had heard its end)"};
  EXPECT_EQ(events, expected);
}

// The rest is larger than max_discard_bytes: the connection closes after the early answer.
TEST(Body, AnEarlyAnsweringSinkHearsTheEndOfItsBodyWhenTheConnectionCloses) {
  self_deleting_sink::reset();
  connection_options options;
  options.max_discard_bytes = 100;
  {
    // Answered at its first piece, 450 bytes still to come.
    harness h(options);
    stream_into_new_sinks(h, /*answer_at_first_piece=*/true);
    const std::string request = post("/up", std::string(500, 'u'));
    h.send(request.substr(0, request.size() - 450));
    const auto responses = parse_responses(h.drain());
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].field("Connection"), "close");
    EXPECT_EQ(self_deleting_sink::end_calls, 1);
    EXPECT_EQ(self_deleting_sink::alive, 0);
  }
  {
    // Answered in on_request before a byte of body was read (a refusal by its head), the body
    // then too large to discard; and a chunked body whose discarding passes the limit.
    for (const bool use_chunked : {false, true}) {
      self_deleting_sink::reset();
      harness h(options);
      h.handler.head = [](server_request&) { return body_mode::stream; };
      h.handler.request = [](server_request& r, response_writer w) {
        auto* sink = new self_deleting_sink(/*answer_at_first_piece=*/false);
        if (!r.stream_body(*sink)) {
          delete sink;
          return;
        }
        sink->writer = std::move(w);
        sink->writer.send(403, "no");
      };
      const std::string body(500, 'u');
      h.send(use_chunked ? post_chunked("/up", chunked(body, 50)) : post("/up", body));
      const auto responses = parse_responses(h.drain());
      ASSERT_EQ(responses.size(), 1u) << use_chunked;
      EXPECT_EQ(responses[0].status, 403);
      EXPECT_EQ(self_deleting_sink::end_calls, 1) << use_chunked;
      EXPECT_EQ(self_deleting_sink::last_error, std::errc::operation_canceled);
      EXPECT_EQ(self_deleting_sink::alive, 0) << use_chunked;
    }
  }
}

// Answered from outside every call of the connection (a timer) while the body is still coming,
// and a sink whose connection is destroyed with the early answer unsent.
TEST(Body, AnEarlyAnsweringSinkHearsTheEndOfItsBodyWhenAnsweredLater) {
  self_deleting_sink::reset();
  self_deleting_sink* kept = nullptr;
  {
    harness h;
    stream_into_new_sinks(h, /*answer_at_first_piece=*/false, &kept);
    const std::string request = post("/up", std::string(60, 'u'));
    h.send(request.substr(0, request.size() - 30));
    ASSERT_NE(kept, nullptr);
    EXPECT_EQ(self_deleting_sink::end_calls, 0) << "the body is still being read";
    kept->writer.send(202, "later");  // the sink is gone when this returns
    EXPECT_EQ(self_deleting_sink::end_calls, 1);
    EXPECT_EQ(self_deleting_sink::last_error, std::errc::operation_canceled);
    EXPECT_EQ(self_deleting_sink::alive, 0);
    const auto responses = parse_responses(h.exchange(request.substr(request.size() - 30)));
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].body, "later");
    EXPECT_EQ(self_deleting_sink::end_calls, 1);
  }
  EXPECT_EQ(self_deleting_sink::alive, 0);
}

// A sink that owns its writer may be deleted from outside while its body is still coming (a
// timer giving up): the writer, dropped unfinished, answers 500, and the sink, which may be what
// is being destroyed, is detached without a call. Here the sink stays alive to show that no call
// comes; the asan preset also runs the real deletion below.
TEST(Body, ASinkWhoseWriterIsDroppedUnfinishedHearsNoMore) {
  for (const bool delete_the_sink : {false, true}) {
    self_deleting_sink::reset();
    harness h;
    self_deleting_sink* kept = nullptr;
    stream_into_new_sinks(h, /*answer_at_first_piece=*/false, &kept);
    const std::string request = post("/up", std::string(60, 'u'));
    h.send(request.substr(0, request.size() - 30));
    ASSERT_NE(kept, nullptr);
    if (delete_the_sink) {
      delete kept;  // with the writer it owns
    } else {
      const response_writer dropped = std::move(kept->writer);
    }
    const auto responses = parse_responses(h.exchange(request.substr(request.size() - 30)));
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].status, 500);
    EXPECT_EQ(self_deleting_sink::end_calls, 0) << "a dropped writer detaches its sink silently";
    EXPECT_EQ(self_deleting_sink::alive, delete_the_sink ? 0 : 1);
    if (!delete_the_sink) delete kept;
  }
}

/// Answers at its first piece of body, then throws.
class answering_then_throwing_sink final : public body_sink {
 public:
  void on_body_data(std::string_view) override {
    writer.send(200, "answered");
    throw std::runtime_error("after answering");
  }
  void on_body_end(std::span<const header>) override { ++end_calls; }
  void on_body_error(std::error_code) override { ++end_calls; }
  response_writer writer;
  int end_calls = 0;
};

// A sink that throws gets no more calls, even one that answered (and so was detached) first.
TEST(Body, ASinkThatAnswersAndThenThrowsHearsNoMore) {
  harness h;
  answering_then_throwing_sink sink;
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [&sink](server_request& r, response_writer w) {
    sink.writer = std::move(w);
    EXPECT_TRUE(r.stream_body(sink));
  };
  const std::string request = post("/up", std::string(60, 'u'));
  h.send(request.substr(0, request.size() - 30));
  h.send(request.substr(request.size() - 30));
  (void)h.drain();
  EXPECT_EQ(sink.end_calls, 0);
}

TEST(Body, StreamRefusedWithoutBodyOrOutsideStreamMode) {
  harness h;
  recording_sink sink;
  h.handler.head = [](server_request& r) {
    return r.target() == "/stream" ? body_mode::stream : body_mode::discard;
  };
  h.handler.request = [&](server_request& r, response_writer w) {
    EXPECT_FALSE(r.stream_body(sink));
    w.send("");
  };
  h.exchange(get("/stream") + post("/discard", "abc"));
  EXPECT_EQ(h.handler.requests, 2);
}

// --- Discarded bodies ----------------------------------------------------------------------------

TEST(Body, AnUnreadBodyIsDiscardedAndTheConnectionKept) {
  harness h;
  h.handler.head = [](server_request&) { return body_mode::discard; };
  h.handler.request = [](server_request& r, response_writer w) {
    EXPECT_TRUE(r.body().empty());
    w.send(std::string(r.target()));
  };
  const auto responses =
      parse_responses(h.exchange(post("/a", std::string(5000, 'x')) +
                                 post_chunked("/b", "3\r\nabc\r\n0\r\n\r\n") + get("/c")));
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[2].body, "/c");
  EXPECT_TRUE(responses[2].keep_alive);
}

TEST(Body, AnUnreadBodyTooLargeToDrainClosesTheConnection) {
  connection_options options;
  options.max_discard_bytes = 100;
  harness h(options);
  h.handler.head = [](server_request&) { return body_mode::discard; };
  h.handler.request = [](server_request&, response_writer w) { w.send("no"); };
  const auto responses = parse_responses(h.exchange(post("/", std::string(500, 'x')) + get("/")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].field("Connection"), "close") << "known too large at head time";
  EXPECT_TRUE(h.wants().shutdown_write);

  harness chunked_case(options);
  chunked_case.handler.head = [](server_request&) { return body_mode::discard; };
  chunked_case.handler.request = [](server_request&, response_writer w) { w.send("no"); };
  const std::string big = chunked(std::string(500, 'x'), 50) + "0\r\n\r\n";
  const auto second = parse_responses(chunked_case.exchange(post_chunked("/", big) + get("/")));
  ASSERT_EQ(second.size(), 1u) << "the chunked body passes the limit while draining: close";
  EXPECT_TRUE(chunked_case.wants().shutdown_write);
}

// --- Expect: 100-continue (RFC 9110 section 10.1.1) ----------------------------------------------

constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

TEST(Expect100, SentWhenTheBodyIsBuffered) {
  harness h;
  h.send(post("/", "", "Expect: 100-continue\r\n").substr(0) + "");  // no body: no 100
  EXPECT_EQ(h.drain().find("100 Continue"), std::string::npos);
  const std::string request = post("/", "hello", "Expect: 100-continue\r\n");
  const std::string head = request.substr(0, request.size() - 5);
  h.send(head);
  EXPECT_EQ(h.drain(), continue_line) << "the client waits for this before sending the body";
  h.send("hello");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "POST / hello");
}

TEST(Expect100, NotSentWhenTheHandlerAnswersWithoutTheBody) {
  harness h;
  h.handler.head = [](server_request&) { return body_mode::discard; };
  h.handler.request = [](server_request&, response_writer w) { w.send(401, "denied"); };
  const std::string request = post("/", "secret", "Expect: 100-continue\r\n");
  const std::string out = h.exchange(request.substr(0, request.size() - 6));
  EXPECT_EQ(out.find("100 Continue"), std::string::npos);
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 401);
  EXPECT_EQ(responses[0].field("Connection"), "close")
      << "the client may or may not send the body now: close rather than guess";
  EXPECT_TRUE(h.wants().shutdown_write);
}

TEST(Expect100, SentWhenAStreamingHandlerAttachesASink) {
  harness h;
  streaming_handler s{h};
  s.install();
  const std::string request = post("/", "streamed", "Expect: 100-continue\r\n");
  h.send(request.substr(0, request.size() - 8));
  EXPECT_EQ(h.drain(), continue_line);
  h.send("streamed");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "streamed");
}

TEST(Expect100, NotSentWhenAStreamingHandlerAttachesNoSink) {
  harness h;
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [&](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  const std::string request = post("/", "x", "Expect: 100-continue\r\n");
  h.send(request.substr(0, request.size() - 1));
  EXPECT_EQ(h.drain(), "");
  h.writers[0].send("later");
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].field("Connection"), "close");
}

TEST(Expect100, IgnoredForHttp10) {
  harness h;
  const std::string out =
      h.exchange("POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi");
  EXPECT_EQ(out.find("100 Continue"), std::string::npos);
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "POST / hi");
}

TEST(Expect100, NotSentForABodyOverTheLimit) {
  connection_options options;
  options.max_body_bytes = 10;
  harness h(options);
  const std::string out = h.exchange(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(out.find("100 Continue"), std::string::npos);
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 413);
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_EQ(h.handler.requests, 0);
}

TEST(Expect100, WaitsBehindAnUnfinishedEarlierResponse) {
  harness h;
  h.handler.request = [&](server_request& r, response_writer w) {
    if (r.target() == "/slow") {
      h.writers.push_back(std::move(w));
    } else {
      w.send(std::string(r.body()));
    }
  };
  const std::string upload = post("/up", "data", "Expect: 100-continue\r\n");
  h.send(get("/slow") + upload.substr(0, upload.size() - 4));
  EXPECT_EQ(h.drain(), "") << "100 Continue may not overtake the slow response";
  h.writers[0].send("slow");
  std::string out = h.drain();
  EXPECT_TRUE(out.ends_with(continue_line));
  h.send("data");
  out += h.drain();
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].body, "slow");
  EXPECT_EQ(responses[1].status, 100);
  EXPECT_EQ(responses[2].body, "data");
}

// --- Body limits ---------------------------------------------------------------------------------

TEST(BodyLimit, ContentLengthOverTheLimitIs413BeforeReading) {
  connection_options options;
  options.max_body_bytes = 100;
  harness h(options);
  const auto responses = parse_responses(h.exchange(post("/", std::string(101, 'x'))));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 413);
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_EQ(h.handler.requests, 0);
  harness exact(options);
  EXPECT_EQ(parse_responses(exact.exchange(post("/", std::string(100, 'x'))))[0].status, 200);
}

TEST(BodyLimit, ChunkedOverTheLimitIs413WhileReading) {
  connection_options options;
  options.max_body_bytes = 100;
  harness h(options);
  const auto responses = parse_responses(
      h.exchange(post_chunked("/", chunked(std::string(150, 'x'), 40) + "0\r\n\r\n")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 413);
  EXPECT_EQ(h.handler.requests, 0);
  EXPECT_TRUE(h.wants().shutdown_write);
}

TEST(BodyLimit, AHandlerMayRaiseItPerRequest) {
  connection_options options;
  options.max_body_bytes = 100;
  harness h(options);
  h.handler.head = [](server_request& r) {
    if (r.target() == "/upload") r.set_body_limit(10000);
    return body_mode::buffer;
  };
  const auto responses = parse_responses(
      h.exchange(post("/upload", std::string(5000, 'x')) + post("/other", std::string(101, 'x'))));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[1].status, 413);
}

TEST(BodyLimit, StreamedOverTheLimitTellsTheSink) {
  connection_options options;
  options.max_body_bytes = 100;
  harness h(options);
  recording_sink sink;
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [&](server_request& r, response_writer w) {
    r.stream_body(sink);
    h.writers.push_back(std::move(w));
  };
  h.send(post_chunked("/", chunked(std::string(150, 'x'), 40) + "0\r\n\r\n"));
  EXPECT_EQ(sink.error, std::make_error_code(std::errc::message_size));
  EXPECT_EQ(sink.data.size(), 80u);
  EXPECT_FALSE(h.writers[0].valid()) << "the connection answered 413 for the handler";
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 413);
}

TEST(Body, BadChunkedFramingIs400AndNeverANewRequest) {
  harness h;
  const auto responses =
      parse_responses(h.exchange(post_chunked("/", "3\r\nabcXX\r\n") + get("/smuggled")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 400);
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_EQ(h.handler.requests, 0);
}

TEST(Body, BadChunkedFramingWhileStreamingTellsTheSinkAndAnswers400) {
  harness h;
  recording_sink sink;
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [&](server_request& r, response_writer w) {
    r.stream_body(sink);
    h.writers.push_back(std::move(w));
  };
  h.send(post_chunked("/", "zz\r\n"));
  EXPECT_EQ(sink.error, make_error_code(errc::bad_chunk_size));
  const auto responses = parse_responses(h.drain());
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 400);
}

// --- Response bodies -----------------------------------------------------------------------------

TEST(ResponseBody, ChunkedWithTrailers) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    w.add_header("Trailer", "X-Checksum");
    w.begin();
    w.write("hello ");
    w.write("");  // an empty piece is not the last chunk
    w.write("world");
    const header trailers[] = {
        {"X-Checksum", "abc"}, {"Bad\r\nName", "x"}, {"Content-Length", "5"}, {"X-Other", "1"}};
    w.finish(trailers);
  };
  const std::string out = h.exchange(get("/"));
  EXPECT_NE(out.find("\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"),
            std::string::npos);
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].field("Transfer-Encoding"), "chunked");
  EXPECT_EQ(responses[0].body, "hello world");
  ASSERT_EQ(responses[0].trailers.size(), 2u);
  EXPECT_EQ(responses[0].trailers[0].first, "X-Checksum");
}

TEST(ResponseBody, FieldsThatCannotBeTrailersAreDropped) {
  harness h;
  bool finished = false;
  h.handler.request = [&finished](server_request&, response_writer w) {
    w.begin();
    w.write("body");
    // RFC 9110 section 6.5.1: none of these may follow the content; the last one may.
    const header trailers[] = {{"Host", "evil.example"},
                               {"Content-Type", "text/html"},
                               {"Connection", "close"},
                               {"Set-Cookie", "session=stolen"},
                               {"Content-Encoding", "gzip"},
                               {"Content-Range", "bytes 0-3/4"},
                               {"Transfer-Encoding", "chunked"},
                               {"Trailer", "X-Sum"},
                               {"TE", "trailers"},
                               {"Keep-Alive", "timeout=5"},
                               {"Upgrade", "h2c"},
                               {"Authorization", "Basic eA=="},
                               {"WWW-Authenticate", "Basic"},
                               {"Proxy-Authenticate", "Basic"},
                               {"Proxy-Connection", "close"},
                               {"Cache-Control", "no-store"},
                               {"Expires", "0"},
                               {"Location", "/elsewhere"},
                               {"Retry-After", "5"},
                               {"Vary", "*"},
                               {"Age", "1"},
                               {"Date", "Sun, 06 Nov 1994 08:49:37 GMT"},
                               {"Max-Forwards", "1"},
                               {"Expect", "100-continue"},
                               {"Range", "bytes=0-1"},
                               {"If-None-Match", "*"},
                               {"X-Sum", "ok"}};
    finished = w.finish(trailers);
  };
  const std::string out = h.exchange(get("/"));
  EXPECT_TRUE(finished);
  EXPECT_TRUE(out.ends_with("\r\n4\r\nbody\r\n0\r\nX-Sum: ok\r\n\r\n")) << out;
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 1u);
  ASSERT_EQ(responses[0].trailers.size(), 1u);
  EXPECT_EQ(responses[0].trailers[0].first, "X-Sum");
  EXPECT_FALSE(h.wants().close);
}

TEST(ResponseBody, UnknownLengthForHttp10IsDelimitedByClose) {
  harness h;
  h.handler.request = [](server_request&, response_writer w) {
    w.begin();
    w.write("until ");
    w.write("close");
    w.finish();
  };
  const std::string out = h.exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].framing, body_kind::until_close);
  EXPECT_EQ(responses[0].body, "until close");
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_TRUE(h.wants().shutdown_write);
}

TEST(ResponseBody, LargeBodiesSpanManyBlocks) {
  harness h({}, 512);
  const std::string body = pattern(20000);
  h.handler.request = [&](server_request&, response_writer w) { w.send(body); };
  const auto responses = parse_responses(h.exchange(get("/")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, body);
  std::string_view pieces[8];
  EXPECT_EQ(h.conn->output(pieces), 0u);
}

TEST(ResponseBody, OutputCanBeGatheredForWritev) {
  harness h({}, 512);
  h.handler.request = [](server_request&, response_writer w) { w.send(std::string(2000, 'z')); };
  h.send(get("/"));
  std::string_view pieces[16];
  const std::size_t n = h.conn->output(pieces);
  EXPECT_GE(n, 4u);
  std::string gathered;
  for (std::size_t i = 0; i < n; ++i) gathered += pieces[i];
  EXPECT_EQ(gathered.size(), h.conn->queued_output());
  h.conn->commit_write(gathered.size(), h.now);
  EXPECT_EQ(parse_responses(gathered)[0].body, std::string(2000, 'z'));
  EXPECT_TRUE(h.conn->holds_nothing());
}

}  // namespace
}  // namespace taut::test
