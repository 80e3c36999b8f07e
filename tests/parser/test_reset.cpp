// reset() of every parser and decoder: after it, whatever state the previous message left
// (cut anywhere, failed, or complete), the next message must parse exactly as on a new object,
// down to the error offsets and the byte counters. A member reset() forgets shows up as a
// difference here (mutation testing found the chunked decoder's examined-byte count).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace taut::test {
namespace {

/// Everything a sequence of calls lets a caller observe, copied out of the buffers.
struct observed {
  std::vector<std::string> calls;  // one line per call: status, consumed, error, data
  std::string head;                // the parsed head, when complete
  std::size_t examined = 0;
  std::uint64_t body_size = 0;
  std::uint64_t bytes_consumed = 0;
  bool done = false;
  field_list trailers;

  bool operator==(const observed&) const = default;
};

std::ostream& operator<<(std::ostream& out, const observed& o) {
  for (const std::string& call : o.calls) out << call << "; ";
  return out << "head {" << o.head << "} examined " << o.examined << " body_size " << o.body_size
             << " consumed " << o.bytes_consumed << " done " << o.done << " trailers "
             << o.trailers.size();
}

std::string describe(const parse_result& r) {
  return std::to_string(static_cast<int>(r.status)) + "/" + std::to_string(r.consumed) + "/" +
         std::to_string(static_cast<int>(r.error.code)) + "@" + std::to_string(r.error.offset) +
         "/" + std::to_string(r.error.status);
}

std::string fields_of(std::span<const header> headers) {
  std::string out;
  for (const header& h : headers) out += std::string(h.name) + ":" + std::string(h.value) + "|";
  return out;
}

std::string describe(const request& r) {
  return std::string(r.method_name) + " " + std::string(r.target) + " 1." +
         std::to_string(r.version_minor) + " " + fields_of(r.headers) +
         " host=" + std::string(r.host) + " body=" + std::to_string(static_cast<int>(r.body.kind)) +
         "/" + std::to_string(r.body.content_length) + " ka=" + std::to_string(r.keep_alive) +
         " expect=" + std::to_string(r.expect_continue) + " upgrade=" + std::to_string(r.upgrade) +
         "/" + std::string(r.upgrade_protocols) + " codings=" + std::string(r.transfer_codings) +
         " head=" + std::to_string(r.head_size);
}

std::string describe(const response& r) {
  return std::to_string(r.status) + " " + std::string(r.reason) + " 1." +
         std::to_string(r.version_minor) + " " + fields_of(r.headers) +
         " body=" + std::to_string(static_cast<int>(r.body.kind)) + "/" +
         std::to_string(r.body.content_length) + " ka=" + std::to_string(r.keep_alive) +
         " upgrade=" + std::to_string(r.upgrade) + " codings=" + std::string(r.transfer_codings) +
         " head=" + std::to_string(r.head_size);
}

/// Feeds `input` to a parser as a client would: whole, or growing one byte at a time in a buffer
/// that moves between calls.
template <class Parser, class Parse, class Describe>
observed feed_head(Parser& parser, std::string_view input, bool byte_at_a_time, Parse parse,
                   Describe head_of) {
  observed o;
  parse_result r;
  if (byte_at_a_time) {
    for (std::size_t n = 1; n <= input.size(); ++n) {
      const std::string buffer(input.substr(0, n));  // a new buffer each call
      r = parse(parser, buffer);
      o.calls.push_back(describe(r));
      if (!r.incomplete()) {
        if (r.complete()) o.head = head_of(parser);
        break;
      }
    }
  } else {
    const std::string buffer(input);
    r = parse(parser, buffer);
    o.calls.push_back(describe(r));
    if (r.complete()) o.head = head_of(parser);
  }
  o.examined = parser.bytes_examined();
  return o;
}

observed feed_request(request_parser& parser, std::string_view input, bool byte_at_a_time) {
  return feed_head(
      parser, input, byte_at_a_time,
      [](request_parser& p, std::string_view buffer) { return p.parse(buffer); },
      [](const request_parser& p) { return describe(p.request()); });
}

observed feed_response(response_parser& parser, std::string_view input, bool byte_at_a_time) {
  return feed_head(
      parser, input, byte_at_a_time,
      [](response_parser& p, std::string_view buffer) { return p.parse(buffer, method::get); },
      [](const response_parser& p) { return describe(p.response()); });
}

/// Decodes `input` as a server would: again with the rest while the decoder makes progress.
observed feed_chunked(chunked_decoder& decoder, std::string_view input) {
  observed o;
  std::size_t at = 0;
  while (true) {
    const body_result r = decoder.decode(input.substr(at));
    o.calls.push_back(describe(parse_result{r.status, r.consumed, r.error}) + "/" +
                      std::string(r.data));
    at += r.consumed;
    if (r.status != parse_status::incomplete || r.consumed == 0) break;
  }
  o.examined = decoder.bytes_examined();
  o.body_size = decoder.body_size();
  o.bytes_consumed = decoder.bytes_consumed();
  o.done = decoder.done();
  for (const header& h : decoder.trailers()) o.trailers.emplace_back(h.name, h.value);
  return o;
}

// What the previous message may have left: every phase of the head cut short, each framing field
// seen, a failure, and a complete head.
const char* const request_leftovers[] = {
    "G",
    "GET /a?b",
    "GET /a HTTP/1.",
    "GET http://h:8/ HTTP/1.1\r\nHo",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\nX-Long: 01234567890123456789012345678901234567890123456789",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nX",
    ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, upgrade\r\nUpgrade: h2c\r\nExpect: "
     "100-continue\r\n"),
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n",
    // the same fields, each followed by a line that hands it over
    ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, upgrade\r\nUpgrade: h2c\r\nExpect: "
     "100-continue\r\nX"),
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\nX",
    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // fails: duplicate Host
    "G(T / HTTP/1.1\r\n",                            // fails in the request line
    "GET /done HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 3\r\n\r\n",
};

