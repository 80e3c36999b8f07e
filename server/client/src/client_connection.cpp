// The life of one client connection: dial, write a request (head, then the body, held back for
// 100 Continue when asked), read the response with taut::response_parser and body_decoder, then
// back to the pool or closed. Every readiness notification and timer ends up in drive(), which
// pumps until nothing more can happen now; a connection that closed frees itself at the end.
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "client_detail.hpp"
#include "taut/http_chars.hpp"

namespace taut::detail {

namespace {

bool idempotent(taut::method m) noexcept {
  switch (m) {
    case taut::method::get:
    case taut::method::head:
    case taut::method::options:
    case taut::method::trace:
    case taut::method::put:
    case taut::method::delete_:
      return true;
    default:
      return false;
  }
}

void append(char* out, std::size_t& at, std::string_view text) noexcept {
  std::memcpy(out + at, text.data(), text.size());
  at += text.size();
}

bool has_field(std::span<const header> fields, std::string_view name) noexcept {
  return std::any_of(fields.begin(), fields.end(),
                     [name](const header& h) { return chars::iequals(h.name, name); });
}

// Calls `each` with every element of the comma-separated lists in the `name` fields, trimmed;
// stops (returning false) when `each` returns false.
template <class Each>
bool each_list_element(std::span<const header> fields, std::string_view name, Each&& each) {
  for (const header& h : fields) {
    if (!chars::iequals(h.name, name)) continue;
    std::string_view list = h.value;
    while (!list.empty()) {
      const std::size_t comma = std::min(list.find(','), list.size());
      const std::string_view element = chars::trim_ows(list.substr(0, comma));
      list.remove_prefix(std::min(comma + 1, list.size()));
      if (!element.empty() && !each(element)) return false;
    }
  }
  return true;
}

// Whether the request's Upgrade offered `chosen`: names compared without case, and a version
// given on both sides must agree too.
bool offered(std::span<const header> request, std::string_view chosen) {
  const auto name_of = [](std::string_view p) { return p.substr(0, p.find('/')); };
  const bool versioned = chosen.find('/') != std::string_view::npos;
  const bool none = each_list_element(request, "upgrade", [&](std::string_view offer) {
    const bool same =
        chars::iequals(name_of(chosen), name_of(offer)) &&
        (!versioned || offer.find('/') == std::string_view::npos || chars::iequals(chosen, offer));
    return !same;  // found: stop
  });
  return !none;
}

// Whether a 101's Upgrade names protocols, each one the request offered (RFC 9110 section 7.8).
bool switches_to_offered(std::span<const header> response, std::span<const header> request) {
  bool any = false;
  const bool all = each_list_element(response, "upgrade", [&](std::string_view chosen) {
    any = true;
    return offered(request, chosen);
  });
  return any && all;
}

// The chunk framing around a piece: "<hex>\r\n" before and "\r\n" after (16 hex digits at most).
constexpr std::size_t chunk_overhead = 16 + 2 + 2;

}  // namespace

client_connection::client_connection(origin_pool& pool, client_exchange* first)
    : pool_(&pool),
      owner_(pool.owner),
      timer_(pool.owner->loop()),
      kick_(pool.owner->loop()),
      capacity_(std::max<std::size_t>(pool.owner->options().buffer_size, 1024)),
      header_slots_(std::max<std::size_t>(pool.owner->options().parse.max_headers, 1)),
      parser_({}, pool.owner->options().parse),
      exchange_(first) {
  in_ = std::make_unique<char[]>(capacity_);
  out_ = std::make_unique<char[]>(capacity_);
  headers_ = std::make_unique<header[]>(header_slots_);
  if (pool.owner->options().pipeline_depth > 1) {
    queue_capacity_ = pool.owner->options().pipeline_depth - 1;
    queue_ = std::make_unique<queued_request[]>(queue_capacity_);
  }
  parser_ = response_parser({headers_.get(), header_slots_}, owner_->options().parse);
  timer_.set_callback([this] { on_timer(); });
  kick_.set_callback([this] { drive(); });
  if (first != nullptr) first->connection_ = this;
}

client_connection::~client_connection() {
  timer_.cancel();
  stream_.unwatch();
}

void client_connection::open() noexcept {
  const origin& where = pool_->where;
  ++owner_->stats_.connections_opened;
  // connect_timeout bounds the whole of connecting: the name's resolution and every address.
  connect_deadline_ = owner_->loop().now() + owner_->options().connect_timeout;
  if (where.kind_ == transport::transport_kind::memory) {
    auto dialed = where.dialer_.dial();
    if (!dialed) {
      deferred_code_ = client_errc::connect_failed;
      deferred_error_ = dialed.error();
      arm(timing::deferred_error, {});
      return;
    }
    stream_ = std::move(*dialed);
  } else if (!pool_->addresses.empty() && !pool_->stale) {
    dial(0);
    return;
  } else {
    state_ = state::resolving;
    arm(timing::connect, owner_->options().connect_timeout);  // a resolver that never answers
    pool_->start_resolving();
    return;
  }
  state_ = state::connecting;
  if (auto ec = stream_.watch(owner_->loop(),
                              [this](transport::readiness events) { on_ready(events); })) {
    deferred_code_ = client_errc::connect_failed;
    deferred_error_ = ec;
    arm(timing::deferred_error, {});
  }
}

void client_connection::on_resolved(std::error_code error) noexcept {
  if (error) {
    state_ = state::connecting;
    deferred_code_ = client_errc::resolve_failed;
    deferred_error_ = error;
    arm(timing::deferred_error, {});
    return;
  }
  dial(0);
}

void client_connection::dial(std::size_t index) noexcept {
  state_ = state::connecting;
  address_index_ = index;
  const std::size_t count = pool_->addresses.size();
  if (index >= count) {
    next_address(client_errc::connect_failed, std::make_error_code(std::errc::host_unreachable));
    return;
  }
  auto made = transport::connect(pool_->addresses[index]);
  if (!made) {
    next_address(client_errc::connect_failed, made.error());
    return;
  }
  stream_ = std::move(*made);
  if (stream_.kind() == transport::transport_kind::tcp) (void)stream_.set_no_delay(true);
  if (auto ec = stream_.watch(owner_->loop(),
                              [this](transport::readiness events) { on_ready(events); })) {
    next_address(client_errc::connect_failed, ec);
    return;
  }
  // Each address gets an even share of the time left (at least 2 s, as Go's dialer gives), so a
  // first address that never answers (an IPv6 route that drops packets) leaves time for the
  // next instead of taking all of connect_timeout.
  const transport::duration left = connect_deadline_ - owner_->loop().now();
  const auto share = left / static_cast<transport::duration::rep>(count - index);
  const transport::duration floor = std::chrono::seconds(2);
  arm(timing::connect, std::max(transport::duration{}, std::min(left, std::max(share, floor))));
}

void client_connection::next_address(client_errc code, std::error_code cause) noexcept {
  stream_.unwatch();
  stream_.abort();
  hangup_ = false;
  if (address_index_ + 1 < pool_->addresses.size() && owner_->loop().now() < connect_deadline_) {
    dial(address_index_ + 1);
    return;
  }
  // None answered: the name may have moved (a restarted upstream, a DNS change), so the next
  // connection resolves it again instead of trusting this answer forever.
  if (!pool_->literal) pool_->stale = true;
  if (busy_) {
    if (exchange_ != nullptr) {
      fail(code, client_phase::connecting, cause);
    } else {
      close_stream();  // freed when the pump ends
    }
    return;
  }
  // Outside the pump (inside client::send, or from the resolver's answer): reported, or the
  // connection closed and freed, from the loop.
  deferred_code_ = code;
  deferred_error_ = cause;
  arm(timing::deferred_error, {});
}

void client_connection::on_ready(transport::readiness events) noexcept {
  if (transport::has(events, transport::readiness::hangup)) hangup_ = true;
  if (transport::has(events, transport::readiness::readable)) drained_ = false;
  drive();
}

void client_connection::on_timer() noexcept {
  const timing what = std::exchange(timing_, timing::none);
  switch (what) {
    case timing::none:
      break;
    case timing::deferred_error:
      if (exchange_ != nullptr) {
        fail(deferred_code_,
             deferred_code_ == client_errc::resolve_failed ? client_phase::resolving
             : deferred_code_ == client_errc::write_failed ? client_phase::writing_request
                                                           : client_phase::connecting,
             deferred_error_);
      } else {
        close_stream();
      }
      break;
    case timing::connect:
      if (state_ == state::resolving) {
        if (exchange_ != nullptr) {
          fail(client_errc::connect_timeout, client_phase::resolving,
               std::make_error_code(std::errc::timed_out));
        } else {
          close_stream();
        }
      } else if (state_ == state::connecting && !handshaking_) {
        next_address(client_errc::connect_timeout, std::make_error_code(std::errc::timed_out));
      } else if (state_ == state::connecting) {
        if (exchange_ != nullptr) {
          fail(client_errc::connect_timeout, client_phase::connecting,
               std::make_error_code(std::errc::timed_out));
        } else {
          close_stream();
        }
      }
      break;
    case timing::expect_continue:
      awaiting_continue_ = false;  // RFC 9110 section 10.1.1: send the body after waiting a while
      break;
    case timing::head:
      if (exchange_ != nullptr && !head_done_) {
        fail(client_errc::header_timeout, client_phase::reading_head,
             std::make_error_code(std::errc::timed_out));
      }
      break;
    case timing::body_idle:
      if (exchange_ != nullptr && head_done_ && state_ == state::busy) {
        if (exchange_->paused_) {
          arm(timing::body_idle, owner_->options().body_idle_timeout);  // our side is slow
        } else {
          fail(client_errc::body_timeout, client_phase::reading_body,
               std::make_error_code(std::errc::timed_out));
        }
      }
      break;
    case timing::idle:
      if (state_ == state::idle) close_stream();
      break;
  }
  drive();
}

void client_connection::arm(timing what, transport::duration after) noexcept {
  timing_ = what;
  timer_.arm_in(after);
}

void client_connection::drive() noexcept {
  if (busy_) {
    again_ = true;  // called back from a callback of the pump: it runs again before returning
    return;
  }
  busy_ = true;
  do {
    again_ = false;
    pump();
  } while (again_);
  busy_ = false;
  settle();  // may free this connection: nothing after it
}

void client_connection::settle() noexcept {
  if (busy_ || state_ != state::closed) return;
  pool_->destroy(*this);
}

void client_connection::pump() noexcept {
  for (int round = 0; round < 64; ++round) {
    bool progress = false;
    switch (state_) {
      case state::resolving:
      case state::closed:
        return;
      case state::connecting: {
        if (handshaking_) {
          if (!handshake()) return;
          progress = true;
          break;
        }
        // No stream: every address failed or timed out, and the error waits for its timer. A
        // closed stream must not pass for a connected one (and the request go nowhere).
        if (!stream_.is_open()) return;
        if (!stream_.writable() && !hangup_) return;
        if (stream_.kind() == transport::transport_kind::tcp ||
            stream_.kind() == transport::transport_kind::unix_socket) {
          if (auto ec = stream_.connect_error()) {
            next_address(client_errc::connect_failed, ec);
            if (state_ != state::connecting) return;
            progress = true;
            break;
          }
        }
        if (pool_->where.tls_) {
          if (!start_tls()) return;
        } else {
          connected();
        }
        progress = true;
        break;
      }
      case state::idle: {
        // An idle connection expects nothing: bytes are a response nobody asked for (never
        // trusted as the next one's), and the end of the stream means the server closed it.
        if (drained_ && !hangup_) return;  // the last read emptied the socket: nothing new
        std::array<char, 64> sink;
        const transport::io_result r = stream_.read(sink);
        if (r.would_block()) return;
        close_stream();
        return;
      }
      case state::busy: {
        if (exchange_ == nullptr) return;
        // Pipelined requests may wait in the output after the one in flight was written.
        if ((!request_done_ || out_begin_ != out_end_) && stream_.writable()) {
          if (!flush()) return;
        }
        if (exchange_ == nullptr || state_ != state::busy) return;
        if (head_done_ && !exchange_->paused_ && (in_begin_ != in_end_ || resumed_)) {
          // Body bytes held back by pause(), before reading more; after a resume() even with
          // none: a body that needs no byte (HEAD, 204, Content-Length: 0) ends there.
          resumed_ = false;
          process_input();
          if (exchange_ == nullptr || state_ != state::busy) return;
        }
        if (exchange_->paused_ && head_done_) {
          if (queued_ > 0) send_queue_elsewhere();  // a slow reader holds no one else
          return;
        }
        if ((stream_.readable() && !drained_) || hangup_) {
          progress = receive();
          if (state_ != state::busy || exchange_ == nullptr) return;
        }
        break;
      }
    }
    if (!progress) return;
  }
  // A peer that never pauses: continue in a coming iteration, after the loop served others
  // (nothing else would wake this connection: the stream's readiness was not used up).
  if (!kick_.armed()) kick_.arm_in({});
}

bool client_connection::start_tls() noexcept {
  // The handshake is part of connecting: connect_timeout bounds both, and its failures are
  // reported in that phase, before any request byte is written.
  stream_.unwatch();
  auto wrapped = transport::tls_connect(std::move(stream_), owner_->tls_, pool_->where.host_);
  if (!wrapped) {
    fail(client_errc::tls_handshake_failed, client_phase::connecting, wrapped.error());
    return false;
  }
  stream_ = std::move(*wrapped);
  if (auto ec = stream_.watch(owner_->loop(),
                              [this](transport::readiness events) { on_ready(events); })) {
    fail(client_errc::connect_failed, client_phase::connecting, ec);
    return false;
  }
  handshaking_ = true;
  return true;
}

bool client_connection::handshake() noexcept {
  // A read drives the handshake. An HTTP/1.1 server never speaks first, so once the handshake is
  // done the read ends in would_block (TLS 1.3 session tickets are consumed inside it).
  const transport::io_result r = stream_.read({in_.get(), capacity_});
  if (r.would_block()) {
    const transport::tls_state negotiated = transport::tls_info(stream_);
    if (!negotiated.handshake_done) return false;
    handshaking_ = false;
    ++owner_->stats_.tls_handshakes;
    if (negotiated.resumed) ++owner_->stats_.tls_resumed;
    connected();
    return true;
  }
  if (r.done()) {
    // Application bytes before any request: nothing a server may send.
    fail(client_errc::bad_response, client_phase::connecting,
         std::make_error_code(std::errc::protocol_error));
  } else if (r.eof()) {
    fail(client_errc::tls_handshake_failed, client_phase::connecting,
         std::make_error_code(std::errc::connection_aborted));
  } else {
    fail(client_errc::tls_handshake_failed, client_phase::connecting, r.error());
  }
  return false;
}

void client_connection::connected() noexcept {
  timer_.cancel();
  timing_ = timing::none;
  state_ = state::idle;
  if (exchange_ != nullptr) {
    client_exchange* first = exchange_;
    exchange_ = nullptr;
    start(*first);
  } else {
    pool_->release(*this, true);
  }
}

void client_connection::start(client_exchange& exchange) noexcept {
  timer_.cancel();
  timing_ = timing::none;
  exchange_ = &exchange;
  exchange.connection_ = this;
  const client_request& request = *exchange.request_;
  method_ = method_from_token(request.method);
  in_begin_ = in_end_ = 0;
  out_begin_ = out_end_ = 0;
  parser_.reset();
  body_.reset();
  exchange_received_ = 0;
  head_written_ = head_done_ = request_done_ = false;
  resumed_ = false;  // a resume() before the last exchange's head is not this one's
  body_finished_ = false;
  body_wanted_ = true;
  reusable_ = true;
  body_streaming_ = request.stream_body;
  body_chunked_ = request.stream_body && request.stream_length < 0;
  stream_left_ = request.stream_body && request.stream_length > 0
                     ? static_cast<std::uint64_t>(request.stream_length)
                     : 0;
  body_left_ = request.stream_body ? std::string_view{} : request.body;
  const bool has_body = request.stream_body || !request.body.empty();
  awaiting_continue_ = request.expect_continue && has_body;
  interim_bytes_ = 0;
  state_ = state::busy;
  ++owner_->stats_.requests;
  if (served_ > 0) ++owner_->stats_.reused;
  leader_pipelinable_ =
      queue_capacity_ > 0 && !exchange.retried_ && pipelinable(request) && body_left_.empty();
  serialize_head();
  written_ = 0;
  appended_ = front_end_ = out_end_;
  if (leader_pipelinable_) {
    // Written at the end of this loop iteration (the kick's timer fires after the events), with
    // the requests that join it until then: one write, and on the server's side one read.
    pool_->batch = this;
    if (!kick_.armed()) kick_.arm_in({});
    return;
  }
  // Written now, read when the answer's readiness comes; a failure waits for the loop, so no
  // callback runs inside client::send.
  if (!busy_) {
    busy_ = true;
    in_start_ = true;
    again_ = false;
    (void)flush();
    in_start_ = false;
    busy_ = false;
    if (again_) {
      again_ = false;
      kick_.arm_in({});
    }
  } else {
    again_ = true;
  }
}

void client_connection::serialize_head() noexcept {
  out_end_ = 0;
  write_request_head(*exchange_->request_, method_, body_chunked_, awaiting_continue_);
}

void client_connection::write_request_head(const client_request& request, taut::method method,
                                           bool chunked, bool expect) noexcept {
  char* out = out_.get();
  std::size_t at = out_end_;
  append(out, at, request.method);
  append(out, at, " ");
  append(out, at, request.target);
  append(out, at, " HTTP/1.1\r\n");
  if (!has_field(request.headers, "host")) {
    append(out, at, "Host: ");
    append(out, at, pool_->where.authority_);
    append(out, at, "\r\n");
  }
  for (const header& field : request.headers) {
    append(out, at, field.name);
    append(out, at, ": ");
    append(out, at, field.value);
    append(out, at, "\r\n");
    // "close" and "upgrade" end the connection's reuse; "keep-alive" (HTTP/1.1's default) not.
    if (chars::iequals(field.name, "connection") && !chars::iequals(field.value, "keep-alive")) {
      reusable_ = false;
    }
  }
  const bool wants_length =
      method == taut::method::post || method == taut::method::put || method == taut::method::patch;
  if (chunked) {
    append(out, at, "Transfer-Encoding: chunked\r\n");
  } else if (request.stream_body || !request.body.empty() || wants_length ||
             request.send_empty_length) {
    const std::uint64_t length = request.stream_body
                                     ? static_cast<std::uint64_t>(request.stream_length)
                                     : request.body.size();
    std::array<char, 24> digits;
    const auto made = std::to_chars(digits.data(), digits.data() + digits.size(), length);
    append(out, at, "Content-Length: ");
    append(out, at,
           std::string_view(digits.data(), static_cast<std::size_t>(made.ptr - digits.data())));
    append(out, at, "\r\n");
  }
  if (expect) append(out, at, "Expect: 100-continue\r\n");
  append(out, at, "\r\n");
  out_end_ = at;
}

std::size_t client_connection::request_size(const client_request& request) const noexcept {
  std::size_t size = request.method.size() + 1 + request.target.size() + 11;
  if (!has_field(request.headers, "host")) size += 6 + pool_->where.authority_.size() + 2;
  for (const header& field : request.headers) {
    size += field.name.size() + 2 + field.value.size() + 2;
  }
  return size + 16 + 20 + 2 + 2 + request.body.size();  // Content-Length, the final CRLF, body
}

bool client_connection::pipelinable(const client_request& request) noexcept {
  // RFC 9112 section 9.3.2: only requests that may be sent again (idempotent ones) are
  // pipelined, since a connection that fails fails every request behind it; a streamed body or
  // an Expect would hold the ones behind until it is written, and Connection or Upgrade ends
  // what comes after.
  if (request.stream_body || request.expect_continue) return false;
  if (!idempotent(method_from_token(request.method))) return false;
  return std::none_of(request.headers.begin(), request.headers.end(), [](const header& h) {
    return chars::iequals(h.name, "connection") || chars::iequals(h.name, "upgrade");
  });
}

bool client_connection::accepts_follower(const client_request& request) const noexcept {
  // The one in flight must be pipelinable itself and not a retry (RFC 9112 section 9.3.2: no
  // pipelining right after a failed connection), its body already in the output (a body still
  // to be written from the caller's view goes after everything in the buffer), and the server
  // must not have said or shown that it closes.
  return queued_ < queue_capacity_ && state_ == state::busy && exchange_ != nullptr &&
         leader_pipelinable_ && reusable_ && !hangup_ && !exchange_->retried_ &&
         body_left_.empty() && request_size(request) <= capacity_ - (out_end_ - out_begin_);
}

bool client_connection::take_follower(client_exchange& exchange) noexcept {
  const client_request& request = *exchange.request_;
  if (!accepts_follower(request)) return false;
  compact_output();
  const taut::method method = method_from_token(request.method);
  const std::size_t before = out_end_;
  write_request_head(request, method, false, false);
  if (!request.body.empty()) append(out_.get(), out_end_, request.body);  // memcpy: no null
  appended_ += out_end_ - before;
  queue_[(queue_first_ + queued_) % queue_capacity_] = {&exchange, method, appended_};
  ++queued_;
  exchange.connection_ = this;
  ++owner_->stats_.requests;
  ++owner_->stats_.pipelined;
  if (served_ > 0) ++owner_->stats_.reused;
  pool_->batch = this;
  if (!kick_.armed()) kick_.arm_in({});
  return true;
}

std::size_t client_connection::out_room() const noexcept {
  return capacity_ - out_end_;
}

void client_connection::compact_output() noexcept {
  if (out_begin_ == 0) return;
  std::memmove(out_.get(), out_.get() + out_begin_, out_end_ - out_begin_);
  out_end_ -= out_begin_;
  out_begin_ = 0;
}

bool client_connection::flush() noexcept {
  // The batch of this iteration goes out now: later requests start another (a write cut short
  // keeps nobody joining a connection whose server reads slowly).
  if (pool_->batch == this) pool_->batch = nullptr;
  for (;;) {
    std::array<transport::const_buffer, 2> parts;
    std::size_t count = 0;
    const std::size_t queued = out_end_ - out_begin_;
    if (queued > 0) parts[count++] = {out_.get() + out_begin_, queued};
    // The body goes out behind the head in one writev, unless 100 Continue is awaited.
    if (!awaiting_continue_ && !body_left_.empty()) parts[count++] = body_left_;
    if (count == 0) {
      if (!head_written_) head_written_ = true;
      const bool body_done =
          body_left_.empty() && (!body_streaming_ || (body_finished_ && stream_left_ == 0));
      if (body_done && !request_done_) request_written();
      if (!body_done && body_streaming_ && !awaiting_continue_ && exchange_ != nullptr &&
          body_wanted_) {
        if (in_start_) {
          again_ = true;  // told from the loop, not from inside client::send
        } else if (in_write_body_) {
          // Not from inside write_body(): the caller's pump, which called it, would run nested
          // in itself. The loop's next pass tells it (body_wanted_ stays set for that).
          if (!kick_.armed()) kick_.arm_in({});
        } else {
          body_wanted_ = false;
          exchange_->on_body_writable();
        }
      }
      return true;
    }
    const transport::io_result r = stream_.writev({parts.data(), count});
    if (r.would_block()) return true;
    if (r.failed()) {
      // The server may have answered and closed (a 413 before the whole body): read what it
      // said before reporting the write.
      request_done_ = true;
      reusable_ = false;
      if (exchange_received_ == 0 && !stream_.readable()) {
        if (in_start_) {
          deferred_code_ = client_errc::write_failed;
          deferred_error_ = r.error();
          arm(timing::deferred_error, {});
          return false;
        }
        fail(client_errc::write_failed, client_phase::writing_request, r.error());
        return false;
      }
      return true;
    }
    body_wanted_ = true;  // room again for a streamed body
    std::size_t n = r.bytes;
    const std::size_t from_out = std::min(n, queued);
    out_begin_ += from_out;
    written_ += from_out;
    n -= from_out;
    // Pipelined requests wait behind the one in flight: it is written once its own bytes are.
    if (!request_done_ && queued_ > 0 && written_ >= front_end_) request_written();
    if (out_begin_ == out_end_) {
      out_begin_ = out_end_ = 0;
      if (!head_written_) {
        head_written_ = true;
        if (awaiting_continue_) {
          arm(timing::expect_continue, owner_->options().expect_continue_timeout);
          return true;
        }
      }
    }
    body_left_.remove_prefix(n);
  }
}

void client_connection::request_written() noexcept {
  request_done_ = true;
  if (!head_done_) arm(timing::head, owner_->options().response_header_timeout);
}

std::size_t client_connection::write_body(std::string_view piece) noexcept {
  if (exchange_ == nullptr || !body_streaming_ || body_finished_ || state_ != state::busy) {
    return 0;
  }
  compact_output();
  std::size_t room = out_room();
  std::size_t take = 0;
  if (body_chunked_) {
    if (room <= chunk_overhead || piece.empty()) return 0;
    take = std::min(piece.size(), room - chunk_overhead);
    std::array<char, 17> digits;
    const auto made = std::to_chars(digits.data(), digits.data() + 16, take, 16);
    append(out_.get(), out_end_,
           std::string_view(digits.data(), static_cast<std::size_t>(made.ptr - digits.data())));
    append(out_.get(), out_end_, "\r\n");
    append(out_.get(), out_end_, piece.substr(0, take));
    append(out_.get(), out_end_, "\r\n");
  } else {
    take = static_cast<std::size_t>(
        std::min<std::uint64_t>(std::min(piece.size(), room), stream_left_));
    append(out_.get(), out_end_, piece.substr(0, take));
    stream_left_ -= take;
  }
  if (busy_) {
    again_ = true;  // from a callback of the pump: it runs again once that callback returns
    return take;
  }
  busy_ = true;
  in_write_body_ = true;
  do {
    again_ = false;
    pump();
  } while (again_);
  in_write_body_ = false;
  busy_ = false;
  // The caller keeps the rest and writes it from on_body_writable(): it is due whatever this pump
  // did, and comes from the loop when nothing is left to write.
  if (take < piece.size() && state_ == state::busy && exchange_ != nullptr) {
    body_wanted_ = true;
    if (out_begin_ == out_end_ && !kick_.armed()) kick_.arm_in({});
  }
  settle();  // may free this connection: nothing after it
  return take;
}

bool client_connection::finish_body() noexcept {
  if (exchange_ == nullptr || !body_streaming_ || body_finished_) return false;
  if (!body_chunked_ && stream_left_ != 0) {
    fail(client_errc::body_incomplete, client_phase::writing_request, {});
    settle();
    return false;
  }
  if (body_chunked_) {
    compact_output();
    if (out_room() < 5) return false;  // wait for on_body_writable() and call again
    append(out_.get(), out_end_, "0\r\n\r\n");
  }
  body_finished_ = true;
  drive();
  return true;
}

bool client_connection::receive() noexcept {
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_end_ == capacity_ && in_begin_ > 0) {
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
    if (!head_done_) {
      // The parser keeps offsets from the start of the head, which moved with it.
      parser_.reset();
    }
  }
  if (in_end_ == capacity_) {
    process_input();  // room is made only by consuming; a head that fills the buffer is too big
    if (exchange_ != nullptr && in_end_ == capacity_ && !head_done_) {
      fail(client_errc::response_too_large, client_phase::reading_head,
           std::make_error_code(std::errc::message_size));
    }
    return false;
  }
  const transport::io_result r = stream_.read({in_.get() + in_end_, capacity_ - in_end_});
  if (r.would_block()) return false;
  if (r.done()) {
    // A read that did not fill the room emptied the socket at that moment: what comes later
    // raises a new readiness edge, so an idle connection need not read again to stay sound (a
    // TLS stream's read goes on through records until the room is full or the socket empty).
    drained_ = r.bytes < capacity_ - in_end_;
    if (timing_ == timing::body_idle) arm(timing::body_idle, owner_->options().body_idle_timeout);
    in_end_ += r.bytes;
    exchange_received_ += r.bytes;
    process_input();
    return true;
  }
  if (r.eof()) {
    reusable_ = false;
    process_input();
    if (exchange_ == nullptr || state_ != state::busy) return false;
    if (head_done_ && body_) {
      const body_result end = body_->finish();
      if (end.status == parse_status::complete) {
        finish_exchange();
        return false;
      }
      fail(client_errc::connection_closed, client_phase::reading_body,
           make_error_code(errc::body_cut_short), end.error.offset);
      return false;
    }
    // Nothing at all on a reused connection is the race with the server's idle close (retried);
    // part of a head is a cut response.
    fail(client_errc::connection_closed, phase(),
         exchange_received_ == 0 ? std::error_code{} : make_error_code(errc::body_cut_short),
         in_end_ - in_begin_);
    return false;
  }
  reusable_ = false;
  const int value = r.error_value;
  fail(value == ECONNRESET ? client_errc::connection_reset : client_errc::connection_closed,
       phase(), r.error());
  return false;
}

