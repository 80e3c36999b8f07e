// Fuzz harness `connection`: the sans-I/O server connection under arbitrary bytes, cuts and time.
// Whatever arrives, the output must read back (with taut's response parser) as a sequence of
// well-formed HTTP/1.1 responses in request order: at most one final response per request (plus
// one error answer for a request that never parsed), each with one Date field, nothing after a
// `Connection: close` or close-delimited response or a switch of protocols, no bytes left over.
// And however the connection ends, every block and working state goes back to its pool.
//
// Input layout:
//   byte 0   bits 0-1 block size (256, 1 KiB, 4 KiB, 16 KiB); bits 2-3 pipeline depth (1, 2, 4,
//            16); bit 4 small limits; bit 5 finish asynchronous answers newest first; bit 6 end
//            with EOF; bit 7 begin a graceful shutdown halfway
//   byte 1   largest piece the bytes arrive in (0: all at once)
//   byte 2   how far the clock moves between pieces
//   the rest the bytes a client sends
//
// The handler's behaviour is chosen by the request target, so the fuzzer finds them through the
// dictionary: /a answers later, /c streams a chunked body with a trailer, /l streams with a
// Content-Length, /n and /m answer 204 and 304, /e sends 103 first, /x drops the writer (500),
// /t throws, /k asks to close, /u upgrades (101 to an Upgrade request, 200 to CONNECT), /h tries
// to inject a header; the third byte picks the body delivery: s = stream, d = discard.
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "taut/connection.hpp"

namespace {

using namespace taut;
using namespace taut::fuzz;
using namespace std::chrono_literals;
using time_point = connection::time_point;

struct streamed_body final : body_sink {
  std::string data;
  response_writer writer;
  void on_body_data(std::string_view piece) override {
    if (data.size() < 4096) data.append(piece.substr(0, 4096 - data.size()));
  }
  void on_body_end(std::span<const header>) override { writer.send(200, data, "text/plain"); }
  void on_body_error(std::error_code) override {}
};

struct tunnel final : upgrade_handler {
  std::string leftover;
  int calls = 0;
  void on_upgrade(std::string_view bytes, void*) override {
    leftover = bytes;
    ++calls;
  }
};

class fuzz_handler final : public request_handler {
 public:
  std::vector<method> dispatched;  // request methods in dispatch order
  std::vector<bool> upgrades;      // whether that request may be answered by switching
  std::deque<response_writer> pending;
  std::deque<std::unique_ptr<streamed_body>> streams;
  tunnel switched;

  body_mode on_head(server_request& r) override {
    dispatched.push_back(r.method());
    upgrades.push_back(r.head().upgrade || r.method() == method::connect);
    const std::string_view target = r.target();
    if (target.size() > 2 && target[2] == 's') return body_mode::stream;
    if (target.size() > 2 && target[2] == 'd') return body_mode::discard;
    return body_mode::buffer;
  }

  void on_request(server_request& r, response_writer w) override {
    const std::string_view target = r.target();
    const char behaviour = target.size() > 1 ? target[1] : '/';
    if (r.has_body() && target.size() > 2 && target[2] == 's') {
      auto body = std::make_unique<streamed_body>();
      if (r.stream_body(*body)) {
        body->writer = std::move(w);
        streams.push_back(std::move(body));
        return;
      }
    }
    const std::string echo = std::string(r.body().substr(0, 64));
    switch (behaviour) {
      case 'a':
        pending.push_back(std::move(w));
        return;
      case 'c': {
        w.begin();
        w.write("chunk one,");
        w.write(echo);
        const header trailer{"X-Trailer", "t"};
        w.finish(std::span(&trailer, 1));
        return;
      }
      case 'l':
        w.begin(6 + echo.size());
        w.write("length");
        w.write(echo);
        w.finish();
        return;
      case 'n':
        w.set_status(204);
        w.send("dropped");
        return;
      case 'm':
        w.set_status(304);
        w.add_header("ETag", "\"e\"");
        w.finish();
        return;
      case 'e':
        w.send_informational(103, {});
        w.send("after hints");
        return;
      case 'x':
        return;  // dropped: 500
      case 't':
        throw std::runtime_error("handler failure");
      case 'k':
        w.close_after();
        w.send("closing");
        return;
      case 'u':
        if (r.method() == method::connect) {
          w.set_status(200);
        } else {
          w.set_status(101);
          w.add_header("Upgrade", "fuzz");
          w.add_header("Connection", "upgrade");
        }
        if (!w.upgrade(switched)) w.send("no upgrade");
        return;
      case 'h':
        TAUT_FUZZ_CHECK(!w.add_header("X-Injected", "a\r\nSet-Cookie: b"));
        TAUT_FUZZ_CHECK(!w.add_header("Content-Length", "1"));
        w.send("safe");
        return;
      default:
        w.send(200, echo, "text/plain");
        return;
    }
  }

