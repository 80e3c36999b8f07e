// An event loop made on one thread and run on another must not interrupt the blocking calls of
// the thread that made it, neither while it runs nor when it is destroyed (issue 14). On io_uring
// the kernel delivers an operation's completion through the thread that submitted it, and tells
// every thread that ever used a ring when the ring goes; either wakes that thread's interruptible
// sleeps, and a receive with a timeout then returns EINTR instead of restarting.
#include <fcntl.h>
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
#include <string_view>
#include <thread>
#include <vector>

#include "loopback.hpp"
#include "taut/transport.hpp"
#include "transport_test_support.hpp"

namespace taut::transport::testing {
namespace {

using steady = std::chrono::steady_clock;

/// Blocks in receives with a timeout on a socket pair nobody writes to, for `span`; returns how
/// many came back interrupted (EINTR) rather than timed out (EAGAIN).
int interrupted_receives(std::chrono::milliseconds span, std::chrono::milliseconds each = 250ms) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return -1;
  timeval tv{};
  tv.tv_usec = static_cast<suseconds_t>(each.count() * 1000);
  ::setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int interrupted = 0;
  const auto until = steady::now() + span;
  do {
    char byte = 0;
    const ssize_t got = ::recv(pair[0], &byte, 1, 0);
    const int error = errno;
    EXPECT_EQ(got, -1);
    EXPECT_TRUE(error == EINTR || error == EAGAIN) << std::strerror(error);
    if (error == EINTR) ++interrupted;
  } while (steady::now() < until);
  ::close(pair[0]);
  ::close(pair[1]);
  return interrupted;
}

/// Echoes what each accepted connection sends, on the loop's thread.
struct echo_service {
  event_loop* loop = nullptr;
  std::vector<std::unique_ptr<stream>> connections;

  void adopt(stream&& accepted) {
    auto owned = std::make_unique<stream>(std::move(accepted));
    stream* s = owned.get();
    connections.push_back(std::move(owned));
    (void)s->watch(*loop, [s](readiness) {
      char buffer[512];
      for (;;) {
        const io_result got = s->read(buffer);
        if (got.would_block()) return;
        if (!got.done()) {
          (void)s->close();
          return;
        }
        (void)s->write(std::string_view(buffer, got.bytes));
      }
    });
  }
};

/// One blocking client exchange ("ping" back and forth) on a new connection; counts EINTRs.
bool ping(std::uint16_t port, std::atomic<int>& interrupted) {
  const int fd = taut::test::connect_loopback(port, 2000ms);
  bool ok = fd >= 0;
  if (!ok && errno == EINTR) ++interrupted;
  ok = ok && ::send(fd, "ping", 4, MSG_NOSIGNAL) == 4;
  std::string echoed;
  while (ok && echoed.size() < 4) {
    char buffer[8];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) ++interrupted;
    if (got <= 0) ok = false;
    if (got > 0) echoed.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return ok && echoed == "ping";
}

/// Runs `body` on a thread of its own and waits for it. A thread that ran an io_uring loop is told
/// of its ring's end once, after the ring is gone: a test that counts interruptions measures on a
/// thread that never touched a ring, whatever earlier tests in this process did on the main one.
template <typename Body>
void on_a_new_thread(Body body) {
  std::thread(body).join();
}

// A loop made, given a listener and destroyed on one thread, but run on another: the first
// thread's blocking calls go on undisturbed throughout, and so do those of a client thread.
void made_here_run_elsewhere() {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  auto listening = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(listening);
  const std::uint16_t port = listening->local_address().port();
  echo_service service;
  service.loop = loop.get();
  echo_service* target = &service;
  acceptor accepting(*loop, [target](stream&& s) { target->adopt(std::move(s)); });
  ASSERT_FALSE(accepting.start(std::move(*listening)));

  std::thread runner([&] { (void)loop->run(); });
  std::atomic<bool> done{false};
  std::atomic<int> answered{0};
  std::atomic<int> failed{0};
  std::atomic<int> client_interrupted{0};
  std::thread clients([&] {
    while (!done.load(std::memory_order_relaxed)) {
      ++(ping(port, client_interrupted) ? answered : failed);
    }
  });

  const int while_running = interrupted_receives(1500ms);
  done = true;
  clients.join();
  loop->stop();
  runner.join();
  (void)accepting.stop();
  service.connections.clear();
  loop.reset();
  // Whatever the kernel still does for the destroyed loop must not reach this thread either.
  const int after_destruction = interrupted_receives(500ms);

  EXPECT_GT(answered.load(), 10) << "the loop was not busy while this thread waited";
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(while_running, 0) << "interrupted while the loop ran on another thread";
  EXPECT_EQ(after_destruction, 0) << "interrupted after the loop was destroyed";
  EXPECT_EQ(client_interrupted.load(), 0) << "the client thread was interrupted";
}

TEST(LoopInterruptions, TheThreadThatMadeALoopRunByAnotherIsNotInterrupted) {
  on_a_new_thread(made_here_run_elsewhere);
}

// The simplest case: a loop made and destroyed on this thread, never run. Its ring (on io_uring)
// must leave no trace that interrupts this thread later.
TEST(LoopInterruptions, ALoopNeverRunLeavesNoInterruptionBehind) {
  on_a_new_thread([] {
    {
      auto loop = make_loop();
      ASSERT_TRUE(loop);
    }
    EXPECT_EQ(interrupted_receives(300ms), 0);
  });
}

// io_uring_mode() names how io_uring loops take completions wherever they can be made.
TEST(LoopInterruptions, TheIoUringModeIsNamedWhereIoUringRuns) {
  const std::string_view mode = io_uring_mode();
  if (io_uring_available()) {
    EXPECT_EQ(mode, "");
  } else {
    EXPECT_TRUE(mode == "single issuer, deferred task running" ||
                mode == "cooperative task running" || mode == "task running by interrupt")
        << mode;
  }
}

// A single-issuer ring (deferred task running) takes submissions from one thread only: the first
// that runs the loop. Another thread's run() says so instead of running the loop.
TEST(LoopInterruptions, ASingleIssuerLoopRunsOnTheFirstThreadThatRunsIt) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  if (loop->backend() != io_backend::io_uring ||
      std::string_view(io_uring_mode()) != "single issuer, deferred task running") {
    GTEST_SKIP() << "not a single-issuer io_uring loop here";
  }
  loop->run_once(0ms);  // this thread is now the loop's
  std::error_code elsewhere;
  std::thread other([&] { elsewhere = loop->run(); });
  other.join();
  EXPECT_EQ(elsewhere, std::errc::file_exists);
  // Still the loop's thread's to run.
  loop->stop();
  EXPECT_FALSE(loop->run());
}

