// server_loop over the memory transport, on a manual clock, on one thread: keep-alive,
// pipelining, 100-continue, HEAD, chunked in and out, every timeout driven by the fake clock,
// fault injection (1-byte writes and reads, pauses, resets), the connection limit, graceful
// drain, deferred and cross-thread completion, upgrades and the access log.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <string>
#include <thread>

#include "server_test_support.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;

std::string post(std::string_view target, std::string_view body, std::string_view extra = {}) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

TEST(ServerLoop, KeepAliveServesSeveralRequestsOnOneConnection) {
  memory_server server;
  memory_client client = server.connect();
  for (int i = 0; i < 3; ++i) {
    const auto responses = parse_responses(client.exchange(get("/hello")));
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].status, 200);
    EXPECT_EQ(responses[0].body, "hello");
    EXPECT_TRUE(responses[0].keep_alive);
    EXPECT_TRUE(responses[0].has("Date"));
  }
  EXPECT_FALSE(client.closed());
  EXPECT_EQ(server.unit->open_connections(), 1u);
  EXPECT_EQ(server.unit->stats().accepted, 1u);
  EXPECT_EQ(server.handler.requests.load(), 3);
}

TEST(ServerLoop, FileBodiesGoByTheStreamsSendfileBetweenOtherResponses) {
  memory_server server;
  memory_client client = server.connect();
  const std::string out = client.exchange(get("/hello") + get("/file/300000") + get("/hello"));
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].body, "hello");
  EXPECT_EQ(responses[1].field("Content-Length"), "300000");
  EXPECT_TRUE(responses[1].body == file_content(300000));  // no 300 kB diff on failure
  EXPECT_EQ(responses[2].body, "hello");
  // The memory pipe's sendfile is the pread + write fallback; the driver asked for sendfile.
  EXPECT_GT(server.unit->stats().file_sends, 0u);
  EXPECT_EQ(server.unit->buffers().in_use(), 0u);
}

TEST(ServerLoop, HeadOfAFileBodySendsOnlyTheLength) {
  memory_server server;
  memory_client client = server.connect();
  const auto responses = parse_responses(
      client.exchange("HEAD /file/5000 HTTP/1.1\r\nHost: x\r\n\r\n" + get("/hello")),
      {method::head, method::get});
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].field("Content-Length"), "5000");
  EXPECT_EQ(responses[1].body, "hello");
  EXPECT_EQ(server.unit->stats().file_sends, 0u);
}

TEST(ServerLoop, AnIdleKeepAliveConnectionHoldsNoBuffer) {
  memory_server server;
  memory_client client = server.connect();
  ASSERT_EQ(parse_responses(client.exchange(get("/big/100000"))).size(), 1u);
  EXPECT_EQ(server.unit->buffers().in_use(), 0u);
  EXPECT_EQ(server.unit->context().states_in_use(), 0u);
}

TEST(ServerLoop, PipelinedRequestsAreAnsweredInOrder) {
  memory_server server;
  memory_client client = server.connect();
  const std::string out = client.exchange(get("/a") + post("/echo", "body!") + get("/hello"));
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].body, "GET /a");
  EXPECT_EQ(responses[1].body, "body!");
  EXPECT_EQ(responses[2].body, "hello");
}

TEST(ServerLoop, OneByteWritesAndReadsBothWays) {
  transport::memory_options faults;
  faults.client_to_server = {.max_write = 1, .max_read = 1};
  faults.server_to_client = {.max_write = 1, .max_read = 1};
  memory_server server({}, faults);
  memory_client client = server.connect();
  const std::string out =
      client.exchange(get("/chunked") + post("/echo", "0123456789") + get("/hello"));
  const auto responses = parse_responses(out);
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].body, "abcdefg");
  ASSERT_EQ(responses[0].trailers.size(), 1u);
  EXPECT_EQ(responses[0].trailers[0].second, "7");
  EXPECT_EQ(responses[1].body, "0123456789");
  EXPECT_EQ(responses[2].body, "hello");
}