// The next message, chosen so that any leftover framing field, count or offset would change it.
const char* const next_requests[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: b\r\nContent-Length: 7\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    ("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\nExpect: "
     "100-continue\r\n\r\n"),
    "POST /p HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: ,\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n",  // no Connection: upgrade
    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "GET /x HTTP/1.1\r\nBad Name: y\r\n\r\n",
};

TEST(Reset, RequestParserParsesTheNextRequestAsANewOne) {
  parse_options options;
  options.allow_transfer_codings = true;
  for (const bool byte_at_a_time : {false, true}) {
    for (const char* leftover : request_leftovers) {
      for (const char* next : next_requests) {
        std::vector<header> fresh_storage(8);
        std::vector<header> storage(8);
        request_parser fresh(fresh_storage, options);
        request_parser reused(storage, options);
        feed_request(reused, leftover, byte_at_a_time);
        reused.reset();
        EXPECT_EQ(feed_request(reused, next, byte_at_a_time),
                  feed_request(fresh, next, byte_at_a_time))
            << "after " << leftover << " then " << next << (byte_at_a_time ? " byte by byte" : "");
      }
    }
  }
}

// Calls with no bytes before the head (a null view, an empty one in the buffer that then fills),
// on a new parser and after reset(): the head's first byte meets the same parser as on a new
// object, whether the vector pass takes the head or leaves it to the byte-by-byte parser.
TEST(Reset, CallsWithNoBytesLeaveTheRequestParserAsNew) {
  struct expected_head {
    const char* input;
    parse_status status;
    errc code;
    std::size_t offset;
  };
  const expected_head heads[] = {
      // the vector pass: complete, ending at the buffer's end; an invalid and a duplicate Host
      {"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", parse_status::complete, errc::ok, 0},
      {"GET / HTTP/1.1\r\nHost: exa/mple.com\r\n\r\n", parse_status::error, errc::bad_host, 25},
      {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", parse_status::error, errc::duplicate_host,
       25},
      // incomplete, in the fields and in the request-line
      {"GET / HTTP/1.1\r\nHost: example.com\r\n", parse_status::incomplete, errc::ok, 0},
      {"GET / HTTP/1.", parse_status::incomplete, errc::ok, 0},
      // left to the byte-by-byte parser: an empty line first, a minor the vector pass does not
      // take, CONNECT, and an error in the request-line
      {"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", parse_status::complete, errc::ok, 0},
      {"GET / HTTP/1.9\r\nHost: a\r\n\r\n", parse_status::complete, errc::ok, 0},
      {"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", parse_status::complete, errc::ok, 0},
      {"GET / HTTP/2.0\r\n", parse_status::error, errc::unsupported_version, 6},
  };
  for (const expected_head& h : heads) {
    const std::string input(h.input);
    std::vector<header> fresh_storage(8);
    request_parser fresh(fresh_storage);
    const observed want = feed_request(fresh, input, false);
    // The expected outcome, from a new parser.
    ASSERT_EQ(want.calls.size(), 1U);
    parse_result r;
    r.status = h.status;
    if (h.status == parse_status::complete) r.consumed = input.size();
    if (h.status == parse_status::error) r.error = {h.code, h.offset, default_status(h.code)};
    EXPECT_EQ(want.calls[0], describe(r)) << input;
    for (const bool after_reset : {false, true}) {
      std::vector<header> storage(8);
      request_parser parser(storage);
      if (after_reset) {
        feed_request(parser, "POST /x HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\n", false);
        parser.reset();
      }
      std::string buffer;
      buffer.reserve(input.size());
      EXPECT_TRUE(parser.parse(std::string_view{}).incomplete());
      EXPECT_TRUE(parser.parse(std::string_view(buffer.data(), 0)).incomplete());
      EXPECT_EQ(parser.bytes_examined(), 0U);
      buffer = input;  // the same buffer, now with the head: no reallocation (reserved)
      EXPECT_EQ(feed_request(parser, buffer, false), want)
          << input << (after_reset ? " after reset()" : "");
    }
  }
}

