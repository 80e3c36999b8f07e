#include "taut/transport/address.hpp"

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace taut::transport {

namespace {

constexpr std::size_t max_unix_path = sizeof(sockaddr_un{}.sun_path) - 1;  // 107: room for NUL
constexpr socklen_t unix_header = offsetof(sockaddr_un, sun_path);

bool starts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.substr(0, prefix.size()) == prefix;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

// A port is 1 to 5 decimal digits; more digits are still "a number", just too large.
errc parse_port(std::string_view text, std::uint16_t& port) noexcept {
  if (text.empty()) return errc::missing_port;
  std::uint32_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return errc::bad_port;
    value = std::min<std::uint32_t>(value * 10 + static_cast<std::uint32_t>(c - '0'), 1000000);
  }
  if (value > 65535) return errc::port_out_of_range;
  port = static_cast<std::uint16_t>(value);
  return errc::ok;
}

// inet_pton wants a NUL-terminated string; hosts are short, so copy onto the stack.
bool copy_terminated(std::string_view text, char (&out)[64]) noexcept {
  if (text.size() >= sizeof out) return false;
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return true;
}

std::size_t put(std::span<char> out, std::size_t at, std::string_view text) noexcept {
  if (at < out.size()) {
    std::memcpy(out.data() + at, text.data(), std::min(text.size(), out.size() - at));
  }
  return at + text.size();
}

}  // namespace

address::address() noexcept {
  std::memset(&storage_, 0, sizeof storage_);
}

result<address> address::parse(std::string_view text) noexcept {
  if (text.empty()) return errc::empty_address;
  if (starts_with(text, "unix:")) {
    const std::string_view rest = text.substr(5);
    if (starts_with(rest, "@")) return unix_abstract(rest.substr(1));
    return unix_path(rest);
  }
  if (text.front() == '/') return unix_path(text);
  if (text.front() == '@') return unix_abstract(text.substr(1));
  if (starts_with(text, "tcp:")) return parse_tcp(text.substr(4));
  return parse_tcp(text);
}

result<address> address::parse_tcp(std::string_view text) noexcept {
  if (text.empty()) return errc::empty_address;
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return errc::bad_brackets;
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return errc::missing_port;
    if (rest.front() != ':') return errc::bad_brackets;
    port_text = rest.substr(1);
    bracketed = true;
  } else {
    if (text.find_first_of("[]") != std::string_view::npos) return errc::bad_brackets;
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return errc::missing_port;
    if (text.find(':') != colon) return errc::ipv6_needs_brackets;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }

  std::uint16_t port = 0;
  if (const errc error = parse_port(port_text, port); error != errc::ok) return error;
  if (host.empty()) return errc::missing_host;

  address made;
  made.kind_ = transport_kind::tcp;
  char buffer[64];
  if (bracketed) {
    std::string_view zone;
    if (const std::size_t percent = host.find('%'); percent != std::string_view::npos) {
      zone = host.substr(percent + 1);
      host = host.substr(0, percent);
      if (zone.empty()) return errc::bad_ipv6;
    }
    sockaddr_in6& v6 = made.storage_.v6;
    if (!copy_terminated(host, buffer) || ::inet_pton(AF_INET6, buffer, &v6.sin6_addr) != 1) {
      return errc::bad_ipv6;
    }
    if (!zone.empty()) {
      if (!copy_terminated(zone, buffer)) return errc::unknown_interface;
      std::uint16_t numeric = 0;
      if (parse_port(zone, numeric) == errc::ok) {
        v6.sin6_scope_id = numeric;
      } else {
        v6.sin6_scope_id = ::if_nametoindex(buffer);
        if (v6.sin6_scope_id == 0) return errc::unknown_interface;
      }
    }
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    made.size_ = sizeof(sockaddr_in6);
    return made;
  }

  sockaddr_in& v4 = made.storage_.v4;
  v4.sin_family = AF_INET;
  v4.sin_port = htons(port);
  made.size_ = sizeof(sockaddr_in);
  if (equals_ignoring_case(host, "localhost")) {
    // Only the IPv4 loopback, as Go does: one address, predictable. Say [::1] for IPv6.
    v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return made;
  }
  if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
    if (!copy_terminated(host, buffer) || ::inet_pton(AF_INET, buffer, &v4.sin_addr) != 1) {
      return errc::bad_ipv4;
    }
    return made;
  }
  return errc::unknown_host;
}

result<address> address::unix_path(std::string_view path) noexcept {
  if (path.empty()) return errc::empty_path;
  if (path.find('\0') != std::string_view::npos) return errc::bad_path;
  if (path.size() > max_unix_path) return errc::path_too_long;
  address made;
  made.kind_ = transport_kind::unix_socket;
  made.storage_.un.sun_family = AF_UNIX;
  std::memcpy(made.storage_.un.sun_path, path.data(), path.size());
  made.size_ = static_cast<socklen_t>(unix_header + path.size() + 1);
  return made;
}