TEST(ServerLoop, ContinueIsSentBeforeTheBodyIsRead) {
  memory_server server;
  memory_client client = server.connect();
  const std::string head =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
  const std::string interim = client.exchange(head);
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(server.handler.requests.load(), 0);
  const auto responses = parse_responses(client.exchange("hello"));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "hello");
}

TEST(ServerLoop, HeadGetsTheLengthButNoBody) {
  memory_server server;
  memory_client client = server.connect();
  const std::string out =
      client.exchange("HEAD /big/3000 HTTP/1.1\r\nHost: x\r\n\r\n" + get("/hello"));
  const auto responses = parse_responses(out, {method::head, method::get});
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].field("Content-Length"), "3000");
  EXPECT_EQ(responses[0].body, "");
  EXPECT_EQ(responses[1].body, "hello");
}

TEST(ServerLoop, ChunkedRequestBodyInPieces) {
  transport::memory_options faults;
  faults.client_to_server = {.max_write = 3};
  memory_server server({}, faults);
  memory_client client = server.connect();
  const std::string request =
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: yes\r\n\r\n";
  const auto responses = parse_responses(client.exchange(request));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "Wikipedia");
}

TEST(ServerLoop, LargeResponseThroughASlowReader) {
  transport::memory_options faults;
  faults.server_to_client = {.capacity = 1000};
  memory_server server({}, faults);
  memory_client client = server.connect();
  const auto responses = parse_responses(client.exchange(get("/big/300000")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, std::string(300000, 'x'));
}

TEST(ServerLoop, BadRequestIsAnsweredThenClosed) {
  memory_server server;
  memory_client client = server.connect();
  const auto responses = parse_responses(client.exchange("GET / HTTP/1.1\r\nHost x\r\n\r\n"));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 400);
  EXPECT_EQ(responses[0].field("Connection"), "close");
  // The server half-closed and lingers: the client's close ends it.
  EXPECT_TRUE(client.eof);
  client.stream().close();
  client.settle();
  EXPECT_EQ(server.unit->open_connections(), 0u);
}

TEST(ServerLoop, APipeliningFloodDoesNotHoldTheLoop) {
  server_loop_options options;
  options.connection.max_requests = 0;
  transport::memory_options pipes;  // room for everything: only fairness can stop the flood
  pipes.client_to_server.capacity = pipes.server_to_client.capacity = 64 << 20;
  memory_server server(options, pipes);
  memory_client flood = server.connect();
  memory_client other = server.connect();
  constexpr int requests = 20000;
  std::string batch;
  for (int i = 0; i < requests; ++i) batch += get("/hello");
  flood.send(batch);
  other.send(get("/hello"));
  for (int i = 0; i < 10 && other.received.empty(); ++i) {
    server.loop().run_once(transport::duration::zero());
    other.read_available();
  }
  ASSERT_EQ(parse_responses(other.received).size(), 1u);
  flood.read_available();
  std::string rest;
  EXPECT_LT(parse_responses(flood.received, {}, &rest).size(), static_cast<std::size_t>(requests));
  flood.settle();
  EXPECT_EQ(parse_responses(flood.received).size(), static_cast<std::size_t>(requests));
}

// --- timeouts on the fake clock -----------------------------------------------------------------

TEST(ServerLoop, IdleTimeoutClosesAKeepAliveConnection) {
  server_loop_options options;
  options.connection.idle_timeout = 10s;
  memory_server server(options);
  memory_client client = server.connect();
  ASSERT_EQ(parse_responses(client.exchange(get("/hello"))).size(), 1u);
  server.advance(9999ms);
  client.read_available();
  EXPECT_FALSE(client.closed());
  // A request resets the idle time: the deadline moves 10 s past it.
  ASSERT_EQ(parse_responses(client.exchange(get("/hello"))).size(), 1u);
  server.advance(9s);
  client.read_available();
  EXPECT_FALSE(client.closed());
  server.advance(1001ms);
  client.read_available();
  EXPECT_TRUE(client.eof);
  EXPECT_EQ(server.unit->open_connections(), 0u);
}

