// Request routing with Go 1.22 ServeMux patterns ("GET example.com/users/{id}", "/static/",
// "/files/{path...}", "/{$}"): the most specific pattern wins, conflicting patterns are refused at
// registration, and matching runs on the cleaned, percent-decoded path without allocating.
//
// Pattern syntax: [METHOD ][HOST]/[PATH]
//   METHOD  a method token followed by spaces or tabs; "GET" also matches HEAD; no method matches
//           every method.
//   HOST    a host name (case-insensitive, no port); no host matches every host.
//   PATH    '/'-separated segments, each a literal (percent-escapes allowed, matched after
//           decoding), "{name}" (one non-empty segment), or, as the last segment only,
//           "{name...}" (the rest of the path, possibly empty) or "{$}" (the path ends here, after
//           a slash). A trailing '/' makes the pattern a subtree: "/static/" is "/static/{...}".
//
// Precedence: pattern A is more specific than B when A matches a strict subset of B's requests;
// among the patterns that match a request the most specific one is chosen. Two patterns conflict
// when some request matches both and neither is more specific (for example "GET /a/" and "/a/b",
// or "/a/{x}" and "/{y}/b"); add() refuses the second one. One exception, as in Go: a pattern with
// a host always beats a pattern without one.
//
// Matching (match()): the target's path must have valid %XX escapes (400 otherwise); it is cleaned
// like Go's ServeMux ("//", "." and ".." segments removed, escaped dots included), and a request
// for an unclean path is redirected (301) to the clean one. Segments are compared after decoding
// one by one, so "%2F" never splits a segment. A request for "/dir" when only "/dir/" would match
// it is redirected to "/dir/". When patterns match the path but not the method the answer is 405
// with an Allow list; OPTIONS for such a path, and "OPTIONS *", are answered with the Allow list.
// A method the table does not recognise (none of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS,
// TRACE, PATCH, nor a method some pattern names; methods are case-sensitive, so "get" is one)
// that no method-less pattern takes is 501 (RFC 9110 section 9.1), whatever the path.
// Absolute-form targets ("http://example.com/a?b") are routed by their path (an empty one is "/")
// with their authority as the host, which RFC 9112 section 3.2.2 puts before the Host field.
// CONNECT's authority-form target ("example.com:443") is never routed: it gets 405 with the
// methods the table serves (404 when it serves none).
//
// A decoded parameter is data, not a path: "{file}" can be "../x" (from "%2e%2e%2Fx") and
// "{path...}" can hold "%2F"-made slashes. Code that maps parameters to files must check them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace taut {

/// Why add() refused a pattern.
enum class route_errc : std::uint8_t {
  ok = 0,
  invalid_pattern,   // the pattern's syntax is wrong (the message says where and why)
  conflict,          // an earlier pattern matches some of the same requests, neither more specific
  too_many_methods,  // more distinct method tokens than route_table::max_methods
  too_many_wildcards,  // more wildcards in one pattern than route_table::max_wildcards
};

/// The std::error_category of route_errc ("taut.route").
[[nodiscard]] const std::error_category& route_category() noexcept;
[[nodiscard]] std::error_code make_error_code(route_errc code) noexcept;

/// The result of add(): empty on success, otherwise a code and a message that names the pattern
/// (and, for a conflict, the earlier pattern and a request both match).
class route_error {
 public:
  route_error() = default;
  route_error(route_errc code, std::string message) : code_(code), message_(std::move(message)) {}

  [[nodiscard]] explicit operator bool() const noexcept { return code_ != route_errc::ok; }
  [[nodiscard]] route_errc code() const noexcept { return code_; }
  [[nodiscard]] std::error_code error_code() const noexcept { return make_error_code(code_); }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 private:
  route_errc code_ = route_errc::ok;
  std::string message_;
};

/// What a match decided, and the answer a server gives for it.
enum class route_status : std::uint8_t {
  matched,             // a route matched: call its handler
  not_found,           // 404
  method_not_allowed,  // 405, send route_match::allow() as the Allow field
  options,             // OPTIONS answered by the router: 200 (or 204) with Allow
  redirect,            // 301 to route_match::location() (unclean path or missing trailing slash)
  bad_request,         // 400: malformed percent-escape, or a target of no routable form
  uri_too_long,        // 414: the route_match's scratch space is too small for this target
  not_implemented,     // 501: a method no pattern names and that is not a standard one
};

