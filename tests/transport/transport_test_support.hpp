// Helpers shared by the transport tests: bounded loop driving, temporary directories, an echo
// server written the way a real user of taut::transport would write one, and a simple client.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "taut/transport.hpp"

namespace taut::transport::testing {

using namespace std::chrono_literals;

inline std::unique_ptr<event_loop> make_loop(const clock* time_source = nullptr) {
  loop_options options;
  options.clock = time_source;
  auto created = event_loop::create(options);
  EXPECT_TRUE(created.has_value()) << created.error().message();
  return std::move(*created);
}

/// Runs `loop` until `done()` holds, for at most `limit` of real time. Returns done().
inline bool run_until(event_loop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = 5000ms) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    loop.run_once(10ms);
  }
  return true;
}

/// Runs `loop` until `server_side` hands over one connection, for at most run_until's default
/// limit. Nothing when none came in that time.
inline std::optional<stream> accept_one(event_loop& loop, listener& server_side) {
  std::optional<stream> accepted;
  run_until(loop, [&] {
    auto got = server_side.accept();
    if (got) accepted.emplace(std::move(*got));
    return accepted.has_value();
  });
  return accepted;
}

/// Both ends of one loopback TCP connection, and the listener it came through (still open).
struct tcp_pair {
  listener server_side;
  stream client;
  stream server;
};

/// Listens on a free 127.0.0.1 port, connects to it and accepts that connection by running
/// `loop`. Nothing when a step fails, which is then reported as a test failure.
inline std::optional<tcp_pair> accepted_pair(event_loop& loop) {
  auto server_side = listener::listen("127.0.0.1:0");
  if (!server_side) {
    ADD_FAILURE() << "listen: " << server_side.error().message();
    return std::nullopt;
  }
  auto client = connect(server_side->local_address());
  if (!client) {
    ADD_FAILURE() << "connect: " << client.error().message();
    return std::nullopt;
  }
  auto server = accept_one(loop, *server_side);
  if (!server) {
    ADD_FAILURE() << "nothing accepted in time";
    return std::nullopt;
  }
  return tcp_pair{std::move(*server_side), std::move(*client), std::move(*server)};
}

/// A private directory under $TMPDIR (or /tmp), removed with its contents afterwards.
class temp_dir {
 public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/taut-transport-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~temp_dir() {
    const std::string command = "rm -rf '" + path_ + "'";
    [[maybe_unused]] const int status = std::system(command.c_str());
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// One echoing connection: reads, writes everything back, and answers EOF with its own EOF.
/// Uses the readiness hints the way a server does: no read or write after would_block until the
/// next notification.
class echo_connection {
 public:
  explicit echo_connection(stream connection) : stream_(std::move(connection)) {}
  echo_connection(const echo_connection&) = delete;
  echo_connection& operator=(const echo_connection&) = delete;

  std::error_code start(event_loop& loop) {
    return stream_.watch(loop, [this](readiness) { pump(); });
  }

  void pump() {
    while (!finished_) {
      if (begin_ < end_) {
        if (!stream_.writable()) return;
        const io_result wrote =
            stream_.write(std::string_view(buffer_.data() + begin_, end_ - begin_));
        if (wrote.would_block()) return;
        if (wrote.failed()) return fail(wrote.error());
        begin_ += wrote.bytes;
        continue;
      }
      begin_ = end_ = 0;
      if (saw_eof_) {
        (void)stream_.shutdown_write();
        finished_ = true;
        return;
      }
      if (!stream_.readable()) return;
      const io_result got = stream_.read(buffer_);
      if (got.would_block()) return;
      if (got.eof()) {
        saw_eof_ = true;
        continue;
      }
      if (got.failed()) return fail(got.error());
      end_ = got.bytes;
      echoed_ += got.bytes;
    }
  }

  [[nodiscard]] bool finished() const { return finished_; }
  [[nodiscard]] std::size_t echoed() const { return echoed_; }
  [[nodiscard]] std::error_code failure() const { return failure_; }
  stream& connection() { return stream_; }

 private:
  void fail(std::error_code ec) {
    failure_ = ec;
    finished_ = true;
    stream_.unwatch();
  }

  stream stream_;
  std::array<char, 4096> buffer_{};
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t echoed_ = 0;
  bool saw_eof_ = false;
  bool finished_ = false;
  std::error_code failure_;
};

/// An acceptor that starts an echo_connection for every stream.
class echo_server {
 public:
  explicit echo_server(event_loop& loop)
      : loop_(loop), acceptor_(loop, [this](stream&& accepted) { add(std::move(accepted)); }) {}

  std::error_code start(listener&& source) { return acceptor_.start(std::move(source)); }
  [[nodiscard]] const std::vector<std::unique_ptr<echo_connection>>& connections() const {
    return connections_;
  }
  acceptor& get_acceptor() { return acceptor_; }

 private:
  void add(stream&& accepted) {
    connections_.push_back(std::make_unique<echo_connection>(std::move(accepted)));
    EXPECT_FALSE(connections_.back()->start(loop_));
  }

  event_loop& loop_;
  acceptor acceptor_;
  std::vector<std::unique_ptr<echo_connection>> connections_;
};

/// A client driven by the loop: sends `request` (then half-closes if asked) and collects what
/// comes back until EOF or an error.
class collecting_client {
 public:
  collecting_client(stream connection, std::string request, bool half_close)
      : stream_(std::move(connection)), request_(std::move(request)), half_close_(half_close) {}

  std::error_code start(event_loop& loop) {
    return stream_.watch(loop, [this](readiness) { pump(); });
  }

  void pump() {
    while (sent_ < request_.size() && stream_.writable()) {
      const io_result wrote = stream_.write(std::string_view(request_).substr(sent_));
      if (wrote.would_block()) break;
      if (wrote.failed()) {
        error_ = wrote.error();
        done_ = true;
        return;
      }
      sent_ += wrote.bytes;
    }
    if (sent_ == request_.size() && half_close_ && !shut_) {
      shut_ = true;
      (void)stream_.shutdown_write();
    }
    std::array<char, 4096> chunk{};
    while (!done_ && stream_.readable()) {
      const io_result got = stream_.read(chunk);
      if (got.would_block()) break;
      if (got.eof()) {
        done_ = true;
        break;
      }
      if (got.failed()) {
        error_ = got.error();
        done_ = true;
        break;
      }
      received_.append(chunk.data(), got.bytes);
    }
  }

  [[nodiscard]] bool done() const { return done_; }
  [[nodiscard]] const std::string& received() const { return received_; }
  [[nodiscard]] std::error_code error() const { return error_; }
  stream& connection() { return stream_; }

 private:
  stream stream_;
  std::string request_;
  std::string received_;
  std::size_t sent_ = 0;
  bool half_close_;
  bool shut_ = false;
  bool done_ = false;
  std::error_code error_;
};

/// Bytes 0..n-1 of a recognisable pattern (so reordering or loss shows).
inline std::string pattern(std::size_t n) {
  std::string text(n, '\0');
  for (std::size_t i = 0; i < n; ++i) text[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return text;
}

}  // namespace taut::transport::testing
