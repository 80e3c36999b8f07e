// The event loop without sockets: timers on a manual clock, tasks posted from other threads,
// stop(), and the in-place callback type.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "loopback.hpp"
#include "transport_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using taut::transport::event_loop;
using taut::transport::manual_clock;
using taut::transport::small_fn;
using taut::transport::task;
using taut::transport::timer;
using taut::transport::testing::make_loop;

TEST(SmallFn, CallsItsLambdaAndCopiesByValue) {
  int calls = 0;
  small_fn<int(int)> add = [&calls](int x) {
    ++calls;
    return x + 1;
  };
  const small_fn<int(int)> copy = add;
  EXPECT_EQ(add(1), 2);
  EXPECT_EQ(copy(41), 42);
  EXPECT_EQ(calls, 2);
  const small_fn<int(int)> empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty(5), 0);  // an empty callback is a no-op
}

TEST(Timers, FireInDeadlineOrderOnlyWhenTheClockGetsThere) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  std::vector<int> fired;
  timer late(*loop, [&] { fired.push_back(3); });
  timer early(*loop, [&] { fired.push_back(1); });
  timer middle(*loop, [&] { fired.push_back(2); });
  late.arm_in(30ms);
  early.arm_in(10ms);
  middle.arm_in(20ms);
  EXPECT_EQ(loop->armed_timers(), 3u);

  loop->run_until_idle();
  EXPECT_TRUE(fired.empty());
  clock.advance(9ms);
  loop->run_until_idle();
  EXPECT_TRUE(fired.empty());
  clock.advance(1ms);
  loop->run_until_idle();
  EXPECT_EQ(fired, (std::vector<int>{1}));
  EXPECT_FALSE(early.armed());
  clock.advance(100ms);
  loop->run_until_idle();
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(loop->armed_timers(), 0u);
}

TEST(Timers, EqualDeadlinesFireInArmingOrder) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  std::vector<int> fired;
  std::vector<std::unique_ptr<timer>> timers;
  for (int i = 0; i < 50; ++i) timers.push_back(std::make_unique<timer>(*loop));
  const auto deadline = loop->now() + 5ms;
  for (int i = 0; i < 50; ++i) {
    timers[static_cast<std::size_t>(i)]->set_callback([&fired, i] { fired.push_back(i); });
    timers[static_cast<std::size_t>(i)]->arm_at(deadline);
  }
  clock.advance(5ms);
  loop->run_until_idle();
  ASSERT_EQ(fired.size(), 50u);
  EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
}

TEST(Timers, CancelAndRearm) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  int fired = 0;
  timer t(*loop, [&] { ++fired; });
  t.arm_in(10ms);
  t.cancel();
  EXPECT_FALSE(t.armed());
  t.cancel();  // cancelling twice is harmless
  clock.advance(20ms);
  loop->run_until_idle();
  EXPECT_EQ(fired, 0);

  t.arm_in(10ms);
  t.arm_in(50ms);  // re-arming moves the deadline, never fires twice
  EXPECT_EQ(loop->armed_timers(), 1u);
  clock.advance(10ms);
  loop->run_until_idle();
  EXPECT_EQ(fired, 0);
  clock.advance(40ms);
  loop->run_until_idle();
  EXPECT_EQ(fired, 1);
}

TEST(Timers, DestroyingAnArmedTimerCancelsIt) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  int fired = 0;
  {
    timer t(*loop, [&] { ++fired; });
    t.arm_in(1ms);
  }
  EXPECT_EQ(loop->armed_timers(), 0u);
  clock.advance(1s);
  loop->run_until_idle();
  EXPECT_EQ(fired, 0);
}

TEST(Timers, ACallbackMayDestroyItsOwnTimerOrOthers) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  struct state {
    std::unique_ptr<timer> first;
    std::unique_ptr<timer> second;
    int fired = 0;
  } s;
  s.first = std::make_unique<timer>(*loop);
  s.second = std::make_unique<timer>(*loop);
  s.first->set_callback([&s] {
    ++s.fired;
    s.first.reset();   // itself
    s.second.reset();  // and another armed, due timer
  });
  s.second->set_callback([&s] { ++s.fired; });
  s.first->arm_in(1ms);
  s.second->arm_in(1ms);
  clock.advance(1ms);
  loop->run_until_idle();
  EXPECT_EQ(s.fired, 1);
  EXPECT_EQ(loop->armed_timers(), 0u);
}

