// Helpers for the client tests: an exchange that records everything, a taut server and a client
// on one loop over the memory transport (manual clock), and a scripted upstream that answers each
// request head with whatever bytes (or close, reset, silence) a test says.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "taut/client.hpp"
#include "taut/mux.hpp"
#include "taut/server_loop.hpp"
#include "taut/transport.hpp"

namespace taut::test {

/// Records one exchange's callbacks.
class recorder : public client_exchange {
 public:
  void on_informational(const taut::response& head) override {
    informational.push_back(head.status);
  }
  void on_head(const client_response& response) override {
    status = response.head.status;
    reused = response.reused_connection;
    keep_alive = response.head.keep_alive;
    for (const taut::header& h : response.head.headers) {
      headers.emplace_back(std::string(h.name), std::string(h.value));
    }
    if (pause_on_head) pause();
  }
  void on_body(std::string_view piece) override {
    body.append(piece);
    ++pieces;
  }
  void on_complete(std::span<const taut::header> t) override {
    for (const taut::header& h : t)
      trailers.emplace_back(std::string(h.name), std::string(h.value));
    done = true;
    completed = true;
  }
  void on_error(const client_error& e) override {
    error = e;
    done = true;
  }
  void on_upgrade(const taut::response& head, transport::stream&& s,
                  std::string_view rest) override {
    upgraded = std::move(s);
    leftover = std::string(rest);
    status = head.status;
    done = true;
  }

  [[nodiscard]] std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n.size() == name.size() &&
          std::equal(n.begin(), n.end(), name.begin(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        return v;
      }
    }
    return {};
  }

  int status = 0;
  bool reused = false;
  bool keep_alive = false;
  bool done = false;
  bool completed = false;
  bool pause_on_head = false;
  int pieces = 0;
  std::vector<int> informational;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> trailers;
  std::string body;
  client_error error{};
  transport::stream upgraded;
  std::string leftover;
};

/// A loop on a manual clock, a taut server_loop serving `app` on a memory listener, and a client,
/// all on the test's thread.
class memory_world {
 public:
  explicit memory_world(request_handler& app, const client_options& options = {},
                        const transport::memory_options& faults = {},
                        std::string_view authority = "test.example")
      : loop_(transport::event_loop::create({.clock = &clock}).value()),
        server(*loop_, app),
        client(*loop_, options) {
    auto listener = transport::listener::memory(faults);
    where = origin::memory(listener.dialer(), authority);
    EXPECT_FALSE(server.add_listener(std::move(listener)));
  }

  /// Sends and runs until the exchange ends (or the loop has nothing left to do).
  /// The request is kept until the world ends (an exchange may outlive this call).
  void exchange(const client_request& request, recorder& into) {
    const client_error refused = client.send(where, kept.emplace_back(request), into);
    ASSERT_FALSE(refused) << refused.message();
    run();
  }
  void run() { loop_->run_until_idle(); }
  void advance(std::chrono::milliseconds by) {
    clock.advance(by);
    run();
  }
  transport::event_loop& loop() { return *loop_; }

  transport::manual_clock clock;
  std::deque<client_request> kept;

 private:
  std::unique_ptr<transport::event_loop> loop_;

 public:
  server_loop server;
  taut::client client;
  origin where;
};

/// One connection of a scripted_upstream, as the script sees it.
struct upstream_connection {
  transport::stream stream;
  std::string received;
  std::size_t heads = 0;  // request heads seen ("\r\n\r\n" found), bodies not counted
  std::size_t scanned = 0;
};

/// A memory listener whose connections run a script: `answer(connection, head_index)` is called
/// for each request head a connection receives (the n-th head over all connections) and may
/// write, close, abort or do nothing.
class scripted_upstream {
 public:
  using script = std::function<void(upstream_connection&, std::size_t)>;

  /// `faults`: of every connection it accepts (server_to_client: what the client reads).
  scripted_upstream(transport::event_loop& loop, script answer,
                    const transport::memory_options& faults = {})
      : loop_(&loop), answer_(std::move(answer)), listener_(transport::listener::memory(faults)) {
    dialer_ = listener_.dialer();
    EXPECT_FALSE(listener_.watch(loop, [this](transport::readiness) { accept(); }));
  }

  [[nodiscard]] transport::memory_dialer dialer() const { return dialer_; }
  [[nodiscard]] std::size_t accepted() const noexcept { return connections_.size(); }
  [[nodiscard]] std::size_t heads() const noexcept { return heads_; }
  std::vector<std::unique_ptr<upstream_connection>>& connections() { return connections_; }

 private:
  void accept() {
    for (;;) {
      auto s = listener_.accept();
      if (!s) return;
      auto c = std::make_unique<upstream_connection>();
      c->stream = std::move(*s);
      upstream_connection* raw = c.get();
      connections_.push_back(std::move(c));
      contexts_.push_back(std::make_unique<watch_context>(watch_context{this, raw}));
      watch_context* context = contexts_.back().get();
      EXPECT_FALSE(raw->stream.watch(
          *loop_, [context](transport::readiness) { context->self->pump(*context->conn); }));
    }
  }

  void pump(upstream_connection& c) {
    char buffer[4096];
    while (c.stream.is_open()) {
      const auto r = c.stream.read(buffer);
      if (!r.done()) return;
      c.received.append(buffer, r.bytes);
      for (;;) {
        const std::size_t end = c.received.find("\r\n\r\n", c.scanned);
        if (end == std::string::npos) break;
        c.scanned = end + 4;
        ++c.heads;
        answer_(c, heads_++);
        if (!c.stream.is_open()) return;
      }
    }
  }

  // What a connection's watch callback reaches (small_fn holds one pointer to it).
  struct watch_context {
    scripted_upstream* self;
    upstream_connection* conn;
  };

  transport::event_loop* loop_;
  script answer_;
  transport::listener listener_;
  transport::memory_dialer dialer_;
  std::vector<std::unique_ptr<upstream_connection>> connections_;
  std::vector<std::unique_ptr<watch_context>> contexts_;
  std::size_t heads_ = 0;
};

/// A client and a scripted_upstream on one loop (manual clock).
struct scripted_world {
  explicit scripted_world(scripted_upstream::script answer, client_options options = {},
                          const transport::memory_options& faults = {})
      : loop(transport::event_loop::create({.clock = &clock}).value()),
        client(std::make_unique<taut::client>(*loop, options)),
        upstream(std::make_unique<scripted_upstream>(*loop, std::move(answer), faults)),
        where(origin::memory(upstream->dialer(), "up")) {}
  ~scripted_world() {
    client.reset();
    upstream.reset();
  }
  void exchange(const client_request& request, recorder& into) {
    const client_error refused = client->send(where, kept.emplace_back(request), into);
    ASSERT_FALSE(refused) << refused.message();
    loop->run_until_idle();
  }
  void advance(std::chrono::milliseconds by) {
    clock.advance(by);
    loop->run_until_idle();
  }

  transport::manual_clock clock;
  std::deque<client_request> kept;  // requests outlive their exchanges
  std::unique_ptr<transport::event_loop> loop;
  std::unique_ptr<taut::client> client;
  std::unique_ptr<scripted_upstream> upstream;
  origin where;
};

inline constexpr std::string_view ok_response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

}  // namespace taut::test
