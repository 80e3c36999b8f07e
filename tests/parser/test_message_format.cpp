// RFC 9112 section 2.2: message parsing, line endings, leading empty lines.
#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace taut::test {
namespace {

parse_options bare_lf_allowed() {
  parse_options options;
  options.lenient.bare_lf = true;
  return options;
}

TEST(MessageFormat, LeadingEmptyLinesAreIgnored) {
  // "a server that is expecting to receive and parse a request-line SHOULD ignore at least one
  // empty line (CRLF) received prior to the request-line".
  for (const char* prefix : {"\r\n", "\r\n\r\n", "\r\n\r\n\r\n\r\n"}) {
    const std::string input = std::string(prefix) + "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    const request_outcome o = expect_request_ok(input);
    EXPECT_EQ(o.method_name, "GET");
    EXPECT_EQ(o.target, "/x");
    EXPECT_EQ(o.consumed, input.size()) << "the empty lines are part of what was consumed";
  }
}

TEST(MessageFormat, LeadingEmptyLinesCountTowardsTheRequestLineLimit) {
  parse_options options;
  options.max_request_line = 20;
  // Two empty lines (4 bytes) and "GET / HTTP/1.1\r\n" (16 bytes) fit exactly; a third does not.
  expect_request_ok("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", options);
  expect_request_error("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", errc::request_line_too_long,
                       20, options);
}

TEST(MessageFormat, LeadingBareLfIsRejectedUnlessLenient) {
  expect_request_error("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", errc::bare_lf, 0);
  EXPECT_EQ(expect_request_ok("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", bare_lf_allowed()).target,
            "/");
}

TEST(MessageFormat, BareCrIsRejectedEverywhere) {
  // RFC 9112 section 2.2: a bare CR makes the element invalid. Offset: the CR itself.
  expect_request_error("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", errc::bare_cr, 0);
  expect_request_error("GET / HTTP/1.1\rHost: a\r\n\r\n", errc::bare_cr, 14);
  expect_request_error("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", errc::bare_cr, 23);
  expect_request_error("GET / HTTP/1.1\r\nHost: a\r\rb\r\n\r\n", errc::bare_cr, 23);
  expect_request_error("GET / HTTP/1.1\r\nHost: a\r\n\rX", errc::bare_cr, 25);
  // Lenient bare LF does not make a bare CR acceptable.
  expect_request_error("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", errc::bare_cr, 23,
                       parse_options{.lenient = leniency::all()});
}

TEST(MessageFormat, BareCrInsideTheRequestLine) {
  // A CR where the request-line cannot end is an error when it arrives, whatever follows it: the
  // line would end too early (CRLF) or the CR is bare.
  expect_request_error("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", errc::bad_request_line, 6);
  expect_request_error("GE\rT / HTTP/1.1\r\nHost: a\r\n\r\n", errc::bad_request_line, 2);
  // Where it may end, a CR not followed by LF is bare.
  expect_request_error("GET /a HTTP/1.1\rb\r\nHost: a\r\n\r\n", errc::bare_cr, 15);
}

TEST(MessageFormat, BareCrInsideAFieldNameIsAMissingColonWhenItArrives) {
  // As in the request-line: a CR where the line cannot end is an error at once, whatever follows
  // it: the line would end without a colon (CRLF), or the CR is bare.
  expect_request_error("GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n", errc::missing_colon, 18);
  expect_request_error("GET / HTTP/1.1\r\nHo\r", errc::missing_colon, 18);
}

TEST(MessageFormat, BareLfIsRejectedByDefault) {
  expect_request_error("GET / HTTP/1.1\nHost: a\r\n\r\n", errc::bare_lf, 14);
  expect_request_error("GET / HTTP/1.1\r\nHost: a\n\r\n", errc::bare_lf, 23);
  expect_request_error("GET / HTTP/1.1\r\nHost: a\r\n\n", errc::bare_lf, 25);
  expect_request_error("GET / HTTP/1.1\nHost: a\n\n", errc::bare_lf, 14);
  EXPECT_EQ(default_status(errc::bare_lf), 400);
  EXPECT_EQ(default_status(errc::bare_cr), 400);
}

TEST(MessageFormat, BareLfAcceptedWithTheLeniency) {
  const request_outcome o =
      expect_request_ok("GET /lf HTTP/1.1\nHost: a\nX: y \n\n", bare_lf_allowed());
  EXPECT_EQ(o.target, "/lf");
  EXPECT_EQ(o.version_minor, 1);
  ASSERT_EQ(o.headers.size(), 2U);
  EXPECT_EQ(o.headers[0], (std::pair<std::string, std::string>{"Host", "a"}));
  EXPECT_EQ(o.headers[1], (std::pair<std::string, std::string>{"X", "y"}));
  EXPECT_EQ(o.host, "a");
  EXPECT_EQ(o.consumed, 32U);
  // Mixed endings are fine too.
  const request_outcome mixed =
      expect_request_ok("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\n", bare_lf_allowed());
  ASSERT_EQ(mixed.headers.size(), 2U);
  EXPECT_EQ(mixed.headers[1].second, "y");
  EXPECT_EQ(mixed.consumed, 31U);
}

TEST(MessageFormat, LfAfterCrIsTheOnlyLineEnd) {
  // A CR directly before the end of input is not yet bare: wait for the next byte.
  expect_request_incomplete("GET / HTTP/1.1\r");
  expect_request_incomplete("GET / HTTP/1.1\r\nHost: a\r");
  expect_request_incomplete("\r");
  expect_request_incomplete("\r\n");
  expect_request_incomplete("\r\n\r\n");
}

TEST(MessageFormat, HeadEndsAtTheFirstEmptyLine) {
  const std::string head = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n";
  const request_outcome o = expect_request_ok(head + "\r\n\r\nbody");
  EXPECT_EQ(o.consumed, head.size());
  EXPECT_EQ(o.head_size, head.size());
}

}  // namespace
}  // namespace taut::test
