#include "taut/transport/acceptor.hpp"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "ring.hpp"

namespace taut::transport {

namespace {

enum class accept_failure { out_of_resources, transient, fatal };

accept_failure classify(const std::error_code& ec) noexcept {
  if (ec.category() != std::generic_category()) return accept_failure::fatal;
  switch (ec.value()) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return accept_failure::out_of_resources;
    // The connection died in the queue, or Linux passed on a network error for it (accept(2)):
    // this one is lost, the next may be fine.
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ETIMEDOUT:
      return accept_failure::transient;
    default:
      return accept_failure::fatal;
  }
}

}  // namespace

acceptor::acceptor(event_loop& loop, accept_callback on_accept, error_callback on_error,
                   const acceptor_options& options) noexcept
    : loop_(&loop),
      on_accept_(on_accept),
      on_error_(on_error),
      options_(options),
      timer_(loop),
      backoff_(options.min_backoff) {
  if (options_.max_accepts_per_wakeup == 0) options_.max_accepts_per_wakeup = 1;
  timer_.set_callback([this] { on_timer(); });
}

acceptor::~acceptor() {
  listener_.unwatch();
}

std::error_code acceptor::start(listener&& source) noexcept {
  listener_.unwatch();
  listener_ = std::move(source);
  backing_off_ = false;
  backoff_ = options_.min_backoff;
  return listener_.watch(*loop_, [this](readiness events) { on_ready(events); });
}

listener acceptor::stop() noexcept {
  timer_.cancel();
  backing_off_ = false;
  listener_.unwatch();
  return std::move(listener_);
}

void acceptor::pause() noexcept {
  paused_ = true;
  // On io_uring the kernel accepts for us until told otherwise; a paused acceptor must leave
  // connections in the backlog (a connection limit counts descriptors).
  if (listener_.ring_ != nullptr) detail::ring_pause_listener(*listener_.ring_);
}

void acceptor::resume() noexcept {
  if (!paused_) return;
  paused_ = false;
  if (listener_.ring_ != nullptr) detail::ring_resume_listener(*listener_.ring_);
  // Connections that queued up meanwhile raise no new edge: look for them in the next iteration.
  if (!backing_off_ && listener_.readable()) schedule_soon();
}

void acceptor::on_ready(readiness events) noexcept {
  if (paused_ || backing_off_ || !has(events, readiness::readable)) return;
  accept_batch();
}

void acceptor::on_timer() noexcept {
  backing_off_ = false;
  if (!paused_) accept_batch();
}

void acceptor::schedule_soon() noexcept {
  if (!timer_.armed()) timer_.arm_at(loop_->now());
}

void acceptor::accept_batch() noexcept {
  for (std::size_t i = 0; i < options_.max_accepts_per_wakeup; ++i) {
    ++accept_calls_;
    result<stream> accepted = listener_.accept();
    if (accepted) {
      ++accepted_;
      backoff_ = options_.min_backoff;
      on_accept_(std::move(*accepted));
      if (paused_ || !listener_.is_open()) return;
      continue;
    }
    const std::error_code ec = accepted.error();
    if (is_would_block(ec)) return;
    switch (classify(ec)) {
      case accept_failure::transient:
        on_error_(ec);
        continue;
      case accept_failure::out_of_resources:
        // Edge-triggered epoll will not report the still-queued connections again, and
        // retrying now would fail again: wait, then try, however many connections wait.
        ++resource_errors_;
        on_error_(ec);
        backing_off_ = true;
        timer_.arm_in(backoff_);
        backoff_ = std::min(backoff_ * 2, options_.max_backoff);
        return;
      case accept_failure::fatal:
        on_error_(ec);
        paused_ = true;
        return;
    }
  }
  // More may be queued; let the rest of the loop run first.
  schedule_soon();
}

}  // namespace taut::transport
