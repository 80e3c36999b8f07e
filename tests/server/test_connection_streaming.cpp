// A response written from outside every call of its connection, with plain calls: the connection
// wakes its owner (connection_context::set_wake) so that what the writer wrote gets sent, and a
// streaming producer learns from ready() and on_drained() when to wait.
#include <gtest/gtest.h>

#include <string>

#include "connection_test_support.hpp"

namespace taut::test {
namespace {

/// A harness whose connection wakes by counting into `wakes`.
struct woken_harness : harness {
  explicit woken_harness(connection_options options = {}) : harness(options) {
    context->set_wake([](void* owner) noexcept { ++*static_cast<int*>(owner); });
    conn = std::make_unique<connection>(*context, now, &wakes);
    handler.request = [this](server_request&, response_writer w) {
      w.begin();
      writers.push_back(std::move(w));
    };
  }
  int wakes = 0;
};

TEST(ConnectionWake, AWriteOutsideEveryCallWakesTheOwner) {
  woken_harness h;
  const std::string head = h.exchange(get("/stream"));
  EXPECT_NE(head.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_EQ(h.wakes, 0);  // inside a call of the owner: it looks at wants() itself
  ASSERT_EQ(h.writers.size(), 1u);
  EXPECT_FALSE(h.wants().write);

  ASSERT_TRUE(h.writers[0].write("tick"));
  EXPECT_EQ(h.wakes, 1);
  EXPECT_TRUE(h.wants().write);
  EXPECT_EQ(h.drain(), "4\r\ntick\r\n");

  ASSERT_TRUE(h.writers[0].finish());
  EXPECT_EQ(h.wakes, 2);
  EXPECT_EQ(h.drain(), "0\r\n\r\n");
}

TEST(ConnectionWake, DroppingTheLastWriterOfAClosedConnectionWakesTheOwner) {
  woken_harness h;
  h.exchange(get("/stream"));
  h.conn->abort();  // the peer reset the stream
  EXPECT_TRUE(h.wants().close);
  EXPECT_EQ(h.conn->outstanding_writers(), 1u);
  EXPECT_FALSE(h.writers[0].write("late"));
  const int before = h.wakes;
  h.writers.clear();
  // The owner keeps a closed connection until its last writer goes: it must hear of it.
  EXPECT_EQ(h.wakes, before + 1);
  EXPECT_EQ(h.conn->outstanding_writers(), 0u);
}

TEST(ConnectionWake, FieldsSetOutsideEveryCallWakeTheOwnerOnlyWhenTheHeadEnds) {
  woken_harness h;
  h.handler.request = [&h](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  EXPECT_EQ(h.exchange(get("/later")), "");
  ASSERT_EQ(h.writers.size(), 1u);
  response_writer& w = h.writers[0];
  ASSERT_TRUE(w.set_status(201));
  ASSERT_TRUE(w.add_header("Content-Type", "text/plain"));
  ASSERT_TRUE(w.add_header("X-Trace", "1"));
  ASSERT_TRUE(w.add_header("Connection", "close"));
  // Held in the response until its head ends: nothing the owner could send or act on yet, so
  // the connection is not processed (nor its owner woken) once per field.
  EXPECT_EQ(h.wakes, 0);
  EXPECT_FALSE(h.wants().write);
  ASSERT_TRUE(w.send("made"));
  EXPECT_EQ(h.wakes, 1);
  const std::string out = h.drain();
  EXPECT_TRUE(out.starts_with("HTTP/1.1 201 Created\r\n")) << out;
  EXPECT_NE(out.find("Content-Type: text/plain\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Trace: 1\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("\r\n\r\nmade")) << out;
  // The close asked for with a field is honoured once the head ended: nothing more is read.
  EXPECT_TRUE(h.wants().shutdown_write || h.wants().close);
  h.send(get("/next"));
  EXPECT_EQ(h.conn->requests(), 1u);
  EXPECT_EQ(h.writers.size(), 1u);
  // A finished writer let go: the owner is told (a closed connection's last writer frees it).
  h.writers.clear();
  EXPECT_EQ(h.wakes, 2);
  EXPECT_EQ(h.conn->outstanding_writers(), 0u);
}

TEST(ResponseWriterBackpressure, OnDrainedRunsOnceHalfTheMarkIsSent) {
  woken_harness h({.max_output_bytes = 4096});
  h.exchange(get("/stream"));
  response_writer& w = h.writers[0];
  const std::string piece(1000, 'x');
  int writes = 0;
  while (w.ready()) {
    ASSERT_TRUE(w.write(piece));
    ++writes;
  }
  EXPECT_EQ(writes, 5);  // 4096 reached by the fifth piece (with chunk framing)
  EXPECT_GE(w.buffered(), 4096u);
  int drained = 0;
  ASSERT_TRUE(w.on_drained([&drained] { ++drained; }));
  // Send in small steps: nothing until the output is at half the mark.
  while (h.conn->queued_output() > 2048) {
    EXPECT_EQ(drained, 0) << h.conn->queued_output();
    const std::size_t step = std::min<std::size_t>(h.conn->output().size(), 300);
    h.conn->commit_write(step, h.now);
  }
  EXPECT_EQ(drained, 1);
  EXPECT_TRUE(w.ready());
  h.drain();
  EXPECT_EQ(drained, 1);                                  // once
  EXPECT_FALSE(w.on_drained([&drained] { ++drained; }));  // nothing to wait for now
}

// Pipelined GETs run at once, and the second's body waits in the connection until the first
// has ended. What it holds there must not count against the first: the first would wait for a
// drain only its own end can bring (the reverse proxy stalled so, each waiting on the other).
TEST(ResponseWriterBackpressure, AResponseIsNotHeldBackByTheOnesQueuedBehindIt) {
  woken_harness h({.max_output_bytes = 4096});
  const std::string head = h.exchange(get("/first") + get("/second"));
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n")) << head;  // the first's; the second waits
  ASSERT_EQ(h.writers.size(), 2u);
  response_writer& first = h.writers[0];
  response_writer& second = h.writers[1];
  const std::string piece(1000, 'x');
  while (second.ready()) ASSERT_TRUE(second.write(piece));
  EXPECT_GE(second.buffered(), 4096u);  // its own bytes and the first's
  int drained = 0;
  ASSERT_TRUE(second.on_drained([&drained] { ++drained; }));
  // The first is what leaves now: only what is ahead of its end counts.
  EXPECT_TRUE(first.ready());
  EXPECT_LT(first.buffered(), 1000u);
  ASSERT_TRUE(first.write(piece));
  EXPECT_TRUE(first.ready());
  EXPECT_FALSE(first.on_drained([] {}));  // nothing to wait for: write on
  ASSERT_TRUE(first.finish());
  std::string out = h.drain();
  EXPECT_EQ(drained, 1);  // the second's bytes went out behind the first's end
  EXPECT_TRUE(second.ready());
  ASSERT_TRUE(second.finish());
  out += h.drain();
  const std::size_t first_end = out.find("3e8\r\n" + piece + "\r\n0\r\n\r\n");
  ASSERT_NE(first_end, std::string::npos) << out;
  EXPECT_NE(out.find("HTTP/1.1 200 OK", first_end), std::string::npos);
  EXPECT_TRUE(out.ends_with(piece + "\r\n0\r\n\r\n"));
}

TEST(ResponseWriterBackpressure, OnDrainedRunsWhenTheConnectionIsReset) {
  woken_harness h({.max_output_bytes = 4096});
  h.exchange(get("/stream"));
  response_writer& w = h.writers[0];
  while (w.ready()) ASSERT_TRUE(w.write(std::string(1000, 'x')));
  struct waiter {
    response_writer* writer;
    bool called = false;
    bool write_failed = false;
  } state{&w};
  ASSERT_TRUE(w.on_drained([&state] {
    state.called = true;
    state.write_failed = !state.writer->write("more");
  }));
  h.conn->abort();
  EXPECT_TRUE(state.called);
  EXPECT_TRUE(state.write_failed);
  EXPECT_FALSE(w.valid());
}

// A handler waiting on something else (a proxy waiting for its upstream) with nothing written
// learns from on_abandoned() that its client left, and only that: output falling to half the
// mark is no reason to call it, and a response finished drops it.
TEST(ResponseWriterBackpressure, OnAbandonedRunsOnlyWhenTheResponseCanNoLongerBeWritten) {
  woken_harness h({.max_output_bytes = 4096});
  h.handler.request = [&h](server_request&, response_writer w) {
    h.writers.push_back(std::move(w));
  };
  h.exchange(get("/first") + get("/second"));
  ASSERT_EQ(h.writers.size(), 2u);
  int first_called = 0;
  int second_called = 0;
  ASSERT_TRUE(h.writers[0].on_abandoned([&first_called] { ++first_called; }));
  ASSERT_TRUE(h.writers[1].on_abandoned([&second_called] { ++second_called; }));
  ASSERT_TRUE(h.writers[0].send("one"));  // finished: its callback is dropped
  EXPECT_TRUE(h.drain().starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(second_called, 0);  // the output drained, and the second can still be written
  EXPECT_TRUE(h.writers[1].valid());
  h.conn->abort();
  EXPECT_EQ(first_called, 0);
  EXPECT_EQ(second_called, 1);
  EXPECT_FALSE(h.writers[1].valid());
  EXPECT_FALSE(h.writers[1].on_abandoned([&second_called] { ++second_called; }));
}

TEST(ResponseWriterBackpressure, AWriteBeyondTheHardLimitCutsTheResponseShort) {
  woken_harness h({.max_output_bytes = 4096, .max_buffered_output = 8192});
  h.exchange(get("/stream"));
  response_writer& w = h.writers[0];
  const std::string piece(1000, 'x');
  int accepted = 0;
  while (w.write(piece)) ++accepted;  // ignores ready()
  EXPECT_EQ(accepted, 9);             // the one that reached 8192, then no more
  EXPECT_FALSE(w.valid());
  EXPECT_LE(h.conn->queued_output(), 8192u + piece.size() + 16);
  const std::string out = h.drain();
  EXPECT_FALSE(out.ends_with("0\r\n\r\n"));  // no last chunk: the client sees it cut short
  EXPECT_TRUE(h.wants().shutdown_write || h.wants().close);
}

/// Echoes each piece of a streamed upload into the response as it arrives.
class echo_sink final : public body_sink {
 public:
  response_writer writer;
  void on_body_data(std::string_view piece) override { writer.write(piece); }
  void on_body_end(std::span<const header>) override { writer.finish(); }
  void on_body_error(std::error_code) override {}
};

// An echo answers as it reads: while the client sends and does not read, the connection stops
// reading the body once the output reaches max_output_bytes, instead of buffering the upload
// until max_buffered_output cuts the answer short. Reading resumes as the client reads.
TEST(StreamedUpload, AnEchoPausesReadingWhileTheClientDoesNotRead) {
  connection_options options;
  options.max_output_bytes = 8192;
  options.max_buffered_output = 65536;
  options.max_body_bytes = 1 << 20;
  harness h(options);
  echo_sink sink;
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [&](server_request& r, response_writer w) {
    r.stream_body(sink);
    w.begin();
    sink.writer = std::move(w);
  };
  std::string body(200000, 'x');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  const std::string upload =
      "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  std::size_t sent = h.send(upload);
  EXPECT_LT(sent, 65536u);  // paused well before the response would be cut short
  EXPECT_FALSE(h.wants().read);
  EXPECT_LE(h.conn->queued_output(), 8192u + 4096u + 64u);  // the mark plus one input block
  std::string out;
  while (sent < upload.size()) {
    out += h.drain();
    const std::size_t taken = h.send(std::string_view(upload).substr(sent));
    ASSERT_GT(taken, 0u) << "reading did not resume after the output drained";
    sent += taken;
    EXPECT_LE(h.conn->queued_output(), 8192u + 4096u + 64u);
  }
  out += h.drain();
  const std::vector<parsed_response> responses = parse_responses(out, {method::post});
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, body);  // whole: never cut short
  EXPECT_TRUE(responses[0].keep_alive);
}

/// Collects a streamed upload; the test holds and releases its reading.
class held_sink final : public body_sink {
 public:
  std::string data;
  bool ended = false;
  response_writer writer;
  void on_body_data(std::string_view piece) override { data.append(piece); }
  void on_body_end(std::span<const header>) override {
    ended = true;
    writer.send(200, std::to_string(data.size()));
  }
  void on_body_error(std::error_code) override {}
};

// A handler that passes a body on slower than it arrives holds it: no piece is delivered while
// held (the connection does not want to read), and releasing it reads on from where it stopped.
TEST(StreamedUpload, HoldBodyStopsTheReadingUntilReleased) {
  connection_options options;
  options.max_body_bytes = 1 << 20;
  harness h(options);
  held_sink sink;
  h.handler.head = [](server_request&) { return body_mode::stream; };
  h.handler.request = [&](server_request& r, response_writer w) {
    r.stream_body(sink);
    EXPECT_TRUE(w.hold_body(true));
    sink.writer = std::move(w);
  };
  const std::string body(50000, 'b');
  const std::string upload =
      "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  std::size_t sent = h.send(upload);
  const std::size_t delivered = sink.data.size();
  EXPECT_LT(sent, upload.size());  // held: the connection stopped reading
  EXPECT_FALSE(h.wants().read);
  EXPECT_EQ(h.send(std::string_view(upload).substr(sent)), 0u);
  EXPECT_EQ(sink.data.size(), delivered);  // and delivered nothing more
  EXPECT_TRUE(sink.writer.hold_body(false));
  EXPECT_TRUE(h.wants().read);
  while (sent < upload.size()) {
    const std::size_t taken = h.send(std::string_view(upload).substr(sent));
    ASSERT_GT(taken, 0u);
    sent += taken;
  }
  EXPECT_TRUE(sink.ended);
  EXPECT_EQ(sink.data, body);
  EXPECT_FALSE(sink.writer.hold_body(true));  // the response is finished: nothing to hold
}

}  // namespace
}  // namespace taut::test