void client_connection::process_input() noexcept {
  while (exchange_ != nullptr && state_ == state::busy) {
    if (!head_done_) {
      if (!take_head()) return;
      continue;
    }
    if (exchange_->paused_) return;
    const body_result r = body_->decode({in_.get() + in_begin_, in_end_ - in_begin_});
    if (r.status == parse_status::error) {
      fail(client_errc::bad_response, client_phase::reading_body, make_error_code(r.error.code),
           r.error.offset);
      return;
    }
    in_begin_ += r.consumed;
    if (!r.data.empty()) {
      exchange_->on_body(r.data);
      if (exchange_ == nullptr || state_ != state::busy) return;
    }
    if (r.status == parse_status::complete) {
      if (finish_exchange()) continue;  // the next pipelined response may be here already
      return;
    }
    if (r.consumed == 0 && r.data.empty()) return;
  }
}

bool client_connection::take_head() {
  const std::string_view input(in_.get() + in_begin_, in_end_ - in_begin_);
  const parse_result r = parser_.parse(input, method_);
  if (r.incomplete()) return false;
  if (r.failed()) {
    fail(client_errc::bad_response, client_phase::reading_head, make_error_code(r.error.code),
         r.error.offset);
    return false;
  }
  const taut::response& head = parser_.response();
  if (head.status >= 100 && head.status < 200 && head.status != 101) {
    // A server may send any number of interim responses, each one small: together they may hold
    // no more than a final head may, so that a storm of them ends instead of running (and
    // filling a blocking_client's list) until the head timeout.
    interim_bytes_ += r.consumed;
    if (interim_bytes_ > capacity_) {
      fail(client_errc::response_too_large, client_phase::reading_head,
           std::make_error_code(std::errc::message_size));
      return false;
    }
    if (head.status == 100 && awaiting_continue_) {
      awaiting_continue_ = false;
      if (timing_ == timing::expect_continue) {
        timer_.cancel();
        timing_ = timing::none;
      }
      again_ = true;
    }
    exchange_->on_informational(head);
    if (exchange_ == nullptr || state_ != state::busy) return false;
    in_begin_ += r.consumed;
    parser_.reset();
    return true;
  }
  if (head.status == 101 && !has_field(head.headers, "upgrade")) {
    // RFC 9110 section 15.2.2: a 101 names the protocol switched to. Without it nobody knows
    // what the bytes after it are: a bad response, and the connection is closed.
    fail(client_errc::bad_response, client_phase::reading_head,
         std::make_error_code(std::errc::protocol_error), r.consumed);
    return false;
  }
  if (head.status == 101 && !switches_to_offered(head.headers, exchange_->request_->headers)) {
    // RFC 9110 section 7.8: a server switches only to a protocol the request's Upgrade offered.
    // A 101 to a request that offered none, or to another protocol (h2c for a WebSocket
    // request), is no switch this client asked for: whatever follows is not what it can speak.
    fail(client_errc::bad_response, client_phase::reading_head,
         std::make_error_code(std::errc::protocol_error), r.consumed);
    return false;
  }
  if (head.status == 101 || (method_ == taut::method::connect && head.status < 300)) {
    upgrade(r.consumed);
    return false;
  }
  // RFC 9112 section 6.3: a response with both is a smuggling attempt or a broken server; the
  // parser lets Transfer-Encoding win, a client of a proxy must not guess.
  bool content_length = false;
  bool transfer_encoding = false;
  for (const header& field : head.headers) {
    if (chars::iequals(field.name, "content-length")) content_length = true;
    if (chars::iequals(field.name, "transfer-encoding")) transfer_encoding = true;
  }
  if (content_length && transfer_encoding) {
    fail(client_errc::ambiguous_framing, client_phase::reading_head,
         make_error_code(errc::transfer_encoding_with_content_length));
    return false;
  }
  head_done_ = true;
  if (timing_ == timing::head || timing_ == timing::expect_continue) {
    timer_.cancel();
    timing_ = timing::none;
  }
  if (owner_->options().body_idle_timeout.count() > 0) {
    arm(timing::body_idle, owner_->options().body_idle_timeout);
  }
  if (exchange_->request_->timeout_ends_at_head && exchange_->deadline_) {
    exchange_->deadline_->cancel();
  }
  if (!head.keep_alive) reusable_ = false;
  if (awaiting_continue_) {
    // A final answer instead of 100 Continue: the body is never sent, and the server may read
    // what comes next as it likes; this connection is done after the response.
    awaiting_continue_ = false;
    body_left_ = {};
    body_streaming_ = false;
    request_done_ = true;
    reusable_ = false;
  }
  if (!request_done_) reusable_ = false;  // the server answered before the whole request
  body_.emplace(head.body, owner_->options().parse,
                std::span<header>(headers_.get(), header_slots_));
  const client_response response{head, served_ > 0};
  in_begin_ += r.consumed;
  exchange_->on_head(response);
  return exchange_ != nullptr && state_ == state::busy;
}

