// server_loop: listeners, the connection limit, graceful drain, the access log and deferred
// responses, on one event loop. The per-connection work is the driver's (driver.cpp).
#include "taut/server_loop.hpp"

#include <chrono>
#include <new>
#include <utility>

#include "server_detail.hpp"

namespace taut {

const connection_info* current_connection() noexcept {
  return detail::current_driver();
}

// --- deferred_response --------------------------------------------------------------------------

deferred_response::deferred_response(response_writer&& writer) {
  detail::connection_driver* driver = detail::current_driver();
  if (driver == nullptr || !writer.valid()) {
    response_writer dropped = std::move(writer);
    return;
  }
  state_ = new detail::deferred_state{&driver->owner().loop(), driver, std::move(writer)};
}

deferred_response& deferred_response::operator=(deferred_response&& other) noexcept {
  if (this != &other) {
    if (state_ != nullptr) drop(std::exchange(state_, nullptr));
    state_ = std::exchange(other.state_, nullptr);
  }
  return *this;
}

deferred_response::~deferred_response() {
  if (state_ != nullptr) drop(std::exchange(state_, nullptr));
}

void deferred_response::send(int status, std::string_view body, std::string_view content_type) {
  complete([status, body = std::string(body), content_type = std::string(content_type)](
               response_writer& writer) { writer.send(status, body, content_type); });
}

transport::event_loop& deferred_response::loop_of(detail::deferred_state* state) noexcept {
  return *state->loop;
}

void deferred_response::run(detail::deferred_state* state, finisher finish) noexcept {
  state->driver->complete(*state, finish);  // may free the driver, never the state
  delete state;
}

void deferred_response::drop(detail::deferred_state* state) {
  // The writer belongs to the loop thread: let it go there, whichever thread drops it.
  post(state, [state] { run(state, {}); });
}

// --- server_loop --------------------------------------------------------------------------------

server_loop::listening::listening(server_loop& owner, const transport::tls_context* tls_context)
    : tls(tls_context != nullptr ? std::optional<transport::tls_context>(*tls_context)
                                 : std::nullopt),
      acceptor(
          owner.loop(),
          [&owner, this](transport::stream&& accepted) {
            owner.on_accept(std::move(accepted), tls ? &*tls : nullptr);
          },
          [&owner](std::error_code error) { owner.on_accept_error(error); },
          owner.options_.accept) {}

namespace {
request_handler& chosen(std::unique_ptr<detail::logging_handler>& logging,
                        request_handler& handler) {
  if (logging) return *logging;
  return handler;
}
}  // namespace

server_loop::server_loop(transport::event_loop& loop, request_handler& handler,
                         const server_loop_options& options)
    : loop_(&loop),
      options_(options),
      pool_(options.buffer_size, options.max_free_buffers),
      date_(std::chrono::system_clock::now()),
      logging_(options.access_log_fd >= 0 ? std::make_unique<detail::logging_handler>(handler)
                                          : nullptr),
      context_(std::make_unique<detail::loop_context>(chosen(logging_, handler), pool_, date_,
                                                      options.connection)),
      log_(options.access_log_fd >= 0 ? std::make_unique<detail::access_log_writer>(
                                            options.access_log_fd, options.access_log_buffer_bytes)
                                      : nullptr),
      drivers_(std::make_unique<detail::driver_pool>()),
      drain_timer_(loop, [this] { on_drain_deadline(); }),
      log_timer_(loop, [this] { on_log_timer(); }),
      last_tick_(loop.now()) {
  context_->set_time(loop.now());
  context_->set_wake(&detail::connection_driver::on_wake);
  if (log_ != nullptr) log_timer_.arm_in(options_.access_log_flush_interval);
}

server_loop::~server_loop() {
  drained_called_ = true;  // no callback from a destructor
  for (auto& entry : listeners_) (void)entry->acceptor.stop().close();
  listeners_.clear();
  close_all();
  flush_access_log();
  // What shared handlers run on this loop ends with it (their writers go too, so the
  // connections they held are freed below). One at a time: a watcher's call may end another.
  while (!end_watchers_.empty()) {
    loop_end_watcher* watcher = end_watchers_.back();
    end_watchers_.pop_back();
    watcher->watched_ = nullptr;
    watcher->on_loop_end(*this);
  }
  // Every connection is closed now. Those whose writers are all gone are freed here, among them
  // any whose last writer was dropped outside the loop's calls and that waits for its timer to
  // free it: that timer must not outlive the driver it is in.
  for (detail::connection_driver* driver = drivers_->first; driver != nullptr;) {
    detail::connection_driver* next = driver->next;
    if (driver->conn().outstanding_writers() == 0) on_driver_freed(*driver);
    driver = next;
  }
  if (drivers_->first == nullptr) return;
  // Handlers still hold writers of the others (a proxy waiting for its upstream, a deferred
  // response): the writers point into those connections and into the context, so both stay,
  // cut off from this loop, until the last writer is dropped.
  for (detail::connection_driver* driver = drivers_->first; driver != nullptr;
       driver = driver->next) {
    driver->orphan();
  }
  context_->set_wake(&detail::connection_driver::on_orphan_wake);
  context_->orphans = std::move(drivers_);
  (void)context_.release();  // owned by its drivers now
}

connection_context& server_loop::context() noexcept {
  return *context_;
}

std::error_code server_loop::add_listener(transport::listener&& source,
                                          const transport::tls_context* tls) {
  if (shutting_down_) return std::make_error_code(std::errc::operation_canceled);
  auto entry = std::make_unique<listening>(*this, tls);
  if (std::error_code ec = entry->acceptor.start(std::move(source))) return ec;
  if (limit_paused_) entry->acceptor.pause();
  listeners_.push_back(std::move(entry));
  return {};
}

bool server_loop::adopt(transport::stream&& stream, const transport::tls_context* tls) {
  if (shutting_down_) {
    (void)stream.close();
    return false;
  }
  if (tls != nullptr && !wrap_tls(stream, *tls)) return false;
  const bool served = serve(std::move(stream));
  if (served) after_open();
  return served;
}

void server_loop::on_accept(transport::stream&& stream,
                            const transport::tls_context* tls) noexcept {
  if (shutting_down_) {
    (void)stream.close();
    return;
  }
  const std::size_t limit = options_.max_connections;
  if (limit != 0 && open_streams_ >= limit && options_.over_limit == limit_policy::reject) {
    ++stats_.rejected;
    stream.abort();
    return;
  }
  // The TLS session is made on the loop that serves the connection; its handshake runs inside
  // the driver's first reads and writes.
  if (tls != nullptr && !wrap_tls(stream, *tls)) return;
  if (serve(std::move(stream))) after_open();
}

bool server_loop::wrap_tls(transport::stream& stream, const transport::tls_context& tls) noexcept {
  transport::result<transport::stream> wrapped = transport::tls_accept(std::move(stream), tls);
  if (!wrapped) {
    // No session could be made (out of memory): nothing was said on the socket yet.
    ++stats_.tls_handshake_failures;
    if (stream.is_open()) stream.abort();
    return false;
  }
  stream = std::move(*wrapped);
  return true;
}

void server_loop::after_open() noexcept {
  const std::size_t limit = options_.max_connections;
  if (limit == 0 || open_streams_ < limit || options_.over_limit != limit_policy::queue ||
      limit_paused_) {
    return;
  }
  limit_paused_ = true;
  ++stats_.limit_pauses;
  for (auto& entry : listeners_) entry->acceptor.pause();
}

void server_loop::on_accept_error(std::error_code) noexcept {
  ++stats_.accept_errors;
}

bool server_loop::serve(transport::stream&& stream) noexcept {
  tick();
  detail::connection_driver* driver = nullptr;
  try {
    driver = drivers_->pool.make(*this, std::move(stream), next_id_++, loop_->now());
  } catch (...) {
    return false;  // out of memory: the stream closes with the moved-from temporary
  }
  ++stats_.accepted;
  ++stats_.open_connections;
  ++open_streams_;
  publish();
  drivers_->link(*driver);
  if (!driver->start()) {
    driver->hard_close();
    return false;
  }
  return true;
}

void server_loop::on_stream_closed() noexcept {
  --open_streams_;
  const std::size_t limit = options_.max_connections;
  if (limit_paused_ && (limit == 0 || open_streams_ < limit)) {
    limit_paused_ = false;
    if (!shutting_down_) {
      for (auto& entry : listeners_) entry->acceptor.resume();
    }
  }
}

void server_loop::on_driver_freed(detail::connection_driver& driver) noexcept {
  stats_.requests += driver.conn().requests();
  drivers_->unlink(driver);
  drivers_->pool.destroy(&driver);
  --stats_.open_connections;
  publish();
  check_drained();
}

void server_loop::publish_open_connections(std::atomic<std::size_t>* counter) noexcept {
  published_open_ = counter;
  publish();
}

void server_loop::publish() noexcept {
  if (published_open_ != nullptr) {
    published_open_->store(stats_.open_connections, std::memory_order_relaxed);
  }
}

void server_loop::begin_shutdown(drained_callback on_drained) {
  if (on_drained) on_drained_ = on_drained;
  if (shutting_down_) {
    check_drained();
    return;
  }
  shutting_down_ = true;
  // Closing the listening sockets makes the kernel refuse new connections (and reset those
  // still in the backlog), instead of letting them wait for a server that will not accept.
  for (auto& entry : listeners_) (void)entry->acceptor.stop().close();
  listeners_.clear();
  drain_timer_.arm_in(options_.drain_timeout);
  for (detail::connection_driver* driver = drivers_->first; driver != nullptr;) {
    detail::connection_driver* next = driver->next;
    driver->begin_shutdown();  // may free the driver (an idle connection closes at once)
    driver = next;
  }
  flush_access_log();
  check_drained();
}

void server_loop::watch_end(loop_end_watcher& watcher) {
  if (watcher.watched_ == this) return;
  if (watcher.watched_ != nullptr) watcher.watched_->unwatch_end(watcher);
  end_watchers_.push_back(&watcher);
  watcher.watched_ = this;
}

void server_loop::unwatch_end(loop_end_watcher& watcher) noexcept {
  std::erase(end_watchers_, &watcher);
  watcher.watched_ = nullptr;
}

loop_end_watcher::~loop_end_watcher() {
  if (watched_ != nullptr) watched_->unwatch_end(*this);
}

void server_loop::close_all() noexcept {
  close_all(/*answer_unanswered=*/false);
}

void server_loop::end_drain() noexcept {
  close_all(/*answer_unanswered=*/true);
}

void server_loop::close_all(bool answer_unanswered) noexcept {
  for (detail::connection_driver* driver = drivers_->first; driver != nullptr;) {
    detail::connection_driver* next = driver->next;
    if (driver->stream_open()) {
      ++stats_.hard_closed;
      driver->hard_close(answer_unanswered);
    }
    driver = next;
  }
}

void server_loop::check_drained() noexcept {
  if (!shutting_down_ || drained_called_ || stats_.open_connections != 0) return;
  drained_called_ = true;
  drain_timer_.cancel();
  flush_access_log();
  const drained_callback callback = on_drained_;
  callback();
}

void server_loop::on_drain_deadline() noexcept {
  end_drain();
}

void server_loop::flush_access_log() noexcept {
  if (log_ != nullptr) log_->flush();
}

void server_loop::on_log_timer() noexcept {
  flush_access_log();
  log_timer_.arm_in(options_.access_log_flush_interval);
}

void server_loop::tick() noexcept {
  const transport::time_point now = loop_->now();
  if (now == last_tick_) return;
  last_tick_ = now;
  context_->set_time(now);
  date_.update(std::chrono::system_clock::now());
}

}  // namespace taut
