// Pipelined requests from the user's side (RFC 9112 section 9.3.2): a handler that answers later
// (from a timer) and requests pipelined behind it. Requests with safe methods (GET, HEAD, OPTIONS,
// TRACE) run in parallel; any other request starts only once every request before it is
// answered, and no request starts while an unsafe one before it is unanswered.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "taut/mux.hpp"
#include "taut/testing.hpp"
#include "taut/transport/event_loop.hpp"

namespace {

using namespace std::chrono_literals;
using taut::reply;
using taut::request_context;
using taut::testing::client;
using taut::testing::request;

/// An application whose handlers answer `delay` after they start (from a loop timer), and that
/// logs when each request starts and when it is answered.
class slow_app {
 public:
  explicit slow_app(std::chrono::milliseconds delay) : delay_(delay) {
    app.handle("/{name}", [this](request_context& req, reply& res) { start(req, res); });
  }

  /// Starts serving on a client of its own; the timers need the client's loop.
  client& connect(const taut::testing::server_options& options = {}) {
    client_ = std::make_unique<client>(app, taut::testing::client_options{}, options);
    return *client_;
  }

  taut::mux app;
  std::vector<std::string> log;
  bool connection_known = true;  // every request started with its connection_info
  std::string closing;           // the name whose answer closes the connection

 private:
  struct pending {
    taut::response_writer writer;
    std::string name;
    std::unique_ptr<taut::transport::timer> timer;
  };

  void start(request_context& req, reply& res) {
    const std::string name = std::string(req.method_name()) + " " + std::string(req.param("name"));
    log.push_back("start " + name);
    if (req.connection() == nullptr) connection_known = false;
    if (!closing.empty() && req.param("name") == closing) res.close_after();
    auto p = std::make_unique<pending>();
    pending* raw = p.get();
    p->writer = res.detach();
    p->name = name;
    p->timer = std::make_unique<taut::transport::timer>(client_->server().loop());
    p->timer->set_callback([this, raw] {
      log.push_back("answer " + raw->name);
      raw->writer.send(200, raw->name, "text/plain");
    });
    p->timer->arm_in(delay_);
    pending_.push_back(std::move(p));
  }

