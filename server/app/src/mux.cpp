#include "taut/mux.hpp"

#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "taut/path.hpp"

namespace taut {
namespace {

// Routing scratch and query-decoding space live on the stack: enough for targets up to the
// parser's default request-line limit (8 KiB). Longer targets (a raised limit) take the heap.
constexpr std::size_t stack_scratch_bytes = 28 * 1024;

/// Scratch space of `need` bytes: `storage` when it is large enough, otherwise `heap`.
std::span<char> scratch_for(std::size_t need, std::span<char> storage,
                            std::unique_ptr<char[]>& heap) {
  if (need <= storage.size()) return storage;
  heap.reset(new char[need]);
  return {heap.get(), need};
}

/// The authority a request is routed by: an absolute-form target's own (RFC 9112 section 3.2.2
/// has the Host field ignored then), otherwise the Host field.
std::string_view routing_host(const server_request& request) noexcept {
  if (request.head().target_form == target_form::absolute) {
    if (const auto parts = split_absolute_form(request.target())) return parts->authority;
  }
  return request.host();
}

}  // namespace

mux::mux(router_options options) : router_(options) {}

route_error mux::try_handle(std::string_view pattern, handler h) {
  if (!h) {
    return {route_errc::invalid_pattern, "mux: empty handler for \"" + std::string(pattern) + "\""};
  }
  route_error error = router_.add(pattern, std::move(h));
  if (!error && !mounts_.empty()) mounts_.resize(router_.size());
  return error;
}

mux& mux::handle(std::string_view pattern, handler h) {
  if (route_error error = try_handle(pattern, std::move(h))) {
    throw std::invalid_argument(error.message());
  }
  return *this;
}

mux& mux::mount(std::string_view prefix, const mux& sub) {
  const auto refuse = [&](std::string_view why) {
    return std::invalid_argument("mux: cannot mount at \"" + std::string(prefix) +
                                 "\": " + std::string(why));
  };
  if (prefix.empty() || prefix.front() != '/') throw refuse("a prefix is a path starting with '/'");
  if (prefix.find_first_of("{} \t") != std::string_view::npos) {
    throw refuse("a prefix is a literal path, without wildcards or a method");
  }
  if (&sub == this) throw refuse("a mux cannot be mounted in itself");
  std::string pattern(prefix);
  while (!pattern.empty() && pattern.back() == '/') pattern.pop_back();
  const std::size_t strip = pattern.size();
  pattern += '/';
  // The route's handler never runs: serve() and on_head() see the mount point and descend.
  mounts_.reserve(router_.size() + 1);
  if (route_error error = router_.add(
          pattern, handler([](request_context&, reply& response) { response.error(500); }))) {
    throw std::invalid_argument(error.message());
  }
  mounts_.resize(router_.size());
  mounts_.back() = {&sub, strip};
  return *this;
}

void mux::not_found(handler h) {
  not_found_ = std::move(h);
}

const mux::mount_point* mux::mount_for(const handler* h, const route_match& match) const noexcept {
  if (h == nullptr || mounts_.empty() || mounts_[match.id()].sub == nullptr) return nullptr;
  return &mounts_[match.id()];
}

std::string_view mux::mounted_target(const route_match& match, const mount_point& at,
                                     std::span<char> out) noexcept {
  // The rest of the path and the query: an origin-form target for the mounted mux. It fits in
  // the target's size plus one: a cleaned path is at most one byte longer than the raw one.
  const std::string_view rest = match.path().substr(at.strip);
  const std::string_view query = match.query();
  std::size_t n = rest.size();
  std::memcpy(out.data(), rest.data(), n);
  if (!query.empty()) {
    out[n++] = '?';
    std::memcpy(out.data() + n, query.data(), query.size());
    n += query.size();
  }
  return {out.data(), n};
}

body_mode mux::on_head(server_request& request) {
  if (!request.has_body()) return body_mode::buffer;
  return body_mode_for(request, request.host(), request.target(), true);
}

body_mode mux::body_mode_for(server_request& request, std::string_view host,
                             std::string_view target, bool outermost) const {
  std::array<char, stack_scratch_bytes> storage;  // NOLINT: uninitialized on purpose
  const std::size_t route_bytes = router_.table().scratch_size(target.size());
  std::unique_ptr<char[]> heap;
  // Routing space, then room for a mounted target's copy.
  const std::span<char> scratch = scratch_for(route_bytes + target.size() + 1, storage, heap);
  route_match match(scratch.first(route_bytes));
  const handler* h = router_.match(request.method_name(), host, target, match);
  if (const mount_point* at = mount_for(h, match)) {
    const std::string_view rest = mounted_target(match, *at, scratch.subspan(route_bytes));
    return at->sub->body_mode_for(request, outermost ? routing_host(request) : host, rest, false);
  }
  if (h == nullptr && match.status() == route_status::not_found && not_found_) h = &not_found_;
  if (h == nullptr) return body_mode::discard;
  const handler_options& options = h->options();
  if (options.max_body) request.set_body_limit(*options.max_body);
  return options.body;
}

void mux::on_request(server_request& request, response_writer writer) {
  serve(request, std::move(writer), request.host(), request.target(), {}, 0);
}

// Routes and answers at this level, or descends into a mounted mux. `outer_path` is the
// outermost mux's matched path and `stripped` the bytes of it that the mounts above removed: a
// redirect from down here puts them back in front of its location.
void mux::serve(server_request& request, response_writer writer, std::string_view host,
                std::string_view target, std::string_view outer_path, std::size_t stripped) const {
  std::array<char, stack_scratch_bytes> storage;  // NOLINT: uninitialized on purpose
  const std::size_t route_bytes = router_.table().scratch_size(target.size());
  std::unique_ptr<char[]> heap;
  // Routing space, then query-decoding space (a target's size), which holds the mounted target
  // instead when the request goes on to a mounted mux.
  const std::span<char> scratch = scratch_for(route_bytes + target.size() + 1, storage, heap);
  route_match match(scratch.first(route_bytes));
  const handler* h = router_.match(request.method_name(), host, target, match);
  const bool outermost = outer_path.data() == nullptr;
  if (outermost) outer_path = match.path();

  if (const mount_point* at = mount_for(h, match)) {
    const std::string_view rest = mounted_target(match, *at, scratch.subspan(route_bytes));
    at->sub->serve(request, std::move(writer), outermost ? routing_host(request) : host, rest,
                   outer_path, stripped + at->strip);
    return;
  }

  request_context context(request, match, scratch.subspan(route_bytes, target.size()),
                          current_connection());
  reply response(std::move(writer));
  if (h != nullptr) {
    (*h)(context, response);
    return;
  }
  answer(context, response, match, outer_path.substr(0, stripped));
}

void mux::answer(request_context& request, reply& response, const route_match& match,
                 std::string_view location_prefix) const {
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
      const int code = m == method::get || m == method::head ? 301 : 308;
      if (location_prefix.empty()) {
        response.redirect(code, match.location());
      } else {
        // A mounted mux's location lacks the prefix the mounts above removed (a rare answer:
        // a string is fine here).
        std::string location(location_prefix);
        location.append(match.location());
        response.redirect(code, location);
      }
      break;
    }
    case route_status::bad_request:
      response.error(400);
      break;
    case route_status::uri_too_long:
      response.error(414);
      break;
    case route_status::not_implemented:
      response.error(501);
      break;
  }
}

}  // namespace taut
