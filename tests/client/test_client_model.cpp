// A property test of the client's pool (RapidCheck). Rounds of concurrent requests go to a scripted
// upstream that answers each request head with an answer drawn at random: a keep-alive response,
// a chunked one, one with Connection: close, a close-delimited one, 204, 103 then 200, a close or a
// reset before any byte, Content-Length with Transfer-Encoding, garbage, a body cut short, or
// silence; with random pool limits, idle connections expiring, and the upstream closing the
// connections it holds idle. Whatever the interleaving, the client must
// - end every exchange exactly once, and hand each one the response to its own request (every
//   body names its request);
// - complete exactly the exchanges whose last answer was a good response, with its status and
//   body, and fail the others with the error that answer calls for;
// - retry only an idempotent request whose reused connection failed before any byte, once, on a
//   new connection (RFC 9110 section 9.2.2), and never a POST;
// - never write another request on a connection after an answer that forbids reusing it;
// - stay within max_connections_per_origin and max_idle_per_origin, and hold no connection once
//   the idle ones expired.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "client_test_support.hpp"
#include "taut/client.hpp"
#include "taut/transport.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;

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
};
constexpr int answer_count = 15;

constexpr const char* answer_names[answer_count] = {
    "keep_alive",    "chunked",      "close_header", "close_delimited", "no_content",
    "hints_then_ok", "close_before", "reset_before", "ambiguous",       "garbage",
    "cut_body",      "silence",      "smuggled",     "http10",          "trailers"};

// How RapidCheck prints an answer in a counterexample.
[[maybe_unused]] void showValue(answer a, std::ostream& os) {
  os << answer_names[static_cast<int>(a)];
}

constexpr auto header_timeout = 5s;
constexpr auto idle_timeout = 30s;

bool is_head(std::string_view method) {
  return method == "HEAD";
}
bool idempotent(std::string_view method) {
  return method != "POST";
}

/// Whether the client must complete an exchange whose (last) answer was `a`.
bool succeeds(answer a, std::string_view method) {
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
      return true;
    case answer::cut_body:
      return is_head(method);  // a HEAD response has no body to cut
    default:
      return false;
  }
}

/// Whether the connection may carry another request after answer `a`.
bool reusable(answer a, std::string_view method) {
  switch (a) {
    case answer::keep_alive:
    case answer::chunked:
    case answer::no_content:
    case answer::hints_then_ok:
    case answer::trailers:
      return true;
    case answer::close_delimited:
      return false;  // the upstream shut its side (to a HEAD it looks framed: still closed)
    default:
      return false;
  }
  static_cast<void>(method);
}

client_errc expected_error(answer a) {
  switch (a) {
    case answer::close_before:
    case answer::cut_body:
      return client_errc::connection_closed;
    case answer::reset_before:
      return client_errc::connection_reset;
    case answer::ambiguous:
      return client_errc::ambiguous_framing;
    case answer::garbage:
      return client_errc::bad_response;
    case answer::silence:
      return client_errc::header_timeout;
    default:
      return client_errc::ok;
  }
}

std::string hex_size(std::size_t n) {
  char digits[17];
  std::snprintf(digits, sizeof digits, "%zx", n);
  return digits;
}

std::string body_for(std::size_t id) {
  return "body of request " + std::to_string(id);
}

/// One request's arrival at the upstream.
struct arrival {
  answer given;
  const upstream_connection* on;
  bool first_on_connection;
};

struct connection_record {
  std::size_t heads = 0;
  bool closed_for_reuse = false;  // an answer forbade another request here
};

/// Records an exchange, counting every end.
class exchange_record final : public client_exchange {
 public:
  void on_informational(const taut::response& head) override {
    informational.push_back(head.status);
  }
  void on_head(const client_response& response) override {
    ++heads;
    status = response.head.status;
    reused = response.reused_connection;
  }
  void on_body(std::string_view piece) override { body.append(piece); }
  void on_complete(std::span<const header> fields) override {
    ++completions;
    for (const header& h : fields)
      trailers += std::string(h.name) + "=" + std::string(h.value) + ";";
  }
  void on_error(const client_error& e) override {
    ++errors;
    error = e;
  }

