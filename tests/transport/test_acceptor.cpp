// The acceptor: connections handed over, batches, pause/resume (a connection limit), and running
// out of file descriptors without spinning the loop. The EMFILE tests run in child processes,
// which may exhaust their own descriptor table freely.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "transport_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace taut::transport;
using taut::transport::testing::make_loop;
using taut::transport::testing::run_until;

// In a child process: report and leave with a distinct code when a check fails.
#define CHILD_CHECK(condition, code)                                          \
  do {                                                                        \
    if (!(condition)) {                                                       \
      std::fprintf(stderr, "check failed (exit %d): %s\n", code, #condition); \
      std::_Exit(code);                                                       \
    }                                                                         \
  } while (false)

// Waits (bounded) until the kernel has a connection queued on `server`.
bool wait_for_pending(const listener& server) {
  pollfd watched{server.native_handle(), POLLIN, 0};
  return ::poll(&watched, 1, 2000) == 1;
}

// Uses up every free descriptor below a lowered limit; returns them for release.
std::vector<int> exhaust_descriptors() {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = 256;  // small, so filling it is quick; our descriptors are all below it
  ::setrlimit(RLIMIT_NOFILE, &limit);
  std::vector<int> held;
  held.reserve(256);
  for (;;) {
    const int fd = ::dup(STDERR_FILENO);
    if (fd < 0) break;
    held.push_back(fd);
  }
  return held;
}

void release(std::vector<int>& held) {
  for (const int fd : held) ::close(fd);
  held.clear();
}

TEST(Acceptor, HandsEveryConnectionOver) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  const address target = server->local_address();
  std::vector<stream> accepted;
  acceptor a(*loop, [&](stream&& s) { accepted.push_back(std::move(s)); });
  ASSERT_FALSE(a.start(std::move(*server)));
  EXPECT_EQ(a.source().port(), target.port());
  std::vector<stream> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(std::move(*connect(target)));
  ASSERT_TRUE(run_until(*loop, [&] { return accepted.size() == 20; }));
  EXPECT_EQ(a.accepted(), 20u);
  for (const stream& s : accepted) EXPECT_EQ(s.kind(), transport_kind::tcp);
}

TEST(Acceptor, BatchesAreCappedAndTheRestFollowsInLaterIterations) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  listener server = listener::memory({});
  memory_dialer dialer = server.dialer();
  std::vector<stream> clients;
  for (int i = 0; i < 10; ++i) clients.push_back(std::move(*dialer.dial()));
  int accepted = 0;
  acceptor_options options;
  options.max_accepts_per_wakeup = 3;
  acceptor a(
      *loop, [&](stream&&) { ++accepted; }, {}, options);
  ASSERT_FALSE(a.start(std::move(server)));
  loop->run_once(0ms);
  EXPECT_EQ(accepted, 3);  // one batch, then the loop moves on
  loop->run_until_idle();
  EXPECT_EQ(accepted, 10);
}

TEST(Acceptor, PauseLeavesConnectionsQueuedAndResumeTakesThem) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  listener server = listener::memory({});
  memory_dialer dialer = server.dialer();
  int accepted = 0;
  acceptor a(*loop, [&](stream&&) { ++accepted; });
  ASSERT_FALSE(a.start(std::move(server)));
  a.pause();
  std::vector<stream> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(std::move(*dialer.dial()));
  loop->run_until_idle();
  EXPECT_EQ(accepted, 0);
  EXPECT_TRUE(a.paused());
  a.resume();
  loop->run_until_idle();
  EXPECT_EQ(accepted, 4);
}

TEST(Acceptor, PausingFromTheCallbackImplementsAConnectionLimit) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  listener server = listener::memory({});
  memory_dialer dialer = server.dialer();
  std::vector<stream> open;
  acceptor* self = nullptr;
  acceptor a(*loop, [&](stream&& s) {
    open.push_back(std::move(s));
    if (open.size() == 2) self->pause();
  });
  self = &a;
  ASSERT_FALSE(a.start(std::move(server)));
  std::vector<stream> clients;
  for (int i = 0; i < 5; ++i) clients.push_back(std::move(*dialer.dial()));
  loop->run_until_idle();
  EXPECT_EQ(open.size(), 2u);
  open.clear();  // connections closed: room again
  a.resume();
  loop->run_until_idle();
  EXPECT_EQ(open.size(), 2u);  // the limit bites again
  EXPECT_EQ(a.accepted(), 4u);
}

TEST(Acceptor, StopGivesTheListenerBack) {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server);
  const std::uint16_t port = server->port();
  acceptor a(*loop, [](stream&&) {});
  ASSERT_FALSE(a.start(std::move(*server)));
  listener back = a.stop();
  EXPECT_TRUE(back.is_open());
  EXPECT_FALSE(back.watched());
  EXPECT_EQ(back.port(), port);
}

