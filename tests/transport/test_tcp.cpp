// TCP over loopback: echo through the loop on IPv4 and IPv6, SO_REUSEPORT, TCP_NODELAY, peer
// addresses, gathered writes, sendfile, would-block, resets, half-closes and error values.
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "privileges.hpp"
#include "transport_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace taut::transport;
using taut::transport::testing::collecting_client;
using taut::transport::testing::echo_server;
using taut::transport::testing::make_loop;
using taut::transport::testing::pattern;
using taut::transport::testing::run_until;

bool have_ipv6_loopback() {
  auto probe = listener::listen("[::1]:0");
  return probe.has_value();
}

// Connects and waits (bounded) until the stream is writable, i.e. connected.
stream connect_and_wait(event_loop& loop, const address& to) {
  auto connected = connect(to);
  EXPECT_TRUE(connected) << connected.error().message();
  if (!connected) return {};
  stream s = std::move(*connected);
  bool writable = false;
  EXPECT_FALSE(s.watch(loop, [&](readiness r) { writable |= has(r, readiness::writable); }));
  EXPECT_TRUE(run_until(loop, [&] { return writable; }));
  EXPECT_FALSE(s.connect_error());
  s.unwatch();
  return s;
}

// A connected (client, server) pair of TCP streams.
std::pair<stream, stream> tcp_pair(event_loop& loop, listener& server) {
  stream client = connect_and_wait(loop, server.local_address());
  stream accepted;
  EXPECT_TRUE(run_until(loop, [&] {
    auto got = server.accept();
    if (got) accepted = std::move(*got);
    return accepted.is_open();
  }));
  return {std::move(client), std::move(accepted)};
}

void echo_round_trip(const char* listen_at) {
  auto loop = make_loop();
  auto server_side = listener::listen(listen_at);
  ASSERT_TRUE(server_side) << server_side.error().message();
  EXPECT_EQ(server_side->kind(), transport_kind::tcp);
  const address bound = server_side->local_address();
  EXPECT_NE(bound.port(), 0) << "the ephemeral port is learned from the kernel";
  echo_server server(*loop);
  ASSERT_FALSE(server.start(std::move(*server_side)));

  std::vector<std::unique_ptr<collecting_client>> clients;
  for (std::size_t i = 0; i < 4; ++i) {
    auto connected = connect(bound);
    ASSERT_TRUE(connected) << connected.error().message();
    // Big enough to fill socket buffers and exercise would_block on both sides.
    clients.push_back(std::make_unique<collecting_client>(std::move(*connected),
                                                          pattern(300000 + 1000 * i), true));
    ASSERT_FALSE(clients.back()->start(*loop));
  }
  ASSERT_TRUE(run_until(
      *loop,
      [&] {
        for (const auto& c : clients) {
          if (!c->done()) return false;
        }
        return true;
      },
      20000ms));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    EXPECT_FALSE(clients[i]->error()) << clients[i]->error().message();
    EXPECT_EQ(clients[i]->received().size(), 300000 + 1000 * i);
    EXPECT_TRUE(clients[i]->received() == pattern(300000 + 1000 * i)) << "client " << i;
  }
}

TEST(Tcp, Ipv4EchoThroughTheLoop) {
  echo_round_trip("127.0.0.1:0");
}

TEST(Tcp, LocalhostEcho) {
  echo_round_trip("localhost:0");
}

TEST(Tcp, Ipv6EchoThroughTheLoop) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1 on this machine";
  echo_round_trip("[::1]:0");
}

TEST(Tcp, PeerAndLocalAddressesAsText) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  auto client_accepted = tcp_pair(*loop, *server);
  stream& client = client_accepted.first;
  stream& accepted = client_accepted.second;
  ASSERT_TRUE(accepted.is_open());
  const auto peer = accepted.peer_address();
  ASSERT_TRUE(peer);
  const auto client_local = client.local_address();
  ASSERT_TRUE(client_local);
  EXPECT_EQ(*peer, *client_local);
  EXPECT_EQ(peer->to_string(), "127.0.0.1:" + std::to_string(client_local->port()));
  EXPECT_EQ(client.peer_address()->to_string(), "127.0.0.1:" + std::to_string(server->port()));
}

