// The handler's side of one response: every call checks the slot is still its own, writes through
// the connection, and lets the connection move on (after_writer_call).
#include "connection_internal.hpp"

#include <unistd.h>

#include <charconv>
#include <exception>
#include <utility>

#include "taut/status.hpp"

namespace taut {

response_writer::response_writer(connection* owner, std::uint16_t slot,
                                 std::uint32_t generation) noexcept
    : conn_(owner), generation_(generation), slot_(slot) {
  ++conn_->writers_;
}

response_writer::response_writer(response_writer&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      generation_(other.generation_),
      slot_(other.slot_) {}

response_writer& response_writer::operator=(response_writer&& other) noexcept {
  if (this != &other) {
    release();
    conn_ = std::exchange(other.conn_, nullptr);
    generation_ = other.generation_;
    slot_ = other.slot_;
  }
  return *this;
}

response_writer::~response_writer() {
  release();
}

void response_writer::release() noexcept {
  connection* owner = std::exchange(conn_, nullptr);
  if (owner == nullptr) return;
  --owner->writers_;
  const std::uint32_t generation = generation_;
  response_slot* s = owner->slot_at(slot_, generation);
  if (s != nullptr && s->phase != slot_phase::done) {
    owner->abandon(*s, std::uncaught_exceptions() > 0);
  }
  // Also for a finished or dead response: the last writer of a closed connection is what its
  // owner waits for to free it.
  owner->after_writer_call();
}

response_slot* response_writer::slot() const noexcept {
  if (conn_ == nullptr) return nullptr;
  response_slot* s = conn_->slot_at(slot_, generation_);
  if (s == nullptr || s->phase == slot_phase::done) return nullptr;
  return s;
}

bool response_writer::valid() const noexcept {
  return slot() != nullptr;
}

bool response_writer::body_suppressed() const noexcept {
  const response_slot* s = slot();
  return s != nullptr && (s->head_request || status_forbids_body(s->status));
}

bool response_writer::set_status(int status) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !head_open(*s)) return false;
  if (status == 101 ? !s->upgrade_request : (status < 200 || status > 599)) return false;
  s->status = static_cast<std::uint16_t>(status);
  return true;
}

bool response_writer::add_header(std::string_view name, std::string_view value) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !head_open(*s)) {
    return false;
  }
  if (!is_token(name) || !is_field_value(value) || detail::managed_field(name)) return false;
  if (iequals(name, "connection")) {
    bool other = false;
    detail::for_each_token(value, [&](std::string_view token) {
      if (iequals(token, "close")) {
        s->close = true;
      } else if (!iequals(token, "keep-alive")) {
        other = true;
      }
    });
    if (!other) return true;  // the connection writes its own close / keep-alive
  }
  const bool ok = conn_->add_field(*s, name, value);
  conn_->after_writer_call();
  return ok;
}

bool response_writer::send(std::string_view body) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !head_open(*s)) {
    return false;
  }
  if (becomes_tunnel(*s)) return false;  // see upgrade()
  const bool no_content = status_forbids_body(s->status);
  s->suppress = no_content || s->head_request;
  conn_->write_head_end(*s, no_content ? framing_none : framing_length, body.size());
  if (!s->suppress) {
    conn_->append(conn_->target(*s), body);
    s->body_bytes += body.size();
  }
  conn_->finish_slot(*s);
  conn_->after_writer_call();
  return true;
}

bool response_writer::send(int status, std::string_view body,
                           std::string_view content_type) noexcept {
  if (!set_status(status)) return false;
  if (!content_type.empty() && !add_header("Content-Type", content_type)) return false;
  return send(body);
}

