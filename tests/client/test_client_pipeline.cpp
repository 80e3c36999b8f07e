// taut::client with client_options::pipeline_depth: idempotent requests sent in one loop iteration
// go out in one write on one connection, and each gets its own response; a connection that ends
// before answering the requests behind sends them to a new one (RFC 9112 section 9.3.2), and only
// idempotent requests with whole bodies are ever pipelined.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client_test_support.hpp"
#include "taut/testing.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;

// The request-target of the head the upstream just found (bodiless requests only).
std::string last_target(const upstream_connection& c) {
  const std::size_t end = c.scanned - 4;
  std::size_t start = end == 0 ? std::string::npos : c.received.rfind("\r\n\r\n", end - 1);
  start = start == std::string::npos ? 0 : start + 4;
  const std::size_t space = c.received.find(' ', start);
  return c.received.substr(space + 1, c.received.find(' ', space + 1) - space - 1);
}

// A response whose body names the request it answers.
std::string naming(const std::string& target, std::string_view extra = {}) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(target.size()) + "\r\n" +
         std::string(extra) + "\r\n" + target;
}

client_options pipelining(std::size_t depth = 4) {
  client_options options;
  options.pipeline_depth = depth;
  return options;
}

// Sends every request before the loop runs (as a proxy does with the requests of one
// iteration), then runs it.
void send_all(scripted_world& w, std::vector<std::unique_ptr<recorder>>& into,
              const std::vector<client_request>& requests) {
  for (const client_request& request : requests) {
    into.push_back(std::make_unique<recorder>());
    ASSERT_FALSE(w.client->send(w.where, w.kept.emplace_back(request), *into.back()));
  }
  w.loop->run_until_idle();
}

std::vector<client_request> gets(int first, int count) {
  static std::deque<std::string> targets;  // the requests' views
  std::vector<client_request> out;
  for (int i = first; i < first + count; ++i) {
    out.push_back({.method = "GET", .target = targets.emplace_back("/" + std::to_string(i))});
  }
  return out;
}

TEST(ClientPipeline, RequestsOfOneIterationLeaveInOneWriteAndGetTheirOwnResponses) {
  std::vector<std::size_t> received_at_head;
  scripted_world w(
      [&](upstream_connection& c, std::size_t) {
        received_at_head.push_back(c.received.size());
        (void)c.stream.write(naming(last_target(c)));
      },
      pipelining());
  std::vector<std::unique_ptr<recorder>> r;
  send_all(w, r, gets(0, 1));  // a connection to pipeline on
  received_at_head.clear();
  send_all(w, r, gets(1, 4));
  for (std::size_t i = 0; i < r.size(); ++i) {
    ASSERT_TRUE(r[i]->completed) << i << ": " << r[i]->error.message();
    EXPECT_EQ(r[i]->body, "/" + std::to_string(i));
    EXPECT_TRUE(r[i]->reused || i == 0);
  }
  EXPECT_EQ(w.upstream->accepted(), 1u);
  EXPECT_EQ(w.client->stats().pipelined, 3u);
  EXPECT_EQ(w.client->stats().reused, 4u);
  // The four requests reached the upstream together: at its first head it had all their bytes.
  ASSERT_EQ(received_at_head.size(), 4u);
  EXPECT_EQ(received_at_head.front(), received_at_head.back());
  EXPECT_EQ(w.client->idle_connections(w.where), 1u);
}

// The server's window (30 bytes) holds less than one request: the requests go out over several
// writes while the first answers come. Each one counts as written once its own bytes are (not once
// everything behind it is too): the server answering it is no early answer, and the connection
// carries them all.
TEST(ClientPipeline, ARequestIsWrittenWhenItsOwnBytesAreEvenWithMoreBehindIt) {
  transport::memory_options faults;
  faults.client_to_server.capacity = 30;
  scripted_world w(
      [](upstream_connection& c, std::size_t) { (void)c.stream.write(naming(last_target(c))); },
      pipelining(), faults);
  std::vector<std::unique_ptr<recorder>> r;
  send_all(w, r, gets(0, 1));
  send_all(w, r, gets(1, 4));
  for (std::size_t i = 0; i < r.size(); ++i) {
    ASSERT_TRUE(r[i]->completed) << i << ": " << r[i]->error.message();
    EXPECT_EQ(r[i]->body, "/" + std::to_string(i));
  }
  EXPECT_EQ(w.client->stats().pipelined, 3u);
  EXPECT_EQ(w.client->stats().retries, 0u);
  EXPECT_EQ(w.upstream->accepted(), 1u);
}

