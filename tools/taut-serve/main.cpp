// taut-serve: the demo server. Serves the routes of demo_app.hpp on TCP addresses and Unix sockets
// with taut::server, until SIGINT or SIGTERM (graceful: in-flight requests finish). Flags are
// described by `taut-serve --help`; a bad flag or address is a one-line error and exit status 2.

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "demo_app.hpp"
#include "taut/client.hpp"
#include "taut/mux.hpp"
#include "taut/path.hpp"
#include "taut/proxy.hpp"
#include "taut/server.hpp"
#include "taut/transport/address.hpp"
#include "taut/transport/tls.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

constexpr std::string_view help_text = R"(usage: taut-serve [options]

The taut demo server. Routes:
  GET  /                  a short HTML page listing the routes
  GET  /hello/{name}      "Hello, <name>!" (text/plain)
  GET  /hello?name=NAME   the same, from the query
  POST /echo              the request as JSON: {"method","target","headers":[[name,value],..],"body"}
  GET  /static/{path...}  files under --root (Range, If-Modified-Since, no escape from the root)
  GET  /healthz           "ok"
  GET  /plaintext         "Hello, World!" (text/plain)
  GET  /clock?n=N         server-sent events: the UTC time once a second, N events [3], then end

Listening (repeatable; default --listen 127.0.0.1:8080 when neither is given):
  --listen HOST:PORT      TCP: 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080, localhost:8080;
                          port 0 picks a free port (printed at start)
  --unix PATH             Unix socket: a file path (a stale socket file is replaced), or @NAME
                          for a Linux abstract socket

HTTPS (TLS 1.2 and 1.3, ALPN http/1.1; no client certificates):
  --tls-cert FILE         certificate chain (PEM) for TLS on every --listen address; give
  --tls-key FILE          each with its private key (PEM); repeat the pair for more names
                          (SNI picks by the certificate's DNS names; the first pair is the
                          default)
  --tls-unix              --unix sockets speak TLS too (they stay plain by default)
  --tls-handshake-timeout T  time a client has to finish its handshake [10s]

Serving:
  --threads N             loop threads; 0 (the default) means one per core, here %u
  --io epoll|io_uring     the I/O backend [io_uring when the system offers it, else epoll]
  --root DIR              directory served under /static/ (default: the working directory)
  --access-log            one Common Log Format line per response on standard output (a
                          Unix-socket client is logged by the socket's path)

Reverse proxy (repeatable):
  --proxy URL             forward every request to URL (http://HOST:PORT[/PATH],
                          https://HOST[:PORT][/PATH], unix:/PATH):
                          hop-by-hop fields removed, X-Forwarded-For/-Host/-Proto and Via added,
                          the request written anew from its parsed form, 502 when the upstream
                          fails, 504 when it times out (--proxy-timeout)
  --proxy PREFIX=URL      forward requests under PREFIX (/api) to URL without PREFIX (as nginx's
                          proxy_pass with a URI); the demo routes serve the rest
  --proxy-timeout T       deadline of one upstream exchange [60s]
  --proxy-connections N   connections per upstream and loop thread [256]
  --proxy-pipeline N      up to N requests in flight on one upstream connection (HTTP/1.1
                          pipelining of GET, HEAD and other idempotent requests without a
                          streamed body; those of one loop iteration leave in one write);
                          only for upstreams that pipeline correctly [1: none]
  --proxy-upgrades        tunnel Upgrade requests (WebSocket) to the upstream after its 101
  --proxy-cacert FILE     trust the CA certificates of the PEM file FILE for https upstreams
                          (instead of the system's store); the upstream's certificate must
                          name the host of its URL, which is also sent in SNI

Limits (defaults in brackets):
  --max-connections N               connections served at once [10000]; 0: no limit
  --max-body BYTES                  largest request body [1M]; suffixes K, M, G (binary)
  --max-header-bytes BYTES          largest header section [32K] (431 beyond)
  --max-requests-per-connection N   requests on one keep-alive connection [1000]; 0: no limit

Timeouts (a number of seconds, or with a unit: 500ms, 10s, 2m; defaults in brackets):
  --header-timeout T      time to receive a request head [10s] (408)
  --body-timeout T        time to receive a body, or between streamed pieces [30s]
  --idle-timeout T        keep-alive connection left idle [60s]
  --write-timeout T       client not reading the response [30s]
  --drain-timeout T       on SIGINT/SIGTERM, time given to in-flight requests [5s]

  -h, --help              print this help and exit
  --version               print "taut-serve <version>" and exit

A first SIGINT or SIGTERM stops accepting and lets in-flight requests finish (up to
--drain-timeout), then exits with status 0; a second one stops at once. Exit status: 0 after a
signal, 1 when an address cannot be bound or a certificate or key cannot be loaded, 2 for a
bad flag or address.
)";

struct usage_error {
  std::string message;
};

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<std::uint64_t> parse_bytes(std::string_view text) {
  std::uint64_t multiplier = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K':
        multiplier = 1024;
        break;
      case 'm':
      case 'M':
        multiplier = 1024 * 1024;
        break;
      case 'g':
      case 'G':
        multiplier = 1024 * 1024 * 1024;
        break;
      default:
        break;
    }
    if (multiplier != 1) text.remove_suffix(1);
  }
  const auto value = parse_unsigned(text);
  if (!value || *value > UINT64_MAX / multiplier) return std::nullopt;
  return *value * multiplier;
}

