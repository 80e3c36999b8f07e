// The choice of I/O backend (epoll or io_uring), the fallback when the system refuses io_uring,
// and the behaviours the io_uring backend has to reproduce by hand because it takes bytes off
// the socket before the stream asks: a stream nobody reads does not starve the others, bytes
// written just before close() still arrive, unread bytes still make close() a reset, a peer that
// shut its side down and reads slowly gets everything without the loop spinning.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "transport_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace taut::transport;
using taut::transport::testing::accept_one;
using taut::transport::testing::accepted_pair;
using taut::transport::testing::collecting_client;
using taut::transport::testing::echo_server;
using taut::transport::testing::make_loop;
using taut::transport::testing::pattern;
using taut::transport::testing::run_until;
using taut::transport::testing::temp_dir;

std::string_view wanted_backend() {
  const char* forced = std::getenv("TAUT_IO");
  return forced != nullptr ? forced : "";
}

TEST(IoBackend, AutomaticFollowsTautIoAndTheSystem) {
  auto loop = make_loop();
  if (wanted_backend() == "epoll") {
    EXPECT_EQ(loop->backend(), io_backend::epoll);
  } else if (!io_uring_available()) {
    // What the ".io_uring" copies of every test rely on: they really run on io_uring.
    EXPECT_EQ(loop->backend(), io_backend::io_uring);
  } else {
    EXPECT_EQ(loop->backend(), io_backend::epoll) << io_uring_available().message();
  }
  EXPECT_STREQ(to_string(loop->backend()),
               loop->backend() == io_backend::epoll ? "epoll" : "io_uring");
}

TEST(IoBackend, AnExplicitChoiceIsTaken) {
  loop_options options;
  options.backend = io_backend::epoll;
  auto epoll_loop = event_loop::create(options);
  ASSERT_TRUE(epoll_loop);
  EXPECT_EQ((*epoll_loop)->backend(), io_backend::epoll);

  options.backend = io_backend::io_uring;
  auto ring_loop = event_loop::create(options);
  if (const std::error_code why = io_uring_available()) {
    EXPECT_EQ(ring_loop.error(), why);  // refused: the reason, not a silent epoll loop
  } else {
    ASSERT_TRUE(ring_loop) << ring_loop.error().message();
    EXPECT_EQ((*ring_loop)->backend(), io_backend::io_uring);
  }
}

#define CHILD_CHECK(condition, code)                                          \
  do {                                                                        \
    if (!(condition)) {                                                       \
      std::fprintf(stderr, "check failed (exit %d): %s\n", code, #condition); \
      std::_Exit(code);                                                       \
    }                                                                         \
  } while (false)

// Makes one system call fail with `error` for this thread and the ones it starts, as a container
// runtime's seccomp profile does (EPERM); the rest stay allowed. Only in a death test's child
// process: the filter can never be lifted.
bool forbid_syscall(long number, int error = EPERM) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(number), 0, 1),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(error) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

void refused_io_uring() {
  // What a container runtime's default seccomp profile or kernel.io_uring_disabled=2 does:
  // io_uring_setup fails with EPERM.
  CHILD_CHECK(forbid_syscall(__NR_io_uring_setup), 10);
  ::unsetenv("TAUT_IO");
  CHILD_CHECK(io_uring_available() == std::errc::operation_not_permitted ||
                  io_uring_available() == errc::not_supported,
              11);
  CHILD_CHECK(resolve_io_backend(io_backend::automatic) == io_backend::epoll, 12);
  auto loop = event_loop::create();
  CHILD_CHECK(loop.has_value(), 13);
  CHILD_CHECK((*loop)->backend() == io_backend::epoll, 14);
  loop_options options;
  options.backend = io_backend::io_uring;
  CHILD_CHECK(!event_loop::create(options).has_value(), 15);

  // And the epoll loop it fell back to works.
  auto server_side = listener::listen("127.0.0.1:0");
  CHILD_CHECK(server_side.has_value(), 16);
  const address at = server_side->local_address();
  echo_server server(**loop);
  CHILD_CHECK(!server.start(std::move(*server_side)), 17);
  auto connected = connect(at);
  CHILD_CHECK(connected.has_value(), 18);
  collecting_client client(std::move(*connected), "over epoll", true);
  CHILD_CHECK(!client.start(**loop), 19);
  CHILD_CHECK(run_until(**loop, [&] { return client.done(); }), 20);
  CHILD_CHECK(client.received() == "over epoll", 21);
  std::fprintf(stderr, "fell back to epoll\n");
  std::_Exit(0);
}