void client_connection::upgrade(std::size_t head_size) noexcept {
  client_exchange* exchange = exchange_;
  exchange_ = nullptr;
  exchange->connection_ = nullptr;
  client_access::end(*exchange);
  timer_.cancel();
  timing_ = timing::none;
  stream_.unwatch();
  const std::string_view leftover(in_.get() + in_begin_ + head_size,
                                  in_end_ - in_begin_ - head_size);
  transport::stream taken = std::move(stream_);
  state_ = state::closed;
  exchange->on_upgrade(parser_.response(), std::move(taken), leftover);
}

bool client_connection::finish_exchange() noexcept {
  const bool pipelined = queued_ > 0;
  // Bytes after the response are never trusted, unless they are the next pipelined response.
  if (in_begin_ != in_end_ && !pipelined) reusable_ = false;
  if (!request_done_) reusable_ = false;
  // The server has closed its side (the end of the stream came with the response, or since): no
  // answer to another request can come, and a request handed over now (the next one waiting)
  // would fail before any byte, a POST for good. Pipelined requests still take the answers that
  // came before the end; the first without one fails there (and is retried as usual).
  if (hangup_ && !pipelined) reusable_ = false;
  client_exchange* exchange = exchange_;
  exchange_ = nullptr;
  exchange->connection_ = nullptr;
  ++served_;
  client_access::end(*exchange);
  const std::span<const header> trailers = body_->trailers();
  if (!pipelined) {
    // Back to the pool first, so that a request sent from on_complete (the next of a sequence)
    // finds this connection idle. The trailers' views point into in_ and headers_, which nothing
    // overwrites before the callback returns: a new exchange started here only writes, and
    // reads come from the loop.
    pool_->release(*this, reusable_);
    exchange->on_complete(trailers);
    return false;
  }
  // The next pipelined request takes the connection; its head is parsed once on_complete has
  // returned (the trailers' views stay valid until then).
  if (reusable_) {
    promote();
    exchange->on_complete(trailers);
    return exchange_ != nullptr && state_ == state::busy;
  }
  // No answer to the requests behind comes on this connection: they go elsewhere, after the
  // answered one is told. A server that said it closes processed none of them (RFC 9112
  // section 9.6).
  const bool server_closed = !parser_.response().keep_alive;
  close_stream();
  exchange->on_complete(trailers);
  release_queue(server_closed);
  return false;
}

