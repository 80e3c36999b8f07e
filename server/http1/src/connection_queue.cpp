// The response queue: one slot per request in arrival order; heads (status line, the handler's
// fields, the connection's own), the connection's error responses, 100 Continue, and responses
// leaving in request order, each reported to the observer as it leaves.
#include "connection_internal.hpp"

#include <charconv>
#include <utility>

#include "taut/status.hpp"

namespace taut {

response_slot* connection::push_slot() noexcept {
  detail::connection_state& st = *st_;
  if (st.count >= st.slots.size()) return nullptr;
  const std::size_t index = (st.front + st.count) % st.slots.size();
  response_slot& slot = st.slots[index];
  slot = response_slot{};
  slot.generation = ++generation_;
  slot.started = ctx_->now_;
  set_phase(slot, slot_phase::waiting);
  ++st.count;
  return &slot;
}

response_slot* connection::slot_at(std::uint16_t index, std::uint32_t generation) noexcept {
  if (st_ == nullptr || index >= st_->slots.size()) return nullptr;
  response_slot& slot = st_->slots[index];
  if (slot.generation != generation || slot.phase == slot_phase::free) return nullptr;
  return &slot;
}

std::uint16_t connection::index_of(const response_slot& slot) const noexcept {
  return static_cast<std::uint16_t>(&slot - st_->slots.data());
}

connection::out_chain& connection::target(response_slot& slot) noexcept {
  return index_of(slot) == st_->front ? out_ : slot.out;
}

bool connection::write_status_line(response_slot& slot) noexcept {
  char code[4];
  std::to_chars(code, code + 3, slot.status);
  code[3] = ' ';
  out_chain& out = target(slot);
  return append(out, "HTTP/1.1 ") && append(out, std::string_view(code, 4)) &&
         append(out, reason_phrase(slot.status)) && append(out, "\r\n");
}

bool connection::add_field(response_slot& slot, std::string_view name,
                           std::string_view value) noexcept {
  set_phase(slot, slot_phase::head);
  return append(slot.fields, name) && append(slot.fields, ": ") && append(slot.fields, value) &&
         append(slot.fields, "\r\n");
}

bool connection::move_fields(response_slot& slot) noexcept {
  out_chain& out = target(slot);
  bool ok = true;
  for (out_block* block = slot.fields.head; block != nullptr; block = block->next) {
    ok = ok &&
         append(out, std::string_view(block->data() + block->begin, block->end - block->begin));
  }
  drop_chain(slot.fields);
  return ok;
}

void connection::drop_held_field(response_slot& slot, std::string_view name) noexcept {
  // The held lines are "name: value\r\n" (add_field), a line possibly split over two blocks:
  // walk them a byte at a time, moving each line that stays over the ones that go (the write
  // position never passes the read one), then cut what is left at the end. No allocation.
  struct cursor {
    out_block* block;
    std::uint32_t at;
    // Past the last byte of the chain.
    [[nodiscard]] bool done() const noexcept { return at == block->end && block->next == nullptr; }
    // On a byte to read or write: steps over the end of a block.
    void settle() noexcept {
      while (at == block->end && block->next != nullptr) {
        block = block->next;
        at = block->begin;
      }
    }
    char& byte() noexcept {
      settle();
      return block->data()[at];
    }
  };
  const auto fold = [](char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  if (slot.fields.head == nullptr) return;
  cursor read{slot.fields.head, slot.fields.head->begin};
  cursor write = read;
  std::size_t dropped = 0;
  read.settle();
  while (!read.done()) {
    cursor line = read;
    std::size_t length = 0;
    std::size_t matched = 0;
    bool in_name = true;
    bool same = true;
    while (!read.done()) {
      const char c = read.byte();
      ++read.at;
      ++length;
      if (in_name) {
        if (c == ':') {
          in_name = false;
          same = same && matched == name.size();
        } else if (matched < name.size() && fold(c) == fold(name[matched])) {
          ++matched;
        } else {
          same = false;
        }
      }
      if (c == '\n') break;
    }
    if (same && !in_name) {
      dropped += length;
    } else if (dropped == 0) {
      write = read;
    } else {
      for (; length > 0; --length) {
        write.byte() = line.byte();
        ++write.at;
        ++line.at;
      }
    }
    read.settle();
  }
  if (dropped == 0) return;
  queued_ -= write.block->end - write.at;
  write.block->end = write.at;
  out_chain rest{write.block->next, slot.fields.tail};
  write.block->next = nullptr;
  slot.fields.tail = write.block;
  drop_chain(rest);
}

bool connection::write_head_end(response_slot& slot, int framing, std::uint64_t length,
                                std::string_view codings, bool body_follows) noexcept {
  const connection_options& options = ctx_->options_;
  // A request body nobody reads: a client awaiting 100 Continue may never send it, and a large
  // one is cheaper to drop with the connection than to drain. A body read to its end (a sink
  // answering from on_body_end) is neither. Whenever the close is already certain, the head says
  // so (RFC 9112 section 9.6).
  if (st_->body_slot == index_of(slot) && st_->body_generation == slot.generation &&
      slot.has_body && !slot.body_read && st_->body != body_phase::buffer) {
    const auto& body = st_->request.head_.body;
    if (st_->request.sink_ == nullptr) {
      if ((slot.expect_continue && !slot.continue_sent) ||
          (body.kind == body_kind::content_length &&
           body.content_length > options.max_discard_bytes)) {
        close_after(slot);
      }
    } else if (!body_follows && body.kind == body_kind::content_length &&
               body.content_length - st_->decoder.body_size() > options.max_discard_bytes) {
      // A sink's request answered whole before its body ended: the sink is detached with this
      // head (finish_slot) and the rest discarded, which stops at max_discard_bytes.
      close_after(slot);
    }
  }
  if (framing == framing_close) close_after(slot);
  out_chain& out = target(slot);
  std::size_t field_bytes = 0;
  for (const out_block* block = slot.fields.head; block != nullptr; block = block->next) {
    field_bytes += block->end - block->begin;
  }
  const std::size_t queued_before = queued_;
  // The status line is written only now, so a handler may set the status after its fields.
  bool ok = write_status_line(slot) && move_fields(slot);
  if (!options.server_name.empty() && !slot.own_server) {
    ok = ok && append(out, "Server: ") && append(out, options.server_name) && append(out, "\r\n");
  }
  if (!slot.own_date) ok = ok && append(out, ctx_->date_->field_line());
  if (framing == framing_length) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, length).ptr;
    ok = ok && append(out, "Content-Length: ") &&
         append(out, std::string_view(digits, static_cast<std::size_t>(end - digits))) &&
         append(out, "\r\n");
  } else if (framing == framing_chunked && !codings.empty()) {
    ok = ok && append(out, "Transfer-Encoding: ") && append(out, codings) &&
         append(out, ", chunked\r\n");
  } else if (framing == framing_chunked) {
    ok = ok && append(out, "Transfer-Encoding: chunked\r\n");
  }
  if (!slot.switching) {
    if (slot.close) {
      ok = ok && append(out, "Connection: close\r\n");
    } else if (slot.http10) {
      ok = ok && append(out, "Connection: keep-alive\r\n");
    }
  }
  ok = ok && append(out, "\r\n");
  slot.head_bytes = static_cast<std::uint32_t>(queued_ - queued_before + field_bytes);
  return ok;
}

