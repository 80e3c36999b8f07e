// Connection semantics on the parse result: persistence (RFC 9112 section 9.3), Expect:
// 100-continue (RFC 9110 section 10.1.1) and Upgrade (RFC 9110 section 7.8).
#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace taut::test {
namespace {

std::string get(int minor, std::string_view fields) {
  return request_with("GET / HTTP/1." + std::to_string(minor),
                      std::string("Host: a\r\n") + std::string(fields));
}

struct keep_alive_case {
  int minor;
  const char* fields;
  bool keep_alive;
};

TEST(KeepAlive, VersionAndConnectionMatrix) {
  const keep_alive_case cases[] = {
      {1, "", true},
      {1, "Connection: close\r\n", false},
      {1, "Connection: keep-alive\r\n", true},
      {0, "", false},
      {0, "Connection: close\r\n", false},
      {0, "Connection: keep-alive\r\n", true},
      // Tokens are case-insensitive and may share the field with others.
      {1, "Connection: Close\r\n", false},
      {1, "Connection: CLOSE\r\n", false},
      {1, "Connection: TE, close\r\n", false},
      {1, "Connection: foo,close , bar\r\n", false},
      {1, "Connection: foo\r\nConnection: close\r\n", false},
      {0, "Connection: Keep-Alive\r\n", true},
      {0, "Connection: x, keep-alive\r\n", true},
      // "close" wins over "keep-alive".
      {1, "Connection: keep-alive, close\r\n", false},
      {0, "Connection: close, keep-alive\r\n", false},
      // Whole tokens only.
      {1, "Connection: closed\r\n", true},
      {1, "Connection: xclose\r\n", true},
      {0, "Connection: keep-alive-ish\r\n", false},
      {1, "X-Connection: close\r\n", true},
  };
  for (const auto& c : cases) {
    const request_outcome o = expect_request_ok(get(c.minor, c.fields));
    EXPECT_EQ(o.keep_alive, c.keep_alive) << "HTTP/1." << c.minor << " " << c.fields;
  }
}

TEST(KeepAlive, ResponsesFollowTheSameRules) {
  EXPECT_TRUE(expect_response_ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_FALSE(
      expect_response_ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
          .keep_alive);
  EXPECT_FALSE(expect_response_ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_TRUE(
      expect_response_ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
          .keep_alive);
}

TEST(ExpectContinue, IsRecognised) {
  const std::string body_fields = "Content-Length: 3\r\n";
  EXPECT_TRUE(expect_request_ok(get(1, body_fields + "Expect: 100-continue\r\n")).expect_continue);
  EXPECT_TRUE(expect_request_ok(get(1, body_fields + "Expect: 100-Continue\r\n")).expect_continue)
      << "case-insensitive (RFC 9110 section 10.1.1)";
  EXPECT_FALSE(expect_request_ok(get(1, body_fields)).expect_continue);
  EXPECT_FALSE(expect_request_ok(get(1, body_fields + "Expect: 200-ok\r\n")).expect_continue);
  EXPECT_FALSE(
      expect_request_ok(get(1, body_fields + "Expect: 100-continued\r\n")).expect_continue);
}

TEST(ExpectContinue, IgnoredInHttp10) {
  // "A server that receives a 100-continue expectation in an HTTP/1.0 request MUST ignore that
  // expectation."
  EXPECT_FALSE(
      expect_request_ok(get(0, "Content-Length: 3\r\nExpect: 100-continue\r\n")).expect_continue);
}

TEST(Upgrade, NeedsTheConnectionUpgradeToken) {
  const request_outcome o =
      expect_request_ok(get(1, "Upgrade: websocket\r\nConnection: Upgrade\r\n"));
  EXPECT_TRUE(o.upgrade);
  EXPECT_EQ(o.upgrade_protocols, "websocket");
  const request_outcome several = expect_request_ok(
      get(1, "Connection: keep-alive, upgrade\r\nUpgrade: h2c, websocket/13\r\n"));
  EXPECT_TRUE(several.upgrade);
  EXPECT_EQ(several.upgrade_protocols, "h2c, websocket/13");
  // RFC 9110 section 7.8: a sender of Upgrade MUST also send the "upgrade" connection option;
  // without it, the field is not acted on.
  EXPECT_FALSE(expect_request_ok(get(1, "Upgrade: websocket\r\n")).upgrade);
  EXPECT_FALSE(expect_request_ok(get(1, "Connection: upgrade\r\n")).upgrade);
  EXPECT_FALSE(expect_request_ok(get(1, "Upgrade: websocket\r\nConnection: upgraded\r\n")).upgrade);
}

TEST(Upgrade, IgnoredInHttp10) {
  // "A server MUST ignore an Upgrade header field that is received in an HTTP/1.0 request."
  EXPECT_FALSE(expect_request_ok(get(0, "Upgrade: websocket\r\nConnection: Upgrade\r\n")).upgrade);
}

}  // namespace
}  // namespace taut::test
