#include "taut/transport/stream.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstddef>

#include "loop_access.hpp"
#include "memory_state.hpp"
#include "ring.hpp"
#include "taut/transport/memory.hpp"
#include "tls_session.hpp"

namespace taut::transport {

static_assert(sizeof(stream) <= 56, "a stream is meant to stay a few dozen bytes");
static_assert(sizeof(const_buffer) == sizeof(iovec) &&
                  offsetof(const_buffer, data) == offsetof(iovec, iov_base) &&
                  offsetof(const_buffer, size) == offsetof(iovec, iov_len),
              "const_buffer must be layout-compatible with iovec");

namespace {

constexpr readiness readable_bit = readiness::readable;
constexpr readiness writable_bit = readiness::writable;

// A read found the socket empty: not readable until an edge says so, and, once the socket is
// registered with epoll, whatever comes next raises that edge even if no poll reported on it yet.
void found_empty(detail::io_handle& handle) noexcept {
  handle.ready &= ~readable_bit;
  if (handle.loop != nullptr) handle.flags &= static_cast<std::uint8_t>(~detail::handle_unpolled);
}

std::size_t total_size(std::span<const const_buffer> parts) noexcept {
  std::size_t total = 0;
  for (const const_buffer& part : parts) total += part.size;
  return total;
}

}  // namespace

stream::stream(stream&& other) noexcept {
  take(other);
}

stream& stream::operator=(stream&& other) noexcept {
  if (this != &other) {
    (void)close();
    take(other);
  }
  return *this;
}

void stream::take(stream& other) noexcept {
  handle_ = other.handle_;
  if (other.kind() == transport_kind::memory) {
    pipe_ = other.pipe_;
  } else {
    ring_ = other.ring_;
  }
  tls_ = other.tls_;
  if (tls_ != nullptr) detail::tls_move(*tls_, *this);
  if (ring() != nullptr) {
    detail::ring_move(*ring_, handle_);
  } else if (handle_.loop != nullptr) {
    if (pipe() != nullptr) {
      pipe_->end[handle_.side].event.target = &handle_;
    } else {
      detail::loop_access::move_fd(*handle_.loop, other.handle_, handle_);
    }
  }
  other.handle_ = detail::io_handle{};
  other.ring_ = nullptr;
  other.tls_ = nullptr;
}

result<stream> stream::adopt(int fd, transport_kind kind) noexcept {
  if (fd < 0) return errno_code(EBADF);
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return errno_code(errno);
  stream made;
  made.handle_.fd = fd;
  made.handle_.kind = static_cast<std::uint8_t>(kind);
  return made;
}

// ---- watching -------------------------------------------------------------------------------

std::error_code stream::watch(event_loop& loop, ready_callback on_ready) noexcept {
  if (tls_ != nullptr && is_open()) {
    const std::error_code ec = raw_watch(loop, detail::tls_watch(*tls_, on_ready));
    if (!ec) detail::tls_watched(*tls_);
    return ec;
  }
  return raw_watch(loop, on_ready);
}

std::error_code stream::raw_watch(event_loop& loop, ready_callback on_ready) noexcept {
  if (!is_open()) return errc::not_connected;
  unwatch();
  handle_.on_ready = on_ready;
  handle_.loop = &loop;
  if (pipe() != nullptr) {
    pipe_->watch(handle_.side, handle_);
    return {};
  }
  if (detail::ring_of(loop) != nullptr || ring() != nullptr) {
    std::error_code ec = detail::ring_of(loop) != nullptr
                             ? detail::ring_watch(loop, ring_, handle_)
                             : std::error_code(errno_code(EBUSY));  // still busy on a ring
    if (ec) {
      handle_.loop = nullptr;
      handle_.on_ready = {};
    }
    return ec;
  }
  if (auto ec = detail::loop_access::add_fd(loop, handle_, detail::stream_events)) {
    handle_.loop = nullptr;
    handle_.on_ready = {};
    return ec;
  }
  handle_.flags |= detail::handle_unpolled;  // what came before waits for the next poll
  return {};
}

void stream::unwatch() noexcept {
  if (handle_.loop == nullptr) return;
  if (tls_ != nullptr) detail::tls_unwatch(*tls_);
  if (pipe() != nullptr) {
    pipe_->unwatch(handle_.side);
  } else if (ring() != nullptr) {
    detail::ring_unwatch(*ring_);
  } else {
    detail::loop_access::remove_fd(*handle_.loop, handle_);
  }
  handle_.loop = nullptr;
  handle_.on_ready = {};
}

bool stream::readable() const noexcept {
  if (tls_ != nullptr) return detail::tls_readable(*tls_);
  return raw_readable();
}

bool stream::nothing_to_read() const noexcept {
  if (tls_ != nullptr || pipe() != nullptr || handle_.loop == nullptr) return false;
  if (!handle_.loop->in_loop_thread()) return false;  // the loop is not looking: ask the socket
  if (ring() != nullptr) return detail::ring_heard_all(*ring_);
  // Edge-triggered epoll reports every arrival after the registration or after the read that
  // last found the socket empty (the readable bit cleared): once this iteration's wait took all
  // that was ready and delivered what it took for this stream, a clear bit means nothing came
  // before that wait. A stream registered since the wait has not been polled yet.
  return (handle_.ready & (readable_bit | readiness::hangup)) == readiness::none &&
         (handle_.flags & detail::handle_unpolled) == 0 &&
         detail::loop_access::told_all(*handle_.loop, handle_);
}

void stream::take_ready() noexcept {
  if (ring() != nullptr) detail::ring_take_ready(*ring_);
}

bool stream::writable() const noexcept {
  if (tls_ != nullptr) return detail::tls_writable(*tls_);
  return raw_writable();
}

bool stream::raw_readable() const noexcept {
  if (pipe() != nullptr) return pipe_->readable(handle_.side);
  if (ring() != nullptr) return detail::ring_readable(*ring_);
  return has(handle_.ready, readable_bit);
}

bool stream::raw_writable() const noexcept {
  if (pipe() != nullptr) return pipe_->writable(handle_.side);
  return has(handle_.ready, writable_bit);
}

// ---- I/O ------------------------------------------------------------------------------------

io_result stream::read(std::span<char> into) noexcept {
  if (tls_ != nullptr) return detail::tls_read(*tls_, into);
  return raw_read(into);
}

io_result stream::raw_read(std::span<char> into) noexcept {
  if (pipe() != nullptr) return pipe_->read(handle_.side, into);
  if (ring() != nullptr) return detail::ring_read(*ring_, handle_, into);
  if (handle_.fd < 0) return io_result::failure(ENOTCONN);
  for (;;) {
    const ssize_t got = ::read(handle_.fd, into.data(), into.size());
    if (got > 0) {
      // A short read drained the socket (a read takes all there is up to the room, so one that
      // filled the room says nothing: more may wait): data arriving later raises a new edge, so
      // the next read can wait for it instead of costing a system call to learn EAGAIN. Not once
      // the peer has shut down, whose EOF was announced already and will not be announced again.
      if (static_cast<std::size_t>(got) < into.size() && !has(handle_.ready, readiness::hangup)) {
        found_empty(handle_);
      }
      return io_result::transferred(static_cast<std::size_t>(got));
    }
    if (got == 0) return into.empty() ? io_result::transferred(0) : io_result::end_of_stream();
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      found_empty(handle_);
      return io_result::blocked();
    }
    return io_result::failure(errno);
  }
}