TEST(Timers, ATimerRearmingItselfForNowDoesNotHoldTheLoop) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  int fired = 0;
  timer t(*loop);
  t.set_callback([&fired, &t] {
    ++fired;
    t.arm_at(t.loop().now());
  });
  t.arm_at(loop->now());
  // Each iteration fires it once; the rest waits for the next iteration.
  for (int i = 0; i < 5; ++i) loop->run_once(0ms);
  EXPECT_EQ(fired, 5);
}

TEST(Timers, ManyThousandsArmedCancelledAndFiredInOrder) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  constexpr int count = 20000;
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> delay_ms(1, 5000);
  struct entry {
    std::unique_ptr<timer> t;
    int delay = 0;
  };
  struct log {
    std::vector<entry> entries;
    std::vector<std::pair<int, int>> fired;  // (deadline, index)
  } state;
  state.entries.resize(count);
  state.fired.reserve(count);
  auto& entries = state.entries;
  auto& fired = state.fired;
  for (int i = 0; i < count; ++i) {
    entry& e = entries[static_cast<std::size_t>(i)];
    e.delay = delay_ms(random);
    e.t = std::make_unique<timer>(*loop);
    e.t->set_callback([&state, i] {
      state.fired.emplace_back(state.entries[static_cast<std::size_t>(i)].delay, i);
    });
    e.t->arm_in(std::chrono::milliseconds{e.delay});
  }
  EXPECT_EQ(loop->armed_timers(), static_cast<std::size_t>(count));
  // Cancel every third, re-arm every fifth somewhere else.
  std::size_t expected = 0;
  for (int i = 0; i < count; ++i) {
    entry& e = entries[static_cast<std::size_t>(i)];
    if (i % 3 == 0) {
      e.t->cancel();
      continue;
    }
    if (i % 5 == 0) {
      e.delay = delay_ms(random);
      e.t->arm_in(std::chrono::milliseconds{e.delay});
    }
    ++expected;
  }
  EXPECT_EQ(loop->armed_timers(), expected);
  // Walk time forward in uneven steps; whatever fires must come out sorted by deadline.
  for (int step = 0; step < 60; ++step) {
    clock.advance(std::chrono::milliseconds{97});
    loop->run_until_idle();
  }
  ASSERT_EQ(fired.size(), expected);
  EXPECT_TRUE(
      std::is_sorted(fired.begin(), fired.end(), [](auto a, auto b) { return a.first < b.first; }));
  for (const auto& [deadline, index] : fired) EXPECT_NE(index % 3, 0);
  EXPECT_EQ(loop->armed_timers(), 0u);
}

TEST(Timers, RealClockTimerEndsABlockingRun) {
  auto loop = make_loop();
  bool fired = false;
  timer t(*loop, [&] {
    fired = true;
    loop->stop();
  });
  const auto started = std::chrono::steady_clock::now();
  loop->update_time();  // arm_in counts from the loop's cached time: make it no earlier than that
  t.arm_in(20ms);
  EXPECT_FALSE(loop->run());
  EXPECT_TRUE(fired);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 20ms);
}

TEST(Post, TasksRunInPostingOrderOnTheLoop) {
  auto loop = make_loop();
  std::vector<int> ran;
  task first([&ran] { ran.push_back(1); });
  task second([&ran] { ran.push_back(2); });
  loop->post(first);
  loop->post(second);
  loop->post([&ran] { ran.push_back(3); });
  EXPECT_TRUE(ran.empty());  // never inline
  loop->run_until_idle();
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
}

TEST(Post, ATaskPostedFromAnotherThreadWakesABlockedLoop) {
  auto loop = make_loop();
  std::atomic<std::thread::id> ran_on{};
  task finish([&] {
    ran_on = std::this_thread::get_id();
    loop->stop();
  });
  std::thread worker([&] {
    std::this_thread::sleep_for(20ms);  // let the loop block in epoll_wait first
    loop->post(finish);
  });
  // A watchdog: if the post never woke the loop, fail instead of hanging.
  taut::transport::timer watchdog(*loop, [&] { loop->stop(); });
  watchdog.arm_in(10s);
  EXPECT_FALSE(loop->run());
  worker.join();
  EXPECT_EQ(ran_on.load(), std::this_thread::get_id());
  EXPECT_TRUE(watchdog.armed()) << "the watchdog fired: the post did not wake the loop";
}

