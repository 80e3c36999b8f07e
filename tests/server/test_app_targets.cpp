// The request-target forms other than origin-form, through taut::testing as a user sees them:
// absolute-form is routed by its path and its authority is the request's (RFC 9112 sections 3.2.2
// and 3.3), CONNECT's authority-form is a method no route serves (405 with Allow), and "OPTIONS *"
// describes the whole server.
#include <gtest/gtest.h>

#include <string>

#include "taut/handler.hpp"
#include "taut/mux.hpp"
#include "taut/path.hpp"
#include "taut/testing.hpp"

namespace {

using taut::reply;
using taut::request_context;
using taut::testing::client;
using taut::testing::request;

/// "<path>|<param name>|<authority>|<Host>" for the request that reached the handler.
void describe(request_context& req, reply& res) {
  res.text(200, std::string(req.path()) + "|" + std::string(req.param("name")) + "|" +
                    std::string(req.authority()) + "|" + std::string(req.host()));
}

TEST(AbsoluteForm, IsRoutedByItsPath) {
  taut::mux app;
  app.handle("GET /hello/{name}", describe);
  client c(app);
  const auto r = c.send(request("GET", "http://example.com/hello/x"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/hello/x|x|example.com|example.com");
  EXPECT_TRUE(r.keep_alive);
}

TEST(AbsoluteForm, AuthorityOfTheTargetWinsOverHost) {
  // RFC 9112 section 3.2.2: the Host field is ignored in favour of the target's authority, for
  // routing (host patterns) as for the handler.
  taut::mux app;
  app.handle("GET a.example/hello/{name}", describe);
  app.handle("GET /hello/{name}", [](request_context&, reply& res) { res.text(200, "any host"); });
  client c(app);
  const auto r =
      c.send(request("GET", "http://A.example:8080/hello/y").header("Host", "b.example"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/hello/y|y|A.example:8080|b.example");
  const auto other = c.send(request("GET", "http://b.example/hello/y").header("Host", "a.example"));
  EXPECT_EQ(other.body, "any host");
}

TEST(AbsoluteForm, QueryEmptyPathAndUncleanPaths) {
  taut::mux app;
  app.handle("GET /{$}", [](request_context& req, reply& res) {
    res.text(200, "root " + std::string(req.path()) + " " + std::string(req.query_or("q", "-")));
  });
  app.handle("GET /b", [](request_context& req, reply& res) {
    res.text(200, std::string(req.query_or("q", "-")));
  });
  client c(app);
  EXPECT_EQ(c.send(request("GET", "http://example.com")).body, "root / -");
  EXPECT_EQ(c.send(request("GET", "http://example.com?q=1")).body, "root / 1");
  EXPECT_EQ(c.send(request("GET", "https://example.com/b?q=2")).body, "2");
  const auto moved = c.send(request("GET", "http://example.com/a/../b?q=3"));
  EXPECT_EQ(moved.status, 301);
  EXPECT_EQ(moved.header("Location"), "/b?q=3");
}

TEST(AbsoluteForm, WrongMethodIs405AndHeadIsServedByGet) {
  taut::mux app;
  app.handle("GET /hello/{name}", describe);
  client c(app);
  const auto wrong = c.send(request("DELETE", "http://example.com/hello/x"));
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.header("Allow"), "GET, HEAD, OPTIONS");
  const auto head = c.send(request("HEAD", "http://example.com/hello/x"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

TEST(OriginForm, AuthorityIsTheHostField) {
  taut::mux app;
  app.handle("GET /hello/{name}", describe);
  client c(app);
  EXPECT_EQ(c.get("/hello/z").body, "/hello/z|z|example.com|example.com");
}

TEST(ConnectWithoutRoute, Is405WithTheServersMethods) {
  taut::mux app;
  app.handle("GET /hello/{name}", describe);
  app.handle("POST /upload", describe);
  client c(app);
  const auto r = c.send(request("CONNECT", "example.com:443").header("Host", "example.com:443"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, OPTIONS, POST");
  EXPECT_EQ(r.body, "405 Method Not Allowed\n");
  // A refused CONNECT is an ordinary response: the connection goes on.
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(c.get("/hello/w").status, 200);
}

TEST(ConnectWithoutRoute, NeverReachesACatchAllRoute) {
  // A method-less "/" (a file server, a fallback page) must not answer CONNECT: a 2xx would turn
  // the connection into a tunnel.
  taut::mux app;
  app.handle("/", [](request_context&, reply& res) { res.text(200, "fallback"); });
  client c(app);
  const auto r = c.send(request("CONNECT", "[::1]:8443").header("Host", "[::1]:8443"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
}

TEST(OptionsAsterisk, ListsEveryMethodTheServerServes) {
  taut::mux app;
  app.handle("GET /a", describe);
  app.handle("PUT /b/{name}", describe);
  client c(app);
  const auto r = c.options("*");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, OPTIONS, PUT");
  EXPECT_EQ(r.body, "");
}

TEST(SplitAbsoluteForm, AuthorityAndPathAndQuery) {
  const auto parts = taut::split_absolute_form("http://example.com:80/a/b?c=d");
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->scheme, "http");
  EXPECT_EQ(parts->authority, "example.com:80");
  EXPECT_EQ(parts->path_and_query, "/a/b?c=d");
  const auto bare = taut::split_absolute_form("https://[::1]");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->authority, "[::1]");
  EXPECT_EQ(bare->path_and_query, "");
  const auto query = taut::split_absolute_form("http://h?x");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->authority, "h");
  EXPECT_EQ(query->path_and_query, "?x");
  EXPECT_FALSE(taut::split_absolute_form("/a/b"));
  EXPECT_FALSE(taut::split_absolute_form("*"));
  EXPECT_FALSE(taut::split_absolute_form("example.com:443"));
  EXPECT_FALSE(taut::split_absolute_form("mailto:x@example.com"));
}

}  // namespace
