// The sans-I/O HTTP/1.1 server connection: bytes and the current time in; bytes out, handler calls,
// and what it wants next (read, write, close, a deadline). No sockets, no clock, no threads inside,
// so every behaviour (keep-alive, pipelining, 100-continue, timeouts, errors) is a plain call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "taut/buffer_pool.hpp"
#include "taut/date_cache.hpp"
#include "taut/message.hpp"

namespace taut {

class connection;
class connection_context;
namespace detail {
struct connection_state;
struct response_slot;
enum class slot_phase : std::uint8_t;
enum class body_phase : std::uint8_t;
struct out_block;
/// A queue of output blocks borrowed from the buffer pool.
struct out_chain {
  out_block* head = nullptr;
  out_block* tail = nullptr;
};
}  // namespace detail

/// Limits and timeouts of a connection, with defaults safe for a public server. Set the fields
/// you need and pass the struct to connection_context; every connection of that context uses it.
struct connection_options {
  using duration = std::chrono::milliseconds;

  /// Request-line (414), header section (431), field count (431), chunk extensions, leniencies.
  /// Defaults: 8 KiB, 32 KiB, 100 fields, 1 KiB, strict. A transfer coding other than chunked is
  /// 501 unless parse.allow_transfer_codings: handlers then get the body still coded and
  /// head().transfer_codings names the codings to undo.
  parse_options parse{};
  /// Largest request body a handler receives, buffered or streamed; 413 beyond. A handler may
  /// raise or lower it per request (server_request::set_body_limit) in on_head.
  std::uint64_t max_body_bytes = 1024 * 1024;
  /// Body bytes the connection reads and throws away to stay alive after a handler answered
  /// without reading the body; beyond that it closes instead.
  std::uint64_t max_discard_bytes = 256 * 1024;
  /// Requests served on one connection; the last one is answered with `Connection: close`.
  /// 0 means no limit.
  std::uint32_t max_requests = 1000;
  /// Responses pending (handled or being handled, not yet fully written) before the connection
  /// stops reading further pipelined requests. At least 1, at most 1024. Only requests with safe
  /// methods (GET, HEAD, OPTIONS, TRACE) are handled in parallel: any other request starts once
  /// every response before it is finished, and nothing starts while it is unfinished (RFC 9112
  /// section 9.3.2).
  std::uint16_t max_pipeline_depth = 16;
  /// Queued output bytes above which the connection stops reading further requests (a client
  /// that pipelines and never reads cannot make the server buffer without bound) and pauses a
  /// streamed request body (a handler answering as it reads cannot either), and above which
  /// response_writer::ready() tells a streaming producer to wait for on_drained().
  std::size_t max_output_bytes = 64 * 1024;
  /// Output bytes held in memory (file bodies not counted) past which response_writer::write()
  /// takes no more: the response is cut short, as a dropped writer's is. Only a producer that
  /// ignores ready() gets there; it cannot make the server buffer more than this plus one piece.
  /// Writes made inside the on_request() call that received the writer are not limited: nothing
  /// can be sent before it returns, so they are its whole body at once, as send()'s is.
  std::size_t max_buffered_output = 1024 * 1024;

  /// Time to receive a whole request head: from the first byte of a request on a keep-alive
  /// connection, from the connection's start for its first request (slowloris). 408 if some
  /// bytes came, silent close otherwise.
  duration header_timeout = std::chrono::seconds(10);
  /// For a buffered body, time to receive all of it after the head; for a streamed or discarded
  /// body, the longest wait for the next body bytes. 408 (buffered) then close.
  duration body_timeout = std::chrono::seconds(30);
  /// Time a keep-alive connection may sit with nothing to do before it is closed.
  duration idle_timeout = std::chrono::seconds(60);
  /// Time the connection waits for the peer to accept output (no write progress); then it closes.
  duration write_timeout = std::chrono::seconds(30);
  /// After the last response of a closing connection is flushed and the write side shut down,
  /// time spent reading and discarding what the peer still sends, so that a reset does not
  /// destroy the response in flight (RFC 9112 section 9.6).
  duration linger_timeout = std::chrono::seconds(2);

