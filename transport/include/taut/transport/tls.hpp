// TLS over any stream (TCP, Unix, memory pipe; epoll or io_uring loop), on OpenSSL 3. A TLS stream
// is an ordinary taut::transport::stream: the layers above use the same calls and the same
// readiness rules, and need no TLS-specific I/O code. No OpenSSL header is included here.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "taut/transport/clock.hpp"
#include "taut/transport/error.hpp"
#include "taut/transport/stream.hpp"

namespace taut::transport {

namespace detail {
struct tls_context_state;
struct tls_access;
}  // namespace detail

/// A certificate chain (leaf first) and its private key, both PEM files.
struct tls_certificate {
  std::string cert_file;
  std::string key_file;
};

/// Server-side TLS settings. TLS 1.2 and 1.3 only; renegotiation off; compression off.
struct tls_server_options {
  /// The first is the default; SNI picks among them by the DNS names of each certificate
  /// (subjectAltName dNSName entries, "*.example.com" wildcards matching one label; CN only when
  /// there is no SAN). An unknown or absent SNI name gets the first.
  std::vector<tls_certificate> certificates;
  /// ALPN protocols accepted, in preference order; a client that offers ALPN but none of these is
  /// refused (no_application_protocol alert). A client offering no ALPN is served. HTTP/1.0
  /// clients that say so ("http/1.0") are served like those that say nothing.
  std::vector<std::string> alpn{"http/1.1", "http/1.0"};
  /// Stateless resumption (TLS 1.3 tickets, TLS 1.2 tickets); the server keeps no session cache.
  bool session_tickets = true;
  /// TLS 1.3 tickets sent after a full handshake (with session_tickets): one resumes the client's
  /// next connection, and every resumption brings a fresh one. OpenSSL's default (and nginx's) is
  /// two, the second for a client opening two connections at once, at about 6% of a full
  /// handshake's server CPU. 0 sends none (no TLS 1.3 resumption). After a resumption one is sent
  /// whatever this says (but 0).
  std::size_t tickets_per_handshake = 1;
  /// How long one ticket key encrypts new tickets before a fresh random key takes over; the
  /// retired key still decrypts for one more interval, then is forgotten. A ticket is thus
  /// accepted for one to two intervals (and no longer than OpenSSL's session lifetime, 2 h), and
  /// a stolen key opens no ticket issued more than two intervals before. Clamped to between a
  /// second and a year.
  std::chrono::seconds ticket_key_interval{std::chrono::hours{12}};
  /// The time source of ticket key rotation; null = steady_clock(). Tests pass a manual_clock to
  /// age keys without waiting. It must outlive the context.
  const clock* ticket_clock = nullptr;
  /// Asks for kernel TLS when the kernel and OpenSSL offer it (see tls_context::offload_status).
  bool ktls = true;
  /// TLS 1.2 ciphers (OpenSSL syntax); empty = OpenSSL's default.
  std::string cipher_list{};
  /// TLS 1.3 suites (OpenSSL syntax); empty = OpenSSL's default.
  std::string ciphersuites{};
};

/// Client-side TLS settings.
struct tls_client_options {
  /// PEM bundle to trust; empty = the system store.
  std::string ca_file{};
  /// false: no certificate check at all (tests; never the default).
  bool verify = true;
  /// ALPN protocols offered, in preference order; empty offers none.
  std::vector<std::string> alpn{"http/1.1"};
  /// Keeps the last session per server name, for the context's 32 most recently used names, and
  /// offers it on the next connection to that name.
  bool session_resumption = true;
};

/// A configured OpenSSL context, shared (reference counted, thread-safe) by every stream made
/// from it. Cheap to copy; a default-constructed one is empty (tls_accept/tls_connect refuse it).
class tls_context {
 public:
  tls_context() noexcept = default;

  /// Loads the certificates and keys. Errors: tls_unavailable, tls_bad_certificate (a missing or
  /// unreadable certificate file, or none given), tls_bad_key (unreadable, or not the
  /// certificate's key).
  static result<tls_context> server(const tls_server_options& options) noexcept;
  /// Loads the CA bundle (tls_bad_certificate when it cannot be read) or the system store.
  static result<tls_context> client(const tls_client_options& options) noexcept;

  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }
  [[nodiscard]] bool is_server() const noexcept;
  /// Whether streams of this (server) context will try kTLS, and why not when not: "ktls" (the
  /// kernel's tls module is loaded), "ktls if the kernel loads its tls module" (only its file
  /// was found), "no kTLS: the kernel has no tls module", "no kTLS: disabled", "no kTLS: OpenSSL
  /// built without it" (for the log). Whether a connection got it: tls_info().ktls_send (OpenSSL
  /// falls back silently, e.g. for a cipher the kernel lacks). Client streams never use kTLS.
  [[nodiscard]] std::string_view offload_status() const noexcept;

