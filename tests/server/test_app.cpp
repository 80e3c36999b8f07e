// The handler API through taut::testing: routing answers (404, 405 + Allow, HEAD, OPTIONS,
// redirects, 400), what a handler sees (params, query, headers, body, transport), body modes and
// limits, registration errors, deferred answers.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "taut/handler.hpp"
#include "taut/mux.hpp"
#include "taut/status.hpp"
#include "taut/testing.hpp"

namespace {

using taut::reply;
using taut::request_context;
using taut::testing::client;
using taut::testing::request;

/// "<pattern>|<param>=<value>,..." for the route that answered.
void describe(request_context& req, reply& res) {
  std::string text(req.pattern());
  text += '|';
  for (const taut::path_param& p : req.params()) {
    text.append(p.name).append("=").append(p.value).append(",");
  }
  res.text(200, text);
}

TEST(App, RoutesToTheMostSpecificPatternWithDecodedParams) {
  taut::mux app;
  app.handle("GET /items/{id}", describe);
  app.handle("GET /items/new", describe);
  app.handle("/files/{path...}", describe);
  app.handle("GET /{$}", describe);
  client c(app);
  EXPECT_EQ(c.get("/items/42").body, "GET /items/{id}|id=42,");
  EXPECT_EQ(c.get("/items/new").body, "GET /items/new|");
  EXPECT_EQ(c.get("/items/caf%C3%A9").body, "GET /items/{id}|id=café,");
  EXPECT_EQ(c.get("/files/a/b%2Fc").body, "/files/{path...}|path=a/b/c,");
  EXPECT_EQ(c.get("/").body, "GET /{$}|");
  EXPECT_EQ(c.send(request("DELETE", "/files/x")).body, "/files/{path...}|path=x,");
}

TEST(App, RawParamKeepsEscapesAndPathIsClean) {
  taut::mux app;
  app.handle("GET /f/{name}", [](request_context& req, reply& res) {
    const taut::path_param& p = req.params().front();
    res.text(200, std::string(p.raw) + " " + std::string(p.value) + " " + std::string(req.path()));
  });
  client c(app);
  EXPECT_EQ(c.get("/f/a%2Fb").body, "a%2Fb a/b /f/a%2Fb");
}

TEST(App, NotFoundIs404AndCustomizable) {
  taut::mux app;
  app.handle("GET /a", describe);
  client c(app);
  const auto r = c.get("/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "404 Not Found\n");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_TRUE(r.keep_alive);

  app.not_found(
      [](request_context& req, reply& res) { res.text(404, "no " + std::string(req.path())); });
  EXPECT_EQ(c.get("/else").body, "no /else");
}

TEST(App, WrongMethodIs405WithExactlyTheMatchingMethods) {
  taut::mux app;
  app.handle("GET /r", describe);
  app.handle("PUT /r", describe);
  app.handle("DELETE /other", describe);
  client c(app);
  const auto r = c.post("/r", "x");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, OPTIONS, PUT");
  EXPECT_EQ(r.body, "405 Method Not Allowed\n");
  // The unread body was discarded and the connection goes on.
  EXPECT_EQ(c.get("/r").status, 200);
}

TEST(App, UnrecognisedMethodIs501AndACustomRouteMakesItKnown) {
  taut::mux app;
  app.handle("GET /r", describe);
  app.handle("PURGE /cache/{name}", describe);
  app.handle("/any", describe);  // a method-less route takes every method, unknown ones too
  client c(app);
  const auto unknown = c.send(request("FOO", "/r"));
  EXPECT_EQ(unknown.status, 501);
  EXPECT_FALSE(unknown.has_header("Allow"));
  EXPECT_EQ(unknown.body, "501 Not Implemented\n");
  EXPECT_TRUE(unknown.keep_alive);  // an ordinary answer: the connection goes on
  EXPECT_EQ(c.send(request("FOO", "/nothing")).status, 501);
  EXPECT_EQ(c.send(request("FOO", "/any")).status, 200);
  // PURGE is registered (on another path): known, so 405 with Allow here.
  const auto purge = c.send(request("PURGE", "/r"));
  EXPECT_EQ(purge.status, 405);
  EXPECT_EQ(purge.header("Allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(c.send(request("PURGE", "/cache/x")).status, 200);
  // Standard methods the path lacks stay 405, and a body is discarded either way.
  EXPECT_EQ(c.send(request("PATCH", "/r").body("x")).status, 405);
  EXPECT_EQ(c.send(request("BREW", "/r").body("coffee")).status, 501);
  EXPECT_EQ(c.get("/r").status, 200);
}

TEST(App, HeadIsServedByGetWithoutABody) {
  taut::mux app;
  std::vector<taut::method> seen;
  app.handle("GET /doc", [&](request_context& req, reply& res) {
    seen.push_back(req.method());
    res.text(200, "twelve bytes");
  });
  client c(app);
  const auto get = c.get("/doc");
  const auto head = c.head("/doc");
  EXPECT_EQ(seen, (std::vector<taut::method>{taut::method::get, taut::method::head}));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.header("Content-Length"), get.header("Content-Length"));
  EXPECT_EQ(head.header("Content-Length"), "12");
  // The connection is still in step: the next response is read correctly.
  EXPECT_EQ(c.get("/doc").body, "twelve bytes");
}

TEST(App, OptionsIsAnsweredWithAllow) {
  taut::mux app;
  app.handle("GET /x", describe);
  app.handle("POST /x", describe);
  app.handle("DELETE /y", describe);
  client c(app);
  const auto r = c.options("/x");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, OPTIONS, POST");
  const auto star = c.options("*");
  EXPECT_EQ(star.status, 204);
  EXPECT_EQ(star.header("Allow"), "DELETE, GET, HEAD, OPTIONS, POST");
}

TEST(App, UncleanPathsRedirectKeepingTheQuery) {
  taut::mux app;
  app.handle("/b", describe);
  app.handle("GET /dir/", describe);
  client c(app);
  auto r = c.get("/a/../b?x=1");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/b?x=1");
  r = c.get("//b");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/b");
  // Methods with a body keep method and body: 308.
  r = c.post("/./b", "data");
  EXPECT_EQ(r.status, 308);
  EXPECT_EQ(r.header("Location"), "/b");
  r = c.get("/dir");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/dir/");
}

TEST(App, MalformedEscapeIs400) {
  taut::mux app;
  app.handle("/", describe);
  client c(app);
  for (const char* target : {"/a%zz", "/a%2", "/a?q=%x"}) {
    EXPECT_EQ(c.get(target).status, 400) << target;
    c.reconnect();  // the parser refuses these itself, and closes
  }
  EXPECT_EQ(c.get("/fine%20").status, 200);
}

TEST(App, QueryParametersAreDecodedAndLookedUpByName) {
  taut::mux app;
  app.handle("GET /q", [](request_context& req, reply& res) {
    std::string out;
    out += std::string(req.query_or("a", "-")) + "|";
    out += std::string(req.query_or("b", "-")) + "|";
    out += std::string(req.query_or("sp ace", "-")) + "|";
    out += std::string(req.query_or("missing", "-")) + "|";
    out += req.has_query("flag") ? "flag|" : "noflag|";
    out += std::string(req.query_or("b", "-")) + "|";  // twice: same value (decoded once)
    out += std::string(req.raw_query());
    res.text(200, out);
  });
  client c(app);
  EXPECT_EQ(c.get("/q?a=1&b=x%20y+z&sp%20ace=%C3%A9&flag&a=2").body,
            "1|x y z|é|-|flag|x y z|a=1&b=x%20y+z&sp%20ace=%C3%A9&flag&a=2");
  EXPECT_EQ(c.get("/q").body, "-|-|-|-|noflag|-|");
}

TEST(App, QueryParamsIterateEncodedPairs) {
  taut::mux app;
  app.handle("GET /q", [](request_context& req, reply& res) {
    std::string out;
    for (const taut::query_param& p : req.query_params()) {
      out.append(p.name).append("=").append(p.value).append(";");
    }
    res.text(200, out);
  });
  client c(app);
  EXPECT_EQ(c.get("/q?a=1&&b&c=%20=x&").body, "a=1;b=;c=%20=x;");
}

TEST(App, EscapedQueryValueIsAViewWhenNothingToDecode) {
  taut::mux app;
  bool same = false;
  app.handle("GET /q", [&](request_context& req, reply& res) {
    const auto value = req.query("k");
    same = value && value->data() >= req.target().data() &&
           value->data() < req.target().data() + req.target().size();
    res.text(200, "");
  });
  client c(app);
  c.get("/q?k=plain");
  EXPECT_TRUE(same);
}

TEST(App, HeadersAreCaseInsensitive) {
  taut::mux app;
  app.handle("GET /h", [](request_context& req, reply& res) {
    res.text(200, std::string(req.header("x-token")) + "|" + std::string(req.header("X-TOKEN")) +
                      "|" + std::string(req.header("absent")) + "|" +
                      std::to_string(req.headers().size()) + "|" + std::string(req.host()));
  });
  client c(app);
  EXPECT_EQ(c.send(request("GET", "/h").header("X-Token", "abc")).body, "abc|abc||2|example.com");
}

TEST(App, BufferedBodyAndTrailers) {
  taut::mux app;
  app.handle("POST /b", [](request_context& req, reply& res) {
    std::string out(req.body());
    for (const taut::header& t : req.trailers())
      out.append("|").append(t.name).append("=").append(t.value);
    res.text(200, out);
  });
  client c(app);
  EXPECT_EQ(c.post("/b", "hello").body, "hello");
  EXPECT_EQ(c.send(request("POST", "/b").chunked({"ab", "cde"}, {{"X-Sum", "5"}})).body,
            "abcde|X-Sum=5");
}

/// Collects a streamed body and answers with its size and pieces once it ends.
class counting_sink final : public taut::body_sink {
 public:
  explicit counting_sink(reply& res) : writer_(res.detach()) {}
  void on_body_data(std::string_view piece) override {
    ++pieces_;
    bytes_ += piece.size();
  }
  void on_body_end(std::span<const taut::header>) override {
    writer_.send(200, std::to_string(bytes_) + " bytes", "text/plain");
    delete this;
  }
  void on_body_error(std::error_code) override { delete this; }

 private:
  taut::response_writer writer_;
  std::size_t bytes_ = 0;
  int pieces_ = 0;
};

TEST(App, StreamingRouteReceivesTheBodyInPieces) {
  taut::mux app;
  bool body_was_empty = false;
  app.handle("PUT /upload", taut::handler([&](request_context& req, reply& res) {
                              body_was_empty = req.body().empty();
                              auto* sink = new counting_sink(res);
                              if (!req.stream_body(*sink)) delete sink;
                            }).streaming());
  client c(app, {.write_piece = 7});
  const std::string payload(100000, 'p');
  const auto r = c.put("/upload", payload);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "100000 bytes");
  EXPECT_TRUE(body_was_empty);
}

/// A sink that throws from one of its calls; it keeps the writer so that the test drops it.
struct throwing_sink final : taut::body_sink {
  enum class when { data, end, error };
  explicit throwing_sink(when at) : at(at) {}
  void on_body_data(std::string_view) override {
    if (at == when::data) throw std::runtime_error("bad piece");
  }
  void on_body_end(std::span<const taut::header>) override {
    if (at == when::end) throw std::runtime_error("bad end");
    writer.send(200, "whole");
  }
  void on_body_error(std::error_code) override {
    if (at == when::error) throw std::runtime_error("bad error");
  }
  when at;
  taut::response_writer writer;
};

// A sink's exception cannot reach the client's request (it left the handler long ago): it ends
// that connection, which gets no more calls, and the server goes on serving others.
TEST(App, ASinkThatThrowsClosesItsConnectionOnly) {
  for (const throwing_sink::when at :
       {throwing_sink::when::data, throwing_sink::when::end, throwing_sink::when::error}) {
    throwing_sink sink(at);
    taut::mux app;
    app.handle("PUT /upload", taut::handler([&](request_context& req, reply& res) {
                                sink.writer = res.detach();
                                EXPECT_TRUE(req.stream_body(sink));
                              }).streaming());
    app.handle("GET /ok", [](request_context&, reply& res) { res.text(200, "ok"); });
    client c(app);
    if (at == throwing_sink::when::error) {
      c.write_raw(
          "PUT /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
          "3\r\nabc\r\nzz\r\n");  // not a chunk size: the body fails
    } else {
      c.write_raw("PUT /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    }
    const auto r = c.read();
    EXPECT_NE(r.status, 200) << static_cast<int>(at);
    EXPECT_TRUE(c.closed()) << static_cast<int>(at);
    c.reconnect();
    EXPECT_EQ(c.get("/ok").body, "ok") << static_cast<int>(at);
    sink.writer = {};
  }
}

TEST(App, RouteBodyLimitRefusesBeforeReading) {
  taut::mux app;
  int calls = 0;
  app.handle("POST /small", taut::handler([&](request_context&, reply& res) {
                              ++calls;
                              res.text(200, "ok");
                            }).with_max_body(4));
  client c(app);
  EXPECT_EQ(c.post("/small", "1234").status, 200);
  const auto r = c.post("/small", "12345");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(calls, 1);
  // A client waiting for 100 Continue is refused without being asked for the body.
  c.reconnect();
  const auto refused = c.send(
      request("POST", "/small").header("Expect", "100-continue").header("Content-Length", "10"));
  EXPECT_EQ(refused.status, 413);
  EXPECT_TRUE(refused.informational.empty());
}

TEST(App, ExpectContinueIsAnsweredForABufferingRoute) {
  taut::mux app;
  app.handle("POST /up", [](request_context& req, reply& res) { res.text(200, req.body()); });
  client c(app);
  c.write_raw("POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  c.write_raw("abc");
  const auto r = c.read();
  EXPECT_EQ(r.informational, std::vector<int>{100});
  EXPECT_EQ(r.body, "abc");
}

TEST(App, HandlerSeesTheMemoryTransport) {
  taut::mux app;
  app.handle("GET /who", [](request_context& req, reply& res) {
    const auto remote = req.remote_address();
    res.text(200,
             std::string(req.transport() == taut::transport::transport_kind::memory ? "memory "
                                                                                    : "other ") +
                 (remote ? remote->to_string() : std::string("?")));
  });
  client c(app);
  const auto r = c.get("/who");
  EXPECT_EQ(r.body.substr(0, 14), "memory memory:");
}

TEST(App, HostPatternsBeatHostlessOnes) {
  taut::mux app;
  app.handle("GET api.example.com/v/{x}", describe);
  app.handle("GET /v/{x}", describe);
  client c(app);
  EXPECT_EQ(c.send(request("GET", "/v/1").header("Host", "API.example.com:8080")).body,
            "GET api.example.com/v/{x}|x=1,");
  EXPECT_EQ(c.send(request("GET", "/v/2").header("Host", "other.example.com")).body,
            "GET /v/{x}|x=2,");
}

TEST(App, AnyMethodTokenRoutes) {
  taut::mux app;
  app.handle("PROPFIND /dav/{x}", describe);
  client c(app);
  const auto r = c.send(request("PROPFIND", "/dav/1"));
  EXPECT_EQ(r.body, "PROPFIND /dav/{x}|x=1,");
  EXPECT_EQ(c.get("/dav/1").status, 405);
}

TEST(App, RegistrationErrorsNameThePatterns) {
  taut::mux app;
  app.handle("GET /a/{x}", describe);
  try {
    app.handle("GET /{y}/b", describe);
    FAIL() << "conflict accepted";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("/a/{x}"), std::string::npos) << what;
    EXPECT_NE(what.find("/{y}/b"), std::string::npos) << what;
  }
  EXPECT_EQ(app.try_handle("GET /a/{x", describe).code(), taut::route_errc::invalid_pattern);
  EXPECT_EQ(app.try_handle("GET /ok", taut::handler()).code(), taut::route_errc::invalid_pattern);
  EXPECT_FALSE(app.try_handle("GET /ok", describe));
}

TEST(App, PipelinedRequestsAreAnsweredInOrder) {
  taut::mux app;
  app.handle("GET /n/{n}", [](request_context& req, reply& res) { res.text(200, req.param("n")); });
  client c(app);
  c.write_raw(
      "GET /n/1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /n/22 HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /n/333 HTTP/1.1\r\nHost: h\r\n\r\n");
  const auto all = c.read_all();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].body, "1");
  EXPECT_EQ(all[1].body, "");
  EXPECT_EQ(all[1].header("Content-Length"), "2");
  EXPECT_EQ(all[2].body, "333");
}

TEST(App, OneByteWritesAndReads) {
  taut::mux app;
  app.handle("POST /e/{k}", [](request_context& req, reply& res) {
    res.text(200, std::string(req.param("k")) + ":" + std::string(req.body()) + ":" +
                      std::string(req.query_or("q", "")));
  });
  client c(app, {.write_piece = 1, .read_piece = 1});
  EXPECT_EQ(c.post("/e/k%20?q=v+w", "body").body, "k :body:v w");
  EXPECT_EQ(c.post("/e/z", "").body, "z::");
}

TEST(App, DeferredReplyFinishesFromAnotherThread) {
  taut::mux app;
  std::thread worker;
  app.handle("GET /slow/{v}", [&](request_context& req, reply& res) {
    taut::deferred_response later(res.detach());
    worker = std::thread([later = std::move(later), v = std::string(req.param("v"))]() mutable {
      later.send(200, "late " + v, "text/plain");
    });
  });
  client c(app);
  c.write(request("GET", "/slow/1"));
  const auto r = c.read_within(std::chrono::seconds(10));
  worker.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "late 1");
}

TEST(App, UnfinishedReplyIsCompletedByTheConnection) {
  taut::mux app;
  app.handle("GET /nothing", [](request_context&, reply&) {});
  // Status and fields only held, never sent: a plain 500 without them, the connection kept.
  app.handle("GET /head-only", [](request_context&, reply& res) {
    res.header("X-Secret", "s3");
    res.status(201);
  });
  app.handle("GET /begun", [](request_context&, reply& res) {
    res.header("X-A", "1");
    res.begin();
    res.write("part");
  });
  client c(app);
  EXPECT_EQ(c.get("/nothing").status, 500);
  const auto r = c.get("/head-only");
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(r.has_header("X-Secret"));
  EXPECT_EQ(r.body, "500 Internal Server Error\n");
  EXPECT_TRUE(r.keep_alive);
  // Once the head is out, the body is cut short: the client sees an incomplete response.
  EXPECT_EQ(c.get("/begun").status, 0);
  EXPECT_TRUE(c.closed());
}

TEST(App, DeferredReplyDroppedAfterFieldsAnswersAPlain500) {
  taut::mux app;
  std::thread worker;
  app.handle("GET /drop", [&](request_context&, reply& res) {
    res.header("Cache-Control", "public, max-age=86400");
    taut::deferred_response later(res.detach());
    worker = std::thread([later = std::move(later)]() mutable {
      taut::deferred_response dropped = std::move(later);
    });
  });
  client c(app);
  c.write(request("GET", "/drop"));
  const auto r = c.read_within(std::chrono::seconds(10));
  worker.join();
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(r.has_header("Cache-Control"));
}

TEST(App, RedirectRefusesALocationNoUriReferenceHas) {
  taut::mux app;
  app.handle("GET /bad", [](request_context&, reply& res) {
    EXPECT_FALSE(res.redirect(302, "/a b"));
    EXPECT_FALSE(res.redirect(302, "/tab\there"));
    EXPECT_FALSE(res.redirect(302, "/caf\xc3\xa9"));  // non-ASCII must be percent-encoded
    EXPECT_FALSE(res.started());
    EXPECT_TRUE(res.redirect(303, "https://example.com/caf%C3%A9?q=1#top"));
  });
  client c(app);
  const auto r = c.get("/bad");
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(r.header("Location"), "https://example.com/caf%C3%A9?q=1#top");
}

TEST(App, ReplyHelpers) {
  taut::mux app;
  app.handle("GET /json", [](request_context&, reply& res) { res.json(201, "{\"a\":1}"); });
  app.handle("GET /html", [](request_context&, reply& res) { res.html(200, "<p>x</p>"); });
  app.handle("GET /go", [](request_context&, reply& res) { res.redirect(302, "/there"); });
  app.handle("GET /teapot", [](request_context&, reply& res) { res.error(418); });
  app.handle("GET /chunks", [](request_context&, reply& res) {
    res.begin();
    res.write("ab");
    res.write("cd");
    const taut::header trailer{"X-Count", "2"};
    res.finish(std::span(&trailer, 1));
    EXPECT_EQ(res.body_bytes(), 4u);
    EXPECT_TRUE(res.finished());
  });
  client c(app);
  auto r = c.get("/json");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  r = c.get("/html");
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  r = c.get("/go");
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.header("Location"), "/there");
  EXPECT_EQ(r.body, "Found\n");
  r = c.get("/teapot");
  EXPECT_EQ(r.status, 418);
  EXPECT_EQ(r.body, "418 I'm a teapot\n");
  r = c.get("/chunks");
  EXPECT_EQ(r.framing, taut::body_kind::chunked);
  EXPECT_EQ(r.body, "abcd");
  ASSERT_EQ(r.trailers.size(), 1u);
  EXPECT_EQ(r.trailers[0].value, "2");
}

}  // namespace