  /// Value of a `Server` header on every response whose handler gave none; empty (the default)
  /// sends none.
  std::string_view server_name{};
};

/// How a handler wants a request body delivered; on_head() decides it before any body byte is
/// read, so it is also the answer to `Expect: 100-continue`.
enum class body_mode : std::uint8_t {
  buffer,   // read it whole first; on_request() sees server_request::body(). Sends 100 Continue.
  stream,   // on_request() is called at once; attach a body_sink to receive the body in pieces.
            // 100 Continue is sent only if a sink is attached.
  discard,  // on_request() is called at once; the body is read and dropped (or the connection
            // is closed after the response if it is too large or the client awaits 100 Continue)
};

/// Receives a streamed request body. It belongs to the handler and must stay alive until one of
/// its end calls: every sink that stream_body() accepted hears exactly one of on_body_end() and
/// on_body_error(), as the connection's last call to it, whatever happens (the body ends or
/// fails, the response is finished first, the connection closes or is destroyed). So a sink
/// made per request may delete itself in either. Two exceptions, where the sink may be gone: a
/// response_writer dropped unfinished (taut answers 500; the sink may be the object that held
/// it, being destroyed) detaches its sink without a call, and so does an exception from one of
/// its calls, which also closes that connection (a response under way is cut short); other
/// connections are not affected. (Before, a response finished first detached the sink without
/// a call: a sink that answered and then deleted itself must now wait for its end call.)
class body_sink {
 public:
  /// A piece of body, valid during the call.
  virtual void on_body_data(std::string_view piece) = 0;
  /// The body ended; chunked trailer fields (valid during the call) or none.
  virtual void on_body_end(std::span<const header> trailers) = 0;
  /// The body did not end well: a taut::errc framing error, std::errc::message_size (over the
  /// limit), std::errc::timed_out, std::errc::connection_aborted (peer gone, connection shut),
  /// or std::errc::operation_canceled: the response was finished before the body ended, so the
  /// sink gets none of the rest (it is discarded, or the connection closes). That one comes once
  /// the call that finished the response is over: when the on_body_data() or handler call that
  /// answered returns (before any next request starts), or, for a response finished from
  /// outside every call of the connection (a timer), before that writer call returns.
  /// A sink that holds the response_writer may answer here; one that drops it unanswered (deletes
  /// itself) leaves the answer to the connection, which gives the status a buffered body would
  /// get: 413 over the limit, 400 for bad framing, 408 for a timeout (500 only while an exception
  /// unwinds).
  virtual void on_body_error(std::error_code error) = 0;

 protected:
  ~body_sink() = default;
};

/// Takes over a connection that switched protocols (101) or became a tunnel (2xx to CONNECT),
/// the way Go's Hijacker does. The connection itself never calls it: its owner does, through
/// connection::take_over(), passing the byte stream it owns (for taut's server, the transport
/// stream), which the handler then reads and writes directly.
class upgrade_handler {
 public:
  /// `leftover` holds bytes the client sent after the request that the connection had already
  /// read (valid during the call); `stream` is what the owner passed to take_over().
  virtual void on_upgrade(std::string_view leftover, void* stream) = 0;
  /// The connection closed before it was taken over (the client went away, or the server
  /// closed it): on_upgrade() will never be called, and what the handler holds for the tunnel
  /// (an upstream connection) can go. Called at most once, on the connection's thread.
  virtual void on_upgrade_abandoned() noexcept {}

 protected:
  ~upgrade_handler() = default;
};

/// A request as a handler sees it. Every view (target, headers, body, trailers) points into the
/// connection's buffers and is valid only during the handler call that received it: copy what a
/// late (asynchronous) response needs.
class server_request {
 public:
  [[nodiscard]] const taut::request& head() const noexcept { return head_; }
  [[nodiscard]] taut::method method() const noexcept { return head_.method; }
  [[nodiscard]] std::string_view method_name() const noexcept { return head_.method_name; }
  [[nodiscard]] std::string_view target() const noexcept { return head_.target; }
  [[nodiscard]] int version_minor() const noexcept { return head_.version_minor; }
  [[nodiscard]] std::string_view host() const noexcept { return head_.host; }
  [[nodiscard]] std::span<const header> headers() const noexcept { return head_.headers; }
  /// The first field named `name` (ASCII case-insensitive), or nullptr.
  [[nodiscard]] const header* find_header(std::string_view name) const noexcept;
  /// The value of the first field named `name`, or an empty view.
  [[nodiscard]] std::string_view header_value(std::string_view name) const noexcept {
    const header* field = find_header(name);
    return field != nullptr ? field->value : std::string_view{};
  }
  /// Whether the request arrived with a body (Content-Length above 0, or chunked).
  [[nodiscard]] bool has_body() const noexcept;
  [[nodiscard]] const taut::framing& body_framing() const noexcept { return head_.body; }
  /// 1 for the first request on the connection, 2 for the next, ...
  [[nodiscard]] std::uint32_t sequence() const noexcept { return sequence_; }

  /// The whole body, in on_request() after body_mode::buffer; empty otherwise.
  [[nodiscard]] std::string_view body() const noexcept { return body_; }
  /// Trailer fields of a buffered chunked body.
  [[nodiscard]] std::span<const header> trailers() const noexcept { return trailers_; }

  /// In on_head(): the largest body accepted for this request (413 beyond).
  void set_body_limit(std::uint64_t bytes) noexcept { body_limit_ = bytes; }
  [[nodiscard]] std::uint64_t body_limit() const noexcept { return body_limit_; }
  /// In on_request() after body_mode::stream: deliver the body to `sink`. Returns false when
  /// streaming is not possible now (wrong mode, or no body).
  bool stream_body(body_sink& sink) noexcept;

  /// A pointer the handler layer may carry from on_head() to on_request() (a matched route).
  void set_user_data(void* data) noexcept { user_data_ = data; }
  [[nodiscard]] void* user_data() const noexcept { return user_data_; }

