// listener: a bound, listening socket (TCP or Unix) or an in-process memory listener, accepting
// streams without blocking.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <system_error>

#include "taut/transport/address.hpp"
#include "taut/transport/error.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/stream.hpp"

namespace taut::transport {

namespace detail {
struct memory_listener_state;
struct ring_listener;
}  // namespace detail
struct memory_options;
class memory_dialer;

/// How to listen. The defaults suit a server on a trusted host.
struct listen_options {
  /// Pending connections the kernel queues (capped by net.core.somaxconn).
  int backlog = SOMAXCONN;
  /// SO_REUSEPORT: several listeners (one per loop thread) bind the same TCP address and the
  /// kernel spreads connections over them. Every one of them must set it.
  bool reuse_port = false;
  /// SO_REUSEADDR, so a restarted server binds while old connections sit in TIME_WAIT.
  bool reuse_address = true;
  /// IPV6_V6ONLY: "[::]:80" accepts IPv6 only; listen on 0.0.0.0 too for IPv4 (as nginx does).
  bool ipv6_only = true;
  /// TCP_NODELAY on accepted streams (set on the listener; Linux copies it to each accepted
  /// socket).
  bool no_delay = true;
  /// Unix paths: permission bits for the socket file (say 0660), applied after bind and before
  /// listen, so no client can connect under the umask's bits. -1 leaves the umask's.
  int unix_mode = -1;
  /// Unix paths: replace an existing socket file nobody listens on (checked by connecting to it).
  /// A file that is not a socket is never removed.
  bool replace_stale_socket = true;
  /// Unix paths: remove the socket file on close, if it is still the one this listener created.
  bool unlink_on_close = true;
};

/// A listening endpoint. Move-only; closing (or destroying) a Unix-path listener removes its socket
/// file (see listen_options::unlink_on_close).
class listener {
 public:
  /// Binds and listens on `at` (TCP or Unix).
  static result<listener> listen(const address& at, const listen_options& options = {}) noexcept;
  /// Parses `at` with address::parse, then listens.
  static result<listener> listen(std::string_view at, const listen_options& options = {}) noexcept;
  /// An in-process listener: dial it with dialer().dial(). Every pipe gets `options`' faults.
  static listener memory(const memory_options& options);

  listener() noexcept = default;
  listener(listener&& other) noexcept;
  listener& operator=(listener&& other) noexcept;
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  ~listener() { (void)close(); }

  /// The next pending connection, or an error: is_would_block(error) when none is pending;
  /// EMFILE/ENFILE when out of descriptors (the connection stays queued: see acceptor for the
  /// back-off that keeps a loop from spinning on it).
  result<stream> accept() noexcept;

  std::error_code watch(event_loop& loop, ready_callback on_ready) noexcept;
  void unwatch() noexcept;
  [[nodiscard]] bool watched() const noexcept { return handle_.loop != nullptr; }
  /// Whether accept() may find a connection: true until it returns would_block.
  [[nodiscard]] bool readable() const noexcept;

  [[nodiscard]] bool is_open() const noexcept { return handle_.fd >= 0 || memory_ != nullptr; }
  [[nodiscard]] transport_kind kind() const noexcept {
    return static_cast<transport_kind>(handle_.kind);
  }
  [[nodiscard]] int native_handle() const noexcept { return handle_.fd; }
  /// Where it listens, with the kernel's choices filled in (the port of "127.0.0.1:0").
  [[nodiscard]] const address& local_address() const noexcept { return local_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return local_.port(); }

  /// Another listener on the same socket (a dup'd descriptor), for loops on several threads
  /// sharing one Unix socket (SO_REUSEPORT does not apply to Unix sockets). The copy never
  /// removes the socket file. Not for memory listeners.
  [[nodiscard]] result<listener> duplicate() const noexcept;
  /// A handle that dials this memory listener, valid after the listener moved or closed (dialing a
  /// closed listener fails with ECONNREFUSED). Invalid for TCP and Unix listeners.
  [[nodiscard]] memory_dialer dialer() const noexcept;

  std::error_code close() noexcept;

 private:
  friend class acceptor;  // pauses an io_uring listener's multishot accept
  void take(listener& other) noexcept;

  detail::io_handle handle_;
  detail::memory_listener_state* memory_ = nullptr;
  detail::ring_listener* ring_ = nullptr;  // set by the first watch on an io_uring loop
  address local_;
  dev_t socket_file_device_ = 0;  // identity of the Unix socket file this listener created
  ino_t socket_file_inode_ = 0;
};

}  // namespace taut::transport
