// Errors as values: stable names, suggested statuses, and std::error_code integration.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <system_error>

#include "test_support.hpp"

namespace taut::test {
namespace {

struct code_case {
  errc code;
  const char* name;
  int status;
};

// Every code, its stable name (taut-parse prints these), and the status a server should answer.
constexpr code_case all_codes[] = {
    {errc::bare_cr, "bare_cr", 400},
    {errc::bare_lf, "bare_lf", 400},
    {errc::bad_method, "bad_method", 400},
    {errc::bad_request_line, "bad_request_line", 400},
    {errc::bad_target, "bad_target", 400},
    {errc::bad_target_form, "bad_target_form", 400},
    {errc::bad_version, "bad_version", 400},
    {errc::unsupported_version, "unsupported_version", 505},
    {errc::request_line_too_long, "request_line_too_long", 414},
    {errc::bad_status_line, "bad_status_line", 400},
    {errc::bad_status_code, "bad_status_code", 400},
    {errc::bad_reason_phrase, "bad_reason_phrase", 400},
    {errc::bad_header_name, "bad_header_name", 400},
    {errc::bad_header_value, "bad_header_value", 400},
    {errc::missing_colon, "missing_colon", 400},
    {errc::space_before_colon, "space_before_colon", 400},
    {errc::obs_fold, "obs_fold", 400},
    {errc::leading_whitespace, "leading_whitespace", 400},
    {errc::header_section_too_large, "header_section_too_large", 431},
    {errc::too_many_headers, "too_many_headers", 431},
    {errc::bad_content_length, "bad_content_length", 400},
    {errc::conflicting_content_length, "conflicting_content_length", 400},
    {errc::transfer_encoding_with_content_length, "transfer_encoding_with_content_length", 400},
    {errc::chunked_not_final, "chunked_not_final", 400},
    {errc::chunked_applied_twice, "chunked_applied_twice", 400},
    {errc::bad_transfer_encoding, "bad_transfer_encoding", 400},
    {errc::unknown_transfer_coding, "unknown_transfer_coding", 501},
    {errc::transfer_encoding_http10, "transfer_encoding_http10", 400},
    {errc::missing_host, "missing_host", 400},
    {errc::duplicate_host, "duplicate_host", 400},
    {errc::bad_host, "bad_host", 400},
    {errc::bad_chunk_size, "bad_chunk_size", 400},
    {errc::chunk_size_overflow, "chunk_size_overflow", 400},
    {errc::bad_chunk_extension, "bad_chunk_extension", 400},
    {errc::chunk_extension_too_long, "chunk_extension_too_long", 400},
    {errc::bad_chunk_data_end, "bad_chunk_data_end", 400},
    {errc::body_cut_short, "body_cut_short", 400},
    {errc::chunk_overhead_too_large, "chunk_overhead_too_large", 400},
};

TEST(Errors, EveryCodeHasItsStableName) {
  EXPECT_EQ(to_string(errc::ok), "ok");
  std::set<std::string_view> seen;
  for (const code_case& c : all_codes) {
    EXPECT_EQ(to_string(c.code), c.name);
    EXPECT_TRUE(seen.insert(to_string(c.code)).second) << "duplicate name " << c.name;
  }
  // The table above lists every code: the last one is the enum's last.
  EXPECT_EQ(static_cast<int>(std::size(all_codes)),
            static_cast<int>(errc::chunk_overhead_too_large));
}

TEST(Errors, UnknownValuesHaveAName) {
  // Whatever gets cast in, to_string answers something printable and never crashes.
  EXPECT_FALSE(to_string(static_cast<errc>(200)).empty());
}

TEST(Errors, DefaultStatusMapping) {
  for (const code_case& c : all_codes) EXPECT_EQ(default_status(c.code), c.status) << c.name;
}

TEST(Errors, RequestErrorsCarryTheDefaultStatus) {
  std::vector<header> storage(4);
  request_parser parser(storage);
  const parse_result r = parser.parse("GET / HTTP/3.0\r\n\r\n");
  ASSERT_TRUE(r.failed());
  EXPECT_EQ(r.error.code, errc::unsupported_version);
  EXPECT_EQ(r.error.status, 505);
  EXPECT_TRUE(static_cast<bool>(r.error));
  EXPECT_FALSE(static_cast<bool>(parse_error{}));
}

TEST(Errors, ResponseErrorsCarry502) {
  std::vector<header> storage(4);
  response_parser parser(storage);
  const parse_result r = parser.parse("HTTP/3.0 200 OK\r\n\r\n");
  ASSERT_TRUE(r.failed());
  EXPECT_EQ(r.error.code, errc::unsupported_version);
  EXPECT_EQ(r.error.status, 502);
}

TEST(Errors, StdErrorCodeIntegration) {
  const std::error_code ec = errc::bad_method;  // implicit: is_error_code_enum
  EXPECT_TRUE(static_cast<bool>(ec));
  EXPECT_EQ(ec, errc::bad_method);
  EXPECT_NE(ec, errc::bad_target);
  EXPECT_EQ(ec.value(), static_cast<int>(errc::bad_method));
  EXPECT_EQ(&ec.category(), &parse_category());
  EXPECT_STREQ(ec.category().name(), "taut.parse");
  EXPECT_FALSE(ec.message().empty());
  for (const code_case& c : all_codes) {
    EXPECT_FALSE(make_error_code(c.code).message().empty()) << c.name;
  }
  const std::error_code ok = make_error_code(errc::ok);
  EXPECT_FALSE(static_cast<bool>(ok));
  // A different category's equal value is not equal.
  EXPECT_NE(ec, std::error_code(static_cast<int>(errc::bad_method), std::generic_category()));
}

TEST(Errors, ErrorCodeFromAParse) {
  std::vector<header> storage(4);
  request_parser parser(storage);
  const parse_result r = parser.parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  const std::error_code ec = r.error.code;
  EXPECT_EQ(ec, errc::duplicate_host);
  EXPECT_EQ(ec.category().name(), std::string_view("taut.parse"));
}

}  // namespace
}  // namespace taut::test
