// The server on one event loop: accepts from any mix of listeners (TCP, Unix, memory), runs each
// connection's sans-I/O state machine over its transport stream, enforces a connection limit,
// drains gracefully, writes an access log, and lets a response be finished from another thread.
// taut::server runs one of these per thread; tests run one on a manual clock, on one thread.
//
// Threading rule: a server_loop, its connections and every handler call (on_head, on_request,
// body_sink and upgrade callbacks) belong to the thread that runs its event_loop. A handler that
// answers later keeps its response only as a deferred_response, whose complete() may be called
// from any thread: the work is posted to the loop (event_loop::post) and runs there.
//
// Upgrades: when a handler answers with response_writer::upgrade(), its upgrade_handler's
// on_upgrade() receives a `transport::stream*` as its `void* stream`, unwatched: move from it
// during the call to keep the connection (and watch it on the same loop); otherwise it is closed.
#pragma once

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
#include <type_traits>
#include <utility>
#include <vector>

#include "taut/buffer_pool.hpp"
#include "taut/connection.hpp"
#include "taut/connection_info.hpp"
#include "taut/date_cache.hpp"
#include "taut/transport/acceptor.hpp"
#include "taut/transport/address.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/listener.hpp"
#include "taut/transport/small_fn.hpp"
#include "taut/transport/stream.hpp"
#include "taut/transport/tls.hpp"

namespace taut {

class server_loop;
namespace detail {
class connection_driver;
class access_log_writer;
struct deferred_state;
struct driver_pool;
class logging_handler;
class loop_context;
}  // namespace detail

/// What happens to a connection that arrives while a loop serves max_connections already.
enum class limit_policy : std::uint8_t {
  /// Stop accepting until a connection closes: new ones wait in the kernel's listen backlog and
  /// are served in turn (the kernel drops SYNs once the backlog is full; clients retry).
  queue,
  /// Accept and close at once (a TCP reset): the client learns immediately that it was refused.
  reject,
};

/// Options of one server_loop. Defaults suit a public server.
struct server_loop_options {
  /// Timeouts and limits of every connection (see connection_options for their defaults).
  connection_options connection{};
  /// Connections served at once by this loop; 0 means no limit.
  std::size_t max_connections = 0;
  limit_policy over_limit = limit_policy::queue;
  /// After begin_shutdown(), connections still open this long later are closed hard.
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(5);
  /// Accept batch size and the back-off after EMFILE (see transport::acceptor_options).
  transport::acceptor_options accept{};
  /// Bytes per buffer block (input, output, 8 KiB) and blocks kept for reuse when released.
  std::size_t buffer_size = block_pool::default_block_size;
  std::size_t max_free_buffers = 1024;
  /// Common Log Format lines go to this descriptor; -1 (the default) logs nothing. Lines are
  /// gathered in a per-loop buffer and written with one write() each time it fills or every
  /// access_log_flush_interval, so several loops may share a descriptor without a lock and
  /// without interleaving lines.
  int access_log_fd = -1;
  std::size_t access_log_buffer_bytes = 64 * 1024;
  std::chrono::milliseconds access_log_flush_interval = std::chrono::seconds(1);
  /// Appends to each access-log line why the connection refused the request, ` <code>@<offset>`
  /// (`missing_host@17`, `timed_out@12`) or ` -`: the parser's error code and the byte offset in
  /// the message where it went wrong. Off by default (plain Common Log Format).
  bool access_log_errors = false;
  /// Called on the loop's thread for each request the connection refused itself (a parse error,
  /// 408, 413, a bad body, ...) with the connection and the response_record: its status, error
  /// code and offset. Keep it short; it runs inside the loop. Empty: not called.
  std::function<void(const connection_info& connection, const response_record& record)> on_error{};
  /// Time a connection of a TLS listener (or a stream adopted with a TLS context) has to finish
  /// its handshake; past it the connection is closed without an answer. The first request's
  /// header timeout starts when the handshake ends.
  std::chrono::milliseconds tls_handshake_timeout = std::chrono::seconds(10);
  /// Called on the loop's thread for each connection whose TLS handshake failed (the stream's
  /// error: transport::errc::tls_handshake_failed, tls_protocol_too_old, ...) or timed out
  /// (std::errc::timed_out), just before it is closed. Empty: not called.
  std::function<void(const connection_info& connection, std::error_code error)> on_tls_error{};
};

/// A response finished later, from any thread. A handler that must block (a database call, a
/// computation) makes one from its response_writer, hands it to a worker and returns; the worker
/// calls complete() once with what to write, and that work runs on the connection's loop thread,
/// where the connection lives (posted with event_loop::post):
///
///     void on_request(server_request& request, response_writer response) override {
///       std::string key(request.target());  // views die with this call: copy what you need
///       pool.submit([key, done = deferred_response(std::move(response))]() mutable {
///         std::string value = lookup(key);   // on the worker
///         done.complete([value = std::move(value)](response_writer& w) { w.send(200, value); });
///       });
///     }
///
/// A deferred_response dropped without complete() answers a plain 500 (if its head was not
/// written: the fields set before are dropped), on the loop thread. The server keeps a connection,
/// and its loop, alive until its deferred responses are completed or dropped: complete them before
/// the process exits. (taut::server's hard stop does not wait for them: see server::stop_now.)
class deferred_response {
 public:
  deferred_response() noexcept = default;
  /// On the loop thread, inside a handler call of a server_loop: takes over `writer`. Anywhere
  /// else the result is invalid and `writer` is dropped at once (a 500).
  explicit deferred_response(response_writer&& writer);
  deferred_response(deferred_response&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)) {}
  deferred_response& operator=(deferred_response&& other) noexcept;
  deferred_response(const deferred_response&) = delete;
  deferred_response& operator=(const deferred_response&) = delete;
  ~deferred_response();

