// The handler's side of one response: every call checks the slot is still its own, asks the
// connection to act on it (connection_response.cpp: the slot's phases change only there and in
// the queue), and lets the connection move on (after_writer_call).
#include "connection_internal.hpp"

#include <unistd.h>

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
    owner->abandon(*s, std::uncaught_exceptions() > 0, /*writer_dropped=*/true);
    owner->after_writer_call();
    return;
  }
  // A finished or dead response: the call that finished it (or the owner's, that dropped it) has
  // processed the connection already, so only the owner hears of it: the last writer of a closed
  // connection is what it waits for to free it.
  owner->wake_owner();
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
  return s != nullptr && conn_->set_response_status(*s, status);
}

bool response_writer::add_header(std::string_view name, std::string_view value) noexcept {
  response_slot* s = slot();
  if (s == nullptr) return false;
  // Held in the slot until the head ends: nothing the connection or its owner could act on yet
  // (a `Connection: close` is heeded when the head ends, as close_after() is), so the
  // connection is not processed again for each field: the call that ends the head does it.
  return conn_->add_response_field(*s, name, value);
}

bool response_writer::add_header(std::string_view name, std::string_view value,
                                 parsed_field_t) noexcept {
  response_slot* s = slot();
  if (s == nullptr) return false;
  // Held in the slot until the head ends, as add_header()'s fields are.
  return conn_->add_response_field(*s, name, value, /*parsed=*/true);
}

bool response_writer::send(std::string_view body) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !conn_->respond_whole(*s, body)) return false;
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
  if (s == nullptr) {
    if (fd >= 0) ::close(fd);
    return false;
  }
  const bool was_open = head_open(*s);
  const bool ok = conn_->respond_file(*s, fd, offset, length);
  if (was_open) conn_->after_writer_call();
  return ok;
}

bool response_writer::begin() noexcept {
  response_slot* s = slot();
  if (s == nullptr || !conn_->open_body(*s, /*declared=*/false, 0)) return false;
  conn_->after_writer_call();
  return true;
}

bool response_writer::begin_coded(std::string_view codings) noexcept {
  // The writer adds the one chunked itself: chunked among the codings would be applied twice,
  // which RFC 9112 section 6.1 forbids and a recipient (this parser too) rejects.
  bool names_chunked = false;
  detail::for_each_token(codings, [&names_chunked](std::string_view coding) {
    names_chunked |= iequals(chars::trim_ows(coding.substr(0, coding.find(';'))), "chunked");
  });
  response_slot* s = slot();
  if (s == nullptr || codings.empty() || names_chunked || !is_field_value(codings) ||
      !conn_->open_body(*s, /*declared=*/false, 0, codings)) {
    return false;
  }
  conn_->after_writer_call();
  return true;
}

bool response_writer::begin(std::uint64_t content_length) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !conn_->open_body(*s, /*declared=*/true, content_length)) return false;
  conn_->after_writer_call();
  return true;
}

bool response_writer::write(std::string_view piece) noexcept {
  response_slot* s = slot();
  if (s == nullptr) return false;
  if (piece.empty()) return body_open(*s);
  connection& c = *conn_;
  const bool ok = c.write_body(*s, piece);
  // More body behind output already pending (its write timer running), no request body being
  // read: the output only grew, so processing would find nothing to do that the owner's next
  // call does not. Only the owner hears of it, to send it. (A failure, a pool run dry, the first
  // bytes of output or a body being read: processed as every other call.)
  if (ok && !c.broken_ && c.writing_ && c.out_.head != nullptr &&
      c.state_ != connection::state::reading_body) {
    c.wake_owner();
    return true;
  }
  c.after_writer_call();
  return ok;
}

std::size_t response_writer::buffered() const noexcept {
  const response_slot* s = slot();
  return s != nullptr ? conn_->output_through(*s) : 0;
}

bool response_writer::ready() const noexcept {
  const response_slot* s = slot();
  if (s == nullptr) return false;
  const std::size_t high_water = conn_->ctx_->options().max_output_bytes;
  return conn_->queued_ < high_water || conn_->output_through(*s) < high_water;
}

bool response_writer::on_drained(drained_function callback, void* data) noexcept {
  response_slot* s = slot();
  return s != nullptr && conn_->await_drain(*s, callback, data, /*dead_only=*/false);
}

bool response_writer::on_abandoned(drained_function callback, void* data) noexcept {
  response_slot* s = slot();
  return s != nullptr && conn_->await_drain(*s, callback, data, /*dead_only=*/true);
}

bool response_writer::finish(std::span<const header> trailers) noexcept {
  response_slot* s = slot();
  if (s == nullptr) return false;
  const bool ok = conn_->end_response(*s, trailers);
  conn_->after_writer_call();
  return ok;
}

bool response_writer::send_informational(int status, std::span<const header> fields) noexcept {
  response_slot* s = slot();
  if (s == nullptr) return false;
  const bool ok = conn_->write_interim(*s, status, fields);
  conn_->after_writer_call();
  return ok;
}

bool response_writer::upgrade(upgrade_handler& handler) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !conn_->accept_upgrade(*s, handler)) return false;
  conn_->after_writer_call();
  return true;
}

bool response_writer::hold_body(bool hold) noexcept {
  response_slot* s = slot();
  if (s == nullptr || !conn_->hold_body(*s, hold)) return false;
  if (!hold) conn_->after_writer_call();  // read what waited, now or from the owner's wake
  return true;
}

void response_writer::close_after() noexcept {
  if (response_slot* s = slot()) conn_->close_after(*s);
}

bool response_writer::reset() noexcept {
  response_slot* s = slot();
  return s != nullptr && conn_->discard_head(*s);
}

}  // namespace taut
