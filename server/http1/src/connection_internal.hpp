// Private to taut::http1: the connection's working state (the response queue's slots, output
// blocks, what a connection borrows while it has a request in flight), the named predicates on a
// slot, and the small helpers the connection's source files share:
//
//   connection.cpp            the state machine: lifetime, transitions, settle(), wants()
//   connection_input.cpp      reading: the input buffer, parsing heads, dispatching, bodies
//   connection_queue.cpp      the response queue: slots, heads, errors, request order
//   connection_output.cpp     writing: output blocks, commit_write, file segments
//   connection_deadlines.cpp  deadlines: which timer runs, and what happens when it fires
//   connection_response.cpp   a response's phases in its slot, from waiting to done
//   response_writer.cpp       the handler's side of one response
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <span>
#include <string_view>
#include <system_error>

#include "forbidden_trailer.hpp"
#include "taut/body_decoder.hpp"
#include "taut/connection.hpp"
#include "taut/http_chars.hpp"
#include "taut/request_parser.hpp"

namespace taut {
namespace detail {

struct out_block {
  out_block* next = nullptr;
  std::uint32_t begin = 0;  // first byte not yet sent
  std::uint32_t end = 0;    // end of the bytes written
  // A file segment (send_file) instead of bytes: it stays whole in its own block so the output
  // before it leaves first and the owner can hand the region to sendfile(2).
  int file_fd = -1;
  std::uint64_t file_offset = 0;
  std::uint64_t file_left = 0;
  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
};

enum class slot_phase : std::uint8_t {
  free,          // not in the queue
  waiting,       // handed to a handler; nothing of the final response written yet
  head,          // some fields added (held in the slot until the head ends; status may change)
  body_length,   // head done, Content-Length body being written
  body_chunked,  // head done, chunked body being written
  body_close,    // head done, body delimited by closing the connection
  done,          // complete, waiting for the responses before it
};

/// One pending response, in the order its request arrived.
struct response_slot {
  out_chain out{};               // its bytes while responses before it are unfinished
  out_chain fields{};            // fields added before the head ends, which writes the status first
  std::uint64_t remaining = 0;   // Content-Length bytes still to write
  std::uint64_t body_bytes = 0;  // body bytes queued so far (for the response_record)
  std::chrono::steady_clock::time_point started{};  // when its request head arrived
  std::uint32_t head_bytes = 0;
  std::uint32_t sequence = 0;  // the request's number; 0 for a rejected message
  std::uint32_t generation = 0;
  std::uint16_t status = 200;
  // The streamed request body failed (413, 400, 408...): a writer then dropped unfinished before
  // its head was written answers this status, as for a buffered body, rather than 500.
  std::uint16_t body_failure_status = 0;
  slot_phase phase = slot_phase::free;  // changed only by connection::set_phase()
  // What the request said, set once when its head is dispatched.
  bool head_request = false;
  bool http10 = false;
  bool connect = false;
  bool upgrade_request = false;
  bool hold = false;    // an Upgrade or CONNECT request: read nothing more until it is answered
  bool unsafe = false;  // not a safe method: nothing starts while it is unanswered
  bool has_body = false;
  // What has happened to the request and its response since.
  bool body_read = false;  // the request body was read to its end (nothing left to discard)
  bool expect_continue = false;
  bool continue_sent = false;
  bool close = false;     // answer with Connection: close, and close after this response
  bool suppress = false;  // body bytes are counted but not sent (HEAD, 204, 304)
  bool switching = false;
  bool rejected = false;   // answered by the connection for the reason in connection_state
  bool answering = false;  // inside the on_request() call that received its writer
  // The handler gave the Date (the connection writes none) or a Server field (server_name
  // stays out).
  bool own_date = false;
  bool own_server = false;
  // Bit i: a line of detail::singleton_names[i] may be held in `fields`, so setting that field
  // again must drop it. A clear bit spares the walk over the held lines.
  std::uint16_t held_singletons = 0;
  // A streaming producer waiting for the output to drain (response_writer::on_drained).
  response_writer::drained_function drain = nullptr;
  void* drain_data = nullptr;
  // The callback waits only for the response to become unwritable (response_writer::on_abandoned).
  bool drain_dead_only = false;
};

/// A slot whose head is not yet written: its status and fields may still change.
inline bool head_open(const response_slot& slot) noexcept {
  return slot.phase == slot_phase::waiting || slot.phase == slot_phase::head;
}

/// A slot whose head is written and whose body is being written (begin() was called).
inline bool body_open(const response_slot& slot) noexcept {
  return slot.phase == slot_phase::body_length || slot.phase == slot_phase::body_chunked ||
         slot.phase == slot_phase::body_close;
}

/// A response that turns the connection into something else than HTTP once sent: 101, or 2xx to
/// CONNECT (RFC 9110 sections 15.2.2 and 9.3.6). It has no body and nothing may follow it.
inline bool becomes_tunnel(const response_slot& slot) noexcept {
  return slot.status == 101 || (slot.connect && slot.status / 100 == 2);
}

enum class body_phase : std::uint8_t { none, buffer, stream, discard };

/// What a connection borrows from its context while it has a request in flight.
struct connection_state {
  connection_state(std::span<header> header_storage, std::span<response_slot> slot_storage,
                   const parse_options& options) noexcept
      : parser(header_storage, options),
        decoder(framing{}, options),
        headers(header_storage),
        slots(slot_storage) {}

