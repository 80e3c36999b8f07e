// Responses written over time by a producer outside every handler call (a timer of the loop, the
// way a server-sent-events stream writes, or another connection's handler), through server_loop
// over the memory transport on a manual clock: each write leaves without waiting for another
// event on the connection, writes of one loop iteration leave together, and a producer learns
// from ready() and on_drained() when to wait, so that it never buffers without bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "server_test_support.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;

/// Answers every request by calling `respond` with the writer, which it may keep.
class function_handler final : public request_handler {
 public:
  std::function<void(server_request&, response_writer)> respond;
  void on_request(server_request& request, response_writer response) override {
    respond(request, std::move(response));
  }
};

/// A server_loop on a manual clock with one memory listener and a handler the test defines. The
/// test keeps its writers in the fixture, which drops them before the loop goes.
class StreamingResponse : public ::testing::Test {
 protected:
  StreamingResponse()
      : loop_(transport::event_loop::create({.clock = &clock}).value()), ticker(*loop_) {}
  ~StreamingResponse() override {
    ticker.cancel();
    writer = {};
    loop_->run_until_idle();
    server.reset();
  }

  /// Starts the server (connect() does, with the defaults, if the test has not).
  void start(const server_loop_options& options = {},
             const transport::memory_options& memory = {}) {
    server = std::make_unique<server_loop>(*loop_, handler, options);
    transport::listener source = transport::listener::memory(memory);
    dialer = source.dialer();
    EXPECT_FALSE(server->add_listener(std::move(source)));
  }
  memory_client connect() {
    if (!server) start();
    transport::result<transport::stream> s = dialer.dial();
    EXPECT_TRUE(s.has_value());
    memory_client c(*loop_, std::move(*s));
    loop_->run_until_idle();
    return c;
  }
  void advance(std::chrono::milliseconds by) {
    clock.advance(by);
    loop_->run_until_idle();
  }
  transport::event_loop& loop() { return *loop_; }

  transport::manual_clock clock;

 private:
  std::unique_ptr<transport::event_loop> loop_;

 protected:
  function_handler handler;
  std::unique_ptr<server_loop> server;
  transport::memory_dialer dialer;
  transport::timer ticker;  // the producer's timer, on the server's loop
  response_writer writer;   // the response the producer keeps
};

TEST_F(StreamingResponse, EachTimerWriteIsSentWithoutAnotherEvent) {
  // A chunked body of "tick 1\n", "tick 2\n", "tick 3\n": the first inside the handler call, the
  // others one a second from a timer of the loop, and finish() with the last.
  int ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    ASSERT_TRUE(writer.write("tick " + std::to_string(ticks) + "\n"));
    if (ticks == 3) {
      ASSERT_TRUE(writer.finish());
      writer = {};
    } else {
      ticker.arm_in(1s);
    }
  };
  ticker.set_callback([&] { tick(); });
  handler.respond = [&](server_request&, response_writer response) {
    writer = std::move(response);
    writer.add_header("Content-Type", "text/plain");
    writer.begin();
    tick();
  };

  memory_client client = connect();
  client.send(get("/ticks"));
  client.settle();
  EXPECT_NE(client.received.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_TRUE(client.received.ends_with("7\r\ntick 1\n\r\n")) << client.received;

  // Nothing else happens on the connection: only the producer's timer writes.
  client.received.clear();
  advance(1s);
  client.read_available();
  EXPECT_EQ(client.received, "7\r\ntick 2\n\r\n");

  client.received.clear();
  advance(1s);
  client.read_available();
  EXPECT_EQ(client.received, "7\r\ntick 3\n\r\n0\r\n\r\n");
  EXPECT_EQ(ticks, 3);
}

TEST_F(StreamingResponse, WritesOfOneTimerCallbackLeaveTogetherAfterIt) {
  struct {
    memory_client* client = nullptr;
    std::size_t sent_inside_callback = 1;
  } probe;
  ticker.set_callback([this, &probe] {
    ASSERT_TRUE(writer.write("data: a\n"));
    ASSERT_TRUE(writer.write("data: b\n"));
    ASSERT_TRUE(writer.write("\n"));
    // Not one system call per write: nothing has left yet.
    probe.sent_inside_callback = probe.client->stream().memory().peer().in_flight();
  });
  handler.respond = [&](server_request&, response_writer response) {
    writer = std::move(response);
    writer.begin();
    ticker.arm_in(1s);
  };
  memory_client client = connect();
  probe.client = &client;
  client.send(get("/events"));
  client.settle();
  client.received.clear();
  advance(1s);
  client.read_available();
  EXPECT_EQ(probe.sent_inside_callback, 0u);
  EXPECT_EQ(client.received, "8\r\ndata: a\n\r\n8\r\ndata: b\n\r\n1\r\n\n\r\n");
}

