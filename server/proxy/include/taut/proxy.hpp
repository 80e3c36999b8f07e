// taut::reverse_proxy: a handler that forwards requests to an upstream through taut::client's
// pool, as Go's httputil.ReverseProxy does. The upstream request is written anew from the parsed
// request (never the client's bytes), so framing that taut's parser did not decide cannot reach
// the upstream: a request is either refused by the front (400, 501) or forwarded with the
// Content-Length the front counted.
//
//     taut::server server([](unsigned) {            // one proxy per loop thread
//       auto app = std::make_unique<proxy_app>();   // a mux with app.handle("/", proxy.handler())
//       return app;
//     }, {.listen = {"127.0.0.1:8080"}});
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "taut/client.hpp"
#include "taut/handler.hpp"
#include "taut/server_loop.hpp"

namespace taut {

namespace detail {
class proxy_exchange;
class proxy_tunnel;
}  // namespace detail

/// How a reverse_proxy forwards.
struct proxy_options {
  /// Where requests go. An https origin is reached over TLS: SNI and the certificate check use
  /// its host, against the CA file of client.tls (the system store when empty).
  origin upstream;
  /// Prepended to the forwarded target's path (the path of a URL like http://up:8080/base).
  std::string upstream_path{};
  /// Removed from the front of the request-target before forwarding (a mount point such as
  /// "/api"); a request whose target does not start with it is answered 404. The check runs on
  /// the cleaned path ("//", "." and ".." segments removed, escaped dots too), which is the path
  /// forwarded: "/api/../admin" is outside "/api", "/api/a/../b" goes up as "/b".
  std::string strip_prefix{};
  /// Forward paths holding an escaped slash or backslash ("%2F", "%5C") or a raw backslash,
  /// unchanged. Off: 400, because an upstream that decodes them before resolving ".." would
  /// route "/api/..%2Fadmin" outside the prefix the front checked (Apache's
  /// AllowEncodedSlashes is off by default for the same reason).
  bool allow_encoded_slashes = false;
  /// Keep the client's Host field (true, like Go's ReverseProxy) or send the upstream's authority.
  bool preserve_host = true;
  /// X-Forwarded-For (appended to), X-Forwarded-Host and X-Forwarded-Proto (replaced).
  bool x_forwarded = true;
  /// A Forwarded field (RFC 7239): for, host and proto.
  bool forwarded = false;
  /// A Via field on requests and responses ("1.1 <via_name>"); empty sends none.
  std::string via_name = "taut";
  /// The scheme reported in X-Forwarded-Proto and Forwarded.
  std::string proto = "http";
  /// Largest request body forwarded (413 beyond); the body is read whole before forwarding.
  std::uint64_t max_body = 1024 * 1024;
  /// Tunnel Upgrade requests (WebSocket): Upgrade and `Connection: upgrade` are forwarded, and
  /// after the upstream's 101 the two connections are joined byte for byte, each direction
  /// through a 16 KiB buffer (reading stops while it is full). Off: Upgrade is hop-by-hop and
  /// dropped like the others.
  bool upgrades = false;
  /// Memory follows the load down after a peak: every `trim_interval`, per-request states and
  /// idle tunnel buffers beyond the most in use at once during the interval are freed (an
  /// idle proxy keeps at most one after two intervals). Zero: never (they stay at the peak).
  std::chrono::milliseconds trim_interval = std::chrono::seconds(30);
  /// Deadline of one upstream exchange up to its response head; 504 when it passes. The body
  /// then has no deadline: client.body_idle_timeout bounds each wait for its next bytes.
  std::chrono::milliseconds timeout = std::chrono::seconds(60);
  /// The pool: connections per upstream, idle connections kept, connect and head timeouts. A
  /// proxy keeps as many idle connections as it may open (a client's default keeps 16): under a
  /// steady load every upstream connection is reused, none is closed and opened again. A
  /// response body that stops flowing for 60 s (nginx's proxy_read_timeout) is cut.
  client_options client{.max_idle_per_origin = 256, .body_idle_timeout = std::chrono::seconds(60)};
};

/// Counters of one proxy, read on its loop thread.
struct proxy_stats {
  std::uint64_t forwarded = 0;        // requests sent upstream
  std::uint64_t bad_gateway = 0;      // answered 502
  std::uint64_t timed_out = 0;        // answered 504
  std::uint64_t cut_short = 0;        // responses cut after their head (upstream or client failed)
  std::uint64_t exchanges_made = 0;   // per-request states allocated (reused afterwards)
  std::uint64_t exchanges_freed = 0;  // of those, freed by a trim (see trim_interval)
  std::uint64_t tunnels = 0;          // upgraded connections joined to their upstream
};

/// Forwards requests to one upstream. One per event loop: its client and per-request states live
/// on the loop of the first request it handles (under taut::server, make one per thread with a
/// handler_factory). Destroy it on that thread before the event loop: before or after the
/// server_loop it serves, even with requests in flight (their writers then fail harmlessly).
/// When a server_loop it serves is destroyed (a taut::server's hard stop, or the server's end),
/// what it runs for that server_loop's requests ends with it (their upstream exchanges cancelled,
/// their tunnels closed), and the requests of other server_loops on the same loop go on; when the
/// last of them ends, everything else ends too, as its destructor would end it (pooled
/// connections closed); the next request, on whatever loop, starts afresh. So one proxy shared by
/// a one-thread taut::server may outlive it.
class reverse_proxy {
 public:
  explicit reverse_proxy(proxy_options options);
  ~reverse_proxy();
  reverse_proxy(const reverse_proxy&) = delete;
  reverse_proxy& operator=(const reverse_proxy&) = delete;

