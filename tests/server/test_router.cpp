// Unit tests of taut::route_table / basic_router: one group per pattern feature, precedence,
// conflicts, 404/405/OPTIONS, HEAD, hosts, cleaning and redirects, percent-decoding.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "taut/router.hpp"

namespace {

using taut::route_errc;
using taut::route_status;

// A route table whose ids are registration indexes, and a helper that says what a request got.
class Router : public ::testing::Test {
 protected:
  explicit Router(taut::router_options options = {}) : table(options) {}

  void add(std::string_view pattern) {
    const auto error = table.add(pattern, table.size());
    ASSERT_FALSE(error) << error.message();
  }

  taut::route_error try_add(std::string_view pattern) { return table.add(pattern, table.size()); }

  // "pattern" when matched, "404", "405 <Allow>", "OPTIONS <Allow>", "301 <Location>", "400",
  // "414", "501".
  std::string route(std::string_view method, std::string_view target, std::string_view host = "") {
    switch (table.match(method, host, target, match)) {
      case route_status::matched:
        return std::string(table.pattern(match.id()));
      case route_status::not_found:
        return "404";
      case route_status::method_not_allowed:
        return "405 " + std::string(match.allow());
      case route_status::options:
        return "OPTIONS " + std::string(match.allow());
      case route_status::redirect:
        return "301 " + std::string(match.location());
      case route_status::bad_request:
        return "400";
      case route_status::uri_too_long:
        return "414";
      case route_status::not_implemented:
        return "501";
    }
    return "?";
  }

  std::string get(std::string_view target, std::string_view host = "") {
    return route("GET", target, host);
  }

  taut::route_table table;
  taut::inline_route_match<> match;
};

// ----- pattern syntax -----------------------------------------------------------------------

TEST_F(Router, AcceptsEveryDocumentedForm) {
  for (std::string_view pattern :
       {"/", "/index.html", "GET /items/{id}", "POST  /items", "PUT\t/items/{id}", "example.com/",
        "GET example.com/users/{id}/", "/files/{path...}", "/b/{bucket}/o/{name...}", "/exact/{$}",
        "/{$}", "/a%2Fb", "/caf%C3%A9", "PROPFIND /dav/", "[::1]/local"}) {
    add(pattern);
  }
  EXPECT_EQ(table.size(), 15u);
}

TEST_F(Router, RejectsMalformedPatternsWithAReason) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", "empty pattern"},
      {"a", "must start with '/'"},
      {"GET", "must start with '/'"},
      {"GET a", "must start with '/'"},
      {" /a", "leading whitespace"},
      {"G(T /a", "not a token"},
      {"/a//b", "empty path segment"},
      {"/a/{x", "whole segment"},
      {"/a/b{x}", "whole segment"},
      {"/a/{x}y", "whole segment"},
      {"/a/{1x}", "not an identifier"},
      {"/a/{}", "not an identifier"},
      {"/a/{...}", "not an identifier"},
      {"/a/{x-y}", "not an identifier"},
      {"/{x}/{x}", "used twice"},
      {"/{x}/{x...}", "used twice"},
      {"/a/{x...}/b", "must be the last segment"},
      {"/a/{x...}/", "must be the last segment"},
      {"/a/{$}/b", "must be the last segment"},
      {"/a/{$}/", "must be the last segment"},
      {"/a/./b", "never match a cleaned path"},
      {"/a/../b", "never match a cleaned path"},
      {"/%2e%2E/b", "never match a cleaned path"},
      {"/a%zz", "percent-escape"},
      {"/a%4", "percent-escape"},
      {"example.com:8080/", "no port"},
      {"ex@mple.com/", "bad character"},
      {"[::1/", "IPv6"},
  };
  for (const auto& [pattern, why] : cases) {
    const auto error = try_add(pattern);
    ASSERT_TRUE(error) << pattern;
    EXPECT_EQ(error.code(), route_errc::invalid_pattern) << pattern;
    EXPECT_NE(error.message().find(why), std::string::npos) << error.message();
    EXPECT_NE(error.message().find("\"" + std::string(pattern) + "\""), std::string::npos)
        << error.message();
  }
  EXPECT_EQ(table.size(), 0u);
}

