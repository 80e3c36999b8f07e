// taut::reverse_proxy over the memory transport, on one loop and a manual clock: a client (raw
// bytes or taut::client) -> a taut server_loop with the proxy -> an upstream taut server_loop
// that records what it receives, or a scripted upstream that misbehaves.
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client_test_support.hpp"
#include "taut/http_chars.hpp"
#include "taut/proxy.hpp"
#include "taut/testing.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;

/// What the upstream saw of one request.
struct seen_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  body_kind framing = body_kind::none;

  [[nodiscard]] std::size_t count(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& [k, v] : headers) n += chars::iequals(k, name) ? 1 : 0;
    return n;
  }
  [[nodiscard]] std::string value(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (chars::iequals(k, name)) return v;
    }
    return {};
  }
};

/// After a 101, echoes everything upper-cased, leftover bytes first; ends when the peer does.
class upper_echo final : public upgrade_handler {
 public:
  explicit upper_echo(transport::event_loop& loop) : loop_(&loop) {}
  void on_upgrade(std::string_view leftover, void* stream) override {
    taken = std::move(*static_cast<transport::stream*>(stream));
    send(leftover);
    (void)taken.watch(*loop_, [this](transport::readiness) { pump(); });
  }
  void pump() {
    char buffer[4096];
    for (;;) {
      const auto r = taken.read(buffer);
      if (r.eof()) {
        ended = true;
        (void)taken.shutdown_write();
        return;
      }
      if (!r.done()) return;
      send({buffer, r.bytes});
    }
  }
  void send(std::string_view bytes) {
    std::string upper(bytes);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    (void)taken.write(upper);
  }
  transport::stream taken;
  bool ended = false;

 private:
  transport::event_loop* loop_;
};

class proxy_world {
 public:
  explicit proxy_world(proxy_options options = {}, bool scripted = false,
                       scripted_upstream::script script = {}, router_options front_routing = {},
                       const server_loop_options& front_options = {})
      : loop_(transport::event_loop::create({.clock = &clock}).value()),
        front_app_(front_routing),
        upstream_(*loop_, upstream_app_),
        front_(*loop_, front_app_, front_options),
        echo(*loop_),
        client(*loop_) {
    upstream_app_.handle("GET /ws", [this](request_context& req, reply& res) {
      seen.push_back({"GET", std::string(req.target()), {}, {}, body_kind::none});
      res.status(101);
      res.header("Upgrade", req.header("Upgrade"));
      res.header("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
      (void)res.writer().upgrade(echo);
    });
    upstream_app_.handle("/", [this](request_context& req, reply& res) {
      seen_request r{std::string(req.method_name()),
                     std::string(req.target()),
                     {},
                     std::string(req.body()),
                     req.raw().head().body.kind};
      for (const header& h : req.headers()) r.headers.emplace_back(h.name, h.value);
      seen.push_back(std::move(r));
      res.header("X-Upstream", "yes");
      res.header("Connection", "close, X-Hop");  // hop-by-hop on the way back too
      res.header("X-Hop", "secret");
      res.send(200, "upstream says " + std::string(req.target()));
    });
    upstream_app_.handle("GET /big/{n}", [](request_context& req, reply& res) {
      res.send(200, std::string(std::stoul(std::string(req.param("n"))), 'b'));
    });
    auto up = transport::listener::memory({});
    if (scripted) {
      scripted_ = std::make_unique<scripted_upstream>(*loop_, std::move(script));
      options.upstream = origin::memory(scripted_->dialer(), "upstream");
    } else {
      options.upstream = origin::memory(up.dialer(), "upstream");
    }
    EXPECT_FALSE(upstream_.add_listener(std::move(up)));
    proxy_ = std::make_unique<reverse_proxy>(std::move(options));
    front_app_.handle("/", proxy_->handler());
    auto front = transport::listener::memory({});
    front_dialer_ = front.dialer();
    where = origin::memory(front_dialer_, "front.example");
    EXPECT_FALSE(front_.add_listener(std::move(front)));
  }
  ~proxy_world() {
    echo.taken.unwatch();
    front_.close_all();
    loop_->run_until_idle();
    proxy_.reset();
    scripted_.reset();
  }

  void exchange(const client_request& request, recorder& into) {
    ASSERT_FALSE(client.send(where, kept.emplace_back(request), into));
    loop_->run_until_idle();
  }
  /// Writes raw bytes on a new connection to the front and returns what came back once the
  /// loop is idle.
  std::string raw(std::string_view bytes) {
    auto s = open_raw();
    (void)s.write(bytes);
    std::string got = read_all(s);
    s.unwatch();
    return got;
  }
  void run() { loop_->run_until_idle(); }
  void advance(std::chrono::milliseconds by) {
    clock.advance(by);
    loop_->run_until_idle();
  }
  reverse_proxy& proxy() { return *proxy_; }
  /// Closes the scripted upstream's listener: dials are refused from now on.
  void close_upstream() { scripted_.reset(); }
  scripted_upstream& scripted() { return *scripted_; }

  transport::manual_clock clock;
  std::deque<client_request> kept;
  std::vector<seen_request> seen;

 private:
  std::unique_ptr<transport::event_loop> loop_;
  mux upstream_app_;
  mux front_app_;
  server_loop upstream_;
  server_loop front_;
  std::unique_ptr<scripted_upstream> scripted_;
  std::unique_ptr<reverse_proxy> proxy_;
  transport::memory_dialer front_dialer_;

 public:
  upper_echo echo;
  taut::client client;
  origin where;

  /// A raw connection to the front, kept open (watched with a no-op: tests read by hand).
  transport::stream open_raw() {
    auto s = front_dialer_.dial().value();
    EXPECT_FALSE(s.watch(*loop_, [](transport::readiness) {}));
    return s;
  }
  std::string read_all(transport::stream& s) {
    loop_->run_until_idle();
    std::string got;
    char buffer[65536];
    for (;;) {
      const auto r = s.read(buffer);
      if (!r.done()) break;
      got.append(buffer, r.bytes);
    }
    return got;
  }
};

TEST(Proxy, ForwardsAndAnswers) {
  proxy_world w;
  recorder r;
  w.exchange({.method = "GET", .target = "/a/b?c=d"}, r);
  ASSERT_TRUE(r.completed) << r.error.message();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "upstream says /a/b?c=d");
  EXPECT_EQ(r.header("X-Upstream"), "yes");
  EXPECT_EQ(r.header("Via"), "1.1 taut");
  EXPECT_EQ(r.header("X-Hop"), "");  // named by the upstream's Connection: never forwarded
  EXPECT_TRUE(r.keep_alive);         // the upstream's close is its own hop's business
  ASSERT_EQ(w.seen.size(), 1u);
  EXPECT_EQ(w.seen[0].method, "GET");
  EXPECT_EQ(w.seen[0].target, "/a/b?c=d");
  EXPECT_EQ(w.seen[0].value("Host"), "front.example");
  EXPECT_EQ(w.seen[0].value("Via"), "1.1 taut");
  EXPECT_EQ(w.seen[0].value("X-Forwarded-Host"), "front.example");
  EXPECT_EQ(w.seen[0].value("X-Forwarded-Proto"), "http");
}

// RFC 9110 section 7.6.1: fields named in Connection go first, X-Forwarded-For included, before
// the proxy adds its own forwarding fields (as Via named so already was).
TEST(Proxy, ForwardingFieldsNamedInConnectionAreDropped) {
  proxy_options options;
  options.forwarded = true;
  proxy_world w(options);
  const std::string got = w.raw(
      "GET /x HTTP/1.1\r\nHost: h.example\r\nConnection: X-Forwarded-For, Forwarded, Via\r\n"
      "X-Forwarded-For: 1.2.3.4\r\nForwarded: for=1.2.3.4\r\nVia: 1.1 spoof\r\n\r\n");
  EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
  ASSERT_EQ(w.seen.size(), 1u);
  const seen_request& s = w.seen[0];
  EXPECT_EQ(s.count("X-Forwarded-For"), 0u);  // and no address of its own on a memory pipe
  EXPECT_EQ(s.count("Forwarded"), 1u);
  EXPECT_EQ(s.value("Forwarded"), "host=h.example;proto=http");
  EXPECT_EQ(s.count("Via"), 1u);
  EXPECT_EQ(s.value("Via"), "1.1 taut");
}

// Host names the target, not the connection (RFC 9112 section 3.2): a client naming it in
// Connection must not make the proxy drop it (and so choose the upstream's virtual host).
TEST(ProxyConnectionOptions, HostNamedInConnectionIsKept) {
  proxy_world w;
  const std::string got = w.raw(
      "GET /named HTTP/1.1\r\nHost: public.example\r\nConnection: Host\r\n\r\n"
      "GET /lower HTTP/1.1\r\nHost: public.example\r\nConnection: keep-alive, host\r\n\r\n");
  EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
  ASSERT_EQ(w.seen.size(), 2u);
  for (const seen_request& s : w.seen) {
    EXPECT_EQ(s.count("Host"), 1u) << s.target;
    EXPECT_EQ(s.value("Host"), "public.example") << s.target;
    EXPECT_EQ(s.value("X-Forwarded-Host"), "public.example") << s.target;
  }
}