bool connection::write_error(response_slot& slot, int status, bool close) noexcept {
  if (slot.phase != slot_phase::waiting) {
    close_after(slot);
    return false;
  }
  slot.status = static_cast<std::uint16_t>(status);
  if (close) close_after(slot);
  // The body reply::error() writes ("413 Content Too Large\n"), with its fields: the same answer
  // whether the connection or a handler gives it.
  const std::string_view reason = reason_phrase(status);
  char code[4];
  std::to_chars(code, code + 3, status);
  code[3] = ' ';
  const std::string_view number(code, reason.empty() ? 3 : 4);
  add_field(slot, "Content-Type", "text/plain; charset=utf-8");
  add_field(slot, "X-Content-Type-Options", "nosniff");
  write_head_end(slot, framing_length, number.size() + reason.size() + 1);
  out_chain& out = target(slot);
  if (!slot.head_request) {
    append(out, number);
    append(out, reason);
    append(out, "\n");
    slot.body_bytes = number.size() + reason.size() + 1;
  }
  finish_slot(slot);
  return true;
}

void connection::write_continue(response_slot& slot) noexcept {
  if (slot.http10 || slot.continue_sent) return;
  append(target(slot), "HTTP/1.1 100 Continue\r\n\r\n");
  slot.continue_sent = true;
}