TEST_F(Router, LimitsWildcardsPerPattern) {
  std::string pattern;
  for (std::size_t i = 0; i < taut::route_table::max_wildcards; ++i) {
    pattern += "/{w" + std::to_string(i) + "}";
  }
  add(pattern);
  const auto error = try_add("/x" + pattern);
  EXPECT_FALSE(error) << error.message();
  const auto too_many = try_add(pattern + "/{last}");
  ASSERT_TRUE(too_many);
  EXPECT_EQ(too_many.code(), route_errc::too_many_wildcards);
}

TEST_F(Router, LimitsDistinctMethods) {
  // The nine standard methods are always known; custom ones fill the rest.
  std::size_t custom = 0;
  for (; custom < taut::route_table::max_methods - 9; ++custom) {
    add("M" + std::to_string(custom) + " /x");
  }
  const auto error = try_add("ONEMORE /x");
  ASSERT_TRUE(error);
  EXPECT_EQ(error.code(), route_errc::too_many_methods);
  add("PATCH /x");  // a known method still works
}

TEST_F(Router, ErrorsAreErrorCodes) {
  const auto error = try_add("nope");
  const std::error_code code = error.error_code();
  EXPECT_EQ(code, route_errc::invalid_pattern);
  EXPECT_STREQ(code.category().name(), "taut.route");
  EXPECT_FALSE(code.message().empty());
  EXPECT_FALSE(taut::route_error());
}

// ----- literal, wildcard, multi, subtree, {$} ---------------------------------------------------

TEST_F(Router, LiteralPathsMatchExactly) {
  add("/index.html");
  EXPECT_EQ(get("/index.html"), "/index.html");
  EXPECT_EQ(get("/index.htm"), "404");
  EXPECT_EQ(get("/index.html/"), "404");
  EXPECT_EQ(get("/index.html/x"), "404");
  EXPECT_EQ(get("/Index.html"), "404");  // case-sensitive, as in Go
}

TEST_F(Router, WildcardMatchesOneNonEmptySegment) {
  add("/users/{id}");
  EXPECT_EQ(get("/users/42"), "/users/{id}");
  EXPECT_EQ(match.param("id"), "42");
  EXPECT_EQ(get("/users/42/posts"), "404");
  EXPECT_EQ(get("/users/"), "404");
  EXPECT_EQ(get("/users"), "404");
}

TEST_F(Router, SeveralWildcardsComeBackInPatternOrder) {
  add("/b/{bucket}/o/{object}");
  EXPECT_EQ(get("/b/photos/o/cat.jpg"), "/b/{bucket}/o/{object}");
  ASSERT_EQ(match.params().size(), 2u);
  EXPECT_EQ(match.params()[0].name, "bucket");
  EXPECT_EQ(match.params()[0].value, "photos");
  EXPECT_EQ(match.params()[1].name, "object");
  EXPECT_EQ(match.params()[1].value, "cat.jpg");
  EXPECT_EQ(match.param("missing"), "");
  EXPECT_EQ(match.find_param("missing"), nullptr);
}

TEST_F(Router, MultiWildcardTakesTheRestIncludingNothing) {
  add("/files/{path...}");
  EXPECT_EQ(get("/files/a/b/c.txt"), "/files/{path...}");
  EXPECT_EQ(match.param("path"), "a/b/c.txt");
  EXPECT_EQ(get("/files/a/b/"), "/files/{path...}");
  EXPECT_EQ(match.param("path"), "a/b/");
  EXPECT_EQ(get("/files/"), "/files/{path...}");
  EXPECT_EQ(match.param("path"), "");
  ASSERT_NE(match.find_param("path"), nullptr);
  EXPECT_EQ(get("/files"), "301 /files/");
}

TEST_F(Router, TrailingSlashIsASubtree) {
  add("/static/");
  EXPECT_EQ(get("/static/"), "/static/");
  EXPECT_EQ(get("/static/css/site.css"), "/static/");
  EXPECT_TRUE(match.params().empty());
  EXPECT_EQ(get("/static"), "301 /static/");
  EXPECT_EQ(get("/staticx"), "404");
}

TEST_F(Router, RootMatchesEverything) {
  add("/");
  EXPECT_EQ(get("/"), "/");
  EXPECT_EQ(get("/anything/at/all"), "/");
}

