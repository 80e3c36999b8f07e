// A property test of the client's pool (RapidCheck). Rounds of concurrent requests go to a scripted
// upstream that answers each request head with an answer drawn at random (model_upstream.hpp: good
// responses of every framing, 103 first, a second response smuggled after the first, closes and
// resets before any byte, Content-Length with Transfer-Encoding, garbage, a body cut short,
// silence); with random pool limits, retries on or off, idle connections expiring, and the
// upstream closing the connections it holds idle. The requests: bodies whole or streamed, with
// Expect: 100-continue, Connection: close or a deadline; exchanges paused on their heads, and
// canceled before or after the loop ran. Whatever the interleaving, the client must
// - end every exchange exactly once, and hand each one the response to its own request (every
//   body names its request);
// - complete exactly the exchanges whose last answer was a good response, with its status,
//   body and trailers, and fail the others with the error that answer (or the deadline) calls
//   for;
// - retry only an idempotent request with a whole body whose reused connection failed before
//   any byte, once, on a new connection (RFC 9110 section 9.2.2), and never a POST;
// - never write another request on a connection after an answer that forbids reusing it;
// - stay within max_connections_per_origin and max_idle_per_origin, and hold no connection once
//   the idle ones expired;
// - with pipeline_depth above 1 (drawn at random), pipeline only idempotent requests, at most that
//   deep, and still hand each its own response; a request written behind one that failed may
//   then fail with connection_closed or be sent again on a new connection. (An upstream that
//   answers one request twice, `smuggled`, is not drawn then: no pipelining client can tell its
//   extra response from the next one's.)
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
#include "model_upstream.hpp"
#include "taut/client.hpp"
#include "taut/transport.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;
using namespace model;

