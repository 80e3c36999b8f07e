// taut::client over real sockets: a taut::server started in the test on loopback TCP (IPv4 and
// IPv6) and on Unix sockets (path and abstract name), as Go's httptest.NewServer does, driven
// with the blocking client; and a host name resolved off the loop thread.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "client_test_support.hpp"
#include "loopback.hpp"
#include "nginx_process.hpp"
#include "taut/blocking_client.hpp"
#include "taut/server.hpp"

namespace taut::test {
namespace {

mux make_app() {
  mux app;
  app.handle("GET /hello", [](request_context&, reply& res) { res.text(200, "hello"); });
  app.handle("POST /echo", [](request_context& req, reply& res) { res.send(200, req.body()); });
  app.handle("GET /big/{n}", [](request_context& req, reply& res) {
    res.send(200, std::string(std::stoul(std::string(req.param("n"))), 'y'));
  });
  // Which of the loop's connections the request came on.
  app.handle("GET /connection", [](request_context& req, reply& res) {
    res.text(200, std::to_string(req.connection()->id()));
  });
  return app;
}

/// A taut::server on one thread, listening where the test says, stopped at the end.
class live_server {
 public:
  explicit live_server(server_options options) : app_(make_app()), server_(app_, fix(options)) {
    ok_ = !server_.start();
  }
  ~live_server() {
    server_.stop();
    server_.wait();
  }
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] std::uint16_t port() const { return server_.local_addresses().front().port(); }
  [[nodiscard]] std::size_t open() const { return server_.open_connections(); }

 private:
  static server_options fix(server_options options) {
    options.threads = 1;
    return options;
  }
  mux app_;
  taut::server server_;
  bool ok_ = false;
};

TEST(ClientSockets, TcpLoopbackReusesConnections) {
  live_server s({.listen = {"127.0.0.1:0"}});
  ASSERT_TRUE(s.ok());
  blocking_client http;
  const std::string base = "http://127.0.0.1:" + std::to_string(s.port());
  for (int i = 0; i < 50; ++i) {
    const fetch_result r = http.get(base + "/hello");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello");
    EXPECT_EQ(r.reused_connection, i > 0);
  }
  const fetch_result big = http.get(base + "/big/1000000");
  EXPECT_EQ(big.body.size(), 1000000u);
  auto where = origin::parse(base).value();
  const fetch_result post =
      http.send(where, {.method = "POST", .target = "/echo", .body = "over tcp"});
  EXPECT_EQ(post.body, "over tcp");
  EXPECT_EQ(http.client().stats().connections_opened, 1u);
  EXPECT_EQ(http.client().stats().requests, 52u);
}

// A program that makes one blocking_client and calls it from a worker thread as well as from
// main: each call is answered (on io_uring a ring runs on one thread only, so the client follows
// the calling thread with a loop of its own; a call used to spin until its deadline).
TEST(ClientSockets, ABlockingClientAnswersCallsFromAnyThread) {
  live_server s({.listen = {"127.0.0.1:0"}});
  ASSERT_TRUE(s.ok());
  blocking_client http({}, {.timeout = std::chrono::seconds(5)});
  const std::string url = "http://127.0.0.1:" + std::to_string(s.port()) + "/hello";
  const fetch_result first = http.get(url);
  ASSERT_FALSE(first.error) << first.error.message();
  fetch_result from_worker;
  std::thread worker([&] {
    from_worker = http.get(url);
    (void)http.get(url);
  });
  worker.join();
  ASSERT_FALSE(from_worker.error) << from_worker.error.message();
  EXPECT_EQ(from_worker.body, "hello");
  const fetch_result again = http.get(url);
  ASSERT_FALSE(again.error) << again.error.message();
  EXPECT_EQ(again.body, "hello");
}

// A worker thread's call after main's: an epoll loop (or a ring of a mode that lets any thread
// run it) moves with its caller, so the call goes on the connection main's call left in the pool
// and the server sees one connection; a single-issuer ring cannot, and the worker's call opens a
// connection of its own loop.
TEST(ClientSockets, ABlockingClientKeepsItsPooledConnectionForAnotherThreadWhenItsLoopCanMove) {
  live_server s({.listen = {"127.0.0.1:0"}});
  ASSERT_TRUE(s.ok());
  blocking_client http({}, {.timeout = std::chrono::seconds(5)});
  const bool loop_moves =
      http.loop().backend() == transport::io_backend::epoll ||
      std::string_view(transport::io_uring_mode()) != "single issuer, deferred task running";
  const std::string url = "http://127.0.0.1:" + std::to_string(s.port()) + "/connection";
  const fetch_result first = http.get(url);
  ASSERT_FALSE(first.error) << first.error.message();
  fetch_result from_worker;
  std::uint64_t opened_by_worker = 0;
  std::thread worker([&] {
    from_worker = http.get(url);
    opened_by_worker = http.client().stats().connections_opened;
  });
  worker.join();
  ASSERT_FALSE(from_worker.error) << from_worker.error.message();
  // One connection opened by the client the worker used: main's, or the worker's new one.
  EXPECT_EQ(opened_by_worker, 1u);
  if (loop_moves) {
    EXPECT_TRUE(from_worker.reused_connection);
    EXPECT_EQ(from_worker.body, first.body);  // the same connection of the server's one loop
  } else {
    EXPECT_FALSE(from_worker.reused_connection);
    EXPECT_NE(from_worker.body, first.body);
  }
  const fetch_result back = http.get(url);  // main again, after the worker's thread ended
  ASSERT_FALSE(back.error) << back.error.message();
  EXPECT_EQ(back.reused_connection, loop_moves);
}

// A loop whose waits fail (here its epoll instance or ring is replaced by /dev/null) ends the call
// at once with the loop's error instead of spinning until the deadline; the next call works.
TEST(ClientSockets, ABlockingClientWhoseLoopFailsEndsTheCallAndRecovers) {
  live_server s({.listen = {"127.0.0.1:0"}});
  ASSERT_TRUE(s.ok());
  blocking_client http({}, {.timeout = std::chrono::seconds(5)});
  const std::string url = "http://127.0.0.1:" + std::to_string(s.port()) + "/hello";
  ASSERT_FALSE(http.get(url).error);
  // The newest epoll instance or ring of the process is the client's.
  const int kernel_object = newest_loop_descriptor();
  ASSERT_GE(kernel_object, 0);
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(::dup2(null, kernel_object), kernel_object);
  ::close(null);
  const auto started = std::chrono::steady_clock::now();
  const fetch_result failed = http.get(url);
  EXPECT_EQ(failed.error.code, client_errc::canceled) << failed.error.message();
  EXPECT_TRUE(failed.error.cause);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));
  const fetch_result again = http.get(url);
  ASSERT_FALSE(again.error) << again.error.message();
  EXPECT_EQ(again.body, "hello");
}

