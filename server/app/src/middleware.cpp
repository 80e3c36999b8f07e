#include "taut/middleware.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <span>
#include <utility>

#include "taut/common_log.hpp"

namespace taut {
namespace {

/// One line per request, by the same formatter as the server's access log, plus the handler's
/// time in seconds.
void write_log_line(std::FILE* out, const request_context& request, reply& response,
                    std::chrono::system_clock::time_point started,
                    std::chrono::steady_clock::duration took, bool threw) noexcept {
  char host[128];
  std::string_view host_text = "-";
  const transport::result<transport::address> remote = request.remote_address();
  if (remote) {
    const std::size_t n = remote->format_to(host);
    host_text = std::string_view(host, std::min(n, sizeof host));
    // CLF's first field is the host alone: drop a TCP port ("[::1]:5000" -> "::1").
    if (remote->transport() == transport::transport_kind::tcp) {
      const std::size_t colon = host_text.rfind(':');
      if (colon != std::string_view::npos) host_text = host_text.substr(0, colon);
      if (host_text.size() >= 2 && host_text.front() == '[' && host_text.back() == ']') {
        host_text = host_text.substr(1, host_text.size() - 2);
      }
    }
  }
  char stamp[clf_timestamp_size];
  format_clf_timestamp(
      std::chrono::duration_cast<std::chrono::seconds>(started.time_since_epoch()).count(), stamp);
  common_log_fields fields;
  fields.host = host_text;
  fields.timestamp = {stamp, sizeof stamp};
  fields.method = request.method_name();
  fields.target = request.target();
  fields.version_minor = request.version_minor();
  if (response.detached()) {
    fields.status = 0;  // finished later, by whoever took the writer: "- -"
  } else if (!response.started() && (threw || response.writer().valid())) {
    // Nothing was answered: the connection answers a plain 500 when the reply is dropped.
    fields.status = 500;
  } else {
    fields.status = response.status_code();
    fields.body_bytes = response.body_bytes();
  }
  char line[2048];
  std::size_t size = format_common_log(fields, std::span<char>(line, sizeof line - 32));
  const int n = std::snprintf(line + size, sizeof line - size, " %.6f\n",
                              std::chrono::duration<double>(took).count());
  if (n > 0) size += std::min(static_cast<std::size_t>(n), sizeof line - size - 1);
  std::fwrite(line, 1, size, out);
}

}  // namespace

handler logging(std::FILE* out, handler next) {
  const handler_options options = next.options();
  return handler(
      [out, next = std::move(next)](request_context& request, reply& response) {
        const auto wall = std::chrono::system_clock::now();
        const auto start = std::chrono::steady_clock::now();
        try {
          next(request, response);
        } catch (...) {
          write_log_line(out, request, response, wall, std::chrono::steady_clock::now() - start,
                         true);
          throw;
        }
        write_log_line(out, request, response, wall, std::chrono::steady_clock::now() - start,
                       false);
      },
      options);
}

handler recover(handler next, std::FILE* log) {
  const handler_options options = next.options();
  return handler(
      [log, next = std::move(next)](request_context& request, reply& response) {
        const char* what = nullptr;
        try {
          next(request, response);
          return;
        } catch (const std::exception& e) {
          what = e.what();
          if (log != nullptr) {
            std::fprintf(log, "taut: handler for %.*s %.*s threw: %s\n",
                         static_cast<int>(request.method_name().size()),
                         request.method_name().data(), static_cast<int>(request.target().size()),
                         request.target().data(), what);
          }
        } catch (...) {
          if (log != nullptr) {
            std::fprintf(log, "taut: handler for %.*s %.*s threw a non-standard exception\n",
                         static_cast<int>(request.method_name().size()),
                         request.method_name().data(), static_cast<int>(request.target().size()),
                         request.target().data());
          }
        }
        if (response.detached() || response.finished()) return;
        // While the head is only held, the fields set before the failure (a Cache-Control, a
        // Set-Cookie) belong to the success that never came: the 500 carries none of them.
        if (!response.started() && response.reset()) {
          response.error(500);
          return;
        }
        // The head (or part of it) is out: the status cannot change any more. Close after it and
        // leave the body unfinished: the connection cuts it short when the reply is dropped (a
        // chunked body without its last chunk, a declared length not reached), so the client
        // does not take it for a whole one. finish() would write the last chunk.
        response.close_after();
      },
      options);
}

handler limit_body(std::uint64_t max_bytes, handler next) {
  handler_options options = next.options();
  options.max_body = options.max_body ? std::min(*options.max_body, max_bytes) : max_bytes;
  const std::uint64_t limit = *options.max_body;
  return handler(
      [limit, next = std::move(next)](request_context& request, reply& response) {
        const framing& body = request.raw().body_framing();
        if (body.kind == body_kind::content_length && body.content_length > limit) {
          response.close_after();
          response.error(413);
          return;
        }
        next(request, response);
      },
      options);
}

}  // namespace taut