bool response_writer::send_file(int fd, std::uint64_t offset, std::uint64_t length) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !head_open(*s) || becomes_tunnel(*s)) {
    if (fd >= 0) ::close(fd);
    return false;
  }
  const bool no_content = status_forbids_body(s->status);
  s->suppress = no_content || s->head_request;
  conn_->write_head_end(*s, no_content ? framing_none : framing_length, length);
  bool ok = true;
  if (s->suppress || length == 0 || fd < 0) {
    if (fd >= 0) ::close(fd);
    ok = fd >= 0 || s->suppress || length == 0;
    if (!ok) s->close = true;  // a length was declared and nothing can follow it
  } else if (detail::out_block* block = conn_->new_block()) {
    block->file_fd = fd;
    block->file_offset = offset;
    block->file_left = length;
    connection::out_chain& out = conn_->target(*s);
    if (out.tail == nullptr) {
      out.head = block;
    } else {
      out.tail->next = block;
    }
    out.tail = block;
    conn_->queued_ += static_cast<std::size_t>(length);
    s->body_bytes += length;
  } else {
    ::close(fd);
    s->close = true;
    ok = false;
  }
  conn_->finish_slot(*s);
  conn_->after_writer_call();
  return ok;
}

bool response_writer::begin() noexcept {
  response_slot* s = slot();
  if (s == nullptr || !head_open(*s)) {
    return false;
  }
  if (becomes_tunnel(*s)) return false;
  const bool no_content = status_forbids_body(s->status);
  s->suppress = no_content || s->head_request;
  int framing = framing_chunked;
  if (no_content) {
    framing = framing_none;
  } else if (s->http10) {
    framing = framing_close;  // HTTP/1.0 knows no chunked coding (RFC 9112 section 7)
  }
  conn_->write_head_end(*s, framing, 0);
  s->phase = framing == framing_chunked ? slot_phase::body_chunked
             : framing == framing_close ? slot_phase::body_close
                                        : slot_phase::body_length;
  s->remaining = 0;
  conn_->after_writer_call();
  return true;
}

bool response_writer::begin(std::uint64_t content_length) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !head_open(*s)) {
    return false;
  }
  if (becomes_tunnel(*s)) return false;
  const bool no_content = status_forbids_body(s->status);
  s->suppress = no_content || s->head_request;
  conn_->write_head_end(*s, no_content ? framing_none : framing_length, content_length);
  s->phase = slot_phase::body_length;
  s->remaining = no_content ? 0 : content_length;
  conn_->after_writer_call();
  return true;
}

bool response_writer::write(std::string_view piece) noexcept {
  response_slot* s = slot();
  if (s == nullptr) return false;
  if (piece.empty()) {
    return s->phase == slot_phase::body_length || s->phase == slot_phase::body_chunked ||
           s->phase == slot_phase::body_close;
  }
  const std::size_t limit = conn_->ctx_->options().max_buffered_output;
  if ((s->phase == slot_phase::body_length || s->phase == slot_phase::body_chunked ||
       s->phase == slot_phase::body_close) &&
      !s->suppress && !s->answering && conn_->queued_ >= limit &&
      conn_->output_in_memory() >= limit) {
    // A producer that ignored ready(): cut the response short rather than buffer without bound.
    // (Inside on_request() nothing could be sent yet: those writes are its whole body at once.)
    conn_->abandon(*s, false);
    conn_->after_writer_call();
    return false;
  }
  connection::out_chain& out = conn_->target(*s);
  bool ok = true;
  switch (s->phase) {
    case slot_phase::body_length:
      if (piece.size() > s->remaining) return false;
      s->remaining -= piece.size();
      if (!s->suppress) ok = conn_->append(out, piece);
      break;
    case slot_phase::body_chunked:
      if (!s->suppress) {
        char size[20];
        const auto end = std::to_chars(size, size + sizeof size - 2, piece.size(), 16).ptr;
        end[0] = '\r';
        end[1] = '\n';
        ok = conn_->append(out, std::string_view(size, static_cast<std::size_t>(end + 2 - size))) &&
             conn_->append(out, piece) && conn_->append(out, "\r\n");
      }
      break;
    case slot_phase::body_close:
      if (!s->suppress) ok = conn_->append(out, piece);
      break;
    default:
      return false;
  }
  if (!s->suppress) s->body_bytes += piece.size();
  conn_->after_writer_call();
  return ok;
}

