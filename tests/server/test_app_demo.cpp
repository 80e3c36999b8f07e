// taut-serve's routes through taut::testing (the same code the executable serves): the index,
// greetings, /echo's JSON and its escaping, /healthz, /plaintext, /static.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "demo_app.hpp"
#include "taut/mux.hpp"
#include "taut/testing.hpp"

namespace {

using taut::testing::client;
using taut::testing::request;

class Demo : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/taut-demo-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root = pattern;
    std::ofstream(root / "a.txt") << "static a";
    taut::serve::add_demo_routes(app, {.root = root.string(), .max_body = 1024});
  }
  void TearDown() override { std::filesystem::remove_all(root); }

  std::filesystem::path root;
  taut::mux app;
};

std::string json(std::string_view bytes) {
  std::string out;
  taut::serve::append_json_string(out, bytes);
  return out;
}

TEST_F(Demo, IndexListsTheRoutes) {
  client c(app);
  const auto r = c.get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  for (const char* route : {"/hello/{name}", "/hello?name=", "POST /echo", "/static/{path...}",
                            "/healthz", "/plaintext"}) {
    EXPECT_NE(r.body.find(route), std::string::npos) << route;
  }
  EXPECT_EQ(c.get("/index.html").status, 404);  // "/{$}" is the root only
}

