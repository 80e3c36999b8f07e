// stream: one connected, non-blocking byte stream (TCP, Unix socket or memory pipe) behind one
// concrete type, so the layers above are the same code for all three transports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

#include "taut/transport/address.hpp"
#include "taut/transport/error.hpp"
#include "taut/transport/event_loop.hpp"

namespace taut::transport {

namespace detail {
struct memory_pipe;
struct memory_access;
struct ring_stream;
struct tls_session;
struct stream_access;
}  // namespace detail
class memory_control;

/// One piece of a gathered write; same layout as struct iovec, but const.
struct const_buffer {
  const void* data = nullptr;
  std::size_t size = 0;

  constexpr const_buffer() noexcept = default;
  constexpr const_buffer(const void* bytes, std::size_t count) noexcept
      : data(bytes), size(count) {}
  constexpr const_buffer(std::string_view text) noexcept  // NOLINT: implicit on purpose
      : data(text.data()), size(text.size()) {}
};

/// A connected byte stream. 56 bytes and a file descriptor; it owns no buffers (the layer above
/// brings its own, from a pool; on an io_uring loop, received bytes wait in the loop's shared
/// buffers and written ones in its send chunks until the kernel takes them). Every operation is
/// non-blocking and reports would_block instead of waiting; no operation throws. Move-only; closing
/// is the destructor's job (or close()).
///
/// Watching: watch(loop, callback) registers the stream with `loop`; the callback runs on the loop
/// thread when the stream becomes readable or writable. A watched stream may be moved (the watch
/// follows it) but the loop must outlive the watch.
class stream {
 public:
  stream() noexcept = default;
  stream(stream&& other) noexcept;
  stream& operator=(stream&& other) noexcept;
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() { (void)close(); }

  /// Takes ownership of a connected socket (made non-blocking here).
  static result<stream> adopt(int fd, transport_kind kind) noexcept;

  [[nodiscard]] bool is_open() const noexcept { return handle_.fd >= 0 || pipe() != nullptr; }
  [[nodiscard]] transport_kind kind() const noexcept {
    return static_cast<transport_kind>(handle_.kind);
  }
  /// Whether tls_accept() or tls_connect() made this a TLS stream (see tls.hpp).
  [[nodiscard]] bool is_tls() const noexcept { return tls_ != nullptr; }
  /// The socket's descriptor, or -1 for memory pipes.
  [[nodiscard]] int native_handle() const noexcept { return handle_.fd; }

  /// Delivers readiness changes to `on_ready` on `loop`'s thread, starting with the current state.
  std::error_code watch(event_loop& loop, ready_callback on_ready) noexcept;
  void unwatch() noexcept;
  [[nodiscard]] bool watched() const noexcept { return handle_.loop != nullptr; }
  /// Whether a read may make progress (data, EOF or an error to report). A hint kept from the last
  /// notification and the last operation: true until a read returns would_block.
  [[nodiscard]] bool readable() const noexcept;
  /// Whether a write may make progress; true until a write returns would_block or comes up short.
  [[nodiscard]] bool writable() const noexcept;

  /// Reads up to `into.size()` bytes.
  io_result read(std::span<char> into) noexcept;
  /// Makes the next read() see everything that has arrived by now, even when the loop has not run
  /// since: on an io_uring loop received bytes and the peer's close reach the stream through the
  /// loop's completions, which this takes in as the loop's next pass would (raising the usual
  /// notifications, delivered by the loop). For a caller on the loop's thread that must know the
  /// stream's state exactly before the loop runs again (is an idle connection still sound?); does
  /// nothing elsewhere, and nothing for epoll and memory streams, whose reads are always exact.
  void take_ready() noexcept;
  /// True when, without a system call, the stream is known to have nothing to read as of the
  /// loop's latest look: it is watched by a loop now running an iteration on this thread, which
  /// took in every readiness report the kernel had at that iteration's wait and has none left
  /// to deliver to it, and since a read last found it empty (or since its first report) nothing
  /// has come: no bytes, no end of stream, no error. What arrives after that wait is reported by
  /// the loop's next one. False whenever only a read can tell: outside the loop's iterations
  /// (between blocking calls), after a wait that left reports in the kernel, for memory streams
  /// (whose reads cost no system call) and TLS streams. For a pool checking that an idle
  /// connection is still sound before lending it, with the read it saves where this says false.
  [[nodiscard]] bool nothing_to_read() const noexcept;
  /// Writes a prefix of `bytes` (maybe all, maybe none: would_block). Never raises SIGPIPE.
  io_result write(std::string_view bytes) noexcept;
  /// Gathered write (sendmsg): a prefix of the concatenated parts. Never raises SIGPIPE.
  io_result writev(std::span<const const_buffer> parts) noexcept;
  /// Sends `count` bytes of `file_fd` starting at `offset` without copying them through user space
  /// (sendfile(2) for sockets; a read into the pipe for memory streams); advances `offset` by what
  /// was sent. A socket whose peer is gone raises SIGPIPE here, so a server ignores SIGPIPE
  /// (ignore_sigpipe()).
  io_result sendfile(int file_fd, std::uint64_t& offset, std::size_t count) noexcept;