void client_connection::promote() noexcept {
  const queued_request next = queue_[queue_first_];
  queue_first_ = (queue_first_ + 1) % queue_capacity_;
  --queued_;
  exchange_ = next.exchange;
  if (exchange_ == nullptr) exchange_ = &discard_;
  exchange_->connection_ = this;
  method_ = next.method;
  parser_.reset();
  head_done_ = false;
  head_written_ = true;
  awaiting_continue_ = false;
  body_streaming_ = body_chunked_ = body_finished_ = body_wanted_ = false;
  body_left_ = {};
  stream_left_ = 0;
  resumed_ = false;
  interim_bytes_ = 0;
  // Nothing more behind one given up (its response may be slow to come).
  leader_pipelinable_ = next.exchange != nullptr;
  // What was read past the last response is this one's (a retry is then no longer safe).
  exchange_received_ = in_end_ - in_begin_;
  // Written once the output went past its last byte (a write cut short may hold it still).
  front_end_ = next.end;
  request_done_ = written_ >= front_end_;
  timer_.cancel();
  timing_ = timing::none;
  if (request_done_) arm(timing::head, owner_->options().response_header_timeout);
}

void client_connection::send_queue_elsewhere() noexcept {
  leader_pipelinable_ = false;  // nothing more behind a paused response
  if (!owner_->options().retry_idempotent) return;
  for (std::size_t i = 0; i < queued_; ++i) {
    queued_request& slot = queue_[(queue_first_ + i) % queue_capacity_];
    client_exchange* exchange = std::exchange(slot.exchange, nullptr);
    if (exchange == nullptr) continue;
    // Idempotent, so it may go twice: its answer here is read for nobody when it comes.
    exchange->connection_ = nullptr;
    exchange->retried_ = true;
    ++owner_->stats_.retries;
    if (const client_error queued = pool_->dispatch(*exchange, true)) {
      client_access::end(*exchange);
      exchange->on_error(queued);
    }
  }
}

