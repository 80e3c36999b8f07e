// Internal: the hooks between stream (stream.cpp) and the TLS session of a TLS stream (tls.cpp),
// so that stream.cpp needs no OpenSSL header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "taut/transport/error.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/stream.hpp"

namespace taut::transport::detail {

/// The stream's own (unencrypted) operations, for the TLS session's BIO.
struct stream_access {
  static bool readable(const stream& s) noexcept { return s.raw_readable(); }
  static bool writable(const stream& s) noexcept { return s.raw_writable(); }
  static io_result read(stream& s, std::span<char> into) noexcept { return s.raw_read(into); }
  static io_result writev(stream& s, std::span<const const_buffer> parts) noexcept {
    return s.raw_writev(parts);
  }
  static std::error_code shutdown_write(stream& s) noexcept { return s.raw_shutdown_write(); }
  static bool on_ring(const stream& s) noexcept { return s.ring() != nullptr; }
  /// Forgets readiness the kernel was found not to have (the socket BIO reads behind the
  /// stream's back).
  static void clear_ready(stream& s, readiness bits) noexcept { s.handle_.ready &= ~bits; }
  static io_handle& handle(stream& s) noexcept { return s.handle_; }
  static tls_session*& session(stream& s) noexcept { return s.tls_; }
  static const tls_session* session(const stream& s) noexcept { return s.tls_; }
};

/// Tests only: TCP streams on epoll get OpenSSL's socket BIO even without kTLS, so that the path
/// kTLS takes is tested on machines whose kernel has no tls module.
void tls_force_socket_bio(bool on) noexcept;

bool tls_readable(const tls_session& session) noexcept;
bool tls_writable(const tls_session& session) noexcept;
io_result tls_read(tls_session& session, std::span<char> into) noexcept;
io_result tls_writev(tls_session& session, std::span<const const_buffer> parts) noexcept;
io_result tls_sendfile(tls_session& session, int file_fd, std::uint64_t& offset,
                       std::size_t count) noexcept;
/// Sends close_notify (now, or as soon as the stream takes it), then half-closes.
std::error_code tls_shutdown_write(tls_session& session) noexcept;
/// Keeps `on_ready` and returns the callback to register instead, which translates readiness.
ready_callback tls_watch(tls_session& session, ready_callback on_ready) noexcept;
/// The stream moved: the session's BIO follows it.
void tls_move(tls_session& session, stream& now_at) noexcept;
/// Frees the session (after a best-effort close_notify when `notify`); sets it to null.
void tls_end(tls_session*& session, bool notify) noexcept;

}  // namespace taut::transport::detail