  std::chrono::milliseconds delay_;
  std::unique_ptr<client> client_;
  std::vector<std::unique_ptr<pending>> pending_;
};

TEST(PipelineOrder, AGetPipelinedAfterAnAsynchronousPostStartsOnceThePostIsAnswered) {
  slow_app s(5s);
  client& c = s.connect();
  c.write(request("POST", "/order").body("one pizza"));
  c.write(request("GET", "/status"));
  c.run();
  EXPECT_EQ(s.log, (std::vector<std::string>{"start POST order"}));
  c.advance(5s);
  EXPECT_EQ(s.log, (std::vector<std::string>{"start POST order", "answer POST order",
                                             "start GET status"}));
  c.advance(5s);
  EXPECT_EQ(c.read().body, "POST order");
  EXPECT_EQ(c.read().body, "GET status");
  EXPECT_TRUE(s.connection_known);
  EXPECT_FALSE(c.closed());
}

TEST(PipelineOrder, SafeRequestsStillRunInParallel) {
  slow_app s(5s);
  client& c = s.connect();
  c.write(request("GET", "/a"));
  c.write(request("HEAD", "/b"));
  c.write(request("OPTIONS", "/c"));
  c.write(request("GET", "/d"));
  c.run();
  EXPECT_EQ(s.log, (std::vector<std::string>{"start GET a", "start HEAD b", "start OPTIONS c",
                                             "start GET d"}));
  c.advance(5s);
  EXPECT_EQ(c.read().body, "GET a");
  EXPECT_EQ(c.read().status, 200);  // HEAD: no body
  EXPECT_EQ(c.read().body, "OPTIONS c");
  EXPECT_EQ(c.read().body, "GET d");
}

TEST(PipelineOrder, APostAfterAPostWaits) {
  slow_app s(5s);
  client& c = s.connect();
  c.write(request("POST", "/first").body("1"));
  c.write(request("POST", "/second").body("2"));
  c.run();
  EXPECT_EQ(s.log, (std::vector<std::string>{"start POST first"}));
  c.advance(5s);
  EXPECT_EQ(s.log.back(), "start POST second");
  c.advance(5s);
  EXPECT_EQ(c.read().body, "POST first");
  EXPECT_EQ(c.read().body, "POST second");
}

TEST(PipelineOrder, ADeleteAfterAnUnansweredGetWaitsAndNothingPassesIt) {
  slow_app s(5s);
  client& c = s.connect();
  c.write(request("GET", "/a"));
  c.write(request("DELETE", "/b"));
  c.write(request("GET", "/c"));  // safe, but behind an unsafe request
  c.run();
  EXPECT_EQ(s.log, (std::vector<std::string>{"start GET a"}));
  c.advance(5s);
  EXPECT_EQ(s.log, (std::vector<std::string>{"start GET a", "answer GET a", "start DELETE b"}));
  c.advance(5s);
  EXPECT_EQ(s.log.back(), "start GET c");
  c.advance(5s);
  EXPECT_EQ(c.read().body, "GET a");
  EXPECT_EQ(c.read().body, "DELETE b");
  EXPECT_EQ(c.read().body, "GET c");
  EXPECT_TRUE(s.connection_known);
}

TEST(PipelineOrder, ARequestWaitingWhenTheClientHalfClosesIsStillAnswered) {
  slow_app s(5s);
  client& c = s.connect();
  c.write(request("POST", "/order").body("x"));
  c.write(request("GET", "/status"));
  c.shutdown_write();  // RFC 9112 section 9.6: the requests sent before the EOF are answered
  c.run();
  c.advance(5s);
  c.advance(5s);
  EXPECT_EQ(s.log, (std::vector<std::string>{"start POST order", "answer POST order",
                                             "start GET status", "answer GET status"}));
  const auto post = c.read();
  const auto get = c.read();
  EXPECT_EQ(post.body, "POST order");
  EXPECT_EQ(get.body, "GET status");
  EXPECT_FALSE(get.keep_alive);  // nothing more will come
  EXPECT_TRUE(c.closed());
}

TEST(PipelineOrder, EveryRequestSentBeforeAHalfCloseIsAnswered) {
  slow_app s(5s);
  client& c = s.connect();
  c.write(request("POST", "/order").body("x"));
  c.write(request("POST", "/pay").body("y"));
  c.write(request("GET", "/status"));
  c.shutdown_write();
  c.run();
  for (int i = 0; i < 3; ++i) c.advance(5s);
  EXPECT_EQ(s.log,
            (std::vector<std::string>{"start POST order", "answer POST order", "start POST pay",
                                      "answer POST pay", "start GET status", "answer GET status"}));
  EXPECT_TRUE(c.read().keep_alive);
  EXPECT_EQ(c.read().body, "POST pay");
  const auto status = c.read();
  EXPECT_EQ(status.body, "GET status");
  EXPECT_FALSE(status.keep_alive);
  EXPECT_TRUE(c.closed());
}

// Handlers that answer through deferred_response::complete() (from a worker; here from the test,
// between loop runs) while the client reads nothing: the first answer fills the pipe, so none of
// the second can be written when it completes. The GET waiting behind the second starts in the
// loop pass that runs that completion, not one pass later from a timer.
TEST(PipelineOrder, ARequestBehindADeferredAnswerStartsInTheSamePass) {
  taut::mux app;
  taut::deferred_response big_later;
  taut::deferred_response order_later;
  std::uint64_t started_in = 0;
  std::unique_ptr<client> c;
  app.handle("GET /big", [&](request_context&, reply& res) {
    big_later = taut::deferred_response(res.detach());
  });
  app.handle("POST /order", [&](request_context&, reply& res) {
    order_later = taut::deferred_response(res.detach());
  });
  app.handle("GET /status", [&](request_context&, reply& res) {
    started_in = c->server().loop().iterations();
    res.text(200, "ok");
  });
  c = std::make_unique<client>(app, taut::testing::client_options{.capacity = 64});
  c->write_raw(request("GET", "/big").serialize() +
               request("POST", "/order").body("x").serialize() +
               request("GET", "/status").serialize());
  ASSERT_TRUE(big_later.valid());
  big_later.send(200, std::string(500, 'x'));
  c->server().run();  // the client reads nothing: 64 bytes fill the pipe
  ASSERT_TRUE(order_later.valid()) << "the POST did not start once the GET was answered";
  std::uint64_t answered_in = 0;
  order_later.complete([&](taut::response_writer& w) {
    answered_in = c->server().loop().iterations();
    w.send(200, "ordered", "text/plain");
  });
  c->server().run();
  EXPECT_NE(answered_in, 0u);
  EXPECT_EQ(started_in, answered_in);
  c->run();
  EXPECT_EQ(c->read().body.size(), 500u);
  EXPECT_EQ(c->read().body, "ordered");
  EXPECT_EQ(c->read().body, "ok");
}

TEST(PipelineOrder, AWaitingRequestDoesNotTimeOut) {
  // The client sent the whole head in time: waiting is the server's doing, so the header timeout
  // does not run while the request waits for the one before it.
  taut::testing::server_options options;
  options.loop.connection.header_timeout = 1s;
  slow_app s(5s);
  client& c = s.connect(options);
  c.write(request("PUT", "/file").body("x"));
  c.write(request("GET", "/file"));
  c.run();
  c.advance(3s);
  EXPECT_EQ(s.log, (std::vector<std::string>{"start PUT file"}));
  EXPECT_EQ(c.read().error, "no response yet");
  c.advance(2s);
  c.advance(5s);
  EXPECT_EQ(c.read().body, "PUT file");
  const auto get = c.read();
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "GET file");
}

TEST(PipelineOrder, ARequestStartedWhenAnotherIsAnsweredLaterKnowsItsConnection) {
  // With a pipeline depth of 1 the second GET is read only once the first is answered, from the
  // timer: its handler must still run inside the server loop's call, with its connection_info.
  taut::testing::server_options options;
  options.loop.connection.max_pipeline_depth = 1;
  slow_app s(5s);
  client& c = s.connect(options);
  // One write: the server has read the second request before the first is answered.
  c.write_raw(request("GET", "/a").serialize() + request("GET", "/b").serialize());
  c.run();
  c.advance(5s);
  c.advance(5s);
  EXPECT_EQ(c.read().body, "GET a");
  EXPECT_EQ(c.read().body, "GET b");
  EXPECT_TRUE(s.connection_known);
}

TEST(PipelineOrder, NothingStartsBehindAnAnswerThatWillClose) {
  // RFC 9112 section 9.6: a logout that answers later and closes the connection. The GET
  // pipelined behind it is never handled: its answer could not be sent.
  slow_app s(5s);
  s.closing = "logout";
  client& c = s.connect();
  c.write(request("GET", "/logout"));
  c.write(request("GET", "/profile"));
  c.run();
  c.advance(5s);
  c.advance(5s);
  EXPECT_EQ(s.log, (std::vector<std::string>{"start GET logout", "answer GET logout"}));
  const auto logout = c.read();
  EXPECT_EQ(logout.body, "GET logout");
  EXPECT_FALSE(logout.keep_alive);
  EXPECT_TRUE(c.closed());
}

}  // namespace