// Connection options never change the framing of what goes upstream, nor remove the proxy's own
// forwarding fields: only the client's copies of those go.
TEST(ProxyConnectionOptions, FramingAndTheProxysOwnFieldsSurviveConnectionOptions) {
  proxy_options options;
  options.forwarded = true;
  proxy_world w(options);
  const std::string got = w.raw(
      "POST /length HTTP/1.1\r\nHost: h.example\r\nConnection: Content-Length\r\n"
      "Content-Length: 5\r\n\r\nabcde"
      "POST /chunked HTTP/1.1\r\nHost: h.example\r\nConnection: Transfer-Encoding\r\n"
      "Transfer-Encoding: chunked\r\n\r\n3\r\nfgh\r\n0\r\n\r\n"
      "GET /own HTTP/1.1\r\nHost: h.example\r\n"
      "Connection: X-Forwarded-Host, X-Forwarded-Proto, Forwarded, Via\r\n"
      "X-Forwarded-Host: forged\r\nX-Forwarded-Proto: gopher\r\n\r\n");
  EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
  ASSERT_EQ(w.seen.size(), 3u);
  EXPECT_EQ(w.seen[0].framing, body_kind::content_length);
  EXPECT_EQ(w.seen[0].value("Content-Length"), "5");
  EXPECT_EQ(w.seen[0].body, "abcde");
  EXPECT_EQ(w.seen[1].framing, body_kind::content_length);
  EXPECT_EQ(w.seen[1].value("Content-Length"), "3");
  EXPECT_EQ(w.seen[1].body, "fgh");
  const seen_request& own = w.seen[2];
  EXPECT_EQ(own.count("X-Forwarded-Host"), 1u);
  EXPECT_EQ(own.value("X-Forwarded-Host"), "h.example");
  EXPECT_EQ(own.count("X-Forwarded-Proto"), 1u);
  EXPECT_EQ(own.value("X-Forwarded-Proto"), "http");
  EXPECT_EQ(own.value("Forwarded"), "host=h.example;proto=http");
  EXPECT_EQ(own.value("Via"), "1.1 taut");
  EXPECT_EQ(own.value("Host"), "h.example");
}

// The same on the way back: an upstream naming its framing fields in Connection keeps its
// framing (a HEAD's declared length included), and its Via never replaces the proxy's.
TEST(ProxyConnectionOptions, AResponsesFramingSurvivesConnectionOptions) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t index) {
    switch (index) {
      case 0:
        (void)c.stream.write(
            "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 1234\r\n\r\n");
        break;
      case 1:
        (void)c.stream.write(
            "HTTP/1.1 200 OK\r\nConnection: Content-Length, Via\r\nVia: 1.1 up\r\n"
            "Content-Length: 5\r\n\r\nhello");
        break;
      default:
        (void)c.stream.write(
            "HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\n"
            "Transfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n0\r\n\r\n");
        break;
    }
  });
  const std::string head = w.raw("HEAD /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(head.find("Content-Length: 1234\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
  const std::string length = w.raw("GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(length.find("Content-Length: 5\r\n"), std::string::npos) << length;
  EXPECT_TRUE(length.ends_with("\r\n\r\nhello")) << length;
  EXPECT_NE(length.find("Via: 1.1 taut\r\n"), std::string::npos) << length;
  EXPECT_EQ(length.find("1.1 up"), std::string::npos) << length;
  const std::string chunked = w.raw("GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(chunked.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << chunked;
  EXPECT_TRUE(chunked.ends_with("5\r\nworld\r\n0\r\n\r\n")) << chunked;
}

TEST(Proxy, RemovesHopByHopFieldsAndRewritesForwarding) {
  proxy_options options;
  options.forwarded = true;
  proxy_world w(options);
  const std::string got = w.raw(
      "POST /x HTTP/1.1\r\nHost: h.example\r\nConnection: keep-alive, X-Secret\r\n"
      "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n"
      "Upgrade: h2c\r\nTrailer: X-T\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n"
      "X-Forwarded-Host: forged\r\nX-Kept: yes\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n");
  EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
  ASSERT_EQ(w.seen.size(), 1u);
  const seen_request& s = w.seen[0];
  for (const char* hop : {"Connection", "X-Secret", "Keep-Alive", "TE", "Proxy-Connection",
                          "Upgrade", "Trailer", "Transfer-Encoding"}) {
    EXPECT_EQ(s.count(hop), 0u) << hop;
  }
  EXPECT_EQ(s.value("X-Kept"), "yes");
  EXPECT_EQ(s.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(s.value("X-Forwarded-For"), "1.2.3.4, 5.6.7.8");  // no IP on a memory pipe
  EXPECT_EQ(s.value("X-Forwarded-Host"), "h.example");
  EXPECT_EQ(s.value("Forwarded"), "host=h.example;proto=http");
  // Re-framed from what the front decoded: a Content-Length body, never the client's chunks.
  EXPECT_EQ(s.framing, body_kind::content_length);
  EXPECT_EQ(s.value("Content-Length"), "5");
  EXPECT_EQ(s.body, "abcde");
}

// The proxy passes the fields it copies on as already checked only when the parser that read
// them guarantees their bytes. A front that accepts obs-fold hands it values spanning the fold
// (CR LF and whitespace): those must still be refused, never written upstream as a second line.
TEST(ProxyParsedFields, AFoldedRequestFieldFromALenientFrontIsNotForwarded) {
  server_loop_options front;
  front.connection.parse.lenient.obs_fold = true;
  proxy_world w({}, false, {}, {}, front);
  const std::string got = w.raw(
      "GET /folded HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n Injected: yes\r\n"
      "Connection: close\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 502 Bad Gateway\r\n")) << got;
  EXPECT_TRUE(w.seen.empty());
  // The same request unfolded goes on, its fields copied as parsed.
  const std::string plain =
      w.raw("GET /plain HTTP/1.1\r\nHost: h\r\nX-Plain: a\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(plain.starts_with("HTTP/1.1 200 OK\r\n")) << plain;
  ASSERT_EQ(w.seen.size(), 1u);
  EXPECT_EQ(w.seen[0].value("X-Plain"), "a");
  EXPECT_EQ(w.seen[0].count("Injected"), 0u);
}

// The same on the way back: with a client parser that accepts obs-fold, a folded response field
// is dropped by the front's writer (CR LF in a value) while the others go on.
TEST(ProxyParsedFields, AFoldedResponseFieldFromALenientClientIsDropped) {
  proxy_options options;
  options.client.parse.lenient.obs_fold = true;
  proxy_world w(options, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 200 OK\r\nX-Folded: a\r\n Injected: yes\r\nX-Kept: yes\r\n"
        "Content-Length: 2\r\n\r\nok");
  });
  const std::string got = w.raw("GET /r HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  EXPECT_NE(got.find("\r\nX-Kept: yes\r\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("X-Folded"), std::string::npos) << got;
  EXPECT_EQ(got.find("Injected"), std::string::npos) << got;
  EXPECT_TRUE(got.ends_with("\r\n\r\nok")) << got;
}

// RFC 9112 section 3.2.2: an absolute-form target's authority replaces the client's Host.
TEST(Proxy, AnAbsoluteFormTargetsAuthorityIsTheHost) {
  proxy_world w;
  const std::string got =
      w.raw("GET http://named.example:8081/abs?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  ASSERT_EQ(w.seen.size(), 1u);
  EXPECT_EQ(w.seen[0].target, "/abs?q=1");
  EXPECT_EQ(w.seen[0].count("host"), 1u);
  EXPECT_EQ(w.seen[0].value("host"), "named.example:8081");
  EXPECT_EQ(w.seen[0].value("x-forwarded-host"), "named.example:8081");
}

// An empty Host is valid HTTP/1.1 (RFC 9112 section 3.2: a target without authority). It says
// nothing of the upstream's virtual host: the request goes up with the upstream's authority, as
// an HTTP/1.0 request without Host does, rather than failing as a bad gateway.
TEST(Proxy, AnEmptyHostGoesUpAsTheUpstreamsAuthority) {
  proxy_world w;
  const std::string got = w.raw("GET /empty HTTP/1.1\r\nHost:\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  ASSERT_EQ(w.seen.size(), 1u);
  EXPECT_EQ(w.seen[0].count("host"), 1u);
  EXPECT_EQ(w.seen[0].value("host"), "upstream");
  EXPECT_EQ(w.seen[0].count("x-forwarded-host"), 0u);
}

TEST(Proxy, ReusesItsPerRequestState) {
  proxy_world w;
  for (int i = 0; i < 20; ++i) {
    recorder r;
    w.exchange({.method = "GET", .target = "/n"}, r);
    ASSERT_TRUE(r.completed) << r.error.message();
  }
  EXPECT_EQ(w.proxy().stats().forwarded, 20u);
  EXPECT_EQ(w.proxy().stats().exchanges_made, 1u);  // the per-request state is reused
}

TEST(Proxy, ReusesUpstreamConnectionsWhenTheUpstreamKeepsThemAlive) {
  proxy_world w;
  for (int i = 0; i < 20; ++i) {
    recorder r;
    w.exchange({.method = "GET", .target = "/big/10"}, r);
    ASSERT_TRUE(r.completed) << r.error.message();
    EXPECT_EQ(r.body, std::string(10, 'b'));
  }
  ASSERT_NE(w.proxy().client(), nullptr);
  EXPECT_EQ(w.proxy().client()->stats().connections_opened, 1u);
  EXPECT_EQ(w.client.stats().connections_opened, 1u);
}

TEST(Proxy, KeepsEveryUpstreamConnectionUnderConcurrentLoad) {
  proxy_world w;
  const client_request request{.method = "GET", .target = "/big/10"};
  for (int round = 0; round < 5; ++round) {
    std::vector<std::unique_ptr<recorder>> exchanges;
    for (int i = 0; i < 40; ++i) {
      exchanges.push_back(std::make_unique<recorder>());
      ASSERT_FALSE(w.client.send(w.where, request, *exchanges.back()));
    }
    w.run();
    for (auto& r : exchanges) ASSERT_TRUE(r->completed) << r->error.message();
  }
  // 40 at once need 40 upstream connections; after that every one is reused (a pool keeping
  // fewer idle than it opens would close and open connections every round).
  EXPECT_EQ(w.proxy().client()->stats().connections_opened, 40u);
}

TEST(Proxy, StreamsLargeBodiesWithBackPressure) {
  proxy_world w;
  recorder r;
  r.pause_on_head = true;  // the downstream client stops reading
  w.exchange({.method = "GET", .target = "/big/4000000"}, r);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 0u);
  // The front would cut the response beyond its 1 MiB output limit (max_buffered_output) if the
  // proxy kept writing: it paused its upstream read instead, so the body arrives whole.
  r.resume();
  w.run();
  ASSERT_TRUE(r.completed) << r.error.message();
  EXPECT_EQ(r.body.size(), 4000000u);
}

TEST(Proxy, UpstreamFailuresAre502AndTimeouts504) {
  proxy_world refused({}, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
  });
  recorder ambiguous;
  refused.exchange({.method = "GET", .target = "/"}, ambiguous);
  EXPECT_EQ(ambiguous.status, 502);
  EXPECT_EQ(refused.proxy().stats().bad_gateway, 1u);

  proxy_options slow_options;
  slow_options.timeout = 5s;
  proxy_world slow(slow_options, true, [](upstream_connection&, std::size_t) {});
  recorder stalled;
  slow.exchange({.method = "GET", .target = "/"}, stalled);
  EXPECT_FALSE(stalled.done);
  slow.advance(6s);
  EXPECT_EQ(stalled.status, 504);
  EXPECT_EQ(slow.proxy().stats().timed_out, 1u);

  proxy_world garbage({}, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged");
  });
  recorder first, second;
  garbage.exchange({.method = "GET", .target = "/"}, first);
  EXPECT_EQ(first.body, "first");
  garbage.exchange({.method = "GET", .target = "/"}, second);
  EXPECT_EQ(second.body, "first");  // from a new upstream connection, never "forged"
  EXPECT_EQ(garbage.scripted().accepted(), 2u);

  proxy_world cut({}, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    (void)c.stream.close();
  });
  recorder cut_short;
  cut.exchange({.method = "GET", .target = "/"}, cut_short);
  EXPECT_EQ(cut_short.status, 200);
  EXPECT_FALSE(cut_short.completed);
  EXPECT_EQ(cut_short.error.code, client_errc::connection_closed);  // the client sees it cut too
  EXPECT_EQ(cut.proxy().stats().cut_short, 1u);
}

