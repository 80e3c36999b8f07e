// A model-based test of the sans-I/O connection (RapidCheck's rc::state). Random command sequences
// drive taut::connection through its public API only: requests (valid, invalid, pipelined, with
// Expect: 100-continue, with bodies that contain a whole request) written in random pieces;
// handlers that answer at once, later, streamed, closing, dropped, or from outside any connection
// call; time moving up to, just before and past every deadline; the peer half-closing or
// resetting; a graceful shutdown; the client reading all, part or none of the output; and a new
// connection on the same context once one has closed. After every command the connection is
// compared with a small reference model of HTTP/1.1 connection semantics, written from RFC 9112
// and the documented connection_options:
//   - the handler sees exactly the requests the client sent, in order, once each, with their
//     bodies: no body byte is ever read as a request;
//   - the client reads one final response per request, in request order, each the one the model
//     expects (the handler's, or 400, 408, 413, 500), and nothing after a response that closes;
//   - keep-alive per RFC 9112 section 9.3 (HTTP/1.0 persists only with keep-alive, `close`
//     closes, errors close), and no request processed once a response is known to close, sent
//     or not (section 9.6);
//   - pipelined requests are processed in parallel only if all have safe methods (section
//     9.3.2): a POST's handler never starts while an earlier response is unfinished, nor any
//     handler while an earlier POST's response is (checked by the handler itself too); a whole
//     head that waits is not read past, times nothing out and survives the client's EOF; and no
//     handler starts inside a writer call made outside the connection's calls;
//   - every deadline (header, body, idle, write, linger) acts at its time and not before;
//   - what the connection wants (read, write, shut down, close) is what the model expects, so a
//     write from a detached writer is flushed at once; a writer works exactly while its response
//     is owed;
//   - once a connection has ended and its writers are gone, every block is back in its pool.
// Not covered: upgrades and CONNECT, send_file, and back-pressure (the runs stay below
// max_pipeline_depth and max_output_bytes, so when the connection reads is fully determined).
//
// Known defects of the connection are tolerated by the tolerate_... flags below, each with a
// disabled regression test in test_connection_model_regressions.cpp.
//
// Runs bounded in ctest (label model); TAUT_MODEL_TEST_RUNS sets the number of sequences (CI runs
// more); RC_PARAMS applies as usual (seed, max_size, reproduce).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "taut/buffer_pool.hpp"
#include "taut/connection.hpp"
#include "taut/date_cache.hpp"
#include "taut/http_chars.hpp"
#include "taut/parser.hpp"

namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;
using time_point = taut::connection::time_point;

// Distinct timeouts, so that a timer mistaken for another shows.
constexpr ms header_timeout = 5s;
constexpr ms body_timeout = 7s;
constexpr ms idle_timeout = 11s;
constexpr ms write_timeout = 13s;
constexpr ms linger_timeout = 3s;
constexpr std::uint64_t max_body_bytes = 200;
constexpr std::uint64_t max_discard_bytes = 100;
// Fewer requests than max_pipeline_depth (16) and far less output than max_output_bytes: the
// connection never stops reading for back-pressure, so when it reads is fully determined.
constexpr std::size_t max_requests_per_run = 10;

taut::connection_options model_options() {
  taut::connection_options options;
  options.header_timeout = header_timeout;
  options.body_timeout = body_timeout;
  options.idle_timeout = idle_timeout;
  options.write_timeout = write_timeout;
  options.linger_timeout = linger_timeout;
  options.max_body_bytes = max_body_bytes;
  options.max_discard_bytes = max_discard_bytes;
  return options;
}

// A body that contains a whole request: if any of it were read as a request, the handler would
// see id 99.
constexpr std::string_view smuggled = "GET /99/bi HTTP/1.1\r\nHost: example.com\r\n\r\n";

// DEFECT 2 of issue 12, fixed: an error response the connection writes itself to a HEAD request
// carried a body. While true, the check would read such a response as an answer to GET.
constexpr bool tolerate_head_error_body = false;
// DEFECT 5 of issue 12, fixed: an answer to a request whose body (over max_discard_bytes) was
// read whole, buffered or streamed, closed the connection. While true the model expects that.
constexpr bool tolerate_consumed_body_close = false;
// Found by this test and fixed: once a response with `Connection: close` was sent while its body
// was still being written (close_after() then begin(), or begin() for HTTP/1.0), the connection
// went on reading and handing pipelined requests to the handler, whose answers were then dropped.
// RFC 9112 section 9.6: the server MUST NOT process further requests. While true the model
// expects the old behaviour.
constexpr bool tolerate_reading_after_close_sent = false;
// Fixed with it: a request pipelined behind an unfinished response known to close (its handler
// called close_after(), began a body that ends with the close, or dropped its writer mid-body)
// still started when the methods allowed, and its answer was dropped. While true the model
// expects that (only a closing head sent at the front stops reading).
constexpr bool tolerate_request_behind_close = false;

// ----- requests ---------------------------------------------------------------------------------

/// How the handler takes the body (the target's first letter after the id).
enum class delivery : char { buffer = 'b', stream = 's', discard = 'd' };
/// How the handler answers (the target's second letter).
enum class reply : char {
  immediate = 'i',       // send() inside the handler call
  deferred = 'd',        // send() on the first tick, outside any connection call
  streamed = 's',        // begin() and a piece inside the call; a piece, then finish(), on ticks
  detached = 't',        // nothing inside the call; begin(6) and "ab", "cd", "ef" on three ticks
  close_after = 'c',     // close_after() and send() inside the call
  closing_stream = 'u',  // close_after(), begin() and a piece inside the call; as streamed after
  drop = 'x',            // the writer is dropped unanswered: 500
  throws = 'e',          // on_request() throws: 500, and the connection closes after it
  abandon = 'a',         // begin(4) and a piece inside the call; the writer dropped on a tick
};
/// What makes an invalid request invalid.
enum class flaw : std::uint8_t { none, bad_field_name, missing_host, duplicate_length, tls_hello };

struct request_spec {
  int id = 0;
  taut::method method = taut::method::get;
  int minor = 1;
  int connection_option = 0;  // 0 none, 1 close, 2 keep-alive
  delivery mode = delivery::buffer;
  reply how = reply::immediate;
  flaw invalid = flaw::none;
  bool chunked = false;
  bool expect_continue = false;  // Expect: 100-continue (HTTP/1.1 with a body)
  bool framed = false;           // Content-Length or Transfer-Encoding sent
  std::string body;
  std::string bytes;          // what the client sends
  std::size_t head_size = 0;  // bytes of the head within `bytes`
  std::size_t error_at = 0;   // invalid: the first byte no valid request could contain

  /// Whether the connection sees a body (Content-Length above 0, or chunked).
  [[nodiscard]] bool has_body() const { return chunked || !body.empty(); }
  /// RFC 9112 section 9.3: whether the request lets the connection persist.
  [[nodiscard]] bool persistent() const {
    return minor == 1 ? connection_option != 1 : connection_option == 2;
  }
};

std::string method_name(taut::method m) {
  switch (m) {
    case taut::method::head:
      return "HEAD";
    case taut::method::post:
      return "POST";
    default:
      return "GET";
  }
}

void show_request(std::ostream& os, const request_spec& r) {
  os << "request " << r.id << ": ";
  std::string shown;
  for (char c : r.bytes) {
    if (c == '\r') {
      shown += "\\r";
    } else if (c == '\n') {
      shown += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      shown += "\\x";
      shown += hex[(static_cast<unsigned char>(c) >> 4) & 15];
      shown += hex[static_cast<unsigned char>(c) & 15];
    } else {
      shown += c;
    }
  }
  os << '"' << shown << '"';
}

