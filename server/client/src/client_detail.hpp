// The inside of taut::client: a pool per origin and the connections in it. One connection carries
// one exchange at a time unless client_options::pipeline_depth lets idempotent requests queue
// behind it (RFC 9112 section 9.3.2: only requests that may be retried, since a failure takes the
// ones behind down), and goes back to its pool only after a response that ended cleanly, allowed
// keep-alive and left no byte behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "taut/body_decoder.hpp"
#include "taut/client.hpp"
#include "taut/response_parser.hpp"
#include "taut/transport/address.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/stream.hpp"

namespace taut::detail {

class client_connection;

/// The connections and the wait queue of one origin.
struct origin_pool {
  origin_pool(client& owner, const origin& where);
  ~origin_pool();

  /// Runs `exchange` on an idle connection (most recently used first), a new one, or queues it.
  /// `fresh`: never an idle one (a retry). Returns an error only for a full queue.
  client_error dispatch(client_exchange& exchange, bool fresh);
  /// A connection finished its exchange: reuse it for the next waiting exchange, keep it idle,
  /// or close it.
  void release(client_connection& connection, bool reusable) noexcept;
  /// Frees a closed connection, then dials for a waiting exchange if the limit allows it now.
  void destroy(client_connection& connection) noexcept;
  void remove_waiting(client_exchange& exchange) noexcept;
  /// Name resolution finished (on the loop thread): every address, in getaddrinfo's order.
  void resolved(std::vector<transport::address> result, std::error_code error) noexcept;
  void open_for(client_exchange& exchange);
  void start_resolving();

  client* owner;
  origin where;
  // Where connections go, tried in turn; a literal's (or a socket path's) is fixed, a name's is
  // resolved again once a connection found none of them answering (`stale`).
  std::vector<transport::address> addresses;
  bool literal = false;
  bool stale = false;
  bool resolving = false;
  std::vector<std::unique_ptr<client_connection>> connections;
  std::vector<client_connection*> idle;  // most recently used last
  client_exchange* wait_head = nullptr;
  client_exchange* wait_tail = nullptr;
  std::size_t waiting = 0;
  // With pipelining: the connection whose requests of this loop iteration are not written yet;
  // the next pipelinable request joins them, so that they leave in one write.
  client_connection* batch = nullptr;
};

/// One connection to an origin and the exchange it carries.
class client_connection {
 public:
  enum class state : std::uint8_t { resolving, connecting, busy, idle, closed };

  client_connection(origin_pool& pool, client_exchange* first);
  ~client_connection();
  client_connection(const client_connection&) = delete;
  client_connection& operator=(const client_connection&) = delete;

  /// Opens the stream (or waits for the pool's resolution).
  void open() noexcept;
  /// The pool's host name resolved (or failed: `error`); dials its first address.
  void on_resolved(std::error_code error) noexcept;
  /// Starts an exchange on this idle (or just connected) connection.
  void start(client_exchange& exchange) noexcept;
  /// Whether `request` may be pipelined: idempotent, its body whole, no Expect, no Connection or
  /// Upgrade field.
  static bool pipelinable(const client_request& request) noexcept;
  /// Whether this connection can take `request` behind the ones in flight: busy with pipelinable
  /// requests only (none a retry), not full, room for it in the output buffer.
  [[nodiscard]] bool accepts_follower(const client_request& request) const noexcept;
  /// Writes `exchange`'s request behind the ones in flight (pipelining) when this connection can
  /// take it: busy with pipelinable requests only, not full, room in the output buffer.
  bool take_follower(client_exchange& exchange) noexcept;
  /// Requests written behind the one in flight.
  [[nodiscard]] std::size_t followers() const noexcept { return queued_; }
  /// Ends `exchange` (this connection's, in flight or queued) with an error (deadline, cancel).
  /// The one in flight closes the connection; a queued one only gives up its response, which is
  /// read for nobody when it comes.
  void fail_from_outside(client_exchange& exchange, client_errc code) noexcept;
  /// Forgets `exchange` without callbacks (it is being destroyed); closes if it was in flight.
  void abandon(client_exchange& exchange) noexcept;
  /// Closes the connection without callbacks to the exchange in flight (there is none, or it
  /// was handed elsewhere); queued requests go elsewhere as when it fails.
  void abandon() noexcept;
  /// The exchange's pause() ended: what was held back goes on (a body with nothing left to read,
  /// a 204's or a HEAD's, ends now).
  void resume() noexcept {
    resumed_ = true;
    drive();
  }
  std::size_t write_body(std::string_view piece) noexcept;
  bool finish_body() noexcept;
  /// Closes (the client is going away); an exchange in flight is ended and told `canceled`.
  void shut() noexcept;
  /// True when this idle connection can be lent: nothing arrived since its last response (read
  /// now, not trusted to the readiness events). Closes it otherwise (the pool frees it).
  bool still_idle() noexcept;
  /// The same check for a connection whose exchange just ended, handed over at once: true when
  /// nothing came after the response; closes it otherwise.
  bool quiet() noexcept;
  /// Keeps the connection in the pool: idle, its timer armed, what arrived since read.
  void go_idle() noexcept;

