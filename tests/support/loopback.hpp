// Plain-socket helpers for tests that play a blocking client on loopback or reach into the
// process's descriptors. Link the taut_test_loopback library.
#pragma once

#include <chrono>
#include <cstdint>

namespace taut::test {

/// A blocking TCP connection to 127.0.0.1:`port` whose receives and sends give up after `limit`
/// (SO_RCVTIMEO, SO_SNDTIMEO), as a simple blocking client is written. -1 when the socket or the
/// connect fails, with errno saying why (EINTR: the connect was interrupted), and a line on
/// stderr.
int connect_loopback(std::uint16_t port, std::chrono::milliseconds limit);

/// A blocking TCP socket listening on 127.0.0.1 at a free port (written to `port`), with a
/// queue of `backlog`; -1 when the socket, bind or listen fails.
int listen_loopback(int backlog, std::uint16_t& port);

/// The highest-numbered epoll instance or io_uring ring of this process (among descriptors below
/// 1024), or -1: that of the event loop made last, for a test that breaks it on purpose.
int newest_loop_descriptor();

}  // namespace taut::test