  int heads = 0;
  int completions = 0;
  int errors = 0;
  int status = 0;
  bool reused = false;
  std::vector<int> informational;
  std::string body;
  std::string trailers;
  client_error error{};
};

/// The upstream's side of the world: answers every head as `answers` says (keep_alive past its
/// end), and records where each request arrived.
struct upstream_script {
  std::vector<answer> answers;
  std::map<std::size_t, std::vector<arrival>> arrivals;  // by request id
  std::map<const upstream_connection*, connection_record> connections;
  std::vector<std::string> violations;
  taut::client* client = nullptr;
  const origin* where = nullptr;
  std::size_t max_connections = 0;

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
    if (record.closed_for_reuse) {
      violations.push_back("request " + std::to_string(id) +
                           " written on a connection that an earlier answer closed for reuse");
    }
    const std::size_t open = client->open_connections(*where);
    if (max_connections != 0 && open > max_connections) {
      violations.push_back(std::to_string(open) + " connections open, limit " +
                           std::to_string(max_connections));
    }
    const answer a = index < answers.size() ? answers[index] : answer::keep_alive;
    arrivals[id].push_back({a, &c, record.heads == 0});
    ++record.heads;
    const std::string_view head_text =
        std::string_view(c.received).substr(target, c.scanned - target);
    if (!reusable(a, method) || head_text.find("\r\nConnection: close\r\n") != std::string::npos) {
      record.closed_for_reuse = true;
    }
    write_answer(c, a, id, method);
  }

  static void write_answer(upstream_connection& c, answer a, std::size_t id,
                           const std::string& method) {
    const bool head = is_head(method);
    const std::string body = body_for(id);
    const std::string length = "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    switch (a) {
      case answer::keep_alive:
        (void)c.stream.write("HTTP/1.1 200 OK\r\n" + length + (head ? "" : body));
        break;
      case answer::hints_then_ok:
        (void)c.stream.write(
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n" + length +
            (head ? "" : body));
        break;
      case answer::chunked: {
        std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        if (!head) {
          const std::string first = body.substr(0, 4);
          const std::string rest = body.substr(4);
          out += hex_size(first.size()) + "\r\n" + first + "\r\n" + hex_size(rest.size()) + "\r\n" +
                 rest + "\r\n0\r\n\r\n";
        }
        (void)c.stream.write(out);
        break;
      }
      case answer::close_header:
        (void)c.stream.write("HTTP/1.1 200 OK\r\nConnection: close\r\n" + length +
                             (head ? "" : body));
        (void)c.stream.close();
        break;
      case answer::close_delimited:
        (void)c.stream.write("HTTP/1.1 200 OK\r\n\r\n" + (head ? std::string() : body));
        (void)c.stream.shutdown_write();
        break;
      case answer::no_content:
        (void)c.stream.write("HTTP/1.1 204 No Content\r\n\r\n");
        break;
      case answer::close_before:
        (void)c.stream.close();
        break;
      case answer::reset_before:
        c.stream.abort();
        break;
      case answer::ambiguous:
        (void)c.stream.write(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\n");
        break;
      case answer::garbage:
        (void)c.stream.write("HTTP/1.1 2x0 OK\r\n\r\n");
        break;
      case answer::cut_body:
        (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" +
                             std::string(head ? "" : "abc"));
        (void)c.stream.close();
        break;
      case answer::silence:
        break;
      case answer::smuggled:
        (void)c.stream.write("HTTP/1.1 200 OK\r\n" + length + (head ? "" : body) +
                             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!");
        break;
      case answer::http10:
        (void)c.stream.write("HTTP/1.0 200 OK\r\n" + length + (head ? "" : body));
        break;
      case answer::trailers:
        (void)c.stream.write(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
            (head ? std::string()
                  : hex_size(body.size()) + "\r\n" + body +
                        "\r\n0\r\nX-Sum: " + std::to_string(id) + "\r\n\r\n"));
        break;
    }
  }
};