TEST(Proxy, TunnelsUpgradesWhenEnabled) {
  proxy_options options;
  options.upgrades = true;
  proxy_world w(options);
  auto s = w.open_raw();
  (void)s.write(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello");
  const std::string head = w.read_all(s);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << head;
  EXPECT_NE(head.find("Upgrade: websocket\r\n"), std::string::npos) << head;
  // Upgrade is hop-by-hop: its sender names it in Connection (RFC 9110 section 7.8), and a
  // WebSocket client fails a handshake whose 101 lacks it (RFC 6455 section 4.1).
  EXPECT_NE(head.find("Connection: upgrade\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_TRUE(head.ends_with("\r\n\r\nHELLO")) << head;  // the bytes after the request, echoed
  ASSERT_EQ(w.seen.size(), 1u);
  (void)s.write("more bytes");
  EXPECT_EQ(w.read_all(s), "MORE BYTES");
  const std::string big(100000, 'q');
  std::string_view rest = big;
  std::string echoed;
  while (!rest.empty() || echoed.size() < big.size()) {
    const auto wrote = s.write(rest);
    if (wrote.done()) rest.remove_prefix(wrote.bytes);
    const std::string got = w.read_all(s);
    echoed += got;
    if (got.empty() && !wrote.done()) break;
  }
  EXPECT_EQ(echoed, std::string(100000, 'Q'));
  (void)s.shutdown_write();  // the end passes through: the upstream sees it and ends too
  w.read_all(s);
  EXPECT_TRUE(w.echo.ended);
  EXPECT_EQ(w.proxy().stats().tunnels, 1u);
  s.unwatch();
}

// The client resets right after asking to upgrade: the tunnel never gets the client's side, and
// its upstream connection is closed (the upstream sees the end), not kept.
TEST(Proxy, AnUpgradeWhoseClientLeavesBeforeTheTakeOverClosesTheUpstream) {
  proxy_options options;
  options.upgrades = true;
  proxy_world w(options);
  auto s = w.open_raw();
  // A large response the client does not read keeps the 101 queued behind it: accepted, not
  // yet taken over.
  (void)s.write(
      "GET /big/600000 HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  w.run();
  ASSERT_EQ(w.seen.size(), 1u);
  ASSERT_TRUE(w.echo.taken.is_open());
  EXPECT_FALSE(w.echo.ended);
  s.unwatch();
  s.abort();
  w.run();
  EXPECT_TRUE(w.echo.ended);
  EXPECT_EQ(w.proxy().stats().tunnels, 0u);
}

TEST(Proxy, UpgradeIsHopByHopWhenTunnellingIsOff) {
  proxy_world w;
  const std::string got =
      w.raw("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  // The upstream saw a plain GET (no Upgrade): its handler's 101 is refused by its own server
  // (101 is only for a request that asked), so the client gets no switch.
  EXPECT_FALSE(got.starts_with("HTTP/1.1 101")) << got;
}

/// What a held upload's last part brought: the body bytes the upstream received, and the answer.
struct drained_upload {
  std::size_t received = 0;
  std::string answer;
};

/// The scripted upstream's first connection, which stopped reading an upload, reads again: the
/// rest of `body` (from `sent` on) is written to `client` while the upstream reads, for at most
/// `rounds` rounds, then the upstream answers 200 "ok" and the client's answer is read.
drained_upload drain_upload(proxy_world& w, transport::stream& client, std::string_view body,
                            std::size_t sent, int rounds) {
  auto& up = *w.scripted().connections()[0];
  drained_upload out;
  out.received = up.received.size() - up.scanned;
  char buffer[65536];
  for (int round = 0; round < rounds && out.received < body.size(); ++round) {
    if (sent < body.size()) {
      const auto wrote = client.write(body.substr(sent));
      if (wrote.done()) sent += wrote.bytes;
    }
    w.run();
    for (;;) {
      const auto r = up.stream.read(buffer);
      if (!r.done()) break;
      out.received += r.bytes;
    }
  }
  (void)up.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  out.answer = w.read_all(client);
  return out;
}

// An upload streamed through the proxy to an upstream that stops reading: the front stops reading
// the client too (the proxy holds the body), so what the proxy keeps is bounded; once the
// upstream reads again, the whole body arrives, framed with its Content-Length.
TEST(Proxy, StreamsUploadsWithBackPressure) {
  proxy_options options;
  options.max_body = 8 * 1024 * 1024;
  proxy_world w(options, true, [](upstream_connection& c, std::size_t) {
    c.stream.unwatch();  // a slow upstream: reads nothing more until the test says
  });
  constexpr std::size_t size = 4 * 1024 * 1024;
  const std::string head =
      "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n";
  const std::string body(size, 'u');
  auto s = w.open_raw();
  ASSERT_EQ(s.write(head).bytes, head.size());
  std::size_t sent = 0;
  for (int idle_rounds = 0; idle_rounds < 3 && sent < size;) {
    const auto wrote = s.write(std::string_view(body).substr(sent));
    if (wrote.done()) {
      sent += wrote.bytes;
      idle_rounds = 0;
    } else {
      ++idle_rounds;
    }
    w.run();
  }
  // Two pipes of 256 KiB, the front's input block, the client's 16 KiB buffer and one piece.
  EXPECT_LT(sent, 1024u * 1024u) << "the proxy took the upload faster than the upstream";
  ASSERT_EQ(w.scripted().accepted(), 1u);
  auto& up = *w.scripted().connections()[0];
  EXPECT_NE(up.received.find("Content-Length: " + std::to_string(size)), std::string::npos);
  const auto [received, answer] = drain_upload(w, s, body, sent, 100000);
  EXPECT_EQ(received, size);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\nok")) << answer;
  s.unwatch();
}

// proxy_options::timeout ends at the response head: a body that keeps flowing may take longer
// (a download, a long poll); one that stops for client.body_idle_timeout is cut.
TEST(Proxy, TheTimeoutEndsAtTheHeadAndABodyThatStopsIsCut) {
  proxy_options options;
  options.timeout = 60s;
  proxy_world w(options, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab");
  });
  recorder slow;
  w.exchange({.method = "GET", .target = "/slow"}, slow);
  EXPECT_EQ(slow.status, 200);
  auto& up = *w.scripted().connections()[0];
  w.advance(50s);
  (void)up.stream.write("cd");
  w.run();
  w.advance(50s);
  (void)up.stream.write("ef");
  w.run();
  ASSERT_TRUE(slow.completed) << slow.error.message();
  EXPECT_EQ(slow.body, "abcdef");

  recorder stalled;
  w.exchange({.method = "GET", .target = "/stalled"}, stalled);
  EXPECT_EQ(stalled.status, 200);
  w.advance(59s);
  EXPECT_FALSE(stalled.done);
  w.advance(2s);
  ASSERT_TRUE(stalled.done);
  EXPECT_FALSE(stalled.completed);
  EXPECT_EQ(w.proxy().stats().cut_short, 1u);
}

// The front's body timeout does not run while the proxy holds the body for a slow upstream: an
// upload held longer than it goes through once the upstream reads again.
TEST(Proxy, AHeldUploadOutlastsTheFrontsBodyTimeout) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t) {
    c.stream.unwatch();  // reads nothing more until the test says
  });
  constexpr std::size_t size = 900 * 1024;
  const std::string head =
      "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n";
  const std::string body(size, 'u');
  auto s = w.open_raw();
  ASSERT_EQ(s.write(head).bytes, head.size());
  std::size_t sent = 0;
  for (int round = 0; round < 8 && sent < size; ++round) {
    const auto wrote = s.write(std::string_view(body).substr(sent));
    if (wrote.done()) sent += wrote.bytes;
    w.run();
  }
  ASSERT_LT(sent, size) << "the upstream's stall did not hold the upload";
  w.advance(45s);  // over the front's 30 s body timeout, all of it held
  const auto [received, answer] = drain_upload(w, s, body, sent, 10000);
  EXPECT_EQ(received, size);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer.substr(0, 200);
  s.unwatch();
}

// What an upstream may not make the proxy pass on: 1xx without end (each is buffered for the
// client), more Connection tokens than it tracks (a field named past them would go out), and
// Proxy-Authenticate (for the next hop only).
TEST(Proxy, InterimFloodsAndConnectionTokenOverflowsAre502) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t index) {
    if (index == 0) {
      std::string flood;
      for (int i = 0; i < 50; ++i) flood += "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
      (void)c.stream.write(flood + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    } else if (index == 1) {
      std::string connection = "Connection: ";
      for (int i = 0; i < 20; ++i) connection += "x-" + std::to_string(i) + ", ";
      (void)c.stream.write("HTTP/1.1 200 OK\r\n" + connection +
                           "x-secret\r\nX-Secret: 1\r\nContent-Length: 2\r\n\r\nok");
    } else {
      (void)c.stream.write(
          "HTTP/1.1 200 OK\r\nProxy-Authenticate: Basic\r\nContent-Length: 2\r\n\r\nok");
    }
  });
  const std::string flood = w.raw("GET /flood HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_LT(flood.size(), 2000u);
  EXPECT_NE(flood.find("HTTP/1.1 502 Bad Gateway\r\n"), std::string::npos) << flood;
  const std::string tokens = w.raw("GET /tokens HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(tokens.starts_with("HTTP/1.1 502 Bad Gateway\r\n")) << tokens;
  EXPECT_EQ(tokens.find("X-Secret"), std::string::npos);
  const std::string auth = w.raw("GET /auth HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(auth.starts_with("HTTP/1.1 200 OK\r\n")) << auth;
  EXPECT_EQ(auth.find("Proxy-Authenticate"), std::string::npos) << auth;
}

TEST(Proxy, ConnectionRefusedIs502) {
  proxy_world w({}, true, [](upstream_connection&, std::size_t) {});
  w.close_upstream();
  recorder r;
  w.exchange({.method = "GET", .target = "/"}, r);
  ASSERT_TRUE(r.completed) << r.error.message();
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.body, "502 Bad Gateway\n");
}

// The prefix is checked on the cleaned path, and the cleaned path is what goes upstream: no
// dot segment (escaped or not) or empty segment reaches an upstream route the prefix did not
// allow. The front's mux here does not redirect unclean paths, so the proxy sees them as sent.
TEST(ProxyPaths, DotSegmentsAreResolvedBeforeThePrefixCheck) {
  proxy_options options;
  options.strip_prefix = "/api";
  options.upstream_path = "/base";
  proxy_world w(options, false, {}, {.redirect_unclean_paths = false});
  const auto status_of = [&](std::string_view target) {
    const std::string got =
        w.raw("GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    return got.substr(0, std::min<std::size_t>(got.find("\r\n"), got.size()));
  };
  EXPECT_EQ(status_of("/api/../admin"), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(status_of("/api/%2e%2E/admin"), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(status_of("/api/.%2e/admin?x=1"), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(status_of("/api/sub/../../admin"), "HTTP/1.1 404 Not Found");
  EXPECT_TRUE(w.seen.empty());  // none reached the upstream

  EXPECT_EQ(status_of("/api/x/../y?q=/../z"), "HTTP/1.1 200 OK");
  EXPECT_EQ(status_of("/api//a/./b/"), "HTTP/1.1 200 OK");
  EXPECT_EQ(status_of("/api/./"), "HTTP/1.1 200 OK");
  EXPECT_EQ(status_of("/api?q=1"), "HTTP/1.1 200 OK");
  ASSERT_EQ(w.seen.size(), 4u);
  EXPECT_EQ(w.seen[0].target, "/base/y?q=/../z");  // the query is not a path
  EXPECT_EQ(w.seen[1].target, "/base/a/b/");
  EXPECT_EQ(w.seen[2].target, "/base/");
  EXPECT_EQ(w.seen[3].target, "/base/?q=1");
}

// An escaped slash or backslash hides a separator from the front: "/api/..%2Fadmin" is one
// segment here and "/api/../admin" to an upstream that decodes before it resolves dot segments.
TEST(ProxyPaths, EscapedSlashesAndBackslashesAreRefusedUnlessAllowed) {
  proxy_options options;
  options.strip_prefix = "/api";
  options.upstream_path = "/base";
  proxy_world w(options, false, {}, {.redirect_unclean_paths = false});
  for (const char* target : {"/api/..%2Fadmin", "/api/..%2fadmin", "/api/..%5Cadmin", "/api/a%5cb",
                             "/api/%zz", "/api/%2"}) {
    const std::string got =
        w.raw("GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(got.starts_with("HTTP/1.1 400 Bad Request\r\n")) << target << "\n" << got;
  }
  EXPECT_TRUE(w.seen.empty());

  options.allow_encoded_slashes = true;
  proxy_world allowed(options, false, {}, {.redirect_unclean_paths = false});
  const std::string got =
      allowed.raw("GET /api/group%2Fproject HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  ASSERT_EQ(allowed.seen.size(), 1u);
  EXPECT_EQ(allowed.seen[0].target, "/base/group%2Fproject");  // unchanged, never decoded
}

// A dot segment with path parameters ("..;") is no dot segment to the cleaning here, but Tomcat
// and Spring drop the parameters and then resolve it: "/api/..;/admin" is "/admin" there. It is
// refused, as is a NUL (raw is refused by the parser; "%00" ends a C string early upstream).
TEST(ProxyPaths, DotSegmentsWithParametersAndNulsAreRefused) {
  proxy_options options;
  options.strip_prefix = "/api";
  options.upstream_path = "/base";
  proxy_world w(options, false, {}, {.redirect_unclean_paths = false});
  for (const char* target :
       {"/api/..;/admin", "/api/..;x=1/admin", "/api/.;/x", "/api/%2e%2E;/admin",
        "/api/.%2e;v=1/admin", "/api/..%3b/admin", "/api/..%3B", "/api/x/..;", "/api/%2e%2e%00",
        "/api/a%00b", "/api/..;?q=1"}) {
    const std::string got =
        w.raw("GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(got.starts_with("HTTP/1.1 400 Bad Request\r\n")) << target << "\n" << got;
  }
  EXPECT_TRUE(w.seen.empty());

  // Parameters on other segments, and dots that make no dot segment, still go up as they came.
  for (const char* target :
       {"/api/a;v=1/b", "/api/...;x", "/api/..a;x", "/api/x;..", "/api/a%3bb"}) {
    const std::string got =
        w.raw("GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << target << "\n" << got;
  }
  ASSERT_EQ(w.seen.size(), 5u);
  EXPECT_EQ(w.seen[0].target, "/base/a;v=1/b");
  EXPECT_EQ(w.seen[3].target, "/base/x;..");
}

// Behind taut's mux (its default), an unclean path is redirected to the clean one before the
// proxy is reached: what the upstream gets is always the path the route was chosen on.
TEST(ProxyPaths, BehindTheMuxUncleanPathsAreRedirectedNotForwarded) {
  proxy_options options;
  options.strip_prefix = "/api";
  proxy_world w(options);
  const std::string got =
      w.raw("GET /api/%2e%2e/admin HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 301 Moved Permanently\r\n")) << got;
  EXPECT_NE(got.find("Location: /admin\r\n"), std::string::npos) << got;
  EXPECT_TRUE(w.seen.empty());
}

// RFC 9110 section 7.6.2: Max-Forwards counts down on TRACE and OPTIONS; at 0 the proxy is the
// final recipient and answers itself. Other methods carry it unchanged.
TEST(ProxyMaxForwards, ZeroIsAnsweredByTheProxyAndOtherValuesAreCountedDown) {
  proxy_world w;
  const std::string options0 =
      w.raw("OPTIONS /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(options0.starts_with("HTTP/1.1 200 OK\r\n")) << options0;
  EXPECT_NE(options0.find("Content-Length: 0\r\n"), std::string::npos) << options0;
  const std::string trace0 =
      w.raw("TRACE /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(trace0.starts_with("HTTP/1.1 501 Not Implemented\r\n")) << trace0;
  EXPECT_TRUE(w.seen.empty());

  (void)w.raw("OPTIONS /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 5\r\nConnection: close\r\n\r\n");
  (void)w.raw("TRACE /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 1\r\nConnection: close\r\n\r\n");
  (void)w.raw("GET /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n");
  (void)w.raw("OPTIONS /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(w.seen.size(), 4u);
  EXPECT_EQ(w.seen[0].method, "OPTIONS");
  EXPECT_EQ(w.seen[0].count("Max-Forwards"), 1u);
  EXPECT_EQ(w.seen[0].value("Max-Forwards"), "4");
  EXPECT_EQ(w.seen[1].method, "TRACE");
  EXPECT_EQ(w.seen[1].value("Max-Forwards"), "0");
  EXPECT_EQ(w.seen[2].value("Max-Forwards"), "0");  // GET: not this proxy's to count
  EXPECT_EQ(w.seen[3].count("Max-Forwards"), 0u);
}

// A count past 64 bits still counts down (from the largest the proxy supports, RFC 9110 section
// 7.6.2), rather than going on unchanged; of several Max-Forwards lines the smallest counts (a 0
// among them makes the proxy the last recipient), and one line goes on.
TEST(ProxyMaxForwards, AHugeCountIsCountedDownAndTheSmallestOfSeveralCounts) {
  proxy_world w;
  (void)w.raw(
      "TRACE /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 99999999999999999999999\r\n"
      "Connection: close\r\n\r\n");
  (void)w.raw(
      "OPTIONS /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 7\r\nMax-Forwards: 3\r\n"
      "Connection: close\r\n\r\n");
  const std::string zero = w.raw(
      "OPTIONS /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 5\r\nMax-Forwards: 0\r\n"
      "Connection: close\r\n\r\n");
  EXPECT_TRUE(zero.starts_with("HTTP/1.1 200 OK\r\n")) << zero;
  ASSERT_EQ(w.seen.size(), 2u);
  EXPECT_EQ(w.seen[0].count("Max-Forwards"), 1u);
  EXPECT_EQ(w.seen[0].value("Max-Forwards"), "18446744073709551614");
  EXPECT_EQ(w.seen[1].count("Max-Forwards"), 1u);
  EXPECT_EQ(w.seen[1].value("Max-Forwards"), "2");
}

// A request head the upstream connection's buffer cannot hold is the client's fault (431), and
// a full wait queue is an overload (503 with Retry-After): neither is a bad gateway.
TEST(ProxyStatuses, AHeadTooLargeIs431AndAFullQueueIs503) {
  proxy_options options;
  options.client.buffer_size = 2048;
  proxy_world w(options);
  const std::string got = w.raw("GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(3000, 'a') +
                                "\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n")) << got;
  EXPECT_TRUE(w.seen.empty());
  EXPECT_EQ(w.proxy().stats().bad_gateway, 0u);

  proxy_options queued;
  queued.client.max_connections_per_origin = 1;
  queued.client.max_waiting_per_origin = 1;
  queued.timeout = 5s;
  proxy_world q(queued, true, [](upstream_connection&, std::size_t) {});  // never answers
  recorder first, second, third;
  const client_request get{.method = "GET", .target = "/"};  // outlives the exchanges
  ASSERT_FALSE(q.client.send(q.where, get, first));
  ASSERT_FALSE(q.client.send(q.where, get, second));
  ASSERT_FALSE(q.client.send(q.where, get, third));
  q.run();
  EXPECT_FALSE(first.done);
  EXPECT_FALSE(second.done);  // waiting in the queue
  ASSERT_TRUE(third.completed) << third.error.message();
  EXPECT_EQ(third.status, 503);
  EXPECT_EQ(third.header("Retry-After"), "1");
  EXPECT_EQ(q.proxy().stats().bad_gateway, 0u);
  q.advance(6s);  // the two in flight time out (504): nothing is pending when the world ends
  EXPECT_EQ(first.status, 504);
  EXPECT_EQ(second.status, 504);
}

// A client that leaves (its connection reset) while its request waits for an upstream
// connection is never forwarded: the upstream does not see a request nobody will read the answer
// of, and the live request queued behind it takes the connection in its place.
TEST(ProxyStatuses, ARequestWhoseClientLeftWhileQueuedIsNotForwarded) {
  proxy_options options;
  options.client.max_connections_per_origin = 1;
  options.timeout = 5s;
  proxy_world w(options, true, [](upstream_connection&, std::size_t) {});  // answered by hand
  auto first = w.open_raw();
  (void)first.write("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
  w.run();
  ASSERT_EQ(w.scripted().heads(), 1u);
  auto gone = w.open_raw();
  (void)gone.write("GET /gone HTTP/1.1\r\nHost: h\r\n\r\n");
  w.run();
  gone.abort();  // waiting for the one upstream connection when it leaves
  w.run();
  auto stay = w.open_raw();
  (void)stay.write("GET /stay HTTP/1.1\r\nHost: h\r\n\r\n");
  w.run();
  ASSERT_EQ(w.scripted().connections().size(), 1u);
  upstream_connection& up = *w.scripted().connections()[0];
  (void)up.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
  w.run();
  EXPECT_TRUE(w.read_all(first).starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(up.heads, 2u);
  EXPECT_EQ(up.received.find("/gone"), std::string::npos) << up.received;
  EXPECT_NE(up.received.find("GET /stay "), std::string::npos) << up.received;
  (void)up.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2");
  const std::string stayed = w.read_all(stay);
  EXPECT_TRUE(stayed.starts_with("HTTP/1.1 200 OK\r\n")) << stayed;
  EXPECT_EQ(w.proxy().stats().bad_gateway, 0u);
  first.unwatch();
  stay.unwatch();
}

// RFC 9110 section 8.6: a HEAD response's Content-Length, when sent, is the GET's; an upstream
// that sent none must not gain "Content-Length: 0" on the way.
TEST(ProxyHead, AHeadWithoutLengthGainsNoneAndALengthIsKept) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t index) {
    (void)c.stream.write(index == 0 ? "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n"
                                    : "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
  });
  const std::string unknown = w.raw("HEAD /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(unknown.starts_with("HTTP/1.1 200 OK\r\n")) << unknown;
  EXPECT_NE(unknown.find("X-A: 1\r\n"), std::string::npos) << unknown;
  EXPECT_EQ(unknown.find("Content-Length"), std::string::npos) << unknown;
  // What this proxy's GET would carry for a body of unknown length (RFC 9110 section 9.3.2).
  EXPECT_NE(unknown.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << unknown;
  EXPECT_TRUE(unknown.ends_with("\r\n\r\n")) << unknown;  // and no chunk follows
  const std::string known = w.raw("HEAD /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(known.find("Content-Length: 1234\r\n"), std::string::npos) << known;
  EXPECT_TRUE(known.ends_with("\r\n\r\n")) << known;
}

// Transfer-Encoding is hop-by-hop, but the codings on the bytes are not removed by the proxy:
// they go on to an HTTP/1.1 client as "<codings>, chunked" over the still-coded bytes (RFC 9112
// section 6.1), whether the upstream chunked them or delimited them by its close.
const std::string coded_bytes("\x1f\x8b\x08\x00coded", 9);

TEST(ProxyCodings, AResponsesTransferCodingsGoOnWithItsBytes) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t index) {
    if (index == 0) {
      (void)c.stream.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" + coded_bytes);
      (void)c.stream.close();
      return;
    }
    if (index == 1) {
      (void)c.stream.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n9\r\n" +
                           coded_bytes + "\r\n0\r\n\r\n");
      return;
    }
    (void)c.stream.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: br,gzip, chunked\r\n\r\n0\r\n\r\n");
  });
  const std::string chunked_body = "9\r\n" + coded_bytes + "\r\n0\r\n\r\n";
  for (const char* target : {"/close", "/chunked"}) {
    const std::string got =
        w.raw("GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
    EXPECT_NE(got.find("Transfer-Encoding: gzip, chunked\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.find("Transfer-Encoding: chunked"), std::string::npos) << got;
    EXPECT_TRUE(got.ends_with("\r\n\r\n" + chunked_body)) << got;
  }
  const std::string head = w.raw("HEAD /head HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(head.find("Transfer-Encoding: br,gzip, chunked\r\n"), std::string::npos) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;
}

// Where the client cannot be told (HTTP/1.0 knows no transfer codings) or the codings cannot be
// chunked again (they already hold chunked), the proxy answers 502 before any byte of them.
TEST(ProxyCodings, CodingsTheClientCannotBeToldAre502) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t index) {
    if (index == 0) {
      (void)c.stream.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n9\r\n" +
                           coded_bytes + "\r\n0\r\n\r\n");
      return;
    }
    (void)c.stream.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" +
                         coded_bytes);
    (void)c.stream.close();
  });
  const std::string old = w.raw("GET /old HTTP/1.0\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(old.starts_with("HTTP/1.1 502 Bad Gateway\r\n")) << old;
  EXPECT_EQ(old.find(coded_bytes), std::string::npos) << old;
  const std::string twice = w.raw("GET /twice HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(twice.starts_with("HTTP/1.1 502 Bad Gateway\r\n")) << twice;
  EXPECT_EQ(twice.find(coded_bytes), std::string::npos) << twice;
  EXPECT_EQ(w.proxy().stats().bad_gateway, 2u);
}

// A HEAD says what its GET would carry: codings written over two lines ("gzip", then "chunked", as
// the parser takes a GET's) go on together, and an HTTP/1.0 client's HEAD, with no body to label,
// is answered without them rather than refused.
TEST(ProxyCodings, AHeadSaysWhatItsGetWouldCarry) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
  });
  const std::string two = w.raw("HEAD /two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(two.starts_with("HTTP/1.1 200 OK\r\n")) << two;
  EXPECT_NE(two.find("Transfer-Encoding: gzip, chunked\r\n"), std::string::npos) << two;
  EXPECT_TRUE(two.ends_with("\r\n\r\n")) << two;
  const std::string old = w.raw("HEAD /old HTTP/1.0\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(old.starts_with("HTTP/1.1 200 OK\r\n")) << old;
  EXPECT_EQ(old.find("gzip"), std::string::npos) << old;
  EXPECT_EQ(w.proxy().stats().bad_gateway, 0u);
}

// The other way: a front that accepts transfer codings (parse.allow_transfer_codings) hands the
// proxy a body still coded; it would go up with a Content-Length and no label, so the proxy
// refuses it (501, RFC 9112 section 6.1) and nothing reaches the upstream.
TEST(ProxyCodings, ARequestStillCodedIsRefused) {
  server_loop_options front;
  front.connection.parse.allow_transfer_codings = true;
  proxy_world w({}, false, {}, {}, front);
  const std::string got = w.raw(
      "POST /coded HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n"
      "POST /plain HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 501 Not Implemented\r\n")) << got;
  EXPECT_NE(got.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << got;  // only chunked: on
  ASSERT_EQ(w.seen.size(), 1u);
  EXPECT_EQ(w.seen[0].target, "/plain");
  EXPECT_EQ(w.seen[0].body, "abc");
}

// RFC 9110 section 6.6.2: trailer fields are announced with Trailer. Where the proxy forwards
// them (chunked to an HTTP/1.1 client) the upstream's Trailer goes on, less the names it drops
// (hop-by-hop, named in Connection, or framing); where it cannot, neither goes on.
TEST(ProxyTrailers, TrailerGoesOnWithTheTrailersItAnnounces) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t index) {
    if (index < 2) {
      (void)c.stream.write(
          "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\n"
          "Trailer: X-Checksum, Keep-Alive, X-Hop\r\nTrailer: Content-Length,X-Digest\r\n"
          "Transfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nKeep-Alive: timeout=1\r\nX-Hop: h\r\n"
          "X-Digest: d\r\n\r\n");
      return;
    }
    (void)c.stream.write(
        "HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\nContent-Length: 5\r\n\r\nhello");
  });
  const std::string got = w.raw("GET /t HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  EXPECT_NE(got.find("Trailer: X-Checksum, X-Digest\r\n"), std::string::npos) << got;
  EXPECT_TRUE(got.ends_with("5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Digest: d\r\n\r\n")) << got;
  EXPECT_EQ(got.find("Keep-Alive"), std::string::npos) << got;
  EXPECT_EQ(got.find("X-Hop"), std::string::npos) << got;
  // HTTP/1.0: a close-delimited body carries no trailers, so nothing announces them.
  const std::string old = w.raw("GET /t HTTP/1.0\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(old.starts_with("HTTP/1.1 200 OK\r\n")) << old;
  EXPECT_EQ(old.find("Trailer"), std::string::npos) << old;
  EXPECT_EQ(old.find("X-Checksum"), std::string::npos) << old;
  EXPECT_TRUE(old.ends_with("\r\n\r\nhello")) << old;
  // A Content-Length body has no trailers to announce.
  const std::string length = w.raw("GET /l HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(length.find("Content-Length: 5\r\n"), std::string::npos) << length;
  EXPECT_EQ(length.find("Trailer"), std::string::npos) << length;
}

// The Trailer list the client gets names only fields the front's writer lets through as
// trailers (RFC 9110 section 6.5.1): an origin announcing Content-Type, Set-Cookie or an If-*
// field has them dropped from the trailer section, so they go from the announcement too.
TEST(ProxyTrailers, TrailerAnnouncesOnlyFieldsAllowedAsTrailers) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 200 OK\r\n"
        "Trailer: Content-Type, X-Checksum, Set-Cookie, If-Match, Proxy-Status-X, Vary\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\nContent-Type: text/html\r\nX-Checksum: abc\r\n"
        "Set-Cookie: a=b\r\nIf-Match: x\r\nProxy-Status-X: y\r\nVary: *\r\n\r\n");
  });
  const std::string got = w.raw("GET /t HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  EXPECT_NE(got.find("Trailer: X-Checksum\r\n"), std::string::npos) << got;
  EXPECT_TRUE(got.ends_with("5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n")) << got;
  for (const char* dropped : {"Content-Type", "Set-Cookie", "If-Match", "Proxy-Status-X", "Vary"}) {
    EXPECT_EQ(got.find(dropped), std::string::npos) << dropped << "\n" << got;
  }
}

// RFC 9110 section 15.2.2: a 101 must say what it switched to. Without Upgrade it is a bad
// response: 502, and the upstream connection is not kept.
TEST(ProxyUpgrade, A101WithoutUpgradeIs502) {
  proxy_options options;
  options.upgrades = true;
  proxy_world w(options, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\nbytes");
  });
  const std::string got =
      w.raw("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 502 Bad Gateway\r\n")) << got;
  EXPECT_EQ(w.proxy().stats().tunnels, 0u);
  EXPECT_EQ(w.proxy().client()->open_connections(w.proxy().options().upstream), 0u);
  ASSERT_EQ(w.scripted().connections().size(), 1u);
  char byte[16];
  const auto r = w.scripted().connections()[0]->stream.read(byte);
  EXPECT_TRUE(r.eof() || r.failed());  // the proxy closed its side
}

// An upstream that switches to another protocol than the client offered (RFC 9110 section 7.8;
// Go's ReverseProxy answers it with 502 too): the client would get bytes it cannot speak.
TEST(ProxyUpgrade, A101ToAnotherProtocolIs502) {
  proxy_options options;
  options.upgrades = true;
  proxy_world w(options, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\nbytes");
  });
  const std::string got =
      w.raw("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 502 Bad Gateway\r\n")) << got;
  EXPECT_EQ(got.find("bytes"), std::string::npos) << got;
  EXPECT_EQ(w.proxy().stats().tunnels, 0u);
  EXPECT_EQ(w.proxy().client()->open_connections(w.proxy().options().upstream), 0u);
}

// 103 Early Hints reach an HTTP/1.1 client with their Link fields (as Go's ReverseProxy passes
// them); hop-by-hop fields stay behind; an HTTP/1.0 client gets no 1xx at all.
TEST(ProxyInterim, EarlyHintsArePassedOnWithTheirLinks) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n"
        "Link: </app.js>; rel=preload\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  const std::string got = w.raw("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(
      got.starts_with("HTTP/1.1 103 Early Hints\r\n"
                      "Link: </style.css>; rel=preload; as=style\r\n"
                      "Link: </app.js>; rel=preload\r\n\r\n"
                      "HTTP/1.1 200 OK\r\n"))
      << got;
  EXPECT_TRUE(got.ends_with("ok")) << got;
  const std::string old = w.raw("GET / HTTP/1.0\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(old.starts_with("HTTP/1.1 200 OK\r\n")) << old;
}

// A 103 that also carries fields the front's connection writes itself (Date) or that are
// hop-by-hop (Transfer-Encoding) loses only those: its Link still reaches the client.
TEST(ProxyInterim, EarlyHintsWithManagedFieldsKeepTheirLinks) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 103 Early Hints\r\nDate: Sun, 06 Dec 2026 18:00:00 GMT\r\n"
        "Link: </style.css>; rel=preload; as=style\r\nDATE: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 0\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  const std::string got = w.raw("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(
      got.starts_with("HTTP/1.1 103 Early Hints\r\n"
                      "Link: </style.css>; rel=preload; as=style\r\n\r\n"
                      "HTTP/1.1 200 OK\r\n"))
      << got;
  EXPECT_TRUE(got.ends_with("ok")) << got;
}

/// The values of every `name` field of the response head at the start of `response`.
std::vector<std::string> fields_named(std::string_view response, std::string_view name) {
  std::vector<std::string> values;
  const std::string_view head = response.substr(0, response.find("\r\n\r\n"));
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;) {
    const std::size_t end = std::min(head.find("\r\n", at + 2), head.size());
    const std::string_view line = head.substr(at + 2, end - at - 2);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && chars::iequals(line.substr(0, colon), name)) {
      values.emplace_back(chars::trim_ows(line.substr(colon + 1)));
    }
    at = end == head.size() ? std::string_view::npos : end;
  }
  return values;
}