/// A random request (called inside a RapidCheck generator: it draws with operator*).
request_spec make_request(int id) {
  const auto pick = [&](int n) { return *rc::gen::inRange(0, n); };
  request_spec r;
  r.id = id;
  const std::string sid = std::to_string(id);
  if (pick(8) == 0) {
    r.invalid = static_cast<flaw>(1 + pick(4));
    r.method = pick(2) == 0 ? taut::method::get : taut::method::head;
    const std::string line = method_name(r.method) + " /" + sid + "/bi HTTP/1.1\r\n";
    switch (r.invalid) {
      case flaw::bad_field_name:
        r.bytes = line + "Host: example.com\r\nBad Field: x\r\n\r\n";
        r.error_at = r.bytes.find("Bad Field") + 3;
        break;
      case flaw::missing_host:
        r.bytes = line + "X-A: 1\r\n\r\n";
        r.error_at = r.bytes.size() - 2;
        break;
      case flaw::duplicate_length:
        r.bytes = line + "Host: example.com\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        r.error_at = r.bytes.find("Length: 2") + 8;
        break;
      case flaw::tls_hello:
      case flaw::none:
        r.invalid = flaw::tls_hello;
        r.method = taut::method::get;  // what the client reads the answer as
        r.bytes = std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11) + "\r\n\r\n";
        r.error_at = 0;
        break;
    }
    r.head_size = r.bytes.size();
    return r;
  }
  static constexpr taut::method methods[] = {taut::method::get, taut::method::head,
                                             taut::method::post, taut::method::post};
  r.method = methods[pick(4)];
  r.minor = pick(4) == 0 ? 0 : 1;
  r.connection_option = pick(5) == 0 ? 1 : (pick(2) == 0 ? 2 : 0);
  static constexpr delivery modes[] = {delivery::buffer, delivery::stream, delivery::discard};
  static constexpr reply replies[] = {
      reply::immediate,   reply::immediate, reply::deferred, reply::streamed,       reply::detached,
      reply::close_after, reply::drop,      reply::throws,   reply::closing_stream, reply::abandon};
  r.mode = modes[pick(3)];
  r.how = replies[pick(10)];
  // A body cut short is no body to HEAD: whether the connection closes after it is its choice.
  if (r.method == taut::method::head && r.how == reply::abandon) r.how = reply::deferred;
  if (r.method == taut::method::post) {
    r.framed = true;
    r.chunked = r.minor == 1 && pick(2) == 0;
    // Chunked bodies stay within both limits (their excess is found byte by byte, which this
    // model does not track); Content-Length bodies cross them.
    const int length = r.chunked ? pick(static_cast<int>(max_discard_bytes) + 1)
                                 : pick(static_cast<int>(max_body_bytes) + 61);
    if (length >= static_cast<int>(smuggled.size()) && pick(2) == 0) r.body = smuggled;
    while (r.body.size() < static_cast<std::size_t>(length)) {
      r.body += static_cast<char>('a' + static_cast<char>(r.body.size() % 26));
    }
  }
  std::string head = method_name(r.method) + " /" + sid + "/" + static_cast<char>(r.mode) +
                     static_cast<char>(r.how) + " HTTP/1." + std::to_string(r.minor) +
                     "\r\nHost: example.com\r\n";
  if (r.connection_option == 1) head += "Connection: close\r\n";
  if (r.connection_option == 2) head += "Connection: keep-alive\r\n";
  r.expect_continue = r.minor == 1 && r.has_body() && pick(4) == 0;
  if (r.expect_continue) head += "Expect: 100-continue\r\n";
  std::string encoded;
  if (r.framed) {
    if (r.chunked) {
      head += "Transfer-Encoding: chunked\r\n";
      std::size_t at = 0;
      const std::size_t piece = 1 + static_cast<std::size_t>(pick(40));
      while (at < r.body.size()) {
        const std::size_t n = std::min(piece, r.body.size() - at);
        static constexpr char hex[] = "0123456789abcdef";
        std::string size;
        for (std::size_t v = n; v > 0; v /= 16) size.insert(size.begin(), hex[v % 16]);
        encoded += size + "\r\n" + r.body.substr(at, n) + "\r\n";
        at += n;
      }
      encoded += "0\r\n\r\n";
    } else {
      head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
      encoded = r.body;
    }
  }
  head += "\r\n";
  r.head_size = head.size();
  r.bytes = head + encoded;
  return r;
}

// ----- the reference model ----------------------------------------------------------------------

enum class life : std::uint8_t { open, closing, lingering, closed };

/// What the head of a response says about the connection.
enum class head_says : std::uint8_t { unwritten, keep, close };

/// One response the connection owes, in request order.
struct entry {
  std::size_t request = 0;   // index into model::requests
  int status = 0;            // 0 while the handler has not chosen
  bool handler = false;      // the handler's answer: carries X-Id
  bool method_known = true;  // the server had received the request's method when it answered
  bool started = false;      // the head is being written (or was)
  bool continued = false;    // a 100 Continue was written first
  bool complete = false;
  bool buffered = false;     // bytes written while behind another response
  bool close = false;        // the connection closes after it
  bool truncated = false;    // its body was cut short (a writer dropped mid-body)
  bool writer_gone = false;  // the handler dropped its writer
  head_says head = head_says::unwritten;
  int ticks = 0;
};

struct model {
  int connections = 1;  // connections opened in this run (one at a time)
  std::vector<request_spec> requests;
  std::vector<std::size_t> begins;  // offset of each request in the client's byte stream
  std::size_t sent = 0;             // bytes the client queued
  std::size_t delivered = 0;        // bytes the client wrote to the connection
  std::vector<entry> entries;
  std::size_t advanced = 0;  // entries wholly handed to the output (or dropped)
  std::size_t dropped_from = static_cast<std::size_t>(-1);  // entries from here never sent
  std::vector<int> heads;       // request ids given to on_head, in order
  std::vector<int> dispatched;  // request ids given to on_request, in order
  std::size_t cursor = 0;       // the request being read
  bool in_body = false;
  bool held = false;       // the head at the cursor is whole and waits for earlier answers
  int waits = 0;           // heads that waited (for the statistics)
  bool stopped = false;    // reads no more requests
  bool last_body = false;  // reads the body in progress to its end, and then no more requests
  life state = life::open;
  bool eof_sent = false;
  bool eof_seen = false;
  bool shutting_down = false;  // begin_shutdown() was called
  bool output = false;         // output not yet taken by the client
  bool output_lost = false;    // closed with output never sent
  bool one_byte_left = false;
  bool idle_armed = true;
  time_point now = time_point{} + 1000s;
  // The start of the read timer: the connection's start (first head); the first byte of a later
  // head, or the end of the request before it if that came later; the head of a buffered body;
  // the last bytes of a streamed or discarded body; the moment the connection went idle.
  time_point read_since = now;
  time_point write_since = now;
  time_point linger_since = now;