/// "10", "10s", "500ms", "2m", "1.5s".
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  double scale = 1000.0;  // seconds by default
  if (text.ends_with("ms")) {
    scale = 1.0;
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
  } else if (text.ends_with("m")) {
    scale = 60000.0;
    text.remove_suffix(1);
  } else if (text.ends_with("h")) {
    scale = 3600000.0;
    text.remove_suffix(1);
  }
  if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  const double ms = value * scale;
  if (!(ms >= 0) || ms > 1e12) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms + 0.5));
}

struct config {
  taut::server_options server;
  taut::serve::demo_options demo;
  struct proxy_route {
    std::string prefix;  // "" for every request
    taut::url upstream;
  };
  std::vector<proxy_route> proxies;
  std::chrono::milliseconds proxy_timeout = std::chrono::seconds(60);
  std::uint64_t proxy_connections = 256;
  std::uint64_t proxy_pipeline = 1;
  bool proxy_upgrades = false;
  std::string proxy_cacert;
  std::vector<std::string> tls_certs;
  std::vector<std::string> tls_keys;
  bool tls_unix = false;
  std::optional<std::chrono::milliseconds> tls_handshake_timeout;
  bool help = false;
  bool version = false;
};

config parse_args(int argc, char** argv) {
  config out;
  out.server.threads = 0;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view flag = args[i];
    std::optional<std::string_view> inline_value;
    if (flag.starts_with("--")) {
      const std::size_t eq = flag.find('=');
      if (eq != std::string_view::npos) {
        inline_value = flag.substr(eq + 1);
        flag = flag.substr(0, eq);
      }
    }
    const auto value = [&]() -> std::string_view {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw usage_error{std::string(flag) + " needs a value"};
      return args[++i];
    };
    const auto bad = [&](std::string_view v, std::string_view what) {
      return usage_error{"bad value \"" + std::string(v) + "\" for " + std::string(flag) + ": " +
                         std::string(what)};
    };
    const auto count = [&]() {
      const std::string_view v = value();
      const auto n = parse_unsigned(v);
      if (!n) throw bad(v, "expected a whole number");
      return *n;
    };
    const auto bytes = [&]() {
      const std::string_view v = value();
      const auto n = parse_bytes(v);
      if (!n) throw bad(v, "expected a byte count such as 65536, 64K or 1M");
      return *n;
    };
    const auto duration = [&]() {
      const std::string_view v = value();
      const auto d = parse_duration(v);
      if (!d) throw bad(v, "expected a duration such as 10, 10s, 500ms or 2m");
      return *d;
    };

    taut::connection_options& conn = out.server.connection;
    if (flag == "-h" || flag == "--help") {
      out.help = true;
    } else if (flag == "--version") {
      if (inline_value) throw usage_error{"--version takes no value"};
      out.version = true;
    } else if (flag == "--listen") {
      const std::string_view v = value();
      const auto parsed = taut::transport::address::parse_tcp(v);
      if (!parsed) throw bad(v, parsed.error().message());
      out.server.listen.emplace_back(v);
    } else if (flag == "--unix") {
      const std::string_view v = value();
      const auto parsed = v.starts_with("@") ? taut::transport::address::unix_abstract(v.substr(1))
                                             : taut::transport::address::unix_path(v);
      if (!parsed || v == "@")
        throw bad(v, parsed ? "empty abstract name" : parsed.error().message());
      out.server.unix_paths.emplace_back(v);
    } else if (flag == "--threads") {
      const std::string_view v = value();
      const auto n = parse_unsigned(v);
      // 0 is taut::server_options' own "one per core".
      if (!n || *n > 1024) throw bad(v, "expected 0 (one per core) to 1024");
      out.server.threads = static_cast<unsigned>(*n);
    } else if (flag == "--io") {
      const std::string_view v = value();
      if (v == "epoll") {
        out.server.io = taut::transport::io_backend::epoll;
      } else if (v == "io_uring") {
        out.server.io = taut::transport::io_backend::io_uring;
      } else {
        throw bad(v, "expected epoll or io_uring");
      }
    } else if (flag == "--root") {
      out.demo.root = std::string(value());
    } else if (flag == "--access-log") {
      if (inline_value) throw usage_error{"--access-log takes no value"};
      out.server.access_log = true;
    } else if (flag == "--max-connections") {
      out.server.max_connections = count();
    } else if (flag == "--max-body") {
      conn.max_body_bytes = bytes();
      out.demo.max_body = conn.max_body_bytes;
    } else if (flag == "--max-header-bytes") {
      const std::uint64_t n = bytes();
      if (n < 64) throw bad(std::to_string(n), "at least 64");
      conn.parse.max_header_bytes = n;
    } else if (flag == "--max-requests-per-connection") {
      const std::uint64_t n = count();
      if (n > UINT32_MAX) throw bad(std::to_string(n), "too large");
      conn.max_requests = static_cast<std::uint32_t>(n);
    } else if (flag == "--header-timeout") {
      conn.header_timeout = duration();
    } else if (flag == "--body-timeout") {
      conn.body_timeout = duration();
    } else if (flag == "--idle-timeout") {
      conn.idle_timeout = duration();
    } else if (flag == "--write-timeout") {
      conn.write_timeout = duration();
    } else if (flag == "--drain-timeout") {
      out.server.drain_timeout = duration();
    } else if (flag == "--tls-cert") {
      out.tls_certs.emplace_back(value());
    } else if (flag == "--tls-key") {
      out.tls_keys.emplace_back(value());
    } else if (flag == "--tls-unix") {
      if (inline_value) throw usage_error{"--tls-unix takes no value"};
      out.tls_unix = true;
    } else if (flag == "--tls-handshake-timeout") {
      out.tls_handshake_timeout = duration();
    } else if (flag == "--proxy") {
      const std::string_view v = value();
      std::string_view prefix;
      std::string_view url = v;
      if (v.starts_with("/")) {
        const std::size_t eq = v.find('=');
        if (eq == std::string_view::npos) throw bad(v, "say PREFIX=URL or URL");
        prefix = v.substr(0, eq);
        url = v.substr(eq + 1);
        while (prefix.size() > 1 && prefix.ends_with("/")) prefix.remove_suffix(1);
      }
      auto parsed = taut::parse_url(url);
      if (!parsed) throw bad(v, "not an http://, https:// or unix: URL");
      out.proxies.push_back({std::string(prefix == "/" ? "" : prefix), std::move(*parsed)});
    } else if (flag == "--proxy-timeout") {
      out.proxy_timeout = duration();
    } else if (flag == "--proxy-upgrades") {
      if (inline_value) throw usage_error{"--proxy-upgrades takes no value"};
      out.proxy_upgrades = true;
    } else if (flag == "--proxy-connections") {
      out.proxy_connections = count();
    } else if (flag == "--proxy-pipeline") {
      out.proxy_pipeline = count();
      if (out.proxy_pipeline == 0 || out.proxy_pipeline > 64) {
        throw bad(std::to_string(out.proxy_pipeline), "say 1 to 64");
      }
    } else if (flag == "--proxy-cacert") {
      const std::string_view v = value();
      // Loaded once here so that a bad file stops the start, not every proxied request.
      const auto loaded = taut::transport::tls_context::client({.ca_file = std::string(v)});
      if (!loaded) throw bad(v, loaded.error().message());
      out.proxy_cacert = std::string(v);
    } else if (flag.starts_with("-")) {
      throw usage_error{"unknown flag " + std::string(flag) + " (see --help)"};
    } else {
      throw usage_error{"unexpected argument \"" + std::string(flag) + "\" (see --help)"};
    }
  }
  if (out.tls_certs.size() != out.tls_keys.size()) {
    throw usage_error{out.tls_certs.size() > out.tls_keys.size()
                          ? "--tls-cert needs its --tls-key (give them in pairs)"
                          : "--tls-key needs its --tls-cert (give them in pairs)"};
  }
  if (!out.tls_certs.empty()) {
    taut::server_tls_options tls;
    for (std::size_t i = 0; i < out.tls_certs.size(); ++i) {
      tls.transport.certificates.push_back({out.tls_certs[i], out.tls_keys[i]});
    }
    tls.tls_unix = out.tls_unix;
    if (out.tls_handshake_timeout) tls.handshake_timeout = *out.tls_handshake_timeout;
    out.server.tls = std::move(tls);
  } else if (out.tls_unix || out.tls_handshake_timeout) {
    throw usage_error{std::string(out.tls_unix ? "--tls-unix" : "--tls-handshake-timeout") +
                      " needs --tls-cert and --tls-key"};
  }
  if (out.server.listen.empty() && out.server.unix_paths.empty()) {
    out.server.listen.emplace_back("127.0.0.1:8080");
  }
  return out;
}

