// Deadlines: which read timer runs now (head, body, idle; linger and write are in wants()) and
// what each does when it fires.
#include "connection_internal.hpp"

#include <system_error>

namespace taut {

connection::time_point connection::read_deadline() const noexcept {
  const connection_options& options = ctx_->options_;
  if (state_ == state::reading_body) return read_since_ + options.body_timeout;
  if (state_ != state::reading_head || !may_start_request()) return time_point::max();
  return head_deadline();
}

connection::time_point connection::head_deadline() const noexcept {
  const connection_options& options = ctx_->options_;
  if (in_begin_ != in_end_ || requests_ == 0) return read_since_ + options.header_timeout;
  if ((st_ == nullptr || st_->count == 0) && out_.head == nullptr) {
    return read_since_ + options.idle_timeout;
  }
  return time_point::max();  // waiting for our own responses, not for the client
}

void connection::restart_header_timer(time_point now) noexcept {
  if (state_ == state::reading_head && requests_ == 0 && in_begin_ == in_end_) read_since_ = now;
}

void connection::on_timer(time_point now) noexcept {
  ctx_->now_ = now;
  if (st_ != nullptr && st_->body_released) {
    st_->body_released = false;
    read_since_ = now;
  }
  const connection_options& options = ctx_->options_;
  switch (state_) {
    case state::closed:
    case state::detached:
      return;
    case state::lingering:
      if (now >= read_since_ + options.linger_timeout) close_now();
      return;
    case state::reading_head:
    case state::holding:
    case state::reading_body:
    case state::finishing:
    case state::closing:
    case state::upgrading:
      break;
  }
  if (out_.head != nullptr && now >= write_since_ + options.write_timeout) {
    close_now();  // the peer stopped taking our bytes
    return;
  }
  if (open() && want_read() && now >= read_deadline()) {
    if (state_ == state::reading_body) {
      fail_body(std::make_error_code(std::errc::timed_out), 408);
    } else if (in_begin_ != in_end_) {
      reject(408, std::make_error_code(std::errc::timed_out), in_end_ - msg_begin_);
    } else {
      close_now();  // idle, or a new connection that never sent a byte: nothing to answer
      return;
    }
  }
  process();
}

}  // namespace taut