  void finish_pending(bool newest_first) {
    while (!pending.empty()) {
      response_writer w = std::move(newest_first ? pending.back() : pending.front());
      if (newest_first) {
        pending.pop_back();
      } else {
        pending.pop_front();
      }
      w.send("finished later");
    }
  }
};

struct run {
  block_pool pool;
  date_cache date{std::chrono::system_clock::time_point(784111777s)};
  fuzz_handler handler;
  connection_context context;
  time_point now = time_point{} + 1000s;
  connection conn;
  std::string out;

  run(std::size_t block_size, const connection_options& options)
      : pool(block_size), context(handler, pool, date, options), conn(context, now) {}

  void drain(input_rng& rng) {
    while (conn.wants().write) {
      const std::string_view piece = conn.output();
      // Sometimes the peer takes only part of what is offered.
      const std::size_t n = rng.below(4) == 0 ? 1 + rng.below(piece.size()) : piece.size();
      out.append(piece.substr(0, n));
      conn.commit_write(n, now);
    }
    if (conn.wants().upgrade) conn.take_over(nullptr);
    if (conn.wants().close) TAUT_FUZZ_CHECK(conn.holds_nothing(), "closed but holding buffers");
  }

  void step_time(std::chrono::milliseconds d) {
    now += d;
    context.set_time(now);
    if (now >= conn.wants().deadline) conn.on_timer(now);
  }
};

bool has_connection_close(const response& r) {
  for (const header& f : r.headers) {
    if (iequals(f.name, "connection") && list_contains_token(f.value, "close")) return true;
  }
  return false;
}

void check_output(const run& r) {
  std::string_view rest = r.out;
  const std::vector<method>& methods = r.handler.dispatched;
  std::size_t finals = 0;
  while (!rest.empty()) {
    std::array<header, 64> storage{};
    response_parser parser(storage);
    const method m = finals < methods.size() ? methods[finals] : method::get;
    const parse_result head = parser.parse(rest, m);
    TAUT_FUZZ_CHECK(head.complete(), "output does not parse as a response (" +
                                         std::string(to_string(head.error.code)) +
                                         "): " + quoted(rest) + "\nwhole output: " + quoted(r.out));
    const response& resp = parser.response();
    TAUT_FUZZ_CHECK(resp.version_minor == 1);
    rest.remove_prefix(head.consumed);
    if (resp.status < 200 && resp.status != 101) {
      TAUT_FUZZ_CHECK(resp.status == 100 || resp.status == 103, "unexpected interim status");
      continue;  // an interim response: the final one follows
    }
    int dates = 0;
    for (const header& f : resp.headers) dates += iequals(f.name, "date") ? 1 : 0;
    TAUT_FUZZ_CHECK(dates == 1, "a final response without exactly one Date: " + quoted(r.out));
    ++finals;
    TAUT_FUZZ_CHECK(finals <= methods.size() + 1,
                    "more responses than requests: " + std::to_string(finals) + " for " +
                        std::to_string(methods.size()) + "\nwhole output: " + quoted(r.out));
    if (finals == methods.size() + 1) {
      TAUT_FUZZ_CHECK(resp.status >= 400 && !resp.keep_alive,
                      "a response to no request must be an error that closes");
    }
    if (resp.upgrade) {
      TAUT_FUZZ_CHECK(finals <= methods.size() && r.handler.upgrades[finals - 1],
                      "switched protocols for a request that did not ask");
      TAUT_FUZZ_CHECK(rest.empty(), "bytes after switching protocols: " + quoted(rest));
      TAUT_FUZZ_CHECK(r.handler.switched.calls <= 1);
      return;
    }
    if (finals == methods.size() + 1 && rest.empty()) {
      // A rejected HEAD request (the connection judges it from the rejected bytes) gets its
      // error without a body (RFC 9110 section 9.3.2); the harness cannot tell which bytes were
      // rejected, so a rejection with nothing after its head is taken for one.
      return;
    }
    std::array<header, 8> trailers{};
    body_decoder body(resp.body, {}, trailers);
    while (true) {
      const body_result b = body.decode(rest);
      TAUT_FUZZ_CHECK(b.status != parse_status::error, "bad response body framing");
      rest.remove_prefix(b.consumed);
      if (b.status == parse_status::complete) break;
      if (b.consumed == 0) {
        TAUT_FUZZ_CHECK(resp.body.kind == body_kind::until_close,
                        "response body cut short: " + quoted(r.out));
        break;
      }
    }
    if (resp.body.kind == body_kind::until_close || !resp.keep_alive ||
        has_connection_close(resp)) {
      TAUT_FUZZ_CHECK(rest.empty(), "bytes after a closing response: " + quoted(rest) +
                                        "\nwhole: " + quoted(r.out));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const unsigned config = data[0];
  const std::size_t max_piece = data[1];
  const unsigned time_seed = data[2];
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 3, size - 3);
  input_rng rng(std::string_view(reinterpret_cast<const char*>(data), size));

  static constexpr std::size_t block_sizes[] = {256, 1024, 4096, 16384};
  static constexpr std::uint16_t depths[] = {1, 2, 4, 16};
  connection_options options;
  options.max_pipeline_depth = depths[(config >> 2) & 3];
  if ((config & 16) != 0) {
    options.max_body_bytes = 64;
    options.max_discard_bytes = 32;
    options.max_requests = 5;
    options.max_output_bytes = 512;
    options.parse.max_header_bytes = 512;
    options.parse.max_request_line = 256;
    options.parse.max_headers = 8;
  }
  const bool newest_first = (config & 32) != 0;
  const bool end_with_eof = (config & 64) != 0;
  const bool shutdown_halfway = (config & 128) != 0;

  {
    run r(block_sizes[config & 3], options);
    static constexpr std::chrono::milliseconds steps[] = {0ms, 0ms, 0ms, 1ms, 1s, 5s, 11s, 31s};
    std::size_t offset = 0;
    bool shut = false;
    while (offset < bytes.size() && r.conn.wants().read) {
      const std::size_t piece = max_piece == 0 ? bytes.size() : 1 + rng.below(max_piece);
      const std::size_t taken = r.conn.receive(bytes.substr(offset, piece), r.now);
      offset += taken;
      r.drain(rng);
      r.handler.finish_pending(newest_first);
      r.drain(rng);
      r.step_time(steps[(time_seed >> (offset % 6)) & 7 & (rng.below(4) == 0 ? 7 : 0)]);
      r.drain(rng);
      if (shutdown_halfway && !shut && offset * 2 >= bytes.size()) {
        shut = true;
        r.conn.begin_shutdown(r.now);
        r.drain(rng);
      }
      if (taken == 0 && !r.conn.wants().read) break;
    }
    if (end_with_eof && r.conn.wants().read) r.conn.receive_eof(r.now);
    // Let every timer fire until the connection is done with.
    for (int i = 0; i < 16; ++i) {
      r.handler.finish_pending(newest_first);
      r.drain(rng);
      const connection_wants w = r.conn.wants();
      if (w.close || w.deadline == time_point::max()) break;
      r.now = std::max(r.now, w.deadline);
      r.context.set_time(r.now);
      r.conn.on_timer(r.now);
    }
    r.drain(rng);
    check_output(r);
    r.handler.pending.clear();
    r.handler.streams.clear();
    r.conn.abort();
    TAUT_FUZZ_CHECK(r.conn.outstanding_writers() == 0);
    TAUT_FUZZ_CHECK(r.pool.in_use() == 0, "blocks still lent out after the connection ended");
    TAUT_FUZZ_CHECK(r.context.states_in_use() == 0);
  }
  return 0;
}