 private:
  friend class connection;
  taut::request head_{};
  std::string_view body_{};
  std::span<const header> trailers_{};
  body_sink* sink_ = nullptr;
  void* user_data_ = nullptr;
  std::uint64_t body_limit_ = 0;
  std::uint32_t sequence_ = 0;
  bool may_stream_ = false;
};

/// The tag of response_writer::add_header(name, value, parsed_field): the field came from taut's
/// own parser, which already checked its bytes.
struct parsed_field_t {
  explicit parsed_field_t() = default;
};
/// The one value of parsed_field_t.
inline constexpr parsed_field_t parsed_field{};

/// Writes one response. A movable handle: a handler may answer inside on_request() or keep the
/// writer and finish later (from the connection's thread; the server marshals other threads).
/// Responses to pipelined requests leave in request order whatever order they finish in. A
/// pipelined request waits for the responses before it to be finished (not sent) unless it and
/// they all have safe methods (see connection_options::max_pipeline_depth); it then starts at the
/// owner's next call, never inside the writer call that finished the last of them.
///
/// Order of calls: set_status() (default 200) and add_header() in any order, then either
/// send(body), or begin() / begin(length), write()..., finish(trailers). Framing headers
/// (Content-Length, Transfer-Encoding) and Connection are the connection's: add_header() refuses
/// them. So is Date, unless the handler gives one valid IMF-fixdate (a proxy passing on its
/// origin's): the connection then writes none. A Server field replaces
/// connection_options::server_name. A writer dropped before the head is written answers a plain
/// 500 (the status and fields it set are dropped: they described a response that never came);
/// one dropped after begin() with body still owed (any chunked body, a declared length not
/// reached) closes the connection without ending the body (no last chunk), so the client sees it
/// cut short; an HTTP/1.0 body ended by the close cannot show that. Every call returns false (and
/// does nothing) once the response is finished or the connection is gone. A writer must not outlive
/// its connection (see connection::outstanding_writers()).
class response_writer {
 public:
  response_writer() noexcept = default;
  response_writer(response_writer&& other) noexcept;
  response_writer& operator=(response_writer&& other) noexcept;
  response_writer(const response_writer&) = delete;
  response_writer& operator=(const response_writer&) = delete;
  ~response_writer();

  /// Whether this writer still refers to an unfinished response.
  [[nodiscard]] bool valid() const noexcept;
  /// Whether body bytes are dropped: the request was HEAD, or the status forbids content (1xx,
  /// 204, 304). Content-Length is still sent for HEAD.
  [[nodiscard]] bool body_suppressed() const noexcept;

  /// 200..599, or 101 for a request that asked to upgrade. Status and fields may be set in any
  /// order until the head is written (send, begin, send_file, upgrade, finish): fields are held
  /// back and the status line is written first when the head ends.
  bool set_status(int status) noexcept;
  /// A field for the head, written straight into the output. Names must be tokens and values
  /// free of CR, LF and NUL (no response splitting), with no leading or trailing space or tab
  /// (RFC 9110 section 5.5); false, nothing kept, otherwise. `Connection: close` asks to close
  /// after this response instead of being copied. Date is taken once, as an IMF-fixdate
  /// (is_imf_fixdate), in place of the connection's (RFC 9110 section 6.6.1: a proxy keeps the
  /// origin's).
  bool add_header(std::string_view name, std::string_view value) noexcept;
  /// add_header() for a field that came from taut's own parser (a proxy passing on its origin's
  /// response fields): the caller vouches that the name is a token and the value a field value
  /// with no leading or trailing whitespace, as that parser gives them unless leniency::obs_fold
  /// or bare_lf is on. Those bytes are not scanned again (debug builds assert them);
  /// every other rule of add_header() still applies. Never for fields from anywhere else.
  bool add_header(std::string_view name, std::string_view value, parsed_field_t) noexcept;
  /// The whole body with a Content-Length; finishes the response.
  bool send(std::string_view body) noexcept;
  /// set_status, a Content-Type (if not empty), send.
  bool send(int status, std::string_view body, std::string_view content_type = {}) noexcept;
  /// Ends the head for a body of unknown length: chunked for HTTP/1.1, until close for HTTP/1.0.
  bool begin() noexcept;
  /// Ends the head for a body of exactly `content_length` bytes.
  bool begin(std::uint64_t content_length) noexcept;
  /// begin() for a body still carrying the transfer codings `codings` ("gzip", "gzip, br"), as a
  /// proxy passes on its origin's: chunked with `Transfer-Encoding: <codings>, chunked` (RFC 9112
  /// section 6.1), the writes being the coded bytes. False, writing nothing, when the response
  /// cannot say so (an HTTP/1.0 client, a status without a body), `codings` is no field value, or
  /// it names chunked (which would then be applied twice).
  bool begin_coded(std::string_view codings) noexcept;
  /// A piece of body after begin(); false if it would exceed the declared length. Sent without
  /// waiting for anything else to happen on the connection, even from outside every handler call
  /// (a timer, another connection's handler), through the owner's wake (connection_context).
  /// Also false, and the response cut short (the client sees the body end early, then the
  /// close), when the connection already holds connection_options::max_buffered_output bytes
  /// (except inside the on_request() call that received the writer): a producer that writes
  /// faster than the client reads waits while ready() is false.
  bool write(std::string_view piece) noexcept;

