// Helpers for the server runtime tests: a request_handler with a few fixed routes, a server_loop
// on a manual clock over a memory listener, and a memory client that drives the loop.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "connection_test_support.hpp"
#include "taut/server_loop.hpp"
#include "taut/transport.hpp"

namespace taut::test {

/// Routes, by target:
///   /hello              200 "hello"
///   /echo               the request body (buffered)
///   /chunked            "abc" + "defg" as a chunked body with a trailer
///   /big/N              N bytes of 'x' with a Content-Length
///   /defer              keeps the response as a deferred_response in `deferred`
///   /thread             a std::thread finishes the response ("from thread")
///   /upgrade            101, then the stream goes to `upgrader`
///   /info               "<transport> <id>" of current_connection()
///   anything else       200 "<method> <target>"
/// Byte `i` of the files served by routes' /file/N (not periodic in any small power of two).
inline char file_byte(std::size_t i) noexcept {
  return static_cast<char>((i * 7 + i / 251) % 256);
}

/// The expected body of /file/N.
inline std::string file_content(std::size_t size) {
  std::string content(size, '\0');
  for (std::size_t i = 0; i < size; ++i) content[i] = file_byte(i);
  return content;
}

class routes final : public request_handler {
 public:
  ~routes() override { join(); }

  body_mode on_head(server_request& request) override {
    ++heads;
    if (request.target() == "/stream-discard") return body_mode::discard;
    return body_mode::buffer;
  }

  void on_request(server_request& request, response_writer response) override {
    ++requests;
    const std::string_view target = request.target();
    if (target == "/hello") {
      response.send(200, "hello", "text/plain");
    } else if (target == "/echo") {
      response.send(200, request.body(), "application/octet-stream");
    } else if (target == "/chunked") {
      response.add_header("Content-Type", "text/plain");
      response.begin();
      response.write("abc");
      response.write("defg");
      const header trailer{"Checksum", "7"};
      response.finish(std::span<const header>(&trailer, 1));
    } else if (target.starts_with("/big/")) {
      const std::size_t size = std::stoul(std::string(target.substr(5)));
      response.begin(size);
      const std::string chunk(4096, 'x');
      for (std::size_t sent = 0; sent < size; sent += chunk.size()) {
        response.write(std::string_view(chunk).substr(0, std::min(chunk.size(), size - sent)));
      }
      response.finish();
    } else if (target.starts_with("/file/")) {
      // A file body by send_file: an unlinked temporary file of file_byte(i) patterns.
      const std::size_t size = std::stoul(std::string(target.substr(6)));
      char path[] = "/tmp/taut-file-route-XXXXXX";
      const int fd = ::mkstemp(path);
      if (fd >= 0) ::unlink(path);
      std::string content(size, '\0');
      for (std::size_t i = 0; i < size; ++i) content[i] = file_byte(i);
      if (fd < 0 || ::write(fd, content.data(), size) != static_cast<ssize_t>(size)) {
        if (fd >= 0) ::close(fd);
        response.send(500, "no temporary file", "text/plain");
        return;
      }
      response.add_header("Content-Type", "application/octet-stream");
      response.send_file(fd, 0, size);
    } else if (target == "/defer") {
      deferred.emplace_back(std::move(response));
    } else if (target == "/thread") {
      deferred_response later(std::move(response));
      std::lock_guard lock(threads_mutex);
      threads.emplace_back([later = std::move(later)]() mutable {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        later.send(200, "from thread", "text/plain");
      });
    } else if (target == "/info") {
      const connection_info* info = current_connection();
      std::string text = info == nullptr                                          ? "none"
                         : info->transport() == transport::transport_kind::memory ? "memory"
                         : info->transport() == transport::transport_kind::tcp    ? "tcp"
                                                                                  : "unix";
      if (info != nullptr) text += " " + std::to_string(info->id());
      response.send(200, text, "text/plain");
    } else if (target == "/upgrade" && upgrader != nullptr) {
      response.set_status(101);
      response.add_header("Upgrade", "echo");
      response.upgrade(*upgrader);
    } else {
      response.send(200, std::string(request.method_name()) + " " + std::string(target),
                    "text/plain");
    }
  }

