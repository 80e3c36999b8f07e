#include "taut/transport/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <utility>

#include "loop_access.hpp"
#include "ring.hpp"

namespace taut::transport {

namespace {

// Marks the calling thread as the loop's thread for the duration of a run call (nesting-safe).
class running_guard {
 public:
  explicit running_guard(std::atomic<std::thread::id>& slot) noexcept
      : slot_(slot), previous_(slot.exchange(std::this_thread::get_id())) {}
  ~running_guard() { slot_.store(previous_); }
  running_guard(const running_guard&) = delete;
  running_guard& operator=(const running_guard&) = delete;

 private:
  std::atomic<std::thread::id>& slot_;
  std::thread::id previous_;
};

}  // namespace

result<std::unique_ptr<event_loop>> event_loop::create(const loop_options& options) {
  if (resolve_io_backend(options.backend) == io_backend::io_uring) {
    result<std::unique_ptr<event_loop>> ring = create_ring(options);
    // An automatic choice falls back to epoll here too (a ring the probe could make but this one
    // could not, for want of memory or descriptors); an explicit one reports why.
    if (ring || options.backend == io_backend::io_uring) return ring;
  }
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return errno_code(errno);
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    const int error = errno;
    ::close(epoll_fd);
    return errno_code(error);
  }
  const transport::clock& clock = options.clock != nullptr ? *options.clock : steady_clock();
  std::unique_ptr<event_loop> loop(
      new event_loop(epoll_fd, wake_fd, clock, options.max_events > 0 ? options.max_events : 256));
  if (auto ec = loop->add_fd(loop->wake_handle_, EPOLLIN | EPOLLET)) return ec;
  return loop;
}

result<std::unique_ptr<event_loop>> event_loop::create_ring(const loop_options& options) {
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) return errno_code(errno);
  const transport::clock& clock = options.clock != nullptr ? *options.clock : steady_clock();
  std::unique_ptr<event_loop> loop(new event_loop(-1, wake_fd, clock, 1));
  result<std::unique_ptr<detail::ring_backend>> ring = detail::ring_backend::create(*loop, wake_fd);
  if (!ring) return ring.error();  // the loop's destructor closes wake_fd
  loop->ring_ = std::move(*ring);
  return loop;
}

event_loop::event_loop(int epoll_fd, int wake_fd, const transport::clock& clock, int max_events)
    : epoll_fd_(epoll_fd),
      wake_fd_(wake_fd),
      clock_(&clock),
      now_(clock.now()),
      events_(new epoll_event[static_cast<std::size_t>(max_events)]),
      max_events_(max_events) {
  wake_handle_.fd = wake_fd;
  wake_handle_.on_ready = [this](readiness) { drain_wake_fd(); };
}

