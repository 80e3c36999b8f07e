// Zero heap allocations per request in the steady state through the whole server loop: the
// driver, the event loop, the transport and the connection, over the memory transport and over
// real loopback TCP, keep-alive and pipelined, with and without the access log, and for new
// connections once the pools are warm. The global operator new is replaced by a counting one, so
// this is an executable of its own.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "counting_new.hpp"
#include "taut/server_loop.hpp"
#include "taut/transport.hpp"

namespace taut {
namespace {

using namespace std::chrono_literals;

/// /plaintext's answer, and /echo.
class plaintext final : public request_handler {
 public:
  void on_request(server_request& request, response_writer response) override {
    if (request.target() == "/echo") {
      response.send(200, request.body(), "application/octet-stream");
    } else {
      response.send(200, "Hello, World!", "text/plain");
    }
  }
};

constexpr std::string_view plaintext_request =
    "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";

std::string echo_request() {
  return "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1024\r\n\r\n" +
         std::string(1024, 'e');
}

/// A server_loop and one client stream, driven on this thread.
class rig {
 public:
  explicit rig(bool tcp, bool access_log = false) {
    loop_ = transport::event_loop::create(tcp ? transport::loop_options{}
                                              : transport::loop_options{.clock = &clock_})
                .value();
    server_loop_options options;
    options.connection.max_requests = 0;  // the default closes after 1000
    if (access_log) {
      log_fd_ = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      options.access_log_fd = log_fd_;
    }
    unit_ = std::make_unique<server_loop>(*loop_, handler_, options);
    transport::listener source =
        tcp ? transport::listener::listen("127.0.0.1:0").value() : transport::listener::memory({});
    address_ = source.local_address();
    dialer_ = source.dialer();
    EXPECT_FALSE(unit_->add_listener(std::move(source)));
    tcp_ = tcp;
  }
  ~rig() {
    client_.close();
    for (int i = 0; i < 100 && unit_->open_connections() > 0; ++i) loop_->run_once(10ms);
    unit_.reset();
    if (log_fd_ >= 0) ::close(log_fd_);
  }

  void connect() { client_ = tcp_ ? transport::connect(address_).value() : dialer_.dial().value(); }
  void disconnect() {
    client_.close();
    for (int i = 0; i < 100 && unit_->open_connections() > 0; ++i) turn();
  }

  /// Sends `request` and reads until `expected` bytes came back (the first call learns the
  /// size). Returns the bytes received.
  std::size_t exchange(std::string_view request, std::size_t expected = 0) {
    std::string_view rest = request;
    std::size_t got = 0;
    for (int round = 0; round < 5000; ++round) {
      if (!rest.empty()) {
        const transport::io_result w = client_.write(rest);
        if (w.done()) rest.remove_prefix(w.bytes);
      }
      turn();
      for (;;) {
        const transport::io_result r = client_.read(buffer_);
        if (!r.done()) break;
        got += r.bytes;
      }
      if (rest.empty() && got > 0 && (expected == 0 ? round > 20 : got >= expected)) break;
    }
    return got;
  }

  server_loop& unit() { return *unit_; }

 private:
  void turn() {
    if (tcp_) {
      loop_->run_once(1ms);
    } else {
      loop_->run_until_idle();
    }
  }

  transport::manual_clock clock_;
  std::unique_ptr<transport::event_loop> loop_;
  plaintext handler_;
  std::unique_ptr<server_loop> unit_;
  transport::address address_;
  transport::memory_dialer dialer_;
  transport::stream client_;
  std::array<char, 65536> buffer_{};
  int log_fd_ = -1;
  bool tcp_ = false;
};

struct shape {
  const char* name;
  bool tcp;
  bool access_log;
};

class ServerAllocation : public ::testing::TestWithParam<shape> {};

TEST_P(ServerAllocation, KeepAlivePlaintext) {
  rig r(GetParam().tcp, GetParam().access_log);
  r.connect();
  const std::size_t size = r.exchange(plaintext_request);
  ASSERT_GT(size, 0u);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(r.exchange(plaintext_request, size), size);
  const long before = taut::test::operator_new_calls();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(r.exchange(plaintext_request, size), size);
  EXPECT_EQ(taut::test::operator_new_calls() - before, 0) << "allocations in 1000 requests";
}

TEST_P(ServerAllocation, PipelinedPlaintext) {
  rig r(GetParam().tcp, GetParam().access_log);
  r.connect();
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += plaintext_request;
  const std::size_t size = r.exchange(plaintext_request) * 16;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(r.exchange(batch, size), size);
  const long before = taut::test::operator_new_calls();
  for (int i = 0; i < 200; ++i) ASSERT_EQ(r.exchange(batch, size), size);
  EXPECT_EQ(taut::test::operator_new_calls() - before, 0)
      << "allocations in 3200 pipelined requests";
}

TEST_P(ServerAllocation, EchoOneKibibyte) {
  rig r(GetParam().tcp, GetParam().access_log);
  r.connect();
  const std::string request = echo_request();
  const std::size_t size = r.exchange(request);
  ASSERT_GT(size, 1024u);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(r.exchange(request, size), size);
  const long before = taut::test::operator_new_calls();
  for (int i = 0; i < 500; ++i) ASSERT_EQ(r.exchange(request, size), size);
  EXPECT_EQ(taut::test::operator_new_calls() - before, 0) << "allocations in 500 echo requests";
}

TEST_P(ServerAllocation, NewConnectionsOnceWarm) {
  rig r(GetParam().tcp, GetParam().access_log);
  r.connect();
  const std::size_t size = r.exchange(plaintext_request);
  r.disconnect();
  for (int i = 0; i < 100; ++i) {
    r.connect();
    ASSERT_EQ(r.exchange(plaintext_request, size), size);
    r.disconnect();
  }
  const long before = taut::test::operator_new_calls();
  for (int i = 0; i < 200; ++i) {
    r.connect();
    ASSERT_EQ(r.exchange(plaintext_request, size), size);
    r.disconnect();
  }
  const long per_connection = (taut::test::operator_new_calls() - before) / 200;
  if (GetParam().tcp) {
    EXPECT_EQ(per_connection, 0) << "allocations per TCP connection";
  } else {
    // A memory pipe and its byte queues are heap objects of the transport: count what the same
    // exchange costs over a bare pipe, and require the server to add nothing to it.
    const std::string response(size, 'r');
    std::array<char, 4096> scratch{};
    const long pipe_before = taut::test::operator_new_calls();
    for (int i = 0; i < 200; ++i) {
      auto [client, server] = transport::memory_pair();
      (void)client.write(plaintext_request);
      (void)server.read(scratch);
      (void)server.write(response);
      (void)client.read(scratch);
    }
    const long per_pipe = (taut::test::operator_new_calls() - pipe_before) / 200;
    EXPECT_EQ(per_connection, per_pipe) << "allocations per memory connection beyond the pipe's";
  }
  EXPECT_EQ(r.unit().open_connections(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ServerAllocation,
    ::testing::Values(shape{"memory", false, false}, shape{"memory_logged", false, true},
                      shape{"tcp", true, false}, shape{"tcp_logged", true, true}),
    [](const ::testing::TestParamInfo<shape>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace taut
