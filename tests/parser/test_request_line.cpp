// RFC 9112 section 3: request-line = method SP request-target SP HTTP-version CRLF.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace taut::test {
namespace {

/// The bytes of a string literal, embedded NULs included, without its terminator.
template <std::size_t N>
std::string literal_bytes(const char (&bytes)[N]) {
  return std::string(bytes, N - 1);
}

/// A request with the given request-line and a Host field, so that only the line is under test.
std::string with_host(std::string_view request_line) {
  return request_with(request_line, "Host: example.com\r\n");
}

// ---- Section 3.1: method ---------------------------------------------------------------------

TEST(RequestLineMethod, StandardMethodsAreRecognised) {
  const std::pair<const char*, method> cases[] = {
      {"GET", method::get},     {"HEAD", method::head},      {"POST", method::post},
      {"PUT", method::put},     {"DELETE", method::delete_}, {"OPTIONS", method::options},
      {"TRACE", method::trace}, {"PATCH", method::patch},
  };
  for (const auto& [name, expected] : cases) {
    const request_outcome o = expect_request_ok(with_host(std::string(name) + " / HTTP/1.1"));
    EXPECT_EQ(o.method_name, name);
    EXPECT_EQ(o.method, expected) << name;
    EXPECT_EQ(o.target, "/");
  }
  const request_outcome o = expect_request_ok(with_host("CONNECT example.com:443 HTTP/1.1"));
  EXPECT_EQ(o.method, method::connect);
  EXPECT_EQ(o.method_name, "CONNECT");
}

TEST(RequestLineMethod, ExtensionTokensAreAcceptedAsOther) {
  // Any token is a method (RFC 9110 section 9.1); tchar includes these punctuation characters.
  for (const char* name : {"PROPFIND", "M-SEARCH", "LINK", "X", "!#$%&'*+-.^_`|~09azAZ", "BREW"}) {
    const request_outcome o = expect_request_ok(with_host(std::string(name) + " /x HTTP/1.1"));
    EXPECT_EQ(o.method_name, name);
    EXPECT_EQ(o.method, method::other) << name;
  }
}

TEST(RequestLineMethod, MethodsAreCaseSensitive) {
  // RFC 9110 section 9.1: "The method token is case-sensitive". "get" is an extension method.
  for (const char* name : {"get", "Get", "pOST", "GETS", "GE"}) {
    const request_outcome o = expect_request_ok(with_host(std::string(name) + " / HTTP/1.1"));
    EXPECT_EQ(o.method, method::other) << name;
    EXPECT_EQ(o.method_name, name);
  }
}

TEST(RequestLineMethod, EmptyMethodIsRejected) {
  expect_request_error(with_host(" / HTTP/1.1"), errc::bad_method, 0);
}

TEST(RequestLineMethod, NonTokenBytesAreRejectedAtTheirOffset) {
  expect_request_error(with_host(std::string("G\0T / HTTP/1.1", 14)), errc::bad_method, 1);
  expect_request_error(with_host("GE(T / HTTP/1.1"), errc::bad_method, 2);
  expect_request_error(with_host("GET\"X / HTTP/1.1"), errc::bad_method, 3);
  expect_request_error(with_host("G\x7f"
                                 "T / HTTP/1.1"),
                       errc::bad_method, 1);
  expect_request_error(with_host("G\xc3\xa9T / HTTP/1.1"), errc::bad_method, 1);
  expect_request_error(with_host("G{}T / HTTP/1.1"), errc::bad_method, 1);
  expect_request_error(with_host("GET/ HTTP/1.1"), errc::bad_method, 3);
}

TEST(RequestLineMethod, TabIsNotASeparator) {
  // Only SP separates the request-line's parts (RFC 9112 section 3).
  expect_request_error(with_host("GET\t/ HTTP/1.1"), errc::bad_method, 3);
}

TEST(RequestLineMethod, MethodFromTokenAndBack) {
  EXPECT_EQ(method_from_token("GET"), method::get);
  EXPECT_EQ(method_from_token("DELETE"), method::delete_);
  EXPECT_EQ(method_from_token("PATCH"), method::patch);
  EXPECT_EQ(method_from_token("CONNECT"), method::connect);
  EXPECT_EQ(method_from_token("get"), method::other);
  EXPECT_EQ(method_from_token("GETX"), method::other);
  EXPECT_EQ(method_from_token(""), method::other);
  for (const method m : {method::get, method::head, method::post, method::put, method::delete_,
                         method::connect, method::options, method::trace, method::patch}) {
    EXPECT_EQ(method_from_token(to_string(m)), m) << to_string(m);
  }
  EXPECT_EQ(to_string(method::delete_), "DELETE");
  EXPECT_EQ(to_string(method::other), "");
}

// ---- Section 3.2: request-target forms -------------------------------------------------------

TEST(RequestTarget, OriginForm) {
  for (const char* target : {"/", "/a/b/c", "/search?q=1&r=%20x", "/%7Euser/", "/a;b=c",
                             "/a:b@c!$&'()*+,;=", "/?", "/path?query/with?slashes", "//double"}) {
    const request_outcome o =
        expect_request_ok(with_host(std::string("GET ") + target + " HTTP/1.1"));
    EXPECT_EQ(o.target, target);
    EXPECT_EQ(o.form, target_form::origin) << target;
  }
}

TEST(RequestTarget, AbsoluteForm) {
  for (const char* target :
       {"http://example.com/x?y=1", "https://example.com", "http://[::1]:8080/",
        "http://example.com:80/a", "HTTP://EXAMPLE.COM/"}) {
    const request_outcome o =
        expect_request_ok(with_host(std::string("GET ") + target + " HTTP/1.1"));
    EXPECT_EQ(o.target, target);
    EXPECT_EQ(o.form, target_form::absolute) << target;
  }
  // Any method may use the absolute form (a request to a proxy).
  const request_outcome post = expect_request_ok(with_host("POST http://example.com/ HTTP/1.1"));
  EXPECT_EQ(post.form, target_form::absolute);
}

TEST(RequestTarget, AuthorityFormOnlyForConnect) {
  const request_outcome o = expect_request_ok(with_host("CONNECT example.com:443 HTTP/1.1"));
  EXPECT_EQ(o.form, target_form::authority);
  EXPECT_EQ(o.target, "example.com:443");
  const request_outcome ip = expect_request_ok(with_host("CONNECT 127.0.0.1:8443 HTTP/1.1"));
  EXPECT_EQ(ip.form, target_form::authority);
  const request_outcome v6 = expect_request_ok(with_host("CONNECT [::1]:443 HTTP/1.1"));
  EXPECT_EQ(v6.form, target_form::authority);
  // An authority that is not also an absolute-URI ("127.0.0.1" is not a scheme) with another
  // method: the authority form is for CONNECT only (RFC 9112 section 3.2.3).
  expect_request_error(with_host("GET 127.0.0.1:80 HTTP/1.1"), errc::bad_target_form, 4);
  expect_request_error(with_host("OPTIONS [::1]:443 HTTP/1.1"), errc::bad_target_form, 8);
}

TEST(RequestTarget, ConnectNeedsTheAuthorityForm) {
  // RFC 9110 section 9.3.6: CONNECT's target is only host and port.
  expect_request_error(with_host("CONNECT / HTTP/1.1"), errc::bad_target_form, 8);
  expect_request_error(with_host("CONNECT * HTTP/1.1"), errc::bad_target_form, 8);
  // Not an authority at all: the first byte that cannot be in one ("CONNECT http:" is 13 bytes).
  expect_request_error(with_host("CONNECT http://example.com/ HTTP/1.1"), errc::bad_target, 13);
}

TEST(RequestTarget, AsteriskFormOnlyForOptions) {
  const request_outcome o = expect_request_ok(with_host("OPTIONS * HTTP/1.1"));
  EXPECT_EQ(o.form, target_form::asterisk);
  EXPECT_EQ(o.target, "*");
  EXPECT_EQ(o.method, method::options);
  expect_request_error(with_host("GET * HTTP/1.1"), errc::bad_target_form, 4);
  expect_request_error(with_host("POST * HTTP/1.1"), errc::bad_target_form, 5);
  // OPTIONS may still use the other forms.
  EXPECT_EQ(expect_request_ok(with_host("OPTIONS /x HTTP/1.1")).form, target_form::origin);
}

TEST(RequestTarget, ForbiddenBytesAreRejectedAtTheirOffset) {
  expect_request_error(with_host(std::string("GET /a\0b HTTP/1.1", 17)), errc::bad_target, 6);
  expect_request_error(with_host("GET /a\x01 HTTP/1.1"), errc::bad_target, 6);
  expect_request_error(with_host("GET /a\x7f HTTP/1.1"), errc::bad_target, 6);
  expect_request_error(with_host("GET /caf\xc3\xa9 HTTP/1.1"), errc::bad_target, 8);
  expect_request_error(with_host("GET /a\"b HTTP/1.1"), errc::bad_target, 6);
  expect_request_error(with_host("GET /a<b> HTTP/1.1"), errc::bad_target, 6);
  expect_request_error(with_host("GET /a\\b HTTP/1.1"), errc::bad_target, 6);
  expect_request_error(with_host("GET /a{b} HTTP/1.1"), errc::bad_target, 6);
  // A fragment is never part of a request-target.
  expect_request_error(with_host("GET /a#frag HTTP/1.1"), errc::bad_target, 6);
}

TEST(RequestTarget, PercentEscapesMustHaveTwoHexDigits) {
  expect_request_ok(with_host("GET /%41%4a%4A%ff HTTP/1.1"));
  expect_request_error(with_host("GET /%zz HTTP/1.1"), errc::bad_target, 5);
  expect_request_error(with_host("GET /%4 HTTP/1.1"), errc::bad_target, 5);
  expect_request_error(with_host("GET /a%g1 HTTP/1.1"), errc::bad_target, 6);
  // The second digit wrong, a hex digit after it: not an escape either.
  expect_request_error(with_host("GET /a%4g1 HTTP/1.1"), errc::bad_target, 6);
}

TEST(RequestTarget, AbsoluteFormNeedsAnAuthority) {
  // absolute-URI would allow "urn:x" or "example.com:443" (scheme "example.com"); taut takes the
  // absolute form as scheme "://" authority, so that such a target cannot pass for another form.
  expect_request_error(with_host("GET urn:isbn:0451450523 HTTP/1.1"), errc::bad_target_form, 4);
  expect_request_error(with_host("GET example.com:443 HTTP/1.1"), errc::bad_target_form, 4);
  expect_request_error(with_host("GET http://a b/ HTTP/1.1"), errc::bad_version, 13);
  expect_request_error(with_host("GET http://a@b/ HTTP/1.1"), errc::bad_target, 12);
}

// The vector paths take a plain absolute-form (scheme "://" reg-name [":" port], then a path, a
// query or nothing) in their whole-head pass; every other shape goes to the byte-by-byte parser.
// Both sides must give what the byte-by-byte parser alone gives (these tests run on every path).
TEST(RequestTarget, AbsoluteFormShapesOfTheWholeHeadPass) {
  for (const char* target :
       {"http://example.com/a/b?c=d", "http://example.com:8080/x", "http://example.com",
        "http://example.com?q", "http://example.com:/x", "https://a.b-c_d~e!f$g&h'i(j)k*l+m,n;o=p/",
        "h2c+x.y-z://host/%41%62", "http://example.com:443"}) {
    const std::string request = request_with(
        std::string("GET ") + target + " HTTP/1.1",
        "Host: example.com\r\nContent-Length: 3\r\nX-Long: " + std::string(80, 'v') + "\r\n");
    const request_outcome o = expect_request_ok(request);
    EXPECT_EQ(o.target, target);
    EXPECT_EQ(o.form, target_form::absolute) << target;
    EXPECT_EQ(o.headers.size(), 3U) << target;
    EXPECT_EQ(o.body, body_kind::content_length) << target;
    EXPECT_EQ(o.content_length, 3U) << target;
    EXPECT_EQ(o.head_size, request.size()) << target;
  }
  // The shapes it leaves to the byte-by-byte parser, valid ones ...
  for (const char* target : {"http://[::1]:8080/", "http://ex%41mple.com/", "http://[v1.x]/"}) {
    const request_outcome o =
        expect_request_ok(with_host(std::string("GET ") + target + " HTTP/1.1"));
    EXPECT_EQ(o.target, target);
    EXPECT_EQ(o.form, target_form::absolute) << target;
  }
  // ... and invalid ones, each reported where the byte-by-byte parser reports it.
  expect_request_error(with_host("GET http:/x HTTP/1.1"), errc::bad_target_form, 4);
  expect_request_error(with_host("GET http:x HTTP/1.1"), errc::bad_target_form, 4);
  expect_request_error(with_host("GET http:// HTTP/1.1"), errc::bad_target, 11);
  expect_request_error(with_host("GET http://a:8x/ HTTP/1.1"), errc::bad_target, 14);
  expect_request_error(with_host("GET http://a:80:1/ HTTP/1.1"), errc::bad_target, 15);
  expect_request_error(with_host("GET http://a/b\x01 HTTP/1.1"), errc::bad_target, 14);
  expect_request_error(with_host("GET http://a/%zz HTTP/1.1"), errc::bad_target, 13);
  expect_request_error(with_host("GET http://a HTTP/2.0"), errc::unsupported_version, 13);
  expect_request_error(with_host("GET h~p://a/ HTTP/1.1"), errc::bad_target, 5);
  expect_request_error(with_host("GET 1ttp://a/ HTTP/1.1"), errc::bad_target_form, 4);
  expect_request_error(with_host("GET http:///x HTTP/1.1"), errc::bad_target, 11);
  expect_request_error(with_host("GET http://a#b HTTP/1.1"), errc::bad_target, 12);
  expect_request_error(with_host("GET http://a:8#b HTTP/1.1"), errc::bad_target, 14);
  // And cut short: the buffer ends in the scheme, the host, the port or the path.
  for (const char* prefix :
       {"GET http", "GET http://", "GET http://a.b", "GET http://a:80", "GET http://a:80/x"}) {
    expect_request_incomplete(prefix);
  }
}

TEST(RequestTarget, AbsoluteFormHeadIsReadOnce) {
  // A plain absolute-form head is taken in one pass on every path: no byte is examined twice.
  const std::string request =
      request_with("GET http://example.com:8080/a?b HTTP/1.1", "Host: example.com\r\n");
  std::vector<header> storage(8);
  request_parser parser(storage);
  ASSERT_TRUE(parser.parse(request).complete());
  EXPECT_EQ(parser.request().target_form, target_form::absolute);
  EXPECT_EQ(parser.bytes_examined(), request.size());
}

TEST(RequestTarget, TargetMustStartLikeOneOfTheForms) {
  // Neither "/", "*", a scheme nor an authority.
  expect_request_error(with_host("GET ?q HTTP/1.1"), errc::bad_target, 4);
  expect_request_error(with_host("GET .. HTTP/1.1"), errc::bad_target, 4);
}

// ---- Section 2.3: HTTP-version ---------------------------------------------------------------

TEST(RequestVersion, OnePointZeroAndOnePointOneAreAccepted) {
  EXPECT_EQ(expect_request_ok(with_host("GET / HTTP/1.1")).version_minor, 1);
  EXPECT_EQ(expect_request_ok(with_host("GET / HTTP/1.0")).version_minor, 0);
  EXPECT_EQ(expect_request_ok("GET / HTTP/1.0\r\n\r\n").version_minor, 0);
}

TEST(RequestVersion, Http12IsServedAsHttp11) {
  // RFC 9110 section 2.5: a 1.x minor above the highest implemented one is handled as 1.1; the
  // version stays as sent (taut-parse shows it), every decision is 1.1's.
  for (const char minor : {'2', '3', '9'}) {
    const std::string version = std::string("HTTP/1.") + minor;
    const request_outcome o = expect_request_ok(with_host("GET / " + version));
    EXPECT_EQ(o.version_minor, minor - '0');
    EXPECT_TRUE(o.keep_alive) << version;  // 1.1's default persistence
    // Host is required, as in 1.1.
    expect_request_error("GET / " + version + "\r\n\r\n", errc::missing_host, 16);
    // Chunked is allowed, Expect and Upgrade are honoured.
    const request_outcome chunked =
        expect_request_ok("POST / " + version +
                          "\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                          "Expect: 100-continue\r\n\r\n");
    EXPECT_EQ(chunked.body, body_kind::chunked);
    EXPECT_TRUE(chunked.expect_continue);
    const request_outcome upgrade = expect_request_ok(
        "GET / " + version + "\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    EXPECT_TRUE(upgrade.upgrade);
    const request_outcome closing =
        expect_request_ok("GET / " + version + "\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_FALSE(closing.keep_alive);
  }
}

TEST(RequestVersion, WellFormedOtherVersionsAre505) {
  // "GET / " is 6 bytes: the version starts at offset 6.
  for (const char* version : {"HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9", "HTTP/0.0"}) {
    expect_request_error(with_host(std::string("GET / ") + version), errc::unsupported_version, 6);
  }
  EXPECT_EQ(default_status(errc::unsupported_version), 505);
}

TEST(RequestVersion, MalformedVersionsAre400AtTheFirstBadByte) {
  // The HTTP-name is case-sensitive (RFC 9112 section 2.3).
  expect_request_error(with_host("GET / http/1.1"), errc::bad_version, 6);
  expect_request_error(with_host("GET / HTTX/1.1"), errc::bad_version, 9);
  expect_request_error(with_host("GET / HTTP 1.1"), errc::bad_version, 10);
  expect_request_error(with_host("GET / HTTP/a.1"), errc::bad_version, 11);
  expect_request_error(with_host("GET / HTTP/1,1"), errc::bad_version, 12);
  expect_request_error(with_host("GET / HTTP/1.x"), errc::bad_version, 13);
  expect_request_error(with_host("GET / HTTP/1.10"), errc::bad_version, 14);
  expect_request_error(with_host("GET / HTTP/11.1"), errc::bad_version, 12);
  expect_request_error(with_host("GET / HTTP/1."), errc::bad_version, 13);
  expect_request_error(with_host("GET / HTTP/1"), errc::bad_version, 12);
  expect_request_error(with_host("GET / HTTP/"), errc::bad_version, 11);
  expect_request_error(with_host("GET / HTTP/1.1x"), errc::bad_version, 14);
  expect_request_error(with_host(std::string("GET / HTTP/1.\0", 14)), errc::bad_version, 13);
  EXPECT_EQ(default_status(errc::bad_version), 400);
}

// ---- Separators ------------------------------------------------------------------------------

TEST(RequestLineSeparators, ExactlyOneSpaceBetweenParts) {
  expect_request_error(with_host("GET  / HTTP/1.1"), errc::bad_request_line, 4);
  // After the target's SP comes the version: a second SP is where the version went wrong.
  expect_request_error(with_host("GET /  HTTP/1.1"), errc::bad_version, 6);
  expect_request_error(with_host("GET / HTTP/1.1 "), errc::bad_version, 14);
  expect_request_error(with_host("GET"), errc::bad_request_line, 3);
  expect_request_error(with_host("GET "), errc::bad_request_line, 4);
  expect_request_error(with_host("GET /"), errc::bad_request_line, 5);
  expect_request_error(with_host("GET / "), errc::bad_version, 6);
}

TEST(RequestLine, IncompleteUntilTheLineEnds) {
  expect_request_incomplete("");
  expect_request_incomplete("G");
  expect_request_incomplete("GET");
  expect_request_incomplete("GET /index.html HTTP/1.");
  expect_request_incomplete("GET /index.html HTTP/1.1");
  expect_request_incomplete("GET /index.html HTTP/1.1\r");
  expect_request_incomplete("GET /index.html HTTP/1.1\r\n");
  expect_request_incomplete("GET /index.html HTTP/1.1\r\nHost: a\r\n");
  expect_request_incomplete("GET /index.html HTTP/1.1\r\nHost: a\r\n\r");
}

/// `input` (no line end) is rejected with `code` at `offset` as soon as its last byte arrives,
/// however it is cut, and every shorter prefix is still incomplete.
void expect_rejected_at_last_byte(std::string_view input, errc code, std::size_t offset,
                                  call_site where = call_site::current()) {
  SCOPED_TRACE(testing::Message() << where.file << ":" << where.line);
  expect_request_error(input, code, offset);
  for (std::size_t k = 0; k < input.size(); ++k) expect_request_incomplete(input.substr(0, k));
}

TEST(RequestLine, TlsClientHelloIsRejectedAtItsFirstByte) {
  // A TLS handshake sent to a plain-HTTP port: no request starts with 0x16, so the answer is 400
  // at once, not a wait for the line end (or the header timeout) first.
  const std::string hello =
      literal_bytes("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x1f\x00\x20\x13\x01\x13\x02");
  std::vector<header> storage(8);
  request_parser parser(storage);
  const parse_result first = parser.parse(hello.substr(0, 1));
  ASSERT_TRUE(first.failed());
  EXPECT_EQ(first.error.code, errc::bad_method);
  EXPECT_EQ(first.error.offset, 0U);
  EXPECT_EQ(first.error.status, 400);
  expect_request_error(hello, errc::bad_method, 0);
  // Binary after a valid method: rejected at the first byte that is not a token byte or SP.
  expect_rejected_at_last_byte(literal_bytes("POST\x00"), errc::bad_method, 4);
  expect_rejected_at_last_byte(literal_bytes("G\0"), errc::bad_method, 1);
}

TEST(RequestLine, ErrorsAreReportedAtTheFirstImpossibleByteBeforeTheLineEnds) {
  expect_rejected_at_last_byte("GE(", errc::bad_method, 2);
  expect_rejected_at_last_byte("GET  ", errc::bad_request_line, 4);
  expect_rejected_at_last_byte("GET /a\x01", errc::bad_target, 6);
  expect_rejected_at_last_byte("GET /a#", errc::bad_target, 6);
  expect_rejected_at_last_byte("GET /a%z", errc::bad_target, 6);
  expect_rejected_at_last_byte("GET /a%4z", errc::bad_target, 6);
  expect_rejected_at_last_byte("GET *", errc::bad_target_form, 4);
  expect_rejected_at_last_byte("OPTIONS *x", errc::bad_target, 9);
  expect_rejected_at_last_byte("CONNECT /", errc::bad_target_form, 8);
  expect_rejected_at_last_byte("CONNECT a/", errc::bad_target, 9);
  expect_rejected_at_last_byte("CONNECT a: ", errc::bad_target, 9);
  expect_rejected_at_last_byte("CONNECT a ", errc::bad_target, 8);
  expect_rejected_at_last_byte("GET 1", errc::bad_target_form, 4);
  expect_rejected_at_last_byte("GET \"", errc::bad_target, 4);
  expect_rejected_at_last_byte("GET h/", errc::bad_target, 5);
  expect_rejected_at_last_byte("GET h:x", errc::bad_target_form, 4);
  expect_rejected_at_last_byte("GET http://a@", errc::bad_target, 12);
  expect_rejected_at_last_byte("GET http:///", errc::bad_target, 11);
  expect_rejected_at_last_byte("GET http://[::1/", errc::bad_target, 14);  // the literal's end
  expect_rejected_at_last_byte("GET / HTTX", errc::bad_version, 9);
  expect_rejected_at_last_byte("GET / HTTP/2", errc::unsupported_version, 6);
  expect_rejected_at_last_byte("GET / HTTP/1.1x", errc::bad_version, 14);
  expect_rejected_at_last_byte("GET / HTTP/1.1\rx", errc::bare_cr, 14);
  // A line end where the request-line cannot end: the CR is the first impossible byte.
  expect_rejected_at_last_byte("GET /\r", errc::bad_request_line, 5);
  expect_rejected_at_last_byte("GET / HTTP/1.\r", errc::bad_version, 13);
  expect_rejected_at_last_byte("\r\n\r\x01", errc::bare_cr, 2);
}

TEST(RequestLine, ResultPointsIntoTheBuffer) {
  const std::string input = with_host("GET /zero-copy HTTP/1.1");
  std::vector<header> storage(8);
  request_parser parser(storage);
  ASSERT_TRUE(parser.parse(input).complete());
  EXPECT_EQ(parser.request().method_name.data(), input.data());
  EXPECT_EQ(parser.request().target.data(), input.data() + 4);
  EXPECT_EQ(parser.request().headers[0].name.data(), input.data() + 25);
}

TEST(RequestLine, ResetParsesTheNextRequest) {
  const std::string first = with_host("GET /1 HTTP/1.1");
  const std::string second = with_host("DELETE /2 HTTP/1.0");
  std::vector<header> storage(8);
  request_parser parser(storage);
  ASSERT_TRUE(parser.parse(first).complete());
  EXPECT_EQ(parser.request().target, "/1");
  // Until reset, the same answer.
  EXPECT_TRUE(parser.parse(first).complete());
  parser.reset();
  ASSERT_TRUE(parser.parse(second).complete());
  EXPECT_EQ(parser.request().target, "/2");
  EXPECT_EQ(parser.request().method, method::delete_);
  EXPECT_EQ(parser.request().version_minor, 0);
  // An error is sticky until reset too.
  parser.reset();
  const std::string bad = "G(T / HTTP/1.1\r\n\r\n";
  EXPECT_EQ(parser.parse(bad).error.code, errc::bad_method);
  EXPECT_EQ(parser.parse(bad).error.code, errc::bad_method);
  parser.reset();
  EXPECT_TRUE(parser.parse(first).complete());
}

// After `complete`, parse() answers the same until reset(), whatever it is given: request() views
// the buffer the head completed in. The next message in another buffer without reset() is a
// misuse that debug builds catch; a release build returns the first head, as documented.
TEST(RequestLineDeathTest, AnotherBufferAfterCompleteWithoutResetAssertsInDebugBuilds) {
  const std::string first = with_host("GET /1 HTTP/1.1");
  const std::string second = with_host("DELETE /2 HTTP/1.1");
  std::vector<header> storage(8);
  request_parser parser(storage);
  ASSERT_TRUE(parser.parse(first).complete());
  EXPECT_DEBUG_DEATH((void)parser.parse(second), "reset\\(\\) first");
  EXPECT_EQ(parser.request().target, "/1");
  EXPECT_TRUE(parser.parse(first).complete());  // the same buffer: the same answer, no assert
}

TEST(RequestLine, PipelinedRequestsAreParsedOneAtATime) {
  const std::string first = with_host("GET /1 HTTP/1.1");
  const std::string both = first + with_host("GET /2 HTTP/1.1");
  const request_outcome o = expect_request_ok(both);
  EXPECT_EQ(o.consumed, first.size());
  EXPECT_EQ(o.target, "/1");
}

}  // namespace
}  // namespace taut::test
