// The steady state allocates nothing: arming and cancelling timers, posting caller-owned tasks,
// and moving bytes through the loop over TCP and memory pipes. Counts every operator new in the
// process, so it lives in its own executable.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "counting_new.hpp"
#include "transport_test_support.hpp"
#if TAUT_TEST_TLS
#include <openssl/ssl.h>

#include <atomic>
#include <cstddef>

#include "tls_certs.hpp"
#endif

namespace {

using namespace std::chrono_literals;
using namespace taut::transport;
using taut::transport::testing::make_loop;
using taut::transport::testing::run_until;

// Counts allocations made while `work` runs.
template <class F>
std::size_t allocations_during(F&& work) {
  const long before = taut::test::operator_new_calls();
  work();
  return static_cast<std::size_t>(taut::test::operator_new_calls() - before);
}

TEST(Allocation, ArmingCancellingAndFiringTimers) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  constexpr int count = 10000;
  std::vector<std::unique_ptr<timer>> timers;
  int fired = 0;
  for (int i = 0; i < count; ++i) {
    timers.push_back(std::make_unique<timer>(*loop, [&fired] { ++fired; }));
  }
  loop->reserve_timers(count);
  const std::size_t during = allocations_during([&] {
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < count; ++i) timers[static_cast<std::size_t>(i)]->arm_in(1ms * (i % 97));
      for (int i = 0; i < count; i += 2) timers[static_cast<std::size_t>(i)]->cancel();
      for (int i = 0; i < count; i += 4) {
        timers[static_cast<std::size_t>(i)]->arm_in(1ms * (i % 13));  // re-arm: keep-alive style
      }
      clock.advance(1s);
      loop->run_until_idle();
    }
  });
  EXPECT_EQ(during, 0u);
  EXPECT_EQ(fired, 3 * (count / 2 + count / 4));
}

TEST(Allocation, PostingCallerOwnedTasks) {
  auto loop = make_loop();
  int ran = 0;
  task work([&ran] { ++ran; });
  loop->post(work);  // warm-up
  loop->run_until_idle();
  const std::size_t during = allocations_during([&] {
    for (int i = 0; i < 1000; ++i) {
      loop->post(work);
      loop->run_until_idle();
    }
  });
  EXPECT_EQ(during, 0u);
  EXPECT_EQ(ran, 1001);
}

// A request/response ping-pong: the shape of keep-alive HTTP traffic.
struct ping_pong {
  stream client;
  stream server;
  std::array<char, 256> buffer{};
  int rounds = 0;
  bool client_waiting = false;

  void start(event_loop& loop) {
    EXPECT_FALSE(server.watch(loop, [this](readiness) { serve(); }));
    EXPECT_FALSE(client.watch(loop, [this](readiness) { receive(); }));
  }
  void send() {
    EXPECT_EQ(client.write("ping").bytes, 4u);
    client_waiting = true;
  }
  void serve() {
    while (server.readable()) {
      const io_result got = server.read(buffer);
      if (!got.done()) break;
      EXPECT_EQ(server.write(std::string_view(buffer.data(), got.bytes)).bytes, got.bytes);
    }
  }
  void receive() {
    while (client.readable()) {
      const io_result got = client.read(buffer);
      if (!got.done()) break;
      ++rounds;
      client_waiting = false;
    }
  }
};

TEST(Allocation, MemoryPipePingPong) {
  auto loop = make_loop();
  auto pair = memory_pair();
  ping_pong game{std::move(pair.first), std::move(pair.second)};
  game.start(*loop);
  loop->run_until_idle();
  game.send();
  loop->run_until_idle();  // warm-up grows the pipe buffers once
  const std::size_t during = allocations_during([&] {
    for (int i = 0; i < 1000; ++i) {
      game.send();
      loop->run_until_idle();
    }
  });
  EXPECT_EQ(during, 0u);
  EXPECT_EQ(game.rounds, 1001);
}

TEST(Allocation, TcpPingPongThroughTheLoop) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  auto connected = connect(server->local_address());
  ASSERT_TRUE(connected);
  stream accepted;
  ASSERT_TRUE(run_until(*loop, [&] {
    auto got = server->accept();
    if (got) accepted = std::move(*got);
    return accepted.is_open();
  }));
  ping_pong game{std::move(*connected), std::move(accepted)};
  game.start(*loop);
  game.send();
  ASSERT_TRUE(run_until(*loop, [&] { return !game.client_waiting; }));
  const std::size_t during = allocations_during([&] {
    for (int i = 0; i < 500; ++i) {
      game.send();
      while (game.client_waiting) loop->run_once(1000ms);
    }
  });
  EXPECT_EQ(during, 0u);
  EXPECT_EQ(game.rounds, 501);
}

