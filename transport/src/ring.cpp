#include "ring.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "loop_access.hpp"

#if TAUT_HAVE_IO_URING
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <new>
#include <thread>
#include <vector>
#endif

namespace taut::transport {

const char* to_string(io_backend backend) noexcept {
  switch (backend) {
    case io_backend::epoll:
      return "epoll";
    case io_backend::io_uring:
      return "io_uring";
    case io_backend::automatic:
      break;
  }
  return "automatic";
}

io_backend resolve_io_backend(io_backend wanted) noexcept {
  if (wanted != io_backend::automatic) return wanted;
  const char* forced = std::getenv("TAUT_IO");
  if (forced != nullptr && std::string_view(forced) == "epoll") return io_backend::epoll;
  // TAUT_IO=io_uring, or nothing: io_uring where the system allows it, else epoll (a test run
  // asking for io_uring on a host without it still runs; the tests' ".io_uring" copies then
  // report themselves skipped, see tests/backend_check.cpp).
  return io_uring_available() ? io_backend::epoll : io_backend::io_uring;
}

}  // namespace taut::transport

#if !TAUT_HAVE_IO_URING

// Built without liburing: no loop ever has a ring, so nothing below is reached.
namespace taut::transport {

std::error_code io_uring_available() noexcept {
  return errc::not_supported;
}

const char* io_uring_mode() noexcept {
  return "";
}

namespace detail {

result<std::unique_ptr<ring_backend>> ring_backend::create(event_loop&, int) noexcept {
  return errc::not_supported;
}
std::error_code ring_watch(event_loop&, ring_stream*&, io_handle&) noexcept {
  return errc::not_supported;
}
void ring_unwatch(ring_stream&) noexcept {}
void ring_move(ring_stream&, io_handle&) noexcept {}
bool ring_readable(const ring_stream&) noexcept {
  return false;
}
void ring_take_ready(ring_stream&) noexcept {}
bool ring_heard_all(const ring_stream&) noexcept {
  return false;
}
int ring_connect_error(const ring_stream&) noexcept {
  return 0;
}
io_result ring_read(ring_stream&, io_handle&, std::span<char>) noexcept {
  return io_result::failure(ENOTSUP);
}
io_result ring_writev(ring_stream&, io_handle&, std::span<const const_buffer>) noexcept {
  return io_result::failure(ENOTSUP);
}
io_result ring_sendfile(ring_stream&, io_handle&, int, std::uint64_t&, std::size_t) noexcept {
  return io_result::failure(ENOTSUP);
}
std::error_code ring_shutdown_write(ring_stream&, io_handle&) noexcept {
  return errc::not_supported;
}
void ring_close(ring_stream*&, io_handle&, bool) noexcept {}
std::error_code ring_watch_listener(event_loop&, ring_listener*&, io_handle&) noexcept {
  return errc::not_supported;
}
void ring_unwatch_listener(ring_listener&) noexcept {}
void ring_move_listener(ring_listener&, io_handle&) noexcept {}
bool ring_listener_readable(const ring_listener&) noexcept {
  return false;
}
int ring_accept(ring_listener&) noexcept {
  return -ENOTSUP;
}
bool ring_close_listener(ring_listener*&) noexcept {
  return false;
}
void ring_pause_listener(ring_listener&) noexcept {}
void ring_resume_listener(ring_listener&) noexcept {}
ring_backend* ring_of(event_loop& loop) noexcept {
  return loop_access::ring(loop);
}

}  // namespace detail
}  // namespace taut::transport

#else

namespace taut::transport::detail {

namespace {

// Sizes. Receive buffers are shared by every stream of the loop: 128 of 4 KiB (512 KiB per loop
// thread), whatever the number of connections. A stream receives one buffer at a time: the next
// receive is submitted once read() has consumed it, so the kernel's socket buffer, not ours,
// holds what a stream is not reading (the back-pressure epoll has). A buffer still unread when
// the loop next waits moves to memory of the stream's own (a "spill", at most one buffer's
// worth), so connections whose bytes are not consumed (clients pipelining without reading their
// answers, a handler not reading its body yet) never hold the shared buffers: however many there
// are, the others keep receiving.
constexpr unsigned kRingEntries = 1024;
constexpr unsigned kBufferCount = 128;  // a power of two (the buffer ring's mask)
constexpr unsigned kBufferSize = 4096;
constexpr std::uint16_t kBufferGroup = 0;
constexpr std::uint16_t kNoBuffer = UINT16_MAX;
// Bytes a stream may have queued for sending before write() reports would_block: what the kernel
// socket buffer does on epoll, here in user space.
// Chunks of one page: a typical response fills one, and a pool of them is reused in place (the
// pages a burst touched are the pages the next burst uses). Up to kMaxSendParts go in one
// sendmsg.
constexpr std::size_t kChunkSize = 4096;
constexpr std::size_t kMaxSendParts = 4;
constexpr std::size_t kMaxQueuedBytes = 16 * 1024;
// Chunks come in page-aligned slabs and go back to the pool, never to malloc: the pool keeps the
// peak a burst needed, and each chunk is exactly one page.
constexpr std::size_t kChunksPerSlab = 16;
// A closed stream whose queued bytes the peer does not take within this long is reset (the
// kernel would keep an orphaned socket's data a while too, but not forever).
constexpr auto kOrphanLinger = std::chrono::seconds(5);
// Submissions a full queue tries in a row while the kernel answers EAGAIN (short of memory)
// before it gives up for this turn of the loop: more would spin while nothing changes.
constexpr int kTriesShortOfMemory = 4;
// Accepted descriptors queued before the multishot accept is cancelled (a paused acceptor).
constexpr std::size_t kMaxQueuedAccepts = 64;

// What a completion is for: the low bits of its user_data (the objects are 8-byte aligned).
enum op : std::uint64_t {
  op_recv = 0,
  op_send = 1,
  op_poll = 2,
  op_accept = 3,
  op_wake = 4,
  op_room = 5,  // the loop's room_epoll_ has streams with room to send (see wait_for_room)
};
constexpr std::uint64_t kOpMask = 7;
constexpr std::uint64_t kIgnored = 0;  // cancellations: their own completion carries nothing

struct send_chunk {
  send_chunk* next = nullptr;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  // The sendmsg of a send that starts at this chunk: stable until its completion.
  msghdr message{};
  iovec parts[kMaxSendParts]{};
  char data[kChunkSize - 2 * sizeof(std::uint32_t) - sizeof(void*) - sizeof(msghdr) -
            kMaxSendParts * sizeof(iovec)];
};
static_assert(sizeof(send_chunk) == kChunkSize);

class uring_backend;

}  // namespace

struct alignas(8) ring_stream {
  uring_backend* backend = nullptr;
  io_handle* handle = nullptr;  // the stream's, while watched
  soft_event event;             // notifications to it
  send_chunk* tx_head = nullptr;
  send_chunk* tx_tail = nullptr;
  std::uint32_t tx_bytes = 0;   // queued, not yet sent
  std::uint32_t rx_offset = 0;  // consumed bytes of the first received buffer
  char* spill = nullptr;        // received bytes moved out of the shared buffers (malloc)
  std::uint32_t spill_begin = 0;
  std::uint32_t spill_end = 0;
  time_point closed_at{};
  int fd = -1;
  int rx_error = 0;
  int tx_error = 0;
  std::uint16_t rx_head = kNoBuffer;
  std::uint16_t rx_tail = kNoBuffer;
  std::uint16_t held = 0;      // received buffers chained here
  std::uint8_t in_flight = 0;  // operations whose last completion is still to come
  bool recv_armed = false;
  bool recv_cancelling = false;
  bool eof = false;
  bool starved = false;  // the receive ended for want of buffers: re-armed when one frees
  bool send_in_flight = false;
  // Which entry of the submission queue the send in flight is (the n-th queued, 0 while it waits
  // in the backlog): a send queued by a thread that may not submit may never reach the kernel.
  std::uint64_t send_entry = 0;
  std::uint8_t sending_chunks = 0;  // chunks the send in flight reads
  bool poll_armed = false;
  bool flush_queued = false;
  bool shutdown_pending = false;
  bool write_shut = false;     // shutdown_write() was called: no more writes
  bool want_writable = false;  // a write was refused: tell the stream when room returns
  bool want_drained = false;   // ... and sendfile waits for the queue to empty
  bool closed = false;         // the stream let go; the state lives until its operations end
  bool connecting = false;     // a connect() in progress: no receive until it completes
  bool established = false;    // was writable once: a later lack of room is not a connect
  bool spill_check = false;    // in spill_checks_
  bool heard = false;          // a receive completed since the last watch (see ring_heard_all)
  // The peer shut its side down (its FIN): the ring's polls for room to send now complete at once
  // (see wait_for_room), so sends go out directly and waits for room go through room_epoll_.
  bool peer_shut = false;
  bool room_wait = false;        // waiting in room_epoll_ for room to send (counts in in_flight)
  bool room_registered = false;  // the descriptor is in room_epoll_ (disabled after each wake)
  bool room_for_poll = false;    // ... instead of a POLL_ADD: its end raises writable
  std::uint64_t recv_entry = 0;  // the receive's submission entry (0: queued in the backlog)
  int connect_error = 0;         // why it failed (read from SO_ERROR, which reading clears)
  ring_stream* next_free = nullptr;
};

struct alignas(8) ring_listener {
  uring_backend* backend = nullptr;
  io_handle* handle = nullptr;
  soft_event event;
  std::vector<int> queued;  // accepted descriptors, from index `head`
  std::size_t head = 0;
  int fd = -1;
  int error = 0;
  std::uint8_t in_flight = 0;
  bool armed = false;
  bool cancelling = false;
  bool paused = false;  // acceptor::pause(): no accept until resumed
  bool closed = false;
};

namespace {

std::uint64_t tag(const void* object, op kind) noexcept {
  return reinterpret_cast<std::uintptr_t>(object) | kind;
}

std::error_code probe_kernel_version() noexcept {
  // Provided-buffer rings and multishot accept need Linux 5.19. A multishot accept has no opcode
  // of its own for a probe to find, and an older kernel would fail it at the first accept instead
  // of here, where the loop can still fall back to epoll.
  utsname name{};
  if (::uname(&name) != 0) return errno_code(errno);
  unsigned major = 0;
  unsigned minor = 0;
  const char* text = name.release;
  while (*text >= '0' && *text <= '9') major = major * 10 + static_cast<unsigned>(*text++ - '0');
  if (*text == '.') ++text;
  while (*text >= '0' && *text <= '9') minor = minor * 10 + static_cast<unsigned>(*text++ - '0');
  if (major < 5 || (major == 5 && minor < 19)) return errno_code(EINVAL);
  return {};
}

class uring_backend final : public ring_backend {
 public:
  explicit uring_backend(event_loop& loop) noexcept
      : loop_(&loop), orphan_timer_(loop, [this] { reset_old_orphans(); }) {}

