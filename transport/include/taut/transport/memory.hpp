// The memory transport: in-process byte pipes with the stream interface, driven by the event loop
// like sockets, plus fault injection (short writes, 1-byte reads, pauses, resets, half-closes) so
// the layers above are tested deterministically, on one thread, without sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "taut/transport/error.hpp"
#include "taut/transport/stream.hpp"

namespace taut::transport {

namespace detail {
struct memory_pipe;
struct memory_listener_state;
}  // namespace detail

/// How one direction of a pipe misbehaves. Zero means "no limit" for each field.
struct memory_faults {
  /// Each write by the sending end accepts at most this many bytes (short writes; 1 is the
  /// harshest). writev and sendfile too.
  std::size_t max_write = 0;
  /// Each read by the receiving end returns at most this many bytes (segmentation).
  std::size_t max_read = 0;
  /// Bytes in flight before the sender's writes return would_block (a slow reader).
  std::size_t capacity = 256 * 1024;
};

/// Options of a memory listener: the faults of every pipe it accepts.
struct memory_options {
  memory_faults client_to_server{};
  memory_faults server_to_client{};
  /// Dials not yet accepted; one more fails with EAGAIN.
  std::size_t backlog = 128;
};

/// A connected pair of memory streams. Both ends, and every loop watching them, belong to one
/// thread: the memory transport does no locking (use TCP on loopback across threads).
[[nodiscard]] std::pair<stream, stream> memory_pair(const memory_faults& first_to_second = {},
                                                    const memory_faults& second_to_first = {});

/// Fault injection for the bytes one end of a pipe sends, and inspection. Obtained from
/// stream::memory(); valid while that stream is open.
class memory_control {
 public:
  memory_control() noexcept = default;
  [[nodiscard]] bool valid() const noexcept { return pipe_ != nullptr; }

  /// The faults of what this end sends.
  [[nodiscard]] memory_faults faults() const noexcept;
  void set_faults(const memory_faults& faults) noexcept;
  /// Shorthand: writes of at most `bytes` bytes, which the peer reads at most `bytes` at a time.
  void split(std::size_t bytes) noexcept;

  /// Holds back everything this end sends (bytes, EOF, reset): the peer's reads return
  /// would_block until resume().
  void pause() noexcept;
  void resume() noexcept;
  [[nodiscard]] bool paused() const noexcept;

  /// Bytes this end wrote that the peer has not read yet.
  [[nodiscard]] std::size_t in_flight() const noexcept;
  /// Whether the peer's stream is still open.
  [[nodiscard]] bool peer_open() const noexcept;
  /// The same control for the other end (for the direction the peer sends).
  [[nodiscard]] memory_control peer() const noexcept;
  /// The pipe's id, as in address::memory(id).
  [[nodiscard]] std::uint64_t id() const noexcept;

 private:
  friend class stream;
  memory_control(detail::memory_pipe* pipe, std::uint8_t side) noexcept
      : pipe_(pipe), side_(side) {}
  detail::memory_pipe* pipe_ = nullptr;
  std::uint8_t side_ = 0;
};

/// Dials a memory listener (listener::dialer()). Copyable; keeps the listener's state alive.
class memory_dialer {
 public:
  memory_dialer() noexcept = default;
  memory_dialer(const memory_dialer& other) noexcept;
  memory_dialer& operator=(const memory_dialer& other) noexcept;
  ~memory_dialer();

  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }
  /// The client end of a new pipe whose server end waits in the listener's accept queue. Writes
  /// succeed before the accept, as with TCP. ECONNREFUSED once the listener is closed, EAGAIN when
  /// its backlog is full.
  [[nodiscard]] result<stream> dial() const;

 private:
  friend class listener;
  explicit memory_dialer(detail::memory_listener_state* state) noexcept;
  detail::memory_listener_state* state_ = nullptr;
};

}  // namespace taut::transport