  [[nodiscard]] bool reading() const { return state == life::open && !stopped && !eof_seen; }
  [[nodiscard]] bool unconsumed() const {
    return cursor < requests.size() ? delivered > begins[cursor] : false;
  }
  [[nodiscard]] std::optional<std::size_t> entry_of(std::size_t request) const {
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].request == request) return i;
    }
    return std::nullopt;
  }
  /// Whether the writer of this request's response still works.
  [[nodiscard]] bool writer_alive(std::size_t e) const {
    return state != life::closed && e < dropped_from && !entries[e].complete;
  }

  /// RFC 9112 section 9.3.2: whether request `request` (whose head is whole) must wait for the
  /// unfinished responses before it: unless it and they all have safe methods.
  [[nodiscard]] bool must_wait(std::size_t request) const {
    const bool safe = requests[request].method != taut::method::post;
    for (std::size_t e = advanced; e < entries.size() && e < dropped_from; ++e) {
      if (entries[e].complete) continue;
      if (!safe || requests[entries[e].request].method == taut::method::post) return true;
    }
    return false;
  }

  [[nodiscard]] time_point read_deadline() const {
    if (!reading() || held) return time_point::max();
    if (in_body) return read_since + body_timeout;
    if (unconsumed() || heads.empty()) return read_since + header_timeout;
    if (advanced == entries.size() && !output) return read_since + idle_timeout;
    return time_point::max();  // waiting for its own responses, not for the client
  }
  [[nodiscard]] time_point deadline() const {
    switch (state) {
      case life::closed:
        return time_point::max();
      case life::lingering:
        return linger_since + linger_timeout;
      case life::closing:
      case life::open:
        break;
    }
    return std::min(read_deadline(), output ? write_since + write_timeout : time_point::max());
  }

  // --- output ---

  void produce(std::size_t e, bool bytes) {
    entries[e].started = true;
    if (bytes) emit(e);
    if (e == advanced) close_known();
  }
  /// Bytes for entry `e`: out at once when it is the front response, held back otherwise.
  void emit(std::size_t e) {
    if (e == advanced) {
      show_output();
    } else {
      entries[e].buffered = true;
    }
  }
  /// An interim 100 Continue for entry `e`, before its final response.
  void continue_(std::size_t e) {
    entries[e].continued = true;
    emit(e);
  }
  /// RFC 9112 section 9.6: once the connection knows that a response will close it (sent or
  /// not, at the front or behind unfinished ones), no further request is processed. The request
  /// whose own answer is the closing one is still read to its end (a handler may answer an
  /// upload as it reads it); any other request in progress is given up.
  void close_known() {
    if (!reading()) return;
    for (std::size_t e = advanced; e < entries.size(); ++e) {
      const entry& x = entries[e];
      if (tolerate_request_behind_close &&
          (x.head != head_says::close || e != advanced || !x.started)) {
        continue;
      }
      if (tolerate_reading_after_close_sent && e == advanced) continue;
      if (!x.close) continue;
      if (x.request == cursor && cursor < requests.size()) {
        last_body = true;
      } else {
        stop_reading();
      }
      return;
    }
  }
  void show_output() {
    if (!output) write_since = now;
    output = true;
    one_byte_left = false;
  }
  void write_head(std::size_t e) {
    entry& x = entries[e];
    const request_spec& r = requests[x.request];
    const bool large = r.has_body() && !r.chunked && r.body.size() > max_discard_bytes;
    // The last entry is the request whose body the connection reads (or read last).
    if (e + 1 == entries.size() && r.mode == delivery::discard && (large || r.expect_continue)) {
      // Nobody reads this body: one too large to drain, or one the client may never send (it
      // awaits 100 Continue), closes the connection after the answer.
      x.close = true;
    }
    if (tolerate_consumed_body_close && e + 1 == entries.size() && large &&
        !(in_body && cursor == x.request)) {
      // KNOWN DEFECT 5 (issue 12, connection engineer): a body read to its end (buffered, or
      // streamed to a sink) but larger than max_discard_bytes is treated as undrained, and the
      // answer written before the next request arrives closes the connection.
      x.close = true;
    }
    if (x.head == head_says::unwritten) x.head = x.close ? head_says::close : head_says::keep;
  }
  void complete(std::size_t e, int status, bool bytes) {
    entries[e].status = status;
    write_head(e);
    produce(e, bytes);
    entries[e].complete = true;
    advance_front();
  }
  void advance_front() {
    while (advanced < entries.size() && advanced < dropped_from && entries[advanced].complete) {
      entry& x = entries[advanced];
      if (std::exchange(x.buffered, false)) show_output();
      ++advanced;
      if (x.close) {
        dropped_from = advanced;
        advanced = entries.size();
        stop_reading();
        break;
      }
      if (advanced < entries.size() && std::exchange(entries[advanced].buffered, false)) {
        show_output();  // the next response's bytes so far follow at once
      }
      close_known();
    }
  }
  /// A response the connection writes itself (400, 408, 413, 500).
  void error(std::size_t e, int status) {
    entries[e].close = entries[e].close || status != 500;
    entries[e].handler = false;
    complete(e, status, true);
  }

  // --- reading ---

  void stop_reading() {
    if (stopped) return;
    stopped = true;
    in_body = false;
    held = false;
    if (advanced < entries.size()) entries.back().close = true;
  }

  std::size_t new_entry(std::size_t request) {
    entry x;
    x.request = request;
    x.close = !requests[request].persistent() || shutting_down;
    entries.push_back(x);
    return entries.size() - 1;
  }

  /// The handler's answer becomes due (on_request, or the end of a streamed body).
  void answer(std::size_t e) {
    const request_spec& r = requests[entries[e].request];
    switch (r.how) {
      case reply::immediate:
        entries[e].handler = true;
        complete(e, 200, true);
        break;
      case reply::close_after:
        entries[e].handler = true;
        entries[e].close = true;
        complete(e, 200, true);
        break;
      case reply::drop:
        error(e, 500);
        break;
      case reply::throws:
        entries[e].close = true;
        error(e, 500);
        stop_reading();
        break;
      case reply::streamed:
        entries[e].handler = true;
        entries[e].status = 200;  // chunked for HTTP/1.1, a Content-Length of 4 for HTTP/1.0
        write_head(e);
        produce(e, true);
        break;
      case reply::abandon:
        entries[e].handler = true;
        entries[e].status = 200;
        write_head(e);
        produce(e, true);
        break;
      case reply::closing_stream:
        entries[e].handler = true;
        entries[e].status = 200;
        entries[e].close = true;
        write_head(e);
        produce(e, true);
        break;
      case reply::deferred:
      case reply::detached:
        entries[e].handler = true;
        break;
    }
  }

  /// Reads what was delivered, as far as the connection goes.
  void read_input() {
    close_known();
    read_requests();
    close_known();  // a request just handled may be the one whose answer closes
  }
  void read_requests() {
    while (reading() && cursor < requests.size()) {
      const request_spec& r = requests[cursor];
      const std::size_t begin = begins[cursor];
      if (!in_body) {
        if (r.invalid != flaw::none) {
          if (delivered < begin + r.bytes.size()) return;
          error(new_entry(cursor), 400);
          stop_reading();
          return;
        }
        if (delivered < begin + r.head_size) return;
        close_known();
        if (!reading()) return;
        if (must_wait(cursor)) {
          if (!held) ++waits;
          held = true;
          return;
        }
        held = false;
        heads.push_back(r.id);
        const std::size_t e = new_entry(cursor);
        if (r.has_body() && !r.chunked && r.body.size() > max_body_bytes) {
          error(e, 413);
          stop_reading();
          return;
        }
        read_since = now;
        if (!r.has_body()) {
          dispatched.push_back(r.id);
          answer(e);
          ++cursor;
          if (!r.persistent() || shutting_down || last_body) stop_reading();
          continue;
        }
        if (r.mode == delivery::buffer) {
          if (r.expect_continue) continue_(e);
          in_body = true;
          continue;
        }
        dispatched.push_back(r.id);
        if (r.how == reply::throws) {
          answer(e);  // before a sink is attached or the body is read
          return;
        }
        if (r.mode == delivery::discard) {
          answer(e);
          if ((!r.chunked && r.body.size() > max_discard_bytes) || r.expect_continue) {
            // Too large to drain, or awaited with 100 Continue: closes after the answer.
            entries[e].close = true;
            stop_reading();
            return;
          }
        } else if (r.expect_continue) {
          continue_(e);  // a sink is attached: the body is wanted
        }
        in_body = true;
        continue;
      }
      if (delivered < begin + r.bytes.size()) return;
      // The body is complete.
      in_body = false;
      const std::size_t e = *entry_of(cursor);
      if (r.mode == delivery::buffer) {
        dispatched.push_back(r.id);
        answer(e);
      } else if (r.mode == delivery::stream) {
        answer(e);
      }
      ++cursor;
      if (!r.persistent() || shutting_down || last_body) {
        stop_reading();
      } else {
        read_since = now;
      }
    }
  }

  /// Brings the model to rest after a step, as the connection does after every call.
  void settle() {
    if (state == life::open && stopped && advanced == entries.size()) state = life::closing;
    if (state == life::closing && !output) {
      if (eof_seen || eof_sent) {
        state = life::closed;  // a lingering connection reads the peer's EOF at once
      } else {
        state = life::lingering;
        linger_since = now;
      }
    }
    const bool idle = state == life::open && !stopped && !eof_seen && !unconsumed() && !in_body &&
                      advanced == entries.size() && !output;
    if (idle && !idle_armed && !heads.empty()) read_since = now;
    if (idle) idle_armed = true;
  }

  void deliver(std::size_t bytes) {
    if (bytes == 0) return;
    if (reading()) {
      const bool was_empty = !unconsumed();
      if (!in_body && was_empty && !heads.empty()) read_since = now;
      if (in_body && requests[cursor].mode != delivery::buffer) read_since = now;
      idle_armed = false;
    }
    delivered += bytes;
    read_input();
    settle();
  }

  void half_close() {
    eof_sent = true;
    if (state == life::lingering) state = life::closed;  // what lingering waited for
    see_eof();
    settle();
  }

  /// The connection reads the client's EOF once it reads again: not while a head waits.
  void see_eof() {
    if (state == life::open && !stopped && !held && !eof_seen) {
      eof_seen = true;
      if (in_body) {
        // The body is cut short: 400 if nobody answered yet.
        const std::size_t e = *entry_of(cursor);
        if (!entries[e].started && !entries[e].complete &&
            requests[cursor].mode != delivery::discard) {
          error(e, 400);
        } else {
          entries[e].close = true;
        }
      }
      stop_reading();
    }
  }

  /// A waiting head starts if its turn has come (then what was delivered after it is read, and
  /// an EOF that waited behind it).
  void release_held() {
    if (!held || !reading()) return;
    held = false;
    read_input();
    if (eof_sent) see_eof();
  }

  /// Graceful shutdown: the request in flight is finished and answered with `close`, and nothing
  /// more is read; an idle connection lingers (a request may be on the wire). A partial head
  /// with nothing before it gets linger_timeout more at most.
  void begin_shutdown() {
    shutting_down = true;
    if (state == life::open && !stopped) {
      if (!in_body && !unconsumed()) {
        stop_reading();
      } else if (!in_body && !held && advanced == entries.size() && reading() &&
                 delivered < begins[cursor] + requests[cursor].head_size) {
        if (read_since + header_timeout > now + linger_timeout) {
          read_since = now + linger_timeout - header_timeout;
        }
      } else if (held) {
        // A whole head waiting for its turn is in flight too: it is answered, with `close`.
      } else if (advanced < entries.size()) {
        // The last response says `close`: a partial head behind it is dropped (section 9.6).
        entries.back().close = true;
        close_known();
      }
    }
    settle();
  }

  void reset() {
    if (state != life::closed && output) output_lost = true;
    state = life::closed;
    output = false;
  }

  void close_now() {
    if (output) output_lost = true;
    state = life::closed;
    output = false;
  }

  /// Handles every deadline at or before now, as on_timer() does.
  void on_timer() {
    for (int round = 0; round < 4; ++round) {
      if (state == life::closed) return;
      if (state == life::lingering) {
        if (now >= linger_since + linger_timeout) close_now();
        return;
      }
      if (output && now >= write_since + write_timeout) {
        close_now();  // the peer stopped taking our bytes
        return;
      }
      if (!reading() || now < read_deadline()) return;
      if (in_body) {
        const std::size_t e = *entry_of(cursor);
        const request_spec& r = requests[cursor];
        if (r.mode != delivery::discard && !entries[e].started && !entries[e].complete) {
          error(e, 408);
        } else {
          entries[e].close = true;
        }
        stop_reading();
      } else if (unconsumed()) {
        const std::size_t e = new_entry(cursor);
        const request_spec& r = requests[cursor];
        entries[e].method_known = r.invalid != flaw::tls_hello &&
                                  delivered - begins[cursor] > method_name(r.method).size();
        error(e, 408);
        stop_reading();
      } else {
        close_now();  // idle, or a new connection that never sent a byte
        return;
      }
      settle();
    }
  }

  void drained_all() {
    output = false;
    one_byte_left = false;
    settle();
  }
  void drained_part() {
    if (!output) return;
    if (!one_byte_left) write_since = now;  // progress
    one_byte_left = true;
  }

  /// A tick of the handler's script for request index `request`.
  void tick(std::size_t request) {
    const auto found = entry_of(request);
    if (!found) return;
    const std::size_t e = *found;
    entry& x = entries[e];
    if (requests[request].how == reply::abandon) x.writer_gone = true;
    if (!writer_alive(e)) return;
    const request_spec& r = requests[request];
    const bool body = r.method != taut::method::head;
    switch (r.how) {
      case reply::deferred:
        complete(e, 200, true);
        break;
      case reply::streamed:
      case reply::closing_stream:
        // A piece, then finish(): the last chunk for HTTP/1.1; nothing for a Content-Length
        // (streamed, HTTP/1.0) or a body that ends with the close (closing_stream, HTTP/1.0).
        if (x.ticks++ == 0) {
          produce(e, body);
        } else {
          complete(e, 200, body && r.minor == 1);
        }
        break;
      case reply::abandon:
        // The writer is dropped with 2 of its 4 bytes written: the client sees the body cut
        // short, then the close.
        ++x.ticks;
        x.close = true;
        x.truncated = true;
        complete(e, 200, false);
        break;
      case reply::detached:
        if (x.ticks++ == 0) {
          x.status = 200;
          write_head(e);
          produce(e, true);
        } else if (x.ticks == 2) {
          produce(e, body);
        } else {
          complete(e, 200, body);
        }
        break;
      default:
        break;
    }
    close_known();   // nothing starts behind a response now known to close
    release_held();  // at the owner's next call, which the connection asks for at once
    settle();
  }

  /// Requests whose handler script still has ticks to run.
  [[nodiscard]] std::vector<std::size_t> tickable() const {
    std::vector<std::size_t> out;
    for (std::size_t e = 0; e < entries.size(); ++e) {
      const request_spec& r = requests[entries[e].request];
      if (!entries[e].handler || entries[e].complete || entries[e].writer_gone) continue;
      if (r.how != reply::deferred && r.how != reply::streamed && r.how != reply::detached &&
          r.how != reply::closing_stream && r.how != reply::abandon) {
        continue;
      }
      // A streamed body's answer is due only at the body's end.
      if (std::find(dispatched.begin(), dispatched.end(), r.id) == dispatched.end()) continue;
      if (r.mode == delivery::stream && r.has_body() && in_body && cursor == entries[e].request) {
        continue;
      }
      out.push_back(entries[e].request);
    }
    return out;
  }
};