const header connection_close[] = {{"Connection", "close"}};

struct sent_request {
  std::size_t id;
  std::string method;
  std::string target;
  client_request request;  // views into method and target; kept while a retry may send it
  bool canceled = false;
  std::unique_ptr<exchange_record> record;
};

/// What is wrong with one exchange, given what the upstream saw of its request (empty: nothing).
std::string check_exchange(const sent_request& r, const upstream_script& script) {
  const exchange_record& x = *r.record;
  if (r.canceled) {
    // Canceled before the loop ran: ended once, as canceled, whatever reached the upstream.
    if (x.completions != 0 || x.errors != 1 || x.error.code != client_errc::canceled) {
      return r.method + " request " + std::to_string(r.id) + ": a cancel not ended as canceled";
    }
    return {};
  }
  std::string who = r.method + " request " + std::to_string(r.id) + " (arrivals:";
  const auto found = script.arrivals.find(r.id);
  if (found != script.arrivals.end()) {
    for (const arrival& a : found->second) {
      who += std::string(" ") + answer_names[static_cast<int>(a.given)] +
             (a.first_on_connection ? " on a new connection" : " on a reused connection");
    }
  }
  who += "; completions " + std::to_string(x.completions) + ", errors " + std::to_string(x.errors) +
         ": " + x.error.message() + ", status " + std::to_string(x.status) + ", body \"" + x.body +
         "\"): ";
  if (x.completions + x.errors != 1) return who + "not ended exactly once";
  if (found == script.arrivals.end()) return who + "never reached the upstream";
  const std::vector<arrival>& seen = found->second;
  if (seen.size() > 2u) return who + "sent more than twice";
  if (seen.size() == 2) {
    // A retry: only after a reused connection failed before any byte, for an idempotent
    // method, and on a new connection.
    const arrival& failed = seen[0];
    if (failed.given != answer::close_before && failed.given != answer::reset_before) {
      return who + "retried after an answer that allows no retry";
    }
    if (failed.first_on_connection) return who + "retried after a new connection failed";
    if (!idempotent(r.method)) return who + "retried, not idempotent";
    if (!seen[1].first_on_connection || seen[1].on == failed.on) {
      return who + "retried on a reused connection";
    }
  } else if ((seen[0].given == answer::close_before || seen[0].given == answer::reset_before) &&
             !seen[0].first_on_connection && idempotent(r.method)) {
    return who + "not retried after its reused connection failed before any byte";
  }
  const arrival& last = seen.back();
  if (succeeds(last.given, r.method)) {
    if (x.completions != 1 || x.heads != 1) return who + "not completed";
    const bool empty = is_head(r.method) || last.given == answer::no_content;
    if (x.body != (empty ? std::string() : body_for(r.id))) return who + "wrong body";
    if (x.status != (last.given == answer::no_content ? 204 : 200)) return who + "wrong status";
    if (x.reused != !last.first_on_connection) return who + "reused_connection wrong";
    const bool with_trailer = last.given == answer::trailers && !is_head(r.method);
    if (x.trailers != (with_trailer ? "X-Sum=" + std::to_string(r.id) + ";" : std::string())) {
      return who + "wrong trailers";
    }
    if (x.informational !=
        (last.given == answer::hints_then_ok ? std::vector<int>{103} : std::vector<int>{})) {
      return who + "wrong interim responses";
    }
  } else {
    if (x.errors != 1) return who + "not failed";
    if (x.error.code != expected_error(last.given)) return who + "wrong error";
  }
  return {};
}