#if TAUT_TEST_TLS
std::atomic<long> ssl_read_calls{0};

}  // namespace

// Linked with -Wl,--wrap=SSL_read_ex: taut's calls of SSL_read_ex arrive here.
extern "C" int __real_SSL_read_ex(SSL* ssl, void* buffer, std::size_t size, std::size_t* got);
extern "C" int __wrap_SSL_read_ex(SSL* ssl, void* buffer, std::size_t size, std::size_t* got) {
  ssl_read_calls.fetch_add(1, std::memory_order_relaxed);
  return __real_SSL_read_ex(ssl, buffer, size, got);
}

namespace {

// A TLS client and server over a memory pipe, playing ping_pong on `loop` past the handshake and
// the session tickets (two rounds played). Fails the calling test when it cannot be set up.
struct tls_ping_pong {
  tls_context server_ctx;
  tls_context client_ctx;
  std::optional<ping_pong> game;

  void start(event_loop& loop) {
    const taut::test::tls_test_files files = taut::test::make_tls_test_files();
    ASSERT_TRUE(files.ok) << files.error;
    tls_server_options server_options;
    server_options.certificates.emplace_back(tls_certificate{files.cert, files.key});
    auto server_made = tls_context::server(server_options);
    tls_client_options client_options;
    client_options.ca_file = files.ca_cert;
    auto client_made = tls_context::client(client_options);
    ASSERT_TRUE(server_made && client_made);
    server_ctx = *server_made;
    client_ctx = *client_made;
    auto pair = memory_pair();
    auto client = tls_connect(std::move(pair.first), client_ctx, "localhost");
    auto server = tls_accept(std::move(pair.second), server_ctx);
    ASSERT_TRUE(client && server);
    game.emplace(ping_pong{std::move(*client), std::move(*server)});
    game->start(loop);
    // The first ping's write drives the handshake (retried with the same bytes until it is
    // taken).
    bool sent = false;
    game->client_waiting = true;
    for (int i = 0; i < 1000 && !sent; ++i) {
      sent = game->client.write("ping").done();
      loop.run_until_idle();
    }
    ASSERT_TRUE(sent);
    ASSERT_TRUE(run_until(loop, [&] { return !game->client_waiting; }));
    game->send();
    loop.run_until_idle();  // warm-up: the session tickets have been taken in
    ASSERT_EQ(game->rounds, 2);
  }
};

// The same over TLS: once the handshake is done, taut allocates nothing per read or write (the
// session came from the heap once; OpenSSL's record buffers come from malloc, not counted here,
// and are released while idle).
TEST(Allocation, TlsPingPongOverMemoryPipes) {
  auto loop = make_loop();
  tls_ping_pong tls;
  ASSERT_NO_FATAL_FAILURE(tls.start(*loop));
  ping_pong& game = *tls.game;
  const std::size_t during = allocations_during([&] {
    for (int i = 0; i < 1000; ++i) {
      game.send();
      loop->run_until_idle();
    }
  });
  EXPECT_EQ(during, 0u);
  EXPECT_EQ(game.rounds, 1002);
}

// OpenSSL mallocs a record buffer for each SSL_read that finds none and frees it once drained
// (SSL_MODE_RELEASE_BUFFERS). A read that got a record and drained a watched stream returns
// without another SSL_read, which would only learn would_block at the cost of a second buffer
// and a pass through the record layer: one SSL_read per record received.
TEST(Allocation, TlsReadsCallOpenSslOncePerRecord) {
  auto loop = make_loop();
  tls_ping_pong tls;
  ASSERT_NO_FATAL_FAILURE(tls.start(*loop));
  ping_pong& game = *tls.game;
  constexpr int rounds = 1000;
  const long before = ssl_read_calls.load();
  for (int i = 0; i < rounds; ++i) {
    game.send();
    loop->run_until_idle();
  }
  EXPECT_EQ(game.rounds, rounds + 2);
  // A record each way per round: the server's read and the client's.
  EXPECT_EQ(ssl_read_calls.load() - before, 2 * rounds);
}
#endif

}  // namespace
