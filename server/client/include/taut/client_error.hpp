// Errors of taut::client as values: what failed (client_errc), in which phase of the exchange
// (client_phase), the underlying cause (an errno value or a parse error), and where.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace taut {

/// Every way a client exchange can fail. The names are stable: taut-fetch prints them.
enum class client_errc : std::uint8_t {
  ok = 0,
  invalid_request,     // a method, target, field name or value that must not be sent (CR, LF,
                       // NUL, not a token), or a framing field the client owns: nothing was sent
  invalid_origin,      // an origin or URL that cannot be used ("ftp://x", a missing host)
  resolve_failed,      // the host name did not resolve
  connect_failed,      // the connection was refused or could not be opened
  connect_timeout,     // client_options::connect_timeout passed while connecting
  too_many_waiting,    // the origin's wait queue (client_options::max_waiting_per_origin) is full
  write_failed,        // the request could not be written (the peer closed or reset)
  connection_closed,   // the peer closed before the response ended
  connection_reset,    // the peer reset the connection
  bad_response,        // the response is not valid HTTP/1.1 (see client_error::cause, offset)
  ambiguous_framing,   // both Content-Length and Transfer-Encoding: never trusted, never reused
  response_too_large,  // the response head (or its 1xx heads together) does not fit buffer_size
  header_timeout,      // client_options::response_header_timeout passed before the head came
  deadline_exceeded,   // the exchange's client_request::timeout passed
  canceled,            // client_exchange::cancel(), or the client was destroyed
  body_timeout,        // client_options::body_idle_timeout passed with no body byte arriving
  // client_options::tls cannot be used (an unreadable CA file, a build without TLS; see cause):
  // nothing was sent.
  tls_setup_failed,
  // The TLS handshake failed; `cause` says why: a transport::errc (tls_unknown_ca,
  // tls_wrong_name, tls_expired, tls_protocol_too_old, tls_no_application_protocol,
  // tls_handshake_failed) or a system error.
  tls_handshake_failed,
  // The request head does not fit client_options::buffer_size (a proxy answers 431): nothing
  // was sent.
  request_too_large,
  // The response body passed blocking_client's body limit (blocking_limits::max_body).
  body_too_large,
  // finish_body() came before a streamed body had its client_request::stream_length bytes: the
  // request is cut short and its connection closed.
  body_incomplete,
  // The response body still carries a transfer coding other than chunked ("gzip", "identity",
  // "chunked, gzip": response::transfer_codings), which the client does not decode: blocking_client
  // and taut-fetch refuse it (as Go's Transport does) rather than pass coded bytes as the content.
  // taut::client itself hands such a body over still coded.
  unsupported_transfer_coding,
};

/// Where the exchange was when it failed.
enum class client_phase : std::uint8_t {
  validating,  // before anything happened
  resolving,
  waiting,  // queued for a connection of the origin's pool
  connecting,
  writing_request,
  reading_head,
  reading_body,
};

/// Why client::send refused a request as client_errc::invalid_request (its `cause`), when the
/// parser's codes (bad_method, bad_target, bad_header_name, bad_header_value) do not say it.
/// Nothing was sent. The names are stable and the values never renumbered.
enum class request_errc : std::uint8_t {
  // Content-Length, Transfer-Encoding, TE or Expect set by the caller: the client writes them
  // from client_request::body, stream_body and expect_continue.
  framing_field = 1,
  // A Connection field other than "close", "upgrade" or "keep-alive" (the default, accepted as
  // harmless; options the client does not implement cannot be promised).
  connection_option,
  duplicate_host,  // more than one Host field (RFC 9110 section 7.2)
  bad_host,        // a Host value that is not an authority ("a b", "a/b", empty)
  // A target that is none of origin-form ("/path"), absolute-form ("http://host/path"),
  // authority-form (CONNECT only) and "*" (OPTIONS only): RFC 9112 section 3.2.
  bad_target_form,
  host_mismatch,        // an absolute-form target whose authority is not the Host sent with it
  body_and_stream_body  // both client_request::body and stream_body
};

/// The stable name of a code ("connect_failed", ...).
[[nodiscard]] std::string_view to_string(client_errc code) noexcept;
/// The stable name of a phase ("reading_head", ...).
[[nodiscard]] std::string_view to_string(client_phase phase) noexcept;

/// The std::error_category of client_errc ("taut.client").
[[nodiscard]] const std::error_category& client_category() noexcept;
/// The std::error_category of request_errc ("taut.client.request"; messages say what to fix).
[[nodiscard]] const std::error_category& request_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(client_errc code) noexcept {
  return {static_cast<int>(code), client_category()};
}
[[nodiscard]] inline std::error_code make_error_code(request_errc code) noexcept {
  return {static_cast<int>(code), request_category()};
}

/// What failed and where. `cause` is the system error (ECONNREFUSED, ...), the parse error
/// (taut::errc), the TLS error (taut::transport::errc: tls_unknown_ca, ...; tls_truncated behind
/// a connection_closed) or getaddrinfo's (category "taut.resolver", worded by gai_strerror:
/// "Name or service not known") behind the code, when there is one; `offset` is the byte offset of
/// a parse error in the response (from the first byte of its head, or of its body in reading_body).
struct client_error {
  client_errc code = client_errc::ok;
  client_phase phase = client_phase::validating;
  std::error_code cause{};
  std::size_t offset = 0;

  [[nodiscard]] explicit operator bool() const noexcept { return code != client_errc::ok; }
  /// "connect_failed while connecting: Connection refused", for logs and taut-fetch; "ok" when
  /// nothing failed.
  [[nodiscard]] std::string message() const;
};

}  // namespace taut

template <>
struct std::is_error_code_enum<taut::client_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<taut::request_errc> : std::true_type {};
