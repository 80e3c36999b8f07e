// The handler API: a handler is any callable taking a request_context (the request, its route and
// its connection) and a reply (the response writer), wrapped in taut::handler together with how it
// wants the request body. Middleware is a function from handler to handler.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "taut/connection.hpp"
#include "taut/connection_info.hpp"
#include "taut/field_list.hpp"
#include "taut/message.hpp"
#include "taut/router.hpp"
#include "taut/transport/address.hpp"

namespace taut {

class handler;

/// One `name=value` pair of a query, still percent-encoded (see request_context::query_params).
struct query_param {
  std::string_view name;
  std::string_view value;
};

/// The `&`-separated pairs of a query string, in order, still encoded; empty pairs are skipped
/// and a pair without '=' has an empty value. Allocation-free.
class query_range {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = query_param;
    using difference_type = std::ptrdiff_t;
    using pointer = const query_param*;
    using reference = const query_param&;

    iterator() noexcept = default;
    reference operator*() const noexcept { return current_; }
    pointer operator->() const noexcept { return &current_; }
    iterator& operator++() noexcept {
      advance();
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator copy = *this;
      advance();
      return copy;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.rest_.data() == b.rest_.data() && a.done_ == b.done_;
    }

   private:
    friend class query_range;
    explicit iterator(std::string_view query) noexcept : rest_(query) { advance(); }
    void advance() noexcept;

    std::string_view rest_{};
    query_param current_{};
    bool done_ = true;
  };

  explicit query_range(std::string_view query) noexcept : query_(query) {}
  [[nodiscard]] iterator begin() const noexcept { return iterator(query_); }
  [[nodiscard]] iterator end() const noexcept { return iterator(); }

 private:
  std::string_view query_;
};

/// A request as a handler sees it: the connection's server_request plus what routing learnt
/// (pattern, cleaned path, path parameters) and the connection's peer. Every view is valid during
/// the handler call only; a handler that answers later copies what it needs first.
class request_context {
 public:
  /// `scratch` is decoding space for query values and must outlive the context; `connection` is
  /// what the server runtime says about the connection (current_connection()), or null.
  request_context(server_request& request, const route_match& route, std::span<char> scratch,
                  const connection_info* connection = nullptr) noexcept
      : request_(&request),
        route_(&route),
        connection_(connection),
        scratch_(scratch),
        path_(route.path()) {}
  request_context(const request_context&) = delete;
  request_context& operator=(const request_context&) = delete;

  [[nodiscard]] taut::method method() const noexcept { return request_->method(); }
  /// The method token as sent ("GET", "PROPFIND").
  [[nodiscard]] std::string_view method_name() const noexcept { return request_->method_name(); }
  /// The request-target as sent ("/a/../b?x=1").
  [[nodiscard]] std::string_view target() const noexcept { return request_->target(); }
  /// The cleaned path the router matched ("/b"), still percent-encoded: decode a segment at a time
  /// (params do that) so that "%2F" stays data and never becomes a separator.
  /// Under strip_prefix() or a mounted mux, the path without the prefix ("/users/7").
  [[nodiscard]] std::string_view path() const noexcept { return path_; }
  /// The pattern of the route that matched ("GET /items/{id}"), or empty.
  [[nodiscard]] std::string_view pattern() const noexcept { return route_->pattern(); }
  [[nodiscard]] int version_minor() const noexcept { return request_->version_minor(); }
  /// The Host field's value ("" when absent).
  [[nodiscard]] std::string_view host() const noexcept { return request_->host(); }
  /// The authority of the effective request URI (RFC 9112 section 3.3), "host[:port]": the
  /// target's own for an absolute-form target ("GET http://example.com/x"), where RFC 9112 says
  /// the Host field is ignored, CONNECT's target, and otherwise the Host field's value.
  [[nodiscard]] std::string_view authority() const noexcept;

  /// The transfer codings applied to the body before the final chunked, as sent ("gzip"), when
  /// the server opts in to coded bodies (connection_options::parse.allow_transfer_codings; by
  /// default they are refused with 501): the body the handler reads is still coded with them.
  /// Empty otherwise.
  [[nodiscard]] std::string_view transfer_codings() const noexcept {
    return request_->head().transfer_codings;
  }