std::size_t response_writer::buffered() const noexcept {
  return slot() != nullptr ? conn_->output_in_memory() : 0;
}

bool response_writer::ready() const noexcept {
  if (slot() == nullptr) return false;
  const std::size_t high_water = conn_->ctx_->options().max_output_bytes;
  return conn_->queued_ < high_water || conn_->output_in_memory() < high_water;
}

bool response_writer::on_drained(drained_function callback, void* data) noexcept {
  response_slot* s = slot();
  if (s == nullptr || callback == nullptr) return false;
  if (conn_->output_in_memory() <= conn_->ctx_->options().max_output_bytes / 2) return false;
  if (s->drain == nullptr) ++conn_->st_->drain_waiters;
  s->drain = callback;
  s->drain_data = data;
  return true;
}

bool response_writer::finish(std::span<const header> trailers) noexcept {
  response_slot* s = slot();
  if (s == nullptr) return false;
  switch (s->phase) {
    case slot_phase::waiting:
    case slot_phase::head:
      return send({});
    case slot_phase::body_length:
      // A suppressed body (HEAD, 204, 304) is never sent, so nothing declared can be missing.
      if (s->remaining > 0 && !s->suppress) {
        s->close = true;  // the declared length was not written: only closing can tell
        conn_->finish_slot(*s);
        conn_->after_writer_call();
        return false;
      }
      break;
    case slot_phase::body_chunked:
      if (!s->suppress) {
        connection::out_chain& out = conn_->target(*s);
        conn_->append(out, "0\r\n");
        for (const header& field : trailers) {
          if (!is_token(field.name) || !is_field_value(field.value) ||
              detail::managed_field(field.name)) {
            continue;
          }
          conn_->append(out, field.name);
          conn_->append(out, ": ");
          conn_->append(out, field.value);
          conn_->append(out, "\r\n");
        }
        conn_->append(out, "\r\n");
      }
      break;
    case slot_phase::body_close:
      break;
    default:
      return false;
  }
  conn_->finish_slot(*s);
  conn_->after_writer_call();
  return true;
}

bool response_writer::send_informational(int status, std::span<const header> fields) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !head_open(*s)) return false;
  if (status <= 101 || status > 199) return false;
  if (s->http10) return true;  // never send 1xx to an HTTP/1.0 client (RFC 9110 section 15.2)
  for (const header& field : fields) {
    if (!is_token(field.name) || !is_field_value(field.value) ||
        detail::managed_field(field.name)) {
      return false;
    }
  }
  connection::out_chain& out = conn_->target(*s);
  char code[4];
  std::to_chars(code, code + 3, status);
  code[3] = ' ';
  bool ok = conn_->append(out, "HTTP/1.1 ") && conn_->append(out, std::string_view(code, 4)) &&
            conn_->append(out, reason_phrase(status)) && conn_->append(out, "\r\n");
  for (const header& field : fields) {
    ok = ok && conn_->append(out, field.name) && conn_->append(out, ": ") &&
         conn_->append(out, field.value) && conn_->append(out, "\r\n");
  }
  ok = ok && conn_->append(out, "\r\n");
  conn_->after_writer_call();
  return ok;
}

bool response_writer::upgrade(upgrade_handler& handler) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !head_open(*s)) {
    return false;
  }
  if (!becomes_tunnel(*s) || s->has_body) return false;
  s->switching = true;
  s->suppress = true;
  conn_->write_head_end(*s, framing_none, 0);
  conn_->switch_protocols(handler);
  conn_->finish_slot(*s);
  conn_->after_writer_call();
  return true;
}

void response_writer::close_after() noexcept {
  if (response_slot* s = slot()) s->close = true;
}

}  // namespace taut
