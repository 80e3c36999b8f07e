// Reading: the input buffer (borrowed, grown, spilled), parsing request heads, dispatching them to
// the handler, and the body (buffered, streamed or discarded) until the next head.
#include "connection_internal.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>
#include <utility>

namespace taut {
namespace {

/// The Expect field of `req` that asks for something other than 100-continue, or null. RFC 9110
/// section 10.1.1: a server MAY answer 417 to an expectation it cannot meet, which Go's server (and
/// Apache's) do, closing after it; taut does the same rather than serve the request as if the
/// client had not asked. An empty value asks for nothing.
const header* unmet_expectation(const taut::request& req) noexcept {
  for (const header& field : req.headers) {
    if (field.name.size() == 6 && chars::iequals(field.name, "expect") && !field.value.empty() &&
        !chars::iequals(field.value, "100-continue")) {
      return &field;
    }
  }
  return nullptr;
}

}  // namespace

// --- connection: input --------------------------------------------------------------------------

std::span<char> connection::read_buffer() noexcept {
  if (state_ == state::lingering) {
    if (!ensure_input()) return {};
    msg_begin_ = in_begin_ = in_end_ = 0;
    return {in_, in_cap_};
  }
  if (!want_read()) return {};
  if (!ensure_input()) {
    close_now();
    return {};
  }
  if (in_end_ == in_cap_) make_room();
  if (in_ == nullptr || in_end_ == in_cap_) return {};
  return {in_ + in_end_, in_cap_ - in_end_};
}

void connection::commit_read(std::size_t bytes, time_point now) noexcept {
  ctx_->now_ = now;
  if (state_ == state::lingering) {
    msg_begin_ = in_begin_ = in_end_ = 0;  // read only to be thrown away
    settle();
    return;
  }
  if (bytes > 0 && in_ != nullptr && open()) {
    assert(bytes <= in_cap_ - in_end_);
    bytes = std::min<std::size_t>(bytes, in_cap_ - in_end_);
    const bool was_empty = in_begin_ == in_end_;
    in_end_ += static_cast<std::uint32_t>(bytes);
    idle_ = false;
    if (state_ == state::reading_head && was_empty && requests_ > 0) {
      read_since_ = now;  // the head timer starts with the first byte of a head
    } else if (state_ == state::reading_body && st_ != nullptr && st_->body != body_phase::buffer) {
      read_since_ = now;  // streamed and discarded bodies time out between bytes
    }
  }
  process();
}

std::size_t connection::receive(std::string_view bytes, time_point now) noexcept {
  std::size_t taken = 0;
  ctx_->now_ = now;
  while (taken < bytes.size()) {
    const std::span<char> space = read_buffer();
    if (space.empty()) break;
    const std::size_t n = std::min(space.size(), bytes.size() - taken);
    std::memcpy(space.data(), bytes.data() + taken, n);
    taken += n;
    commit_read(n, now);
  }
  if (taken == 0) settle();
  return taken;
}

void connection::receive_eof(time_point now) noexcept {
  ctx_->now_ = now;
  peer_eof_ = true;
  if (state_ == state::lingering) {
    close_now();
    return;
  }
  if (open()) {
    if (state_ == state::reading_body) {
      fail_body(make_error_code(errc::body_cut_short), default_status(errc::body_cut_short));
    } else if (state_ == state::holding || whole_head_buffered()) {
      // RFC 9112 section 9.6: the client only half-closed. Every whole request it sent is still
      // answered, each in its turn (a head waiting for earlier answers, or unparsed because no
      // slot is free), the last with `close` (dispatch() looks ahead once peer_eof_ is set).
    } else {
      stop_reading();  // a partial head is dropped: nobody is left to read an answer to it
    }
  }
  process();
}

/// Makes space at the end of the input buffer, which is full. The bytes still needed are kept;
/// views into them (the parser's, the request's) are moved along.
void connection::make_room() noexcept {
  const bool buffering =
      state_ == state::reading_body && st_ != nullptr && st_->body == body_phase::buffer;
  if (!buffering) {
    if (msg_begin_ > 0) {
      // The parser rebases its own views on its next call; nothing else points here.
      std::memmove(in_, in_ + msg_begin_, in_end_ - msg_begin_);
      in_begin_ -= msg_begin_;
      in_end_ -= msg_begin_;
      msg_begin_ = 0;
      return;
    }
  } else {
    // Chunk framing lies between the bytes kept (the decoded body in place, or the head once the
    // body spilled) and the undecoded bytes: closing that gap is the cheapest room.
    const std::uint32_t kept_end = st_->spill == nullptr ? st_->body_end : st_->head_end;
    if (in_begin_ > kept_end) {
      const std::uint32_t gap = in_begin_ - kept_end;
      std::memmove(in_ + kept_end, in_ + in_begin_, in_end_ - in_begin_);
      in_begin_ -= gap;
      in_end_ -= gap;
      return;
    }
    if (msg_begin_ > 0) {
      relocate_message();
      return;
    }
    if (st_->spill == nullptr && spill_body() && in_end_ < in_cap_) return;
  }
  if (broken_) return;
  const std::size_t head_limit =
      ctx_->options_.parse.max_request_line + ctx_->options_.parse.max_header_bytes;
  if (grow_input(std::min<std::size_t>(std::size_t{in_cap_} * 2,
                                       2 * head_limit + ctx_->pool_->block_size()))) {
    return;
  }
  // Nothing fits: a head or trailer section larger than any limit allows.
  if (state_ == state::reading_head) {
    reject(431, make_error_code(errc::header_section_too_large), in_end_ - msg_begin_);
  } else {
    fail_body(make_error_code(errc::header_section_too_large), 431);
  }
}

/// Moves the current message to the front of the input buffer.
void connection::relocate_message() noexcept {
  const std::uint32_t shift = msg_begin_;
  const char* old_base = in_ + msg_begin_;
  const std::size_t size = in_end_ - msg_begin_;
  std::memmove(in_, in_ + msg_begin_, size);
  if (st_ != nullptr && state_ == state::reading_body) {
    taut::request& head = st_->request.head_;
    detail::rebase(head.method_name, old_base, size, in_);
    detail::rebase(head.target, old_base, size, in_);
    detail::rebase(head.host, old_base, size, in_);
    detail::rebase(head.upgrade_protocols, old_base, size, in_);
    for (std::size_t i = 0; i < head.headers.size(); ++i) {
      detail::rebase(st_->headers[i].name, old_base, size, in_);
      detail::rebase(st_->headers[i].value, old_base, size, in_);
    }
    st_->head_end -= shift;
    st_->body_end -= shift;
  }
  msg_begin_ = 0;
  in_begin_ -= shift;
  in_end_ -= shift;
}

/// Replaces the input block by a larger heap buffer (for a head or trailer section larger than a
/// block; bounded by the parser's limits).
bool connection::grow_input(std::size_t capacity) noexcept {
  if (capacity <= in_cap_) return false;
  char* bigger = new (std::nothrow) char[capacity];
  if (bigger == nullptr) {
    broken_ = true;
    return false;
  }
  std::memcpy(bigger, in_, in_end_);
  if (st_ != nullptr && state_ == state::reading_body) {
    taut::request& head = st_->request.head_;
    detail::rebase(head.method_name, in_, in_end_, bigger);
    detail::rebase(head.target, in_, in_end_, bigger);
    detail::rebase(head.host, in_, in_end_, bigger);
    detail::rebase(head.upgrade_protocols, in_, in_end_, bigger);
    for (std::size_t i = 0; i < head.headers.size(); ++i) {
      detail::rebase(st_->headers[i].name, in_, in_end_, bigger);
      detail::rebase(st_->headers[i].value, in_, in_end_, bigger);
    }
  }
  const std::uint32_t begin = msg_begin_;
  const std::uint32_t next = in_begin_;
  const std::uint32_t end = in_end_;
  release_input();
  in_ = bigger;
  in_cap_ = static_cast<std::uint32_t>(capacity);
  in_heap_ = true;
  msg_begin_ = begin;
  in_begin_ = next;
  in_end_ = end;
  return true;
}

/// Moves a buffered body that outgrew the input block into a heap buffer of its own.
bool connection::spill_body() noexcept {
  detail::connection_state& st = *st_;
  const std::size_t size = st.body_end - st.head_end;
  const std::uint64_t limit = st.request.body_limit_;
  std::uint64_t capacity = st.request.head_.body.kind == body_kind::content_length
                               ? st.request.head_.body.content_length
                               : std::max<std::uint64_t>(2 * size, ctx_->pool_->block_size());
  capacity = std::max<std::uint64_t>(std::min(capacity, limit), size);
  if (capacity == 0) return false;
  char* spill = new (std::nothrow) char[capacity];
  if (spill == nullptr) {
    broken_ = true;
    return false;
  }
  std::memcpy(spill, in_ + st.head_end, size);
  st.spill = spill;
  st.spill_size = size;
  st.spill_cap = static_cast<std::size_t>(capacity);
  const std::uint32_t gap = in_begin_ - st.head_end;
  std::memmove(in_ + st.head_end, in_ + in_begin_, in_end_ - in_begin_);
  in_begin_ -= gap;
  in_end_ -= gap;
  st.body_end = st.head_end;
  return true;
}

bool connection::append_body(std::string_view data) noexcept {
  detail::connection_state& st = *st_;
  if (st.spill == nullptr) {
    // In place: decoded bytes never run ahead of the encoded ones, so this only moves backwards.
    std::memmove(in_ + st.body_end, data.data(), data.size());
    st.body_end += static_cast<std::uint32_t>(data.size());
    return true;
  }
  if (st.spill_cap - st.spill_size < data.size()) {
    const std::size_t needed = st.spill_size + data.size();
    const std::size_t capacity = static_cast<std::size_t>(std::max<std::uint64_t>(
        needed, std::min<std::uint64_t>(2 * st.spill_cap, st.request.body_limit_)));
    char* bigger = new (std::nothrow) char[capacity];
    if (bigger == nullptr) return false;
    std::memcpy(bigger, st.spill, st.spill_size);
    delete[] st.spill;
    st.spill = bigger;
    st.spill_cap = capacity;
  }
  std::memcpy(st.spill + st.spill_size, data.data(), data.size());
  st.spill_size += data.size();
  return true;
}

// --- connection: processing ---------------------------------------------------------------------

void connection::process() noexcept {
  if (processing_) return;  // a writer call from inside a handler: the outer loop continues
  processing_ = true;
  if (!outside_call_) start_due_ = false;  // the owner's call: whatever may start, starts now
  do {
    while (step()) {
    }
  } while (notify_drained(/*dead_only=*/false));  // a producer may finish and let the next start
  processing_ = false;
  release_detached_sink();
  settle();
}

/// Tells a sink detached by an early answer (finish_slot) that it gets no more of its body. Only
/// between steps of process() and from close_now(): never inside the sink's own on_body_data()
/// or a handler's call, so the sink may delete itself here; and before any next request starts.
void connection::release_detached_sink() noexcept {
  if (st_ == nullptr) return;
  if (body_sink* sink = std::exchange(st_->detached_sink, nullptr)) {
    fail_sink(*sink, std::make_error_code(std::errc::operation_canceled));
  }
}

bool connection::step() noexcept {
  // Before anything else happens (a next request starting), a sink detached by the call that
  // the last step made (a handler, a sink, a drained callback answering) hears of it.
  release_detached_sink();
  if (!open() || broken_) return false;
  honour_close();
  if (state_ == state::reading_body) {
    if (body_paused()) {
      read_since_ = ctx_->now_;  // waiting for our own output, not the client: the timer restarts
      return false;
    }
    if (read_body()) return true;
    // A request that waited its turn past the client's EOF: what was read of its body is all
    // there will be.
    if (peer_eof_ && state_ == state::reading_body) {
      fail_body(make_error_code(errc::body_cut_short), default_status(errc::body_cut_short));
    }
    return false;
  }
  if (state_ == state::holding) return start_held();
  if (state_ != state::reading_head || !may_start_request()) return false;
  if (in_begin_ != in_end_ && parse_head()) return true;
  // Past the client's EOF nothing more arrives: what is left cannot become a request.
  if (peer_eof_ && state_ == state::reading_head) stop_reading();
  return false;
}

/// Whether the unparsed input holds the empty line that ends a head (the parser takes a bare LF
/// as a line end too): the parser will then complete it or refuse it, never wait for more.
bool connection::whole_head_buffered() const noexcept {
  return in_ != nullptr && whole_head_from(msg_begin_);
}

/// Whether the input from `offset` holds a whole head. Empty lines before a request line are
/// skipped, as the parser skips them (RFC 9112 section 2.2): they end no head.
bool connection::whole_head_from(std::uint64_t offset) const noexcept {
  if (offset >= in_end_) return false;
  std::string_view rest(in_ + offset, in_end_ - offset);
  while (!rest.empty() && (rest.front() == '\r' || rest.front() == '\n')) rest.remove_prefix(1);
  return rest.find("\n\r\n") != std::string_view::npos ||
         rest.find("\n\n") != std::string_view::npos;
}

/// A streamed body is not read while the output is over max_output_bytes: a handler that answers
/// as it reads (an echo, a proxy) would otherwise buffer whatever the client sends and does not
/// read back. Reading resumes as the client takes the output. Nor while its handler holds it
/// (response_writer::hold_body): a proxy whose upstream takes the body slower than the client
/// sends it.
bool connection::body_paused() const noexcept {
  const std::size_t high_water = ctx_->options_.max_output_bytes;
  return st_ != nullptr && st_->body == body_phase::stream &&
         (st_->body_held || (queued_ >= high_water && output_in_memory() >= high_water));
}

bool connection::hold_body(response_slot& slot, bool hold) noexcept {
  // A streamed body, or one the handler being called may still choose to stream.
  const bool streamed =
      st_ != nullptr && (st_->body == body_phase::stream || st_->request.may_stream_);
  if (!streamed || st_->body_slot != index_of(slot) || st_->body_generation != slot.generation) {
    return false;
  }
  if (st_->body_held && !hold) st_->body_released = true;
  st_->body_held = hold;
  return true;
}

/// RFC 9112 section 9.6: once the connection knows that a response will close it (whatever says
/// so: the request, the handler, an answer cut short), no request behind that response starts:
/// its answer could never be sent. The body of the request that response answers is still read
/// to its end (a handler may answer an upload while reading it); a later request already in
/// progress (a safe one, started before the close was known) is given up.
void connection::honour_close() noexcept {
  if (st_ == nullptr || st_->closing_generation == 0 || !reading()) return;
  if (state_ == state::reading_body && st_->body_generation == st_->closing_generation) {
    st_->last_request = true;
  } else {
    stop_reading();
  }
}

bool connection::may_start_request() const noexcept {
  if (state_ != state::reading_head || !open()) return false;
  if (st_ == nullptr) return true;
  if (st_->count >= st_->slots.size()) return false;
  if (queued_ >= ctx_->options_.max_output_bytes) return false;
  if (st_->count > 0) {
    const response_slot& back = st_->slots[(st_->front + st_->count - 1) % st_->slots.size()];
    if (back.hold && back.phase != slot_phase::done) return false;
  }
  return true;
}

namespace {
/// RFC 9110 section 9.2.1.
bool safe_method(method m) noexcept {
  return m == method::get || m == method::head || m == method::options || m == method::trace;
}
}  // namespace

/// RFC 9112 section 9.3.2: only pipelined requests with safe methods may be processed in
/// parallel. So a request waits while an earlier one is unanswered (its handler has not finished
/// the response) unless both are safe. A finished response still queued behind another holds
/// nothing up: its request's side effects are done, and responses leave in order anyway.
bool connection::must_wait(method next) const noexcept {
  if (st_ == nullptr || st_->count == 0) return false;
  if (st_->unsafe_unanswered > 0) return true;
  if (safe_method(next)) return false;
  std::size_t index = st_->front;
  for (std::size_t i = 0; i < st_->count; ++i) {
    if (st_->slots[index].phase != slot_phase::done) return true;
    if (++index == st_->slots.size()) index = 0;
  }
  return false;
}

/// Starts the request whose head waits in the parser, if its turn has come and the owner is
/// calling; false while it waits.
bool connection::start_held() noexcept {
  if (must_wait(st_->parser.request().method)) return false;
  // As may_start_request(): no new answer on top of output the client has not taken; the
  // commit_write() that brings it under the limit calls again.
  if (queued_ >= ctx_->options_.max_output_bytes) return false;
  if (outside_call_) {
    start_due_ = true;  // see wants(): the owner calls on_timer() at once
    return false;
  }
  enter(state::reading_head);
  return dispatch(std::exchange(st_->held_head, 0));
}

bool connection::parse_head() noexcept {
  if (!ensure_state()) {
    close_now();
    return false;
  }
  const parse_result r =
      st_->parser.parse(std::string_view(in_ + msg_begin_, in_end_ - msg_begin_));
  if (r.incomplete()) return false;
  if (r.failed()) {
    reject(r.error.status, make_error_code(r.error.code), r.error.offset);
    return false;
  }
  if (const header* expect = unmet_expectation(st_->parser.request()); expect != nullptr) {
    reject(417, std::make_error_code(std::errc::not_supported),
           static_cast<std::uint64_t>(expect->name.data() - (in_ + msg_begin_)));
    return false;
  }
  // Nothing before it is unanswered (every synchronous handler's case): it starts at once.
  if (st_->count == 0 && !outside_call_) return dispatch(r.consumed);
  // The head (and the parser's views into the input) stays put while it waits: nothing is read
  // in the meantime.
  st_->held_head = static_cast<std::uint32_t>(r.consumed);
  enter(state::holding);
  return start_held();
}

bool connection::dispatch(std::size_t head_size) noexcept {
  detail::connection_state& st = *st_;
  const connection_options& options = ctx_->options_;
  server_request& request = st.request;
  request = server_request{};
  request.head_ = st.parser.request();
  st.parser.reset();  // the views stay valid: reset() leaves the header storage alone
  const taut::request& req = request.head_;
  ++requests_;
  request.sequence_ = requests_;
  request.body_limit_ = options.max_body_bytes;
  response_slot* slot = push_slot();
  // Past the client's EOF, the last whole request it sent is answered with `close`. A chunked
  // body's end is not known yet: end_body() decides for it.
  const bool last_before_eof =
      peer_eof_ &&
      !whole_head_from(std::uint64_t{in_begin_} + head_size +
                       (req.body.kind == body_kind::content_length ? req.body.content_length : 0));
  const bool keep_alive = req.keep_alive && !shutdown_ && !last_before_eof &&
                          (options.max_requests == 0 || requests_ < options.max_requests);
  const bool has_body = request.has_body();
  slot->head_request = req.method == method::head;
  slot->http10 = req.version_minor == 0;
  slot->connect = req.method == method::connect;
  slot->upgrade_request = req.upgrade;
  slot->hold = req.upgrade || req.method == method::connect;
  slot->unsafe = !safe_method(req.method);
  if (slot->unsafe) ++st.unsafe_unanswered;
  slot->has_body = has_body;
  slot->expect_continue = has_body && req.expect_continue;
  if (!keep_alive) close_after(*slot);
  slot->sequence = requests_;
  const std::uint16_t index = index_of(*slot);
  const std::uint32_t generation = slot->generation;

  st.body_slot = index;
  st.body_generation = generation;
  st.body_held = false;
  st.body_released = false;
  set_body(body_phase::none);
  st.last_request = !keep_alive;
  const std::uint32_t head_end = in_begin_ + static_cast<std::uint32_t>(head_size);
  st.head_size = static_cast<std::uint32_t>(head_size);
  st.body_consumed = 0;

  body_mode mode = body_mode::buffer;
  try {
    mode = ctx_->handler_->on_head(request);
  } catch (...) {
    if (response_slot* s = slot_at(index, generation)) write_error(*s, 500);
    in_begin_ = msg_begin_ = head_end;
    stop_reading();
    return false;
  }

  if (!has_body) {
    in_begin_ = head_end;
    call_handler(index);
    msg_begin_ = in_begin_;
    if (st_->last_request || shutdown_) {
      stop_reading();
    } else {
      read_since_ = ctx_->now_;
    }
    return true;
  }

  if (req.body.kind == body_kind::content_length && req.body.content_length > request.body_limit_) {
    if (response_slot* s = slot_at(index, generation)) {
      s->rejected = true;
      st.rejection = std::make_error_code(std::errc::message_size);
      st.rejection_offset = head_size;  // where the body too large to take would begin
      write_error(*s, 413);
    }
    in_begin_ = msg_begin_ = head_end;
    stop_reading();
    return false;
  }
  const std::size_t used = req.headers.size();
  st.decoder = body_decoder(req.body, options.parse,
                            std::span<header>(st.headers.data() + used, st.headers.size() - used));
  st.discarded = 0;
  read_since_ = ctx_->now_;

  if (mode == body_mode::buffer) {
    if (slot->expect_continue) write_continue(*slot);
    set_body(body_phase::buffer);
    st.head_end = st.body_end = head_end;
    in_begin_ = head_end;
    enter(state::reading_body);
    return true;
  }

  // Streamed or discarded: the handler sees the head now, and may attach a sink.
  request.may_stream_ = mode == body_mode::stream;
  in_begin_ = head_end;
  call_handler(index);
  request.may_stream_ = false;
  msg_begin_ = in_begin_;
  if (!open() || state_ != state::reading_head) return false;
  response_slot* s = slot_at(index, generation);
  if (request.sink_ != nullptr) {
    if (s != nullptr && s->expect_continue && !s->continue_sent &&
        s->phase == slot_phase::waiting) {
      write_continue(*s);
    }
    set_body(body_phase::stream);
    enter(state::reading_body);
    return true;
  }
  // Nobody wants the body. A client awaiting 100 Continue may never send it, and one too large
  // costs more to drain than a new connection: close after the response (RFC 9110 10.1.1).
  const bool awaiting_continue = req.expect_continue && (s == nullptr || !s->continue_sent);
  const bool too_large = req.body.kind == body_kind::content_length &&
                         req.body.content_length > options.max_discard_bytes;
  if (awaiting_continue || too_large) {
    if (s != nullptr) close_after(*s);
    stop_reading();
    return false;
  }
  set_body(body_phase::discard);
  enter(state::reading_body);
  return true;
}

void connection::call_handler(std::uint16_t index) noexcept {
  const std::uint32_t generation = st_->slots[index].generation;
  st_->slots[index].answering = true;
  try {
    ctx_->handler_->on_request(st_->request, response_writer(this, index, generation));
  } catch (...) {
    // The writer was dropped while unwinding (answering 500 if nothing was written); whatever
    // state the handler left, this connection serves no more requests.
    stop_reading();
  }
  st_->slots[index].answering = false;
}

bool connection::read_body() noexcept {
  detail::connection_state& st = *st_;
  if (in_begin_ == in_end_) return false;
  const std::string_view input(in_ + in_begin_, in_end_ - in_begin_);
  const body_result r = st.decoder.decode(input);
  if (!r.data.empty()) {
    switch (st.body) {
      case body_phase::buffer:
        if (st.decoder.body_size() > st.request.body_limit_) {
          fail_body(std::make_error_code(std::errc::message_size), 413);
          return false;
        }
        if (!append_body(r.data)) {
          fail_body(std::make_error_code(std::errc::not_enough_memory), 503);
          return false;
        }
        break;
      case body_phase::stream:
        if (st.decoder.body_size() > st.request.body_limit_) {
          fail_body(std::make_error_code(std::errc::message_size), 413);
          return false;
        }
        feed_sink(r.data);
        if (state_ != state::reading_body) return false;  // the sink threw: nothing more
        break;
      case body_phase::discard:
        st.discarded += r.data.size();
        if (st.discarded > ctx_->options_.max_discard_bytes) {
          if (response_slot* s = slot_at(st.body_slot, st.body_generation)) close_after(*s);
          set_body(body_phase::none);
          stop_reading();
          return false;
        }
        break;
      case body_phase::none:
        break;
    }
  }
  in_begin_ += static_cast<std::uint32_t>(r.consumed);
  if (state_ != state::reading_body) return false;  // a callback closed the connection
  st.body_consumed += r.consumed;
  if (st.body != body_phase::buffer) msg_begin_ = in_begin_;
  if (r.status == parse_status::error) {
    fail_body(make_error_code(r.error.code), r.error.status, r.error.offset);
    return false;
  }
  if (r.status == parse_status::complete) {
    end_body();
    return true;
  }
  return r.consumed > 0;
}

void connection::end_body() noexcept {
  detail::connection_state& st = *st_;
  const body_phase phase = take_body();
  if (response_slot* s = slot_at(st.body_slot, st.body_generation)) {
    s->body_read = true;
    // Past the client's EOF with no whole request after this one: its answer is the last.
    if (peer_eof_ && !whole_head_from(in_begin_)) {
      st.last_request = true;
      close_after(*s);
    }
  }
  switch (phase) {
    case body_phase::buffer: {
      st.request.body_ = st.spill != nullptr
                             ? std::string_view(st.spill, st.spill_size)
                             : std::string_view(in_ + st.head_end, st.body_end - st.head_end);
      st.request.trailers_ = st.decoder.trailers();
      if (response_slot* s = slot_at(st.body_slot, st.body_generation);
          s != nullptr && s->phase == slot_phase::waiting) {
        call_handler(st.body_slot);
      }
      st.request.body_ = {};
      delete[] std::exchange(st_->spill, nullptr);
      st_->spill_size = st_->spill_cap = 0;
      break;
    }
    case body_phase::stream:
      if (body_sink* sink = std::exchange(st.request.sink_, nullptr)) {
        end_sink(*sink, st.decoder.trailers());
      }
      break;
    case body_phase::discard:
    case body_phase::none:
      break;
  }
  msg_begin_ = in_begin_;
  if (state_ != state::reading_body) return;
  if (st_->last_request || shutdown_) {
    stop_reading();
  } else {
    enter(state::reading_head);
    read_since_ = ctx_->now_;
  }
}

/// The body being read ended badly: tell whoever waits for it, answer if nobody has, and read
/// no more.
void connection::fail_body(std::error_code error, int status) noexcept {
  fail_body(error, status, st_ != nullptr ? st_->body_consumed : 0);
}

/// As above, `body_offset` bytes into the body (as received, framing included).
void connection::fail_body(std::error_code error, int status, std::uint64_t body_offset) noexcept {
  if (st_ == nullptr || state_ != state::reading_body) return;
  detail::connection_state& st = *st_;
  const body_phase phase = take_body();
  if (phase == body_phase::stream) {
    if (body_sink* sink = std::exchange(st.request.sink_, nullptr)) {
      // A sink that gives up by dropping its writer (deleting itself in on_body_error) leaves
      // the answer to the connection: the body's own status (see abandon()).
      if (response_slot* s = slot_at(st.body_slot, st.body_generation); s != nullptr) {
        s->body_failure_status = static_cast<std::uint16_t>(status);
        st.rejection = error;
        st.rejection_offset = st.head_size + body_offset;
      }
      fail_sink(*sink, error);
    }
  }
  if (response_slot* s = slot_at(st.body_slot, st.body_generation)) {
    if (s->phase == slot_phase::waiting && phase != body_phase::discard) {
      s->rejected = true;
      st.rejection = error;
      st.rejection_offset = st.head_size + body_offset;
      write_error(*s, status);
    } else {
      close_after(*s);
    }
  }
  stop_reading();
}

// A body_sink is the handler's code, called long after on_request() returned: an exception
// from it cannot become an answer. The sink gets no more calls, nothing more is read, and the
// connection closes (its response, if any, cut short); the server and its other connections go
// on. Without this, the exception would leave a noexcept function and end the process.
void connection::feed_sink(std::string_view data) noexcept {
  body_sink* const sink = st_->request.sink_;
  try {
    sink->on_body_data(data);
  } catch (...) {
    st_->request.sink_ = nullptr;
    // It may have answered before throwing, which detached it: it hears nothing of that either.
    if (st_->detached_sink == sink) st_->detached_sink = nullptr;
    broken_ = true;
    stop_reading();
  }
}

void connection::end_sink(body_sink& sink, std::span<const header> trailers) noexcept {
  try {
    sink.on_body_end(trailers);
  } catch (...) {
    broken_ = true;
    stop_reading();
  }
}

void connection::fail_sink(body_sink& sink, std::error_code error) noexcept {
  try {
    sink.on_body_error(error);
  } catch (...) {
    broken_ = true;
  }
}

void connection::stop_reading() noexcept {
  if (!reading()) return;
  if (state_ == state::reading_body && st_ != nullptr && st_->body != body_phase::none) {
    const body_phase phase = take_body();
    if (phase == body_phase::stream) {
      if (body_sink* sink = std::exchange(st_->request.sink_, nullptr)) {
        fail_sink(*sink, std::make_error_code(std::errc::connection_aborted));
      }
    }
    if (response_slot* s = slot_at(st_->body_slot, st_->body_generation);
        s != nullptr && s->phase == slot_phase::waiting && phase == body_phase::buffer) {
      write_error(*s, 503);  // its handler will never run
    }
  }
  enter(state::finishing);
  if (st_ != nullptr) {
    delete[] std::exchange(st_->spill, nullptr);
    st_->spill_size = st_->spill_cap = 0;
    if (st_->count > 0) close_after(st_->slots[(st_->front + st_->count - 1) % st_->slots.size()]);
  }
}

/// Answers a message the connection cannot take as a request with `status`, and reads no more.
void connection::reject(int status, std::error_code error, std::uint64_t offset) noexcept {
  if (!ensure_state()) {
    close_now();
    return;
  }
  if (response_slot* slot = push_slot()) {
    st_->body_slot = index_of(*slot);
    st_->body_generation = slot->generation;
    slot->head_request = rejected_message_is_head();
    slot->rejected = true;
    st_->rejection = error;
    st_->rejection_offset = offset;
    write_error(*slot, status);
  }
  stop_reading();
}

/// Whether the message being rejected is a HEAD request, judged from its bytes (the parser gives
/// no request when it fails): its error response then carries no body (RFC 9110 section 9.3.2).
bool connection::rejected_message_is_head() const noexcept {
  if (in_ == nullptr) return false;
  std::string_view bytes(in_ + msg_begin_, in_end_ - msg_begin_);
  while (!bytes.empty() && (bytes.front() == '\r' || bytes.front() == '\n')) bytes.remove_prefix(1);
  return bytes.starts_with("HEAD ");
}

}  // namespace taut