io_result stream::write(std::string_view bytes) noexcept {
  if (tls_ != nullptr) {
    const const_buffer part(bytes.data(), bytes.size());
    return detail::tls_writev(*tls_, std::span<const const_buffer>(&part, 1));
  }
  if (pipe() != nullptr) {
    const const_buffer part(bytes.data(), bytes.size());
    return pipe_->writev(handle_.side, std::span<const const_buffer>(&part, 1));
  }
  if (ring() != nullptr) {
    const const_buffer part(bytes.data(), bytes.size());
    return detail::ring_writev(*ring_, handle_, std::span<const const_buffer>(&part, 1));
  }
  if (handle_.fd < 0) return io_result::failure(ENOTCONN);
  for (;;) {
    const ssize_t sent = ::send(handle_.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent >= 0) {
      // A short write filled the socket buffer; the kernel signals an edge once room returns.
      if (static_cast<std::size_t>(sent) < bytes.size()) handle_.ready &= ~writable_bit;
      return io_result::transferred(static_cast<std::size_t>(sent));
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      handle_.ready &= ~writable_bit;
      return io_result::blocked();
    }
    return io_result::failure(errno);
  }
}

io_result stream::writev(std::span<const const_buffer> parts) noexcept {
  if (tls_ != nullptr) return detail::tls_writev(*tls_, parts);
  return raw_writev(parts);
}

