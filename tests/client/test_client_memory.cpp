// taut::client over the memory transport, on a manual clock: against taut's own server (pool
// reuse counted, bodies, 100-continue, streamed uploads) and against scripted upstreams that
// misbehave (closes mid-head and mid-body, resets, garbage, CL+TE, a second response smuggled
// after the first, stalls).
#include <span>
#include <string>

#include "client_test_support.hpp"
#include "taut/http_chars.hpp"
#include "taut/testing.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;

mux make_app() {
  mux app;
  app.handle("GET /hello", [](request_context&, reply& res) { res.text(200, "hello"); });
  app.handle("POST /echo", [](request_context& req, reply& res) { res.send(200, req.body()); });
  app.handle("PUT /echo", [](request_context& req, reply& res) { res.send(200, req.body()); });
  app.handle("GET /chunked", [](request_context&, reply& res) {
    res.begin();
    res.write("abc");
    res.write("defg");
    const header trailer{"X-Sum", "7"};
    res.finish({&trailer, 1});
  });
  app.handle("GET /big/{n}", [](request_context& req, reply& res) {
    res.send(200, std::string(std::stoul(std::string(req.param("n"))), 'x'));
  });
  app.handle("GET /host", [](request_context& req, reply& res) { res.text(200, req.host()); });
  app.handle("GET /fields", [](request_context& req, reply& res) {
    res.text(200, std::string(req.header("X-One")) + "|" + std::string(req.header("X-Two")));
  });
  app.handle("GET /nothing", [](request_context&, reply& res) {
    res.status(204);
    res.finish();
  });
  return app;
}

TEST(ClientMemory, GetsAResponseFromATautServer) {
  mux app = make_app();
  memory_world w(app);
  recorder r;
  w.exchange({.method = "GET", .target = "/hello"}, r);
  ASSERT_TRUE(r.completed) << r.error.message();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_FALSE(r.reused);
}

TEST(ClientMemory, ReusesOneConnectionForSequentialRequests) {
  mux app = make_app();
  memory_world w(app);
  for (int i = 0; i < 20; ++i) {
    recorder r;
    w.exchange({.method = "GET", .target = "/hello"}, r);
    ASSERT_TRUE(r.completed) << i << ": " << r.error.message();
    EXPECT_EQ(r.reused, i > 0);
  }
  EXPECT_EQ(w.client.stats().connections_opened, 1u);
  EXPECT_EQ(w.client.stats().requests, 20u);
  EXPECT_EQ(w.client.stats().reused, 19u);
  EXPECT_EQ(w.client.idle_connections(w.where), 1u);
  EXPECT_EQ(w.server.stats().accepted, 1u);
}

// Sends the next request of a sequence from on_complete, as a crawler or a retry loop does.
class chain final : public recorder {
 public:
  chain(client& c, const origin& where, int left) : client_(&c), where_(&where), left_(left) {}
  void on_complete(std::span<const taut::header> t) override {
    recorder::on_complete(t);
    if (--left_ > 0) {
      done = completed = false;
      ASSERT_FALSE(client_->send(*where_, request_, *this));
    }
  }

 private:
  client* client_;
  const origin* where_;
  int left_;
  client_request request_{.method = "GET", .target = "/hello"};
};

TEST(ClientMemory, ARequestSentFromOnCompleteReusesTheConnection) {
  mux app = make_app();
  memory_world w(app);
  chain c(w.client, w.where, 5);
  const client_request first{.method = "GET", .target = "/hello"};
  ASSERT_FALSE(w.client.send(w.where, first, c));
  w.run();
  EXPECT_TRUE(c.completed);
  EXPECT_EQ(c.body, "hellohellohellohellohello");
  EXPECT_EQ(w.client.stats().requests, 5u);
  EXPECT_EQ(w.client.stats().connections_opened, 1u);
}

TEST(ClientMemory, SendsHostFieldsAndBodies) {
  mux app = make_app();
  memory_world w(app);
  recorder host;
  w.exchange({.method = "GET", .target = "/host"}, host);
  EXPECT_EQ(host.body, "test.example");

  const header fields[] = {{"X-One", "1"}, {"X-Two", "two words"}};
  recorder with_fields;
  w.exchange({.method = "GET", .target = "/fields", .headers = fields}, with_fields);
  EXPECT_EQ(with_fields.body, "1|two words");

  recorder post;
  w.exchange({.method = "POST", .target = "/echo", .body = "payload"}, post);
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, "payload");

  recorder empty_put;
  w.exchange({.method = "PUT", .target = "/echo"}, empty_put);
  EXPECT_EQ(empty_put.status, 200);  // Content-Length: 0 sent: no 411 or hang
  EXPECT_EQ(empty_put.body, "");
  EXPECT_EQ(w.client.stats().connections_opened, 1u);
}

TEST(ClientMemory, ReadsChunkedBodiesWithTrailersAndLargeBodies) {
  mux app = make_app();
  memory_world w(app, {}, {.server_to_client = {.max_write = 7}});
  recorder chunked;
  w.exchange({.method = "GET", .target = "/chunked"}, chunked);
  ASSERT_TRUE(chunked.completed) << chunked.error.message();
  EXPECT_EQ(chunked.body, "abcdefg");
  ASSERT_EQ(chunked.trailers.size(), 1u);
  EXPECT_EQ(chunked.trailers[0].second, "7");

  recorder big;
  w.exchange({.method = "GET", .target = "/big/300000"}, big);
  ASSERT_TRUE(big.completed) << big.error.message();
  EXPECT_EQ(big.body.size(), 300000u);
  EXPECT_EQ(w.client.stats().connections_opened, 1u);
}

