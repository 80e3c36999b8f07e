// What a handler may learn about the connection it is called for (transport, TLS, addresses, the
// loop, an id), in its own header so the application layer can name it without the server loop's
// internals. The server layer creates these; handlers only read them.
#pragma once

#include <cstdint>

#include "taut/transport/address.hpp"
#include "taut/transport/error.hpp"
#include "taut/transport/stream.hpp"
#include "taut/transport/tls.hpp"

namespace taut {

class server_loop;

/// What a handler may learn about the connection it is called for. Obtained from
/// current_connection() during a handler call; valid until that call returns.
class connection_info {
 public:
  /// TCP, Unix socket or memory.
  [[nodiscard]] transport::transport_kind transport() const noexcept { return stream_->kind(); }
  /// Whether the connection speaks TLS (https).
  [[nodiscard]] bool is_tls() const noexcept { return transport::tls_info(*stream_).is_tls; }
  /// What TLS negotiated: version ("TLSv1.3"), ALPN ("http/1.1" or empty), the SNI name the
  /// client sent, the cipher, whether the session was resumed and whether kTLS carries it. Views
  /// into the session, valid during the handler call; all empty/false for a plain connection.
  [[nodiscard]] transport::tls_state tls() const noexcept { return transport::tls_info(*stream_); }
  /// The client's address (a system call: copy it if needed more than once).
  [[nodiscard]] transport::result<transport::address> peer_address() const noexcept {
    return stream_->peer_address();
  }
  /// The address the client connected to.
  [[nodiscard]] transport::result<transport::address> local_address() const noexcept {
    return stream_->local_address();
  }
  /// The loop serving the connection.
  [[nodiscard]] server_loop& owner() const noexcept { return *owner_; }
  /// A number unique among the connections of one loop.
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

 protected:
  connection_info(server_loop& owner, const transport::stream& stream, std::uint64_t id) noexcept
      : owner_(&owner), stream_(&stream), id_(id) {}
  ~connection_info() = default;
  connection_info(const connection_info&) = delete;
  connection_info& operator=(const connection_info&) = delete;

  server_loop* owner_;
  const transport::stream* stream_;
  std::uint64_t id_;
};

/// The connection whose handler code runs on this thread now (inside on_head, on_request, a
/// body_sink or upgrade callback, or a deferred_response completion), or nullptr.
[[nodiscard]] const connection_info* current_connection() noexcept;

}  // namespace taut