TEST_F(Router, DollarMatchesOnlyTheEnd) {
  add("/{$}");
  add("/a/{$}");
  EXPECT_EQ(get("/"), "/{$}");
  EXPECT_EQ(get("/x"), "404");
  EXPECT_EQ(get("/a/"), "/a/{$}");
  EXPECT_EQ(get("/a/b"), "404");
  EXPECT_EQ(get("/a"), "301 /a/");  // "/a/" would match exactly
}

TEST_F(Router, WildcardAndDollarDoNotOverlap) {
  add("/a/{x}");
  add("/a/{$}");
  EXPECT_EQ(get("/a/"), "/a/{$}");
  EXPECT_EQ(get("/a/b"), "/a/{x}");
}

// ----- precedence ------------------------------------------------------------------------------

TEST_F(Router, MostSpecificPathWins) {
  add("/");
  add("/a/");
  add("/a/{x}");
  add("/a/b");
  add("/a/{x}/");
  add("/a/b/c/{$}");
  EXPECT_EQ(get("/a/b"), "/a/b");
  EXPECT_EQ(get("/a/c"), "/a/{x}");
  EXPECT_EQ(get("/a/"), "/a/");
  EXPECT_EQ(get("/a/c/d"), "/a/{x}/");
  EXPECT_EQ(get("/a/b/c/"), "/a/b/c/{$}");
  EXPECT_EQ(get("/a/b/c/d"), "/a/{x}/");
  EXPECT_EQ(get("/b"), "/");
}

TEST_F(Router, LongerSubtreeWins) {
  add("/images/");
  add("/images/thumbnails/");
  EXPECT_EQ(get("/images/thumbnails/x.png"), "/images/thumbnails/");
  EXPECT_EQ(get("/images/x.png"), "/images/");
}

TEST_F(Router, BacktracksWhenTheLiteralBranchDeadEnds) {
  add("/a/b/c");
  add("/a/{x}/d");
  EXPECT_EQ(get("/a/b/d"), "/a/{x}/d");
  EXPECT_EQ(match.param("x"), "b");
  EXPECT_EQ(get("/a/b/c"), "/a/b/c");
  EXPECT_TRUE(match.params().empty());
}

TEST_F(Router, MethodPatternBeatsMethodless) {
  add("GET /x");
  add("/x");
  EXPECT_EQ(get("/x"), "GET /x");
  EXPECT_EQ(route("POST", "/x"), "/x");
  EXPECT_EQ(route("HEAD", "/x"), "GET /x");
  EXPECT_EQ(route("BREW", "/x"), "/x");
}

TEST_F(Router, HeadIsServedByGetUnlessItHasItsOwnRoute) {
  add("GET /page");
  add("GET /both");
  add("HEAD /both");
  EXPECT_EQ(route("HEAD", "/page"), "GET /page");
  EXPECT_EQ(route("HEAD", "/both"), "HEAD /both");
  EXPECT_EQ(route("GET", "/both"), "GET /both");
}

TEST_F(Router, HeadPrefersGetRouteOverMethodlessRoute) {
  add("GET /a/{x}");
  add("/a/{x}");
  EXPECT_EQ(route("HEAD", "/a/1"), "GET /a/{x}");
  EXPECT_EQ(route("DELETE", "/a/1"), "/a/{x}");
}

TEST_F(Router, MethodsAreCaseSensitive) {
  // "get" is not GET but an unrecognised method (RFC 9110 section 9.1: 501), unless some
  // pattern names it.
  add("GET /x");
  EXPECT_EQ(route("get", "/x"), "501");
  add("get /y");
  EXPECT_EQ(route("get", "/x"), "405 GET, HEAD, OPTIONS");
  EXPECT_EQ(route("get", "/y"), "get /y");
}

// ----- conflicts ---------------------------------------------------------------------------------

TEST_F(Router, ConflictNamesBothPatternsAndARequest) {
  add("GET /a/");
  const auto error = try_add("/a/b");
  ASSERT_TRUE(error);
  EXPECT_EQ(error.code(), route_errc::conflict);
  EXPECT_EQ(error.message(),
            "pattern \"/a/b\" conflicts with pattern \"GET /a/\": both match \"GET /a/b\" and "
            "neither is more specific");
}

TEST_F(Router, WildcardsInDifferentPlacesConflict) {
  add("/a/{x}");
  const auto error = try_add("/{y}/b");
  ASSERT_TRUE(error);
  EXPECT_EQ(error.message(),
            "pattern \"/{y}/b\" conflicts with pattern \"/a/{x}\": both match \"/a/b\" and neither "
            "is more specific");
}