TEST(ClientMemory, HeadAnd204HaveNoBody) {
  mux app = make_app();
  memory_world w(app);
  recorder head;
  w.exchange({.method = "HEAD", .target = "/big/1000"}, head);
  ASSERT_TRUE(head.completed) << head.error.message();
  EXPECT_EQ(head.header("Content-Length"), "1000");
  EXPECT_EQ(head.body, "");
  recorder none;
  w.exchange({.method = "GET", .target = "/nothing"}, none);
  ASSERT_TRUE(none.completed);
  EXPECT_EQ(none.status, 204);
  recorder after;
  w.exchange({.method = "GET", .target = "/hello"}, after);
  EXPECT_EQ(after.body, "hello");
  EXPECT_EQ(w.client.stats().connections_opened, 1u);  // the framing ended cleanly each time
}

TEST(ClientMemory, PoolLimitQueuesRequestsAndOpensNoMoreConnections) {
  mux app = make_app();
  memory_world w(app, {.max_connections_per_origin = 2});
  std::vector<std::unique_ptr<recorder>> exchanges;
  const client_request request{.method = "GET", .target = "/hello"};
  for (int i = 0; i < 7; ++i) {
    exchanges.push_back(std::make_unique<recorder>());
    ASSERT_FALSE(w.client.send(w.where, request, *exchanges.back()));
  }
  EXPECT_EQ(w.client.open_connections(w.where), 2u);
  w.run();
  for (auto& r : exchanges) {
    EXPECT_TRUE(r->completed) << r->error.message();
    EXPECT_EQ(r->body, "hello");
  }
  EXPECT_EQ(w.client.stats().connections_opened, 2u);
  EXPECT_EQ(w.client.stats().reused, 5u);
}

TEST(ClientMemory, WaitQueueHasALimit) {
  mux app = make_app();
  memory_world w(app, {.max_connections_per_origin = 1, .max_waiting_per_origin = 1});
  recorder a, b, c;
  const client_request request{.method = "GET", .target = "/hello"};
  EXPECT_FALSE(w.client.send(w.where, request, a));
  EXPECT_FALSE(w.client.send(w.where, request, b));
  const client_error refused = w.client.send(w.where, request, c);
  EXPECT_EQ(refused.code, client_errc::too_many_waiting);
  EXPECT_FALSE(c.pending());
  w.run();
  EXPECT_TRUE(a.completed);
  EXPECT_TRUE(b.completed);
}

TEST(ClientMemory, IdleConnectionsBeyondTheLimitAreClosedLeastRecentlyUsedFirst) {
  mux app = make_app();
  memory_world w(app, {.max_idle_per_origin = 1});
  recorder a, b;
  const client_request request{.method = "GET", .target = "/hello"};
  ASSERT_FALSE(w.client.send(w.where, request, a));
  ASSERT_FALSE(w.client.send(w.where, request, b));
  w.run();
  EXPECT_TRUE(a.completed && b.completed);
  EXPECT_EQ(w.client.idle_connections(w.where), 1u);
  EXPECT_EQ(w.client.open_connections(w.where), 1u);
}

TEST(ClientMemory, IdleTimeoutClosesPooledConnections) {
  mux app = make_app();
  memory_world w(app, {.idle_timeout = 5s});
  recorder r;
  w.exchange({.method = "GET", .target = "/hello"}, r);
  EXPECT_EQ(w.client.idle_connections(w.where), 1u);
  w.advance(4s);
  EXPECT_EQ(w.client.idle_connections(w.where), 1u);
  w.advance(2s);
  EXPECT_EQ(w.client.open_connections(w.where), 0u);
}

TEST(ClientMemory, ExpectContinueWaitsForTheServer) {
  mux app = make_app();
  memory_world w(app);
  recorder r;
  w.exchange({.method = "POST", .target = "/echo", .body = "after 100", .expect_continue = true},
             r);
  ASSERT_TRUE(r.completed) << r.error.message();
  EXPECT_EQ(r.informational, std::vector<int>{100});
  EXPECT_EQ(r.body, "after 100");
}

// Writes its pieces as the connection takes them, then finishes the body.
class streamer final : public recorder {
 public:
  explicit streamer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {}
  void on_body_writable() override {
    while (next_ < pieces_.size()) {
      std::string_view rest = std::string_view(pieces_[next_]).substr(offset_);
      const std::size_t taken = write_body(rest);
      offset_ += taken;
      if (offset_ < pieces_[next_].size()) return;  // full: called again when there is room
      ++next_;
      offset_ = 0;
    }
    if (!finished_) finished_ = finish_body();
  }

 private:
  std::vector<std::string> pieces_;
  std::size_t next_ = 0;
  std::size_t offset_ = 0;
  bool finished_ = false;
};

TEST(ClientMemory, StreamsARequestBodyChunkedAndWithALength) {
  mux app = make_app();
  memory_world w(app, {.buffer_size = 1024}, {.client_to_server = {.capacity = 4096}});
  const std::string large(100000, 'z');
  for (const std::int64_t length :
       {static_cast<std::int64_t>(large.size() + 11), std::int64_t{-1}}) {
    streamer r({"hello ", "world", large});
    const client_request request{
        .method = "POST", .target = "/echo", .stream_body = true, .stream_length = length};
    ASSERT_FALSE(w.client.send(w.where, request, r));
    w.run();
    ASSERT_TRUE(r.completed) << r.error.message() << " done=" << r.done << " status=" << r.status
                             << " length=" << length;
    EXPECT_EQ(r.body, "hello world" + large);
  }
  EXPECT_EQ(w.client.stats().connections_opened, 1u);
}

