// taut.h gives exactly what the C++ API gives: on every sample message (whole and byte by byte)
// the C parsers and decoder report the same status, consumed bytes, error, head and trailers; and
// every C++ error code has a C constant and the same name.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "sample_messages.hpp"
#include "taut.h"
#include "test_support.hpp"

namespace taut::test {
namespace {

std::string_view view(const char* data, std::size_t size) {
  return size == 0 ? std::string_view() : std::string_view(data, size);
}

void expect_same_error(const taut_error& c, const parse_error& cpp) {
  EXPECT_EQ(c.code, static_cast<int>(cpp.code));
  EXPECT_EQ(c.offset, cpp.offset);
  EXPECT_EQ(c.status, cpp.status);
  EXPECT_STREQ(taut_error_name(c.code), std::string(to_string(cpp.code)).c_str());
}

void expect_same_headers(const taut_header* c, std::size_t count, std::span<const header> cpp) {
  ASSERT_EQ(count, cpp.size());
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_EQ(view(c[i].name, c[i].name_len), cpp[i].name);
    EXPECT_EQ(c[i].name, cpp[i].name.data());
    EXPECT_EQ(view(c[i].value, c[i].value_len), cpp[i].value);
  }
}

void expect_same_framing(const taut_framing& c, const framing& cpp) {
  EXPECT_EQ(static_cast<int>(c.kind), static_cast<int>(cpp.kind));
  EXPECT_EQ(c.content_length, cpp.content_length);
}

/// Parses `input` with both APIs, whole or growing by one byte per call.
/// Returns the C++ parser's final status.
parse_status expect_same_request(const std::string& input, const parse_options& options,
                                 const taut_parse_options& c_options, bool bytewise) {
  SCOPED_TRACE(input.substr(0, 80));
  std::array<header, 128> cpp_headers;
  request_parser cpp(cpp_headers, options);
  std::array<taut_header, 128> c_headers;
  taut_request_parser c;
  taut_request_parser_init(&c, c_headers.data(), c_headers.size(), &c_options);
  parse_result cpp_result;
  taut_parse_result c_result{};
  for (std::size_t k = bytewise ? 1 : input.size(); k <= input.size(); ++k) {
    cpp_result = cpp.parse({input.data(), k});
    const taut_parse_status status = taut_request_parser_parse(&c, input.data(), k, &c_result);
    EXPECT_EQ(static_cast<int>(status), static_cast<int>(cpp_result.status)) << "at " << k;
    EXPECT_EQ(c_result.consumed, cpp_result.consumed) << "at " << k;
    if (!cpp_result.incomplete()) break;
  }
  expect_same_error(c_result.error, cpp_result.error);
  taut_request r{};
  EXPECT_EQ(taut_request_parser_request(&c, &r), cpp_result.complete());
  if (!cpp_result.complete()) return cpp_result.status;
  const request& want = cpp.request();
  EXPECT_EQ(view(r.method_name, r.method_name_len), want.method_name);
  EXPECT_EQ(static_cast<int>(r.method), static_cast<int>(want.method));
  EXPECT_EQ(view(r.target, r.target_len), want.target);
  EXPECT_EQ(r.target, want.target.data());
  EXPECT_EQ(static_cast<int>(r.target_form), static_cast<int>(want.target_form));
  EXPECT_EQ(r.version_minor, want.version_minor);
  expect_same_headers(r.headers, r.header_count, want.headers);
  EXPECT_EQ(view(r.host, r.host_len), want.host);
  expect_same_framing(r.body, want.body);
  EXPECT_EQ(r.keep_alive, want.keep_alive);
  EXPECT_EQ(r.expect_continue, want.expect_continue);
  EXPECT_EQ(r.upgrade, want.upgrade);
  EXPECT_EQ(view(r.upgrade_protocols, r.upgrade_protocols_len), want.upgrade_protocols);
  EXPECT_EQ(r.head_size, want.head_size);
  return cpp_result.status;
}

taut_parse_options c_options_of(const parse_options& o) {
  taut_parse_options c;
  taut_parse_options_default(&c);
  c.max_request_line = o.max_request_line;
  c.max_header_bytes = o.max_header_bytes;
  c.max_headers = o.max_headers;
  c.max_chunk_extension = o.max_chunk_extension;
  c.max_chunk_overhead = o.max_chunk_overhead;
  c.lenient = {o.lenient.bare_lf, o.lenient.obs_fold, o.lenient.space_before_colon,
               o.lenient.transfer_encoding_with_content_length,
               o.lenient.no_space_after_status_code};
  return c;
}

std::vector<parse_options> option_sets() {
  return {parse_options{}, parse_options{.lenient = leniency::syntax()},
          parse_options{.lenient = leniency::all()},
          parse_options{.max_request_line = 32, .max_header_bytes = 64, .max_headers = 3}};
}

TEST(CApi, RequestsGiveWhatTheCppParserGives) {
  std::vector<std::string> inputs = sample_requests();
  for (std::string& bad : sample_bad_requests()) inputs.push_back(std::move(bad));
  inputs.push_back(large_request(4 * 1024));
  std::size_t complete = 0;
  std::size_t failed = 0;
  for (const parse_options& options : option_sets()) {
    const taut_parse_options c_options = c_options_of(options);
    for (const std::string& input : inputs) {
      expect_same_request(input, options, c_options, false);
      const parse_status status = expect_same_request(input, options, c_options, true);
      complete += status == parse_status::complete ? 1 : 0;
      failed += status == parse_status::error ? 1 : 0;
    }
  }
  // Both outcomes were compared, many times each.
  EXPECT_GE(complete, 20U);
  EXPECT_GE(failed, 20U);
}

TEST(CApi, ResponsesGiveWhatTheCppParserGives) {
  for (const sample_response& sample : sample_responses()) {
    SCOPED_TRACE(sample.bytes.substr(0, 80));
    for (const bool bytewise : {false, true}) {
      std::array<header, 64> cpp_headers;
      response_parser cpp(cpp_headers);
      std::array<taut_header, 64> c_headers;
      taut_response_parser c;
      taut_response_parser_init(&c, c_headers.data(), c_headers.size(), nullptr);
      const std::string& input = sample.bytes;
      parse_result cpp_result;
      taut_parse_result c_result{};
      for (std::size_t k = bytewise ? 1 : input.size(); k <= input.size(); ++k) {
        cpp_result = cpp.parse({input.data(), k}, sample.request_method);
        taut_response_parser_parse(&c, input.data(), k,
                                   static_cast<taut_method>(sample.request_method), &c_result);
        ASSERT_EQ(static_cast<int>(c_result.status), static_cast<int>(cpp_result.status));
        ASSERT_EQ(c_result.consumed, cpp_result.consumed);
        if (!cpp_result.incomplete()) break;
      }
      expect_same_error(c_result.error, cpp_result.error);
      taut_response r{};
      ASSERT_EQ(taut_response_parser_response(&c, &r), cpp_result.complete());
      if (!cpp_result.complete()) continue;
      const response& want = cpp.response();
      EXPECT_EQ(r.version_minor, want.version_minor);
      EXPECT_EQ(r.status, want.status);
      EXPECT_EQ(view(r.reason, r.reason_len), want.reason);
      expect_same_headers(r.headers, r.header_count, want.headers);
      expect_same_framing(r.body, want.body);
      EXPECT_EQ(r.keep_alive, want.keep_alive);
      EXPECT_EQ(r.upgrade, want.upgrade);
      EXPECT_EQ(r.head_size, want.head_size);
    }
  }
}

TEST(CApi, ChunkedBodiesGiveWhatTheCppDecoderGives) {
  std::vector<std::string> bodies = sample_chunked_bodies();
  bodies.push_back(large_chunked_body(50));
  const framing chunked{body_kind::chunked, 0};
  const taut_framing c_chunked{TAUT_BODY_CHUNKED, 0, false};
  for (const std::string& input : bodies) {
    SCOPED_TRACE(input.substr(0, 80));
    std::array<header, 16> cpp_trailers;
    body_decoder cpp(chunked, {}, cpp_trailers);
    std::array<taut_header, 16> c_trailers;
    taut_body_decoder c;
    taut_body_decoder_init(&c, &c_chunked, nullptr, c_trailers.data(), c_trailers.size());
    // Both are fed one more byte at a time, from their first unconsumed byte.
    std::size_t position = 0;
    body_result cpp_result;
    taut_body_result c_result{};
    for (std::size_t available = 1; available <= input.size(); ++available) {
      do {
        cpp_result = cpp.decode({input.data() + position, available - position});
        taut_body_decoder_decode(&c, input.data() + position, available - position, &c_result);
        ASSERT_EQ(static_cast<int>(c_result.status), static_cast<int>(cpp_result.status));
        ASSERT_EQ(c_result.consumed, cpp_result.consumed);
        ASSERT_EQ(c_result.data, cpp_result.data.data());
        ASSERT_EQ(c_result.data_len, cpp_result.data.size());
        position += cpp_result.consumed;
      } while (cpp_result.status == parse_status::incomplete && cpp_result.consumed > 0 &&
               position < available);
      if (cpp_result.status != parse_status::incomplete) break;
    }
    expect_same_error(c_result.error, cpp_result.error);
    EXPECT_EQ(taut_body_decoder_done(&c), cpp.done());
    EXPECT_EQ(taut_body_decoder_body_size(&c), cpp.body_size());
    std::size_t count = 0;
    const taut_header* trailers = taut_body_decoder_trailers(&c, &count);
    if (cpp.done()) {
      EXPECT_EQ(trailers, c_trailers.data());
      expect_same_headers(trailers, count, cpp.trailers());
    } else {
      EXPECT_EQ(trailers, nullptr);
    }
  }
}

TEST(CApi, EveryErrorCodeHasTheSameNameAndAConstant) {
  // The C enum ends where errc ends: one past TAUT_ERRC_CHUNK_OVERHEAD_TOO_LARGE is no C++ code
  // either.
  int codes = 0;
  for (int v = 0; v < 256; ++v) {
    const std::string cpp_name(to_string(static_cast<errc>(v)));
    EXPECT_STREQ(taut_error_name(v), cpp_name.c_str()) << v;
    if (cpp_name != "unknown") ++codes;
  }
  EXPECT_EQ(codes, TAUT_ERRC_CHUNK_OVERHEAD_TOO_LARGE + 1)
      << "taut::errc gained a code: add its TAUT_ERRC_ constant to taut.h and c_api.cpp";
  EXPECT_STREQ(taut_error_name(-1), "unknown");
  EXPECT_STREQ(taut_error_name(1000), "unknown");
}

TEST(CApi, DefaultsAreTheCppDefaults) {
  taut_parse_options c;
  std::memset(&c, 0xa5, sizeof c);
  taut_parse_options_default(&c);
  const parse_options cpp{};
  EXPECT_EQ(c.max_request_line, cpp.max_request_line);
  EXPECT_EQ(c.max_header_bytes, cpp.max_header_bytes);
  EXPECT_EQ(c.max_headers, cpp.max_headers);
  EXPECT_EQ(c.max_chunk_extension, cpp.max_chunk_extension);
  EXPECT_EQ(c.max_chunk_overhead, cpp.max_chunk_overhead);
  EXPECT_FALSE(c.lenient.bare_lf || c.lenient.obs_fold || c.lenient.space_before_colon ||
               c.lenient.transfer_encoding_with_content_length ||
               c.lenient.no_space_after_status_code);
  std::array<taut_header, 1> storage;
  taut_request_parser parser;
  taut_request_parser_init(&parser, storage.data(), storage.size(), nullptr);
  taut_parse_options got;
  taut_request_parser_options(&parser, &got);
  EXPECT_EQ(got.max_headers, cpp.max_headers);
  EXPECT_EQ(sizeof(taut_request_parser), taut_request_parser_size());
  EXPECT_GE(alignof(taut_request_parser), taut_object_alignment());
}

}  // namespace
}  // namespace taut::test
