// The connection driver: the life of one server connection on its loop, from accept to free.
//
// Every readiness notification, timer expiry and deferred completion ends up in drive(), which
// asks the connection what it wants and does it until nothing more can happen now: write the
// queued output (one writev of up to 16 blocks), shut down the write side, read into the
// connection's buffer, close, or hand the stream to an upgrade handler. Then the deadline the
// connection asks for goes on the loop's timer, or, once the stream is closed and no handler
// holds a response writer, the driver gives itself back to the loop's pool.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <utility>

#include "server_detail.hpp"
#include "taut/transport/tls.hpp"

namespace taut::detail {

namespace {
thread_local connection_driver* current = nullptr;
constexpr std::size_t max_write_pieces = 16;
// Reads and writes one connection may do in one turn before the loop serves the others: a client
// that pipelines without pause (and reads as fast) cannot hold the loop; it continues in the next
// iteration.
constexpr int max_rounds_per_turn = 64;
}  // namespace

// An idle keep-alive connection costs this object plus a timer-heap slot (8 bytes): the budget
// is 0.5 KiB of user-space memory per idle connection (nginx: about 0.5 KiB, h2o: about 1 KiB).
static_assert(sizeof(connection_driver) <= 320, "keep the per-connection footprint small");

connection_driver* current_driver() noexcept {
  return current;
}

current_scope::current_scope(connection_driver* driver) noexcept : previous_(current) {
  current = driver;
}

current_scope::~current_scope() {
  current = previous_;
}

connection_driver::connection_driver(server_loop& owner, transport::stream&& stream,
                                     std::uint64_t id, time_point now) noexcept
    : connection_info(owner, stream_, id),
      conn_(owner.context(), now, this),
      stream_(std::move(stream)),
      timer_(owner.loop()) {
  timer_.set_callback([this] { on_timer(); });
}

connection_driver::~connection_driver() {
  conn_.abort();  // a response cut short is reported while this observer still lives
  conn_.set_observer(nullptr);
  if (log_ != nullptr) log_close();
}

bool connection_driver::start() noexcept {
  if (const transport::tls_state tls = transport::tls_info(stream_); tls.is_tls) {
    tls_ = true;
    handshaking_ = !tls.handshake_done;
    // The timer holds the handshake's deadline until the handshake ends: nothing else arms it
    // meanwhile (no handler has run, so no writer can wake it, and no read makes progress).
    if (handshaking_) timer_.arm_at(owner_->loop().now() + owner_->options_.tls_handshake_timeout);
  }
  if (owner_->log_ != nullptr) log_open();
  if (owner_->log_ != nullptr || owner_->options_.on_error) conn_.set_observer(this);
  const std::error_code ec =
      stream_.watch(owner_->loop(), [this](transport::readiness events) { on_ready(events); });
  return !ec;
}

void connection_driver::on_ready(transport::readiness events) noexcept {
  if (transport::has(events, transport::readiness::hangup)) hangup_ = true;
  if (transport::has(events, transport::readiness::readable)) read_drained_ = false;
  drive();
}

void connection_driver::on_timer() noexcept {
  timer_due_ = true;
  drive();
}

void connection_driver::begin_shutdown() noexcept {
  if (stream_closed_) return;
  shutdown_requested_ = true;
  drive();
}

void connection_driver::hard_close(bool answer_unanswered) noexcept {
  if (stream_closed_) return;
  abort_requested_ = true;
  answer_requested_ = answer_unanswered;
  drive();
}

void connection_driver::drive() noexcept {
  if (busy_) {
    again_ = true;  // called back from inside a connection call: the outer pump runs again
    return;
  }
  busy_ = true;
  {
    current_scope scope(this);
    owner_->tick();
    do {
      again_ = false;
      pump(owner_->loop().now());
    } while (again_);
  }
  busy_ = false;
  settle();  // may free this driver: nothing after it
}

void connection_driver::on_wake(void* driver) noexcept {
  auto& self = *static_cast<connection_driver*>(driver);
  if (self.busy_) {
    self.again_ = true;  // inside drive() or complete(): their pump runs again before they return
    return;
  }
  // A timer, another connection's handler: send at the end of this loop iteration (the timer
  // fires in the next pass over the timers), so that every write made until then leaves in one
  // writev; or, once the stream is closed and this was the last writer, free the driver.
  self.woken_ = true;
  const time_point now = self.owner_->loop().now();
  if (!self.timer_.armed() || self.timer_.deadline() > now) self.timer_.arm_at(now);
}

void connection_driver::orphan() noexcept {
  timer_.cancel();
  woken_ = false;
  owner_ = nullptr;
}

void connection_driver::on_orphan_wake(void* driver) noexcept {
  auto& self = *static_cast<connection_driver*>(driver);
  if (self.conn_.outstanding_writers() != 0) return;
  // Called last in the dropped writer's release: nothing touches the driver or the context after.
  auto& context = static_cast<loop_context&>(self.conn_.context());
  driver_pool& orphans = *context.orphans;
  orphans.unlink(self);
  orphans.pool.destroy(&self);
  if (orphans.first == nullptr) delete &context;
}

void connection_driver::complete(deferred_state& state,
                                 transport::small_fn<void(response_writer&)> finish) noexcept {
  if (owner_ == nullptr) {
    // The server_loop is gone and the connection closed: every call of `finish` fails, and
    // dropping the writer may free this driver.
    try {
      finish(state.writer);
    } catch (...) {
      // Nothing was written; nothing is owed to a closed connection.
    }
    response_writer done = std::move(state.writer);
    return;
  }
  busy_ = true;
  {
    current_scope scope(this);
    owner_->tick();
    try {
      finish(state.writer);
    } catch (...) {
      // Dropping the writer below answers 500 if nothing was written, else cuts the response.
    }
    { response_writer done = std::move(state.writer); }
    // A request whose turn came with this answer waits for the owner's next call (handlers start
    // only there, where current_connection() is set up); this is one, so it starts now rather
    // than a loop pass later from the timer: pump() calls on_timer() if the deadline is now.
    timer_due_ = true;
    do {
      again_ = false;
      pump(owner_->loop().now());
    } while (again_);
  }
  busy_ = false;
  settle();
}

void connection_driver::pump(time_point now) noexcept {
  deadline_known_ = false;
  if (stream_closed_) return;
  if (abort_requested_) {
    abort_requested_ = false;
    // A request whose answer never began (its handler still working) is told 503 with
    // `Connection: close` rather than meeting a silent close: sent as far as the stream takes
    // it now, as nothing is waited for any more.
    if (std::exchange(answer_requested_, false) && !handshaking_ &&
        conn_.answer_unanswered(503, now)) {
      while (conn_.wants().write && write_some(now)) {
      }
      (void)stream_.shutdown_write();
      // Closing with request bytes unread would make the close a reset, which can discard the
      // 503 before the client reads it; a client sending faster than this still meets one.
      (void)stream_.discard_unread(256 * 1024);
    }
    conn_.abort();
  }
  if (shutdown_requested_) {
    shutdown_requested_ = false;
    conn_.begin_shutdown(now);
  }
  if (std::exchange(woken_, false) && conn_.wants().write && stream_.writable()) {
    (void)write_some(now);
  }
  // The timer is lazy (see settle): it may fire before the connection's current deadline, which
  // the first round's wants() tells.
  bool timer_check = false;
  if (std::exchange(timer_due_, false)) {
    if (!handshaking_) {
      timer_check = true;
    } else if (now >= timer_.deadline()) {
      ++owner_->stats_.tls_handshake_timeouts;
      handshake_failed(std::make_error_code(std::errc::timed_out));
    }
  }
  for (int round = 0;; ++round) {
    if (round == max_rounds_per_turn) {
      timer_.arm_at(owner_->loop().now());  // fires in the next iteration, after the others
      return;
    }
    const connection_wants wants = conn_.wants();
    if (std::exchange(timer_check, false) && now >= wants.deadline) {
      conn_.on_timer(now);
      continue;  // ask again: the timer may have changed everything
    }
    if (wants.close) {
      close_stream();
      return;
    }
    if (wants.upgrade) {
      hand_over();
      return;
    }
    bool progress = false;
    if (wants.write && stream_.writable()) progress = write_some(now);
    if (wants.shutdown_write && !write_shut_) {
      write_shut_ = true;
      (void)stream_.shutdown_write();
    }
    const bool read_tried = wants.read && !read_drained_ && stream_.readable();
    if (read_tried) progress = read_some(now) || progress;
    if (!progress) {
      // Nothing happened to the connection since `wants`, unless a read was tried: read_buffer()
      // may give up for want of memory, and a read that found nothing gives the buffer back.
      // settle() arms the timer with the deadline known here rather than asking again.
      known_deadline_ = wants.deadline;
      if (read_tried) {
        const connection_wants after = conn_.wants();
        if (after.close) continue;
        known_deadline_ = after.deadline;
      }
      deadline_known_ = true;
      return;
    }
  }
}

bool connection_driver::write_some(time_point now) noexcept {
  std::array<std::string_view, max_write_pieces> pieces;
  const std::size_t count = conn_.output(pieces);
  if (count == 0) return send_file_part(now);
  std::array<transport::const_buffer, max_write_pieces> parts;
  for (std::size_t i = 0; i < count; ++i) parts[i] = pieces[i];
  const transport::io_result sent = stream_.writev({parts.data(), count});
  if (sent.done()) {
    conn_.commit_write(sent.bytes, now);
    return true;
  }
  if (sent.failed()) {
    conn_.abort();  // the peer is gone: nothing more can be delivered
    return true;
  }
  return false;
}

bool connection_driver::send_file_part(time_point now) noexcept {
  const file_segment file = conn_.pending_file();
  if (file.fd < 0) return false;
  // Bounded so one connection's large file does not hold the loop (and the socket buffer limits
  // a single call anyway).
  constexpr std::uint64_t max_part = 4 * 1024 * 1024;
  std::uint64_t offset = file.offset;
  transport::io_result sent =
      stream_.sendfile(file.fd, offset, static_cast<std::size_t>(std::min(file.length, max_part)));
  if (sent.failed() && (sent.error_value == EINVAL || sent.error_value == ENOSYS)) {
    // A file or stream sendfile(2) does not support: copy a piece through user space.
    std::array<char, 16 * 1024> buffer;  // NOLINT: filled by pread
    const ssize_t got =
        ::pread(file.fd, buffer.data(),
                static_cast<std::size_t>(std::min<std::uint64_t>(file.length, buffer.size())),
                static_cast<off_t>(file.offset));
    sent = got < 0 ? transport::io_result::failure(errno)
                   : stream_.write({buffer.data(), static_cast<std::size_t>(got)});
    if (got == 0) sent = transport::io_result::transferred(0);
  } else {
    ++owner_->stats_.file_sends;
  }
  if (sent.done() && sent.bytes > 0) {
    conn_.commit_file(sent.bytes, now);
    return true;
  }
  if (sent.failed() || sent.done()) {
    // The peer is gone, or the file ended early (done with nothing sent): the declared length
    // cannot be met, and only closing tells the client the body was cut short.
    conn_.abort();
    return true;
  }
  return false;
}

bool connection_driver::read_some(time_point now) noexcept {
  const std::span<char> into = conn_.read_buffer();
  if (into.empty()) return false;
  const transport::io_result got = stream_.read(into);
  if (handshaking_) {
    // Before the first request bytes reach the connection; and a read that finished the
    // handshake and then failed (the client's Finished, then its FIN without close_notify) is an
    // established connection's failure, not the handshake's.
    check_handshake(now);
    if (handshaking_ && got.failed()) {
      ++owner_->stats_.tls_handshake_failures;
      handshake_failed(got.error());
      return true;
    }
  }
  switch (got.status) {
    case transport::io_status::done:
      // A socket read that comes up short emptied the kernel's buffer: edge-triggered epoll
      // reports the next bytes (or the peer's FIN) as a new event, so skip the read that would
      // only say EAGAIN. Memory pipes may deliver a byte at a time while more waits; and a
      // hang-up already reported raises no new event: read until EOF then.
      // A TLS read returns one record at a time, so a short one may leave more in the socket.
      if (got.bytes < into.size() && !hangup_ && !tls_ &&
          stream_.kind() != transport::transport_kind::memory) {
        read_drained_ = true;
      }
      conn_.commit_read(got.bytes, now);
      return true;
    case transport::io_status::eof:
      conn_.receive_eof(now);
      return true;
    case transport::io_status::error:
      // A TLS peer that closes without close_notify (most HTTP clients) ends its side like a
      // plain EOF: HTTP's own framing tells a cut request from a whole one.
      if (got.error() == transport::errc::tls_truncated) {
        conn_.receive_eof(now);
        return true;
      }
      conn_.abort();
      return true;
    case transport::io_status::would_block:
      // Nothing came after all: let the connection give back the block read_buffer() lent for
      // it, or a connection waiting for its first byte would hold 8 KiB for nothing.
      conn_.commit_read(0, now);
      break;
  }
  return false;
}

void connection_driver::check_handshake(time_point now) noexcept {
  if (!transport::tls_info(stream_).handshake_done) return;
  handshaking_ = false;
  ++owner_->stats_.tls_handshakes;
  conn_.restart_header_timer(now);
}

void connection_driver::handshake_failed(std::error_code error) noexcept {
  handshaking_ = false;
  if (owner_->options_.on_tls_error) {
    try {
      owner_->options_.on_tls_error(*this, error);
    } catch (...) {
      // A failing hook must not take the loop down; the connection closes either way.
    }
  }
  // Nothing can be answered without a session: close (an alert OpenSSL wrote, such as
  // protocol_version, stays ahead of the FIN).
  conn_.abort();
}

void connection_driver::close_stream() noexcept {
  timer_.cancel();
  if (log_ != nullptr) log_close();
  (void)stream_.close();
  stream_closed_ = true;
  owner_->on_stream_closed();
}

void connection_driver::hand_over() noexcept {
  timer_.cancel();
  if (log_ != nullptr) log_close();
  stream_.unwatch();
  conn_.take_over(&stream_);  // the upgrade handler may move the stream out
  if (stream_.is_open()) (void)stream_.close();
  stream_closed_ = true;
  owner_->on_stream_closed();
}

void connection_driver::settle() noexcept {
  if (stream_closed_) {
    // Handlers still holding response writers point into the connection: keep it until the
    // last one lets go (its deferred completion runs drive() again).
    if (conn_.outstanding_writers() == 0) owner_->on_driver_freed(*this);
    return;
  }
  // A lazy timer: a keep-alive connection's deadline moves later with every request, and moving
  // the timer each time would cost two heap operations per request. Leave it armed at the
  // earlier time; when it fires early, pump() finds nothing due and this re-arms it.
  if (handshaking_) {
    // The timer keeps the handshake's deadline (see start).
    if (!timer_.armed()) timer_.arm_at(timer_.deadline());
    return;
  }
  const time_point deadline = deadline_known_ ? known_deadline_ : conn_.wants().deadline;
  deadline_known_ = false;
  if (deadline == time_point::max()) return;
  if (!timer_.armed() || deadline < timer_.deadline()) timer_.arm_at(deadline);
}

}  // namespace taut::detail