// Writes a piece at once and keeps what the connection did not take for on_body_writable(), as
// a proxy relaying a body does.
class relaying_streamer final : public recorder {
 public:
  void push(std::string_view piece) {
    if (!pending.empty()) {
      pending.append(piece);
      return;
    }
    const std::size_t taken = write_body(piece);
    if (taken < piece.size()) pending.assign(piece.substr(taken));
  }
  void end() {
    ended = true;
    if (pending.empty()) finished = finish_body();
  }
  void on_body_writable() override {
    if (!pending.empty()) {
      pending.erase(0, write_body(pending));
      if (!pending.empty()) return;
    }
    if (ended && !finished) finished = finish_body();
  }
  std::string pending;
  bool ended = false;
  bool finished = false;
};

// A piece larger than the output buffer, to a socket that takes every write whole: the write
// inside write_body() empties the buffer before the caller keeps the rest, and the rest still goes.
TEST(ClientMemory, APieceLargerThanTheBufferIsWrittenWhenTheSocketTakesEverything) {
  mux app = make_app();
  memory_world w(app, {}, {.client_to_server = {.capacity = 1 << 20}});
  const std::string piece(40000, 'p');
  relaying_streamer r;
  const client_request request{.method = "POST",
                               .target = "/echo",
                               .stream_body = true,
                               .stream_length = static_cast<std::int64_t>(2 * piece.size())};
  ASSERT_FALSE(w.client.send(w.where, request, r));
  w.run();
  r.push(piece);
  w.run();
  r.push(piece);
  w.run();
  r.end();
  w.run();
  ASSERT_TRUE(r.completed) << r.error.message() << " pending=" << r.pending.size();
  EXPECT_EQ(r.body, piece + piece);
}

// The pump a user writes first: one function that writes what it can, called once after send()
// and again from on_body_writable(). It must never find itself running inside itself.
class self_pumping_streamer final : public recorder {
 public:
  explicit self_pumping_streamer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {}
  void pump() {
    if (in_pump_) {
      ++reentered;
      return;
    }
    in_pump_ = true;
    while (next_ < pieces_.size()) {
      const std::size_t taken = write_body(pieces_[next_]);
      if (taken == 0) break;
      pieces_[next_].erase(0, taken);
      if (!pieces_[next_].empty()) break;
      ++next_;
    }
    if (next_ == pieces_.size() && !finished) finished = finish_body();
    in_pump_ = false;
  }
  void on_body_writable() override { pump(); }

  int reentered = 0;
  bool finished = false;

 private:
  std::vector<std::string> pieces_;
  std::size_t next_ = 0;
  bool in_pump_ = false;
};

TEST(ClientMemory, OnBodyWritableIsNeverCalledFromInsideWriteBody) {
  mux app = make_app();
  for (const std::size_t capacity : {std::size_t{4096}, std::size_t{1} << 20}) {
    memory_world w(app, {.buffer_size = 1024}, {.client_to_server = {.capacity = capacity}});
    recorder warm;  // an idle connection in the pool: the streamed request starts on it at once
    w.exchange({.target = "/hello"}, warm);
    ASSERT_TRUE(warm.completed) << warm.error.message();
    const std::string large(100000, 'z');
    for (const std::int64_t length :
         {static_cast<std::int64_t>(large.size() + 6), std::int64_t{-1}}) {
      self_pumping_streamer s({"hel", "lo ", large});
      const client_request request{
          .method = "POST", .target = "/echo", .stream_body = true, .stream_length = length};
      ASSERT_FALSE(w.client.send(w.where, request, s));
      s.pump();
      w.run();
      ASSERT_TRUE(s.completed) << s.error.message() << " capacity=" << capacity;
      EXPECT_TRUE(s.finished);
      EXPECT_EQ(s.reentered, 0) << "capacity=" << capacity << " length=" << length;
      EXPECT_EQ(s.body, "hello " + large);
    }
  }
}

TEST(ClientMemory, AStreamedBodyShorterThanItsLengthIsBodyIncomplete) {
  mux app = make_app();
  memory_world w(app);
  recorder warm;
  w.exchange({.target = "/hello"}, warm);
  ASSERT_TRUE(warm.completed) << warm.error.message();
  self_pumping_streamer s({"abc"});
  const client_request request{
      .method = "POST", .target = "/echo", .stream_body = true, .stream_length = 10};
  ASSERT_FALSE(w.client.send(w.where, request, s));
  s.pump();
  w.run();
  EXPECT_FALSE(s.finished);
  EXPECT_FALSE(s.completed);
  EXPECT_EQ(s.error.code, client_errc::body_incomplete) << s.error.message();
  EXPECT_EQ(s.error.phase, client_phase::writing_request);
  EXPECT_EQ(s.error.message(), "body_incomplete while writing_request");
  // The connection cut short is not reused; the next request is answered.
  recorder next;
  w.exchange({.target = "/hello"}, next);
  ASSERT_TRUE(next.completed) << next.error.message();
  EXPECT_FALSE(next.reused);
}

TEST(ClientMemory, RefusesRequestsThatWouldSmuggleOrSplit) {
  mux app = make_app();
  memory_world w(app);
  const header cr_lf[] = {{"X-A", "v\r\nX-Injected: 1"}};
  const header nul[] = {{"X-A", std::string_view("v\0w", 3)}};
  const header bad_name[] = {{"X A", "v"}};
  const header framing[] = {{"Content-Length", "5"}};
  const header coding[] = {{"Transfer-Encoding", "chunked"}};
  const client_request bad[] = {
      {.method = "GET", .target = "/", .headers = cr_lf},
      {.method = "GET", .target = "/", .headers = nul},
      {.method = "GET", .target = "/", .headers = bad_name},
      {.method = "GET", .target = "/", .headers = framing},
      {.method = "GET", .target = "/", .headers = coding},
      {.method = "GE T", .target = "/"},
      {.method = "GET", .target = "/a b"},
      {.method = "GET", .target = "/a\r\nX: y"},
      {.method = "", .target = "/"},
  };
  for (const std::string_view authority : {"a\r\nX-Injected: 1", "a b", "a/b", "a,b"}) {
    recorder r;
    const origin injected = origin::unix_socket("/nonexistent.sock", authority);
    const client_error refused = w.client.send(injected, {.method = "GET", .target = "/"}, r);
    EXPECT_EQ(refused.code, client_errc::invalid_origin) << authority;
    const origin tcp = origin::tcp(authority, 80);
    EXPECT_EQ(w.client.send(tcp, {.method = "GET", .target = "/"}, r).code,
              client_errc::invalid_origin);
  }
  for (const client_request& request : bad) {
    recorder r;
    const client_error refused = w.client.send(w.where, request, r);
    EXPECT_EQ(refused.code, client_errc::invalid_request) << request.method << request.target;
    EXPECT_FALSE(r.pending());
  }
  w.run();
  EXPECT_EQ(w.client.stats().connections_opened, 0u);
  EXPECT_EQ(w.server.stats().accepted, 0u);
}