TEST(Tcp, Ipv6PeerAddressText) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1 on this machine";
  auto loop = make_loop();
  auto server = listener::listen("[::1]:0");
  ASSERT_TRUE(server);
  auto client_accepted = tcp_pair(*loop, *server);
  stream& client = client_accepted.first;
  stream& accepted = client_accepted.second;
  ASSERT_TRUE(accepted.is_open());
  EXPECT_EQ(accepted.peer_address()->to_string(),
            "[::1]:" + std::to_string(client.local_address()->port()));
}

TEST(Tcp, AcceptedStreamsHaveNoDelay) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  auto client_accepted = tcp_pair(*loop, *server);
  stream& accepted = client_accepted.second;
  ASSERT_TRUE(accepted.is_open());
  EXPECT_EQ(accepted.no_delay().value(), true);
  ASSERT_FALSE(accepted.set_no_delay(false));
  EXPECT_EQ(accepted.no_delay().value(), false);

  listen_options nagle;
  nagle.no_delay = false;
  auto plain = listener::listen("127.0.0.1:0", nagle);
  ASSERT_TRUE(plain);
  auto client2_accepted2 = tcp_pair(*loop, *plain);
  stream& accepted2 = client2_accepted2.second;
  ASSERT_TRUE(accepted2.is_open());
  EXPECT_EQ(accepted2.no_delay().value(), false);
}

TEST(Tcp, ReusePortLetsTwoListenersShareAPortAndBothAccept) {
  listen_options shared;
  shared.reuse_port = true;
  auto first = listener::listen("127.0.0.1:0", shared);
  ASSERT_TRUE(first);
  const std::string at = "127.0.0.1:" + std::to_string(first->port());
  auto second = listener::listen(at, shared);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->port(), first->port());

  // The kernel spreads connections over both by a hash of the client's address and port: with
  // enough connections both listeners see some.
  auto loop = make_loop();
  int accepted_first = 0;
  int accepted_second = 0;
  acceptor a(*loop, [&](stream&&) { ++accepted_first; });
  acceptor b(*loop, [&](stream&&) { ++accepted_second; });
  ASSERT_FALSE(a.start(std::move(*first)));
  ASSERT_FALSE(b.start(std::move(*second)));
  std::vector<stream> clients;
  const address target = *address::parse(at);
  for (int i = 0; i < 64; ++i) clients.push_back(std::move(*connect(target)));
  ASSERT_TRUE(run_until(*loop, [&] { return accepted_first + accepted_second == 64; }));
  EXPECT_GT(accepted_first, 0);
  EXPECT_GT(accepted_second, 0);
}

TEST(Tcp, WithoutReusePortTheSecondBindIsAddressInUse) {
  auto first = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(first);
  auto second = listener::listen("127.0.0.1:" + std::to_string(first->port()));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
}

TEST(Tcp, BadAddressTextIsAnErrorValue) {
  EXPECT_EQ(listener::listen("127.0.0.1").error(), errc::missing_port);
  EXPECT_EQ(listener::listen("127.0.0.1:70000").error(), errc::port_out_of_range);
  EXPECT_EQ(listener::listen("no.such.host:80").error(), errc::unknown_host);
  EXPECT_EQ(listener::listen("").error(), errc::empty_address);
}

