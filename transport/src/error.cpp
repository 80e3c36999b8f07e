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
