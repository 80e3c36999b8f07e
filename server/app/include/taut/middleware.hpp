// Middleware: functions from handler to handler, composed by nesting calls
// (`recover(logging(stderr, h))`). Each keeps the wrapped handler's body options, so a route still
// receives its body the way its innermost handler asked.
#pragma once

#include <cstdint>
#include <cstdio>

#include "taut/handler.hpp"

namespace taut {

/// Writes one line per request to `out` after `next` returns, in Common Log Format plus the time
/// the handler took: `127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 200 2326
/// 0.000042`. A reply detached for later shows status and size as "-". The line is formatted on the
/// stack and written with one fwrite (stdio locks the stream, so threads do not interleave lines).
[[nodiscard]] handler logging(std::FILE* out, handler next);

/// Turns an exception escaping `next` into a plain 500 answer when the head was not written yet
/// (without the status or any field set before the throw; the connection stays open), or ends the
/// response and closes the connection when the head is already out. The exception's what() (if any)
/// goes to `log` (nullptr: not logged). Without recover(), the connection answers 500 too but then
/// closes.
[[nodiscard]] handler recover(handler next, std::FILE* log = stderr);

/// Accepts request bodies of at most `max_bytes` for `next` (413 beyond), raising or lowering the
/// server's limit for this route; an inner limit that is smaller wins. Checked before the body is
/// read when the route is registered with a mux; a declared Content-Length over the limit is also
/// refused at call time, for handlers called some other way.
[[nodiscard]] handler limit_body(std::uint64_t max_bytes, handler next);

}  // namespace taut