event_loop::~event_loop() {
  for (timer* t : timers_) t->heap_index_ = timer::not_armed;
  while (soft_head_ != nullptr) withdraw(*soft_head_);
  task* pending = tasks_head_;
  while (pending != nullptr) {
    task* next = pending->next_;
    if (pending->dispose_ != nullptr) pending->dispose_(pending);
    pending = next;
  }
  ring_.reset();  // before the eventfd it polls
  ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

// ---- running --------------------------------------------------------------------------------

std::error_code event_loop::run() {
  running_guard guard(running_thread_);
  while (!stop_requested_.load(std::memory_order_acquire) && !failure_) run_once(forever);
  stop_requested_.store(false, std::memory_order_release);
  return std::exchange(failure_, {});
}

std::size_t event_loop::run_once(duration max_wait) {
  running_guard guard(running_thread_);
  ++iterations_;
  const int timeout = wait_timeout(max_wait);
  std::size_t work = 0;
  if (ring_ != nullptr) {
    // Completions become notifications (soft events), delivered below with the memory pipes'.
    const int taken = ring_->wait(timeout);
    if (taken < 0) failure_ = errno_code(-taken);
    now_ = clock_->now();
  } else {
    int count = ::epoll_wait(epoll_fd_, events_.get(), max_events_, timeout);
    // An interrupted wait took nothing, and a full array may have left ready events in the
    // kernel for the next call: either way the loop does not know all that is ready.
    polled_all_ = count >= 0 && count < max_events_;
    if (count < 0) {
      if (errno != EINTR) failure_ = errno_code(errno);
      count = 0;
    }
    now_ = clock_->now();
    work += dispatch_events(count);
  }
  work += fire_timers();
  work += deliver_soft_events();
  work += run_tasks();
  return work;
}

std::size_t event_loop::run_until_idle(std::size_t max_iterations) {
  running_guard guard(running_thread_);
  std::size_t total = 0;
  for (std::size_t i = 0; i < max_iterations; ++i) {
    const std::size_t work = run_once(duration::zero());
    total += work;
    if (work == 0) break;
  }
  return total;
}

void event_loop::stop() noexcept {
  stop_requested_.store(true, std::memory_order_release);
  if (!in_loop_thread()) wake();
}

int event_loop::wait_timeout(duration max_wait) const noexcept {
  if (soft_count_ != 0 || tasks_pending_.load(std::memory_order_acquire) ||
      stop_requested_.load(std::memory_order_acquire)) {
    return 0;
  }
  duration wait = max_wait;
  if (!timers_.empty()) {
    const duration until = timers_.front()->deadline_ - clock_->now();
    if (until <= duration::zero()) return 0;
    if (until < wait) wait = until;
  }
  if (wait == forever) return -1;
  if (wait <= duration::zero()) return 0;
  // Round up: waking a fraction of a millisecond early would find the timer not yet due and spin.
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

std::size_t event_loop::dispatch_events(int count) {
  std::size_t delivered = 0;
  dispatch_count_ = count;
  for (dispatch_index_ = 0; dispatch_index_ < dispatch_count_; ++dispatch_index_) {
    const epoll_event& event = events_[static_cast<std::size_t>(dispatch_index_)];
    auto* handle = static_cast<detail::io_handle*>(event.data.ptr);
    if (handle == nullptr) continue;  // closed by an earlier callback of this batch
    readiness bits = readiness::none;
    if ((event.events & EPOLLIN) != 0) bits |= readiness::readable;
    if ((event.events & EPOLLOUT) != 0) bits |= readiness::writable;
    // A hang-up or error is something to read (EOF or the error) and, for a full hang-up or an
    // error, something a write will report too.
    if ((event.events & EPOLLRDHUP) != 0) bits |= readiness::readable | readiness::hangup;
    if ((event.events & (EPOLLHUP | EPOLLERR)) != 0) {
      bits |= readiness::readable | readiness::writable | readiness::hangup;
    }
    handle->ready |= bits;  // hangup included: stream::read must not forget a pending EOF
    handle->flags &= static_cast<std::uint8_t>(~detail::handle_unpolled);
    // Called through a copy: a callback that closes its own stream resets the stored one while
    // it is still running.
    const ready_callback on_ready = handle->on_ready;
    on_ready(bits);
    ++delivered;
  }
  dispatch_index_ = dispatch_count_ = 0;
  return delivered;
}

// ---- registrations --------------------------------------------------------------------------

std::error_code event_loop::add_fd(detail::io_handle& handle, std::uint32_t events) noexcept {
  epoll_event event{};
  event.events = events;
  event.data.ptr = &handle;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, handle.fd, &event) != 0) return errno_code(errno);
  return {};
}

void event_loop::remove_fd(detail::io_handle& handle) noexcept {
  // Explicit, although close() would drop the registration: a forked child holding a copy of the
  // descriptor would keep it alive, and epoll would report events for a freed object.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, handle.fd, nullptr);
  forget(&handle, nullptr);
}

void event_loop::move_fd(detail::io_handle& from, detail::io_handle& to) noexcept {
  epoll_event event{};
  event.data.ptr = &to;
  if ((from.flags & detail::handle_listener) == 0) {
    event.events = detail::stream_events;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, from.fd, &event);
  } else {
    // EPOLLEXCLUSIVE registrations cannot be modified, only removed and added again.
    event.events = detail::listener_events;
    if ((from.flags & detail::handle_exclusive) != 0) event.events |= EPOLLEXCLUSIVE;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, from.fd, nullptr);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, from.fd, &event);
  }
  forget(&from, &to);
}

void event_loop::forget(detail::io_handle* handle, detail::io_handle* replacement) noexcept {
  for (int i = dispatch_index_ + 1; i < dispatch_count_; ++i) {
    epoll_event& event = events_[static_cast<std::size_t>(i)];
    if (event.data.ptr == handle) event.data.ptr = replacement;
  }
}

bool event_loop::told_all(const detail::io_handle& handle) const noexcept {
  if (!polled_all_) return false;
  for (int i = dispatch_index_ + 1; i < dispatch_count_; ++i) {
    if (events_[static_cast<std::size_t>(i)].data.ptr == &handle) return false;
  }
  return true;
}

void event_loop::raise(detail::soft_event& event, readiness bits) noexcept {
  event.pending |= bits;
  if (event.queued) return;
  event.queued = true;
  event.next = nullptr;
  event.prev = soft_tail_;
  if (soft_tail_ != nullptr) {
    soft_tail_->next = &event;
  } else {
    soft_head_ = &event;
  }
  soft_tail_ = &event;
  ++soft_count_;
}

void event_loop::withdraw(detail::soft_event& event) noexcept {
  if (!event.queued) return;
  (event.prev != nullptr ? event.prev->next : soft_head_) = event.next;
  (event.next != nullptr ? event.next->prev : soft_tail_) = event.prev;
  event.prev = event.next = nullptr;
  event.queued = false;
  event.pending = readiness::none;
  --soft_count_;
}