/// One loop thread's handler under --proxy: a mux whose routes are the proxies, falling back to
/// the demo routes.
class proxy_app final : public taut::request_handler {
 public:
  proxy_app(const config& cfg, taut::mux& demo) {
    bool everything = false;
    for (const config::proxy_route& route : cfg.proxies) {
      taut::proxy_options options{.upstream = route.upstream.origin,
                                  .strip_prefix = route.prefix,
                                  .max_body = cfg.server.connection.max_body_bytes,
                                  .timeout = cfg.proxy_timeout};
      options.client.max_connections_per_origin = cfg.proxy_connections;
      options.client.max_idle_per_origin = cfg.proxy_connections;
      options.client.pipeline_depth = cfg.proxy_pipeline;
      options.upgrades = cfg.proxy_upgrades;
      options.client.tls.ca_file = cfg.proxy_cacert;
      std::string_view path = route.upstream.target;
      while (!path.empty() && path.back() == '/') path.remove_suffix(1);
      options.upstream_path = std::string(path);
      proxies_.push_back(std::make_unique<taut::reverse_proxy>(std::move(options)));
      if (route.prefix.empty()) {
        everything = true;
        mux_.handle("/", proxies_.back()->handler());
      } else {
        mux_.handle(route.prefix + "/", proxies_.back()->handler());
        mux_.handle(route.prefix, proxies_.back()->handler());
      }
    }
    demo_ = everything ? nullptr : &demo;
  }
  ~proxy_app() override {
    proxies_.clear();  // each on this loop's thread, before the loop (see taut::reverse_proxy)
  }

