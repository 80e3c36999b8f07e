// The inside of server_loop: the per-connection driver that moves bytes between a transport
// stream and a sans-I/O connection, the pools it comes from, and the access log.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "taut/connection.hpp"
#include "taut/server_loop.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/stream.hpp"

namespace taut::detail {

/// Fixed-size objects on a free list, grown a chunk at a time and never shrunk: after warm-up,
/// making and destroying one costs no allocation. One thread.
template <class T, std::size_t ChunkSize = 64>
class object_pool {
 public:
  object_pool() = default;
  object_pool(const object_pool&) = delete;
  object_pool& operator=(const object_pool&) = delete;

  template <class... Args>
  T* make(Args&&... args) {
    if (free_ == nullptr) grow();
    slot* s = free_;
    free_ = s->next;
    ++in_use_;
    return ::new (static_cast<void*>(s->storage)) T(std::forward<Args>(args)...);
  }
  void destroy(T* object) noexcept {
    object->~T();
    slot* s = ::new (static_cast<void*>(object)) slot;
    s->next = free_;
    free_ = s;
    --in_use_;
  }
  [[nodiscard]] std::size_t in_use() const noexcept { return in_use_; }

 private:
  union slot {
    slot() noexcept : next(nullptr) {}
    slot* next;
    alignas(T) unsigned char storage[sizeof(T)];
  };
  void grow() {
    auto chunk = std::make_unique<slot[]>(ChunkSize);
    for (std::size_t i = 0; i < ChunkSize; ++i) {
      chunk[i].next = free_;
      free_ = &chunk[i];
    }
    chunks_.push_back(std::move(chunk));
  }
  std::vector<std::unique_ptr<slot[]>> chunks_;
  slot* free_ = nullptr;
  std::size_t in_use_ = 0;
};

/// A request waiting for its response to be logged: what the log line needs from the request,
/// copied while its views were valid (the method and target as received, cut to fit).
struct log_entry {
  static constexpr std::size_t line_capacity = 1000;
  log_entry* next = nullptr;
  std::int64_t when = 0;  // seconds since the Unix epoch
  std::uint32_t sequence = 0;
  std::uint16_t method_size = 0;
  std::uint16_t target_size = 0;
  std::uint8_t version_minor = 1;
  bool cut = false;
  char line[line_capacity];  // the method, then the target
};

/// The per-connection part of the access log: requests waiting for their responses and the
/// client's address, made only when the log is on.
struct log_track {
  log_entry* first = nullptr;
  log_entry* last = nullptr;
  std::uint8_t host_size = 0;
  char host[64] = {};
};

/// Gathers Common Log Format lines of one loop and writes them in whole-line batches.
class access_log_writer {
 public:
  access_log_writer(int fd, std::size_t capacity);
  ~access_log_writer();
  access_log_writer(const access_log_writer&) = delete;
  access_log_writer& operator=(const access_log_writer&) = delete;

  /// Appends one line (without its newline) to the buffer, flushing first when it is full.
  void append(std::span<const std::string_view> parts) noexcept;
  void flush() noexcept;
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// "[10/Oct/2000:13:55:36 +0000]" for `seconds`, cached for the current second.
  std::string_view timestamp(std::int64_t seconds) noexcept;

  object_pool<log_entry, 16> entries;
  object_pool<log_track, 64> tracks;

 private:
  void write_all(const char* data, std::size_t size) noexcept;
  int fd_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  std::int64_t stamp_second_ = -1;
  std::array<char, 28> stamp_{};
};

/// Wraps the user's handler while the access log is on: records each request head for the log
/// line, then forwards.
class logging_handler final : public request_handler {
 public:
  explicit logging_handler(request_handler& inner) noexcept : inner_(&inner) {}
  body_mode on_head(server_request& request) override;
  void on_request(server_request& request, response_writer response) override;

 private:
  request_handler* inner_;
};

class connection_driver;

/// What a deferred_response points to: the loop to post its work to, the writer, and the driver
/// to wake after using it (which may have outlived its server_loop: see loop_context).
struct deferred_state {
  transport::event_loop* loop;
  connection_driver* driver;
  response_writer writer;
};

/// Owns one connection and its stream, on one loop: reads into the connection's buffer, writes
/// its output with writev, shuts down, closes, hands over upgrades, and keeps the connection's
/// deadline on a loop timer. Lives in a pool; frees itself once closed with no response writer
/// left in a handler's hands.
class connection_driver final : public connection_info, public connection_observer {
 public:
  using time_point = transport::time_point;

  connection_driver(server_loop& owner, transport::stream&& stream, std::uint64_t id,
                    time_point now) noexcept;
  ~connection_driver();