TEST(ClientSockets, TcpIpv6Loopback) {
  live_server s({.listen = {"[::1]:0"}});
  if (!s.ok()) GTEST_SKIP() << "no IPv6 loopback here";
  blocking_client http;
  const fetch_result r = http.get("http://[::1]:" + std::to_string(s.port()) + "/hello");
  ASSERT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.body, "hello");
}

TEST(ClientSockets, HostNamesAreResolvedOffTheLoop) {
  live_server s({.listen = {"127.0.0.1:0"}});
  ASSERT_TRUE(s.ok());
  blocking_client http;
  // The machine's own name is not a literal the transport reads itself: getaddrinfo answers it
  // (from /etc/hosts, where it is usually a loopback address).
  char name[256] = {};
  ASSERT_EQ(::gethostname(name, sizeof name - 1), 0);
  const std::string base = "http://" + std::string(name) + ":" + std::to_string(s.port());
  for (int i = 0; i < 3; ++i) {
    const fetch_result r = http.get(base + "/hello");
    if (r.error.code == client_errc::resolve_failed) GTEST_SKIP() << name << " does not resolve";
    if (r.error.code == client_errc::connect_failed) {
      GTEST_SKIP() << name << " is not 127.0.0.1 here";
    }
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.body, "hello");
  }
  EXPECT_EQ(http.client().stats().resolutions, 1u);
  EXPECT_EQ(http.client().stats().connections_opened, 1u);
}

