// Error paths and hand-overs a user can meet that the other transport tests leave out: adopting a
// descriptor (a bad one, a socketpair end), an accept that fails for good, an empty address as
// text, a stream carried over from a destroyed loop to a new one, and (io_uring) a closed
// stream whose peer never takes its last bytes. Run on both backends; loopback only.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "transport_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace taut::transport;
using taut::transport::testing::accept_one;
using taut::transport::testing::make_loop;
using taut::transport::testing::run_until;

bool on_io_uring() {
  const char* forced = std::getenv("TAUT_IO");
  return forced != nullptr && std::string_view(forced) == "io_uring";
}

TEST(StreamAdopt, ABadDescriptorIsAnErrorValue) {
  const result<stream> negative = stream::adopt(-1, transport_kind::tcp);
  ASSERT_FALSE(negative.has_value());
  EXPECT_EQ(negative.error(), std::errc::bad_file_descriptor);
  // A number that names no open descriptor: fcntl() says so.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  ::close(fds[1]);
  const result<stream> closed = stream::adopt(fds[0], transport_kind::unix_socket);
  ASSERT_FALSE(closed.has_value());
  EXPECT_EQ(closed.error(), std::errc::bad_file_descriptor);
}

TEST(StreamAdopt, ASocketpairEndIsMadeNonBlockingAndEchoesThroughTheLoop) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const int peer = fds[1];
  result<stream> adopted = stream::adopt(fds[0], transport_kind::unix_socket);
  ASSERT_TRUE(adopted.has_value()) << adopted.error().message();
  stream& s = *adopted;
  EXPECT_EQ(s.kind(), transport_kind::unix_socket);
  EXPECT_EQ(s.native_handle(), fds[0]);
  EXPECT_NE(::fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0)
      << "adopt() makes the descriptor non-blocking";
  // Nothing has arrived: a read says so rather than waiting.
  std::array<char, 16> buffer{};
  EXPECT_TRUE(s.read(buffer).would_block());

  auto loop = make_loop();
  bool readable = false;
  ASSERT_FALSE(s.watch(*loop, [&](readiness r) {
    if (has(r, readiness::readable)) readable = true;
  }));
  ASSERT_EQ(::send(peer, "ping", 4, MSG_NOSIGNAL), 4);
  std::string received;
  ASSERT_TRUE(run_until(*loop, [&] {
    if (!readable) return false;
    const io_result got = s.read(buffer);
    if (got.done()) received.append(buffer.data(), got.bytes);
    return received.size() >= 4 || got.eof() || got.failed();
  }));
  EXPECT_EQ(received, "ping");
  ASSERT_EQ(s.write("pong").bytes, 4u);
  for (int i = 0; i < 5; ++i) loop->run_once(10ms);
  std::array<char, 4> reply{};
  timeval limit{2, 0};
  ::setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ASSERT_EQ(::recv(peer, reply.data(), reply.size(), MSG_WAITALL), 4);
  EXPECT_EQ(std::string_view(reply.data(), 4), "pong");
  // The close: the peer reads EOF.
  EXPECT_FALSE(s.close());
  for (int i = 0; i < 5; ++i) loop->run_once(10ms);
  EXPECT_EQ(::recv(peer, reply.data(), reply.size(), 0), 0);
  ::close(peer);
}

TEST(StreamAdopt, ARegularFileIsNoSocketToWatchOrAskAbout) {
  loop_options plain;
  plain.backend = io_backend::epoll;
  auto loop = event_loop::create(plain);
  ASSERT_TRUE(loop);
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  result<stream> adopted = stream::adopt(::dup(::fileno(file)), transport_kind::tcp);
  std::fclose(file);
  ASSERT_TRUE(adopted.has_value());
  // A regular file has no readiness: epoll refuses it (EPERM).
  const std::error_code ec = adopted->watch(**loop, [](readiness) {});
  EXPECT_EQ(ec, std::errc::operation_not_permitted) << ec.message();
  EXPECT_FALSE(adopted->watched());
  // Adopted under a kind it is not: every socket query says so rather than making something up.
  EXPECT_EQ(adopted->connect_error(), std::errc::not_a_socket);
  const result<address> peer = adopted->peer_address();
  ASSERT_FALSE(peer.has_value());
  EXPECT_EQ(peer.error(), std::errc::not_a_socket);
  const result<address> local = adopted->local_address();
  ASSERT_FALSE(local.has_value());
  EXPECT_EQ(local.error(), std::errc::not_a_socket);
  EXPECT_EQ(adopted->set_no_delay(true), std::errc::not_a_socket);
  const result<bool> no_delay = adopted->no_delay();
  ASSERT_FALSE(no_delay.has_value());
  EXPECT_EQ(no_delay.error(), std::errc::not_a_socket);
  EXPECT_FALSE(adopted->close());
}