TEST(ClientPipeline, OneIsOneAtATime) {
  scripted_world w(
      [](upstream_connection& c, std::size_t) { (void)c.stream.write(naming(last_target(c))); });
  std::vector<std::unique_ptr<recorder>> r;
  send_all(w, r, gets(0, 1));
  send_all(w, r, gets(1, 3));
  for (auto& x : r) EXPECT_TRUE(x->completed) << x->error.message();
  EXPECT_EQ(w.client->stats().pipelined, 0u);
  EXPECT_EQ(w.upstream->accepted(), 3u);  // the idle one, and two more
}

TEST(ClientPipeline, ResponsesOfEveryFramingReadInSmallPiecesFromATautServer) {
  mux app;
  app.handle("GET /n/{n}",
             [](request_context& req, reply& res) { res.text(200, std::string(req.param("n"))); });
  app.handle("GET /chunked", [](request_context&, reply& res) {
    res.begin();
    res.write("abc");
    res.write("defg");
    const header trailer{"X-Sum", "7"};
    res.finish({&trailer, 1});
  });
  app.handle("GET /nothing", [](request_context&, reply& res) {
    res.status(204);
    res.finish();
  });
  for (const std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
    SCOPED_TRACE(piece);
    transport::memory_options faults;
    faults.server_to_client.max_read = piece;
    memory_world w(app, pipelining(8), faults);
    recorder warm;
    w.exchange({.target = "/n/0"}, warm);
    ASSERT_TRUE(warm.completed) << warm.error.message();
    const std::vector<client_request> requests = {{.target = "/n/1"},
                                                  {.method = "HEAD", .target = "/n/22"},
                                                  {.target = "/chunked"},
                                                  {.target = "/nothing"},
                                                  {.method = "PUT", .target = "/n/3", .body = "x"},
                                                  {.target = "/n/4444"}};
    std::vector<std::unique_ptr<recorder>> r;
    for (const client_request& request : requests) {
      r.push_back(std::make_unique<recorder>());
      ASSERT_FALSE(w.client.send(w.where, request, *r.back()));
    }
    w.run();
    ASSERT_TRUE(r[0]->completed) << r[0]->error.message();
    EXPECT_EQ(r[0]->body, "1");
    ASSERT_TRUE(r[1]->completed) << r[1]->error.message();
    EXPECT_EQ(r[1]->status, 200);
    EXPECT_EQ(r[1]->body, "");
    ASSERT_TRUE(r[2]->completed) << r[2]->error.message();
    EXPECT_EQ(r[2]->body, "abcdefg");
    ASSERT_EQ(r[2]->trailers.size(), 1u);
    EXPECT_EQ(r[2]->trailers[0].second, "7");
    ASSERT_TRUE(r[3]->completed) << r[3]->error.message();
    EXPECT_EQ(r[3]->status, 204);
    ASSERT_TRUE(r[4]->completed) << r[4]->error.message();
    EXPECT_EQ(r[4]->status, 405);  // no PUT route: the server's answer, still framed
    ASSERT_TRUE(r[5]->completed) << r[5]->error.message();
    EXPECT_EQ(r[5]->body, "4444");
    EXPECT_EQ(w.client.stats().pipelined, 5u);
    EXPECT_EQ(w.server.stats().accepted, 1u);
  }
}

