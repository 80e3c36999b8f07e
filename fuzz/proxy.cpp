// Fuzz harness `proxy`: arbitrary client bytes through taut::reverse_proxy (on a taut server_loop)
// to a recording upstream (another server_loop), all in memory on one loop. Whatever the bytes,
// the upstream receives at most the requests the front handed to the proxy, in order, each with
// the body the client sent (as taut frames it), framed by Content-Length (never chunked, never
// Transfer-Encoding), and without hop-by-hop fields.
//
// Input layout:
//   byte 0   largest piece the bytes arrive in (0: all at once)
//   the rest what the client sends
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "taut/http_chars.hpp"
#include "taut/mux.hpp"
#include "taut/parser.hpp"
#include "taut/proxy.hpp"
#include "taut/server_loop.hpp"
#include "taut/transport.hpp"

namespace {

using namespace taut;
using namespace std::chrono_literals;

struct received {
  std::string target;
  std::string body;
};

// The bodies of the requests `input` holds, as taut's parser and body decoder frame them (the
// front uses the same, with the same defaults), up to the first that does not parse whole.
std::vector<std::string> reference_bodies(std::string_view input) {
  std::vector<std::string> bodies;
  std::vector<header> fields(100);
  while (!input.empty()) {
    request_parser parser(fields);
    const parse_result head = parser.parse(input);
    if (!head.complete()) break;
    std::string_view rest = input.substr(head.consumed);
    body_decoder decoder(parser.request().body);
    std::string body;
    for (;;) {
      const body_result piece = decoder.decode(rest);
      if (piece.status == parse_status::error) return bodies;
      body.append(piece.data);
      rest.remove_prefix(piece.consumed);
      if (piece.status == parse_status::complete) break;
      if (piece.consumed == 0 && piece.data.empty()) return bodies;
    }
    bodies.push_back(std::move(body));
    input = rest;
  }
  return bodies;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = data[0];
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::vector<std::string> expected = reference_bodies(input);

  static transport::manual_clock clock;
  auto loop = transport::event_loop::create({.clock = &clock}).value();
  std::vector<received> front_saw;
  std::vector<received> upstream_saw;
  {
    mux upstream_app;
    upstream_app.handle("/", [&upstream_saw](request_context& req, reply& res) {
      const taut::framing& framing = req.raw().head().body;
      TAUT_FUZZ_CHECK(framing.kind == body_kind::none || framing.kind == body_kind::content_length,
                      "framing the front did not decide reached the upstream");
      for (const header& h : req.headers()) {
        TAUT_FUZZ_CHECK(!is_hop_by_hop(h.name) || (chars::iequals(h.name, "connection") &&
                                                   chars::iequals(h.value, "close")),
                        "hop-by-hop field " + std::string(h.name) + " reached the upstream");
      }
      upstream_saw.push_back({std::string(req.target()), std::string(req.body())});
      res.send(200, "up");
    });
    server_loop upstream(*loop, upstream_app);
    auto up = transport::listener::memory({});
    proxy_options options{
        .upstream = origin::memory(up.dialer(), "up"), .max_body = 4096, .timeout = 5s};
    (void)upstream.add_listener(std::move(up));
    // Destroyed before the front (its exchanges hold the front's response writers).
    auto proxy = std::make_unique<reverse_proxy>(std::move(options));
    reverse_proxy* forward = proxy.get();
    mux front_app;
    front_app.handle(
        "/", taut::handler(
                 [forward, &front_saw](request_context& req, reply& res) {
                   front_saw.push_back({std::string(req.target()), std::string(req.body())});
                   forward->serve(req, res);
                 },
                 handler_options{.max_body = 4096}));
    server_loop_options front_options;
    front_options.connection.header_timeout = 5s;
    server_loop front(*loop, front_app, front_options);
    auto listener =
        transport::listener::memory({.client_to_server = {.max_write = piece, .max_read = piece}});
    auto client = listener.dialer().dial().value();
    (void)front.add_listener(std::move(listener));
    (void)client.watch(*loop, [](transport::readiness) {});
    while (!input.empty()) {
      const auto w = client.write(input);
      if (!w.done()) break;
      input.remove_prefix(w.bytes);
      loop->run_until_idle();
    }
    (void)client.shutdown_write();
    for (int i = 0; i < 4; ++i) {
      loop->run_until_idle();
      char sink[16384];
      while (client.read(sink).done()) {
      }
      clock.advance(10s);
    }
    client.unwatch();
    (void)client.close();
    front.close_all();
    loop->run_until_idle();

    TAUT_FUZZ_CHECK(upstream_saw.size() <= front_saw.size(), std::to_string(upstream_saw.size()) +
                                                                 " upstream requests for " +
                                                                 std::to_string(front_saw.size()));
    // The upstream's bodies are those of requests the client sent, in order (the front may
    // answer some itself: a subsequence).
    std::size_t next = 0;
    for (const received& r : upstream_saw) {
      while (next < expected.size() && expected[next] != r.body) ++next;
      TAUT_FUZZ_CHECK(next < expected.size(),
                      "a body the client never sent reached the upstream: [" + r.body + "]");
      ++next;
    }
    proxy.reset();
    upstream.close_all();
    loop->run_until_idle();
  }
  return 0;
}