// ----- the system under test
// ----------------------------------------------------------------------

/// The handler: follows each request's script (read from its target) and records what it sees.
class scripted_handler final : public taut::request_handler {
 public:
  struct sink final : taut::body_sink {
    scripted_handler* owner = nullptr;
    int id = 0;
    std::string data;
    taut::response_writer writer;
    void on_body_data(std::string_view piece) override { data += piece; }
    void on_body_end(std::span<const taut::header>) override {
      owner->check_body(id, data);
      owner->answer(id, std::move(writer));
    }
    void on_body_error(std::error_code) override {}
  };

  const std::vector<request_spec>* specs = nullptr;
  std::vector<int> heads;
  std::vector<int> dispatched;
  std::vector<std::string> problems;  // checked after every command (a throw here is swallowed)
  std::map<int, taut::response_writer> writers;
  std::map<int, std::unique_ptr<sink>> sinks;

  const request_spec* spec(int id) const {
    for (const request_spec& r : *specs) {
      if (r.id == id) return &r;
    }
    return nullptr;
  }
  static int id_of(std::string_view target) {
    int id = 0;
    for (std::size_t i = 1; i < target.size() && target[i] != '/'; ++i) {
      id = id * 10 + (target[i] - '0');
    }
    return id;
  }

  taut::body_mode on_head(taut::server_request& request) override {
    const int id = id_of(request.target());
    heads.push_back(id);
    const request_spec* r = spec(id);
    if (r == nullptr) {
      problems.push_back("on_head for a request never sent: " + std::string(request.target()));
      return taut::body_mode::buffer;
    }
    // RFC 9112 section 9.3.2, as the handler sees it: a request starts while an earlier
    // response is unfinished (its writer still valid) only if both have safe methods.
    for (const auto& [other, writer] : writers) {
      if (other >= id || !writer.valid()) continue;
      if (r->method == taut::method::post || spec(other)->method == taut::method::post) {
        problems.push_back("request " + std::to_string(id) + " started while request " +
                           std::to_string(other) + " was unanswered");
      }
    }
    switch (r->mode) {
      case delivery::stream:
        return taut::body_mode::stream;
      case delivery::discard:
        return taut::body_mode::discard;
      case delivery::buffer:
        break;
    }
    return taut::body_mode::buffer;
  }

