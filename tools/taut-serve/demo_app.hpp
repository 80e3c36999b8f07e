// The routes of taut-serve, as a library so that tests drive them through taut::testing without a
// process or a socket.
#pragma once

#include <string>
#include <string_view>

#include "taut/mux.hpp"

namespace taut::serve {

struct demo_options {
  /// Directory served under /static/.
  std::string root = ".";
  /// Largest POST /echo body (and any other), 413 beyond; mirrors --max-body.
  std::uint64_t max_body = 1024 * 1024;
};

/// Registers every route of taut-serve on `app`:
///   GET  /                 a short HTML page listing the routes
///   GET  /hello/{name}     "Hello, <name>!" as text/plain (invalid UTF-8 in it as U+FFFD)
///   GET  /hello?name=      the same from the query ("world" without one)
///   POST /echo             the request as JSON: method, target, headers, body
///   GET  /static/{path...} files under options.root (static_files)
///   GET  /healthz          "ok"
///   GET  /plaintext        "Hello, World!" as text/plain (no allocation per request)
///   GET  /clock?n=         server-sent events (add_clock_route)
/// Throws std::system_error when options.root cannot be opened.
void add_demo_routes(mux& app, const demo_options& options);

/// Registers `GET /clock?n=N`: server-sent events (text/event-stream), `id: <i>` and
/// `data: <UTC time, ISO 8601>` once a second, N events in all (1 to 3600, 3 by default; 400
/// otherwise), the first at once; then the response ends. Each event is written from a timer of
/// the connection's loop, outside any handler call, and waits for the client when it reads slower.
void add_clock_route(mux& app);

/// Appends `bytes` to `out` as a JSON string (quotes included): '"', '\' and control characters
/// escaped, U+2028/U+2029 as \u escapes (safe inside JavaScript too), and each byte that is not
/// part of valid UTF-8 replaced by U+FFFD, so the output is always valid JSON whatever the body.
void append_json_string(std::string& out, std::string_view bytes);

}  // namespace taut::serve
