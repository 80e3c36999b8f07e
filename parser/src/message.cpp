#include "taut/message.hpp"

namespace taut {

method method_from_token(std::string_view token) noexcept {
  // Methods are case-sensitive (RFC 9110 section 9.1): "get" is an extension method.
  switch (token.size()) {
    case 3:
      if (token == "GET") return method::get;
      if (token == "PUT") return method::put;
      break;
    case 4:
      if (token == "HEAD") return method::head;
      if (token == "POST") return method::post;
      break;
    case 5:
      if (token == "PATCH") return method::patch;
      if (token == "TRACE") return method::trace;
      break;
    case 6:
      if (token == "DELETE") return method::delete_;
      break;
    case 7:
      if (token == "CONNECT") return method::connect;
      if (token == "OPTIONS") return method::options;
      break;
    default:
      break;
  }
  return method::other;
}

std::string_view to_string(method m) noexcept {
  switch (m) {
    case method::get:
      return "GET";
    case method::head:
      return "HEAD";
    case method::post:
      return "POST";
    case method::put:
      return "PUT";
    case method::delete_:
      return "DELETE";
    case method::connect:
      return "CONNECT";
    case method::options:
      return "OPTIONS";
    case method::trace:
      return "TRACE";
    case method::patch:
      return "PATCH";
    case method::other:
      break;
  }
  return {};
}

}  // namespace taut
