// acceptor: accepts a listener's connections on an event loop and hands each stream to a callback,
// backing off (instead of spinning) when the process runs out of file descriptors.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "taut/transport/event_loop.hpp"
#include "taut/transport/listener.hpp"
#include "taut/transport/small_fn.hpp"
#include "taut/transport/stream.hpp"

namespace taut::transport {

struct acceptor_options {
  /// Connections accepted per readiness notification before yielding to the other work of the
  /// loop (the rest are accepted in the next iteration).
  std::size_t max_accepts_per_wakeup = 64;
  /// After EMFILE, ENFILE, ENOBUFS or ENOMEM, accepting pauses this long, doubling on each repeat
  /// up to max_backoff and starting again from min_backoff after an accept succeeds. The pending
  /// connections stay queued in the kernel meanwhile; a level-triggered loop would instead wake
  /// up for them again at once, forever, at full CPU.
  duration min_backoff = std::chrono::milliseconds{5};
  duration max_backoff = std::chrono::seconds{1};
};

/// Owns a listener, watches it on a loop and calls `on_accept` with each new stream (on the loop
/// thread). Errors are reported to `on_error` (optional): resource exhaustion (EMFILE...) starts a
/// back-off, transient network errors (ECONNABORTED...) are skipped, anything else pauses the
/// acceptor. pause()/resume() implement a connection limit: while paused, connections wait in
/// the kernel's backlog. Not movable (the loop points at it); the callbacks may pause, resume or
/// stop it, but not destroy it.
class acceptor {
 public:
  using accept_callback = small_fn<void(stream&&)>;
  using error_callback = small_fn<void(std::error_code)>;

  acceptor(event_loop& loop, accept_callback on_accept, error_callback on_error = {},
           const acceptor_options& options = {}) noexcept;
  ~acceptor();
  acceptor(const acceptor&) = delete;
  acceptor& operator=(const acceptor&) = delete;

  /// Takes `source` and starts accepting from it.
  std::error_code start(listener&& source) noexcept;
  /// Stops accepting and gives the listener back (closing is the caller's choice).
  listener stop() noexcept;

  void pause() noexcept;
  void resume() noexcept;
  [[nodiscard]] bool paused() const noexcept { return paused_; }
  /// True while waiting out a back-off after running out of descriptors.
  [[nodiscard]] bool backing_off() const noexcept { return backing_off_; }

  [[nodiscard]] const listener& source() const noexcept { return listener_; }
  [[nodiscard]] std::uint64_t accepted() const noexcept { return accepted_; }
  /// accept() calls made, successful or not: what proves the back-off works.
  [[nodiscard]] std::uint64_t accept_calls() const noexcept { return accept_calls_; }
  [[nodiscard]] std::uint64_t resource_errors() const noexcept { return resource_errors_; }

 private:
  void on_ready(readiness events) noexcept;
  void on_timer() noexcept;
  void accept_batch() noexcept;
  void schedule_soon() noexcept;

  event_loop* loop_;
  listener listener_;
  accept_callback on_accept_;
  error_callback on_error_;
  acceptor_options options_;
  timer timer_;  // back-off, or "continue accepting next iteration"
  duration backoff_;
  std::uint64_t accepted_ = 0;
  std::uint64_t accept_calls_ = 0;
  std::uint64_t resource_errors_ = 0;
  bool paused_ = false;
  bool backing_off_ = false;
};

}  // namespace taut::transport