  void on_request(taut::server_request& request, taut::response_writer writer) override {
    const int id = id_of(request.target());
    dispatched.push_back(id);
    const request_spec* r = spec(id);
    if (r == nullptr) {
      problems.push_back("on_request for a request never sent: " + std::string(request.target()));
      return;
    }
    if (r->mode == delivery::buffer) check_body(id, std::string(request.body()));
    if (r->how == reply::throws) throw std::runtime_error("a failing handler");
    if (r->mode == delivery::stream && r->has_body()) {
      auto s = std::make_unique<sink>();
      s->owner = this;
      s->id = id;
      if (!request.stream_body(*s)) {
        problems.push_back("stream_body refused for request " + std::to_string(id));
        return;
      }
      s->writer = std::move(writer);
      sinks[id] = std::move(s);
      return;
    }
    answer(id, std::move(writer));
  }

  void check_body(int id, const std::string& body) {
    const request_spec* r = spec(id);
    if (r != nullptr && body != r->body) {
      problems.push_back("request " + std::to_string(id) + " got body \"" + body + "\"");
    }
  }

  void answer(int id, taut::response_writer w) {
    const request_spec& r = *spec(id);
    const std::string sid = std::to_string(id);
    bool ok = true;
    switch (r.how) {
      case reply::immediate:
        ok = w.set_status(200) && w.add_header("X-Id", sid) && w.send(sid);
        break;
      case reply::close_after:
        w.close_after();
        ok = w.set_status(200) && w.add_header("X-Id", sid) && w.send(sid);
        break;
      case reply::drop:
      case reply::throws:  // thrown in on_request()
        return;
      case reply::streamed:
        ok = w.add_header("X-Id", sid) && (r.minor == 1 ? w.begin() : w.begin(4)) && w.write("s0");
        writers[id] = std::move(w);
        break;
      case reply::abandon:
        ok = w.add_header("X-Id", sid) && w.begin(4) && w.write("s0");
        writers[id] = std::move(w);
        break;
      case reply::closing_stream:
        w.close_after();
        ok = w.add_header("X-Id", sid) && w.begin() && w.write("s0");
        writers[id] = std::move(w);
        break;
      case reply::deferred:
      case reply::detached:
        writers[id] = std::move(w);
        break;
    }
    if (!ok) problems.push_back("a writer call failed inside the handler for request " + sid);
  }

  /// One step of a request's script, outside any connection call. Returns whether every writer
  /// call succeeded; nullopt when the handler holds no writer for it.
  std::optional<bool> tick(int id, int step) {
    const auto found = writers.find(id);
    if (found == writers.end()) return std::nullopt;
    taut::response_writer& w = found->second;
    const request_spec& r = *spec(id);
    const std::string sid = std::to_string(id);
    bool ok = true;
    switch (r.how) {
      case reply::deferred:
        ok = w.set_status(200) && w.add_header("X-Id", sid) && w.send(sid);
        break;
      case reply::streamed:
      case reply::closing_stream:
        ok = step == 0 ? w.write("s1") : w.finish();
        break;
      case reply::abandon:
        ok = w.valid();
        writers.erase(found);
        break;
      case reply::detached:
        if (step == 0) {
          ok = w.set_status(200) && w.add_header("X-Id", sid) && w.begin(6) && w.write("ab");
        } else if (step == 1) {
          ok = w.write("cd");
        } else {
          ok = w.write("ef") && w.finish();
        }
        break;
      default:
        break;
    }
    return ok;
  }
};

struct system {
  taut::block_pool pool{4096, 64};
  taut::date_cache date{std::chrono::system_clock::time_point(std::chrono::seconds(784111777))};
  scripted_handler handler;
  std::vector<request_spec> specs;
  std::unique_ptr<taut::connection_context> context;
  std::unique_ptr<taut::connection> conn;
  time_point now = time_point{} + 1000s;
  std::string client_stream;  // everything the client queued
  std::size_t written = 0;    // bytes the client wrote (into the "socket")
  std::size_t taken = 0;      // bytes the connection took from the socket
  bool eof_written = false;
  bool eof_taken = false;
  std::string received;            // everything the client read
  std::optional<model> last;       // the model after the last command, for the test's statistics
  std::size_t responses_read = 0;  // on this connection
  std::size_t responses_read_before = 0;  // on earlier ones
  std::string trace;

  system() {
    handler.specs = &specs;
    context = std::make_unique<taut::connection_context>(handler, pool, date, model_options());
    conn = std::make_unique<taut::connection>(*context, now);
  }
  ~system() {
    handler.sinks.clear();
    handler.writers.clear();
    conn->abort();
  }
  system(const system&) = delete;
  system& operator=(const system&) = delete;

  /// Offers the socket's bytes (and EOF) while the connection wants to read, as a loop would.
  void pump() {
    for (int i = 0; i < 64; ++i) {
      const taut::connection_wants w = conn->wants();
      if (!w.read) return;
      if (taken < written) {
        const std::size_t n =
            conn->receive(std::string_view(client_stream).substr(taken, written - taken), now);
        taken += n;
        if (n == 0) return;
        continue;
      }
      if (eof_written && !eof_taken) {
        eof_taken = true;
        conn->receive_eof(now);
        continue;
      }
      return;
    }
  }

