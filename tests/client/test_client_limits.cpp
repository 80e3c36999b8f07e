// taut::client at its limits: every resolved address tried in turn, a name resolved again after
// none answered, a resolver cut by connect_timeout, a retry that never lands on a reused
// connection, a request head too large for the buffer, a 101 without Upgrade, to a request
// that offered none or to a protocol not offered, a storm of interim responses; and
// blocking_client's body limit and default deadline.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client_test_support.hpp"
#include "taut/blocking_client.hpp"
#include "taut/server.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;

/// A taut::server on one thread on 127.0.0.1, answering /hello and /big/{n}.
class small_server {
 public:
  small_server() : server_(app_, {.listen = {"127.0.0.1:0"}, .threads = 1}) {
    app_.handle("GET /hello", [](request_context&, reply& res) { res.text(200, "hello"); });
    app_.handle("GET /big/{n}", [](request_context& req, reply& res) {
      res.send(200, std::string(std::stoul(std::string(req.param("n"))), 'y'));
    });
    ok_ = !server_.start();
  }
  ~small_server() {
    server_.stop();
    server_.wait();
  }
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] std::uint16_t port() const { return server_.local_addresses().front().port(); }

 private:
  mux app_;
  taut::server server_;
  bool ok_ = false;
};

/// A loopback address where nothing listens (a listener opened, then closed).
transport::address refusing_address() {
  auto l = transport::listener::listen("127.0.0.1:0").value();
  const std::uint16_t port = l.port();
  return transport::address::parse_tcp("127.0.0.1:" + std::to_string(port)).value();
}

transport::address live_address(const small_server& s) {
  return transport::address::parse_tcp("127.0.0.1:" + std::to_string(s.port())).value();
}

// A name with an address that refuses first (an IPv6 address nobody listens on, say) and one that
// answers: the client tries the second instead of giving up on the first.
TEST(ClientResolve, EveryResolvedAddressIsTriedInTurn) {
  small_server s;
  ASSERT_TRUE(s.ok());
  const transport::address refusing = refusing_address();
  const transport::address live = live_address(s);
  client_options options;
  options.resolver = [refusing, live](const std::string& host, std::uint16_t) {
    EXPECT_EQ(host, "two.example");
    return transport::result<std::vector<transport::address>>(
        std::vector<transport::address>{refusing, live});
  };
  blocking_client http(options);
  for (int i = 0; i < 3; ++i) {
    const fetch_result r = http.get("http://two.example:8080/hello");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.body, "hello");
  }
  EXPECT_EQ(http.client().stats().resolutions, 1u);
  EXPECT_EQ(http.client().stats().connections_opened, 1u);  // then reused
}

// An upstream that moved (restarted elsewhere, a DNS change) is found again: a connection that
// reached none of the name's addresses makes the next one resolve it anew.
TEST(ClientResolve, ANameIsResolvedAgainAfterNoAddressAnswered) {
  small_server s;
  ASSERT_TRUE(s.ok());
  const transport::address refusing = refusing_address();
  const transport::address live = live_address(s);
  auto calls = std::make_shared<std::atomic<int>>(0);
  client_options options;
  options.resolver = [refusing, live, calls](const std::string&, std::uint16_t) {
    const bool first = calls->fetch_add(1) == 0;
    return transport::result<std::vector<transport::address>>(
        std::vector<transport::address>{first ? refusing : live});
  };
  blocking_client http(options);
  const fetch_result before = http.get("http://moved.example/hello");
  EXPECT_EQ(before.error.code, client_errc::connect_failed) << before.error.message();
  const fetch_result after = http.get("http://moved.example/hello");
  ASSERT_FALSE(after.error) << after.error.message();
  EXPECT_EQ(after.body, "hello");
  const fetch_result again = http.get("http://moved.example/hello");
  ASSERT_FALSE(again.error) << again.error.message();
  EXPECT_EQ(*calls, 2);  // not once per request: only after a failure
  EXPECT_EQ(http.client().stats().resolutions, 2u);
}