int unprivileged_port_start() {
  std::ifstream file("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  int port = 1024;
  file >> port;
  return port;
}

void bind_privileged_port_as_nobody(int port) {
  if (!taut::transport::testing::drop_privileges()) {
    std::fprintf(stderr, "could not drop privileges\n");
    std::_Exit(2);
  }
  auto denied = listener::listen("127.0.0.1:" + std::to_string(port));
  if (denied) {
    std::fprintf(stderr, "an unprivileged process bound port %d\n", port);
    std::_Exit(3);
  }
  if (denied.error() != std::errc::permission_denied) {
    std::fprintf(stderr, "wrong error: %s\n", denied.error().message().c_str());
    std::_Exit(4);
  }
  std::fprintf(stderr, "permission denied as expected\n");
  std::_Exit(0);
}

TEST(Tcp, APrivilegedPortIsPermissionDeniedForOrdinaryUsers) {
  const int port = unprivileged_port_start() - 1;
  if (port < 1) GTEST_SKIP() << "this host lets anyone bind any port";
  if (!taut::transport::testing::can_drop_privileges()) {
    GTEST_SKIP() << "running as root without the right to switch users";
  }
  EXPECT_EXIT(bind_privileged_port_as_nobody(port), ::testing::ExitedWithCode(0),
              "permission denied as expected");
}

TEST(Tcp, BindingAnAddressThisHostDoesNotHaveFails) {
  auto bound = listener::listen("192.0.2.1:0");  // TEST-NET-1, never local
  ASSERT_FALSE(bound);
  EXPECT_EQ(bound.error(), std::errc::address_not_available);
}

TEST(Tcp, WritevSendsThePartsInOrder) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  auto client_accepted = tcp_pair(*loop, *server);
  stream& client = client_accepted.first;
  stream& accepted = client_accepted.second;
  const std::string body = pattern(1000);
  const const_buffer parts[] = {std::string_view("HTTP/1.1 200 OK\r\n"),
                                std::string_view("Content-Length: 1000\r\n\r\n"),
                                std::string_view(body)};
  const io_result wrote = accepted.writev(parts);
  ASSERT_TRUE(wrote.done()) << wrote.error().message();
  const std::size_t total = 17 + 24 + 1000;
  EXPECT_EQ(wrote.bytes, total);
  std::string got;
  ASSERT_TRUE(run_until(*loop, [&] {
    std::array<char, 4096> chunk{};
    const io_result r = client.read(chunk);
    if (r.done()) got.append(chunk.data(), r.bytes);
    return got.size() >= total;
  }));
  EXPECT_EQ(got, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body);
}

TEST(Tcp, SendfileSendsAFileRange) {
  char name[] = "/tmp/taut-sendfile-XXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_GE(fd, 0);
  ::unlink(name);
  const std::string content = pattern(200000);
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));

  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  auto client_accepted = tcp_pair(*loop, *server);
  stream& client = client_accepted.first;
  stream& accepted = client_accepted.second;
  std::uint64_t offset = 1000;
  const std::uint64_t end = 150000;
  std::string got;
  ASSERT_TRUE(run_until(*loop, [&] {
    if (offset < end) {
      const io_result sent = accepted.sendfile(fd, offset, end - offset);
      EXPECT_FALSE(sent.failed()) << sent.error().message();
    }
    std::array<char, 65536> chunk{};
    const io_result r = client.read(chunk);
    if (r.done()) got.append(chunk.data(), r.bytes);
    return got.size() >= end - 1000;
  }));
  EXPECT_EQ(offset, end);
  EXPECT_TRUE(got == content.substr(1000, end - 1000));
  ::close(fd);
}

TEST(Tcp, FillingTheSocketSurfacesWouldBlockAndTheLoopReportsRoomAgain) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  auto client_accepted = tcp_pair(*loop, *server);
  stream& client = client_accepted.first;
  stream& accepted = client_accepted.second;
  int writable_edges = 0;
  ASSERT_FALSE(
      accepted.watch(*loop, [&](readiness r) { writable_edges += has(r, readiness::writable); }));
  loop->run_once(0ms);
  const std::string block(65536, 'x');
  std::size_t written = 0;
  io_result last;
  for (int i = 0; i < 10000; ++i) {
    last = accepted.write(block);
    if (!last.done()) break;
    written += last.bytes;
  }
  ASSERT_TRUE(last.would_block()) << "the peer never reads, so the buffers must fill";
  EXPECT_FALSE(accepted.writable());
  writable_edges = 0;

  // Drain the client; the kernel reports room and the hint comes back.
  std::size_t drained = 0;
  ASSERT_TRUE(run_until(*loop, [&] {
    std::array<char, 65536> chunk{};
    for (;;) {
      const io_result r = client.read(chunk);
      if (!r.done()) break;
      drained += r.bytes;
    }
    return writable_edges > 0;
  }));
  EXPECT_TRUE(accepted.writable());
  EXPECT_GT(drained, 0u);
  EXPECT_GT(written, 0u);
}