/// The HTTP status code that goes with a route_status (200 for matched and options).
[[nodiscard]] constexpr int http_status(route_status status) noexcept {
  switch (status) {
    case route_status::matched:
    case route_status::options:
      return 200;
    case route_status::not_found:
      return 404;
    case route_status::method_not_allowed:
      return 405;
    case route_status::redirect:
      return 301;
    case route_status::bad_request:
      return 400;
    case route_status::uri_too_long:
      return 414;
    case route_status::not_implemented:
      return 501;
  }
  return 500;
}

/// One path wildcard of the matched pattern. `raw` views the cleaned request path (still
/// escaped); `value` is its decoded form (a view of `raw` when there was nothing to decode).
struct path_param {
  std::string_view name;
  std::string_view value;
  std::string_view raw;
};

/// Switches for the router's automatic answers; all on by default, as in Go.
struct router_options {
  /// Redirect (301) requests whose path is not clean to the clean path. Off: match the cleaned
  /// path directly.
  bool redirect_unclean_paths = true;
  /// Redirect "/dir" to "/dir/" when only the latter matches exactly.
  bool redirect_trailing_slash = true;
  /// Answer "OPTIONS *", and OPTIONS for a path that has routes but none for OPTIONS, with
  /// route_status::options and the Allow list (which then includes OPTIONS). Off: OPTIONS is an
  /// ordinary method (405 where no route takes it) and "OPTIONS *" is not_found.
  bool answer_options = true;
};

class route_table;

/// The outcome of one match: caller-owned and reusable, it never allocates. Decoded parameter
/// values, a cleaned path, a redirect location and the Allow text are written into the scratch
/// span given at construction (route_table::scratch_size() says how much suffices); a request
/// whose path is clean and escape-free needs none. Its views stay valid until the next match
/// with this object, as long as the target passed to match() and the route table are unchanged.
class route_match {
 public:
  /// Most wildcards one pattern may have (route_table::max_wildcards).
  static constexpr std::size_t max_params = 16;

  route_match() noexcept = default;
  explicit route_match(std::span<char> scratch) noexcept : scratch_(scratch) {}
  route_match(const route_match&) = delete;
  route_match& operator=(const route_match&) = delete;

  [[nodiscard]] route_status status() const noexcept { return status_; }
  [[nodiscard]] bool matched() const noexcept { return status_ == route_status::matched; }
  /// The id given to add() for the matched route.
  [[nodiscard]] std::size_t id() const noexcept { return id_; }
  /// The matched route's pattern as registered.
  [[nodiscard]] std::string_view pattern() const noexcept { return pattern_; }
  /// The wildcards of the matched pattern, in pattern order.
  [[nodiscard]] std::span<const path_param> params() const noexcept {
    return {params_.data(), param_count_};
  }
  /// The decoded value of the wildcard `name`, or "" when the pattern has none of that name.
  [[nodiscard]] std::string_view param(std::string_view name) const noexcept {
    const path_param* found = find_param(name);
    return found ? found->value : std::string_view();
  }
  [[nodiscard]] const path_param* find_param(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < param_count_; ++i) {
      if (params_[i].name == name) return &params_[i];
    }
    return nullptr;
  }
  /// The cleaned path the match ran on (still percent-escaped).
  [[nodiscard]] std::string_view path() const noexcept { return path_; }
  /// The query of the target, without '?'.
  [[nodiscard]] std::string_view query() const noexcept { return query_; }
  /// For redirect: the Location value (a path, with the query if there was one).
  [[nodiscard]] std::string_view location() const noexcept { return location_; }
  /// For method_not_allowed and options: the Allow value ("GET, HEAD, OPTIONS"), sorted.
  [[nodiscard]] std::string_view allow() const noexcept { return allow_; }

 private:
  friend class route_table;

  std::span<char> scratch_;
  std::size_t scratch_used_ = 0;
  route_status status_ = route_status::not_found;
  std::size_t id_ = 0;
  std::string_view pattern_;
  std::string_view path_;
  std::string_view query_;
  std::string_view location_;
  std::string_view allow_;
  std::array<path_param, max_params> params_{};
  std::size_t param_count_ = 0;
};