  /// The handler to mount (it refers to this proxy, which must outlive it).
  [[nodiscard]] taut::handler handler();
  /// Handles one request (what handler() calls). Called from a handler of another route (one
  /// that sets a field first), a body that route buffered (body_mode::buffer, the default) goes
  /// up whole; handler()'s own route streams it instead (handler().options()).
  void serve(request_context& request, reply& response);

  [[nodiscard]] const proxy_options& options() const noexcept { return options_; }
  [[nodiscard]] const proxy_stats& stats() const noexcept { return stats_; }
  /// The client, once the first request chose the loop; null before.
  [[nodiscard]] taut::client* client() const noexcept { return client_.get(); }

 private:
  friend class detail::proxy_exchange;
  friend class detail::proxy_tunnel;
  void release(detail::proxy_exchange& done) noexcept;
  /// Ends every exchange, tunnel and pooled connection, and lets go of the loop.
  void end_all() noexcept;

  /// Calls end_loop() when a server_loop this proxy serves ends (see the class comment).
  struct loop_end final : loop_end_watcher {
    loop_end(reverse_proxy& proxy, server_loop& watched) noexcept : owner(&proxy), loop(&watched) {}
    void on_loop_end(server_loop& ending) noexcept override;
    reverse_proxy* owner;
    server_loop* loop;
  };
  /// Watches the end of `served` unless it is watched already.
  void watch(server_loop& served);
  /// Ends the exchanges and tunnels of `ending`'s requests, or everything (end_all()) when it was
  /// the last server_loop served.
  void end_loop(server_loop& ending) noexcept;
  detail::proxy_tunnel& take_tunnel();
  std::string_view peer_ip(const request_context& req) noexcept;
  /// Frees what the last trim_interval did not need (see proxy_options::trim_interval).
  void trim() noexcept;

  struct peer_entry {
    std::uint64_t id = 0;
    std::array<char, 64> text{};
    std::uint8_t size = 0;
    bool valid = false;
  };

  proxy_options options_;
  proxy_stats stats_{};
  std::unique_ptr<taut::client> client_;
  std::vector<std::unique_ptr<detail::proxy_exchange>> all_;
  std::vector<detail::proxy_exchange*> free_;
  std::vector<std::unique_ptr<detail::proxy_tunnel>> tunnels_;  // idle ones are reused
  std::array<peer_entry, 64> peers_{};                          // client addresses by connection id
  std::optional<transport::timer> trim_timer_;
  std::size_t peak_in_use_ = 0;  // per-request states in use at once since the last trim
  std::vector<std::unique_ptr<loop_end>> loop_ends_;  // one per server_loop served, on one loop
};

/// Whether `name` is a hop-by-hop field a proxy never forwards (RFC 9110 section 7.6.1: Connection,
/// Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade; and Trailer, Proxy-Authorization
/// and Proxy-Authenticate, which are for the next hop, as Go's ReverseProxy treats them). A
/// response's Trailer is rebuilt rather than passed on: the proxy announces the trailer fields it
/// forwards itself.
[[nodiscard]] bool is_hop_by_hop(std::string_view name) noexcept;

}  // namespace taut