TEST_F(Router, EquivalentPatternsConflict) {
  add("/a/");
  auto error = try_add("/a/{rest...}");
  ASSERT_TRUE(error);
  EXPECT_EQ(
      error.message(),
      "pattern \"/a/{rest...}\" conflicts with pattern \"/a/\": they match the same requests");
  add("/u/{id}");
  error = try_add("/u/{name}");
  ASSERT_TRUE(error);
  EXPECT_NE(error.message().find("\"/u/{id}\""), std::string::npos);
  error = try_add("/u/{id}");
  ASSERT_TRUE(error);
  EXPECT_EQ(error.message(), "pattern \"/u/{id}\" is already registered");
  // An escaped literal is the same literal.
  add("/caf%C3%A9");
  EXPECT_TRUE(try_add("/caf%c3%a9"));
}

TEST_F(Router, HeadAndGetPatternsConflictLikeSubsets) {
  add("HEAD /a/");
  const auto error = try_add("GET /a/b");
  ASSERT_TRUE(error);
  EXPECT_NE(error.message().find("both match \"HEAD /a/b\""), std::string::npos) << error.message();
  add("GET /a/");  // HEAD /a/ is more specific than GET /a/
}

TEST_F(Router, NonConflictingNeighbours) {
  add("GET /a");
  add("POST /a");
  add("/a");
  add("/a/{x}");
  add("/a/{$}");
  add("/a/b/");
  add("example.com/a");
  add("other.example/a");
  add("GET /b/{x}/c");
  add("GET /b/{x}/d");
  EXPECT_EQ(table.size(), 10u);
}

TEST_F(Router, FailedAddChangesNothing) {
  add("/a/{x}");
  ASSERT_TRUE(try_add("/{y}/b"));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(get("/c/b"), "404");
  EXPECT_EQ(get("/a/b"), "/a/{x}");
}

// ----- 404, 405, OPTIONS
// ---------------------------------------------------------------------------

TEST_F(Router, NotFoundWhenNoPathMatches) {
  add("GET /a");
  EXPECT_EQ(get("/b"), "404");
  EXPECT_EQ(route("POST", "/b"), "404");
}

TEST_F(Router, MethodNotAllowedListsExactlyTheMatchingMethods) {
  add("GET /items/{id}");
  add("PUT /items/{id}");
  add("DELETE /items/special");
  add("POST /items/");
  EXPECT_EQ(route("PATCH", "/items/1"), "405 GET, HEAD, OPTIONS, POST, PUT");
  EXPECT_EQ(route("PATCH", "/items/special"), "405 DELETE, GET, HEAD, OPTIONS, POST, PUT");
  EXPECT_EQ(route("PATCH", "/items/1/x"), "405 OPTIONS, POST");
}

TEST_F(Router, UnrecognisedMethodIs501) {
  add("GET /healthz");
  EXPECT_EQ(route("FOO", "/healthz"), "501");
  EXPECT_EQ(taut::http_status(match.status()), 501);
  EXPECT_TRUE(match.allow().empty());
  EXPECT_EQ(route("get", "/healthz"), "501");  // methods are case-sensitive
  EXPECT_EQ(route("FOO", "/nothing"), "501");
  // Every standard method is recognised: 405 (or 404) as before.
  for (const char* known : {"POST", "PUT", "DELETE", "TRACE", "PATCH"}) {
    EXPECT_EQ(route(known, "/healthz"), "405 GET, HEAD, OPTIONS") << known;
  }
  EXPECT_EQ(route("POST", "/nothing"), "404");
  // A method some pattern names is recognised everywhere; a method-less pattern takes any.
  add("PURGE /cache/{key}");
  EXPECT_EQ(route("PURGE", "/healthz"), "405 GET, HEAD, OPTIONS");
  EXPECT_EQ(route("PURGE", "/nothing"), "404");
  add("/any/");
  EXPECT_EQ(route("FOO", "/any/x"), "/any/");
  EXPECT_EQ(route("FOO", "/healthz"), "501");
}

TEST_F(Router, AllowListIncludesCustomMethodsSorted) {
  add("PROPFIND /dav/{x}");
  add("MKCOL /dav/{x}");
  add("GET /dav/{x}");
  EXPECT_EQ(route("POST", "/dav/a"), "405 GET, HEAD, MKCOL, OPTIONS, PROPFIND");
  EXPECT_EQ(route("PROPFIND", "/dav/a"), "PROPFIND /dav/{x}");
}