TEST_F(Demo, Greetings) {
  client c(app);
  EXPECT_EQ(c.get("/hello/world").body, "Hello, world!\n");
  EXPECT_EQ(c.get("/hello/caf%C3%A9").body, "Hello, café!\n");
  // The body is text/plain; charset=utf-8: a byte that is not part of valid UTF-8 is U+FFFD.
  EXPECT_EQ(c.get("/hello/%ff%fe").body, "Hello, \xEF\xBF\xBD\xEF\xBF\xBD!\n");
  EXPECT_EQ(c.get("/hello/a%C3").body, "Hello, a\xEF\xBF\xBD!\n");
  EXPECT_EQ(c.get("/hello/%C0%AFx%F0%9F%98%80").body,
            "Hello, \xEF\xBF\xBD\xEF\xBF\xBDx\xF0\x9F\x98\x80!\n");
  EXPECT_EQ(c.get("/hello?name=%ED%A0%80").body, "Hello, \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!\n");
  EXPECT_EQ(c.get("/hello?name=Ada+Lovelace").body, "Hello, Ada Lovelace!\n");
  EXPECT_EQ(c.get("/hello").body, "Hello, world!\n");
  EXPECT_EQ(c.get("/hello?name=").body, "Hello, world!\n");
  EXPECT_EQ(c.get("/hello/world").header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(c.post("/hello/x", "").status, 405);
}

TEST_F(Demo, EchoReturnsTheRequestAsJson) {
  client c(app);
  const auto r = c.send(request("POST", "/echo?x=1")
                            .header("X-Quote", "say \"hi\"\\")
                            .header("Content-Type", "text/plain")
                            .body("line1\nline2\t\x01"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.body,
            "{\"method\":\"POST\",\"target\":\"/echo?x=1\",\"headers\":[[\"Host\",\"example.com\"],"
            "[\"X-Quote\",\"say \\\"hi\\\"\\\\\"],[\"Content-Type\",\"text/plain\"],"
            "[\"Content-Length\",\"13\"]],\"body\":\"line1\\nline2\\t\\u0001\"}\n");
}

TEST_F(Demo, EchoRefusesBodiesOverTheLimit) {
  client c(app);
  EXPECT_EQ(c.post("/echo", std::string(1025, 'x')).status, 413);
  c.reconnect();
  EXPECT_EQ(c.get("/echo").status, 405);
}

TEST_F(Demo, EchoRefusesChunkFramingThatOutweighsTheBodyEarly) {
  // The outside tester's request: a 1,000-byte body (within the 1 KiB limit) as 1,000 one-byte
  // chunks, each with a 1,000-byte extension: about 1 MB on the wire. The server answers 400 once
  // the framing passes parse_options::max_chunk_overhead (16 KiB by default), so the first 20,000
  // body bytes already get the answer and the rest need never be read.
  std::string body;
  for (int i = 0; i < 1000; ++i) body += "1;" + std::string(1000, 'a') + "\r\nx\r\n";
  body += "0\r\n\r\n";
  client c(app);
  c.write_raw(
      "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      body.substr(0, 20000));
  const auto r = c.read();
  EXPECT_EQ(r.status, 400) << r.error;
  EXPECT_TRUE(c.closed());
}

TEST_F(Demo, EchoTakesABodyOfManyTinyChunks) {
  // Streaming a byte per chunk (5 framing bytes per body byte), with short extensions, is fine.
  std::vector<std::string> chunks(1000, "y");
  client c(app);
  const auto r = c.send(request("POST", "/echo").chunked(chunks));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(std::string(1000, 'y')), std::string::npos);
  std::string wire =
      "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < 1000; ++i) wire += "1;n=v\r\nz\r\n";
  wire += "0\r\n\r\n";
  c.reconnect();
  c.write_raw(wire);
  const auto ext = c.read();
  EXPECT_EQ(ext.status, 200) << ext.error;
  EXPECT_NE(ext.body.find(std::string(1000, 'z')), std::string::npos);
}

TEST_F(Demo, UnrecognisedMethodsAre501) {
  // The tester's requests: RFC 9110 section 9.1 says 501 for a method the server does not
  // recognise; methods are case-sensitive, so "get" is not GET. A known method is still 405.
  client c(app);
  for (const char* method : {"FOO", "get"}) {
    const auto r = c.send(request(method, "/healthz"));
    EXPECT_EQ(r.status, 501) << method;
    EXPECT_FALSE(r.has_header("Allow")) << method;
  }
  const auto known = c.send(request("DELETE", "/healthz"));
  EXPECT_EQ(known.status, 405);
  EXPECT_EQ(known.header("Allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(c.get("/healthz").status, 200);
}

TEST_F(Demo, JsonStringsAreAlwaysValid) {
  EXPECT_EQ(json(""), "\"\"");
  EXPECT_EQ(json("plain"), "\"plain\"");
  EXPECT_EQ(json("\"\\/"), "\"\\\"\\\\/\"");
  EXPECT_EQ(json(std::string_view("\0\x1f\x7f", 3)), "\"\\u0000\\u001f\\u007f\"");
  EXPECT_EQ(json("\r\n\t"), "\"\\r\\n\\t\"");
  EXPECT_EQ(json("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  // Invalid UTF-8 becomes U+FFFD, one per bad byte: lone continuation, truncated sequence,
  // overlong, surrogate, above U+10FFFF.
  EXPECT_EQ(json("\x80"), "\"\\ufffd\"");
  EXPECT_EQ(json("\xC3"), "\"\\ufffd\"");
  EXPECT_EQ(json("\xC0\xAF"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(json("\xED\xA0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(json("\xF4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(json("\xE2\x80\xA8\xE2\x80\xA9"), "\"\\u2028\\u2029\"");
}

TEST_F(Demo, HealthAndPlaintext) {
  client c(app);
  auto r = c.get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  r = c.get("/plaintext");
  EXPECT_EQ(r.body, "Hello, World!");
  EXPECT_EQ(r.header("Content-Length"), "13");
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
}

TEST_F(Demo, StaticFilesUnderTheRoot) {
  client c(app);
  EXPECT_EQ(c.get("/static/a.txt").body, "static a");
  EXPECT_EQ(c.get("/static/missing").status, 404);
  EXPECT_EQ(c.get("/static/..%2f..%2fetc/passwd").status, 400);
}

TEST_F(Demo, TextResponsesAreNeverSniffed) {
  // X-Content-Type-Options: nosniff keeps a browser from reading a greeting or an echo that
  // carries markup as HTML or script.
  client c(app);
  for (const char* target : {"/", "/hello/%3Cscript%3E", "/hello?name=x", "/healthz", "/plaintext",
                             "/static/a.txt", "/nothing"}) {
    const auto r = c.get(target);
    EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff") << target;
  }
  const auto echo = c.post("/echo", "<b>", "text/html");
  EXPECT_EQ(echo.header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(echo.header("Content-Type"), "application/json");
  EXPECT_EQ(c.get("/plaintext").header("Content-Type"), "text/plain");
  EXPECT_EQ(c.get("/hello/x").header("Content-Type"), "text/plain; charset=utf-8");
}

// --- GET /clock: server-sent events ------------------------------------------------------------

std::size_t count_of(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST_F(Demo, ClockSendsOneEventASecondThenEnds) {
  using namespace std::chrono_literals;
  client c(app);
  c.write(request("GET", "/clock?n=3"));
  // The head and the first event at once; the response is not complete yet.
  EXPECT_EQ(c.read().error, "no response yet");
  EXPECT_NE(c.unread().find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_EQ(count_of(c.unread(), "data: "), 1u);
  c.advance(999ms);
  EXPECT_EQ(count_of(c.unread(), "data: "), 1u);
  c.advance(1ms);  // each further event comes a second later, with nothing else happening
  EXPECT_EQ(count_of(c.unread(), "data: "), 2u);
  c.advance(1s);
  const auto r = c.read();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Cache-Control"), "no-cache");
  EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
  EXPECT_TRUE(r.keep_alive);
  const std::regex event(
      "id: ([0-9]+)\ndata: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\n\n");
  std::string ids;
  for (auto it = std::sregex_iterator(r.body.begin(), r.body.end(), event);
       it != std::sregex_iterator(); ++it) {
    ids += (*it)[1].str() + " ";
  }
  EXPECT_EQ(ids, "1 2 3 ") << r.body;
  EXPECT_EQ(c.get("/healthz").body, "ok\n");  // the connection serves on
}

TEST_F(Demo, ClockRefusesABadCountAndAnswersHeadWithoutEvents) {
  client c(app);
  EXPECT_EQ(c.get("/clock?n=0").status, 400);
  EXPECT_EQ(c.get("/clock?n=3601").status, 400);
  EXPECT_EQ(c.get("/clock?n=x").status, 400);
  const auto head = c.head("/clock");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Content-Type"), "text/event-stream");
  EXPECT_EQ(head.body, "");
  EXPECT_NE(c.get("/").body.find("/clock?n="), std::string::npos);  // the index lists it
}

TEST_F(Demo, ClockStopsWhenTheClientLeaves) {
  using namespace std::chrono_literals;
  taut::testing::server shared(app);
  {
    client c(shared);
    c.write(request("GET", "/clock?n=100"));
    EXPECT_EQ(count_of(c.unread(), "data: "), 1u);
    // The client goes after the first event.
  }
  shared.advance(1s);  // the next event finds the client gone: the stream ends, the timer too
  shared.advance(1s);
  EXPECT_EQ(shared.loop_server().open_connections(), 0u);
  EXPECT_EQ(shared.loop().armed_timers(), 0u);
}

}  // namespace
