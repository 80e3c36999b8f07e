// taut::mux: handlers registered by Go 1.22 ServeMux patterns ("GET /items/{id}"), served as the
// connection's request_handler. It answers what no handler should have to: 404, 405 with Allow,
// redirects to clean paths, OPTIONS, 400 for malformed escapes; HEAD goes to GET handlers (the
// connection drops the body). Routing a request allocates nothing.
#pragma once

#include <cstddef>
#include <string_view>

#include "taut/connection.hpp"
#include "taut/handler.hpp"
#include "taut/router.hpp"

namespace taut {

/// Patterns mapped to handlers. Register every route before serving (handle() is not thread-safe
/// and invalidates nothing in flight only because nothing is in flight yet); serving may then run
/// on many threads at once, each connection calling on_head()/on_request() on its own thread.
///
///     taut::mux app;
///     app.handle("GET /hello/{name}", [](taut::request_context& req, taut::reply& res) {
///       res.text(200, req.param("name"));
///     });
///
/// Automatic answers: 404 (or the not_found() handler) when nothing matches; 405 with `Allow`
/// when only the method is wrong; 204 with `Allow` for OPTIONS (and `OPTIONS *`); 301 to the
/// clean path ("/a/../b" to "/b", "/dir" to "/dir/" when only the subtree exists), 308 instead for
/// methods other than GET and HEAD so that the body and method are kept; 400 for a malformed
/// escape; 414 for a target too long to route. Unmatched requests have their body discarded.
class mux final : public request_handler {
 public:
  explicit mux(router_options options = {});

  /// Registers `h` for `pattern`. Throws std::invalid_argument, whose what() names the pattern
  /// (and the earlier one it conflicts with), when the pattern is malformed or conflicts.
  mux& handle(std::string_view pattern, handler h);
  /// handle() reporting the error as a value instead.
  [[nodiscard]] route_error try_handle(std::string_view pattern, handler h);
  /// What answers requests no pattern matches (instead of the plain 404).
  void not_found(handler h);

  /// request_handler: decides the body mode (the matched route's) before the body is read.
  body_mode on_head(server_request& request) override;
  /// request_handler: routes and calls the handler (with current_connection() as the
  /// request_context's connection).
  void on_request(server_request& request, response_writer writer) override;

  [[nodiscard]] const basic_router<handler>& router() const noexcept { return router_; }

 private:
  void answer(request_context& request, reply& response, const route_match& match) const;

  basic_router<handler> router_;
  handler not_found_;
};

}  // namespace taut
