// taut::server over real sockets: TCP on 127.0.0.1 and [::1] (skipped where IPv6 is missing) and
// Unix sockets (a path and an abstract name), with curl as the client and a raw-socket client for
// pipelining, shutdown and the connection limit. Loopback only; every wait is bounded.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../transport/privileges.hpp"
#include "server_test_support.hpp"
#include "taut/server.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr const char* curl_path = "/usr/bin/curl";

bool have_curl() {
  return ::access(curl_path, X_OK) == 0;
}

bool have_ipv6_loopback() {
  return transport::listener::listen("[::1]:0").has_value();
}

struct process_result {
  int exit_code = -1;
  std::string out;
};

/// Runs curl with `args`, returning its exit code and standard output; killed after 20 s.
process_result run_curl(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"curl",       "--silent", "--show-error", "--noproxy", "*",
                                  "--max-time", "10"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return {};
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::execv(curl_path, argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  process_result result;
  const auto deadline = clock_type::now() + 20s;
  char buffer[4096];
  for (;;) {
    pollfd p{out_pipe[0], POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0) {
      ::kill(child, SIGKILL);
      break;
    }
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::read(out_pipe[0], buffer, sizeof buffer);
    if (n <= 0) break;
    result.out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out_pipe[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string url(const transport::address& at, std::string_view path) {
  return "http://" + at.to_string() + std::string(path);
}

/// A blocking client socket.
class raw_client {
 public:
  explicit raw_client(const transport::address& to) {
    fd_ = ::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ >= 0 && ::connect(fd_, to.sockaddr_data(), to.sockaddr_size()) != 0) {
      error = errno;
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~raw_client() { close(); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool connected() const { return fd_ >= 0; }
  /// The socket's TCP state (TCP_CLOSE_WAIT once the server's FIN came; TCP_CLOSE after a reset).
  int tcp_state() const {
    tcp_info info{};
    socklen_t size = sizeof info;
    if (::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return -1;
    return info.tcpi_state;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Reads until `responses` complete responses arrived, EOF, or `limit` passed.
  std::vector<parsed_response> read_responses(std::size_t responses,
                                              std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = clock_type::now() + limit;
    std::string rest;
    std::vector<parsed_response> parsed;
    while ((parsed = parse_responses(received, {}, &rest)).size() < responses) {
      if (!read_some(deadline)) break;
    }
    return parsed;
  }

  /// Reads until EOF (or a reset); false if `limit` passed first.
  bool wait_closed(std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = clock_type::now() + limit;
    while (!eof) {
      if (!read_some(deadline)) return eof;
    }
    return true;
  }

  /// Whether anything (bytes or EOF) arrives within `limit`.
  bool hears_within(std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(limit.count())) > 0;
  }

  std::string received;
  bool eof = false;
  int error = 0;

 private:
  bool read_some(clock_type::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[8192];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) {
      if (n < 0) error = errno;  // a reset (ECONNRESET) rather than an orderly EOF
      eof = true;
      return false;
    }
    received.append(buffer, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
};

/// A temporary directory, removed with its contents.
class temp_dir {
 public:
  temp_dir() {
    char name[] = "/tmp/taut-server-XXXXXX";
    path_ = ::mkdtemp(name) != nullptr ? name : "";
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

/// A handler whose /wait response is finished from a thread once release() is called.
class waiting_routes final : public request_handler {
 public:
  ~waiting_routes() override {
    release();
    if (worker_.joinable()) worker_.join();
  }
  body_mode on_head(server_request&) override { return mode; }
  void on_request(server_request& request, response_writer response) override {
    if (request.target() != "/wait") {
      response.send(200, "quick", "text/plain");
      return;
    }
    if (mode == body_mode::stream && request.stream_body(sink_)) (void)response.hold_body(true);
    started_.set_value();
    worker_ = std::thread([this, later = deferred_response(std::move(response))]() mutable {
      released_.get_future().wait();
      later.send(200, "finished", "text/plain");
    });
  }
  /// Waits until a /wait request reached the handler.
  bool wait_started() { return started_.get_future().wait_for(5s) == std::future_status::ready; }
  void release() {
    if (!released_set_) released_.set_value();
    released_set_ = true;
  }
  /// release(), then waits until the response is completed (posted to its loop): after a hard
  /// stop nothing waits for it, and it must be done before the server is destroyed.
  void finish() {
    release();
    if (worker_.joinable()) worker_.join();
  }

  /// How request bodies reach the handler: body_mode::stream holds the body unread (hold_body), as
  /// a proxy does while its upstream stalls.
  body_mode mode = body_mode::buffer;

 private:
  struct ignoring_sink final : body_sink {
    void on_body_data(std::string_view) override {}
    void on_body_end(std::span<const header>) override {}
    void on_body_error(std::error_code) override {}
  };
  ignoring_sink sink_;
  std::promise<void> started_;
  std::promise<void> released_;
  bool released_set_ = false;
  std::thread worker_;
};

server_options loopback(unsigned threads = 2) {
  server_options options;
  options.listen = {"127.0.0.1:0"};
  options.threads = threads;
  return options;
}

// --- curl ---------------------------------------------------------------------------------------

class ServerCurl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_curl()) GTEST_SKIP() << "curl is not installed (scripts/install-deps.sh)";
  }
};

TEST_F(ServerCurl, GetOverIPv4) {
  routes handler;
  server srv(handler, loopback());
  ASSERT_FALSE(srv.start());
  const process_result r = run_curl({url(srv.local_addresses()[0], "/hello")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello");
}

TEST_F(ServerCurl, FileBodyByteExactBySendfile) {
  routes handler;
  auto loop = transport::event_loop::create().value();
  auto unit = std::make_unique<server_loop>(*loop, handler);
  auto source = transport::listener::listen("127.0.0.1:0");
  ASSERT_TRUE(source);
  const transport::address at = source->local_address();
  ASSERT_FALSE(unit->add_listener(std::move(*source)));
  std::thread runner([&] { loop->run(); });
  constexpr std::size_t size = 5 * 1024 * 1024 + 123;
  const process_result r = run_curl({url(at, "/file/" + std::to_string(size))});
  loop->stop();
  runner.join();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), size);
  EXPECT_TRUE(r.out == file_content(size));  // no 5 MiB diff on failure
  EXPECT_GT(unit->stats().file_sends, 0u);   // served by sendfile(2), not through user space
  unit.reset();
}

TEST_F(ServerCurl, GetOverIPv6) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback here";
  routes handler;
  server_options options = loopback();
  options.listen = {"[::1]:0"};
  server srv(handler, options);
  ASSERT_FALSE(srv.start());
  const process_result r = run_curl({"--globoff", url(srv.local_addresses()[0], "/info")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.out.starts_with("tcp ")) << r.out;
}

TEST_F(ServerCurl, UnixSocketPathAndAbstractName) {
  temp_dir dir;
  routes handler;
  server_options options;
  const std::string path = dir / "taut.sock";
  const std::string abstract = "taut-test-" + std::to_string(::getpid());
  options.unix_paths = {path, "@" + abstract};
  options.unix_mode = 0660;
  options.threads = 2;
  server srv(handler, options);
  const std::error_code ec = srv.start();
  ASSERT_FALSE(ec) << ec.message() << " at " << srv.error_address();
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0660u);
  const process_result by_path = run_curl({"--unix-socket", path, "http://localhost/info"});
  EXPECT_EQ(by_path.exit_code, 0);
  EXPECT_TRUE(by_path.out.starts_with("unix ")) << by_path.out;
  const process_result by_name =
      run_curl({"--abstract-unix-socket", abstract, "http://localhost/hello"});
  EXPECT_EQ(by_name.exit_code, 0);
  EXPECT_EQ(by_name.out, "hello");
  srv.stop();
  srv.wait();
  EXPECT_FALSE(std::filesystem::exists(path));  // the socket file goes with the server
}

TEST_F(ServerCurl, KeepAliveReusesTheConnection) {
  routes handler;
  server srv(handler, loopback());
  ASSERT_FALSE(srv.start());
  const process_result r =
      run_curl({"-w", " %{num_connects}\\n", url(srv.local_addresses()[0], "/hello"),
                url(srv.local_addresses()[0], "/a")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello 1\nGET /a 0\n");
}

TEST_F(ServerCurl, Http10ClosesAfterEachResponse) {
  routes handler;
  server srv(handler, loopback());
  ASSERT_FALSE(srv.start());
  const process_result r =
      run_curl({"--http1.0", "-w", " %{num_connects} %{http_code}\\n",
                url(srv.local_addresses()[0], "/hello"), url(srv.local_addresses()[0], "/a")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello 1 200\nGET /a 1 200\n");
}

TEST_F(ServerCurl, PostWithABody) {
  routes handler;
  server srv(handler, loopback());
  ASSERT_FALSE(srv.start());
  const std::string body(100000, 'b');
  temp_dir dir;
  const std::string file = dir / "body";
  std::FILE* f = std::fopen(file.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(body.data(), 1, body.size(), f);
  std::fclose(f);
  const process_result small =
      run_curl({"--data-binary", "hello body", url(srv.local_addresses()[0], "/echo")});
  EXPECT_EQ(small.out, "hello body");
  // curl sends Expect: 100-continue for a body this large.
  const process_result large =
      run_curl({"--data-binary", "@" + file, url(srv.local_addresses()[0], "/echo")});
  EXPECT_EQ(large.exit_code, 0);
  EXPECT_EQ(large.out, body);
}

TEST_F(ServerCurl, ChunkedAndThreadFinishedResponses) {
  routes handler;
  server srv(handler, loopback());
  ASSERT_FALSE(srv.start());
  EXPECT_EQ(run_curl({url(srv.local_addresses()[0], "/chunked")}).out, "abcdefg");
  EXPECT_EQ(run_curl({url(srv.local_addresses()[0], "/thread")}).out, "from thread");
}

TEST_F(ServerCurl, AccessLogLine) {
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  routes handler;
  server_options options = loopback();
  options.access_log = true;
  options.access_log_fd = ::fileno(log);
  server srv(handler, options);
  ASSERT_FALSE(srv.start());
  EXPECT_EQ(run_curl({url(srv.local_addresses()[0], "/hello")}).out, "hello");
  srv.stop();
  srv.wait();
  std::string text(4096, '\0');
  const ssize_t n = ::pread(::fileno(log), text.data(), text.size(), 0);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  std::fclose(log);
  const std::regex line(
      R"(127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /hello HTTP/1\.1" 200 5\n)");
  EXPECT_TRUE(std::regex_match(text, line)) << text;
}

// --- raw sockets --------------------------------------------------------------------------------

TEST(ServerTcp, PipelinedRequestsInOneSend) {
  routes handler;
  server srv(handler, loopback());
  ASSERT_FALSE(srv.start());
  raw_client client(srv.local_addresses()[0]);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send(get("/first") + get("/hello") +
                          "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nlast"));
  const auto responses = client.read_responses(3);
  ASSERT_EQ(responses.size(), 3u) << client.received;
  EXPECT_EQ(responses[0].body, "GET /first");
  EXPECT_EQ(responses[1].body, "hello");
  EXPECT_EQ(responses[2].body, "last");
}

// What a user writes to pick the backend: server_options::io. Each backend serves the same
// keep-alive and pipelined requests; an io_uring the system refuses fails start() with the reason
// instead of running on something else.
TEST(ServerStart, RunsOnTheIoBackendItIsGiven) {
  for (const transport::io_backend backend :
       {transport::io_backend::epoll, transport::io_backend::io_uring}) {
    SCOPED_TRACE(transport::to_string(backend));
    routes handler;
    server_options options = loopback();
    options.io = backend;
    server srv(handler, options);
    const std::error_code started = srv.start();
    if (backend == transport::io_backend::io_uring && transport::io_uring_available()) {
      EXPECT_EQ(started, transport::io_uring_available());
      continue;
    }
    ASSERT_FALSE(started) << started.message();
    EXPECT_EQ(srv.io_backend(), backend);
    EXPECT_EQ(srv.io_backend_reason(), "requested");
    raw_client client(srv.local_addresses()[0]);
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send(get("/hello")));
    ASSERT_EQ(client.read_responses(1).size(), 1u) << client.received;
    ASSERT_TRUE(client.send(get("/first") + get("/hello")));
    const auto responses = client.read_responses(3);
    ASSERT_EQ(responses.size(), 3u) << client.received;
    EXPECT_EQ(responses[1].body, "GET /first");
    EXPECT_EQ(responses[2].body, "hello");
  }
}

// With io_backend::automatic the server says which backend it took and why.
TEST(ServerStart, AutomaticNamesItsChoiceAndWhy) {
  routes handler;
  server srv(handler, loopback(1));
  ASSERT_FALSE(srv.start());
  EXPECT_EQ(srv.io_backend(), transport::resolve_io_backend(transport::io_backend::automatic));
  const std::string_view why = srv.io_backend_reason();
  if (srv.io_backend() == transport::io_backend::io_uring) {
    EXPECT_EQ(why, "io_uring available");
  } else {
    EXPECT_TRUE(why == "TAUT_IO=epoll" || why.starts_with("io_uring unavailable: ")) << why;
  }
}

TEST(ServerTcp, GracefulShutdown) {
  waiting_routes handler;
  server_options options = loopback(1);
  options.drain_timeout = 10s;
  server srv(handler, options);
  ASSERT_FALSE(srv.start());
  const transport::address at = srv.local_addresses()[0];

  raw_client idle(at);
  ASSERT_TRUE(idle.send(get("/quick")));
  ASSERT_EQ(idle.read_responses(1).size(), 1u);
  raw_client busy(at);
  ASSERT_TRUE(busy.send(get("/wait")));
  ASSERT_TRUE(handler.wait_started());
  EXPECT_EQ(srv.open_connections(), 2u);

  srv.stop();
  EXPECT_TRUE(idle.wait_closed());  // idle: closed at once
  bool refused = false;
  for (const auto give_up = clock_type::now() + 5s; !refused && clock_type::now() < give_up;) {
    raw_client late(at);
    refused = !late.connected() && late.error == ECONNREFUSED;
    if (!refused) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(refused);
  EXPECT_TRUE(busy.received.empty());

  handler.release();
  const auto responses = busy.read_responses(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "finished");
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_TRUE(busy.wait_closed());
  srv.wait();
  EXPECT_EQ(srv.open_connections(), 0u);
}

/// Stops a one-thread server with `stop` while its handler holds a deferred response that it does
/// not complete: the connection is closed hard and wait() returns within 2 s (a hard stop waits
/// for no handler). At the drain's deadline the request is first answered 503 with
/// `Connection: close` (`answered`); a hard stop sends nothing. The response is completed
/// afterwards, from the handler's thread, on the closed connection (nothing more is sent,
/// nothing freed is touched).
template <class Stop>
void stop_with_a_held_response(Stop stop, bool answered) {
  waiting_routes handler;
  server_options options = loopback(1);
  options.drain_timeout = 100ms;
  server srv(handler, options);
  ASSERT_FALSE(srv.start());
  raw_client busy(srv.local_addresses()[0]);
  ASSERT_TRUE(busy.send(get("/wait")));
  ASSERT_TRUE(handler.wait_started());
  stop(srv);
  auto waited = std::async(std::launch::async, [&srv] { srv.wait(); });
  EXPECT_EQ(waited.wait_for(2s), std::future_status::ready)
      << "the stop waited for the held response";
  EXPECT_TRUE(busy.wait_closed());
  if (answered) {
    const auto responses = parse_responses(busy.received);
    ASSERT_EQ(responses.size(), 1u) << busy.received;
    EXPECT_EQ(responses[0].status, 503);
    EXPECT_EQ(responses[0].field("Connection"), "close");
  } else {
    EXPECT_TRUE(busy.received.empty());
  }
  handler.finish();
  waited.wait();
}

TEST(ServerTcp, StopNowDoesNotWaitForAHeldResponse) {
  stop_with_a_held_response([](server& srv) { srv.stop_now(); }, /*answered=*/false);
}

// A request whose handler has not answered when the drain deadline comes (a proxied request
// whose upstream stalls) is answered 503 with `Connection: close`, not closed on silently.
TEST(ServerTcp, DrainDeadlineClosesHardAnswering503First) {
  stop_with_a_held_response([](server& srv) { srv.stop(); }, /*answered=*/true);
}

// The 503 at the drain deadline reaches a client whose request body is still partly unread in the
// server's receive buffer (its handler holds the body, as a proxy does while its upstream stalls).
// Closing a socket with unread bytes makes the kernel send a reset: on io_uring the transport
// then drops the 503 still queued for sending (the client reads nothing but ECONNRESET); on epoll
// the 503 and the FIN are already out, so a Linux client on loopback still reads them, but the
// reset, which can overtake an unacknowledged 503 on a real network, shows in its socket's state.
// The server reads and drops what has arrived before closing. Repeated, as timing varies.
TEST(ServerTcp, DrainDeadline503SurvivesAnUnreadRequestBody) {
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    waiting_routes handler;
    handler.mode = body_mode::stream;  // on_request() at once, and the body stays unread
    server_options options = loopback(1);
    options.drain_timeout = 50ms;
    server srv(handler, options);
    ASSERT_FALSE(srv.start());
    raw_client busy(srv.local_addresses()[0]);
    ASSERT_TRUE(busy.send("POST /wait HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" +
                          std::string(20000, 'a')));
    ASSERT_TRUE(handler.wait_started());
    // More of the body after the handler started (which does not read it): it waits in the
    // server's receive buffer.
    ASSERT_TRUE(busy.send(std::string(79000, 'b')));
    std::this_thread::sleep_for(5ms);
    srv.stop();
    EXPECT_TRUE(busy.wait_closed());
    EXPECT_EQ(busy.error, 0) << "the close was a reset: " << std::strerror(busy.error);
    const auto responses = parse_responses(busy.received);
    ASSERT_EQ(responses.size(), 1u) << busy.received;
    EXPECT_EQ(responses[0].status, 503);
    EXPECT_EQ(responses[0].field("Connection"), "close");
    srv.wait();
    // The server's socket is closed now: with nothing left unread it sent no reset after its FIN
    // (a Linux client that had the 503 and the FIN before a reset still reads both, so the state
    // is what tells on epoll).
    EXPECT_EQ(busy.tcp_state(), TCP_CLOSE_WAIT) << "the server's close was a reset";
    handler.finish();
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(ServerTcp, ConnectionLimitQueuesUntilOneCloses) {
  routes handler;
  server_options options = loopback(1);
  options.max_connections = 2;
  server srv(handler, options);
  ASSERT_FALSE(srv.start());
  const transport::address at = srv.local_addresses()[0];
  raw_client a(at);
  raw_client b(at);
  ASSERT_TRUE(a.send(get("/hello")));
  ASSERT_TRUE(b.send(get("/hello")));
  ASSERT_EQ(a.read_responses(1).size(), 1u);
  ASSERT_EQ(b.read_responses(1).size(), 1u);
  raw_client c(at);  // the kernel completes the handshake; the server does not accept it
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(get("/hello")));
  EXPECT_FALSE(c.hears_within(300ms));
  EXPECT_EQ(srv.open_connections(), 2u);
  a.close();
  const auto responses = c.read_responses(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "hello");
}

TEST(ServerTcp, ConnectionLimitRejectResets) {
  routes handler;
  server_options options = loopback(1);
  options.max_connections = 1;
  options.over_limit = limit_policy::reject;
  server srv(handler, options);
  ASSERT_FALSE(srv.start());
  const transport::address at = srv.local_addresses()[0];
  raw_client a(at);
  ASSERT_TRUE(a.send(get("/hello")));
  ASSERT_EQ(a.read_responses(1).size(), 1u);
  raw_client b(at);
  ASSERT_TRUE(b.connected());
  EXPECT_TRUE(b.wait_closed());
  EXPECT_TRUE(b.received.empty());
  ASSERT_TRUE(a.send(get("/hello")));
  EXPECT_EQ(a.read_responses(2).size(), 2u);  // the first connection is unaffected
}

TEST(ServerTcp, ManyConnectionsOverTwoThreads) {
  routes handler;
  server srv(handler, loopback(2));
  ASSERT_FALSE(srv.start());
  std::vector<std::unique_ptr<raw_client>> clients;
  for (int i = 0; i < 64; ++i) {
    clients.push_back(std::make_unique<raw_client>(srv.local_addresses()[0]));
    ASSERT_TRUE(clients.back()->send(get("/n" + std::to_string(i))));
  }
  for (int i = 0; i < 64; ++i) {
    const auto responses = clients[static_cast<std::size_t>(i)]->read_responses(1);
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].body, "GET /n" + std::to_string(i));
  }
  EXPECT_EQ(srv.open_connections(), 64u);
  EXPECT_EQ(handler.requests.load(), 64);
}

// --- start errors, signals ----------------------------------------------------------------------

TEST(ServerStart, AddressInUse) {
  transport::result<transport::listener> taken = transport::listener::listen("127.0.0.1:0");
  ASSERT_TRUE(taken.has_value());
  routes handler;
  server_options options = loopback(1);
  const std::string text = "127.0.0.1:" + std::to_string(taken->port());
  options.listen = {"127.0.0.1:0", text};
  server srv(handler, options);
  const std::error_code ec = srv.start();
  EXPECT_EQ(ec, std::errc::address_in_use) << ec.message();
  EXPECT_EQ(srv.error_address(), text);
  EXPECT_TRUE(srv.local_addresses().empty());
}

TEST(ServerStart, BadAddresses) {
  routes handler;
  server_options options;
  options.listen = {"127.0.0.1"};
  server missing_port(handler, options);
  std::error_code ec = missing_port.start();
  EXPECT_EQ(ec, transport::errc::missing_port);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_EQ(missing_port.error_address(), "127.0.0.1");

  server none(handler, server_options{});
  EXPECT_EQ(none.start(), std::errc::invalid_argument);

  temp_dir dir;
  const std::string file = dir / "not-a-socket";
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  server_options unix_options;
  unix_options.unix_paths = {file};
  server not_socket(handler, unix_options);
  EXPECT_EQ(not_socket.start(), transport::errc::not_a_socket_file);
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST(ServerStart, PermissionDeniedForAPrivilegedPort) {
  if (!transport::testing::can_drop_privileges()) GTEST_SKIP() << "cannot run as nobody here";
  const pid_t child = ::fork();
  if (child == 0) {
    if (!transport::testing::drop_privileges()) ::_exit(2);
    routes handler;
    server_options options;
    options.listen = {"127.0.0.1:80"};
    options.threads = 1;
    server srv(handler, options);
    ::_exit(srv.start() == std::errc::permission_denied ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ServerStart, SigtermStopsTheServer) {
  routes handler;
  server srv(handler, loopback(2));
  ASSERT_FALSE(srv.start());
  ASSERT_FALSE(install_signal_handlers(srv));
  raw_client idle(srv.local_addresses()[0]);
  ASSERT_TRUE(idle.send(get("/hello")));
  ASSERT_EQ(idle.read_responses(1).size(), 1u);
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  auto waited = std::async(std::launch::async, [&srv] { srv.wait(); });
  EXPECT_EQ(waited.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(srv.stopping());
  EXPECT_TRUE(idle.wait_closed());
  remove_signal_handlers();
}

TEST(ServerStart, StopBeforeStartEndsAtOnce) {
  routes handler;
  server srv(handler, loopback(2));
  srv.stop();
  ASSERT_FALSE(srv.start());
  auto waited = std::async(std::launch::async, [&srv] { srv.wait(); });
  EXPECT_EQ(waited.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(srv.start(), std::errc::operation_in_progress);
}

TEST(ServerStart, DestroyingARunningServerStopsIt) {
  routes handler;
  auto waited = std::async(std::launch::async, [&handler] {
    server srv(handler, loopback(2));
    EXPECT_FALSE(srv.start());
    raw_client client(srv.local_addresses()[0]);
    EXPECT_TRUE(client.send(get("/hello")));
    EXPECT_EQ(client.read_responses(1).size(), 1u);
  });  // ~server closes the connection and joins the threads
  EXPECT_EQ(waited.wait_for(10s), std::future_status::ready);
}

TEST(ServerStart, HandlerPerThreadFromAFactory) {
  std::atomic<unsigned> made{0};
  server srv(
      [&made](unsigned) -> std::unique_ptr<request_handler> {
        ++made;
        return std::make_unique<routes>();
      },
      loopback(3));
  ASSERT_FALSE(srv.start());
  EXPECT_EQ(made.load(), 3u);
  EXPECT_EQ(srv.threads(), 3u);
  raw_client client(srv.local_addresses()[0]);
  ASSERT_TRUE(client.send(get("/hello")));
  EXPECT_EQ(client.read_responses(1).size(), 1u);
}

TEST_F(ServerCurl, AccessLogNamesAUnixClientByTheSocketPath) {
  // A Unix-socket client is unnamed: "unix:(unnamed)" in a log says nothing, the socket's path
  // says which listener it came through.
  temp_dir dir;
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  routes handler;
  server_options options;
  const std::string path = dir / "logged.sock";
  const std::string abstract = "taut-log-" + std::to_string(::getpid());
  options.unix_paths = {path, "@" + abstract};
  options.threads = 1;
  options.access_log = true;
  options.access_log_fd = ::fileno(log);
  server srv(handler, options);
  ASSERT_FALSE(srv.start());
  EXPECT_EQ(run_curl({"--unix-socket", path, "http://localhost/hello"}).out, "hello");
  EXPECT_EQ(run_curl({"--abstract-unix-socket", abstract, "http://localhost/hello"}).out, "hello");
  srv.stop();
  srv.wait();
  std::string text(4096, '\0');
  const ssize_t n = ::pread(::fileno(log), text.data(), text.size(), 0);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  std::fclose(log);
  EXPECT_NE(text.find(path + " - - ["), std::string::npos) << text;
  EXPECT_NE(text.find("@" + abstract + " - - ["), std::string::npos) << text;
  EXPECT_EQ(text.find("unnamed"), std::string::npos) << text;
}

}  // namespace
}  // namespace taut::test