  /// Half-close: the peer reads EOF after the bytes already written; this side can still read.
  std::error_code shutdown_write() noexcept;
  /// Abortive close: TCP sends a reset (the peer's next call fails with ECONNRESET) and drops
  /// unsent data; a memory pipe does the same. For Unix sockets it is an ordinary close (the peer
  /// sees ECONNRESET only if bytes it sent were left unread).
  void abort() noexcept;
  /// Closes (unwatching first). Like TCP, closing with received bytes left unread makes the kernel
  /// (and the memory pipe) send a reset instead of EOF: drain or half-close first to avoid it.
  std::error_code close() noexcept;
  /// Reads and drops what has arrived by now, at most `budget` bytes, without waiting: what the
  /// stream holds (a TLS record, io_uring's received buffers, a memory pipe), then the socket's
  /// receive queue. Before a close that must not become a reset; a peer sending faster than the
  /// budget still meets one. Returns the bytes dropped.
  std::size_t discard_unread(std::size_t budget) noexcept;

  /// After connect(): success once the stream is writable, or why the connection failed.
  [[nodiscard]] std::error_code connect_error() const noexcept;
  [[nodiscard]] result<address> peer_address() const noexcept;
  [[nodiscard]] result<address> local_address() const noexcept;
  /// TCP_NODELAY (accepted TCP streams have it already when the listener asked for it).
  std::error_code set_no_delay(bool on) noexcept;
  [[nodiscard]] result<bool> no_delay() const noexcept;

  /// Fault injection and inspection for memory streams; an invalid control for the others.
  [[nodiscard]] memory_control memory() const noexcept;

 private:
  friend class listener;
  friend struct detail::memory_access;
  friend struct detail::stream_access;
  friend result<stream> connect(const address& to) noexcept;
  void take(stream& other) noexcept;
  // The transport's own operations, under TLS when tls_ is set.
  [[nodiscard]] bool raw_readable() const noexcept;
  [[nodiscard]] bool raw_writable() const noexcept;
  io_result raw_read(std::span<char> into) noexcept;
  io_result raw_writev(std::span<const const_buffer> parts) noexcept;
  io_result raw_sendfile(int file_fd, std::uint64_t& offset, std::size_t count) noexcept;
  std::error_code raw_shutdown_write() noexcept;
  std::error_code raw_watch(event_loop& loop, ready_callback on_ready) noexcept;
  void raw_abort() noexcept;
  std::error_code raw_close() noexcept;

  // A memory stream's pipe, or a socket stream's state on an io_uring loop (set by its first
  // watch there): a stream never has both, so they share one place and kind() says which.
  [[nodiscard]] detail::memory_pipe* pipe() const noexcept {
    return kind() == transport_kind::memory ? pipe_ : nullptr;
  }
  [[nodiscard]] detail::ring_stream* ring() const noexcept {
    return kind() != transport_kind::memory ? ring_ : nullptr;
  }

  detail::io_handle handle_;
  union {
    detail::memory_pipe* pipe_;
    detail::ring_stream* ring_ = nullptr;
  };
  detail::tls_session* tls_ = nullptr;  // set by tls_accept / tls_connect
};

/// Opens a non-blocking connection. A TCP connect to loopback usually completes later: wait until
/// the stream is writable, then check connect_error(). Unix connects complete at once (or fail
/// with EAGAIN when the listener's backlog is full).
[[nodiscard]] result<stream> connect(const address& to) noexcept;

/// Sets SIGPIPE to SIG_IGN for the process (what every server does; see stream::sendfile).
void ignore_sigpipe() noexcept;

}  // namespace taut::transport
