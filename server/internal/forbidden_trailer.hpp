// The fields a response must not carry as trailers, shared by the HTTP/1.1 connection (which drops
// them from what finish() writes) and the reverse proxy (which drops them from the trailers it
// passes on and from the Trailer list announcing them): one list, so the two never disagree.
// Internal to the server layer: never installed, header-only because the two libraries do not
// depend on each other.
#pragma once

#include <string_view>

#include "taut/http_chars.hpp"

namespace taut::detail {

/// Fields a response must not carry as trailers (RFC 9110 section 6.5.1): those that frame,
/// route or authenticate the message, modify a request, control the response or its caching, or
/// describe the content's format, and every hop-by-hop field. A recipient may have acted on the
/// head before the trailers arrive, so such a field there is dropped.
[[nodiscard]] inline bool forbidden_trailer(std::string_view name) noexcept {
  static constexpr std::string_view names[] = {"content-length",
                                               "transfer-encoding",
                                               "date",
                                               "host",
                                               "connection",
                                               "keep-alive",
                                               "upgrade",
                                               "te",
                                               "trailer",
                                               "content-type",
                                               "content-encoding",
                                               "content-range",
                                               "set-cookie",
                                               "cookie",
                                               "authorization",
                                               "www-authenticate",
                                               "cache-control",
                                               "pragma",
                                               "expires",
                                               "location",
                                               "retry-after",
                                               "vary",
                                               "age",
                                               "max-forwards",
                                               "expect",
                                               "range"};
  // "if-*" are request preconditions, "proxy-*" hop-by-hop (Proxy-Connection,
  // Proxy-Authorization, Proxy-Authenticate).
  if (name.size() > 3 && chars::iequals(name.substr(0, 3), "if-")) return true;
  if (name.size() > 6 && chars::iequals(name.substr(0, 6), "proxy-")) return true;
  for (const std::string_view forbidden : names) {
    if (chars::iequals(name, forbidden)) return true;
  }
  return false;
}

}  // namespace taut::detail
