// A response's life in its slot, and every change of its phase (h11's rule again: what changes
// the state lives in one place):
//
//   free -> waiting -> head -> body_length | body_chunked | body_close -> done -> free
//
// waiting and head may go straight to done (a response written whole: send, send_file, an error,
// an upgrade), and any phase to free (the slot dropped with the connection or behind a close).
// response_writer checks nothing of the slot itself: it calls these and lets the connection move
// on; the queue (connection_queue.cpp) writes heads and hands finished responses out in order.
#include "connection_internal.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <charconv>

#include "taut/status.hpp"

namespace taut {

bool connection::allowed(slot_phase from, slot_phase to) noexcept {
  switch (from) {
    case slot_phase::free:
      return to == slot_phase::waiting;
    case slot_phase::waiting:
      return to != slot_phase::waiting;
    case slot_phase::head:
      return true;  // back to waiting when its held fields are dropped (discard_head)
    case slot_phase::body_length:
    case slot_phase::body_chunked:
    case slot_phase::body_close:
      return to == slot_phase::done || to == slot_phase::free;
    case slot_phase::done:
      return to == slot_phase::free;
  }
  return false;
}

void connection::set_phase(response_slot& slot, slot_phase next) noexcept {
  assert(allowed(slot.phase, next) && "a response slot transition outside the table");
  const auto unanswered = [](slot_phase phase) {
    return phase != slot_phase::free && phase != slot_phase::done;
  };
  if (slot.unsafe && unanswered(slot.phase) && !unanswered(next)) --st_->unsafe_unanswered;
  slot.phase = next;
}

bool connection::set_response_status(response_slot& slot, int status) noexcept {
  if (!head_open(slot)) return false;
  if (status == 101 ? !slot.upgrade_request : (status < 200 || status > 599)) return false;
  slot.status = static_cast<std::uint16_t>(status);
  return true;
}

bool connection::add_response_field(response_slot& slot, std::string_view name,
                                    std::string_view value, bool parsed) noexcept {
  if (!head_open(slot)) return false;
  if (iequals(name, "date")) {
    // One Date: the handler's when it gives a valid one (a proxy passing on its origin's, RFC
    // 9110 section 6.6.1), else the connection's.
    if (slot.own_date || !is_imf_fixdate(value)) return false;
    slot.own_date = true;
    return add_field(slot, name, value);
  }
  // A field value has no leading or trailing whitespace (RFC 9110 section 5.5): refused like
  // CR and LF rather than trimmed, so what is written is what the handler gave.
  // A field from taut's own parser (response_writer::add_header with parsed_field) has had its
  // bytes checked there: only what the parser does not know (the managed fields) is checked.
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  const auto well_formed = [&] {
    return is_token(name) && is_field_value(value) &&
           (value.empty() || (!blank(value.front()) && !blank(value.back())));
  };
  assert((!parsed || well_formed()) && "a parsed_field that taut's parser would not give");
  if ((!parsed && !well_formed()) || detail::managed_field(name)) return false;
  if (iequals(name, "server")) slot.own_server = true;
  if (iequals(name, "connection")) {
    bool other = false;
    detail::for_each_token(value, [&](std::string_view token) {
      if (iequals(token, "close")) {
        close_after(slot);
      } else if (!iequals(token, "keep-alive")) {
        other = true;
      }
    });
    if (!other) return true;  // the connection writes its own close / keep-alive
  }
  if (const int singleton = detail::singleton_field(name); singleton >= 0) {
    const auto bit = static_cast<std::uint16_t>(1U << singleton);
    if ((slot.held_singletons & bit) != 0) drop_held_field(slot, name);
    slot.held_singletons |= bit;
  }
  return add_field(slot, name, value);
}

bool connection::discard_head(response_slot& slot) noexcept {
  if (!head_open(slot)) return false;
  drop_chain(slot.fields);
  slot.status = 200;
  slot.own_date = false;
  slot.own_server = false;
  slot.held_singletons = 0;
  if (slot.phase == slot_phase::head) set_phase(slot, slot_phase::waiting);
  return true;
}

void connection::close_after(response_slot& slot) noexcept {
  slot.close = true;
  // Generations grow with each request: the smallest is the first response that closes.
  if (st_->closing_generation == 0 || slot.generation < st_->closing_generation) {
    st_->closing_generation = slot.generation;
  }
}

/// How the body after the head now being written would be framed (a framing_kind), from the
/// status, the request and whether the length is known. Changes nothing: a call may still refuse.
int connection::framing_for(const response_slot& slot, bool length_known) noexcept {
  if (status_forbids_body(slot.status)) return framing_none;
  if (length_known) return framing_length;
  return slot.http10 ? framing_close  // HTTP/1.0 knows no chunked coding (RFC 9112 section 7)
                     : framing_chunked;
}

/// framing_for() for the head being written now, which also settles whether the body's bytes are
/// sent at all: for HEAD, 1xx, 204 and 304 they are counted against a declared length but never
/// sent.
int connection::body_framing(response_slot& slot, bool length_known) noexcept {
  slot.suppress = slot.head_request || status_forbids_body(slot.status);
  return framing_for(slot, length_known);
}

bool connection::respond_whole(response_slot& slot, std::string_view body) noexcept {
  if (!head_open(slot) || becomes_tunnel(slot)) return false;  // see accept_upgrade()
  write_head_end(slot, body_framing(slot, true), body.size());
  if (!slot.suppress) {
    append(target(slot), body);
    slot.body_bytes += body.size();
  }
  finish_slot(slot);
  return true;
}

bool connection::respond_file(response_slot& slot, int fd, std::uint64_t offset,
                              std::uint64_t length) noexcept {
  // Checked before anything is written, so a refusal leaves the response as it was: the handler
  // can still answer another way (a 404, a 500). A file that shrinks later is the owner's to
  // catch (it closes the connection).
  struct stat file {};
  const bool usable = fd >= 0 && ::fstat(fd, &file) == 0 && S_ISREG(file.st_mode) &&
                      offset <= static_cast<std::uint64_t>(file.st_size) &&
                      length <= static_cast<std::uint64_t>(file.st_size) - offset;
  if (!usable || !head_open(slot) || becomes_tunnel(slot)) {
    if (fd >= 0) ::close(fd);
    return false;
  }
  write_head_end(slot, body_framing(slot, true), length);
  bool ok = true;
  if (slot.suppress || length == 0) {
    ::close(fd);
  } else if (out_block* block = new_block()) {
    block->file_fd = fd;
    block->file_offset = offset;
    block->file_left = length;
    out_chain& out = target(slot);
    if (out.tail == nullptr) {
      out.head = block;
    } else {
      out.tail->next = block;
    }
    out.tail = block;
    queued_ += static_cast<std::size_t>(length);
    slot.body_bytes += length;
  } else {
    ::close(fd);
    close_after(slot);
    ok = false;
  }
  finish_slot(slot);
  return ok;
}

bool connection::open_body(response_slot& slot, bool declared, std::uint64_t length,
                           std::string_view codings) noexcept {
  if (!head_open(slot) || becomes_tunnel(slot)) return false;
  // Only chunked framing can label codings. Refused before anything changes, so the handler can
  // still answer another way (an error, a plain body).
  if (!codings.empty() && framing_for(slot, declared) != framing_chunked) return false;
  const int framing = body_framing(slot, declared);
  if (framing == framing_none) length = 0;
  const slot_phase phase = framing == framing_chunked ? slot_phase::body_chunked
                           : framing == framing_close ? slot_phase::body_close
                                                      : slot_phase::body_length;
  write_head_end(slot, framing, length, codings, /*body_follows=*/true);
  set_phase(slot, phase);
  slot.remaining = phase == slot_phase::body_length ? length : 0;
  return true;
}

bool connection::write_body(response_slot& slot, std::string_view piece) noexcept {
  if (!body_open(slot)) return false;
  if (piece.empty()) return true;
  const std::size_t limit = ctx_->options_.max_buffered_output;
  if (!slot.suppress && !slot.answering && queued_ >= limit && output_through(slot) >= limit) {
    // A producer that ignored ready(): cut the response short rather than buffer without bound.
    // (Inside on_request() nothing could be sent yet: those writes are its whole body at once.)
    abandon(slot, false);
    return false;
  }
  out_chain& out = target(slot);
  bool ok = true;
  switch (slot.phase) {
    case slot_phase::body_length:
      if (piece.size() > slot.remaining) return false;
      slot.remaining -= piece.size();
      if (!slot.suppress) ok = append(out, piece);
      break;
    case slot_phase::body_chunked:
      if (!slot.suppress) {
        char size[20];
        const auto end = std::to_chars(size, size + sizeof size - 2, piece.size(), 16).ptr;
        end[0] = '\r';
        end[1] = '\n';
        ok = append(out, std::string_view(size, static_cast<std::size_t>(end + 2 - size))) &&
             append(out, piece) && append(out, "\r\n");
      }
      break;
    default:  // body_close
      if (!slot.suppress) ok = append(out, piece);
      break;
  }
  if (!slot.suppress) slot.body_bytes += piece.size();
  return ok;
}

bool connection::end_response(response_slot& slot, std::span<const header> trailers) noexcept {
  if (head_open(slot)) return respond_whole(slot, {});
  switch (slot.phase) {
    case slot_phase::body_length:
      // A suppressed body (HEAD, 204, 304) is never sent, so nothing declared can be missing.
      if (slot.remaining > 0 && !slot.suppress) {
        close_after(slot);  // the declared length was not written: only closing can tell
        finish_slot(slot);
        return false;
      }
      break;
    case slot_phase::body_chunked:
      if (!slot.suppress) {
        out_chain& out = target(slot);
        append(out, "0\r\n");
        for (const header& field : trailers) {
          if (!is_token(field.name) || !is_field_value(field.value) ||
              detail::forbidden_trailer(field.name)) {
            continue;
          }
          append(out, field.name);
          append(out, ": ");
          append(out, field.value);
          append(out, "\r\n");
        }
        append(out, "\r\n");
      }
      break;
    case slot_phase::body_close:
      break;
    default:
      return false;
  }
  finish_slot(slot);
  return true;
}

bool connection::write_interim(response_slot& slot, int status,
                               std::span<const header> fields) noexcept {
  if (!head_open(slot)) return false;
  if (status <= 101 || status > 199) return false;
  if (slot.http10) return true;  // never send 1xx to an HTTP/1.0 client (RFC 9110 section 15.2)
  for (const header& field : fields) {
    if (!is_token(field.name) || !is_field_value(field.value) ||
        detail::managed_field(field.name)) {
      return false;
    }
  }
  out_chain& out = target(slot);
  char code[4];
  std::to_chars(code, code + 3, status);
  code[3] = ' ';
  bool ok = append(out, "HTTP/1.1 ") && append(out, std::string_view(code, 4)) &&
            append(out, reason_phrase(status)) && append(out, "\r\n");
  for (const header& field : fields) {
    ok = ok && append(out, field.name) && append(out, ": ") && append(out, field.value) &&
         append(out, "\r\n");
  }
  return ok && append(out, "\r\n");
}

bool connection::accept_upgrade(response_slot& slot, upgrade_handler& handler) noexcept {
  if (!head_open(slot) || !becomes_tunnel(slot) || slot.has_body) return false;
  slot.switching = true;
  slot.suppress = true;
  write_head_end(slot, framing_none, 0);
  switch_protocols(handler);
  finish_slot(slot);
  return true;
}

bool connection::await_drain(response_slot& slot, response_writer::drained_function callback,
                             void* data, bool dead_only) noexcept {
  if (callback == nullptr) return false;
  if (!dead_only && output_through(slot) <= ctx_->options_.max_output_bytes / 2) return false;
  if (slot.drain == nullptr) ++st_->drain_waiters;
  slot.drain = callback;
  slot.drain_data = data;
  slot.drain_dead_only = dead_only;
  return true;
}

}  // namespace taut
