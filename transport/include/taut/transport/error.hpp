// Errors as values for the transport layer: taut::transport::errc (bad addresses, refusing to
// replace a file), result<T> for set-up calls, and io_result for the non-blocking I/O hot path.
// System failures are std::error_codes of std::generic_category(), so `ec ==
// std::errc::address_in_use` works; no I/O error is ever thrown.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <system_error>
#include <type_traits>
#include <utility>

namespace taut::transport {

/// The transport's own failures; everything the kernel reports stays an errno value.
enum class errc : std::uint8_t {
  ok = 0,
  // Address text (every one of these is also std::errc::invalid_argument).
  empty_address,        // ""
  missing_port,         // "localhost", "127.0.0.1:", "[::1]"
  bad_port,             // a port that is not 1 to 5 decimal digits
  port_out_of_range,    // a port above 65535
  missing_host,         // ":8080" (say 0.0.0.0:8080 or [::]:8080 to listen everywhere)
  unknown_host,         // not an IP literal and not "localhost": names are never resolved
  bad_ipv4,             // dotted digits that are not an IPv4 address ("256.1.1.1")
  bad_ipv6,             // brackets around something that is not an IPv6 address
  bad_brackets,         // "[::1", "::1]:80", "[::1]x80"
  ipv6_needs_brackets,  // "::1:8080": an IPv6 address takes brackets before its port
  unknown_interface,    // "[fe80::1%nosuch]:80": the zone names no interface
  empty_path,           // "unix:" with nothing after it
  path_too_long,        // a Unix socket path or abstract name longer than sun_path allows
  bad_path,             // a NUL byte inside a path
  // Operations.
  not_a_socket_file,  // a listen path exists and is not a socket: taut never deletes it
  not_supported,      // the operation does not apply to this transport (dial() on TCP, ...)
  not_connected,      // the stream or listener is closed or was never opened
  // TLS (tls.hpp).
  tls_unavailable,              // taut was built without OpenSSL
  tls_bad_certificate,          // a certificate or CA file cannot be loaded
  tls_bad_key,                  // the key cannot be loaded or does not match the certificate
  tls_handshake_failed,         // any other handshake failure (garbage from the peer included)
  tls_unknown_ca,               // the peer's certificate chains to no trusted CA
  tls_wrong_name,               // the certificate is not for the name (or IP) asked for
  tls_expired,                  // the certificate has expired or is not valid yet
  tls_protocol_too_old,         // the peer offered only SSLv3 / TLS 1.0 / TLS 1.1
  tls_no_application_protocol,  // ALPN: no protocol both sides accept
  tls_truncated,                // the peer closed without close_notify (instead of EOF)
  tls_protocol_error,           // a bad record or alert after the handshake
};

/// The stable, printable name of a code ("missing_port", ...).
[[nodiscard]] const char* to_string(errc code) noexcept;

/// The std::error_category of taut::transport::errc ("taut.transport").
[[nodiscard]] const std::error_category& transport_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc code) noexcept {
  return {static_cast<int>(code), transport_category()};
}

/// An errno value as a std::error_code of the generic category.
[[nodiscard]] inline std::error_code errno_code(int value) noexcept {
  return {value, std::generic_category()};
}

/// True when `ec` means "try again later" (EAGAIN/EWOULDBLOCK), without a virtual call.
[[nodiscard]] inline bool is_would_block(const std::error_code& ec) noexcept {
  return ec.value() == EAGAIN && ec.category() == std::generic_category();
}