/// A connected TCP client socket (blocking, receives and sends time out after 2 s) and the
/// accepted stream, watched by `loop`.
std::pair<int, stream> watched_connection(event_loop& loop, listener& listening) {
  const int client = taut::test::connect_loopback(listening.local_address().port(), 2000ms);
  EXPECT_GE(client, 0);
  stream accepted;
  for (int i = 0; i < 200 && !accepted.is_open(); ++i) {
    auto got = listening.accept();
    if (got) {
      accepted = std::move(*got);
    } else {
      std::this_thread::sleep_for(10ms);
    }
  }
  EXPECT_TRUE(accepted.is_open());
  EXPECT_FALSE(accepted.watch(loop, [](readiness) {}));
  return {client, std::move(accepted)};
}

/// Everything the client socket receives until its end of stream (or an error: then "!").
std::string receive_all(int client) {
  std::string received;
  for (;;) {
    char buffer[4096];
    const ssize_t got = ::recv(client, buffer, sizeof buffer, 0);
    if (got == 0) break;
    if (got < 0) return received + "!" + std::strerror(errno);
    received.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(client);
  return received;
}

// A loop run on another thread, then a stream of it written to and closed on this one, then the
// loop destroyed without running again: the written bytes still reach the peer before its end of
// stream (io_uring: this thread may not submit the send, so the loop's destruction sends them
// itself rather than count them as in flight).
TEST(LoopInterruptions, BytesClosedOffTheLoopThreadReachThePeerWhenTheLoopGoes) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  auto listening = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(listening);
  auto [client, accepted] = watched_connection(*loop, *listening);
  std::thread runner([&loop] { (void)loop->run_once(0ms); });  // that thread is now the loop's
  runner.join();

  const std::string body = pattern(6000);
  const io_result wrote = accepted.write(body);
  ASSERT_TRUE(wrote.done());
  ASSERT_EQ(wrote.bytes, body.size());
  (void)accepted.close();
  loop.reset();
  EXPECT_TRUE(receive_all(client) == body);
}

// A listener watched by a loop not yet run, then closed on this thread: its multishot accept,
// queued but not submitted, must not run on whatever socket gets its number next (it would take
// that socket's connections and close them). The number stays the listener's until the loop has
// submitted what names it.
TEST(LoopInterruptions, AListenerClosedBeforeItsLoopRunsLeavesItsNumberToNoOtherSocket) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  auto closing = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(closing);
  const int number = closing->native_handle();
  ASSERT_FALSE(closing->watch(*loop, [](readiness) {}));
  (void)closing->close();

  int fresh = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fresh, reinterpret_cast<const sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(::listen(fresh, 8), 0);
  socklen_t size = sizeof at;
  ASSERT_EQ(::getsockname(fresh, reinterpret_cast<sockaddr*>(&at), &size), 0);
  if (::fcntl(number, F_GETFD) < 0) {
    // The number is free: the new socket takes it, as the next socket() or accept() would.
    ASSERT_EQ(::dup2(fresh, number), number);
    ::close(fresh);
    fresh = number;
  }
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(client, reinterpret_cast<const sockaddr*>(&at), sizeof at), 0);
  (void)loop->run_once(0ms);

  const int accepted = ::accept4(fresh, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  EXPECT_GE(accepted, 0) << "the connection went elsewhere: " << std::strerror(errno);
  if (accepted >= 0) ::close(accepted);
  ::close(client);
  ::close(fresh);
  loop.reset();
}

}  // namespace
}  // namespace taut::transport::testing