TEST(ServerLoop, HeaderTimeoutAnswers408ToAPartialHead) {
  server_loop_options options;
  options.connection.header_timeout = 5s;
  memory_server server(options);
  memory_client client = server.connect();
  client.exchange("GET /hello HTTP/1.1\r\nHost:");
  server.advance(4s);
  client.read_available();
  EXPECT_TRUE(client.received.empty());
  server.advance(1s);
  client.settle();
  const auto responses = parse_responses(client.received);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 408);
  EXPECT_TRUE(client.eof);
}

TEST(ServerLoop, ASilentNewConnectionIsClosedAtTheHeaderTimeout) {
  server_loop_options options;
  options.connection.header_timeout = 5s;
  memory_server server(options);
  memory_client client = server.connect();
  server.advance(5s);
  client.read_available();
  EXPECT_TRUE(client.eof);
  EXPECT_TRUE(client.received.empty());
  EXPECT_EQ(server.unit->open_connections(), 0u);
}

TEST(ServerLoop, WriteTimeoutClosesAClientThatStopsReading) {
  server_loop_options options;
  options.connection.write_timeout = 3s;
  transport::memory_options faults;
  faults.server_to_client = {.capacity = 4096};
  memory_server server(options, faults);
  memory_client client = server.connect();
  client.send(get("/big/100000"));
  server.loop().run_until_idle();  // the client reads nothing
  EXPECT_EQ(server.unit->open_connections(), 1u);
  server.advance(2s);
  EXPECT_EQ(server.unit->open_connections(), 1u);
  server.advance(1s);
  EXPECT_EQ(server.unit->open_connections(), 0u);
}

TEST(ServerLoop, BodyTimeoutAnswers408) {
  server_loop_options options;
  options.connection.body_timeout = 2s;
  memory_server server(options);
  memory_client client = server.connect();
  client.exchange("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  server.advance(2s);
  client.settle();
  const auto responses = parse_responses(client.received);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 408);
}

TEST(ServerLoop, ClosingLingerEndsAtTheLingerTimeout) {
  server_loop_options options;
  options.connection.linger_timeout = 2s;
  memory_server server(options);
  memory_client client = server.connect();
  client.exchange("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(client.eof);  // half-closed by the server, which now waits for our EOF
  EXPECT_EQ(server.unit->open_connections(), 1u);
  server.advance(2s);
  EXPECT_EQ(server.unit->open_connections(), 0u);
}

// --- faults -------------------------------------------------------------------------------------

TEST(ServerLoop, ResetMidRequestFreesTheConnection) {
  memory_server server;
  memory_client client = server.connect();
  client.exchange("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial");
  EXPECT_EQ(server.unit->open_connections(), 1u);
  client.stream().abort();
  server.loop().run_until_idle();
  EXPECT_EQ(server.unit->open_connections(), 0u);
  EXPECT_EQ(server.unit->buffers().in_use(), 0u);
}

TEST(ServerLoop, ResetMidResponseFreesTheConnection) {
  transport::memory_options faults;
  faults.server_to_client = {.capacity = 2048};
  memory_server server({}, faults);
  memory_client client = server.connect();
  client.send(get("/big/200000"));
  server.loop().run_until_idle();
  EXPECT_GT(server.unit->buffers().in_use(), 0u);
  client.stream().abort();
  server.loop().run_until_idle();
  EXPECT_EQ(server.unit->open_connections(), 0u);
  EXPECT_EQ(server.unit->buffers().in_use(), 0u);
}

TEST(ServerLoop, PausedClientBytesArriveWhenResumed) {
  memory_server server;
  memory_client client = server.connect();
  client.stream().memory().pause();
  client.exchange(get("/hello"));
  EXPECT_TRUE(client.received.empty());
  EXPECT_EQ(server.handler.requests.load(), 0);
  client.stream().memory().resume();
  client.settle();
  const auto responses = parse_responses(client.received);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "hello");
}

