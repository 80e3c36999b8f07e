// RFC 9112 section 6 and RFC 9110 sections 7.2 and 8.6: how a request's body is delimited, and
// Host.
#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace taut::test {
namespace {

// "POST / HTTP/1.1\r\n" (17 bytes) + "Host: a\r\n" (9 bytes): the next field line starts at 26.
constexpr std::size_t after_host = 26;

std::string post_with(std::string_view fields, std::string_view body = {}) {
  return request_with("POST / HTTP/1.1", std::string("Host: a\r\n") + std::string(fields), body);
}

// "Content-Length: " is 16 bytes: a Content-Length value right after Host starts here.
constexpr std::size_t length_value = after_host + 16;

// ---- Section 6.3: no framing fields ----------------------------------------------------------

TEST(RequestFraming, NoLengthAndNoCodingMeansNoBody) {
  EXPECT_EQ(expect_request_ok(post_with("")).body, body_kind::none);
  EXPECT_EQ(expect_request_ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n").body, body_kind::none);
  // A request is never read until close (RFC 9112 section 6.3, rule 7).
  EXPECT_EQ(expect_request_ok("GET / HTTP/1.0\r\n\r\nleftover").body, body_kind::none);
}

// ---- Content-Length (RFC 9110 section 8.6) ---------------------------------------------------

TEST(ContentLength, DigitsGiveTheLength) {
  const request_outcome o = expect_request_ok(post_with("Content-Length: 5\r\n", "hello"));
  EXPECT_EQ(o.body, body_kind::content_length);
  EXPECT_EQ(o.content_length, 5U);
  EXPECT_EQ(o.consumed, post_with("Content-Length: 5\r\n").size());
  EXPECT_EQ(expect_request_ok(post_with("Content-Length: 007\r\n")).content_length, 7U);
  EXPECT_EQ(expect_request_ok(post_with("Content-Length:\t42 \t\r\n")).content_length, 42U);
  EXPECT_EQ(expect_request_ok(post_with("Content-Length: 1234567890123\r\n")).content_length,
            1234567890123U);
}

TEST(ContentLength, ZeroMeansAnEmptyBody) {
  const request_outcome o = expect_request_ok(post_with("Content-Length: 0\r\n"));
  EXPECT_TRUE(o.body == body_kind::none ||
              (o.body == body_kind::content_length && o.content_length == 0))
      << o;
}

TEST(ContentLength, LargestValueIsAcceptedAndOneMoreOverflows) {
  const request_outcome o =
      expect_request_ok(post_with("Content-Length: 18446744073709551615\r\n"));
  EXPECT_EQ(o.content_length, 18446744073709551615U);
  // The offset is the digit that overflows.
  expect_request_error(post_with("Content-Length: 18446744073709551616\r\n"),
                       errc::bad_content_length, length_value + 19);
  expect_request_error(post_with("Content-Length: 99999999999999999999999\r\n"),
                       errc::bad_content_length, length_value + 19);
  expect_request_error(post_with("Content-Length: 000000000000000000000018446744073709551616\r\n"),
                       errc::bad_content_length, length_value + 22 + 19);
  // Leading zeros do not overflow.
  EXPECT_EQ(expect_request_ok(post_with("Content-Length: 000000000000000000000000001\r\n"))
                .content_length,
            1U);
}

TEST(ContentLength, OnlyDigitsAreAllowed) {
  // Content-Length = 1*DIGIT. The offset is the first byte that is not a digit.
  expect_request_error(post_with("Content-Length: +5\r\n"), errc::bad_content_length, length_value);
  expect_request_error(post_with("Content-Length: -1\r\n"), errc::bad_content_length, length_value);
  expect_request_error(post_with("Content-Length: 1_0\r\n"), errc::bad_content_length,
                       length_value + 1);
  expect_request_error(post_with("Content-Length: 0x5\r\n"), errc::bad_content_length,
                       length_value + 1);
  expect_request_error(post_with("Content-Length: 5 5\r\n"), errc::bad_content_length,
                       length_value + 1);
  expect_request_error(post_with("Content-Length: 5,5\r\n"), errc::bad_content_length,
                       length_value + 1);
  expect_request_error(post_with("Content-Length: 5, 5\r\n"), errc::bad_content_length,
                       length_value + 1);
  expect_request_error(post_with("Content-Length: 1e3\r\n"), errc::bad_content_length,
                       length_value + 1);
  expect_request_error(post_with("Content-Length: 5.0\r\n"), errc::bad_content_length,
                       length_value + 1);
  // ':' and '/' are the bytes either side of the digits.
  expect_request_error(post_with("Content-Length: 1:\r\n"), errc::bad_content_length,
                       length_value + 1);
  expect_request_error(post_with("Content-Length: 1/\r\n"), errc::bad_content_length,
                       length_value + 1);
  expect_request_error(post_with("Content-Length: abc\r\n"), errc::bad_content_length,
                       length_value);
  expect_request_error(post_with("Content-Length: \xd9\xa1\r\n"), errc::bad_content_length,
                       length_value);
  expect_request_error(post_with("Content-Length: \"5\"\r\n"), errc::bad_content_length,
                       length_value);
  EXPECT_EQ(default_status(errc::bad_content_length), 400);
}

TEST(ContentLength, EmptyValueIsRejected) {
  // Nothing but whitespace: the offset is where the digits should have started (the line end).
  expect_request_error(post_with("Content-Length:\r\n"), errc::bad_content_length, after_host + 15);
  expect_request_error(post_with("Content-Length:  \r\n"), errc::bad_content_length,
                       after_host + 17);
}

TEST(ContentLength, IdenticalDuplicatesAreAccepted) {
  const request_outcome o =
      expect_request_ok(post_with("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"));
  EXPECT_EQ(o.body, body_kind::content_length);
  EXPECT_EQ(o.content_length, 5U);
  EXPECT_EQ(
      expect_request_ok(post_with("Content-Length: 5\r\ncontent-length: 005\r\n")).content_length,
      5U)
      << "same value, different spelling";
}

TEST(ContentLength, DifferingDuplicatesAreRejected) {
  // The offset is the start of the field line that disagrees.
  const std::size_t second = after_host + 19;
  expect_request_error(post_with("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
                       errc::conflicting_content_length, second);
  expect_request_error(
      post_with("Content-Length: 5\r\nContent-Length: 5\r\nContent-Length: 50\r\n"),
      errc::conflicting_content_length, second + 19);
  expect_request_error(post_with("Content-Length: 0\r\nX: y\r\ncontent-length: 1\r\n"),
                       errc::conflicting_content_length, second + 6);
  EXPECT_EQ(default_status(errc::conflicting_content_length), 400);
}

// ---- Transfer-Encoding (RFC 9112 sections 6.1 and 7) -----------------------------------------

TEST(TransferEncoding, ChunkedIsTheBodyFraming) {
  for (const char* value : {"chunked", "CHUNKED", "Chunked", "\tchunked\t"}) {
    const request_outcome o = expect_request_ok(
        post_with(std::string("Transfer-Encoding: ") + value + "\r\n", "0\r\n\r\n"));
    EXPECT_EQ(o.body, body_kind::chunked) << value;
  }
  parse_options codings;
  codings.allow_transfer_codings = true;
  for (const char* value : {"gzip, chunked", "gzip,chunked", "deflate , chunked",
                            "compress, gzip, chunked", "x-gzip, chunked"}) {
    const request_outcome o = expect_request_ok(
        post_with(std::string("Transfer-Encoding: ") + value + "\r\n", "0\r\n\r\n"), codings);
    EXPECT_EQ(o.body, body_kind::chunked) << value;
  }
}

TEST(TransferCoding, GzipBeforeChunkedIs501ByDefault) {
  // RFC 9112 section 6.1: a server answers 501 to a transfer coding it does not decode, and the
  // parser decodes chunked only: gzip is no different from br. The offset is the coding.
  for (const std::string coding : {"gzip", "deflate", "compress", "x-gzip", "x-compress", "br"}) {
    expect_request_error(post_with("Transfer-Encoding: " + coding + ", chunked\r\n", "0\r\n\r\n"),
                         errc::unknown_transfer_coding, after_host + 19);
  }
  // Wherever the coding is: a later field line, or a coding after chunked's (chunked not final).
  expect_request_error(post_with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
                       errc::unknown_transfer_coding, after_host + 19);
  expect_request_error(post_with("Transfer-Encoding: gzip\r\n"), errc::unknown_transfer_coding,
                       after_host + 19);
  EXPECT_EQ(default_status(errc::unknown_transfer_coding), 501);
}

TEST(TransferCoding, OptedInCodingsAreLeftOnTheBodyAndNamed) {
  // parse_options::allow_transfer_codings: the body is framed by the final chunked, and the
  // codings before it are handed to the caller as sent, to decode.
  parse_options options;
  options.allow_transfer_codings = true;
  const std::pair<const char*, const char*> cases[] = {
      {"gzip, chunked", "gzip"}, {"x-gzip,deflate , chunked", "x-gzip,deflate"},
      {"br, chunked", "br"},     {"gzip;level=\"1,2\" , chunked", "gzip;level=\"1,2\""},
      {"chunked", ""},
  };
  for (const auto& [value, codings] : cases) {
    const request_outcome o = expect_request_ok(
        post_with(std::string("Transfer-Encoding: ") + value + "\r\n", "0\r\n\r\n"), options);
    EXPECT_EQ(o.body, body_kind::chunked) << value;
    EXPECT_EQ(o.transfer_codings, codings) << value;
  }
  const request_outcome split = expect_request_ok(
      post_with("Transfer-Encoding: gzip\r\nX: y\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
      options);
  EXPECT_EQ(split.transfer_codings, "gzip");
  // Still: chunked final, once, and the codings named in one field line (one view).
  expect_request_error(post_with("Transfer-Encoding: gzip\r\n"), errc::chunked_not_final,
                       after_host, options);
  expect_request_error(post_with("Transfer-Encoding: chunked, gzip\r\n"), errc::chunked_not_final,
                       after_host + 19 + 9, options);
  expect_request_error(post_with("Transfer-Encoding: gzip\r\nTransfer-Encoding: br, chunked\r\n"),
                       errc::bad_transfer_encoding, after_host + 25 + 19, options);
  // Without the option the request never gets that far.
  EXPECT_EQ(
      expect_request_ok(post_with("Transfer-Encoding: chunked\r\n", "0\r\n\r\n")).transfer_codings,
      "");
}

TEST(TransferEncoding, CodingsFromSeveralFieldLinesFormOneList) {
  parse_options codings;
  codings.allow_transfer_codings = true;
  const request_outcome o = expect_request_ok(
      post_with("Transfer-Encoding: gzip\r\nX: y\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
      codings);
  EXPECT_EQ(o.body, body_kind::chunked);
}

TEST(TransferEncoding, EmptyListElementsAreIgnored) {
  // RFC 9110 section 5.6.1.2: a recipient MUST parse and ignore a reasonable number of empty
  // list elements.
  for (const char* value : {", chunked", "chunked ,", ", , chunked", ",,chunked"}) {
    const request_outcome o = expect_request_ok(
        post_with(std::string("Transfer-Encoding: ") + value + "\r\n", "0\r\n\r\n"));
    EXPECT_EQ(o.body, body_kind::chunked) << value;
  }
}

TEST(TransferEncoding, ChunkedMustBeFinalInARequest) {
  // RFC 9112 section 6.3 rule 4: the length cannot be determined; 400. The offset is the coding
  // after chunked, or, when chunked never came, the start of the Transfer-Encoding field line.
  parse_options codings;
  codings.allow_transfer_codings = true;
  expect_request_error(post_with("Transfer-Encoding: gzip\r\n"), errc::chunked_not_final,
                       after_host, codings);
  expect_request_error(post_with("Transfer-Encoding: chunked, gzip\r\n"), errc::chunked_not_final,
                       after_host + 19 + 9);
  expect_request_error(post_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"),
                       errc::chunked_not_final, after_host + 28 + 19);
  EXPECT_EQ(default_status(errc::chunked_not_final), 400);
}

TEST(TransferEncoding, ChunkedTwiceIsRejected) {
  // "Transfer-Encoding: " is 19 bytes; the second "chunked" starts 9 bytes into the value.
  expect_request_error(post_with("Transfer-Encoding: chunked, chunked\r\n"),
                       errc::chunked_applied_twice, after_host + 19 + 9);
  expect_request_error(post_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
                       errc::chunked_applied_twice, after_host + 28 + 19);
  EXPECT_EQ(default_status(errc::chunked_applied_twice), 400);
}

TEST(TransferEncoding, UnknownCodingsAre501) {
  // RFC 9112 section 6.1: a server that does not understand a coding SHOULD answer 501.
  expect_request_error(post_with("Transfer-Encoding: xchunked\r\n"), errc::unknown_transfer_coding,
                       after_host + 19);
  expect_request_error(post_with("Transfer-Encoding: br, chunked\r\n"),
                       errc::unknown_transfer_coding, after_host + 19);
  expect_request_error(post_with("Transfer-Encoding: chunk\r\n"), errc::unknown_transfer_coding,
                       after_host + 19);
  expect_request_error(post_with("Transfer-Encoding: chunkedx\r\n"), errc::unknown_transfer_coding,
                       after_host + 19);
  // "identity" was removed from the registry (RFC 7230): it is no coding at all.
  expect_request_error(post_with("Transfer-Encoding: identity\r\n"), errc::unknown_transfer_coding,
                       after_host + 19);
  EXPECT_EQ(default_status(errc::unknown_transfer_coding), 501);
}

TEST(TransferEncoding, MalformedListsAreRejected) {
  expect_request_error(post_with("Transfer-Encoding: \"chunked\"\r\n"), errc::bad_transfer_encoding,
                       after_host + 19);
  expect_request_error(post_with("Transfer-Encoding: chunked/1\r\n"), errc::bad_transfer_encoding,
                       after_host + 26);
  // The list is read left to right: "chu" is already an unknown coding.
  expect_request_error(post_with("Transfer-Encoding: chu nked\r\n"), errc::unknown_transfer_coding,
                       after_host + 19);
  expect_request_error(post_with("Transfer-Encoding: gzip nked\r\n"), errc::unknown_transfer_coding,
                       after_host + 19);
  parse_options codings;
  codings.allow_transfer_codings = true;
  expect_request_error(post_with("Transfer-Encoding: gzip nked\r\n"), errc::bad_transfer_encoding,
                       after_host + 24, codings);
  expect_request_error(post_with("Transfer-Encoding: @\r\n"), errc::bad_transfer_encoding,
                       after_host + 19);
  EXPECT_EQ(default_status(errc::bad_transfer_encoding), 400);
}

TEST(TransferEncoding, EmptyTransferEncodingIsNotChunked) {
  // An empty list names no coding: without chunked last, a request's length is unknown.
  expect_request_error(post_with("Transfer-Encoding: \r\n"), errc::chunked_not_final, after_host);
  expect_request_error(post_with("Transfer-Encoding: ,\r\n"), errc::chunked_not_final, after_host);
  // ...and an empty field after a chunked one does not undo it.
  EXPECT_EQ(expect_request_ok(
                post_with("Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n", "0\r\n\r\n"))
                .body,
            body_kind::chunked);
}

TEST(TransferEncoding, RejectedInHttp10) {
  // RFC 9112 section 6.1: a server MUST treat it as faulty framing (an HTTP/1.0 peer cannot
  // mean chunked). "POST / HTTP/1.0\r\n" is 17 bytes.
  expect_request_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                       errc::transfer_encoding_http10, 17);
  expect_request_error("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                       errc::transfer_encoding_http10, 26);
  EXPECT_EQ(default_status(errc::transfer_encoding_http10), 400);
}

TEST(TransferEncoding, WithContentLengthIsRejectedByDefault) {
  // The offset is the start of whichever of the two field lines came second.
  expect_request_error(
      post_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
      errc::transfer_encoding_with_content_length, after_host + 19);
  expect_request_error(
      post_with("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"),
      errc::transfer_encoding_with_content_length, after_host + 28);
  EXPECT_EQ(default_status(errc::transfer_encoding_with_content_length), 400);
}

TEST(TransferEncoding, WithContentLengthLenientlyLetsChunkedWinAndCloses) {
  parse_options options;
  options.lenient.transfer_encoding_with_content_length = true;
  for (const char* fields : {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                             "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"}) {
    const request_outcome o = expect_request_ok(post_with(fields, "0\r\n\r\n"), options);
    EXPECT_EQ(o.body, body_kind::chunked) << fields;
    EXPECT_FALSE(o.keep_alive) << "RFC 9112 section 6.3: close after responding";
  }
  // The leniency does not excuse anything else.
  expect_request_error(post_with("Content-Length: 5\r\nTransfer-Encoding: gzip\r\n"),
                       errc::unknown_transfer_coding, after_host + 19 + 19, options);
  expect_request_error(post_with("Content-Length: x\r\nTransfer-Encoding: chunked\r\n"),
                       errc::bad_content_length, length_value, options);
}

// ---- Host (RFC 9110 section 7.2) ---------------------------------------------------------------

TEST(Host, RequiredInHttp11) {
  // Detected at the end of the head: the offset is that of the empty line that ends it.
  expect_request_error("GET / HTTP/1.1\r\n\r\n", errc::missing_host, 16);
  expect_request_error("GET / HTTP/1.1\r\nX: y\r\n\r\n", errc::missing_host, 22);
  expect_request_error("GET http://example.com/ HTTP/1.1\r\n\r\n", errc::missing_host, 34);
  EXPECT_EQ(default_status(errc::missing_host), 400);
}

TEST(Host, OptionalInHttp10) {
  const request_outcome o = expect_request_ok("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(o.host, "");
  EXPECT_EQ(expect_request_ok("GET / HTTP/1.0\r\nHost: a\r\n\r\n").host, "a");
}

TEST(Host, ValueIsExposed) {
  EXPECT_EQ(expect_request_ok("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n").host,
            "example.com:8080");
  EXPECT_EQ(expect_request_ok("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").host, "[::1]:80");
  EXPECT_EQ(expect_request_ok("GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n").host, "10.0.0.1");
  EXPECT_EQ(expect_request_ok("GET / HTTP/1.1\r\nHost: a-b.c_d~e%41!$&'()*+,;=\r\n\r\n").host,
            "a-b.c_d~e%41!$&'()*+,;=");
  // An empty Host is allowed when the target has no authority (RFC 9110 section 7.2).
  EXPECT_EQ(expect_request_ok("GET / HTTP/1.1\r\nHost:\r\n\r\n").host, "");
}

TEST(Host, ExactlyOnce) {
  expect_request_error("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", errc::duplicate_host, 25);
  expect_request_error("GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nhost: b\r\n\r\n", errc::duplicate_host,
                       31);
  expect_request_error("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", errc::duplicate_host, 25);
  EXPECT_EQ(default_status(errc::duplicate_host), 400);
}

TEST(Host, InvalidValuesAreRejected) {
  // "GET / HTTP/1.1\r\nHost: " is 22 bytes; the offset is the first byte that cannot be there.
  expect_request_error("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", errc::bad_host, 23);
  expect_request_error("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", errc::bad_host, 23);
  expect_request_error("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", errc::bad_host, 23);
  expect_request_error("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", errc::bad_host, 25);
  expect_request_error("GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", errc::bad_host, 23);
  // An unclosed IP literal: the offset is its last byte.
  expect_request_error("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", errc::bad_host, 25);
  EXPECT_EQ(default_status(errc::bad_host), 400);
}

TEST(Host, AbsoluteFormStillNeedsHost) {
  const request_outcome o =
      expect_request_ok("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(o.host, "example.com");
  EXPECT_EQ(o.form, target_form::absolute);
}

// The fast field loop stores many lines in one call and the framing fields among them are found
// afterwards: those deep in a long section must still be seen, in order.
std::string many_fields(std::initializer_list<std::pair<std::size_t, std::string>> at,
                        std::size_t total) {
  std::string fields;
  for (std::size_t i = 0; i < total; ++i) {
    std::string line = "X-Filler-" + std::to_string(i) + ": value\r\n";
    for (const auto& [index, replacement] : at) {
      if (index == i) line = replacement;
    }
    fields += line;
  }
  return fields;
}

TEST(RequestFraming, FramingFieldsAreFoundAmongManyFields) {
  const std::string fields = many_fields({{3, "Content-Length: 5\r\n"},
                                          {65, "Connection: close\r\n"},
                                          {70, "Host: far.example\r\n"},
                                          {88, "Expect: 100-continue\r\n"}},
                                         90);
  const request_outcome o = expect_request_ok(request_with("POST / HTTP/1.1", fields, "hello"));
  EXPECT_EQ(o.host, "far.example");
  EXPECT_EQ(o.content_length, 5U);
  EXPECT_FALSE(o.keep_alive);
  EXPECT_TRUE(o.expect_continue);
  EXPECT_EQ(o.headers.size(), 90U);

  const std::string conflicting = request_with(
      "POST / HTTP/1.1",
      many_fields({{0, "Host: a\r\n"}, {3, "Content-Length: 5\r\n"}, {85, "Content-Length: 6\r\n"}},
                  90),
      "hello");
  expect_request_error(conflicting, errc::conflicting_content_length,
                       conflicting.find("Content-Length: 6"));
}

}  // namespace
}  // namespace taut::test
