// A property test of the reverse proxy (RapidCheck). Clients write pipelined requests on a few
// connections to a taut server whose handler is the proxy; its upstream answers each request with
// an answer drawn at random (model_upstream.hpp: good responses of every framing, closes and
// resets before any byte, Content-Length with Transfer-Encoding, garbage, bodies cut short,
// silence, a second response smuggled after the first), under random pool limits. The clients'
// requests: whole or chunked bodies, Expect: 100-continue, Connection: close, HTTP/1.0, and
// framing the front refuses (400); their bytes arrive in small pieces, they read slowly through
// small buffers, and some go away mid-exchange. Whatever the
// interleaving, each client connection must get, in the order of its requests, the response to
// each one of them (every body names its request): the upstream's own response when it gave a good
// one, 502 when it failed, 504 when it stayed silent; a response whose body the upstream cut
// ends the connection there, as does the response to a request that ends it (no request after
// it reaches the upstream: RFC 9112 section 9.6). No smuggled byte reaches a client; a request
// reaches the upstream at most twice, the second time only as the retry RFC 9110 section 9.2.2
// allows; and no request is written on an upstream connection after an answer that forbade reusing
// it. With the client's pipeline_depth above 1 (drawn at random), requests of different clients
// share upstream connections: a request pipelined behind one whose connection failed may then get
// 502 (or 504 behind a silent one) instead of its own answer, or be sent again; the upstream then
// never answers one request twice (`smuggled` is not drawn: no pipelining client can tell).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client_test_support.hpp"
#include "model_upstream.hpp"
#include "taut/http_chars.hpp"
#include "taut/mux.hpp"
#include "taut/proxy.hpp"
#include "taut/server_loop.hpp"
#include "taut/transport.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;
using namespace model;

constexpr auto proxy_timeout = 5s;

/// One response as a client reads it off its connection.
struct read_response {
  int status = 0;
  std::string body;
  bool complete = false;  // framed to its end (false: the connection ended inside it)
};

/// Reads the final responses in `bytes`, one per request of `methods` at most (1xx skipped), as
/// taut's server frames them (Content-Length, chunked, or none for HEAD, 204 and 304).
std::vector<read_response> read_responses(std::string_view bytes,
                                          const std::vector<std::string>& methods) {
  std::vector<read_response> out;
  std::size_t at = 0;
  while (out.size() < methods.size() && at < bytes.size()) {
    const std::size_t head_end = bytes.find("\r\n\r\n", at);
    read_response r;
    if (head_end == std::string_view::npos || bytes.size() - at < 12) {
      out.push_back(r);  // a head cut short
      break;
    }
    const std::string_view head = bytes.substr(at, head_end + 4 - at);
    at = head_end + 4;
    r.status = std::atoi(std::string(head.substr(9, 3)).c_str());
    if (r.status >= 100 && r.status < 200) continue;
    std::string lower(head);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool no_body = methods[out.size()] == "HEAD" || r.status == 204 || r.status == 304;
    const std::size_t length = lower.find("\r\ncontent-length:");
    if (no_body) {
      r.complete = true;
    } else if (lower.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
      for (;;) {
        const std::size_t line_end = bytes.find("\r\n", at);
        if (line_end == std::string_view::npos) break;
        const std::size_t size =
            std::strtoul(std::string(bytes.substr(at, line_end - at)).c_str(), nullptr, 16);
        at = line_end + 2;
        if (size == 0) {
          // The trailer section: empty (its CRLF alone), or field lines ending in an empty line.
          const std::size_t end =
              bytes.substr(at, 2) == "\r\n" ? at - 2 : bytes.find("\r\n\r\n", at);
          if (end == std::string_view::npos) break;
          at = end + 4;
          r.complete = true;
          break;
        }
        if (bytes.size() - at < size + 2) {
          r.body.append(bytes.substr(at));
          at = bytes.size();
          break;
        }
        r.body.append(bytes.substr(at, size));
        at += size + 2;
      }
    } else if (length != std::string::npos) {
      const std::size_t size = std::strtoul(lower.c_str() + length + 17, nullptr, 10);
      r.body = std::string(bytes.substr(at, size));
      r.complete = bytes.size() - at >= size;
      at += r.body.size();
    } else {
      r.body = std::string(bytes.substr(at));  // delimited by the close
      r.complete = true;
      at = bytes.size();
    }
    out.push_back(r);
    if (!r.complete) break;
  }
  return out;
}