// RFC 9112 section 3.2 and RFC 9110 section 7.2: requests a server would read otherwise than the
// caller meant are refused before anything is sent, each with a cause that says what is wrong.
// A Host is visible ASCII or obs-text without the URI delimiters '/', '?', '#', '@' and ',' (the
// client checks it a table lookup a byte): every byte in the middle of one, against that rule.
TEST(ClientMemory, EveryByteOfAHostIsCheckedAgainstTheAuthorityRule) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const std::string host = std::string("a") + c + "b.example";
    const header fields[] = {{"Host", host}};
    const client_error refused = validate({.target = "/", .headers = fields});
    const bool allowed =
        b > 0x20 && b != 0x7f && c != '/' && c != '?' && c != '#' && c != '@' && c != ',';
    EXPECT_EQ(!refused, allowed) << "byte " << b;
    if (allowed || !chars::is_field_value(host)) continue;  // a CR is a bad value before a bad Host
    EXPECT_EQ(refused.cause, make_error_code(request_errc::bad_host)) << "byte " << b;
  }
}

// client_request::parsed_headers spares only the byte scan of the fields it counts (a proxy's,
// copied from what taut's parser checked): what the fields mean is still checked for every one
// of them, and the fields after them are scanned as always.
TEST(ClientMemory, ParsedHeadersStillHaveTheirMeaningChecked) {
  const header framing[] = {{"X-A", "1"}, {"Content-Length", "5"}};
  client_error refused = validate({.target = "/", .headers = framing, .parsed_headers = 2});
  EXPECT_EQ(refused.cause, make_error_code(request_errc::framing_field));
  const header hosts[] = {{"Host", "a.example"}, {"Host", "b.example"}};
  refused = validate({.target = "/", .headers = hosts, .parsed_headers = 2});
  EXPECT_EQ(refused.cause, make_error_code(request_errc::duplicate_host));
  const header connection[] = {{"Connection", "keep-alive, X-Hop"}};
  refused = validate({.target = "/", .headers = connection, .parsed_headers = 1});
  EXPECT_EQ(refused.cause, make_error_code(request_errc::connection_option));
  // Past the count, every byte is checked again; a count past the end means all of them.
  const header injected[] = {{"X-A", "1"}, {"X-B", "2\r\nX-Injected: 3"}};
  refused = validate({.target = "/", .headers = injected, .parsed_headers = 1});
  EXPECT_EQ(refused.cause, make_error_code(errc::bad_header_value));
  const header bad_name[] = {{"X-A", "1"}, {"X B", "2"}};
  refused = validate({.target = "/", .headers = bad_name, .parsed_headers = 1});
  EXPECT_EQ(refused.cause, make_error_code(errc::bad_header_name));
  const header fine[] = {{"X-A", "1"}, {"Host", "a.example"}};
  EXPECT_FALSE(validate({.target = "/", .headers = fine, .parsed_headers = 7}));
}

// A caller's own `Connection: keep-alive` asks for what HTTP/1.1 does anyway: it is sent as given,
// and the connection is reused as without it (a list naming anything else is still refused).
TEST(ClientMemory, ACallersConnectionKeepAliveIsSentAndTheConnectionReused) {
  mux app = make_app();
  app.handle("GET /connection",
             [](request_context& req, reply& res) { res.text(200, req.header("Connection")); });
  memory_world w(app);
  const header keep_alive[] = {{"Connection", "keep-alive"}};
  const header capitalised[] = {{"Connection", "Keep-Alive"}};
  for (const auto& fields :
       {std::span<const header>(keep_alive), std::span<const header>(capitalised)}) {
    recorder r;
    w.exchange({.method = "GET", .target = "/connection", .headers = fields}, r);
    ASSERT_TRUE(r.completed) << r.error.message();
    EXPECT_EQ(r.body, fields[0].value);
  }
  EXPECT_EQ(w.client.stats().connections_opened, 1u);
  EXPECT_EQ(w.client.stats().reused, 1u);
  EXPECT_EQ(w.client.idle_connections(w.where), 1u);
}