result<address> address::unix_abstract(std::string_view name) noexcept {
  if (name.empty()) return errc::empty_path;
  if (name.size() > max_unix_path) return errc::path_too_long;
  address made;
  made.kind_ = transport_kind::unix_socket;
  made.storage_.un.sun_family = AF_UNIX;
  // An abstract name starts with a NUL and its length is the address length: no terminator.
  std::memcpy(made.storage_.un.sun_path + 1, name.data(), name.size());
  made.size_ = static_cast<socklen_t>(unix_header + 1 + name.size());
  return made;
}

address address::memory(std::uint64_t id) noexcept {
  address made;
  made.kind_ = transport_kind::memory;
  made.memory_id_ = id;
  return made;
}

result<address> address::from_sockaddr(const sockaddr* data, socklen_t size) noexcept {
  if (data == nullptr || size < static_cast<socklen_t>(sizeof(sa_family_t)) ||
      size > static_cast<socklen_t>(sizeof(storage))) {
    return errno_code(EINVAL);
  }
  address made;
  switch (data->sa_family) {
    case AF_INET:
      if (size < static_cast<socklen_t>(sizeof(sockaddr_in))) return errno_code(EINVAL);
      made.kind_ = transport_kind::tcp;
      break;
    case AF_INET6:
      if (size < static_cast<socklen_t>(sizeof(sockaddr_in6))) return errno_code(EINVAL);
      made.kind_ = transport_kind::tcp;
      break;
    case AF_UNIX:
      made.kind_ = transport_kind::unix_socket;
      break;
    default:
      return errc::not_supported;
  }
  std::memcpy(&made.storage_, data, size);
  made.size_ = size;
  return made;
}

int address::family() const noexcept {
  if (kind_ == transport_kind::none || kind_ == transport_kind::memory) return AF_UNSPEC;
  return storage_.any.sa_family;
}

bool address::is_abstract() const noexcept {
  return kind_ == transport_kind::unix_socket && size_ > unix_header &&
         storage_.un.sun_path[0] == '\0';
}

std::uint16_t address::port() const noexcept {
  if (kind_ != transport_kind::tcp) return 0;
  return ntohs(storage_.any.sa_family == AF_INET6 ? storage_.v6.sin6_port : storage_.v4.sin_port);
}

std::string_view address::path() const noexcept {
  if (kind_ != transport_kind::unix_socket || size_ <= unix_header) return {};
  const std::size_t length = size_ - unix_header;
  if (storage_.un.sun_path[0] == '\0') return {storage_.un.sun_path + 1, length - 1};
  return {storage_.un.sun_path, ::strnlen(storage_.un.sun_path, length)};
}

std::size_t address::format_to(std::span<char> out) const noexcept {
  char text[INET6_ADDRSTRLEN + 32];
  switch (kind_) {
    case transport_kind::none:
      return 0;
    case transport_kind::memory: {
      const int length = std::snprintf(text, sizeof text, "memory:%llu",
                                       static_cast<unsigned long long>(memory_id_));
      return put(out, 0, {text, static_cast<std::size_t>(length)});
    }
    case transport_kind::unix_socket:
      if (size_ <= unix_header) return put(out, 0, "unix:(unnamed)");
      if (is_abstract()) return put(out, put(out, 0, "@"), path());
      return put(out, 0, path());
    case transport_kind::tcp:
      break;
  }
  std::size_t at = 0;
  if (storage_.any.sa_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &storage_.v6.sin6_addr, text, sizeof text);
    at = put(out, put(out, at, "["), text);
    if (storage_.v6.sin6_scope_id != 0) {
      std::snprintf(text, sizeof text, "%%%u", static_cast<unsigned>(storage_.v6.sin6_scope_id));
      at = put(out, at, text);
    }
    at = put(out, at, "]");
  } else {
    ::inet_ntop(AF_INET, &storage_.v4.sin_addr, text, sizeof text);
    at = put(out, at, text);
  }
  std::snprintf(text, sizeof text, ":%u", static_cast<unsigned>(port()));
  return put(out, at, text);
}

std::string address::to_string() const {
  char text[160];
  const std::size_t length = format_to(text);
  if (length <= sizeof text) return std::string(text, length);
  std::string longer(length, '\0');
  (void)format_to(longer);
  return longer;
}

bool operator==(const address& a, const address& b) noexcept {
  return a.kind_ == b.kind_ && a.size_ == b.size_ && a.memory_id_ == b.memory_id_ &&
         std::memcmp(&a.storage_, &b.storage_, a.size_) == 0;
}

}  // namespace taut::transport
