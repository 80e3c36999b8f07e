// The names of client_errc and client_phase, and their std::error_category.
#include <string>

#include "taut/client_error.hpp"

namespace taut {

std::string_view to_string(client_errc code) noexcept {
  switch (code) {
    case client_errc::ok:
      return "ok";
    case client_errc::invalid_request:
      return "invalid_request";
    case client_errc::invalid_origin:
      return "invalid_origin";
    case client_errc::resolve_failed:
      return "resolve_failed";
    case client_errc::connect_failed:
      return "connect_failed";
    case client_errc::connect_timeout:
      return "connect_timeout";
    case client_errc::too_many_waiting:
      return "too_many_waiting";
    case client_errc::write_failed:
      return "write_failed";
    case client_errc::connection_closed:
      return "connection_closed";
    case client_errc::connection_reset:
      return "connection_reset";
    case client_errc::bad_response:
      return "bad_response";
    case client_errc::ambiguous_framing:
      return "ambiguous_framing";
    case client_errc::response_too_large:
      return "response_too_large";
    case client_errc::header_timeout:
      return "header_timeout";
    case client_errc::deadline_exceeded:
      return "deadline_exceeded";
    case client_errc::canceled:
      return "canceled";
    case client_errc::body_timeout:
      return "body_timeout";
    case client_errc::tls_setup_failed:
      return "tls_setup_failed";
    case client_errc::tls_handshake_failed:
      return "tls_handshake_failed";
    case client_errc::request_too_large:
      return "request_too_large";
    case client_errc::body_too_large:
      return "body_too_large";
    case client_errc::body_incomplete:
      return "body_incomplete";
  }
  return "unknown";
}

std::string_view to_string(client_phase phase) noexcept {
  switch (phase) {
    case client_phase::validating:
      return "validating";
    case client_phase::resolving:
      return "resolving";
    case client_phase::waiting:
      return "waiting";
    case client_phase::connecting:
      return "connecting";
    case client_phase::writing_request:
      return "writing_request";
    case client_phase::reading_head:
      return "reading_head";
    case client_phase::reading_body:
      return "reading_body";
  }
  return "unknown";
}

namespace {

class category final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "taut.client"; }
  [[nodiscard]] std::string message(int value) const override {
    return std::string(to_string(static_cast<client_errc>(value)));
  }
};

}  // namespace

const std::error_category& client_category() noexcept {
  static const category instance;
  return instance;
}

std::string client_error::message() const {
  std::string text(to_string(code));
  text += " while ";
  text += to_string(phase);
  if (cause) {
    text += ": ";
    text += cause.message();
    if (cause.category() != std::generic_category() && offset != 0) {
      text += " at byte " + std::to_string(offset);
    }
  }
  return text;
}

}  // namespace taut