enum class request_kind { plain, chunked_body, expect, close, http10, refused };

/// Whether the front closes the connection after answering a request of this kind.
bool ends_connection(request_kind kind) {
  return kind == request_kind::close || kind == request_kind::http10 ||
         kind == request_kind::refused;
}

struct front_connection {
  transport::stream stream;
  std::vector<std::size_t> ids;
  std::vector<std::string> methods;
  std::vector<request_kind> kinds;
  std::string received;
  bool aborts = false;
};

RC_GTEST_PROP(ProxyModel, EveryClientGetsItsOwnResponsesInOrder, ()) {
  upstream_script script;
  script.answers = *rc::gen::container<std::vector<answer>>(rc::gen::elementOf(weighted_answers()));
  proxy_options options;
  options.timeout = proxy_timeout;
  options.client.max_connections_per_origin = *rc::gen::inRange<std::size_t>(0, 4);
  options.client.max_idle_per_origin = *rc::gen::inRange<std::size_t>(0, 3);
  options.client.pipeline_depth = *rc::gen::element<std::size_t>(1, 1, 2, 4);
  script.pipeline_depth = options.client.pipeline_depth;
  if (options.client.pipeline_depth > 1) {
    std::replace(script.answers.begin(), script.answers.end(), answer::smuggled,
                 answer::keep_alive);
  }

  transport::manual_clock clock;
  auto loop = transport::event_loop::create({.clock = &clock}).value();
  // Responses read in pieces as small as a few bytes: every head and body split anywhere.
  transport::memory_options upstream_faults;
  upstream_faults.server_to_client.max_read = *rc::gen::element<std::size_t>(0, 0, 7, 100);
  auto upstream = std::make_unique<scripted_upstream>(
      *loop, [&script](upstream_connection& c, std::size_t index) { script.answer_head(c, index); },
      upstream_faults);
  options.upstream = origin::memory(upstream->dialer(), "upstream");
  auto proxy = std::make_unique<reverse_proxy>(options);
  mux front_app;
  front_app.handle("/", proxy->handler());
  auto front = std::make_unique<server_loop>(*loop, front_app);
  // Clients whose bytes arrive in small pieces, and clients slow to read (a small buffer the
  // proxy must wait on: a large response then flows through it under back-pressure).
  transport::memory_options faults;
  faults.client_to_server.max_read = *rc::gen::element<std::size_t>(0, 1, 7);
  faults.server_to_client.capacity = *rc::gen::element<std::size_t>(256 * 1024, 4096, 512);
  faults.server_to_client.max_write = *rc::gen::element<std::size_t>(0, 100);
  auto listener = transport::listener::memory(faults);
  const transport::memory_dialer dialer = listener.dialer();
  RC_ASSERT(!front->add_listener(std::move(listener)));

  // Each client connection writes all its requests at once (pipelined).
  std::vector<front_connection> clients(*rc::gen::inRange<std::size_t>(1, 4));
  std::size_t next_id = 0;
  for (front_connection& c : clients) {
    c.stream = dialer.dial().value();
    RC_ASSERT(!c.stream.watch(*loop, [](transport::readiness) {}));
    std::string bytes;
    const int count = *rc::gen::inRange(1, 6);
    for (int i = 0; i < count; ++i) {
      const std::string method = *rc::gen::element<std::string>("GET", "GET", "HEAD", "POST");
      const std::size_t id = next_id++;
      c.ids.push_back(id);
      c.methods.push_back(method);
      // Mostly plain requests; some end the connection after their response (Connection: close,
      // HTTP/1.0, or a head the front refuses: 400), some carry a chunked body or
      // Expect: 100-continue.
      const request_kind kind =
          *rc::gen::element(request_kind::plain, request_kind::plain, request_kind::plain,
                            request_kind::plain, request_kind::chunked_body, request_kind::expect,
                            request_kind::close, request_kind::http10, request_kind::refused);
      c.kinds.push_back(kind);
      bytes += method + " /r/" + std::to_string(id) +
               (kind == request_kind::http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n") +
               "Host: front\r\n";
      if (kind == request_kind::close) bytes += "Connection: close\r\n";
      if (kind == request_kind::refused) {
        bytes += "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
      } else if (method != "POST") {
        bytes += "\r\n";
      } else if (kind == request_kind::chunked_body) {
        bytes += "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n2\r\n=1\r\n0\r\n\r\n";
      } else {
        bytes += std::string(kind == request_kind::expect ? "Expect: 100-continue\r\n" : "") +
                 "Content-Length: 3\r\n\r\nx=1";
      }
    }
    RC_ASSERT(c.stream.write(bytes).bytes == bytes.size());
  }
  // Some clients go away after the first turn of the loop: their requests still in the proxy
  // are abandoned, and no other client may see a byte of their responses.
  for (front_connection& c : clients) c.aborts = *rc::gen::inRange(0, 6) == 0;
  const auto read_all = [&clients] {
    bool any = false;
    for (front_connection& c : clients) {
      if (!c.stream.is_open()) continue;
      char buffer[65536];
      for (;;) {
        const auto r = c.stream.read(buffer);
        if (!r.done()) break;
        c.received.append(buffer, r.bytes);
        any = true;
      }
    }
    return any;
  };
  loop->run_until_idle();
  for (front_connection& c : clients) {
    if (c.aborts) c.stream.abort();
  }
  // The clients read as bytes come; silent upstreams time out (504) one after another, and the
  // requests behind them go on.
  for (std::size_t round = 0; round < 2 * next_id + 4; ++round) {
    while (read_all()) loop->run_until_idle();
    clock.advance(proxy_timeout + 1s);
    loop->run_until_idle();
  }
  while (read_all()) loop->run_until_idle();
  if (!script.violations.empty()) RC_FAIL(script.violations.front());

  for (const front_connection& c : clients) {
    RC_ASSERT(c.received.find("evil!") == std::string::npos);
    if (c.aborts) continue;
    const std::vector<read_response> got = read_responses(c.received, c.methods);
    bool cut = false;
    for (std::size_t k = 0; k < got.size(); ++k) {
      const std::size_t id = c.ids[k];
      const std::string& method = c.methods[k];
      std::string who = method + " request " + std::to_string(id) + " (arrivals:";
      const auto found = script.arrivals.find(id);
      if (found != script.arrivals.end()) {
        for (const arrival& a : found->second) {
          who += std::string(" ") + answer_names[static_cast<int>(a.given)] +
                 (a.first_on_connection ? " on a new connection" : " on a reused connection") +
                 (a.pipelined ? ", pipelined" : "") +
                 (script.seen_as(a) != a.given ? ", reset before it was read" : "");
        }
      }
      who += "; answered " + std::to_string(got[k].status) + (got[k].complete ? "" : " cut") +
             ", body \"" + got[k].body.substr(0, 40) + "\"): ";
      if (c.kinds[k] == request_kind::refused) {
        // Framing the front cannot trust: 400 from the front, never forwarded.
        if (found != script.arrivals.end()) RC_FAIL(who + "a refused request was forwarded");
        if (got[k].status != 400) RC_FAIL(who + "not 400");
        if (k + 1 != got.size()) RC_FAIL(who + "a response after the connection's end");
        break;
      }
      if (found == script.arrivals.end()) {
        // Waiting for a connection (the pool's limit reached, the ones open silent) counts
        // towards the proxy's deadline: 504 without reaching the upstream.
        if (got[k].status == 504 && options.client.max_connections_per_origin != 0) continue;
        RC_FAIL(who + "answered without reaching the upstream");
      }
      const std::vector<arrival>& seen = found->second;
      if (seen.size() > 2) RC_FAIL(who + "sent more than twice");
      if (seen.size() == 2 && seen[0].pipelined) {
        // Written behind others on a connection that ended before its answer was read.
        if (!idempotent(method) || !seen[1].first_on_connection) {
          RC_FAIL(who + "pipelined and retried against the rules");
        }
      } else if (seen.size() == 2) {
        const answer failed = script.seen_as(seen[0]);
        if ((failed != answer::close_before && failed != answer::reset_before) ||
            seen[0].first_on_connection || !idempotent(method) || !seen[1].first_on_connection) {
          RC_FAIL(who + "retried against the rules");
        }
      }
      const arrival& final_arrival = seen.back();
      const answer last = script.seen_as(final_arrival);
      if (script.partly_read(final_arrival)) {
        // A reset (answering one pipelined behind it) cut its answer: 502, or cut short after
        // its head reached the client.
        if (got[k].complete ? got[k].status != 502 : got[k].status != 200) {
          RC_FAIL(who + "neither 502 nor a cut response after a reset");
        }
        if (!got[k].complete) {
          cut = true;
          if (k + 1 != got.size()) RC_FAIL(who + "a response after a cut one");
        }
        continue;
      }
      // Behind a silent one (an answer that ended its upstream connection's use): held past the
      // proxy's deadline (504). The proxy's client retries, so no other failure is excused.
      if (final_arrival.pipelined && final_arrival.behind_closed && got[k].complete &&
          got[k].status == 504) {
        continue;
      }
      const bool retry_due = seen.size() == 1 && !seen[0].first_on_connection &&
                             !seen[0].pipelined && !script.partly_read(seen[0]) &&
                             (last == answer::close_before || last == answer::reset_before) &&
                             idempotent(method);
      if (retry_due) {
        // Its retry waits for a new connection, behind the requests already waiting: with the
        // pool's limit reached and the connections silent, the deadline passes first (504).
        if (got[k].status == 504 && options.client.max_connections_per_origin != 0) continue;
        RC_FAIL(who + "not retried after its reused connection failed before any byte");
      }
      if (succeeds(last, method)) {
        if (!got[k].complete) RC_FAIL(who + "cut short");
        if (got[k].status != (last == answer::no_content ? 204 : 200)) {
          RC_FAIL(who + "wrong status");
        }
        const bool empty = is_head(method) || last == answer::no_content;
        if (got[k].body != (empty ? std::string() : body_of(last, id))) RC_FAIL(who + "wrong body");
      } else if (last == answer::silence) {
        if (got[k].status != 504) RC_FAIL(who + "not 504");
      } else if (last == answer::cut_body) {
        // Cut after its head reached the client, or 502 before that.
        if (got[k].complete ? got[k].status != 502 : got[k].status != 200) {
          RC_FAIL(who + "neither 502 nor a cut response");
        }
        if (!got[k].complete) {
          cut = true;
          if (k + 1 != got.size()) RC_FAIL(who + "a response after a cut one");
        }
      } else {
        if (got[k].status != 502) RC_FAIL(who + "not 502");
      }
    }
    // Every request is answered, up to the one whose response ends the connection.
    std::size_t due = c.ids.size();
    for (std::size_t k = 0; k < c.kinds.size(); ++k) {
      if (ends_connection(c.kinds[k])) {
        due = k + 1;
        break;
      }
    }
    // RFC 9112 section 9.6: no request after the one that ends the connection is processed.
    for (std::size_t k = due; k < c.ids.size(); ++k) {
      if (script.arrivals.count(c.ids[k]) != 0) {
        RC_FAIL("request " + std::to_string(c.ids[k]) + ", after one that ended its connection, " +
                "reached the upstream");
      }
    }
    if (!cut && got.size() != due) {
      RC_FAIL("a connection got " + std::to_string(got.size()) + " responses to its " +
              std::to_string(c.ids.size()) + " requests, " + std::to_string(due) + " due");
    }
  }
  for (front_connection& c : clients) {
    if (c.stream.is_open()) c.stream.unwatch();
  }
  front->close_all();
  loop->run_until_idle();
  front.reset();
  proxy.reset();
  upstream.reset();
}

}  // namespace
}  // namespace taut::test
