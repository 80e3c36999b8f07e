// taut::testing: an in-memory client for handler tests, in the spirit of Go's httptest. Requests
// go through the real connection, router and handlers over the memory transport, on one thread,
// on a manual clock: no sockets, no sleeping, every timeout reachable with advance().
//
//     taut::mux app;
//     app.handle("GET /hello/{name}", [](taut::request_context& req, taut::reply& res) {
//       res.text(200, req.param("name"));
//     });
//     taut::testing::client client(app);
//     auto r = client.get("/hello/world");
//     EXPECT_EQ(r.status, 200);
//     EXPECT_EQ(r.body, "world");
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "taut/connection.hpp"
#include "taut/handler.hpp"
#include "taut/message.hpp"
#include "taut/server_loop.hpp"
#include "taut/transport/clock.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/memory.hpp"
#include "taut/transport/stream.hpp"
#include "taut/transport/tls.hpp"

namespace taut {
class mux;
}

namespace taut::testing {

/// A header or trailer field, owned.
struct field {
  std::string name;
  std::string value;
};

/// A response as the client parsed it (with taut::response_parser and body_decoder).
struct response {
  /// 0 when no response could be read; `error` says why.
  int status = 0;
  std::string reason;
  int version_minor = 1;
  std::vector<field> headers;
  std::string body;
  std::vector<field> trailers;
  /// Interim (1xx) responses that came before this one, in order (100 Continue, 103, ...).
  std::vector<int> informational;
  /// Whether the connection stays open after it, by version and Connection tokens.
  bool keep_alive = false;
  /// How the body was framed: content_length, chunked, until_close, or none.
  body_kind framing = body_kind::none;
  /// Why there is no response: "connection closed", "no response yet", or a parse error.
  std::string error;

  /// The first field named `name` (case-insensitive); "" when absent.
  [[nodiscard]] std::string_view header(std::string_view name) const noexcept;
  /// Whether some field is named `name`.
  [[nodiscard]] bool has_header(std::string_view name) const noexcept;
  /// How many fields are named `name`.
  [[nodiscard]] std::size_t header_count(std::string_view name) const noexcept;
};

/// A request to send: method, target, fields and body, serialized as HTTP/1.1 (or 1.0). A Host
/// field ("example.com") is added unless one is set or without_host() was called, and a
/// Content-Length for a body unless the request is chunked or the length is set by hand.
class request {
 public:
  request(std::string_view method, std::string_view target);

  request& header(std::string_view name, std::string_view value);
  request& body(std::string_view bytes);
  /// Sends the body in these chunks with Transfer-Encoding: chunked, then `trailers`.
  request& chunked(std::vector<std::string> chunks, std::vector<field> trailers = {});
  /// HTTP/1.0 instead of 1.1.
  request& http10();
  request& without_host();

  /// The bytes on the wire.
  [[nodiscard]] std::string serialize() const;
  [[nodiscard]] std::string_view method() const noexcept { return method_; }
  [[nodiscard]] std::string_view target() const noexcept { return target_; }

 private:
  std::string method_;
  std::string target_;
  std::vector<field> headers_;
  std::string body_;
  std::vector<std::string> chunks_;
  std::vector<field> trailers_;
  bool chunked_ = false;
  bool http10_ = false;
  bool host_ = true;
};

/// How the in-memory server is set up.
struct server_options {
  /// Connection limits and timeouts, access log, drain timeout... (see server_loop_options).
  server_loop_options loop{};
  /// HTTPS in memory: every client connection speaks TLS with these certificates (the server
  /// side of transport::tls_accept over the memory pipe), so handlers see connection_info's TLS
  /// facts as they would over TCP. The server's constructor throws std::system_error when the
  /// certificates cannot be loaded (or taut was built without TLS).
  std::optional<transport::tls_server_options> tls{};
};

/// How a client's connection misbehaves (see transport::memory_faults).
struct client_options {
  /// Each client write delivers at most this many bytes (1: the server reads byte by byte). 0
  /// means whole writes.
  std::size_t write_piece = 0;
  /// The server's writes are cut into pieces of at most this many bytes. 0: whole.
  std::size_t read_piece = 0;
  /// Bytes the server may have in flight to the client before its writes block.
  std::size_t capacity = 256 * 1024;
  /// The client's TLS settings when the server speaks TLS: by default no certificate check (the
  /// handler is under test, not the certificate); give ca_file and verify to check it.
  transport::tls_client_options tls{.verify = false};
  /// The name the client sends in SNI (and checks the certificate against when verifying).
  std::string server_name = "localhost";
};

/// An HTTP server on a memory transport and a manual clock, driven on the calling thread: the
/// real server_loop, connection, and the handler under test. Several clients may connect.
class server {
 public:
  explicit server(request_handler& handler, const server_options& options = {});
  /// Serves a single handler for every path and method (wrapped in a mux).
  explicit server(taut::handler handler, const server_options& options = {});
  /// Closes every connection, then moves the clock on until no timer of the loop is left armed
  /// (doubling steps from 1 s, 32 at most) so that a producer streaming a response from a timer
  /// meets its failed write and ends: what was in flight is freed, nothing leaks. Every timer of
  /// the loop fires, the caller's too: their callbacks must not reach objects already destroyed.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Runs the loop until nothing is left to do now (no time passes).
  void run();
  /// Moves the clock forward, then run(): timers due by then fire (timeouts, drain deadlines).
  void advance(std::chrono::steady_clock::duration by);
  /// Graceful shutdown (server_loop::begin_shutdown), then run().
  void shutdown();

