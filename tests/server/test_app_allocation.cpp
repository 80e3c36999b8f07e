// No heap allocation per request on the mux's path: routing, parameters, query look-ups, header
// look-ups, the reply helpers and the automatic answers, driven through a sans-I/O connection
// (the test client would allocate itself). Replaces the global operator new to count, so it is an
// executable of its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

#include "counting_new.hpp"
#include "taut/buffer_pool.hpp"
#include "taut/connection.hpp"
#include "taut/date_cache.hpp"
#include "taut/mux.hpp"

namespace taut {
namespace {

using namespace std::chrono_literals;

/// Routes of every shape the mux answers: params, query look-ups (plain and escaped), a buffered
/// body, and the automatic answers (404, 405, redirect, OPTIONS).
void build(mux& app) {
  app.handle("GET /plaintext",
             [](request_context&, reply& res) { res.send(200, "Hello, World!", "text/plain"); });
  app.handle("GET /users/{id}/posts/{post}", [](request_context& req, reply& res) {
    res.status(200);
    res.header("X-Id", req.param("id"));
    res.header("X-Post", req.param("post"));
    res.header("X-Q", req.query_or("q", "none"));
    res.header("X-Sort", req.query_or("sort", "none"));
    res.header("X-Agent", req.header("user-agent"));
    res.send("ok");
  });
  app.handle("POST /echo", [](request_context& req, reply& res) {
    res.send(200, req.body(), "application/octet-stream");
  });
  app.handle("GET /files/{path...}",
             [](request_context& req, reply& res) { res.text(200, req.param("path")); });
  app.handle("PUT /only-put", [](request_context&, reply& res) { res.text(200, "put"); });
}

class Allocation : public ::testing::Test {
 protected:
  Allocation() { build(app); }

  block_pool pool{8192};
  date_cache date{std::chrono::system_clock::time_point(1700000000s)};
  mux app;
  connection_context context{app, pool, date, unlimited()};
  std::chrono::steady_clock::time_point now{1000s};
  std::string output;

  static connection_options unlimited() {
    connection_options options;
    options.max_requests = 0;
    return options;
  }

  /// Sends `requests`, drains the output into `output` (reserved: no allocation).
  void round_trip(connection& conn, std::string_view requests) {
    output.clear();
    std::size_t offset = 0;
    while (offset < requests.size()) {
      const std::size_t taken = conn.receive(requests.substr(offset), now);
      offset += taken;
      while (conn.wants().write) {
        const std::string_view piece = conn.output();
        output.append(piece.substr(0, std::min(piece.size(), output.capacity() - output.size())));
        conn.commit_write(piece.size(), now);
      }
      if (taken == 0) break;
    }
  }

  long count(std::string_view requests, std::string_view expect, int rounds = 500) {
    output.reserve(1 << 16);
    connection conn(context, now);
    for (int i = 0; i < 10; ++i) round_trip(conn, requests);
    EXPECT_NE(output.find(expect), std::string::npos) << output;
    const long before = taut::test::operator_new_calls();
    for (int i = 0; i < rounds; ++i) {
      now += 1ms;
      round_trip(conn, requests);
    }
    const long counted = taut::test::operator_new_calls() - before;
    EXPECT_NE(output.find(expect), std::string::npos) << output;
    EXPECT_FALSE(conn.wants().close);
    return counted;
  }
};

TEST_F(Allocation, NoneForAPlainRoute) {
  EXPECT_EQ(count("GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", "Hello, World!"), 0);
}

TEST_F(Allocation, NoneForParamsQueriesAndHeaders) {
  EXPECT_EQ(count("GET /users/42/posts/7?q=a%20b+c&sort=new HTTP/1.1\r\nHost: a\r\n"
                  "User-Agent: test\r\n\r\n",
                  "X-Q: a b c"),
            0);
}

TEST_F(Allocation, NoneForEscapedParamsAndCatchAll) {
  EXPECT_EQ(count("GET /files/a/b%20c/d HTTP/1.1\r\nHost: a\r\n\r\n", "a/b c/d"), 0);
}

TEST_F(Allocation, NoneForABufferedBody) {
  std::string post = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 512\r\n\r\n";
  post += std::string(512, 'b');
  EXPECT_EQ(count(post, "bbbb"), 0);
}

TEST_F(Allocation, NoneForAutomaticAnswers) {
  EXPECT_EQ(count("GET /nothing/here HTTP/1.1\r\nHost: a\r\n\r\n", "404 Not Found"), 0);
  EXPECT_EQ(count("GET /only-put HTTP/1.1\r\nHost: a\r\n\r\n", "Allow: OPTIONS, PUT"), 0);
  EXPECT_EQ(
      count("GET /files/../plaintext?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", "Location: /plaintext?x=1"),
      0);
  EXPECT_EQ(count("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "Allow: "), 0);
}

}  // namespace
}  // namespace taut