TEST(Tcp, AbortResetsThePeer) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  auto client_accepted = tcp_pair(*loop, *server);
  stream& client = client_accepted.first;
  stream& accepted = client_accepted.second;
  accepted.abort();
  EXPECT_FALSE(accepted.is_open());
  std::error_code seen;
  ASSERT_TRUE(run_until(*loop, [&] {
    std::array<char, 16> chunk{};
    const io_result r = client.read(chunk);
    if (r.failed()) seen = r.error();
    return r.failed() || r.eof();
  }));
  EXPECT_EQ(seen, std::errc::connection_reset);
}

TEST(Tcp, HalfCloseGivesThePeerEofAndTheOtherWayStillWorks) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  auto client_accepted = tcp_pair(*loop, *server);
  stream& client = client_accepted.first;
  stream& accepted = client_accepted.second;
  readiness seen = readiness::none;
  ASSERT_FALSE(accepted.watch(*loop, [&](readiness r) { seen |= r; }));
  ASSERT_EQ(client.write("request").bytes, 7u);
  ASSERT_FALSE(client.shutdown_write());
  std::string got;
  bool eof = false;
  ASSERT_TRUE(run_until(*loop, [&] {
    std::array<char, 16> chunk{};
    while (accepted.readable()) {
      const io_result r = accepted.read(chunk);
      if (r.done()) got.append(chunk.data(), r.bytes);
      if (r.eof()) eof = true;
      if (!r.done()) break;
    }
    return eof;
  }));
  EXPECT_EQ(got, "request");
  EXPECT_TRUE(has(seen, readiness::hangup));
  ASSERT_EQ(accepted.write("response").bytes, 8u);
  std::string reply;
  ASSERT_TRUE(run_until(*loop, [&] {
    std::array<char, 16> chunk{};
    const io_result r = client.read(chunk);
    if (r.done()) reply.append(chunk.data(), r.bytes);
    return reply.size() == 8;
  }));
  EXPECT_EQ(reply, "response");
}

TEST(Tcp, ConnectToAClosedPortFails) {
  auto loop = make_loop();
  address closed;
  {
    auto probe = listener::listen("127.0.0.1:0");
    ASSERT_TRUE(probe);
    closed = probe->local_address();
  }
  auto connected = connect(closed);
  ASSERT_TRUE(connected);  // the failure arrives asynchronously
  bool notified = false;
  ASSERT_FALSE(connected->watch(*loop, [&](readiness) { notified = true; }));
  ASSERT_TRUE(run_until(*loop, [&] { return notified; }));
  EXPECT_EQ(connected->connect_error(), std::errc::connection_refused);
}

TEST(Tcp, AWatchedStreamCanBeMovedAndDestroyedInsideItsCallback) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  auto client_accepted = tcp_pair(*loop, *server);
  stream& client = client_accepted.first;
  stream& accepted = client_accepted.second;
  auto holder = std::make_unique<stream>(std::move(accepted));
  int calls = 0;
  ASSERT_FALSE(holder->watch(*loop, [&](readiness) { ++calls; }));
  stream moved = std::move(*holder);  // the registration follows the object
  holder.reset();
  ASSERT_TRUE(moved.watched());
  loop->run_once(0ms);
  calls = 0;
  ASSERT_EQ(client.write("ping").bytes, 4u);
  ASSERT_TRUE(run_until(*loop, [&] { return calls > 0; }));
  std::array<char, 8> chunk{};
  EXPECT_EQ(moved.read(chunk).bytes, 4u);

  // Two streams ready in one batch; the first callback closes the second.
  auto client2_accepted2 = tcp_pair(*loop, *server);
  stream& client2 = client2_accepted2.first;
  stream& accepted2 = client2_accepted2.second;
  int second_calls = 0;
  ASSERT_FALSE(moved.watch(*loop, [&](readiness) { (void)accepted2.close(); }));
  ASSERT_FALSE(accepted2.watch(*loop, [&](readiness) { ++second_calls; }));
  loop->run_once(0ms);
  second_calls = 0;
  ASSERT_EQ(client.write("a").bytes, 1u);
  ASSERT_EQ(client2.write("b").bytes, 1u);
  std::this_thread::sleep_for(20ms);  // both arrive before the next epoll_wait
  loop->run_once(100ms);
  // Whichever ran first, the closed stream's event was dropped, not delivered to freed memory
  // (AddressSanitizer would flag that).
  EXPECT_LE(second_calls, 1);
}