  /// The decoded value of path wildcard `name` ("{id}", "{path...}"), or "" when there is none.
  /// Decoded values are data: "{file}" may be "../x" (from "%2e%2e%2Fx").
  [[nodiscard]] std::string_view param(std::string_view name) const noexcept {
    return route_->param(name);
  }
  /// Every wildcard of the matched pattern, decoded and raw.
  [[nodiscard]] std::span<const path_param> params() const noexcept { return route_->params(); }

  /// The query without '?', still encoded.
  [[nodiscard]] std::string_view raw_query() const noexcept { return route_->query(); }
  /// The decoded value of the first query parameter named `name` (names compare after decoding;
  /// '+' means a space, as in HTML forms), or nothing when absent. Values without escapes are
  /// views of the target; others are decoded once into the context's scratch space. Returns
  /// nothing also when that space is used up, which takes more escaped look-ups than the target
  /// has bytes.
  [[nodiscard]] std::optional<std::string_view> query(std::string_view name) noexcept;
  /// query(name), or `fallback` when absent.
  [[nodiscard]] std::string_view query_or(std::string_view name,
                                          std::string_view fallback) noexcept {
    return query(name).value_or(fallback);
  }
  /// Whether some query parameter is named `name`.
  [[nodiscard]] bool has_query(std::string_view name) const noexcept;
  /// Every query parameter, still encoded (decode with taut::percent_decode).
  [[nodiscard]] query_range query_params() const noexcept { return query_range(raw_query()); }

  /// Every field as received, in order.
  [[nodiscard]] std::span<const taut::header> headers() const noexcept {
    return request_->headers();
  }
  /// The first field named `name` (ASCII case-insensitive), or nullptr.
  [[nodiscard]] const taut::header* find_header(std::string_view name) const noexcept {
    return request_->find_header(name);
  }
  /// The first field named `name`'s value, or "".
  [[nodiscard]] std::string_view header(std::string_view name) const noexcept {
    return request_->header_value(name);
  }
  /// The members of the list field `name` over all its lines, as one list: for fields defined
  /// as a comma-separated list (If-None-Match, If-Match, Accept-Encoding, Cache-Control), which a
  /// client may split over several lines where header() sees only the first.
  ///
  ///     for (std::string_view tag : req.field_list("If-None-Match")) { ... }
  [[nodiscard]] field_list_range field_list(std::string_view name) const noexcept {
    return field_list_range(request_->headers(), name);
  }

  /// Whether the request arrived with a body (Content-Length above 0, or chunked).
  [[nodiscard]] bool has_body() const noexcept { return request_->has_body(); }
  /// The whole body, for a route whose handler buffers (the default); empty otherwise.
  [[nodiscard]] std::string_view body() const noexcept { return request_->body(); }
  /// Chunked trailer fields of a buffered body.
  [[nodiscard]] std::span<const taut::header> trailers() const noexcept {
    return request_->trailers();
  }
  /// For a route with body_mode::stream: deliver the body to `sink` (which must live until its
  /// on_body_end/on_body_error, or until the reply is finished). False when there is no body to
  /// stream.
  bool stream_body(body_sink& sink) noexcept { return request_->stream_body(sink); }

  /// tcp, unix_socket or memory; none outside a server_loop (a connection driven by hand).
  [[nodiscard]] transport::transport_kind transport() const noexcept {
    return connection_ != nullptr ? connection_->transport() : transport::transport_kind::none;
  }
  /// The client's address ("127.0.0.1:50312", "[::1]:50312", "memory:3"; Unix clients are
  /// usually unnamed). A system call each time: copy it if needed twice. Outside a server_loop:
  /// transport::errc::not_connected.
  [[nodiscard]] transport::result<transport::address> remote_address() const noexcept {
    if (connection_ == nullptr) return transport::errc::not_connected;
    return connection_->peer_address();
  }
  /// The address the client connected to (which listener), as remote_address().
  [[nodiscard]] transport::result<transport::address> local_address() const noexcept {
    if (connection_ == nullptr) return transport::errc::not_connected;
    return connection_->local_address();
  }
  /// The server runtime's view of the connection (its loop, its id), or null.
  [[nodiscard]] const connection_info* connection() const noexcept { return connection_; }