io_result stream::raw_writev(std::span<const const_buffer> parts) noexcept {
  if (pipe() != nullptr) return pipe_->writev(handle_.side, parts);
  if (ring() != nullptr) return detail::ring_writev(*ring_, handle_, parts);
  if (handle_.fd < 0) return io_result::failure(ENOTCONN);
  if (parts.size() > IOV_MAX) parts = parts.first(IOV_MAX);
  msghdr message{};
  // sendmsg only reads the vector; iovec merely lacks the const.
  message.msg_iov = const_cast<iovec*>(reinterpret_cast<const iovec*>(parts.data()));
  message.msg_iovlen = parts.size();
  for (;;) {
    const ssize_t sent = ::sendmsg(handle_.fd, &message, MSG_NOSIGNAL);
    if (sent >= 0) {
      if (static_cast<std::size_t>(sent) < total_size(parts)) handle_.ready &= ~writable_bit;
      return io_result::transferred(static_cast<std::size_t>(sent));
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      handle_.ready &= ~writable_bit;
      return io_result::blocked();
    }
    return io_result::failure(errno);
  }
}

io_result stream::sendfile(int file_fd, std::uint64_t& offset, std::size_t count) noexcept {
  if (tls_ != nullptr) return detail::tls_sendfile(*tls_, file_fd, offset, count);
  return raw_sendfile(file_fd, offset, count);
}

io_result stream::raw_sendfile(int file_fd, std::uint64_t& offset, std::size_t count) noexcept {
  if (pipe() != nullptr) return pipe_->sendfile(handle_.side, file_fd, offset, count);
  if (ring() != nullptr) return detail::ring_sendfile(*ring_, handle_, file_fd, offset, count);
  if (handle_.fd < 0) return io_result::failure(ENOTCONN);
  for (;;) {
    off_t position = static_cast<off_t>(offset);
    const ssize_t sent = ::sendfile(handle_.fd, file_fd, &position, count);
    if (sent >= 0) {
      offset = static_cast<std::uint64_t>(position);
      return io_result::transferred(static_cast<std::size_t>(sent));
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      handle_.ready &= ~writable_bit;
      return io_result::blocked();
    }
    return io_result::failure(errno);
  }
}

// ---- closing --------------------------------------------------------------------------------

std::size_t stream::discard_unread(std::size_t budget) noexcept {
  std::array<char, 16 * 1024> scratch;  // NOLINT: filled by the reads
  std::size_t dropped = 0;
  while (dropped < budget) {
    const io_result got = read(scratch);
    if (!got.done() || got.bytes == 0) break;
    dropped += got.bytes;
  }
  // On io_uring a receive may still be armed in the kernel: what it takes later is dropped by the
  // close. The socket itself is read directly: under TLS its records are dropped undecrypted.
  while (pipe() == nullptr && handle_.fd >= 0 && dropped < budget) {
    const ssize_t got = ::recv(handle_.fd, scratch.data(), scratch.size(), MSG_DONTWAIT);
    if (got > 0) {
      dropped += static_cast<std::size_t>(got);
    } else if (got < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // drained (EAGAIN), the peer's FIN, or an error: nothing more to take now
    }
  }
  return dropped;
}

std::error_code stream::shutdown_write() noexcept {
  if (tls_ != nullptr) return detail::tls_shutdown_write(*tls_);
  return raw_shutdown_write();
}

std::error_code stream::raw_shutdown_write() noexcept {
  if (pipe() != nullptr) {
    pipe_->shutdown_write(handle_.side);
    return {};
  }
  if (handle_.fd < 0) return errc::not_connected;
  if (ring() != nullptr) return detail::ring_shutdown_write(*ring_, handle_);
  if (::shutdown(handle_.fd, SHUT_WR) != 0) return errno_code(errno);
  return {};
}

void stream::abort() noexcept {
  if (tls_ != nullptr) detail::tls_end(tls_, false);
  raw_abort();
}

