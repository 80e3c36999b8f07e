// A reverse proxy as a taut::server handler, for the tests that put a proxy behind real sockets.
#pragma once

#include <atomic>
#include <utility>

#include "taut/mux.hpp"
#include "taut/proxy.hpp"

namespace taut::test {

/// A handler for taut::server: a reverse proxy per loop thread, mounted at "/". With `arrived`,
/// counts the requests that reached the proxy (from any loop thread).
class proxy_handler final : public request_handler {
 public:
  explicit proxy_handler(proxy_options options, std::atomic<int>* arrived = nullptr)
      : proxy_(std::move(options)) {
    taut::handler forward = proxy_.handler();
    const handler_options how = forward.options();  // the proxy's body mode and limit
    mux_.handle("/", taut::handler(
                         [forward = std::move(forward), arrived](request_context& req, reply& res) {
                           if (arrived != nullptr) arrived->fetch_add(1, std::memory_order_release);
                           forward(req, res);
                         },
                         how));
  }
  body_mode on_head(server_request& request) override { return mux_.on_head(request); }
  void on_request(server_request& request, response_writer writer) override {
    mux_.on_request(request, std::move(writer));
  }

 private:
  reverse_proxy proxy_;
  mux mux_;
};

}  // namespace taut::test
