// The classic request-smuggling shapes (CL.TE, TE.CL, TE.TE obfuscation, duplicate lengths, bare
// CR/LF, NUL bytes): every one must be rejected, with the code and offset a server can log.
#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace taut::test {
namespace {

// "POST / HTTP/1.1\r\n" (17) + "Host: a\r\n" (9).
constexpr std::size_t after_host = 26;
// "Transfer-Encoding: " is 19 bytes.
constexpr std::size_t coding_value = after_host + 19;

std::string post_with(std::string_view fields, std::string_view body = {}) {
  return request_with("POST / HTTP/1.1", std::string("Host: a\r\n") + std::string(fields), body);
}

TEST(Smuggling, ClTe) {
  // The front-end uses Content-Length (13), the back-end chunked: "SMUGGLED" becomes a request.
  expect_request_error(
      post_with("Content-Length: 13\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nSMUGGLED"),
      errc::transfer_encoding_with_content_length, after_host + 20);
}

TEST(Smuggling, TeCl) {
  expect_request_error(post_with("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                                 "8\r\nSMUGGLED\r\n0\r\n\r\n"),
                       errc::transfer_encoding_with_content_length, after_host + 28);
}

TEST(Smuggling, ObfuscatedTransferEncodingNames) {
  // Whitespace before the colon: some proxies ignore the field, others trim the name.
  expect_request_error(post_with("Transfer-Encoding : chunked\r\nContent-Length: 3\r\n"),
                       errc::space_before_colon, after_host + 17);
  expect_request_error(post_with("Transfer-Encoding\t: chunked\r\n"), errc::space_before_colon,
                       after_host + 17);
  // Even with the leniency the trimmed name is Transfer-Encoding, so CL.TE is still caught.
  parse_options lenient;
  lenient.lenient.space_before_colon = true;
  expect_request_error(post_with("Transfer-Encoding : chunked\r\nContent-Length: 3\r\n"),
                       errc::transfer_encoding_with_content_length, after_host + 29, lenient);
  // A different name is a different field: no framing from it.
  EXPECT_EQ(expect_request_ok(post_with("Transfer_Encoding: chunked\r\n")).body, body_kind::none);
  EXPECT_EQ(expect_request_ok(post_with("Transfer-Encodings: chunked\r\n")).body, body_kind::none);
  EXPECT_EQ(expect_request_ok(post_with("X-Transfer-Encoding: chunked\r\n")).body, body_kind::none);
}

TEST(Smuggling, ObfuscatedTransferEncodingValues) {
  expect_request_error(post_with("Transfer-Encoding: xchunked\r\n"), errc::unknown_transfer_coding,
                       coding_value);
  // In a request nothing may follow chunked, known or not.
  expect_request_error(post_with("Transfer-Encoding: chunked, identity\r\n"),
                       errc::chunked_not_final, coding_value + 9);
  expect_request_error(post_with("Transfer-Encoding: identity, chunked\r\n"),
                       errc::unknown_transfer_coding, coding_value);
  expect_request_error(post_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n"),
                       errc::chunked_not_final, after_host + 28 + 19);
  expect_request_error(post_with("Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n"),
                       errc::unknown_transfer_coding, coding_value);
  expect_request_error(post_with("Transfer-Encoding: chunked;\r\n"), errc::bad_transfer_encoding,
                       coding_value + 8);
}

TEST(Smuggling, TabTricks) {
  // HTAB is optional whitespace around a value: these are plain chunked.
  for (const char* fields : {"Transfer-Encoding:\tchunked\r\n", "Transfer-Encoding: chunked\t\r\n",
                             "Transfer-Encoding:\t \tchunked \t\r\n"}) {
    EXPECT_EQ(expect_request_ok(post_with(fields, "0\r\n\r\n")).body, body_kind::chunked) << fields;
  }
  // ...but other control bytes are not whitespace.
  expect_request_error(post_with("Transfer-Encoding: \x0b"
                                 "chunked\r\n"),
                       errc::bad_header_value, coding_value);
  expect_request_error(post_with("Transfer-Encoding: chunked\x0c\r\n"), errc::bad_header_value,
                       coding_value + 7);
  expect_request_error(post_with("Transfer-Encoding: chu\tnked\r\n"), errc::unknown_transfer_coding,
                       coding_value);
  // "gzip" is already a coding this parser does not decode (501) before the list breaks.
  expect_request_error(post_with("Transfer-Encoding: gzip\tnked, chunked\r\n"),
                       errc::unknown_transfer_coding, coding_value);
  parse_options codings;
  codings.allow_transfer_codings = true;
  expect_request_error(post_with("Transfer-Encoding: gzip\tnked, chunked\r\n"),
                       errc::bad_transfer_encoding, coding_value + 5, codings);
}

TEST(Smuggling, ChunkedHiddenInAnObsFold) {
  expect_request_error(post_with("Transfer-Encoding: gzip\r\n chunked\r\n"), errc::obs_fold,
                       after_host + 25);
  parse_options lenient;
  lenient.lenient.obs_fold = true;
  expect_request_error(post_with("Transfer-Encoding: gzip\r\n chunked\r\n"), errc::obs_fold,
                       after_host + 25, lenient);
  expect_request_error(post_with("X: y\r\n Transfer-Encoding: chunked\r\n"), errc::obs_fold,
                       after_host + 6);
}

TEST(Smuggling, DuplicateContentLength) {
  expect_request_error(post_with("Content-Length: 3\r\nContent-Length: 13\r\n", "abc"),
                       errc::conflicting_content_length, after_host + 19);
  // A list in one field is not digits-only.
  expect_request_error(post_with("Content-Length: 3, 13\r\n", "abc"), errc::bad_content_length,
                       after_host + 17);
}

TEST(Smuggling, SignedAndDecoratedContentLength) {
  const std::size_t value = after_host + 16;
  expect_request_error(post_with("Content-Length: +5\r\n", "hello"), errc::bad_content_length,
                       value);
  expect_request_error(post_with("Content-Length: -1\r\n"), errc::bad_content_length, value);
  expect_request_error(post_with("Content-Length: 1_0\r\n"), errc::bad_content_length, value + 1);
  expect_request_error(post_with("Content-Length: 0x10\r\n"), errc::bad_content_length, value + 1);
  expect_request_error(post_with("Content-Length: 18446744073709551617\r\n"),
                       errc::bad_content_length, value + 19);
}

TEST(Smuggling, BareCrAndLfAsHiddenLineBreaks) {
  // Some hops treat a lone CR or LF as a line break and see a Transfer-Encoding field.
  expect_request_error(post_with("X: a\rTransfer-Encoding: chunked\r\n"), errc::bare_cr,
                       after_host + 4);
  expect_request_error(post_with("X: a\nTransfer-Encoding: chunked\r\n"), errc::bare_lf,
                       after_host + 4);
  expect_request_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\n\r\nhello",
                       errc::bare_lf, after_host + 19);
}

TEST(Smuggling, NulBytes) {
  using namespace std::string_literals;
  expect_request_error("POST\0 / HTTP/1.1\r\nHost: a\r\n\r\n"s, errc::bad_method, 4);
  expect_request_error("POST /\0 HTTP/1.1\r\nHost: a\r\n\r\n"s, errc::bad_target, 6);
  expect_request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\0: chunked\r\n\r\n"s,
                       errc::bad_header_name, after_host + 17);
  expect_request_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\0\r\n\r\n"s,
                       errc::bad_header_value, coding_value + 7);
  expect_request_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\0\r\n\r\n"s,
                       errc::bad_header_value, after_host + 17);
}

TEST(Smuggling, ChunkSizeOverflow) {
  // A 64-bit wrap would turn this into a small chunk.
  expect_chunked_error("ffffffffffffffffff\r\n", errc::chunk_size_overflow, 16);
  expect_chunked_error("10000000000000000\r\nx\r\n0\r\n\r\n", errc::chunk_size_overflow, 16);
}

TEST(Smuggling, HeadEndsWhereItEnds) {
  // Whatever follows a Content-Length: 0 head is the next request, not this one's body.
  const std::string head = post_with("Content-Length: 0\r\n");
  const request_outcome o = expect_request_ok(head + "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(o.consumed, head.size());
}

}  // namespace
}  // namespace taut::test
