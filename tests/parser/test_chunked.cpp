// RFC 9112 section 7.1: the chunked transfer coding. Every case is decoded whole, split at every
// byte, 1 byte at a time, in place, and through body_decoder; all must agree (see test_support).
#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace taut::test {
namespace {

TEST(Chunked, SingleChunk) {
  const body_outcome o = expect_chunked_ok("5\r\nhello\r\n0\r\n\r\n", "hello");
  EXPECT_EQ(o.consumed, 15U);
  EXPECT_TRUE(o.trailers.empty());
}

TEST(Chunked, EmptyBody) {
  expect_chunked_ok("0\r\n\r\n", "");
}

TEST(Chunked, SeveralChunks) {
  expect_chunked_ok("5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n", "hello world");
}

TEST(Chunked, ChunkDataIsOpaque) {
  // CR, LF, NUL and "0\r\n\r\n" inside chunk-data are data.
  const std::string data("a\r\n0\r\n\r\n\0z", 10);
  expect_chunked_ok("A\r\n" + data + "\r\n0\r\n\r\n", data);
}

TEST(Chunked, HexSizesInEitherCase) {
  expect_chunked_ok("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
  expect_chunked_ok("1F\r\n" + std::string(31, 'x') + "\r\n0\r\n\r\n", std::string(31, 'x'));
  expect_chunked_ok("1f\r\n" + std::string(31, 'x') + "\r\n0\r\n\r\n", std::string(31, 'x'));
  expect_chunked_ok("100\r\n" + std::string(256, 'y') + "\r\n0\r\n\r\n", std::string(256, 'y'));
}

TEST(Chunked, LeadingZerosAreNotOverflow) {
  expect_chunked_ok("00000000000000000000000000000003\r\nabc\r\n0000\r\n\r\n", "abc");
}

TEST(Chunked, ConsumesExactlyTheBody) {
  // What follows the body belongs to the next message.
  const std::string body = "3\r\nabc\r\n0\r\n\r\n";
  const body_outcome o = decode_chunked_whole(body + "GET / HTTP/1.1\r\n");
  EXPECT_EQ(o.status, parse_status::complete);
  EXPECT_EQ(o.consumed, body.size());
  EXPECT_EQ(o.data, "abc");
}

TEST(Chunked, IncompleteUntilTheLastChunkAndTrailerSectionEnd) {
  for (const char* prefix : {"", "5", "5\r", "5\r\n", "5\r\nhel", "5\r\nhello", "5\r\nhello\r",
                             "5\r\nhello\r\n", "5\r\nhello\r\n0", "5\r\nhello\r\n0\r\n",
                             "5\r\nhello\r\n0\r\n\r", "0\r\nX: y\r\n", "0;a=b"}) {
    const body_outcome o = decode_chunked(prefix);
    EXPECT_EQ(o.status, parse_status::incomplete) << o << " for " << prefix;
  }
}

TEST(Chunked, DataArrivesAsItComes) {
  // Body bytes are handed out before the chunk ends: a streaming server needs them.
  std::vector<header> storage(4);
  chunked_decoder decoder({}, storage);
  body_result r = decoder.decode("a\r\n01234");
  EXPECT_EQ(r.status, parse_status::incomplete);
  std::string data(r.data);
  std::size_t consumed = r.consumed;
  while (r.status == parse_status::incomplete && r.consumed > 0 && consumed < 8) {
    r = decoder.decode(std::string_view("a\r\n01234").substr(consumed));
    data += r.data;
    consumed += r.consumed;
  }
  EXPECT_EQ(data, "01234");
  EXPECT_EQ(consumed, 8U);
  EXPECT_EQ(decoder.body_size(), 5U);
  EXPECT_FALSE(decoder.done());
}

// ---- chunk-size ------------------------------------------------------------------------------

TEST(ChunkSize, MustBeHexDigits) {
  expect_chunked_error("g\r\nx\r\n0\r\n\r\n", errc::bad_chunk_size, 0);
  expect_chunked_error("\r\n", errc::bad_chunk_size, 0);
  expect_chunked_error("-5\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_size, 0);
  expect_chunked_error("+5\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_size, 0);
  expect_chunked_error(" 5\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_size, 0);
  expect_chunked_error("0x5\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_size, 1);
  expect_chunked_error("5g\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_size, 1);
  expect_chunked_error(std::string("5\0\r\nhello\r\n0\r\n\r\n", 16), errc::bad_chunk_size, 1);
  expect_chunked_error("5\r\nhello\r\nx\r\n\r\n", errc::bad_chunk_size, 10);
  EXPECT_EQ(default_status(errc::bad_chunk_size), 400);
}

TEST(ChunkSize, OverflowIsRejectedAtTheDigitThatOverflows) {
  // 16 hex digits fit in 64 bits; the 17th significant digit overflows.
  expect_chunked_error("ffffffffffffffffff\r\n", errc::chunk_size_overflow, 16);
  expect_chunked_error("10000000000000000\r\n", errc::chunk_size_overflow, 16);
  expect_chunked_error("000010000000000000000\r\n", errc::chunk_size_overflow, 20);
  // The largest size is accepted (and the body is then simply incomplete).
  EXPECT_EQ(decode_chunked("ffffffffffffffff\r\nabc").status, parse_status::incomplete);
  EXPECT_EQ(default_status(errc::chunk_size_overflow), 400);
}

TEST(ChunkSize, UsualSizeLinesTakenWholeAgreeWithTheByteLoop) {
  // A size line of hex digits and CRLF whole in the input is taken in one step (after a chunk's
  // CRLF too); every case here is also decoded split at every byte, through the byte loop.
  expect_chunked_ok("000000000000000A\r\n0123456789\r\n0\r\n\r\n", "0123456789");  // 16 digits
  expect_chunked_ok("00000000000000005\r\nhello\r\n0\r\n\r\n", "hello");  // 17: the byte loop's
  expect_chunked_ok("2\r\nab\r\nC\r\n0123456789ab\r\n0\r\n\r\n", "ab0123456789ab");
  expect_chunked_ok("1\r\na\r\n1;x=y\r\nb\r\n0\r\n\r\n", "ab");  // an extension: not one step
  // A size line cut short by the input's end waits for the rest, whichever way it was cut.
  EXPECT_EQ(decode_chunked("3\r\nabc\r\n1").status, parse_status::incomplete);
  EXPECT_EQ(decode_chunked("3\r\nabc\r\n10\r").status, parse_status::incomplete);
  // After a chunk's data: its CRLF and a bad size line are still errors at the right byte.
  expect_chunked_error("3\r\nabc\r\n3\r\r\ndef\r\n0\r\n\r\n", errc::bare_cr, 9);
  expect_chunked_error("3\r\nabc\r\n3\nabc\r\n0\r\n\r\n", errc::bare_lf, 9);
  expect_chunked_error("3\r\nabc\r\n10000000000000000\r\n", errc::chunk_size_overflow, 24);
}

TEST(ChunkOverhead, AUsualSizeLineIsCountedByteByByte) {
  // Taking a size line in one step must not move where the overhead bound stops it: at the byte
  // that passes it, inside the line, as the byte loop finds it (each case also split at every
  // byte). "00001" CRLF is 7 framing bytes; with an allowance of 4, the fifth fails.
  parse_options options;
  options.max_chunk_overhead = 4;
  expect_chunked_error("00001\r\nx\r\n0\r\n\r\n", errc::chunk_overhead_too_large, 4, options);
  // Within the allowance exactly: 7 bytes, paid back by the chunk before the next line.
  options.max_chunk_overhead = 7;
  expect_chunked_ok("00001\r\nx\r\n0\r\n\r\n", "x", options);
  // After a chunk: its CRLF and the next line count on from what that chunk left over.
  options.max_chunk_overhead = 6;
  expect_chunked_error("1\r\nx\r\n000000001\r\ny\r\n0\r\n\r\n", errc::chunk_overhead_too_large, 10,
                       options);
}

TEST(ChunkSize, ErrorOffsetsCountFromTheFirstBodyByte) {
  // The offset of an error in the second chunk counts all earlier bytes, whichever call saw it.
  expect_chunked_error("3\r\nabc\r\n3\r\ndef\r\nz\r\n", errc::bad_chunk_size, 16);
}

TEST(ChunkSize, LineEndings) {
  expect_chunked_error("5\rX", errc::bare_cr, 1);
  expect_chunked_error("5\nhello\r\n0\r\n\r\n", errc::bare_lf, 1);
  parse_options lenient;
  lenient.lenient.bare_lf = true;
  const body_outcome o = decode_chunked("5\nhello\n0\n\n", lenient);
  EXPECT_EQ(o.status, parse_status::complete) << o;
  EXPECT_EQ(o.data, "hello");
}

// ---- chunk-ext (RFC 9112 section 7.1.1) -------------------------------------------------------

TEST(ChunkExtensions, ValidExtensionsAreSkipped) {
  for (const char* line :
       {"5;name", "5;name=value", "5;a=b;c=d", "5;a;b;c", "5 ;a=b", "5\t;a=b", "5; a = b",
        "5 ; a = \"quoted value\"", "5;a=\"with \\\" escaped \\\\ quote\"", "5;a=\"\"",
        "5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~", "5;a=\"\t obs-text \x80\xff\""}) {
    expect_chunked_ok(std::string(line) + "\r\nhello\r\n0;last=1\r\n\r\n", "hello");
  }
}

TEST(ChunkExtensions, InvalidExtensionsAreRejected) {
  expect_chunked_error("5;\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 2);
  expect_chunked_error("5;=v\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 2);
  expect_chunked_error("5;a=\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 4);
  expect_chunked_error("5;a b\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 4);
  expect_chunked_error("5;a=b c\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 6);
  expect_chunked_error("5;a=\"x\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 6);
  expect_chunked_error("5;a=\"x\"y\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 7);
  expect_chunked_error("5;a=\x01\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 4);
  expect_chunked_error(std::string("5;a\0\r\nhello\r\n0\r\n\r\n", 18), errc::bad_chunk_extension,
                       3);
  expect_chunked_error("5;a=\"\x7f\"\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 5);
  expect_chunked_error("5;a(b)\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 3);
  // BWS but no extension.
  expect_chunked_error("5 \r\nhello\r\n0\r\n\r\n", errc::bad_chunk_extension, 2);
  EXPECT_EQ(default_status(errc::bad_chunk_extension), 400);
}

TEST(ChunkExtensions, LengthIsLimited) {
  parse_options options;
  options.max_chunk_extension = 8;
  // ";a=12345" is 8 bytes: accepted. One more byte is not.
  expect_chunked_ok("5;a=12345\r\nhello\r\n0\r\n\r\n", "hello", options);
  expect_chunked_error("5;a=123456\r\nhello\r\n0\r\n\r\n", errc::chunk_extension_too_long, 9,
                       options);
  // The limit is per line, not per body.
  expect_chunked_ok("5;a=12345\r\nhello\r\n5;a=12345\r\nworld\r\n0;a=12345\r\n\r\n", "helloworld",
                    options);
}

TEST(ChunkExtensions, DefaultLimitStopsEndlessExtensions) {
  // Never-ending extension: rejected once it passes the default 1024 bytes, without a line end.
  const std::string endless = "5;a=" + std::string(4000, 'x');
  expect_chunked_error(endless, errc::chunk_extension_too_long, 1 + 1024);
}

// ---- framing overhead (parse_options::max_chunk_overhead) --------------------------------------

/// One chunk of `size` 'x' bytes whose size line carries `extension`.
std::string chunk_of(std::size_t size, const std::string& extension = {}) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (std::size_t n = size; hex.empty() || n != 0; n /= 16)
    hex.insert(hex.begin(), digits[n % 16]);
  return hex + extension + "\r\n" + std::string(size, 'x') + "\r\n";
}

std::string repeated(const std::string& piece, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += piece;
  return out;
}

TEST(ChunkOverhead, TinyChunksWithLongExtensionsAreRefusedEarly) {
  // The outside tester's body: 1,000 one-byte chunks, each with a 1,000-byte extension (just under
  // max_chunk_extension), about 1 MB of input for 1,000 body bytes. Each chunk adds about 1,000
  // framing bytes and pays back 22, so the default 16 KiB is passed in the 17th chunk.
  const std::string body =
      repeated("1;" + std::string(1000, 'a') + "\r\nx\r\n", 1000) + "0\r\n\r\n";
  expect_chunked_error(body, errc::chunk_overhead_too_large, 16752);
  EXPECT_EQ(default_status(errc::chunk_overhead_too_large), 400);
}

TEST(ChunkOverhead, ExcessBuildsUpAcrossChunksExactly) {
  parse_options options;
  options.max_chunk_overhead = 100;
  // Size line 44 bytes, data CRLF 2, credit 20 + 2: the excess after each chunk is 24, 48, 72,
  // and the fourth size line passes 100 at its 29th byte: 3 * 47 + 28.
  const std::string ext(";" + std::string(40, 'a'));
  expect_chunked_error(repeated(chunk_of(1, ext), 10) + "0\r\n\r\n", errc::chunk_overhead_too_large,
                       169, options);
  // Three such chunks stay within it.
  expect_chunked_ok(repeated(chunk_of(1, ext), 3) + "0\r\n\r\n", "xxx", options);
  // A single size line is counted as it arrives, before its chunk pays back.
  options.max_chunk_overhead = 10;
  expect_chunked_error("1;abcdefgh\r\nx\r\n0\r\n\r\n", errc::chunk_overhead_too_large, 10, options);
}

TEST(ChunkOverhead, CreditDoesNotAccumulate) {
  // A 256-byte chunk first earns 532 bytes, but the excess never goes below zero: the long
  // extensions after it fail as they would from the start, 263 bytes (and the 2 CRLF bytes that
  // chunk left over) later.
  parse_options options;
  options.max_chunk_overhead = 100;
  const std::string ext(";" + std::string(40, 'a'));
  expect_chunked_error(chunk_of(256) + repeated(chunk_of(1, ext), 10) + "0\r\n\r\n",
                       errc::chunk_overhead_too_large, 430, options);
}

TEST(ChunkOverhead, AUsualSizeLineAfterAnExcessCountsEachOfItsBytesOnce) {
  // A plain size line between two long extensions, taken in one step whichever way it comes: at
  // a call's start (a split before it), after the data's CRLF in the same call, or in place. The
  // excess it leaves must be the byte loop's: 44 bytes of line, credit 22, data CRLF 2 leave 24;
  // "1" CRLF makes 27, credit 22 and the CRLF leave 7, and the third size line peaks at 7 + 44.
  parse_options options;
  options.max_chunk_overhead = 51;
  const std::string ext(";" + std::string(40, 'a'));
  const std::string body = chunk_of(1, ext) + chunk_of(1) + chunk_of(1, ext) + "0\r\n\r\n";
  expect_chunked_ok(body, "xxx", options);
  // One byte less: the third size line passes it at its LF, 47 + 6 + 43 bytes in.
  options.max_chunk_overhead = 50;
  expect_chunked_error(body, errc::chunk_overhead_too_large, 96, options);
}

TEST(ChunkOverhead, EndlessLeadingZerosAreRefused) {
  // Leading zeros never overflow the size, so only the overhead bound stops them.
  expect_chunked_error(std::string(20000, '0') + "1\r\nx\r\n0\r\n\r\n",
                       errc::chunk_overhead_too_large, 16 * 1024);
}

TEST(ChunkOverhead, ManySmallChunksAreStillAccepted) {
  // Streaming one byte at a time (5 framing bytes a byte), or with a short extension on every
  // chunk, is legitimate however long it goes on: past 16,384 chunks, where any per-chunk growth
  // of the excess would have reached the default bound. Long inputs: whole, and byte by byte.
  for (const std::string& extension : {std::string(), std::string(";abcdefghijklmno")}) {
    const std::string body = repeated(chunk_of(1, extension), 20000) + "0\r\n\r\n";
    const body_outcome whole = decode_chunked_whole(body);
    EXPECT_EQ(whole.status, parse_status::complete) << whole;
    EXPECT_EQ(whole.data, std::string(20000, 'x'));
    EXPECT_EQ(decode_chunked_pieces(body, every_byte(body.size())), whole);
  }
  expect_chunked_ok(repeated(chunk_of(3, ";name=value"), 300) + "0\r\n\r\n", std::string(900, 'x'));
  // One long extension (within max_chunk_extension) on an ordinary body is fine too.
  expect_chunked_ok(chunk_of(5, ";" + std::string(1000, 'e')) + "0\r\n\r\n", "xxxxx");
}

// ---- chunk-data CRLF --------------------------------------------------------------------------

TEST(ChunkData, MustEndWithCrlf) {
  expect_chunked_error("5\r\nhelloX\r\n0\r\n\r\n", errc::bad_chunk_data_end, 8);
  expect_chunked_error("5\r\nhello\rX0\r\n\r\n", errc::bad_chunk_data_end, 9);
  expect_chunked_error("5\r\nhello\n0\r\n\r\n", errc::bare_lf, 8);
  expect_chunked_error("3\r\nhello\r\n0\r\n\r\n", errc::bad_chunk_data_end, 6);
  EXPECT_EQ(default_status(errc::bad_chunk_data_end), 400);
}

TEST(ChunkData, BareLfAfterDataWhenLenient) {
  parse_options lenient;
  lenient.lenient.bare_lf = true;
  expect_chunked_ok("5\r\nhello\n0\r\n\r\n", "hello", lenient);
}

// ---- trailer section (RFC 9112 section 7.1.2) -------------------------------------------------

TEST(Trailers, AreParsedLikeFields) {
  const body_outcome o =
      expect_chunked_ok("3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nExpires:  never \t\r\n\r\n", "abc");
  EXPECT_EQ(o.trailers, (field_list{{"X-Checksum", "1234"}, {"Expires", "never"}}));
}

TEST(Trailers, BadTrailerFieldsAreRejected) {
  // "0\r\n" is 3 bytes: the trailer section starts at 3.
  expect_chunked_error("0\r\nBad Name: x\r\n\r\n", errc::space_before_colon, 6);
  expect_chunked_error("0\r\nX\"Y: x\r\n\r\n", errc::bad_header_name, 4);
  expect_chunked_error("0\r\n: x\r\n\r\n", errc::bad_header_name, 3);
  expect_chunked_error(std::string("0\r\nX: a\0b\r\n\r\n", 13), errc::bad_header_value, 7);
  expect_chunked_error("0\r\nNoColon\r\n\r\n", errc::missing_colon, 10);
  expect_chunked_error("0\r\nX: a\r\n b\r\n\r\n", errc::obs_fold, 9);
  expect_chunked_error("0\r\nX: a\rb\r\n\r\n", errc::bare_cr, 7);
  expect_chunked_error("0\r\n X: a\r\n\r\n", errc::leading_whitespace, 3);
}

TEST(Trailers, CountIsLimitedByTheStorage) {
  const std::string body = "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  const body_outcome fits = decode_chunked_whole(body, {}, 3);
  EXPECT_EQ(fits.status, parse_status::complete);
  EXPECT_EQ(fits.trailers.size(), 3U);
  const body_outcome over = decode_chunked_whole(body, {}, 2);
  EXPECT_EQ(over.status, parse_status::error);
  EXPECT_EQ(over.code, errc::too_many_headers);
  EXPECT_EQ(over.offset, 15U);
}

TEST(Trailers, SizeIsLimited) {
  parse_options options;
  options.max_header_bytes = 16;
  // "X: 0123456789\r\n\r\n" is 17 bytes of trailer section.
  const body_outcome o = decode_chunked_whole("0\r\nX: 0123456789\r\n\r\n", options);
  EXPECT_EQ(o.status, parse_status::error);
  EXPECT_EQ(o.code, errc::header_section_too_large);
  EXPECT_EQ(o.offset, 3U + 16U);
  options.max_header_bytes = 17;
  EXPECT_EQ(decode_chunked_whole("0\r\nX: 0123456789\r\n\r\n", options).status,
            parse_status::complete);
}

// ---- In-place decoding -----------------------------------------------------------------------

TEST(InPlace, MovesTheBodyToTheFront) {
  std::string buffer = "5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\nNEXT";
  std::vector<header> storage(4);
  chunked_decoder decoder({}, storage);
  const in_place_result r = decoder.decode_in_place(std::span<char>(buffer.data(), buffer.size()));
  ASSERT_EQ(r.status, parse_status::complete);
  EXPECT_EQ(r.decoded, 11U);
  EXPECT_EQ(r.consumed, buffer.size() - 4);
  EXPECT_EQ(buffer.substr(0, 11), "hello world");
  EXPECT_EQ(buffer.substr(r.consumed), "NEXT") << "bytes after the body are left alone";
  ASSERT_EQ(decoder.trailers().size(), 1U);
  EXPECT_EQ(decoder.trailers()[0].name, "T");
  EXPECT_EQ(decoder.trailers()[0].value, "v");
  EXPECT_TRUE(decoder.done());
  EXPECT_EQ(decoder.body_size(), 11U);
}

TEST(InPlace, ReportsErrorsLikeDecode) {
  std::string buffer = "5\r\nhello\r\nzz\r\n";
  chunked_decoder decoder;
  const in_place_result r = decoder.decode_in_place(std::span<char>(buffer.data(), buffer.size()));
  EXPECT_EQ(r.status, parse_status::error);
  EXPECT_EQ(r.error.code, errc::bad_chunk_size);
  EXPECT_EQ(r.error.offset, 10U);
}

TEST(InPlace, CountsWhatDecodeCounts) {
  // In place, runs of whole chunks skip decode()'s byte loop; what the decoder reports after
  // them must not change: bytes examined (the framing), consumed, and the body's size.
  for (const std::string body : {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                                 "1\r\na\r\n2;e=1\r\nbc\r\n3\r\ndef\r\n0\r\nT: v\r\n\r\n",
                                 "3\r\nabc\r\n000000000000000004\r\ndefg\r\n0\r\n\r\n"}) {
    std::vector<header> streaming_storage(2);
    chunked_decoder streaming({}, streaming_storage);
    std::string_view rest(body);
    while (!streaming.done()) {
      const body_result r = streaming.decode(rest);
      ASSERT_NE(r.status, parse_status::error) << body;
      rest.remove_prefix(r.consumed);
    }
    std::string buffer = body;
    std::vector<header> in_place_storage(2);
    chunked_decoder in_place({}, in_place_storage);
    const in_place_result r =
        in_place.decode_in_place(std::span<char>(buffer.data(), buffer.size()));
    ASSERT_EQ(r.status, parse_status::complete) << body;
    EXPECT_EQ(in_place.bytes_examined(), streaming.bytes_examined()) << body;
    EXPECT_EQ(in_place.bytes_consumed(), streaming.bytes_consumed()) << body;
    EXPECT_EQ(in_place.body_size(), streaming.body_size()) << body;
  }
}

TEST(InPlace, ABadTrailerSectionLeavesConsumedWhereDecodeLeavesIt) {
  // decode() takes the last chunk's line with the trailer section, in one call that fails as a
  // whole: the bytes it reports consumed stop before that line, in place as streaming.
  for (const std::string& body :
       {std::string("1\r\na\r\n0\r\nbad\r\n\r\n"), std::string("1\r\na\r\n0\r\n\n"),
        std::string("1\r\na\r\n0\r\nX:\x01\r\n\r\n")}) {
    chunked_decoder streaming;
    std::string_view rest(body);
    std::size_t consumed = 0;
    while (true) {
      const body_result r = streaming.decode(rest);
      consumed += r.consumed;
      rest.remove_prefix(r.consumed);
      if (r.status == parse_status::error) break;
      ASSERT_NE(r.consumed, 0U) << body;
    }
    std::string buffer = body;
    chunked_decoder in_place;
    const in_place_result r =
        in_place.decode_in_place(std::span<char>(buffer.data(), buffer.size()));
    ASSERT_EQ(r.status, parse_status::error) << body;
    EXPECT_EQ(r.consumed, consumed) << body;
    EXPECT_EQ(in_place.bytes_consumed(), streaming.bytes_consumed()) << body;
    EXPECT_EQ(r.decoded, 1U) << body;
  }
}

TEST(ChunkedDecoder, ResetStartsANewBody) {
  chunked_decoder decoder;
  body_result r = decoder.decode("zz");
  EXPECT_EQ(r.status, parse_status::error);
  // Errors stick until reset.
  EXPECT_EQ(decoder.decode("0\r\n\r\n").status, parse_status::error);
  decoder.reset();
  r = decoder.decode("0\r\n\r\n");
  EXPECT_EQ(r.status, parse_status::complete);
  EXPECT_EQ(r.consumed, 5U);
  EXPECT_TRUE(decoder.done());
}

}  // namespace
}  // namespace taut::test
