#include "taut/transport/listener.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "loop_access.hpp"
#include "memory_state.hpp"
#include "ring.hpp"
#include "taut/transport/memory.hpp"

namespace taut::transport {

namespace {

// Closes a half-built socket on every early return.
class socket_guard {
 public:
  explicit socket_guard(int fd) noexcept : fd_(fd) {}
  ~socket_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  socket_guard(const socket_guard&) = delete;
  socket_guard& operator=(const socket_guard&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::error_code set_flag(int fd, int level, int name, bool on) noexcept {
  const int value = on ? 1 : 0;
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) return errno_code(errno);
  return {};
}

// A Unix path, NUL-terminated for the system calls (address keeps it at most 107 bytes).
class path_text {
 public:
  explicit path_text(const address& at) noexcept {
    const std::string_view path = at.path();
    const std::size_t length = std::min(path.size(), sizeof text_ - 1);
    std::memcpy(text_, path.data(), length);
    text_[length] = '\0';
  }
  [[nodiscard]] const char* c_str() const noexcept { return text_; }

 private:
  char text_[sizeof(sockaddr_un{}.sun_path) + 1];
};

// An existing file where a Unix socket should go. A socket nobody accepts on (connect() is
// refused) is left over from a crashed server and is removed; a live socket means "address in
// use"; anything that is not a socket is never touched.
std::error_code clear_stale_socket(const address& at, bool replace) noexcept {
  const path_text path(at);
  struct stat before {};
  if (::lstat(path.c_str(), &before) != 0) {
    return errno == ENOENT ? std::error_code{} : errno_code(errno);
  }
  if (!S_ISSOCK(before.st_mode)) return errc::not_a_socket_file;
  if (!replace) return errno_code(EADDRINUSE);

  const socket_guard probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (probe.get() < 0) return errno_code(errno);
  if (::connect(probe.get(), at.sockaddr_data(), at.sockaddr_size()) == 0) {
    return errno_code(EADDRINUSE);
  }
  // EAGAIN: a live listener with a full backlog.
  if (errno != ECONNREFUSED) return errno_code(errno == EAGAIN ? EADDRINUSE : errno);

  // Narrow the window in which another process could swap the file: unlink only if the path
  // still names the same socket we probed. (A socket directory should not be writable by
  // untrusted users in the first place.)
  struct stat again {};
  if (::lstat(path.c_str(), &again) != 0)
    return errno == ENOENT ? std::error_code{} : errno_code(errno);
  if (!S_ISSOCK(again.st_mode) || again.st_ino != before.st_ino || again.st_dev != before.st_dev) {
    return errno_code(EADDRINUSE);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_code(errno);
  return {};
}

}  // namespace

// ---- creation -------------------------------------------------------------------------------

result<listener> listener::listen(std::string_view at, const listen_options& options) noexcept {
  result<address> parsed = address::parse(at);
  if (!parsed) return parsed.error();
  return listen(*parsed, options);
}

result<listener> listener::listen(const address& at, const listen_options& options) noexcept {
  const transport_kind kind = at.transport();
  if (kind == transport_kind::memory) return errc::not_supported;  // listener::memory()
  if (kind == transport_kind::none) return errc::empty_address;
  const bool unix_path = kind == transport_kind::unix_socket && !at.is_abstract();
  if (kind == transport_kind::unix_socket && at.is_abstract() && options.unix_mode >= 0) {
    return errc::not_supported;  // abstract names have no file, hence no permission bits
  }
  if (unix_path) {
    if (auto ec = clear_stale_socket(at, options.replace_stale_socket)) return ec;
  }

  socket_guard fd(::socket(at.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return errno_code(errno);
  if (kind == transport_kind::tcp) {
    if (options.reuse_address) {
      if (auto ec = set_flag(fd.get(), SOL_SOCKET, SO_REUSEADDR, true)) return ec;
    }
    if (options.reuse_port) {
      if (auto ec = set_flag(fd.get(), SOL_SOCKET, SO_REUSEPORT, true)) return ec;
    }
    if (at.family() == AF_INET6) {
      if (auto ec = set_flag(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, options.ipv6_only)) return ec;
    }
    // Linux copies TCP_NODELAY from the listener to every accepted socket (a test checks it),
    // which saves a system call per connection.
    if (options.no_delay) {
      if (auto ec = set_flag(fd.get(), IPPROTO_TCP, TCP_NODELAY, true)) return ec;
    }
  }
  if (::bind(fd.get(), at.sockaddr_data(), at.sockaddr_size()) != 0) return errno_code(errno);

  listener made;
  if (unix_path) {
    const path_text path(at);
    // Permissions go on between bind and listen: until listen() every connect is refused, so no
    // client ever reaches the socket under the umask's looser bits.
    struct stat created {};
    const bool ok = (options.unix_mode < 0 ||
                     ::chmod(path.c_str(), static_cast<mode_t>(options.unix_mode)) == 0) &&
                    ::stat(path.c_str(), &created) == 0;
    if (!ok || ::listen(fd.get(), options.backlog) != 0) {
      const int error = errno;
      ::unlink(path.c_str());
      return errno_code(error);
    }
    made.socket_file_device_ = created.st_dev;
    made.socket_file_inode_ = created.st_ino;
    if (options.unlink_on_close) made.handle_.flags |= detail::handle_unlink;
    made.local_ = at;
  } else {
    if (::listen(fd.get(), options.backlog) != 0) return errno_code(errno);
    sockaddr_storage bound{};
    socklen_t size = sizeof bound;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &size) != 0) {
      return errno_code(errno);
    }
    result<address> local = address::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), size);
    if (!local) return local.error();
    made.local_ = *local;
  }
  made.handle_.fd = fd.release();
  made.handle_.kind = static_cast<std::uint8_t>(kind);
  made.handle_.flags |= detail::handle_listener;
  return made;
}

listener listener::memory(const memory_options& options) {
  listener made;
  made.memory_ = new detail::memory_listener_state;
  made.memory_->options = options;
  made.handle_.kind = static_cast<std::uint8_t>(transport_kind::memory);
  made.handle_.flags = detail::handle_listener;
  made.local_ = address::memory(0);
  return made;
}

listener::listener(listener&& other) noexcept {
  take(other);
}

listener& listener::operator=(listener&& other) noexcept {
  if (this != &other) {
    (void)close();
    take(other);
  }
  return *this;
}

void listener::take(listener& other) noexcept {
  handle_ = other.handle_;
  memory_ = other.memory_;
  ring_ = other.ring_;
  local_ = other.local_;
  socket_file_device_ = other.socket_file_device_;
  socket_file_inode_ = other.socket_file_inode_;
  if (ring_ != nullptr) {
    detail::ring_move_listener(*ring_, handle_);
  } else if (handle_.loop != nullptr) {
    if (memory_ != nullptr) {
      memory_->event.target = &handle_;
    } else {
      detail::loop_access::move_fd(*handle_.loop, other.handle_, handle_);
    }
  }
  other.handle_ = detail::io_handle{};
  other.memory_ = nullptr;
  other.ring_ = nullptr;
}

// ---- accepting ------------------------------------------------------------------------------

result<stream> listener::accept() noexcept {
  if (memory_ != nullptr) {
    if (memory_->pending.empty()) return errno_code(EAGAIN);
    detail::memory_pipe* pipe = memory_->pending.front();
    memory_->pending.pop_front();
    return detail::memory_access::make(pipe, 1);
  }
  if (handle_.fd < 0) return errc::not_connected;
  if (ring_ != nullptr) {
    const int fd = detail::ring_accept(*ring_);
    if (fd < 0) return errno_code(-fd);
    stream made;
    made.handle_.fd = fd;
    made.handle_.kind = handle_.kind;
    return made;
  }
  for (;;) {
    const int fd = ::accept4(handle_.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      stream made;
      made.handle_.fd = fd;
      made.handle_.kind = handle_.kind;
      return made;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) handle_.ready &= ~readiness::readable;
    return errno_code(errno);
  }
}

std::error_code listener::watch(event_loop& loop, ready_callback on_ready) noexcept {
  if (!is_open()) return errc::not_connected;
  unwatch();
  handle_.on_ready = on_ready;
  handle_.loop = &loop;
  if (memory_ != nullptr) {
    memory_->event.target = &handle_;
    if (!memory_->pending.empty()) {
      detail::loop_access::raise(loop, memory_->event, readiness::readable);
    }
    return {};
  }
  if (detail::ring_of(loop) != nullptr || ring_ != nullptr) {
    std::error_code ec = detail::ring_of(loop) != nullptr
                             ? detail::ring_watch_listener(loop, ring_, handle_)
                             : std::error_code(errno_code(EBUSY));
    if (ec) {
      handle_.loop = nullptr;
      handle_.on_ready = {};
    }
    return ec;
  }
  // EPOLLEXCLUSIVE: when duplicates of one socket are watched by several loops, a connection
  // wakes one of them, not all.
  handle_.flags |= detail::handle_exclusive;
  std::error_code ec = detail::loop_access::add_fd(
      loop, handle_, detail::listener_events | static_cast<std::uint32_t>(EPOLLEXCLUSIVE));
  if (ec == std::errc::invalid_argument) {
    handle_.flags &= static_cast<std::uint8_t>(~detail::handle_exclusive);
    ec = detail::loop_access::add_fd(loop, handle_, detail::listener_events);
  }
  if (ec) {
    handle_.loop = nullptr;
    handle_.on_ready = {};
  }
  return ec;
}

void listener::unwatch() noexcept {
  if (handle_.loop == nullptr) return;
  if (memory_ != nullptr) {
    detail::loop_access::withdraw(*handle_.loop, memory_->event);
    memory_->event.target = nullptr;
  } else if (ring_ != nullptr) {
    detail::ring_unwatch_listener(*ring_);
  } else {
    detail::loop_access::remove_fd(*handle_.loop, handle_);
  }
  handle_.loop = nullptr;
  handle_.on_ready = {};
}

bool listener::readable() const noexcept {
  if (memory_ != nullptr) return !memory_->pending.empty();
  if (ring_ != nullptr) return detail::ring_listener_readable(*ring_);
  return has(handle_.ready, readiness::readable);
}

// ---- the rest -------------------------------------------------------------------------------

result<listener> listener::duplicate() const noexcept {
  if (memory_ != nullptr) return errc::not_supported;
  if (handle_.fd < 0) return errc::not_connected;
  const int fd = ::fcntl(handle_.fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return errno_code(errno);
  listener copy;
  copy.handle_.fd = fd;
  copy.handle_.kind = handle_.kind;
  copy.handle_.flags = detail::handle_listener;  // never the socket file's owner
  copy.local_ = local_;
  return copy;
}

memory_dialer listener::dialer() const noexcept {
  return memory_dialer(memory_);
}

std::error_code listener::close() noexcept {
  unwatch();
  std::error_code ec;
  if (memory_ != nullptr) {
    memory_->open = false;
    // Like a TCP listener closed with connections in its queue: their clients see a reset.
    for (detail::memory_pipe* pipe : memory_->pending) pipe->close(1, true);
    memory_->pending.clear();
    memory_->release();
    memory_ = nullptr;
  } else if (handle_.fd >= 0) {
    const bool ring_closes = ring_ != nullptr && detail::ring_close_listener(ring_);
    if ((handle_.flags & detail::handle_unlink) != 0) {
      // Only if the path still names the socket this listener created: a newer server may have
      // replaced it already.
      const path_text path(local_);
      struct stat now {};
      if (::lstat(path.c_str(), &now) == 0 && S_ISSOCK(now.st_mode) &&
          now.st_dev == socket_file_device_ && now.st_ino == socket_file_inode_) {
        ::unlink(path.c_str());
      }
    }
    if (!ring_closes && ::close(handle_.fd) != 0 && errno != EINTR) ec = errno_code(errno);
  }
  handle_ = detail::io_handle{};
  return ec;
}

}  // namespace taut::transport