  [[nodiscard]] transport::manual_clock& clock() noexcept { return clock_; }
  [[nodiscard]] transport::event_loop& loop() noexcept { return *loop_; }
  [[nodiscard]] server_loop& loop_server() noexcept { return *server_; }
  /// The server's TLS context when server_options::tls was set, else nullptr.
  [[nodiscard]] const transport::tls_context* tls() const noexcept {
    return tls_ ? &*tls_ : nullptr;
  }

 private:
  friend class client;
  void make_tls(const server_options& options);

  std::optional<transport::tls_context> tls_;
  transport::manual_clock clock_;
  std::unique_ptr<mux> owned_;
  std::unique_ptr<transport::event_loop> loop_;
  std::unique_ptr<server_loop> server_;
};

/// One client connection to a testing::server (its own, or a shared one). send() writes a
/// request and reads its response; write()/read() pipeline; raw bytes go through write_raw().
/// Nothing here blocks: a read that finds no complete response says so in response::error.
class client {
 public:
  /// A client with its own server for `handler` (a mux, or any request_handler).
  explicit client(request_handler& handler, const client_options& options = {},
                  const server_options& server = {});
  /// A client with its own server for one handler (every path and method).
  explicit client(taut::handler handler, const client_options& options = {},
                  const server_options& server = {});
  /// A client of a shared server.
  explicit client(testing::server& shared, const client_options& options = {});
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Writes `r` and reads the response to it (and to anything pipelined before it).
  response send(const request& r);
  response get(std::string_view target);
  response head(std::string_view target);
  response del(std::string_view target);
  response options(std::string_view target);
  response post(std::string_view target, std::string_view body,
                std::string_view content_type = "application/octet-stream");
  response put(std::string_view target, std::string_view body,
               std::string_view content_type = "application/octet-stream");

  /// Pipelining: writes a request (or any bytes) without reading. The client learns each
  /// request's method from the bytes (a HEAD response has no body).
  void write(const request& r);
  void write_raw(std::string_view bytes);
  /// Reads the next response; status 0 and `error` set when none is complete.
  response read();
  /// Like read(), but waits up to `real_time` (wall clock) for work posted from other threads
  /// (deferred_response::complete from a worker).
  response read_within(std::chrono::milliseconds real_time);
  /// Every complete response available now.
  std::vector<response> read_all();

  /// Whether the server closed the connection (end of stream or reset) after run(). Unread
  /// responses may still be read.
  [[nodiscard]] bool closed();
  /// Whether the connection was reset rather than closed in order.
  [[nodiscard]] bool reset() const noexcept { return reset_; }
  /// Received bytes not yet returned as responses.
  [[nodiscard]] const std::string& unread() const noexcept { return inbox_; }

  /// Half-closes the client's side (the server reads end of stream).
  void shutdown_write();
  /// Closes this connection and opens a new one to the same server.
  void reconnect();

  /// Moves the server's clock forward and runs it (see server::advance).
  void advance(std::chrono::steady_clock::duration by);
  /// Runs the server until idle.
  void run();
  [[nodiscard]] testing::server& server() noexcept { return *server_; }

 private:
  void connect();
  void handshake();
  void pump();
  bool flush();
  std::size_t drain_stream();
  void track_methods(std::string_view bytes);
  bool parse_one(response& out);

  std::unique_ptr<testing::server> owned_;
  testing::server* server_;
  client_options options_;
  std::optional<transport::tls_context> tls_;  // kept across reconnects: sessions resume
  transport::stream stream_;
  std::string inbox_;
  std::string outbox_;   // written bytes whose requests are not yet known whole
  std::string pending_;  // bytes the pipe did not take yet (the server is not reading)
  std::deque<method> methods_;
  bool eof_ = false;
  bool reset_ = false;
  bool track_ = true;
};

}  // namespace taut::testing