  /// The connection's view of the request and the router's result, for what this class omits.
  [[nodiscard]] server_request& raw() const noexcept { return *request_; }
  [[nodiscard]] const route_match& route() const noexcept { return *route_; }

 private:
  static constexpr std::size_t memo_size = 8;
  struct decoded {
    const char* raw = nullptr;
    std::string_view value;
  };

  // strip_prefix() shows its inner handler a shorter path().
  friend handler strip_prefix(std::string_view prefix, handler inner);

  server_request* request_;
  const route_match* route_;
  const connection_info* connection_;
  std::span<char> scratch_;
  std::string_view path_;
  std::size_t scratch_used_ = 0;
  std::array<decoded, memo_size> memo_{};
  std::size_t memo_count_ = 0;
};

/// Writes one response: the connection's response_writer plus the common shapes (text, HTML,
/// JSON, errors, redirects) and a record of what was sent (status, body bytes) for middleware.
/// Calls return false and do nothing once the response is finished (or the connection is gone).
/// A reply not finished when the handler returns is finished by the connection: a plain 500
/// (none of the status and fields set) if the head was not written yet (no send, begin, finish,
/// error, redirect); after begin(), a body cut short and the close (unless its declared length
/// was all written); to answer later, detach() the writer.
class reply {
 public:
  explicit reply(response_writer writer) noexcept : writer_(std::move(writer)) {}
  reply(const reply&) = delete;
  reply& operator=(const reply&) = delete;

  /// 200..599 (default 200); before or after header(), until the head is written.
  bool status(int code) noexcept;
  /// Adds a field (names must be tokens, values free of CR, LF, NUL; framing fields and
  /// Connection other than `Connection: close` are the connection's; so is Date, unless one valid
  /// IMF-fixdate is given, which then replaces the connection's). A field that is not a list
  /// (Content-Type, Location, Server, ETag, Last-Modified, Expires, Retry-After, Age,
  /// Content-Range, Content-Location, Strict-Transport-Security, X-Content-Type-Options,
  /// X-Frame-Options, the single-valued Access-Control-Allow-*/Max-Age) replaces the line set
  /// before; others (Set-Cookie, Vary, Cache-Control, ...) add a line each time.
  bool header(std::string_view name, std::string_view value) noexcept;

  /// The whole body with a Content-Length; finishes the reply.
  bool send(std::string_view body) noexcept;
  /// Status, a Content-Type (if not empty: it replaces one set before) and the whole body.
  bool send(int code, std::string_view body, std::string_view content_type = {}) noexcept;
  /// text/plain; charset=utf-8, unless header() set a Content-Type.
  bool text(int code, std::string_view body) noexcept;
  /// text/html; charset=utf-8, unless header() set a Content-Type.
  bool html(int code, std::string_view body) noexcept;
  /// application/json (the caller provides the JSON text), unless header() set a Content-Type.
  bool json(int code, std::string_view body) noexcept;
  /// `code` (400..599; false, nothing sent, for any other) with its reason phrase as a
  /// text/plain body ("404 Not Found\n"); its Content-Type replaces one set before, as the body
  /// is that text.
  bool error(int code) noexcept;
  /// A redirect (301, 302, 303, 307 or 308; false, nothing sent, for any other code) to
  /// `location` (replacing a Location set before) with a short text body. False, nothing sent,
  /// when `location` has a character no URI-reference has (a space, a control, non-ASCII bytes
  /// not percent-encoded).
  bool redirect(int code, std::string_view location) noexcept;

  /// Streaming: ends the head for a body of unknown length (chunked on HTTP/1.1).
  bool begin() noexcept;
  /// Streaming: ends the head for a body of exactly `content_length` bytes.
  bool begin(std::uint64_t content_length) noexcept;
  /// A piece of body after begin().
  bool write(std::string_view piece) noexcept;
  /// Ends a streamed body (with chunked trailers), or sends the head with an empty body.
  bool finish(std::span<const taut::header> trailers = {}) noexcept;
  /// Answer with `Connection: close` (if the head is not out yet) and close after this response.
  void close_after() noexcept { writer_.close_after(); }
  /// Forgets the status and fields set so far, while the head is not written (started() false),
  /// to answer something else instead (recover() answers a plain 500 so). False afterwards.
  bool reset() noexcept;