TEST_F(StreamingResponse, WritesFromAnotherConnectionsHandlerAreSent) {
  // A broadcast: /subscribe keeps its writer; a POST /publish on another connection writes to it.
  handler.respond = [&](server_request& request, response_writer response) {
    if (request.target() == "/subscribe") {
      writer = std::move(response);
      writer.begin();
    } else {
      EXPECT_TRUE(writer.write(request.body()));
      response.send(204, "");
    }
  };
  memory_client subscriber = connect();
  subscriber.send(get("/subscribe"));
  subscriber.settle();
  subscriber.received.clear();

  memory_client publisher = connect();
  const auto answers = parse_responses(
      publisher.exchange("POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 204);
  subscriber.read_available();
  EXPECT_EQ(subscriber.received, "5\r\nhello\r\n");
}

TEST_F(StreamingResponse, ConnectionIsFreedOnceTheProducerLetsGoAfterTheClientLeft) {
  handler.respond = [&](server_request&, response_writer response) {
    writer = std::move(response);
    writer.begin();
  };
  {
    memory_client client = connect();
    client.send(get("/stream"));
    client.settle();
    EXPECT_EQ(server->open_connections(), 1u);
  }  // the client goes
  loop().run_until_idle();
  // The server learns it by sending the producer's next write; the one after that fails, and the
  // producer drops its writer.
  EXPECT_TRUE(writer.valid());
  writer.write("late");
  loop().run_until_idle();
  EXPECT_FALSE(writer.write("later"));
  writer = {};
  loop().run_until_idle();
  EXPECT_EQ(server->open_connections(), 0u);
}

/// A producer of `total` bytes in pieces of `piece` bytes that writes while ready() and waits for
/// on_drained() otherwise, or ignores both; it records the most the connection ever buffered.
struct producer {
  response_writer* writer = nullptr;
  std::size_t total = 0;
  std::size_t piece = 1024;
  bool respect_back_pressure = true;
  std::size_t written = 0;
  std::size_t most_buffered = 0;
  int drained_calls = 0;
  bool gone = false;  // a write failed, or the writer was invalid: the producer let go

  void produce() {
    const std::string bytes(piece, 'x');
    while (written < total) {
      if (respect_back_pressure && !writer->ready()) {
        // Not ready: wait, unless the response is gone (then on_drained refuses too).
        if (!writer->on_drained([this] {
              ++drained_calls;
              produce();
            })) {
          gone = true;
          *writer = {};
        }
        return;
      }
      if (!writer->write(bytes)) {
        gone = true;
        *writer = {};
        return;
      }
      written += piece;
      most_buffered = std::max(most_buffered, writer->buffered());
    }
    EXPECT_TRUE(writer->finish());
  }
};

class Backpressure : public StreamingResponse {
 protected:
  void start_slow(std::size_t high_water, std::size_t hard_limit) {
    server_loop_options options;
    options.connection.max_output_bytes = high_water;
    options.connection.max_buffered_output = hard_limit;
    transport::memory_options memory;
    memory.server_to_client.capacity = 4096;  // the client's socket buffer: it reads slowly
    start(options, memory);
    handler.respond = [this](server_request&, response_writer response) {
      writer = std::move(response);
      writer.begin();
      source.writer = &writer;
      source.produce();
    };
  }
  /// Reads `bytes` at most from the client's end, then lets the loop run.
  static void read_slowly(memory_client& client, transport::event_loop& loop, std::size_t bytes) {
    std::string buffer(bytes, '\0');
    const transport::io_result r = client.stream().read(std::span<char>(buffer.data(), bytes));
    if (r.done()) client.received.append(buffer.data(), r.bytes);
    if (r.eof() || r.failed()) client.eof = true;
    loop.run_until_idle();
  }

  producer source;
};

TEST_F(Backpressure, ProducerThatWaitsForDrainNeverBuffersMoreThanTheMark) {
  start_slow(16 * 1024, 1024 * 1024);
  source.total = 512 * 1024;
  memory_client client = connect();
  client.send(get("/stream"));
  for (int i = 0; i < 100000 && !client.received.ends_with("0\r\n\r\n"); ++i) {
    read_slowly(client, loop(), 1000);
  }
  const auto responses = parse_responses(client.received);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, std::string(source.total, 'x'));
  EXPECT_FALSE(source.gone);
  EXPECT_GT(source.drained_calls, 10);
  // The mark, plus the last piece and its chunk framing.
  EXPECT_LE(source.most_buffered, 16 * 1024 + source.piece + 16);
  EXPECT_FALSE(client.closed());
}

TEST_F(Backpressure, ProducerThatIgnoresItIsCutShortAtTheHardLimit) {
  start_slow(16 * 1024, 64 * 1024);
  source.total = 8 * 1024 * 1024;
  source.respect_back_pressure = false;
  // It writes from a timer of the loop, after the handler call.
  ticker.set_callback([this] { source.produce(); });
  handler.respond = [this](server_request&, response_writer response) {
    writer = std::move(response);
    writer.begin();
    source.writer = &writer;
    ticker.arm_in(0ms);
  };
  memory_client client = connect();
  client.send(get("/stream"));  // the client reads nothing while the producer writes
  loop().run_until_idle();
  EXPECT_TRUE(source.gone);
  EXPECT_LT(source.written, 70 * 1024u);
  EXPECT_LE(source.most_buffered, 64 * 1024 + source.piece + 16);
  EXPECT_FALSE(writer.valid());
  // The client gets what was buffered, then the close: a chunked body without its last chunk.
  client.settle();
  EXPECT_TRUE(client.closed());
  EXPECT_FALSE(client.received.ends_with("0\r\n\r\n"));
  advance(2s);  // the server lingers after its close, reading what the client may still send
  EXPECT_EQ(server->open_connections(), 0u);
}

TEST_F(Backpressure, ABodyWrittenInsideTheHandlerCallIsNotLimited) {
  // Nothing can be sent before on_request() returns: its writes are its whole body at once, as
  // send()'s would be, and are not cut.
  start_slow(16 * 1024, 64 * 1024);
  source.total = 1024 * 1024;
  source.respect_back_pressure = false;
  memory_client client = connect();
  client.send(get("/stream"));
  for (int i = 0; i < 100000 && !client.received.ends_with("0\r\n\r\n"); ++i) {
    read_slowly(client, loop(), 16384);
  }
  EXPECT_FALSE(source.gone);
  const auto responses = parse_responses(client.received);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body.size(), source.total);
}