  ~uring_backend() override {
    tearing_down_ = true;
    if (ring_open_) {
      // Completions already there (a send just made by close() often completes at once) are
      // taken in, so that what they sent is known; the rest is cancelled by the ring's exit.
      (void)::io_uring_get_events(&ring_);
      take_completions();
      ::io_uring_queue_exit(&ring_);
    }
    // Their queued operations were never submitted, and now never will be.
    for (const int fd : closes_after_submit_) ::close(fd);
    for (ring_stream* state : all_streams_) {
      if (!state->closed) {
        detach(*state);  // the stream owns it from now on
        continue;
      }
      if (state->fd >= 0) {
        // Closed with bytes still queued (an orphan): a last try to send them, as a kernel socket
        // closed with bytes in its send buffer would, then the descriptor goes. A send still in
        // flight sent an unknown part of them: those are not sent twice. One never submitted
        // (queued by a thread that may not submit, the loop not waiting since) sent nothing.
        if (!state->send_in_flight || !submitted(*state)) send_directly(*state);
        ::close(state->fd);
      }
      free_spill(*state);
      delete state;
    }
    for (ring_listener* state : all_listeners_) {
      if (!state->closed) {
        state->backend = nullptr;  // the listener owns it, with its queued descriptors
        state->handle = nullptr;
        state->event.target = nullptr;
        state->armed = state->cancelling = false;
        state->in_flight = 0;
        continue;
      }
      for (std::size_t i = state->head; i < state->queued.size(); ++i) ::close(state->queued[i]);
      delete state;
    }
    if (room_epoll_ >= 0) ::close(room_epoll_);
    if (buffer_ring_ != nullptr) ::munmap(buffer_ring_, buffer_ring_size());
    if (buffers_ != nullptr) ::munmap(buffers_, std::size_t{kBufferCount} * kBufferSize);
    for (void* slab : slabs_) std::free(slab);
  }

  // Sends what `state` has queued without the ring, as far as the socket takes it now.
  static void send_directly(ring_stream& state) noexcept {
    for (send_chunk* chunk = state.tx_head; chunk != nullptr; chunk = chunk->next) {
      while (chunk->begin != chunk->end) {
        const ssize_t sent = ::send(state.fd, chunk->data + chunk->begin, chunk->end - chunk->begin,
                                    MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent <= 0) return;
        chunk->begin += static_cast<std::uint32_t>(sent);
      }
    }
  }

  // A stream still open when its loop goes: its state leaves the loop, keeping what was received
  // (moved out of the shared buffers) and sending what was queued while the socket takes it, and
  // the stream then uses its socket directly (ring_read and the others see no backend).
  void detach(ring_stream& state) noexcept {
    forget_room(state);
    if (state.rx_head != kNoBuffer) spill(state);
    if (state.send_in_flight && submitted(state)) {
      state.tx_error = EPIPE;  // how much of it the kernel sent is unknown
    } else {
      send_directly(state);
      if (state.tx_bytes != 0 && state.tx_error == 0) {
        std::uint32_t left = 0;
        for (send_chunk* chunk = state.tx_head; chunk != nullptr; chunk = chunk->next) {
          left += chunk->end - chunk->begin;
        }
        if (left != 0) state.tx_error = EPIPE;  // lost with the loop's send chunks
      }
    }
    state.tx_head = state.tx_tail = nullptr;  // the chunks are the loop's
    state.tx_bytes = 0;
    state.send_in_flight = false;
    state.sending_chunks = 0;
    if (state.shutdown_pending && state.tx_error == 0) ::shutdown(state.fd, SHUT_WR);
    state.shutdown_pending = false;
    state.backend = nullptr;
    state.handle = nullptr;
    state.event.target = nullptr;
    state.recv_armed = state.recv_cancelling = state.poll_armed = state.flush_queued = false;
    state.starved = state.spill_check = state.want_writable = state.want_drained = false;
    state.in_flight = 0;
  }

  std::error_code open(int wake_fd) noexcept {
    if (auto ec = probe_kernel_version()) return ec;
    // Made now rather than at the first half-closed peer (see wait_for_room), so that a loop's
    // descriptors do not change with what its clients do; before the ring, which stays the
    // newest descriptor the loop made.
    room_epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (room_epoll_ < 0) return errno_code(errno);
    io_uring_params params{};
    // SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1): completions are run only when the loop's thread
    // waits for them, never as task work that interrupts a thread. The ring starts disabled
    // (R_DISABLED): the thread that first waits enables it and becomes its only submitter.
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                   IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL;
    mode_ = ring_mode::deferred;
    int rc = ::io_uring_queue_init_params(kRingEntries, &ring_, &params);
    if (rc == -EINVAL) {
      // Older kernels. COOP_TASKRUN (5.19): completions are run when the submitting thread
      // enters the ring or returns from a system call, without an interprocessor interrupt; they
      // still wake that thread from an interruptible sleep, which is why only the loop's thread
      // submits (see submit_now).
      params = io_uring_params{};
      params.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
      mode_ = ring_mode::cooperative;
      rc = ::io_uring_queue_init_params(kRingEntries, &ring_, &params);
    }
    if (rc == -EINVAL) {
      params = io_uring_params{};
      mode_ = ring_mode::plain;
      rc = ::io_uring_queue_init_params(kRingEntries, &ring_, &params);
    }
    if (rc < 0) return errno_code(-rc);
    enabled_ = mode_ != ring_mode::deferred;
    ring_open_ = true;
    if ((params.features & IORING_FEAT_EXT_ARG) == 0) return errno_code(EINVAL);

    void* ring_memory = ::mmap(nullptr, buffer_ring_size(), PROT_READ | PROT_WRITE,
                               MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (ring_memory == MAP_FAILED) return errno_code(errno);
    buffer_ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
    void* buffer_memory = ::mmap(nullptr, std::size_t{kBufferCount} * kBufferSize,
                                 PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buffer_memory == MAP_FAILED) return errno_code(errno);
    buffers_ = static_cast<char*>(buffer_memory);
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<std::uintptr_t>(buffer_ring_);
    registration.ring_entries = kBufferCount;
    registration.bgid = kBufferGroup;
    rc = ::io_uring_register_buf_ring(&ring_, &registration, 0);
    if (rc < 0) return errno_code(-rc);
    ::io_uring_buf_ring_init(buffer_ring_);
    for (unsigned id = 0; id < kBufferCount; ++id) {
      ::io_uring_buf_ring_add(buffer_ring_, buffers_ + std::size_t{id} * kBufferSize, kBufferSize,
                              static_cast<unsigned short>(id),
                              ::io_uring_buf_ring_mask(kBufferCount), static_cast<int>(id));
      next_[id] = kNoBuffer;
    }
    ::io_uring_buf_ring_advance(buffer_ring_, kBufferCount);
    wake_fd_ = wake_fd;
    // Enter once now, so a ring that the system refuses to run fails here, not later (a disabled
    // ring cannot be entered: the registration above went through it). Nothing is submitted
    // here: the wake poll goes with the first wait(), from the thread that runs the loop.
    if (enabled_) {
      rc = ::io_uring_get_events(&ring_);
      if (rc < 0) return errno_code(-rc);
    }
    arm_wake();
    return {};
  }

  int wait(int timeout_ms) noexcept override {
    if (!enabled_) {
      // The system call itself: liburing 2.3 (Debian 12) declares io_uring_enable_rings() but
      // does not export it.
      if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr,
                    0) != 0) {
        return -errno;
      }
      enabled_ = true;
      owner_ = std::this_thread::get_id();
    }
    if (mode_ != ring_mode::deferred) {
      owner_ = std::this_thread::get_id();
    } else if (!on_loop_thread()) {
      return -EEXIST;  // a single-issuer ring: the kernel would refuse this thread too
    }
    submit_error_ = 0;  // try the kernel again: the backlog goes first, in order
    if (!backlog_.empty()) take_backlog();
    if (submit_error_ != 0) return submit_error_;
    spill_unread();
    raised_ = false;
    flush_sends();
    // A direct send (see send_direct) may have told a stream it can write again: the loop
    // delivers that after this wait, which must not block then.
    if (raised_) timeout_ms = 0;
    int rc = 0;
    if (timeout_ms == 0) {
      // With nothing to submit, still enter: completions are posted when the ring is entered
      // (COOP_TASKRUN), as epoll_wait(0) would report what is ready now.
      rc = ::io_uring_submit_and_get_events(&ring_);
      count_submitted();
    } else {
      io_uring_cqe* first = nullptr;
      __kernel_timespec limit{};
      limit.tv_sec = timeout_ms / 1000;
      limit.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
      rc = ::io_uring_submit_and_wait_timeout(&ring_, &first, 1, timeout_ms < 0 ? nullptr : &limit,
                                              nullptr);
      count_submitted();
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) return rc;
    // The same test as the one that deferred these closes: entries still in the backlog name
    // the descriptors too, so a number freed before they reach the kernel could be reused.
    if (!closes_after_submit_.empty() && !entries_waiting()) {
      for (const int fd : closes_after_submit_) ::close(fd);
      closes_after_submit_.clear();
    }
    waited_entries_ = submitted_entries_;
    const int taken = take_completions();
    // A receive that ran out of buffers after others were given back in the same batch: re-armed
    // now, since no later return of a buffer may come to do it.
    if (!starved_.empty() && free_buffers_ != 0) after_buffers_returned();
    return taken;
  }

