// Middleware through taut::testing: logging lines, recover's 500 (keeping the connection),
// limit_body, composition keeping the inner handler's body options.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "taut/middleware.hpp"
#include "taut/mux.hpp"
#include "taut/testing.hpp"

namespace {

using taut::reply;
using taut::request_context;
using taut::testing::client;
using taut::testing::request;

/// A FILE* writing into memory (open_memstream), read back with text().
class memory_file {
 public:
  memory_file() : file_(open_memstream(&data_, &size_)) {}
  ~memory_file() {
    std::fclose(file_);
    std::free(data_);
  }
  memory_file(const memory_file&) = delete;
  memory_file& operator=(const memory_file&) = delete;
  std::FILE* get() const { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::FILE* file_;
};

TEST(Middleware, LoggingWritesACommonLogFormatLine) {
  memory_file log;
  taut::mux app;
  app.handle("GET /hi", taut::logging(log.get(), [](request_context&, reply& res) {
               res.text(200, "hello");
             }));
  client c(app);
  EXPECT_EQ(c.get("/hi?x=1").body, "hello");
  const std::string line = log.text();
  // The memory transport's peer is "memory:N"; CLF's date; the request line; status; bytes; time.
  const std::regex clf(
      R"(^memory:\d+ - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /hi\?x=1 HTTP/1\.1" 200 5 \d+\.\d{6}\n$)");
  EXPECT_TRUE(std::regex_match(line, clf)) << line;
}

TEST(Middleware, LoggingMarksDetachedRepliesAndRethrows) {
  memory_file log;
  taut::mux app;
  app.handle("GET /later", taut::logging(log.get(), [](request_context&, reply& res) {
               taut::response_writer w = res.detach();
               w.send(202, "later", "text/plain");
             }));
  app.handle("GET /throw", taut::logging(log.get(), [](request_context&, reply&) {
               throw std::runtime_error("boom");
             }));
  client c(app);
  EXPECT_EQ(c.get("/later").status, 202);
  EXPECT_NE(log.text().find("\"GET /later HTTP/1.1\" - -"), std::string::npos) << log.text();
  EXPECT_EQ(c.get("/throw").status, 500);  // the connection's own answer
  EXPECT_NE(log.text().find("\"GET /throw HTTP/1.1\" 500 -"), std::string::npos) << log.text();
}

TEST(Middleware, RecoverAnswers500AndKeepsTheConnection) {
  memory_file log;
  taut::mux app;
  app.handle(
      "GET /boom",
      taut::recover([](request_context&, reply&) { throw std::runtime_error("database on fire"); },
                    log.get()));
  app.handle("GET /ok", [](request_context&, reply& res) { res.text(200, "fine"); });
  client c(app);
  const auto r = c.get("/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "500 Internal Server Error\n");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_NE(log.text().find("GET /boom threw: database on fire"), std::string::npos) << log.text();
  EXPECT_FALSE(c.closed());
  EXPECT_EQ(c.get("/ok").body, "fine");
}

TEST(Middleware, WithoutRecoverTheConnectionCloses) {
  taut::mux app;
  app.handle("GET /boom", [](request_context&, reply&) { throw std::runtime_error("x"); });
  client c(app);
  const auto r = c.get("/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.closed());
}

TEST(Middleware, RecoverAfterTheHeadEndsTheResponseAndTheConnection) {
  taut::mux app;
  app.handle("GET /half", taut::recover(
                              [](request_context&, reply& res) {
                                res.begin(10);
                                res.write("12345");
                                throw std::logic_error("half way");
                              },
                              nullptr));
  client c(app);
  const auto r = c.get("/half");
  // The client sees the declared length cut short: an error, not a complete response.
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(c.closed());
}

// A chunked body has no declared length: only a missing last chunk and the close tell the client
// that it was cut short. recover() must not write that last chunk after a failure.
TEST(Middleware, RecoverAfterAChunkedHeadCutsTheBodyShort) {
  taut::mux app;
  app.handle("GET /half", taut::recover(
                              [](request_context&, reply& res) {
                                res.begin();
                                res.write("12345");
                                throw std::logic_error("half way");
                              },
                              nullptr));
  app.handle("GET /whole", taut::recover(
                               [](request_context&, reply& res) {
                                 res.begin(5);
                                 res.write("12345");
                                 throw std::logic_error("after the last byte");
                               },
                               nullptr));
  client c(app);
  const auto r = c.get("/half");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(c.closed());
  // Every declared byte was written before the failure: the response is whole (its head went out
  // before the failure, so only the close says the connection ends).
  c.reconnect();
  const auto whole = c.get("/whole");
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, "12345");
  EXPECT_TRUE(c.closed());
}

TEST(Middleware, RecoverCatchesNonStandardExceptions) {
  taut::mux app;
  app.handle("GET /int", taut::recover([](request_context&, reply&) { throw 42; }, nullptr));
  client c(app);
  EXPECT_EQ(c.get("/int").status, 500);
  EXPECT_FALSE(c.closed());
}

TEST(Middleware, LimitBodyRefusesLargerBodiesBeforeTheHandler) {
  taut::mux app;
  int calls = 0;
  app.handle("POST /up", taut::limit_body(8, [&](request_context& req, reply& res) {
               ++calls;
               res.text(200, req.body());
             }));
  client c(app);
  EXPECT_EQ(c.post("/up", "12345678").body, "12345678");
  EXPECT_EQ(c.post("/up", "123456789").status, 413);
  EXPECT_EQ(calls, 1);
  // Chunked: the limit applies to the decoded size as it arrives.
  c.reconnect();
  const auto r = c.send(request("POST", "/up").chunked({"12345", "67890"}));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(calls, 1);
}

TEST(Middleware, LimitBodyRaisesTheServerLimitForOneRoute) {
  taut::testing::server_options options;
  options.loop.connection.max_body_bytes = 4;
  taut::mux app;
  app.handle("POST /big", taut::limit_body(64, [](request_context& req, reply& res) {
               res.text(200, std::to_string(req.body().size()));
             }));
  app.handle("POST /small", [](request_context& req, reply& res) {
    res.text(200, std::to_string(req.body().size()));
  });
  client c(app, {}, options);
  EXPECT_EQ(c.post("/big", std::string(64, 'x')).body, "64");
  EXPECT_EQ(c.post("/small", "12345").status, 413);
}

TEST(Middleware, InnerLimitIsKeptWhenSmaller) {
  const taut::handler inner =
      taut::handler([](request_context&, reply& res) { res.text(200, ""); }).with_max_body(10);
  EXPECT_EQ(taut::limit_body(100, inner).options().max_body, 10u);
  EXPECT_EQ(taut::limit_body(5, inner).options().max_body, 5u);
}

TEST(Middleware, CompositionKeepsTheStreamingMode) {
  memory_file log;
  const taut::handler inner =
      taut::handler([](request_context&, reply& res) { res.text(200, ""); }).streaming();
  const taut::handler wrapped = taut::recover(taut::logging(log.get(), taut::limit_body(5, inner)));
  EXPECT_EQ(wrapped.options().body, taut::body_mode::stream);
  EXPECT_EQ(wrapped.options().max_body, 5u);
}

TEST(Middleware, ComposedChainServes) {
  memory_file log;
  taut::mux app;
  app.handle("POST /chain",
             taut::recover(
                 taut::logging(log.get(), taut::limit_body(3,
                                                           [](request_context& req, reply& res) {
                                                             if (req.body() == "bad")
                                                               throw std::runtime_error("bad body");
                                                             res.text(200, req.body());
                                                           })),
                 nullptr));
  client c(app);
  EXPECT_EQ(c.post("/chain", "abc").body, "abc");
  EXPECT_EQ(c.post("/chain", "bad").status, 500);
  EXPECT_EQ(c.post("/chain", "toolong").status, 413);
  const std::string text = log.text();
  EXPECT_NE(text.find("\"POST /chain HTTP/1.1\" 200 3"), std::string::npos) << text;
  EXPECT_NE(text.find("\"POST /chain HTTP/1.1\" 500 -"), std::string::npos) << text;
}

}  // namespace

namespace {

/// The middleware a user writes first: no token, no entry (RFC 9110 section 11.6.1).
taut::handler require_token(taut::handler next) {
  const taut::handler_options options = next.options();
  return taut::handler(
      [next = std::move(next)](request_context& request, reply& response) {
        if (request.header("Authorization").empty()) {
          response.header("WWW-Authenticate", "Bearer");
          response.error(401);
          return;
        }
        next(request, response);
      },
      options);
}

TEST(Middleware, HeaderThenErrorSendsTheErrorWithTheHeader) {
  taut::mux app;
  app.handle("GET /secret",
             require_token([](request_context&, reply& res) { res.text(200, "the secret"); }));
  client c(app);
  const auto refused = c.get("/secret");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.header("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(refused.body, "401 Unauthorized\n");
  const auto allowed = c.send(request("GET", "/secret").header("Authorization", "Bearer t"));
  EXPECT_EQ(allowed.status, 200);
  EXPECT_EQ(allowed.body, "the secret");
}

TEST(Reply, StatusAfterHeadersIsHonoured) {
  taut::mux app;
  app.handle("GET /made", [](request_context&, reply& res) {
    EXPECT_TRUE(res.header("Location", "/made/1"));
    EXPECT_TRUE(res.status(201));
    EXPECT_EQ(res.status_code(), 201);
    EXPECT_TRUE(res.send("made"));
  });
  client c(app);
  const auto made = c.get("/made");
  EXPECT_EQ(made.status, 201);
  EXPECT_EQ(made.header("Location"), "/made/1");
  EXPECT_EQ(made.body, "made");
}

// A failure before the head is written answers a plain 500: the fields the handler set for the
// success that never came (a day's Cache-Control, a Set-Cookie, a secret) and its status are
// dropped, and with recover() the connection stays usable.
TEST(Middleware, RecoverDropsTheFieldsAndStatusSetBeforeTheFailure) {
  taut::mux app;
  app.handle("GET /rfail", taut::recover(
                               [](request_context&, reply& res) {
                                 EXPECT_TRUE(res.header("Cache-Control", "public, max-age=86400"));
                                 EXPECT_TRUE(res.header("Set-Cookie", "sid=1"));
                                 EXPECT_TRUE(res.status(201));
                                 EXPECT_FALSE(res.started());
                                 throw std::runtime_error("db down");
                               },
                               nullptr));
  app.handle("GET /ok", [](request_context&, reply& res) { res.text(200, "fine"); });
  client c(app);
  const auto r = c.get("/rfail");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "500 Internal Server Error\n");
  EXPECT_FALSE(r.has_header("Cache-Control"));
  EXPECT_FALSE(r.has_header("Set-Cookie"));
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(c.closed());
  EXPECT_EQ(c.get("/ok").body, "fine");
}

TEST(Middleware, WithoutRecoverAFailureAfterFieldsAnswersAPlain500AndCloses) {
  taut::mux app;
  app.handle("GET /throw", [](request_context&, reply& res) {
    res.header("Set-Cookie", "sid=1");
    res.header("X-Secret", "s3");
    res.status(201);
    throw std::runtime_error("boom");
  });
  client c(app);
  const auto r = c.get("/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(r.has_header("Set-Cookie"));
  EXPECT_FALSE(r.has_header("X-Secret"));
  EXPECT_EQ(r.body, "500 Internal Server Error\n");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.closed());
}

TEST(Middleware, LoggingCountsAFailureAfterFieldsAs500) {
  memory_file log;
  taut::mux app;
  app.handle("GET /f", taut::recover(taut::logging(log.get(),
                                                   [](request_context&, reply& res) {
                                                     res.status(201);
                                                     res.header("X-A", "1");
                                                     throw std::runtime_error("x");
                                                   }),
                                     nullptr));
  client c(app);
  EXPECT_EQ(c.get("/f").status, 500);
  EXPECT_NE(log.text().find("\"GET /f HTTP/1.1\" 500 -"), std::string::npos) << log.text();
}

// A handler that returns without answering gets the connection's plain 500: the log says so,
// not the 200 (or the status it held) that never went out.
TEST(Middleware, LoggingCountsAnUnansweredReplyAs500) {
  memory_file log;
  taut::mux app;
  app.handle("GET /forgot", taut::logging(log.get(), [](request_context&, reply& res) {
               res.status(201);
               res.header("X-A", "1");
             }));
  client c(app);
  EXPECT_EQ(c.get("/forgot").status, 500);
  EXPECT_NE(log.text().find("\"GET /forgot HTTP/1.1\" 500 -"), std::string::npos) << log.text();
}

TEST(Reply, ResetForgetsHeldStatusAndFieldsOnly) {
  taut::mux app;
  app.handle("GET /r", [](request_context&, reply& res) {
    res.status(404);
    res.header("X-Gone", "1");
    EXPECT_TRUE(res.reset());
    EXPECT_EQ(res.status_code(), 200);
    res.header("X-Kept", "1");
    res.text(200, "again");
    EXPECT_FALSE(res.reset());  // the head is out
  });
  client c(app);
  const auto r = c.get("/r");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.has_header("X-Gone"));
  EXPECT_EQ(r.header("X-Kept"), "1");
  EXPECT_EQ(r.body, "again");
}

// RFC 9110 section 5.3: a field that is not a list has one line. For these a later set replaces
// an earlier one; a convenience's default Content-Type yields to the handler's own; lists and
// Set-Cookie still add lines.
TEST(Reply, SingletonFieldsAreNeverSentTwice) {
  taut::mux app;
  app.handle("GET /json", [](request_context&, reply& res) {
    res.header("Content-Type", "application/json");
    res.text(200, "{}");
  });
  app.handle("GET /send", [](request_context&, reply& res) {
    res.header("content-type", "text/html");
    res.send(200, "x", "text/plain");
  });
  app.handle("GET /redirect", [](request_context&, reply& res) {
    res.header("Location", "/first");
    res.redirect(302, "/second");
  });
  app.handle("GET /server", [](request_context&, reply& res) {
    res.header("Server", "mine");
    res.header("Server", "second");
    res.text(200, "s");
  });
  app.handle("GET /lists", [](request_context&, reply& res) {
    res.header("Set-Cookie", "a=1");
    res.header("X-Other", "keep");
    res.header("ETag", "\"1\"");
    res.header("Set-Cookie", "b=2");
    res.header("Vary", "Accept");
    res.header("ETag", "\"2\"");
    res.header("Vary", "Origin");
    res.json(200, "[]");
  });
  client c(app);
  const auto json = c.get("/json");
  EXPECT_EQ(json.header_count("Content-Type"), 1u);
  EXPECT_EQ(json.header("Content-Type"), "application/json");
  const auto send = c.get("/send");
  EXPECT_EQ(send.header_count("Content-Type"), 1u);
  EXPECT_EQ(send.header("Content-Type"), "text/plain");
  const auto redirect = c.get("/redirect");
  EXPECT_EQ(redirect.status, 302);
  EXPECT_EQ(redirect.header_count("Location"), 1u);
  EXPECT_EQ(redirect.header("Location"), "/second");
  const auto server = c.get("/server");
  EXPECT_EQ(server.header_count("Server"), 1u);
  EXPECT_EQ(server.header("Server"), "second");
  const auto lists = c.get("/lists");
  EXPECT_EQ(lists.header_count("Set-Cookie"), 2u);
  EXPECT_EQ(lists.header_count("Vary"), 2u);
  EXPECT_EQ(lists.header_count("ETag"), 1u);
  EXPECT_EQ(lists.header("ETag"), "\"2\"");
  EXPECT_EQ(lists.header("X-Other"), "keep");
  EXPECT_EQ(lists.header("Content-Type"), "application/json");
  EXPECT_EQ(lists.body, "[]");
}

// Every field that is not a list, in either case, keeps one line (the last set); names of the
// same lengths that are lists, or no known field at all, keep every line.
TEST(Reply, EverySingletonFieldIsReplacedAndNoOtherField) {
  const std::vector<std::string> singletons = {"Content-Type",
                                               "Location",
                                               "Server",
                                               "ETag",
                                               "Last-Modified",
                                               "Expires",
                                               "Retry-After",
                                               "Age",
                                               "Content-Range",
                                               "Content-Location",
                                               "Access-Control-Allow-Origin",
                                               "Access-Control-Allow-Credentials",
                                               "Access-Control-Max-Age",
                                               "Strict-Transport-Security",
                                               "X-Content-Type-Options",
                                               "X-Frame-Options"};
  // The same lengths as singletons, one byte apart, and common list fields.
  const std::vector<std::string> lists = {"Content-Typf",
                                          "Locatioo",
                                          "Servee",
                                          "ETaf",
                                          "Vary",
                                          "Via",
                                          "Cache-Control",
                                          "Access-Control-Allow-Originn",
                                          "Access-Control-Allow-Credential",
                                          "X-Frame-Optionz",
                                          "Content-Language",
                                          "Access-Control-Max-Agf",
                                          "X-Content-Type-Optionz"};
  auto upper = [](std::string text) {
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
  };
  taut::mux app;
  app.handle("GET /fields", [&](request_context&, reply& res) {
    for (const auto& name : singletons) EXPECT_TRUE(res.header(name, "first"));
    for (const auto& name : lists) EXPECT_TRUE(res.header(name, "a"));
    for (const auto& name : singletons) EXPECT_TRUE(res.header(upper(name), "second"));
    for (const auto& name : lists) EXPECT_TRUE(res.header(upper(name), "b"));
    res.send("f");
  });
  client c(app);
  const auto r = c.get("/fields");
  EXPECT_EQ(r.status, 200);
  for (const auto& name : singletons) {
    EXPECT_EQ(r.header_count(name), 1u) << name;
    EXPECT_EQ(r.header(name), "second") << name;
  }
  for (const auto& name : lists) EXPECT_EQ(r.header_count(name), 2u) << name;
  EXPECT_EQ(r.body, "f");
}

// The held lines are cut out across the connection's output blocks: many long fields, the
// replaced one among them, still come out whole and in order.
TEST(Reply, ReplacingASingletonAmongManyLongFieldsKeepsTheOthersWhole) {
  taut::mux app;
  const std::string long_value(3000, 'v');
  app.handle("GET /many", [&](request_context&, reply& res) {
    for (int i = 0; i < 8; ++i) {
      res.header("X-F" + std::to_string(i), long_value + std::to_string(i));
      if (i == 2) res.header("Content-Location", "/old");
    }
    res.header("Content-Location", "/new");
    res.text(200, "m");
  });
  client c(app);
  const auto r = c.get("/many");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header_count("Content-Location"), 1u);
  EXPECT_EQ(r.header("Content-Location"), "/new");
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(r.header("X-F" + std::to_string(i)), long_value + std::to_string(i));
  }
  EXPECT_EQ(r.body, "m");
}

// redirect() and error() keep to their documented codes: anything else sends nothing, so the
// handler can still answer, and never a 200 dressed as a redirect or an error.
TEST(Reply, RedirectAndErrorRefuseCodesOutsideTheirRange) {
  taut::mux app;
  app.handle("GET /r", [](request_context&, reply& res) {
    EXPECT_FALSE(res.redirect(200, "/x"));
    EXPECT_FALSE(res.redirect(300, "/x"));
    EXPECT_FALSE(res.redirect(404, "/x"));
    EXPECT_FALSE(res.error(200));
    EXPECT_FALSE(res.error(302));
    EXPECT_FALSE(res.error(600));
    EXPECT_FALSE(res.started());
    EXPECT_TRUE(res.redirect(308, "/y"));
  });
  app.handle("GET /e", [](request_context&, reply& res) {
    EXPECT_FALSE(res.error(399));
    EXPECT_TRUE(res.error(599));
  });
  client c(app);
  const auto r = c.get("/r");
  EXPECT_EQ(r.status, 308);
  EXPECT_EQ(r.header("Location"), "/y");
  EXPECT_EQ(c.get("/e").status, 599);
}

}  // namespace