TEST(ClientMemory, RefusesBadHostsAndTargetFormsWithAccurateCauses) {
  mux app = make_app();
  memory_world w(app);
  const header two_hosts[] = {{"Host", "a.example"}, {"host", "b.example"}};
  const header spaced_host[] = {{"Host", "a b"}};
  const header empty_host[] = {{"Host", ""}};
  const header other_host[] = {{"Host", "b.example"}};
  const header length[] = {{"Content-Length", "5"}};
  const header te[] = {{"TE", "trailers"}};
  const header expect[] = {{"Expect", "100-continue"}};
  const header keep_alive_upgrade[] = {{"Connection", "keep-alive, Upgrade"}};
  const struct {
    client_request request;
    request_errc cause;
  } cases[] = {
      {{.target = "/", .headers = two_hosts}, request_errc::duplicate_host},
      {{.target = "/", .headers = spaced_host}, request_errc::bad_host},
      {{.target = "/", .headers = empty_host}, request_errc::bad_host},
      {{.target = "healthz"}, request_errc::bad_target_form},
      {{.target = "*"}, request_errc::bad_target_form},
      {{.method = "CONNECT", .target = "/x"}, request_errc::bad_target_form},
      {{.target = "http://b.example/x"}, request_errc::host_mismatch},
      {{.target = "http://a.example/x", .headers = other_host}, request_errc::host_mismatch},
      {{.target = "/", .headers = length}, request_errc::framing_field},
      {{.target = "/", .headers = te}, request_errc::framing_field},
      {{.target = "/", .headers = expect}, request_errc::framing_field},
      {{.target = "/", .headers = keep_alive_upgrade}, request_errc::connection_option},
      {{.method = "POST", .target = "/", .body = "x", .stream_body = true},
       request_errc::body_and_stream_body},
  };
  const origin& a = w.where;  // Host: test.example
  for (const auto& [request, cause] : cases) {
    recorder r;
    const client_error refused = w.client.send(a, request, r);
    EXPECT_EQ(refused.code, client_errc::invalid_request) << request.target;
    EXPECT_EQ(refused.phase, client_phase::validating) << request.target;
    EXPECT_EQ(refused.cause, make_error_code(cause)) << request.target << ": " << refused.message();
    EXPECT_FALSE(r.pending());
  }
  EXPECT_EQ(make_error_code(request_errc::duplicate_host).message(), "more than one Host field");
  // A result that did not fail prints as such (fetch_result::error printed unconditionally).
  EXPECT_EQ(client_error{}.message(), "ok");
  w.run();
  EXPECT_EQ(w.client.stats().connections_opened, 0u);
  EXPECT_EQ(w.server.stats().accepted, 0u);

  // The forms that are right still go: absolute-form with its own Host, asterisk-form.
  const header same_host[] = {{"Host", "Test.Example"}};
  recorder absolute;
  const client_request absolute_form{.target = "http://test.example/hello", .headers = same_host};
  const client_error sent = w.client.send(a, absolute_form, absolute);
  ASSERT_FALSE(sent) << sent.message();
  w.run();
  EXPECT_TRUE(absolute.completed) << absolute.error.message();
  EXPECT_EQ(absolute.body, "hello");
  recorder asterisk;
  const client_request asterisk_form{.method = "OPTIONS", .target = "*"};
  EXPECT_FALSE(w.client.send(a, asterisk_form, asterisk));
  w.run();
  EXPECT_TRUE(asterisk.done);
}

// RFC 9110 section 4.2.3: an authority that omits the scheme's default port names the same origin
// as one that spells it out, and hosts compare case-insensitively; only a real difference in host
// or port is a mismatch.
TEST(ClientMemory, AbsoluteFormAuthorityMatchesHostUpToTheDefaultPort) {
  const struct {
    std::string_view target;
    std::string_view host;
    bool same;
  } cases[] = {
      {"http://example.com/x", "example.com:80", true},
      {"http://example.com:80/x", "example.com", true},
      {"http://Example.COM:80/x", "example.com:80", true},
      {"http://example.com:/x", "example.com", true},
      {"http://user@example.com:80/x", "example.com", true},
      {"https://example.com/x", "example.com:443", true},
      {"HTTPS://example.com:443/x", "EXAMPLE.com", true},
      {"http://[::1]/x", "[::1]:80", true},
      {"http://[::1]:8080/x", "[::1]:8080", true},
      {"http://example.com:8080/x", "example.com:8080", true},
      {"http://example.com/x", "example.com:8080", false},
      {"http://example.com:443/x", "example.com", false},
      {"https://example.com/x", "example.com:80", false},
      {"https://example.com:80/x", "example.com", false},
      {"http://other.example:80/x", "example.com", false},
      {"http://example.com:80/x", "other.example:80", false},
      {"http://[::1]/x", "[::2]", false},
      {"http://[::1]:80/x", "[::1]:81", false},
  };
  for (const auto& [target, host, same] : cases) {
    const header fields[] = {{"Host", host}};
    const client_request request{.target = target, .headers = fields};
    const client_error checked = validate(request);
    if (same) {
      EXPECT_FALSE(checked) << target << " with Host " << host << ": " << checked.message();
    } else {
      EXPECT_EQ(checked.cause, make_error_code(request_errc::host_mismatch))
          << target << " with Host " << host << ": " << checked.message();
    }
  }

  // The Host an origin sends counts the same way: one given with its default port takes a target
  // without it, and the request goes.
  mux app = make_app();
  memory_world w(app, {}, {}, "test.example:80");
  recorder plain;
  w.exchange({.target = "http://test.example/hello"}, plain);
  EXPECT_TRUE(plain.completed) << plain.error.message();
  EXPECT_EQ(plain.body, "hello");
  recorder other_port;
  const client_request elsewhere{.target = "http://test.example:8080/hello"};
  EXPECT_EQ(w.client.send(w.where, elsewhere, other_port).cause,
            make_error_code(request_errc::host_mismatch));
}

// ---- scripted upstreams ----------------------------------------------------------------------

TEST(ClientFaults, CloseMidHeadIsConnectionClosedWhileReadingTheHead) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Le");
    (void)c.stream.close();
  });
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.error.code, client_errc::connection_closed);
  EXPECT_EQ(r.error.phase, client_phase::reading_head);
  EXPECT_EQ(r.status, 0);
}

TEST(ClientFaults, CloseMidBodyIsConnectionClosedWhileReadingTheBody) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    (void)c.stream.close();
  });
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "abc");
  EXPECT_FALSE(r.completed);
  EXPECT_EQ(r.error.code, client_errc::connection_closed);
  EXPECT_EQ(r.error.phase, client_phase::reading_body);
  EXPECT_EQ(r.error.cause, make_error_code(errc::body_cut_short));
}

