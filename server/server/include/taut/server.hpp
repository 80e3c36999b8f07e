// taut::server: an HTTP/1.1 server on N threads, each running its own event loop with its own
// listeners (an SO_REUSEPORT socket per TCP address, a shared descriptor per Unix socket), buffer
// pool, Date cache and connections, so nothing is locked or shared on the per-request path.
// Graceful shutdown on SIGINT/SIGTERM (install_signal_handlers), a connection limit, and an
// optional Common Log Format access log.
#pragma once

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "taut/connection.hpp"
#include "taut/server_loop.hpp"
#include "taut/transport/address.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/tls.hpp"

namespace taut {

/// HTTPS: the TLS settings of a server (see server_options::tls).
struct server_tls_options {
  /// Certificates (the first is the default; SNI picks among them), ALPN, session tickets, kTLS
  /// and cipher choices, as transport::tls_server_options describes them.
  transport::tls_server_options transport{};
  /// Time a new connection has to finish its TLS handshake; past it the connection is closed
  /// (there is nothing to answer on). The header timeout of the first request starts when the
  /// handshake ends.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  /// Whether Unix-socket listeners speak TLS too; by default they stay plain (a local socket is
  /// usually behind a TLS-terminating proxy).
  bool tls_unix = false;
};

/// How to run a server. Every field has a default; set listen and/or unix_paths.
struct server_options {
  /// Addresses to listen on, as transport::address::parse reads them: "127.0.0.1:8080",
  /// "[::1]:8080", "0.0.0.0:0" (an ephemeral port: see server::local_addresses()), and Unix
  /// forms too ("/run/app.sock", "@name").
  std::vector<std::string> listen{};
  /// Unix sockets to listen on: a filesystem path (a stale socket file is replaced, anything else
  /// is never deleted) or "@name" for a Linux abstract socket.
  std::vector<std::string> unix_paths{};
  /// Permission bits of Unix socket files (say 0660), set before listen(); -1 keeps the umask's.
  /// Abstract names have no file and ignore it.
  int unix_mode = -1;
  /// Pending connections the kernel queues per listener (capped by net.core.somaxconn).
  int backlog = 4096;
  /// Loop threads; 0 means std::thread::hardware_concurrency() (at least 1).
  unsigned threads = 0;
  /// Connections served at once, over all threads (each thread takes an equal share, at least 1);
  /// 0 means no limit. Past it, see over_limit.
  std::size_t max_connections = 10000;
  limit_policy over_limit = limit_policy::queue;
  /// After stop() (or SIGINT/SIGTERM), in-flight requests get this long to finish before their
  /// connections are closed hard (see stop_now(): then nothing more is waited for).
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(5);
  /// Common Log Format, one line per response, off by default; written to access_log_fd
  /// (standard output unless set) by each thread in whole-line batches, at least every
  /// access_log_flush_interval.
  bool access_log = false;
  int access_log_fd = STDOUT_FILENO;
  std::chrono::milliseconds access_log_flush_interval = std::chrono::seconds(1);
  /// Adds the refusal reason to each access-log line (see server_loop_options).
  bool access_log_errors = false;
  /// Called (on the loop thread that served it) for each request a connection refused itself,
  /// with the parse error code, offset and status in the record (see server_loop_options).
  /// Rejections otherwise leave no trace but their status in the access log.
  std::function<void(const connection_info& connection, const response_record& record)> on_error{};
  /// Timeouts and limits of every connection: header, body, idle, write and linger timeouts;
  /// header, body and pipeline limits (see connection_options for each default).
  connection_options connection{};
  /// Bytes per buffer block and blocks each thread keeps for reuse.
  std::size_t buffer_size = block_pool::default_block_size;
  std::size_t max_free_buffers = 1024;
  /// Accept batch and EMFILE back-off.
  transport::acceptor_options accept{};
  /// The event loops' I/O backend: automatic takes io_uring when the system offers it and epoll
  /// otherwise (or as the TAUT_IO environment variable says); an explicit io_uring that the
  /// system refuses makes start() fail with the reason (see transport::io_uring_available()).
  transport::io_backend io = transport::io_backend::automatic;
  /// Set: every TCP listener (and Unix one with tls_unix) speaks TLS, with one context made in
  /// start() and shared by every thread. A certificate or key that cannot be loaded makes start()
  /// fail with transport::errc::tls_bad_certificate or tls_bad_key (error_address() names the
  /// file); a build without OpenSSL fails with tls_unavailable.
  std::optional<server_tls_options> tls{};
  /// Called (on the loop thread) for each connection whose TLS handshake failed or timed out
  /// (std::errc::timed_out), before it is closed without an answer. Empty: not called (the
  /// failures are still counted in server_loop_stats).
  std::function<void(const connection_info& connection, std::error_code error)> on_tls_error{};
};

/// Makes the handler of one loop thread (0 to threads-1); called on the thread that calls
/// start().
using handler_factory = std::function<std::unique_ptr<request_handler>(unsigned thread_index)>;

/// The server. Construct, start() (binds every address, then starts the threads: binding errors
/// come back from start(), never as exceptions), and wait() until stop(); or run() for both.
///
///     my_handler handler;               // called from every thread at once: keep it immutable
///     taut::server server(handler, {.listen = {"127.0.0.1:8080"}});
///     taut::install_signal_handlers(server);
///     if (auto ec = server.run()) { std::fprintf(stderr, "%s: %s\n",
///                                   std::string(server.error_address()).c_str(),
///                                   ec.message().c_str()); return 1; }
///
/// Threading: every connection lives on one loop thread for its whole life; handlers run there.
/// With a shared handler, on_head/on_request are called from all threads concurrently; with a
/// handler_factory each thread has its own. stop() may be called from any thread and from a
/// signal handler.
class server {
 public:
  /// One handler for every thread; it must outlive the server and be safe to call concurrently.
  server(request_handler& handler, server_options options);
  /// A handler per thread, made by `factory` in start().
  server(handler_factory factory, server_options options);
  /// Stops (hard, if still running: no drain) and joins the threads.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds every listen address and Unix path on the calling thread, then starts the loop
  /// threads. Errors: std::errc::address_in_use, permission_denied, invalid_argument (and the
  /// transport's errc for an address that does not parse: missing_port, ...),
  /// too_many_files_open; error_address() names the address that failed. No listener at all is
  /// std::errc::invalid_argument. Calling start() twice is std::errc::operation_in_progress.
  std::error_code start();
  /// Blocks until every thread has stopped: after stop() and the drain, or stop_now().
  void wait();
  /// start(), then wait().
  std::error_code run();