TEST(ServerLoop, HalfCloseAfterARequestStillGetsTheResponse) {
  memory_server server;
  memory_client client = server.connect();
  client.send(get("/hello"));
  client.stream().shutdown_write();
  client.settle();
  const auto responses = parse_responses(client.received);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "hello");
  EXPECT_TRUE(client.eof);
  EXPECT_EQ(server.unit->open_connections(), 0u);
}

// --- limit --------------------------------------------------------------------------------------

TEST(ServerLoop, ConnectionsBeyondTheLimitWaitUntilOneCloses) {
  server_loop_options options;
  options.max_connections = 2;
  memory_server server(options);
  memory_client a = server.connect();
  memory_client b = server.connect();
  memory_client c = server.connect();
  EXPECT_TRUE(server.unit->at_limit());
  EXPECT_EQ(server.unit->stats().accepted, 2u);
  EXPECT_TRUE(c.exchange(get("/hello")).empty());  // queued, not accepted
  EXPECT_EQ(parse_responses(a.exchange(get("/hello"))).size(), 1u);
  a.stream().close();
  server.loop().run_until_idle();
  c.settle();
  const auto responses = parse_responses(c.received);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "hello");
  EXPECT_EQ(server.unit->stats().accepted, 3u);
  EXPECT_EQ(server.unit->stats().limit_pauses, 2u);  // paused again with c accepted
}

TEST(ServerLoop, RejectPolicyResetsConnectionsBeyondTheLimit) {
  server_loop_options options;
  options.max_connections = 1;
  options.over_limit = limit_policy::reject;
  memory_server server(options);
  memory_client a = server.connect();
  memory_client b = server.connect();  // accepted and reset at once
  b.settle();
  EXPECT_TRUE(b.error || b.eof);
  EXPECT_TRUE(b.received.empty());
  EXPECT_EQ(server.unit->stats().rejected, 1u);
  EXPECT_EQ(parse_responses(a.exchange(get("/hello"))).size(), 1u);
}

// --- drain --------------------------------------------------------------------------------------

TEST(ServerLoop, DrainClosesIdleFinishesInFlightAndRefusesNew) {
  memory_server server;
  memory_client idle = server.connect();
  ASSERT_EQ(parse_responses(idle.exchange(get("/hello"))).size(), 1u);
  memory_client busy = server.connect();
  busy.exchange(get("/defer"));
  ASSERT_EQ(server.handler.deferred.size(), 1u);

  bool drained = false;
  server.unit->begin_shutdown([&drained] { drained = true; });
  idle.settle();
  EXPECT_TRUE(idle.eof);
  EXPECT_FALSE(busy.closed());
  EXPECT_FALSE(drained);
  EXPECT_FALSE(server.dialer.dial().has_value());  // the listener is closed

  server.handler.deferred[0].send(200, "late", "text/plain");
  busy.settle();
  const auto responses = parse_responses(busy.received);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "late");
  EXPECT_EQ(responses[0].field("Connection"), "close");
  EXPECT_TRUE(busy.eof);
  busy.stream().close();
  idle.stream().close();  // the idle connection lingered until the client's close
  server.loop().run_until_idle();
  EXPECT_TRUE(drained);
  EXPECT_TRUE(server.unit->drained());
}

