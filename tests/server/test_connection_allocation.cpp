// Zero heap allocations per request in the steady state: the global operator new is replaced by a
// counting one (so this test is an executable of its own), the connection is warmed up, and then
// requests of every common shape must not allocate at all.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "counting_new.hpp"
#include "taut/buffer_pool.hpp"
#include "taut/connection.hpp"
#include "taut/date_cache.hpp"

namespace taut {
namespace {

using namespace std::chrono_literals;

/// The handlers of the benchmark routes, written the plain way.
class handler final : public request_handler {
 public:
  void on_request(server_request& request, response_writer response) override {
    const std::string_view target = request.target();
    if (target == "/plaintext") {
      response.send(200, "Hello, World!", "text/plain");
    } else if (target == "/echo") {
      response.add_header("Content-Type", "application/octet-stream");
      response.send(request.body());
    } else if (target == "/stream") {
      response.begin();
      response.write("Hello, ");
      response.write("World!");
      const header trailer{"X-Done", "yes"};
      response.finish(std::span(&trailer, 1));
    } else {
      response.send(404, "not found");
    }
  }
};

class Allocation : public ::testing::Test {
 protected:
  block_pool pool{8192};
  date_cache date{std::chrono::system_clock::time_point(1700000000s)};
  handler app;
  connection_context context{app, pool, date, unlimited()};

  static connection_options unlimited() {
    connection_options options;
    options.max_requests = 0;  // the default (1000) would close the connection mid-test
    return options;
  }
  std::chrono::steady_clock::time_point now{1000s};
  char sink[1 << 16];

  /// Sends `requests` through `conn`, drains the output, returns the bytes of output.
  std::size_t round_trip(connection& conn, std::string_view requests) {
    std::size_t offset = 0;
    std::size_t out = 0;
    while (offset < requests.size()) {
      const std::size_t taken = conn.receive(requests.substr(offset), now);
      offset += taken;
      while (conn.wants().write) {
        const std::string_view piece = conn.output();
        std::memcpy(sink, piece.data(), std::min(piece.size(), sizeof sink));
        out += piece.size();
        conn.commit_write(piece.size(), now);
      }
      if (taken == 0) break;
    }
    return out;
  }

  long count_allocations(connection& conn, std::string_view requests, int rounds) {
    for (int i = 0; i < 10; ++i) round_trip(conn, requests);  // warm up the pools
    const long before = taut::test::operator_new_calls();
    const std::uint32_t requests_before = conn.requests();
    std::uint32_t per_round = 0;
    for (std::size_t at = requests.find(" HTTP/1.1\r\n"); at != std::string_view::npos;
         at = requests.find(" HTTP/1.1\r\n", at + 1)) {
      ++per_round;
    }
    std::size_t out = 0;
    for (int i = 0; i < rounds; ++i) {
      now += 1ms;
      date.update(std::chrono::system_clock::time_point(1700000000s) + i * 1ms);
      out += round_trip(conn, requests);
    }
    const long counted = taut::test::operator_new_calls() - before;
    EXPECT_GT(out, 0u);
    EXPECT_EQ(conn.requests() - requests_before, static_cast<std::uint32_t>(rounds) * per_round)
        << "every request answered";
    EXPECT_FALSE(conn.wants().close);
    return counted;
  }
};

constexpr std::string_view plaintext =
    "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";

TEST_F(Allocation, NoneForKeepAliveRequests) {
  connection conn(context, now);
  EXPECT_EQ(count_allocations(conn, plaintext, 1000), 0);
  EXPECT_TRUE(conn.holds_nothing()) << "idle between requests";
}

TEST_F(Allocation, NoneForPipelinedRequests) {
  std::string sixteen;
  for (int i = 0; i < 16; ++i) sixteen += plaintext;
  connection conn(context, now);
  EXPECT_EQ(count_allocations(conn, sixteen, 200), 0);
}

TEST_F(Allocation, NoneForAKibibyteBodyEchoed) {
  std::string post = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1024\r\n\r\n";
  post += std::string(1024, 'b');
  std::string chunked =
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) chunked += "100\r\n" + std::string(256, 'c') + "\r\n";
  chunked += "0\r\n\r\n";
  connection conn(context, now);
  EXPECT_EQ(count_allocations(conn, post, 500), 0);
  EXPECT_EQ(count_allocations(conn, chunked, 500), 0);
}

TEST_F(Allocation, NoneForChunkedResponses) {
  connection conn(context, now);
  EXPECT_EQ(count_allocations(conn, "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n", 500), 0);
}

TEST_F(Allocation, NoneForANewConnectionPerRequest) {
  const std::string request =
      std::string(plaintext.substr(0, plaintext.size() - 2)) + "Connection: close\r\n\r\n";
  for (int i = 0; i < 10; ++i) {
    connection warm(context, now);
    round_trip(warm, request);
  }
  const long before = taut::test::operator_new_calls();
  for (int i = 0; i < 500; ++i) {
    connection conn(context, now);
    round_trip(conn, request);
    EXPECT_TRUE(conn.wants().shutdown_write);
    conn.receive_eof(now);
    EXPECT_TRUE(conn.wants().close);
  }
  EXPECT_EQ(taut::test::operator_new_calls() - before, 0);
}

TEST_F(Allocation, IdleConnectionsHoldOnlyTheirObject) {
  std::vector<std::unique_ptr<connection>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<connection>(context, now));
    round_trip(*idle.back(), plaintext);
  }
  EXPECT_EQ(pool.in_use(), 0u) << "no buffer held by an idle keep-alive connection";
  EXPECT_EQ(context.states_in_use(), 0u);
  std::printf(
      "[ figures  ] idle keep-alive connection: %zu bytes (the object alone); working "
      "state while busy: %zu bytes; buffer blocks: %zu bytes\n",
      sizeof(connection), context.state_bytes(), pool.block_size());
}

}  // namespace
}  // namespace taut
