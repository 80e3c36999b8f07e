// RFC 9112 section 4 (status-line) and section 6.3 (response framing), RFC 9110 section 15.
#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace taut::test {
namespace {

// "HTTP/1.1 " is 9 bytes: the status code starts at 9, the reason at 13.
constexpr std::size_t status_code_at = 9;

TEST(StatusLine, ParsesVersionStatusAndReason) {
  const response_outcome o =
      expect_response_ok("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nServer: x\r\n\r\n");
  EXPECT_EQ(o.version_minor, 1);
  EXPECT_EQ(o.status_code, 404);
  EXPECT_EQ(o.reason, "Not Found");
  EXPECT_EQ(o.headers, (field_list{{"Content-Length", "0"}, {"Server", "x"}}));
  const response_outcome ten = expect_response_ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(ten.version_minor, 0);
}

TEST(StatusLine, ReasonMayBeEmptyOrRich) {
  EXPECT_EQ(expect_response_ok("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").reason, "");
  EXPECT_EQ(
      expect_response_ok("HTTP/1.1 200 Very\tOK  caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n").reason,
      "Very\tOK  caf\xc3\xa9");
}

TEST(StatusLine, StatusCodeIsThreeDigits) {
  // Three digits then SP: a fourth digit is where the separator should be.
  expect_response_error("HTTP/1.1 2000 OK\r\n\r\n", errc::bad_status_line, status_code_at + 3);
  expect_response_error("HTTP/1.1 20 OK\r\n\r\n", errc::bad_status_code, status_code_at + 2);
  expect_response_error("HTTP/1.1 2x0 OK\r\n\r\n", errc::bad_status_code, status_code_at + 1);
  expect_response_error("HTTP/1.1 abc OK\r\n\r\n", errc::bad_status_code, status_code_at);
  expect_response_error("HTTP/1.1 -20 OK\r\n\r\n", errc::bad_status_code, status_code_at);
}

TEST(StatusLine, SeparatorsAndVersion) {
  expect_response_error("HTTP/1.1  200 OK\r\n\r\n", errc::bad_status_code, status_code_at);
  expect_response_error("HTTP/1.1\t200 OK\r\n\r\n", errc::bad_status_line, 8);
  expect_response_error("HTTP/1.1 200\tOK\r\n\r\n", errc::bad_status_line, 12);
  expect_response_error("http/1.1 200 OK\r\n\r\n", errc::bad_version, 0);
  expect_response_error("HTTP/1.x 200 OK\r\n\r\n", errc::bad_version, 7);
  expect_response_error("HTTP/2.0 200 OK\r\n\r\n", errc::unsupported_version, 0);
  expect_response_error("ICY 200 OK\r\n\r\n", errc::bad_version, 0);
}

TEST(StatusLine, NoSpaceAfterTheStatusCodeOnlyWithItsLeniency) {
  // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 section 4): the
  // second SP is required, so "HTTP/1.1 200" CRLF is refused at the CR where the SP should be.
  const std::string no_space = "HTTP/1.1 200\r\nContent-Length: 2\r\nServer: x\r\n\r\n";
  expect_response_error(no_space, errc::bad_status_line, 12);
  expect_response_error("HTTP/1.1 404\n\n", errc::bare_lf, 12);
  parse_options lenient;
  lenient.lenient.no_space_after_status_code = true;
  // Accepted with the flag (whole, and cut at every byte), as an empty reason.
  const response_outcome o = expect_response_ok(no_space, method::get, lenient);
  EXPECT_EQ(o.status_code, 200);
  EXPECT_EQ(o.version_minor, 1);
  EXPECT_EQ(o.reason, "");
  EXPECT_EQ(o.headers, (field_list{{"Content-Length", "2"}, {"Server", "x"}}));
  EXPECT_EQ(o.body, body_kind::content_length);
  EXPECT_EQ(o.head_size, no_space.size());
  EXPECT_EQ(expect_response_ok("\r\nHTTP/1.0 204\r\n\r\n", method::get, lenient).status_code, 204);
  // A bare LF after the code needs bare_lf too.
  expect_response_error("HTTP/1.1 404\nContent-Length: 0\n\n", errc::bare_lf, 12, method::get,
                        lenient);
  lenient.lenient.bare_lf = true;
  EXPECT_EQ(
      expect_response_ok("HTTP/1.1 404\nContent-Length: 0\n\n", method::get, lenient).status_code,
      404);
  // Nothing else changes: a fourth digit, an HTAB for the SP or a CR alone are still errors.
  expect_response_error("HTTP/1.1 2000\r\n\r\n", errc::bad_status_line, 12, method::get, lenient);
  expect_response_error("HTTP/1.1 200\tOK\r\n\r\n", errc::bad_status_line, 12, method::get,
                        lenient);
  expect_response_error("HTTP/1.1 200\rX\r\n\r\n", errc::bare_cr, 12, method::get, lenient);
  expect_response_error("HTTP/1.1 20\r\n\r\n", errc::bad_status_code, 11, method::get, lenient);
  // leniency::syntax() and all() include it; the default does not.
  EXPECT_TRUE(leniency::syntax().no_space_after_status_code);
  EXPECT_TRUE(leniency::all().no_space_after_status_code);
  EXPECT_FALSE(leniency{}.no_space_after_status_code);
}

TEST(StatusLine, Http12IsReadAsHttp11) {
  // RFC 9110 section 2.5: a response of a higher 1.x minor is handled as 1.1.
  const response_outcome o = expect_response_ok("HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(o.version_minor, 2);
  EXPECT_EQ(o.status_code, 200);
  EXPECT_TRUE(o.keep_alive);
  const response_outcome chunked =
      expect_response_ok("HTTP/1.5 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.body, body_kind::chunked);
  EXPECT_TRUE(chunked.keep_alive);
  expect_response_error("HTTP/2.0 200 OK\r\n\r\n", errc::unsupported_version, 0);
}

TEST(StatusLine, ControlBytesInTheReasonAreRejected) {
  expect_response_error("HTTP/1.1 200 O\x01K\r\n\r\n", errc::bad_reason_phrase, 14);
  expect_response_error(std::string("HTTP/1.1 200 O\0K\r\n\r\n", 20), errc::bad_reason_phrase, 14);
  expect_response_error("HTTP/1.1 200 O\x7fK\r\n\r\n", errc::bad_reason_phrase, 14);
  expect_response_error("HTTP/1.1 200 O\rK\r\n\r\n", errc::bare_cr, 14);
}

/// A status-line prefix with no valid response after it: rejected with `code` at `offset` as soon
/// as its last byte arrives, however it is cut, while every shorter prefix is still incomplete.
void expect_status_line_rejected_at_last_byte(std::string_view input, errc code, std::size_t offset,
                                              call_site where = call_site::current()) {
  SCOPED_TRACE(testing::Message() << where.file << ":" << where.line);
  expect_response_error(input, code, offset);
  for (std::size_t k = 0; k < input.size(); ++k) {
    const response_outcome o = parse_response(input.substr(0, k));
    EXPECT_EQ(o.status, parse_status::incomplete) << "prefix of " << k << " bytes: " << o;
  }
}

TEST(StatusLine, ErrorsAreReportedAtTheFirstImpossibleByteBeforeTheLineEnds) {
  // A client reading from a server that does not speak HTTP/1 (a TLS record, a banner, HTTP/2)
  // learns it at the first impossible byte, not when a line end or the read timeout comes.
  expect_status_line_rejected_at_last_byte("\x16", errc::bad_version, 0);
  expect_status_line_rejected_at_last_byte("S", errc::bad_version, 0);
  expect_response_error("SSH-2.0-OpenSSH_9.2\r\n", errc::bad_version, 0);
  expect_status_line_rejected_at_last_byte("HTTX", errc::bad_version, 3);
  expect_status_line_rejected_at_last_byte("HTTP/x", errc::bad_version, 5);
  expect_status_line_rejected_at_last_byte("HTTP/2", errc::unsupported_version, 0);
  expect_status_line_rejected_at_last_byte("HTTP/1,", errc::bad_version, 6);
  expect_status_line_rejected_at_last_byte("HTTP/1.1\t", errc::bad_status_line, 8);
  expect_status_line_rejected_at_last_byte("HTTP/1.1 2x", errc::bad_status_code, 10);
  expect_status_line_rejected_at_last_byte("HTTP/1.1 2000", errc::bad_status_line, 12);
  expect_status_line_rejected_at_last_byte("HTTP/1.1 200 O\x01", errc::bad_reason_phrase, 14);
  expect_status_line_rejected_at_last_byte("HTTP/1.1 200 OK\rx", errc::bare_cr, 15);
  // A line end where the status-line cannot end: the CR is the first impossible byte.
  expect_status_line_rejected_at_last_byte("HTTP/1.\r", errc::bad_version, 7);
  expect_status_line_rejected_at_last_byte("HTTP/1.1 20\r", errc::bad_status_code, 11);
  expect_status_line_rejected_at_last_byte("HTTP/1.1 200\r", errc::bad_status_line, 12);
  expect_status_line_rejected_at_last_byte("\r\n\r\x01", errc::bare_cr, 2);
}

TEST(StatusLine, StatusCodesOutsideTheRfcRangeAreRejectedAtTheirFirstDigit) {
  // RFC 9110 section 15: status codes are 100 to 599; a first digit of 0 or 6 to 9 rules the code
  // out before the other two arrive.
  expect_status_line_rejected_at_last_byte("HTTP/1.1 0", errc::bad_status_code, status_code_at);
  expect_status_line_rejected_at_last_byte("HTTP/1.1 6", errc::bad_status_code, status_code_at);
  expect_status_line_rejected_at_last_byte("HTTP/1.1 9", errc::bad_status_code, status_code_at);
  expect_response_error("HTTP/1.1 600 X\r\n\r\n", errc::bad_status_code, status_code_at);
  expect_response_error("HTTP/1.1 099 X\r\n\r\n", errc::bad_status_code, status_code_at);
  EXPECT_EQ(expect_response_ok("HTTP/1.1 100 Continue\r\n\r\n").status_code, 100);
  EXPECT_EQ(expect_response_ok("HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n").status_code, 599);
}

TEST(StatusLine, EmptyLinesBeforeTheStatusLineAreSkipped) {
  const response_outcome o =
      expect_response_ok("\r\n\r\nHTTP/1.1 204 No Content\r\nServer: x\r\n\r\n");
  EXPECT_EQ(o.status_code, 204);
  EXPECT_EQ(o.reason, "No Content");
  EXPECT_EQ(o.headers, (field_list{{"Server", "x"}}));
}

TEST(StatusLine, LongStatusLinesHitTheLimit) {
  parse_options options;
  options.max_request_line = 20;
  // The line with its CRLF must fit: 18 bytes + CRLF = 20 is in, one more reason byte is out.
  expect_response_ok("HTTP/1.1 200 abcde\r\nContent-Length: 0\r\n\r\n", method::get, options);
  expect_response_error("HTTP/1.1 200 abcdef\r\nContent-Length: 0\r\n\r\n",
                        errc::request_line_too_long, 20, method::get, options);
  expect_response_error("HTTP/1.1 200 abcde\rx", errc::bare_cr, 18, method::get, options);
  // A CR as the last byte within the limit: the byte past it tells a bare CR from a line too long.
  options.max_request_line = 19;
  expect_response_error("HTTP/1.1 200 abcde\rx", errc::bare_cr, 18, method::get, options);
  expect_response_error("HTTP/1.1 200 abcde\r\n", errc::request_line_too_long, 19, method::get,
                        options);
  options.max_request_line = 1;
  expect_response_error("\rx", errc::bare_cr, 0, method::get, options);
}

TEST(StatusLine, ErrorsCarryStatus502) {
  // A gateway answers 502 for a bad upstream response, whatever the code.
  expect_response_error("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", errc::bad_content_length,
                        33);
  expect_response_error("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", errc::space_before_colon, 20);
}

// ---- Framing (RFC 9112 section 6.3) ----------------------------------------------------------

TEST(ResponseFraming, ContentLength) {
  const response_outcome o =
      expect_response_ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(o.body, body_kind::content_length);
  EXPECT_EQ(o.content_length, 5U);
  EXPECT_EQ(o.consumed, 38U);
  expect_response_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                        errc::conflicting_content_length, 36);
}

TEST(ResponseFraming, Chunked) {
  const response_outcome o =
      expect_response_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(o.body, body_kind::chunked);
  EXPECT_EQ(o.transfer_codings, "");
  EXPECT_TRUE(o.body_of_response);
}

TEST(ResponseFraming, CodedChunkedBodiesAreReadStillCodedAndTheCodingsNamed) {
  // A client takes any coding (it cannot answer 501): chunked is decoded, the rest is named.
  const response_outcome o =
      expect_response_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(o.body, body_kind::chunked);
  EXPECT_EQ(o.transfer_codings, "gzip");
  EXPECT_EQ(expect_response_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: br , deflate\r\n\r\n")
                .transfer_codings,
            "br , deflate");
  // Nothing is decoded of a list that does not end in chunked: all of it is named.
  EXPECT_EQ(expect_response_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")
                .transfer_codings,
            "chunked, gzip");
  EXPECT_EQ(expect_response_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                .transfer_codings,
            "gzip");
  // The codings are one view: in one field line.
  expect_response_error(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: br\r\n\r\n",
      errc::bad_transfer_encoding, 42 + 19);
}

TEST(ResponseFraming, NoLengthMeansUntilClose) {
  // RFC 9112 section 6.3 rule 8; such a connection cannot be kept alive.
  const response_outcome o = expect_response_ok("HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of it");
  EXPECT_EQ(o.body, body_kind::until_close);
  EXPECT_FALSE(o.keep_alive);
  EXPECT_EQ(expect_response_ok("HTTP/1.0 200 OK\r\n\r\n").body, body_kind::until_close);
}

TEST(ResponseFraming, CodingNotEndingInChunkedMeansUntilClose) {
  // RFC 9112 section 6.3 rule 4, for responses.
  const response_outcome o =
      expect_response_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
  EXPECT_EQ(o.body, body_kind::until_close);
  EXPECT_FALSE(o.keep_alive);
}

TEST(ResponseFraming, TransferEncodingOverridesContentLength) {
  // RFC 9112 section 6.3 rule 3: Transfer-Encoding wins; the connection is not reused.
  const response_outcome o = expect_response_ok(
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(o.body, body_kind::chunked);
  EXPECT_FALSE(o.keep_alive);
}

TEST(ResponseFraming, TransferEncodingInHttp10IsRejected) {
  expect_response_error("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                        errc::transfer_encoding_http10, 17);
}

TEST(ResponseFraming, InformationalResponsesHaveNoBody) {
  for (const char* head : {"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 102 Processing\r\n\r\n",
                           "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
                           // The last 1xx, with a length it must not read as a body.
                           "HTTP/1.1 199 X\r\nContent-Length: 5\r\n\r\n"}) {
    const response_outcome o = expect_response_ok(head);
    EXPECT_EQ(o.body, body_kind::none) << head;
    EXPECT_EQ(o.consumed, std::string_view(head).size());
  }
}

TEST(ResponseFraming, FinalResponseFollowsAnInformationalOne) {
  const std::string wire =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  std::vector<header> storage(8);
  response_parser parser(storage);
  const parse_result first = parser.parse(wire, method::post);
  ASSERT_TRUE(first.complete());
  EXPECT_EQ(parser.response().status, 100);
  EXPECT_EQ(first.consumed, 25U);
  parser.reset();
  const std::string_view rest = std::string_view(wire).substr(first.consumed);
  const parse_result second = parser.parse(rest, method::post);
  ASSERT_TRUE(second.complete());
  EXPECT_EQ(parser.response().status, 201);
  EXPECT_EQ(parser.response().body.kind, body_kind::content_length);
  EXPECT_EQ(rest.substr(second.consumed), "ok");
}

TEST(ResponseFraming, ResetLeavesNothingOfThePreviousResponse) {
  std::vector<header> storage(8);
  response_parser parser(storage);
  const std::string upgrade =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  ASSERT_TRUE(parser.parse(upgrade).complete());
  EXPECT_TRUE(parser.response().upgrade);
  parser.reset();
  const std::string coded = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
  ASSERT_TRUE(parser.parse(coded).complete());
  EXPECT_FALSE(parser.response().upgrade);
  EXPECT_EQ(parser.response().transfer_codings, "gzip");
  parser.reset();
  // Fed in two pieces: the second call sees a buffer that moved.
  const std::string plain = "HTTP/1.0 404 Gone\r\nContent-Length: 3\r\n\r\n";
  EXPECT_TRUE(parser.parse(plain.substr(0, 5)).incomplete());
  const std::string moved = plain;
  ASSERT_TRUE(parser.parse(moved).complete());
  const taut::response& r = parser.response();
  EXPECT_FALSE(r.upgrade);
  EXPECT_EQ(r.transfer_codings, "");
  EXPECT_EQ(r.reason, "Gone");
  EXPECT_EQ(r.reason.data(), moved.data() + 13);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.version_minor, 0);
  EXPECT_EQ(r.body.kind, body_kind::content_length);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(r.headers.size(), 1U);
  EXPECT_EQ(r.headers[0].value.data(), moved.data() + 35);
}

TEST(ResponseFraming, SwitchingProtocolsHandsTheConnectionOver) {
  const response_outcome o = expect_response_ok(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
      "\x81\x05hello");
  EXPECT_TRUE(o.upgrade);
  EXPECT_EQ(o.body, body_kind::none);
  EXPECT_EQ(o.status_code, 101);
}

TEST(ResponseFraming, NoBodyAfterHead204And304) {
  // RFC 9112 section 6.3 rule 1: whatever the framing fields say.
  const char* with_length = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  EXPECT_EQ(expect_response_ok(with_length, method::head).body, body_kind::none);
  EXPECT_EQ(
      expect_response_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", method::head)
          .body,
      body_kind::none);
  EXPECT_EQ(expect_response_ok("HTTP/1.1 204 No Content\r\n\r\n").body, body_kind::none);
  EXPECT_EQ(expect_response_ok("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n").body,
            body_kind::none);
  EXPECT_TRUE(expect_response_ok("HTTP/1.1 304 Not Modified\r\n\r\n").keep_alive)
      << "no body means no need to read until close";
  // A HEAD response with no length at all is still complete, and keeps the connection.
  const response_outcome head = expect_response_ok("HTTP/1.1 200 OK\r\n\r\n", method::head);
  EXPECT_EQ(head.body, body_kind::none);
  EXPECT_TRUE(head.keep_alive);
}

TEST(ResponseFraming, SuccessfulConnectStartsATunnel) {
  // RFC 9112 section 6.3 rule 2: any 2xx to CONNECT has no body; the bytes after are the tunnel.
  const response_outcome o = expect_response_ok(
      "HTTP/1.1 200 Connection established\r\nContent-Length: 5\r\n\r\n", method::connect);
  EXPECT_EQ(o.body, body_kind::none);
  EXPECT_TRUE(o.upgrade) << "the connection now carries the tunnel";
  const response_outcome no_content = expect_response_ok("HTTP/1.1 204 X\r\n\r\n", method::connect);
  EXPECT_EQ(no_content.body, body_kind::none);
  EXPECT_TRUE(no_content.upgrade);
  // A refused CONNECT is an ordinary response.
  const response_outcome refused = expect_response_ok(
      "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 5\r\n\r\n", method::connect);
  EXPECT_EQ(refused.body, body_kind::content_length);
  EXPECT_EQ(refused.content_length, 5U);
  EXPECT_FALSE(refused.upgrade);
  // The same 200 to a GET is no tunnel.
  EXPECT_FALSE(expect_response_ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").upgrade);
}

TEST(ResponseFraming, ResponsesNeedNoHost) {
  EXPECT_EQ(expect_response_ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").status,
            parse_status::complete);
}

TEST(ResponseFraming, LimitsApplyToResponsesToo) {
  parse_options options;
  options.max_headers = 1;
  expect_response_error("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", errc::too_many_headers, 23,
                        method::get, options);
}

// ---- The vector paths' one pass over a head (fast_status_line) and its fallbacks ---------------
// Each response is parsed whole (the vector pass on the vector paths), split at every point and a
// byte at a time (the byte-by-byte parser), and must come out the same: every check of the pass
// is crossed both ways here, and ctest runs it all again on each path (label simd).

// "HTTP/1.1 200 OK\r\n" is 17 bytes: the first field line starts at 17.
constexpr std::size_t first_field_at = 17;

TEST(FastHead, StatusLinesTheVectorPassLeavesToTheByteParser) {
  // A bare LF ends the reason: strictly an error there, leniently the line's end.
  expect_response_error("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", errc::bare_lf, 15);
  parse_options bare_lf;
  bare_lf.lenient.bare_lf = true;
  const response_outcome lf =
      expect_response_ok("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", method::get, bare_lf);
  EXPECT_EQ(lf.reason, "OK");
  EXPECT_EQ(lf.headers, (field_list{{"Content-Length", "0"}}));
  // An HTAB in the reason stops the pass, which the byte parser then accepts.
  EXPECT_EQ(expect_response_ok("HTTP/1.1 200 \tOK\r\nContent-Length: 0\r\n\r\n").reason, "\tOK");
  // obs-text does not stop it.
  EXPECT_EQ(expect_response_ok("HTTP/1.1 200 caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n").reason,
            "caf\xc3\xa9");
  // The shortest status-line, its CRLF the buffer's 14th and 15th bytes.
  const response_outcome shortest = expect_response_ok("HTTP/1.1 200 \r\n\r\n");
  EXPECT_EQ(shortest.reason, "");
  EXPECT_EQ(shortest.head_size, 17U);
  // Each byte before the reason the pass compares, wrong: the byte parser's error.
  expect_response_error("HTTP/1.1 200OK\r\n\r\n", errc::bad_status_line, 12);
  expect_response_error("HTTP/1.1 20 OK\r\n\r\n", errc::bad_status_code, 11);
  expect_response_error("HTTP/1.1 2a0 OK\r\n\r\n", errc::bad_status_code, 10);
  expect_response_error("HTTP/1.1 600 OK\r\n\r\n", errc::bad_status_code, 9);
  expect_response_error("HTTP/1.1 099 OK\r\n\r\n", errc::bad_status_code, 9);
  expect_response_error("HTTP/1.1_200 OK\r\n\r\n", errc::bad_status_line, 8);
  expect_response_error("HTTP/1._ 200 OK\r\n\r\n", errc::bad_version, 7);
  expect_response_error("HTTP/1,1 200 OK\r\n\r\n", errc::bad_version, 6);
  expect_response_error("HTTP/3.1 200 OK\r\n\r\n", errc::unsupported_version, 0);
  expect_response_error("HTTP-1.1 200 OK\r\n\r\n", errc::bad_version, 4);
  // A CR the pass finds that no LF follows.
  expect_response_error("HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", errc::bare_cr, 15);
  // A control byte ends the pass's search for the line end, the byte parser's error.
  expect_response_error("HTTP/1.1 200 O\x1bK\r\n\r\n", errc::bad_reason_phrase, 14);
}

TEST(FastHead, StatusLinesEndingAroundTheFirstBlocksEnd) {
  // The pass reads 64-byte blocks: the reason's CR at bytes 62, 63 (its LF in the next block) and
  // 64 (the line in two blocks), with a field line after.
  for (const std::size_t cr : {62U, 63U, 64U, 130U}) {
    const std::string reason(cr - 13, 'r');
    const response_outcome o =
        expect_response_ok("HTTP/1.1 200 " + reason + "\r\nContent-Length: 3\r\n\r\n");
    EXPECT_EQ(o.reason, reason) << cr;
    EXPECT_EQ(o.headers, (field_list{{"Content-Length", "3"}})) << cr;
    EXPECT_EQ(o.content_length, 3U) << cr;
  }
}

TEST(FastHead, HeadsCutShortOrFollowedByTheBody) {
  // The head ends exactly where the buffer does (every whole parse in these tests), or the body
  // follows: only the head is consumed.
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\n";
  const response_outcome with_body = expect_response_ok(head + "hello");
  EXPECT_EQ(with_body.consumed, head.size());
  EXPECT_EQ(with_body.content_length, 5U);
  // Cut before the final empty line, after a whole status-line, or before its LF: more is needed.
  for (const std::size_t cut :
       {head.size() - 2, head.size() - 1, first_field_at, std::size_t{16}}) {
    const response_outcome o = parse_response(std::string_view(head).substr(0, cut));
    EXPECT_EQ(o.status, parse_status::incomplete) << cut << ": " << o;
  }
}

TEST(FastHead, FieldLinesAfterATakenStatusLineThatTheByteParserTakes) {
  // An obs-fold in the first field line: an error at its first byte strictly, a continued value
  // with the leniency.
  const std::string folded = "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n";
  expect_response_error(folded, errc::obs_fold, first_field_at + 6);
  parse_options fold;
  fold.lenient.obs_fold = true;
  const response_outcome o = expect_response_ok(folded, method::get, fold);
  EXPECT_EQ(o.headers, (field_list{{"X", "a\r\n b"}, {"Content-Length", "0"}}));
  // An HTAB in a value: the byte parser takes that line, the pass the lines after it again.
  EXPECT_EQ(
      expect_response_ok("HTTP/1.1 200 OK\r\nX: a\tb\r\nContent-Length: 0\r\nY: c\r\n\r\n").headers,
      (field_list{{"X", "a\tb"}, {"Content-Length", "0"}, {"Y", "c"}}));
}

TEST(FastHead, FieldLinesEndingAroundEachBlocksEnd) {
  // The pass clears each taken line's CR and LF bits in its block's mask: a CR at a block's
  // last byte leaves the LF to the next block, whatever the line after it is.
  for (std::size_t pad = 0; pad < 70; ++pad) {
    const std::string a = "A: " + std::string(pad, 'a');
    const std::string head = "HTTP/1.1 200 OK\r\n" + a + "\r\nB: b\r\nC:\r\nD: \r\nE: e  \r\n";
    const response_outcome o = expect_response_ok(head + "Content-Length: 1\r\n\r\n");
    EXPECT_EQ(o.headers, (field_list{{"A", std::string(pad, 'a')},
                                     {"B", "b"},
                                     {"C", ""},
                                     {"D", ""},
                                     {"E", "e"},
                                     {"Content-Length", "1"}}))
        << pad;
    // A line the pass does not take, after lines it took, each way: no colon, a space before
    // it, a CR with no LF.
    expect_response_error(head + "F\r\n\r\n", errc::missing_colon, head.size() + 1);
    expect_response_error(head + "F : f\r\n\r\n", errc::space_before_colon, head.size() + 1);
    expect_response_error(head + "F: f\rx\r\n\r\n", errc::bare_cr, head.size() + 4);
  }
}

// ---- The inline Content-Length and Connection (response_parser::on_field) and their fallbacks -

// "HTTP/1.1 200 OK\r\nContent-Length: " is 33 bytes: the value starts at 33.
constexpr std::size_t length_value_at = 33;

std::string with_length(std::string_view value, std::string_view more = {}) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::string(value) + "\r\n" + std::string(more) +
         "\r\n";
}

TEST(InlineFraming, ContentLengthsOfEveryDigitCountAndTheirFaults) {
  // 1 to 19 digits are taken inline, 20 by interpret_field: 2^64 - 1 is the largest.
  EXPECT_EQ(expect_response_ok(with_length("7")).content_length, 7U);
  EXPECT_EQ(expect_response_ok(with_length("00012")).content_length, 12U);
  EXPECT_EQ(expect_response_ok(with_length("9999999999999999999")).content_length,
            9999999999999999999U);
  EXPECT_EQ(expect_response_ok(with_length("18446744073709551615")).content_length,
            18446744073709551615U);
  EXPECT_EQ(expect_response_ok(with_length("00000000000000000000018")).content_length, 18U);
  expect_response_error(with_length("18446744073709551616"), errc::bad_content_length,
                        length_value_at + 19);
  expect_response_error(with_length("184467440737095516150"), errc::bad_content_length,
                        length_value_at + 20);
  expect_response_error(with_length("12a"), errc::bad_content_length, length_value_at + 2);
  // ':' and '/' are the bytes either side of the digits: the inline loop leaves them too.
  expect_response_error(with_length("1:"), errc::bad_content_length, length_value_at + 1);
  expect_response_error(with_length("1/"), errc::bad_content_length, length_value_at + 1);
  expect_response_error(with_length("+1"), errc::bad_content_length, length_value_at);
  expect_response_error(with_length(""), errc::bad_content_length, length_value_at);
  // A second Content-Length: the same value is one length, another is a conflict at its name.
  EXPECT_EQ(expect_response_ok(with_length("5", "content-length: 5\r\n")).content_length, 5U);
  expect_response_error(with_length("5", "Content-Length: 6\r\n"), errc::conflicting_content_length,
                        length_value_at + 3);
  // The name in any case; a name of its size that is another field is no length.
  EXPECT_EQ(expect_response_ok("HTTP/1.1 200 OK\r\ncONTENT-lENGTH: 4\r\n\r\n").content_length, 4U);
  EXPECT_EQ(expect_response_ok("HTTP/1.1 200 OK\r\nContent-Lengtx: 4\r\n\r\n").body,
            body_kind::until_close);
}

TEST(InlineFraming, ConnectionValuesInlineAndAsLists) {
  const auto keep_alive = [](std::string_view version, std::string_view connection) {
    return expect_response_ok("HTTP/1." + std::string(version) + " 200 OK\r\nConnection: " +
                              std::string(connection) + "\r\nContent-Length: 0\r\n\r\n")
        .keep_alive;
  };
  EXPECT_TRUE(keep_alive("0", "keep-alive"));
  EXPECT_TRUE(keep_alive("0", "Keep-Alive"));
  EXPECT_FALSE(keep_alive("0", "keep-alives"));
  EXPECT_FALSE(keep_alive("0", "close"));
  EXPECT_FALSE(keep_alive("1", "close"));
  EXPECT_FALSE(keep_alive("1", "CLOSE"));
  EXPECT_FALSE(keep_alive("1", "keep-alive, close"));
  EXPECT_TRUE(keep_alive("1", "closed"));
  EXPECT_TRUE(keep_alive("0", "upgrade, keep-alive"));
  // "Connection: " is 12 bytes: the value starts at 29, and a parameter is no connection option.
  expect_response_error("HTTP/1.1 200 OK\r\nConnection: close;x\r\n\r\n", errc::bad_header_value,
                        first_field_at + 12 + 7);
}

}  // namespace
}  // namespace taut::test
