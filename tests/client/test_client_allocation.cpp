// No heap allocation per request in the steady state: taut::client over the memory transport
// against a taut server_loop, and a request proxied through taut::reverse_proxy (client -> front
// with the proxy -> upstream), everything on one loop. Replaces the global operator new to count,
// so it is an executable of its own. TAUT_TRACE_ALLOCATIONS=1 prints a backtrace per allocation
// counted.
#include <execinfo.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include "taut/client.hpp"
#include "taut/mux.hpp"
#include "taut/proxy.hpp"
#include "taut/server_loop.hpp"
#include "taut/transport.hpp"

namespace {
std::atomic<long> allocations{0};
std::atomic<bool> tracing{false};

void* counted_allocation(std::size_t size, std::size_t alignment = 0) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (tracing.load(std::memory_order_relaxed)) {
    // TAUT_TRACE_ALLOCATIONS=1: where each counted allocation comes from.
    tracing.store(false);
    void* frames[24];
    const int n = backtrace(frames, 24);
    backtrace_symbols_fd(frames, n, 2);
    tracing.store(true);
  }
  if (size == 0) size = 1;
  void* p = alignment > alignof(std::max_align_t)
                ? std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment)
                : std::malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t size) {
  return counted_allocation(size);
}
void* operator new[](std::size_t size) {
  return counted_allocation(size);
}
void* operator new(std::size_t size, std::align_val_t a) {
  return counted_allocation(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return counted_allocation(size, static_cast<std::size_t>(a));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_allocation(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_allocation(size);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

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
  const long before = allocations.load();
  tracing.store(trace);
  for (int i = 0; i < count; ++i) {
    exchange.done = false;
    exchange.bytes = 0;
    if (c.send(where, request, exchange)) return -1;
    loop.run_until_idle();
    if (!exchange.done || exchange.failed || exchange.status != 200 || exchange.bytes == 0) {
      tracing.store(false);
      return -2;
    }
  }
  tracing.store(false);
  return allocations.load() - before;
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