  /// Starts watching the stream; false if it cannot be watched.
  bool start() noexcept;
  /// Moves bytes until nothing more can happen now, then re-arms the timer or frees itself.
  void drive() noexcept;
  /// Graceful shutdown of this connection (see connection::begin_shutdown).
  void begin_shutdown() noexcept;
  /// Drops the connection now; with `answer_unanswered` (the end of a drain), after answering 503
  /// to a request whose response had not begun (connection::answer_unanswered), as far as the
  /// stream takes it at once.
  void hard_close(bool answer_unanswered = false) noexcept;
  /// Runs a deferred completion (on the loop thread) and sends what it wrote.
  void complete(deferred_state& state, transport::small_fn<void(response_writer&)> finish) noexcept;

  /// The connection's wake function (connection_context::set_wake): a response_writer was used
  /// outside every event of this connection.
  static void on_wake(void* driver) noexcept;
  /// Cuts a closed connection off from its server_loop, which is being destroyed while a handler
  /// still holds writers of it: nothing of the loop is used again (see loop_context).
  void orphan() noexcept;
  /// The wake function of a destroyed server_loop's connections: frees the driver once its last
  /// writer is gone, and the context with the last driver.
  static void on_orphan_wake(void* driver) noexcept;

  /// Access log: a request head arrived (called by logging_handler inside a handler call).
  void log_request(const server_request& request) noexcept;
  /// The connection reports a response: the access-log line, and the error hook for a refusal.
  void on_response_finished(const response_record& record) noexcept override;

  [[nodiscard]] connection& conn() noexcept { return conn_; }
  [[nodiscard]] bool stream_open() const noexcept { return !stream_closed_; }

  connection_driver* prev = nullptr;  // the loop's list of live drivers
  connection_driver* next = nullptr;

 private:
  void on_ready(transport::readiness events) noexcept;
  void on_timer() noexcept;
  void pump(time_point now) noexcept;
  bool write_some(time_point now) noexcept;
  bool send_file_part(time_point now) noexcept;
  bool read_some(time_point now) noexcept;
  void close_stream() noexcept;
  void hand_over() noexcept;
  void settle() noexcept;
  void log_open() noexcept;
  void log_close() noexcept;
  void check_handshake(time_point now) noexcept;
  void handshake_failed(std::error_code error) noexcept;

  connection conn_;
  transport::stream stream_;
  transport::timer timer_;
  log_track* log_ = nullptr;
  // The connection's deadline as the last pump() left it (valid while deadline_known_): no call
  // of the connection came after the wants() it was read from.
  time_point known_deadline_{};

  bool busy_ = false;
  bool again_ = false;
  bool timer_due_ = false;
  // A writer call from outside the connection's calls queued output: it goes out before the
  // timers are looked at, as that call started the write timeout at the context's last time.
  bool woken_ = false;
  bool abort_requested_ = false;
  bool answer_requested_ = false;  // with the abort: answer 503 to a request not yet answered
  bool shutdown_requested_ = false;
  bool read_drained_ = false;  // a socket read came up short: wait for the next edge
  bool write_shut_ = false;
  bool stream_closed_ = false;  // closed, or handed to an upgrade_handler
  bool hangup_ = false;         // the peer's FIN or an error was reported: read until EOF
  // A TLS stream whose handshake has not finished: the timer holds the handshake's deadline
  // instead of the connection's (whose header timeout starts anew once the handshake is done).
  bool handshaking_ = false;
  bool tls_ = false;  // a short read says nothing of the socket: records may wait
  bool deadline_known_ = false;
};

/// The loop's live drivers and the pool they come from.
struct driver_pool {
  object_pool<connection_driver, 64> pool;
  connection_driver* first = nullptr;

  void link(connection_driver& d) noexcept {
    d.prev = nullptr;
    d.next = first;
    if (first != nullptr) first->prev = &d;
    first = &d;
  }
  void unlink(connection_driver& d) noexcept {
    if (d.prev != nullptr) {
      d.prev->next = d.next;
    } else {
      first = d.next;
    }
    if (d.next != nullptr) d.next->prev = d.prev;
    d.prev = d.next = nullptr;
  }
};

/// A server_loop's connection_context. Response writers point into their connection and its
/// context, so when a server_loop is destroyed while handlers still hold writers (a
/// reverse_proxy waiting for its upstream), the context takes over those closed connections and
/// lives on with them; the last writer dropped frees it all (connection_driver::on_orphan_wake).
/// Until then only the writers use them: every call fails, as on any closed connection.
class loop_context final : public connection_context {
 public:
  using connection_context::connection_context;
  /// A destroyed server_loop's drivers still held by writers; null while the loop lives.
  std::unique_ptr<driver_pool> orphans;
};

/// The driver whose connection code runs on this thread now.
connection_driver* current_driver() noexcept;

/// Makes `driver` the current one for its lifetime (nesting restores the previous one).
class current_scope {
 public:
  explicit current_scope(connection_driver* driver) noexcept;
  ~current_scope();
  current_scope(const current_scope&) = delete;
  current_scope& operator=(const current_scope&) = delete;

 private:
  connection_driver* previous_;
};

}  // namespace taut::detail