  void join() {
    std::vector<std::thread> running;
    {
      std::lock_guard lock(threads_mutex);
      running.swap(threads);
    }
    for (std::thread& t : running) t.join();
  }

  std::atomic<int> heads{0};  // routes may serve several loop threads at once
  std::atomic<int> requests{0};
  std::vector<deferred_response> deferred;  // /defer: single-threaded tests only
  upgrade_handler* upgrader = nullptr;
  std::mutex threads_mutex;
  std::vector<std::thread> threads;
};

/// A client end of a memory pipe, read and written without a watch, driving the loop between.
class memory_client {
 public:
  memory_client(transport::event_loop& loop, transport::stream stream)
      : loop_(&loop), stream_(std::move(stream)) {}

  /// Writes all of `bytes`, running the loop whenever the pipe is full.
  void send(std::string_view bytes) {
    for (int rounds = 0; !bytes.empty() && rounds < 100000; ++rounds) {
      const transport::io_result r = stream_.write(bytes);
      if (r.done()) {
        bytes.remove_prefix(r.bytes);
      } else if (r.would_block()) {
        loop_->run_until_idle();
        read_available();
      } else {
        ADD_FAILURE() << "client write failed: " << r.error().message();
        return;
      }
    }
  }

  /// Reads what has arrived.
  void read_available() {
    char buffer[16384];
    while (!eof && !error) {
      const transport::io_result r = stream_.read(buffer);
      if (r.done()) {
        received.append(buffer, r.bytes);
      } else if (r.eof()) {
        eof = true;
      } else if (r.failed()) {
        error = r.error();
      } else {
        break;
      }
    }
  }

  /// Runs the loop and reads until nothing more happens.
  void settle() {
    for (int i = 0; i < 1000; ++i) {
      const std::size_t before = received.size();
      const std::size_t work = loop_->run_until_idle();
      read_available();
      if (work == 0 && received.size() == before) break;
    }
  }

  std::string exchange(std::string_view bytes) {
    received.clear();
    send(bytes);
    settle();
    return received;
  }

  /// Takes everything received so far.
  std::string take() { return std::exchange(received, {}); }

  transport::stream& stream() { return stream_; }
  bool closed() const { return eof || static_cast<bool>(error); }

  std::string received;
  bool eof = false;
  std::error_code error;

 private:
  transport::event_loop* loop_;
  transport::stream stream_;
};

/// A server_loop on a manual clock with one memory listener.
class memory_server {
 public:
  explicit memory_server(server_loop_options options = {}, transport::memory_options memory = {})
      : loop_(transport::event_loop::create({.clock = &clock}).value()) {
    unit = std::make_unique<server_loop>(*loop_, handler, options);
    transport::listener source = transport::listener::memory(memory);
    dialer = source.dialer();
    EXPECT_FALSE(unit->add_listener(std::move(source)));
  }
  ~memory_server() {
    handler.join();
    handler.deferred.clear();
    loop_->run_until_idle();
    unit.reset();
  }

  memory_client connect() {
    transport::result<transport::stream> s = dialer.dial();
    EXPECT_TRUE(s.has_value()) << s.error().message();
    memory_client c(*loop_, std::move(*s));
    loop_->run_until_idle();
    return c;
  }

  /// Moves the fake clock and runs what became due.
  void advance(std::chrono::milliseconds by) {
    clock.advance(by);
    loop_->run_until_idle();
  }

  transport::event_loop& loop() { return *loop_; }

  transport::manual_clock clock;
  routes handler;
  transport::memory_dialer dialer;
  std::unique_ptr<server_loop> unit;

 private:
  std::unique_ptr<transport::event_loop> loop_;
};

}  // namespace taut::test