TEST_F(Backpressure, WaitingProducerIsCalledWhenTheConnectionDies) {
  start_slow(16 * 1024, 1024 * 1024);
  source.total = 512 * 1024;
  std::optional<memory_client> client(connect());
  client->send(get("/stream"));
  loop().run_until_idle();
  ASSERT_LT(source.written, source.total);  // waiting for on_drained
  const int calls = source.drained_calls;
  client->stream().abort();  // a reset
  client.reset();
  loop().run_until_idle();
  EXPECT_EQ(source.drained_calls, calls + 1);
  EXPECT_TRUE(source.gone);  // it learnt that the response is gone, and let go of the writer
  EXPECT_EQ(server->open_connections(), 0u);
}

TEST_F(Backpressure, OnDrainedRefusesWhenThereIsNothingToWaitFor) {
  handler.respond = [&](server_request&, response_writer response) {
    writer = std::move(response);
    writer.begin();
    EXPECT_TRUE(writer.ready());
    EXPECT_LT(writer.buffered(), 1024u);
    EXPECT_FALSE(writer.on_drained([] {}));
  };
  memory_client client = connect();
  client.send(get("/stream"));
  client.settle();
  EXPECT_TRUE(writer.valid());
  writer.finish();
  EXPECT_FALSE(writer.ready());
  EXPECT_EQ(writer.buffered(), 0u);
}

}  // namespace
}  // namespace taut::test