  /// Output bytes the connection holds in memory and has not sent yet: this response's and those
  /// of the responses before it. 0 once the writer is invalid.
  [[nodiscard]] std::size_t buffered() const noexcept;
  /// Back-pressure for a streaming producer: whether to write more now. False once buffered()
  /// reaches connection_options::max_output_bytes (then wait for on_drained()), or when the
  /// writer is invalid.
  [[nodiscard]] bool ready() const noexcept;
  /// What on_drained() calls, with the `data` it was given. It must not throw.
  using drained_function = void (*)(void* data) noexcept;
  /// Calls `callback(data)` once, on the connection's thread, when buffered() has fallen to half
  /// of max_output_bytes (write more then), or when the response can no longer be written (the
  /// connection closed or was reset: write() then returns false; drop the writer). Replaces a
  /// callback set before. Returns false, keeping nothing, when the writer is invalid or
  /// buffered() is already at or below that mark: write on. The callback may run inside a call
  /// on this connection (its owner's, or another writer's); it may use every writer.
  bool on_drained(drained_function callback, void* data) noexcept;
  /// on_drained() with a callable of at most one pointer, trivially copyable: a lambda that
  /// captures `this` or one pointer (`[this] { produce(); }`). It must not throw.
  template <class F>
  bool on_drained(F callback) noexcept {
    static_assert(sizeof(F) <= sizeof(void*) && std::is_trivially_copyable_v<F>,
                  "on_drained(F): capture one pointer at most (a lambda capturing `this`)");
    void* data = nullptr;
    std::memcpy(static_cast<void*>(&data), static_cast<const void*>(&callback), sizeof(F));
    return on_drained(
        [](void* stored) noexcept {
          alignas(F) unsigned char bytes[sizeof(F)];
          std::memcpy(bytes, static_cast<const void*>(&stored), sizeof(F));
          (*std::launder(reinterpret_cast<F*>(bytes)))();
        },
        data);
  }
  /// Calls `callback(data)` once, on the connection's thread, only when the response can no
  /// longer be written (the connection closed or was reset, or the drain ended, before it was
  /// finished), for a handler that waits on something else with nothing written (a proxy waiting
  /// for its upstream) and should stop waiting. Shares its callback with on_drained(): each
  /// replaces the other's; dropped when the response finishes. False, keeping nothing, when the
  /// writer is invalid.
  bool on_abandoned(drained_function callback, void* data) noexcept;
  /// on_abandoned() with a callable of at most one pointer, as on_drained(F) takes.
  template <class F>
  bool on_abandoned(F callback) noexcept {
    static_assert(sizeof(F) <= sizeof(void*) && std::is_trivially_copyable_v<F>,
                  "on_abandoned(F): capture one pointer at most (a lambda capturing `this`)");
    void* data = nullptr;
    std::memcpy(static_cast<void*>(&data), static_cast<const void*>(&callback), sizeof(F));
    return on_abandoned(
        [](void* stored) noexcept {
          alignas(F) unsigned char bytes[sizeof(F)];
          std::memcpy(bytes, static_cast<const void*>(&stored), sizeof(F));
          (*std::launder(reinterpret_cast<F*>(bytes)))();
        },
        data);
  }
  /// Ends the response: the last chunk and `trailers` when chunked. Without begin(), sends the
  /// head with an empty body. A Content-Length body not fully written closes the connection,
  /// unless the body is suppressed (HEAD, 204, 304): then nothing is missing. Trailer fields that
  /// are invalid or that RFC 9110 section 6.5.1 keeps out of trailers are dropped silently (the
  /// others still go, and the call succeeds): framing, routing, authentication, request
  /// modifiers, response controls and content format (Content-Length, Transfer-Encoding, Host,
  /// Connection and every hop-by-hop field, Content-Type, Content-Encoding, Content-Range,
  /// Set-Cookie, Cookie, Authorization, WWW-Authenticate, Proxy-*, Cache-Control, Pragma,
  /// Expires, Location, Retry-After, Vary, Age, Date, Max-Forwards, Expect, Range, If-*).
  bool finish(std::span<const header> trailers = {}) noexcept;
  /// The whole body from a file: `length` bytes of `fd` from `offset`, with a Content-Length;
  /// finishes the response. The bytes never pass through the connection's buffers: the owner
  /// sends them with sendfile(2) (see connection::pending_file()). Takes ownership of `fd` in
  /// every case: it is closed once sent, at once when the body is suppressed (HEAD, 204, 304) or
  /// the call fails, or when the connection dies first. False, writing nothing (the handler can
  /// still answer another way, a 404 or 500), when `fd` is not an open regular file or the region
  /// lies past its end. If the file shrinks after the call, the owner closes the connection (the
  /// client sees the body cut short).
  bool send_file(int fd, std::uint64_t offset, std::uint64_t length) noexcept;
  /// An interim 1xx response (103 Early Hints, ...) before the final one; not 100 or 101.
  bool send_informational(int status, std::span<const header> fields = {}) noexcept;
  /// Ends a 101 answer to an Upgrade request (set_status(101), add Upgrade and
  /// `Connection: upgrade`) or a 2xx answer to CONNECT: no framing headers, and once the head and
  /// everything before it is written, the connection's owner hands the stream to `handler`.
  /// Only for a request without a body.
  bool upgrade(upgrade_handler& handler) noexcept;
  /// Back-pressure on a streamed request body (body_mode::stream), for a handler that passes it
  /// on slower than it arrives (a proxy): while held, the connection reads no more of it, so its
  /// body_sink receives no more pieces (and the body timeout waits); hold_body(false) resumes,
  /// from any call on the connection's thread. False, doing nothing, when this response's request
  /// has no body being streamed now (it may be called in on_request(), with the sink attached).
  bool hold_body(bool hold) noexcept;
  /// Answer with `Connection: close` (if the head is not written yet) and close after this.
  void close_after() noexcept;
  /// Forgets the status and every field set so far, while the head is not written, so that the
  /// response starts over from a plain 200 with no fields (a failure then answers an error that
  /// carries none of them). A close asked for stays. False once the head is written.
  bool reset() noexcept;