// A resolver that does not answer (a DNS server that drops queries) is bounded by
// connect_timeout, reported in the resolving phase.
// The resolver holds on for 30 s (until released), far beyond the bound: a loaded machine may
// delay the 200 ms timeout by seconds, but only a missing one lets the call wait for the resolver.
TEST(ClientResolve, AResolverThatDoesNotAnswerIsCutByTheConnectTimeout) {
  auto release = std::make_shared<std::atomic<bool>>(false);
  client_options options;
  options.connect_timeout = 200ms;
  options.resolver = [release](const std::string&, std::uint16_t) {
    for (int i = 0; i < 3000 && !*release; ++i) std::this_thread::sleep_for(10ms);
    return transport::result<std::vector<transport::address>>(
        std::make_error_code(std::errc::host_unreachable));
  };
  blocking_client http(options);
  const auto start = std::chrono::steady_clock::now();
  const fetch_result r = http.get("http://slow-dns.example/hello");
  const auto took = std::chrono::steady_clock::now() - start;
  *release = true;
  EXPECT_EQ(r.error.code, client_errc::connect_timeout) << r.error.message();
  EXPECT_EQ(r.error.phase, client_phase::resolving);
  EXPECT_LT(took, 15s);
}

// A resolver call still to be made when its client is destroyed is not made: a resolver that
// reaches into what dies with the client (a reference captured, say) is not called on freed
// memory. Each round starts a resolution and destroys the client at once; its thread starts
// after that nearly every time, so before the check every round counts as late.
TEST(ClientResolve, NoResolverIsCalledAfterItsClientIsDestroyed) {
  struct shared {
    std::atomic<bool> destroyed{false};
    std::atomic<int> late{0};
  };
  constexpr int rounds = 20;
  std::vector<std::shared_ptr<shared>> all;
  for (int i = 0; i < rounds; ++i) {
    auto state = std::make_shared<shared>();
    all.push_back(state);
    client_options options;
    options.resolver = [state](const std::string&, std::uint16_t) {
      if (state->destroyed) ++state->late;
      return transport::result<std::vector<transport::address>>(
          std::make_error_code(std::errc::host_unreachable));
    };
    auto loop = transport::event_loop::create().value();
    auto c = std::make_unique<taut::client>(*loop, options);
    auto exchange = std::make_unique<recorder>();
    const client_error sent =
        c->send(origin::tcp("gone.example", 80), {.method = "GET", .target = "/"}, *exchange);
    ASSERT_FALSE(sent) << sent.message();
    exchange.reset();
    c.reset();
    state->destroyed = true;
  }
  std::this_thread::sleep_for(200ms);  // every thread has made its call or left
  int late = 0;
  for (const auto& state : all) late += state->late;
  EXPECT_EQ(late, 0);
}

struct scripted_client {
  explicit scripted_client(scripted_upstream::script answer, client_options options = {})
      : loop(transport::event_loop::create({.clock = &clock}).value()),
        client(std::make_unique<taut::client>(*loop, options)),
        upstream(std::make_unique<scripted_upstream>(*loop, std::move(answer))),
        where(origin::memory(upstream->dialer(), "up")) {}
  ~scripted_client() {
    client.reset();
    upstream.reset();
  }

  transport::manual_clock clock;
  std::unique_ptr<transport::event_loop> loop;
  std::unique_ptr<taut::client> client;
  std::unique_ptr<scripted_upstream> upstream;
  origin where;
};

