// Fuzz harness `client`: taut::client under arbitrary upstream responses. The upstream answers
// the first request with the input's bytes (cut into pieces), then, if the connection is still
// there, answers a second request with a known response. Whatever the bytes, the first exchange
// ends exactly once (on_complete or on_error; a Content-Length body complete means exactly that
// many bytes); the second exchange ends exactly once too, and when it completes, its body is the
// known one: no byte of the first answer (a smuggled second response) is ever taken for it.
//
// Input layout:
//   byte 0   bit 0 the first request is HEAD; bit 1 the upstream half-closes after its answer;
//            bits 2-4 largest piece the bytes arrive in (0: all at once); bit 5 a 100-continue
//            request with a body; bit 6 the upstream stays silent for the second request
//   the rest the upstream's answer to the first request
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "taut/client.hpp"
#include "taut/transport.hpp"

namespace {

using namespace taut;
using namespace std::chrono_literals;

constexpr std::string_view known = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond";

class checker final : public client_exchange {
 public:
  void on_head(const client_response& response) override {
    TAUT_FUZZ_CHECK(!ended);
    TAUT_FUZZ_CHECK(!headed);
    headed = true;
    status = response.head.status;
    framing = response.head.body;
  }
  void on_body(std::string_view piece) override {
    TAUT_FUZZ_CHECK(headed && !ended);
    TAUT_FUZZ_CHECK(!piece.empty());
    body.append(piece);
  }
  void on_complete(std::span<const header>) override {
    TAUT_FUZZ_CHECK(headed && !ended);
    ended = completed = true;
    if (framing.kind == body_kind::content_length) {
      TAUT_FUZZ_CHECK(
          body.size() == framing.content_length,
          std::to_string(body.size()) + " != " + std::to_string(framing.content_length));
    }
    if (framing.kind == body_kind::none) TAUT_FUZZ_CHECK(body.empty());
  }
  void on_error(const client_error& error) override {
    TAUT_FUZZ_CHECK(!ended);
    TAUT_FUZZ_CHECK(static_cast<bool>(error));
    ended = true;
  }
  void on_upgrade(const taut::response& head, transport::stream&& stream,
                  std::string_view) override {
    TAUT_FUZZ_CHECK(head.status == 101 || (head.status >= 200 && head.status < 300));
    TAUT_FUZZ_CHECK(!ended);
    ended = true;
    (void)stream.close();
  }

  bool headed = false;
  bool ended = false;
  bool completed = false;
  int status = 0;
  taut::framing framing{};
  std::string body;
};

// Reads what a client sent; true once it holds a request head.
bool read_head(transport::stream& s, std::string& into) {
  char buffer[4096];
  for (;;) {
    const auto r = s.read(buffer);
    if (!r.done()) break;
    into.append(buffer, r.bytes);
  }
  return into.find("\r\n\r\n") != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const std::string_view answer(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t piece = (flags >> 2) & 7u;

  static transport::manual_clock clock;
  auto loop = transport::event_loop::create({.clock = &clock}).value();
  auto listener = transport::listener::memory({});
  const origin where = origin::memory(listener.dialer(), "fuzz");
  {
    client c(*loop,
             {.response_header_timeout = 5s, .expect_continue_timeout = 1s, .buffer_size = 2048});
    checker first;
    const client_request request{.method = (flags & 1u) != 0 ? "HEAD" : "GET",
                                 .target = "/first",
                                 .body = (flags & 32u) != 0 ? std::string_view("body") : "",
                                 .expect_continue = (flags & 32u) != 0,
                                 .timeout = 20s};
    TAUT_FUZZ_CHECK(!c.send(where, request, first));
    loop->run_until_idle();

    auto upstream = listener.accept();
    TAUT_FUZZ_CHECK(upstream.has_value());
    std::string received;
    (void)read_head(*upstream, received);
    if (piece == 0 || (upstream->memory().set_faults({.max_write = piece}), true)) {
      std::string_view rest = answer;
      while (!rest.empty()) {
        const auto w = upstream->write(rest);
        if (!w.done()) break;
        rest.remove_prefix(w.bytes);
        loop->run_until_idle();
      }
    }
    if ((flags & 2u) != 0) (void)upstream->shutdown_write();
    loop->run_until_idle();
    clock.advance(30s);  // every timeout of the first exchange has passed
    loop->run_until_idle();
    TAUT_FUZZ_CHECK(first.ended, "the first exchange never ended");

    // The second request: on the pooled connection (where the upstream answers the known
    // response), or on a new one.
    checker second;
    const client_request next{.method = "GET", .target = "/second", .timeout = 20s};
    TAUT_FUZZ_CHECK(!c.send(where, next, second));
    loop->run_until_idle();
    std::string again;
    if ((flags & 64u) == 0) {
      upstream->memory().set_faults({});
      if (read_head(*upstream, again) && upstream->is_open()) (void)upstream->write(known);
      for (int i = 0; i < 3; ++i) {
        auto fresh = listener.accept();
        if (!fresh) break;
        std::string head;
        loop->run_until_idle();
        if (read_head(*fresh, head)) (void)fresh->write(known);
        loop->run_until_idle();
      }
    }
    loop->run_until_idle();
    clock.advance(30s);
    loop->run_until_idle();
    TAUT_FUZZ_CHECK(second.ended, "the second exchange never ended");
    if (second.completed) {
      TAUT_FUZZ_CHECK(second.status == 200 && second.body == "second",
                      "second exchange got [" + second.body + "]");
    }
  }
  return 0;
}