  taut::body_mode on_head(taut::server_request& request) override {
    return route(request).on_head(request);
  }
  void on_request(taut::server_request& request, taut::response_writer response) override {
    route(request).on_request(request, std::move(response));
  }

 private:
  taut::request_handler& route(taut::server_request& request) {
    if (demo_ == nullptr) return mux_;
    // An absolute-form target ("http://x/up/a", RFC 9112 section 3.2.2) is routed by its path,
    // as the mux routes it.
    std::string_view target = request.target();
    if (request.head().target_form == taut::target_form::absolute) {
      if (const auto parts = taut::split_absolute_form(target)) target = parts->path_and_query;
    }
    for (const auto& p : proxies_) {
      const std::string_view prefix = p->options().strip_prefix;
      if (target.starts_with(prefix) &&
          (target.size() == prefix.size() || target[prefix.size()] == '/' ||
           target[prefix.size()] == '?')) {
        return mux_;
      }
    }
    return *demo_;
  }

  taut::mux mux_;
  taut::mux* demo_ = nullptr;
  std::vector<std::unique_ptr<taut::reverse_proxy>> proxies_;
};

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  try {
    cfg = parse_args(argc, argv);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "taut-serve: %s\n", e.message.c_str());
    return exit_usage;
  }
  if (cfg.version) {
    std::printf("taut-serve %s\n", TAUT_VERSION);
    return exit_ok;
  }
  if (cfg.help) {
    std::printf(help_text.data(), std::max(1u, std::thread::hardware_concurrency()));
    return exit_ok;
  }

  taut::mux app;
  try {
    taut::serve::add_demo_routes(app, cfg.demo);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "taut-serve: --root %s: %s\n", cfg.demo.root.c_str(),
                 e.code().message().c_str());
    return exit_usage;
  }

  // With --proxy, each loop thread gets its own proxies (a client and its pool live on one loop)
  // in a mux of its own; the demo routes serve what no prefix takes.
  taut::handler_factory per_thread;
  if (!cfg.proxies.empty()) {
    per_thread = [&cfg, &app](unsigned) -> std::unique_ptr<taut::request_handler> {
      return std::make_unique<proxy_app>(cfg, app);
    };
  }
  if (cfg.server.access_log && cfg.server.tls) {
    // Handshake failures leave no access-log line (no request): say them on standard error.
    cfg.server.on_tls_error = [](const taut::connection_info& connection, std::error_code ec) {
      const auto peer = connection.peer_address();
      std::fprintf(stderr, "taut-serve: TLS handshake with %s failed: %s\n",
                   peer ? peer->to_string().c_str() : "?", ec.message().c_str());
    };
  }
  taut::server server =
      per_thread ? taut::server(per_thread, cfg.server) : taut::server(app, cfg.server);
  if (const std::error_code ec = server.start()) {
    std::fprintf(stderr, "taut-serve: %s: %s\n", std::string(server.error_address()).c_str(),
                 ec.message().c_str());
    return ec == std::errc::invalid_argument ? exit_usage : exit_failure;
  }
  if (const std::error_code ec = taut::install_signal_handlers(server)) {
    std::fprintf(stderr, "taut-serve: signal handlers: %s\n", ec.message().c_str());
    server.stop_now();
    server.wait();
    return exit_failure;
  }
  const std::vector<taut::transport::address>& bound = server.local_addresses();
  for (std::size_t i = 0; i < bound.size(); ++i) {
    const taut::transport::address& at = bound[i];
    const std::string text = at.to_string();
    const bool tcp = at.transport() == taut::transport::transport_kind::tcp;
    if (!server.is_tls(i)) {
      std::fprintf(
          stderr,
          tcp ? "taut-serve: listening on http://%s/\n" : "taut-serve: listening on unix:%s\n",
          text.c_str());
      continue;
    }
    // Which record layer carries the bytes: the kernel's (kTLS, TCP only) or OpenSSL's.
    const std::string_view offload = server.tls_offload_status();
    // "ktls if the kernel loads its tls module": the context asks for kTLS and the kernel decides.
    const std::string path = tcp && offload.starts_with("ktls")
                                 ? "kTLS send" + std::string(offload.substr(4))
                                 : "OpenSSL user-space records (" +
                                       (tcp ? std::string(offload) : "no kTLS on Unix sockets") +
                                       ")";
    std::fprintf(stderr,
                 tcp ? "taut-serve: listening on https://%s/ (TLS, %s)\n"
                     : "taut-serve: listening on unix:%s (TLS, %s)\n",
                 text.c_str(), path.c_str());
  }
  const bool ring = server.io_backend() == taut::transport::io_backend::io_uring;
  std::fprintf(stderr, "taut-serve: I/O on %s (%s%s%s)\n",
               taut::transport::to_string(server.io_backend()),
               std::string(server.io_backend_reason()).c_str(), ring ? "; " : "",
               ring ? taut::transport::io_uring_mode() : "");
  std::fprintf(stderr, "taut-serve: %u threads, serving /static/ from %s; Ctrl-C stops\n",
               server.threads(), cfg.demo.root.c_str());
  server.wait();
  std::fprintf(stderr, "taut-serve: stopped\n");
  return exit_ok;
}
