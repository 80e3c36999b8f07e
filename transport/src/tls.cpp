// TLS streams: declarations only so far (every call reports tls_unavailable); the OpenSSL
// implementation follows.
#include "taut/transport/tls.hpp"

namespace taut::transport {

bool tls_context::is_server() const noexcept {
  return false;
}

std::string_view tls_context::offload_status() const noexcept {
  return "no kTLS: TLS unavailable";
}

result<tls_context> tls_context::server(const tls_server_options&) noexcept {
  return errc::tls_unavailable;
}

result<tls_context> tls_context::client(const tls_client_options&) noexcept {
  return errc::tls_unavailable;
}

result<stream> tls_accept(stream&& raw, const tls_context&) noexcept {
  (void)raw.close();
  return errc::tls_unavailable;
}

result<stream> tls_connect(stream&& raw, const tls_context&, std::string_view) noexcept {
  (void)raw.close();
  return errc::tls_unavailable;
}

tls_state tls_info(const stream&) noexcept {
  return {};
}

bool tls_available() noexcept {
  return false;
}

}  // namespace taut::transport