TEST(ClientFaults, ChunkedBodyCutShortIsAnError) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    (void)c.stream.close();
  });
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  EXPECT_EQ(r.error.code, client_errc::connection_closed);
  EXPECT_EQ(r.error.phase, client_phase::reading_body);
}

TEST(ClientFaults, ResetIsConnectionReset) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 200 OK\r\n");
    c.stream.abort();
  });
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.error.code, client_errc::connection_reset) << r.error.message();
}

TEST(ClientFaults, GarbageIsABadResponseWithItsOffset) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 200 OK\r\nB@d: x\r\n\r\n");
  });
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.error.code, client_errc::bad_response);
  EXPECT_EQ(r.error.cause, make_error_code(errc::bad_header_name));
  EXPECT_EQ(r.error.offset, 18u);
  EXPECT_EQ(w.client->open_connections(w.where), 0u);

  scripted_world noise(
      [](upstream_connection& c, std::size_t) { (void)c.stream.write("SSH-2.0-OpenSSH_9.2\r\n"); });
  recorder n;
  noise.exchange({.method = "GET", .target = "/"}, n);
  EXPECT_EQ(n.error.code, client_errc::bad_response);
}

TEST(ClientFaults, ContentLengthWithTransferEncodingIsRefusedAndNeverReused) {
  scripted_world w([](upstream_connection& c, std::size_t index) {
    if (index == 0) {
      (void)c.stream.write(
          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
          "0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged");
    } else {
      (void)c.stream.write(ok_response);
    }
  });
  recorder first;
  w.exchange({.method = "GET", .target = "/"}, first);
  EXPECT_EQ(first.error.code, client_errc::ambiguous_framing);
  recorder second;
  w.exchange({.method = "GET", .target = "/"}, second);
  ASSERT_TRUE(second.completed) << second.error.message();
  EXPECT_EQ(second.body, "ok");
  EXPECT_EQ(w.upstream->accepted(), 2u);
}

TEST(ClientFaults, ASecondResponseSmuggledAfterTheFirstIsNeverDelivered) {
  scripted_world w([](upstream_connection& c, std::size_t index) {
    if (index == 0) {
      (void)c.stream.write(
          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
          "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged");
    } else {
      (void)c.stream.write(ok_response);
    }
  });
  recorder first;
  w.exchange({.method = "GET", .target = "/"}, first);
  ASSERT_TRUE(first.completed);
  EXPECT_EQ(first.body, "first");
  recorder second;
  w.exchange({.method = "GET", .target = "/"}, second);
  ASSERT_TRUE(second.completed) << second.error.message();
  EXPECT_EQ(second.body, "ok");
  EXPECT_FALSE(second.reused);
  EXPECT_EQ(w.upstream->accepted(), 2u);
}

TEST(ClientFaults, BytesArrivingOnAnIdleConnectionRetireIt) {
  scripted_world w([](upstream_connection& c, std::size_t) { (void)c.stream.write(ok_response); });
  recorder first;
  w.exchange({.method = "GET", .target = "/"}, first);
  ASSERT_TRUE(first.completed);
  EXPECT_EQ(w.client->idle_connections(w.where), 1u);
  (void)w.upstream->connections()[0]->stream.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  w.loop->run_until_idle();
  EXPECT_EQ(w.client->open_connections(w.where), 0u);
}

// Bytes that reach an idle connection after its last read, their readiness not yet processed
// when the next request takes a connection: never read as that request's response.
TEST(ClientFaults, StrayBytesNotYetSeenKeepAnIdleConnectionFromBeingLent) {
  scripted_world w([](upstream_connection& c, std::size_t) { (void)c.stream.write(ok_response); });
  recorder first;
  w.exchange({.method = "GET", .target = "/"}, first);
  ASSERT_TRUE(first.completed);
  ASSERT_EQ(w.client->idle_connections(w.where), 1u);
  (void)w.upstream->connections()[0]->stream.write(
      "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged");
  recorder second;
  w.exchange({.method = "GET", .target = "/"}, second);  // sent before the loop runs
  ASSERT_TRUE(second.completed) << second.error.message();
  EXPECT_EQ(second.body, "ok");
  EXPECT_FALSE(second.reused);
  EXPECT_EQ(w.upstream->accepted(), 2u);
}

// The client destroyed with exchanges in flight and waiting: each is told it was canceled and
// forgets the client (its deadline firing later, or its destruction, touches nothing freed).
TEST(ClientFaults, DestroyingTheClientCancelsItsExchanges) {
  scripted_world w([](upstream_connection&, std::size_t) {}, {.max_connections_per_origin = 1});
  recorder running;
  recorder queued;
  w.exchange({.method = "GET", .target = "/", .timeout = 5s}, running);
  w.exchange({.method = "GET", .target = "/", .timeout = 5s}, queued);
  EXPECT_FALSE(running.done);
  EXPECT_FALSE(queued.done);
  w.client.reset();
  EXPECT_EQ(running.error.code, client_errc::canceled);
  EXPECT_EQ(queued.error.code, client_errc::canceled);
  EXPECT_FALSE(running.pending());
  w.advance(10s);  // the deadlines were cancelled with the exchanges
}

TEST(ClientFaults, StallingUpstreamTimesOutTheHeadAndTheDeadline) {
  scripted_world w([](upstream_connection&, std::size_t) {}, {.response_header_timeout = 3s});
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  EXPECT_FALSE(r.done);
  w.advance(2s);
  EXPECT_FALSE(r.done);
  w.advance(2s);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.error.code, client_errc::header_timeout);

  recorder d;
  w.exchange({.method = "GET", .target = "/", .timeout = 1s}, d);
  w.advance(1500ms);
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.error.code, client_errc::deadline_exceeded);
  EXPECT_EQ(d.error.phase, client_phase::reading_head);
}

