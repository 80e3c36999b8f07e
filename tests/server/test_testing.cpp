// taut::testing itself: the request builder's bytes, keep-alive and pipelining, fault injection,
// the fake clock (timeouts), raw bytes and error answers, shared servers and reconnects.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "taut/connection_info.hpp"
#include "taut/mux.hpp"
#include "taut/server_loop.hpp"
#include "taut/testing.hpp"
#include "taut/transport/event_loop.hpp"

namespace {

using namespace std::chrono_literals;
using taut::reply;
using taut::request_context;
using taut::testing::client;
using taut::testing::request;

/// Echoes "<method> <target> <body>".
void echo(request_context& req, reply& res) {
  res.text(200, std::string(req.method_name()) + " " + std::string(req.target()) + " " +
                    std::string(req.body()));
}

TEST(Testing, RequestBuilderBytes) {
  EXPECT_EQ(request("GET", "/a").serialize(), "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(request("POST", "/p").header("X-A", "1").body("hey").serialize(),
            "POST /p HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nhey");
  EXPECT_EQ(request("GET", "/").header("Host", "h").http10().serialize(),
            "GET / HTTP/1.0\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request("GET", "/").without_host().serialize(), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(
      request("PUT", "/c").chunked({"abc", "", "0123456789abcdef0"}, {{"T", "v"}}).serialize(),
      "PUT /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n11\r\n0123456789abcdef0\r\n0\r\nT: v\r\n\r\n");
}

TEST(Testing, AHandlerTestInAFewLines) {
  client c([](request_context& req, reply& res) { res.text(200, req.path()); });
  const auto r = c.get("/any/path");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/any/path");
  EXPECT_EQ(r.reason, "OK");
  EXPECT_EQ(r.framing, taut::body_kind::content_length);
}

TEST(Testing, KeepAliveReusesOneConnection) {
  client c(echo);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(c.get("/" + std::to_string(i)).status, 200);
  EXPECT_EQ(c.server().loop_server().stats().accepted, 1u);
  EXPECT_FALSE(c.closed());
}

TEST(Testing, PipelinedWritesThenReads) {
  client c(echo);
  c.write(request("GET", "/1"));
  c.write(request("POST", "/2").body("two"));
  c.write(request("HEAD", "/3"));
  c.write(request("GET", "/4"));
  EXPECT_EQ(c.read().body, "GET /1 ");
  EXPECT_EQ(c.read().body, "POST /2 two");
  const auto head = c.read();
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.header("Content-Length"), "8");
  EXPECT_EQ(c.read().body, "GET /4 ");
  const auto none = c.read();
  EXPECT_EQ(none.status, 0);
  EXPECT_EQ(none.error, "no response yet");
}

TEST(Testing, OneByteWritesGiveTheSameAnswers) {
  client whole(echo);
  client bytes(echo, {.write_piece = 1, .read_piece = 1});
  for (const auto& r : {request("GET", "/x?y=1"), request("POST", "/p").body("data"),
                        request("PUT", "/c").chunked({"ab", "cd"})}) {
    const auto a = whole.send(r);
    const auto b = bytes.send(r);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.body, b.body);
    EXPECT_EQ(a.headers.size(), b.headers.size());
  }
}

TEST(Testing, RawBytesAndErrorAnswers) {
  client c(echo);
  c.write_raw("GET /ok HTTP/1.1\r\nHost: h\r\n\r\nBAD REQUEST LINE\r\n\r\n");
  const auto all = c.read_all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].status, 200);
  EXPECT_EQ(all[1].status, 400);
  EXPECT_EQ(all[1].header("Connection"), "close");
  EXPECT_TRUE(c.closed());
  EXPECT_FALSE(c.reset());
}

TEST(Testing, SmugglingAttemptIsRefused) {
  client c(echo);
  c.write_raw(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n");
  EXPECT_EQ(c.read().status, 400);
  EXPECT_TRUE(c.closed());
}

TEST(Testing, Http10ClosesAfterTheResponse) {
  client c(echo);
  const auto r = c.send(request("GET", "/old").http10());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.closed());
  c.reconnect();
  EXPECT_EQ(c.get("/again").status, 200);
}

TEST(Testing, HeaderTimeoutWithTheFakeClock) {
  client c(echo);
  c.write_raw("GET /slow HTTP/1.1\r\nHost: h\r\n");  // the head never ends
  EXPECT_EQ(c.read().error, "no response yet");
  c.advance(9s);
  EXPECT_FALSE(c.closed());
  c.advance(2s);  // past the 10 s default
  const auto r = c.read();
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(c.closed());
}

TEST(Testing, IdleTimeoutClosesSilently) {
  taut::testing::server_options options;
  options.loop.connection.idle_timeout = 5s;
  client c(echo, {}, options);
  EXPECT_EQ(c.get("/").status, 200);
  c.advance(4s);
  EXPECT_FALSE(c.closed());
  c.advance(2s);
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.read().error, "connection closed");
  EXPECT_TRUE(c.unread().empty());
}

