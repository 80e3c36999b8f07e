// The upstream of the model tests (test_client_model.cpp, test_proxy_model.cpp): a
// scripted_upstream that answers each request head ("METHOD /r/<id>", the id naming the request)
// with an answer drawn at random, every body naming its request, and records where each request
// arrived and whether an answer forbade reusing its connection.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "client_test_support.hpp"

namespace taut::test::model {

enum class answer : int {
  keep_alive,       // 200 with a Content-Length body
  chunked,          // 200, chunked, in two chunks
  close_header,     // 200 with Connection: close, then close
  close_delimited,  // 200 without framing, then the upstream shuts its side
  no_content,       // 204
  hints_then_ok,    // 103 Early Hints, then keep_alive's response
  close_before,     // close without a byte
  reset_before,     // reset without a byte
  ambiguous,        // Content-Length and Transfer-Encoding
  garbage,          // not a status-line
  cut_body,         // a head promising 20 bytes, 3 of them, close
  silence,          // nothing: the response head timeout ends it
  smuggled,         // keep_alive's response followed by a second, unasked-for one
  http10,           // an HTTP/1.0 response with a Content-Length and no keep-alive
  trailers,         // 200, chunked, with a trailer field
  large,            // 200 with a 100 KB body, more than a slow reader's buffers hold
};
constexpr int answer_count = 16;

inline constexpr const char* answer_names[answer_count] = {
    "keep_alive", "chunked",       "close_header", "close_delimited",
    "no_content", "hints_then_ok", "close_before", "reset_before",
    "ambiguous",  "garbage",       "cut_body",     "silence",
    "smuggled",   "http10",        "trailers",     "large"};

// How RapidCheck prints an answer in a counterexample.
inline void showValue(answer a, std::ostream& os) {
  os << answer_names[static_cast<int>(a)];
}

inline bool is_head(std::string_view method) {
  return method == "HEAD";
}
inline bool idempotent(std::string_view method) {
  return method != "POST";
}

/// Whether the client must complete an exchange whose (last) answer was `a`.
inline bool succeeds(answer a, std::string_view method) {
  switch (a) {
    case answer::keep_alive:
    case answer::chunked:
    case answer::close_header:
    case answer::close_delimited:
    case answer::no_content:
    case answer::hints_then_ok:
    case answer::smuggled:
    case answer::http10:
    case answer::trailers:
    case answer::large:
      return true;
    case answer::cut_body:
      return is_head(method);  // a HEAD response has no body to cut
    default:
      return false;
  }
}

/// Whether the connection may carry another request after answer `a`.
inline bool reusable(answer a) {
  switch (a) {
    case answer::keep_alive:
    case answer::chunked:
    case answer::no_content:
    case answer::hints_then_ok:
    case answer::trailers:
    case answer::large:
      return true;
    default:
      // close_delimited too: the upstream shut its side (to a HEAD it looks framed: still closed)
      return false;
  }
}

inline std::string hex_size(std::size_t n) {
  char digits[17];
  std::snprintf(digits, sizeof digits, "%zx", n);
  return digits;
}

inline std::string body_for(std::size_t id) {
  return "body of request " + std::to_string(id);
}

/// The body a good answer `a` carries for request `id` (empty for 204; a HEAD gets none).
inline std::string body_of(answer a, std::size_t id) {
  if (a == answer::no_content) return {};
  if (a == answer::large) return body_for(id) + std::string(100 * 1024, 'L');
  return body_for(id);
}

/// One request's arrival at the upstream.
struct arrival {
  answer given;
  const upstream_connection* on;
  bool first_on_connection;
  bool pipelined = false;        // written while answers before it on its connection were unread
  bool behind_closed = false;    // an earlier answer on its connection forbade reusing it
  std::size_t answer_begin = 0;  // where its answer lies in what the connection wrote
  std::size_t answer_end = 0;
};

struct connection_record {
  std::size_t heads = 0;
  bool closed_for_reuse = false;  // an answer forbade another request here
  struct sent_answer {
    std::size_t end;  // where it ends in what the connection wrote
    bool unanswered;  // silence: never written
    bool idempotent;
  };
  std::vector<sent_answer> answered;  // one per head, in order
  bool silent = false;                // a request got no answer: the ones behind it get none either
  std::size_t written = 0;            // bytes written to the client
  bool reset = false;                 // a request was answered with a reset
  std::size_t read_at_reset = 0;      // of `written`, what the client had read by then
};

/// The upstream's side of the world: answers every head as `answers` says (keep_alive past its
/// end), and records where each request arrived.
struct upstream_script {
  std::vector<answer> answers;
  std::map<std::size_t, std::vector<arrival>> arrivals;  // by request id
  std::map<const upstream_connection*, connection_record> connections;
  std::vector<std::string> violations;
  /// The connections the client side holds open now, and its limit (0: none).
  std::function<std::size_t()> open_connections;
  std::size_t max_connections = 0;
  /// The client's pipeline_depth: heads that come in one read are pipelined requests, at most
  /// this many, all idempotent (with 1, two in one read are a violation).
  std::size_t pipeline_depth = 1;