/// A value or the std::error_code that prevented it: what set-up calls (listen, connect, accept,
/// address parsing) return. Minimal on purpose: has_value(), value(), error(), operator*, ->.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT: implicit on purpose
      : has_value_(true) {
    new (&value_) T(std::move(value));
  }
  result(std::error_code error) noexcept : error_(error) {}      // NOLINT: implicit on purpose
  result(errc code) noexcept : error_(make_error_code(code)) {}  // NOLINT

  result(result&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : has_value_(other.has_value_) {
    if (has_value_) {
      new (&value_) T(std::move(other.value_));
    } else {
      error_ = other.error_;
    }
  }
  result& operator=(result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &other) {
      destroy();
      has_value_ = other.has_value_;
      if (has_value_) {
        new (&value_) T(std::move(other.value_));
      } else {
        error_ = other.error_;
      }
    }
    return *this;
  }
  result(const result&) = delete;
  result& operator=(const result&) = delete;
  ~result() { destroy(); }

  [[nodiscard]] bool has_value() const noexcept { return has_value_; }
  [[nodiscard]] explicit operator bool() const noexcept { return has_value_; }
  /// The error; a default (success) error_code when there is a value.
  [[nodiscard]] std::error_code error() const noexcept {
    return has_value_ ? std::error_code{} : error_;
  }

  /// Precondition: has_value(). Calling it on an error aborts (no exceptions in this library).
  [[nodiscard]] T& value() & noexcept { return check(), value_; }
  [[nodiscard]] const T& value() const& noexcept { return check(), value_; }
  [[nodiscard]] T&& value() && noexcept { return check(), std::move(value_); }
  [[nodiscard]] T& operator*() & noexcept { return value(); }
  [[nodiscard]] const T& operator*() const& noexcept { return value(); }
  [[nodiscard]] T&& operator*() && noexcept { return std::move(*this).value(); }
  [[nodiscard]] T* operator->() noexcept { return &value(); }
  [[nodiscard]] const T* operator->() const noexcept { return &value(); }

 private:
  void check() const noexcept {
    if (!has_value_) std::abort();
  }
  void destroy() noexcept {
    if (has_value_) value_.~T();
  }

  union {
    T value_;
    std::error_code error_;
  };
  bool has_value_ = false;
};

/// How a non-blocking read or write ended.
enum class io_status : std::uint8_t {
  done,         // `bytes` were transferred (0 only when asked for 0)
  would_block,  // nothing to do now: wait for the stream's next readiness notification
  eof,          // reads only: the peer shut down its writing side and every byte was read
  error,        // the stream failed: see error(); the connection should be closed
};

/// The result of stream::read, write, writev and sendfile: 16 bytes, returned in registers.
struct io_result {
  std::size_t bytes = 0;
  /// When status == error: an errno value (> 0), or a transport errc negated (< 0; TLS streams
  /// report their failures so). error() gives the std::error_code either way.
  int error_value = 0;
  io_status status = io_status::done;

  [[nodiscard]] bool done() const noexcept { return status == io_status::done; }
  [[nodiscard]] bool would_block() const noexcept { return status == io_status::would_block; }
  [[nodiscard]] bool eof() const noexcept { return status == io_status::eof; }
  [[nodiscard]] bool failed() const noexcept { return status == io_status::error; }
  [[nodiscard]] std::error_code error() const noexcept {
    if (status != io_status::error) return {};
    return error_value < 0 ? make_error_code(static_cast<errc>(-error_value))
                           : errno_code(error_value);
  }

  [[nodiscard]] static constexpr io_result transferred(std::size_t n) noexcept {
    return {n, 0, io_status::done};
  }
  [[nodiscard]] static constexpr io_result blocked() noexcept {
    return {0, 0, io_status::would_block};
  }
  [[nodiscard]] static constexpr io_result end_of_stream() noexcept {
    return {0, 0, io_status::eof};
  }
  [[nodiscard]] static constexpr io_result failure(int errno_value) noexcept {
    return {0, errno_value, io_status::error};
  }
  [[nodiscard]] static constexpr io_result failure(errc code) noexcept {
    return {0, -static_cast<int>(code), io_status::error};
  }
};

}  // namespace taut::transport

template <>
struct std::is_error_code_enum<taut::transport::errc> : std::true_type {};
