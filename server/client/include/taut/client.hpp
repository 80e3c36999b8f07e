// taut::client: an HTTP/1.1 client on taut's event loop, with a connection pool per origin (as Go's
// Transport keeps one), over TCP (host names resolved off the loop thread), TLS over TCP (https://
// origins, the certificate verified against the system store or a given CA file), Unix sockets
// and the in-memory transport. Responses are read with taut's response parser and body decoder, so
// the client decides framing as strictly as the server: a response it cannot frame for certain is
// an error, and its connection is never reused.
//
//     auto loop = taut::transport::event_loop::create().value();
//     taut::client client(*loop);
//     struct printer final : taut::client_exchange {
//       void on_head(const taut::client_response& r) override { status = r.head.status; }
//       void on_body(std::string_view piece) override { body += piece; }
//       void on_complete(std::span<const taut::header>) override { done = true; }
//       void on_error(const taut::client_error& e) override { error = e; done = true; }
//       int status = 0; std::string body; taut::client_error error; bool done = false;
//     } exchange;
//     auto where = taut::origin::parse("http://127.0.0.1:8080").value();
//     client.send(where, {.method = "GET", .target = "/"}, exchange);
//     while (!exchange.done) loop->run_once();
//
// Threading: a client, its connections and every callback belong to the thread running its loop.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "taut/client_error.hpp"
#include "taut/message.hpp"
#include "taut/transport/address.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/memory.hpp"
#include "taut/transport/stream.hpp"
#include "taut/transport/tls.hpp"

namespace taut {

class client;
namespace detail {
class client_connection;
struct origin_pool;
struct client_access;
}  // namespace detail

/// Where requests go: a TCP host and port (plain or TLS), a Unix socket (path or abstract name), or
/// a memory listener; plus the authority sent as Host. Two origins share a pool when their key()
/// matches.
class origin {
 public:
  /// "http://host[:port]" (port 80 by default; the host an IPv4 literal, a bracketed IPv6
  /// literal or a name, resolved without blocking the loop), "https://host[:port]" (the same over
  /// TLS, port 443 by default), "unix:/path/to.sock" or "unix:@abstract" (Host "localhost"). A
  /// path after the authority is ignored: see parse_url.
  static transport::result<origin> parse(std::string_view text);
  /// A TCP origin; `host` is a name, an IPv4 literal or an IPv6 literal (without brackets).
  static origin tcp(std::string_view host, std::uint16_t port);
  /// A TLS origin over TCP (https): `host` as for tcp(); it is also the name sent in SNI and the
  /// name (or IP address) the server's certificate must carry.
  static origin https(std::string_view host, std::uint16_t port = 443);
  /// A Unix socket: a path, or an abstract name written "@name"; Host is `authority`.
  static origin unix_socket(std::string_view path, std::string_view authority = "localhost");
  /// A memory listener's dialer (transport::listener::dialer()); Host is `authority`.
  static origin memory(transport::memory_dialer dialer, std::string_view authority = "memory");