  /// The answer `a` amounts to for the client: a reset (answering a request pipelined behind
  /// it) discards what the client had not read of it yet, as TCP's does.
  [[nodiscard]] answer seen_as(const arrival& a) const {
    const auto found = connections.find(a.on);
    if (found != connections.end() && found->second.reset &&
        a.answer_end > found->second.read_at_reset) {
      return answer::reset_before;
    }
    return a.given;
  }
  /// Whether the client had read part of answer `a` when a reset discarded the rest (no retry
  /// then: a response had begun).
  [[nodiscard]] bool partly_read(const arrival& a) const {
    const auto found = connections.find(a.on);
    return found != connections.end() && found->second.reset &&
           a.answer_begin < found->second.read_at_reset &&
           a.answer_end > found->second.read_at_reset;
  }

  void answer_head(upstream_connection& c, std::size_t index) {
    // The head just received ends at c.scanned; its request-line is the last "/r/" before it.
    const std::size_t target = c.received.rfind(" /r/", c.scanned);
    if (target == std::string::npos) {
      violations.push_back("a head without a request id");
      return;
    }
    std::size_t method_begin = target;
    while (method_begin > 0 && c.received[method_begin - 1] >= 'A' &&
           c.received[method_begin - 1] <= 'Z') {
      --method_begin;
    }
    const std::string method = c.received.substr(method_begin, target - method_begin);
    const std::size_t id = std::stoul(c.received.substr(target + 4));
    connection_record& record = connections[&c];
    // The requests before this one whose answers the client has not read whole (or that got
    // none): those it was written behind, pipelined.
    const std::size_t read_by_client =
        record.written - (c.stream.memory().valid() ? c.stream.memory().in_flight() : 0);
    std::size_t ahead = 0;
    bool all_idempotent = idempotent(method);
    for (const connection_record::sent_answer& before : record.answered) {
      if (!before.unanswered && before.end <= read_by_client) continue;
      ++ahead;
      all_idempotent = all_idempotent && before.idempotent;
    }
    const bool pipelined = ahead > 0;
    if (ahead + 1 > pipeline_depth) {
      violations.push_back("request " + std::to_string(id) + " pipelined " +
                           std::to_string(ahead + 1) + " deep, depth " +
                           std::to_string(pipeline_depth));
    }
    if (pipelined && !all_idempotent) {
      violations.push_back("request " + std::to_string(id) + " pipelined with a POST");
    }
    // A pipelined request may follow an answer that closed its connection for reuse: it was
    // written before the client could read that answer. A later one may not.
    if (record.closed_for_reuse && !pipelined) {
      violations.push_back("request " + std::to_string(id) +
                           " written on a connection that an earlier answer closed for reuse");
    }
    const std::size_t open = open_connections ? open_connections() : 0;
    if (max_connections != 0 && open > max_connections) {
      violations.push_back(std::to_string(open) + " connections open, limit " +
                           std::to_string(max_connections));
    }
    // A server answers in order: once it stalls on one request it answers none behind it (one
    // that answered the next instead would pass that answer off as the stalled one's).
    const answer drawn = index < answers.size() ? answers[index] : answer::keep_alive;
    const answer a = record.silent ? answer::silence : drawn;
    if (a == answer::silence) record.silent = true;
    arrival& arrived =
        arrivals[id].emplace_back(arrival{a, &c, record.heads == 0, pipelined,
                                          record.closed_for_reuse, record.written, record.written});
    ++record.heads;
    const std::string_view head_text =
        std::string_view(c.received).substr(target, c.scanned - target);
    if (!record.closed_for_reuse &&
        (!reusable(a) || head_text.find("\r\nConnection: close\r\n") != std::string::npos)) {
      record.closed_for_reuse = true;
    }
    if (a == answer::reset_before && !record.reset) {
      record.reset = true;
      record.read_at_reset = record.written - c.stream.memory().in_flight();
    }
    record.written += write_answer(c, a, id, method);
    arrived.answer_end = record.written;
    record.answered.push_back({record.written, a == answer::silence, idempotent(method)});
  }