  /// Whether body bytes are dropped by the connection (HEAD, 1xx, 204, 304). Content-Length is
  /// still sent for HEAD, so a handler may write the body as for GET.
  [[nodiscard]] bool body_suppressed() const noexcept { return writer_.body_suppressed(); }

  /// The status set so far (200 until status() or send(code, ...) says otherwise).
  [[nodiscard]] int status_code() const noexcept { return status_; }
  /// Body bytes handed to the reply so far (counted for HEAD too).
  [[nodiscard]] std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  /// Whether the head was written (send, begin, finish, error, redirect): from then on the
  /// status and fields can no longer change. status() and header() alone only hold them.
  [[nodiscard]] bool started() const noexcept { return started_; }
  /// Whether the response was finished through this reply.
  [[nodiscard]] bool finished() const noexcept { return finished_; }
  /// Whether detach() took the writer.
  [[nodiscard]] bool detached() const noexcept { return detached_; }

  /// Takes the response writer, to finish the response later (on the connection's thread; the
  /// server runtime marshals other threads). The reply is inert afterwards. A body streamed over
  /// time (from a timer of the loop) is sent as it is written; a producer that may outpace the
  /// client waits while the writer's ready() is false, for its on_drained() callback.
  [[nodiscard]] response_writer detach() noexcept {
    detached_ = true;
    return std::move(writer_);
  }
  /// The underlying writer (send_informational, upgrade, ...).
  [[nodiscard]] response_writer& writer() noexcept { return writer_; }

 private:
  response_writer writer_;
  std::uint64_t body_bytes_ = 0;
  int status_ = 200;
  bool started_ = false;
  bool finished_ = false;
  bool typed_ = false;  // header() set a Content-Type: text()/html()/json() keep it
  bool detached_ = false;
};

/// How a handler wants its request body; a route takes it from its handler.
struct handler_options {
  /// buffer (whole body in request_context::body(), the default), stream (attach a body_sink with
  /// request_context::stream_body()), or discard.
  body_mode body = body_mode::buffer;
  /// Largest body accepted (413 beyond); nothing means the server's connection_options limit.
  std::optional<std::uint64_t> max_body{};
};

/// A handler: any callable `void(request_context&, reply&)`, type-erased once at registration
/// (calling it never allocates), with its handler_options.
class handler {
 public:
  using function = std::function<void(request_context&, reply&)>;

  handler() = default;
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, handler> &&
           std::is_invocable_v<F&, request_context&, reply&>)
      handler(F&& fn, handler_options options = {})
      : fn_(std::forward<F>(fn)), options_(options) {}  // NOLINT: implicit, lambdas convert

  void operator()(request_context& request, reply& response) const { fn_(request, response); }
  [[nodiscard]] explicit operator bool() const noexcept { return static_cast<bool>(fn_); }

  [[nodiscard]] const handler_options& options() const noexcept { return options_; }
  /// The same handler, receiving its body in pieces (body_mode::stream).
  [[nodiscard]] handler streaming() const& { return with_body(body_mode::stream); }
  /// The same handler with another body mode.
  [[nodiscard]] handler with_body(body_mode mode) const& {
    handler copy = *this;
    copy.options_.body = mode;
    return copy;
  }
  /// The same handler with another body limit.
  [[nodiscard]] handler with_max_body(std::uint64_t bytes) const& {
    handler copy = *this;
    copy.options_.max_body = bytes;
    return copy;
  }

 private:
  function fn_;
  handler_options options_{};
};

/// `inner`, seeing request_context::path() without `prefix` ("/static" or "/static/": the path
/// "/static/a/b" is "/a/b", and "/static" alone is "/"), like Go's http.StripPrefix. A request
/// whose path does not start with the prefix followed by '/' or its end is answered 404. Path
/// parameters and the raw target are unchanged; the body options are `inner`'s.
[[nodiscard]] handler strip_prefix(std::string_view prefix, handler inner);

}  // namespace taut