TEST(ClientFaults, StallMidBodyHitsTheDeadline) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
  });
  recorder r;
  w.exchange({.method = "GET", .target = "/", .timeout = 2s}, r);
  EXPECT_FALSE(r.done);
  w.advance(3s);
  EXPECT_EQ(r.error.code, client_errc::deadline_exceeded);
  EXPECT_EQ(r.error.phase, client_phase::reading_body);
}

// The server closes a kept-alive connection just as the next request goes out: an idempotent
// request is retried once on a new connection, a POST is not (it may have been acted on).
scripted_upstream::script close_second_request_on_each_connection() {
  return [](upstream_connection& c, std::size_t) {
    if (c.heads == 1) {
      (void)c.stream.write(ok_response);
    } else {
      (void)c.stream.close();
    }
  };
}

TEST(ClientFaults, IdempotentRequestIsRetriedOnceOnANewConnection) {
  scripted_world w(close_second_request_on_each_connection());
  recorder first;
  w.exchange({.method = "GET", .target = "/"}, first);
  ASSERT_TRUE(first.completed);
  recorder second;
  w.exchange({.method = "GET", .target = "/"}, second);
  ASSERT_TRUE(second.completed) << second.error.message();
  EXPECT_EQ(second.body, "ok");
  EXPECT_EQ(w.client->stats().retries, 1u);
  EXPECT_EQ(w.upstream->accepted(), 2u);
}

TEST(ClientFaults, PostIsNotRetried) {
  scripted_world w(close_second_request_on_each_connection());
  recorder first;
  w.exchange({.method = "GET", .target = "/"}, first);
  ASSERT_TRUE(first.completed);
  recorder post;
  w.exchange({.method = "POST", .target = "/", .body = "x"}, post);
  EXPECT_EQ(post.error.code, client_errc::connection_closed);
  EXPECT_EQ(w.client->stats().retries, 0u);
}

TEST(ClientFaults, RetryHappensOnlyOnce) {
  scripted_world w([](upstream_connection& c, std::size_t index) {
    if (index == 0) {
      (void)c.stream.write(ok_response);
    } else {
      (void)c.stream.close();  // every later request: closed unanswered
    }
  });
  recorder first;
  w.exchange({.method = "GET", .target = "/"}, first);
  recorder second;
  w.exchange({.method = "GET", .target = "/"}, second);
  EXPECT_EQ(second.error.code, client_errc::connection_closed);
  EXPECT_EQ(w.client->stats().retries, 1u);
  EXPECT_EQ(w.upstream->accepted(), 2u);
}

// The server answers and closes its side at once (a framed response, then the end of the stream,
// as a server closing after its last keep-alive request does without saying so). A request
// waiting for the connection (the origin's limit is one) must get a new one: handed this one,
// it would be written to a server that reads no more and fail before any byte, a POST for good
// (found by ClientModel).
TEST(ClientFaults, AWaitingRequestIsNotHandedAConnectionTheServerClosed) {
  for (const bool full_close : {false, true}) {
    SCOPED_TRACE(full_close ? "close" : "shutdown of the server's side");
    scripted_world w(
        [full_close](upstream_connection& c, std::size_t) {
          (void)c.stream.write(ok_response);
          if (full_close) {
            (void)c.stream.close();
          } else {
            (void)c.stream.shutdown_write();
          }
        },
        {.max_connections_per_origin = 1});
    recorder first;
    recorder post;
    const client_request get{.method = "GET", .target = "/"};
    const client_request upload{.method = "POST", .target = "/", .body = "x=1"};
    ASSERT_FALSE(w.client->send(w.where, get, first));
    ASSERT_FALSE(w.client->send(w.where, upload, post));
    w.loop->run_until_idle();
    ASSERT_TRUE(first.completed) << first.error.message();
    ASSERT_TRUE(post.completed) << post.error.message();
    EXPECT_EQ(post.body, "ok");
    EXPECT_FALSE(post.reused);
    EXPECT_EQ(w.upstream->accepted(), 2u);
    EXPECT_EQ(w.client->stats().retries, 0u);
  }
}

// A second response nobody asked for right behind the first, read apart from it (the first
// read ends where the first response does). A request waiting for the connection must not be
// handed it: it would take that response for its own (found by ClientModel).
TEST(ClientFaults, AResponseNobodyAskedForIsNotTakenByTheNextWaitingRequest) {
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  transport::memory_options faults;
  faults.server_to_client.max_read = first.size();
  scripted_world w(
      [&first](upstream_connection& c, std::size_t) {
        if (c.heads == 1) {
          (void)c.stream.write(first + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!");
        } else {
          (void)c.stream.write(ok_response);
        }
      },
      {.max_connections_per_origin = 1}, faults);
  recorder one;
  recorder two;
  const client_request get{.method = "GET", .target = "/"};
  ASSERT_FALSE(w.client->send(w.where, get, one));
  ASSERT_FALSE(w.client->send(w.where, get, two));
  w.loop->run_until_idle();
  ASSERT_TRUE(one.completed) << one.error.message();
  ASSERT_TRUE(two.completed) << two.error.message();
  EXPECT_EQ(one.body, "ok");
  EXPECT_EQ(two.body, "ok");
  EXPECT_FALSE(two.reused);
  EXPECT_EQ(w.upstream->accepted(), 2u);
}

TEST(ClientFaults, CloseDelimitedBodyCompletesAndTheConnectionIsNotReused) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 200 OK\r\n\r\nuntil the end");
    (void)c.stream.shutdown_write();
  });
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  ASSERT_TRUE(r.completed) << r.error.message();
  EXPECT_EQ(r.body, "until the end");
  EXPECT_EQ(w.client->open_connections(w.where), 0u);
}

