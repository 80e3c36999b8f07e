// The memory transport: pipes and listeners with the stream interface, every fault injection
// mode, and loop integration driven deterministically on one thread.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "transport_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace taut::transport;
using taut::transport::testing::collecting_client;
using taut::transport::testing::echo_connection;
using taut::transport::testing::echo_server;
using taut::transport::testing::make_loop;
using taut::transport::testing::pattern;

std::string read_some(stream& s, std::size_t at_most = 4096) {
  std::string buffer(at_most, '\0');
  const io_result got = s.read(buffer);
  EXPECT_TRUE(got.done()) << "status " << static_cast<int>(got.status) << " "
                          << got.error().message();
  buffer.resize(got.done() ? got.bytes : 0);
  return buffer;
}

// Reads until would_block or EOF.
std::string read_available(stream& s) {
  std::string all;
  std::array<char, 1024> chunk{};
  for (;;) {
    const io_result got = s.read(chunk);
    if (!got.done()) break;
    all.append(chunk.data(), got.bytes);
  }
  return all;
}

TEST(MemoryPipe, CarriesBytesBothWays) {
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  EXPECT_EQ(a.kind(), transport_kind::memory);
  EXPECT_EQ(a.native_handle(), -1);
  EXPECT_TRUE(a.read(std::span<char>()).done());
  std::array<char, 8> buffer{};
  EXPECT_TRUE(b.read(buffer).would_block());
  EXPECT_FALSE(b.readable());

  EXPECT_EQ(a.write("hello").bytes, 5u);
  EXPECT_TRUE(b.readable());
  EXPECT_EQ(read_some(b), "hello");
  EXPECT_EQ(b.write("world").bytes, 5u);
  EXPECT_EQ(read_some(a), "world");
}

TEST(MemoryPipe, PeerAddressesNameThePipe) {
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  const std::uint64_t id = a.memory().id();
  EXPECT_EQ(b.memory().id(), id);
  EXPECT_EQ(a.peer_address()->to_string(), "memory:" + std::to_string(id));
  EXPECT_EQ(b.local_address()->transport(), transport_kind::memory);
  EXPECT_EQ(a.set_no_delay(true), errc::not_supported);
}

TEST(MemoryPipe, WritevGathersInOrder) {
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  const const_buffer parts[] = {std::string_view("GET "), std::string_view("/ "),
                                std::string_view(""), std::string_view("HTTP/1.1")};
  const io_result wrote = a.writev(parts);
  EXPECT_EQ(wrote.bytes, 14u);
  EXPECT_EQ(read_some(b), "GET / HTTP/1.1");
}

TEST(MemoryPipe, SendfileCopiesFromTheFile) {
  char name[] = "/tmp/taut-sendfile-XXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_GE(fd, 0);
  ::unlink(name);
  const std::string content = pattern(10000);
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));

  auto a_b = memory_pair({.max_write = 3000, .max_read = 0, .capacity = 0});
  stream& a = a_b.first;
  stream& b = a_b.second;
  std::uint64_t offset = 100;
  const io_result first = a.sendfile(fd, offset, 5000);
  EXPECT_EQ(first.bytes, 3000u);  // a short write, as a socket may do
  EXPECT_EQ(offset, 3100u);
  const io_result second = a.sendfile(fd, offset, 20000);
  EXPECT_EQ(second.bytes, 3000u);
  std::uint64_t at_end = content.size();
  EXPECT_EQ(a.sendfile(fd, at_end, 10).bytes, 0u);  // end of the file
  EXPECT_EQ(read_available(b), content.substr(100, 6000));
  ::close(fd);
}

TEST(MemoryFaults, SplitWritesDownToOneByte) {
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  a.memory().set_faults({.max_write = 1, .max_read = 0, .capacity = 0});
  std::string_view text = "abcdef";
  std::size_t calls = 0;
  while (!text.empty()) {
    const io_result wrote = a.write(text);
    ASSERT_EQ(wrote.bytes, 1u);  // every write is short
    text.remove_prefix(wrote.bytes);
    ++calls;
  }
  EXPECT_EQ(calls, 6u);
  EXPECT_EQ(read_some(b), "abcdef");  // reads are not limited by max_write
}

