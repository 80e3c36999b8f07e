// Addresses to listen on or connect to, parsed from text with a named error for every mistake:
// "127.0.0.1:8080", "[::1]:8080", "localhost:0", "/run/app.sock", "unix:rel.sock", "@abstract".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "taut/transport/error.hpp"

namespace taut::transport {

/// Which of the three transports an address, stream or listener belongs to.
enum class transport_kind : std::uint8_t { none, tcp, unix_socket, memory };

/// A socket address (IPv4, IPv6, Unix path, Linux abstract name) or a memory pipe's id, as a
/// value (no allocation).
class address {
 public:
  /// Any form below. Text starting with '/' or "unix:" is a Unix path, with '@' (or "unix:@") an
  /// abstract name, anything else HOST:PORT as parse_tcp() takes it.
  static result<address> parse(std::string_view text) noexcept;
  /// HOST:PORT where HOST is an IPv4 literal, an IPv6 literal in brackets (with an optional %zone),
  /// or "localhost" (127.0.0.1). Names are never resolved: a server should not depend on DNS to
  /// start, and a config naming a host that resolves elsewhere is a bug. PORT 0 asks the kernel for
  /// an ephemeral port. Listen on all interfaces with "0.0.0.0:PORT" or "[::]:PORT".
  static result<address> parse_tcp(std::string_view host_port) noexcept;
  /// A filesystem path for a Unix socket (at most 107 bytes, no NUL).
  static result<address> unix_path(std::string_view path) noexcept;
  /// A Linux abstract socket name, given without its '@' (at most 107 bytes).
  static result<address> unix_abstract(std::string_view name) noexcept;
  /// A memory pipe, named by a number for peer_address() and logs ("memory:7").
  static address memory(std::uint64_t id) noexcept;
  /// Copies a kernel-filled sockaddr (getpeername, accept).
  static result<address> from_sockaddr(const sockaddr* data, socklen_t size) noexcept;

  address() noexcept;

  [[nodiscard]] transport_kind transport() const noexcept { return kind_; }
  /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC for memory and empty addresses.
  [[nodiscard]] int family() const noexcept;
  [[nodiscard]] bool is_abstract() const noexcept;
  /// The TCP port (0 for other transports).
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// A Unix socket's path, or an abstract name without its '@'; empty otherwise.
  [[nodiscard]] std::string_view path() const noexcept;
  [[nodiscard]] std::uint64_t memory_id() const noexcept { return memory_id_; }

  /// "127.0.0.1:8080", "[::1]:8080", "/run/app.sock", "@name", "memory:7", "unix:(unnamed)" for an
  /// unbound Unix peer. Writes at most `out.size()` bytes and returns the full length, so a
  /// caller can log without allocating.
  std::size_t format_to(std::span<char> out) const noexcept;
  [[nodiscard]] std::string to_string() const;

  [[nodiscard]] const sockaddr* sockaddr_data() const noexcept { return &storage_.any; }
  [[nodiscard]] socklen_t sockaddr_size() const noexcept { return size_; }

  friend bool operator==(const address& a, const address& b) noexcept;

 private:
  union storage {
    sockaddr any;
    sockaddr_in v4;
    sockaddr_in6 v6;
    sockaddr_un un;
  };
  storage storage_;
  socklen_t size_ = 0;
  transport_kind kind_ = transport_kind::none;
  std::uint64_t memory_id_ = 0;
};

}  // namespace taut::transport