// A fresh process (threadsafe death tests re-execute the binary), so the probe that
// io_uring_available() remembers is made under the filter.
TEST(IoBackend, IoUringRefusedBySeccompFallsBackToEpoll) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(refused_io_uring(), ::testing::ExitedWithCode(0), "fell back to epoll");
}

// `error`: what every io_uring_enter returns from the moment the submission queue is full.
void ring_the_kernel_refuses(int error) {
  // A loop spinning on the refusal is a failure too, not a hang of the test run.
  ::alarm(20);
  loop_options options;
  options.backend = io_backend::io_uring;
  auto loop = event_loop::create(options);
  CHILD_CHECK(loop.has_value(), 10);
  (void)(*loop)->run_once(0ms);  // the ring enabled on this thread
  // More streams than the submission queue has entries (1024): watching each queues a receive,
  // so a full queue must be handed to a kernel that refuses it.
  std::vector<stream> streams;
  std::vector<int> peers;
  for (int i = 0; i < 1200; ++i) {
    int ends[2];
    CHILD_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends) == 0,
                12);
    auto adopted = stream::adopt(ends[0], transport_kind::unix_socket);
    CHILD_CHECK(adopted.has_value(), 13);
    streams.push_back(std::move(*adopted));
    peers.push_back(ends[1]);
  }
  // What a kernel that refuses a ring looks like from user space: every io_uring_enter fails
  // (EPERM here; EOWNERDEAD or EBADFD from a ring the kernel gave up on; EAGAIN while it is short
  // of memory).
  CHILD_CHECK(forbid_syscall(__NR_io_uring_enter, error), 14);
  for (stream& s : streams) CHILD_CHECK(!s.watch(**loop, [](readiness) {}), 15);
  // The error comes back from the loop's run, as an epoll_wait() failure would.
  const std::error_code failed = (*loop)->run();
  CHILD_CHECK(failed == std::error_code(error, std::generic_category()), 16);
  std::fprintf(stderr, "run() failed: %s\n", failed.message().c_str());
  std::_Exit(0);
}

// A library must not abort the process that embeds it on a kernel error: a full submission
// queue the kernel refuses to take fails the loop's run() instead.
TEST(IoBackend, ARingTheKernelRefusesFailsRunInsteadOfAborting) {
  if (const std::error_code why = io_uring_available()) GTEST_SKIP() << why.message();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(ring_the_kernel_refuses(EPERM), ::testing::ExitedWithCode(0), "run\\(\\) failed");
}

// Nor spin: a kernel that keeps answering EAGAIN (short of memory) to a full queue is asked a few
// times, then the entries wait in memory and the loop's run() fails with EAGAIN, as with any
// other refusal.
TEST(IoBackend, ARingTheKernelKeepsRefusingForWantOfMemoryFailsRunInsteadOfSpinning) {
  if (const std::error_code why = io_uring_available()) GTEST_SKIP() << why.message();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(ring_the_kernel_refuses(EAGAIN), ::testing::ExitedWithCode(0), "run\\(\\) failed");
}