 private:
  friend class connection;
  response_writer(connection* owner, std::uint16_t slot, std::uint32_t generation) noexcept;
  detail::response_slot* slot() const noexcept;
  void release() noexcept;

  connection* conn_ = nullptr;
  std::uint32_t generation_ = 0;
  std::uint16_t slot_ = 0;
};

/// What a connection calls: implemented by the router layer, or directly.
class request_handler {
 public:
  virtual ~request_handler() = default;
  /// Called when a request head is complete, before any body byte is read: decide how the body
  /// is delivered (and whether it is wanted at all). Views are valid during the call.
  virtual body_mode on_head(server_request& request) {
    static_cast<void>(request);
    return body_mode::buffer;
  }
  /// Called once per request: after the whole body for body_mode::buffer, right after on_head()
  /// otherwise. Answer through `response`, now or later. An exception escaping it answers a plain
  /// 500 (if the head was not written) and closes the connection after the responses before it.
  virtual void on_request(server_request& request, response_writer response) = 0;
};

/// One response as the connection saw it, reported once when the response leaves the response
/// queue (all of its bytes are in the output) or when the connection ends with it unfinished.
/// It carries what a log line or a metric needs, so nobody re-reads the connection's output.
struct response_record {
  /// The request answered (server_request::sequence()); 0 for a rejected message that never
  /// became a request (a parse error, or a head that timed out).
  std::uint32_t sequence = 0;
  /// The final status sent (interim 1xx responses are not reported).
  int status = 0;
  /// Bytes of the status line and fields, the closing empty line included.
  std::uint64_t head_bytes = 0;
  /// Body bytes queued, without chunk framing; 0 when the body is suppressed (HEAD, 204, 304).
  std::uint64_t body_bytes = 0;
  /// From the request head's arrival (or the rejection) to the response's end.
  std::chrono::steady_clock::duration duration{};
  /// False when the connection ended before the response did (the client saw it cut short).
  bool complete = true;
  /// Why the request was refused, when the connection refused it: a taut::errc from the parser
  /// (missing_host, ...) or the body decoder, std::errc::timed_out (408), message_size (413).
  /// Empty for a response a handler wrote.
  std::error_code error{};
  /// For an error in a request head or body: the byte offset in the message, counted from the
  /// first byte of its head, where it went wrong (for a body, as received: chunk framing counts;
  /// for one too large by its Content-Length, where the body would begin).
  std::uint64_t error_offset = 0;
};

/// Told about the responses of one connection (see connection::set_observer). Called from inside
/// connection calls and response_writer calls: do not call back into the connection.
class connection_observer {
 public:
  virtual void on_response_finished(const response_record& record) noexcept = 0;

 protected:
  ~connection_observer() = default;
};

/// What the connections of one thread share: options, buffer pool, Date cache, handler, and a
/// free list of the per-request working state (parser, header array, response queue) that a
/// connection borrows only while it has work. Not thread-safe; it must outlive its connections.
class connection_context {
 public:
  /// Throws std::invalid_argument if the pool's blocks are smaller than 256 bytes.
  connection_context(request_handler& handler, buffer_pool& pool, date_cache& date,
                     const connection_options& options = {});
  ~connection_context();
  connection_context(const connection_context&) = delete;
  connection_context& operator=(const connection_context&) = delete;

  [[nodiscard]] const connection_options& options() const noexcept { return options_; }
  [[nodiscard]] buffer_pool& pool() const noexcept { return *pool_; }
  [[nodiscard]] date_cache& date() const noexcept { return *date_; }
  [[nodiscard]] request_handler& handler() const noexcept { return *handler_; }
  /// Bytes of one connection's working state (borrowed while it has a request in flight).
  [[nodiscard]] std::size_t state_bytes() const noexcept { return state_pool_.block_size(); }
  /// Working states lent out now.
  [[nodiscard]] std::size_t states_in_use() const noexcept;

  /// The current time, for timers that start inside a response_writer call made outside any
  /// connection call (an asynchronous completion). The owner's loop sets it once per iteration;
  /// every connection call taking a time sets it too.
  void set_time(std::chrono::steady_clock::time_point now) noexcept { now_ = now; }
  [[nodiscard]] std::chrono::steady_clock::time_point time() const noexcept { return now_; }

  /// How a connection reaches its owner between the owner's own calls: `owner` is what the
  /// connection was made with.
  using wake_function = void (*)(void* owner) noexcept;
  /// Called when a response_writer call made outside every call of its connection (from a
  /// timer, another connection's handler, a worker's completion) may have changed what the
  /// connection wants (output to send, a close), or let go of its last writer. Without it,
  /// nothing happens until the owner's next call (an event of the stream). It runs inside that
  /// writer call: note the connection and act after the call returns, which also lets several
  /// writes leave in one system call (taut's server sends at the end of the loop iteration).
  void set_wake(wake_function wake) noexcept { wake_ = wake; }