void emfile_on_a_manual_clock() {
  manual_clock clock;
  auto loop = make_loop(&clock);
  auto server = listener::listen("127.0.0.1:0");
  CHILD_CHECK(server.has_value(), 10);
  const address target = server->local_address();
  int accepted = 0;
  int errors_reported = 0;
  acceptor_options options;
  options.min_backoff = 100ms;
  options.max_backoff = 400ms;
  acceptor a(
      *loop, [&](stream&&) { ++accepted; },
      [&](std::error_code ec) {
        if (ec == std::errc::too_many_files_open) ++errors_reported;
      },
      options);
  std::vector<stream> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(std::move(*connect(target)));
  CHILD_CHECK(wait_for_pending(*server), 11);
  CHILD_CHECK(!a.start(std::move(*server)), 12);

  // UBSan checks a call on a polymorphic object the first time it sees the pair of types, with a
  // pipe: make that first call while descriptors are still available. The clock's, and an
  // error_category's (on epoll the listener's watch happens to make that one).
  clock.advance(0ms);
  CHILD_CHECK(errno_code(EMFILE) == std::errc::too_many_files_open, 16);
  std::vector<int> held = exhaust_descriptors();
  CHILD_CHECK(!held.empty(), 13);
  // Setting up anything new fails with a clear error value too.
  CHILD_CHECK(listener::listen("127.0.0.1:0").error() == std::errc::too_many_files_open, 14);
  CHILD_CHECK(event_loop::create().error() == std::errc::too_many_files_open, 15);

  const std::uint64_t iterations_before = loop->iterations();
  loop->run_until_idle();
  CHILD_CHECK(a.accept_calls() == 1, 20);
  CHILD_CHECK(a.resource_errors() == 1, 21);
  CHILD_CHECK(errors_reported == 1, 22);
  CHILD_CHECK(a.backing_off(), 23);
  // run_until_idle returned: the loop found nothing to do. Spinning would have run it to
  // its 100000-iteration cap.
  CHILD_CHECK(loop->iterations() - iterations_before < 10, 24);
  for (int i = 0; i < 1000; ++i) loop->run_once(0ms);
  CHILD_CHECK(a.accept_calls() == 1, 25);

  clock.advance(99ms);
  loop->run_until_idle();
  CHILD_CHECK(a.accept_calls() == 1, 26);
  clock.advance(1ms);  // the back-off is over: one more try, still out of descriptors
  loop->run_until_idle();
  CHILD_CHECK(a.accept_calls() == 2, 27);
  CHILD_CHECK(a.resource_errors() == 2, 28);
  clock.advance(100ms);  // the back-off doubled to 200ms
  loop->run_until_idle();
  CHILD_CHECK(a.accept_calls() == 2, 29);

  release(held);
  clock.advance(100ms);
  loop->run_until_idle();
  CHILD_CHECK(accepted == 3, 30);
  CHILD_CHECK(!a.backing_off(), 31);
  std::fprintf(stderr, "recovered after %llu accept calls\n",
               static_cast<unsigned long long>(a.accept_calls()));
  std::_Exit(0);
}

// Out of descriptors, on a manual clock: one failed accept, then nothing at all until the
// back-off has passed, however often the loop runs; recovery once descriptors are free again.
TEST(AcceptorEmfile, BacksOffOnAManualClockAndRecovers) {
  EXPECT_EXIT(emfile_on_a_manual_clock(), ::testing::ExitedWithCode(0), "recovered after");
}

void emfile_on_the_real_clock() {
  auto loop = make_loop();
  auto server = listener::listen("127.0.0.1:0");
  CHILD_CHECK(server.has_value(), 10);
  const address target = server->local_address();
  int accepted = 0;
  acceptor a(*loop, [&](stream&&) { ++accepted; });
  std::vector<stream> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(std::move(*connect(target)));
  CHILD_CHECK(wait_for_pending(*server), 11);
  CHILD_CHECK(!a.start(std::move(*server)), 12);
  CHILD_CHECK(errno_code(EMFILE) == std::errc::too_many_files_open, 13);  // see above: UBSan
  std::vector<int> held = exhaust_descriptors();

  const std::uint64_t iterations_before = loop->iterations();
  const auto until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < until) loop->run_once(50ms);
  const std::uint64_t iterations = loop->iterations() - iterations_before;
  std::fprintf(stderr, "iterations %llu, accept calls %llu\n",
               static_cast<unsigned long long>(iterations),
               static_cast<unsigned long long>(a.accept_calls()));
  CHILD_CHECK(accepted == 0, 20);
  CHILD_CHECK(a.accept_calls() >= 2, 21);
  CHILD_CHECK(a.accept_calls() <= 10, 22);
  CHILD_CHECK(iterations <= 30, 23);

  release(held);
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (accepted < 3 && std::chrono::steady_clock::now() < give_up) loop->run_once(50ms);
  CHILD_CHECK(accepted == 3, 24);
  std::fprintf(stderr, "no spin, recovered\n");
  std::_Exit(0);
}

// The same on the real clock, bounded: over 300ms out of descriptors, the loop wakes up only for
// the back-off timer (5, 10, 20, 40, 80, 160ms), not thousands of times.
TEST(AcceptorEmfile, DoesNotSpinOnTheRealClock) {
  EXPECT_EXIT(emfile_on_the_real_clock(), ::testing::ExitedWithCode(0), "no spin, recovered");
}

}  // namespace