  /// Whether complete() may still be called.
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

  /// Any thread, at most once: runs `finish(response_writer&)` on the loop thread in a coming
  /// iteration, then sends what it wrote. An exception from `finish` is caught there (the writer
  /// is dropped: a plain 500 if the head was not written). Allocates the posted task.
  template <class F>
  requires std::is_invocable_v < std::decay_t<F>
  &, response_writer& > void complete(F&& finish) {
    detail::deferred_state* state = std::exchange(state_, nullptr);
    if (state == nullptr) return;
    post(state, [state, fn = std::decay_t<F>(std::forward<F>(finish))]() mutable {
      run(state, [&fn](response_writer& writer) { fn(writer); });
    });
  }
  /// complete() with writer.send(status, body, content_type); copies its arguments.
  void send(int status, std::string_view body, std::string_view content_type = {});

 private:
  using finisher = transport::small_fn<void(response_writer&)>;
  template <class F>
  static void post(detail::deferred_state* state, F&& work) {
    loop_of(state).post(std::forward<F>(work));
  }
  static transport::event_loop& loop_of(detail::deferred_state* state) noexcept;
  static void run(detail::deferred_state* state, finisher finish) noexcept;
  static void drop(detail::deferred_state* state);

  detail::deferred_state* state_ = nullptr;
};

/// What a shared handler runs on a server_loop's event loop beyond its connections (a
/// reverse_proxy's upstream exchanges, pooled connections and timers), to be ended with that
/// server_loop: taut::server destroys its server_loops at a hard stop and never runs their loops
/// again, so nothing else would end it. Register with server_loop::watch_end(); on_loop_end() is
/// then called once, on the loop thread, from the server_loop's destructor, once every connection
/// is closed. Destroying either of the two first unlinks them.
class loop_end_watcher {
 public:
  loop_end_watcher() noexcept = default;
  loop_end_watcher(const loop_end_watcher&) = delete;
  loop_end_watcher& operator=(const loop_end_watcher&) = delete;