void connection::finish_slot(response_slot& slot) noexcept {
  set_phase(slot, slot_phase::done);
  if (slot.drain != nullptr) {  // nothing more to write
    slot.drain = nullptr;
    --st_->drain_waiters;
  }
  const std::uint16_t index = index_of(slot);
  // A response finished before its request body was read: nobody reads the rest.
  if (st_->body_slot == index && st_->body_generation == slot.generation) {
    // The sink still attached has not heard the end of its body: it is told once the call that
    // finished the response is over (release_detached_sink), so that it may delete itself.
    if (body_sink* sink = std::exchange(st_->request.sink_, nullptr)) st_->detached_sink = sink;
    if (st_->body == body_phase::stream) set_body(body_phase::discard);
  }
  if (index == st_->front) advance_front();
}

void connection::advance_front() noexcept {
  detail::connection_state& st = *st_;
  while (st.count > 0) {
    response_slot& front = st.slots[st.front];
    if (front.phase != slot_phase::done) break;
    const bool close = front.close;
    const bool switching = front.switching;
    splice(front.out);
    report(front, true);
    set_phase(front, slot_phase::free);
    st.front = static_cast<std::uint16_t>((st.front + 1) % st.slots.size());
    --st.count;
    if (switching) {
      drop_slots_after_front();
      enter(state::upgrading);
      break;
    }
    if (close) {
      drop_slots_after_front();
      stop_reading();
      break;
    }
    if (st.count > 0) splice(st.slots[st.front].out);
  }
}

/// Responses queued after a `Connection: close` one are never sent (nothing follows it).
void connection::drop_slots_after_front() noexcept {
  detail::connection_state& st = *st_;
  while (st.count > 0) {
    response_slot& slot = st.slots[st.front];
    drop_chain(slot.out);
    drop_chain(slot.fields);
    set_phase(slot, slot_phase::free);
    st.front = static_cast<std::uint16_t>((st.front + 1) % st.slots.size());
    --st.count;
  }
  notify_drained(/*dead_only=*/true);
}

bool connection::answer_unanswered(int status, time_point now) noexcept {
  ctx_->now_ = now;
  if (!open() || st_ == nullptr) return out_.head != nullptr;
  stop_reading();
  // Only the front's answer can still be sent: the responses behind it wait for it, and its
  // answer says close. One whose head is out (a body under way) cannot be answered again.
  if (st_ != nullptr && st_->count > 0) {
    response_slot& front = st_->slots[st_->front];
    if (front.phase == slot_phase::head && !becomes_tunnel(front)) discard_head(front);
    if (front.phase == slot_phase::waiting) {
      // The handler did not finish it: one waiting in on_drained() (a proxy waiting for its
      // upstream) learns there, as when the connection closes, that its writer is done.
      const response_writer::drained_function callback = std::exchange(front.drain, nullptr);
      void* const data = front.drain_data;
      if (callback != nullptr) --st_->drain_waiters;
      write_error(front, status);
      if (callback != nullptr) {
        const bool was_processing = std::exchange(processing_, true);
        callback(data);
        processing_ = was_processing;
      }
    }
  }
  return out_.head != nullptr;
}

void connection::abandon(response_slot& slot, bool unwinding, bool writer_dropped) noexcept {
  // The writer itself was dropped unfinished: what held it may be the sink, being destroyed (a
  // sink that owns its writer, deleted mid-body), so the sink is detached without a call rather
  // than told of it once it is gone.
  if (writer_dropped && st_->body_slot == index_of(slot) &&
      st_->body_generation == slot.generation) {
    st_->request.sink_ = nullptr;
  }
  // Dropped while an exception unwinds the handler: whatever state it left, close after this.
  if (unwinding) close_after(slot);
  // Dropped after its streamed request body failed (the sink gave up): the answer the connection
  // gives a buffered body that fails so (413, 400, 408), with the same reason for the observer.
  int status = 500;
  if (slot.body_failure_status != 0 && !unwinding && head_open(slot)) {
    status = slot.body_failure_status;
    slot.rejected = true;
  }
  switch (slot.phase) {
    case slot_phase::waiting:
      write_error(slot, status, unwinding);
      break;
    case slot_phase::head:
      if (becomes_tunnel(slot)) {
        // The client reads this head as a switch of protocols that upgrade() never completed:
        // nothing may follow it but the close.
        close_after(slot);
        write_head_end(slot, framing_none, 0);
        finish_slot(slot);
      } else {
        // Nothing of the head is out: its status and fields described a response the handler
        // never made (a failure after header(), a return without sending). A plain 500.
        discard_head(slot);
        write_error(slot, status, unwinding);
      }
      break;
    case slot_phase::body_length:
    case slot_phase::body_chunked:
      if (slot.phase == slot_phase::body_chunked || slot.remaining > 0) close_after(slot);
      finish_slot(slot);  // cut short: the client sees a truncated body, then the close
      break;
    case slot_phase::body_close:
      finish_slot(slot);
      break;
    case slot_phase::free:
    case slot_phase::done:
      break;
  }
}