TEST(Tcp, ACallbackMayCloseItsOwnStreamAndKeepUsingItsCaptures) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  auto client_accepted = tcp_pair(*loop, *server);
  stream& client = client_accepted.first;
  stream& accepted = client_accepted.second;
  int calls = 0;
  ASSERT_FALSE(accepted.watch(*loop, [&accepted, &calls](readiness) {
    (void)accepted.close();
    ++calls;
  }));
  ASSERT_EQ(client.write("x").bytes, 1u);
  ASSERT_TRUE(run_until(*loop, [&] { return calls > 0; }));
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(accepted.is_open());
}

TEST(Tcp, AWatchedListenerCanBeMoved) {
  auto loop = make_loop();
  auto original = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(original);
  int notifications = 0;
  ASSERT_FALSE(original->watch(*loop, [&notifications](readiness) { ++notifications; }));
  listener moved = std::move(*original);
  EXPECT_TRUE(moved.watched());
  EXPECT_FALSE(original->is_open());
  auto client = connect(moved.local_address());
  ASSERT_TRUE(client);
  ASSERT_TRUE(run_until(*loop, [&] { return notifications > 0; }));
  EXPECT_TRUE(moved.accept().has_value());
}

// discard_unread(): what has arrived is read and dropped without waiting, so that the close after
// a last answer is orderly (the peer reads the answer, then the end) and not a reset; a budget
// bounds what one call takes.
int tcp_state(const stream& s) {
  tcp_info info{};
  socklen_t size = sizeof info;
  if (::getsockopt(s.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return -1;
  return info.tcpi_state;
}

void send_all_and_wait_delivered(event_loop& loop, stream& from, const std::string& bytes) {
  std::size_t written = 0;
  ASSERT_TRUE(run_until(loop, [&] {
    const io_result r = from.write(std::string_view(bytes).substr(written));
    if (r.done()) written += r.bytes;
    int unsent = 0;
    return written == bytes.size() && ::ioctl(from.native_handle(), SIOCOUTQ, &unsent) == 0 &&
           unsent == 0;
  }));
}

TEST(Tcp, DiscardUnreadMakesTheCloseAfterALastAnswerOrderly) {
  for (const bool discard : {true, false}) {
    SCOPED_TRACE(discard ? "discarding" : "closing with the bytes unread");
    auto loop = make_loop();
    auto server = listener::listen("127.0.0.1:0");
    ASSERT_TRUE(server) << server.error().message();
    auto pair = tcp_pair(*loop, *server);
    stream& client = pair.first;
    stream& accepted = pair.second;
    ASSERT_FALSE(accepted.watch(*loop, [](readiness) {}));
    const std::string sent(60000, 'x');
    send_all_and_wait_delivered(*loop, client, sent);
    for (int i = 0; i < 5; ++i) loop->run_once(10ms);  // io_uring's receives take some of it in
    ASSERT_TRUE(accepted.write("bye").done());
    ASSERT_FALSE(accepted.shutdown_write());
    if (discard) {
      EXPECT_EQ(accepted.discard_unread(1u << 20), sent.size());
    }
    ASSERT_FALSE(accepted.close());
    // The client's side: an orderly end leaves it in CLOSE_WAIT; a reset, CLOSED.
    ASSERT_TRUE(run_until(*loop, [&] { return tcp_state(client) != TCP_ESTABLISHED; }));
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(tcp_state(client), discard ? TCP_CLOSE_WAIT : TCP_CLOSE);
  }
}

TEST(Tcp, DiscardUnreadStopsAtItsBudget) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server) << server.error().message();
  auto pair = tcp_pair(*loop, *server);
  stream& client = pair.first;
  stream& accepted = pair.second;
  ASSERT_FALSE(accepted.watch(*loop, [](readiness) {}));
  const std::string sent(60000, 'x');  // within the receiver's socket buffer: all of it delivered
  send_all_and_wait_delivered(*loop, client, sent);
  const std::size_t first = accepted.discard_unread(1000);
  EXPECT_GE(first, 1000u);
  EXPECT_LE(first, 1000u + 16 * 1024) << "one read past the budget at most";
  const std::size_t rest = accepted.discard_unread(1u << 20);
  int left_in_socket = -1;
  ASSERT_EQ(::ioctl(accepted.native_handle(), FIONREAD, &left_in_socket), 0);
  EXPECT_EQ(left_in_socket, 0) << "the socket's queue, which a close would answer with a reset";
  // On io_uring, what a receive completed but the loop has not taken in yet is off the socket
  // already (in the ring's buffers, dropped with the stream): it does not count here.
  if (loop->backend() == io_backend::epoll) {
    EXPECT_EQ(first + rest, sent.size());
  } else {
    EXPECT_LE(first + rest, sent.size());
  }
  EXPECT_EQ(accepted.discard_unread(1u << 20), 0u) << "nothing waits for more";
}