  /// `ending` is being destroyed (its event loop still lives): end what runs there now.
  virtual void on_loop_end(server_loop& ending) noexcept = 0;

 protected:
  /// Protected: a watcher is never deleted through this base. Virtual all the same, since the
  /// friendship below makes GCC count it as reachable (-Wnon-virtual-dtor in an embedder's build).
  virtual ~loop_end_watcher();

 private:
  friend class server_loop;
  server_loop* watched_ = nullptr;
};

/// Counters of one loop, read on its thread.
struct server_loop_stats {
  std::size_t open_connections = 0;  // accepted or adopted, not yet freed
  std::uint64_t accepted = 0;        // connections taken from listeners and adopt()
  std::uint64_t rejected = 0;        // closed at once by limit_policy::reject
  std::uint64_t requests = 0;        // request heads parsed, over closed connections
  std::uint64_t limit_pauses = 0;    // times accepting paused at max_connections
  std::uint64_t hard_closed = 0;     // closed by close_all() or the drain deadline
  std::uint64_t accept_errors = 0;   // accept failures (EMFILE, ECONNABORTED, ...)
  std::uint64_t file_sends = 0;      // stream::sendfile calls that sent file bodies

  /// TLS handshakes completed, failed (a bad, refused or unfinished hello: the stream reported
  /// an error) and cut by tls_handshake_timeout.
  std::uint64_t tls_handshakes = 0;
  std::uint64_t tls_handshake_failures = 0;
  std::uint64_t tls_handshake_timeouts = 0;
};

/// An HTTP/1.1 server on one event loop that the caller runs. It owns the loop's buffer pool,
/// Date cache and connection_context; the handler is called on the loop thread.
///
///     auto loop = transport::event_loop::create().value();
///     my_handler handler;
///     server_loop server(*loop, handler);
///     server.add_listener(transport::listener::listen("127.0.0.1:8080").value());
///     loop->run();
///
/// Everything here runs on the loop's thread (before run() starts, or from a callback of the
/// loop); only deferred_response::complete() and event_loop::post()/stop() cross threads.
/// Destroying a server_loop hard-closes its connections, on its thread and before its event_loop
/// (not from inside one of its callbacks). Handlers may still hold response writers and
/// deferred_responses of it then (a reverse_proxy waiting for its upstream, destroyed later):
/// their calls fail as on any closed connection, and what they point to is freed when the last
/// of them is dropped; a deferred_response must be completed or dropped while the event_loop
/// lives, and run there, or that memory stays.
class server_loop {
 public:
  using drained_callback = transport::small_fn<void()>;

  server_loop(transport::event_loop& loop, request_handler& handler,
              const server_loop_options& options = {});
  ~server_loop();
  server_loop(const server_loop&) = delete;
  server_loop& operator=(const server_loop&) = delete;

  /// Accepts connections from `source` (TCP, Unix or memory listener) until begin_shutdown().
  /// With `tls` (a server context, copied), each accepted stream speaks TLS
  /// (transport::tls_accept).
  std::error_code add_listener(transport::listener&& source,
                               const transport::tls_context* tls = nullptr);
  /// Serves an already-connected stream (one end of transport::memory_pair(), a socket accepted
  /// elsewhere), as the server side of TLS when `tls` is given. Counts against max_connections;
  /// returns false (closing `stream`) while shutting down or when the stream cannot be watched.
  bool adopt(transport::stream&& stream, const transport::tls_context* tls = nullptr);