  // A pass of wait() without waiting, for a caller that must know what has arrived before the
  // loop runs again; the notifications it raises are delivered by the loop. wait() itself refuses
  // a thread that may not enter a single-issuer ring; one not enabled yet has nothing in flight.
  void take_ready() noexcept {
    if (!enabled_ || tearing_down_) return;
    (void)wait(0);  // a ring that failed fails the loop's own next wait() the same way
  }

  int take_completions() noexcept {
    int taken = static_cast<int>(deferred_.size());
    for (std::size_t i = 0; i < deferred_.size(); ++i) {
      complete(deferred_[i].user_data, deferred_[i].res, deferred_[i].flags);
    }
    deferred_.clear();
    for (;;) {
      unsigned head = 0;
      unsigned seen = 0;
      io_uring_cqe* cqe = nullptr;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        complete(cqe->user_data, cqe->res, cqe->flags);
      }
      if (seen == 0) break;
      ::io_uring_cq_advance(&ring_, seen);
      taken += static_cast<int>(seen);
    }
    return taken;
  }

  // ---- streams ------------------------------------------------------------------------------

  ring_stream* new_stream(int fd) {
    ring_stream* state = free_streams_;
    if (state != nullptr) {
      free_streams_ = state->next_free;
      *state = ring_stream{};
    } else {
      state = new ring_stream;
      all_streams_.push_back(state);
    }
    state->backend = this;
    state->fd = fd;
    return state;
  }