 private:
  friend class connection;
  connection_options options_;
  request_handler* handler_;
  buffer_pool* pool_;
  date_cache* date_;
  std::size_t header_slots_;
  std::uint32_t out_capacity_;  // bytes an output block holds (the pool's block size is fixed)
  block_pool state_pool_;
  // States given back, still constructed for the next connection to take (see ensure_state).
  char* kept_states_ = nullptr;
  std::size_t kept_count_ = 0;
  std::chrono::steady_clock::time_point now_{};
  wake_function wake_ = nullptr;
};

/// A file region queued by response_writer::send_file(), due next in the output: send it with
/// sendfile(2) (or pread + write) and report progress with connection::commit_file().
struct file_segment {
  int fd = -1;  // -1: no file segment is due
  std::uint64_t offset = 0;
  std::uint64_t length = 0;  // bytes still to send
};

/// What a connection wants from its owner next. Query it after every call.
struct connection_wants {
  bool read = false;            // read into read_buffer() (or call receive())
  bool write = false;           // output() has bytes to send
  bool shutdown_write = false;  // output done: shut down the write side (repeating is harmless)
  bool close = false;           // close the stream now; the connection is finished
  bool upgrade = false;         // call take_over(): the stream now belongs to an upgrade_handler
  /// Call on_timer() at or after this time; time_point::max() when nothing is timed.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

/// One HTTP/1.1 server connection. The owner moves bytes between it and a stream:
///
///     while (!wants().close) {
///       if (wants().read)  n = read(fd, read_buffer()); commit_read(n, now) or receive_eof(now)
///       if (wants().write) n = write(fd, output());      commit_write(n, now)
///                          (output() empty: n = sendfile(fd, pending_file()); commit_file(n, now))
///       if (wants().shutdown_write) shutdown(fd, SHUT_WR);
///       if (now >= wants().deadline) on_timer(now);
///     }
///
/// It holds no buffer while idle (about 150 bytes in all): the input and output blocks and the
/// working state are borrowed when bytes arrive and given back when the connection goes idle.
class connection {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  /// A new connection at time `now` (the first request's header timeout starts here). `owner`
  /// is passed to the context's wake function.
  connection(connection_context& context, time_point now, void* owner = nullptr) noexcept;
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Where to put received bytes; empty when the connection does not want to read.
  [[nodiscard]] std::span<char> read_buffer() noexcept;
  /// `bytes` were written into read_buffer().
  void commit_read(std::size_t bytes, time_point now) noexcept;
  /// Copies in as much of `bytes` as the connection takes now and returns that count; offer the
  /// rest again when wants().read.
  std::size_t receive(std::string_view bytes, time_point now) noexcept;
  /// The peer shut down its write side (read returned 0).
  void receive_eof(time_point now) noexcept;

  /// The next bytes to send (the first of possibly several pieces).
  [[nodiscard]] std::string_view output() const noexcept;
  /// Fills `pieces` with the queued output in order (for writev); returns the count used.
  std::size_t output(std::span<std::string_view> pieces) const noexcept;
  /// `bytes` of output were sent.
  void commit_write(std::size_t bytes, time_point now) noexcept;
  /// The file segment due now, when every byte queued before it has been sent (output() is then
  /// empty); fd -1 otherwise. The connection owns the descriptor: do not close it.
  [[nodiscard]] file_segment pending_file() const noexcept;
  /// `bytes` of pending_file() were sent; the descriptor is closed when the segment is done.
  void commit_file(std::uint64_t bytes, time_point now) noexcept;

  /// Time has passed; handles every deadline at or before `now`.
  void on_timer(time_point now) noexcept;
  /// The transport's own set-up (a TLS handshake) ended at `now`: the first request's header
  /// timeout starts again from there, as the time spent on the handshake was not the client's
  /// to send a head in. No effect once a request byte has arrived.
  void restart_header_timer(time_point now) noexcept;
  /// Graceful shutdown: the request in flight is finished and answered with `Connection: close`,
  /// and nothing more is read (a partial head behind unanswered requests is dropped: the last of
  /// their answers says `close`). An idle connection does not close at once, as a request may be
  /// on the wire and closing with it unread would reset the connection: it shuts its write side
  /// and reads and drops what comes for up to linger_timeout (closed at the peer's EOF). A
  /// partial head with nothing before it gets linger_timeout more at most (header_timeout if
  /// sooner) to complete, then 408.
  void begin_shutdown(time_point now) noexcept;
  /// The end of a drain (its deadline, before the owner closes the stream): a request whose
  /// response head was not written yet (its handler still working, a proxy's upstream stalled)
  /// is answered `status` (503) with `Connection: close` instead of meeting a silent close (the
  /// kernel may still discard it: closing a TCP socket with request bytes unread sends a reset);
  /// its writer becomes invalid. Nothing more is read. Returns whether output is now queued: send
  /// what the stream takes at once, then close it (abort()).
  bool answer_unanswered(int status, time_point now) noexcept;
  /// The stream failed (reset) or the owner gives up: drops everything; streaming sinks get
  /// connection_aborted and outstanding writers become invalid.
  void abort() noexcept;
  /// After wants().upgrade: calls the upgrade_handler with the leftover bytes and `stream`, and
  /// leaves the connection inert (it no longer wants anything; the stream is the handler's).
  void take_over(void* stream) noexcept;