  [[nodiscard]] state current() const noexcept { return state_; }
  [[nodiscard]] bool closed() const noexcept { return state_ == state::closed; }
  /// Whether a response came on this connection already (it is a reused one).
  [[nodiscard]] bool served() const noexcept { return served_ > 0; }

 private:
  enum class timing : std::uint8_t {
    none,
    deferred_error,
    connect,
    expect_continue,
    head,
    body_idle,
    idle
  };

  void on_ready(transport::readiness events) noexcept;
  /// Dials the pool's address number `index`, within what is left of connect_timeout.
  void dial(std::size_t index) noexcept;
  /// A dial failed (`code`, `cause`): the next address if there is one and time is left, else the
  /// exchange fails (and the pool's name is resolved again for the next connection).
  void next_address(client_errc code, std::error_code cause) noexcept;
  void on_timer() noexcept;
  void drive() noexcept;
  void pump() noexcept;
  void connected() noexcept;
  /// An https origin: wraps the connected TCP stream in TLS. False when that failed (closed).
  bool start_tls() noexcept;
  /// Runs the TLS handshake on; true once it completed (the connection is then connected()).
  bool handshake() noexcept;
  void serialize_head() noexcept;
  bool flush() noexcept;
  void request_written() noexcept;
  bool receive() noexcept;
  void process_input() noexcept;
  bool take_head();
  /// Ends the exchange in flight; true when a queued one took its place.
  bool finish_exchange() noexcept;
  /// The next queued request becomes the one in flight (one given up is read by discard_).
  void promote() noexcept;
  /// The exchange in flight was given up with requests pipelined behind it: discard_ reads its
  /// response instead.
  void give_up_front() noexcept;
  /// The connection ended before queued requests were answered: each is retried on a new
  /// connection (RFC 9112 section 9.3.2) when allowed, or fails. `server_closed`: the server said
  /// it closes after the last response (so it processed none of them).
  void release_queue(bool server_closed) noexcept;
  /// The exchange in flight was paused by its reader with requests pipelined behind it: they are
  /// sent again on new connections (retries permitting), their answers here read for nobody, so
  /// that one slow reader (a proxy's slow client) holds nobody else's response.
  void send_queue_elsewhere() noexcept;
  [[nodiscard]] std::size_t request_size(const client_request& request) const noexcept;
  /// Appends the head of `request` to the output (the framing field, Expect when `expect`).
  void write_request_head(const client_request& request, taut::method method, bool chunked,
                          bool expect) noexcept;
  void upgrade(std::size_t head_size) noexcept;
  void fail(client_errc code, client_phase phase, std::error_code cause = {},
            std::size_t offset = 0) noexcept;
  [[nodiscard]] client_phase phase() const noexcept;
  void close_stream() noexcept;
  void arm(timing what, transport::duration after) noexcept;
  void settle() noexcept;
  [[nodiscard]] std::size_t out_room() const noexcept;
  void compact_output() noexcept;