RC_GTEST_PROP(ClientModel, EveryExchangeGetsItsOwnResponseAndThePoolKeepsItsRules, ()) {
  upstream_script script;
  // Answers weighted towards the usual keep-alive response: each entry as often as its weight.
  const int weights[answer_count] = {8, 3, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, 1, 1};
  std::vector<answer> pool;
  for (int a = 0; a < answer_count; ++a)
    pool.insert(pool.end(), weights[a], static_cast<answer>(a));
  script.answers = *rc::gen::container<std::vector<answer>>(rc::gen::elementOf(pool));

  client_options options;
  options.max_connections_per_origin = *rc::gen::inRange<std::size_t>(0, 4);
  options.max_idle_per_origin = *rc::gen::inRange<std::size_t>(0, 3);
  options.response_header_timeout = header_timeout;
  options.idle_timeout = idle_timeout;
  options.retry_idempotent = true;
  script.max_connections = options.max_connections_per_origin;

  transport::manual_clock clock;
  auto loop = transport::event_loop::create({.clock = &clock}).value();
  auto client = std::make_unique<taut::client>(*loop, options);
  auto upstream = std::make_unique<scripted_upstream>(
      *loop,
      [&script](upstream_connection& c, std::size_t index) { script.answer_head(c, index); });
  const origin where = origin::memory(upstream->dialer(), "up");
  script.client = client.get();
  script.where = &where;

  std::deque<sent_request> sent;  // never moved: requests hold views into them
  std::uint64_t retries_expected = 0;
  const int rounds = *rc::gen::inRange(1, 10);
  for (int round = 0; round < rounds; ++round) {
    const int step = *rc::gen::inRange(0, 10);
    if (step == 0) {
      // The idle connections expire.
      clock.advance(idle_timeout + 1s);
      loop->run_until_idle();
      RC_ASSERT(client->idle_connections(where) == 0u);
      continue;
    }
    if (step == 1) {
      // The upstream closes every connection it holds (all idle: the last round ended).
      for (auto& c : upstream->connections()) {
        if (c->stream.is_open()) (void)c->stream.close();
      }
      loop->run_until_idle();
      continue;
    }
    const std::size_t first = sent.size();
    const auto round_start = clock.now();
    const int batch = *rc::gen::inRange(1, 5);
    for (int i = 0; i < batch; ++i) {
      sent_request& r = sent.emplace_back();
      r.id = sent.size() - 1;
      r.method = *rc::gen::element<std::string>("GET", "GET", "HEAD", "POST", "PUT");
      r.target = "/r/" + std::to_string(r.id);
      r.request = {.method = r.method, .target = r.target};
      if (r.method == "POST" || r.method == "PUT") r.request.body = "x=1";
      if (*rc::gen::inRange(0, 6) == 0) r.request.headers = connection_close;
      r.canceled = *rc::gen::inRange(0, 8) == 0;
      r.record = std::make_unique<exchange_record>();
    }
    for (std::size_t i = first; i < sent.size(); ++i) {
      const client_error refused = client->send(where, sent[i].request, *sent[i].record);
      RC_ASSERT(!refused);
    }
    for (std::size_t i = first; i < sent.size(); ++i) {
      if (sent[i].canceled) sent[i].record->cancel();
    }
    loop->run_until_idle();
    // Whatever is silent times out; a request waiting for its connection goes out after that.
    for (std::size_t i = first; i < sent.size(); ++i) {
      while (sent[i].record->completions + sent[i].record->errors == 0 &&
             clock.now() < round_start + (header_timeout + 1s) * 2 * batch) {
        clock.advance(header_timeout + 1s);
        loop->run_until_idle();
      }
    }
    if (!script.violations.empty()) RC_FAIL(script.violations.front());
    RC_ASSERT(client->idle_connections(where) <= options.max_idle_per_origin);
    for (std::size_t i = first; i < sent.size(); ++i) {
      const std::string wrong = check_exchange(sent[i], script);
      if (!wrong.empty()) RC_FAIL(wrong);
      if (script.arrivals[sent[i].id].size() == 2) ++retries_expected;
    }
    RC_ASSERT(client->stats().retries == retries_expected);
  }
  clock.advance(idle_timeout + 1s);
  loop->run_until_idle();
  RC_ASSERT(client->open_connections(where) == 0u);
  client.reset();
  upstream.reset();
}

}  // namespace
}  // namespace taut::test
