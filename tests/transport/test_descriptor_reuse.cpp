// A stream's descriptor number is free for reuse the moment close() returns: an accept completing
// then (io_uring installs accepted descriptors as the loop thread leaves a system call, close()
// included) or another thread's socket() takes it at once. Nothing the closed stream had queued
// may then act on the new owner. On io_uring a read that consumed a receive buffer queues the next
// receive (by descriptor number) for the next submission; a stream closed before that submission
// (a TLS server refusing garbage, which answers nothing) must not send it to whoever holds the
// number next: that receive took the next connection's first bytes (its ClientHello) and dropped
// them with the closed stream.
//
// This executable is linked with -Wl,--wrap=close: the library's close(2) calls come here first,
// which lets a test hand the number to another socket exactly when it is freed, as a racing
// accept would. Every other close goes straight through. The library's io_uring_submit and
// io_uring_submit_and_get_events calls are wrapped too, so that a test can make one submission
// fail as the kernel may (EBUSY while its completion queue overflows: nothing is submitted).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <string>
#include <string_view>

#include "transport_test_support.hpp"

extern "C" int __real_close(int fd);  // NOLINT: the name the linker's --wrap gives the original
#if TAUT_TEST_WRAP_URING
#include <liburing.h>

extern "C" int __real_io_uring_submit(io_uring* ring);                 // NOLINT: see __real_close
extern "C" int __real_io_uring_submit_and_get_events(io_uring* ring);  // NOLINT: see __real_close
#endif

namespace {

// The descriptor whose close hands its number to `successor` (-1: none).
std::atomic<int> reused_number{-1};
std::atomic<int> successor{-1};
std::atomic<bool> reused{false};
// While set, every wrapped submission fails with EBUSY, submitting nothing, as the kernel's do
// until the loop reads its overflowing completion queue; counted in failed_submissions.
std::atomic<bool> failing_submissions{false};
std::atomic<int> failed_submissions{0};

#if TAUT_TEST_WRAP_URING
bool fail_this_submission() {
  if (!failing_submissions) return false;
  ++failed_submissions;
  return true;
}
#endif

}  // namespace

#if TAUT_TEST_WRAP_URING
extern "C" int __wrap_io_uring_submit(io_uring* ring) {  // NOLINT: see __real_close
  return fail_this_submission() ? -EBUSY : __real_io_uring_submit(ring);
}

extern "C" int __wrap_io_uring_submit_and_get_events(io_uring* ring) {  // NOLINT: see __real_close
  return fail_this_submission() ? -EBUSY : __real_io_uring_submit_and_get_events(ring);
}
#endif

extern "C" int __wrap_close(int fd) {  // NOLINT: see __real_close
  const int rc = __real_close(fd);
  int expected = fd;
  if (rc == 0 && reused_number.compare_exchange_strong(expected, -1)) {
    if (::dup2(successor.load(), fd) == fd) reused = true;
  }
  return rc;
}

