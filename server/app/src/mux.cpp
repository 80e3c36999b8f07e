#include "taut/mux.hpp"

#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace taut {
namespace {

// Routing scratch and query-decoding space live on the stack: enough for targets up to the
// parser's default request-line limit (8 KiB). Longer targets (a raised limit) take the heap.
constexpr std::size_t stack_scratch_bytes = 28 * 1024;

}  // namespace

mux::mux(router_options options) : router_(options) {}

route_error mux::try_handle(std::string_view pattern, handler h) {
  if (!h) {
    return {route_errc::invalid_pattern, "mux: empty handler for \"" + std::string(pattern) + "\""};
  }
  return router_.add(pattern, std::move(h));
}

mux& mux::handle(std::string_view pattern, handler h) {
  if (route_error error = try_handle(pattern, std::move(h))) {
    throw std::invalid_argument(error.message());
  }
  return *this;
}

void mux::not_found(handler h) {
  not_found_ = std::move(h);
}

body_mode mux::on_head(server_request& request) {
  if (!request.has_body()) return body_mode::buffer;
  std::array<char, stack_scratch_bytes> storage;  // NOLINT: uninitialized on purpose
  const std::size_t need = router_.table().scratch_size(request.target().size());
  std::unique_ptr<char[]> heap;
  std::span<char> scratch(storage);
  if (need > scratch.size()) {
    heap.reset(new char[need]);
    scratch = {heap.get(), need};
  }
  route_match match(scratch);
  const handler* h = router_.match(request.method_name(), request.host(), request.target(), match);
  if (h == nullptr && match.status() == route_status::not_found && not_found_) h = &not_found_;
  if (h == nullptr) return body_mode::discard;
  const handler_options& options = h->options();
  if (options.max_body) request.set_body_limit(*options.max_body);
  return options.body;
}

void mux::on_request(server_request& request, response_writer writer) {
  std::array<char, stack_scratch_bytes> storage;  // NOLINT: uninitialized on purpose
  const std::size_t target = request.target().size();
  const std::size_t route_bytes = router_.table().scratch_size(target);
  std::unique_ptr<char[]> heap;
  std::span<char> scratch(storage);
  if (route_bytes + target > scratch.size()) {
    heap.reset(new char[route_bytes + target]);
    scratch = {heap.get(), route_bytes + target};
  }
  route_match match(scratch.first(route_bytes));
  const handler* h = router_.match(request.method_name(), request.host(), request.target(), match);
  request_context context(request, match, scratch.subspan(route_bytes), current_connection());
  reply response(std::move(writer));
  if (h != nullptr) {
    (*h)(context, response);
    return;
  }
  answer(context, response, match);
}

void mux::answer(request_context& request, reply& response, const route_match& match) const {
  switch (match.status()) {
    case route_status::matched:
      break;
    case route_status::not_found:
      if (not_found_) {
        not_found_(request, response);
      } else {
        response.error(404);
      }
      break;
    case route_status::method_not_allowed:
      response.status(405);
      response.header("Allow", match.allow());
      response.error(405);
      break;
    case route_status::options:
      response.status(204);
      response.header("Allow", match.allow());
      response.finish();
      break;
    case route_status::redirect: {
      // 301 makes clients turn a POST into a GET; 308 keeps the method and body.
      const method m = request.method();
      response.redirect(m == method::get || m == method::head ? 301 : 308, match.location());
      break;
    }
    case route_status::bad_request:
      response.error(400);
      break;
    case route_status::uri_too_long:
      response.error(414);
      break;
  }
}

}  // namespace taut
