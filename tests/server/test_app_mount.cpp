// A mux mounted under a path prefix, and strip_prefix (Go's http.StripPrefix), through
// taut::testing as a user writes them: the inner routes see the path without the prefix, and the
// inner mux's own answers (404, 405 with Allow, OPTIONS, HEAD, redirects, body limits) hold.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "taut/handler.hpp"
#include "taut/mux.hpp"
#include "taut/testing.hpp"

namespace {

using taut::reply;
using taut::request_context;
using taut::testing::client;
using taut::testing::request;

/// "<path>|<pattern>|<name>=<value>,..." for the route that answered.
void describe(request_context& req, reply& res) {
  std::string text(req.path());
  text.append("|").append(req.pattern()).append("|");
  for (const taut::path_param& p : req.params()) {
    text.append(p.name).append("=").append(p.value).append(",");
  }
  res.text(200, text);
}

/// An API mux as a user would write it on its own, then mount under /api/.
struct api_fixture {
  taut::mux api;
  taut::mux app;
  api_fixture() {
    api.handle("GET /users/{id}", describe);
    api.handle("POST /users", describe);
    api.handle("GET /docs/", describe);
    api.handle("GET /{$}", describe);
    app.handle("GET /{$}", [](request_context&, reply& res) { res.text(200, "home"); });
    app.mount("/api/", api);
  }
};

TEST(Mount, InnerRoutesSeeThePathWithoutThePrefix) {
  api_fixture f;
  client c(f.app);
  auto r = c.get("/api/users/7");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/users/7|GET /users/{id}|id=7,");
  EXPECT_EQ(c.get("/api/users/caf%C3%A9?x=1").body, "/users/caf%C3%A9|GET /users/{id}|id=café,");
  EXPECT_EQ(c.get("/api/").body, "/|GET /{$}|");
  EXPECT_EQ(c.get("/api/docs/a/b").body, "/docs/a/b|GET /docs/|");
  EXPECT_EQ(c.get("/").body, "home");
}

TEST(Mount, QueryReachesTheInnerHandler) {
  taut::mux api;
  api.handle("GET /q", [](request_context& req, reply& res) {
    res.text(200, std::string(req.raw_query()) + " " + std::string(req.query_or("a", "-")));
  });
  taut::mux app;
  app.mount("/v1", api);
  client c(app);
  EXPECT_EQ(c.get("/v1/q?a=b%20c").body, "a=b%20c b c");
}

TEST(Mount, WrongMethodIs405WithTheInnerAllow) {
  api_fixture f;
  client c(f.app);
  const auto r = c.send(request("DELETE", "/api/users/7"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, OPTIONS");
  const auto options = c.options("/api/users");
  EXPECT_EQ(options.status, 204);
  EXPECT_EQ(options.header("Allow"), "OPTIONS, POST");
}

TEST(Mount, HeadIsServedByTheInnerGetWithoutABody) {
  api_fixture f;
  client c(f.app);
  const auto r = c.head("/api/users/7");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.header("Content-Length"),
            std::to_string(std::string("/users/7|GET /users/{id}|id=7,").size()));
}

TEST(Mount, NotFoundInsideIsTheInnerMuxs) {
  api_fixture f;
  f.api.not_found([](request_context& req, reply& res) {
    res.text(404, "no api route for " + std::string(req.path()));
  });
  client c(f.app);
  const auto r = c.get("/api/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no api route for /nothing");
  EXPECT_EQ(c.get("/elsewhere").status, 404);
}

TEST(Mount, RedirectsKeepThePrefix) {
  api_fixture f;
  client c(f.app);
  auto r = c.get("/api");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/api/");
  r = c.get("/api/docs?page=2");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/api/docs/?page=2");
  r = c.get("/api/x/../users/7");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/api/users/7");
}

TEST(Mount, BodyModeAndLimitComeFromTheInnerRoute) {
  taut::mux api;
  api.handle("POST /small", taut::handler([](request_context& req, reply& res) {
                              res.text(200, req.body());
                            }).with_max_body(4));
  taut::mux app;
  app.mount("/api/", api);
  client c(app);
  EXPECT_EQ(c.post("/api/small", "abcd").body, "abcd");
  EXPECT_EQ(c.post("/api/small", "abcdefgh").status, 413);
}

TEST(Mount, MountsNestAndTakeAbsoluteFormTargets) {
  taut::mux users;
  users.handle("GET /{id}", describe);
  taut::mux api;
  api.mount("/users/", users);
  taut::mux app;
  app.mount("/api/", api);
  client c(app);
  EXPECT_EQ(c.get("/api/users/9").body, "/9|GET /{id}|id=9,");
  EXPECT_EQ(c.send(request("GET", "http://example.com/api/users/9")).body, "/9|GET /{id}|id=9,");
  const auto r = c.get("/api/users");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/api/users/");
}

TEST(Mount, PrefixMustBeALiteralPath) {
  taut::mux api;
  taut::mux app;
  EXPECT_THROW(app.mount("api/", api), std::invalid_argument);
  EXPECT_THROW(app.mount("/users/{id}/", api), std::invalid_argument);
  EXPECT_THROW(app.mount("GET /api/", api), std::invalid_argument);
  app.mount("/api/", api);
  EXPECT_THROW(app.mount("/api", api), std::invalid_argument);  // the same subtree again
}

TEST(StripPrefix, InnerHandlerSeesThePathWithoutIt) {
  taut::mux app;
  app.handle("/files/", taut::strip_prefix("/files", describe));
  app.handle("GET /v1/{name}", taut::strip_prefix("/v1/", describe));
  client c(app);
  EXPECT_EQ(c.get("/files/a/b").body, "/a/b|/files/|");
  EXPECT_EQ(c.get("/files/").body, "/|/files/|");
  EXPECT_EQ(c.get("/v1/x").body, "/x|GET /v1/{name}|name=x,");
}

TEST(StripPrefix, RequestNotUnderThePrefixIs404) {
  taut::mux app;
  app.handle("/", taut::strip_prefix("/v1", describe));
  client c(app);
  EXPECT_EQ(c.get("/v1/ok").body, "/ok|/|");
  EXPECT_EQ(c.get("/v2/x").status, 404);
  EXPECT_EQ(c.get("/v1x").status, 404);  // a prefix ends at a segment boundary
}

TEST(StripPrefix, KeepsTheInnerHandlersBodyOptions) {
  const taut::handler inner = taut::handler([](request_context& req, reply& res) {
                                res.text(200, req.body());
                              }).with_max_body(2);
  const taut::handler stripped = taut::strip_prefix("/p", inner);
  ASSERT_TRUE(stripped.options().max_body);
  EXPECT_EQ(*stripped.options().max_body, 2u);
}

}  // namespace