namespace {

using namespace std::chrono_literals;
using namespace taut::transport;
using taut::transport::testing::accepted_pair;
using taut::transport::testing::make_loop;
using taut::transport::testing::run_until;

enum class ending { close, abort };
enum class submission { succeeds, fails };

// A connection whose bytes are read, then the stream ended from the same callback, before the
// loop next enters the kernel; its number goes to the receiving end of a socket pair that holds
// bytes nobody has read yet (a connection accepted just after, its first bytes already in). With
// submission::fails, the submission that the close makes fails, leaving the receive queued.
void end_right_after_reading(ending how, submission close_submits = submission::succeeds) {
  auto loop = make_loop();
  const bool fail_submission = close_submits == submission::fails;
  if (fail_submission && loop->backend() != io_backend::io_uring) {
    GTEST_SKIP() << "only an io_uring loop submits";
  }
  auto pair = accepted_pair(*loop);
  ASSERT_TRUE(pair);
  stream& client = pair->client;
  stream& server = pair->server;

  std::array<int, 2> next{-1, -1};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, next.data()), 0);
  const std::string_view first_bytes = "the next connection's first bytes";
  ASSERT_EQ(::send(next[1], first_bytes.data(), first_bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(first_bytes.size()));

  const int number = server.native_handle();
  // What the stream's callback needs, behind one pointer (a callback holds two).
  struct reader {
    stream* server;
    ending how;
    int number;
    int successor_fd;
    bool fail_submission;
    bool ended = false;
  } state{&server, how, number, next[0], fail_submission};
  ASSERT_FALSE(server.watch(*loop, [at = &state](readiness) {
    std::array<char, 64> into{};
    const io_result got = at->server->read(into);
    if (!got.done() || got.bytes == 0) return;
    successor = at->successor_fd;
    reused = false;
    reused_number = at->number;
    failed_submissions = 0;
    failing_submissions = at->fail_submission;
    if (at->how == ending::close) {
      (void)at->server->close();
    } else {
      at->server->abort();
    }
    failing_submissions = false;  // the loop's wait submits: it reads the completion queue
    at->ended = true;
  }));
  bool connected = false;
  ASSERT_FALSE(client.watch(*loop, [&](readiness) { connected = true; }));
  ASSERT_TRUE(run_until(*loop, [&] { return connected; }));
  ASSERT_TRUE(client.write("refused at once").done());
  ASSERT_TRUE(run_until(*loop, [&] { return state.ended; }));
  // Whatever the loop still had queued for the closed stream is submitted and completed by now.
  for (int i = 0; i < 5; ++i) loop->run_once(10ms);
  reused_number = -1;
  ASSERT_TRUE(reused) << "the test did not hand the number over: it proves nothing";
  if (fail_submission) {
    ASSERT_GE(failed_submissions, 1) << "no submission failed: the test proves nothing";
  }

  std::array<char, 64> kept{};
  const ssize_t got = ::recv(next[0], kept.data(), kept.size(), MSG_DONTWAIT);
  const int error = errno;
  EXPECT_EQ(got, static_cast<ssize_t>(first_bytes.size()))
      << "the closed stream's receive took the bytes (errno " << error << ")";
  if (got > 0) {
    EXPECT_EQ(std::string_view(kept.data(), static_cast<std::size_t>(got)), first_bytes);
  }
  __real_close(number);
  __real_close(next[0]);
  __real_close(next[1]);
}

TEST(DescriptorReuse, ClosingRightAfterAReadLeavesTheNextOwnerItsBytes) {
  end_right_after_reading(ending::close);
}

TEST(DescriptorReuse, AbortingRightAfterAReadLeavesTheNextOwnerItsBytes) {
  end_right_after_reading(ending::abort);
}

// The kernel may refuse the submission that a close makes (EBUSY: its completion queue
// overflowing); the receive then still waits in the queue, and the number must stay the closed
// socket's until it is submitted.
TEST(DescriptorReuse, ClosingWhenTheSubmissionFailsLeavesTheNextOwnerItsBytes) {
  end_right_after_reading(ending::close, submission::fails);
}

TEST(DescriptorReuse, AbortingWhenTheSubmissionFailsLeavesTheNextOwnerItsBytes) {
  end_right_after_reading(ending::abort, submission::fails);
}

// A listener watched (its multishot accept queued) and closed on its loop's thread while every
// submission fails: the accept must not run on the socket that takes the number next, a listener
// with a connection waiting, which it would take and close with the closed listener.
TEST(DescriptorReuse, AListenerClosedWhenTheSubmissionFailsLeavesTheNextOwnerItsConnection) {
  auto loop = make_loop();
  if (loop->backend() != io_backend::io_uring) GTEST_SKIP() << "only an io_uring loop submits";
  loop->run_once(0ms);  // this thread is the loop's now: it submits, so it closes at once
  auto closing = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(closing);
  const int number = closing->native_handle();
  ASSERT_FALSE(closing->watch(*loop, [](readiness) {}));

  auto next = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(next);
  auto waiting =
      taut::transport::connect(next->local_address());  // in the next owner's backlog, not accepted
  ASSERT_TRUE(waiting);
  successor = next->native_handle();
  reused = false;
  reused_number = number;
  failed_submissions = 0;
  failing_submissions = true;
  (void)closing->close();
  failing_submissions = false;
  for (int i = 0; i < 5; ++i) loop->run_once(10ms);
  reused_number = -1;
  ASSERT_TRUE(reused) << "the test did not hand the number over: it proves nothing";
  ASSERT_GE(failed_submissions, 1) << "no submission failed: the test proves nothing";

  const int accepted = ::accept4(number, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  const int error = errno;
  EXPECT_GE(accepted, 0) << "the closed listener's accept took the connection (errno " << error
                         << ")";
  if (accepted >= 0) __real_close(accepted);
  __real_close(number);
}

}  // namespace
