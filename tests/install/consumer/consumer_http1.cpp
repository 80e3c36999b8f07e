// Uses the installed taut::http1 alone: one sans-I/O connection, fed a request as bytes, answers
// through a handler; no sockets, no threads. Prints "http1: <status line>".
#include <chrono>
#include <cstdio>
#include <string_view>

#include <taut/buffer_pool.hpp>
#include <taut/connection.hpp>
#include <taut/date_cache.hpp>

namespace {

class hello final : public taut::request_handler {
 public:
  taut::body_mode on_head(taut::server_request&) override { return taut::body_mode::buffer; }
  void on_request(taut::server_request&, taut::response_writer response) override {
    response.send(200, "hello", "text/plain");
  }
};

}  // namespace

int main() {
  hello handler;
  taut::block_pool pool;
  taut::date_cache date(std::chrono::system_clock::now());
  taut::connection_context context(handler, pool, date, {});
  const auto now = std::chrono::steady_clock::now();
  taut::connection connection(context, now);
  connection.receive("GET / HTTP/1.1\r\nHost: a\r\n\r\n", now);
  const std::string_view out = connection.output();
  const std::string_view status_line = out.substr(0, out.find("\r\n"));
  std::printf("http1: %.*s\n", static_cast<int>(status_line.size()), status_line.data());
  connection.abort();
  return 0;
}