  /// Writes answer `a` (and closes, shuts or resets as it says); returns the bytes written.
  static std::size_t write_answer(upstream_connection& c, answer a, std::size_t id,
                                  const std::string& method) {
    const bool head = is_head(method);
    std::string out;
    enum class then { nothing, close, shutdown, reset } after = then::nothing;
    const std::string body = body_of(a, id);
    const std::string length = "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    switch (a) {
      case answer::keep_alive:
      case answer::large:
        out += ("HTTP/1.1 200 OK\r\n" + length + (head ? "" : body));
        break;
      case answer::hints_then_ok:
        out += ("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n" + length +
                (head ? "" : body));
        break;
      case answer::chunked: {
        std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        if (!head) {
          const std::string first = body.substr(0, 4);
          const std::string rest = body.substr(4);
          chunked += hex_size(first.size()) + "\r\n" + first + "\r\n" + hex_size(rest.size()) +
                     "\r\n" + rest + "\r\n0\r\n\r\n";
        }
        out += chunked;
        break;
      }
      case answer::close_header:
        out += ("HTTP/1.1 200 OK\r\nConnection: close\r\n" + length + (head ? "" : body));
        after = then::close;
        break;
      case answer::close_delimited:
        out += ("HTTP/1.1 200 OK\r\n\r\n" + (head ? std::string() : body));
        after = then::shutdown;
        break;
      case answer::no_content:
        out += ("HTTP/1.1 204 No Content\r\n\r\n");
        break;
      case answer::close_before:
        after = then::close;
        break;
      case answer::reset_before:
        after = then::reset;
        break;
      case answer::ambiguous:
        out +=
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             "0\r\n\r\n");
        break;
      case answer::garbage:
        out += ("HTTP/1.1 2x0 OK\r\n\r\n");
        break;
      case answer::cut_body:
        out += ("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + std::string(head ? "" : "abc"));
        after = then::close;
        break;
      case answer::silence:
        break;
      case answer::smuggled:
        out += ("HTTP/1.1 200 OK\r\n" + length + (head ? "" : body) +
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!");
        break;
      case answer::http10:
        out += ("HTTP/1.0 200 OK\r\n" + length + (head ? "" : body));
        break;
      case answer::trailers:
        out += ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
                (head ? std::string()
                      : hex_size(body.size()) + "\r\n" + body +
                            "\r\n0\r\nX-Sum: " + std::to_string(id) + "\r\n\r\n"));
        break;
    }
    std::size_t written = 0;
    if (!out.empty()) {
      const auto r = c.stream.write(out);
      if (r.done()) written = r.bytes;
    }
    switch (after) {
      case then::nothing:
        break;
      case then::close:
        (void)c.stream.close();
        break;
      case then::shutdown:
        (void)c.stream.shutdown_write();
        break;
      case then::reset:
        c.stream.abort();
        break;
    }
    return written;
  }
};

/// Answers weighted towards the usual keep-alive response, each as often as its weight, for
/// rc::gen::elementOf.
inline std::vector<answer> weighted_answers() {
  const int weights[answer_count] = {8, 3, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1};
  std::vector<answer> pool;
  for (int a = 0; a < answer_count; ++a)
    pool.insert(pool.end(), weights[a], static_cast<answer>(a));
  return pool;
}

}  // namespace taut::test::model
