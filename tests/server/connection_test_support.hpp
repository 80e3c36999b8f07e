// Helpers for the connection tests: a fake clock, a handler made of lambdas, a harness that feeds
// bytes and drains output with plain calls, and a response reader built on taut's own parser.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "taut/buffer_pool.hpp"
#include "taut/connection.hpp"
#include "taut/date_cache.hpp"
#include "taut/parser.hpp"

namespace taut::test {

using namespace std::chrono_literals;
using time_point = connection::time_point;

/// Sun, 06 Nov 1994 08:49:37 GMT, the date of RFC 9110's examples.
inline constexpr std::int64_t rfc_date_seconds = 784111777;
inline constexpr std::string_view rfc_date_line = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

/// A request handler made of two replaceable functions. By default it buffers bodies and
/// answers 200 with the body "<method> <target> <body>".
class lambda_handler final : public request_handler {
 public:
  std::function<body_mode(server_request&)> head;
  std::function<void(server_request&, response_writer)> request;
  int heads = 0;
  int requests = 0;

  body_mode on_head(server_request& r) override {
    ++heads;
    return head ? head(r) : body_mode::buffer;
  }
  void on_request(server_request& r, response_writer w) override {
    ++requests;
    if (request) {
      request(r, std::move(w));
      return;
    }
    std::string body = std::string(r.method_name()) + " " + std::string(r.target());
    if (!r.body().empty()) body += " " + std::string(r.body());
    w.send(200, body, "text/plain");
  }
};

/// A body_sink that records what it receives.
class recording_sink final : public body_sink {
 public:
  std::string data;
  std::vector<std::pair<std::string, std::string>> trailers;
  int pieces = 0;
  bool ended = false;
  std::error_code error;
  std::function<void()> on_end;

  void on_body_data(std::string_view piece) override {
    data += piece;
    ++pieces;
  }
  void on_body_end(std::span<const header> fields) override {
    for (const header& f : fields) trailers.emplace_back(f.name, f.value);
    ended = true;
    if (on_end) on_end();
  }
  void on_body_error(std::error_code e) override { error = e; }
};

/// One connection driven by plain calls and a fake clock.
class harness {
 public:
  explicit harness(connection_options options = {}, std::size_t block_size = 4096,
                   std::size_t max_blocks = std::numeric_limits<std::size_t>::max())
      : pool(block_size, 1024, max_blocks),
        date(std::chrono::system_clock::time_point(std::chrono::seconds(rfc_date_seconds))),
        options_(options) {
    context = std::make_unique<connection_context>(handler, pool, date, options_);
    conn = std::make_unique<connection>(*context, now);
  }
  ~harness() {
    writers.clear();
    if (conn) conn->abort();
  }

  /// Offers bytes; returns how many the connection took.
  std::size_t send(std::string_view bytes) { return conn->receive(bytes, now); }
  /// Offers bytes one at a time.
  std::size_t send_bytewise(std::string_view bytes) {
    std::size_t taken = 0;
    for (char c : bytes) {
      if (conn->receive(std::string_view(&c, 1), now) != 1) break;
      ++taken;
    }
    return taken;
  }
  /// Takes all queued output, as a writer that never blocks would.
  std::string drain() {
    std::string out;
    while (conn->wants().write) {
      const std::string_view piece = conn->output();
      if (piece.empty()) {
        // A file segment: read it as a sendfile fallback would (pread, then commit).
        const file_segment file = conn->pending_file();
        if (file.fd < 0) break;
        char buffer[4096];
        const ssize_t got =
            ::pread(file.fd, buffer,
                    static_cast<std::size_t>(std::min<std::uint64_t>(file.length, sizeof buffer)),
                    static_cast<off_t>(file.offset));
        if (got <= 0) break;
        out.append(buffer, static_cast<std::size_t>(got));
        conn->commit_file(static_cast<std::uint64_t>(got), now);
        continue;
      }
      out += piece;
      conn->commit_write(piece.size(), now);
    }
    return out;
  }
  std::string exchange(std::string_view bytes) {
    send(bytes);
    return drain();
  }
  void advance(std::chrono::milliseconds d) {
    now += d;
    conn->on_timer(now);
  }
  /// Lets time pass without a timer event (as when a handler answers much later).
  void pass(std::chrono::milliseconds d) {
    now += d;
    context->set_time(now);
  }
  connection_wants wants() const { return conn->wants(); }

  block_pool pool;
  date_cache date;
  lambda_handler handler;
  std::unique_ptr<connection_context> context;
  std::unique_ptr<connection> conn;
  time_point now = time_point{} + 1000s;
  std::vector<response_writer> writers;  // writers kept by "asynchronous" handlers

 private:
  connection_options options_;
};

/// A response read back with taut's response parser.
struct parsed_response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<std::pair<std::string, std::string>> trailers;
  bool keep_alive = false;
  body_kind framing = body_kind::none;

  [[nodiscard]] std::string field(std::string_view name) const;
  [[nodiscard]] bool has(std::string_view name) const;
  [[nodiscard]] int count(std::string_view name) const;
};

/// Reads every response in `bytes`; `methods` gives the request method of each final response in
/// order (GET when absent). Interim (1xx) responses are kept too. Fails the test on bad bytes.
std::vector<parsed_response> parse_responses(std::string_view bytes,
                                             std::vector<method> methods = {},
                                             std::string* rest = nullptr);

/// "GET /path HTTP/1.1\r\nHost: x\r\n\r\n"
std::string get(std::string_view target, std::string_view extra_fields = {});

}  // namespace taut::test