TEST(MemoryFaults, SplitReadsDeliverOneByteAtATime) {
  auto a_b = memory_pair({.max_write = 0, .max_read = 1, .capacity = 0});
  stream& a = a_b.first;
  stream& b = a_b.second;
  EXPECT_EQ(a.write("xyz").bytes, 3u);
  EXPECT_EQ(read_some(b), "x");
  EXPECT_EQ(read_some(b), "y");
  EXPECT_EQ(read_some(b), "z");
  std::array<char, 4> buffer{};
  EXPECT_TRUE(b.read(buffer).would_block());
}

TEST(MemoryFaults, SplitShorthandAppliesToBothSidesOfADirection) {
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  a.memory().split(2);
  EXPECT_EQ(a.write("abcd").bytes, 2u);
  EXPECT_EQ(a.write("cd").bytes, 2u);
  EXPECT_EQ(read_some(b), "ab");
  EXPECT_EQ(read_some(b), "cd");
  EXPECT_EQ(b.write("unaffected").bytes, 10u);  // the other direction keeps its faults
}

TEST(MemoryFaults, CapacityMakesWritesBlockUntilThePeerReads) {
  auto loop = make_loop();
  auto a_b = memory_pair({.max_write = 0, .max_read = 0, .capacity = 4});
  stream& a = a_b.first;
  stream& b = a_b.second;
  int writable_notifications = 0;
  ASSERT_FALSE(a.watch(*loop, [&](readiness r) {
    if (has(r, readiness::writable)) ++writable_notifications;
  }));
  loop->run_until_idle();
  writable_notifications = 0;

  EXPECT_EQ(a.write("abcdef").bytes, 4u);
  EXPECT_FALSE(a.writable());
  EXPECT_TRUE(a.write("ef").would_block());
  EXPECT_EQ(a.memory().in_flight(), 4u);
  loop->run_until_idle();
  EXPECT_EQ(writable_notifications, 0);

  std::array<char, 2> two{};
  EXPECT_EQ(b.read(two).bytes, 2u);  // room again: the writer hears about it
  loop->run_until_idle();
  EXPECT_EQ(writable_notifications, 1);
  EXPECT_TRUE(a.writable());
  EXPECT_EQ(a.write("ef").bytes, 2u);
  EXPECT_EQ(read_available(b), "cdef");
}

TEST(MemoryFaults, RaisingCapacityWakesABlockedWriter) {
  auto loop = make_loop();
  auto a_b = memory_pair({.max_write = 0, .max_read = 0, .capacity = 1});
  stream& a = a_b.first;
  stream& b = a_b.second;
  int writable = 0;
  ASSERT_FALSE(a.watch(*loop, [&](readiness r) { writable += has(r, readiness::writable); }));
  loop->run_until_idle();
  EXPECT_EQ(a.write("ab").bytes, 1u);
  EXPECT_TRUE(a.write("b").would_block());
  writable = 0;
  a.memory().set_faults({.max_write = 0, .max_read = 0, .capacity = 0});
  loop->run_until_idle();
  EXPECT_EQ(writable, 1);
  EXPECT_EQ(a.write("b").bytes, 1u);
  EXPECT_EQ(read_available(b), "ab");
}

TEST(MemoryFaults, PauseHoldsBackDataUntilResumed) {
  auto loop = make_loop();
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  int readable = 0;
  ASSERT_FALSE(b.watch(*loop, [&](readiness r) { readable += has(r, readiness::readable); }));
  loop->run_until_idle();
  readable = 0;

  a.memory().pause();
  EXPECT_TRUE(a.memory().paused());
  EXPECT_EQ(a.write("held").bytes, 4u);  // the sender is not blocked
  std::array<char, 8> buffer{};
  EXPECT_TRUE(b.read(buffer).would_block());
  EXPECT_FALSE(b.readable());
  ASSERT_FALSE(a.shutdown_write());
  EXPECT_TRUE(b.read(buffer).would_block());  // the EOF is held back too

  a.memory().resume();
  loop->run_until_idle();
  EXPECT_GE(readable, 1);
  EXPECT_EQ(read_some(b), "held");
  EXPECT_TRUE(b.read(buffer).eof());
}

