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
#include "taut/connection.hpp"
#include "taut/http_chars.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <utility>

#include <unistd.h>

#include "taut/body_decoder.hpp"
#include "taut/request_parser.hpp"
#include "taut/status.hpp"

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
  head,          // status line and some fields written
  body_length,   // head done, Content-Length body being written
  body_chunked,  // head done, chunked body being written
  body_close,    // head done, body delimited by closing the connection
  done,          // complete, waiting for the responses before it
};

/// One pending response, in the order its request arrived.
struct response_slot {
  out_chain out{};              // its bytes while responses before it are unfinished
  std::uint64_t remaining = 0;  // Content-Length bytes still to write
  std::uint32_t generation = 0;
  std::uint16_t status = 200;
  slot_phase phase = slot_phase::free;
  bool head_request = false;
  bool http10 = false;
  bool connect = false;
  bool upgrade_request = false;
  bool hold = false;  // an Upgrade or CONNECT request: read nothing more until it is answered
  bool has_body = false;
  bool expect_continue = false;
  bool continue_sent = false;
  bool close = false;     // answer with Connection: close, and close after this response
  bool suppress = false;  // body bytes are counted but not sent (HEAD, 204, 304)
  bool switching = false;
  bool answering = false;  // inside the on_request() call that received its writer
  // A streaming producer waiting for the output to drain (response_writer::on_drained).
  response_writer::drained_function drain = nullptr;
  void* drain_data = nullptr;
};

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
  bool last_request = false;   // nothing is read after this request's body
  std::uint32_t head_end = 0;  // buffered body: the head is [msg_begin_, head_end) of the input
  std::uint32_t body_end = 0;  // and the body [head_end, body_end), unless it spilled
  char* spill = nullptr;       // a buffered body too large for the input block
  std::size_t spill_size = 0;
  std::size_t spill_cap = 0;
  std::uint64_t discarded = 0;
  std::uint16_t drain_waiters = 0;  // slots with an on_drained callback
};

}  // namespace detail

using detail::body_phase;
using detail::response_slot;
using detail::slot_phase;

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

using chars::iequals;
using chars::is_field_value;
using chars::is_token;
/// Fields the connection writes itself: a handler setting them would corrupt the framing.
bool managed_field(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "date");
}
/// Calls `each` with every token of a comma-separated list, whitespace trimmed.
template <typename Each>
void for_each_token(std::string_view list, Each&& each) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) each(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

void rebase(std::string_view& view, const char* old_base, std::size_t old_size,
            const char* new_base) noexcept {
  if (view.data() == nullptr) return;
  const std::less_equal<const char*> le;
  if (!le(old_base, view.data()) || !le(view.data(), old_base + old_size)) return;
  view = std::string_view(new_base + (view.data() - old_base), view.size());
}

enum framing_kind : int { framing_none, framing_length, framing_chunked, framing_close };

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
      state_pool_(headers_offset(options_.max_pipeline_depth) + header_slots_ * sizeof(header),
                  1024) {
  if (pool.block_size() < min_block_size || pool.block_size() > max_block_size) {
    throw std::invalid_argument(
        "taut::connection_context: buffer_pool blocks must hold 256 bytes "
        "to 1 GiB");
  }
}

connection_context::~connection_context() = default;

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
  char* block = ctx_->state_pool_.acquire();
  if (block == nullptr) return false;
  const std::size_t depth = ctx_->options_.max_pipeline_depth;
  auto* slots = reinterpret_cast<response_slot*>(block + slots_offset());
  for (std::size_t i = 0; i < depth; ++i) ::new (static_cast<void*>(slots + i)) response_slot{};
  auto* headers = reinterpret_cast<header*>(block + headers_offset(depth));
  for (std::size_t i = 0; i < ctx_->header_slots_; ++i) {
    ::new (static_cast<void*>(headers + i)) header{};
  }
  st_ = ::new (static_cast<void*>(block))
      detail::connection_state(std::span<header>(headers, ctx_->header_slots_),
                               std::span<response_slot>(slots, depth), ctx_->options_.parse);
  return true;
}