// RFC 9110 section 9.2.2 (and Go's Transport): a retry goes on a new connection, also when the
// connection limit makes it wait and a reused connection frees up first; a reused one could fail
// the same way, and then nothing would tell whether the server had acted on the request.
TEST(ClientRetry, ARetryAtTheConnectionLimitRunsOnANewConnection) {
  scripted_client w(
      [](upstream_connection& c, std::size_t index) {
        if (index == 1) {
          (void)c.stream.close();  // the second request: closed unanswered (an idle close race)
          return;
        }
        (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      },
      {.max_connections_per_origin = 1});
  const client_request get{.method = "GET", .target = "/"};
  recorder first;
  ASSERT_FALSE(w.client->send(w.where, get, first));
  w.loop->run_until_idle();
  ASSERT_TRUE(first.completed);
  // The second takes the idle connection (and is retried); the third waits for the limit.
  recorder second, third;
  ASSERT_FALSE(w.client->send(w.where, get, second));
  ASSERT_FALSE(w.client->send(w.where, get, third));
  w.loop->run_until_idle();
  ASSERT_TRUE(second.completed) << second.error.message();
  ASSERT_TRUE(third.completed) << third.error.message();
  EXPECT_EQ(w.client->stats().retries, 1u);
  EXPECT_FALSE(second.reused);  // the retry never ran on a connection that served before
  EXPECT_EQ(w.upstream->accepted(), 3u);
  EXPECT_LE(w.client->open_connections(w.where), 1u);
}

TEST(ClientLimits, ARequestHeadTooLargeForTheBufferIsRequestTooLarge) {
  scripted_client w([](upstream_connection&, std::size_t) {}, {.buffer_size = 1024});
  const std::string value(2000, 'a');
  const header big{"X-Big", value};
  const client_request request{.method = "GET", .target = "/", .headers = {&big, 1}};
  recorder r;
  const client_error refused = w.client->send(w.where, request, r);
  EXPECT_EQ(refused.code, client_errc::request_too_large) << refused.message();
  EXPECT_EQ(refused.phase, client_phase::validating);
  EXPECT_EQ(to_string(refused.code), "request_too_large");
  EXPECT_EQ(w.upstream->accepted(), 0u);
}

// RFC 9110 section 15.2.2: a 101 names the protocol it switches to.
TEST(ClientLimits, A101WithoutUpgradeIsABadResponse) {
  scripted_client w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n");
  });
  const header fields[] = {{"Connection", "upgrade"}, {"Upgrade", "websocket"}};
  const client_request request{.method = "GET", .target = "/", .headers = fields};
  recorder r;
  ASSERT_FALSE(w.client->send(w.where, request, r));
  w.loop->run_until_idle();
  EXPECT_EQ(r.error.code, client_errc::bad_response) << r.error.message();
  EXPECT_EQ(r.error.phase, client_phase::reading_head);
  EXPECT_FALSE(r.upgraded.is_open());
  EXPECT_EQ(w.client->open_connections(w.where), 0u);
}

// RFC 9110 section 7.8: a server switches only to a protocol the request's Upgrade offered. A
// 101 to a plain GET cannot be a switch the client asked for: nobody knows what follows it.
TEST(ClientLimits, A101ToARequestWithoutUpgradeIsABadResponse) {
  scripted_client w([](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
        "GARBAGE");
  });
  const client_request request{.method = "GET", .target = "/"};
  recorder r;
  ASSERT_FALSE(w.client->send(w.where, request, r));
  w.loop->run_until_idle();
  EXPECT_EQ(r.error.code, client_errc::bad_response) << r.error.message();
  EXPECT_EQ(r.error.phase, client_phase::reading_head);
  EXPECT_FALSE(r.upgraded.is_open());
  EXPECT_EQ(w.client->open_connections(w.where), 0u);
}

