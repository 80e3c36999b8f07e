// The life of a connection, top to bottom:
//
//   bytes arrive (commit_read) -> the head is parsed -> on_head() decides the body's delivery ->
//   the body is buffered, streamed or discarded -> on_request() -> the response is written into a
//   slot of the response queue (straight into the connection's output when it is at the front,
//   into the slot's own blocks when it waits behind an unfinished one) -> output leaves in
//   request order (commit_write) -> keep-alive: back to the head, or close: flush, shut down the
//   write side, linger, close.
//
// Buffers: the input block, the output blocks and the working state (parser, header array,
// response queue) are borrowed while bytes are in flight and given back in settle() the moment the
// connection is idle again.
#include "connection_internal.hpp"

#include <algorithm>
#include <cassert>
#include <new>
#include <stdexcept>
#include <utility>

namespace taut {

namespace {

constexpr std::size_t align_up(std::size_t n, std::size_t alignment) noexcept {
  return (n + alignment - 1) / alignment * alignment;
}
constexpr std::size_t slots_offset() noexcept {
  return align_up(sizeof(detail::connection_state), alignof(response_slot));
}
constexpr std::size_t headers_offset(std::size_t depth) noexcept {
  return align_up(slots_offset() + depth * sizeof(response_slot), alignof(header));
}
/// Output blocks carry a small header, and a status line should fit in one.
constexpr std::size_t min_block_size = 256;
constexpr std::size_t max_block_size = std::size_t{1} << 30;  // offsets are 32-bit
/// Header slots beyond the parser's limit, where trailer fields of a chunked body land.
constexpr std::size_t trailer_room = 16;
/// Working states a context keeps for reuse when connections give them back (beyond, they go to
/// the heap): as many as its block_pool used to keep free.
constexpr std::size_t kept_states = 1024;

/// What a kept state's block holds in place of its connection_state: the next kept one. Its
/// response slots and header array stay constructed behind it.
struct kept_state {
  char* next;
};

}  // namespace

// --- server_request -----------------------------------------------------------------------------

const header* server_request::find_header(std::string_view name) const noexcept {
  for (const header& field : head_.headers) {
    if (iequals(field.name, name)) return &field;
  }
  return nullptr;
}

bool server_request::has_body() const noexcept {
  return head_.body.kind == body_kind::chunked ||
         (head_.body.kind == body_kind::content_length && head_.body.content_length > 0);
}

bool server_request::stream_body(body_sink& sink) noexcept {
  if (!may_stream_ || !has_body()) return false;
  sink_ = &sink;
  return true;
}

// --- connection_context -------------------------------------------------------------------------

namespace {
connection_options normalized(connection_options options) noexcept {
  options.max_pipeline_depth =
      std::clamp<std::uint16_t>(options.max_pipeline_depth, 1, std::uint16_t{1024});
  if (options.parse.max_headers == 0) options.parse.max_headers = 1;
  return options;
}
}  // namespace

connection_context::connection_context(request_handler& handler, buffer_pool& pool,
                                       date_cache& date, const connection_options& options)
    : options_(normalized(options)),
      handler_(&handler),
      pool_(&pool),
      date_(&date),
      header_slots_(options_.parse.max_headers + trailer_room),
      out_capacity_(static_cast<std::uint32_t>(pool.block_size() - sizeof(detail::out_block))),
      // No free list of its own: released states are kept constructed in kept_states_ instead.
      state_pool_(headers_offset(options_.max_pipeline_depth) + header_slots_ * sizeof(header), 0) {
  if (pool.block_size() < min_block_size || pool.block_size() > max_block_size) {
    throw std::invalid_argument(
        "taut::connection_context: buffer_pool blocks must hold 256 bytes "
        "to 1 GiB");
  }
}

connection_context::~connection_context() {
  while (kept_states_ != nullptr) {
    char* block = kept_states_;
    kept_states_ = std::launder(reinterpret_cast<kept_state*>(block))->next;
    state_pool_.release(block);
  }
}

std::size_t connection_context::states_in_use() const noexcept {
  return state_pool_.in_use() - kept_count_;
}

// --- connection: lifetime -----------------------------------------------------------------------

connection::connection(connection_context& context, time_point now, void* owner) noexcept
    : ctx_(&context), read_since_(now), write_since_(now), owner_(owner), idle_(true) {
  ctx_->now_ = now;
}

connection::~connection() {
  assert(writers_ == 0 && "a response_writer outlives its connection");
  close_now();
}

bool connection::holds_nothing() const noexcept {
  return st_ == nullptr && in_ == nullptr && out_.head == nullptr;
}

bool connection::ensure_state() noexcept {
  if (st_ != nullptr) return true;
  const std::size_t depth = ctx_->options_.max_pipeline_depth;
  char* block = ctx_->kept_states_;
  if (block != nullptr) {
    // Kept by release_state(): its slots are free and empty and its headers constructed, so
    // only the connection_state in front of them is new (per request on a keep-alive
    // connection, constructing the 16 slots and 116 headers again was most of its cost).
    ctx_->kept_states_ = std::launder(reinterpret_cast<kept_state*>(block))->next;
    --ctx_->kept_count_;
  } else {
    block = ctx_->state_pool_.acquire();
    if (block == nullptr) return false;
    auto* slots = reinterpret_cast<response_slot*>(block + slots_offset());
    for (std::size_t i = 0; i < depth; ++i) ::new (static_cast<void*>(slots + i)) response_slot{};
    auto* headers = reinterpret_cast<header*>(block + headers_offset(depth));
    for (std::size_t i = 0; i < ctx_->header_slots_; ++i) {
      ::new (static_cast<void*>(headers + i)) header{};
    }
  }
  auto* slots = std::launder(reinterpret_cast<response_slot*>(block + slots_offset()));
  auto* headers = std::launder(reinterpret_cast<header*>(block + headers_offset(depth)));
  st_ = ::new (static_cast<void*>(block))
      detail::connection_state(std::span<header>(headers, ctx_->header_slots_),
                               std::span<response_slot>(slots, depth), ctx_->options_.parse);
  return true;
}

void connection::release_state() noexcept {
  if (st_ == nullptr) return;
  delete[] st_->spill;
  for (response_slot& slot : st_->slots) {
    drop_chain(slot.out);
    drop_chain(slot.fields);
    // A kept state's slots must read as free to a stale writer (slot_at) and to its next user.
    if (slot.phase != slot_phase::free) set_phase(slot, slot_phase::free);
  }
  char* block = reinterpret_cast<char*>(st_);
  st_->~connection_state();
  st_ = nullptr;
  if (ctx_->kept_count_ < kept_states) {
    ::new (static_cast<void*>(block)) kept_state{ctx_->kept_states_};
    ctx_->kept_states_ = block;
    ++ctx_->kept_count_;
  } else {
    ctx_->state_pool_.release(block);
  }
}

bool connection::ensure_input() noexcept {
  if (in_ != nullptr) return true;
  in_ = ctx_->pool_->acquire();
  if (in_ == nullptr) return false;
  in_cap_ = static_cast<std::uint32_t>(ctx_->pool_->block_size());
  in_heap_ = false;
  msg_begin_ = in_begin_ = in_end_ = 0;
  return true;
}

void connection::release_input() noexcept {
  if (in_ != nullptr) {
    if (in_heap_) {
      delete[] in_;
    } else {
      ctx_->pool_->release(in_);
    }
  }
  in_ = nullptr;
  in_cap_ = 0;
  in_heap_ = false;
  msg_begin_ = in_begin_ = in_end_ = 0;
}

void connection::close_now() noexcept {
  release_detached_sink();
  if (st_ != nullptr) {
    if (st_->body == body_phase::stream) {
      set_body(body_phase::none);
      if (body_sink* sink = std::exchange(st_->request.sink_, nullptr)) {
        fail_sink(*sink, std::make_error_code(std::errc::connection_aborted));
      }
    }
  }
  if (st_ != nullptr && st_->count > 0) {
    // The response under way at the front had bytes out: it ends here, cut short.
    response_slot& front = st_->slots[st_->front];
    if (!head_open(front) && front.phase != slot_phase::done) report(front, false);
  }
  if (st_ != nullptr) {
    for (response_slot& slot : st_->slots) {
      drop_chain(slot.out);
      drop_chain(slot.fields);
      if (slot.phase != slot_phase::free) set_phase(slot, slot_phase::free);
    }
    st_->count = 0;
    notify_drained(/*dead_only=*/true);  // producers waiting to write learn that they cannot
  }
  release_state();
  release_input();
  drop_chain(out_);
  if (upgrade_handler* handler = std::exchange(upgrade_, nullptr)) handler->on_upgrade_abandoned();
  if (state_ != state::detached) enter(state::closed);
}

void connection::abort() noexcept {
  close_now();
}

// --- connection: settling and what it wants ----------------------------------------------------

bool connection::idle() const noexcept {
  return open() && state_ == state::reading_head && in_begin_ == in_end_ &&
         (st_ == nullptr || st_->count == 0) && out_.head == nullptr;
}

/// Brings the connection to rest after every call: moves towards closing when nothing more will
/// happen, starts timers, and gives back every buffer it no longer needs.
void connection::settle() noexcept {
  if (processing_) return;
  if (broken_ && state_ != state::closed && state_ != state::detached) close_now();
  if (state_ == state::finishing && (st_ == nullptr || st_->count == 0)) {
    enter(state::closing);
  }
  if (state_ == state::closing && out_.head == nullptr) {
    if (peer_eof_) {
      close_now();
    } else {
      enter(state::lingering);
      read_since_ = ctx_->now_;
      release_state();
      release_input();
    }
  }
  if (out_.head != nullptr) {
    if (!writing_) write_since_ = ctx_->now_;
    writing_ = true;
  } else {
    writing_ = false;
  }
  if (idle()) {
    if (!idle_ && requests_ > 0) read_since_ = ctx_->now_;
    idle_ = true;
    release_state();
  }
  if (open() && state_ == state::reading_head && in_begin_ == in_end_ &&
      (st_ == nullptr || st_->body == body_phase::none)) {
    release_input();  // no byte of a next request yet: nothing to keep
  }
}

bool connection::want_read() const noexcept {
  if (!open() || peer_eof_) return false;
  return (state_ == state::reading_body && !body_paused()) ||
         (state_ == state::reading_head && may_start_request());
}

connection_wants connection::wants() const noexcept {
  connection_wants w;
  const connection_options& options = ctx_->options_;
  const time_point write_deadline =
      out_.head != nullptr ? write_since_ + options.write_timeout : time_point::max();
  switch (state_) {
    case state::closed:
      w.close = true;
      break;
    case state::detached:
      break;
    case state::upgrading:
      w.write = out_.head != nullptr;
      w.upgrade = out_.head == nullptr;
      w.deadline = write_deadline;
      break;
    case state::lingering:
      w.read = true;
      w.shutdown_write = true;
      w.deadline = read_since_ + options.linger_timeout;
      break;
    case state::closing:
      w.write = out_.head != nullptr;
      w.deadline = write_deadline;
      break;
    case state::reading_head:
    case state::holding:
    case state::reading_body:
    case state::finishing: {
      // want_read() and read_deadline() in one: the owner asks several times per request, and
      // both would ask may_start_request().
      time_point read_deadline = time_point::max();
      if (!peer_eof_) {
        if (state_ == state::reading_body) {
          w.read = !body_paused();
          if (w.read) read_deadline = read_since_ + options.body_timeout;
        } else if (state_ == state::reading_head && may_start_request()) {
          w.read = true;
          read_deadline = head_deadline();
        }
      }
      w.write = out_.head != nullptr;
      w.deadline = std::min(read_deadline, write_deadline);
      if (start_due_) w.deadline = std::min(w.deadline, ctx_->now_);
      break;
    }
  }
  return w;
}

void connection::begin_shutdown(time_point now) noexcept {
  ctx_->now_ = now;
  shutdown_ = true;
  if (open()) {
    if (state_ == state::reading_head && in_begin_ == in_end_) {
      // Idle or not, a request may be on the wire: closing with it unread would reset the
      // connection. The write side is shut and what comes is read and dropped for up to
      // linger_timeout (RFC 9112 section 9.6): the client sees a clean close, and may retry.
      stop_reading();
    } else if (st_ != nullptr) {
      // A partial head may complete and be answered, but a drain is no time to wait the whole
      // header_timeout for it: it gets linger_timeout more at most (then 408 and the close).
      const connection_options& options = ctx_->options_;
      if (state_ == state::reading_head && !whole_head_buffered() &&
          options.header_timeout > options.linger_timeout &&
          read_since_ + options.header_timeout > now + options.linger_timeout) {
        read_since_ = now + options.linger_timeout - options.header_timeout;
      }
      st_->last_request = true;
      // A head waiting for its turn is in flight too: it is answered last, with the close.
      if (st_->count > 0 && state_ != state::holding)
        close_after(st_->slots[(st_->front + st_->count - 1) % st_->slots.size()]);
    }
  }
  process();
}

void connection::take_over(void* stream) noexcept {
  if (state_ != state::upgrading || out_.head != nullptr || upgrade_ == nullptr) return;
  upgrade_handler* handler = std::exchange(upgrade_, nullptr);
  enter(state::detached);
  const std::string_view leftover =
      in_ != nullptr ? std::string_view(in_ + in_begin_, in_end_ - in_begin_) : std::string_view{};
  handler->on_upgrade(leftover, stream);
  close_now();
}

// --- connection: the state machine ------------------------------------------------------------

/// Every transition the connection makes, and only these (h11's rule: what changes the state
/// lives in one place). reading_head and reading_body alternate per request, a whole head
/// passing through holding while earlier requests are unanswered, until it may start;
/// finishing reads no more requests and answers those it has; then closing flushes, lingering
/// drains, closed ends. A switch of protocols leaves through upgrading to detached.
bool connection::allowed(state from, state to) noexcept {
  switch (from) {
    case state::reading_head:
      return to == state::holding || to == state::reading_body || to == state::finishing ||
             to == state::closed;
    case state::holding:
      return to == state::reading_head || to == state::finishing || to == state::closed;
    case state::reading_body:
      return to == state::reading_head || to == state::finishing || to == state::closed;
    case state::finishing:
      return to == state::closing || to == state::upgrading || to == state::closed;
    case state::closing:
      return to == state::lingering || to == state::closed;
    case state::lingering:
      return to == state::closed;
    case state::upgrading:
      return to == state::detached || to == state::closed;
    case state::detached:
      return false;
    case state::closed:
      return to == state::closed;
  }
  return false;
}

void connection::enter(state next) noexcept {
  assert(allowed(state_, next) && "a connection state transition outside the table");
  state_ = next;
}

/// How the body of the request being read is delivered: none between requests; buffered,
/// streamed to a sink or discarded while it is read; a streamed body whose response finished is
/// discarded from then on.
bool connection::allowed(body_phase from, body_phase to) noexcept {
  switch (from) {
    case body_phase::none:
      return true;
    case body_phase::buffer:
    case body_phase::discard:
      return to == body_phase::none;
    case body_phase::stream:
      return to == body_phase::none || to == body_phase::discard;
  }
  return false;
}

void connection::set_body(body_phase next) noexcept {
  assert(allowed(st_->body, next) && "a body phase transition outside the table");
  st_->body = next;
}

body_phase connection::take_body() noexcept {
  const body_phase phase = st_->body;
  set_body(body_phase::none);
  return phase;
}

/// A handler answered an Upgrade (101) or CONNECT (2xx): nothing more is read as HTTP; once the
/// response reaches the front of the queue the connection waits to be taken over.
void connection::switch_protocols(upgrade_handler& handler) noexcept {
  upgrade_ = &handler;
  if (reading()) enter(state::finishing);
}

}  // namespace taut