void connection::report(response_slot& slot, bool complete) noexcept {
  if (observer_ == nullptr) return;
  response_record record;
  record.sequence = slot.sequence;
  record.status = slot.status;
  record.head_bytes = slot.head_bytes;
  record.body_bytes = slot.body_bytes;
  record.duration = ctx_->now_ - slot.started;
  record.complete = complete;
  if (slot.rejected && st_ != nullptr) {
    record.error = st_->rejection;
    record.error_offset = st_->rejection_offset;
  }
  observer_->on_response_finished(record);
}

void connection::after_writer_call() noexcept {
  if (processing_) return;  // inside a call of the connection: its owner looks at wants() after
  outside_call_ = true;
  process();
  outside_call_ = false;
  // From outside every call of the connection (a timer, another connection's handler): only the
  // owner can send what this call wrote, or free a closed connection whose last writer is gone.
  if (ctx_->wake_ != nullptr) ctx_->wake_(owner_);
}

void connection::wake_owner() noexcept {
  if (processing_) return;  // inside a call of the connection: its owner looks at wants() after
  if (ctx_->wake_ != nullptr) ctx_->wake_(owner_);
}

/// Output bytes queued in memory: file segments are counted in queued_ but stay in their files.
std::size_t connection::output_in_memory() const noexcept {
  std::size_t in_files = 0;
  const auto count_files = [&in_files](const out_chain& chain) {
    for (const out_block* block = chain.head; block != nullptr; block = block->next) {
      if (block->file_fd >= 0) in_files += static_cast<std::size_t>(block->file_left);
    }
  };
  count_files(out_);
  if (st_ != nullptr) {
    for (const response_slot& slot : st_->slots) count_files(slot.out);
  }
  return queued_ - in_files;
}

/// The bytes in memory ahead of the end of `slot`'s response: what is being sent and every
/// response up to this one. Responses queued behind it are not counted: they wait for this one to
/// end, so counting them would have it wait for a drain only its own end can bring (a streaming
/// producer paused by a pipelined response that holds its body behind it).
std::size_t connection::output_through(const response_slot& slot) const noexcept {
  const std::size_t size = st_->slots.size();
  const std::size_t position = (index_of(slot) + size - st_->front) % size;
  if (position + 1 >= st_->count) return output_in_memory();  // nothing queued behind it
  std::size_t bytes = 0;
  const auto count = [&bytes](const out_chain& chain) {
    for (const out_block* block = chain.head; block != nullptr; block = block->next) {
      bytes += block->end - block->begin;  // a file segment's bytes stay in its file
    }
  };
  count(out_);
  for (std::size_t i = 0; i <= position; ++i) {
    const response_slot& ahead = st_->slots[(st_->front + i) % size];
    count(ahead.out);
    count(ahead.fields);
  }
  return bytes;
}

/// Runs the on_drained() callbacks that are due: those of responses that can no longer be
/// written (their slots were freed: the connection closed, or they queued behind a close), and,
/// unless `dead_only`, every one once the output has fallen to half of max_output_bytes. Like a
/// handler call, a callback's writer calls do not process the connection again. Returns whether
/// any ran.
bool connection::notify_drained(bool dead_only) noexcept {
  if (st_ == nullptr || st_->drain_waiters == 0) return false;
  const std::size_t half = ctx_->options_.max_output_bytes / 2;
  const bool drained = !dead_only && output_in_memory() <= half;
  const bool was_processing = std::exchange(processing_, true);
  bool called = false;
  for (std::size_t i = 0; st_ != nullptr && i < st_->slots.size(); ++i) {
    response_slot& slot = st_->slots[i];
    if (slot.drain == nullptr) continue;
    // A live slot's own mark: what is ahead of its end (output_through), not what waits behind.
    if (slot.phase != slot_phase::free &&
        (slot.drain_dead_only || (!drained && (dead_only || output_through(slot) > half)))) {
      continue;
    }
    const response_writer::drained_function callback = std::exchange(slot.drain, nullptr);
    --st_->drain_waiters;
    callback(slot.drain_data);
    called = true;
  }
  processing_ = was_processing;
  return called;
}

}  // namespace taut