  /// Graceful shutdown: closes the listeners (new connections are refused), closes idle
  /// connections (write side at once, then what the client sends is read and dropped for up to
  /// linger_timeout: see connection::begin_shutdown), lets each in-flight request finish and
  /// answers it with `Connection: close`, and closes hard whatever is still open drain_timeout
  /// later, answering 503 to a request whose response had not begun. Calls
  /// `on_drained` on the loop thread once no connection is left (at once if none is); never
  /// from the destructor, which closes what is left without reporting a drain.
  void begin_shutdown(drained_callback on_drained = {});
  /// Closes every connection now (the stream is closed; handlers' writers become invalid).
  void close_all() noexcept;
  /// The end of a drain (begin_shutdown's deadline calls it): close_all(), but a request whose
  /// response had not begun (its handler still working, a proxy's upstream stalled) is first
  /// answered 503 with `Connection: close`, as far as the socket takes it at once.
  void end_drain() noexcept;
  [[nodiscard]] bool shutting_down() const noexcept { return shutting_down_; }
  /// No connection left (connections waiting for their deferred responses count).
  [[nodiscard]] bool drained() const noexcept { return stats_.open_connections == 0; }

  /// Keeps `*counter` equal to open_connections() (a relaxed store each time a connection opens
  /// or closes), for another thread to read; nullptr stops it.
  void publish_open_connections(std::atomic<std::size_t>* counter) noexcept;

  /// Calls watcher.on_loop_end() when this server_loop is destroyed (see loop_end_watcher). A
  /// watcher watches one server_loop at a time: watching another first stops watching the last.
  void watch_end(loop_end_watcher& watcher);

  /// Writes the buffered access-log lines now (also done on a timer and when shutting down).
  void flush_access_log() noexcept;

  [[nodiscard]] const server_loop_stats& stats() const noexcept { return stats_; }
  [[nodiscard]] std::size_t open_connections() const noexcept { return stats_.open_connections; }
  /// Whether accepting is paused at the connection limit.
  [[nodiscard]] bool at_limit() const noexcept { return limit_paused_; }
  [[nodiscard]] transport::event_loop& loop() const noexcept { return *loop_; }
  [[nodiscard]] connection_context& context() noexcept;
  [[nodiscard]] const server_loop_options& options() const noexcept { return options_; }
  [[nodiscard]] block_pool& buffers() noexcept { return pool_; }
  [[nodiscard]] date_cache& dates() noexcept { return date_; }

 private:
  friend class detail::connection_driver;
  friend class detail::logging_handler;
  friend class deferred_response;
  friend class loop_end_watcher;

  struct listening {
    listening(server_loop& owner, const transport::tls_context* tls);
    std::optional<transport::tls_context> tls;
    transport::acceptor acceptor;
  };

  void on_accept(transport::stream&& stream, const transport::tls_context* tls) noexcept;
  bool wrap_tls(transport::stream& stream, const transport::tls_context& tls) noexcept;
  void on_accept_error(std::error_code error) noexcept;
  bool serve(transport::stream&& stream) noexcept;
  void after_open() noexcept;
  void publish() noexcept;
  void on_driver_freed(detail::connection_driver& driver) noexcept;
  void on_stream_closed() noexcept;
  void on_drain_deadline() noexcept;
  void close_all(bool answer_unanswered) noexcept;
  void on_log_timer() noexcept;
  void tick() noexcept;
  void check_drained() noexcept;
  void unwatch_end(loop_end_watcher& watcher) noexcept;

  transport::event_loop* loop_;
  server_loop_options options_;
  block_pool pool_;
  date_cache date_;
  std::unique_ptr<detail::logging_handler> logging_;  // wraps the handler when logging
  std::unique_ptr<detail::loop_context> context_;     // outlives this loop while writers do
  std::unique_ptr<detail::access_log_writer> log_;
  std::unique_ptr<detail::driver_pool> drivers_;
  std::vector<std::unique_ptr<listening>> listeners_;
  transport::timer drain_timer_;
  transport::timer log_timer_;
  drained_callback on_drained_;
  std::vector<loop_end_watcher*> end_watchers_;
  std::atomic<std::size_t>* published_open_ = nullptr;
  transport::time_point last_tick_{};
  server_loop_stats stats_;
  std::size_t open_streams_ = 0;  // connections holding a descriptor (limit accounting)
  std::uint64_t next_id_ = 1;
  bool shutting_down_ = false;
  bool limit_paused_ = false;
  bool drained_called_ = false;
};

}  // namespace taut