// nothing_to_read(): what a read would find, known without one, only inside the loop's iteration
// and only once a read found the stream empty, with no report for it since.
struct draining {
  explicit draining(stream* own, stream* looked_at = nullptr) : self(own), other(looked_at) {}
  stream* self = nullptr;
  stream* other = nullptr;  // looked at from this stream's callback, before its own read
  int calls = 0;
  bool other_quiet = true;  // other->nothing_to_read() at this stream's first callback
  bool quiet_after_read = false;
  std::string got;
};

void drain_into(draining& d) {
  if (d.calls++ == 0 && d.other != nullptr) d.other_quiet = d.other->nothing_to_read();
  std::array<char, 256> room{};
  for (;;) {
    const io_result r = d.self->read(room);
    if (!r.done() || r.bytes == 0) break;
    d.got.append(room.data(), r.bytes);
    if (r.bytes < room.size()) break;  // short: empty now
  }
  d.quiet_after_read = d.self->nothing_to_read();
}

TEST(Tcp, NothingToReadIsKnownInsideTheLoopOnceAReadFoundTheStreamEmpty) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server) << server.error().message();
  auto pair = tcp_pair(*loop, *server);
  stream& client = pair.first;
  stream& accepted = pair.second;
  EXPECT_FALSE(accepted.nothing_to_read());  // not watched: only a read can tell
  draining d(&accepted);
  ASSERT_FALSE(accepted.watch(*loop, [&d](readiness) { drain_into(d); }));
  EXPECT_FALSE(accepted.nothing_to_read());  // watched, but neither polled nor read yet
  ASSERT_TRUE(client.write("ping").done());
  ASSERT_TRUE(run_until(*loop, [&] { return d.got == "ping"; }));
  // Inside the callback, after a short read: on epoll the read itself found the socket empty; on
  // io_uring the read took the last received buffer and queued the next receive, which reaches
  // the kernel only at the next wait, so bytes or an end that followed the taken ones may still
  // sit in the socket unseen.
  EXPECT_EQ(d.quiet_after_read, loop->backend() == io_backend::epoll);
  EXPECT_FALSE(accepted.nothing_to_read());  // outside the loop: the loop is not looking

  bool quiet_in_timer = false;
  timer later(*loop, [&] { quiet_in_timer = accepted.nothing_to_read(); });
  later.arm_in(1ms);
  ASSERT_TRUE(run_until(*loop, [&] { return !later.armed(); }));
  EXPECT_TRUE(quiet_in_timer);

  // Bytes the loop has reported but nobody read yet, and the peer's end: a read is needed.
  accepted.unwatch();
  bool reported = false;
  ASSERT_FALSE(
      accepted.watch(*loop, [&](readiness r) { reported |= has(r, readiness::readable); }));
  ASSERT_TRUE(client.write("more").done());
  ASSERT_TRUE(run_until(*loop, [&] { return reported; }));
  later.arm_in(1ms);
  ASSERT_TRUE(run_until(*loop, [&] { return !later.armed(); }));
  EXPECT_FALSE(quiet_in_timer);
}

