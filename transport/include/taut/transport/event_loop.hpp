// The event loop: epoll readiness (or an io_uring ring) for sockets, in-process readiness for
// memory pipes, a timer heap, work posted from other threads, and stop(). One loop per thread;
// everything but post() and stop() is called on the loop's own thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "taut/transport/clock.hpp"
#include "taut/transport/error.hpp"
#include "taut/transport/small_fn.hpp"

struct epoll_event;

namespace taut::transport {

class event_loop;

/// What a stream or listener is ready for. Readiness is edge-style: a notification says that the
/// state changed; the object remembers it (readable(), writable()) until an operation returns
/// would_block. `hangup` says the peer shut down or the socket failed (it stays set): the next
/// read or write reports it.
enum class readiness : std::uint8_t { none = 0, readable = 1, writable = 2, hangup = 4 };

[[nodiscard]] constexpr readiness operator|(readiness a, readiness b) noexcept {
  return static_cast<readiness>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
[[nodiscard]] constexpr readiness operator&(readiness a, readiness b) noexcept {
  return static_cast<readiness>(static_cast<std::uint8_t>(a) & static_cast<std::uint8_t>(b));
}
[[nodiscard]] constexpr readiness operator~(readiness a) noexcept {
  return static_cast<readiness>(~static_cast<std::uint8_t>(a) & 7u);
}
constexpr readiness& operator|=(readiness& a, readiness b) noexcept {
  return a = a | b;
}
constexpr readiness& operator&=(readiness& a, readiness b) noexcept {
  return a = a & b;
}
/// True when `set` has every bit of `bits`.
[[nodiscard]] constexpr bool has(readiness set, readiness bits) noexcept {
  return (set & bits) == bits && bits != readiness::none;
}

using ready_callback = small_fn<void(readiness)>;

namespace detail {

/// The part of a stream or listener the loop sees: 40 bytes. epoll's data pointer points here.
struct io_handle {
  ready_callback on_ready;
  event_loop* loop = nullptr;  // set while watched
  int fd = -1;
  readiness ready = readiness::readable | readiness::writable;  // optimistic until told otherwise
  std::uint8_t kind = 0;                                        // transport_kind
  std::uint8_t flags = 0;                                       // owner-specific bits
  std::uint8_t side = 0;                                        // memory pipes: which end
};

/// A readiness notification raised in-process (memory pipes and listeners), queued on the loop
/// and delivered in the next iteration like an epoll event.
struct soft_event {
  soft_event* prev = nullptr;
  soft_event* next = nullptr;
  io_handle* target = nullptr;  // the watching stream or listener, null when unwatched
  readiness pending = readiness::none;
  bool queued = false;
};

struct loop_access;
class ring_backend;

}  // namespace detail

/// How a loop talks to the kernel about sockets. Both give the same behaviour to streams,
/// listeners and timers; they differ in the system calls made per request.
enum class io_backend : std::uint8_t {
  /// io_uring when the system offers what it needs (io_uring_available()), else epoll. The
  /// environment variable TAUT_IO=epoll or TAUT_IO=io_uring overrides this choice (not an
  /// explicit one): how the test suites run every test on both backends.
  automatic,
  /// Edge-triggered epoll and one read/send system call per operation.
  epoll,
  /// io_uring (Linux 5.19+, liburing): multishot accept, receives into buffers shared by the
  /// loop's streams, sends queued and submitted with the wait: one io_uring_enter per iteration.
  io_uring,
};

/// "epoll", "io_uring" or "automatic".
[[nodiscard]] const char* to_string(io_backend backend) noexcept;

/// Whether io_uring loops can be made here, and if not why: errc::not_supported when taut was
/// built without liburing, ENOSYS (an old kernel, or seccomp), EPERM (kernel.io_uring_disabled, or
/// a sandbox), EINVAL (a kernel without the features used: before 5.19). Probes once per process
/// and remembers the answer.
[[nodiscard]] std::error_code io_uring_available() noexcept;

/// How io_uring loops here take their completions, as the probe found ("" when
/// io_uring_available() fails): "single issuer, deferred task running" (Linux 6.1+: only when
/// the loop's thread waits; the first thread that runs a loop is the only one that may run it),
/// "cooperative task running" (older kernels: as task work on the thread that submitted, which
/// is always the loop's) or "task running by interrupt" (the same, with an interrupt).
[[nodiscard]] const char* io_uring_mode() noexcept;

/// What io_backend::automatic resolves to here (the TAUT_IO variable, then io_uring_available()).
[[nodiscard]] io_backend resolve_io_backend(io_backend wanted) noexcept;

/// A one-shot deadline on a loop. Embed it in the object it times out (no allocation to arm); it
/// cancels itself when destroyed. Re-arming an armed timer moves its deadline. Timers with equal
/// deadlines fire in the order they were armed. Not movable: the loop's heap points at it.
class timer {
 public:
  using callback = small_fn<void()>;

  explicit timer(event_loop& loop, callback on_expiry = {}) noexcept
      : loop_(&loop), on_expiry_(on_expiry) {}
  ~timer() { cancel(); }
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;

  void set_callback(callback on_expiry) noexcept { on_expiry_ = on_expiry; }
  /// Fires at the first loop iteration whose time is at or after `deadline`.
  void arm_at(time_point deadline);
  /// Fires `delay` after the loop's cached now().
  void arm_in(duration delay);
  void cancel() noexcept;
  [[nodiscard]] bool armed() const noexcept { return heap_index_ != not_armed; }
  [[nodiscard]] time_point deadline() const noexcept { return deadline_; }
  [[nodiscard]] event_loop& loop() const noexcept { return *loop_; }

 private:
  friend class event_loop;
  static constexpr std::uint32_t not_armed = UINT32_MAX;

  event_loop* loop_;
  time_point deadline_{};
  std::uint64_t sequence_ = 0;  // tie-break: equal deadlines fire in arming order
  std::uint32_t heap_index_ = not_armed;
  callback on_expiry_;
};

/// A unit of work for event_loop::post(task&): caller-owned, so posting allocates nothing. It must
/// stay alive and unchanged until it has run, and be queued at most once at a time.
class task {
 public:
  using callback = small_fn<void()>;

  task() noexcept = default;
  explicit task(callback work) noexcept : work_(work) {}
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  void set(callback work) noexcept { work_ = work; }

 private:
  friend class event_loop;
  task* next_ = nullptr;
  callback work_;
  void (*dispose_)(task*) noexcept = nullptr;  // heap tasks made by post(F&&)
};

struct loop_options {
  /// The time source; steady_clock() when null. Must outlive the loop.
  const transport::clock* clock = nullptr;
  /// epoll events taken per iteration.
  int max_events = 256;
  /// epoll or io_uring; automatic picks io_uring when available (see io_backend).
  io_backend backend = io_backend::automatic;
};

/// Runs readiness callbacks, timers and posted work on one thread. Everything registered with a
/// loop (watched streams and listeners, acceptors, timers) must be destroyed or unwatched before
/// the loop is. On io_uring an unwatched stream or listener stays tied to its loop until the loop
/// is destroyed (use it on the loop's thread only; another loop refuses to watch it with EBUSY
/// while operations of it are in flight); the loop's destruction detaches it, and it then works on
/// its socket directly (see the README's Transport section).
///
/// epoll is used edge-triggered: a socket is registered once, for reading and writing, and never
/// modified again. Level-triggered epoll would need an epoll_ctl(MOD) every time a connection
/// starts or stops wanting to write (twice per response that does not fit the socket buffer) or it
/// would wake up for writability all the time; edge-triggering removes those system calls from the
/// request path. The price, remembering that a socket is still readable after we chose to stop
/// reading, is paid here once: every stream caches its readiness until an operation returns
/// would_block, so the layer above asks stream.readable() instead of waiting for an edge.
class event_loop {
 public:
  static constexpr duration forever = duration::max();

  /// Opens the epoll instance (or the io_uring ring) and the wake-up eventfd. An explicit
  /// io_backend::io_uring that the system refuses is an error (see io_uring_available()).
  static result<std::unique_ptr<event_loop>> create(const loop_options& options = {});
  ~event_loop();
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  /// Runs until stop() or a failed wait. Returns the error that ended it (see failure()); a stop()
  /// request is not an error.
  std::error_code run();
  /// The error of a failed wait (epoll_wait, or the io_uring ring: EEXIST from a thread other than
  /// the single-issuer ring's, a ring the kernel will not enable), kept until run() returns it.
  /// Such a failure repeats at every wait: a caller driving the loop with run_once() checks it,
  /// or it spins.
  [[nodiscard]] std::error_code failure() const noexcept { return failure_; }
  /// One iteration: waits up to `max_wait` (less if a timer is due sooner; not at all if work is
  /// already pending), then delivers readiness, fires due timers and runs posted tasks. Returns the
  /// number of callbacks run.
  std::size_t run_once(duration max_wait = forever);
  /// Iterates without waiting until an iteration finds nothing to do (or `max_iterations` ran).
  /// Returns the number of callbacks run. The deterministic way to drive memory pipes, a
  /// manual_clock and posted tasks from a test.
  std::size_t run_until_idle(std::size_t max_iterations = 100000);
  /// Asks run() to return after the current iteration. Any thread, and from a signal handler (it
  /// stores an atomic flag and writes to an eventfd).
  void stop() noexcept;
  [[nodiscard]] bool stop_requested() const noexcept {
    return stop_requested_.load(std::memory_order_acquire);
  }

  /// Queues `work` to run on the loop thread in a coming iteration, in posting order. Any thread;
  /// wakes the loop if it is waiting. `work` must stay alive until it has run.
  void post(task& work) noexcept;
  /// Same, for any callable; allocates the task. Tasks left when the loop is destroyed are freed
  /// without being run.
  template <class F>
  requires std::is_invocable_v < std::decay_t<F>
  & > void post(F&& work) {
    struct heap_task final : task {
      explicit heap_task(F&& f) : fn(std::forward<F>(f)) {}
      std::decay_t<F> fn;
    };
    auto* t = new heap_task(std::forward<F>(work));
    t->set([t] { t->fn(); });
    t->dispose_ = [](task* p) noexcept { delete static_cast<heap_task*>(p); };
    post(*t);
  }

  /// The time of the current iteration, read from the clock once per iteration.
  [[nodiscard]] time_point now() const noexcept { return now_; }
  /// Reads the clock again (after long work on the loop thread) and returns the new now().
  time_point update_time() noexcept { return now_ = clock_->now(); }
  [[nodiscard]] const transport::clock& clock() const noexcept { return *clock_; }

  /// The backend this loop runs on (never automatic).
  [[nodiscard]] io_backend backend() const noexcept {
    return ring_ != nullptr ? io_backend::io_uring : io_backend::epoll;
  }

  /// Iterations run so far: how tests prove the loop does not spin.
  [[nodiscard]] std::uint64_t iterations() const noexcept { return iterations_; }
  [[nodiscard]] std::size_t armed_timers() const noexcept { return timers_.size(); }
  /// Pre-sizes the timer heap so arming never allocates below `count` armed timers.
  void reserve_timers(std::size_t count) { timers_.reserve(count); }
  /// True on the thread currently inside run(), run_once() or run_until_idle().
  [[nodiscard]] bool in_loop_thread() const noexcept {
    return running_thread_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }

 private:
  friend class timer;
  friend struct detail::loop_access;
  event_loop(int epoll_fd, int wake_fd, const transport::clock& clock, int max_events);
  static result<std::unique_ptr<event_loop>> create_ring(const loop_options& options);

  // Streams, listeners and memory pipes (through detail::loop_access).
  std::error_code add_fd(detail::io_handle& handle, std::uint32_t events) noexcept;
  void remove_fd(detail::io_handle& handle) noexcept;
  void move_fd(detail::io_handle& from, detail::io_handle& to) noexcept;
  void raise(detail::soft_event& event, readiness bits) noexcept;
  void withdraw(detail::soft_event& event) noexcept;
  void forget(detail::io_handle* handle, detail::io_handle* replacement) noexcept;
  // Whether this iteration's epoll_wait took every ready event (it did not fill the array) and
  // none of them for `handle` is still to be delivered: the loop has nothing more to tell it.
  [[nodiscard]] bool told_all(const detail::io_handle& handle) const noexcept;

  // Timers.
  void arm(timer& t, time_point deadline);
  void disarm(timer& t) noexcept;
  [[nodiscard]] bool earlier(const timer* a, const timer* b) const noexcept;
  void sift_up(std::size_t index) noexcept;
  void sift_down(std::size_t index) noexcept;
  void place(std::size_t index, timer* t) noexcept;
  std::size_t fire_timers();

  int wait_timeout(duration max_wait) const noexcept;
  std::size_t dispatch_events(int count);
  std::size_t deliver_soft_events();
  std::size_t run_tasks();
  void drain_wake_fd() noexcept;
  void wake() noexcept;

  int epoll_fd_;
  int wake_fd_;
  const transport::clock* clock_;
  time_point now_;
  std::uint64_t iterations_ = 0;
  std::error_code failure_;

  std::unique_ptr<epoll_event[]> events_;
  int max_events_;
  int dispatch_index_ = 0;  // the event being delivered; later ones may be scrubbed
  int dispatch_count_ = 0;
  bool polled_all_ = false;  // this iteration's epoll_wait left no ready event in the kernel
  detail::io_handle wake_handle_;

  std::vector<timer*> timers_;  // binary min-heap on (deadline, sequence)
  std::uint64_t next_sequence_ = 0;

  detail::soft_event* soft_head_ = nullptr;
  detail::soft_event* soft_tail_ = nullptr;
  std::size_t soft_count_ = 0;

  std::mutex tasks_mutex_;
  task* tasks_head_ = nullptr;
  task* tasks_tail_ = nullptr;
  std::atomic<bool> tasks_pending_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::thread::id> running_thread_{};

  std::unique_ptr<detail::ring_backend> ring_;  // null on epoll
};

inline void timer::arm_at(time_point deadline) {
  loop_->arm(*this, deadline);
}
inline void timer::arm_in(duration delay) {
  loop_->arm(*this, loop_->now() + delay);
}
inline void timer::cancel() noexcept {
  if (armed()) loop_->disarm(*this);
}

}  // namespace taut::transport