  /// Reports every finished response to `observer` (null: nobody). The observer must outlive
  /// the connection or be removed first.
  void set_observer(connection_observer* observer) noexcept { observer_ = observer; }

  [[nodiscard]] connection_wants wants() const noexcept;
  /// Requests whose heads were parsed on this connection.
  [[nodiscard]] std::uint32_t requests() const noexcept { return requests_; }
  /// Response writers still held by handlers. The owner keeps the connection object alive (it
  /// may be closed) until this is 0.
  [[nodiscard]] std::uint32_t outstanding_writers() const noexcept { return writers_; }
  /// The context this connection was made with (its wake function finds the owner's state).
  [[nodiscard]] connection_context& context() const noexcept { return *ctx_; }
  /// Whether the connection holds no buffer and no working state.
  [[nodiscard]] bool holds_nothing() const noexcept;
  /// Output bytes queued, including responses waiting behind an unfinished one.
  [[nodiscard]] std::size_t queued_output() const noexcept { return queued_; }

 private:
  friend class response_writer;
  friend class server_request;
  /// The connection's one state; every change goes through enter(), checked against allowed().
  enum class state : std::uint8_t {
    reading_head,  // waiting for or reading a request head (idle between requests too)
    holding,       // a whole request head waits for its turn to start (see must_wait())
    reading_body,  // reading the body of the last request
    finishing,     // reading no more requests; answering those it has
    closing,       // every response queued: flushing the output, then shutting the write side
    lingering,     // write side shut: reading and dropping what the peer still sends
    upgrading,     // a 101 or tunnel response is flushing; then the owner calls take_over()
    detached,      // an upgrade_handler owns the stream
    closed,
  };

  using out_block = detail::out_block;
  using out_chain = detail::out_chain;

  // The state machine.
  static bool allowed(state from, state to) noexcept;
  void enter(state next) noexcept;
  void switch_protocols(upgrade_handler& handler) noexcept;
  static bool allowed(detail::body_phase from, detail::body_phase to) noexcept;
  void set_body(detail::body_phase next) noexcept;
  detail::body_phase take_body() noexcept;
  [[nodiscard]] bool open() const noexcept { return state_ <= state::finishing; }
  [[nodiscard]] bool reading() const noexcept { return state_ <= state::reading_body; }

  // Processing.
  void process() noexcept;
  bool step() noexcept;
  void honour_close() noexcept;
  [[nodiscard]] bool body_paused() const noexcept;
  bool may_start_request() const noexcept;
  bool whole_head_buffered() const noexcept;
  bool whole_head_from(std::uint64_t offset) const noexcept;
  [[nodiscard]] bool must_wait(method next) const noexcept;
  bool parse_head() noexcept;
  bool start_held() noexcept;
  bool dispatch(std::size_t head_size) noexcept;
  void call_handler(std::uint16_t index) noexcept;
  bool read_body() noexcept;
  void end_body() noexcept;
  void fail_body(std::error_code error, int status) noexcept;
  void fail_body(std::error_code error, int status, std::uint64_t body_offset) noexcept;
  void stop_reading() noexcept;
  void feed_sink(std::string_view data) noexcept;
  void end_sink(body_sink& sink, std::span<const header> trailers) noexcept;
  void fail_sink(body_sink& sink, std::error_code error) noexcept;
  void release_detached_sink() noexcept;
  void settle() noexcept;
  void close_now() noexcept;
  [[nodiscard]] bool idle() const noexcept;
  [[nodiscard]] bool want_read() const noexcept;
  [[nodiscard]] time_point read_deadline() const noexcept;
  // read_deadline() in state reading_head once may_start_request() holds.
  [[nodiscard]] time_point head_deadline() const noexcept;

  // Buffers.
  bool ensure_state() noexcept;
  void release_state() noexcept;
  bool ensure_input() noexcept;
  void release_input() noexcept;
  void make_room() noexcept;
  void relocate_message() noexcept;
  bool grow_input(std::size_t capacity) noexcept;
  bool spill_body() noexcept;
  bool append_body(std::string_view data) noexcept;
  out_block* new_block() noexcept;
  // append() and drop_chain() are inline (connection_internal.hpp) for their common case: bytes
  // that fit in the last block, a chain already empty. The rest is in these.
  bool append(out_chain& chain, std::string_view bytes) noexcept;
  bool append_blocks(out_chain& chain, std::string_view bytes) noexcept;
  void drop_chain(out_chain& chain) noexcept;
  void drop_blocks(out_chain& chain) noexcept;
  void splice(out_chain& chain) noexcept;