TEST(ClientSockets, UnknownHostIsResolveFailed) {
  blocking_client http;
  const fetch_result r = http.get("http://no-such-host.invalid:80/");
  EXPECT_EQ(r.error.code, client_errc::resolve_failed) << r.error.message();
  EXPECT_EQ(r.error.phase, client_phase::resolving);
  // The cause is getaddrinfo's own (gai_strerror's "Name or service not known", or a resolver
  // that cannot be reached), never a made-up "No route to host".
  EXPECT_NE(r.error.cause, std::errc::host_unreachable) << r.error.message();
  EXPECT_TRUE(r.error.cause) << r.error.message();
}

TEST(ClientSockets, RefusedConnectionIsConnectFailed) {
  std::uint16_t port = 0;
  {
    auto l = transport::listener::listen("127.0.0.1:0").value();
    port = l.port();
  }
  blocking_client http;
  const fetch_result r = http.get("http://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_EQ(r.error.code, client_errc::connect_failed);
  EXPECT_EQ(r.error.phase, client_phase::connecting);
  EXPECT_EQ(r.error.cause, std::errc::connection_refused);
}

TEST(ClientSockets, UnixPathAndAbstractName) {
  const std::string path = "/tmp/taut-client-test-" + std::to_string(::getpid()) + ".sock";
  const std::string abstract = "@taut-client-test-" + std::to_string(::getpid());
  live_server s({.unix_paths = {path, abstract}});
  ASSERT_TRUE(s.ok());
  blocking_client http;
  for (const std::string& at : {path, abstract}) {
    for (int i = 0; i < 3; ++i) {
      const fetch_result r = http.get("unix:" + at);
      ASSERT_FALSE(r.error) << at << ": " << r.error.message();
      EXPECT_EQ(r.status, 404);  // "/" has no route
    }
    const fetch_result hello =
        http.send(origin::unix_socket(at), {.method = "GET", .target = "/hello"});
    EXPECT_EQ(hello.body, "hello");
  }
  EXPECT_EQ(http.client().stats().connections_opened, 2u);
}

TEST(ClientSockets, ServerClosingIdleConnectionsIsRetriedTransparently) {
  server_options options{.listen = {"127.0.0.1:0"}};
  options.connection.max_requests = 2;  // the second response says close; then a new one
  live_server s(options);
  ASSERT_TRUE(s.ok());
  blocking_client http;
  const std::string base = "http://127.0.0.1:" + std::to_string(s.port());
  for (int i = 0; i < 6; ++i) {
    const fetch_result r = http.get(base + "/hello");
    ASSERT_FALSE(r.error) << r.error.message();
  }
  EXPECT_EQ(http.client().stats().connections_opened, 3u);
}

/// A raw HTTP/1.1 upstream on loopback TCP, one thread per connection: answers every request
/// "real<N>" (N counting the requests of all its connections) and, 100 ms after its first answer
/// on the first connection, sends that connection a second response nobody asked for ("EVIL"),
/// keeping it open, as a confused or malicious upstream may.
class stray_response_upstream {
 public:
  stray_response_upstream() {
    listener_ = listen_loopback(16, port_);
    if (listener_ < 0) return;
    acceptor_ = std::thread([this] { accept_all(); });
  }
  ~stray_response_upstream() {
    ::shutdown(listener_, SHUT_RDWR);  // ends the blocked accept()
    if (acceptor_.joinable()) acceptor_.join();
    {
      const std::lock_guard lock(mutex_);
      for (const int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : workers_) t.join();
    for (const int fd : connections_) ::close(fd);
    ::close(listener_);
  }
  stray_response_upstream(const stray_response_upstream&) = delete;
  stray_response_upstream& operator=(const stray_response_upstream&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] int connections() {
    const std::lock_guard lock(mutex_);
    return static_cast<int>(connections_.size());
  }

 private:
  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      const std::lock_guard lock(mutex_);
      const bool first = connections_.empty();
      connections_.push_back(fd);
      workers_.emplace_back([this, fd, first] { serve(fd, first); });
    }
  }

  void serve(int fd, bool stray) {
    std::string in;
    const auto fill = [&](std::size_t at_least) {
      while (in.size() < at_least) {
        char buffer[4096];
        const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
        if (got <= 0) return false;
        in.append(buffer, static_cast<std::size_t>(got));
      }
      return true;
    };
    for (;;) {
      std::size_t end = 0;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        if (!fill(in.size() + 1)) return;
      }
      std::string head = in.substr(0, end);
      std::transform(head.begin(), head.end(), head.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::size_t length = 0;
      if (const std::size_t at = head.find("\r\ncontent-length:"); at != std::string::npos) {
        length = std::stoul(head.substr(at + 17));
      }
      if (!fill(end + 4 + length)) return;
      in.erase(0, end + 4 + length);
      const std::string body = "real" + std::to_string(++answered_);
      const std::string response =
          "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      if (::send(fd, response.data(), response.size(), MSG_NOSIGNAL) < 0) return;
      if (std::exchange(stray, false)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        constexpr std::string_view evil = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL\n";
        if (::send(fd, evil.data(), evil.size(), MSG_NOSIGNAL) < 0) return;
      }
    }
  }

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> answered_{0};
  std::mutex mutex_;
  std::vector<int> connections_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

// README "Sound reuse": bytes that arrive on an idle connection retire it. The blocking client does
// not run its loop between calls, so on io_uring the stray response waited, unseen, in the ring's
// completions, and each POST got the answer meant for the one before.
TEST(ClientSockets, StrayBytesOnAnIdleConnectionRetireItWhileTheLoopIsNotRunning) {
  stray_response_upstream upstream;
  ASSERT_NE(upstream.port(), 0);
  blocking_client http;
  const origin where = origin::parse("http://127.0.0.1:" + std::to_string(upstream.port())).value();
  for (int i = 1; i <= 3; ++i) {
    const fetch_result r = http.send(
        where, {.method = "POST", .target = "/submit", .body = "call " + std::to_string(i)});
    ASSERT_FALSE(r.error) << i << ": " << r.error.message();
    EXPECT_EQ(r.body, "real" + std::to_string(i));
    // The second call finds the first connection spoilt and opens another, which stays sound.
    EXPECT_EQ(r.reused_connection, i == 3) << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_EQ(upstream.connections(), 2);
}

// The same with taut::client on a loop the caller runs only while it waits for an answer.
TEST(ClientSockets, StrayBytesRetireAConnectionOfAClientWhoseLoopRanOnlyDuringCalls) {
  stray_response_upstream upstream;
  ASSERT_NE(upstream.port(), 0);
  auto loop = transport::event_loop::create({}).value();
  taut::client http(*loop);
  const origin where = origin::parse("http://127.0.0.1:" + std::to_string(upstream.port())).value();
  const client_request post{.method = "POST", .target = "/submit", .body = "x"};
  for (int i = 1; i <= 2; ++i) {
    recorder r;
    const client_error refused = http.send(where, post, r);
    ASSERT_FALSE(refused) << refused.message();
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!r.done && std::chrono::steady_clock::now() < limit) {
      loop->run_once(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(r.completed) << i << ": " << r.error.message();
    EXPECT_EQ(r.body, "real" + std::to_string(i));
    EXPECT_FALSE(r.reused) << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

// Over TCP on epoll: an upstream answers and closes its side at once (the response and its FIN in
// one segment, as a server does that closes after its last keep-alive request without saying so).
// A POST waiting for the connection (the limit is one) gets a new connection, not this one, where
// it would fail for good. epoll reports the end of the stream with the bytes before it; on
// io_uring it may come as a completion of its own a loop iteration later, and the hand-over then
// meets the race every pool has (the server closing just as a request goes out), which is
// retried for an idempotent request only.
TEST(ClientEpoll, AWaitingPostIsNotHandedAConnectionTheServerClosed) {
  std::uint16_t port = 0;
  const int listener = listen_loopback(8, port);
  ASSERT_GE(listener, 0);
  std::atomic<int> answered{0};
  std::thread upstream([listener, &answered] {
    for (int i = 0; i < 2; ++i) {
      pollfd ready{listener, POLLIN, 0};
      if (::poll(&ready, 1, 5000) != 1) return;  // no second connection: the test fails
      const int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string got;
      char buffer[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        got.append(buffer, static_cast<std::size_t>(n));
      }
      const int on = 1;
      const int off = 0;
      // Corked, the response and the FIN that shutdown() adds leave in one segment.
      (void)::setsockopt(c, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
      const std::string_view response = got.starts_with("POST")
                                            ? "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npost"
                                            : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      (void)::send(c, response.data(), response.size(), MSG_NOSIGNAL);
      (void)::shutdown(c, SHUT_WR);
      (void)::setsockopt(c, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
      ++answered;
      while (::recv(c, buffer, sizeof buffer, 0) > 0) {
      }
      ::close(c);
    }
  });
  {
    auto loop = transport::event_loop::create({.backend = transport::io_backend::epoll}).value();
    taut::client client(*loop, {.max_connections_per_origin = 1});
    const origin where = origin::tcp("127.0.0.1", port);
    recorder get;
    recorder post;
    const client_request first{.method = "GET", .target = "/"};
    const client_request upload{.method = "POST", .target = "/", .body = "x=1"};
    // EXPECT, not ASSERT: leaving before upstream.join() would end the whole test program.
    EXPECT_FALSE(client.send(where, first, get));
    EXPECT_FALSE(client.send(where, upload, post));
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!(get.done && post.done) && std::chrono::steady_clock::now() < give_up) {
      (void)loop->run_once(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(get.completed) << get.error.message();
    EXPECT_TRUE(post.completed) << post.error.message();
    EXPECT_EQ(post.body, "post");
    EXPECT_FALSE(post.reused);
    EXPECT_EQ(client.stats().connections_opened, 2u);
  }
  upstream.join();
  ::close(listener);
  EXPECT_EQ(answered.load(), 2);
}

// A server's idle timeout closes the pooled connection while the caller sleeps: a POST (never
// retried) after it goes on a new connection instead of failing on the closed one.
TEST(ClientSockets, AnIdleConnectionTheServerClosedIsNotLentToAPost) {
  server_options options{.listen = {"127.0.0.1:0"}};
  options.connection.idle_timeout = std::chrono::milliseconds(100);
  live_server s(options);
  ASSERT_TRUE(s.ok());
  blocking_client http;
  const origin where = origin::parse("http://127.0.0.1:" + std::to_string(s.port())).value();
  const fetch_result first = http.send(where, {.target = "/hello"});
  ASSERT_FALSE(first.error) << first.error.message();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const fetch_result post =
      http.send(where, {.method = "POST", .target = "/echo", .body = "after the close"});
  ASSERT_FALSE(post.error) << post.error.message();
  EXPECT_EQ(post.body, "after the close");
  EXPECT_FALSE(post.reused_connection);
  EXPECT_EQ(http.client().stats().connections_opened, 2u);
}

}  // namespace
}  // namespace taut::test

namespace taut::test {
namespace {

/// nginx answering /hello and /gone over plain HTTP.
constexpr std::string_view nginx_hello_server =
    "  listen 127.0.0.1:@port@;\n"
    "  location = /hello { default_type text/plain; return 200 \"hello nginx\"; }\n"
    "  location = /gone { return 410; }\n";

TEST(ClientNginx, KeepAliveHeadAndErrorsAgainstNginx) {
  nginx_process nginx(nginx_hello_server);
  if (!nginx.installed()) GTEST_SKIP() << "nginx is not installed";
  ASSERT_TRUE(nginx.ready());
  blocking_client http;
  const std::string base = "http://127.0.0.1:" + std::to_string(nginx.port());
  for (int i = 0; i < 20; ++i) {
    const fetch_result r = http.get(base + "/hello");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello nginx");
  }
  auto where = origin::parse(base).value();
  const fetch_result head = http.send(where, {.method = "HEAD", .target = "/hello"});
  ASSERT_FALSE(head.error) << head.error.message();
  EXPECT_EQ(head.header("Content-Length"), "11");
  EXPECT_EQ(head.body, "");
  const fetch_result gone = http.get(base + "/gone");
  EXPECT_EQ(gone.status, 410);
  EXPECT_FALSE(gone.body.empty());  // nginx's HTML error page, chunked or with a length
  const fetch_result post =
      http.send(where, {.method = "POST", .target = "/hello", .body = "ignored"});
  EXPECT_EQ(post.status, 200);  // `return` answers every method; nginx reads the body away
  EXPECT_EQ(post.body, "hello nginx");
  const fetch_result after = http.get(base + "/hello");
  EXPECT_EQ(after.body, "hello nginx");
  EXPECT_EQ(http.client().stats().connections_opened, 1u);
}

}  // namespace
}  // namespace taut::test
