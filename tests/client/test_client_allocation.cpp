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

long allocations_over(transport::event_loop& loop, client& c, const origin& where,
                      const client_request& request, int count) {
  counting exchange;
  const bool trace = std::getenv("TAUT_TRACE_ALLOCATIONS") != nullptr;
  const long before = taut::test::operator_new_calls();
  taut::test::trace_operator_new(trace);
  for (int i = 0; i < count; ++i) {
    exchange.done = false;
    exchange.bytes = 0;
    if (c.send(where, request, exchange)) return -1;
    loop.run_until_idle();
    if (!exchange.done || exchange.failed || exchange.status != 200 || exchange.bytes == 0) {
      taut::test::trace_operator_new(false);
      return -2;
    }
  }
  taut::test::trace_operator_new(false);
  return taut::test::operator_new_calls() - before;
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

}  // namespace
}  // namespace taut