void client_connection::release_queue(bool server_closed) noexcept {
  while (queued_ > 0) {
    client_exchange* exchange = queue_[queue_first_].exchange;
    queue_first_ = (queue_first_ + 1) % queue_capacity_;
    --queued_;
    if (exchange == nullptr) continue;
    exchange->connection_ = nullptr;
    // Written but unanswered: RFC 9112 section 9.3.2 has a client retry such requests, and only
    // idempotent ones were pipelined. Never a retry before (a retry is never pipelined), so each
    // is sent at most twice.
    if (server_closed || owner_->options().retry_idempotent) {
      exchange->retried_ = true;
      ++owner_->stats_.retries;
      const client_error queued = pool_->dispatch(*exchange, true);
      if (!queued) continue;
      client_access::end(*exchange);
      exchange->on_error(queued);
      continue;
    }
    client_access::end(*exchange);
    exchange->on_error({client_errc::connection_closed, client_phase::reading_head,
                        std::make_error_code(std::errc::connection_aborted)});
  }
}

client_phase client_connection::phase() const noexcept {
  switch (state_) {
    case state::resolving:
      return client_phase::resolving;
    case state::connecting:
      return client_phase::connecting;
    default:
      break;
  }
  if (head_done_) return client_phase::reading_body;
  if (!request_done_ && exchange_received_ == 0) return client_phase::writing_request;
  return client_phase::reading_head;
}