  // The response queue.
  detail::response_slot* push_slot() noexcept;
  detail::response_slot* slot_at(std::uint16_t index, std::uint32_t generation) noexcept;
  std::uint16_t index_of(const detail::response_slot& slot) const noexcept;
  out_chain& target(detail::response_slot& slot) noexcept;
  bool write_status_line(detail::response_slot& slot) noexcept;
  bool add_field(detail::response_slot& slot, std::string_view name,
                 std::string_view value) noexcept;
  bool move_fields(detail::response_slot& slot) noexcept;
  void drop_held_field(detail::response_slot& slot, std::string_view name) noexcept;
  [[nodiscard]] bool rejected_message_is_head() const noexcept;
  // body_follows: the response goes on after its head (begin()), so whether the rest of a
  // streamed request body is discarded is not known yet.
  bool write_head_end(detail::response_slot& slot, int framing, std::uint64_t length,
                      std::string_view codings = {}, bool body_follows = false) noexcept;
  bool write_error(detail::response_slot& slot, int status, bool close = true) noexcept;
  void write_continue(detail::response_slot& slot) noexcept;
  void finish_slot(detail::response_slot& slot) noexcept;
  void advance_front() noexcept;
  void drop_slots_after_front() noexcept;
  void abandon(detail::response_slot& slot, bool unwinding, bool writer_dropped = false) noexcept;

  // A response's phases (connection_response.cpp); response_writer calls only these.
  static bool allowed(detail::slot_phase from, detail::slot_phase to) noexcept;
  void set_phase(detail::response_slot& slot, detail::slot_phase next) noexcept;
  bool set_response_status(detail::response_slot& slot, int status) noexcept;
  bool add_response_field(detail::response_slot& slot, std::string_view name,
                          std::string_view value, bool parsed = false) noexcept;
  bool discard_head(detail::response_slot& slot) noexcept;
  void close_after(detail::response_slot& slot) noexcept;
  static int framing_for(const detail::response_slot& slot, bool length_known) noexcept;
  int body_framing(detail::response_slot& slot, bool length_known) noexcept;
  bool respond_whole(detail::response_slot& slot, std::string_view body) noexcept;
  bool respond_file(detail::response_slot& slot, int fd, std::uint64_t offset,
                    std::uint64_t length) noexcept;
  bool open_body(detail::response_slot& slot, bool declared, std::uint64_t length,
                 std::string_view codings = {}) noexcept;
  bool write_body(detail::response_slot& slot, std::string_view piece) noexcept;
  bool end_response(detail::response_slot& slot, std::span<const header> trailers) noexcept;
  bool write_interim(detail::response_slot& slot, int status,
                     std::span<const header> fields) noexcept;
  bool accept_upgrade(detail::response_slot& slot, upgrade_handler& handler) noexcept;
  bool hold_body(detail::response_slot& slot, bool hold) noexcept;
  bool await_drain(detail::response_slot& slot, response_writer::drained_function callback,
                   void* data, bool dead_only) noexcept;
  void after_writer_call() noexcept;
  // after_writer_call() without processing: for a call that changed nothing the connection acts on.
  void wake_owner() noexcept;
  void report(detail::response_slot& slot, bool complete) noexcept;
  void reject(int status, std::error_code error, std::uint64_t offset) noexcept;
  [[nodiscard]] std::size_t output_in_memory() const noexcept;
  // output_in_memory() less what responses after `slot` hold while they wait their turn: the
  // bytes that must leave before the last of this response's can.
  [[nodiscard]] std::size_t output_through(const detail::response_slot& slot) const noexcept;
  bool notify_drained(bool dead_only) noexcept;

  connection_context* ctx_;
  detail::connection_state* st_ = nullptr;
  char* in_ = nullptr;
  std::uint32_t in_cap_ = 0;
  std::uint32_t msg_begin_ = 0;  // first byte still needed (the current head's start)
  std::uint32_t in_begin_ = 0;   // first byte not yet consumed
  std::uint32_t in_end_ = 0;     // end of received bytes
  out_chain out_{};
  std::size_t queued_ = 0;
  time_point read_since_;   // start of the current read timer (head, body, idle or linger)
  time_point write_since_;  // last write progress, or when output became pending
  upgrade_handler* upgrade_ = nullptr;
  connection_observer* observer_ = nullptr;
  void* owner_ = nullptr;  // for the context's wake function
  std::uint32_t requests_ = 0;
  std::uint32_t writers_ = 0;
  std::uint32_t generation_ = 0;
  state state_ = state::reading_head;
  // Facts the transitions consult, not states of their own: each keeps its meaning whatever the
  // state (the peer's EOF matters to reading and to lingering alike).
  bool peer_eof_ = false;  // the peer shut down its write side
  bool shutdown_ = false;  // begin_shutdown() was called: finish what is in flight, read no more
  bool broken_ = false;    // the pool ran dry mid-response: close
  // Bookkeeping: a re-entrancy guard, the starts of the idle and write timers, and where the
  // input buffer came from.
  bool processing_ = false;
  bool idle_ = false;
  bool writing_ = false;
  bool in_heap_ = false;
  // Handlers run only inside the owner's calls (where it has set up what they may ask of it,
  // such as current_connection()), never inside a writer call made from outside them: there a
  // request that may now start waits, and wants() asks the owner to call on_timer() at once.
  bool outside_call_ = false;  // inside a writer call made outside every call of the connection
  bool start_due_ = false;     // a request may start at the owner's next call
};

}  // namespace taut
