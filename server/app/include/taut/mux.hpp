// taut::mux: handlers registered by Go 1.22 ServeMux patterns ("GET /items/{id}"), served as the
// connection's request_handler. It answers what no handler should have to: 404, 405 with Allow,
// redirects to clean paths, OPTIONS, 400 for malformed escapes; HEAD goes to GET handlers (the
// connection drops the body). Routing a request allocates nothing.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

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
///
/// Routers compose: mount() serves a path prefix with another mux, which sees paths without the
/// prefix and gives its own answers there (its 404, 405 with Allow, OPTIONS, redirects, which keep
/// the prefix):
///
///     taut::mux api;                                  // written as if it owned the whole site
///     api.handle("GET /users/{id}", show_user);
///     taut::mux app;
///     app.mount("/api/", api);                        // GET /api/users/7 -> show_user, "/users/7"
///
/// Absolute-form targets ("GET http://example.com/a HTTP/1.1") are routed by their path, and their
/// authority stands for the Host field (request_context::authority()). CONNECT's authority-form
/// target is never routed: it is answered 405 with the methods the server serves (a proxy takes
/// CONNECT in its own request_handler before the mux).
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
  /// Serves every request whose path is under `prefix` ("/api/" or "/api": the subtree "/api/",
  /// every method) with `sub`, routing the path without the prefix ("/api/users/7" as
  /// "/users/7", the query kept). "/api" itself is redirected to "/api/" (which `sub` sees as
  /// "/"). `sub` must outlive this mux and have its routes before serving starts; mounts nest.
  /// Throws std::invalid_argument when `prefix` is not a literal path (no method, host or
  /// wildcard) or conflicts with an earlier pattern.
  mux& mount(std::string_view prefix, const mux& sub);

  /// request_handler: decides the body mode (the matched route's) before the body is read.
  body_mode on_head(server_request& request) override;
  /// request_handler: routes and calls the handler (with current_connection() as the
  /// request_context's connection).
  void on_request(server_request& request, response_writer writer) override;

  [[nodiscard]] const basic_router<handler>& router() const noexcept { return router_; }

 private:
  /// A prefix served by another mux: the route with this id in router_ stands for it.
  struct mount_point {
    const mux* sub = nullptr;  // null for an ordinary route
    std::size_t strip = 0;     // bytes of the prefix removed from the path ("/api": 4)
  };
  const mount_point* mount_for(const handler* h, const route_match& match) const noexcept;
  static std::string_view mounted_target(const route_match& match, const mount_point& at,
                                         std::span<char> out) noexcept;
  body_mode body_mode_for(server_request& request, std::string_view host, std::string_view target,
                          bool outermost) const;
  void serve(server_request& request, response_writer writer, std::string_view host,
             std::string_view target, std::string_view outer_path, std::size_t stripped) const;
  void answer(request_context& request, reply& response, const route_match& match,
              std::string_view location_prefix) const;

  basic_router<handler> router_;
  std::vector<mount_point> mounts_;  // by route id; empty while nothing is mounted
  handler not_found_;
};

}  // namespace taut