void client_connection::fail(client_errc code, client_phase where, std::error_code cause,
                             std::size_t offset) noexcept {
  client_exchange* exchange = exchange_ == &discard_ ? nullptr : exchange_;
  exchange_ = nullptr;
  const bool was_reused = served_ > 0;
  close_stream();
  if (exchange != nullptr) {
    exchange->connection_ = nullptr;
    const client_request& request = *exchange->request_;
    const bool retryable =
        owner_->options().retry_idempotent && was_reused && exchange_received_ == 0 &&
        !exchange->retried_ && !request.stream_body &&
        idempotent(method_from_token(request.method)) &&
        (code == client_errc::connection_closed || code == client_errc::connection_reset ||
         code == client_errc::write_failed);
    client_error error{code, where, cause, offset};
    if (retryable) {
      exchange->retried_ = true;
      ++owner_->stats_.retries;
      error = pool_->dispatch(*exchange, true);
    }
    if (error) {
      client_access::end(*exchange);
      exchange->on_error(error);
    }
  }
  release_queue(false);
}

void client_connection::fail_from_outside(client_exchange& exchange, client_errc code) noexcept {
  const std::error_code cause = code == client_errc::deadline_exceeded
                                    ? std::make_error_code(std::errc::timed_out)
                                    : std::make_error_code(std::errc::operation_canceled);
  if (&exchange != exchange_) {
    // A pipelined request behind the one in flight: already written, so its response will come
    // and is read for nobody (discard_), the ones behind keeping theirs.
    for (std::size_t i = 0; i < queued_; ++i) {
      queued_request& slot = queue_[(queue_first_ + i) % queue_capacity_];
      if (slot.exchange != &exchange) continue;
      slot.exchange = nullptr;
      client_access::end(exchange);
      exchange.on_error(client_error{code, client_phase::reading_head, cause});
      return;
    }
    return;
  }
  const client_phase where = phase();
  exchange.connection_ = nullptr;
  if (queued_ > 0) {
    // Requests are pipelined behind it: its response is read for nobody, and they keep theirs.
    give_up_front();
    client_access::end(exchange);
    exchange.on_error(client_error{code, where, cause});
    drive();  // what arrived while it was paused
    return;
  }
  exchange_ = nullptr;
  close_stream();
  client_access::end(exchange);
  exchange.on_error(client_error{code, where, cause});
  settle();
}

