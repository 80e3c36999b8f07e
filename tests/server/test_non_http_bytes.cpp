// Bytes that can never start an HTTP request (a TLS handshake sent to a plain-HTTP port, binary
// garbage) are refused with 400 as soon as they arrive: the server does not wait for a line end
// that may never come, nor for the header timeout.
#include <gtest/gtest.h>

#include <string>

#include "taut/testing.hpp"

namespace {

using taut::reply;
using taut::request_context;
using taut::testing::client;

void ok(request_context&, reply& res) {
  res.text(200, "ok");
}

/// The bytes of a string literal, embedded NULs included, without its terminator.
template <std::size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

TEST(NonHttpBytes, TlsClientHelloGets400AtOnce) {
  client c(ok);
  // The start of a TLS 1.2/1.3 ClientHello record: no CRLF anywhere in it.
  c.write_raw(
      bytes("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x1f\x5c\x00\x20\x13\x01\x13"
            "\x02\x13\x03\xc0\x2b\xc0\x2f\x01\x00\x01\x93\x00\x00\x00\x0e"));
  // No time passes on the fake clock: the answer is there at once, not after the header timeout.
  const auto r = c.read();
  EXPECT_EQ(r.status, 400) << r.error;
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(c.closed());
}

TEST(NonHttpBytes, GarbageAfterAValidMethodGets400AtOnce) {
  client c(ok);
  c.write_raw(bytes("GET /index\x00\x01\x02"));
  const auto r = c.read();
  EXPECT_EQ(r.status, 400) << r.error;
  EXPECT_TRUE(c.closed());
}

TEST(NonHttpBytes, AValidRequestLineStillWaitsForItsEnd) {
  // The other side of it: what can still become a request is waited for, as before.
  client c(ok);
  c.write_raw("GET /index.html HTTP/1.");
  EXPECT_EQ(c.read().error, "no response yet");
  EXPECT_FALSE(c.closed());
  c.write_raw("1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(c.read().status, 200);
}

}  // namespace