void stream::raw_abort() noexcept {
  if (pipe() != nullptr) {
    unwatch();
    pipe_->close(handle_.side, true);
    pipe_ = nullptr;
    handle_ = detail::io_handle{};
    return;
  }
  if (ring() != nullptr) {
    handle_.loop = nullptr;  // ring_close unwatches
    handle_.on_ready = {};
    detail::ring_close(ring_, handle_, true);
    handle_ = detail::io_handle{};
    return;
  }
  if (handle_.fd >= 0 && kind() == transport_kind::tcp) {
    // SO_LINGER with a zero timeout turns close() into a reset.
    const linger abortive{1, 0};
    ::setsockopt(handle_.fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  }
  (void)raw_close();
}

std::error_code stream::close() noexcept {
  if (tls_ != nullptr) detail::tls_end(tls_, true);
  return raw_close();
}

std::error_code stream::raw_close() noexcept {
  if (ring() != nullptr) {
    // The ring closes the descriptor once the queued bytes are sent.
    detail::ring_close(ring_, handle_, false);
    handle_ = detail::io_handle{};
    return {};
  }
  unwatch();
  std::error_code ec;
  if (pipe() != nullptr) {
    pipe_->close(handle_.side, false);
    pipe_ = nullptr;
  } else if (handle_.fd >= 0) {
    // On Linux the descriptor is gone even when close() reports EINTR: never retry.
    if (::close(handle_.fd) != 0 && errno != EINTR) ec = errno_code(errno);
  }
  handle_ = detail::io_handle{};
  return ec;
}

// ---- information ----------------------------------------------------------------------------

std::error_code stream::connect_error() const noexcept {
  if (pipe() != nullptr) return {};
  if (handle_.fd < 0) return errc::not_connected;
  if (ring() != nullptr && detail::ring_connect_error(*ring_) != 0) {
    return errno_code(detail::ring_connect_error(*ring_));
  }
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(handle_.fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) {
    return errno_code(errno);
  }
  return error != 0 ? errno_code(error) : std::error_code{};
}

result<address> stream::peer_address() const noexcept {
  if (pipe() != nullptr) return address::memory(pipe_->id);
  if (handle_.fd < 0) return errc::not_connected;
  sockaddr_storage storage{};
  socklen_t size = sizeof storage;
  if (::getpeername(handle_.fd, reinterpret_cast<sockaddr*>(&storage), &size) != 0) {
    return errno_code(errno);
  }
  return address::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), size);
}

result<address> stream::local_address() const noexcept {
  if (pipe() != nullptr) return address::memory(pipe_->id);
  if (handle_.fd < 0) return errc::not_connected;
  sockaddr_storage storage{};
  socklen_t size = sizeof storage;
  if (::getsockname(handle_.fd, reinterpret_cast<sockaddr*>(&storage), &size) != 0) {
    return errno_code(errno);
  }
  return address::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), size);
}

std::error_code stream::set_no_delay(bool on) noexcept {
  if (kind() != transport_kind::tcp) return errc::not_supported;
  const int value = on ? 1 : 0;
  if (::setsockopt(handle_.fd, IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) != 0) {
    return errno_code(errno);
  }
  return {};
}

result<bool> stream::no_delay() const noexcept {
  if (kind() != transport_kind::tcp) return errc::not_supported;
  int value = 0;
  socklen_t size = sizeof value;
  if (::getsockopt(handle_.fd, IPPROTO_TCP, TCP_NODELAY, &value, &size) != 0) {
    return errno_code(errno);
  }
  return value != 0;
}

memory_control stream::memory() const noexcept {
  if (pipe() == nullptr) return {};
  return memory_control(pipe_, handle_.side);
}

// ---- free functions -------------------------------------------------------------------------

result<stream> connect(const address& to) noexcept {
  transport_kind kind = to.transport();
  if (kind == transport_kind::memory) return errc::not_supported;  // dial the listener instead
  if (kind == transport_kind::none) return errc::empty_address;
  const int fd = ::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_code(errno);
  if (kind == transport_kind::tcp) {
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  // EINTR, like EINPROGRESS, leaves the connection completing in the background.
  const int rc = ::connect(fd, to.sockaddr_data(), to.sockaddr_size());
  if (rc != 0 && errno != EINPROGRESS && errno != EINTR) {
    const int error = errno;
    ::close(fd);
    return errno_code(error);
  }
  stream made;
  made.handle_.fd = fd;
  made.handle_.kind = static_cast<std::uint8_t>(kind);
  if (rc != 0) made.handle_.ready = readiness::none;  // connecting: writable once connected
  return made;
}

void ignore_sigpipe() noexcept {
  ::signal(SIGPIPE, SIG_IGN);
}

}  // namespace taut::transport
