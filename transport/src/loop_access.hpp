// Internal: the event loop's hooks for streams, listeners and memory pipes.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <system_error>

#include "taut/transport/event_loop.hpp"

namespace taut::transport::detail {

// Streams watch for both directions at once, edge-triggered: registered once, never modified.
inline constexpr std::uint32_t stream_events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
inline constexpr std::uint32_t listener_events = EPOLLIN | EPOLLET;

// io_handle::flags bits.
inline constexpr std::uint8_t handle_listener = 1;   // registered with listener_events
inline constexpr std::uint8_t handle_exclusive = 2;  // ... and EPOLLEXCLUSIVE
inline constexpr std::uint8_t handle_unlink = 4;     // a Unix listener that owns its socket file
// A stream registered with epoll that no poll has reported on yet, nor a read found empty since:
// what arrived before its registration waits for the loop's next poll (see nothing_to_read).
inline constexpr std::uint8_t handle_unpolled = 8;

struct loop_access {
  static std::error_code add_fd(event_loop& loop, io_handle& handle,
                                std::uint32_t events) noexcept {
    return loop.add_fd(handle, events);
  }
  static void remove_fd(event_loop& loop, io_handle& handle) noexcept { loop.remove_fd(handle); }
  static void move_fd(event_loop& loop, io_handle& from, io_handle& to) noexcept {
    loop.move_fd(from, to);
  }
  static void raise(event_loop& loop, soft_event& event, readiness bits) noexcept {
    loop.raise(event, bits);
  }
  static void withdraw(event_loop& loop, soft_event& event) noexcept { loop.withdraw(event); }
  static void forget(event_loop& loop, io_handle* handle, io_handle* replacement) noexcept {
    loop.forget(handle, replacement);
  }
  static ring_backend* ring(event_loop& loop) noexcept { return loop.ring_.get(); }
  static bool told_all(const event_loop& loop, const io_handle& handle) noexcept {
    return loop.told_all(handle);
  }
};

}  // namespace taut::transport::detail