void connection::release_state() noexcept {
  if (st_ == nullptr) return;
  delete[] st_->spill;
  for (response_slot& slot : st_->slots) drop_chain(slot.out);
  st_->~connection_state();
  ctx_->state_pool_.release(reinterpret_cast<char*>(st_));
  st_ = nullptr;
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
  if (st_ != nullptr) {
    if (st_->body == body_phase::stream) {
      st_->body = body_phase::none;
      if (body_sink* sink = std::exchange(st_->request.sink_, nullptr)) {
        sink->on_body_error(std::make_error_code(std::errc::connection_aborted));
      }
    }
  }
  if (st_ != nullptr) {
    for (response_slot& slot : st_->slots) {
      drop_chain(slot.out);
      slot.phase = slot_phase::free;
    }
    st_->count = 0;
    notify_drained(/*dead_only=*/true);  // producers waiting to write learn that they cannot
  }
  release_state();
  release_input();
  drop_chain(out_);
  upgrade_ = nullptr;
  reading_ = reading::stopped;
  if (life_ != life::detached) life_ = life::closed;
}

void connection::abort() noexcept {
  close_now();
}

// --- connection: input --------------------------------------------------------------------------

std::span<char> connection::read_buffer() noexcept {
  if (life_ == life::lingering) {
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
  if (life_ == life::lingering) {
    msg_begin_ = in_begin_ = in_end_ = 0;  // read only to be thrown away
    settle();
    return;
  }
  if (bytes > 0 && in_ != nullptr && life_ == life::open) {
    assert(bytes <= in_cap_ - in_end_);
    bytes = std::min<std::size_t>(bytes, in_cap_ - in_end_);
    const bool was_empty = in_begin_ == in_end_;
    in_end_ += static_cast<std::uint32_t>(bytes);
    idle_ = false;
    if (reading_ == reading::head && was_empty && requests_ > 0) {
      read_since_ = now;  // the head timer starts with the first byte of a head
    } else if (reading_ == reading::body && st_ != nullptr && st_->body != body_phase::buffer) {
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
  if (life_ == life::lingering) {
    close_now();
    return;
  }
  if (life_ == life::open) {
    if (reading_ == reading::body) {
      fail_body(make_error_code(errc::body_cut_short), default_status(errc::body_cut_short));
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
      reading_ == reading::body && st_ != nullptr && st_->body == body_phase::buffer;
  if (!buffering) {
    if (msg_begin_ > 0) {
      // The parser rebases its own views on its next call; nothing else points here.
      std::memmove(in_, in_ + msg_begin_, in_end_ - msg_begin_);
      in_begin_ -= msg_begin_;
      in_end_ -= msg_begin_;
      msg_begin_ = 0;
      return;
    }
  } else if (st_->spill == nullptr) {
    if (in_begin_ > st_->body_end) {
      // Chunk framing between the decoded body and the undecoded bytes: close the gap.
      const std::uint32_t gap = in_begin_ - st_->body_end;
      std::memmove(in_ + st_->body_end, in_ + in_begin_, in_end_ - in_begin_);
      in_begin_ -= gap;
      in_end_ -= gap;
      return;
    }
    if (msg_begin_ > 0) {
      relocate_message();
      return;
    }
    if (spill_body() && in_end_ < in_cap_) return;
  } else {
    if (in_begin_ > st_->head_end) {
      const std::uint32_t gap = in_begin_ - st_->head_end;
      std::memmove(in_ + st_->head_end, in_ + in_begin_, in_end_ - in_begin_);
      in_begin_ -= gap;
      in_end_ -= gap;
      return;
    }
    if (msg_begin_ > 0) {
      relocate_message();
      return;
    }
  }
  if (broken_) return;
  const std::size_t head_limit =
      ctx_->options_.parse.max_request_line + ctx_->options_.parse.max_header_bytes;
  if (grow_input(std::min<std::size_t>(std::size_t{in_cap_} * 2,
                                       2 * head_limit + ctx_->pool_->block_size()))) {
    return;
  }
  // Nothing fits: a head or trailer section larger than any limit allows.
  if (reading_ == reading::head) {
    queue_error(431);
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
  if (st_ != nullptr && reading_ == reading::body) {
    taut::request& head = st_->request.head_;
    rebase(head.method_name, old_base, size, in_);
    rebase(head.target, old_base, size, in_);
    rebase(head.host, old_base, size, in_);
    rebase(head.upgrade_protocols, old_base, size, in_);
    for (std::size_t i = 0; i < head.headers.size(); ++i) {
      rebase(st_->headers[i].name, old_base, size, in_);
      rebase(st_->headers[i].value, old_base, size, in_);
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
  if (st_ != nullptr && reading_ == reading::body) {
    taut::request& head = st_->request.head_;
    rebase(head.method_name, in_, in_end_, bigger);
    rebase(head.target, in_, in_end_, bigger);
    rebase(head.host, in_, in_end_, bigger);
    rebase(head.upgrade_protocols, in_, in_end_, bigger);
    for (std::size_t i = 0; i < head.headers.size(); ++i) {
      rebase(st_->headers[i].name, in_, in_end_, bigger);
      rebase(st_->headers[i].value, in_, in_end_, bigger);
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
  do {
    while (step()) {
    }
  } while (notify_drained(/*dead_only=*/false));  // a producer may finish and let the next start
  processing_ = false;
  settle();
}

bool connection::step() noexcept {
  if (life_ != life::open || broken_) return false;
  if (reading_ == reading::body) return read_body();
  if (reading_ != reading::head || in_begin_ == in_end_ || !may_start_request()) return false;
  return parse_head();
}

bool connection::may_start_request() const noexcept {
  if (reading_ != reading::head || life_ != life::open) return false;
  if (st_ == nullptr) return true;
  if (st_->count >= st_->slots.size()) return false;
  if (queued_ >= ctx_->options_.max_output_bytes) return false;
  if (st_->count > 0) {
    const response_slot& back = st_->slots[(st_->front + st_->count - 1) % st_->slots.size()];
    if (back.hold && back.phase != slot_phase::done) return false;
  }
  return true;
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
    queue_error(r.error.status);
    return false;
  }
  return dispatch(r.consumed);
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
  const bool keep_alive = req.keep_alive && !shutdown_ &&
                          (options.max_requests == 0 || requests_ < options.max_requests);
  const bool has_body = request.has_body();
  slot->head_request = req.method == method::head;
  slot->http10 = req.version_minor == 0;
  slot->connect = req.method == method::connect;
  slot->upgrade_request = req.upgrade;
  slot->hold = req.upgrade || req.method == method::connect;
  slot->has_body = has_body;
  slot->expect_continue = has_body && req.expect_continue;
  slot->close = !keep_alive;
  const std::uint16_t index = index_of(*slot);
  const std::uint32_t generation = slot->generation;

  st.body_slot = index;
  st.body_generation = generation;
  st.body = body_phase::none;
  st.last_request = !keep_alive;
  const std::uint32_t head_end = in_begin_ + static_cast<std::uint32_t>(head_size);

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
    if (response_slot* s = slot_at(index, generation)) write_error(*s, 413);
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
    st.body = body_phase::buffer;
    st.head_end = st.body_end = head_end;
    in_begin_ = head_end;
    reading_ = reading::body;
    return true;
  }

  // Streamed or discarded: the handler sees the head now, and may attach a sink.
  request.may_stream_ = mode == body_mode::stream;
  in_begin_ = head_end;
  call_handler(index);
  request.may_stream_ = false;
  msg_begin_ = in_begin_;
  if (life_ != life::open || reading_ != reading::head) return false;
  response_slot* s = slot_at(index, generation);
  if (request.sink_ != nullptr) {
    if (s != nullptr && s->expect_continue && !s->continue_sent &&
        s->phase == slot_phase::waiting) {
      write_continue(*s);
    }
    st.body = body_phase::stream;
    reading_ = reading::body;
    return true;
  }
  // Nobody wants the body. A client awaiting 100 Continue may never send it, and one too large
  // costs more to drain than a new connection: close after the response (RFC 9110 10.1.1).
  const bool awaiting_continue = req.expect_continue && (s == nullptr || !s->continue_sent);
  const bool too_large = req.body.kind == body_kind::content_length &&
                         req.body.content_length > options.max_discard_bytes;
  if (awaiting_continue || too_large) {
    if (s != nullptr) s->close = true;
    stop_reading();
    return false;
  }
  st.body = body_phase::discard;
  reading_ = reading::body;
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
        st.request.sink_->on_body_data(r.data);
        break;
      case body_phase::discard:
        st.discarded += r.data.size();
        if (st.discarded > ctx_->options_.max_discard_bytes) {
          if (response_slot* s = slot_at(st.body_slot, st.body_generation)) s->close = true;
          st.body = body_phase::none;
          stop_reading();
          return false;
        }
        break;
      case body_phase::none:
        break;
    }
  }
  in_begin_ += static_cast<std::uint32_t>(r.consumed);
  if (reading_ != reading::body) return false;  // a callback closed the connection
  if (st.body != body_phase::buffer) msg_begin_ = in_begin_;
  if (r.status == parse_status::error) {
    fail_body(make_error_code(r.error.code), r.error.status);
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
  const body_phase phase = std::exchange(st.body, body_phase::none);
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
        sink->on_body_end(st.decoder.trailers());
      }
      break;
    case body_phase::discard:
    case body_phase::none:
      break;
  }
  msg_begin_ = in_begin_;
  if (reading_ != reading::body) return;
  if (st_->last_request || shutdown_) {
    stop_reading();
  } else {
    reading_ = reading::head;
    read_since_ = ctx_->now_;
  }
}

/// The body being read ended badly: tell whoever waits for it, answer if nobody has, and read
/// no more.
void connection::fail_body(std::error_code error, int status) noexcept {
  if (st_ == nullptr || reading_ != reading::body) return;
  detail::connection_state& st = *st_;
  const body_phase phase = std::exchange(st.body, body_phase::none);
  if (phase == body_phase::stream) {
    if (body_sink* sink = std::exchange(st.request.sink_, nullptr)) sink->on_body_error(error);
  }
  if (response_slot* s = slot_at(st.body_slot, st.body_generation)) {
    if (s->phase == slot_phase::waiting && phase != body_phase::discard) {
      write_error(*s, status);
    } else {
      s->close = true;
    }
  }
  stop_reading();
}

void connection::stop_reading() noexcept {
  if (reading_ == reading::stopped) return;
  if (reading_ == reading::body && st_ != nullptr && st_->body != body_phase::none) {
    const body_phase phase = std::exchange(st_->body, body_phase::none);
    if (phase == body_phase::stream) {
      if (body_sink* sink = std::exchange(st_->request.sink_, nullptr)) {
        sink->on_body_error(std::make_error_code(std::errc::connection_aborted));
      }
    }
    if (response_slot* s = slot_at(st_->body_slot, st_->body_generation);
        s != nullptr && s->phase == slot_phase::waiting && phase == body_phase::buffer) {
      write_error(*s, 503);  // its handler will never run
    }
  }
  reading_ = reading::stopped;
  if (st_ != nullptr) {
    delete[] std::exchange(st_->spill, nullptr);
    st_->spill_size = st_->spill_cap = 0;
    if (st_->count > 0) st_->slots[(st_->front + st_->count - 1) % st_->slots.size()].close = true;
  }
}

bool connection::idle() const noexcept {
  return life_ == life::open && reading_ == reading::head && in_begin_ == in_end_ &&
         (st_ == nullptr || st_->count == 0) && out_.head == nullptr;
}

/// Brings the connection to rest after every call: moves towards closing when nothing more will
/// happen, starts timers, and gives back every buffer it no longer needs.
void connection::settle() noexcept {
  if (processing_) return;
  if (broken_ && life_ != life::closed && life_ != life::detached) close_now();
  if (life_ == life::open && reading_ == reading::stopped && (st_ == nullptr || st_->count == 0)) {
    life_ = life::closing;
  }
  if (life_ == life::closing && out_.head == nullptr) {
    if (peer_eof_) {
      close_now();
    } else {
      life_ = life::lingering;
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
  if (life_ == life::open && reading_ == reading::head && in_begin_ == in_end_ &&
      (st_ == nullptr || st_->body == body_phase::none)) {
    release_input();  // no byte of a next request yet: nothing to keep
  }
}

connection::time_point connection::read_deadline() const noexcept {
  const connection_options& options = ctx_->options_;
  if (reading_ == reading::body) return read_since_ + options.body_timeout;
  if (reading_ != reading::head || !may_start_request()) return time_point::max();
  if (in_begin_ != in_end_ || requests_ == 0) return read_since_ + options.header_timeout;
  if ((st_ == nullptr || st_->count == 0) && out_.head == nullptr) {
    return read_since_ + options.idle_timeout;
  }
  return time_point::max();  // waiting for our own responses, not for the client
}

bool connection::want_read() const noexcept {
  if (life_ != life::open || peer_eof_) return false;
  return reading_ == reading::body || (reading_ == reading::head && may_start_request());
}

connection_wants connection::wants() const noexcept {
  connection_wants w;
  const connection_options& options = ctx_->options_;
  const time_point write_deadline =
      out_.head != nullptr ? write_since_ + options.write_timeout : time_point::max();
  switch (life_) {
    case life::closed:
      w.close = true;
      break;
    case life::detached:
      break;
    case life::upgrading:
      w.write = out_.head != nullptr;
      w.upgrade = out_.head == nullptr;
      w.deadline = write_deadline;
      break;
    case life::lingering:
      w.read = true;
      w.shutdown_write = true;
      w.deadline = read_since_ + options.linger_timeout;
      break;
    case life::closing:
      w.write = out_.head != nullptr;
      w.deadline = write_deadline;
      break;
    case life::open:
      w.read = want_read();
      w.write = out_.head != nullptr;
      w.deadline = std::min(w.read ? read_deadline() : time_point::max(), write_deadline);
      break;
  }
  return w;
}

void connection::on_timer(time_point now) noexcept {
  ctx_->now_ = now;
  const connection_options& options = ctx_->options_;
  switch (life_) {
    case life::closed:
    case life::detached:
      return;
    case life::lingering:
      if (now >= read_since_ + options.linger_timeout) close_now();
      return;
    case life::open:
    case life::closing:
    case life::upgrading:
      break;
  }
  if (out_.head != nullptr && now >= write_since_ + options.write_timeout) {
    close_now();  // the peer stopped taking our bytes
    return;
  }
  if (life_ == life::open && want_read() && now >= read_deadline()) {
    if (reading_ == reading::body) {
      fail_body(std::make_error_code(std::errc::timed_out), 408);
    } else if (in_begin_ != in_end_) {
      queue_error(408);
    } else {
      close_now();  // idle, or a new connection that never sent a byte: nothing to answer
      return;
    }
  }
  process();
}

void connection::begin_shutdown(time_point now) noexcept {
  ctx_->now_ = now;
  shutdown_ = true;
  if (life_ == life::open) {
    if (reading_ == reading::head && in_begin_ == in_end_) {
      if ((st_ == nullptr || st_->count == 0) && out_.head == nullptr) {
        close_now();
        return;
      }
      stop_reading();
    } else if (st_ != nullptr) {
      st_->last_request = true;
      if (st_->count > 0)
        st_->slots[(st_->front + st_->count - 1) % st_->slots.size()].close = true;
    }
  }
  process();
}

void connection::take_over(void* stream) noexcept {
  if (life_ != life::upgrading || out_.head != nullptr || upgrade_ == nullptr) return;
  upgrade_handler* handler = std::exchange(upgrade_, nullptr);
  life_ = life::detached;
  const std::string_view leftover =
      in_ != nullptr ? std::string_view(in_ + in_begin_, in_end_ - in_begin_) : std::string_view{};
  handler->on_upgrade(leftover, stream);
  close_now();
}

// --- connection: output -------------------------------------------------------------------------

connection::out_block* connection::new_block() noexcept {
  char* memory = ctx_->pool_->acquire();
  if (memory == nullptr) {
    broken_ = true;
    return nullptr;
  }
  return ::new (static_cast<void*>(memory)) out_block{};
}

bool connection::append(out_chain& chain, std::string_view bytes) noexcept {
  const auto capacity = static_cast<std::uint32_t>(ctx_->pool_->block_size() - sizeof(out_block));
  while (!bytes.empty()) {
    out_block* tail = chain.tail;
    if (tail == nullptr || tail->end == capacity || tail->file_fd >= 0) {
      out_block* block = new_block();
      if (block == nullptr) return false;
      if (tail == nullptr) {
        chain.head = block;
      } else {
        tail->next = block;
      }
      chain.tail = tail = block;
    }
    const std::size_t n = std::min<std::size_t>(capacity - tail->end, bytes.size());
    std::memcpy(tail->data() + tail->end, bytes.data(), n);
    tail->end += static_cast<std::uint32_t>(n);
    queued_ += n;
    bytes.remove_prefix(n);
  }
  return true;
}

void connection::drop_chain(out_chain& chain) noexcept {
  for (out_block* block = chain.head; block != nullptr;) {
    out_block* next = block->next;
    queued_ -= block->end - block->begin;
    if (block->file_fd >= 0) {
      queued_ -= static_cast<std::size_t>(block->file_left);
      ::close(block->file_fd);
    }
    block->~out_block();
    ctx_->pool_->release(reinterpret_cast<char*>(block));
    block = next;
  }
  chain = {};
}

void connection::splice(out_chain& chain) noexcept {
  if (chain.head == nullptr) return;
  if (out_.tail == nullptr) {
    out_.head = chain.head;
  } else {
    out_.tail->next = chain.head;
  }
  out_.tail = chain.tail;
  chain = {};
}

std::string_view connection::output() const noexcept {
  if (out_.head == nullptr) return {};
  return {out_.head->data() + out_.head->begin, out_.head->end - out_.head->begin};
}

std::size_t connection::output(std::span<std::string_view> pieces) const noexcept {
  std::size_t n = 0;
  for (out_block* block = out_.head; block != nullptr && n < pieces.size(); block = block->next) {
    if (block->file_fd >= 0) break;  // the file segment goes by pending_file()
    pieces[n++] = std::string_view(block->data() + block->begin, block->end - block->begin);
  }
  return n;
}

void connection::commit_write(std::size_t bytes, time_point now) noexcept {
  ctx_->now_ = now;
  if (bytes > 0) write_since_ = now;
  while (bytes > 0 && out_.head != nullptr && out_.head->file_fd < 0) {
    out_block* block = out_.head;
    const std::size_t n = std::min<std::size_t>(bytes, block->end - block->begin);
    block->begin += static_cast<std::uint32_t>(n);
    queued_ -= n;
    bytes -= n;
    if (block->begin == block->end) {
      out_.head = block->next;
      if (out_.head == nullptr) out_.tail = nullptr;
      block->~out_block();
      ctx_->pool_->release(reinterpret_cast<char*>(block));
    }
  }
  process();
}

file_segment connection::pending_file() const noexcept {
  const out_block* block = out_.head;
  if (block == nullptr || block->file_fd < 0) return {};
  return {block->file_fd, block->file_offset, block->file_left};
}

void connection::commit_file(std::uint64_t bytes, time_point now) noexcept {
  ctx_->now_ = now;
  out_block* block = out_.head;
  if (block == nullptr || block->file_fd < 0) return;
  bytes = std::min(bytes, block->file_left);
  if (bytes > 0) write_since_ = now;
  block->file_offset += bytes;
  block->file_left -= bytes;
  queued_ -= static_cast<std::size_t>(bytes);
  if (block->file_left == 0) {
    ::close(block->file_fd);
    out_.head = block->next;
    if (out_.head == nullptr) out_.tail = nullptr;
    block->~out_block();
    ctx_->pool_->release(reinterpret_cast<char*>(block));
  }
  process();
}

// --- connection: the response queue ------------------------------------------------------------

response_slot* connection::push_slot() noexcept {
  detail::connection_state& st = *st_;
  if (st.count >= st.slots.size()) return nullptr;
  const std::size_t index = (st.front + st.count) % st.slots.size();
  response_slot& slot = st.slots[index];
  slot = response_slot{};
  slot.generation = ++generation_;
  slot.phase = slot_phase::waiting;
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
  const bool ok = append(out, "HTTP/1.1 ") && append(out, std::string_view(code, 4)) &&
                  append(out, reason_phrase(slot.status)) && append(out, "\r\n");
  slot.phase = slot_phase::head;
  return ok;
}

bool connection::write_head_end(response_slot& slot, int framing, std::uint64_t length) noexcept {
  const connection_options& options = ctx_->options_;
  // A request body nobody reads: a client awaiting 100 Continue may never send it, and a large
  // one is cheaper to drop with the connection than to drain.
  if (st_->body_slot == index_of(slot) && st_->body_generation == slot.generation &&
      slot.has_body && st_->body != body_phase::buffer && st_->request.sink_ == nullptr) {
    const auto& body = st_->request.head_.body;
    if ((slot.expect_continue && !slot.continue_sent) ||
        (body.kind == body_kind::content_length &&
         body.content_length > options.max_discard_bytes)) {
      slot.close = true;
    }
  }
  if (framing == framing_close) slot.close = true;
  out_chain& out = target(slot);
  bool ok = true;
  if (!options.server_name.empty()) {
    ok = append(out, "Server: ") && append(out, options.server_name) && append(out, "\r\n");
  }
  ok = ok && append(out, ctx_->date_->field_line());
  if (framing == framing_length) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, length).ptr;
    ok = ok && append(out, "Content-Length: ") &&
         append(out, std::string_view(digits, static_cast<std::size_t>(end - digits))) &&
         append(out, "\r\n");
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
  return ok && append(out, "\r\n");
}

bool connection::write_error(response_slot& slot, int status, bool close) noexcept {
  if (slot.phase != slot_phase::waiting) {
    slot.close = true;
    return false;
  }
  slot.status = static_cast<std::uint16_t>(status);
  slot.close = slot.close || close;
  const std::string_view reason = reason_phrase(status);
  write_status_line(slot);
  out_chain& out = target(slot);
  append(out, "Content-Type: text/plain\r\n");
  write_head_end(slot, framing_length, reason.size() + 1);
  if (!slot.head_request) {
    append(out, reason);
    append(out, "\n");
  }
  finish_slot(slot);
  return true;
}

void connection::queue_error(int status) noexcept {
  if (!ensure_state()) {
    close_now();
    return;
  }
  if (response_slot* slot = push_slot()) {
    st_->body_slot = index_of(*slot);
    st_->body_generation = slot->generation;
    write_error(*slot, status);
  }
  stop_reading();
}

void connection::write_continue(response_slot& slot) noexcept {
  if (slot.http10 || slot.continue_sent) return;
  append(target(slot), "HTTP/1.1 100 Continue\r\n\r\n");
  slot.continue_sent = true;
}

void connection::finish_slot(response_slot& slot) noexcept {
  slot.phase = slot_phase::done;
  if (slot.drain != nullptr) {  // nothing more to write
    slot.drain = nullptr;
    --st_->drain_waiters;
  }
  const std::uint16_t index = index_of(slot);
  // A response finished before its request body was read: nobody reads the rest.
  if (st_->body_slot == index && st_->body_generation == slot.generation) {
    st_->request.sink_ = nullptr;
    if (st_->body == body_phase::stream) st_->body = body_phase::discard;
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
    front.phase = slot_phase::free;
    st.front = static_cast<std::uint16_t>((st.front + 1) % st.slots.size());
    --st.count;
    if (switching) {
      drop_slots_after_front();
      life_ = life::upgrading;
      reading_ = reading::stopped;
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
    slot.phase = slot_phase::free;
    st.front = static_cast<std::uint16_t>((st.front + 1) % st.slots.size());
    --st.count;
  }
  notify_drained(/*dead_only=*/true);
}

void connection::abandon(response_slot& slot, bool unwinding) noexcept {
  // Dropped while an exception unwinds the handler: whatever state it left, close after this.
  if (unwinding) slot.close = true;
  switch (slot.phase) {
    case slot_phase::waiting:
      write_error(slot, 500, unwinding);
      break;
    case slot_phase::head:
      if (slot.status == 101 || (slot.connect && slot.status / 100 == 2)) {
        // The client reads this head as a switch of protocols that upgrade() never completed:
        // nothing may follow it but the close.
        slot.close = true;
        write_head_end(slot, framing_none, 0);
      } else {
        write_head_end(slot, status_forbids_body(slot.status) ? framing_none : framing_length, 0);
      }
      finish_slot(slot);
      break;
    case slot_phase::body_length:
    case slot_phase::body_chunked:
      if (slot.phase == slot_phase::body_chunked || slot.remaining > 0) slot.close = true;
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

void connection::after_writer_call() noexcept {
  if (processing_) return;  // inside a call of the connection: its owner looks at wants() after
  process();
  // From outside every call of the connection (a timer, another connection's handler): only the
  // owner can send what this call wrote, or free a closed connection whose last writer is gone.
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

/// Runs the on_drained() callbacks that are due: those of responses that can no longer be
/// written (their slots were freed: the connection closed, or they queued behind a close), and,
/// unless `dead_only`, every one once the output has fallen to half of max_output_bytes. Like a
/// handler call, a callback's writer calls do not process the connection again. Returns whether
/// any ran.
bool connection::notify_drained(bool dead_only) noexcept {
  if (st_ == nullptr || st_->drain_waiters == 0) return false;
  const bool drained = !dead_only && output_in_memory() <= ctx_->options_.max_output_bytes / 2;
  const bool was_processing = std::exchange(processing_, true);
  bool called = false;
  for (std::size_t i = 0; st_ != nullptr && i < st_->slots.size(); ++i) {
    response_slot& slot = st_->slots[i];
    if (slot.drain == nullptr || (!drained && slot.phase != slot_phase::free)) continue;
    const response_writer::drained_function callback = std::exchange(slot.drain, nullptr);
    --st_->drain_waiters;
    callback(slot.drain_data);
    called = true;
  }
  processing_ = was_processing;
  return called;
}

// --- response_writer ----------------------------------------------------------------------------

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
  if (s == nullptr || s->phase != slot_phase::waiting) return false;
  if (status == 101 ? !s->upgrade_request : (status < 200 || status > 599)) return false;
  s->status = static_cast<std::uint16_t>(status);
  return true;
}

bool response_writer::add_header(std::string_view name, std::string_view value) noexcept {
  response_slot* s = slot();
  if (s == nullptr || (s->phase != slot_phase::waiting && s->phase != slot_phase::head)) {
    return false;
  }
  if (!is_token(name) || !is_field_value(value) || managed_field(name)) return false;
  if (iequals(name, "connection")) {
    bool other = false;
    for_each_token(value, [&](std::string_view token) {
      if (iequals(token, "close")) {
        s->close = true;
      } else if (!iequals(token, "keep-alive")) {
        other = true;
      }
    });
    if (!other) return true;  // the connection writes its own close / keep-alive
  }
  if (s->phase == slot_phase::waiting) conn_->write_status_line(*s);
  connection::out_chain& out = conn_->target(*s);
  const bool ok = conn_->append(out, name) && conn_->append(out, ": ") &&
                  conn_->append(out, value) && conn_->append(out, "\r\n");
  conn_->after_writer_call();
  return ok;
}

bool response_writer::send(std::string_view body) noexcept {
  response_slot* s = slot();
  if (s == nullptr || (s->phase != slot_phase::waiting && s->phase != slot_phase::head)) {
    return false;
  }
  if (s->status == 101 || (s->connect && s->status / 100 == 2)) return false;  // see upgrade()
  if (s->phase == slot_phase::waiting) conn_->write_status_line(*s);
  const bool no_content = status_forbids_body(s->status);
  s->suppress = no_content || s->head_request;
  conn_->write_head_end(*s, no_content ? framing_none : framing_length, body.size());
  if (!s->suppress) conn_->append(conn_->target(*s), body);
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
  if (s == nullptr || (s->phase != slot_phase::waiting && s->phase != slot_phase::head) ||
      s->status == 101 || (s->connect && s->status / 100 == 2)) {
    if (fd >= 0) ::close(fd);
    return false;
  }
  if (s->phase == slot_phase::waiting) conn_->write_status_line(*s);
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
  if (s == nullptr || (s->phase != slot_phase::waiting && s->phase != slot_phase::head)) {
    return false;
  }
  if (s->status == 101 || (s->connect && s->status / 100 == 2)) return false;
  if (s->phase == slot_phase::waiting) conn_->write_status_line(*s);
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
  if (s == nullptr || (s->phase != slot_phase::waiting && s->phase != slot_phase::head)) {
    return false;
  }
  if (s->status == 101 || (s->connect && s->status / 100 == 2)) return false;
  if (s->phase == slot_phase::waiting) conn_->write_status_line(*s);
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
          if (!is_token(field.name) || !is_field_value(field.value) || managed_field(field.name)) {
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
  if (s == nullptr || s->phase != slot_phase::waiting) return false;
  if (status <= 101 || status > 199) return false;
  if (s->http10) return true;  // never send 1xx to an HTTP/1.0 client (RFC 9110 section 15.2)
  for (const header& field : fields) {
    if (!is_token(field.name) || !is_field_value(field.value) || managed_field(field.name)) {
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
  if (s == nullptr || (s->phase != slot_phase::waiting && s->phase != slot_phase::head)) {
    return false;
  }
  const bool switching =
      (s->status == 101 && s->upgrade_request) || (s->connect && s->status / 100 == 2);
  if (!switching || s->has_body) return false;
  if (s->phase == slot_phase::waiting) conn_->write_status_line(*s);
  s->switching = true;
  s->suppress = true;
  conn_->write_head_end(*s, framing_none, 0);
  conn_->upgrade_ = &handler;
  conn_->reading_ = connection::reading::stopped;  // what follows belongs to the new protocol
  conn_->finish_slot(*s);
  conn_->after_writer_call();
  return true;
}

void response_writer::close_after() noexcept {
  if (response_slot* s = slot()) s->close = true;
}

}  // namespace taut
