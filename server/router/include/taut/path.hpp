// Request-path helpers: split a target into path and query, check and decode percent-escapes, and
// clean a path the way Go's ServeMux does. None of them allocates; output goes to caller buffers.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace taut {

/// An origin-form request target split at its first '?'.
struct target_parts {
  std::string_view path;
  std::string_view query;  // without the '?'
  bool has_query = false;  // true for "/a?" too, where the query is empty
};

/// Splits `target` at its first '?'. A fragment ('#') is not expected in a request target; it is
/// left in the query.
[[nodiscard]] target_parts split_target(std::string_view target) noexcept;

/// An absolute-form request target ("http://example.com:8080/a?b", RFC 9112 section 3.2.2) in
/// its parts. A server routes `path_and_query` like an origin-form target (an empty path is "/")
/// and takes `authority` as the request's, instead of the Host field (RFC 9112 section 3.3).
struct absolute_target {
  std::string_view scheme;          // "http"
  std::string_view authority;       // "example.com:8080": host and port, no userinfo check
  std::string_view path_and_query;  // "/a?b"; empty or starting with '/' or '?'
};

/// Splits an absolute-form target (a scheme, "://", an authority, then the rest), or nothing when
/// `target` has another form (origin-form "/a", "*", CONNECT's "host:port", "mailto:x").
/// Validating the bytes is the parser's job; this only finds the boundaries.
[[nodiscard]] std::optional<absolute_target> split_absolute_form(std::string_view target) noexcept;

/// True when every '%' in `text` starts a %XX escape with two hex digits.
[[nodiscard]] bool valid_percent_escapes(std::string_view text) noexcept;

/// Decodes the %XX escapes of `text` into `out` and returns the decoded view, or nothing when an
/// escape is malformed or `out` is shorter than the result (text.size() bytes always suffice).
/// With `plus_as_space` ('application/x-www-form-urlencoded' query values) '+' becomes ' '.
[[nodiscard]] std::optional<std::string_view> percent_decode(std::string_view text,
                                                             std::span<char> out,
                                                             bool plus_as_space = false) noexcept;

/// The value of one path segment (no '/' inside): "." and ".." are dot segments, also when
/// escaped ("%2e%2E" is ".."), because a file system or a proxy that decodes first sees them so.
enum class dot_segment { none, dot, dot_dot };
[[nodiscard]] dot_segment classify_segment(std::string_view raw_segment) noexcept;

/// True when clean_path(path) would return `path` unchanged: it starts with '/', has no empty
/// segment except a final one (a trailing slash), and no dot segment (escaped or not).
[[nodiscard]] bool is_clean_path(std::string_view path) noexcept;

/// The canonical form of a request path, as Go's ServeMux computes it: repeated slashes collapse,
/// "." segments go, ".." removes the segment before it and never climbs above the root, a leading
/// '/' is added if missing, and a trailing slash is kept (except that the result "/" never gets a
/// second one). Escapes stay as they are; only dot detection looks through them. Writes into
/// `out`, which must not overlap `path` and needs at most path.size() + 1 bytes; returns nothing
/// when `out` is too small.
[[nodiscard]] std::optional<std::string_view> clean_path(std::string_view path,
                                                         std::span<char> out) noexcept;

}  // namespace taut