TEST(ClientPipeline, OnlyIdempotentRequestsWithWholeBodiesArePipelined) {
  scripted_world w([](upstream_connection& c, std::size_t) { (void)c.stream.write(ok_response); },
                   pipelining());
  static const header close_field[] = {{"Connection", "close"}};
  static const header upgrade_fields[] = {{"Connection", "upgrade"}, {"Upgrade", "websocket"}};
  const client_request get{.method = "GET", .target = "/"};
  // How many requests were pipelined when `second` was sent right behind `first`.
  const auto pipelined = [&](const client_request& first, const client_request& second) {
    recorder warm;
    w.exchange(get, warm);
    const std::uint64_t before = w.client->stats().pipelined;
    recorder one;
    recorder two;
    EXPECT_FALSE(w.client->send(w.where, first, one));
    EXPECT_FALSE(w.client->send(w.where, second, two));
    w.loop->run_until_idle();
    for (recorder* r : {&one, &two}) {
      if (!r->done) (void)r->finish_body();  // a streamed body of no bytes
    }
    w.loop->run_until_idle();
    EXPECT_TRUE(one.done && two.done);
    return w.client->stats().pipelined - before;
  };
  EXPECT_EQ(pipelined(get, get), 1u);
  EXPECT_EQ(pipelined(get, {.method = "HEAD", .target = "/"}), 1u);
  EXPECT_EQ(pipelined(get, {.method = "PUT", .target = "/", .body = "x"}), 1u);
  EXPECT_EQ(pipelined(get, {.method = "DELETE", .target = "/"}), 1u);
  const std::vector<client_request> never = {
      {.method = "POST", .target = "/", .body = "x"},
      {.method = "PATCH", .target = "/", .body = "x"},
      {.method = "PUT", .target = "/", .stream_body = true, .stream_length = 0},
      {.method = "PUT", .target = "/", .body = "x", .expect_continue = true},
      {.method = "GET", .target = "/", .headers = close_field},
      {.method = "GET", .target = "/", .headers = upgrade_fields}};
  for (const client_request& request : never) {
    SCOPED_TRACE(std::string(request.method) + " " +
                 (request.headers.empty() ? "" : std::string(request.headers[0].value)));
    EXPECT_EQ(pipelined(get, request), 0u);  // not behind a GET
    EXPECT_EQ(pipelined(request, get), 0u);  // nothing behind it
  }
}

// RFC 9112 section 9.6: a server that says close processes no request after that response, so
// the requests written behind it were not processed: sent again on a new connection, even with
// retries off.
TEST(ClientPipeline, ConnectionCloseInAResponseSendsTheRequestsBehindToANewConnection) {
  for (const bool retries : {true, false}) {
    SCOPED_TRACE(retries);
    client_options options = pipelining();
    options.retry_idempotent = retries;
    scripted_world w(
        [](upstream_connection& c, std::size_t index) {
          if (index == 1) {
            (void)c.stream.write(naming(last_target(c), "Connection: close\r\n"));
            (void)c.stream.close();
            return;
          }
          (void)c.stream.write(naming(last_target(c)));
        },
        options);
    std::vector<std::unique_ptr<recorder>> r;
    send_all(w, r, gets(0, 1));
    send_all(w, r, gets(1, 3));
    for (std::size_t i = 0; i < r.size(); ++i) {
      ASSERT_TRUE(r[i]->completed) << i << ": " << r[i]->error.message();
      EXPECT_EQ(r[i]->body, "/" + std::to_string(i));
    }
    EXPECT_FALSE(r[2]->reused);  // a new connection each: a retry is not pipelined
    EXPECT_EQ(w.upstream->accepted(), 3u);
    EXPECT_EQ(w.client->stats().retries, 2u);
  }
}

