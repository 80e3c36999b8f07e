// Internal: the io_uring backend of the event loop, and the per-stream and per-listener state it
// keeps so that streams and listeners keep their readiness-style interface on it.
//
// Receiving: a watched stream has a receive that picks a buffer from a ring of buffers shared by
// the whole loop; what arrives is chained to the stream and read() copies it out, giving the
// buffer back as soon as it is consumed and submitting the next receive. An idle connection holds
// no buffer.
// Sending: write() copies into send chunks (pooled per loop) and the loop submits one send per
// stream when it next enters the kernel, together with every other stream's sends and its wait.
// Accepting: a multishot accept queues descriptors for listener::accept().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <system_error>

#include "taut/transport/error.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/stream.hpp"

namespace taut::transport::detail {

struct ring_stream;
struct ring_listener;

/// The ring of one loop. Everything here runs on the loop thread.
class ring_backend {
 public:
  /// Opens a ring with its provided-buffer group and watches `wake_fd` (the loop's eventfd).
  static result<std::unique_ptr<ring_backend>> create(event_loop& loop, int wake_fd) noexcept;
  virtual ~ring_backend() = default;

  /// Submits what is queued and waits up to `timeout_ms` (-1: no limit, 0: no wait) for
  /// completions, then takes them all in, raising the streams' and listeners' notifications on
  /// the loop. Returns the completions taken, or a negative errno value if the ring failed.
  virtual int wait(int timeout_ms) noexcept = 0;

 protected:
  ring_backend() = default;
};

// Streams: `state` is the stream's pointer, created by the first watch.
std::error_code ring_watch(event_loop& loop, ring_stream*& state, io_handle& handle) noexcept;
void ring_unwatch(ring_stream& state) noexcept;
void ring_move(ring_stream& state, io_handle& to) noexcept;
[[nodiscard]] bool ring_readable(const ring_stream& state) noexcept;
/// Takes in what the kernel has ready for the stream's ring now, as the loop's next pass would
/// (without waiting), so that ring_read() also sees bytes or an end of stream that arrived while
/// the loop was not running. Does nothing off the loop's thread.
void ring_take_ready(ring_stream& state) noexcept;
/// Whether the loop's last wait took in everything for the watched stream and it holds nothing to
/// read (no bytes, no end, no error): read() would report would_block without a system call.
/// Meaningful only inside an iteration of the loop, on its thread (see stream::nothing_to_read).
[[nodiscard]] bool ring_heard_all(const ring_stream& state) noexcept;
/// The errno value a failed connect left (taken from SO_ERROR when its completion came), or 0.
[[nodiscard]] int ring_connect_error(const ring_stream& state) noexcept;
io_result ring_read(ring_stream& state, io_handle& handle, std::span<char> into) noexcept;
io_result ring_writev(ring_stream& state, io_handle& handle,
                      std::span<const const_buffer> parts) noexcept;
io_result ring_sendfile(ring_stream& state, io_handle& handle, int file_fd, std::uint64_t& offset,
                        std::size_t count) noexcept;
std::error_code ring_shutdown_write(ring_stream& state, io_handle& handle) noexcept;
/// Ends the stream's use of the state and of its descriptor: the descriptor is closed once the
/// queued sends are out (at once when `abortive`, or when unread bytes are left: a reset).
void ring_close(ring_stream*& state, io_handle& handle, bool abortive) noexcept;

// Listeners.
std::error_code ring_watch_listener(event_loop& loop, ring_listener*& state,
                                    io_handle& handle) noexcept;
void ring_unwatch_listener(ring_listener& state) noexcept;
void ring_move_listener(ring_listener& state, io_handle& to) noexcept;
[[nodiscard]] bool ring_listener_readable(const ring_listener& state) noexcept;
/// A queued descriptor (>= 0), or a negative errno value (-EAGAIN when none is queued).
int ring_accept(ring_listener& state) noexcept;
/// Stops accepting (the multishot accept is cancelled: connections wait in the kernel's backlog)
/// until resumed; for acceptor::pause().
void ring_pause_listener(ring_listener& state) noexcept;
void ring_resume_listener(ring_listener& state) noexcept;
/// Closes the queued descriptors and lets go of the state. Returns true if the ring took the
/// listener's own descriptor (entries naming it wait for the loop's thread to submit them; it
/// closes it then), false if the caller closes it.
[[nodiscard]] bool ring_close_listener(ring_listener*& state) noexcept;

/// The ring of `loop`, or null for an epoll loop.
ring_backend* ring_of(event_loop& loop) noexcept;

/// How a ring's completions reach the loop, by what the kernel accepted (newest first).
enum class ring_mode : std::uint8_t {
  deferred,     // SINGLE_ISSUER | DEFER_TASKRUN: run only when the loop's thread waits (6.1+)
  cooperative,  // COOP_TASKRUN: run as task work on the submitting thread, without an IPI (5.19+)
  plain,        // task work on the submitting thread, with an IPI
};
[[nodiscard]] ring_mode mode_of(const ring_backend& ring) noexcept;

}  // namespace taut::transport::detail