  void drain(bool all) {
    std::array<std::string_view, 64> pieces{};
    std::size_t pending = 0;
    const std::size_t count = conn->output(pieces);
    for (std::size_t i = 0; i < count; ++i) pending += pieces[i].size();
    // A partial read leaves exactly one byte behind.
    const std::size_t take = all || pending == 0 ? pending : pending - 1;
    std::size_t left = take;
    for (std::size_t i = 0; i < count && left > 0; ++i) {
      const std::size_t n = std::min(left, pieces[i].size());
      received.append(pieces[i].substr(0, n));
      left -= n;
    }
    conn->commit_write(take, now);
    if (all && conn->wants().write) drain(true);  // more became due (a response behind it)
  }

  void run_timers() {
    for (int i = 0; i < 4; ++i) {
      if (now < conn->wants().deadline) return;
      conn->on_timer(now);
    }
  }
};

// ----- checks -----------------------------------------------------------------------------------

std::string printable(std::string_view bytes) {
  std::ostringstream os;
  request_spec r;
  r.bytes = std::string(bytes);
  show_request(os, r);
  return os.str().substr(std::string_view("request 0: ").size());
}

bool says_close(const taut::response& head) {
  for (const taut::header& f : head.headers) {
    if (!taut::chars::iequals(f.name, "connection")) continue;
    std::string_view list = f.value;
    while (true) {
      const std::size_t comma = list.find(',');
      if (taut::chars::iequals(taut::chars::trim_ows(list.substr(0, comma)), "close")) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return false;
}

std::string field(const taut::response& head, std::string_view name) {
  for (const taut::header& f : head.headers) {
    if (taut::chars::iequals(f.name, name)) return std::string(f.value);
  }
  return {};
}

/// One response read from the client's bytes.
struct read_response {
  enum class outcome : std::uint8_t { whole, partial, malformed } result = outcome::partial;
  int status = 0;
  bool closes = false;
  bool until_close = false;  // its body ended with the connection
  std::string id;
  std::size_t size = 0;
};

read_response read_one(std::string_view bytes, taut::method method, bool peer_done) {
  read_response out;
  std::array<taut::header, 32> storage{};
  taut::response_parser parser(storage);
  const taut::parse_result head = parser.parse(bytes, method);
  if (head.incomplete()) return out;
  out.result = read_response::outcome::malformed;
  if (!head.complete()) return out;
  const taut::response& resp = parser.response();
  out.status = resp.status;
  out.closes = !resp.keep_alive || says_close(resp);
  out.id = field(resp, "X-Id");
  std::array<taut::header, 8> trailer_storage{};
  taut::body_decoder decoder(resp.body, {}, trailer_storage);
  std::string_view after = bytes.substr(head.consumed);
  while (true) {
    const taut::body_result b = decoder.decode(after);
    if (b.status == taut::parse_status::error) return out;
    after.remove_prefix(b.consumed);
    if (b.status == taut::parse_status::complete) break;
    if (b.consumed == 0) {
      if (resp.body.kind != taut::body_kind::until_close || !peer_done) {
        out.result = read_response::outcome::partial;
        return out;
      }
      out.until_close = true;
      break;
    }
  }
  out.result = read_response::outcome::whole;
  out.size = bytes.size() - after.size();
  return out;
}

/// Whether entry `e` is the front response and the client already has all of it though the
/// handler has not finished: an answer to HEAD whose head is out.
bool head_only_front(const model& m, std::size_t e) {
  if (e != m.advanced || e >= m.entries.size() || e >= m.dropped_from || !m.entries[e].started) {
    return false;
  }
  const request_spec& r = m.requests[m.entries[e].request];
  // So is a streamed answer to HTTP/1.0 once its 4 bytes are out, before finish().
  return r.method == taut::method::head ||
         (r.how == reply::streamed && r.minor == 0 && m.entries[e].ticks >= 1);
}

/// Reads the client's bytes back and checks each final response against the model.
void check_responses(const model& m, system& s) {
  std::string_view rest = s.received;
  const bool peer_done = s.conn->wants().close || s.conn->wants().shutdown_write;
  std::size_t finals = 0;
  bool closing_seen = false;
  bool continue_read = false;
  bool early_whole = false;  // the last response read is whole before the model handed it over
  while (!rest.empty()) {
    RC_ASSERT_FALSE(closing_seen);  // nothing after a response that closes
    RC_ASSERT(finals < m.entries.size());
    const entry& expected = m.entries[finals];
    const request_spec& r = m.requests[expected.request];
    // The client reads the answer to a request whose method the server had not seen as an
    // answer to GET: a body is allowed there, not anywhere else in an answer to HEAD.
    const taut::method method = expected.method_known ? r.method : taut::method::get;
    read_response resp = read_one(rest, method, peer_done);
    if (tolerate_head_error_body && method == taut::method::head && !expected.handler &&
        resp.result == read_response::outcome::whole && rest.size() > resp.size &&
        !rest.substr(resp.size).starts_with("HTTP/")) {
      // KNOWN DEFECT 2 (issue 12, connection engineer): an error the connection writes itself
      // (400 to an invalid HEAD request, 408 to a partial one) carries a body although the
      // request was HEAD. Tolerated here until that fix lands; then set the flag to false.
      resp = read_one(rest, taut::method::get, peer_done);
    }
    if (resp.result == read_response::outcome::partial) return;
    if (resp.result == read_response::outcome::malformed) {
      RC_FAIL("the output does not read as responses: " + printable(s.received));
    }
    if (resp.status == 100 && expected.continued && !continue_read) {
      continue_read = true;  // the one 100 Continue a request with Expect: 100-continue may get
      rest.remove_prefix(resp.size);
      continue;
    }
    if (resp.status < 200) {
      RC_FAIL("an interim response nobody asked for: " + printable(s.received));
    }
    continue_read = false;
    // A whole final response: the one the model expects for this request.
    RC_LOG() << "response " << finals << " (request " << r.id << "): " << resp.status
             << (resp.closes ? " close" : "") << "\n";
    // Whole once handed to the output; an answer to HEAD is whole with its head.
    // (A body that ends with the close is whole to the client however it ends: a connection
    // closed mid-body, by a reset or the write timeout, cannot be told from its end.)
    const bool cut_at_close = resp.until_close && m.state == life::closed;
    RC_ASSERT(finals < m.advanced || head_only_front(m, finals) || cut_at_close);
    early_whole = finals >= m.advanced;
    if (expected.status == 0) RC_FAIL("a response the model does not expect yet");
    RC_ASSERT(resp.status == expected.status);
    if (expected.handler) RC_ASSERT(resp.id == std::to_string(r.id));
    switch (expected.head) {
      case head_says::close:
        RC_ASSERT(resp.closes);
        break;
      case head_says::keep:
        RC_ASSERT_FALSE(resp.closes);
        break;
      case head_says::unwritten:
        RC_FAIL("a response whose head the model has not written");
    }
    if (resp.closes) RC_ASSERT(expected.close);
    closing_seen = expected.close;
    rest.remove_prefix(resp.size);
    ++finals;
    s.responses_read = std::max(s.responses_read, finals);
  }
  // Everything handed to the output and taken by the client reads as whole responses.
  if (!m.output && !m.output_lost) {
    std::size_t handed = std::min(m.advanced, m.dropped_from);
    for (std::size_t e = 0; e < handed; ++e) {
      if (m.entries[e].truncated) handed = e;  // the client never has all of a cut-short body
    }
    RC_ASSERT(finals == handed || (finals == handed + 1 && early_whole));
  }
}

long long since_start(time_point t) {
  if (t == time_point::max()) return -1;
  return std::chrono::duration_cast<ms>(t - (time_point{} + 1000s)).count();
}

void check(const model& m, system& s) {
  s.last = m;
  RC_LOG() << "model: state " << static_cast<int>(m.state) << ", entries " << m.entries.size()
           << ", advanced " << m.advanced << ", output " << m.output << ", now "
           << since_start(m.now) << " ms\n";
  for (const std::string& problem : s.handler.problems) RC_FAIL(problem);
  RC_ASSERT(s.handler.heads == m.heads);
  RC_ASSERT(s.handler.dispatched == m.dispatched);
  const taut::connection_wants w = s.conn->wants();
  RC_ASSERT(w.close == (m.state == life::closed));
  if (w.close) RC_ASSERT(s.conn->holds_nothing());
  if (m.state != life::closed) {
    RC_ASSERT(w.write == m.output);
    RC_ASSERT(w.shutdown_write == (m.state == life::lingering));
    RC_ASSERT(w.read == ((m.reading() && !m.held) || m.state == life::lingering));
    // The connection asks to be woken no later than the model's next deadline.
    if (m.deadline() != time_point::max()) {
      RC_LOG() << "deadline: connection " << since_start(w.deadline) << " ms, model "
               << since_start(m.deadline()) << " ms\n";
      RC_ASSERT(w.deadline <= m.deadline());
    }
  }
  check_responses(m, s);
}

// ----- commands ---------------------------------------------------------------------------------

using command = rc::state::Command<model, system>;

/// Runs `apply` on a copy of the model, then checks the system against it.
template <typename Self>
void run_and_check(const Self& self, const model& before, system& s) {
  model after = self.nextState(before);
  if (std::getenv("TAUT_MODEL_TRACE") != nullptr) {
    std::ostringstream os;
    self.show(os);
    s.trace += os.str() + "\n";
  }
  self.act(before, s);
  check(after, s);
}

struct send_request final : command {
  request_spec request;
  explicit send_request(const model& m) {
    request = make_request(static_cast<int>(m.requests.size()) + 1);
  }
  void checkPreconditions(const model& m) const override {
    RC_PRE(m.requests.size() < max_requests_per_run && !m.eof_sent && m.state != life::closed);
    RC_PRE(request.id == static_cast<int>(m.requests.size()) + 1);
  }
  void apply(model& m) const override {
    m.begins.push_back(m.sent);
    m.sent += request.bytes.size();
    m.requests.push_back(request);
  }
  void act(const model&, system& s) const {
    s.specs.push_back(request);
    s.client_stream += request.bytes;
  }
  void run(const model& m, system& s) const override { run_and_check(*this, m, s); }
  void show(std::ostream& os) const override {
    os << "send ";
    show_request(os, request);
  }
};

/// How far the client may write in one piece: never into the middle of an invalid request's
/// invalid part (where whether the parser has judged it yet is the parser's business).
std::size_t delivery_limit(const model& m, std::size_t target) {
  for (std::size_t i = 0; i < m.requests.size(); ++i) {
    const request_spec& r = m.requests[i];
    if (r.invalid == flaw::none) continue;
    const std::size_t error = m.begins[i] + r.error_at;
    const std::size_t end = m.begins[i] + r.bytes.size();
    if (m.delivered <= error && target > error && target < end) return error;
    if (m.delivered > error && m.delivered < end) return end;
  }
  return target;
}

struct deliver final : command {
  std::size_t bytes = 0;
  explicit deliver(const model& m) {
    const std::size_t pending = m.sent - m.delivered;
    RC_PRE(pending > 0 && m.state != life::closed);
    const std::size_t want = *rc::gen::weightedOneOf<std::size_t>(
        {{1, rc::gen::just(pending)},
         {3, rc::gen::inRange<std::size_t>(1, pending + 1)},
         {1, rc::gen::inRange<std::size_t>(1, std::min<std::size_t>(pending, 4) + 1)}});
    bytes = delivery_limit(m, m.delivered + want) - m.delivered;
    if (bytes == 0) bytes = delivery_limit(m, m.sent) - m.delivered;
    RC_PRE(bytes > 0);
  }
  void checkPreconditions(const model& m) const override {
    RC_PRE(!m.eof_sent && m.delivered + bytes <= m.sent && m.state != life::closed);
    RC_PRE(delivery_limit(m, m.delivered + bytes) == m.delivered + bytes);
  }
  void apply(model& m) const override {
    if (m.state == life::closed) {
      m.delivered += bytes;
      return;
    }
    m.deliver(bytes);
  }
  void act(const model&, system& s) const {
    s.written += bytes;
    s.pump();
  }
  void run(const model& m, system& s) const override { run_and_check(*this, m, s); }
  void show(std::ostream& os) const override { os << "deliver " << bytes << " bytes"; }
};

struct drain final : command {
  bool all = true;
  explicit drain(const model& m) {
    RC_PRE(m.output);
    all = *rc::gen::inRange(0, 3) != 0;
  }
  void checkPreconditions(const model&) const override {}
  void apply(model& m) const override {
    if (m.state == life::closed) return;
    if (all) {
      m.drained_all();
    } else {
      m.drained_part();
    }
  }
  void act(const model& m, system& s) const {
    if (m.state == life::closed) return;
    s.drain(all);
    s.pump();
  }
  void run(const model& m, system& s) const override { run_and_check(*this, m, s); }
  void show(std::ostream& os) const override { os << (all ? "drain all" : "drain part"); }
};

struct tick final : command {
  std::size_t request = 0;
  explicit tick(const model& m) {
    const std::vector<std::size_t> due = m.tickable();
    RC_PRE(!due.empty());
    request = *rc::gen::elementOf(due);
  }
  void checkPreconditions(const model& m) const override {
    const std::vector<std::size_t> due = m.tickable();
    RC_PRE(std::find(due.begin(), due.end(), request) != due.end());
  }
  void apply(model& m) const override { m.tick(request); }
  void act(const model& m, system& s) const {
    const request_spec& r = m.requests[request];
    const auto e = m.entry_of(request);
    const bool alive = e.has_value() && m.writer_alive(*e);
    s.context->set_time(s.now);
    const std::size_t heads = s.handler.heads.size();
    const std::size_t dispatched = s.handler.dispatched.size();
    const std::optional<bool> ok = s.handler.tick(r.id, e ? m.entries[*e].ticks : 0);
    RC_ASSERT(ok.has_value());
    // A writer works while its response is owed, and does nothing once the connection is gone.
    RC_ASSERT(*ok == alive);
    // No handler runs inside a writer call made outside the connection's calls: a request whose
    // turn came waits for the owner's next call, which the connection asks for at once.
    RC_ASSERT(s.handler.heads.size() == heads);
    RC_ASSERT(s.handler.dispatched.size() == dispatched);
    if (s.conn->wants().deadline <= s.now) s.conn->on_timer(s.now);
    s.pump();
  }
  void run(const model& m, system& s) const override { run_and_check(*this, m, s); }
  void show(std::ostream& os) const override {
    os << "tick the handler of request " << request + 1;
  }
};

struct advance_time final : command {
  ms by{0};
  explicit advance_time(const model& m) {
    RC_PRE(m.state != life::closed);
    const time_point due = m.deadline();
    // Mostly small steps, so that sequences live long enough to do things; now and then to just
    // before the next deadline, to it, or just past it.
    std::vector<ms> choices = {1ms, 1ms, 10ms, 300ms, 300ms, 1000ms};
    if (due != time_point::max() && due > m.now) {
      const auto to_due = std::chrono::duration_cast<ms>(due - m.now);
      const int pick = *rc::gen::inRange(0, 10);
      if (pick == 0) choices = {to_due - 1ms, to_due, to_due + 1ms};
      if (pick == 1) choices = {to_due - 1ms};
    } else if (*rc::gen::inRange(0, 4) == 0) {
      choices = {20000ms};
    }
    by = *rc::gen::elementOf(choices);
    if (by <= 0ms) by = 1ms;
  }
  void checkPreconditions(const model& m) const override { RC_PRE(m.state != life::closed); }
  void apply(model& m) const override {
    m.now += by;
    m.on_timer();
    m.settle();
  }
  void act(const model&, system& s) const {
    s.now += by;
    s.context->set_time(s.now);
    s.run_timers();
    s.pump();
  }
  void run(const model& m, system& s) const override { run_and_check(*this, m, s); }
  void show(std::ostream& os) const override { os << "advance " << by.count() << " ms"; }
};

struct half_close final : command {
  explicit half_close(const model&) {
    RC_PRE(*rc::gen::inRange(0, 3) == 0);  // rarer than the other commands: it ends the run
  }
  void checkPreconditions(const model& m) const override {
    RC_PRE(!m.eof_sent && m.delivered == m.sent && m.state != life::closed && !m.requests.empty());
  }
  void apply(model& m) const override { m.half_close(); }
  void act(const model&, system& s) const {
    s.eof_written = true;
    s.pump();
  }
  void run(const model& m, system& s) const override { run_and_check(*this, m, s); }
  void show(std::ostream& os) const override { os << "half-close"; }
};

struct reset final : command {
  explicit reset(const model&) {
    RC_PRE(*rc::gen::inRange(0, 24) == 0);  // rarer than the other commands: it ends the run
  }
  void checkPreconditions(const model& m) const override {
    RC_PRE(m.state != life::closed && !m.requests.empty());
  }
  void apply(model& m) const override { m.reset(); }
  void act(const model&, system& s) const { s.conn->abort(); }
  void run(const model& m, system& s) const override { run_and_check(*this, m, s); }
  void show(std::ostream& os) const override { os << "reset"; }
};

/// The server shuts down gracefully (SIGTERM).
struct shutdown final : command {
  explicit shutdown(const model&) {
    RC_PRE(*rc::gen::inRange(0, 8) == 0);  // rarer than the other commands: it ends the run
  }
  void checkPreconditions(const model& m) const override {
    RC_PRE(m.state != life::closed && !m.shutting_down);
  }
  void apply(model& m) const override { m.begin_shutdown(); }
  void act(const model&, system& s) const {
    s.conn->begin_shutdown(s.now);
    s.pump();
  }
  void run(const model& m, system& s) const override { run_and_check(*this, m, s); }
  void show(std::ostream& os) const override { os << "begin shutdown"; }
};

/// After the connection closed: the client connects again (same context, pool and handler).
struct reconnect final : command {
  explicit reconnect(const model&) {}
  void checkPreconditions(const model& m) const override { RC_PRE(m.state == life::closed); }
  void apply(model& m) const override {
    model fresh;
    fresh.connections = m.connections + 1;
    fresh.now = fresh.read_since = fresh.write_since = fresh.linger_since = m.now;
    m = std::move(fresh);
  }
  void act(const model&, system& s) const {
    // However a connection ends, once its writers are gone every block and working state is
    // back in the pools.
    RC_ASSERT(s.conn->holds_nothing());
    s.handler.sinks.clear();
    s.handler.writers.clear();
    RC_ASSERT(s.conn->outstanding_writers() == 0u);
    RC_ASSERT(s.pool.in_use() == 0u);
    RC_ASSERT(s.context->states_in_use() == 0u);
    s.conn = std::make_unique<taut::connection>(*s.context, s.now);
    s.handler.heads.clear();
    s.handler.dispatched.clear();
    s.specs.clear();
    s.client_stream.clear();
    s.written = s.taken = 0;
    s.eof_written = s.eof_taken = false;
    s.responses_read_before += s.responses_read;
    s.responses_read = 0;
    s.received.clear();
  }
  void run(const model& m, system& s) const override { run_and_check(*this, m, s); }
  void show(std::ostream& os) const override { os << "reconnect"; }
};

void check_model_sequence() {
  model initial;
  system s;
  rc::state::check(
      initial, s,
      rc::state::gen::execOneOfWithArgs<send_request, send_request, send_request, deliver, deliver,
                                        deliver, deliver, drain, drain, tick, tick, tick,
                                        advance_time, advance_time, half_close, reset, shutdown,
                                        reconnect>());
  if (!s.last) return;
  // What the sequences covered, printed with the result.
  const model& m = *s.last;
  std::size_t handed = std::min(m.advanced, m.dropped_from);
  int errors = 0;
  int timeouts = 0;
  for (std::size_t e = 0; e < handed && e < m.entries.size(); ++e) {
    errors += m.entries[e].status >= 400 && m.entries[e].status != 408 ? 1 : 0;
    timeouts += m.entries[e].status == 408 ? 1 : 0;
  }
  if (handed == 0 && m.state == life::closed && std::getenv("TAUT_MODEL_TRACE") != nullptr) {
    std::cerr << "---\n" << s.trace;
  }
  RC_TAG(handed == 0 ? "none answered" : handed == 1 ? "1 answered" : "2+ answered");
  const std::size_t read = s.responses_read + s.responses_read_before;
  RC_TAG(read == 0 ? "none read" : read == 1 ? "1 read" : read < 4 ? "2-3 read" : "4+ read");
  RC_TAG(m.connections == 1 ? "1 connection" : "2+ connections");
  if (errors > 0) RC_TAG("400, 413 or 500");
  if (timeouts > 0) RC_TAG("408");
  if (m.state == life::closed) RC_TAG("closed");
  if (m.output_lost) RC_TAG("closed with output unsent");
  if (m.eof_sent) RC_TAG("half-closed");
  if (m.waits > 0) RC_TAG("a head waited");
}

// Sequences and their largest size in an ordinary ctest run: a few seconds.
constexpr int default_runs = TAUT_MODEL_TEST_SANITIZED ? 250 : 1000;
constexpr int default_max_size = 80;

int runs_from_environment(int fallback) {
  const char* text = std::getenv("TAUT_MODEL_TEST_RUNS");
  if (text == nullptr || *text == '\0') return fallback;
  const int runs = std::atoi(text);
  return runs > 0 ? runs : fallback;
}

}  // namespace

// The property, bounded for ctest: TAUT_MODEL_TEST_RUNS sets the number of command sequences (CI
// runs many more). RC_PARAMS still applies (seed, max_success, max_size, reproduce, ...).
TEST(ConnectionModel, AgreesWithTheReferenceModel) {
  const rc::detail::Configuration& config = rc::detail::configuration();
  const char* rc_params = std::getenv("RC_PARAMS");
  const std::string_view given = rc_params != nullptr ? rc_params : "";
  rc::detail::TestParams params = config.testParams;
  if (given.find("max_success") == std::string_view::npos) {
    params.maxSuccess = runs_from_environment(default_runs);
  }
  if (given.find("max_size") == std::string_view::npos) params.maxSize = default_max_size;
  params.maxDiscardRatio = std::max(params.maxDiscardRatio, 100);
  rc::detail::TestMetadata metadata;
  metadata.id = "ConnectionModel/AgreesWithTheReferenceModel";
  metadata.description = "AgreesWithTheReferenceModel";
  const rc::detail::TestResult result = rc::detail::checkProperty(
      rc::detail::toProperty([] { check_model_sequence(); }), metadata, params);
  std::ostringstream report;
  rc::detail::printResultMessage(result, report);
  EXPECT_TRUE(result.template is<rc::detail::SuccessResult>()) << report.str();
  if (result.template is<rc::detail::SuccessResult>()) std::cout << report.str() << "\n";
}