// Under load, a drain meets idle keep-alive connections whose next request is already on the
// wire. Closing one with that request unread would reset it; the client must see a clean close
// (which it may retry), and the drain still ends, at the client's close or linger_timeout.
TEST(ServerLoop, DrainNeverResetsAnIdleConnectionWithARequestOnTheWire) {
  memory_server server;
  memory_client idle = server.connect();
  ASSERT_EQ(parse_responses(idle.exchange(get("/hello"))).size(), 1u);
  idle.take();
  const std::string next = get("/hello");
  ASSERT_EQ(idle.stream().write(next).bytes, next.size());  // sent; the server has not read it
  bool drained = false;
  server.unit->begin_shutdown([&drained] { drained = true; });
  idle.settle();
  EXPECT_TRUE(idle.eof);
  EXPECT_FALSE(idle.error) << "reset: " << idle.error.message();
  EXPECT_TRUE(idle.received.empty());
  EXPECT_FALSE(drained);
  server.advance(server_loop_options{}.connection.linger_timeout);
  EXPECT_TRUE(drained) << "bounded by linger_timeout";
}

// At the drain deadline, a request whose handler never answered (a proxy whose upstream
// stalls) is answered 503 with `Connection: close` before its connection closes.
TEST(ServerLoop, DrainDeadlineAnswers503ToARequestStillUnanswered) {
  server_loop_options options;
  options.drain_timeout = 3s;
  memory_server server(options);
  memory_client busy = server.connect();
  busy.exchange(get("/defer"));
  ASSERT_EQ(server.handler.deferred.size(), 1u);
  server.unit->begin_shutdown();
  server.advance(3s);
  busy.read_available();
  EXPECT_TRUE(busy.closed());
  EXPECT_FALSE(busy.error) << busy.error.message();
  const auto responses = parse_responses(busy.received);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 503);
  EXPECT_EQ(responses[0].field("Connection"), "close");
  server.handler.deferred[0].send(200, "late", "text/plain");  // harmless: answered already
  server.loop().run_until_idle();
  server.handler.deferred.clear();
  server.loop().run_until_idle();
  EXPECT_TRUE(server.unit->drained());
}

TEST(ServerLoop, DrainDeadlineClosesWhatIsLeft) {
  server_loop_options options;
  options.drain_timeout = 3s;
  memory_server server(options);
  memory_client busy = server.connect();
  busy.exchange(get("/defer"));
  bool drained = false;
  server.unit->begin_shutdown([&drained] { drained = true; });
  server.advance(2999ms);
  busy.read_available();
  EXPECT_FALSE(busy.closed());
  server.advance(1ms);
  busy.read_available();
  EXPECT_TRUE(busy.closed());
  EXPECT_EQ(server.unit->stats().hard_closed, 1u);
  // The handler still holds the response: the connection object waits for it.
  EXPECT_FALSE(drained);
  server.handler.deferred.clear();
  server.loop().run_until_idle();
  EXPECT_TRUE(drained);
}

TEST(ServerLoop, DrainWithNoConnectionsIsImmediate) {
  memory_server server;
  bool drained = false;
  server.unit->begin_shutdown([&drained] { drained = true; });
  EXPECT_TRUE(drained);
}

// The drained callback is the owner's code, which may use the server_loop: a loop destroyed
// before the drain ended closes the rest itself and must not call it from its destructor.
TEST(ServerLoop, DestroyedBeforeTheDrainEndsDoesNotCallOnDrained) {
  memory_server server;
  memory_client reading = server.connect();  // a request half sent: the drain waits for it
  (void)reading.stream().write("GET /hello HTTP/1.1\r\nHost: h\r\n");
  server.loop().run_until_idle();
  int drained = 0;
  server.unit->begin_shutdown([&drained] { ++drained; });
  ASSERT_EQ(drained, 0);
  server.unit.reset();
  EXPECT_EQ(drained, 0);
  server.loop().run_until_idle();
  EXPECT_EQ(drained, 0);
}

// --- deferred and cross-thread ------------------------------------------------------------------

TEST(ServerLoop, DeferredResponsesKeepPipelineOrder) {
  memory_server server;
  memory_client client = server.connect();
  client.exchange(get("/defer") + get("/hello"));
  ASSERT_EQ(server.handler.deferred.size(), 1u);
  EXPECT_TRUE(client.received.empty());  // /hello waits behind /defer
  server.handler.deferred[0].send(202, "done");
  client.settle();
  const auto responses = parse_responses(client.received);
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 202);
  EXPECT_EQ(responses[1].body, "hello");
}

