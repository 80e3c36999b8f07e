#include "taut/transport/memory.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "loop_access.hpp"
#include "memory_state.hpp"

namespace taut::transport {

namespace detail {

namespace {
std::atomic<std::uint64_t> next_pipe_id{1};

std::size_t total_size(std::span<const const_buffer> parts) noexcept {
  std::size_t total = 0;
  for (const const_buffer& part : parts) total += part.size;
  return total;
}
}  // namespace

void memory_direction::consume(std::size_t count) noexcept {
  head += count;
  if (head == bytes.size()) {
    drop();
  } else if (head >= 4096 && head * 2 >= bytes.size()) {
    // Compact once the consumed prefix dominates, so a long-lived pipe does not grow forever.
    bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(head));
    head = 0;
  }
}

memory_pipe* memory_pipe::create(const memory_faults& zero_to_one,
                                 const memory_faults& one_to_zero) {
  auto* pipe = new memory_pipe;
  pipe->sent[0].faults = zero_to_one;
  pipe->sent[1].faults = one_to_zero;
  pipe->id = next_pipe_id.fetch_add(1, std::memory_order_relaxed);
  return pipe;
}

bool memory_pipe::readable(int side) const noexcept {
  const memory_direction& in = sent[1 - side];
  return !in.paused && (in.buffered() > 0 || in.shut || in.reset);
}

bool memory_pipe::writable(int side) const noexcept {
  const memory_direction& out = sent[side];
  // A write that would fail is "ready" too: it reports the error at once.
  return out.shut || !end[1 - side].open || out.room() > 0;
}

io_result memory_pipe::read(int side, std::span<char> into) noexcept {
  memory_direction& in = sent[1 - side];
  if (into.empty()) return io_result::transferred(0);
  if (in.paused) return io_result::blocked();
  if (in.reset) return io_result::failure(ECONNRESET);
  if (in.buffered() == 0) return in.shut ? io_result::end_of_stream() : io_result::blocked();
  std::size_t count = std::min(into.size(), in.buffered());
  if (in.faults.max_read != 0) count = std::min(count, in.faults.max_read);
  std::memcpy(into.data(), in.bytes.data() + in.head, count);
  in.consume(count);
  if (count < into.size() && (in.buffered() > 0 || in.shut)) {
    // A short read with more to come (cut by max_read), or with the end of the stream behind
    // it: that arrives as a next segment would, with a readiness edge of its own. A reader may
    // take a short read for an emptied socket, as it may on TCP, and wait for that edge.
    notify(side, readiness::readable);
  }
  if (in.writer_blocked && in.room() > 0) {
    in.writer_blocked = false;
    notify(1 - side, readiness::writable);
  }
  return io_result::transferred(count);
}

std::size_t memory_pipe::write_limit(int side, int& error) noexcept {
  memory_direction& out = sent[side];
  const memory_direction& in = sent[1 - side];
  error = 0;
  if (out.shut) {
    error = EPIPE;
    return 0;
  }
  std::size_t limit = SIZE_MAX;
  if (!end[1 - side].open) {
    // The peer is gone. Until its close is delivered (a paused direction holds it back) the
    // bytes vanish as they would on the wire; afterwards writing fails.
    if (!in.paused) {
      error = in.reset ? ECONNRESET : EPIPE;
      return 0;
    }
  } else {
    limit = out.room();
  }
  if (out.faults.max_write != 0) limit = std::min(limit, out.faults.max_write);
  return limit;
}

io_result memory_pipe::wrote(int side, std::size_t count, std::size_t wanted) noexcept {
  memory_direction& out = sent[side];
  if (count == 0 && wanted > 0) {
    out.writer_blocked = true;
    return io_result::blocked();
  }
  if (out.room() == 0) out.writer_blocked = true;
  if (count > 0) notify(1 - side, readiness::readable);
  return io_result::transferred(count);
}

io_result memory_pipe::writev(int side, std::span<const const_buffer> parts) noexcept {
  int error = 0;
  const std::size_t limit = write_limit(side, error);
  if (error != 0) return io_result::failure(error);
  const std::size_t wanted = total_size(parts);
  const std::size_t count = std::min(limit, wanted);
  memory_direction& out = sent[side];
  if (end[1 - side].open) {
    std::size_t left = count;
    for (const const_buffer& part : parts) {
      const std::size_t take = std::min(left, part.size);
      const char* begin = static_cast<const char*>(part.data);
      out.bytes.insert(out.bytes.end(), begin, begin + take);
      left -= take;
      if (left == 0) break;
    }
  }
  return wrote(side, count, wanted);
}

io_result memory_pipe::sendfile(int side, int file_fd, std::uint64_t& offset,
                                std::size_t count) noexcept {
  int error = 0;
  const std::size_t limit = std::min(write_limit(side, error), count);
  if (error != 0) return io_result::failure(error);
  if (limit == 0) return wrote(side, 0, count);
  memory_direction& out = sent[side];
  const std::size_t old_size = out.bytes.size();
  out.bytes.resize(old_size + limit);
  const ssize_t got =
      ::pread(file_fd, out.bytes.data() + old_size, limit, static_cast<off_t>(offset));
  if (got < 0) {
    const int read_error = errno;
    out.bytes.resize(old_size);
    return io_result::failure(read_error);
  }
  out.bytes.resize(old_size + static_cast<std::size_t>(got));
  if (!end[1 - side].open) out.bytes.resize(old_size);  // the peer is gone: the bytes vanish
  offset += static_cast<std::uint64_t>(got);
  if (got == 0) return io_result::transferred(0);  // end of the file
  return wrote(side, static_cast<std::size_t>(got), count);
}

void memory_pipe::shutdown_write(int side) noexcept {
  if (sent[side].shut) return;
  sent[side].shut = true;
  notify(1 - side, readiness::readable | readiness::hangup);
}

void memory_pipe::close(int side, bool abortive) noexcept {
  memory_direction& out = sent[side];
  memory_direction& in = sent[1 - side];
  unwatch(side);
  // Like TCP: closing with received bytes unread resets the connection instead of ending it.
  if (in.buffered() > 0) abortive = true;
  if (abortive) {
    out.reset = true;
    out.drop();
  }
  out.shut = true;
  in.drop();
  end[side].open = false;
  notify(1 - side, readiness::readable | readiness::writable | readiness::hangup);
  if (--references == 0) delete this;
}

void memory_pipe::watch(int side, io_handle& handle) noexcept {
  end[side].event.target = &handle;
  readiness now = readiness::none;
  if (readable(side)) now |= readiness::readable;
  if (writable(side)) now |= readiness::writable;
  // Like epoll on registration: the current state is reported at once.
  if (now != readiness::none) notify(side, now);
}

void memory_pipe::unwatch(int side) noexcept {
  soft_event& event = end[side].event;
  if (event.target != nullptr && event.target->loop != nullptr) {
    loop_access::withdraw(*event.target->loop, event);
  }
  event.target = nullptr;
}

void memory_pipe::notify(int side, readiness bits) noexcept {
  soft_event& event = end[side].event;
  if (!end[side].open || event.target == nullptr || event.target->loop == nullptr) return;
  loop_access::raise(*event.target->loop, event, bits);
}

void memory_pipe::set_faults(int side, const memory_faults& faults) noexcept {
  memory_direction& out = sent[side];
  out.faults = faults;
  if (out.writer_blocked && out.room() > 0) {
    out.writer_blocked = false;
    notify(side, readiness::writable);
  }
}

void memory_pipe::resume(int side) noexcept {
  if (!sent[side].paused) return;
  sent[side].paused = false;
  if (readable(1 - side)) notify(1 - side, readiness::readable);
  // The peer's writes may now learn that this end is gone.
  if (!end[side].open) notify(1 - side, readiness::writable | readiness::hangup);
}

void memory_listener_state::release() noexcept {
  if (--references == 0) delete this;
}

stream memory_access::make(memory_pipe* pipe, int side) noexcept {
  stream made;
  made.pipe_ = pipe;
  made.handle_.side = static_cast<std::uint8_t>(side);
  made.handle_.kind = static_cast<std::uint8_t>(transport_kind::memory);
  return made;
}

}  // namespace detail

