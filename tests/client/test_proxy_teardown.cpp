// The end of a user's program that proxies: a server_loop with a reverse_proxy route whose
// upstream never answers, a request in flight through it (sent by a taut::client on the same
// loop, which also keeps an idle pooled connection), and then everything destroyed without
// running the loop again, in every order of server, proxy and client (the loop last, as every
// object registered with a loop requires). Meant for the asan preset: a freed connection whose
// timer the loop still held was a heap-use-after-free in ~event_loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <ostream>
#include <string>

#include "client_test_support.hpp"
#include "taut/proxy.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;

enum class part : std::uint8_t { server, proxy, client };

/// The program: the declarations a user writes, each in a unique_ptr so the test chooses the
/// order in which they end.
struct proxying_program {
  std::unique_ptr<transport::event_loop> loop = transport::event_loop::create().value();
  // An upstream that accepts nothing: the kernel completes the proxy's connection (the backlog),
  // takes its request, and nothing ever answers.
  transport::listener silent_upstream = transport::listener::listen("127.0.0.1:0").value();
  std::unique_ptr<reverse_proxy> proxy = std::make_unique<reverse_proxy>(
      proxy_options{.upstream = origin::tcp("127.0.0.1", silent_upstream.port())});
  mux app;
  std::unique_ptr<server_loop> server;
  recorder proxied;  // the exchanges outlive the client (or are cancelled with it)
  recorder local;
  client_request proxied_request{.method = "GET", .target = "/up/slow"};
  client_request local_request{.method = "GET", .target = "/hello"};
  std::unique_ptr<taut::client> client;

  /// Starts the program and runs it until a request waits at the proxy for the upstream and
  /// the client holds an idle connection to the server.
  void start() {
    app.handle("/up/", proxy->handler());
    app.handle("GET /hello", [](request_context&, reply& res) { res.text(200, "hello"); });
    server = std::make_unique<server_loop>(*loop, app);
    auto listener = transport::listener::listen("127.0.0.1:0").value();
    const origin front = origin::tcp("127.0.0.1", listener.port());
    ASSERT_FALSE(server->add_listener(std::move(listener)));
    client = std::make_unique<taut::client>(*loop);
    ASSERT_FALSE(client->send(front, proxied_request, proxied));
    ASSERT_FALSE(client->send(front, local_request, local));
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    while (!local.done || proxy->stats().forwarded == 0) {
      ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "the requests never arrived";
      loop->run_once(10ms);
    }
    for (int i = 0; i < 5; ++i) loop->run_once(5ms);  // the upstream connect and write settle
    ASSERT_TRUE(local.completed) << local.error.message();
    ASSERT_FALSE(proxied.done);  // still waiting for the upstream
    ASSERT_EQ(server->open_connections(), 2u);
    ASSERT_EQ(client->idle_connections(front), 1u);
  }

  void destroy(part which) {
    switch (which) {
      case part::server:
        server.reset();
        break;
      case part::proxy:
        proxy.reset();
        break;
      case part::client:
        client.reset();
        break;
    }
  }
};

struct teardown {
  std::array<part, 3> order;
  bool closed_first;  // server_loop::close_all() and a loop run before the program ends
};

std::string label(const teardown& t) {
  std::string name = t.closed_first ? "ClosedThen" : "";
  for (part p : t.order)
    name += p == part::server ? "Server" : p == part::proxy ? "Proxy" : "Client";
  return name;
}

std::string name_of(const testing::TestParamInfo<teardown>& info) {
  return label(info.param);
}

// How GoogleTest (and the ctest names gtest_discover_tests makes) shows a parameter.
void PrintTo(const teardown& t, std::ostream* out) {
  *out << label(t);
}

std::vector<teardown> every_order() {
  std::vector<teardown> all;
  for (bool closed_first : {false, true}) {
    std::array<part, 3> order{part::server, part::proxy, part::client};  // sorted: all six follow
    do {
      all.push_back({order, closed_first});
    } while (std::next_permutation(order.begin(), order.end()));
  }
  return all;
}

class ProxyTeardown : public testing::TestWithParam<teardown> {};

TEST_P(ProxyTeardown, EveryOrderEndsCleanly) {
  proxying_program program;
  ASSERT_NO_FATAL_FAILURE(program.start());
  if (GetParam().closed_first) {
    program.server->close_all();
    program.loop->run_until_idle();
  }
  for (part p : GetParam().order) program.destroy(p);
  // A timer still armed belongs to a destroyed part: the loop would write into freed memory
  // (ASan reports it in the reset below).
  EXPECT_EQ(program.loop->armed_timers(), 0u);
  program.loop.reset();
}

INSTANTIATE_TEST_SUITE_P(AnyOrder, ProxyTeardown, testing::ValuesIn(every_order()), name_of);

}  // namespace
}  // namespace taut::test
