// Internal: the shared state of a memory pipe and of a memory listener. Single-threaded by design.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "taut/transport/error.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/memory.hpp"
#include "taut/transport/stream.hpp"

namespace taut::transport::detail {

/// The bytes one end sends to the other, and what the network is doing to them.
struct memory_direction {
  std::vector<char> bytes;
  std::size_t head = 0;  // bytes before `head` were read
  memory_faults faults;
  bool paused = false;
  bool shut = false;            // the sender shut down writing (or closed): EOF after the bytes
  bool reset = false;           // the sender aborted: ECONNRESET, bytes dropped
  bool writer_blocked = false;  // a write found no room: wake the writer when room appears

  [[nodiscard]] std::size_t buffered() const noexcept { return bytes.size() - head; }
  [[nodiscard]] std::size_t room() const noexcept {
    if (faults.capacity == 0) return SIZE_MAX;
    return faults.capacity > buffered() ? faults.capacity - buffered() : 0;
  }
  void consume(std::size_t count) noexcept;
  void drop() noexcept {
    bytes.clear();
    head = 0;
  }
};

struct memory_end {
  soft_event event;  // notifications to the stream watching this end
  bool open = true;
};

struct memory_pipe {
  memory_direction sent[2];  // sent[s]: the bytes end s writes
  memory_end end[2];
  int references = 2;
  std::uint64_t id = 0;

  static memory_pipe* create(const memory_faults& zero_to_one, const memory_faults& one_to_zero);

  [[nodiscard]] bool readable(int side) const noexcept;
  [[nodiscard]] bool writable(int side) const noexcept;
  io_result read(int side, std::span<char> into) noexcept;
  io_result writev(int side, std::span<const const_buffer> parts) noexcept;
  io_result sendfile(int side, int file_fd, std::uint64_t& offset, std::size_t count) noexcept;
  void shutdown_write(int side) noexcept;
  /// Closes end `side` (abortively if asked, or if received bytes are left unread, like TCP), then
  /// drops its reference; `this` may be gone afterwards.
  void close(int side, bool abortive) noexcept;

  void watch(int side, io_handle& handle) noexcept;
  void unwatch(int side) noexcept;
  void notify(int side, readiness bits) noexcept;
  void set_faults(int side, const memory_faults& faults) noexcept;
  void pause(int side) noexcept { sent[side].paused = true; }
  void resume(int side) noexcept;

 private:
  /// What a write by `side` may take now: SIZE_MAX when the peer is gone and the bytes vanish,
  /// otherwise the room left, capped by max_write. Sets `error` when the write must fail.
  std::size_t write_limit(int side, int& error) noexcept;
  io_result wrote(int side, std::size_t count, std::size_t wanted) noexcept;
};

struct memory_listener_state {
  soft_event event;
  std::deque<memory_pipe*> pending;  // server ends waiting for accept()
  memory_options options;
  bool open = true;
  int references = 1;

  void release() noexcept;
};

/// Builds streams around pipe ends (stream's constructors are private).
struct memory_access {
  static stream make(memory_pipe* pipe, int side) noexcept;
};

}  // namespace taut::transport::detail