TEST_F(Router, HeadOnlyRouteDoesNotServeGet) {
  add("HEAD /h");
  EXPECT_EQ(route("GET", "/h"), "405 HEAD, OPTIONS");
}

TEST_F(Router, OptionsForAPathIsAnswered) {
  add("GET /x");
  add("POST /x");
  EXPECT_EQ(route("OPTIONS", "/x"), "OPTIONS GET, HEAD, OPTIONS, POST");
  EXPECT_EQ(taut::http_status(match.status()), 200);
  EXPECT_EQ(route("OPTIONS", "/y"), "404");
  add("OPTIONS /x");
  EXPECT_EQ(route("OPTIONS", "/x"), "OPTIONS /x");
}

TEST_F(Router, OptionsAsteriskListsEveryMethod) {
  add("GET /a");
  add("DELETE /b");
  EXPECT_EQ(route("OPTIONS", "*"), "OPTIONS DELETE, GET, HEAD, OPTIONS");
  EXPECT_EQ(route("GET", "*"), "400");
  add("/c");  // a method-less route accepts anything: the common methods are listed
  EXPECT_EQ(route("OPTIONS", "*"), "OPTIONS DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
}

TEST_F(Router, OptionsAsteriskIncludesTheHostsRoutes) {
  add("GET /a");
  add("PUT example.com/b");
  EXPECT_EQ(route("OPTIONS", "*", "example.com"), "OPTIONS GET, HEAD, OPTIONS, PUT");
  EXPECT_EQ(route("OPTIONS", "*", "other"), "OPTIONS GET, HEAD, OPTIONS");
}

class RouterWithoutOptions : public Router {
 protected:
  RouterWithoutOptions() : Router(taut::router_options{true, true, false}) {}
};

TEST_F(RouterWithoutOptions, OptionsIsAnOrdinaryMethod) {
  add("GET /x");
  EXPECT_EQ(route("OPTIONS", "/x"), "405 GET, HEAD");
  EXPECT_EQ(route("OPTIONS", "*"), "404");
}

// ----- hosts
// ----------------------------------------------------------------------------------------

TEST_F(Router, HostPatternBeatsHostlessPattern) {
  add("example.com/");
  add("GET /foo");
  EXPECT_EQ(get("/foo", "example.com"), "example.com/");
  EXPECT_EQ(get("/foo", "other.com"), "GET /foo");
  EXPECT_EQ(get("/foo"), "GET /foo");
}

TEST_F(Router, HostsAreCaseInsensitiveAndPortsIgnored) {
  add("Example.COM/a");
  add("[::1]/a");
  add("/a");
  EXPECT_EQ(get("/a", "example.com"), "Example.COM/a");
  EXPECT_EQ(get("/a", "EXAMPLE.com:8080"), "Example.COM/a");
  EXPECT_EQ(get("/a", "[::1]:8080"), "[::1]/a");
  EXPECT_EQ(get("/a", "example.org"), "/a");
}

TEST_F(Router, MethodNotAllowedMergesHostAndHostlessRoutes) {
  add("GET example.com/a");
  add("POST /a");
  EXPECT_EQ(route("PUT", "/a", "example.com"), "405 GET, HEAD, OPTIONS, POST");
  EXPECT_EQ(route("PUT", "/a", "example.org"), "405 OPTIONS, POST");
  EXPECT_EQ(route("POST", "/a", "example.com"), "POST /a");
}

// ----- cleaning and redirects ------------------------------------------------------------------

TEST_F(Router, UncleanPathsRedirectToTheCleanOne) {
  add("/a/b");
  EXPECT_EQ(get("/a//b"), "301 /a/b");
  EXPECT_EQ(get("//a/b"), "301 /a/b");
  EXPECT_EQ(get("/a/./b"), "301 /a/b");
  EXPECT_EQ(get("/a/c/../b"), "301 /a/b");
  EXPECT_EQ(get("/a/b/."), "301 /a/b");
  EXPECT_EQ(get("/a/b/./"), "301 /a/b/");
  EXPECT_EQ(get("/../../a/b"), "301 /a/b");
  EXPECT_EQ(get("/a/b?x=1&y"), "/a/b");
  EXPECT_EQ(match.query(), "x=1&y");
  EXPECT_EQ(get("/a//b?x=1"), "301 /a/b?x=1");
  EXPECT_EQ(get("/a//b?"), "301 /a/b?");
  EXPECT_EQ(get("/x/../../../etc/passwd"), "301 /etc/passwd");  // redirected, even to a 404
}

TEST_F(Router, EscapedDotSegmentsAreDotSegments) {
  add("/secret/");
  add("/public/{file}");
  EXPECT_EQ(get("/public/%2e%2e/secret/key"), "301 /secret/key");
  EXPECT_EQ(get("/public/%2E./secret/key"), "301 /secret/key");
  EXPECT_EQ(get("/public/.%2e"), "301 /");
  EXPECT_EQ(get("/public/%2e"), "301 /public");
  // "%2e%2e%2f" is one segment, not a dot segment: it is a file name.
  EXPECT_EQ(get("/public/%2e%2e%2fsecret"), "/public/{file}");
  EXPECT_EQ(match.param("file"), "../secret");
}

TEST_F(Router, CleaningAndTrailingSlashRedirectInOneHop) {
  add("/static/");
  EXPECT_EQ(get("/x/../static"), "301 /static/");
  EXPECT_EQ(get("/static?v=2"), "301 /static/?v=2");
}

TEST_F(Router, TrailingSlashRedirectEvenWhenAWiderSubtreeMatches) {
  add("/");
  add("/a/");
  EXPECT_EQ(get("/a"), "301 /a/");
  EXPECT_EQ(get("/b"), "/");
}

TEST_F(Router, NoTrailingSlashRedirectWhenThePathItselfMatches) {
  add("/a");
  add("/a/");
  EXPECT_EQ(get("/a"), "/a");
  EXPECT_EQ(get("/a/"), "/a/");
}

TEST_F(Router, TrailingSlashRedirectFollowsTheMethod) {
  add("POST /items/");
  EXPECT_EQ(route("POST", "/items"), "301 /items/");
  EXPECT_EQ(route("GET", "/items"), "404");
  EXPECT_EQ(route("GET", "/items/"), "405 OPTIONS, POST");
}

TEST_F(Router, TrailingSlashRedirectToASubtreeBelowAWildcard) {
  add("/a/{x}/");
  EXPECT_EQ(get("/a/b"), "301 /a/b/");
  EXPECT_EQ(get("/a"), "404");  // "/a/" does not match: {x} needs a non-empty segment
}

// The trailing-slash probe is skipped when no route ends in a slash at the path's depth: every
// kind of such route still gets its redirect, at its own depth only, deep paths included.
TEST_F(Router, TrailingSlashRedirectForEveryKindOfSlashRouteAtItsDepth) {
  add("/");
  add("/one/{$}");
  add("/two/{x}/{rest...}");
  add("example.com/host/");
  EXPECT_EQ(get("/one"), "301 /one/");
  EXPECT_EQ(get("/one/b"), "/");
  EXPECT_EQ(get("/two"), "/");  // {rest...} below {x}: two segments before the slash
  EXPECT_EQ(get("/two/a"), "301 /two/a/");
  EXPECT_EQ(get("/two/a/b"), "/two/{x}/{rest...}");
  EXPECT_EQ(get("/host"), "/");
  EXPECT_EQ(route("GET", "/host", "example.com"), "301 /host/");
  std::string deep;
  for (int i = 0; i < 70; ++i) deep += "/d";
  add(deep + "/");
  EXPECT_EQ(get(deep), "301 " + deep + "/");
  EXPECT_EQ(get(deep + "/d"), deep + "/");
  EXPECT_EQ(get(deep.substr(2)), "/");
}

TEST_F(Router, RedirectNeverStartsWithABackslash) {
  add("/");
  EXPECT_EQ(get("/\\evil.example//"), "400");
  EXPECT_EQ(get("/\\evil.example/"), "/");
}

class RouterWithoutRedirects : public Router {
 protected:
  RouterWithoutRedirects() : Router(taut::router_options{false, false, true}) {}
};

TEST_F(RouterWithoutRedirects, MatchesTheCleanedPathDirectly) {
  add("/a/{x}");
  add("/static/");
  EXPECT_EQ(get("/a//b"), "/a/{x}");
  EXPECT_EQ(match.path(), "/a/b");
  EXPECT_EQ(match.param("x"), "b");
  EXPECT_EQ(get("/x/../a/%2e/c"), "/a/{x}");
  EXPECT_EQ(match.param("x"), "c");
  EXPECT_EQ(get("/static"), "404");
}

// ----- percent-decoding ------------------------------------------------------------------------

TEST_F(Router, ParametersAreDecodedSegmentBySegment) {
  add("/users/{name}");
  add("/files/{path...}");
  EXPECT_EQ(get("/users/J%C3%BCrgen%20M"), "/users/{name}");
  EXPECT_EQ(match.param("name"), "J\xC3\xBCrgen M");
  EXPECT_EQ(match.params()[0].raw, "J%C3%BCrgen%20M");
  // %2F is data, not a separator: one segment.
  EXPECT_EQ(get("/users/a%2Fb"), "/users/{name}");
  EXPECT_EQ(match.param("name"), "a/b");
  EXPECT_EQ(get("/files/a%2Fb/c%20d"), "/files/{path...}");
  EXPECT_EQ(match.param("path"), "a/b/c d");
  EXPECT_EQ(get("/users/a+b"), "/users/{name}");
  EXPECT_EQ(match.param("name"), "a+b");  // '+' is a plus in a path
}

TEST_F(Router, LiteralsMatchAfterDecoding) {
  add("/a%2Fb");
  add("/caf%C3%A9/menu");
  add("/x/{y}");
  EXPECT_EQ(get("/a%2Fb"), "/a%2Fb");
  EXPECT_EQ(get("/a%2fb"), "/a%2Fb");
  EXPECT_EQ(get("/a/b"), "404");
  EXPECT_EQ(get("/caf\xC3\xA9/menu"), "/caf%C3%A9/menu");
  EXPECT_EQ(get("/caf%c3%a9/menu"), "/caf%C3%A9/menu");
  EXPECT_EQ(get("/%78/%79"), "/x/{y}");
  EXPECT_EQ(match.param("y"), "y");
}

TEST_F(Router, MalformedEscapesAreBadRequests) {
  add("/");
  for (std::string_view target : {"/a%", "/a%2", "/a%zz", "/%G0", "/ok/%/x", "/a%2?q"}) {
    EXPECT_EQ(get(target), "400") << target;
    EXPECT_EQ(taut::http_status(match.status()), 400);
  }
  EXPECT_EQ(get("/a?%zz"), "/");  // the query is not the router's business
}

TEST_F(Router, TargetsOfNoRoutableFormAreBadRequests) {
  add("/");
  EXPECT_EQ(get(""), "400");
  EXPECT_EQ(get(std::string_view()), "400");  // no bytes at all, not even a terminator to read
  EXPECT_EQ(get("a/b"), "400");
  EXPECT_EQ(get("mailto:a@example.com"), "400");
}

TEST_F(Router, AbsoluteFormIsRoutedByItsPathAndAuthority) {
  add("/a/{x}");
  add("example.com/a/{x}");
  EXPECT_EQ(get("http://example.com/a/1"), "example.com/a/{x}");
  EXPECT_EQ(match.path(), "/a/1");
  EXPECT_EQ(get("http://other.example:81/a/2?q"), "/a/{x}");
  EXPECT_EQ(match.query(), "q");
  EXPECT_EQ(get("http://example.com"), "404");  // the empty path is "/"
}

TEST_F(Router, ConnectAuthorityFormIs405WithTheTablesMethods) {
  add("GET /a/{x}");
  add("CONNECT /tunnel");
  EXPECT_EQ(route("CONNECT", "example.com:443"), "405 GET, HEAD, OPTIONS");
  EXPECT_EQ(route("GET", "example.com:443"), "400");  // authority-form is CONNECT's only
  taut::route_table empty;
  EXPECT_EQ(empty.match("CONNECT", "", "example.com:443", match), route_status::not_found);
}

// ----- results and scratch space -----------------------------------------------------------------

TEST_F(Router, ParamsViewThePathOrTheScratch) {
  add("/u/{a}/{b}");
  EXPECT_EQ(get("/u/plain/es%63aped"), "/u/{a}/{b}");
  const auto path = match.path();
  for (const auto& p : match.params()) {
    EXPECT_GE(p.raw.data(), path.data());
    EXPECT_LE(p.raw.data() + p.raw.size(), path.data() + path.size());
  }
  EXPECT_EQ(match.params()[0].value.data(), match.params()[0].raw.data());  // nothing to decode
  EXPECT_EQ(match.params()[1].value, "escaped");
}

TEST(RouteMatch, WithoutScratchHandlesCleanPlainPaths) {
  taut::route_table table;
  ASSERT_FALSE(table.add("/u/{id}", 7));
  taut::route_match match;  // no scratch space at all
  EXPECT_EQ(table.match("GET", "", "/u/42", match), route_status::matched);
  EXPECT_EQ(match.id(), 7u);
  EXPECT_EQ(match.param("id"), "42");
  EXPECT_EQ(table.match("GET", "", "/u/4%32", match), route_status::uri_too_long);
  EXPECT_EQ(table.match("GET", "", "/u//42", match), route_status::uri_too_long);
  EXPECT_EQ(taut::http_status(route_status::uri_too_long), 414);
}

TEST(RouteMatch, ScratchSizeIsEnoughForTheWorstCase) {
  taut::route_table table;
  ASSERT_FALSE(table.add("/x/{a}/{b}/{c}", 0));
  ASSERT_FALSE(table.add("/s/", 1));
  ASSERT_FALSE(table.add("GET /m", 2));
  ASSERT_FALSE(table.add("LONGMETHODNAME /m", 3));
  const std::vector<std::pair<std::string_view, route_status>> cases = {
      {"/x/%41/%42/%43", route_status::matched},
      {"/x/%41//%42/./%43", route_status::redirect},
      {"//s?%41%42%43", route_status::redirect},
      {"/m", route_status::method_not_allowed},
  };
  for (const auto& [target, status] : cases) {
    std::vector<char> scratch(table.scratch_size(target.size()));
    taut::route_match match(scratch);
    EXPECT_EQ(table.match("POST", "", target, match), status) << target;
  }
}

TEST(RouteMatch, ReusingAMatchResetsIt) {
  taut::route_table table;
  ASSERT_FALSE(table.add("/u/{id}", 1));
  taut::inline_route_match<> match;
  table.match("GET", "", "/u/1", match);
  ASSERT_EQ(match.params().size(), 1u);
  table.match("GET", "", "/nothing", match);
  EXPECT_EQ(match.status(), route_status::not_found);
  EXPECT_TRUE(match.params().empty());
  EXPECT_TRUE(match.pattern().empty());
  EXPECT_TRUE(match.allow().empty());
}

TEST(BasicRouter, MapsPatternsToValues) {
  taut::basic_router<std::string> router;
  ASSERT_FALSE(router.add("GET /hello/{name}", "greeter"));
  ASSERT_FALSE(router.add("POST /echo", "echo"));
  ASSERT_TRUE(router.add("GET /hello/{other}", "duplicate"));
  EXPECT_EQ(router.size(), 2u);
  taut::inline_route_match<> match;
  const std::string* value = router.match("GET", "", "/hello/world", match);
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, "greeter");
  EXPECT_EQ(match.param("name"), "world");
  EXPECT_EQ(match.pattern(), "GET /hello/{name}");
  EXPECT_EQ(router.match("GET", "", "/echo", match), nullptr);
  EXPECT_EQ(match.status(), route_status::method_not_allowed);
  EXPECT_EQ(*router.match("POST", "", "/echo", match), "echo");
}

TEST(RouteTable, RemembersPatternsAndIds) {
  taut::route_table table;
  ASSERT_FALSE(table.add("/a", 100));
  ASSERT_FALSE(table.add("GET /b/{x}", 200));
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table.pattern(1), "GET /b/{x}");
  EXPECT_EQ(table.id(1), 200u);
  taut::route_table moved = std::move(table);
  taut::inline_route_match<> match;
  EXPECT_EQ(moved.match("GET", "", "/b/1", match), route_status::matched);
  EXPECT_EQ(match.id(), 200u);
}

TEST(HttpStatus, MapsEveryRouteStatus) {
  EXPECT_EQ(taut::http_status(route_status::matched), 200);
  EXPECT_EQ(taut::http_status(route_status::options), 200);
  EXPECT_EQ(taut::http_status(route_status::not_found), 404);
  EXPECT_EQ(taut::http_status(route_status::method_not_allowed), 405);
  EXPECT_EQ(taut::http_status(route_status::redirect), 301);
  EXPECT_EQ(taut::http_status(route_status::bad_request), 400);
}

}  // namespace
