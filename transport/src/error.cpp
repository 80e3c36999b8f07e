#include "taut/transport/error.hpp"

#include <string>

namespace taut::transport {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::ok:
      return "ok";
    case errc::empty_address:
      return "empty_address";
    case errc::missing_port:
      return "missing_port";
    case errc::bad_port:
      return "bad_port";
    case errc::port_out_of_range:
      return "port_out_of_range";
    case errc::missing_host:
      return "missing_host";
    case errc::unknown_host:
      return "unknown_host";
    case errc::bad_ipv4:
      return "bad_ipv4";
    case errc::bad_ipv6:
      return "bad_ipv6";
    case errc::bad_brackets:
      return "bad_brackets";
    case errc::ipv6_needs_brackets:
      return "ipv6_needs_brackets";
    case errc::unknown_interface:
      return "unknown_interface";
    case errc::empty_path:
      return "empty_path";
    case errc::path_too_long:
      return "path_too_long";
    case errc::bad_path:
      return "bad_path";
    case errc::not_a_socket_file:
      return "not_a_socket_file";
    case errc::not_supported:
      return "not_supported";
    case errc::not_connected:
      return "not_connected";
    case errc::tls_unavailable:
      return "tls_unavailable";
    case errc::tls_bad_certificate:
      return "tls_bad_certificate";
    case errc::tls_bad_key:
      return "tls_bad_key";
    case errc::tls_handshake_failed:
      return "tls_handshake_failed";
    case errc::tls_unknown_ca:
      return "tls_unknown_ca";
    case errc::tls_wrong_name:
      return "tls_wrong_name";
    case errc::tls_expired:
      return "tls_expired";
    case errc::tls_protocol_too_old:
      return "tls_protocol_too_old";
    case errc::tls_no_application_protocol:
      return "tls_no_application_protocol";
    case errc::tls_truncated:
      return "tls_truncated";
    case errc::tls_protocol_error:
      return "tls_protocol_error";
  }
  return "unknown";
}

namespace {

const char* describe(errc code) noexcept {
  switch (code) {
    case errc::ok:
      return "success";
    case errc::empty_address:
      return "empty address";
    case errc::missing_port:
      return "missing port (HOST:PORT)";
    case errc::bad_port:
      return "port is not a decimal number";
    case errc::port_out_of_range:
      return "port is above 65535";
    case errc::missing_host:
      return "missing host (use 0.0.0.0:PORT or [::]:PORT for every interface)";
    case errc::unknown_host:
      return "host is not an IP address or localhost (names are not resolved)";
    case errc::bad_ipv4:
      return "malformed IPv4 address";
    case errc::bad_ipv6:
      return "malformed IPv6 address";
    case errc::bad_brackets:
      return "IPv6 brackets do not match ([ADDRESS]:PORT)";
    case errc::ipv6_needs_brackets:
      return "an IPv6 address needs brackets: [ADDRESS]:PORT";
    case errc::unknown_interface:
      return "the IPv6 zone names no interface";
    case errc::empty_path:
      return "empty Unix socket path";
    case errc::path_too_long:
      return "Unix socket path or name longer than 107 bytes";
    case errc::bad_path:
      return "NUL byte in a Unix socket path";
    case errc::not_a_socket_file:
      return "the path exists and is not a socket (refusing to delete it)";
    case errc::not_supported:
      return "operation not supported by this transport";
    case errc::not_connected:
      return "stream or listener is not open";
    case errc::tls_unavailable:
      return "TLS is not available (built without OpenSSL)";
    case errc::tls_bad_certificate:
      return "cannot load the TLS certificate or CA file";
    case errc::tls_bad_key:
      return "cannot load the TLS private key, or it does not match the certificate";
    case errc::tls_handshake_failed:
      return "TLS handshake failed";
    case errc::tls_unknown_ca:
      return "TLS certificate signed by an unknown certificate authority";
    case errc::tls_wrong_name:
      return "TLS certificate does not match the host name";
    case errc::tls_expired:
      return "TLS certificate expired or not yet valid";
    case errc::tls_protocol_too_old:
      return "TLS peer offered only a protocol version older than TLS 1.2";
    case errc::tls_no_application_protocol:
      return "TLS: no application protocol (ALPN) in common";
    case errc::tls_truncated:
      return "TLS connection closed without close_notify (truncated)";
    case errc::tls_protocol_error:
      return "TLS protocol error (bad record or alert)";
  }
  return "unknown transport error";
}

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "taut.transport"; }
  std::string message(int value) const override { return describe(static_cast<errc>(value)); }
  // Lets callers test broad classes with the standard conditions:
  // ec == std::errc::invalid_argument for every bad address, and so on.
  std::error_condition default_error_condition(int value) const noexcept override {
    const auto code = static_cast<errc>(value);
    if (code >= errc::empty_address && code <= errc::bad_path) {
      if (code == errc::path_too_long) return std::errc::filename_too_long;
      return std::errc::invalid_argument;
    }
    switch (code) {
      case errc::not_a_socket_file:
        return std::errc::file_exists;
      case errc::not_supported:
        return std::errc::operation_not_supported;
      case errc::not_connected:
        return std::errc::not_connected;
      case errc::tls_unavailable:
        return std::errc::operation_not_supported;
      case errc::tls_truncated:
        return std::errc::connection_aborted;
      default:
        return {value, *this};
    }
  }
};

}  // namespace

const std::error_category& transport_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace taut::transport