// A connection whose bytes nobody reads (a handler that does not consume its body, a client
// pipelining without reading) must not take every receive buffer of the loop: the others keep
// working. On epoll the kernel's socket buffer bounds it; io_uring caps the buffers per stream.
TEST(IoBackend, AStreamNobodyReadsDoesNotStarveTheOthers) {
  auto loop = make_loop();
  auto server_side = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server_side);
  const address at = server_side->local_address();
  std::vector<stream> ignored;
  listener silent = std::move(*server_side);
  // The ignored connection: accepted, watched, never read.
  auto hog = connect(at);
  ASSERT_TRUE(hog);
  ASSERT_TRUE(run_until(*loop, [&] {
    auto accepted = silent.accept();
    if (accepted) {
      ignored.push_back(std::move(*accepted));
      EXPECT_FALSE(ignored.back().watch(*loop, [](readiness) {}));
    }
    return !ignored.empty();
  }));
  // 4 MiB at it (more than all of a loop's receive buffers), as much as the kernel takes.
  const std::string flood(4 << 20, 'x');
  std::size_t flooded = 0;
  bool hog_connected = false;
  ASSERT_FALSE(hog->watch(*loop, [&](readiness) { hog_connected = true; }));
  ASSERT_TRUE(run_until(*loop, [&] { return hog_connected; }));
  for (int round = 0; round < 200 && flooded < flood.size(); ++round) {
    if (hog->writable()) {
      const io_result wrote = hog->write(std::string_view(flood).substr(flooded));
      if (wrote.done()) flooded += wrote.bytes;
    }
    loop->run_once(5ms);
  }
  EXPECT_GT(flooded, std::size_t{1} << 20);

  // Now an echo on the same loop, through the same listener.
  echo_server server(*loop);
  ASSERT_FALSE(server.start(std::move(silent)));
  auto connected = connect(at);
  ASSERT_TRUE(connected);
  collecting_client client(std::move(*connected), pattern(100000), true);
  ASSERT_FALSE(client.start(*loop));
  ASSERT_TRUE(run_until(
      *loop, [&] { return client.done(); }, 10000ms));
  EXPECT_FALSE(client.error()) << client.error().message();
  EXPECT_TRUE(client.received() == pattern(100000));
}

// Bytes accepted by write() are the stream's promise: closing right after must still deliver
// them, then EOF (on io_uring they may still be queued in user space at close()).
TEST(IoBackend, BytesWrittenJustBeforeCloseArriveThenEof) {
  auto loop = make_loop();
  auto pair = accepted_pair(*loop);
  ASSERT_TRUE(pair);
  stream& client = pair->client;
  stream& server = pair->server;
  bool ready = false;
  ASSERT_FALSE(server.watch(*loop, [&](readiness) { ready = true; }));
  ASSERT_TRUE(run_until(*loop, [&] { return ready; }));
  const std::string content = pattern(600000);
  std::size_t written = 0;
  for (int round = 0; round < 50 && written < content.size(); ++round) {
    const io_result wrote = server.write(std::string_view(content).substr(written));
    if (wrote.done()) written += wrote.bytes;
    if (written < content.size()) loop->run_once(1ms);
  }
  ASSERT_GT(written, 0u);
  ASSERT_FALSE(server.close());

  std::string received;
  bool eof = false;
  ASSERT_FALSE(client.watch(*loop, [](readiness) {}));
  ASSERT_TRUE(run_until(
      *loop,
      [&] {
        std::array<char, 65536> chunk{};
        for (;;) {
          const io_result got = client.read(chunk);
          if (got.done()) {
            received.append(chunk.data(), got.bytes);
            continue;
          }
          if (got.eof()) eof = true;
          if (got.failed()) ADD_FAILURE() << got.error().message();
          return eof || got.failed();
        }
      },
      10000ms));
  EXPECT_TRUE(eof);
  EXPECT_EQ(received.size(), written);
  EXPECT_TRUE(received == content.substr(0, written));
}

