// A blocking HTTP/1.1 client for simple programs and tests: taut::client on an event loop of its
// own, run until each response has been read whole. Like Go's http.Get, with owned results.
//
//     taut::blocking_client http;
//     taut::fetch_result r = http.get("http://127.0.0.1:8080/hello");
//     if (r.error) std::puts(r.error.message().c_str()); else std::puts(r.body.c_str());
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "taut/client.hpp"

namespace taut {

/// A field, owned.
struct fetch_field {
  std::string name;
  std::string value;
};

/// A whole response, owned; or the error that prevented it.
struct fetch_result {
  client_error error{};
  int status = 0;
  std::string reason;
  int version_minor = 1;
  std::vector<fetch_field> headers;
  std::string body;
  std::vector<fetch_field> trailers;
  /// The 1xx statuses that came first, in order.
  std::vector<int> informational;
  bool keep_alive = false;
  /// Whether it came on a connection the pool had used before.
  bool reused_connection = false;
  /// The transfer codings the response's body still carried (client_response::transfer_codings),
  /// or "". Unless blocking_limits::allow_transfer_codings, such a response is the error
  /// client_errc::unsupported_transfer_coding (in reading_head, its body not read, its
  /// connection closed); with it, `body` holds the coded bytes, which are not the content.
  std::string transfer_codings;

  /// The first field named `name` (ASCII case-insensitive), or "".
  [[nodiscard]] std::string_view header(std::string_view name) const noexcept;
};

/// What a blocking_client gathers and how long it waits, so that a server that never ends its
/// body (or never answers) cannot take all memory or block the caller forever.
struct blocking_limits {
  /// Largest response body gathered; beyond it the exchange fails with
  /// client_errc::body_too_large (in reading_body) and its connection is closed.
  std::size_t max_body = 64 * 1024 * 1024;
  /// Deadline of a request whose client_request::timeout is zero (deadline_exceeded); zero:
  /// none.
  std::chrono::milliseconds timeout = std::chrono::seconds(60);
  /// Take a response whose body still carries transfer codings other than chunked (gzip, ...),
  /// which the client does not decode: fetch_result::body is then the coded bytes and
  /// fetch_result::transfer_codings names the codings. Off by default: such a response is
  /// client_errc::unsupported_transfer_coding, as Go's Transport refuses it.
  bool allow_transfer_codings = false;
};

/// A client and the event loop it runs on, owned together; every call blocks until its response
/// ended, running the loop on the calling thread. Calls may come from any thread, one at a time;
/// connections stay pooled between them. A call from another thread than the last one's starts a
/// new loop and pool when the loop is a single-issuer io_uring ring (transport::io_uring_mode()
/// "single issuer, deferred task running": it runs on one thread only), as does a call whose loop
/// failed; client() and loop() references are good until then. An epoll loop, or a ring of
/// another mode, is kept with its pooled connections.
class blocking_client {
 public:
  explicit blocking_client(const client_options& options = {}, const blocking_limits& limits = {});
  ~blocking_client();
  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  /// Sends `request` to `where` and reads the whole response.
  fetch_result send(const origin& where, const client_request& request);
  /// GET of an http or https URL ("http://127.0.0.1:8080/x", "https://example.com/") or
  /// "unix:/path.sock".
  fetch_result get(std::string_view url);

  [[nodiscard]] taut::client& client() noexcept { return *client_; }
  [[nodiscard]] transport::event_loop& loop() noexcept { return *loop_; }

 private:
  /// A new loop and client: the pool starts empty.
  void start_over();
  void follow_calling_thread();

  client_options options_;
  std::unique_ptr<transport::event_loop> loop_;
  std::unique_ptr<taut::client> client_;
  blocking_limits limits_;
  std::thread::id last_caller_{};
};

}  // namespace taut
