// Everything of taut's transport layer: event loop and timers, addresses, streams, listeners, the
// memory transport and the acceptor. It moves bytes and knows nothing of HTTP.
#pragma once

#include "taut/transport/acceptor.hpp"
#include "taut/transport/address.hpp"
#include "taut/transport/clock.hpp"
#include "taut/transport/error.hpp"
#include "taut/transport/event_loop.hpp"
#include "taut/transport/listener.hpp"
#include "taut/transport/memory.hpp"
#include "taut/transport/small_fn.hpp"
#include "taut/transport/stream.hpp"
#include "taut/transport/tls.hpp"