std::pair<stream, stream> memory_pair(const memory_faults& first_to_second,
                                      const memory_faults& second_to_first) {
  detail::memory_pipe* pipe = detail::memory_pipe::create(first_to_second, second_to_first);
  return {detail::memory_access::make(pipe, 0), detail::memory_access::make(pipe, 1)};
}

// ---- memory_control -------------------------------------------------------------------------

memory_faults memory_control::faults() const noexcept {
  return pipe_ != nullptr ? pipe_->sent[side_].faults : memory_faults{};
}

void memory_control::set_faults(const memory_faults& faults) noexcept {
  if (pipe_ != nullptr) pipe_->set_faults(side_, faults);
}

void memory_control::split(std::size_t bytes) noexcept {
  memory_faults changed = faults();
  changed.max_write = bytes;
  changed.max_read = bytes;
  set_faults(changed);
}

void memory_control::pause() noexcept {
  if (pipe_ != nullptr) pipe_->pause(side_);
}

void memory_control::resume() noexcept {
  if (pipe_ != nullptr) pipe_->resume(side_);
}

bool memory_control::paused() const noexcept {
  return pipe_ != nullptr && pipe_->sent[side_].paused;
}

std::size_t memory_control::in_flight() const noexcept {
  return pipe_ != nullptr ? pipe_->sent[side_].buffered() : 0;
}

bool memory_control::peer_open() const noexcept {
  return pipe_ != nullptr && pipe_->end[1 - side_].open;
}

memory_control memory_control::peer() const noexcept {
  return pipe_ != nullptr ? memory_control(pipe_, static_cast<std::uint8_t>(1 - side_))
                          : memory_control{};
}

std::uint64_t memory_control::id() const noexcept {
  return pipe_ != nullptr ? pipe_->id : 0;
}

// ---- memory_dialer --------------------------------------------------------------------------

memory_dialer::memory_dialer(detail::memory_listener_state* state) noexcept : state_(state) {
  if (state_ != nullptr) ++state_->references;
}

memory_dialer::memory_dialer(const memory_dialer& other) noexcept : memory_dialer(other.state_) {}

memory_dialer& memory_dialer::operator=(const memory_dialer& other) noexcept {
  if (this != &other) {
    if (other.state_ != nullptr) ++other.state_->references;
    if (state_ != nullptr) state_->release();
    state_ = other.state_;
  }
  return *this;
}

memory_dialer::~memory_dialer() {
  if (state_ != nullptr) state_->release();
}

result<stream> memory_dialer::dial() const {
  if (state_ == nullptr) return errc::not_supported;
  if (!state_->open) return errno_code(ECONNREFUSED);
  if (state_->pending.size() >= state_->options.backlog) return errno_code(EAGAIN);
  detail::memory_pipe* pipe = detail::memory_pipe::create(state_->options.client_to_server,
                                                          state_->options.server_to_client);
  state_->pending.push_back(pipe);
  if (state_->event.target != nullptr && state_->event.target->loop != nullptr) {
    detail::loop_access::raise(*state_->event.target->loop, state_->event, readiness::readable);
  }
  return detail::memory_access::make(pipe, 0);
}

}  // namespace taut::transport
