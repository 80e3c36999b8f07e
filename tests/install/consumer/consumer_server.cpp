// Uses the installed taut::server: a real server on an ephemeral loopback port, started and
// stopped gracefully, with a handler of the http1 interface. Prints "server: started, stopped".
#include <cstdio>

#include <taut/server.hpp>

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
  taut::server server(handler, {.listen = {"127.0.0.1:0"}, .threads = 1});
  if (const std::error_code error = server.start()) {
    std::printf("server: %s\n", error.message().c_str());
    return 1;
  }
  server.stop();
  server.wait();
  std::printf("server: started, stopped\n");
  return 0;
}