// RFC 9110 section 7.8 again: a 101 naming another protocol than the ones offered (h2c for a
// WebSocket request) is no switch the client asked for either; the protocol offered, in another
// case, is.
TEST(ClientLimits, A101ToAProtocolNotOfferedIsABadResponse) {
  const auto answer = [](std::string protocol) {
    return [protocol](upstream_connection& c, std::size_t) {
      (void)c.stream.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + protocol +
                           "\r\nConnection: upgrade\r\n\r\n");
    };
  };
  const header fields[] = {{"Connection", "upgrade"}, {"Upgrade", "websocket, foo/2"}};
  const client_request request{.method = "GET", .target = "/", .headers = fields};
  for (const char* protocol : {"h2c", "websocket, h2c", "foo/3"}) {
    scripted_client w(answer(protocol));
    recorder r;
    ASSERT_FALSE(w.client->send(w.where, request, r));
    w.loop->run_until_idle();
    EXPECT_EQ(r.error.code, client_errc::bad_response) << protocol << ": " << r.error.message();
    EXPECT_EQ(r.error.phase, client_phase::reading_head) << protocol;
    EXPECT_FALSE(r.upgraded.is_open()) << protocol;
    EXPECT_EQ(w.client->open_connections(w.where), 0u) << protocol;
  }
  for (const char* protocol : {"WebSocket", "foo/2", "foo"}) {
    scripted_client w(answer(protocol));
    recorder r;
    ASSERT_FALSE(w.client->send(w.where, request, r));
    w.loop->run_until_idle();
    EXPECT_TRUE(r.upgraded.is_open()) << protocol << ": " << r.error.message();
  }
}

// Interim responses are bounded together like one head: a storm of 103s ends as
// response_too_large instead of running until the head timeout, and a few of them still pass.
TEST(ClientLimits, InterimResponsesTogetherAreBoundedLikeOneHead) {
  const std::string early_hints = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n";
  const std::string final_response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const auto storm = [&](std::size_t count) {
    return [=](upstream_connection& c, std::size_t) {
      std::string bytes;
      for (std::size_t i = 0; i < count; ++i) bytes += early_hints;
      bytes += final_response;
      (void)c.stream.write(bytes);
    };
  };
  const client_request get{.method = "GET", .target = "/"};  // lives as long as the exchanges
  scripted_client few(storm(3), {.buffer_size = 1024});
  recorder passed;
  ASSERT_FALSE(few.client->send(few.where, get, passed));
  few.loop->run_until_idle();
  ASSERT_TRUE(passed.completed) << passed.error.message();
  EXPECT_EQ(passed.informational.size(), 3u);
  EXPECT_EQ(passed.body, "ok");

  scripted_client many(storm(40), {.buffer_size = 1024});  // about 1,900 bytes of 103s
  recorder refused;
  ASSERT_FALSE(many.client->send(many.where, get, refused));
  many.loop->run_until_idle();
  EXPECT_EQ(refused.error.code, client_errc::response_too_large) << refused.error.message();
  EXPECT_EQ(refused.error.phase, client_phase::reading_head);
  EXPECT_LT(refused.informational.size(), 40u);
  EXPECT_EQ(many.client->open_connections(many.where), 0u);
}

// A listener whose accept queue is full drops new SYNs, so a connection to it never completes:
// connect_timeout must end it as such (nothing was sent), not as a closed connection that had
// read part of its answer.
TEST(ClientLimits, AConnectionThatNeverCompletesIsConnectTimeout) {
  const int listening = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listening, 0);
  sockaddr_in where{};
  where.sin_family = AF_INET;
  where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof where;
  ASSERT_EQ(::bind(listening, reinterpret_cast<sockaddr*>(&where), size), 0);
  ASSERT_EQ(::listen(listening, 0), 0);
  ASSERT_EQ(::getsockname(listening, reinterpret_cast<sockaddr*>(&where), &size), 0);
  std::vector<int> fillers;  // never accepted: they fill the queue
  for (int i = 0; i < 3; ++i) {
    const int filler = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    (void)::connect(filler, reinterpret_cast<sockaddr*>(&where), size);
    fillers.push_back(filler);
  }
  std::this_thread::sleep_for(50ms);
  blocking_client http({.connect_timeout = 300ms}, {.timeout = 0ms});
  const fetch_result r =
      http.get("http://127.0.0.1:" + std::to_string(ntohs(where.sin_port)) + "/");
  EXPECT_EQ(r.error.code, client_errc::connect_timeout) << r.error.message();
  EXPECT_EQ(r.error.phase, client_phase::connecting) << r.error.message();
  for (const int filler : fillers) ::close(filler);
  ::close(listening);
}