 private:
  friend struct detail::tls_access;
  std::shared_ptr<detail::tls_context_state> state_;
};

/// Wraps a connected stream (TCP, Unix or memory; watched or not) as the server side of a TLS
/// connection. The handshake runs inside the stream's first reads and writes; nothing blocks.
/// taut allocates the per-connection session once here and nothing per read or write; OpenSSL
/// itself mallocs its ~17 KiB record buffers again at the start of each request cycle after the
/// connection was idle, and frees them when it is idle again (SSL_MODE_RELEASE_BUFFERS, which
/// keeps idle connections small).
/// On failure `raw` is closed.
[[nodiscard]] result<stream> tls_accept(stream&& raw, const tls_context& server) noexcept;
/// The client side; `server_name` goes in SNI and is what the certificate is checked against (an
/// IP literal is checked as an IP address and not sent as SNI). An empty name is refused (EINVAL)
/// unless the context does not verify. On failure `raw` is closed.
[[nodiscard]] result<stream> tls_connect(stream&& raw, const tls_context& client,
                                         std::string_view server_name) noexcept;

/// What a TLS stream negotiated (all false/empty for a plain stream or before the handshake).
/// The views stay valid while the stream is open.
struct tls_state {
  bool is_tls = false;
  /// The handshake completed (still true when the connection failed right after it).
  bool handshake_done = false;
  bool resumed = false;
  bool ktls_send = false;
  /// Always false: kTLS is used for sending only. Receiving stays on taut's own BIO, which sees
  /// the peer's bytes before OpenSSL does (the handshake guard bounds a half-done handshake's
  /// memory, EOF and readiness stay exact); receive offload would only move the decryption of small
  /// requests into the kernel, while sendfile, the reason for kTLS, is a sending path.
  bool ktls_receive = false;
  std::string_view version{};      // "TLSv1.3"
  std::string_view alpn{};         // "http/1.1" or empty
  std::string_view server_name{};  // the SNI name the client sent (server side)
  std::string_view cipher{};       // "TLS_AES_128_GCM_SHA256"
};
[[nodiscard]] tls_state tls_info(const stream& s) noexcept;

/// false when taut was built without OpenSSL (TAUT_TLS=OFF, or AUTO without OpenSSL 3).
[[nodiscard]] bool tls_available() noexcept;

// How a TLS stream behaves (the rest is stream.hpp):
// - read() returns decrypted bytes; the peer's close_notify is EOF, and an EOF without it is the
//   error tls_truncated (on a server's stream, for reads only: the stream can still write, so a
//   client that half-closes after its request gets its answer). A failed handshake is reported by
//   the first read or write that hits it (tls_handshake_failed, tls_unknown_ca, ...), a bad record
//   later as tls_protocol_error.
// - write()/writev() encrypt a prefix of the bytes and report how many were taken. After
//   would_block the next write or writev must present output that starts with the same bytes (the
//   unsent part of a record is already encrypted inside OpenSSL): the layers above commit only
//   what a write reported, which is exactly that. writev gathers its parts into one record of up
//   to 16 KiB, so a response head and a small body leave together. On a socket with kTLS send
//   the plaintext goes straight to the kernel (sendmsg), which frames the records: a short write
//   is a plain byte count and nothing stays behind.
// - sendfile() uses the kernel (kTLS) when the socket has kTLS send; otherwise, or when
//   sendfile(2) refuses the file, it reads at most 16 KiB of the file and encrypts it, with the
//   same retry rule as write().
// - kTLS runs over OpenSSL's own socket BIO, which sends its own records (handshake, alerts,
//   close_notify) and sendfile() without MSG_NOSIGNAL: on a server context with kTLS on, these may
//   raise SIGPIPE against a peer that is gone, as sendfile() does on plain streams. A server
//   ignores SIGPIPE (ignore_sigpipe(); taut::server does).
// - readable() is true while decrypted bytes wait inside OpenSSL, and when a read blocked because
//   OpenSSL had to write and the socket is writable again (writable() likewise for a write that
//   needs to read); the watch callback reports these too, so edge-triggered callers never stall.
// - shutdown_write() sends close_notify, then half-closes; close() sends close_notify (best
//   effort) and closes; abort() sends nothing. Both first send the rest of a record whose write
//   said would_block and was not retried (its bytes were encrypted already: the peer gets them).

}  // namespace taut::transport