std::size_t event_loop::deliver_soft_events() {
  // Only the events queued now: one raised while delivering waits for the next iteration, so two
  // memory pipes echoing at each other cannot starve the rest of the loop.
  std::size_t budget = soft_count_;
  std::size_t delivered = 0;
  while (budget-- > 0 && soft_head_ != nullptr) {
    detail::soft_event& event = *soft_head_;
    const readiness bits = event.pending;
    withdraw(event);
    if (event.target != nullptr) {
      const ready_callback on_ready = event.target->on_ready;  // see dispatch_events
      on_ready(bits);
      ++delivered;
    }
  }
  return delivered;
}

// ---- timers: a binary min-heap of intrusive nodes -------------------------------------------
//
// A heap rather than a wheel: O(log n) arm and cancel (14 steps for 10,000 timers), exact order at
// any resolution, no tick to run while idle, and no allocation once the vector has grown to the
// peak number of armed timers (reserve_timers() pre-sizes it).

bool event_loop::earlier(const timer* a, const timer* b) const noexcept {
  if (a->deadline_ != b->deadline_) return a->deadline_ < b->deadline_;
  return a->sequence_ < b->sequence_;
}

void event_loop::place(std::size_t index, timer* t) noexcept {
  timers_[index] = t;
  t->heap_index_ = static_cast<std::uint32_t>(index);
}

void event_loop::sift_up(std::size_t index) noexcept {
  timer* moving = timers_[index];
  while (index > 0) {
    const std::size_t parent = (index - 1) / 2;
    if (!earlier(moving, timers_[parent])) break;
    place(index, timers_[parent]);
    index = parent;
  }
  place(index, moving);
}

void event_loop::sift_down(std::size_t index) noexcept {
  timer* moving = timers_[index];
  const std::size_t size = timers_.size();
  for (;;) {
    std::size_t child = 2 * index + 1;
    if (child >= size) break;
    if (child + 1 < size && earlier(timers_[child + 1], timers_[child])) ++child;
    if (!earlier(timers_[child], moving)) break;
    place(index, timers_[child]);
    index = child;
  }
  place(index, moving);
}

void event_loop::arm(timer& t, time_point deadline) {
  t.deadline_ = deadline;
  t.sequence_ = next_sequence_++;
  if (t.armed()) {
    sift_up(t.heap_index_);
    sift_down(t.heap_index_);
    return;
  }
  timers_.push_back(&t);
  sift_up(timers_.size() - 1);
}

void event_loop::disarm(timer& t) noexcept {
  const std::size_t index = t.heap_index_;
  timer* last = timers_.back();
  timers_.pop_back();
  t.heap_index_ = timer::not_armed;
  if (index < timers_.size()) {
    place(index, last);
    sift_up(index);
    sift_down(last->heap_index_);
  }
}

std::size_t event_loop::fire_timers() {
  // Timers armed by these callbacks wait for the next iteration, even if already due, so a
  // callback re-arming itself "now" cannot hold the loop here forever.
  const std::uint64_t armed_before = next_sequence_;
  std::size_t fired = 0;
  while (!timers_.empty()) {
    timer* due = timers_.front();
    if (due->deadline_ > now_ || due->sequence_ >= armed_before) break;
    disarm(*due);
    const timer::callback on_expiry = due->on_expiry_;
    on_expiry();  // may destroy or re-arm `due`
    ++fired;
  }
  return fired;
}

// ---- posted tasks ---------------------------------------------------------------------------

void event_loop::post(task& work) noexcept {
  work.next_ = nullptr;
  bool was_empty = false;
  {
    std::lock_guard lock(tasks_mutex_);
    was_empty = tasks_head_ == nullptr;
    if (tasks_tail_ != nullptr) {
      tasks_tail_->next_ = &work;
    } else {
      tasks_head_ = &work;
    }
    tasks_tail_ = &work;
    tasks_pending_.store(true, std::memory_order_release);
  }
  // The loop thread checks tasks_pending_ before it waits; only another thread must wake it.
  if (was_empty && !in_loop_thread()) wake();
}

std::size_t event_loop::run_tasks() {
  if (!tasks_pending_.load(std::memory_order_acquire)) return 0;
  task* next = nullptr;
  {
    std::lock_guard lock(tasks_mutex_);
    next = tasks_head_;
    tasks_head_ = tasks_tail_ = nullptr;
    tasks_pending_.store(false, std::memory_order_release);
  }
  std::size_t ran = 0;
  while (next != nullptr) {
    task* current = next;
    next = current->next_;
    current->next_ = nullptr;
    const task::callback work = current->work_;
    auto* const dispose = current->dispose_;
    work();  // a caller-owned task may be destroyed by its own work: not touched after this
    if (dispose != nullptr) dispose(current);
    ++ran;
  }
  return ran;
}

void event_loop::wake() noexcept {
  const std::uint64_t one = 1;
  // EAGAIN means the counter is saturated: the loop is awake anyway.
  [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof one);
}

void event_loop::drain_wake_fd() noexcept {
  std::uint64_t count = 0;
  [[maybe_unused]] const ssize_t got = ::read(wake_fd_, &count, sizeof count);
}

}  // namespace taut::transport
