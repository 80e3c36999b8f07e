// body_decoder over every framing: none, Content-Length, chunked (see test_chunked), until close.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace taut::test {
namespace {

constexpr framing no_body{body_kind::none, 0};
constexpr framing until_close{body_kind::until_close, 0};
framing length(std::uint64_t n) {
  return {body_kind::content_length, n};
}

TEST(ResponseBody, DecodeErrorIsBadGateway) {
  // Whoever reads a response (a gateway) answers a body it cannot decode with 502 (RFC 9110
  // section 15.6.3), as it does a head; the body decoder learns the side from the framing the
  // response parser decided.
  std::vector<header> storage(8);
  response_parser parser(storage);
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
  ASSERT_TRUE(parser.parse(chunked).complete());
  body_decoder decoder(parser.response().body);
  const body_result bad =
      decoder.decode(std::string_view(chunked).substr(parser.response().head_size));
  ASSERT_EQ(bad.status, parse_status::error);
  EXPECT_EQ(bad.error.code, errc::bad_chunk_size);
  EXPECT_EQ(bad.error.status, 502);
  EXPECT_EQ(decoder.decode("more").error.status, 502);  // and on every later call

  parser.reset();
  const std::string short_body = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab";
  ASSERT_TRUE(parser.parse(short_body).complete());
  body_decoder cut(parser.response().body);
  EXPECT_EQ(cut.decode(std::string_view(short_body).substr(parser.response().head_size)).status,
            parse_status::incomplete);
  const body_result closed = cut.finish();
  ASSERT_EQ(closed.status, parse_status::error);
  EXPECT_EQ(closed.error.code, errc::body_cut_short);
  EXPECT_EQ(closed.error.status, 502);

  // A request's body keeps the request's statuses.
  std::vector<header> request_storage(8);
  request_parser request(request_storage);
  const std::string post = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
  ASSERT_TRUE(request.parse(post).complete());
  body_decoder request_body(request.request().body);
  EXPECT_EQ(
      request_body.decode(std::string_view(post).substr(request.request().head_size)).error.status,
      400);
}

TEST(BodyDecoder, NoBodyIsCompleteAtOnce) {
  const body_outcome o = decode_body_pieces(no_body, "GET / HTTP/1.1\r\n", {}, false);
  EXPECT_EQ(o.status, parse_status::complete);
  EXPECT_EQ(o.consumed, 0U);
  EXPECT_EQ(o.data, "");
  body_decoder decoder(no_body);
  EXPECT_EQ(decoder.decode("").status, parse_status::complete);
  EXPECT_TRUE(decoder.done());
}

TEST(BodyDecoder, ContentLengthTakesExactlyThatMany) {
  const std::string input = "hello world, and the next request";
  const body_outcome whole = decode_body_pieces(length(11), input, {}, false);
  EXPECT_EQ(whole.status, parse_status::complete);
  EXPECT_EQ(whole.data, "hello world");
  EXPECT_EQ(whole.consumed, 11U);
  for (std::size_t k = 1; k < input.size(); ++k) {
    const std::array cut{k};
    EXPECT_EQ(decode_body_pieces(length(11), input, cut, false), whole) << "split at " << k;
  }
  EXPECT_EQ(decode_body_pieces(length(11), input, every_byte(input.size()), false), whole);
}

TEST(BodyDecoder, ContentLengthZeroIsCompleteAtOnce) {
  body_decoder decoder(length(0));
  const body_result r = decoder.decode("next");
  EXPECT_EQ(r.status, parse_status::complete);
  EXPECT_EQ(r.consumed, 0U);
  EXPECT_TRUE(decoder.done());
}

TEST(BodyDecoder, ContentLengthHandsOutDataAsItArrives) {
  body_decoder decoder(length(10));
  body_result r = decoder.decode("abc");
  EXPECT_EQ(r.status, parse_status::incomplete);
  EXPECT_EQ(r.data, "abc");
  EXPECT_EQ(r.consumed, 3U);
  EXPECT_EQ(decoder.body_size(), 3U);
  EXPECT_FALSE(decoder.done());
  r = decoder.decode("defghijXYZ");
  EXPECT_EQ(r.status, parse_status::complete);
  EXPECT_EQ(r.data, "defghij");
  EXPECT_EQ(r.consumed, 7U);
  EXPECT_EQ(decoder.body_size(), 10U);
  EXPECT_TRUE(decoder.done());
}

TEST(BodyDecoder, ContentLengthCutShortByCloseIsAnError) {
  // The peer closed after 3 of 5 bytes: the offset is where the missing bytes should have been.
  const body_outcome o = decode_body_pieces(length(5), "abc", {}, true);
  EXPECT_EQ(o.status, parse_status::error);
  EXPECT_EQ(o.code, errc::body_cut_short);
  EXPECT_EQ(o.offset, 3U);
  EXPECT_EQ(o.http_status, default_status(errc::body_cut_short));
  EXPECT_EQ(o.data, "abc");
}

TEST(BodyDecoder, ChunkedCutShortByCloseIsAnError) {
  const body_outcome o = decode_body_pieces({body_kind::chunked, 0}, "5\r\nhel", {}, true);
  EXPECT_EQ(o.status, parse_status::error);
  EXPECT_EQ(o.code, errc::body_cut_short);
  EXPECT_EQ(o.offset, 6U);
}

TEST(BodyDecoder, UntilCloseEndsWithTheConnection) {
  const std::string input = "everything the server sends";
  const body_outcome whole = decode_body_pieces(until_close, input, {}, true);
  EXPECT_EQ(whole.status, parse_status::complete);
  EXPECT_EQ(whole.data, input);
  EXPECT_EQ(decode_body_pieces(until_close, input, every_byte(input.size()), true), whole);
  // Without the close it never ends.
  EXPECT_EQ(decode_body_pieces(until_close, input, {}, false).status, parse_status::incomplete);
  // An empty until-close body is fine.
  body_decoder decoder(until_close);
  EXPECT_EQ(decoder.decode("").status, parse_status::incomplete);
  EXPECT_EQ(decoder.finish().status, parse_status::complete);
  EXPECT_TRUE(decoder.done());
}

TEST(BodyDecoder, FinishAfterCompletionIsHarmless) {
  body_decoder decoder(length(2));
  EXPECT_EQ(decoder.decode("ok").status, parse_status::complete);
  EXPECT_EQ(decoder.finish().status, parse_status::complete);
}

TEST(BodyDecoder, ChunkedGoesThroughTheChunkedDecoder) {
  std::vector<header> trailers(4);
  body_decoder decoder({body_kind::chunked, 0}, {}, trailers);
  EXPECT_EQ(decoder.how().kind, body_kind::chunked);
  const body_outcome o =
      decode_body_pieces({body_kind::chunked, 0}, "4\r\nwiki\r\n0\r\nT: 1\r\n\r\n", {}, false);
  EXPECT_EQ(o.status, parse_status::complete);
  EXPECT_EQ(o.data, "wiki");
  EXPECT_EQ(o.trailers, (field_list{{"T", "1"}}));
}

TEST(BodyDecoder, ChunkedErrorsKeepTheirCodeAndOffset) {
  const body_outcome o = decode_body_pieces({body_kind::chunked, 0}, "4\r\nwikiXX", {}, false);
  EXPECT_EQ(o.status, parse_status::error);
  EXPECT_EQ(o.code, errc::bad_chunk_data_end);
  EXPECT_EQ(o.offset, 7U);
}

TEST(BodyDecoder, HugeContentLengthDoesNotOverflowCounters) {
  body_decoder decoder(length(~std::uint64_t{0}));
  const body_result r = decoder.decode("abc");
  EXPECT_EQ(r.status, parse_status::incomplete);
  EXPECT_EQ(r.data, "abc");
  EXPECT_EQ(decoder.body_size(), 3U);
}

}  // namespace
}  // namespace taut::test