// On epoll the kernel turns a close with unread received bytes into a reset; io_uring took those
// bytes off the socket already and must make the reset itself.
TEST(IoBackend, ClosingWithUnreadBytesResetsThePeer) {
  auto loop = make_loop();
  auto pair = accepted_pair(*loop);
  ASSERT_TRUE(pair);
  stream& client = pair->client;
  stream& server = pair->server;
  bool got_bytes = false;
  ASSERT_FALSE(server.watch(*loop, [&](readiness r) {
    if (has(r, readiness::readable)) got_bytes = true;
  }));
  bool connected = false;
  ASSERT_FALSE(client.watch(*loop, [&](readiness) { connected = true; }));
  ASSERT_TRUE(run_until(*loop, [&] { return connected; }));
  ASSERT_TRUE(client.write("unread").done());
  ASSERT_TRUE(run_until(*loop, [&] { return got_bytes && server.readable(); }));
  ASSERT_FALSE(server.close());
  io_result last;
  ASSERT_TRUE(run_until(*loop, [&] {
    std::array<char, 64> chunk{};
    last = client.read(chunk);
    return !last.would_block();
  }));
  ASSERT_TRUE(last.failed()) << "expected a reset, got " << (last.eof() ? "EOF" : "bytes");
  EXPECT_EQ(last.error(), std::errc::connection_reset);
}

// A loop created on one thread and run on another, stopped from a third: the wake must reach it
// even while the creating thread sleeps (io_uring posts a completion through the thread that
// submitted the operation; the creating thread must not be the one it waits for).
TEST(IoBackend, StopFromAThirdThreadWakesALoopCreatedOnAnother) {
  auto loop = make_loop();
  std::promise<void> finished;
  std::future<void> done = finished.get_future();
  std::thread runner([&] {
    EXPECT_FALSE(loop->run());
    finished.set_value();
  });
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    loop->stop();
  });
  // This thread (the loop's creator) sleeps without entering the kernel otherwise.
  const bool stopped = done.wait_for(3s) == std::future_status::ready;
  stopper.join();
  if (!stopped) loop->stop();
  runner.join();
  EXPECT_TRUE(stopped) << "the loop slept through stop() from another thread";
}

// One thread runs a loop; another loop, run on a worker thread, is destroyed on the first one:
// that must not break the first loop (a ring registration belongs to the thread that made it).
TEST(IoBackend, DestroyingALoopRunElsewhereLeavesThisThreadsLoopWorking) {
  auto mine = make_loop();
  EXPECT_EQ(mine->run_once(1ms), 0u);
  auto other = make_loop();
  std::thread worker([&] { other->run_once(1ms); });
  worker.join();
  other.reset();
  timer stop_soon(*mine, [&] { mine->stop(); });
  stop_soon.arm_in(20ms);
  EXPECT_FALSE(mine->run());
}

// pause() then resume() before the loop ran again: accepting goes on.
TEST(IoBackend, PauseThenResumeAtOnceKeepsAccepting) {
  auto loop = make_loop();
  auto server_side = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server_side);
  const address at = server_side->local_address();
  std::vector<stream> accepted;
  acceptor gate(*loop, [&](stream&& s) { accepted.push_back(std::move(s)); });
  ASSERT_FALSE(gate.start(std::move(*server_side)));
  loop->run_once(1ms);
  gate.pause();  // submits the cancellation; its completion is not taken yet
  gate.resume();
  for (int i = 0; i < 3; ++i) loop->run_once(5ms);
  auto client = connect(at);
  ASSERT_TRUE(client);
  EXPECT_TRUE(run_until(
      *loop, [&] { return !accepted.empty(); }, 2000ms));
}