  origin_pool* pool_;
  client* owner_;
  transport::stream stream_;
  transport::timer timer_;
  transport::timer kick_;  // continues a pump cut short so the loop could serve others
  std::unique_ptr<char[]> in_;
  std::unique_ptr<char[]> out_;
  std::unique_ptr<header[]> headers_;
  std::size_t capacity_;
  std::size_t header_slots_;
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::size_t out_begin_ = 0;
  std::size_t out_end_ = 0;
  response_parser parser_;
  std::optional<body_decoder> body_;
  client_exchange* exchange_ = nullptr;
  // Pipelined requests written behind exchange_, oldest first (a ring of pipeline_depth - 1).
  struct queued_request {
    client_exchange* exchange;  // nullptr: given up (canceled); its response is read by discard_
    taut::method method;
    std::uint64_t end;  // appended_ once its last byte was in the output
  };
  // Takes the response of a pipelined request given up, so that the ones behind keep theirs.
  class discarder final : public client_exchange {
   public:
    discarder() noexcept { request_ = &nobodys; }
    void on_head(const client_response&) override {}
    void on_body(std::string_view) override {}
    void on_complete(std::span<const header>) override {}
    void on_error(const client_error&) override {}

   private:
    static constexpr client_request nobodys{};  // a bodiless GET, for the checks of a response
  };
  discarder discard_;
  std::unique_ptr<queued_request[]> queue_;
  std::size_t queue_capacity_ = 0;
  // Output bytes counted since the exchange in flight started on this connection: appended
  // (written to out_) and written (sent); the one in flight ends at front_end_.
  std::uint64_t appended_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t front_end_ = 0;
  std::size_t queue_first_ = 0;
  std::size_t queued_ = 0;
  std::string_view body_left_;           // the whole body's bytes not yet written
  std::uint64_t stream_left_ = 0;        // a streamed Content-Length body's bytes still expected
  std::uint64_t exchange_received_ = 0;  // response bytes of this exchange
  std::uint32_t served_ = 0;
  std::size_t address_index_ = 0;             // the pool's address being dialed
  transport::time_point connect_deadline_{};  // connect_timeout, from open()
  std::error_code deferred_error_;
  client_errc deferred_code_ = client_errc::ok;
  std::size_t interim_bytes_ = 0;  // this exchange's 1xx heads so far: bounded like one head
  taut::method method_ = taut::method::get;
  state state_ = state::connecting;
  timing timing_ = timing::none;
  bool head_written_ = false;
  bool body_streaming_ = false;  // a streamed body is being written by the caller
  bool body_chunked_ = false;
  bool body_finished_ = false;  // finish_body() was called
  bool body_wanted_ = false;    // on_body_writable() is due: room was made since the last one
  bool awaiting_continue_ = false;
  bool request_done_ = false;  // every request byte was written
  bool head_done_ = false;
  bool reusable_ = true;
  bool busy_ = false;
  bool again_ = false;
  bool hangup_ = false;
  bool drained_ = false;        // the last read left the socket empty (no readiness since)
  bool in_write_body_ = false;  // inside write_body(): on_body_writable() waits for the loop
  bool in_start_ = false;       // inside start(): failures wait for the loop (no callback in send)
  bool resumed_ = false;        // resume() came: the input is looked at even when none is new
  bool leader_pipelinable_ = false;  // the exchange in flight may have requests behind it
  // Connecting, TCP is up and the TLS handshake is not done yet.
  bool handshaking_ = false;
};

/// What client_exchange and client share privately.
struct client_access {
  static void on_deadline(client_exchange& exchange) noexcept;
  static void end(client_exchange& exchange) noexcept;
};

}  // namespace taut::detail