// RFC 9110 section 6.6.1: Date is the origin's, generated when it made the response (caches
// compute a response's age from it, RFC 9111 section 4.2.3); a proxy passes it on, and adds one
// only to a response that came without. Never two.
TEST(ProxyDate, TheUpstreamsDateIsKeptAndOneIsAddedWhenItHasNone) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t index) {
    switch (index) {
      case 0:
        (void)c.stream.write(
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\n"
            "\r\nok");
        break;
      case 1:
        (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        break;
      case 2:  // two Dates: the first goes on, alone
        (void)c.stream.write(
            "HTTP/1.1 404 Not Found\r\nDate: Mon, 07 Nov 1994 08:49:37 GMT\r\n"
            "Content-Length: 0\r\ndate: Tue, 08 Nov 1994 08:49:37 GMT\r\n\r\n");
        break;
      case 3:  // an obsolete form (RFC 9110 section 5.6.7) goes on as the same time in IMF-fixdate
        (void)c.stream.write(
            "HTTP/1.1 200 OK\r\nDate: Sunday, 06-Nov-94 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n");
        break;
      default:  // an invalid one is replaced by the front's
        (void)c.stream.write("HTTP/1.1 200 OK\r\nDate: yesterday\r\nContent-Length: 0\r\n\r\n");
        break;
    }
  });
  const std::string request = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string dated = w.raw(request);
  EXPECT_TRUE(dated.starts_with("HTTP/1.1 200 OK\r\n")) << dated;
  EXPECT_EQ(fields_named(dated, "Date"), std::vector<std::string>{"Sun, 06 Nov 1994 08:49:37 GMT"})
      << dated;
  const std::string undated = w.raw(request);
  EXPECT_TRUE(undated.starts_with("HTTP/1.1 200 OK\r\n")) << undated;
  const std::vector<std::string> added = fields_named(undated, "Date");
  ASSERT_EQ(added.size(), 1u) << undated;
  EXPECT_TRUE(is_imf_fixdate(added[0])) << undated;  // the front's clock's: the present
  EXPECT_EQ(added[0].find("1994"), std::string::npos) << undated;
  const std::string twice = w.raw(request);
  EXPECT_TRUE(twice.starts_with("HTTP/1.1 404 Not Found\r\n")) << twice;
  EXPECT_EQ(fields_named(twice, "Date"), std::vector<std::string>{"Mon, 07 Nov 1994 08:49:37 GMT"})
      << twice;
  const std::string obsolete = w.raw(request);
  EXPECT_EQ(fields_named(obsolete, "Date"),
            std::vector<std::string>{"Sun, 06 Nov 1994 08:49:37 GMT"})
      << obsolete;
  const std::string invalid = w.raw(request);
  const std::vector<std::string> replaced = fields_named(invalid, "Date");
  ASSERT_EQ(replaced.size(), 1u) << invalid;
  EXPECT_TRUE(is_imf_fixdate(replaced[0])) << invalid;  // the front's, as for no Date at all
}

