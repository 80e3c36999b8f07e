// The end of a user's program that proxies: a server_loop with a reverse_proxy route whose
// upstream never answers, a request in flight through it (sent by a taut::client on the same
// loop, which also keeps an idle pooled connection), and then everything destroyed without
// running the loop again, in every order of server, proxy and client (the loop last, as every
// object registered with a loop requires). Meant for the asan preset: a freed connection whose
// timer the loop still held was a heap-use-after-free in ~event_loop. Then the same under
// taut::server, stopped hard with the request in flight: the stop does not wait for the proxy.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <ostream>
#include <string>
#include <thread>

#include "client_test_support.hpp"
#include "loopback.hpp"
#include "proxy_test_support.hpp"
#include "taut/proxy.hpp"
#include "taut/server.hpp"

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

// --- taut::server stopped with a request at its proxy ------------------------------------------

/// Sends a GET from a plain socket (`front`) to the server on `port`, and waits until the proxy's
/// handler has it.
void send_to_the_proxy(std::uint16_t port, const std::atomic<int>& arrived, int& front) {
  front = connect_loopback(port, 5s);
  ASSERT_GE(front, 0);
  const std::string request = "GET /slow HTTP/1.1\r\nHost: front\r\n\r\n";
  ASSERT_EQ(::send(front, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  for (const auto give_up = std::chrono::steady_clock::now() + 5s;
       arrived.load(std::memory_order_acquire) == 0;) {
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "the request never reached the proxy";
    std::this_thread::sleep_for(5ms);
  }
}

/// Starts a one-thread server proxying to an upstream that never answers (the proxy would wait
/// 30 s for it), sends it a request from a plain socket, stops it with `stop`, and checks that
/// wait() returns within 2 s.
template <class Stop>
void stop_with_a_request_at_the_proxy(Stop stop) {
  transport::listener silent_upstream = transport::listener::listen("127.0.0.1:0").value();
  std::atomic<int> arrived{0};
  server_options options;
  options.listen = {"127.0.0.1:0"};
  options.threads = 1;
  options.drain_timeout = std::chrono::milliseconds(100);
  server srv(
      [&silent_upstream, &arrived](unsigned) -> std::unique_ptr<request_handler> {
        return std::make_unique<proxy_handler>(
            proxy_options{.upstream = origin::tcp("127.0.0.1", silent_upstream.port()),
                          .timeout = 30s},
            &arrived);
      },
      options);
  ASSERT_FALSE(srv.start());

  int front = -1;
  ASSERT_NO_FATAL_FAILURE(send_to_the_proxy(srv.local_addresses()[0].port(), arrived, front));
  std::this_thread::sleep_for(50ms);  // the upstream connect and write settle

  stop(srv);
  auto waited = std::async(std::launch::async, [&srv] { srv.wait(); });
  EXPECT_EQ(waited.wait_for(2s), std::future_status::ready)
      << "the stop waited for the proxy's upstream timeout";
  waited.wait();
  ::close(front);
}

TEST(ServerProxyStop, StopNowEndsAtOnceWithARequestAtTheProxy) {
  stop_with_a_request_at_the_proxy([](server& srv) { srv.stop_now(); });
}

TEST(ServerProxyStop, StopEndsAtItsDrainDeadlineWithARequestAtTheProxy) {
  stop_with_a_request_at_the_proxy([](server& srv) { srv.stop(); });
}

/// Whether the peer of `fd` ends its stream within `limit` (what it sent before is read and
/// dropped): EOF or a reset.
bool ends_within(int fd, std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  std::array<char, 4096> buffer{};
  while (std::chrono::steady_clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0) continue;
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got <= 0) return true;
  }
  return false;
}

// A user's program with one proxy shared by a one-thread server (no handler_factory), declared
// before it so that it outlives it. A hard stop ends the proxy's exchange as it ends a
// per-thread proxy (which the server destroys): the upstream connection closes, so does the
// client's, and the proxy may then be destroyed after the server (under ASan: nothing of the
// gone loop is touched).
TEST(ServerProxyStop, AHardStopEndsASharedProxysExchanges) {
  transport::listener silent_upstream = transport::listener::listen("127.0.0.1:0").value();
  std::atomic<int> arrived{0};
  auto shared = std::make_unique<proxy_handler>(
      proxy_options{.upstream = origin::tcp("127.0.0.1", silent_upstream.port()), .timeout = 30s},
      &arrived);
  server_options options;
  options.listen = {"127.0.0.1:0"};
  options.threads = 1;
  auto srv = std::make_unique<server>(*shared, options);
  ASSERT_FALSE(srv->start());
  int front = -1;
  ASSERT_NO_FATAL_FAILURE(send_to_the_proxy(srv->local_addresses()[0].port(), arrived, front));
  // The proxy's upstream connection waits in the silent upstream's backlog.
  pollfd queued{silent_upstream.native_handle(), POLLIN, 0};
  ASSERT_EQ(::poll(&queued, 1, 5000), 1);
  const int upstream = ::accept(silent_upstream.native_handle(), nullptr, nullptr);
  ASSERT_GE(upstream, 0);

  srv->stop_now();
  srv->wait();
  EXPECT_TRUE(ends_within(upstream, 2s)) << "the upstream exchange was not cancelled";
  EXPECT_TRUE(ends_within(front, 2s)) << "the client's connection stayed open";
  srv.reset();
  shared.reset();
  ::close(upstream);
  ::close(front);
}

}  // namespace
}  // namespace taut::test