// A stream (or listener) an io_uring loop watched cannot be watched by an epoll loop (the ring
// still owns its operations): EBUSY, and it can go back to a ring loop.
TEST(IoBackend, AStreamOrListenerFromAnIoUringLoopCannotMoveToAnEpollLoop) {
  loop_options ring_options;
  ring_options.backend = io_backend::io_uring;
  auto ring_loop = event_loop::create(ring_options);
  if (!ring_loop) GTEST_SKIP() << "no io_uring here: " << ring_loop.error().message();
  loop_options plain;
  plain.backend = io_backend::epoll;
  auto epoll_loop = event_loop::create(plain);
  ASSERT_TRUE(epoll_loop);
  auto server_side = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server_side);
  auto client = connect(server_side->local_address());
  ASSERT_TRUE(client);
  auto accepted = accept_one(**ring_loop, *server_side);
  ASSERT_TRUE(accepted);
  ASSERT_FALSE(accepted->watch(**ring_loop, [](readiness) {}));
  const std::error_code ec = accepted->watch(**epoll_loop, [](readiness) {});
  EXPECT_EQ(ec, std::errc::device_or_resource_busy) << ec.message();
  // The same for the listener the ring loop accepted from.
  ASSERT_FALSE(server_side->watch(**ring_loop, [](readiness) {}));
  const std::error_code listener_ec = server_side->watch(**epoll_loop, [](readiness) {});
  EXPECT_EQ(listener_ec, std::errc::device_or_resource_busy) << listener_ec.message();
  EXPECT_FALSE(accepted->watched());
  bool readable = false;
  ASSERT_FALSE(accepted->watch(**ring_loop, [&](readiness r) {
    if (has(r, readiness::readable)) readable = true;
  }));
  ASSERT_EQ(::send(client->native_handle(), "back", 4, MSG_NOSIGNAL), 4);
  std::string received;
  ASSERT_TRUE(run_until(**ring_loop, [&] {
    if (!readable) return false;
    std::array<char, 16> chunk{};
    const io_result got = accepted->read(chunk);
    if (got.done()) received.append(chunk.data(), got.bytes);
    return received.size() >= 4 || got.eof() || got.failed();
  }));
  EXPECT_EQ(received, "back");
}

TEST(Acceptor, AListenerThatCannotAcceptAnyMoreIsReportedAndPaused) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  const int fd = server->native_handle();
  std::vector<std::error_code> errors;
  std::size_t accepted = 0;
  acceptor a(
      *loop, [&](stream&&) { ++accepted; }, [&](std::error_code ec) { errors.push_back(ec); });
  ASSERT_FALSE(a.start(std::move(*server)));
  for (int i = 0; i < 5; ++i) loop->run_once(10ms);
  // Shutting down a listening socket's read side disconnects it: every accept() fails with
  // EINVAL from now on, which no retry can mend.
  ASSERT_EQ(::shutdown(fd, SHUT_RD), 0);
  ASSERT_TRUE(run_until(
      *loop, [&] { return !errors.empty(); }, 3000ms));
  EXPECT_EQ(errors.front().value(), EINVAL) << errors.front().message();
  EXPECT_TRUE(a.paused()) << "a fatal accept error pauses the acceptor";
  const std::size_t reported = errors.size();
  for (int i = 0; i < 10; ++i) loop->run_once(5ms);
  EXPECT_EQ(errors.size(), reported) << "a paused acceptor tries no more";
  EXPECT_EQ(accepted, 0u);
  EXPECT_GE(a.accept_calls(), 1u);
  EXPECT_EQ(a.resource_errors(), 0u) << "EINVAL is not a shortage of descriptors";
  EXPECT_FALSE(a.backing_off());
}

TEST(Address, AnEmptyAddressIsNoText) {
  const address none;
  EXPECT_EQ(none.to_string(), "");
  std::array<char, 8> out{'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'};
  EXPECT_EQ(none.format_to(out), 0u);
  EXPECT_EQ(out[0], 'x');
}

