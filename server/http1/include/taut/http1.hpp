// taut::http1, everything of the sans-I/O HTTP/1.1 server connection: the connection itself
// (taut/connection.hpp: bytes and the current time in; bytes, handler calls and what it wants next
// out), the handler interface it calls (request_handler, server_request, response_writer,
// body_sink), status reasons, the shared Date field cache and the buffer pool connections borrow
// from while bytes are in flight. It uses only the parser: an event loop, a proxy or a test drives
// a connection with plain calls, as tests/install/consumer/consumer_http1.cpp does.
#pragma once

#include "taut/buffer_pool.hpp"
#include "taut/connection.hpp"
#include "taut/date_cache.hpp"
#include "taut/status.hpp"