// A Date shaped as an IMF-fixdate but naming no day (31 February) is as invalid as "yesterday":
// it neither goes on nor is carried over into March; the front's own replaces it.
TEST(ProxyDate, AnImpossibleDateIsReplacedByTheFronts) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 200 OK\r\nDate: Sat, 31 Feb 2024 10:00:00 GMT\r\nContent-Length: 0\r\n\r\n");
  });
  const std::string got = w.raw("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  const std::vector<std::string> dates = fields_named(got, "Date");
  ASSERT_EQ(dates.size(), 1u) << got;
  EXPECT_TRUE(is_imf_fixdate(dates[0])) << got;
  EXPECT_NE(dates[0], "Sat, 02 Mar 2024 10:00:00 GMT") << got;
  EXPECT_EQ(dates[0].find("2024"), std::string::npos) << got;
}

// Of several Date lines the first HTTP-date goes on: an invalid one before it is skipped.
TEST(ProxyDate, TheFirstValidOfSeveralDatesGoesOn) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 200 OK\r\nDate: garbage\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        "Date: Mon, 07 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n");
  });
  const std::string got = w.raw("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(fields_named(got, "Date"), std::vector<std::string>{"Sun, 06 Nov 1994 08:49:37 GMT"})
      << got;
}

// The 101 of a tunnelled upgrade is the upstream's response too: its Date goes on.
TEST(ProxyDate, AnUpgradesDateIsTheUpstreams) {
  proxy_options options;
  options.upgrades = true;
  proxy_world w(options, true, [](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
        "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
  });
  auto s = w.open_raw();
  (void)s.write("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  const std::string got = w.read_all(s);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << got;
  EXPECT_EQ(fields_named(got, "Date"), std::vector<std::string>{"Sun, 06 Nov 1994 08:49:37 GMT"})
      << got;
  s.unwatch();
}

// A front that names itself (connection_options::server_name) still sends one Server field: the
// upstream's when it sent one (as Go's ReverseProxy passes it on), its own otherwise.
TEST(ProxyServer, TheUpstreamsServerFieldReplacesTheFrontsName) {
  server_loop_options front;
  front.connection.server_name = "taut-front";
  proxy_world w(
      {}, true,
      [](upstream_connection& c, std::size_t index) {
        (void)c.stream.write(index == 0 ? "HTTP/1.1 200 OK\r\nServer: origin/1.0\r\n"
                                          "Content-Length: 2\r\n\r\nok"
                                        : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      },
      {}, front);
  const std::string request = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string named = w.raw(request);
  EXPECT_EQ(fields_named(named, "Server"), std::vector<std::string>{"origin/1.0"}) << named;
  const std::string unnamed = w.raw(request);
  EXPECT_EQ(fields_named(unnamed, "Server"), std::vector<std::string>{"taut-front"}) << unnamed;
}

// What the upstream sends right behind its 101 is in the proxy's client buffer (64 KiB here) before
// the tunnel has a place for it: none of it may be lost, however much it is. Meanwhile the
// upstream is not read further (the tunnel's buffer is the bound).
TEST(ProxyUpgrade, BytesBehindThe101BeyondTheTunnelBufferAllArrive) {
  proxy_options options;
  options.upgrades = true;
  options.client.buffer_size = 64 * 1024;
  std::string after(40000, 'x');
  for (std::size_t i = 0; i < after.size(); i += 1000)
    after[i] = static_cast<char>('a' + i / 1000 % 26);
  proxy_world w(options, true, [&after](upstream_connection& c, std::size_t) {
    (void)c.stream.write(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
        "Upgrade: websocket\r\n\r\n" +
        after);
  });
  auto s = w.open_raw();
  (void)s.write("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  std::string got;
  for (int i = 0; i < 100; ++i) {
    const std::string more = w.read_all(s);
    if (more.empty() && got.size() > after.size()) break;
    got += more;
  }
  const std::size_t body = got.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos) << got.substr(0, 200);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << got.substr(0, 200);
  EXPECT_EQ(got.size() - body - 4, after.size());
  EXPECT_TRUE(got.substr(body + 4) == after);
  EXPECT_EQ(w.proxy().stats().tunnels, 1u);
  s.unwatch();
}
// Two pipelined GETs: the first answer trickles in while the second's large body is already
// arriving. The second waits its turn in the front's queue; the output it holds there must not
// make the first one wait for a drain that only the first one's end can bring (a deadlock: the
// first paused its upstream, the second could never be sent).
TEST(ProxyPipelining, ALaterAnswersQueuedBodyDoesNotStallTheOneBeingSent) {
  const std::string big(300000, 'b');
  std::size_t big_sent = 0;
  upstream_connection* big_connection = nullptr;
  proxy_world w({}, true, [&](upstream_connection& c, std::size_t head) {
    if (head == 0) {
      (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab");
    } else {
      (void)c.stream.write("HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n");
      big_connection = &c;
    }
  });
  const auto push_big = [&] {
    while (big_connection != nullptr && big_sent < big.size()) {
      const auto r = big_connection->stream.write(std::string_view(big).substr(big_sent));
      if (!r.done() || r.bytes == 0) return;
      big_sent += r.bytes;
      w.run();
    }
  };
  auto s = w.open_raw();
  (void)s.write("GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /big HTTP/1.1\r\nHost: a\r\n\r\n");
  w.run();
  ASSERT_EQ(w.scripted().heads(), 2u);
  ASSERT_NE(big_connection, nullptr);
  push_big();
  std::string got = w.read_all(s);
  // The second answer waits in request order while the first is open.
  EXPECT_EQ(got.find("bbbb"), std::string::npos);
  EXPECT_NE(got.find("\r\n\r\nab"), std::string::npos);
  auto& slow = *w.scripted().connections()[0];
  (void)slow.stream.write("cd");
  w.run();
  (void)slow.stream.write("ef");
  w.run();
  for (int round = 0; round < 1000 && got.size() < 300000; ++round) {
    push_big();
    got += w.read_all(s);
  }
  s.unwatch();
  const std::size_t first_end = got.find("abcdef");
  ASSERT_NE(first_end, std::string::npos) << got.substr(0, 200);
  const std::size_t second = got.find("HTTP/1.1 200 OK", first_end);
  ASSERT_NE(second, std::string::npos);
  const std::size_t body = got.find("\r\n\r\n", second);
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(got.substr(body + 4), big);
}

// The same without any trickle: pipelined GETs of large bodies, each answer waiting its turn
// with what the front lets it hold; every one arrives whole, in order.
TEST(ProxyPipelining, PipelinedLargeAnswersAllArrive) {
  proxy_world w;
  auto s = w.open_raw();
  std::string requests;
  for (int i = 0; i < 4; ++i) requests += "GET /big/200000 HTTP/1.1\r\nHost: a\r\n\r\n";
  (void)s.write(requests);
  std::string got;
  for (int round = 0; round < 1000 && got.size() < 4 * 200000; ++round) {
    const std::string more = w.read_all(s);
    if (more.empty() && round > 10) break;
    got += more;
  }
  s.unwatch();
  std::size_t at = 0;
  for (int i = 0; i < 4; ++i) {
    at = got.find("HTTP/1.1 200 OK\r\n", at);
    ASSERT_NE(at, std::string::npos) << "answer " << i << " of " << got.size() << " bytes";
    const std::size_t body = got.find("\r\n\r\n", at);
    ASSERT_NE(body, std::string::npos);
    ASSERT_GE(got.size(), body + 4 + 200000) << "answer " << i << " cut short";
    EXPECT_EQ(got.substr(body + 4, 200000), std::string(200000, 'b')) << i;
    at = body + 4 + 200000;
  }
  EXPECT_EQ(at, got.size());
}

// After a peak the proxy gives its per-request states back: one trim_interval keeps what the
// peak used, the next (idle) frees them; a steady load keeps what it uses and allocates nothing.
TEST(ProxyMemory, StatesBeyondTheLastIntervalsPeakAreFreed) {
  proxy_world w;
  const client_request request{.method = "GET", .target = "/big/10"};
  const auto burst = [&](int n) {
    std::vector<std::unique_ptr<recorder>> exchanges;
    for (int i = 0; i < n; ++i) {
      exchanges.push_back(std::make_unique<recorder>());
      ASSERT_FALSE(w.client.send(w.where, request, *exchanges.back()));
    }
    w.run();
    for (auto& r : exchanges) ASSERT_TRUE(r->completed) << r->error.message();
  };
  burst(40);
  EXPECT_EQ(w.proxy().stats().exchanges_made, 40u);
  w.advance(31s);  // the interval that held the peak: nothing goes
  EXPECT_EQ(w.proxy().stats().exchanges_freed, 0u);
  burst(3);
  w.advance(31s);  // at most 3 were needed in this one
  EXPECT_EQ(w.proxy().stats().exchanges_freed, 37u);
  burst(3);
  EXPECT_EQ(w.proxy().stats().exchanges_made, 40u);  // the 3 kept were enough
  w.advance(31s);
  w.advance(31s);  // idle: the rest goes too
  EXPECT_EQ(w.proxy().stats().exchanges_freed, 40u);
  burst(1);
  EXPECT_EQ(w.proxy().stats().exchanges_made, 41u);
}

// Two server_loops on one event loop share one proxy (one handler mounted on both): each upstream
// exchange ends with the server_loop whose request it carries, never with the other one, and the
// proxy lets go of the loop (its client, pooled connections) only when the last of them ends.
TEST(ProxyShared, EachServerLoopEndsOnlyItsOwnExchanges) {
  transport::manual_clock clock;
  const auto loop = transport::event_loop::create({.clock = &clock}).value();
  // A slow upstream: it answers only when the test says.
  std::vector<std::pair<std::string, response_writer>> held;
  mux upstream_app;
  upstream_app.handle("GET /slow", [&held](request_context& req, reply& res) {
    held.emplace_back(std::string(req.target()), res.detach());
  });
  server_loop upstream(*loop, upstream_app);
  auto up = transport::listener::memory({});
  reverse_proxy proxy({.upstream = origin::memory(up.dialer(), "upstream")});
  ASSERT_FALSE(upstream.add_listener(std::move(up)));
  mux front_app;
  front_app.handle("/", proxy.handler());
  std::array<std::unique_ptr<server_loop>, 2> fronts;
  std::vector<origin> where;
  for (auto& front : fronts) {
    front = std::make_unique<server_loop>(*loop, front_app);
    auto listener = transport::listener::memory({});
    where.push_back(origin::memory(listener.dialer(), "front.example"));
    ASSERT_FALSE(front->add_listener(std::move(listener)));
  }
  taut::client client(*loop);
  recorder first;
  recorder second;
  const client_request to_first{.target = "/slow?from=first"};
  const client_request to_second{.target = "/slow?from=second"};
  ASSERT_FALSE(client.send(where[0], to_first, first));
  ASSERT_FALSE(client.send(where[1], to_second, second));
  loop->run_until_idle();
  ASSERT_EQ(held.size(), 2u);
  ASSERT_EQ(proxy.stats().forwarded, 2u);

  fronts[0].reset();
  loop->run_until_idle();
  EXPECT_TRUE(first.done);
  EXPECT_FALSE(first.completed);
  EXPECT_FALSE(second.done) << "the second server_loop's exchange ended with the first's";
  EXPECT_NE(proxy.client(), nullptr);

  for (auto& [target, writer] : held) {
    (void)writer.send(200, "answer to " + target, "text/plain");
  }
  loop->run_until_idle();
  EXPECT_TRUE(second.completed) << second.error.message();
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "answer to /slow?from=second");

  // A request that arrives after the first server_loop ended is proxied as usual.
  recorder third;
  const client_request to_third{.target = "/slow?from=third"};
  ASSERT_FALSE(client.send(where[1], to_third, third));
  loop->run_until_idle();
  ASSERT_EQ(held.size(), 3u);
  (void)held.back().second.send(200, "late", "text/plain");
  loop->run_until_idle();
  EXPECT_TRUE(third.completed) << third.error.message();
  EXPECT_EQ(third.body, "late");

  fronts[1].reset();
  EXPECT_EQ(proxy.client(), nullptr) << "the last server_loop's end ends what the proxy runs";
  held.clear();
}

// RFC 9110 section 10.1.1: an expectation other than 100-continue is the front's to refuse (417,
// as any taut server answers it); it never reaches the upstream, while 100-continue is answered
// by the front and the request goes up without it.
TEST(ProxyExpect, AnExpectationOtherThan100ContinueIs417AndNotForwarded) {
  proxy_world w;
  const std::string refused = w.raw(
      "POST /x HTTP/1.1\r\nHost: h\r\nExpect: foo\r\n"
      "Content-Length: 3\r\n\r\nabc");
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 417 Expectation Failed\r\n")) << refused;
  EXPECT_TRUE(w.seen.empty());
  const std::string served = w.raw(
      "POST /y HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n"
      "Connection: close\r\n\r\nabc");
  EXPECT_TRUE(served.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")) << served;
  ASSERT_EQ(w.seen.size(), 1u);
  EXPECT_EQ(w.seen[0].count("Expect"), 0u);
  EXPECT_EQ(w.seen[0].body, "abc");
}

// A Content-Length the client sent goes up whatever the method: PROPFIND (no body semantics the
// client knows of) keeps its `Content-Length: 0` as POST does; a GET without one gains none.
TEST(Proxy, AnEmptyBodysContentLengthGoesUpForEveryMethod) {
  proxy_world w;
  for (const char* method : {"PROPFIND", "POST", "DELETE", "GET"}) {
    const std::string got = w.raw(std::string(method) +
                                  " /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n");
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << method << ": " << got;
  }
  (void)w.raw("GET /none HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  (void)w.raw("PROPFIND /none HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(w.seen.size(), 6u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(w.seen[i].count("Content-Length"), 1u) << w.seen[i].method;
    EXPECT_EQ(w.seen[i].value("Content-Length"), "0") << w.seen[i].method;
  }
  EXPECT_EQ(w.seen[4].count("Content-Length"), 0u);
  EXPECT_EQ(w.seen[5].count("Content-Length"), 0u);
}

// "identity" changes no byte (RFC 2616; gone from RFC 9112, refused by taut's client and Go's):
// it is dropped from the codings the client is told, so a body under identity alone goes on as an
// uncoded one (chunked to HTTP/1.1, close-delimited to HTTP/1.0), never as `identity, chunked`,
// and with other codings only they are named.
TEST(ProxyCodings, IdentityIsDroppedFromTheCodingsTheClientIsTold) {
  proxy_world w({}, true, [](upstream_connection& c, std::size_t index) {
    switch (index) {
      case 0:
      case 3:
        (void)c.stream.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nplain");
        (void)c.stream.close();
        return;
      case 1:
        (void)c.stream.write(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity, "
            "chunked\r\n\r\n5\r\nplain\r\n0\r\n\r\n");
        return;
      default:
        (void)c.stream.write(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Identity, chunked\r\n\r\n9\r\n" +
            coded_bytes + "\r\n0\r\n\r\n");
        return;
    }
  });
  for (const char* target : {"/close", "/chunked"}) {
    const std::string got =
        w.raw("GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
    EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.find("identity"), std::string::npos) << got;
    EXPECT_TRUE(got.ends_with("\r\n\r\n5\r\nplain\r\n0\r\n\r\n")) << got;
  }
  const std::string mixed = w.raw("GET /mixed HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(mixed.find("Transfer-Encoding: gzip, chunked\r\n"), std::string::npos) << mixed;
  EXPECT_EQ(mixed.find("dentity"), std::string::npos) << mixed;
  const std::string old = w.raw("GET /old HTTP/1.0\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(old.starts_with("HTTP/1.1 200 OK\r\n")) << old;
  EXPECT_EQ(old.find("Transfer-Encoding"), std::string::npos) << old;
  EXPECT_TRUE(old.ends_with("\r\n\r\nplain")) << old;
  EXPECT_EQ(w.proxy().stats().bad_gateway, 0u);
}

// serve() called from a handler of the application's own (to set a field first, as a hook
// would) whose route buffers the body, the default: the body the front buffered goes up whole,
// as the proxy's own streaming route sends it, instead of a 502.
TEST(ProxyServe, ARouteThatBufferedTheBodyForwardsIt) {
  mux upstream_app;
  upstream_app.handle("/", [](request_context& req, reply& res) {
    res.send(200, std::string(req.method_name()) + " " + std::string(req.target()) + " " +
                      std::string(req.body()));
  });
  mux front_app;
  testing::server front(front_app);
  server_loop upstream(front.loop(), upstream_app);
  auto up = transport::listener::memory({});
  reverse_proxy proxy({.upstream = origin::memory(up.dialer(), "upstream")});
  ASSERT_FALSE(upstream.add_listener(std::move(up)));
  front_app.handle("/", [&proxy](request_context& req, reply& res) {
    res.header("X-Hook", "front");
    proxy.serve(req, res);
  });
  // The same with the proxy's own body options: the body streams up.
  front_app.handle("/s/", handler(
                              [&proxy](request_context& req, reply& res) {
                                res.header("X-Hook", "streamed");
                                proxy.serve(req, res);
                              },
                              proxy.handler().options()));
  testing::client c(front);
  auto r = c.post("/a", "hello");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "POST /a hello");
  EXPECT_EQ(r.header("X-Hook"), "front");
  r = c.send(testing::request("PUT", "/b").chunked({"ab", "cd"}));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "PUT /b abcd");
  r = c.get("/c");
  EXPECT_EQ(r.body, "GET /c ");
  // A chunked body with no data, buffered: the only buffered body that is empty.
  r = c.send(testing::request("PUT", "/e").chunked({}));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "PUT /e ");
  r = c.post("/s/d", std::string(100000, 'x'));
  EXPECT_EQ(r.body, "POST /s/d " + std::string(100000, 'x'));
  EXPECT_EQ(r.header("X-Hook"), "streamed");
  EXPECT_EQ(proxy.stats().bad_gateway, 0u);
}

}  // namespace
}  // namespace taut::test