TEST(MemoryFaults, PausingTheOtherDirectionThroughPeer) {
  auto client_server = memory_pair();
  stream& client = client_server.first;
  stream& server = client_server.second;
  client.memory().peer().pause();  // the server's bytes to the client are held
  EXPECT_EQ(server.write("response").bytes, 8u);
  std::array<char, 16> buffer{};
  EXPECT_TRUE(client.read(buffer).would_block());
  client.memory().peer().resume();
  EXPECT_EQ(read_some(client), "response");
}

TEST(MemoryFaults, ResetDiscardsDataAndThePeerSeesConnectionReset) {
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  EXPECT_EQ(a.write("lost").bytes, 4u);
  a.abort();
  EXPECT_FALSE(a.is_open());
  std::array<char, 8> buffer{};
  const io_result got = b.read(buffer);
  ASSERT_TRUE(got.failed());
  EXPECT_EQ(got.error(), std::errc::connection_reset);
  const io_result wrote = b.write("x");
  ASSERT_TRUE(wrote.failed());
  EXPECT_EQ(wrote.error(), std::errc::connection_reset);
  EXPECT_FALSE(b.memory().peer_open());
}

TEST(MemoryFaults, ResetIsDeliveredToAWatchingPeer) {
  auto loop = make_loop();
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  readiness seen = readiness::none;
  ASSERT_FALSE(b.watch(*loop, [&](readiness r) { seen |= r; }));
  loop->run_until_idle();
  seen = readiness::none;
  a.abort();
  loop->run_until_idle();
  EXPECT_TRUE(has(seen, readiness::readable | readiness::hangup));
}

TEST(MemoryFaults, AResetHeldByAPauseArrivesOnResume) {
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  a.memory().pause();
  a.abort();
  std::array<char, 8> buffer{};
  EXPECT_TRUE(b.read(buffer).would_block());
  EXPECT_EQ(b.write("into the void").bytes, 13u);  // as on a wire: the reset has not arrived
  b.memory().peer().resume();
  EXPECT_EQ(b.read(buffer).error(), std::errc::connection_reset);
}

TEST(MemoryFaults, HalfCloseGivesThePeerEofAndKeepsTheOtherDirection) {
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  EXPECT_EQ(a.write("last words").bytes, 10u);
  ASSERT_FALSE(a.shutdown_write());
  EXPECT_EQ(read_some(b), "last words");
  std::array<char, 8> buffer{};
  EXPECT_TRUE(b.read(buffer).eof());
  EXPECT_TRUE(b.read(buffer).eof());  // EOF stays
  const io_result late = a.write("more");
  ASSERT_TRUE(late.failed());
  EXPECT_EQ(late.error(), std::errc::broken_pipe);
  // The other direction still works.
  EXPECT_EQ(b.write("reply").bytes, 5u);
  EXPECT_EQ(read_some(a), "reply");
}

TEST(MemoryFaults, CloseIsEofButCloseWithUnreadBytesIsAReset) {
  {
    auto a_b = memory_pair();
    stream& a = a_b.first;
    stream& b = a_b.second;
    EXPECT_EQ(a.write("bye").bytes, 3u);
    ASSERT_FALSE(a.close());
    EXPECT_EQ(read_some(b), "bye");
    std::array<char, 4> buffer{};
    EXPECT_TRUE(b.read(buffer).eof());
    EXPECT_EQ(b.write("x").error(), std::errc::broken_pipe);
  }
  {
    auto a_b = memory_pair();
    stream& a = a_b.first;
    stream& b = a_b.second;
    EXPECT_EQ(b.write("unread request").bytes, 14u);
    EXPECT_EQ(a.write("response").bytes, 8u);
    ASSERT_FALSE(a.close());  // closing with the request unread: like TCP, a reset
    std::array<char, 16> buffer{};
    EXPECT_EQ(b.read(buffer).error(), std::errc::connection_reset);
  }
}