const char* const response_leftovers[] = {
    "HTTP/1.",
    "HTTP/1.1 20",
    "HTTP/1.1 200 O",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nX",
    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n",
    "HTTP/1.1 600 Nope\r\n",  // fails: status out of range
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n",
};

const char* const next_responses[] = {
    "HTTP/1.1 200 OK\r\n\r\n",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.0 200 OK\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
};

TEST(Reset, ResponseParserParsesTheNextResponseAsANewOne) {
  for (const bool byte_at_a_time : {false, true}) {
    for (const char* leftover : response_leftovers) {
      for (const char* next : next_responses) {
        std::vector<header> fresh_storage(8);
        std::vector<header> storage(8);
        response_parser fresh(fresh_storage);
        response_parser reused(storage);
        feed_response(reused, leftover, byte_at_a_time);
        reused.reset();
        EXPECT_EQ(feed_response(reused, next, byte_at_a_time),
                  feed_response(fresh, next, byte_at_a_time))
            << "after " << leftover << " then " << next << (byte_at_a_time ? " byte by byte" : "");
      }
    }
  }
}

// A body cut in every state of the chunked decoder, failed, or complete with trailers.
const char* const chunked_leftovers[] = {
    "5",
    "5 ",
    "5;",
    "5;name",
    "5;name=",
    "5;name=\"quo",
    "5;name=\"a\\",
    "5;name=\"a\" ",
    "5\r",
    "5\r\nhel",
    "5\r\nhello",
    "5\r\nhello\r",
    "5\r\nhello\r\n0\r\nTrailer: v",
    "5\r\nhello\r\n0\r\nTrailer: v\r\n\r\n",
    "zz",
    "5\r\nhelloXX",
};

// The next body, with errors whose offsets count from its first byte, trailers and extensions.
const char* const next_bodies[] = {
    "3\r\nabc\r\n0\r\n\r\n",
    "3;e=1\r\nabc\r\n0\r\nT: v\r\nU: w\r\n\r\n",
    "3\r\nabc\r\nzz",
    "3\r\nabcX",
    "1;x=\"y\"\r\na\r\n0\r\n\r",
};

TEST(Reset, ChunkedDecoderDecodesTheNextBodyAsANewOne) {
  for (const char* leftover : chunked_leftovers) {
    for (const char* next : next_bodies) {
      std::vector<header> fresh_storage(4);
      std::vector<header> storage(4);
      chunked_decoder fresh({}, fresh_storage);
      chunked_decoder reused({}, storage);
      {
        const std::string previous_buffer(leftover);  // freed before the next body: no stale view
        feed_chunked(reused, previous_buffer);
      }
      reused.reset();
      const std::string buffer(next);
      EXPECT_EQ(feed_chunked(reused, buffer), feed_chunked(fresh, buffer))
          << "after " << leftover << " then " << next;
    }
  }
}

TEST(Reset, KeepsTheOptions) {
  parse_options options;
  options.max_headers = 3;
  options.allow_transfer_codings = true;
  options.lenient.bare_lf = true;
  std::vector<header> storage(8);
  request_parser requests(storage, options);
  response_parser responses(storage, options);
  feed_request(requests, "GET / HTTP/1.1\r\n", false);
  feed_response(responses, "HTTP/1.1 200 OK\r\n", false);
  requests.reset();
  responses.reset();
  for (const parse_options& kept : {requests.options(), responses.options()}) {
    EXPECT_EQ(kept.max_headers, 3U);
    EXPECT_TRUE(kept.allow_transfer_codings);
    EXPECT_TRUE(kept.lenient.bare_lf);
  }
  // And they still apply: a fourth field is one too many, a bare LF ends a line.
  const std::string four_fields = "HTTP/1.1 200 OK\nA: 1\nB: 2\nC: 3\nD: 4\n\n";
  EXPECT_EQ(responses.parse(four_fields).error.code, errc::too_many_headers);
}

TEST(Reset, ChunkedDecoderCountsNoByteOfThePreviousBody) {
  // The counters a server uses for limits and logs start again at zero.
  chunked_decoder decoder;
  feed_chunked(decoder, "5;a=b\r\nhello\r\n0\r\n\r\n");
  ASSERT_TRUE(decoder.done());
  ASSERT_GT(decoder.bytes_examined(), 0U);
  decoder.reset();
  EXPECT_FALSE(decoder.done());
  EXPECT_EQ(decoder.bytes_examined(), 0U);
  EXPECT_EQ(decoder.bytes_consumed(), 0U);
  EXPECT_EQ(decoder.body_size(), 0U);
}

}  // namespace
}  // namespace taut::test
