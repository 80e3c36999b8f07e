// The absolute-form request target ("http://example.com:8080/a?b", RFC 9112 section 3.2.2) and
// the equivalence of two authorities, shared by the router (which routes such a target) and the
// client (which checks one against the Host it sends). Internal to the server layer: never
// installed, header-only because the two libraries do not depend on each other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "taut/http_chars.hpp"

namespace taut::detail {

/// An absolute-form target in its parts; the authority still holds any userinfo.
struct absolute_form_parts {
  std::string_view scheme;
  std::string_view authority;
  std::string_view path_and_query;
};

/// Splits `target` at the end of its scheme ("://" after ALPHA *( ALPHA / DIGIT / "+" / "-" /
/// "." ), RFC 3986 section 3.1) and of its authority (the first '/', '?' or '#' after it), or
/// nothing when `target` has another form.
[[nodiscard]] inline std::optional<absolute_form_parts> split_absolute_form_target(
    std::string_view target) noexcept {
  if (target.empty() || !is(target.front(), alpha)) return std::nullopt;
  std::size_t i = 1;
  while (i < target.size() && is(target[i], scheme_char)) ++i;
  if (target.substr(i, 3) != "://") return std::nullopt;
  const std::size_t authority_begin = i + 3;
  std::size_t authority_end = target.find_first_of("/?#", authority_begin);
  if (authority_end == std::string_view::npos) authority_end = target.size();
  return absolute_form_parts{target.substr(0, i),
                             target.substr(authority_begin, authority_end - authority_begin),
                             target.substr(authority_end)};
}

/// The port a scheme implies when an authority omits it (RFC 9110 sections 4.2.1 and 4.2.2), or
/// nothing for a scheme without one known here.
[[nodiscard]] inline std::optional<std::uint32_t> default_port(std::string_view scheme) noexcept {
  if (chars::iequals(scheme, "http")) return 80;
  if (chars::iequals(scheme, "https")) return 443;
  return std::nullopt;
}

/// True when two authorities (host[:port], no userinfo) name the same origin under `scheme`:
/// hosts compared case-insensitively (an IPv6 literal with its brackets), an omitted or empty
/// port equal to the scheme's default (RFC 9110 section 4.2.3, RFC 3986 section 6.2.3).
[[nodiscard]] inline bool same_authority(std::string_view scheme, std::string_view a,
                                         std::string_view b) noexcept {
  struct split {
    std::string_view host;
    std::optional<std::uint32_t> port;  // nothing: omitted, or not a number (compared as text)
    std::string_view port_text;
  };
  const auto split_authority = [&](std::string_view authority) {
    // The port follows the last ':' outside an IPv6 literal's brackets.
    const std::size_t close = authority.rfind(']');
    const std::size_t colon = authority.rfind(':');
    if (colon == std::string_view::npos || (close != std::string_view::npos && colon < close)) {
      return split{authority, default_port(scheme), {}};
    }
    const std::string_view digits = authority.substr(colon + 1);
    split parts{authority.substr(0, colon), default_port(scheme), digits};
    if (digits.empty()) return parts;
    std::uint32_t value = 0;
    for (char c : digits) {
      if (c < '0' || c > '9' || value > 65535) return split{parts.host, std::nullopt, digits};
      value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value > 65535) return split{parts.host, std::nullopt, digits};
    parts.port = value;
    return parts;
  };
  const split x = split_authority(a);
  const split y = split_authority(b);
  if (!chars::iequals(x.host, y.host)) return false;
  if (x.port && y.port) return *x.port == *y.port;
  return !x.port && !y.port && x.port_text == y.port_text;
}

}  // namespace taut::detail
