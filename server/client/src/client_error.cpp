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
    case client_errc::unsupported_transfer_coding:
      return "unsupported_transfer_coding";
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

namespace {

class request_category_impl final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "taut.client.request"; }
  [[nodiscard]] std::string message(int value) const override {
    switch (static_cast<request_errc>(value)) {
      case request_errc::framing_field:
        return "Content-Length, Transfer-Encoding, TE and Expect are written by the client";
      case request_errc::connection_option:
        return "Connection may only be close or upgrade";
      case request_errc::duplicate_host:
        return "more than one Host field";
      case request_errc::bad_host:
        return "Host is not a valid authority";
      case request_errc::bad_target_form:
        return "the target is not origin-form (/path), absolute-form, authority-form (CONNECT) "
               "or * (OPTIONS)";
      case request_errc::host_mismatch:
        return "the absolute-form target's authority differs from Host";
      case request_errc::body_and_stream_body:
        return "both a body and stream_body";
    }
    return "unknown request error";
  }
};

}  // namespace

const std::error_category& request_category() noexcept {
  static const request_category_impl instance;
  return instance;
}

const std::error_category& client_category() noexcept {
  static const category instance;
  return instance;
}

std::string client_error::message() const {
  if (code == client_errc::ok) return "ok";  // no phase: nothing failed
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