TEST(Testing, BodyTimeout) {
  client c(echo);
  c.write_raw("POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
  c.advance(31s);
  EXPECT_EQ(c.read().status, 408);
  EXPECT_TRUE(c.closed());
}

TEST(Testing, ExpectContinueShowsAsInformational) {
  client c(echo);
  const auto r = c.send(request("POST", "/c").header("Expect", "100-continue").body("xyz"));
  EXPECT_EQ(r.informational, std::vector<int>{100});
  EXPECT_EQ(r.body, "POST /c xyz");
}

TEST(Testing, SharedServerServesSeveralClients) {
  taut::mux app;
  int count = 0;
  app.handle("GET /count",
             [&](request_context&, reply& res) { res.text(200, std::to_string(++count)); });
  taut::testing::server server(app);
  client a(server);
  client b(server);
  EXPECT_EQ(a.get("/count").body, "1");
  EXPECT_EQ(b.get("/count").body, "2");
  EXPECT_EQ(a.get("/count").body, "3");
  EXPECT_EQ(server.loop_server().stats().accepted, 2u);
}

TEST(Testing, ShutdownDrainsIdleConnections) {
  taut::mux app;
  app.handle("GET /", echo);
  taut::testing::server server(app);
  client c(server);
  EXPECT_EQ(c.get("/").status, 200);
  server.shutdown();
  EXPECT_TRUE(c.closed());
  // The server lingers, reading what the client may still send, until the client's EOF (or
  // linger_timeout): a request on the wire meets no reset.
  c.shutdown_write();
  EXPECT_TRUE(server.loop_server().drained());
}

TEST(Testing, ClientHalfCloseEndsTheConnection) {
  client c(echo);
  EXPECT_EQ(c.get("/").status, 200);
  c.shutdown_write();
  EXPECT_TRUE(c.closed());
}

TEST(Testing, ResponseHeaderLookup) {
  client c([](request_context&, reply& res) {
    res.header("Set-Cookie", "a=1");
    res.header("set-cookie", "b=2");
    res.send(200, "", "text/plain");
  });
  const auto r = c.get("/");
  EXPECT_EQ(r.header("SET-COOKIE"), "a=1");
  EXPECT_EQ(r.header_count("Set-Cookie"), 2u);
  EXPECT_TRUE(r.has_header("date"));
  EXPECT_FALSE(r.has_header("x-missing"));
}

}  // namespace

// --- teardown with a response still streaming ----------------------------------------------------

/// A producer outside every handler call, as the demo's /clock: a timer of the loop writes a piece
/// a second through the detached writer (waiting in on_drained() while the client does not read),
/// and it deletes itself once the response can no longer be written. `alive` counts the
/// producers not yet destroyed.
class ticking_producer {
 public:
  static inline int alive = 0;

  static void start(taut::transport::event_loop& loop, taut::response_writer writer) {
    (new ticking_producer(loop, std::move(writer)))->tick();
  }
  ticking_producer(const ticking_producer&) = delete;
  ticking_producer& operator=(const ticking_producer&) = delete;
  ~ticking_producer() { --alive; }

 private:
  ticking_producer(taut::transport::event_loop& loop, taut::response_writer writer) noexcept
      : timer_(loop), writer_(std::move(writer)) {
    ++alive;
    timer_.set_callback([this] { tick(); });
  }

  void tick() noexcept {
    if (!writer_.ready()) {
      if (!writer_.on_drained([this] { tick(); })) delete this;
      return;
    }
    if (!writer_.write(std::string(1000, 't'))) {
      delete this;  // the client is gone
      return;
    }
    timer_.arm_in(std::chrono::seconds(1));
  }

  taut::transport::timer timer_;
  taut::response_writer writer_;
};

/// A mux whose GET /stream starts a ticking_producer that never ends by itself.
void add_stream_route(taut::mux& app) {
  app.handle("GET /stream", [](request_context& req, reply& res) {
    if (!res.begin()) return;
    ticking_producer::start(req.connection()->owner().loop(), res.detach());
  });
}

// Destroying the server (here with the client that owns it) while a producer still streams a
// response ends that producer: the timer it waits on fires, its write fails, it deletes itself and
// frees the writer and the connection the writer kept (LeakSanitizer checks the rest under asan).
TEST(Testing, DestroyingTheServerMidStreamEndsTheProducer) {
  ticking_producer::alive = 0;
  taut::mux app;
  add_stream_route(app);
  {
    client c(app);
    c.write(request("GET", "/stream"));
    c.advance(1s);
    c.advance(1s);
    EXPECT_EQ(c.read().error, "no response yet");
    EXPECT_GE(c.unread().size(), 3000u);
    EXPECT_EQ(ticking_producer::alive, 1);
  }
  EXPECT_EQ(ticking_producer::alive, 0);
}

// The same with a shared server, the client gone first, and with a producer that waits in
// on_drained() for a client that stopped reading.
TEST(Testing, DestroyingASharedServerMidStreamEndsEveryProducer) {
  ticking_producer::alive = 0;
  taut::mux app;
  add_stream_route(app);
  {
    taut::testing::server_options options;
    options.loop.connection.max_output_bytes = 4096;
    taut::testing::server shared(app, options);
    client ticking(shared);
    ticking.write(request("GET", "/stream"));
    client stalled(shared, {.capacity = 1024});  // reads nothing more once 1 KiB is in flight
    stalled.write(request("GET", "/stream"));
    for (int second = 0; second < 10; ++second) shared.advance(1s);
    // 11 KiB made for each: the stalled one's producer waits in on_drained().
    ticking.run();
    EXPECT_GE(ticking.unread().size(), 11000u);
    EXPECT_EQ(ticking_producer::alive, 2);
    {
      client gone(shared);
      gone.write(request("GET", "/stream"));
      EXPECT_EQ(ticking_producer::alive, 3);
    }  // this client leaves; its producer still waits for its next tick
  }
  EXPECT_EQ(ticking_producer::alive, 0);
}