TEST(ServerLoop, DroppedDeferredResponseAnswers500) {
  memory_server server;
  memory_client client = server.connect();
  client.exchange(get("/defer"));
  server.handler.deferred.clear();
  client.settle();
  const auto responses = parse_responses(client.received);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 500);
}

TEST(ServerLoop, DeferredAfterTheClientLeftIsHarmless) {
  memory_server server;
  memory_client client = server.connect();
  client.exchange(get("/defer"));
  client.stream().abort();
  server.loop().run_until_idle();
  EXPECT_EQ(server.unit->open_connections(), 1u);  // kept for the writer
  server.handler.deferred[0].send(200, "nobody listens");
  server.loop().run_until_idle();
  EXPECT_EQ(server.unit->open_connections(), 0u);
}

TEST(ServerLoop, ResponseFinishedOnAnotherThread) {
  memory_server server;
  memory_client client = server.connect();
  client.send(get("/thread") + get("/hello"));
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  std::string rest;
  while (parse_responses(client.received, {}, &rest).size() < 2 &&
         std::chrono::steady_clock::now() < give_up) {
    server.loop().run_once(50ms);  // the worker's post wakes the loop
    client.read_available();
  }
  const auto responses = parse_responses(client.received);
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].body, "from thread");
  EXPECT_EQ(responses[1].body, "hello");
}

// A program that ends while workers still hold deferred responses: the server_loop is destroyed
// first (its connections closed, without the 503 of a drain's end), then one worker completes
// its response and the other drops its own, and the event loop runs what they posted. Nothing is
// written; under ASan, nothing of the destroyed loop is touched and nothing leaks.
TEST(ServerLoop, DeferredResponsesMayOutliveTheirServerLoop) {
  memory_server server;
  memory_client completed = server.connect();
  memory_client dropped = server.connect();
  completed.exchange(get("/defer"));
  dropped.exchange(get("/defer"));
  ASSERT_EQ(server.handler.deferred.size(), 2u);
  server.unit.reset();
  server.handler.deferred[0].send(200, "too late");
  server.handler.deferred.clear();
  server.loop().run_until_idle();
  completed.settle();
  dropped.settle();
  EXPECT_TRUE(completed.closed());
  EXPECT_TRUE(dropped.closed());
  EXPECT_EQ(completed.received, "");
  EXPECT_EQ(dropped.received, "");
  EXPECT_EQ(server.loop().armed_timers(), 0u);
}

TEST(ServerLoop, DeferredOutsideAHandlerIsInvalid) {
  deferred_response outside{response_writer{}};
  EXPECT_FALSE(outside.valid());
}

// --- connection info, adopt, upgrade ------------------------------------------------------------

TEST(ServerLoop, CurrentConnectionIsKnownInsideHandlersOnly) {
  memory_server server;
  EXPECT_EQ(current_connection(), nullptr);
  memory_client first = server.connect();
  memory_client second = server.connect();
  const auto a = parse_responses(first.exchange(get("/info")));
  const auto b = parse_responses(second.exchange(get("/info")));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_TRUE(a[0].body.starts_with("memory "));
  EXPECT_NE(a[0].body, b[0].body);
  EXPECT_EQ(current_connection(), nullptr);
}

TEST(ServerLoop, AdoptServesAConnectedStream) {
  memory_server server;
  auto [client_end, server_end] = transport::memory_pair();
  ASSERT_TRUE(server.unit->adopt(std::move(server_end)));
  memory_client client(server.loop(), std::move(client_end));
  const auto responses = parse_responses(client.exchange(get("/hello")));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].body, "hello");
}