TEST(MemoryPipe, WatchReportsTheCurrentStateAtOnce) {
  auto loop = make_loop();
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  EXPECT_EQ(a.write("early").bytes, 5u);
  readiness seen = readiness::none;
  ASSERT_FALSE(b.watch(*loop, [&](readiness r) { seen |= r; }));
  EXPECT_EQ(loop->run_until_idle(), 1u);
  EXPECT_TRUE(has(seen, readiness::readable | readiness::writable));
}

TEST(MemoryPipe, UnwatchStopsNotifications) {
  auto loop = make_loop();
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  int calls = 0;
  ASSERT_FALSE(b.watch(*loop, [&](readiness) { ++calls; }));
  EXPECT_EQ(a.write("x").bytes, 1u);  // queued a notification...
  b.unwatch();                        // ...that must not arrive
  loop->run_until_idle();
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(b.watched());
}

TEST(MemoryPipe, AWatchedStreamCanBeMoved) {
  auto loop = make_loop();
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  int calls = 0;
  ASSERT_FALSE(b.watch(*loop, [&](readiness) { ++calls; }));
  loop->run_until_idle();
  calls = 0;
  stream moved = std::move(b);
  EXPECT_TRUE(moved.watched());
  EXPECT_FALSE(b.is_open());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(a.write("x").bytes, 1u);
  loop->run_until_idle();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(read_some(moved), "x");
}

TEST(MemoryPipe, DestroyingAStreamWithAQueuedNotificationIsSafe) {
  auto loop = make_loop();
  auto pair = std::make_unique<std::pair<stream, stream>>(memory_pair());
  int calls = 0;
  ASSERT_FALSE(pair->second.watch(*loop, [&](readiness) { ++calls; }));
  EXPECT_EQ(pair->first.write("x").bytes, 1u);
  pair.reset();  // both ends gone while a notification is queued
  loop->run_until_idle();
  EXPECT_EQ(calls, 0);
}

TEST(MemoryPipe, ACallbackMayCloseItsOwnStreamAndKeepUsingItsCaptures) {
  auto loop = make_loop();
  auto a_b = memory_pair();
  stream& a = a_b.first;
  stream& b = a_b.second;
  int calls = 0;
  ASSERT_FALSE(b.watch(*loop, [&b, &calls](readiness) {
    (void)b.close();  // resets the stored callback while this copy runs
    ++calls;          // so the captures must still be readable here
  }));
  EXPECT_EQ(a.write("x").bytes, 1u);
  loop->run_until_idle();
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(b.is_open());
}

TEST(MemoryListener, DialAcceptAndNotify) {
  auto loop = make_loop();
  listener server = listener::memory({});
  EXPECT_EQ(server.kind(), transport_kind::memory);
  memory_dialer dialer = server.dialer();
  ASSERT_TRUE(dialer.valid());
  int notifications = 0;
  ASSERT_FALSE(server.watch(*loop, [&](readiness) { ++notifications; }));
  EXPECT_TRUE(is_would_block(server.accept().error()));

  auto client = dialer.dial();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->write("before accept").bytes, 13u);  // as with TCP, the kernel would buffer
  loop->run_until_idle();
  EXPECT_EQ(notifications, 1);
  EXPECT_TRUE(server.readable());
  auto accepted = server.accept();
  ASSERT_TRUE(accepted);
  EXPECT_EQ(read_some(*accepted), "before accept");
  EXPECT_EQ(accepted->memory().id(), client->memory().id());
  EXPECT_FALSE(server.readable());
}

TEST(MemoryListener, AWatchedListenerCanBeMoved) {
  auto loop = make_loop();
  listener original = listener::memory({});
  int notifications = 0;
  ASSERT_FALSE(original.watch(*loop, [&notifications](readiness) { ++notifications; }));
  listener moved = std::move(original);
  EXPECT_TRUE(moved.watched());
  ASSERT_TRUE(moved.dialer().dial());
  loop->run_until_idle();
  EXPECT_EQ(notifications, 1);
  EXPECT_TRUE(moved.accept().has_value());
}