  [[nodiscard]] transport::transport_kind kind() const noexcept { return kind_; }
  /// Whether connections to this origin speak TLS (an https origin).
  [[nodiscard]] bool tls() const noexcept { return tls_; }
  /// The host name or literal (TCP), the socket path (Unix), empty (memory).
  [[nodiscard]] std::string_view host() const noexcept { return host_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  /// The Host field value requests to this origin carry unless they set their own.
  [[nodiscard]] std::string_view authority() const noexcept { return authority_; }
  /// Identifies the pool: the same transport, TLS or not, host and port (or path, or listener).
  [[nodiscard]] std::string_view key() const noexcept { return key_; }

 private:
  friend class client;
  friend class detail::client_connection;
  friend struct detail::origin_pool;
  transport::transport_kind kind_ = transport::transport_kind::none;
  std::string host_;
  std::uint16_t port_ = 0;
  std::string authority_;
  std::string key_;
  transport::memory_dialer dialer_;
  bool tls_ = false;
};

/// An origin and a request-target, from a URL such as "http://example.com:8080/a?b=1" or
/// "https://example.com/a".
struct url {
  taut::origin origin;
  std::string target;  // "/a?b=1"; "/" when the URL has no path
};
/// Splits an http or https URL (or "unix:/path.sock" followed by nothing: target "/").
[[nodiscard]] transport::result<url> parse_url(std::string_view text);

/// One request. Views must stay valid until the exchange ends (on_complete or on_error returned):
/// a retry sends them again. The client adds Host (unless set here) and the body's framing.
struct client_request {
  std::string_view method = "GET";
  /// Origin-form ("/path?query"), or absolute-form, authority-form (CONNECT), "*" (OPTIONS).
  std::string_view target = "/";
  /// Fields to send as given. Content-Length, Transfer-Encoding, TE and Connection are the
  /// client's own (an error here), except `Connection: close`, which asks to close after the
  /// response, `Connection: upgrade`, and `Connection: keep-alive` (HTTP/1.1's default, sent as
  /// given); Host replaces the origin's authority.
  std::span<const header> headers{};
  /// How many of `headers`, from the first, came from taut's own parser (a proxy forwarding a
  /// request's fields): the caller vouches that their names are tokens and their values field
  /// values, as that parser gives them unless leniency::obs_fold or bare_lf is on. Not
  /// scanned again (debug builds assert them); every other check of the fields (framing fields,
  /// Connection, Host) still applies. 0, the default: every field is checked.
  std::size_t parsed_headers = 0;
  /// The whole body, sent with a Content-Length (which is also sent, as 0, for an empty body of
  /// POST, PUT and PATCH), unless `stream_body`.
  std::string_view body{};
  /// Send `Content-Length: 0` for an empty `body` whatever the method (a proxy forwarding a
  /// request that declared its empty body so). Without it, only POST, PUT and PATCH get one.
  bool send_empty_length = false;
  /// The body comes later through client_exchange::write_body(): chunked when
  /// `stream_length` is negative, with that Content-Length otherwise.
  bool stream_body = false;
  std::int64_t stream_length = -1;
  /// Send `Expect: 100-continue` and hold the body until 100 Continue, a final response, or
  /// client_options::expect_continue_timeout.
  bool expect_continue = false;
  /// A deadline for the whole exchange (waiting, connecting, writing, reading); zero: none.
  std::chrono::milliseconds timeout{0};
  /// `timeout` stops when the final response head arrives: a body may then take as long as it
  /// keeps flowing (see client_options::body_idle_timeout), as a proxy relaying a download, a
  /// long poll or server-sent events needs.
  bool timeout_ends_at_head = false;
};

/// A response head as on_head() sees it; its views are valid during the call.
struct client_response {
  const taut::response& head;
  /// Whether the connection this response came on had served requests before (pool reuse).
  bool reused_connection = false;

  /// The first field named `name` (ASCII case-insensitive), or "".
  [[nodiscard]] std::string_view header(std::string_view name) const noexcept;
  /// The transfer codings the body still carries once chunked is removed (head.transfer_codings:
  /// "gzip" for `gzip, chunked`, "chunked, gzip", "identity"), or "" for a body that is only
  /// chunked or not coded. The client decodes none of them: on_body() then gets the coded bytes,
  /// which are not the content (a proxy passes them on with response_writer::begin_coded).
  [[nodiscard]] std::string_view transfer_codings() const noexcept { return head.transfer_codings; }
};

/// One exchange as the caller sees it: derive, implement the callbacks, pass it to client::send,
/// and keep it (and the request's views) alive until on_complete or on_error has returned. After
/// that the client no longer touches it, and it may be sent again. Callbacks run on the loop
/// thread; they may call pause(), resume(), write_body() and client::send (not on this exchange).
class client_exchange {
 public:
  client_exchange() noexcept;
  client_exchange(const client_exchange&) = delete;
  client_exchange& operator=(const client_exchange&) = delete;
  /// Destroying a pending exchange cancels it (without callbacks).
  virtual ~client_exchange();

  /// An interim response (100, 103, ...); 101 is never one (see on_upgrade).
  virtual void on_informational(const taut::response& head) { static_cast<void>(head); }
  /// The final response head.
  virtual void on_head(const client_response& response) = 0;
  /// A piece of body, chunked framing removed, valid during the call; still carrying
  /// client_response::transfer_codings() when those are not empty. Call pause() to stop the flow.
  virtual void on_body(std::string_view piece) = 0;
  /// The body ended (trailer fields of a chunked body, valid during the call).
  virtual void on_complete(std::span<const header> trailers) = 0;
  /// The exchange failed; nothing more is called.
  virtual void on_error(const client_error& error) = 0;
  /// A 101 Switching Protocols or a 2xx to CONNECT (`head`, valid during the call): the stream is
  /// the caller's now (unwatched), with the bytes read after the head. The default closes it.
  /// Ends the exchange like on_complete.
  virtual void on_upgrade(const taut::response& head, transport::stream&& stream,
                          std::string_view leftover);
  /// For a streamed request body: write_body() may take bytes again. Called from the loop, never
  /// from inside write_body() or finish_body(), so a pump that writes from here does not nest.
  virtual void on_body_writable() {}