  void arm_recv(ring_stream& state) noexcept {
    io_uring_sqe* sqe = next_sqe();
    // Not multishot: a multishot receive takes everything the socket has, into as many buffers
    // as are free, before a cancellation can stop it; one buffer per receive bounds a stream
    // that is not read to one buffer.
    ::io_uring_prep_recv(sqe, state.fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    ::io_uring_sqe_set_data64(sqe, tag(&state, op_recv));
    state.recv_entry = last_entry_;
    state.recv_armed = true;
    ++state.in_flight;
  }

  void maybe_arm_recv(ring_stream& state) noexcept {
    if (tearing_down_ || state.closed || state.handle == nullptr || state.recv_armed || state.eof ||
        state.connecting || state.rx_error != 0 || state.starved || state.held != 0 ||
        state.spill_begin != state.spill_end) {
      return;
    }
    arm_recv(state);
  }

  void arm_poll_out(ring_stream& state) noexcept {
    if (state.peer_shut) {
      wait_for_room(state, true);
      return;
    }
    if (state.poll_armed) return;
    io_uring_sqe* sqe = next_sqe();
    ::io_uring_prep_poll_add(sqe, state.fd, POLLOUT);
    ::io_uring_sqe_set_data64(sqe, tag(&state, op_poll));
    state.poll_armed = true;
    ++state.in_flight;
  }

  // Waits until the stream's socket has room to send again. A poll on the ring cannot say that
  // once the peer has shut its side down (a client's shutdown(SHUT_WR) after its request): the
  // ring adds POLLRDHUP to every poll's mask, its own and the one a send waits on, and a socket
  // whose peer sent its FIN keeps POLLRDHUP raised, so such a poll completes at once, every time.
  // A POLL_ADD would then spin the loop while the client reads slowly, and a send gives up after
  // its retries with EAGAIN. An epoll instance reports only the EPOLLOUT asked for, and the ring
  // polls that instance. `for_poll`: the wait stands for a POLL_ADD (a sendfile or a connect
  // waiting), whose end raises writable.
  void wait_for_room(ring_stream& state, bool for_poll) noexcept {
    if (for_poll) state.room_for_poll = true;
    if (state.room_wait || state.fd < 0) return;
    epoll_event event{};
    event.events = EPOLLOUT | EPOLLONESHOT;
    event.data.ptr = &state;
    if (room_epoll_ < 0 ||
        ::epoll_ctl(room_epoll_, state.room_registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, state.fd,
                    &event) != 0) {
      // No way to wait without spinning (short of memory, or the user's epoll watch limit): the
      // stream fails as a failed send would.
      send_failed(state, errno != 0 ? errno : ENOMEM);
      return;
    }
    state.room_registered = true;
    state.room_wait = true;
    ++state.in_flight;
    ++room_waits_;
    arm_room();
  }

  // Ends the stream's use of room_epoll_: before its descriptor is closed or leaves the loop.
  void forget_room(ring_stream& state) noexcept {
    if (state.room_registered && state.fd >= 0) {
      ::epoll_ctl(room_epoll_, EPOLL_CTL_DEL, state.fd, nullptr);
    }
    state.room_registered = false;
    state.room_for_poll = false;
    if (state.room_wait) {
      state.room_wait = false;
      --state.in_flight;
      --room_waits_;
    }
  }

  void arm_room() noexcept {
    if (room_armed_ || tearing_down_ || room_epoll_ < 0) return;
    io_uring_sqe* sqe = next_sqe();
    ::io_uring_prep_poll_multishot(sqe, room_epoll_, POLLIN);
    ::io_uring_sqe_set_data64(sqe, tag(this, op_room));
    room_armed_ = true;
  }

  void cancel(std::uint64_t user_data) noexcept {
    io_uring_sqe* sqe = next_sqe();
    ::io_uring_prep_cancel64(sqe, user_data, 0);
    ::io_uring_sqe_set_data64(sqe, kIgnored);
  }

  void cancel_recv(ring_stream& state) noexcept {
    if (!state.recv_armed || state.recv_cancelling) return;
    state.recv_cancelling = true;
    cancel(tag(&state, op_recv));
  }

  void queue_flush(ring_stream& state) {
    if (state.flush_queued) return;
    state.flush_queued = true;
    flush_list_.push_back(&state);
  }

  void raise(ring_stream& state, readiness bits) noexcept {
    if (state.handle == nullptr || tearing_down_) return;
    raised_ = true;
    state.handle->ready |= bits;  // writable and hangup; readable() asks the chain
    loop_access::raise(*loop_, state.event, bits);
  }

  // Copies received bytes out, giving back every buffer it empties.
  std::size_t take_received(ring_stream& state, std::span<char> into) noexcept {
    std::size_t copied = 0;
    bool returned = false;
    if (state.spill_begin != state.spill_end) {
      copied = std::min<std::size_t>(state.spill_end - state.spill_begin, into.size());
      std::memcpy(into.data(), state.spill + state.spill_begin, copied);
      state.spill_begin += static_cast<std::uint32_t>(copied);
      if (state.spill_begin == state.spill_end) free_spill(state);
    }
    while (copied < into.size() && state.rx_head != kNoBuffer) {
      const std::uint16_t id = state.rx_head;
      const std::size_t available = length_[id] - state.rx_offset;
      const std::size_t n = std::min(available, into.size() - copied);
      std::memcpy(into.data() + copied, buffer(id) + state.rx_offset, n);
      copied += n;
      state.rx_offset += static_cast<std::uint32_t>(n);
      if (state.rx_offset == length_[id]) {
        pop_buffer(state);
        returned = true;
      }
    }
    if (returned) after_buffers_returned();
    maybe_arm_recv(state);
    return copied;
  }

  void free_spill(ring_stream& state) noexcept {
    std::free(state.spill);
    state.spill = nullptr;
    state.spill_begin = state.spill_end = 0;
  }

  // Moves the stream's received buffers into its spill and gives them back to the ring.
  void spill(ring_stream& state) noexcept {
    std::size_t bytes = state.spill_end - state.spill_begin;
    for (std::uint16_t id = state.rx_head; id != kNoBuffer; id = next_[id]) bytes += length_[id];
    bytes -= state.rx_offset;
    auto* fresh = static_cast<char*>(std::malloc(bytes));
    if (fresh == nullptr) std::abort();  // as operator new would
    std::size_t at = state.spill_end - state.spill_begin;
    if (at != 0) std::memcpy(fresh, state.spill + state.spill_begin, at);
    std::free(state.spill);
    while (state.rx_head != kNoBuffer) {
      const std::uint16_t id = state.rx_head;
      const std::size_t n = length_[id] - state.rx_offset;
      std::memcpy(fresh + at, buffer(id) + state.rx_offset, n);
      at += n;
      pop_buffer(state);
    }
    state.spill = fresh;
    state.spill_begin = 0;
    state.spill_end = static_cast<std::uint32_t>(at);
    after_buffers_returned();
  }

  void drop_received(ring_stream& state) noexcept {
    free_spill(state);
    const bool any = state.rx_head != kNoBuffer;
    while (state.rx_head != kNoBuffer) pop_buffer(state);
    if (any) after_buffers_returned();
  }

  std::size_t queue_send(ring_stream& state, std::span<const const_buffer> parts) {
    std::size_t room = kMaxQueuedBytes - state.tx_bytes;
    std::size_t queued = 0;
    for (const const_buffer& part : parts) {
      const char* bytes = static_cast<const char*>(part.data);
      std::size_t left = std::min(part.size, room);
      while (left > 0) {
        send_chunk* tail = state.tx_tail;
        // A chunk being sent may grow: the kernel reads only the bytes given to it.
        if (tail == nullptr || tail->end == sizeof tail->data) {
          send_chunk* fresh = new_chunk();
          if (tail != nullptr) {
            tail->next = fresh;
          } else {
            state.tx_head = fresh;
          }
          state.tx_tail = tail = fresh;
        }
        const std::size_t n = std::min(left, sizeof tail->data - tail->end);
        std::memcpy(tail->data + tail->end, bytes, n);
        tail->end += static_cast<std::uint32_t>(n);
        bytes += n;
        left -= n;
        room -= n;
        queued += n;
      }
      if (room == 0) break;
    }
    state.tx_bytes += static_cast<std::uint32_t>(queued);
    if (queued != 0) queue_flush(state);
    return queued;
  }

  void drop_sends(ring_stream& state) noexcept {
    // The chunks in flight stay until the completion: the kernel may still read them.
    send_chunk* last_kept = nullptr;
    std::uint32_t kept_bytes = 0;
    send_chunk* chunk = state.tx_head;
    for (std::size_t i = 0; state.send_in_flight && i < state.sending_chunks && chunk != nullptr;
         ++i) {
      kept_bytes += chunk->end - chunk->begin;
      last_kept = chunk;
      chunk = chunk->next;
    }
    while (chunk != nullptr) free_chunk(std::exchange(chunk, chunk->next));
    if (last_kept != nullptr) {
      last_kept->next = nullptr;
    } else {
      state.tx_head = nullptr;
    }
    state.tx_tail = last_kept;
    state.tx_bytes = kept_bytes;
  }

  void close_descriptor(ring_stream& state, bool abortive) noexcept {
    if (state.fd < 0) return;
    forget_room(state);
    // Queued operations name the descriptor by number, and the kernel resolves the number when
    // they are submitted: submit them while it is still this socket. Once closed, the number goes
    // to the next accept (one completing as close() returns, or another thread's); a receive a
    // read had just queued would then take that connection's first bytes for this closed stream,
    // which drops them.
    if (entries_waiting()) submit_now();
    if (abortive) {
      const linger reset{1, 0};
      ::setsockopt(state.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    if (!tearing_down_ && entries_waiting()) {
      // Not submitted: only the loop's thread submits (see submit_now), and the kernel may refuse
      // a submission (EBUSY with its completion queue overflowing, EAGAIN short of memory). The
      // number stays this socket's until the loop's thread has submitted them.
      closes_after_submit_.push_back(state.fd);
    } else {
      ::close(state.fd);
    }
    state.fd = -1;
  }

  void add_orphan(ring_stream& state) {
    state.closed_at = loop_->now();
    orphans_.push_back(&state);
    if (!orphan_timer_.armed()) orphan_timer_.arm_in(kOrphanLinger);
  }

  void reset_old_orphans() noexcept {
    const time_point now = loop_->now();
    for (std::size_t i = 0; i < orphans_.size();) {
      ring_stream& state = *orphans_[i];
      if (state.fd >= 0 && now - state.closed_at < kOrphanLinger) {
        ++i;
        continue;
      }
      orphans_[i] = orphans_.back();
      orphans_.pop_back();
      if (state.fd >= 0) {
        if (state.send_in_flight) cancel(tag(&state, op_send));
        drop_sends(state);
        close_descriptor(state, true);
        maybe_release(state);
      }
    }
    if (!orphans_.empty()) orphan_timer_.arm_in(std::chrono::seconds(1));
    submit_now();
  }

  void maybe_release(ring_stream& state) noexcept {
    if (!state.closed || state.in_flight != 0 || state.fd >= 0) return;
    if (const auto at = std::find(orphans_.begin(), orphans_.end(), &state); at != orphans_.end()) {
      *at = orphans_.back();
      orphans_.pop_back();
    }
    if (state.flush_queued) {
      flush_list_.erase(std::find(flush_list_.begin(), flush_list_.end(), &state));
    }
    if (state.spill_check) {
      spill_checks_.erase(std::find(spill_checks_.begin(), spill_checks_.end(), &state));
    }
    if (state.starved) starved_.erase(std::find(starved_.begin(), starved_.end(), &state));
    while (state.tx_head != nullptr) free_chunk(std::exchange(state.tx_head, state.tx_head->next));
    state.next_free = free_streams_;
    free_streams_ = &state;
  }

  // ---- listeners ----------------------------------------------------------------------------

  ring_listener* new_listener(int fd) {
    auto* state = new ring_listener;
    all_listeners_.push_back(state);
    state->backend = this;
    state->fd = fd;
    state->queued.reserve(kMaxQueuedAccepts);
    return state;
  }

  void arm_accept(ring_listener& state) noexcept {
    if (state.armed || !wants_accepting(state) || tearing_down_) return;
    io_uring_sqe* sqe = next_sqe();
    ::io_uring_prep_multishot_accept(sqe, state.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ::io_uring_sqe_set_data64(sqe, tag(&state, op_accept));
    state.armed = true;
    ++state.in_flight;
  }

  void pause_accept(ring_listener& state) noexcept {
    state.paused = true;
    cancel_accept(state);
    submit_now();
  }

  void cancel_accept(ring_listener& state) noexcept {
    if (!state.armed || state.cancelling) return;
    state.cancelling = true;
    cancel(tag(&state, op_accept));
  }

  void maybe_release(ring_listener& state) noexcept {
    if (!state.closed || state.in_flight != 0) return;
    all_listeners_.erase(std::find(all_listeners_.begin(), all_listeners_.end(), &state));
    delete &state;
  }

  event_loop& loop() noexcept { return *loop_; }

  // Submits now rather than with the next wait: after a close, the peer must see the end of the
  // connection even if this loop does not run again soon. Only on the thread that runs the loop:
  // the kernel delivers an operation's completion through the thread that submitted it, which
  // interrupts that thread's blocking calls (EINTR), and tells every thread that ever submitted
  // to the ring when the ring goes. Another thread (one closing streams of a loop that has
  // stopped, or of one not yet run) leaves its operations for the loop's next wait.
  void submit_now() noexcept {
    if (tearing_down_ || !on_loop_thread()) return;
    if (!backlog_.empty()) take_backlog();
    if (mode_ == ring_mode::deferred) {
      // A cancelled receive lets go of its socket only when its completion is run, which a
      // deferred ring does only when asked: ask now, or a closed socket would stay open (its
      // peer seeing no end) until the loop waits again, which a loop at its end never does.
      (void)::io_uring_submit_and_get_events(&ring_);
    } else {
      (void)::io_uring_submit(&ring_);
    }
    count_submitted();
  }

  // Whether the stream's receive was in the kernel when the loop last waited, and that wait took
  // in every completion the kernel had: then nothing the socket held before the wait is unseen. A
  // receive queued since (re-armed after a read took the last buffer, which may have left more
  // bytes or the peer's FIN in the socket) reaches the kernel only at the next wait.
  [[nodiscard]] bool receive_waited_on(const ring_stream& state) const noexcept {
    return state.recv_armed && !state.recv_cancelling && state.recv_entry != 0 &&
           state.recv_entry <= waited_entries_ && deferred_.empty() &&
           !::io_uring_cq_has_overflow(&ring_);
  }

  // Whether the kernel has taken the stream's send in flight from the submission queue.
  [[nodiscard]] bool submitted(const ring_stream& state) const noexcept {
    return state.send_entry != 0 && state.send_entry <= submitted_entries_;
  }

  // Keeps `fd` open until the loop's thread has submitted the entries queued now (see
  // close_descriptor), if any are still waiting after submit_now(). Returns whether it kept it;
  // if not, the caller closes it.
  bool close_after_submit(int fd) noexcept {
    if (tearing_down_ || !entries_waiting()) return false;
    closes_after_submit_.push_back(fd);
    return true;
  }

  // Whether queued entries, which name descriptors by number, have not reached the kernel yet.
  [[nodiscard]] bool entries_waiting() const noexcept {
    return ::io_uring_sq_ready(&ring_) != 0 || !backlog_.empty();
  }

  [[nodiscard]] ring_mode mode() const noexcept { return mode_; }

  [[nodiscard]] bool on_loop_thread() const noexcept {
    return owner_ == std::this_thread::get_id();
  }

 private:
  [[nodiscard]] std::size_t buffer_ring_size() const noexcept {
    return std::size_t{kBufferCount} * sizeof(io_uring_buf);
  }
  [[nodiscard]] char* buffer(std::uint16_t id) const noexcept {
    return buffers_ + std::size_t{id} * kBufferSize;
  }

  io_uring_sqe* next_sqe() noexcept {
    if (!backlog_.empty()) {
      // Behind what another thread queued (or what a failed submission left), in order. Another
      // thread queues only while no thread runs the loop (a stream closed after the loop stopped,
      // or before it first ran: everything but post() and stop() is the loop thread's), so the
      // backlog, like the submission queue it stands in for, is never used by two at once.
      if (!on_loop_thread() || submit_error_ != 0) {
        last_entry_ = 0;
        return &backlog_.emplace_back();
      }
      take_backlog();
    }
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
    if (sqe != nullptr) {
      last_entry_ = ++queued_entries_;
      return sqe;
    }
    if (!on_loop_thread()) {
      // A full queue that this thread may not hand to the kernel (see submit_now): the entry
      // waits in memory until the loop's thread takes it.
      last_entry_ = 0;
      return &backlog_.emplace_back();
    }
    int short_of_memory = 0;
    while (sqe == nullptr) {
      // The submission queue is full: hand it to the kernel now and take a fresh slot.
      const int rc = ::io_uring_submit(&ring_);
      count_submitted();
      if (rc == -EBUSY) {
        // The completion queue overflowed and the kernel takes nothing more until it is read:
        // set its entries aside (wait() handles them; handling them here would re-enter the
        // caller), which frees room for the kernel's overflowed ones.
        defer_completions();
      } else if (rc < 0 && rc != -EINTR &&
                 (rc != -EAGAIN || ++short_of_memory == kTriesShortOfMemory)) {
        // The kernel refuses the ring itself, or keeps refusing for now (EAGAIN: short of
        // memory). A library must not take the process down nor spin: the entry waits in memory
        // with the rest, and wait() tries again and, failing the same way, fails the loop's run
        // with the error, as it would if its own submission failed.
        submit_error_ = rc;
        last_entry_ = 0;
        return &backlog_.emplace_back();
      }
      sqe = ::io_uring_get_sqe(&ring_);
    }
    last_entry_ = ++queued_entries_;
    return sqe;
  }

  // The kernel takes entries in order, advancing the queue's head by as many (32 bits, wrapping):
  // after each submission, the count of entries taken so far.
  void count_submitted() noexcept {
    const unsigned head = io_uring_smp_load_acquire(ring_.sq.khead);
    submitted_entries_ += head - last_head_;
    last_head_ = head;
  }

  // On the loop's thread: what other threads queued past a full submission queue goes in now.
  void take_backlog() noexcept {
    std::vector<io_uring_sqe> waiting;
    waiting.swap(backlog_);
    for (const io_uring_sqe& entry : waiting) {
      *next_sqe() = entry;
      if ((entry.user_data & kOpMask) == op_send) {
        reinterpret_cast<ring_stream*>(entry.user_data & ~kOpMask)->send_entry = last_entry_;
      }
    }
    waiting.clear();
    if (backlog_.empty()) backlog_.swap(waiting);  // keeps the capacity
  }

  void defer_completions() noexcept {
    (void)::io_uring_get_events(&ring_);
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      deferred_.push_back(deferred_completion{cqe->user_data, cqe->res, cqe->flags});
    }
    ::io_uring_cq_advance(&ring_, seen);
  }

  void arm_wake() noexcept {
    io_uring_sqe* sqe = next_sqe();
    ::io_uring_prep_poll_multishot(sqe, wake_fd_, POLLIN);
    ::io_uring_sqe_set_data64(sqe, tag(this, op_wake));
  }

  void pop_buffer(ring_stream& state) noexcept {
    const std::uint16_t id = state.rx_head;
    state.rx_head = next_[id];
    if (state.rx_head == kNoBuffer) state.rx_tail = kNoBuffer;
    state.rx_offset = 0;
    --state.held;
    ++free_buffers_;
    ::io_uring_buf_ring_add(buffer_ring_, buffer(id), kBufferSize, id,
                            ::io_uring_buf_ring_mask(kBufferCount), 0);
    ::io_uring_buf_ring_advance(buffer_ring_, 1);
  }

  void after_buffers_returned() noexcept {
    // Streams whose receive ended for want of buffers get it back now that there are some.
    while (!starved_.empty()) {
      ring_stream* state = starved_.back();
      starved_.pop_back();
      state->starved = false;
      maybe_arm_recv(*state);
    }
  }

  send_chunk* new_chunk() {
    if (free_chunks_ == nullptr) {
      void* slab = std::aligned_alloc(kChunkSize, kChunkSize * kChunksPerSlab);
      if (slab == nullptr) std::abort();  // as operator new would
      slabs_.push_back(slab);
      for (std::size_t i = 0; i < kChunksPerSlab; ++i) {
        auto* fresh = ::new (static_cast<char*>(slab) + i * kChunkSize) send_chunk;
        fresh->next = free_chunks_;
        free_chunks_ = fresh;
      }
    }
    send_chunk* chunk = free_chunks_;
    free_chunks_ = chunk->next;
    chunk->next = nullptr;
    chunk->begin = chunk->end = 0;
    return chunk;
  }

  void free_chunk(send_chunk* chunk) noexcept {
    chunk->next = free_chunks_;
    free_chunks_ = chunk;
  }

  // The streams that received since the last wait and did not read it all give their buffers
  // back (see kBufferCount).
  void spill_unread() noexcept {
    for (ring_stream* state : spill_checks_) {
      state->spill_check = false;
      if (state->rx_head != kNoBuffer && !state->closed) spill(*state);
    }
    spill_checks_.clear();
  }

  void flush_sends() noexcept {
    // By index: a direct send (see send_direct) may close a stream, and its release looks here.
    for (std::size_t i = 0; i < flush_list_.size(); ++i) {
      ring_stream& state = *flush_list_[i];
      state.flush_queued = false;
      prepare_send(state);
      maybe_release(state);
    }
    flush_list_.clear();
  }

 public:
  // The sendmsg of the stream's queued chunks, if none is in flight.
  void prepare_send(ring_stream& state) noexcept {
    if (state.send_in_flight || state.tx_head == nullptr || state.fd < 0) return;
    if (state.peer_shut) {
      send_direct(state);
      return;
    }
    send_chunk* first = state.tx_head;
    std::size_t count = 0;
    for (send_chunk* chunk = first; chunk != nullptr && count < kMaxSendParts;
         chunk = chunk->next) {
      first->parts[count].iov_base = chunk->data + chunk->begin;
      first->parts[count].iov_len = chunk->end - chunk->begin;
      ++count;
    }
    first->message = msghdr{};
    first->message.msg_iov = first->parts;
    first->message.msg_iovlen = count;
    io_uring_sqe* sqe = next_sqe();
    // MSG_WAITALL: the kernel finishes a short send itself instead of completing early.
    ::io_uring_prep_sendmsg(sqe, state.fd, &first->message, MSG_NOSIGNAL | MSG_WAITALL);
    ::io_uring_sqe_set_data64(sqe, tag(&state, op_send));
    state.sending_chunks = static_cast<std::uint8_t>(count);
    state.send_entry = last_entry_;
    state.send_in_flight = true;
    ++state.in_flight;
  }

  // The send of a stream whose peer shut its side, made here rather than on the ring (whose send
  // would wait for room with a poll that completes at once, see wait_for_room): as much as the
  // socket takes now, then a wait for room in room_epoll_. The caller releases a state it closes.
  void send_direct(ring_stream& state) noexcept {
    if (state.room_wait) return;  // the wait's end flushes again
    int error = 0;
    while (state.tx_head != nullptr) {
      iovec parts[kMaxSendParts];
      std::size_t count = 0;
      for (send_chunk* chunk = state.tx_head; chunk != nullptr && count < kMaxSendParts;
           chunk = chunk->next) {
        parts[count].iov_base = chunk->data + chunk->begin;
        parts[count].iov_len = chunk->end - chunk->begin;
        ++count;
      }
      msghdr message{};
      message.msg_iov = parts;
      message.msg_iovlen = count;
      const ssize_t sent = ::sendmsg(state.fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0) {
        error = errno;
        break;
      }
      take_sent(state, static_cast<std::size_t>(sent));
    }
    if (error != 0 && error != EAGAIN) {
      send_failed(state, error);
      return;
    }
    if (state.tx_bytes != 0) {
      wait_for_room(state, false);
      if (state.tx_error != 0) return;  // no way to wait: failed
    }
    after_sent(state, false);
  }

 private:
  void complete(std::uint64_t user_data, int res, unsigned flags) noexcept {
    if (user_data == kIgnored) return;
    const auto kind = static_cast<op>(user_data & kOpMask);
    void* object = reinterpret_cast<void*>(user_data & ~kOpMask);
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    switch (kind) {
      case op_recv:
        on_recv(*static_cast<ring_stream*>(object), res, flags, more);
        return;
      case op_send:
        on_send(*static_cast<ring_stream*>(object), res);
        return;
      case op_poll:
        on_poll(*static_cast<ring_stream*>(object), res);
        return;
      case op_accept:
        on_accept(*static_cast<ring_listener*>(object), res, more);
        return;
      case op_room:
        on_room_ready(more);
        return;
      case op_wake: {
        std::uint64_t count = 0;
        [[maybe_unused]] const ssize_t got = ::read(wake_fd_, &count, sizeof count);
        if (!more) arm_wake();
        return;
      }
    }
  }

  void on_recv(ring_stream& state, int res, unsigned flags, bool more) noexcept {
    if (res != -ECANCELED) state.heard = true;
    if (!more) {
      state.recv_armed = false;
      state.recv_cancelling = false;
      --state.in_flight;
    }
    if (res <= 0 && (flags & IORING_CQE_F_BUFFER) != 0) {
      // A buffer picked for a receive that brought nothing: straight back to the ring.
      const auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
      ::io_uring_buf_ring_add(buffer_ring_, buffer(id), kBufferSize, id,
                              ::io_uring_buf_ring_mask(kBufferCount), 0);
      ::io_uring_buf_ring_advance(buffer_ring_, 1);
    }
    if (res > 0 && (flags & IORING_CQE_F_BUFFER) != 0) {
      const auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
      --free_buffers_;
      length_[id] = static_cast<std::uint32_t>(res);
      next_[id] = kNoBuffer;
      if (state.rx_tail != kNoBuffer) {
        next_[state.rx_tail] = id;
      } else {
        state.rx_head = id;
      }
      state.rx_tail = id;
      ++state.held;
      if (state.closed) {
        drop_received(state);
      } else {
        raise(state, readiness::readable);
        if (!state.spill_check) {
          state.spill_check = true;
          spill_checks_.push_back(&state);
        }
      }
    } else if (res == 0) {
      state.eof = true;
      state.peer_shut = true;  // see wait_for_room
      raise(state, readiness::readable | readiness::hangup);
    } else if (res == -ENOBUFS) {
      if (!state.closed && !state.starved) {
        state.starved = true;
        starved_.push_back(&state);
      }
    } else if (res < 0 && res != -ECANCELED) {
      state.rx_error = -res;
      raise(state, readiness::readable | readiness::writable | readiness::hangup);
    }
    if (!more) maybe_arm_recv(state);
    maybe_release(state);
  }

  void on_send(ring_stream& state, int res) noexcept {
    --state.in_flight;
    state.send_in_flight = false;
    if (res == -EAGAIN && state.fd >= 0) {
      // The send's wait for room ended without room: its peer shut its side down (see
      // wait_for_room). Nothing was sent; the bytes stay queued.
      state.sending_chunks = 0;
      state.peer_shut = true;
      wait_for_room(state, false);
      maybe_release(state);
      return;
    }
    if (res < 0) {
      send_failed(state, res == -ECANCELED ? 0 : -res);
      maybe_release(state);
      return;
    }
    take_sent(state, static_cast<std::size_t>(res));
    after_sent(state, true);
    maybe_release(state);
  }

  // A send that failed with `error` (0: cancelled): what is queued is dropped and the stream
  // learns of it (a closed one is closed for good).
  void send_failed(ring_stream& state, int error) noexcept {
    if (state.tx_error == 0) state.tx_error = error != 0 ? error : EPIPE;
    drop_sends(state);
    while (state.tx_head != nullptr) {
      free_chunk(std::exchange(state.tx_head, state.tx_head->next));
    }
    state.tx_tail = nullptr;
    state.tx_bytes = 0;
    if (state.closed) {
      close_descriptor(state, false);
    } else {
      raise(state, readiness::readable | readiness::writable | readiness::hangup);
    }
  }

  // The first `sent` queued bytes went out: their chunks go back to the pool.
  void take_sent(ring_stream& state, std::size_t sent) noexcept {
    state.tx_bytes -= static_cast<std::uint32_t>(sent);
    state.sending_chunks = 0;
    for (std::size_t left = sent; left != 0;) {
      send_chunk* chunk = state.tx_head;
      const std::size_t n = std::min<std::size_t>(left, chunk->end - chunk->begin);
      chunk->begin += static_cast<std::uint32_t>(n);
      left -= n;
      if (chunk->begin == chunk->end) {
        // Sent: an idle connection keeps no chunk.
        state.tx_head = chunk->next;
        if (state.tx_head == nullptr) state.tx_tail = nullptr;
        free_chunk(chunk);
      }
    }
  }

  // After a send: the rest goes next (`flush_rest`), or the queue is empty and what waited for
  // that happens; a writer waiting for room hears of it.
  void after_sent(ring_stream& state, bool flush_rest) noexcept {
    if (state.tx_bytes != 0) {
      if (flush_rest) queue_flush(state);
    } else if (state.closed) {
      close_descriptor(state, false);
    } else if (state.shutdown_pending) {
      state.shutdown_pending = false;
      ::shutdown(state.fd, SHUT_WR);
    }
    if (state.want_writable && !state.closed &&
        (state.want_drained ? state.tx_bytes == 0 : state.tx_bytes < kMaxQueuedBytes)) {
      state.want_writable = state.want_drained = false;
      raise(state, readiness::writable);
    }
  }

  void on_poll(ring_stream& state, int res) noexcept {
    --state.in_flight;
    state.poll_armed = false;
    if (!state.closed && res != -ECANCELED) {
      if (res > 0 && (res & (POLLOUT | POLLERR | POLLHUP)) == 0) {
        // Completed for POLLRDHUP alone, not for room (see wait_for_room).
        state.peer_shut = true;
        wait_for_room(state, true);
      } else {
        poll_ready(state, res);
      }
    }
    maybe_release(state);
  }

  // The streams in room_epoll_ that have room now.
  void on_room_ready(bool more) noexcept {
    if (!more) room_armed_ = false;
    std::array<epoll_event, 64> ready{};
    for (;;) {
      const int n = ::epoll_wait(room_epoll_, ready.data(), static_cast<int>(ready.size()), 0);
      for (int i = 0; i < n; ++i) {
        on_room(*static_cast<ring_stream*>(ready[static_cast<std::size_t>(i)].data.ptr),
                ready[static_cast<std::size_t>(i)].events);
      }
      if (n < static_cast<int>(ready.size())) break;
    }
    if (room_waits_ != 0) arm_room();
  }

  void on_room(ring_stream& state, std::uint32_t events) noexcept {
    if (!state.room_wait) return;
    state.room_wait = false;
    --room_waits_;
    --state.in_flight;
    if (state.tx_bytes != 0 && !state.send_in_flight) queue_flush(state);
    if (std::exchange(state.room_for_poll, false) && !state.closed) {
      int res = (events & EPOLLOUT) != 0 ? POLLOUT : 0;
      if ((events & EPOLLERR) != 0) res |= POLLERR;
      if ((events & EPOLLHUP) != 0) res |= POLLHUP;
      poll_ready(state, res);
    }
    maybe_release(state);
  }

  // A POLL_ADD's end (or the wait that stood for one): the stream may write (or its connect
  // ended).
  void poll_ready(ring_stream& state, int res) noexcept {
    readiness bits = readiness::writable;
    if (res > 0 && (res & (POLLERR | POLLHUP)) != 0) {
      bits |= readiness::readable | readiness::hangup;
    }
    if (state.connecting) {
      state.connecting = false;
      state.established = true;
      int error = 0;
      socklen_t size = sizeof error;
      if ((bits & readiness::hangup) != readiness::none &&
          ::getsockopt(state.fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error != 0) {
        state.connect_error = state.rx_error = state.tx_error = error;
      }
      maybe_arm_recv(state);
    }
    raise(state, bits);
  }

  void on_accept(ring_listener& state, int res, bool more) noexcept {
    if (!more) {
      state.armed = false;
      state.cancelling = false;
      --state.in_flight;
    }
    if (res >= 0) {
      if (state.closed) {
        ::close(res);
      } else {
        state.queued.push_back(res);
        if (state.queued.size() - state.head >= kMaxQueuedAccepts) cancel_accept(state);
        if (state.handle != nullptr && !tearing_down_) {
          loop_access::raise(*loop_, state.event, readiness::readable);
        }
      }
    } else if (res != -ECANCELED && !state.closed) {
      state.error = -res;
      if (state.handle != nullptr && !tearing_down_) {
        loop_access::raise(*loop_, state.event, readiness::readable);
      }
    }
    // The multishot accept ended (cancelled, or the kernel stopped it): accepting goes on if the
    // listener still wants it. A resume() that came before the cancellation's completion found
    // the accept still armed; a full queue re-arms when ring_accept() drains it; an error waits
    // for ring_accept() to report it.
    if (!more && wants_accepting(state) && state.error == 0 &&
        state.queued.size() - state.head < kMaxQueuedAccepts) {
      arm_accept(state);
    }
    maybe_release(state);
  }

 public:
  static bool wants_accepting(const ring_listener& state) noexcept {
    return !state.closed && !state.paused && state.handle != nullptr;
  }

 private:
  event_loop* loop_;
  io_uring ring_{};
  bool ring_open_ = false;
  bool tearing_down_ = false;
  unsigned free_buffers_ = kBufferCount;  // in the buffer ring, for receives to pick
  struct deferred_completion {
    std::uint64_t user_data;
    int res;
    unsigned flags;
  };
  std::vector<deferred_completion> deferred_;  // taken off a full completion queue by next_sqe
  // The thread that last waited (in deferred mode: the first, for good): the only one that
  // submits (see submit_now).
  std::thread::id owner_{};
  ring_mode mode_ = ring_mode::plain;
  bool enabled_ = true;
  std::vector<io_uring_sqe> backlog_;     // past a full queue: other threads', or refused ones
  std::vector<int> closes_after_submit_;  // descriptors named by entries not yet submitted
  std::uint64_t queued_entries_ = 0;      // put in the submission queue, ever
  std::uint64_t submitted_entries_ = 0;   // of those, taken by the kernel
  std::uint64_t last_entry_ = 0;          // the entry next_sqe() gave last (0: the backlog's)
  std::uint64_t waited_entries_ = 0;      // submitted_entries_ as of the last wait()'s reaping
  unsigned last_head_ = 0;                // the queue's head at the last count
  // -errno of a submission the kernel refused since the last wait(); 0 when none was.
  int submit_error_ = 0;
  int wake_fd_ = -1;
  // Streams waiting for room to send whose peer shut its side (see wait_for_room): an epoll
  // instance that the ring polls while any wait.
  int room_epoll_ = -1;
  bool room_armed_ = false;  // the ring's poll of room_epoll_ is in the kernel
  bool raised_ = false;      // a stream was notified since the flag was last cleared
  std::size_t room_waits_ = 0;
  io_uring_buf_ring* buffer_ring_ = nullptr;
  char* buffers_ = nullptr;
  std::uint16_t next_[kBufferCount] = {};
  std::uint32_t length_[kBufferCount] = {};
  std::vector<ring_stream*> flush_list_;
  std::vector<ring_stream*> starved_;
  std::vector<ring_stream*> spill_checks_;
  std::vector<ring_stream*> orphans_;  // closed, descriptor open until their bytes are out
  timer orphan_timer_;
  std::vector<ring_stream*> all_streams_;
  std::vector<ring_listener*> all_listeners_;
  ring_stream* free_streams_ = nullptr;
  send_chunk* free_chunks_ = nullptr;
  std::vector<void*> slabs_;
};

uring_backend& backend_of(event_loop& loop) noexcept {
  return *static_cast<uring_backend*>(loop_access::ring(loop));
}

}  // namespace

namespace {

struct ring_opening {
  uring_backend* backend;
  int wake_fd;
  std::error_code result;
};

// C linkage for pthread_create, and static: a function of C linkage keeps its plain name whatever
// namespace holds it (GCC exports it even from this unnamed one), where it would collide with an
// embedder's own open_ring (tests/check_exported_symbols.cmake).
extern "C" {
static void* open_ring(void* argument) {
  auto& opening = *static_cast<ring_opening*>(argument);
  opening.result = opening.backend->open(opening.wake_fd);
  return nullptr;
}
}

}  // namespace

result<std::unique_ptr<ring_backend>> ring_backend::create(event_loop& loop, int wake_fd) noexcept {
  auto made = std::unique_ptr<uring_backend>(new uring_backend(loop));
  // The ring is made on a thread that ends at once. The kernel tells every live thread that made
  // or submitted to a ring when the ring goes, with a notification that interrupts that thread's
  // blocking calls (EINTR); a thread gone by then is not told. So the thread that creates and
  // destroys the loop (a server's start() and its destructor, often main) never hears of it.
  ring_opening opening{made.get(), wake_fd, {}};
  pthread_t opener{};
  if (const int error = ::pthread_create(&opener, nullptr, open_ring, &opening)) {
    return errno_code(error);
  }
  ::pthread_join(opener, nullptr);
  if (opening.result) return opening.result;
  return std::unique_ptr<ring_backend>(std::move(made));
}

ring_backend* ring_of(event_loop& loop) noexcept {
  return loop_access::ring(loop);
}

ring_mode mode_of(const ring_backend& ring) noexcept {
  return static_cast<const uring_backend&>(ring).mode();
}

// ---- streams --------------------------------------------------------------------------------

std::error_code ring_watch(event_loop& loop, ring_stream*& state, io_handle& handle) noexcept {
  uring_backend& backend = backend_of(loop);
  ring_stream* detached = nullptr;
  if (state != nullptr && state->backend == nullptr) {
    // Its loop is gone: what it received moves to the new state below.
    detached = std::exchange(state, nullptr);
  }
  if (state != nullptr && state->backend != &backend) {
    // Watched before on another loop: only a stream with nothing in flight can move.
    if (state->recv_armed || state->in_flight != 0 || ring_readable(*state) ||
        state->tx_head != nullptr) {
      return errno_code(EBUSY);
    }
    state->backend->forget_room(*state);
    state->closed = true;
    state->fd = -1;
    state->backend->maybe_release(*state);
    state = nullptr;
  }
  if (state == nullptr) state = backend.new_stream(handle.fd);
  if (detached != nullptr) {
    state->spill = std::exchange(detached->spill, nullptr);
    state->spill_begin = detached->spill_begin;
    state->spill_end = detached->spill_end;
    state->eof = detached->eof;
    state->peer_shut = detached->peer_shut;  // no receive will learn it again once eof is set
    state->rx_error = detached->rx_error;
    state->tx_error = detached->tx_error;
    state->connect_error = detached->connect_error;
    delete detached;
  }
  state->handle = &handle;
  state->event.target = &handle;
  state->heard = false;
  if (!has(handle.ready, readiness::writable) && state->established) {
    // Re-watched after a write was refused (not a connect): writable again once the queue has
    // room, which a send completing while it was unwatched could not say.
    if (state->want_drained ? state->tx_bytes == 0 : state->tx_bytes < kMaxQueuedBytes) {
      state->want_writable = state->want_drained = false;
      handle.ready |= readiness::writable;
    } else {
      state->want_writable = true;
    }
  }
  if (has(handle.ready, readiness::writable)) state->established = true;
  // Like an epoll registration, the watch starts with a notification of the current state.
  readiness now = handle.ready & readiness::writable;
  if (ring_readable(*state)) {
    now |= readiness::readable;
  }
  if (now != readiness::none) backend.raise(*state, now);
  // A connection still being made: its first writability is the connect's completion, and its
  // receive waits for it (a receive would consume the error that connect_error() reports).
  if (!has(handle.ready, readiness::writable) && !state->established) {
    state->connecting = true;
    backend.arm_poll_out(*state);
  }
  backend.maybe_arm_recv(*state);
  return {};
}

void ring_unwatch(ring_stream& state) noexcept {
  if (state.backend == nullptr) return;
  loop_access::withdraw(state.backend->loop(), state.event);
  state.event.target = nullptr;
  state.handle = nullptr;
  state.backend->cancel_recv(state);
}

void ring_move(ring_stream& state, io_handle& to) noexcept {
  if (state.handle == nullptr) return;
  state.handle = &to;
  state.event.target = &to;
}

int ring_connect_error(const ring_stream& state) noexcept {
  return state.connect_error;
}

bool ring_readable(const ring_stream& state) noexcept {
  return state.rx_head != kNoBuffer || state.spill_begin != state.spill_end || state.eof ||
         state.rx_error != 0;
}

void ring_take_ready(ring_stream& state) noexcept {
  // Only a receive in the kernel (or queued for it) can hold what ring_read() does not see yet;
  // without one, ring_read() reads the socket itself.
  if (state.backend == nullptr || ring_readable(state) || !state.recv_armed) return;
  state.backend->take_ready();
}

bool ring_heard_all(const ring_stream& state) noexcept {
  // A receive that completed since the watch began proves the stream's receives reach the
  // kernel; with its next receive in the kernel at the loop's last wait, what the socket held
  // then is in the state, as of that wait, when the caller is inside the loop's iteration. A
  // watched stream with nothing received waits for a receive in the kernel (or for buffers),
  // whose completion the loop's waits take in.
  return state.backend != nullptr && state.handle != nullptr && state.heard &&
         !ring_readable(state) && state.backend->receive_waited_on(state);
}

io_result ring_read(ring_stream& state, io_handle& handle, std::span<char> into) noexcept {
  if (state.backend == nullptr && state.spill_begin != state.spill_end) {
    const std::size_t n = std::min<std::size_t>(state.spill_end - state.spill_begin, into.size());
    std::memcpy(into.data(), state.spill + state.spill_begin, n);
    state.spill_begin += static_cast<std::uint32_t>(n);
    if (state.spill_begin == state.spill_end) {
      std::free(std::exchange(state.spill, nullptr));
      state.spill_begin = state.spill_end = 0;
    }
    return io_result::transferred(n);
  }
  if (state.rx_head != kNoBuffer || state.spill_begin != state.spill_end) {
    if (into.empty()) return io_result::transferred(0);
    return io_result::transferred(state.backend->take_received(state, into));
  }
  if (state.rx_error != 0) return io_result::failure(state.rx_error);
  if (state.eof) return into.empty() ? io_result::transferred(0) : io_result::end_of_stream();
  if (state.backend == nullptr || (state.handle == nullptr && !state.recv_armed)) {
    // Unwatched, with nothing received in the ring pending: read the socket directly.
    for (;;) {
      const ssize_t got = ::read(handle.fd, into.data(), into.size());
      if (got > 0) return io_result::transferred(static_cast<std::size_t>(got));
      if (got == 0) return into.empty() ? io_result::transferred(0) : io_result::end_of_stream();
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return io_result::blocked();
      return io_result::failure(errno);
    }
  }
  return io_result::blocked();
}

io_result ring_writev(ring_stream& state, io_handle& handle,
                      std::span<const const_buffer> parts) noexcept {
  if (state.tx_error != 0) return io_result::failure(state.tx_error);
  if (state.rx_error != 0 && state.tx_head == nullptr) return io_result::failure(state.rx_error);
  // After shutdown_write() nothing more goes out (epoll's kernel says EPIPE), even while the
  // bytes queued before it are still being sent.
  if (state.write_shut) return io_result::failure(EPIPE);
  if (state.backend == nullptr) {
    // Its loop is gone: straight to the socket.
    iovec vector[16];
    std::size_t count = 0;
    for (const const_buffer& part : parts) {
      if (count == std::size(vector)) break;
      vector[count].iov_base = const_cast<void*>(part.data);
      vector[count].iov_len = part.size;
      ++count;
    }
    msghdr message{};
    message.msg_iov = vector;
    message.msg_iovlen = count;
    for (;;) {
      const ssize_t sent = ::sendmsg(handle.fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent >= 0) return io_result::transferred(static_cast<std::size_t>(sent));
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return io_result::blocked();
      return io_result::failure(errno);
    }
  }
  std::size_t total = 0;
  for (const const_buffer& part : parts) total += part.size;
  if (total == 0) return io_result::transferred(0);
  if (state.tx_bytes >= kMaxQueuedBytes) {
    handle.ready &= ~readiness::writable;
    state.want_writable = true;
    return io_result::blocked();
  }
  const std::size_t queued = state.backend->queue_send(state, parts);
  if (queued < total) {
    handle.ready &= ~readiness::writable;
    state.want_writable = true;
  }
  return io_result::transferred(queued);
}

io_result ring_sendfile(ring_stream& state, io_handle& handle, int file_fd, std::uint64_t& offset,
                        std::size_t count) noexcept {
  if (state.tx_error != 0) return io_result::failure(state.tx_error);
  if (state.tx_bytes != 0) {
    // The file's bytes go after the queued ones: wait until those are out.
    handle.ready &= ~readiness::writable;
    state.want_writable = state.want_drained = true;
    return io_result::blocked();
  }
  for (;;) {
    off_t position = static_cast<off_t>(offset);
    const ssize_t sent = ::sendfile(handle.fd, file_fd, &position, count);
    if (sent >= 0) {
      offset = static_cast<std::uint64_t>(position);
      return io_result::transferred(static_cast<std::size_t>(sent));
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      handle.ready &= ~readiness::writable;
      if (state.handle != nullptr && state.backend != nullptr) state.backend->arm_poll_out(state);
      return io_result::blocked();
    }
    return io_result::failure(errno);
  }
}

std::error_code ring_shutdown_write(ring_stream& state, io_handle& handle) noexcept {
  state.write_shut = true;
  if (state.tx_bytes != 0) {
    state.shutdown_pending = true;  // after the queued bytes, as the peer expects
    return {};
  }
  if (::shutdown(handle.fd, SHUT_WR) != 0) return errno_code(errno);
  return {};
}

void ring_close(ring_stream*& pointer, io_handle& handle, bool abortive) noexcept {
  ring_stream& state = *pointer;
  pointer = nullptr;
  if (state.backend == nullptr) {
    // Its loop is gone (the state was detached): a plain close, a reset if bytes are unread.
    if (state.spill_begin != state.spill_end) abortive = true;
    if (abortive && handle.kind == static_cast<std::uint8_t>(transport_kind::tcp)) {
      const linger reset{1, 0};
      ::setsockopt(handle.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    ::close(handle.fd);
    std::free(state.spill);
    delete &state;
    return;
  }
  uring_backend& backend = *state.backend;
  if (state.handle != nullptr) ring_unwatch(state);
  // Unread bytes make a reset on epoll (the kernel's rule for a socket closed with data in its
  // receive queue); here they were taken off the socket already, so make that reset by hand.
  int unread_in_kernel = 0;
  if (state.rx_head != kNoBuffer || state.spill_begin != state.spill_end ||
      (::ioctl(handle.fd, FIONREAD, &unread_in_kernel) == 0 && unread_in_kernel > 0)) {
    abortive = true;
  }
  backend.drop_received(state);
  state.closed = true;
  state.fd = handle.fd;
  if (state.recv_armed) backend.cancel_recv(state);
  if (state.poll_armed) backend.cancel(tag(&state, op_poll));
  state.room_for_poll = false;  // a wait for room now only sends what is queued
  if (abortive || state.tx_error != 0 || state.tx_bytes == 0) {
    if (state.send_in_flight) backend.cancel(tag(&state, op_send));
    backend.drop_sends(state);
    backend.close_descriptor(
        state, abortive && handle.kind == static_cast<std::uint8_t>(transport_kind::tcp));
  }
  // Otherwise the descriptor stays open until the queued bytes are sent (on_send closes it), or
  // for kOrphanLinger. Their send is submitted now: the loop may never wait again (a server
  // stopping right after a "Connection: close" response).
  if (state.fd >= 0) {
    backend.prepare_send(state);
    backend.add_orphan(state);
  }
  backend.submit_now();
  backend.maybe_release(state);
}

// ---- listeners ------------------------------------------------------------------------------

std::error_code ring_watch_listener(event_loop& loop, ring_listener*& state,
                                    io_handle& handle) noexcept {
  uring_backend& backend = backend_of(loop);
  std::vector<int> carried;  // accepted by a loop now gone, for this one to hand out first
  if (state != nullptr && state->backend == nullptr) {
    carried.assign(state->queued.begin() + static_cast<std::ptrdiff_t>(state->head),
                   state->queued.end());
    delete std::exchange(state, nullptr);
  }
  if (state != nullptr && state->backend != &backend) return errno_code(EBUSY);
  if (state == nullptr) state = backend.new_listener(handle.fd);
  state->queued.insert(state->queued.end(), carried.begin(), carried.end());
  state->handle = &handle;
  state->event.target = &handle;
  if (state->queued.size() > state->head || state->error != 0) {
    loop_access::raise(loop, state->event, readiness::readable);
  }
  backend.arm_accept(*state);
  return {};
}

void ring_unwatch_listener(ring_listener& state) noexcept {
  if (state.backend == nullptr) return;
  loop_access::withdraw(state.backend->loop(), state.event);
  state.event.target = nullptr;
  state.handle = nullptr;
  // Unwatched, it accepts no more: connections wait in the backlog for accept() or a new watch.
  state.backend->cancel_accept(state);
  state.backend->submit_now();
}

void ring_move_listener(ring_listener& state, io_handle& to) noexcept {
  if (state.handle == nullptr) return;
  state.handle = &to;
  state.event.target = &to;
}

bool ring_listener_readable(const ring_listener& state) noexcept {
  return state.queued.size() > state.head || state.error != 0;
}

int ring_accept(ring_listener& state) noexcept {
  if (state.queued.size() > state.head) {
    const int fd = state.queued[state.head++];
    if (state.head == state.queued.size()) {
      state.queued.clear();
      state.head = 0;
    }
    return fd;
  }
  if (state.error != 0) return -std::exchange(state.error, 0);
  if (state.armed && !state.cancelling) return -EAGAIN;
  // The multishot accept ended (an error, a back-off, a full queue): try once here, so that the
  // caller learns at once whether descriptors are still short, then let the kernel accept again.
  for (;;) {
    const int fd = ::accept4(state.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      if (state.backend != nullptr) state.backend->arm_accept(state);
      return fd;
    }
    const int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN && state.backend != nullptr) state.backend->arm_accept(state);
    return -error;
  }
}

void ring_pause_listener(ring_listener& state) noexcept {
  state.paused = true;
  if (state.backend != nullptr) state.backend->pause_accept(state);
}

void ring_resume_listener(ring_listener& state) noexcept {
  state.paused = false;
  // Armed still while a pause's cancellation is on its way: its completion re-arms it.
  if (state.backend != nullptr) state.backend->arm_accept(state);
}

bool ring_close_listener(ring_listener*& pointer) noexcept {
  ring_listener& state = *pointer;
  pointer = nullptr;
  if (state.backend == nullptr) {
    for (std::size_t i = state.head; i < state.queued.size(); ++i) ::close(state.queued[i]);
    delete &state;
    return false;
  }
  if (state.handle != nullptr) ring_unwatch_listener(state);
  state.closed = true;
  state.backend->cancel_accept(state);
  // Like a listener closed with connections in its queue: those clients see a reset.
  for (std::size_t i = state.head; i < state.queued.size(); ++i) ::close(state.queued[i]);
  state.queued.clear();
  state.head = 0;
  state.backend->submit_now();
  // An accept queued but not submitted (a loop not yet run, this not its thread) would run on
  // whatever socket takes the number next: the number stays this socket's until it is submitted.
  const bool kept = state.backend->close_after_submit(state.fd);
  state.backend->maybe_release(state);
  return kept;
}

}  // namespace taut::transport::detail

namespace taut::transport {

namespace {
const char* probed_mode = "";  // written once, by the probe
}  // namespace

std::error_code io_uring_available() noexcept {
  // One probe per process: a ring with the buffer group, as a loop makes it, then closed.
  static const std::error_code answer = [] {
    auto wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake < 0) return errno_code(errno);
    std::error_code ec;
    {
      loop_options options;
      options.backend = io_backend::epoll;
      auto loop = event_loop::create(options);
      if (!loop) {
        ec = loop.error();
      } else {
        auto made = detail::ring_backend::create(**loop, wake);
        if (!made) {
          ec = made.error();
        } else {
          switch (detail::mode_of(**made)) {
            case detail::ring_mode::deferred:
              probed_mode = "single issuer, deferred task running";
              break;
            case detail::ring_mode::cooperative:
              probed_mode = "cooperative task running";
              break;
            case detail::ring_mode::plain:
              probed_mode = "task running by interrupt";
              break;
          }
        }
      }
    }
    ::close(wake);
    return ec;
  }();
  return answer;
}

const char* io_uring_mode() noexcept {
  (void)io_uring_available();
  return probed_mode;
}

}  // namespace taut::transport

#endif