// The connection ends (the server's close, unannounced) after answering the first of three: the
// two behind are retried once on a new connection, or fail with connection_closed when retries
// are off.
TEST(ClientPipeline, UnansweredRequestsAreRetriedOnceOrFailWhenRetriesAreOff) {
  for (const bool retries : {true, false}) {
    SCOPED_TRACE(retries);
    client_options options = pipelining();
    options.retry_idempotent = retries;
    scripted_world w(
        [](upstream_connection& c, std::size_t index) {
          (void)c.stream.write(naming(last_target(c)));
          if (index == 1) (void)c.stream.close();
        },
        options);
    std::vector<std::unique_ptr<recorder>> r;
    send_all(w, r, gets(0, 1));
    send_all(w, r, gets(1, 3));
    ASSERT_TRUE(r[1]->completed) << r[1]->error.message();
    EXPECT_EQ(r[1]->body, "/1");
    for (std::size_t i = 2; i < r.size(); ++i) {
      ASSERT_TRUE(r[i]->done);
      if (retries) {
        ASSERT_TRUE(r[i]->completed) << i << ": " << r[i]->error.message();
        EXPECT_EQ(r[i]->body, "/" + std::to_string(i));
      } else {
        EXPECT_FALSE(r[i]->completed);
        EXPECT_EQ(r[i]->error.code, client_errc::connection_closed) << r[i]->error.message();
      }
    }
    EXPECT_EQ(w.client->stats().retries, retries ? 2u : 0u);
    EXPECT_EQ(w.upstream->accepted(), retries ? 3u : 1u);
    // The upstream read the heads up to the one it answered last, then those sent again.
    EXPECT_EQ(w.upstream->heads(), retries ? 4u : 2u);
  }
}

// A retry waits for a new connection and nothing is pipelined behind it until it is answered
// (RFC 9112 section 9.3.2: the first request of a failed pipeline may have caused the failure).
TEST(ClientPipeline, NothingIsPipelinedBehindARetry) {
  client_options options = pipelining();
  options.max_connections_per_origin = 1;
  upstream_connection* held = nullptr;
  scripted_world w(
      [&](upstream_connection& c, std::size_t index) {
        if (index == 1) {
          (void)c.stream.close();  // the reused connection fails before any byte
        } else if (index == 2) {
          held = &c;  // the retry: answered later
        } else {
          (void)c.stream.write(naming(last_target(c)));
        }
      },
      options);
  std::vector<std::unique_ptr<recorder>> r;
  send_all(w, r, gets(0, 1));
  send_all(w, r, gets(1, 1));
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(w.client->stats().retries, 1u);
  // At the limit, with the retry in flight: the next request waits rather than go behind it.
  send_all(w, r, gets(2, 1));
  EXPECT_EQ(w.client->stats().pipelined, 0u);
  EXPECT_EQ(held->heads, 1u);
  (void)held->stream.write(naming("/1"));
  w.loop->run_until_idle();
  for (std::size_t i = 0; i < r.size(); ++i) {
    ASSERT_TRUE(r[i]->completed) << i << ": " << r[i]->error.message();
    EXPECT_EQ(r[i]->body, "/" + std::to_string(i));
  }
  EXPECT_EQ(w.client->stats().pipelined, 0u);
  EXPECT_EQ(w.upstream->accepted(), 2u);
}

// A queued request canceled (or destroyed) gives up its response, which is read for nobody; the
// others get theirs on the same connection.
TEST(ClientPipeline, CancelingOrDestroyingAQueuedRequestLeavesTheOthersTheirResponses) {
  for (const bool destroy : {false, true}) {
    SCOPED_TRACE(destroy ? "destroyed" : "canceled");
    scripted_world w(
        [](upstream_connection& c, std::size_t) { (void)c.stream.write(naming(last_target(c))); },
        pipelining());
    std::vector<std::unique_ptr<recorder>> r;
    send_all(w, r, gets(0, 1));
    const std::vector<client_request> three = gets(1, 3);
    for (const client_request& request : three) {
      r.push_back(std::make_unique<recorder>());
      ASSERT_FALSE(w.client->send(w.where, w.kept.emplace_back(request), *r.back()));
    }
    if (destroy) {
      r[2].reset();
    } else {
      r[2]->cancel();
      EXPECT_EQ(r[2]->error.code, client_errc::canceled);
    }
    w.loop->run_until_idle();
    ASSERT_TRUE(r[1]->completed) << r[1]->error.message();
    EXPECT_EQ(r[1]->body, "/1");
    ASSERT_TRUE(r[3]->completed) << r[3]->error.message();
    EXPECT_EQ(r[3]->body, "/3");
    EXPECT_EQ(w.upstream->accepted(), 1u);
    EXPECT_EQ(w.client->idle_connections(w.where), 1u);
    if (!destroy) {
      EXPECT_FALSE(r[2]->completed);
    }
  }
}

