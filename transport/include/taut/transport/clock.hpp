// The time source of an event loop, injectable so tests can move time by hand (manual_clock) and
// drive every timeout deterministically.
#pragma once

#include <atomic>
#include <chrono>

namespace taut::transport {

using time_point = std::chrono::steady_clock::time_point;
using duration = std::chrono::steady_clock::duration;

/// A monotonic time source. The loop asks it once per iteration and caches the answer.
class clock {
 public:
  [[nodiscard]] virtual time_point now() const noexcept = 0;

 protected:
  clock() = default;
  clock(const clock&) = default;
  clock& operator=(const clock&) = default;
  ~clock() = default;
};

/// std::chrono::steady_clock (CLOCK_MONOTONIC); the default of every event loop.
[[nodiscard]] const clock& steady_clock() noexcept;

/// A clock that moves only when told to. Safe to advance from one thread while a loop on another
/// reads it. A loop on a manual clock is best driven with run_until_idle(): a blocking run would
/// wait for real time, not for this clock.
class manual_clock final : public clock {
 public:
  /// Starts an hour after the epoch so `now() - some_duration` never goes below zero.
  explicit manual_clock(time_point start = time_point{} + std::chrono::hours{1}) noexcept
      : ticks_(start.time_since_epoch().count()) {}

  [[nodiscard]] time_point now() const noexcept override {
    return time_point{duration{ticks_.load(std::memory_order_acquire)}};
  }
  void advance(duration by) noexcept { ticks_.fetch_add(by.count(), std::memory_order_acq_rel); }
  void set(time_point to) noexcept {
    ticks_.store(to.time_since_epoch().count(), std::memory_order_release);
  }

 private:
  std::atomic<duration::rep> ticks_;
};

}  // namespace taut::transport