// Every answer the connection gives by itself (a request it cannot take or an expectation it
// cannot meet, a timeout, a body over
// the limit, a handler that never answered, the drain deadline) reads like reply::error(): the
// body "<status> <reason>\n", text/plain in UTF-8 and nosniff, as a handler's own error(413).
TEST(App, TheConnectionsOwnErrorAnswersReadLikeReplyError) {
  taut::mux app;
  app.handle("GET /error/{code}", [](request_context& req, reply& res) {
    res.error(std::stoi(std::string(req.param("code"))));
  });
  app.handle("POST /upload", [](request_context& req, reply& res) { res.text(200, req.body()); });
  app.handle("GET /silent", [](request_context&, reply&) {});
  taut::response_writer held;
  app.handle("GET /hold", [&held](request_context&, reply& res) { held = res.detach(); });
  taut::testing::server_options options;
  options.loop.connection.max_body_bytes = 16;
  options.loop.connection.parse.max_request_line = 256;
  options.loop.connection.parse.max_header_bytes = 512;
  options.loop.drain_timeout = std::chrono::seconds(1);

  struct answer {
    int status;
    taut::testing::response response;
  };
  std::vector<answer> answers;
  auto raw = [&](int status, const std::string& bytes) {
    client c(app, {}, options);
    c.write_raw(bytes);
    answers.push_back({status, c.read()});
  };
  raw(400, "GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n");
  raw(413, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n");
  raw(414, "GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n");
  raw(431, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(600, 'b') + "\r\n\r\n");
  raw(501, "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
  raw(505, "GET / HTTP/2.0\r\nHost: a\r\n\r\n");
  raw(417, "GET / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n");
  raw(500, "GET /silent HTTP/1.1\r\nHost: a\r\n\r\n");
  {
    client c(app, {}, options);
    c.write_raw("GET / HTTP/1.1\r\nHost: a\r\n");  // the head never ends
    c.advance(std::chrono::seconds(11));
    answers.push_back({408, c.read()});
  }
  {
    client c(app, {}, options);
    c.write_raw("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_TRUE(held.valid());
    c.server().shutdown();
    c.advance(std::chrono::seconds(2));  // past the drain deadline: the unanswered get 503
    answers.push_back({503, c.read()});
    held = {};
  }
  ASSERT_EQ(answers.size(), 10u);
  for (const answer& a : answers) {
    SCOPED_TRACE(a.status);
    EXPECT_EQ(a.response.status, a.status) << a.response.error;
    const std::string body =
        std::to_string(a.status) + " " + std::string(taut::reason_phrase(a.status)) + "\n";
    EXPECT_EQ(a.response.body, body);
    EXPECT_EQ(a.response.header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(a.response.header("X-Content-Type-Options"), "nosniff");
    // A handler's reply::error() of the same status: the same body and fields.
    client c(app);
    const auto handler = c.get("/error/" + std::to_string(a.status));
    EXPECT_EQ(handler.status, a.status);
    EXPECT_EQ(handler.body, a.response.body);
    EXPECT_EQ(handler.header("Content-Type"), a.response.header("Content-Type"));
    EXPECT_EQ(handler.header("X-Content-Type-Options"),
              a.response.header("X-Content-Type-Options"));
  }
}

// RFC 9110 section 10.1.1: an Expect other than 100-continue is an expectation the server cannot
// meet: 417 and a close (as Go's server answers), the handler never called. 100-continue (any
// case) and an empty Expect ask for nothing else, and the request is served.
TEST(App, AnExpectationOtherThan100ContinueIs417) {
  int calls = 0;
  taut::mux app;
  app.handle("/", [&calls](request_context&, reply& res) {
    ++calls;
    res.text(200, "served");
  });
  for (const char* expect : {"foo", "100-continue, foo", "200-ok"}) {
    SCOPED_TRACE(expect);
    client c(app);
    const auto r = c.send(request("POST", "/x").header("Expect", expect).body("abc"));
    EXPECT_EQ(r.status, 417);
    EXPECT_EQ(r.body, "417 Expectation Failed\n");
    EXPECT_EQ(r.header("Connection"), "close");
    EXPECT_TRUE(c.closed());
  }
  {
    client c(app);  // a second Expect line says more than the first
    const auto r =
        c.send(request("GET", "/x").header("Expect", "100-continue").header("Expect", "something"));
    EXPECT_EQ(r.status, 417);
  }
  EXPECT_EQ(calls, 0);
  client c(app);
  EXPECT_EQ(c.send(request("POST", "/x").header("Expect", "100-Continue").body("abc")).status, 200);
  EXPECT_EQ(c.send(request("GET", "/x").header("Expect", "")).status, 200);
  EXPECT_EQ(c.get("/x").status, 200);
  EXPECT_EQ(calls, 3);
}