// A deadline passing for a request queued behind a silent one ends only that request; the one in
// flight then times out its head, and the request behind goes to a new connection.
TEST(ClientPipeline, ADeadlineOnAQueuedRequestEndsOnlyIt) {
  client_options options = pipelining();
  options.response_header_timeout = 5s;
  scripted_world w(
      [](upstream_connection& c, std::size_t index) {
        if (index == 1) return;  // silence for the first of the batch, and all behind it
        if (c.heads == 1) (void)c.stream.write(naming(last_target(c)));
      },
      options);
  std::vector<std::unique_ptr<recorder>> r;
  send_all(w, r, gets(0, 1));
  std::vector<client_request> three = gets(1, 3);
  three[1].timeout = 2s;
  send_all(w, r, three);
  w.advance(2s);
  ASSERT_TRUE(r[2]->done);
  EXPECT_EQ(r[2]->error.code, client_errc::deadline_exceeded);
  EXPECT_FALSE(r[1]->done);
  EXPECT_FALSE(r[3]->done);
  w.advance(4s);
  ASSERT_TRUE(r[1]->done);
  EXPECT_EQ(r[1]->error.code, client_errc::header_timeout);
  ASSERT_TRUE(r[3]->completed) << r[3]->error.message();
  EXPECT_EQ(r[3]->body, "/3");
}

// The request in flight runs out of time with requests pipelined behind it: its response is read
// for nobody when it comes, the ones behind get theirs on the same connection, and nothing more is
// written behind the one given up.
TEST(ClientPipeline, ADeadlineOnTheRequestInFlightLeavesTheOnesBehindTheirResponses) {
  client_options one_connection = pipelining();
  one_connection.max_connections_per_origin = 1;
  upstream_connection* held = nullptr;
  scripted_world w(
      [&](upstream_connection& c, std::size_t index) {
        if (index == 0 || index == 4) {
          (void)c.stream.write(naming(last_target(c)));
        } else {
          held = &c;  // answered later, all at once
        }
      },
      one_connection);
  std::vector<std::unique_ptr<recorder>> r;
  send_all(w, r, gets(0, 1));
  std::vector<client_request> three = gets(1, 3);
  three[0].timeout = 2s;
  send_all(w, r, three);
  ASSERT_NE(held, nullptr);
  w.advance(2s);
  ASSERT_TRUE(r[1]->done);
  EXPECT_EQ(r[1]->error.code, client_errc::deadline_exceeded);
  EXPECT_FALSE(r[2]->done);
  // A request sent now is not written behind the one given up: it waits for the connection.
  send_all(w, r, gets(4, 1));
  EXPECT_EQ(w.client->stats().pipelined, 2u);
  EXPECT_EQ(held->heads, 4u);
  (void)held->stream.write(naming("/1") + naming("/2") + naming("/3"));
  w.loop->run_until_idle();
  for (std::size_t i = 2; i < r.size(); ++i) {
    ASSERT_TRUE(r[i]->completed) << i << ": " << r[i]->error.message();
  }
  EXPECT_EQ(r[2]->body, "/2");
  EXPECT_EQ(r[3]->body, "/3");
  EXPECT_EQ(r[4]->body, "/4");
  EXPECT_EQ(w.upstream->accepted(), 1u);
  EXPECT_EQ(w.client->idle_connections(w.where), 1u);
}

