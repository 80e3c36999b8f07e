// taut::server: binds every address on the caller's thread (so errors come back from start()),
// then runs one server_loop per thread over its own listeners, until stop() and the drain.
#include "taut/server.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "taut/transport/event_loop.hpp"
#include "taut/transport/listener.hpp"
#include "taut/transport/stream.hpp"

namespace taut {

struct server::worker {
  std::unique_ptr<transport::event_loop> loop;
  std::unique_ptr<request_handler> own_handler;
  std::unique_ptr<server_loop> unit;
  std::thread thread;
  std::atomic<std::size_t> open{0};
};

server::server(request_handler& handler, server_options options)
    : options_(std::move(options)), shared_handler_(&handler) {}

server::server(handler_factory factory, server_options options)
    : options_(std::move(options)), factory_(std::move(factory)) {}

server::~server() {
  if (started_.load(std::memory_order_acquire) && !joined_) {
    stop_now();
    wait();
  }
  remove_signal_handlers_for(this);
  // A hard stop left its loops without running them again: deferred responses completed since
  // (from other threads, posted to the loop) run here, on connections already closed, and free
  // them; those completed after this are the caller's to avoid (see deferred_response).
  if (workers_ != nullptr) {
    for (unsigned i = 0; i < thread_count_; ++i) {
      if (workers_[i].unit == nullptr && workers_[i].loop != nullptr) {
        (void)workers_[i].loop->run_until_idle();
      }
    }
  }
  workers_.reset();  // each server_loop before its event_loop (member order)
}

namespace {

/// The address text of a Unix path option: "@name" is abstract, anything else a path.
transport::result<transport::address> parse_unix(std::string_view text) noexcept {
  if (text.starts_with("unix:")) return transport::address::parse(text);
  if (text.starts_with('@')) return transport::address::unix_abstract(text.substr(1));
  return transport::address::unix_path(text);
}

}  // namespace

std::error_code server::bind_all(std::vector<std::vector<transport::listener>>& per_thread,
                                 std::vector<std::vector<bool>>& per_thread_tls) {
  transport::listen_options listen_options;
  listen_options.backlog = options_.backlog;
  listen_options.reuse_port = thread_count_ > 1;
  listen_options.unix_mode = options_.unix_mode;

  auto bind_one = [&](const transport::address& at, std::string_view text) -> std::error_code {
    transport::listen_options options = listen_options;
    if (at.is_abstract()) options.unix_mode = -1;  // no file, no permission bits
    transport::result<transport::listener> first = transport::listener::listen(at, options);
    if (!first) {
      error_address_ = std::string(text);
      return first.error();
    }
    const transport::address actual = first->local_address();
    const bool tcp = actual.transport() == transport::transport_kind::tcp;
    const bool tls = options_.tls.has_value() && (tcp || options_.tls->tls_unix);
    for (unsigned i = 1; i < thread_count_; ++i) {
      // TCP: a socket per thread on the same port (SO_REUSEPORT; the kernel spreads the
      // connections). Unix sockets have no SO_REUSEPORT: the threads share one socket.
      transport::result<transport::listener> more =
          tcp ? transport::listener::listen(actual, options) : first->duplicate();
      if (!more) {
        error_address_ = std::string(text);
        return more.error();
      }
      per_thread[i].push_back(std::move(*more));
      per_thread_tls[i].push_back(tls);
    }
    per_thread[0].push_back(std::move(*first));
    per_thread_tls[0].push_back(tls);
    bound_.push_back(actual);
    bound_tls_.push_back(tls);
    return {};
  };

  for (const std::string& text : options_.listen) {
    const transport::result<transport::address> at = transport::address::parse(text);
    if (!at) {
      error_address_ = text;
      return at.error();
    }
    if (std::error_code ec = bind_one(*at, text)) return ec;
  }
  for (const std::string& text : options_.unix_paths) {
    const transport::result<transport::address> at = parse_unix(text);
    if (!at) {
      error_address_ = text;
      return at.error();
    }
    if (std::error_code ec = bind_one(*at, text)) return ec;
  }
  if (bound_.empty()) {
    error_address_.clear();
    return std::make_error_code(std::errc::invalid_argument);  // nothing to listen on
  }
  return {};
}

std::error_code server::make_tls_context() {
  tls_.reset();
  if (!options_.tls) return {};
  const transport::tls_server_options& settings = options_.tls->transport;
  transport::result<transport::tls_context> made = transport::tls_context::server(settings);
  if (made) {
    tls_ = std::move(*made);
    return {};
  }
  // Name the file that failed: the context reports only what went wrong, so load each
  // certificate alone until one fails the same way (start-up only, and only after a failure).
  const std::error_code ec = made.error();
  error_address_ = "tls";
  if (ec == transport::errc::tls_unavailable) return ec;
  error_address_.clear();
  for (const transport::tls_certificate& certificate : settings.certificates) {
    transport::tls_server_options alone = settings;
    alone.certificates = {certificate};
    if (transport::tls_context::server(alone)) continue;
    error_address_ =
        ec == transport::errc::tls_bad_key ? certificate.key_file : certificate.cert_file;
    break;
  }
  if (error_address_.empty() && !settings.certificates.empty()) {
    error_address_ = settings.certificates.front().cert_file;
  }
  return ec;
}

void server::choose_io_backend() {
  io_backend_ = transport::resolve_io_backend(options_.io);
  if (options_.io != transport::io_backend::automatic) {
    io_reason_ = "requested";
  } else if (io_backend_ == transport::io_backend::io_uring) {
    io_reason_ = "io_uring available";
  } else if (const std::error_code why = transport::io_uring_available()) {
    io_reason_ = "io_uring unavailable: " + why.message();
  } else {
    io_reason_ = "TAUT_IO=epoll";
  }
}

std::error_code server::start() {
  if (started_.load(std::memory_order_acquire)) {
    return std::make_error_code(std::errc::operation_in_progress);
  }
  transport::ignore_sigpipe();
  thread_count_ =
      options_.threads != 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  error_address_.clear();
  bound_.clear();

  // Everything that can fail happens here, on the caller's thread, before any thread starts.
  bound_tls_.clear();
  // The certificates first: a server that cannot speak TLS should not take its ports.
  if (std::error_code ec = make_tls_context()) return ec;
  std::vector<std::vector<transport::listener>> per_thread(thread_count_);
  std::vector<std::vector<bool>> per_thread_tls(thread_count_);
  if (std::error_code ec = bind_all(per_thread, per_thread_tls)) {
    bound_.clear();
    bound_tls_.clear();
    return ec;
  }
  choose_io_backend();
  transport::loop_options loop_options;
  // The option as given, not the resolved choice: an automatic choice may still fall back to
  // epoll for a loop whose ring cannot be made, and io_backend() reports what the loops run.
  loop_options.backend = options_.io;
  auto workers = std::make_unique<worker[]>(thread_count_);
  const std::size_t total = options_.max_connections;
  for (unsigned i = 0; i < thread_count_; ++i) {
    worker& w = workers[i];
    transport::result<std::unique_ptr<transport::event_loop>> loop =
        transport::event_loop::create(loop_options);
    if (!loop) {
      bound_.clear();
      return loop.error();
    }
    w.loop = std::move(*loop);
    if (w.loop->backend() != io_backend_) {
      io_backend_ = transport::io_backend::epoll;
      io_reason_ = "io_uring available, but a loop's ring could not be made";
    }
    request_handler* handler = shared_handler_;
    if (handler == nullptr) {
      w.own_handler = factory_ ? factory_(i) : nullptr;
      if (!w.own_handler) {
        bound_.clear();
        return std::make_error_code(std::errc::invalid_argument);
      }
      handler = w.own_handler.get();
    }
    server_loop_options unit_options;
    unit_options.connection = options_.connection;
    // Each thread takes an equal share of the limit (the kernel spreads connections evenly over
    // SO_REUSEPORT sockets); never 0, which would mean "no limit".
    unit_options.max_connections =
        total == 0 ? 0
                   : std::max<std::size_t>(1, total / thread_count_ + (i < total % thread_count_));
    unit_options.over_limit = options_.over_limit;
    unit_options.drain_timeout = options_.drain_timeout;
    unit_options.accept = options_.accept;
    unit_options.buffer_size = options_.buffer_size;
    unit_options.max_free_buffers = options_.max_free_buffers;
    unit_options.access_log_fd = options_.access_log ? options_.access_log_fd : -1;
    unit_options.access_log_flush_interval = options_.access_log_flush_interval;
    unit_options.access_log_errors = options_.access_log_errors;
    unit_options.on_error = options_.on_error;
    if (options_.tls) unit_options.tls_handshake_timeout = options_.tls->handshake_timeout;
    unit_options.on_tls_error = options_.on_tls_error;
    w.unit = std::make_unique<server_loop>(*w.loop, *handler, unit_options);
    w.unit->publish_open_connections(&w.open);
    for (std::size_t k = 0; k < per_thread[i].size(); ++k) {
      const transport::tls_context* tls = per_thread_tls[i][k] ? &*tls_ : nullptr;
      if (std::error_code ec = w.unit->add_listener(std::move(per_thread[i][k]), tls)) {
        bound_.clear();
        return ec;
      }
    }
  }

  workers_ = std::move(workers);
  joined_ = false;
  started_.store(true, std::memory_order_release);

  // SIGINT and SIGTERM go to the thread that installed the handlers, not to a loop thread.
  sigset_t blocked;
  sigset_t previous;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  for (unsigned i = 0; i < thread_count_; ++i) {
    workers_[i].thread = std::thread([this, i] { run_worker(workers_[i]); });
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return {};
}

void server::run_worker(worker& w) noexcept {
  transport::event_loop& loop = *w.loop;
  server_loop& unit = *w.unit;
  if (stop_requests_.load(std::memory_order_acquire) == 0) (void)loop.run();
  if (!hard_stop_.load(std::memory_order_acquire)) {
    // The drain ends when the last connection is gone, at the drain deadline (the server_loop
    // then closes what is left, but connections whose writers handlers hold stay open in its
    // count: waiting for them is the hard stop's wait, below), or at a hard stop.
    bool deadline_passed = false;
    transport::timer deadline(loop, [&deadline_passed, &loop] {
      deadline_passed = true;
      loop.stop();
    });
    deadline.arm_in(options_.drain_timeout);
    unit.begin_shutdown([&loop] { loop.stop(); });
    // run() returns when the drain is over, or when stop() is called again (hard stop). The
    // first run() may return at once for a stop() that came before this thread ran.
    while (!unit.drained() && !deadline_passed && !hard_stop_.load(std::memory_order_acquire)) {
      (void)loop.run();
    }
  }
  unit.flush_access_log();
  if (unit.drained()) return;
  // A hard stop does not wait for the handlers that hold response writers (a reverse_proxy
  // waiting up to its timeout for an upstream, a deferred_response): the connections are closed,
  // and the server_loop is destroyed here, on its thread, which hands the connections still
  // held to a context that outlives it (their writers' calls fail; the last one dropped frees
  // them). The per-thread handler goes too, as what it runs on this loop (a proxy's upstream
  // exchanges, cancelled) would otherwise never end: the loop does not run again.
  // At the drain's deadline, requests still unanswered are told 503 (end_drain); a hard stop
  // answers nothing more. The loop then runs a little (100 ms at most) for those answers to
  // leave: an io_uring stream closed with bytes queued closes once they are sent.
  if (hard_stop_.load(std::memory_order_acquire)) {
    unit.close_all();
  } else {
    unit.end_drain();
    for (int round = 0; round < 5 && !hard_stop_.load(std::memory_order_acquire); ++round) {
      if (loop.run_once(std::chrono::milliseconds(20)) == 0) break;
    }
  }
  w.unit.reset();
  w.own_handler.reset();
  w.open.store(0, std::memory_order_relaxed);
}

void server::wait() {
  if (!started_.load(std::memory_order_acquire) || joined_) return;
  for (unsigned i = 0; i < thread_count_; ++i) {
    if (workers_[i].thread.joinable()) workers_[i].thread.join();
  }
  joined_ = true;
}

std::error_code server::run() {
  if (std::error_code ec = start()) return ec;
  wait();
  return {};
}

void server::wake_all() noexcept {
  if (!started_.load(std::memory_order_acquire)) return;
  for (unsigned i = 0; i < thread_count_; ++i) workers_[i].loop->stop();
}

void server::stop() noexcept {
  if (stop_requests_.fetch_add(1, std::memory_order_acq_rel) > 0) {
    hard_stop_.store(true, std::memory_order_release);
  }
  wake_all();
}

void server::stop_now() noexcept {
  hard_stop_.store(true, std::memory_order_release);
  stop_requests_.fetch_add(1, std::memory_order_acq_rel);
  wake_all();
}

std::size_t server::open_connections() const noexcept {
  if (!started_.load(std::memory_order_acquire)) return 0;
  std::size_t total = 0;
  for (unsigned i = 0; i < thread_count_; ++i) {
    total += workers_[i].open.load(std::memory_order_relaxed);
  }
  return total;
}

// --- signals ------------------------------------------------------------------------------------

namespace {

std::atomic<server*> signal_target{nullptr};
bool handlers_installed = false;
struct sigaction previous_sigint {};
struct sigaction previous_sigterm {};

// C linkage for sigaction, and static: a function of C linkage keeps its plain name whatever
// namespace holds it (GCC exports it even from this unnamed one), where it would collide with an
// embedder's own on_stop_signal (tests/check_exported_symbols.cmake).
extern "C" {
static void on_stop_signal(int) {
  const int saved_errno = errno;
  if (server* target = signal_target.load(std::memory_order_acquire)) target->stop();
  errno = saved_errno;
}
}

}  // namespace

std::error_code install_signal_handlers(server& target) noexcept {
  transport::ignore_sigpipe();
  signal_target.store(&target, std::memory_order_release);
  if (handlers_installed) return {};
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (::sigaction(SIGINT, &action, &previous_sigint) != 0) return transport::errno_code(errno);
  if (::sigaction(SIGTERM, &action, &previous_sigterm) != 0) {
    const int error = errno;
    ::sigaction(SIGINT, &previous_sigint, nullptr);
    return transport::errno_code(error);
  }
  handlers_installed = true;
  return {};
}

void remove_signal_handlers() noexcept {
  signal_target.store(nullptr, std::memory_order_release);
  if (!handlers_installed) return;
  ::sigaction(SIGINT, &previous_sigint, nullptr);
  ::sigaction(SIGTERM, &previous_sigterm, nullptr);
  handlers_installed = false;
}

void server::remove_signal_handlers_for(server* target) noexcept {
  if (signal_target.load(std::memory_order_acquire) == target) remove_signal_handlers();
}

}  // namespace taut