// A stream unwatched, its loop destroyed, then watched on a new loop: what the first loop had
// received for it (on io_uring, taken off the socket already) is read first, then what came later.
TEST(IoBackend, AStreamWatchedOnANewLoopAfterItsLoopIsGoneKeepsWhatItHadReceived) {
  auto server_side = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server_side);
  auto client = connect(server_side->local_address());
  ASSERT_TRUE(client);
  std::optional<stream> accepted;
  {
    auto first = make_loop();
    accepted = accept_one(*first, *server_side);
    ASSERT_TRUE(accepted);
    bool readable = false;
    ASSERT_FALSE(accepted->watch(*first, [&](readiness r) {
      if (has(r, readiness::readable)) readable = true;
    }));
    ASSERT_EQ(::send(client->native_handle(), "first", 5, MSG_NOSIGNAL), 5);
    ASSERT_TRUE(run_until(*first, [&] { return readable; }));
    accepted->unwatch();
    server_side->unwatch();
  }
  auto second = make_loop();
  bool readable = false;
  ASSERT_FALSE(accepted->watch(*second, [&](readiness r) {
    if (has(r, readiness::readable)) readable = true;
  }));
  ASSERT_EQ(::send(client->native_handle(), "second", 6, MSG_NOSIGNAL), 6);
  std::string received;
  ASSERT_TRUE(run_until(*second, [&] {
    if (!readable) return false;
    std::array<char, 64> chunk{};
    for (;;) {
      const io_result got = accepted->read(chunk);
      if (!got.done()) return got.eof() || got.failed() || received.size() >= 11;
      received.append(chunk.data(), got.bytes);
    }
  }));
  EXPECT_EQ(received, "firstsecond");
  // Still a working stream on the new loop: the reply reaches the client, then EOF.
  ASSERT_EQ(accepted->write("reply").bytes, 5u);
  EXPECT_FALSE(accepted->close());
  for (int i = 0; i < 5; ++i) second->run_once(10ms);
  std::array<char, 16> reply{};
  timeval limit{2, 0};
  ::setsockopt(client->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  EXPECT_EQ(::recv(client->native_handle(), reply.data(), reply.size(), MSG_WAITALL), 5);
  EXPECT_EQ(std::string_view(reply.data(), 5), "reply");
}

// io_uring keeps a closed stream's unsent bytes in user space and sends them after close(); a
// peer that never reads them must not hold the descriptor for ever: after the orphan linger
// (5 s) the connection is reset. (epoll leaves this to the kernel, which keeps sending.)
TEST(IoBackend, AClosedStreamWhosePeerNeverReadsIsResetAfterTheLinger) {
  if (!on_io_uring()) GTEST_SKIP() << "io_uring only: the kernel owns an epoll stream's close";
  auto loop = make_loop();
  auto server_side = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server_side);
  const int small = 4096;
  auto client = connect(server_side->local_address());
  ASSERT_TRUE(client);
  ::setsockopt(client->native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  auto accepted = accept_one(*loop, *server_side);
  ASSERT_TRUE(accepted);
  stream& server = *accepted;
  ::setsockopt(server.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ASSERT_FALSE(server.watch(*loop, [](readiness) {}));
  // Write until the stream refuses: the peer's buffer, the socket's and the ring's queue are full.
  const std::string block(4096, 'x');
  std::size_t written = 0;
  ASSERT_TRUE(run_until(*loop, [&] {
    const io_result put = server.write(block);
    if (put.done()) written += put.bytes;
    return put.would_block() || put.failed();
  }));
  ASSERT_GT(written, 0u);
  EXPECT_FALSE(server.close());
  // Before the linger ends the connection is still open (nothing is reset yet).
  for (int i = 0; i < 20; ++i) loop->run_once(10ms);
  std::array<char, 1> peek{};
  EXPECT_EQ(::recv(client->native_handle(), peek.data(), 1, MSG_PEEK | MSG_DONTWAIT), 1);
  ASSERT_TRUE(run_until(
      *loop,
      [&] {
        int error = 0;
        socklen_t size = sizeof error;
        ::getsockopt(client->native_handle(), SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0) {
          EXPECT_EQ(error, ECONNRESET);
          return true;
        }
        return false;
      },
      8000ms))
      << "the orphan is reset once the linger (5 s) ends";
}

}  // namespace
