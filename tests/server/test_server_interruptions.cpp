// A taut::server running in a process must not interrupt the blocking calls of the process's
// other threads: the thread that called start() goes on with its own work (here a blocking
// receive with a timeout, the call that reports an interruption as EINTR instead of restarting
// it) while clients keep the server's loops busy. Issue 14: on io_uring, completions of
// operations submitted from a thread other than the loop's own were delivered through that
// thread, which woke its interruptible sleeps with EINTR.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "loopback.hpp"
#include "taut/server.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct hello final : request_handler {
  void on_request(server_request&, response_writer response) override {
    response.send(200, "hello", "text/plain");
  }
};

void set_timeout(int fd, int option, std::chrono::milliseconds limit) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(limit.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((limit.count() % 1000) * 1000);
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv), 0);
}

/// What one client thread saw: requests answered, and blocking calls that came back interrupted.
struct client_tally {
  std::atomic<int> answered{0};
  std::atomic<int> interrupted{0};
  std::atomic<int> failed{0};
};

/// One connection, one request, one response read to its end, with blocking calls under
/// timeouts (as a simple blocking client is written).
void one_request(std::uint16_t port, client_tally& tally) {
  const int fd = connect_loopback(port, 2000ms);
  bool ok = fd >= 0;
  if (!ok && errno == EINTR) ++tally.interrupted;
  static constexpr std::string_view request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  if (ok) {
    const ssize_t sent = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) ++tally.interrupted;
    ok = sent == static_cast<ssize_t>(request.size());
  }
  std::string received;
  while (ok && received.find("hello") == std::string::npos) {
    char buffer[512];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) ++tally.interrupted;
    if (got <= 0) ok = false;
    if (got > 0) received.append(buffer, static_cast<std::size_t>(got));
  }
  ++(ok ? tally.answered : tally.failed);
  ::close(fd);
}

// What a user writes: a server started from main(), which then blocks on something of its own.
TEST(ServerInterruptions, TheStartingThreadsBlockingCallsAreNotInterrupted) {
  hello handler;
  server_options options;
  options.listen = {"127.0.0.1:0"};
  options.threads = 2;
  auto srv = std::make_unique<server>(handler, options);
  ASSERT_FALSE(srv->start());
  const std::uint16_t port = srv->local_addresses()[0].port();

  std::atomic<bool> done{false};
  client_tally tally;
  std::thread clients([&] {
    while (!done.load(std::memory_order_relaxed)) one_request(port, tally);
  });

  // A socket pair nobody writes to: the receive can only time out (EAGAIN) or be interrupted.
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  set_timeout(pair[0], SO_RCVTIMEO, 500ms);
  int interrupted = 0;
  int timed_out = 0;
  const auto until = steady::now() + 2s;
  while (steady::now() < until) {
    char byte = 0;
    const ssize_t got = ::recv(pair[0], &byte, 1, 0);
    const int error = errno;
    ASSERT_EQ(got, -1);
    if (error == EINTR) ++interrupted;
    if (error == EAGAIN) ++timed_out;
    ASSERT_TRUE(error == EINTR || error == EAGAIN) << std::strerror(error);
  }
  done = true;
  clients.join();
  srv->stop();
  srv->wait();
  srv.reset();
  // Whatever the kernel still does for the server's destroyed loops must not reach this thread.
  int after_destruction = 0;
  for (int i = 0; i < 2; ++i) {
    char byte = 0;
    if (::recv(pair[0], &byte, 1, 0) < 0 && errno == EINTR) ++after_destruction;
  }
  ::close(pair[0]);
  ::close(pair[1]);

  EXPECT_GT(tally.answered.load(), 10) << "the server was not busy while the receive waited";
  EXPECT_EQ(tally.failed.load(), 0);
  EXPECT_EQ(interrupted, 0) << "the thread that started the server saw EINTR " << interrupted
                            << " times (" << timed_out << " receives timed out as they should)";
  EXPECT_EQ(after_destruction, 0) << "interrupted after the server was destroyed";
  EXPECT_EQ(tally.interrupted.load(), 0) << "a client thread saw EINTR";
}

}  // namespace
}  // namespace taut::test
