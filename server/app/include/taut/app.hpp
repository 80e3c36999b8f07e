// taut::app, the application layer: handlers written as functions of a request_context and a
// reply (taut/handler.hpp), routed by taut::mux (Go 1.22-style patterns, 405 with Allow, HEAD
// served by GET; taut/mux.hpp), composed with middleware (taut/middleware.hpp) and static files
// (taut/static_files.hpp). A mux is a request_handler, so taut::server or a server_loop runs it,
// and taut::testing drives it in memory.
#pragma once

#include "taut/handler.hpp"
#include "taut/middleware.hpp"
#include "taut/mux.hpp"
#include "taut/static_files.hpp"
