// Resumable without rescanning: a message fed one byte at a time costs about what it costs whole.
// The parsers count the bytes they examine; the counts (not times) are compared and printed.
#include <gtest/gtest.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "sample_messages.hpp"
#include "test_support.hpp"

namespace taut::test {
namespace {

constexpr std::size_t allowed_factor = 3;

struct work {
  std::size_t length = 0;    // input bytes
  std::size_t whole = 0;     // bytes examined parsing it in one call
  std::size_t one_byte = 0;  // bytes examined feeding it one byte at a time
  std::size_t calls = 0;     // parse calls when fed one byte at a time
};

void print(const char* what, const work& w) {
  std::printf(
      "  %-44s %7zu bytes: whole %7zu examined (%.2f/byte), 1-byte feed %7zu (%.2f/byte,"
      " %.2fx whole) in %zu calls\n",
      what, w.length, w.whole, static_cast<double>(w.whole) / static_cast<double>(w.length),
      w.one_byte, static_cast<double>(w.one_byte) / static_cast<double>(w.length),
      static_cast<double>(w.one_byte) / static_cast<double>(w.whole), w.calls);
  std::fflush(stdout);
}

void expect_linear(const char* what, const work& w) {
  print(what, w);
  EXPECT_GT(w.whole, 0U) << what;
  EXPECT_LE(w.whole, allowed_factor * w.length) << what;
  EXPECT_LE(w.one_byte, allowed_factor * w.whole) << what;
  EXPECT_LE(w.one_byte, allowed_factor * w.length) << what;
}

work request_work(std::string_view input) {
  work w;
  w.length = input.size();
  std::vector<header> storage(default_header_capacity);
  request_parser whole(storage);
  EXPECT_TRUE(whole.parse(input).complete());
  w.whole = whole.bytes_examined();

  request_parser fed(storage);
  std::string buffer;  // grows and moves as it does in a server
  for (const char c : input) {
    buffer += c;
    ++w.calls;
    if (!fed.parse(buffer).incomplete()) break;
  }
  EXPECT_EQ(fed.parse(buffer).status, parse_status::complete);
  w.one_byte = fed.bytes_examined();
  return w;
}

work response_work(std::string_view input) {
  work w;
  w.length = input.size();
  std::vector<header> storage(default_header_capacity);
  response_parser whole(storage);
  EXPECT_TRUE(whole.parse(input).complete());
  w.whole = whole.bytes_examined();
  response_parser fed(storage);
  std::string buffer;
  for (const char c : input) {
    buffer += c;
    ++w.calls;
    if (!fed.parse(buffer).incomplete()) break;
  }
  w.one_byte = fed.bytes_examined();
  return w;
}

work chunked_work(std::string_view input) {
  work w;
  w.length = input.size();
  std::vector<header> trailers(64);
  {
    chunked_decoder whole({}, trailers);
    std::string_view rest = input;
    body_result r;
    do {
      r = whole.decode(rest);
      rest.remove_prefix(r.consumed);
    } while (r.status == parse_status::incomplete && r.consumed > 0);
    EXPECT_EQ(r.status, parse_status::complete);
    w.whole = whole.bytes_examined();
  }
  chunked_decoder fed({}, trailers);
  std::string pending;  // only what the decoder has not consumed yet
  body_result r;
  for (const char c : input) {
    pending += c;
    ++w.calls;
    do {
      r = fed.decode(pending);
      pending.erase(0, r.consumed);
    } while (r.status == parse_status::incomplete && r.consumed > 0 && !pending.empty());
    if (r.status != parse_status::incomplete) break;
  }
  EXPECT_EQ(r.status, parse_status::complete);
  w.one_byte = fed.bytes_examined();
  return w;
}

std::string chunked_with_trailers(std::size_t trailer_fields) {
  std::string out = "5\r\nhello\r\n0\r\n";
  for (std::size_t i = 0; i < trailer_fields; ++i) {
    out += "X-Trailer-" + std::to_string(i) + ": " + std::string(100, 't') + "\r\n";
  }
  return out + "\r\n";
}

TEST(WorkPerByte, SmallRequests) {
  std::puts("request_parser::bytes_examined, sample requests:");
  for (const std::string& input : sample_requests()) {
    const std::size_t head = parse_request_whole(input).head_size;
    const std::size_t start = input.find_first_not_of("\r\n");
    const std::string line = input.substr(start, input.find('\r', start) - start);
    expect_linear(line.substr(0, 44).c_str(),
                  request_work(std::string_view(input).substr(0, head)));
  }
}

TEST(WorkPerByte, LargeRequest) {
  std::puts("request_parser::bytes_examined, large header sections:");
  expect_linear("GET, 30 KB header section", request_work(large_request(30 * 1024)));
  expect_linear("GET, 8 KB request-line",
                request_work("GET /" + std::string(8000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n"));
  expect_linear(
      "GET, one 30 KB header value",
      request_work("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(30000, 'v') + "\r\n\r\n"));
}

TEST(WorkPerByte, Responses) {
  std::puts("response_parser::bytes_examined:");
  expect_linear("HTTP/1.1 200 OK, 30 KB header section",
                response_work("HTTP/1.1 200 OK\r\n" + large_request(30 * 1024).substr(21)));
  expect_linear("HTTP/1.1 200, 8 KB reason-phrase",
                response_work("HTTP/1.1 200 " + std::string(8000, 'r') + "\r\n\r\n"));
}

TEST(WorkPerByte, ChunkedBodies) {
  std::puts("chunked_decoder::bytes_examined:");
  expect_linear("1000 chunks with extensions", chunked_work(large_chunked_body(1000)));
  expect_linear("one 64 KB chunk",
                chunked_work("10000\r\n" + std::string(65536, 'd') + "\r\n0\r\n\r\n"));
  expect_linear("8 KB trailer section (60 fields)", chunked_work(chunked_with_trailers(60)));
  expect_linear("1 KB chunk extension",
                chunked_work("5;" + std::string(1000, 'e') + "\r\nhello\r\n0\r\n\r\n"));
}

}  // namespace
}  // namespace taut::test