/// Takes the stream after a 101 and echoes everything back upper-cased, leftover bytes first.
class echo_upgrade final : public upgrade_handler {
 public:
  void on_upgrade(std::string_view leftover, void* stream) override {
    taken = std::move(*static_cast<transport::stream*>(stream));
    std::string upper(leftover);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    (void)taken.write(upper);
    upgraded = true;
  }
  transport::stream taken;
  bool upgraded = false;
};

TEST(ServerLoop, UpgradeHandsOverTheStreamWithLeftoverBytes) {
  memory_server server;
  echo_upgrade upgrader;
  server.handler.upgrader = &upgrader;
  memory_client client = server.connect();
  client.exchange(
      "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nearly");
  ASSERT_TRUE(upgrader.upgraded);
  std::string rest;
  const auto responses = parse_responses(client.received, {}, &rest);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 101);
  EXPECT_EQ(rest, "EARLY");
  EXPECT_TRUE(upgrader.taken.is_open());
  EXPECT_EQ(server.unit->open_connections(), 0u);  // the stream is the upgrade handler's now
}

// --- access log ---------------------------------------------------------------------------------

/// An access log written to a temporary file.
class log_file {
 public:
  log_file() : file_(std::tmpfile()) {}
  ~log_file() { std::fclose(file_); }
  int fd() const { return ::fileno(file_); }
  std::string contents() const {
    std::string out;
    char buffer[4096];
    for (off_t at = 0;;) {
      const ssize_t n = ::pread(fd(), buffer, sizeof buffer, at);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
      at += n;
    }
    return out;
  }

 private:
  std::FILE* file_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  return lines;
}

TEST(ServerLoop, AccessLogWritesCommonLogFormat) {
  log_file log;
  server_loop_options options;
  options.access_log_fd = log.fd();
  memory_server server(options);
  memory_client client = server.connect();
  client.exchange(get("/hello?x=1"));
  EXPECT_EQ(log.contents(), "");  // buffered until a flush
  server.unit->flush_access_log();
  const std::vector<std::string> lines = lines_of(log.contents());
  ASSERT_EQ(lines.size(), 1u);
  const std::regex clf(
      R"(^memory:\d+ - - \[\d\d/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /hello\?x=1 HTTP/1\.1" 200 14$)");
  EXPECT_TRUE(std::regex_match(lines[0], clf)) << lines[0];
}

// The request line is logged as the client sent it: an HTTP/1.2 request (served as 1.1, RFC 9110
// section 2.5) is logged as HTTP/1.2, as the logging middleware writes it.
TEST(ServerLoop, AccessLogWritesTheVersionAsSent) {
  log_file log;
  server_loop_options options;
  options.access_log_fd = log.fd();
  memory_server server(options);
  memory_client client = server.connect();
  client.exchange("GET /v HTTP/1.2\r\nHost: a\r\n\r\n");
  server.unit->flush_access_log();
  const std::vector<std::string> lines = lines_of(log.contents());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"GET /v HTTP/1.2\" 200 "), std::string::npos) << lines[0];
}

TEST(ServerLoop, AccessLogCountsBodyBytesOfEveryFraming) {
  log_file log;
  server_loop_options options;
  options.access_log_fd = log.fd();
  transport::memory_options faults;
  faults.server_to_client = {.max_write = 7};  // the scanner sees the output in pieces
  memory_server server(options, faults);
  memory_client client = server.connect();
  client.exchange("HEAD /big/3000 HTTP/1.1\r\nHost: x\r\n\r\n" + get("/chunked") +
                  get("/big/20000") + post("/echo", "12345", "Expect: 100-continue\r\n") +
                  "GET /x HTTP/1.0\r\n\r\n");
  server.unit->flush_access_log();
  const std::vector<std::string> lines = lines_of(log.contents());
  ASSERT_EQ(lines.size(), 5u) << log.contents();
  auto tail = [](const std::string& line) { return line.substr(line.find("] ") + 2); };
  EXPECT_EQ(tail(lines[0]), "\"HEAD /big/3000 HTTP/1.1\" 200 -");
  EXPECT_EQ(tail(lines[1]), "\"GET /chunked HTTP/1.1\" 200 7");
  EXPECT_EQ(tail(lines[2]), "\"GET /big/20000 HTTP/1.1\" 200 20000");
  EXPECT_EQ(tail(lines[3]), "\"POST /echo HTTP/1.1\" 200 5");
  EXPECT_EQ(tail(lines[4]), "\"GET /x HTTP/1.0\" 200 6");
}