void client_connection::give_up_front() noexcept {
  exchange_ = &discard_;
  discard_.connection_ = this;
  // Its response may be slow to come (a deadline gave up waiting): nothing more is written
  // behind it until it has come.
  leader_pipelinable_ = false;
  resumed_ = true;  // a paused body goes on
  if (timing_ == timing::body_idle) arm(timing::body_idle, owner_->options().body_idle_timeout);
}

void client_connection::abandon(client_exchange& exchange) noexcept {
  if (&exchange == exchange_ && queued_ > 0) {
    exchange.connection_ = nullptr;
    give_up_front();
    if (!busy_ && !kick_.armed()) kick_.arm_in({});  // from a destructor: the loop goes on
    return;
  }
  if (&exchange == exchange_) {
    abandon();
    return;
  }
  for (std::size_t i = 0; i < queued_; ++i) {
    queued_request& slot = queue_[(queue_first_ + i) % queue_capacity_];
    if (slot.exchange == &exchange) slot.exchange = nullptr;
  }
  exchange.connection_ = nullptr;
}

void client_connection::abandon() noexcept {
  if (exchange_ != nullptr) exchange_->connection_ = nullptr;
  exchange_ = nullptr;
  close_stream();
  release_queue(false);
  settle();
}

void client_connection::shut() noexcept {
  client_exchange* exchange = std::exchange(exchange_, nullptr);
  if (exchange == &discard_) exchange = nullptr;
  timer_.cancel();
  kick_.cancel();
  stream_.unwatch();
  stream_.abort();
  state_ = state::closed;
  const client_error canceled{client_errc::canceled, client_phase::reading_head,
                              std::make_error_code(std::errc::operation_canceled)};
  if (exchange != nullptr) {
    // The exchange forgets the client (its deadline, its pool) before it hears why it ended.
    const client_phase where = phase();
    client_access::end(*exchange);
    exchange->on_error({client_errc::canceled, where, canceled.cause});
  }
  while (queued_ > 0) {
    client_exchange* behind = queue_[queue_first_].exchange;
    queue_first_ = (queue_first_ + 1) % queue_capacity_;
    --queued_;
    if (behind == nullptr) continue;
    client_access::end(*behind);
    behind->on_error(canceled);
  }
}

