// The system calls the client makes to lend a pooled connection, counted: this executable is
// linked with -Wl,--wrap=read (and, with io_uring, --wrap=io_uring_submit_and_get_events and
// --wrap=io_uring_submit), so the library's calls come here first and are counted while a test
// asks, on the test's thread only (the server answering it runs on a thread of its own).
//
// A send made inside the loop's iteration (as a proxy does, for the request it has just read)
// on a connection the loop has nothing for needs no look at the socket: on epoll the read that
// checked the idle connection found EAGAIN every time, and on io_uring taking in the ring's
// completions cost an io_uring_enter per request. A send made outside the loop (between the
// calls of a program that runs the loop only during them) still looks, and finds a connection the
// server closed meanwhile.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "client_test_support.hpp"
#include "taut/server.hpp"

extern "C" ssize_t __real_read(int fd, void* buffer, std::size_t size);  // NOLINT: ld --wrap
#if TAUT_TEST_WRAP_URING
#include <liburing.h>

extern "C" int __real_io_uring_submit(io_uring* ring);                 // NOLINT: see __real_read
extern "C" int __real_io_uring_submit_and_get_events(io_uring* ring);  // NOLINT: see __real_read
#endif

namespace {

thread_local bool counting = false;
thread_local int reads = 0;
thread_local int enters = 0;

}  // namespace

extern "C" ssize_t __wrap_read(int fd, void* buffer, std::size_t size) {  // NOLINT: ld --wrap
  if (counting) ++reads;
  return __real_read(fd, buffer, size);
}

#if TAUT_TEST_WRAP_URING
extern "C" int __wrap_io_uring_submit(io_uring* ring) {  // NOLINT: see __wrap_read
  if (counting) ++enters;
  return __real_io_uring_submit(ring);
}

extern "C" int __wrap_io_uring_submit_and_get_events(io_uring* ring) {  // NOLINT: see __wrap_read
  if (counting) ++enters;
  return __real_io_uring_submit_and_get_events(ring);
}
#endif

namespace taut::test {
namespace {

using namespace std::chrono_literals;

/// A taut::server on a thread of its own on loopback TCP, answering GET /hello.
class live_server {
 public:
  explicit live_server(server_options options) : server_(app_, fix(options)) {
    app_.handle("GET /hello", [](request_context&, reply& res) { res.text(200, "hello"); });
    ok_ = !server_.start();
  }
  ~live_server() {
    server_.stop();
    server_.wait();
  }
  live_server(const live_server&) = delete;
  live_server& operator=(const live_server&) = delete;
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] std::string base() const {
    return "http://127.0.0.1:" + std::to_string(server_.local_addresses().front().port());
  }

 private:
  static server_options fix(server_options options) {
    options.threads = 1;
    options.listen = {"127.0.0.1:0"};
    return options;
  }
  mux app_;
  taut::server server_;
  bool ok_ = false;
};

struct counted_send {
  int reads = 0;
  int enters = 0;
};

/// Sends GET /hello on `http` to `where` with `into` as its exchange, counting the system calls
/// the send itself makes on this thread.
counted_send send_counted(client& http, const origin& where, const client_request& request,
                          recorder& into) {
  reads = enters = 0;
  counting = true;
  http.send(where, request, into);
  counting = false;
  return {reads, enters};
}

bool run_until_done(transport::event_loop& loop, const recorder& r) {
  const auto limit = std::chrono::steady_clock::now() + 5s;
  while (!r.done && std::chrono::steady_clock::now() < limit) loop.run_once(10ms);
  return r.done;
}

/// The first exchange, which leaves its connection idle in the pool.
void first_exchange(transport::event_loop& loop, client& http, const origin& where,
                    const client_request& request) {
  recorder first;
  http.send(where, request, first);
  ASSERT_TRUE(run_until_done(loop, first));
  ASSERT_TRUE(first.completed) << first.error.message();
}

TEST(ClientSyscalls, ALendInsideTheLoopDoesNotLookAtAnIdleConnectionTheLoopHasNothingFor) {
  live_server server({});
  ASSERT_TRUE(server.ok());
  auto made = transport::event_loop::create();
  ASSERT_TRUE(made) << made.error().message();
  transport::event_loop& loop = **made;
  client http(loop);
  const origin where = origin::parse(server.base()).value();
  const client_request request{.method = "GET", .target = "/hello"};

  ASSERT_NO_FATAL_FAILURE(first_exchange(loop, http, where, request));

  // Every later request from a timer's callback: inside the loop's iteration, the loop having
  // waited (and heard nothing for the idle connection) since the previous answer.
  struct job {
    client* http;
    const origin* where;
    const client_request* request;
    recorder next;
    counted_send counted;
  };
  for (int i = 0; i < 5; ++i) {
    job j{&http, &where, &request, {}, {}};
    transport::timer later(
        loop, [&j] { j.counted = send_counted(*j.http, *j.where, *j.request, j.next); });
    later.arm_in(1ms);
    ASSERT_TRUE(run_until_done(loop, j.next));
    ASSERT_TRUE(j.next.completed) << j.next.error.message();
    EXPECT_EQ(j.next.body, "hello");
    EXPECT_TRUE(j.next.reused);
    // epoll: the request's sendmsg, and no read; io_uring: the send waits for the loop's wait.
    EXPECT_EQ(j.counted.reads, 0) << "request " << i;
    EXPECT_EQ(j.counted.enters, 0) << "request " << i;
  }
  EXPECT_EQ(http.stats().connections_opened, 1u);
}

TEST(ClientSyscalls, ALendOutsideTheLoopStillFindsAConnectionTheServerClosedMeanwhile) {
  server_options options;
  options.connection.idle_timeout = 50ms;
  live_server server(options);
  ASSERT_TRUE(server.ok());
  auto made = transport::event_loop::create();
  ASSERT_TRUE(made) << made.error().message();
  transport::event_loop& loop = **made;
  client http(loop);
  const origin where = origin::parse(server.base()).value();
  const client_request request{.method = "GET", .target = "/hello"};

  ASSERT_NO_FATAL_FAILURE(first_exchange(loop, http, where, request));

  // The server closes the idle connection while this loop does not run: only a look at the
  // socket at the next send can tell.
  std::this_thread::sleep_for(300ms);
  recorder second;
  const counted_send counted = send_counted(http, where, request, second);
  EXPECT_GE(counted.reads + counted.enters, 1);
  ASSERT_TRUE(run_until_done(loop, second));
  ASSERT_TRUE(second.completed) << second.error.message();
  EXPECT_EQ(second.body, "hello");
  EXPECT_FALSE(second.reused);
  EXPECT_EQ(http.stats().connections_opened, 2u);
  EXPECT_EQ(http.stats().retries, 0u);  // found out before the request went, not retried
}

}  // namespace
}  // namespace taut::test