TEST(Post, ManyThreadsManyTasksAllRunExactlyOnce) {
  auto loop = make_loop();
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  int ran = 0;  // touched on the loop thread only
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) loop->post([&ran] { ++ran; });
    });
  }
  EXPECT_TRUE(taut::transport::testing::run_until(
      *loop, [&] { return ran == threads * per_thread; }, 10000ms));
  for (auto& w : workers) w.join();
  loop->run_until_idle();
  EXPECT_EQ(ran, threads * per_thread);
}

TEST(Post, UnrunHeapTasksAreFreedWithTheLoop) {
  auto loop = make_loop();
  auto shared = std::make_shared<int>(0);
  loop->post([shared] { ++*shared; });
  EXPECT_EQ(shared.use_count(), 2);
  loop.reset();
  EXPECT_EQ(shared.use_count(), 1);  // (LeakSanitizer would also catch a leak here)
}

TEST(Stop, FromAnotherThread) {
  auto loop = make_loop();
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    loop->stop();
  });
  timer watchdog(*loop, [&] { loop->stop(); });
  watchdog.arm_in(10s);
  EXPECT_FALSE(loop->run());
  stopper.join();
  EXPECT_TRUE(watchdog.armed());
}

event_loop* loop_to_stop = nullptr;

void stop_on_signal(int) {
  loop_to_stop->stop();
}

TEST(Stop, FromASignalHandler) {
  // What a server does on SIGINT/SIGTERM: stop() only stores an atomic flag and writes an eventfd.
  auto loop = make_loop();
  loop_to_stop = loop.get();
  struct sigaction action {};
  action.sa_handler = stop_on_signal;
  struct sigaction previous {};
  ASSERT_EQ(::sigaction(SIGALRM, &action, &previous), 0);
  itimerval in_20ms{};
  in_20ms.it_value.tv_usec = 20000;
  ASSERT_EQ(::setitimer(ITIMER_REAL, &in_20ms, nullptr), 0);
  timer watchdog(*loop, [&] { loop->stop(); });
  watchdog.arm_in(10s);
  EXPECT_FALSE(loop->run());
  EXPECT_TRUE(watchdog.armed()) << "the signal did not stop the loop";
  ::sigaction(SIGALRM, &previous, nullptr);
  loop_to_stop = nullptr;
}

TEST(Stop, RequestedBeforeRunReturnsAtOnceAndIsConsumed) {
  auto loop = make_loop();
  loop->stop();
  EXPECT_TRUE(loop->stop_requested());
  EXPECT_FALSE(loop->run());
  EXPECT_FALSE(loop->stop_requested());
}

TEST(Loop, RunUntilIdleReturnsWhenNothingIsLeft) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  timer far(*loop, [] {});
  far.arm_in(1h);
  EXPECT_EQ(loop->run_until_idle(), 0u);  // a future timer is not work
  const auto before = loop->iterations();
  EXPECT_EQ(loop->run_until_idle(), 0u);
  EXPECT_EQ(loop->iterations(), before + 1);
}

TEST(Loop, NowIsCachedPerIteration) {
  manual_clock clock;
  auto loop = make_loop(&clock);
  const auto before = loop->now();
  clock.advance(5s);
  EXPECT_EQ(loop->now(), before);  // cached until the next iteration
  loop->run_once(0ms);
  EXPECT_EQ(loop->now(), before + 5s);
  clock.advance(1s);
  EXPECT_EQ(loop->update_time(), before + 6s);
}

// A wait that fails (here every one: the loop's epoll instance or ring is replaced by /dev/null)
// is the loop's failure(), so that a caller driving it with run_once() can stop instead of
// spinning; run() returns it at once.
TEST(EventLoop, AFailedWaitIsTheLoopsFailure) {
  auto loop = taut::transport::testing::make_loop();
  ASSERT_TRUE(loop);
  (void)loop->run_once(0ms);  // an io_uring loop's ring is this thread's from now on
  EXPECT_FALSE(loop->failure());
  // The newest epoll instance or ring of the process is this loop's.
  const int kernel_object = taut::test::newest_loop_descriptor();
  ASSERT_GE(kernel_object, 0);
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(::dup2(null, kernel_object), kernel_object);
  ::close(null);

  (void)loop->run_once(0ms);
  const std::error_code failed = loop->failure();
  EXPECT_TRUE(failed);
  EXPECT_EQ(loop->run(), failed);
  EXPECT_FALSE(loop->failure()) << "run() returned it";
}

}  // namespace