  request_parser parser;
  body_decoder decoder;
  server_request request;
  std::span<header> headers;
  std::span<response_slot> slots;
  std::uint16_t front = 0;
  std::uint16_t count = 0;
  // The request whose body is being read.
  std::uint16_t body_slot = 0;
  std::uint32_t body_generation = 0;
  body_phase body = body_phase::none;
  bool last_request = false;        // nothing is read after this request's body
  bool body_held = false;           // a streamed body's reading held by its handler (hold_body)
  bool body_released = false;       // and released: the body timer restarts at the next on_timer
  std::uint32_t held_head = 0;      // bytes of the head waiting to start (state holding)
  std::uint32_t head_size = 0;      // bytes of the head of the request whose body is being read
  std::uint64_t body_consumed = 0;  // and bytes of its body read so far, framing included
  std::uint32_t head_end = 0;  // buffered body: the head is [msg_begin_, head_end) of the input
  std::uint32_t body_end = 0;  // and the body [head_end, body_end), unless it spilled
  char* spill = nullptr;       // a buffered body too large for the input block
  std::size_t spill_size = 0;
  std::size_t spill_cap = 0;
  std::uint64_t discarded = 0;
  // A sink detached by its response finishing before its body ended: it hears
  // on_body_error(operation_canceled) at the next step of process() (before a next request
  // starts), or when the connection closes, never inside the call that finished the response.
  body_sink* detached_sink = nullptr;
  std::uint16_t drain_waiters = 0;      // slots with an on_drained callback
  std::uint16_t unsafe_unanswered = 0;  // slots of unsafe requests not yet done (see must_wait)
  // The generation of the first slot known to close the connection (0: none), whose answer is
  // the last one sent: nothing behind it starts (see honour_close).
  std::uint32_t closing_generation = 0;
  // Why the connection refused the request it answered itself (at most one: reading stops).
  std::error_code rejection{};
  std::uint64_t rejection_offset = 0;
};

/// Fields the connection writes itself: a handler setting them would corrupt the framing.
inline bool managed_field(std::string_view name) noexcept {
  return chars::iequals(name, "content-length") || chars::iequals(name, "transfer-encoding") ||
         chars::iequals(name, "date");
}

/// Response fields that are not lists (RFC 9110 section 5.3: a sender must not generate two lines
/// of such a field): a handler setting one again replaces the line it set before.
inline constexpr std::string_view singleton_names[] = {"content-type",
                                                       "location",
                                                       "server",
                                                       "etag",
                                                       "last-modified",
                                                       "expires",
                                                       "retry-after",
                                                       "age",
                                                       "content-range",
                                                       "content-location",
                                                       "access-control-allow-origin",
                                                       "access-control-allow-credentials",
                                                       "access-control-max-age",
                                                       "strict-transport-security",
                                                       "x-content-type-options",
                                                       "x-frame-options"};

/// For each name length, the singleton_names of that length (-1: none). No length has more than
/// two, so a name is compared with at most two candidates instead of all sixteen: every handler
/// field goes through singleton_field().
struct singleton_candidates {
  std::int8_t first[64];
  std::int8_t second[64];
  bool overflow;  // a third name of one length, or a name of 64 bytes or more
};
inline constexpr singleton_candidates singleton_by_length = [] {
  singleton_candidates table{};
  for (auto& index : table.first) index = -1;
  for (auto& index : table.second) index = -1;
  for (std::size_t i = 0; i < std::size(singleton_names); ++i) {
    const std::size_t length = singleton_names[i].size();
    if (length >= 64) {
      table.overflow = true;
      continue;
    }
    auto& slot = table.first[length] < 0 ? table.first[length] : table.second[length];
    if (slot >= 0) table.overflow = true;
    slot = static_cast<std::int8_t>(i);
  }
  return table;
}();
static_assert(!singleton_by_length.overflow, "singleton_field() looks at two names per length");
static_assert(std::size(singleton_names) <= 16, "response_slot::held_singletons has 16 bits");

/// The index in singleton_names of `name` (any case), or -1 when it is not one of them.
inline int singleton_field(std::string_view name) noexcept {
  if (name.size() >= std::size(singleton_by_length.first)) return -1;
  const int first = singleton_by_length.first[name.size()];
  if (first < 0) return -1;
  if (chars::iequals(name, singleton_names[first])) return first;
  const int second = singleton_by_length.second[name.size()];
  return second >= 0 && chars::iequals(name, singleton_names[second]) ? second : -1;
}

/// Calls `each` with every token of a comma-separated list, whitespace trimmed.
template <typename Each>
void for_each_token(std::string_view list, Each&& each) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = chars::trim_ows(list.substr(0, comma));
    if (!item.empty()) each(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

/// Moves `view` from a buffer at `old_base` to the same offset in one at `new_base`, if it points
/// into the old one.
inline void rebase(std::string_view& view, const char* old_base, std::size_t old_size,
                   const char* new_base) noexcept {
  if (view.data() == nullptr) return;
  const std::less_equal<const char*> le;
  if (!le(old_base, view.data()) || !le(view.data(), old_base + old_size)) return;
  view = std::string_view(new_base + (view.data() - old_base), view.size());
}

/// How a response body is delimited, as write_head_end() writes it.
enum framing_kind : int { framing_none, framing_length, framing_chunked, framing_close };

}  // namespace detail

// The output chain's common cases, inline: a response head is some fifteen small appends, each
// of a few bytes into the block the last one used (a literal's length known here lets the copy
// be a move or two), and a slot's chains are dropped, empty, every time it is released.
inline bool connection::append(out_chain& chain, std::string_view bytes) noexcept {
  out_block* tail = chain.tail;
  if (tail == nullptr || tail->file_fd >= 0 || ctx_->out_capacity_ - tail->end < bytes.size()) {
    return append_blocks(chain, bytes);
  }
  if (!bytes.empty()) std::memcpy(tail->data() + tail->end, bytes.data(), bytes.size());
  tail->end += static_cast<std::uint32_t>(bytes.size());
  queued_ += bytes.size();
  return true;
}

inline void connection::drop_chain(out_chain& chain) noexcept {
  if (chain.head != nullptr) drop_blocks(chain);
}

// The names every part of the connection uses, declared once for all its source files.
using chars::iequals;
using chars::is_field_value;
using chars::is_token;
using detail::becomes_tunnel;
using detail::body_open;
using detail::body_phase;
using detail::framing_chunked;
using detail::framing_close;
using detail::framing_length;
using detail::framing_none;
using detail::head_open;
using detail::response_slot;
using detail::slot_phase;

}  // namespace taut