  /// Graceful shutdown: every thread stops accepting (its listeners close, so new connections
  /// are refused), closes idle connections (write side first, then what the client still sends
  /// is read and dropped for up to linger_timeout, so a request already on the wire meets a
  /// clean close, never a reset), lets in-flight requests finish (answered with
  /// `Connection: close`) for up to drain_timeout, then closes the rest, answering 503 with
  /// `Connection: close` a request whose response had not begun. A second call stops at once.
  /// Any thread; async-signal-safe.
  void stop() noexcept;
  /// Closes every connection without draining. Any thread; async-signal-safe. A hard stop (this,
  /// a second stop(), or the end of drain_timeout) waits for no handler: each thread destroys
  /// its server_loop and its handler_factory's handler (a reverse_proxy's upstream exchanges end,
  /// cancelled; a shared reverse_proxy's too, through loop_end_watcher) and returns. Writers and
  /// deferred_responses another shared handler still holds fail harmlessly when used; complete or
  /// drop them before the server is destroyed.
  void stop_now() noexcept;
  /// Whether stop() or stop_now() was called.
  [[nodiscard]] bool stopping() const noexcept {
    return stop_requests_.load(std::memory_order_acquire) != 0;
  }

  /// What start() bound, in order: every `listen` address then every Unix path, with ephemeral
  /// ports resolved ("127.0.0.1:0" becomes "127.0.0.1:41234").
  [[nodiscard]] const std::vector<transport::address>& local_addresses() const noexcept {
    return bound_;
  }
  /// The text of the address the last failed start() could not bind or parse.
  [[nodiscard]] std::string_view error_address() const noexcept { return error_address_; }
  /// Loop threads (after start(): the resolved count).
  [[nodiscard]] unsigned threads() const noexcept { return thread_count_; }
  /// The I/O backend the loops run on (after start(): never automatic).
  [[nodiscard]] transport::io_backend io_backend() const noexcept { return io_backend_; }
  /// Why that backend, for the log line a server prints at start: "requested",
  /// "TAUT_IO=epoll", "io_uring available", "io_uring unavailable: <reason>", or (epoll)
  /// "io_uring available, but a loop's ring could not be made".
  [[nodiscard]] std::string_view io_backend_reason() const noexcept { return io_reason_; }
  /// Connections open now, summed over threads (each thread publishes its count as it changes).
  [[nodiscard]] std::size_t open_connections() const noexcept;
  /// Whether local_addresses()[index] speaks TLS.
  [[nodiscard]] bool is_tls(std::size_t index) const noexcept {
    return index < bound_tls_.size() && bound_tls_[index];
  }
  /// Which record layer the TLS listeners use, from transport::tls_context::offload_status():
  /// "ktls", or "no kTLS: <why>" for OpenSSL's user-space record layer; empty without TLS.
  [[nodiscard]] std::string_view tls_offload_status() const noexcept {
    return tls_ ? tls_->offload_status() : std::string_view{};
  }
  [[nodiscard]] const server_options& options() const noexcept { return options_; }

 private:
  struct worker;

  std::error_code bind_all(std::vector<std::vector<transport::listener>>& per_thread,
                           std::vector<std::vector<bool>>& per_thread_tls);
  std::error_code make_tls_context();
  void run_worker(worker& w) noexcept;
  void choose_io_backend();
  void wake_all() noexcept;
  static void remove_signal_handlers_for(server* target) noexcept;

  server_options options_;
  request_handler* shared_handler_ = nullptr;
  handler_factory factory_;
  unsigned thread_count_ = 0;
  std::unique_ptr<worker[]> workers_;
  std::vector<transport::address> bound_;
  std::vector<bool> bound_tls_;
  std::optional<transport::tls_context> tls_;
  std::string error_address_;
  transport::io_backend io_backend_ = transport::io_backend::automatic;
  std::string io_reason_;
  std::atomic<unsigned> stop_requests_{0};
  std::atomic<bool> hard_stop_{false};
  std::atomic<bool> started_{false};
  bool joined_ = false;
};

/// Installs SIGINT and SIGTERM handlers that call target.stop() (so a second signal stops at
/// once) and ignores SIGPIPE. One server at a time; the server's destructor (or
/// remove_signal_handlers()) restores the previous handlers.
std::error_code install_signal_handlers(server& target) noexcept;
void remove_signal_handlers() noexcept;

}  // namespace taut