constexpr auto header_timeout = 5s;
constexpr auto idle_timeout = 30s;

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
    if (pause_on_head) {
      pause();
      paused = true;
    }
  }
  /// A streamed body ("x=1", its length given) goes out as the connection takes it.
  void on_body_writable() override {
    stream_left.erase(0, write_body(stream_left));
    if (stream_left.empty() && !stream_finished) stream_finished = finish_body();
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

  bool pause_on_head = false;
  bool paused = false;
  std::string stream_left;
  bool stream_finished = false;
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

const header connection_close[] = {{"Connection", "close"}};

struct sent_request {
  std::size_t id;
  std::string method;
  std::string target;
  client_request request;     // views into method and target; kept while a retry may send it
  bool canceled = false;      // canceled right after send(), before the loop ran
  bool cancel_later = false;  // canceled after the loop's first turn, if still pending
  bool pending_at_cancel = false;
  std::unique_ptr<exchange_record> record;
};

/// What is wrong with one exchange, given what the upstream saw of its request (empty: nothing).
std::string check_exchange(const sent_request& r, const upstream_script& script,
                           const client_options& options) {
  const exchange_record& x = *r.record;
  if (r.canceled || r.pending_at_cancel) {
    // Canceled while pending: ended once, as canceled, whatever reached the upstream.
    if (x.completions != 0 || x.errors != 1 || x.error.code != client_errc::canceled) {
      return r.method + " request " + std::to_string(r.id) +
             ": a cancel not ended as canceled (completions " + std::to_string(x.completions) +
             ", errors " + std::to_string(x.errors) + ": " + x.error.message() + ")";
    }
    return {};
  }
  std::string who = r.method + " request " + std::to_string(r.id) + " (arrivals:";
  const auto found = script.arrivals.find(r.id);
  if (found != script.arrivals.end()) {
    for (const arrival& a : found->second) {
      who += std::string(" ") + answer_names[static_cast<int>(a.given)] +
             (a.first_on_connection ? " on a new connection" : " on a reused connection") +
             (a.pipelined ? ", pipelined" : "") +
             (script.seen_as(a) != a.given ? ", reset before it was read" : "");
    }
  }
  who += "; completions " + std::to_string(x.completions) + ", errors " + std::to_string(x.errors) +
         ": " + x.error.message() + ", status " + std::to_string(x.status) + ", body \"" +
         x.body.substr(0, 40) + "\"): ";
  if (x.completions + x.errors != 1) return who + "not ended exactly once";
  const bool deadline = r.request.timeout.count() != 0;
  if (found == script.arrivals.end()) {
    // Waiting for a connection behind silent ones (the limit reached) counts towards a deadline.
    if (deadline && x.error.code == client_errc::deadline_exceeded) return {};
    // Pipelined behind an answer after which the upstream read no more (it closed), with retries
    // off: never read there, not sent again.
    if (options.pipeline_depth > 1 && !options.retry_idempotent && idempotent(r.method) &&
        !r.request.stream_body && x.error.code == client_errc::connection_closed) {
      return {};
    }
    return who + "never reached the upstream";
  }
  const std::vector<arrival>& seen = found->second;
  if (seen.size() > 2u) return who + "sent more than twice";
  if (seen.size() == 2 && seen[0].pipelined) {
    // Written behind others: the connection may have ended (or an answer before its own made it
    // unusable) before its answer was read. Sent again on a new connection, never pipelined.
    if (!idempotent(r.method)) return who + "pipelined and retried, not idempotent";
    if (!seen[1].first_on_connection) return who + "retried on a reused connection";
  } else if (seen.size() == 2) {
    // A retry: only after a reused connection failed before any byte, for an idempotent
    // method, and on a new connection.
    const arrival& failed = seen[0];
    if (script.seen_as(failed) != answer::close_before &&
        script.seen_as(failed) != answer::reset_before) {
      return who + "retried after an answer that allows no retry";
    }
    if (failed.first_on_connection) return who + "retried after a new connection failed";
    if (!idempotent(r.method)) return who + "retried, not idempotent";
    if (r.request.stream_body) return who + "retried, its body streamed";
    if (!options.retry_idempotent) return who + "retried, retries off";
    if (!seen[1].first_on_connection || seen[1].on == failed.on) {
      return who + "retried on a reused connection";
    }
  } else if ((script.seen_as(seen[0]) == answer::close_before ||
              script.seen_as(seen[0]) == answer::reset_before) &&
             !seen[0].first_on_connection && !seen[0].pipelined && !script.partly_read(seen[0]) &&
             idempotent(r.method) && !r.request.stream_body && options.retry_idempotent) {
    // Its retry waits for a new connection: a deadline may pass first, behind silent ones.
    if (deadline && x.error.code == client_errc::deadline_exceeded) return {};
    return who + "not retried after its reused connection failed before any byte";
  }
  const arrival& last = seen.back();
  const answer given = script.seen_as(last);
  // Written behind an answer that ended its connection's use, or on one reset: its own answer,
  // if the upstream wrote one, is never read there (with retries off it is not sent again).
  if (last.pipelined && (last.behind_closed || given == answer::reset_before) &&
      !options.retry_idempotent && x.errors == 1 &&
      x.error.code == client_errc::connection_closed) {
    return {};
  }
  // Its answer cut by a reset (answering one pipelined behind it) after the client read part.
  if (script.partly_read(last) && x.errors == 1 && x.error.code == client_errc::connection_reset) {
    return {};
  }
  // Behind a silent one: held past its own deadline.
  if (last.pipelined && last.behind_closed && deadline && x.errors == 1 &&
      x.error.code == client_errc::deadline_exceeded) {
    return {};
  }
  if (succeeds(given, r.method)) {
    if (x.completions != 1 || x.heads != 1) return who + "not completed";
    const bool empty = is_head(r.method) || given == answer::no_content;
    if (x.body != (empty ? std::string() : body_of(given, r.id))) return who + "wrong body";
    if (x.status != (given == answer::no_content ? 204 : 200)) return who + "wrong status";
    if (x.reused != !last.first_on_connection) return who + "reused_connection wrong";
    const bool with_trailer = given == answer::trailers && !is_head(r.method);
    if (x.trailers != (with_trailer ? "X-Sum=" + std::to_string(r.id) + ";" : std::string())) {
      return who + "wrong trailers";
    }
    if (x.informational !=
        (given == answer::hints_then_ok ? std::vector<int>{103} : std::vector<int>{})) {
      return who + "wrong interim responses";
    }
  } else {
    if (x.errors != 1) return who + "not failed";
    const client_errc due = given == answer::silence && deadline
                                ? client_errc::deadline_exceeded  // 3 s, before the 5 s of the head
                                : expected_error(given);
    if (x.error.code != due) return who + "wrong error";
  }
  return {};
}

RC_GTEST_PROP(ClientModel, EveryExchangeGetsItsOwnResponseAndThePoolKeepsItsRules, ()) {
  upstream_script script;
  script.answers = *rc::gen::container<std::vector<answer>>(rc::gen::elementOf(weighted_answers()));

  client_options options;
  options.max_connections_per_origin = *rc::gen::inRange<std::size_t>(0, 4);
  options.max_idle_per_origin = *rc::gen::inRange<std::size_t>(0, 3);
  options.response_header_timeout = header_timeout;
  options.idle_timeout = idle_timeout;
  options.retry_idempotent = *rc::gen::inRange(0, 5) != 0;
  options.pipeline_depth = *rc::gen::element<std::size_t>(1, 1, 2, 4);
  script.max_connections = options.max_connections_per_origin;
  script.pipeline_depth = options.pipeline_depth;
  if (options.pipeline_depth > 1)
    std::replace(script.answers.begin(), script.answers.end(), answer::smuggled,
                 answer::keep_alive);

  transport::manual_clock clock;
  auto loop = transport::event_loop::create({.clock = &clock}).value();
  auto client = std::make_unique<taut::client>(*loop, options);
  // Responses read in pieces as small as a few bytes: every head and body split anywhere.
  transport::memory_options upstream_faults;
  upstream_faults.server_to_client.max_read = *rc::gen::element<std::size_t>(0, 0, 7, 100);
  auto upstream = std::make_unique<scripted_upstream>(
      *loop, [&script](upstream_connection& c, std::size_t index) { script.answer_head(c, index); },
      upstream_faults);
  const origin where = origin::memory(upstream->dialer(), "up");
  script.open_connections = [&client, &where] { return client->open_connections(where); };

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
      r.record = std::make_unique<exchange_record>();
      if (r.method == "POST" || r.method == "PUT") {
        if (*rc::gen::inRange(0, 3) == 0) {
          r.request.stream_body = true;
          r.request.stream_length = 3;
          r.record->stream_left = "x=1";
        } else {
          r.request.body = "x=1";
          r.request.expect_continue = *rc::gen::inRange(0, 4) == 0;
        }
      }
      if (*rc::gen::inRange(0, 6) == 0) r.request.headers = connection_close;
      if (*rc::gen::inRange(0, 5) == 0) r.request.timeout = 3s;
      r.canceled = *rc::gen::inRange(0, 8) == 0;
      r.cancel_later = !r.canceled && *rc::gen::inRange(0, 8) == 0;
      r.record->pause_on_head = *rc::gen::inRange(0, 5) == 0;
    }
    for (std::size_t i = first; i < sent.size(); ++i) {
      const client_error refused = client->send(where, sent[i].request, *sent[i].record);
      RC_ASSERT(!refused);
    }
    for (std::size_t i = first; i < sent.size(); ++i) {
      if (sent[i].canceled) sent[i].record->cancel();
    }
    // Runs the loop until it is idle with no exchange paused: a paused one is resumed (after the
    // loop ran without it) and takes its body.
    const auto settle = [&] {
      for (bool resumed = true; resumed;) {
        loop->run_until_idle();
        resumed = false;
        for (std::size_t i = first; i < sent.size(); ++i) {
          exchange_record& x = *sent[i].record;
          if (x.paused) {
            x.paused = false;
            x.resume();
            resumed = true;
          }
        }
      }
    };
    settle();
    // Some pending ones are canceled.
    for (std::size_t i = first; i < sent.size(); ++i) {
      sent_request& r = sent[i];
      if (r.cancel_later && r.record->pending()) {
        r.pending_at_cancel = true;
        r.record->cancel();
      }
    }
    settle();
    // Whatever is silent times out; a request waiting for its connection goes out after that.
    for (std::size_t i = first; i < sent.size(); ++i) {
      while (sent[i].record->completions + sent[i].record->errors == 0 &&
             clock.now() < round_start + (header_timeout + 1s) * 2 * batch) {
        clock.advance(header_timeout + 1s);
        settle();
      }
    }
    if (!script.violations.empty()) RC_FAIL(script.violations.front());
    RC_ASSERT(client->idle_connections(where) <= options.max_idle_per_origin);
    for (std::size_t i = first; i < sent.size(); ++i) {
      const std::string wrong = check_exchange(sent[i], script, options);
      if (!wrong.empty()) RC_FAIL(wrong);
      // The client decides a retry when a reused connection fails before any byte (whether the
      // retry then reaches the upstream, or waits and is canceled or runs out of time).
      const auto found = script.arrivals.find(sent[i].id);
      if (found != script.arrivals.end()) {
        const arrival& first_try = found->second.front();
        const sent_request& r = sent[i];
        if ((script.seen_as(first_try) == answer::close_before ||
             script.seen_as(first_try) == answer::reset_before) &&
            !first_try.first_on_connection && !script.partly_read(first_try) &&
            idempotent(r.method) && !r.request.stream_body && options.retry_idempotent &&
            !r.canceled) {
          ++retries_expected;
        }
      }
    }
    // Pipelined requests sent again are retries too, beyond those.
    if (options.pipeline_depth > 1) {
      RC_ASSERT(client->stats().retries >= retries_expected);
    } else {
      RC_ASSERT(client->stats().retries == retries_expected);
    }
  }
  clock.advance(idle_timeout + 1s);
  loop->run_until_idle();
  RC_ASSERT(client->open_connections(where) == 0u);
  client.reset();
  upstream.reset();
}

}  // namespace
}  // namespace taut::test
