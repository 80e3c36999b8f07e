// No heap allocation per request in the steady state: taut::client over the memory transport
// against a taut server_loop, and a request proxied through taut::reverse_proxy (client -> front
// with the proxy -> upstream), everything on one loop. Replaces the global operator new to count,
// so it is an executable of its own. TAUT_TRACE_ALLOCATIONS=1 prints a backtrace per allocation
// counted.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "counting_new.hpp"
#include "taut/client.hpp"
#include "taut/mux.hpp"
#include "taut/proxy.hpp"
#include "taut/server_loop.hpp"
#include "taut/transport.hpp"

namespace taut {
namespace {

// Counts, keeps nothing.
class counting final : public client_exchange {
 public:
  void on_head(const client_response& r) override { status = r.head.status; }
  void on_body(std::string_view piece) override { bytes += piece.size(); }
  void on_complete(std::span<const header>) override { done = true; }
  void on_error(const client_error&) override {
    failed = true;
    done = true;
  }
  int status = 0;
  std::size_t bytes = 0;
  bool done = false;
  bool failed = false;
};

// Heap calls (operator new, and malloc outside sanitizer builds: an operator new counts in both)
// over `count` rounds of `batch` copies of `request` sent at once, each round run until every
// exchange ended (-1: refused, -2: an exchange failed). Zero means nothing was allocated.
long allocations_over_batches(transport::event_loop& loop, client& c, const origin& where,
                              const client_request& request, int batch, int count) {
  std::vector<counting> exchanges(static_cast<std::size_t>(batch));
  const auto heap_calls = [] {
    return taut::test::operator_new_calls() + taut::test::malloc_calls();
  };
  const long before = heap_calls();
  taut::test::trace_operator_new(std::getenv("TAUT_TRACE_ALLOCATIONS") != nullptr);
  for (int i = 0; i < count; ++i) {
    for (counting& e : exchanges) {
      e.done = false;
      e.bytes = 0;
      if (c.send(where, request, e)) {
        taut::test::trace_operator_new(false);
        return -1;
      }
    }
    loop.run_until_idle();
    for (const counting& e : exchanges) {
      if (!e.done || e.failed || e.status != 200 || e.bytes == 0) {
        taut::test::trace_operator_new(false);
        return -2;
      }
    }
  }
  taut::test::trace_operator_new(false);
  return heap_calls() - before;
}

long allocations_over(transport::event_loop& loop, client& c, const origin& where,
                      const client_request& request, int count) {
  return allocations_over_batches(loop, c, where, request, 1, count);
}

TEST(ClientAllocation, NoAllocationPerRequestOnAPooledConnection) {
  auto loop = transport::event_loop::create().value();
  mux app;
  app.handle("GET /hello", [](request_context&, reply& res) { res.text(200, "hello"); });
  app.handle("POST /echo", [](request_context& req, reply& res) { res.send(200, req.body()); });
  server_loop server(*loop, app);
  auto listener = transport::listener::memory({});
  const origin where = origin::memory(listener.dialer(), "alloc");
  ASSERT_FALSE(server.add_listener(std::move(listener)));
  client c(*loop);
  const header fields[] = {{"Accept", "*/*"}, {"X-Request-Id", "12345"}};
  const client_request get{
      .method = "GET", .target = "/hello", .headers = fields, .timeout = std::chrono::seconds(5)};
  const client_request post{.method = "POST", .target = "/echo", .body = "some body"};
  ASSERT_GE(allocations_over(*loop, c, where, get, 50), 0);  // warm-up: pools and caches
  ASSERT_GE(allocations_over(*loop, c, where, post, 50), 0);
  EXPECT_EQ(allocations_over(*loop, c, where, get, 200), 0);
  EXPECT_EQ(allocations_over(*loop, c, where, post, 200), 0);
  EXPECT_EQ(c.stats().connections_opened, 1u);
}

TEST(ClientAllocation, NoAllocationPerProxiedRequest) {
  auto loop = transport::event_loop::create().value();
  mux upstream_app;
  upstream_app.handle("GET /hello", [](request_context&, reply& res) { res.text(200, "hello"); });
  upstream_app.handle("POST /echo",
                      [](request_context& req, reply& res) { res.send(200, req.body()); });
  server_loop upstream(*loop, upstream_app);
  auto up = transport::listener::memory({});
  auto proxy = std::make_unique<reverse_proxy>(
      proxy_options{.upstream = origin::memory(up.dialer(), "upstream")});
  ASSERT_FALSE(upstream.add_listener(std::move(up)));
  mux front_app;
  front_app.handle("/", proxy->handler());
  server_loop front(*loop, front_app);
  auto listener = transport::listener::memory({});
  const origin where = origin::memory(listener.dialer(), "front");
  ASSERT_FALSE(front.add_listener(std::move(listener)));
  client c(*loop);
  const client_request get{.method = "GET", .target = "/hello"};
  const client_request post{.method = "POST", .target = "/echo", .body = "some body"};
  ASSERT_GE(allocations_over(*loop, c, where, get, 50), 0);
  ASSERT_GE(allocations_over(*loop, c, where, post, 50), 0);
  EXPECT_EQ(allocations_over(*loop, c, where, get, 200), 0);
  EXPECT_EQ(allocations_over(*loop, c, where, post, 200), 0);
  EXPECT_EQ(proxy->stats().forwarded, 500u);
  front.close_all();
  loop->run_until_idle();
  proxy.reset();
}

// Pipelined (client_options::pipeline_depth): the queue behind a connection's request is
// allocated with the connection, so a batch written on one connection allocates nothing either,
// directly and through a proxy whose upstream requests are pipelined.
TEST(ClientAllocation, NoAllocationPerPipelinedRequest) {
  auto loop = transport::event_loop::create().value();
  mux app;
  app.handle("GET /hello", [](request_context&, reply& res) { res.text(200, "hello"); });
  server_loop server(*loop, app);
  auto listener = transport::listener::memory({});
  const origin where = origin::memory(listener.dialer(), "alloc");
  ASSERT_FALSE(server.add_listener(std::move(listener)));
  client c(*loop, {.pipeline_depth = 4});
  const client_request get{.method = "GET", .target = "/hello"};
  ASSERT_GE(allocations_over_batches(*loop, c, where, get, 4, 20), 0);
  const std::uint64_t pipelined = c.stats().pipelined;
  EXPECT_EQ(allocations_over_batches(*loop, c, where, get, 4, 100), 0);
  EXPECT_EQ(c.stats().pipelined - pipelined, 300u);  // three behind the first of each batch
  // The first batch found no connection to pipeline on and opened one each.
  EXPECT_EQ(c.stats().connections_opened, 4u);
}

TEST(ClientAllocation, NoAllocationPerRequestProxiedOnAPipelinedUpstream) {
  auto loop = transport::event_loop::create().value();
  mux upstream_app;
  upstream_app.handle("GET /hello", [](request_context&, reply& res) { res.text(200, "hello"); });
  server_loop upstream(*loop, upstream_app);
  auto up = transport::listener::memory({});
  proxy_options options{.upstream = origin::memory(up.dialer(), "upstream")};
  options.client.pipeline_depth = 4;
  auto proxy = std::make_unique<reverse_proxy>(options);
  ASSERT_FALSE(upstream.add_listener(std::move(up)));
  mux front_app;
  front_app.handle("/", proxy->handler());
  server_loop front(*loop, front_app);
  auto listener = transport::listener::memory({});
  const origin where = origin::memory(listener.dialer(), "front");
  ASSERT_FALSE(front.add_listener(std::move(listener)));
  client c(*loop);  // four connections to the front, one request each at a time
  const client_request get{.method = "GET", .target = "/hello"};
  ASSERT_GE(allocations_over_batches(*loop, c, where, get, 4, 20), 0);
  EXPECT_EQ(allocations_over_batches(*loop, c, where, get, 4, 100), 0);
  ASSERT_NE(proxy->client(), nullptr);
  EXPECT_GT(proxy->client()->stats().pipelined, 0u);
  EXPECT_EQ(proxy->stats().forwarded, 480u);
  front.close_all();
  loop->run_until_idle();
  proxy.reset();
}

// Over loopback TCP, with eight clients at once: nothing allocated per proxied request, malloc
// included, with and without pipelining upstream. On epoll only: an io_uring loop copies bytes a
// lend's take_ready() catches for streams it has not told yet into memory of their own (about
// once every two requests; see the README's proxy speed).
TEST(ClientAllocation, NoAllocationPerRequestProxiedOverTcpOnEpoll) {
  for (const transport::io_backend backend : {transport::io_backend::epoll}) {
    for (const std::size_t depth : {std::size_t{1}, std::size_t{4}}) {
      SCOPED_TRACE(std::string(backend == transport::io_backend::epoll ? "epoll" : "io_uring") +
                   ", pipeline depth " + std::to_string(depth));
      auto loop = transport::event_loop::create({.backend = backend}).value();
      mux upstream_app;
      upstream_app.handle("GET /hello",
                          [](request_context&, reply& res) { res.text(200, "hello"); });
      server_loop upstream(*loop, upstream_app);
      auto up = transport::listener::listen("127.0.0.1:0").value();
      const std::uint16_t up_port = up.local_address().port();
      ASSERT_FALSE(upstream.add_listener(std::move(up)));
      proxy_options options{.upstream = origin::tcp("127.0.0.1", up_port)};
      options.client.pipeline_depth = depth;
      auto proxy = std::make_unique<reverse_proxy>(options);
      mux front_app;
      front_app.handle("/", proxy->handler());
      server_loop front(*loop, front_app);
      auto listener = transport::listener::listen("127.0.0.1:0").value();
      const origin where = origin::tcp("127.0.0.1", listener.local_address().port());
      ASSERT_FALSE(front.add_listener(std::move(listener)));
      client c(*loop);
      const client_request get{.method = "GET", .target = "/hello"};
      ASSERT_GE(allocations_over_batches(*loop, c, where, get, 8, 50), 0);
      EXPECT_EQ(allocations_over_batches(*loop, c, where, get, 8, 200), 0);
      front.close_all();
      upstream.close_all();
      loop->run_until_idle();
      proxy.reset();
    }
  }
}

}  // namespace
}  // namespace taut
