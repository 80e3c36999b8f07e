// Edges the other tests pass over, each tested on both sides: the ends of numeric ranges, the
// parameters of list elements (RFC 9110 sections 5.6.6 and 5.6.4: quoted strings, escapes, empty
// values), and inputs that end exactly where a loop stops. Mutation testing
// (scripts/mutation-test.sh) found each of these unchecked.
#include <gtest/gtest.h>

#include <string>
#include <system_error>

#include "test_support.hpp"

namespace taut::test {
namespace {

// ---- RFC 9110 section 15: a status code is 100 to 599 -----------------------------------------

// "HTTP/1.1 " is 9 bytes: the status code starts at 9.
constexpr std::size_t status_code_at = 9;

TEST(StatusRange, BothEndsAreInsideAndTheirNeighboursOutside) {
  EXPECT_EQ(expect_response_ok("HTTP/1.1 100 Continue\r\n\r\n").status_code, 100);
  EXPECT_EQ(expect_response_ok("HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n").status_code, 599);
  for (const char* code : {"099", "000", "600", "999"}) {
    expect_response_error(std::string("HTTP/1.1 ") + code + " X\r\n\r\n", errc::bad_status_code,
                          status_code_at);
  }
}

TEST(StatusRange, EveryTwoHundredToConnectIsATunnelAndNothingAround) {
  // RFC 9110 section 9.3.6: any 2xx, 200 to 299, turns the connection into a tunnel.
  for (const char* code : {"200", "299"}) {
    const response_outcome o = expect_response_ok(
        std::string("HTTP/1.1 ") + code + " X\r\nContent-Length: 5\r\n\r\n", method::connect);
    EXPECT_TRUE(o.upgrade) << code;
    EXPECT_EQ(o.body, body_kind::none) << code;
  }
  const response_outcome redirect =
      expect_response_ok("HTTP/1.1 300 X\r\nContent-Length: 5\r\n\r\n", method::connect);
  EXPECT_FALSE(redirect.upgrade);
  EXPECT_EQ(redirect.body, body_kind::content_length);
  const response_outcome interim = expect_response_ok("HTTP/1.1 199 X\r\n\r\n", method::connect);
  EXPECT_FALSE(interim.upgrade);
}

// ---- The request-target's end and escapes, as the fast request-line path reads them -----------

TEST(TargetEdges, AByteOtherThanSpaceAfterTheTargetIsNoSeparator) {
  // "GET /a" is 6 bytes: the '#' (no path byte) is where the target breaks.
  for (const char* line : {"GET /a#HTTP/1.1", "GET /a\"HTTP/1.1", "GET /a<HTTP/1.1"}) {
    expect_request_error(std::string(line) + "\r\nHost: a\r\n\r\n", errc::bad_target, 6);
  }
}

TEST(TargetEdges, BothDigitsOfAPercentEscapeAreHex) {
  // RFC 3986 section 2.1: pct-encoded = "%" HEXDIG HEXDIG. "GET /a" is 6 bytes.
  expect_request_error("GET /a%4z HTTP/1.1\r\nHost: a\r\n\r\n", errc::bad_target, 6);
  expect_request_error("GET /a%z4 HTTP/1.1\r\nHost: a\r\n\r\n", errc::bad_target, 6);
  EXPECT_EQ(expect_request_ok("GET /a%4F%c3%A9 HTTP/1.1\r\nHost: a\r\n\r\n").target, "/a%4F%c3%A9");
}

TEST(TargetEdges, TwoHexDigitsAfterTheTargetsSpaceAreNoEscape) {
  // Only a '%' starts an escape: a space followed by hex digits still ends the target, and the
  // version must come next. "GET /a " is 7 bytes.
  for (const char* line : {"GET /a ab HTTP/1.1", "GET /a 4F HTTP/1.1", "GET /a Fe/ HTTP/1.1"}) {
    expect_request_error(std::string(line) + "\r\nHost: a\r\n\r\n", errc::bad_version, 7);
  }
}

TEST(TargetEdges, ASpaceOnABlocksLastByteRightAfterAnEscapeEndsTheTarget) {
  // The vector paths search 64-byte blocks; after an escape the search resumes at the byte after
  // it, here byte 63, the block's last: the space there must end the target, so the "x" after it
  // is where the version should be. "GET /" is 5 bytes, 55 'a's, "%41" at 60-62, the space at 63.
  const std::string line = "GET /" + std::string(55, 'a') + "%41 x HTTP/1.1";
  ASSERT_EQ(line[63], ' ');
  expect_request_error(line + "\r\nHost: a\r\n\r\n", errc::bad_version, 64);
  EXPECT_EQ(expect_request_ok("GET /" + std::string(55, 'a') + "%41 HTTP/1.1\r\nHost: a\r\n\r\n")
                .target.size(),
            59u);
}

// ---- Transfer-Encoding parameters (RFC 9110 section 5.6.6) ------------------------------------

// "POST / HTTP/1.1\r\n" (17) + "Host: a\r\n" (9) + "Transfer-Encoding: " (19): the value's first
// byte.
constexpr std::size_t coding_value = 45;

std::string post_coded(std::string_view codings) {
  return request_with("POST / HTTP/1.1",
                      "Host: a\r\nTransfer-Encoding: " + std::string(codings) + "\r\n",
                      "0\r\n\r\n");
}

parse_options codings_allowed() {
  parse_options options;
  options.allow_transfer_codings = true;
  return options;
}

TEST(CodingParameters, QuotedStringsAndEscapesStayWithTheirCoding) {
  // The coding ends at the first comma outside a quoted string; an escaped quote does not end the
  // string, an escaped backslash does not escape what follows.
  const std::pair<const char*, const char*> cases[] = {
      {"gzip;q=\"a\\\"b,c\", chunked", "gzip;q=\"a\\\"b,c\""},
      {"gzip;q=\"a\\\\\", chunked", "gzip;q=\"a\\\\\""},
      {"gzip;a=1;b=\"2, 3\";c=x, chunked", "gzip;a=1;b=\"2, 3\";c=x"},
      {"gzip;q=\"\", chunked", "gzip;q=\"\""},
      {"gzip;q=\"\xff\t\", chunked", "gzip;q=\"\xff\t\""},
      {"gzip;q=1 \t, chunked", "gzip;q=1"},
      {"gzip;q=1, br, chunked", "gzip;q=1, br"},
  };
  for (const auto& [value, codings] : cases) {
    const request_outcome o = expect_request_ok(post_coded(value), codings_allowed());
    EXPECT_EQ(o.body, body_kind::chunked) << value;
    EXPECT_EQ(o.transfer_codings, codings) << value;
  }
  const response_outcome r = expect_response_ok(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip;q=\"1\\\",2\", chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(r.transfer_codings, "gzip;q=\"1\\\",2\"");
  EXPECT_EQ(r.body, body_kind::chunked);
}

TEST(CodingParameters, EmptyOrUnfinishedParametersAreRejectedWhereTheyBreak) {
  const std::pair<const char*, std::size_t> cases[] = {
      {"gzip;q=, chunked", 7},        // empty value: at the comma
      {"gzip;q=", 6},                 // empty value at the end: the last byte
      {"gzip;=1, chunked", 5},        // no name: at the "="
      {"gzip;, chunked", 5},          // nothing after ";"
      {"gzip;q, chunked", 6},         // no "=": where it should be
      {"gzip;q", 6},                  // the same at the end of the value
      {"gzip;q=\"abc, chunked", 19},  // the quoted string never ends: its last byte
      {"gzip;q=\"a\\", 9},            // an escape with nothing to escape
      {"gzip;q=a\"b\", chunked", 8},  // a quote inside a token value
  };
  for (const auto& [value, offset] : cases) {
    expect_request_error(post_coded(value), errc::bad_transfer_encoding, coding_value + offset,
                         codings_allowed());
  }
}

TEST(CodingParameters, ChunkedTakesNoParameters) {
  // RFC 9112 section 7.1: chunked has no parameters; one is a malformed list, 400 either way.
  for (const parse_options& options : {parse_options{}, codings_allowed()}) {
    expect_request_error(post_coded("chunked;q=1"), errc::bad_transfer_encoding, coding_value,
                         options);
  }
  expect_request_error(post_coded("gzip, chunked;q=\"x\""), errc::bad_transfer_encoding,
                       coding_value + 6, codings_allowed());
}

TEST(ConnectionOptions, TakeNoParameters) {
  // RFC 9110 section 7.6.1: connection options are bare tokens. "Host: a\r\nConnection: " puts
  // the value at 16 + 9 + 12 = 37.
  constexpr std::size_t value_at = 37;
  for (const char* value : {"close;a=1", "close; a=\"x\"", "keep-alive;x=y"}) {
    expect_request_error(
        request_with("GET / HTTP/1.1", "Host: a\r\nConnection: " + std::string(value) + "\r\n"),
        errc::bad_header_value, value_at);
  }
  expect_request_error(
      request_with("GET / HTTP/1.1", "Host: a\r\nConnection: upgrade, close;a=1\r\n"),
      errc::bad_header_value, value_at + 9);
}

// ---- Host (RFC 9110 section 7.2, RFC 3986 section 3.2): empty parts the grammar allows -------

TEST(HostEdges, AnEmptyNameOrAnEmptyPortIsValid) {
  // uri-host = host = reg-name = *( unreserved / pct-encoded / sub-delims ), and port = *DIGIT:
  // both may be empty. ("GET / HTTP/1.1\r\nHost: " is 22 bytes.)
  for (const char* host : {":80", "a:", ":", "[::1]:", "%41:"}) {
    EXPECT_EQ(
        expect_request_ok(request_with("GET / HTTP/1.1", "Host: " + std::string(host) + "\r\n"))
            .host,
        host);
  }
  // Still: after the name only a colon, after the colon only digits.
  expect_request_error("GET / HTTP/1.1\r\nHost: :8x\r\n\r\n", errc::bad_host, 22 + 2);
  expect_request_error("GET / HTTP/1.1\r\nHost: []:1\r\n\r\n", errc::bad_host, 22 + 1);
  expect_request_error("GET / HTTP/1.1\r\nHost: %4:1\r\n\r\n", errc::bad_host, 22);
}

TEST(HostEdges, AnEmptyIpLiteralInTheTargetIsRejectedAtItsEnd) {
  // IP-literal = "[" ( IPv6address / IPvFuture ) "]": never empty (RFC 3986 section 3.2.2).
  // "GET http://" and "CONNECT " put the "[" at 11 and 8.
  expect_request_error("GET http://[]/ HTTP/1.1\r\nHost: a\r\n\r\n", errc::bad_target, 12);
  expect_request_error("CONNECT []:443 HTTP/1.1\r\nHost: a\r\n\r\n", errc::bad_target, 9);
  EXPECT_EQ(expect_request_ok("GET http://[::1]/ HTTP/1.1\r\nHost: a\r\n\r\n").target,
            "http://[::1]/");
  EXPECT_EQ(expect_request_ok("CONNECT [::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n").target, "[::1]:443");
}

// ---- Lenient obs-fold: only the framing fields are refused, by name, not by length ------------

TEST(LenientFold, NamesOfAFramingFieldsLengthStillFold) {
  // Accept-Charset has Content-Length's 14 bytes, If-Modified-Since Transfer-Encoding's 17.
  parse_options lenient;
  lenient.lenient.obs_fold = true;
  for (const char* name : {"Accept-Charset", "If-Modified-Since"}) {
    const request_outcome o = expect_request_ok(
        request_with("GET / HTTP/1.1", "Host: a\r\n" + std::string(name) + ": a\r\n b\r\n"),
        lenient);
    EXPECT_EQ(o.headers, (field_list{{"Host", "a"}, {name, "a\r\n b"}})) << name;
  }
  // The framing fields themselves, in any case, are not folded ("GET / HTTP/1.1\r\nHost: a\r\n"
  // is 25 bytes; the fold starts after the field line).
  expect_request_error(request_with("GET / HTTP/1.1", "Host: a\r\nCONTENT-length: 1\r\n 0\r\n"),
                       errc::obs_fold, 25 + 19, lenient);
  expect_request_error(
      request_with("GET / HTTP/1.1", "Host: a\r\ntransfer-ENCODING: chunked\r\n ,\r\n"),
      errc::obs_fold, 25 + 28, lenient);
}

// ---- std::error_code: success is success in every category --------------------------------

TEST(ErrorCondition, OkIsTheSuccessConditionAndEveryErrorItsOwn) {
  // errc::ok must test equal to the generic "no error" condition, as a 0 of any category does;
  // every other code maps to a condition of taut's category with the same value.
  EXPECT_EQ(make_error_code(errc::ok), std::error_condition{});
  EXPECT_EQ(make_error_code(errc::ok).default_error_condition(), std::error_condition{});
  const std::error_code bad = errc::bad_chunk_size;
  EXPECT_EQ(bad.default_error_condition(),
            std::error_condition(static_cast<int>(errc::bad_chunk_size), parse_category()));
  EXPECT_NE(bad, std::error_condition{});
}

}  // namespace
}  // namespace taut::test