TEST(Tcp, NothingToReadWaitsForEveryReportTheLoopTookInTheSameWait) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server) << server.error().message();
  auto pair_a = tcp_pair(*loop, *server);
  auto pair_b = tcp_pair(*loop, *server);
  stream& client_a = pair_a.first;
  stream& a = pair_a.second;
  stream& client_b = pair_b.first;
  stream& b = pair_b.second;
  draining da(&a, &b);
  draining db(&b, &a);
  ASSERT_FALSE(a.watch(*loop, [&da](readiness) { drain_into(da); }));
  ASSERT_FALSE(b.watch(*loop, [&db](readiness) { drain_into(db); }));
  // Both found empty by a read inside the loop first.
  ASSERT_TRUE(client_a.write("1").done());
  ASSERT_TRUE(client_b.write("1").done());
  ASSERT_TRUE(run_until(*loop, [&] { return da.got == "1" && db.got == "1"; }));
  if (loop->backend() == io_backend::epoll) {
    ASSERT_TRUE(da.quiet_after_read && db.quiet_after_read);
  }
  // Then both written to before one wait: the callback that runs first must not take the other
  // stream, whose report waits in the same batch (or whose bytes wait in the ring), for quiet.
  da.calls = db.calls = 0;
  da.other_quiet = db.other_quiet = true;
  ASSERT_TRUE(client_a.write("2").done());
  ASSERT_TRUE(client_b.write("2").done());
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(run_until(*loop, [&] { return da.got == "12" && db.got == "12"; }));
  EXPECT_FALSE(da.other_quiet && db.other_quiet);
}

TEST(Tcp, NothingToReadIsNotKnownAfterAWaitThatFilledTheEventArray) {
  loop_options options;
  options.max_events = 1;
  options.backend = io_backend::epoll;
  auto made = event_loop::create(options);
  ASSERT_TRUE(made) << made.error().message();
  event_loop& loop = **made;
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server) << server.error().message();
  auto pair_a = tcp_pair(loop, *server);
  auto pair_b = tcp_pair(loop, *server);
  stream& client_a = pair_a.first;
  stream& a = pair_a.second;
  stream& client_b = pair_b.first;
  stream& b = pair_b.second;
  draining da(&a);
  draining db(&b, &a);
  ASSERT_FALSE(a.watch(loop, [&da](readiness) { drain_into(da); }));
  ASSERT_FALSE(b.watch(loop, [&db](readiness) { drain_into(db); }));
  ASSERT_TRUE(client_a.write("1").done());
  ASSERT_TRUE(client_b.write("1").done());
  ASSERT_TRUE(run_until(loop, [&] { return da.got == "1" && db.got == "1"; }));
  // A wait that brought nothing took everything: a is known empty from a timer's callback.
  bool quiet_in_timer = false;
  timer later(loop, [&] { quiet_in_timer = a.nothing_to_read(); });
  later.arm_in(1ms);
  ASSERT_TRUE(run_until(loop, [&] { return !later.armed(); }));
  ASSERT_TRUE(quiet_in_timer);
  // One event per wait: the wait that reports b's bytes may have left a's in the kernel.
  db.calls = 0;
  db.other_quiet = true;
  ASSERT_TRUE(client_b.write("2").done());
  ASSERT_TRUE(run_until(loop, [&] { return db.got == "12"; }));
  EXPECT_FALSE(db.other_quiet);
}

TEST(Tcp, StreamIsSmall) {
  // Per-connection memory matters at 10,000 idle connections: the stream itself stays tiny.
  EXPECT_LE(sizeof(stream), 56u);
}

}  // namespace