TEST(MemoryListener, ClosedListenerRefusesAndResetsItsQueue) {
  listener server = listener::memory({});
  memory_dialer dialer = server.dialer();
  auto queued = dialer.dial();
  ASSERT_TRUE(queued);
  ASSERT_FALSE(server.close());
  std::array<char, 4> buffer{};
  EXPECT_EQ(queued->read(buffer).error(), std::errc::connection_reset);
  EXPECT_EQ(dialer.dial().error(), std::errc::connection_refused);
}

TEST(MemoryListener, FullBacklogIsWouldBlock) {
  memory_options options;
  options.backlog = 2;
  listener server = listener::memory(options);
  memory_dialer dialer = server.dialer();
  auto first = dialer.dial();
  auto second = dialer.dial();
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(is_would_block(dialer.dial().error()));
  ASSERT_TRUE(server.accept());
  EXPECT_TRUE(dialer.dial());
}

TEST(MemoryListener, OptionsSetTheFaultsOfEveryPipe) {
  memory_options options;
  options.client_to_server.max_read = 1;
  options.server_to_client.max_write = 2;
  listener server = listener::memory(options);
  auto client = server.dialer().dial();
  ASSERT_TRUE(client);
  auto accepted = server.accept();
  ASSERT_TRUE(accepted);
  EXPECT_EQ(client->write("abc").bytes, 3u);
  EXPECT_EQ(read_some(*accepted), "a");
  EXPECT_EQ(accepted->write("xyz").bytes, 2u);
  EXPECT_EQ(client->memory().peer().faults().max_write, 2u);
}

TEST(MemoryListener, NotForSockets) {
  EXPECT_EQ(listener::listen(address::memory(1)).error(), errc::not_supported);
  EXPECT_EQ(connect(address::memory(1)).error(), errc::not_supported);
  EXPECT_FALSE(listener().dialer().valid());
  EXPECT_EQ(listener::memory({}).duplicate().error(), errc::not_supported);
}

// The whole stack the server will use, over the memory transport with the harshest faults, run
// deterministically: an acceptor, echo connections and clients on one thread, no sockets.
class MemoryEcho : public ::testing::TestWithParam<std::size_t> {};

TEST_P(MemoryEcho, EchoesEverythingUnderSplitWritesAndReads) {
  const std::size_t split = GetParam();
  manual_clock clock;
  auto loop = make_loop(&clock);
  memory_options options;
  options.client_to_server = {.max_write = split, .max_read = split, .capacity = 64};
  options.server_to_client = {.max_write = split, .max_read = split, .capacity = 64};
  listener server_side = listener::memory(options);
  memory_dialer dialer = server_side.dialer();
  echo_server server(*loop);
  ASSERT_FALSE(server.start(std::move(server_side)));

  std::vector<std::unique_ptr<collecting_client>> clients;
  for (std::size_t i = 0; i < 5; ++i) {
    auto dialed = dialer.dial();
    ASSERT_TRUE(dialed);
    clients.push_back(
        std::make_unique<collecting_client>(std::move(*dialed), pattern(1000 + 37 * i), true));
    ASSERT_FALSE(clients.back()->start(*loop));
  }
  loop->run_until_idle(1000000);
  ASSERT_EQ(server.connections().size(), 5u);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    EXPECT_TRUE(clients[i]->done()) << i;
    EXPECT_FALSE(clients[i]->error()) << clients[i]->error().message();
    EXPECT_EQ(clients[i]->received(), pattern(1000 + 37 * i)) << i;
  }
  for (const auto& connection : server.connections()) EXPECT_TRUE(connection->finished());
}

INSTANTIATE_TEST_SUITE_P(Splits, MemoryEcho, ::testing::Values(1, 2, 7, 64, 0));

}  // namespace