  /// Stops reading the response body until resume() (back-pressure towards the server).
  void pause() noexcept;
  void resume() noexcept;
  /// Ends a pending exchange with client_errc::canceled (on_error is called), closing its
  /// connection if it had one.
  void cancel() noexcept;
  /// Whether the exchange is between send() and its end.
  [[nodiscard]] bool pending() const noexcept { return owner_ != nullptr; }

  /// For client_request::stream_body: queues body bytes, returning how many were taken (up to
  /// the room left in the connection's output buffer; 0 until the connection is ready or while
  /// the buffer is full: wait for on_body_writable()).
  std::size_t write_body(std::string_view piece) noexcept;
  /// Ends a streamed body (the last chunk when chunked). False if there is no streamed body, while
  /// the buffer has no room for the last chunk (call again from on_body_writable()), or if fewer
  /// than `stream_length` bytes were written: the exchange then fails with
  /// client_errc::body_incomplete (on_error runs inside this call).
  bool finish_body() noexcept;

 private:
  friend class client;
  friend class detail::client_connection;
  friend struct detail::origin_pool;
  friend struct detail::client_access;

  client* owner_ = nullptr;
  const client_request* request_ = nullptr;
  detail::origin_pool* pool_ = nullptr;
  detail::client_connection* connection_ = nullptr;
  client_exchange* next_ = nullptr;  // in the origin's wait queue
  std::optional<transport::timer> deadline_;
  bool retried_ = false;
  bool paused_ = false;
};

/// Resolves a host name to the addresses to try, in order (what getaddrinfo does by default).
/// Called on a thread of its own, never the loop's: it may block. That thread holds its own copy
/// of the function. It is not called once its client is destroyed, but a call already under way
/// is not waited for and may end after the client is gone: capture by value or shared_ptr, never
/// references to objects that may die before the call returns.
using resolver_function = std::function<transport::result<std::vector<transport::address>>(
    const std::string& host, std::uint16_t port)>;

/// How a client pools and times out.
struct client_options {
  using duration = std::chrono::milliseconds;
  /// Idle connections kept per origin (the most recently used are kept).
  std::size_t max_idle_per_origin = 16;
  /// Connections open at once per origin, idle or busy; 0: no limit. More requests wait.
  std::size_t max_connections_per_origin = 256;
  /// Requests waiting for a connection per origin; one more fails with too_many_waiting.
  std::size_t max_waiting_per_origin = 4096;
  /// Bounds the whole of connecting: resolving the name (a resolver that does not answer in
  /// time is connect_timeout in phase resolving), then each resolved address in turn (each gets
  /// an even share of what is left, at least 2 s), then the TLS handshake.
  duration connect_timeout = std::chrono::seconds(10);
  /// From the end of writing the request to the end of the response head.
  duration response_header_timeout = std::chrono::seconds(30);
  /// While reading a response body, the longest wait for the next bytes (not counted while the
  /// exchange is paused); client_errc::body_timeout beyond. Zero: none.
  duration body_idle_timeout{0};
  /// How long a connection may sit idle in the pool before it is closed.
  duration idle_timeout = std::chrono::seconds(90);
  /// How long a request with expect_continue waits for 100 Continue before sending its body.
  duration expect_continue_timeout = std::chrono::seconds(1);
  /// Bytes of each connection's input buffer (a response head must fit) and output buffer (a
  /// request head must fit). Allocated once per connection.
  std::size_t buffer_size = 16 * 1024;
  /// Limits and leniencies of the response parser (strict by default).
  parse_options parse{};
  /// Retry an idempotent request once on a new connection when a reused one fails before any
  /// response byte arrives (RFC 9110 section 9.2.2; Go's Transport rule).
  bool retry_idempotent = true;
  /// Requests one connection may carry at once (HTTP/1.1 pipelining, RFC 9112 section 9.3.2).
  /// 1, the default: one at a time. More: an idempotent request with no streamed body, no
  /// Expect and no Connection or Upgrade field may be written behind others on a connection whose
  /// requests are all such; requests sent in one loop iteration then leave in one write and their
  /// responses come back together (a proxy in front of a busy upstream sends fewer packets). The
  /// cost is that each waits for the ones before it, and requests behind one whose connection
  /// fails are retried on a new connection (or fail with connection_closed when retries are off
  /// or they were retried already). Opt in only for upstreams known to pipeline correctly.
  std::size_t pipeline_depth = 1;
  /// TLS for https origins: the CA bundle to trust (empty: the system store), verification (on;
  /// off only for tests), ALPN, session resumption. The client builds one context from these on
  /// its first https request; the handshake counts towards connect_timeout.
  transport::tls_client_options tls{};
  /// Host-name resolution (empty: getaddrinfo, IPv6 and IPv4). A name is resolved when its pool
  /// first needs it, and again after a connection found none of its addresses answering.
  resolver_function resolver{};
};

/// Counters of one client, for tests and taut-fetch.
struct client_stats {
  std::uint64_t connections_opened = 0;  // connections dialed (successful or not)
  std::uint64_t requests = 0;            // exchanges started on a connection (retries count)
  std::uint64_t reused = 0;              // of those, on a connection taken from the pool
  std::uint64_t pipelined = 0;           // of those, written behind another (pipeline_depth)
  std::uint64_t retries = 0;             // idempotent requests retried on a new connection
  std::uint64_t resolutions = 0;         // host names resolved
  std::uint64_t tls_handshakes = 0;      // TLS handshakes completed (https connections)
  std::uint64_t tls_resumed = 0;         // of those, resuming an earlier session
};

/// An HTTP/1.1 client on one event loop: requests go through a pool per origin. Not thread-safe;
/// it must be destroyed before its loop, and not from inside one of its callbacks.
class client {
 public:
  explicit client(transport::event_loop& loop, const client_options& options = {});
  /// Ends every exchange in flight or waiting with client_errc::canceled (its on_error runs from
  /// here and must not send on this client) and closes every connection.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Starts `request` to `where`; the result comes through `exchange`'s callbacks, never from
  /// inside this call. An invalid request (client_errc::invalid_request), or an https origin when
  /// the TLS settings cannot be used (client_errc::tls_setup_failed: a CA file that cannot be
  /// loaded, a build without TLS), is refused here: nothing is sent, no callback is called, and
  /// the error is returned.
  client_error send(const origin& where, const client_request& request, client_exchange& exchange);