bool client_connection::still_idle() noexcept {
  if (state_ != state::idle) return false;
  return quiet();
}

bool client_connection::quiet() noexcept {
  // Inside the loop's iteration (a proxy lending its upstream connection for a request it just
  // read) the loop has taken in every report up to its last wait: a stream it has told nothing
  // since a read found it empty has nothing to read, and the read below would only cost a
  // system call (an EAGAIN, or on io_uring an enter to take in completions) per request. What
  // arrives after that wait, as what arrives after the read below, is the race every pool has
  // (the server closing just as the request goes out); a reused connection failing before any
  // answer is retried once for an idempotent request.
  if (!hangup_ && stream_.nothing_to_read()) return true;
  // The readiness of bytes that came after the last read may not have been processed yet: an
  // idle connection with anything to read (stray bytes, the end of the stream) is not lent. On
  // io_uring they may still wait in the ring's completions, unseen by read(), when the loop has
  // not run since (blocking_client runs it only during a call): taken in first.
  stream_.take_ready();
  std::array<char, 64> sink;
  const transport::io_result r = stream_.read(sink);
  if (r.would_block()) return true;
  close_stream();
  return false;
}

void client_connection::close_stream() noexcept {
  if (state_ == state::closed) return;
  timer_.cancel();
  timing_ = timing::none;
  stream_.unwatch();
  if (state_ == state::idle && stream_.is_tls()) {
    // An idle TLS connection ends with close_notify: OpenSSL keeps the session resumable only
    // after a clean close, and the next connection to the origin resumes it.
    (void)stream_.close();
  } else {
    // A connection closed with a response half read would otherwise linger: reset it.
    stream_.abort();
  }
  state_ = state::closed;
}

void client_connection::go_idle() noexcept {
  state_ = state::idle;
  in_begin_ = in_end_ = 0;
  out_begin_ = out_end_ = 0;
  body_.reset();
  parser_.reset();
  arm(timing::idle, owner_->options().idle_timeout);
  // What arrived since the response ended (a second response nobody asked for, the end of the
  // stream) is read now: an idle connection must be sound before it is lent again.
  drive();
}

}  // namespace taut::detail