// A response paused by its reader (a proxy's slow client) with requests pipelined behind it:
// they go again on new connections rather than wait for that reader, their first answers read
// for nobody once it resumes; with retries off they wait.
TEST(ClientPipeline, APausedResponseHoldsNobodyBehindIt) {
  for (const bool retries : {true, false}) {
    SCOPED_TRACE(retries);
    client_options options = pipelining();
    options.retry_idempotent = retries;
    scripted_world w(
        [](upstream_connection& c, std::size_t) { (void)c.stream.write(naming(last_target(c))); },
        options);
    std::vector<std::unique_ptr<recorder>> r;
    send_all(w, r, gets(0, 1));
    const std::vector<client_request> three = gets(1, 3);
    for (const client_request& request : three) {
      r.push_back(std::make_unique<recorder>());
      ASSERT_FALSE(w.client->send(w.where, w.kept.emplace_back(request), *r.back()));
    }
    r[1]->pause_on_head = true;
    w.loop->run_until_idle();
    EXPECT_FALSE(r[1]->done);
    for (std::size_t i = 2; i < r.size(); ++i) {
      EXPECT_EQ(r[i]->completed, retries) << i;
      if (retries) {
        EXPECT_EQ(r[i]->body, "/" + std::to_string(i));
      }
    }
    EXPECT_EQ(w.upstream->accepted(), retries ? 3u : 1u);
    r[1]->resume();
    w.loop->run_until_idle();
    for (std::size_t i = 1; i < r.size(); ++i) {
      ASSERT_TRUE(r[i]->completed) << i << ": " << r[i]->error.message();
      EXPECT_EQ(r[i]->body, "/" + std::to_string(i));
    }
    EXPECT_EQ(w.client->stats().retries, retries ? 2u : 0u);
    EXPECT_EQ(w.client->idle_connections(w.where), retries ? 3u : 1u);
  }
}

TEST(ClientPipeline, DestroyingTheClientCancelsTheQueuedRequests) {
  scripted_world w(
      [](upstream_connection& c, std::size_t index) {
        if (index == 0) (void)c.stream.write(ok_response);
      },
      pipelining());
  std::vector<std::unique_ptr<recorder>> r;
  send_all(w, r, gets(0, 1));
  send_all(w, r, gets(1, 3));
  EXPECT_EQ(w.client->stats().pipelined, 2u);
  w.client.reset();
  for (std::size_t i = 1; i < r.size(); ++i) {
    ASSERT_TRUE(r[i]->done) << i;
    EXPECT_EQ(r[i]->error.code, client_errc::canceled) << i;
  }
}

// At the connection limit a pipelinable request goes behind the requests of the connection with
// the fewest instead of waiting; the depth bounds each connection.
TEST(ClientPipeline, AtTheLimitRequestsQueueOnTheShortestPipeline) {
  client_options options = pipelining(3);
  options.max_connections_per_origin = 2;
  std::vector<upstream_connection*> held;
  scripted_world w([&](upstream_connection& c, std::size_t) { held.push_back(&c); }, options);
  std::vector<std::unique_ptr<recorder>> r;
  // Two connections, each with a request in flight (not answered yet).
  for (int i = 0; i < 2; ++i) {
    r.push_back(std::make_unique<recorder>());
    ASSERT_FALSE(w.client->send(w.where, w.kept.emplace_back(gets(i, 1)[0]), *r.back()));
  }
  w.loop->run_until_idle();
  ASSERT_EQ(w.upstream->accepted(), 2u);
  // Five more: two behind each (depth 3), the fifth waits.
  for (int i = 2; i < 7; ++i) {
    r.push_back(std::make_unique<recorder>());
    ASSERT_FALSE(w.client->send(w.where, w.kept.emplace_back(gets(i, 1)[0]), *r.back()));
    w.loop->run_until_idle();
  }
  EXPECT_EQ(w.client->stats().pipelined, 4u);
  EXPECT_EQ(held.size(), 6u);
  // Now the upstream answers everything it has, and what comes later.
  for (auto& c : w.upstream->connections()) {
    std::size_t at = 0;
    while ((at = c->received.find("GET ", at)) != std::string::npos) {
      const std::size_t end = c->received.find(' ', at + 4);
      (void)c->stream.write(naming(c->received.substr(at + 4, end - at - 4)));
      at = end;
    }
  }
  w.loop->run_until_idle();
  for (auto& c : w.upstream->connections()) {
    if (c->heads > 3) (void)c->stream.write(naming(last_target(*c)));
  }
  w.loop->run_until_idle();
  for (std::size_t i = 0; i < r.size(); ++i) {
    ASSERT_TRUE(r[i]->completed) << i << ": " << r[i]->error.message();
    EXPECT_EQ(r[i]->body, "/" + std::to_string(i));
  }
  EXPECT_EQ(w.upstream->accepted(), 2u);
}

}  // namespace
}  // namespace taut::test