// Bytes written just before close() are sent even if the loop never waits again, and the peer
// then sees the end of the stream (the descriptor is closed).
TEST(IoBackend, BytesWrittenBeforeCloseArriveWhenTheLoopNeverRunsAgain) {
  loop_options plain;
  plain.backend = io_backend::epoll;
  auto client_loop = event_loop::create(plain);
  ASSERT_TRUE(client_loop);
  auto server_side = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server_side);
  auto client = connect(server_side->local_address());
  ASSERT_TRUE(client);
  ASSERT_FALSE(client->watch(**client_loop, [](readiness) {}));
  {
    auto loop = make_loop();
    auto accepted = accept_one(*loop, *server_side);
    ASSERT_TRUE(accepted);
    stream& server = *accepted;
    bool ready = false;
    ASSERT_FALSE(server.watch(*loop, [&](readiness) { ready = true; }));
    ASSERT_TRUE(run_until(*loop, [&] { return ready; }));
    ASSERT_EQ(server.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").bytes, 38u);
    ASSERT_FALSE(server.close());
    // The loop is destroyed without waiting again.
  }
  std::string received;
  bool eof = false;
  EXPECT_TRUE(run_until(
      **client_loop,
      [&] {
        std::array<char, 256> chunk{};
        const io_result got = client->read(chunk);
        if (got.done()) received.append(chunk.data(), got.bytes);
        if (got.eof() || got.failed()) eof = true;
        return eof;
      },
      3000ms));
  EXPECT_EQ(received, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(eof);
}

// A stream unwatched, then its loop destroyed, is still a working stream: what was received
// for it is still there to read, and it can be closed (the rule event_loop.hpp states).
TEST(IoBackend, AnUnwatchedStreamOutlivesItsLoop) {
  auto server_side = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server_side);
  auto client = connect(server_side->local_address());
  ASSERT_TRUE(client);
  std::optional<stream> accepted;
  {
    auto loop = make_loop();
    accepted = accept_one(*loop, *server_side);
    ASSERT_TRUE(accepted);
    bool readable = false;
    ASSERT_FALSE(accepted->watch(*loop, [&](readiness r) {
      if (has(r, readiness::readable)) readable = true;
    }));
    ASSERT_EQ(::send(client->native_handle(), "first", 5, MSG_NOSIGNAL), 5);
    ASSERT_TRUE(run_until(*loop, [&] { return readable; }));
    accepted->unwatch();
    server_side->unwatch();
  }
  ASSERT_EQ(::send(client->native_handle(), "second", 6, MSG_NOSIGNAL), 6);
  std::string received;
  for (int i = 0; i < 200 && received.size() < 11; ++i) {
    std::array<char, 64> chunk{};
    const io_result got = accepted->read(chunk);
    if (got.done()) received.append(chunk.data(), got.bytes);
    if (got.failed() || got.eof()) break;
    if (got.would_block()) std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(received, "firstsecond");
  ASSERT_EQ(accepted->write("reply").bytes, 5u);
  EXPECT_FALSE(accepted->close());
  std::array<char, 16> reply{};
  timeval limit{2, 0};
  ::setsockopt(client->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  EXPECT_EQ(::recv(client->native_handle(), reply.data(), reply.size(), MSG_WAITALL), 5);
}

// A stream whose writes were refused (its peer does not read), unwatched and watched again, is
// not mistaken for a connection still being made: what the peer sends is still received.
TEST(IoBackend, RewatchedAfterAFullSendQueueStillReceives) {
  auto loop = make_loop();
  auto pair = accepted_pair(*loop);
  ASSERT_TRUE(pair);
  stream& client = pair->client;
  stream& server = pair->server;
  const int small = 4096;
  ::setsockopt(server.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(client.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ASSERT_FALSE(server.watch(*loop, [](readiness) {}));
  // Fill the peer's receive buffer and our own send path until writes are refused for good.
  const std::string block(65536, 'x');
  int refused_rounds = 0;
  for (int round = 0; round < 2000 && refused_rounds < 20; ++round) {
    const io_result wrote = server.write(block);
    refused_rounds = wrote.would_block() ? refused_rounds + 1 : 0;
    loop->run_once(1ms);
  }
  ASSERT_EQ(refused_rounds, 20);
  server.unwatch();
  for (int i = 0; i < 5; ++i) loop->run_once(1ms);  // its receive's cancellation completes
  bool readable = false;
  ASSERT_FALSE(server.watch(*loop, [&](readiness r) {
    if (has(r, readiness::readable)) readable = true;
  }));
  ASSERT_EQ(::send(client.native_handle(), "ping", 4, MSG_NOSIGNAL), 4);
  EXPECT_TRUE(run_until(
      *loop, [&] { return readable && server.readable(); }, 2000ms));
  std::array<char, 16> got{};
  const io_result read = server.read(got);
  ASSERT_TRUE(read.done());
  EXPECT_EQ(std::string_view(got.data(), read.bytes), "ping");
}

// --- a peer that shut its side down (shutdown(SHUT_WR) after its request) and reads slowly -------
// Its FIN keeps POLLRDHUP raised on the server's socket, and io_uring adds POLLRDHUP to the mask
// of every poll it makes, the POLL_ADD a sendfile waits on and the one a send waits on inside the
// kernel: both completed at once, every time. The sendfile's wait spun the loop for as long as
// the client took to read; the send gave up after its retries with EAGAIN, which failed the
// stream and cut the response short.

struct half_closed_pair {
  std::optional<temp_dir> dir;
  listener server_side;
  stream client;  // used through its descriptor only, as a plain blocking-free client
  stream server;
};

/// Connects `pair` over TCP or a Unix socket: its client has shut down its sending side, its
/// server (whose send buffer is small, and a Unix client's receive buffer too; a TCP client's
/// stays as it is, as a small TCP window stalls in the kernel's own timers) is watched and has
/// read the client's EOF. False when a step fails (reported as a failure).
bool make_half_closed_pair(event_loop& loop, bool unix_socket, int& writable_notifications,
                           half_closed_pair& pair) {
  std::string where = "127.0.0.1:0";
  if (unix_socket) {
    pair.dir.emplace();
    where = "unix:" + pair.dir->file("half.sock");
  }
  auto listening = listener::listen(where);
  if (!listening) {
    ADD_FAILURE() << "listen: " << listening.error().message();
    return false;
  }
  pair.server_side = std::move(*listening);
  auto client = connect(pair.server_side.local_address());
  if (!client) {
    ADD_FAILURE() << "connect: " << client.error().message();
    return false;
  }
  pair.client = std::move(*client);
  auto server = accept_one(loop, pair.server_side);
  if (!server) {
    ADD_FAILURE() << "nothing accepted in time";
    return false;
  }
  pair.server = std::move(*server);
  const int small = 4096;
  ::setsockopt(pair.server.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  if (unix_socket) {
    ::setsockopt(pair.client.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  if (::shutdown(pair.client.native_handle(), SHUT_WR) != 0) {
    ADD_FAILURE() << "shutdown: " << std::strerror(errno);
    return false;
  }
  if (pair.server.watch(loop, [&writable_notifications](readiness r) {
        if (has(r, readiness::writable)) ++writable_notifications;
      })) {
    ADD_FAILURE() << "watch failed";
    return false;
  }
  // The server reads the end of the request, as a server answering it does.
  const bool eof = run_until(loop, [&] {
    std::array<char, 16> scratch{};
    return pair.server.read(scratch).eof();
  });
  if (!eof) {
    ADD_FAILURE() << "the client's EOF never came";
    return false;
  }
  return true;
}

/// Runs `loop` while the client of `pair` reads 16 KiB every 2 ms, until `size` bytes came or
/// `give_up`; `send` is called each turn to write more. Returns what the client received.
std::string read_slowly(event_loop& loop, half_closed_pair& pair, std::size_t size,
                        const std::function<bool()>& send, int& reads) {
  using clock_type = std::chrono::steady_clock;
  std::string received;
  const auto give_up = clock_type::now() + 20s;
  auto next_read = clock_type::now();
  while (received.size() < size && clock_type::now() < give_up) {
    if (!send()) break;
    if (clock_type::now() >= next_read) {
      std::array<char, 16384> chunk{};
      const ssize_t got =
          ::recv(pair.client.native_handle(), chunk.data(), chunk.size(), MSG_DONTWAIT);
      if (got > 0) {
        received.append(chunk.data(), static_cast<std::size_t>(got));
        ++reads;
      }
      next_read += 2ms;
    }
    loop.run_once(1ms);
  }
  return received;
}

void written_to_a_half_closed_peer(bool unix_socket) {
  auto loop = make_loop();
  int writable_notifications = 0;
  half_closed_pair half;
  ASSERT_TRUE(make_half_closed_pair(*loop, unix_socket, writable_notifications, half));
  half_closed_pair* pair = &half;
  const std::string content = pattern(2 * 1024 * 1024);
  std::size_t written = 0;
  io_result failure;
  int reads = 0;
  const std::string received = read_slowly(
      *loop, *pair, content.size(),
      [&] {
        if (written == content.size() || !pair->server.writable()) return true;
        const io_result wrote = pair->server.write(std::string_view(content).substr(written));
        if (wrote.done()) written += wrote.bytes;
        if (wrote.failed()) failure = wrote;
        return !wrote.failed();
      },
      reads);
  ASSERT_FALSE(failure.failed()) << "write failed after " << written
                                 << " bytes: " << failure.error().message();
  EXPECT_EQ(received.size(), content.size());
  EXPECT_TRUE(received == content);
}

TEST(IoBackend, AHalfClosedPeerReadingSlowlyGetsEveryByteWrittenOverTcp) {
  written_to_a_half_closed_peer(false);
}

TEST(IoBackend, AHalfClosedPeerReadingSlowlyGetsEveryByteWrittenOverAUnixSocket) {
  written_to_a_half_closed_peer(true);
}

void sent_from_a_file_to_a_half_closed_peer(bool unix_socket) {
  auto loop = make_loop();
  int writable_notifications = 0;
  half_closed_pair half;
  ASSERT_TRUE(make_half_closed_pair(*loop, unix_socket, writable_notifications, half));
  half_closed_pair* pair = &half;
  const std::string content = pattern(2 * 1024 * 1024);
  const int file = ::memfd_create("taut-half-closed", MFD_CLOEXEC);
  ASSERT_GE(file, 0) << std::strerror(errno);
  ASSERT_EQ(::write(file, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  std::uint64_t offset = 0;
  io_result failure;
  int reads = 0;
  const std::string received = read_slowly(
      *loop, *pair, content.size(),
      [&] {
        if (offset == content.size() || !pair->server.writable()) return true;
        const io_result sent =
            pair->server.sendfile(file, offset, content.size() - static_cast<std::size_t>(offset));
        if (sent.failed()) failure = sent;
        return !sent.failed();
      },
      reads);
  ::close(file);
  ASSERT_FALSE(failure.failed()) << failure.error().message();
  EXPECT_TRUE(received == content);
  // Each time the client makes room the server may hear of it once; a loop that spins hears of
  // it thousands of times in the same while (a few per 20 us here before the fix: 10,000 or more).
  EXPECT_LT(writable_notifications, 4 * reads + 50) << reads << " reads";
}

TEST(IoBackend, SendfileToAHalfClosedPeerReadingSlowlyDoesNotSpinOverTcp) {
  sent_from_a_file_to_a_half_closed_peer(false);
}

TEST(IoBackend, SendfileToAHalfClosedPeerReadingSlowlyDoesNotSpinOverAUnixSocket) {
  sent_from_a_file_to_a_half_closed_peer(true);
}

}  // namespace