// What a user of blocking_client writes: a limit on what one response may hold, and a deadline
// for a server that never answers, without setting either on every request.
TEST(BlockingClient, ABodyOverTheLimitIsBodyTooLargeAndTheClientGoesOn) {
  small_server s;
  ASSERT_TRUE(s.ok());
  blocking_client http({}, {.max_body = 10000});
  const std::string base = "http://127.0.0.1:" + std::to_string(s.port());
  const fetch_result big = http.get(base + "/big/1000000");
  EXPECT_EQ(big.error.code, client_errc::body_too_large) << big.error.message();
  EXPECT_EQ(big.error.phase, client_phase::reading_body);
  EXPECT_LE(big.body.size(), 10000u);
  const fetch_result small = http.get(base + "/big/10000");
  ASSERT_FALSE(small.error) << small.error.message();
  EXPECT_EQ(small.body.size(), 10000u);
}

// The client decodes no transfer coding but chunked. A body still coded is not the content:
// blocking_client refuses it (as Go's Transport does) instead of answering 200 with the coded
// bytes as the body, and says which codings it carried; allow_transfer_codings takes it as is.
TEST(BlockingClient, ABodyStillCarryingTransferCodingsIsRefused) {
  struct answer {
    std::string_view response;
    std::string_view codings;
  };
  const answer answers[] = {
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\ncoded-to-the-close", "gzip"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\ncoded", "chunked, gzip"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nplain?", "identity"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\ncoded\r\n0\r\n\r\n",
       "gzip"},
  };
  for (const bool allow : {false, true}) {
    for (const answer& a : answers) {
      blocking_client http({}, {.allow_transfer_codings = allow});
      scripted_upstream upstream(http.loop(), [&a](upstream_connection& c, std::size_t) {
        (void)c.stream.write(a.response);
        (void)c.stream.close();
      });
      const fetch_result r =
          http.send(origin::memory(upstream.dialer()), {.method = "GET", .target = "/"});
      EXPECT_EQ(r.transfer_codings, a.codings) << a.response;
      if (allow) {
        EXPECT_FALSE(r.error) << r.error.message();
        EXPECT_EQ(r.status, 200);
        EXPECT_FALSE(r.body.empty()) << "the coded bytes, as sent";
      } else {
        EXPECT_EQ(r.error.code, client_errc::unsupported_transfer_coding) << a.response;
        EXPECT_EQ(r.error.phase, client_phase::reading_head);
        EXPECT_TRUE(r.body.empty()) << "no coded byte passed as the content";
      }
    }
  }
  // Chunked alone is decoded: nothing is left on the body.
  blocking_client http;
  scripted_upstream upstream(http.loop(), [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nplain\r\n0\r\n\r\n");
  });
  const fetch_result r =
      http.send(origin::memory(upstream.dialer()), {.method = "GET", .target = "/"});
  ASSERT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.body, "plain");
  EXPECT_EQ(r.transfer_codings, "");
}

TEST(BlockingClient, AServerThatNeverAnswersMeetsTheDefaultDeadline) {
  auto silent = transport::listener::listen("127.0.0.1:0").value();  // accepts, never answers
  blocking_client http({}, {.timeout = 300ms});
  const auto start = std::chrono::steady_clock::now();
  const fetch_result r = http.get("http://127.0.0.1:" + std::to_string(silent.port()) + "/");
  EXPECT_EQ(r.error.code, client_errc::deadline_exceeded) << r.error.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // A request's own timeout still wins over the default: a client whose default (20 s) is far
  // beyond the bound, which only a request that waited for the default could exceed, however
  // late a loaded machine runs the 50 ms timeout.
  blocking_client patient({}, {.timeout = 20s});
  auto where = origin::parse("http://127.0.0.1:" + std::to_string(silent.port())).value();
  const auto own_start = std::chrono::steady_clock::now();
  const fetch_result own = patient.send(where, {.method = "GET", .target = "/", .timeout = 50ms});
  EXPECT_EQ(own.error.code, client_errc::deadline_exceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - own_start, 10s);
}

}  // namespace
}  // namespace taut::test