TEST(ClientFaults, InformationalResponsesAndNotModified) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
  });
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  ASSERT_TRUE(r.completed) << r.error.message();
  EXPECT_EQ(r.informational, std::vector<int>{103});
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(w.client->idle_connections(w.where), 1u);
}

TEST(ClientFaults, SwitchingProtocolsHandsTheStreamOver) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\nhi");
  });
  const header upgrade[] = {{"Connection", "upgrade"}, {"Upgrade", "echo"}};
  recorder r;
  w.exchange({.method = "GET", .target = "/", .headers = upgrade}, r);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.leftover, "hi");
  EXPECT_TRUE(r.upgraded.is_open());
  EXPECT_EQ(w.client->open_connections(w.where), 0u);
}

TEST(ClientFaults, ExpectContinueSendsTheBodyAfterTheTimeout) {
  scripted_world w(
      [](upstream_connection& c, std::size_t) {
        // Answers once the 4 body bytes came after the head.
        static_cast<void>(c);
      },
      {.expect_continue_timeout = 1s});
  recorder r;
  w.exchange({.method = "PUT", .target = "/", .body = "data", .expect_continue = true}, r);
  auto& c = *w.upstream->connections()[0];
  EXPECT_TRUE(c.received.ends_with("\r\n\r\n"));
  EXPECT_NE(c.received.find("Expect: 100-continue"), std::string::npos);
  w.advance(1100ms);
  EXPECT_TRUE(c.received.ends_with("\r\n\r\ndata"));
}

TEST(ClientFaults, AFinalAnswerInsteadOf100ContinueKeepsTheBody) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
  });
  recorder r;
  w.exchange({.method = "PUT", .target = "/", .body = "data", .expect_continue = true}, r);
  ASSERT_TRUE(r.completed);
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(w.upstream->connections()[0]->received.ends_with("\r\n\r\n"));
  EXPECT_EQ(w.client->open_connections(w.where), 0u);  // the server may read on: not reused
}

TEST(ClientFaults, HeadLargerThanTheBufferIsResponseTooLarge) {
  scripted_world w(
      [](upstream_connection& c, std::size_t) {
        std::string head = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(3000, 'a') + "\r\n\r\n";
        (void)c.stream.write(head);
      },
      {.buffer_size = 2048});
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  EXPECT_EQ(r.error.code, client_errc::response_too_large);
}

TEST(ClientFaults, PauseHoldsTheBodyUntilResume) {
  scripted_world w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef");
  });
  recorder r;
  r.pause_on_head = true;
  w.exchange({.method = "GET", .target = "/"}, r);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_FALSE(r.done);
  r.resume();
  w.loop->run_until_idle();
  ASSERT_TRUE(r.completed);
  EXPECT_EQ(r.body, "abcdef");
}

// Paused in on_head, a response whose body needs no byte (to HEAD, a 204, Content-Length: 0)
// ends when resumed: nothing more arrives to wake it (found by ClientModel; it waited for a
// deadline, or forever).
TEST(ClientFaults, PausedOnItsHeadAResponseWithoutBodyEndsOnResume) {
  struct shape {
    std::string_view method;
    std::string_view response;
  };
  for (const shape& s : {shape{"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"},
                         shape{"GET", "HTTP/1.1 204 No Content\r\n\r\n"},
                         shape{"GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}}) {
    SCOPED_TRACE(s.response);
    const std::string response(s.response);
    scripted_world w(
        [response](upstream_connection& c, std::size_t) { (void)c.stream.write(response); });
    recorder r;
    r.pause_on_head = true;
    w.exchange({.method = s.method, .target = "/"}, r);
    EXPECT_NE(r.status, 0);
    EXPECT_FALSE(r.done);
    r.resume();
    w.loop->run_until_idle();
    ASSERT_TRUE(r.completed) << r.error.message();
    EXPECT_EQ(r.body, "");
    EXPECT_EQ(w.client->idle_connections(w.where), 1u);
  }
}

TEST(ClientFaults, CancelEndsAnExchangeWithCanceled) {
  scripted_world w([](upstream_connection&, std::size_t) {});
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  r.cancel();
  EXPECT_EQ(r.error.code, client_errc::canceled);
  w.loop->run_until_idle();
  EXPECT_EQ(w.client->open_connections(w.where), 0u);
}

TEST(ClientFaults, DestroyingAPendingExchangeForgetsIt) {
  scripted_world w([](upstream_connection& c, std::size_t) { (void)c.stream.write(ok_response); });
  {
    recorder r;
    ASSERT_FALSE(w.client->send(w.where, {.method = "GET", .target = "/"}, r));
  }
  w.loop->run_until_idle();
  EXPECT_EQ(w.client->open_connections(w.where), 0u);
}

}  // namespace
}  // namespace taut::test

namespace taut::test {
namespace {

// The client beside taut::testing's in-memory server: on its loop and its manual clock.
TEST(ClientMemory, PairsWithTautTesting) {
  mux app;
  app.handle("GET /time", [](request_context&, reply& res) { res.text(200, "now"); });
  taut::testing::server server(app);
  auto listener = transport::listener::memory({});
  const origin where = origin::memory(listener.dialer(), "testing");
  ASSERT_FALSE(server.loop_server().add_listener(std::move(listener)));
  taut::client client(server.loop(), {.idle_timeout = 10s});
  const client_request request{.method = "GET", .target = "/time"};
  for (int i = 0; i < 3; ++i) {
    recorder r;
    ASSERT_FALSE(client.send(where, request, r));
    server.run();
    ASSERT_TRUE(r.completed) << r.error.message();
    EXPECT_EQ(r.body, "now");
  }
  EXPECT_EQ(client.stats().connections_opened, 1u);
  server.advance(11s);  // the fake clock drives the client's idle timeout too
  EXPECT_EQ(client.open_connections(where), 0u);
}

}  // namespace
}  // namespace taut::test