/// A route_match with its own scratch space of `ScratchBytes` bytes; the default is enough for
/// targets of up to about 8 KiB (the parser's default request-line limit).
template <std::size_t ScratchBytes = 18 * 1024>
class inline_route_match : public route_match {
 public:
  inline_route_match() noexcept : route_match(std::span<char>(storage_)) {}

 private:
  std::array<char, ScratchBytes> storage_;
};

/// The routing core: patterns mapped to caller-chosen ids. add() may allocate and throw
/// std::bad_alloc; match() is noexcept and allocation-free. match() may run concurrently from
/// many threads; add() must not run concurrently with anything, and invalidates earlier matches.
class route_table {
 public:
  /// Most wildcards ({name} and {name...}) in one pattern.
  static constexpr std::size_t max_wildcards = route_match::max_params;
  /// Most distinct method tokens over all patterns (the nine of RFC 9110 + PATCH count).
  static constexpr std::size_t max_methods = 63;

  explicit route_table(router_options options = {});
  ~route_table();
  route_table(route_table&&) noexcept;
  route_table& operator=(route_table&&) noexcept;
  route_table(const route_table&) = delete;
  route_table& operator=(const route_table&) = delete;

  /// Registers `pattern` for `id`. Returns an error, and changes nothing, if the pattern is
  /// malformed or conflicts with an earlier one.
  [[nodiscard]] route_error add(std::string_view pattern, std::size_t id);

  /// Routes a request. `method` is the method token as sent (case-sensitive), `host` the Host
  /// field value (a port is ignored; empty when absent), `target` the request target as sent:
  /// origin-form ("/path?query"), absolute-form (its authority then stands for `host`), "*", or
  /// CONNECT's authority-form. Fills `out` and returns out.status().
  route_status match(std::string_view method, std::string_view host, std::string_view target,
                     route_match& out) const noexcept;

  /// Scratch bytes a route_match needs for targets of up to `max_target` bytes.
  [[nodiscard]] std::size_t scratch_size(std::size_t max_target) const noexcept;

  /// Number of registered patterns.
  [[nodiscard]] std::size_t size() const noexcept;
  /// The index-th registered pattern (registration order) and its id.
  [[nodiscard]] std::string_view pattern(std::size_t index) const noexcept;
  [[nodiscard]] std::size_t id(std::size_t index) const noexcept;
  [[nodiscard]] const router_options& options() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Patterns mapped to values of type T (handlers, typically): a route_table plus the values.
template <class T>
class basic_router {
 public:
  explicit basic_router(router_options options = {}) : table_(options) {}

  /// Registers `pattern` for `value`; on error nothing is stored.
  [[nodiscard]] route_error add(std::string_view pattern, T value) {
    values_.reserve(values_.size() + 1);
    route_error error = table_.add(pattern, values_.size());
    if (!error) values_.push_back(std::move(value));
    return error;
  }

  /// Routes a request (see route_table::match) and returns the matched value, or nullptr when
  /// out.status() is anything but matched.
  const T* match(std::string_view method, std::string_view host, std::string_view target,
                 route_match& out) const noexcept {
    table_.match(method, host, target, out);
    return out.matched() ? &values_[out.id()] : nullptr;
  }

  [[nodiscard]] const T& value(std::size_t id) const noexcept { return values_[id]; }
  [[nodiscard]] T& value(std::size_t id) noexcept { return values_[id]; }
  [[nodiscard]] std::size_t size() const noexcept { return values_.size(); }
  [[nodiscard]] const route_table& table() const noexcept { return table_; }

 private:
  route_table table_;
  std::vector<T> values_;
};

}  // namespace taut

template <>
struct std::is_error_code_enum<taut::route_errc> : std::true_type {};