TEST(ServerLoop, AccessLogRecordsErrorsWithoutARequestLine) {
  log_file log;
  server_loop_options options;
  options.access_log_fd = log.fd();
  memory_server server(options);
  memory_client client = server.connect();
  client.exchange(get("/a") + "BAD REQUEST\r\n\r\n");
  server.unit->begin_shutdown();
  const std::vector<std::string> lines = lines_of(log.contents());
  ASSERT_EQ(lines.size(), 2u) << log.contents();
  EXPECT_NE(lines[0].find("\"GET /a HTTP/1.1\" 200 6"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"-\" 400 "), std::string::npos) << lines[1];
}

TEST(ServerLoop, AccessLogIsFlushedOnItsTimer) {
  log_file log;
  server_loop_options options;
  options.access_log_fd = log.fd();
  options.access_log_flush_interval = 1s;
  memory_server server(options);
  memory_client client = server.connect();
  client.exchange(get("/hello"));
  EXPECT_EQ(log.contents(), "");
  server.advance(1s);
  EXPECT_EQ(lines_of(log.contents()).size(), 1u);
}

}  // namespace
}  // namespace taut::test

namespace taut::test {
namespace {

TEST(ServerLoop, AccessLogErrorFieldSaysWhyARequestWasRefused) {
  log_file log;
  server_loop_options options;
  options.access_log_fd = log.fd();
  options.access_log_errors = true;
  memory_server server(options);
  memory_client client = server.connect();
  client.exchange(get("/a") + "GET / HTTP/1.1\r\n\r\n");  // the second has no Host
  server.unit->begin_shutdown();
  const std::vector<std::string> lines = lines_of(log.contents());
  ASSERT_EQ(lines.size(), 2u) << log.contents();
  EXPECT_TRUE(lines[0].ends_with("\"GET /a HTTP/1.1\" 200 6 -")) << lines[0];
  // "GET / HTTP/1.1\r\n" is 16 bytes; the empty line that ends the head without a Host is at 16.
  EXPECT_TRUE(lines[1].ends_with("\"-\" 400 16 missing_host@16")) << lines[1];
}

TEST(ServerLoop, ErrorHookReceivesTheParseErrorCodeOffsetAndStatus) {
  std::vector<response_record> refused;
  server_loop_options options;
  options.on_error = [&](const connection_info&, const response_record& record) {
    refused.push_back(record);
  };
  memory_server server(options);
  memory_client client = server.connect();
  client.exchange(get("/fine") + "GET /x HTTP/1.1\r\nHost: a\r\nBad Field\r\n\r\n");
  ASSERT_EQ(refused.size(), 1u) << "the good request is not an error";
  EXPECT_EQ(refused[0].status, 400);
  EXPECT_EQ(refused[0].sequence, 0u);
  EXPECT_EQ(refused[0].error.category(), parse_category());
  EXPECT_GT(refused[0].error_offset, 0u);
}

TEST(ServerLoop, AccessLogIsPlainCommonLogFormatByDefault) {
  log_file log;
  server_loop_options options;
  options.access_log_fd = log.fd();
  memory_server server(options);
  memory_client client = server.connect();
  client.exchange("GET / HTTP/1.1\r\n\r\n");
  server.unit->begin_shutdown();
  const std::vector<std::string> lines = lines_of(log.contents());
  ASSERT_EQ(lines.size(), 1u) << log.contents();
  EXPECT_TRUE(lines[0].ends_with("\"-\" 400 16")) << lines[0];
}

}  // namespace
}  // namespace taut::test
