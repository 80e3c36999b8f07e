// taut::testing itself: the request builder's bytes, keep-alive and pipelining, fault injection,
// the fake clock (timeouts), raw bytes and error answers, shared servers and reconnects.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "taut/mux.hpp"
#include "taut/testing.hpp"

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