  /// Closes every idle connection now.
  void close_idle() noexcept;
  /// Connections open to `where` now (idle or busy), and idle ones.
  [[nodiscard]] std::size_t open_connections(const origin& where) const noexcept;
  [[nodiscard]] std::size_t idle_connections(const origin& where) const noexcept;
  [[nodiscard]] const client_stats& stats() const noexcept { return stats_; }
  [[nodiscard]] const client_options& options() const noexcept { return options_; }
  [[nodiscard]] transport::event_loop& loop() const noexcept { return *loop_; }

 private:
  friend class detail::client_connection;
  friend struct detail::origin_pool;
  friend class client_exchange;
  friend struct detail::client_access;

  detail::origin_pool& pool_for(const origin& where);
  /// Builds the TLS context on the first https request (a client that never speaks TLS loads no
  /// CA store).
  client_error prepare_tls();
  [[nodiscard]] const detail::origin_pool* find_pool(const origin& where) const noexcept;

  transport::event_loop* loop_;
  client_options options_;
  client_stats stats_{};
  std::vector<std::unique_ptr<detail::origin_pool>> pools_;
  transport::tls_context tls_;
  std::shared_ptr<bool> alive_;
};

/// Validates a request without sending it: the method is a token, the target has no byte below
/// 0x21 or DEL and has a form its method allows, field names are tokens and values hold no CR, LF
/// or NUL, no framing field is set, and a Host is single and an authority. What client::send
/// checks first (send also compares an absolute-form target with the origin's Host when the
/// request sets none; here only a Host the request sets is compared).
[[nodiscard]] client_error validate(const client_request& request) noexcept;

}  // namespace taut
