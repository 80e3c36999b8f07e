// taut::client over TLS (https:// origins): against a small HTTP server built in the test on
// transport::tls_accept, against an OpenSSL server that speaks only TLS 1.1, and against nginx
// with TLS; each handshake failure as its own error; reuse (two requests, one handshake); the
// reverse proxy to an https upstream. Certificates are made at test time (tests/support).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "client_test_support.hpp"
#include "loopback.hpp"
#include "nginx_process.hpp"
#include "proxy_test_support.hpp"
#include "taut/blocking_client.hpp"
#include "taut/proxy.hpp"
#include "taut/server.hpp"
#include "taut/transport/tls.hpp"
#include "tls_certs.hpp"

namespace taut::test {
namespace {

const tls_test_files& certificates() {
  static const tls_test_files files = make_tls_test_files();
  return files;
}

client_options trusting_the_test_ca() {
  client_options options;
  options.tls.ca_file = certificates().ca_cert;
  return options;
}

/// How the test server answers.
enum class answer : std::uint8_t {
  keep_alive,    // 200 with a Content-Length, the connection kept ("/big": 200,000 bytes)
  until_close,   // 200 without a length, then close_notify and close: a whole body
  until_cut,     // 200 without a length, then a TCP FIN with no close_notify: truncated
  upgrade_echo,  // 101 to an Upgrade, then echoes upper-cased; at the client's end "BYE" and
                 // close_notify
};

/// A small HTTP/1.1 server over TLS on a thread of its own: a loopback listener, every accepted
/// stream wrapped with transport::tls_accept, one fixed answer per request head. Counts the TCP
/// connections it accepted.
class tls_http_server {
 public:
  tls_http_server(const std::string& cert, const std::string& key, answer how = answer::keep_alive,
                  std::vector<std::string> alpn = {"http/1.1"})
      : how_(how) {
    transport::tls_server_options options;
    options.certificates.push_back({cert, key});
    options.alpn = std::move(alpn);
    auto context = transport::tls_context::server(options);
    if (!context) {
      error_ = context.error().message();
      return;
    }
    context_ = *context;
    // epoll: a write is on the socket when it returns, so the raw FIN of answer::until_cut comes
    // after the response (on io_uring the send could still be queued).
    loop_ = transport::event_loop::create({.backend = transport::io_backend::epoll}).value();
    listener_ = transport::listener::listen("127.0.0.1:0").value();
    if (listener_.watch(*loop_, [this](transport::readiness) { accept_all(); })) return;
    thread_ = std::thread([this] { (void)loop_->run(); });
    ok_ = true;
  }
  ~tls_http_server() {
    if (thread_.joinable()) {
      loop_->stop();
      thread_.join();
    }
    for (auto& c : connections_) c->stream.unwatch();
    listener_.unwatch();
  }
  tls_http_server(const tls_http_server&) = delete;
  tls_http_server& operator=(const tls_http_server&) = delete;

  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] std::uint16_t port() const { return listener_.port(); }
  [[nodiscard]] std::string base(std::string_view host = "127.0.0.1") const {
    return "https://" + std::string(host) + ":" + std::to_string(port());
  }
  [[nodiscard]] int accepts() const { return accepts_.load(); }

 private:
  struct connection {
    transport::stream stream;
    std::string in;
    std::string out;
    bool closing = false;
    bool tunnel = false;  // after a 101: bytes, not requests
  };

  static std::string upper(std::string_view bytes) {
    std::string out(bytes);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
  }

  void accept_all() {
    for (;;) {
      auto raw = listener_.accept();
      if (!raw) return;
      ++accepts_;
      auto wrapped = transport::tls_accept(std::move(*raw), context_);
      if (!wrapped) continue;
      connections_.push_back(std::make_unique<connection>());
      connection* c = connections_.back().get();
      c->stream = std::move(*wrapped);
      if (c->stream.watch(*loop_, [this, c](transport::readiness) { serve(*c); })) continue;
      serve(*c);  // the ClientHello may be here already
    }
  }

  void serve(connection& c) {
    if (!c.stream.is_open()) return;
    std::array<char, 16384> buffer;
    for (;;) {
      const transport::io_result r = c.stream.read(buffer);
      if (r.done()) {
        if (c.tunnel) {
          c.out += upper({buffer.data(), r.bytes});
        } else {
          c.in.append(buffer.data(), r.bytes);
        }
        continue;
      }
      if (r.would_block()) break;
      if (r.eof() && c.tunnel) {  // the client's half-close came through the tunnel
        c.out += "BYE";
        c.closing = true;
        break;
      }
      c.stream.unwatch();
      // The client left, or its handshake failed: a close, not a reset, so that the alert OpenSSL
      // sent reaches the client before the end of the connection.
      (void)c.stream.close();
      return;
    }
    for (std::size_t end; !c.closing && (end = c.in.find("\r\n\r\n")) != std::string::npos;) {
      const bool big = c.in.starts_with("GET /big");
      c.in.erase(0, end + 4);
      if (how_ == answer::upgrade_echo) {
        c.out +=
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
        c.out += upper(c.in);  // what the client sent after its head
        c.in.clear();
        c.tunnel = true;
        break;
      }
      if (how_ == answer::keep_alive) {
        const std::string body = big ? std::string(200000, 'x') : std::string("hello tls");
        c.out +=
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      } else {
        c.out += "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end";
        c.closing = true;
      }
    }
    while (!c.out.empty()) {
      const transport::io_result r = c.stream.write(c.out);
      if (r.would_block()) return;
      if (!r.done()) {
        c.stream.unwatch();
        c.stream.abort();
        return;
      }
      c.out.erase(0, r.bytes);
    }
    if (!c.closing) return;
    c.stream.unwatch();
    if (how_ == answer::until_close || how_ == answer::upgrade_echo) {
      (void)c.stream.close();  // close_notify, then close
    } else {
      ::shutdown(c.stream.native_handle(), SHUT_WR);  // a FIN without close_notify
    }
  }

  answer how_;
  transport::tls_context context_;
  std::unique_ptr<transport::event_loop> loop_;
  transport::listener listener_;
  std::list<std::unique_ptr<connection>> connections_;
  std::thread thread_;
  std::atomic<int> accepts_{0};
  bool ok_ = false;
  std::string error_;
};

#define REQUIRE_TLS_FILES()                                                   \
  do {                                                                        \
    if (!transport::tls_available()) GTEST_SKIP() << "built without OpenSSL"; \
    ASSERT_TRUE(certificates().ok) << certificates().error;                   \
  } while (false)

TEST(ClientTls, HttpsOriginsParseAndPoolApartFromHttp) {
  const origin secure = origin::parse("https://example.com").value();
  EXPECT_TRUE(secure.tls());
  EXPECT_EQ(secure.port(), 443);
  EXPECT_EQ(secure.authority(), "example.com");
  const origin other_port = origin::parse("HTTPS://example.com:8443/x").value();
  EXPECT_EQ(other_port.port(), 8443);
  EXPECT_EQ(other_port.authority(), "example.com:8443");
  const origin v6 = origin::parse("https://[::1]").value();
  EXPECT_EQ(v6.host(), "::1");
  EXPECT_EQ(v6.authority(), "[::1]");
  // The same host and port, plain and TLS: two pools.
  const origin plain = origin::parse("http://example.com:443").value();
  EXPECT_FALSE(plain.tls());
  EXPECT_EQ(plain.authority(), "example.com:443");
  EXPECT_NE(plain.key(), secure.key());
  EXPECT_EQ(origin::https("example.com").key(), secure.key());
  const url u = parse_url("https://example.com/a?b=1#c").value();
  EXPECT_TRUE(u.origin.tls());
  EXPECT_EQ(u.target, "/a?b=1");
  EXPECT_FALSE(origin::parse("https://").has_value());
  EXPECT_FALSE(origin::parse("httpss://x").has_value());
}

TEST(ClientTls, GetsOverTlsAndReusesTheConnection) {
  REQUIRE_TLS_FILES();
  tls_http_server server(certificates().cert, certificates().key);
  ASSERT_TRUE(server.ok()) << server.error();
  blocking_client https(trusting_the_test_ca());
  const fetch_result first = https.get(server.base() + "/hello");
  ASSERT_FALSE(first.error) << first.error.message();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "hello tls");
  const fetch_result second = https.get(server.base() + "/hello");
  ASSERT_FALSE(second.error) << second.error.message();
  EXPECT_EQ(second.body, "hello tls");
  EXPECT_TRUE(second.reused_connection);
  // Two requests, one connection, one handshake.
  EXPECT_EQ(server.accepts(), 1);
  EXPECT_EQ(https.client().stats().connections_opened, 1u);
  EXPECT_EQ(https.client().stats().tls_handshakes, 1u);

  // A body of many TLS records arrives whole (a read ends at a record, not at the socket's end).
  const fetch_result big = https.get(server.base() + "/big");
  ASSERT_FALSE(big.error) << big.error.message();
  EXPECT_EQ(big.body.size(), 200000u);
  EXPECT_EQ(big.body.find_first_not_of('x'), std::string::npos);

  // By name: the certificate's DNS name is checked (and sent in SNI); another pool.
  const fetch_result named = https.get(server.base("localhost") + "/hello");
  ASSERT_FALSE(named.error) << named.error.message();
  EXPECT_EQ(named.body, "hello tls");
  EXPECT_EQ(server.accepts(), 2);
}

TEST(ClientTls, TheSecondConnectionResumesTheSession) {
  REQUIRE_TLS_FILES();
  tls_http_server server(certificates().cert, certificates().key);
  ASSERT_TRUE(server.ok()) << server.error();
  blocking_client https(trusting_the_test_ca());
  ASSERT_FALSE(https.get(server.base() + "/hello").error);
  https.client().close_idle();
  const fetch_result again = https.get(server.base() + "/hello");
  ASSERT_FALSE(again.error) << again.error.message();
  EXPECT_FALSE(again.reused_connection);
  EXPECT_EQ(https.client().stats().tls_handshakes, 2u);
  EXPECT_EQ(https.client().stats().tls_resumed, 1u);
}

/// The error of one GET to `server` with `options`.
client_error failure_of(const tls_http_server& server, const client_options& options,
                        std::string_view host = "127.0.0.1") {
  blocking_client https(options);
  return https.get(server.base(host) + "/hello").error;
}

TEST(ClientTls, EachHandshakeFailureHasItsOwnError) {
  REQUIRE_TLS_FILES();
  const tls_test_files& files = certificates();
  const auto expect = [](const client_error& e, transport::errc cause, std::string_view says) {
    EXPECT_EQ(e.code, client_errc::tls_handshake_failed) << e.message();
    EXPECT_EQ(e.phase, client_phase::connecting) << e.message();
    EXPECT_EQ(e.cause, transport::make_error_code(cause)) << e.message();
    EXPECT_NE(e.message().find(says), std::string::npos) << e.message();
  };
  {
    tls_http_server untrusted(files.untrusted_cert, files.untrusted_key);
    ASSERT_TRUE(untrusted.ok()) << untrusted.error();
    expect(failure_of(untrusted, trusting_the_test_ca()), transport::errc::tls_unknown_ca,
           "unknown certificate authority");
    // The system store does not know the test CA either.
    expect(failure_of(untrusted, {}), transport::errc::tls_unknown_ca, "unknown");
  }
  {
    tls_http_server other(files.other_cert, files.other_key);
    ASSERT_TRUE(other.ok()) << other.error();
    expect(failure_of(other, trusting_the_test_ca()), transport::errc::tls_wrong_name,
           "does not match the host name");
    expect(failure_of(other, trusting_the_test_ca(), "localhost"), transport::errc::tls_wrong_name,
           "host name");
  }
  {
    tls_http_server expired(files.expired_cert, files.expired_key);
    ASSERT_TRUE(expired.ok()) << expired.error();
    expect(failure_of(expired, trusting_the_test_ca()), transport::errc::tls_expired, "expired");
  }
  {
    tls_http_server h2_only(files.cert, files.key, answer::keep_alive, {"h2"});
    ASSERT_TRUE(h2_only.ok()) << h2_only.error();
    expect(failure_of(h2_only, trusting_the_test_ca()),
           transport::errc::tls_no_application_protocol, "application protocol");
  }
}

TEST(ClientTls, VerificationOffAcceptsAnyCertificate) {
  REQUIRE_TLS_FILES();
  tls_http_server untrusted(certificates().untrusted_cert, certificates().untrusted_key);
  ASSERT_TRUE(untrusted.ok()) << untrusted.error();
  client_options insecure;
  insecure.tls.verify = false;
  blocking_client https(insecure);
  const fetch_result r = https.get(untrusted.base() + "/hello");
  ASSERT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.body, "hello tls");
}

TEST(ClientTls, AnUnreadableCaFileIsRefusedBeforeAnythingIsSent) {
  REQUIRE_TLS_FILES();
  tls_http_server server(certificates().cert, certificates().key);
  ASSERT_TRUE(server.ok()) << server.error();
  client_options options;
  options.tls.ca_file = certificates().directory + "/no-such-ca.pem";
  blocking_client https(options);
  const fetch_result r = https.get(server.base() + "/hello");
  EXPECT_EQ(r.error.code, client_errc::tls_setup_failed) << r.error.message();
  EXPECT_EQ(r.error.cause, transport::make_error_code(transport::errc::tls_bad_certificate));
  EXPECT_EQ(server.accepts(), 0);
  // Plain http needs no TLS context: the same client still works there.
  EXPECT_EQ(https.get("http://127.0.0.1:1/").error.code, client_errc::connect_failed);
}

TEST(ClientTls, ABodyCutWithoutCloseNotifyIsAnErrorNotAnEnd) {
  REQUIRE_TLS_FILES();
  {
    // The body runs until the connection closes, and the server closes it properly.
    tls_http_server server(certificates().cert, certificates().key, answer::until_close);
    ASSERT_TRUE(server.ok()) << server.error();
    blocking_client https(trusting_the_test_ca());
    const fetch_result r = https.get(server.base() + "/hello");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.body, "until the end");
  }
  {
    // The same, but the TCP connection ends without close_notify: an attacker could have cut it.
    tls_http_server server(certificates().cert, certificates().key, answer::until_cut);
    ASSERT_TRUE(server.ok()) << server.error();
    blocking_client https(trusting_the_test_ca());
    const fetch_result r = https.get(server.base() + "/hello");
    EXPECT_EQ(r.error.code, client_errc::connection_closed) << r.error.message();
    EXPECT_EQ(r.error.phase, client_phase::reading_body);
    EXPECT_EQ(r.error.cause, transport::make_error_code(transport::errc::tls_truncated));
    EXPECT_NE(r.error.message().find("close_notify"), std::string::npos) << r.error.message();
  }
}

TEST(ClientTls, AHandshakeThatNeverEndsIsCutByTheConnectTimeout) {
  REQUIRE_TLS_FILES();
  // The kernel completes the TCP handshake for the backlog; nobody ever answers the ClientHello.
  auto silent = transport::listener::listen("127.0.0.1:0").value();
  client_options options = trusting_the_test_ca();
  options.connect_timeout = std::chrono::milliseconds(200);
  blocking_client https(options);
  const auto started = std::chrono::steady_clock::now();
  const fetch_result r = https.get("https://127.0.0.1:" + std::to_string(silent.port()) + "/");
  EXPECT_EQ(r.error.code, client_errc::connect_timeout) << r.error.message();
  EXPECT_EQ(r.error.phase, client_phase::connecting);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

/// An OpenSSL server on a thread that speaks TLS 1.1 at most (security level 0, so that OpenSSL 3
/// lets it), for one connection.
class tls11_server {
 public:
  tls11_server(const std::string& cert, const std::string& key) {
    context_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(context_, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(context_, TLS1_1_VERSION);
    if (SSL_CTX_set_cipher_list(context_, "DEFAULT:@SECLEVEL=0") != 1 ||
        SSL_CTX_use_certificate_chain_file(context_, cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(context_, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof at;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&at), size) != 0 || ::listen(fd_, 4) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&at), &size) != 0) {
      return;
    }
    port_ = ntohs(at.sin_port);
    thread_ = std::thread([this] {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10000) != 1) return;
      const int peer = ::accept(fd_, nullptr, nullptr);
      if (peer < 0) return;
      SSL* ssl = SSL_new(context_);
      SSL_set_fd(ssl, peer);
      handshake_ok_ = SSL_accept(ssl) == 1;
      SSL_free(ssl);
      ::close(peer);
    });
  }
  ~tls11_server() {
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(context_);
  }
  tls11_server(const tls11_server&) = delete;
  tls11_server& operator=(const tls11_server&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] bool handshake_ok() const { return handshake_ok_; }

 private:
  SSL_CTX* context_ = nullptr;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  bool handshake_ok_ = false;
};

TEST(ClientTls, AServerOnlyOfferingTls11IsProtocolTooOld) {
  REQUIRE_TLS_FILES();
  tls11_server old(certificates().cert, certificates().key);
  ASSERT_NE(old.port(), 0);
  blocking_client https(trusting_the_test_ca());
  const fetch_result r = https.get("https://127.0.0.1:" + std::to_string(old.port()) + "/");
  EXPECT_EQ(r.error.code, client_errc::tls_handshake_failed) << r.error.message();
  EXPECT_EQ(r.error.cause, transport::make_error_code(transport::errc::tls_protocol_too_old))
      << r.error.message();
  EXPECT_NE(r.error.message().find("older than TLS 1.2"), std::string::npos) << r.error.message();
}

/// A plain taut::server on loopback whose every request goes to `upstream` through the proxy.
class proxy_front {
 public:
  explicit proxy_front(proxy_options options)
      : server_(
            [options](unsigned) -> std::unique_ptr<request_handler> {
              return std::make_unique<proxy_handler>(options);
            },
            server_options{.listen = {"127.0.0.1:0"}, .threads = 1}) {
    ok_ = !server_.start();
  }
  ~proxy_front() {
    server_.stop();
    server_.wait();
  }
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] std::uint16_t port() const { return server_.local_addresses().front().port(); }
  [[nodiscard]] std::string base() const { return "http://127.0.0.1:" + std::to_string(port()); }

 private:
  taut::server server_;
  bool ok_ = false;
};

TEST(ClientTls, TheProxyForwardsToAnHttpsUpstream) {
  REQUIRE_TLS_FILES();
  tls_http_server upstream(certificates().cert, certificates().key);
  ASSERT_TRUE(upstream.ok()) << upstream.error();
  proxy_options options{.upstream = origin::parse(upstream.base("localhost")).value()};
  options.client.tls.ca_file = certificates().ca_cert;
  proxy_front front(options);
  ASSERT_TRUE(front.ok());
  blocking_client http;
  for (int i = 0; i < 3; ++i) {
    const fetch_result r = http.get(front.base() + "/hello");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello tls");
  }
  EXPECT_EQ(upstream.accepts(), 1);  // the upstream connection is reused over TLS

  // An upstream whose certificate is not for the name in the URL: 502, nothing forwarded.
  tls_http_server impostor(certificates().other_cert, certificates().other_key);
  ASSERT_TRUE(impostor.ok()) << impostor.error();
  proxy_options wrong{.upstream = origin::parse(impostor.base("localhost")).value()};
  wrong.client.tls.ca_file = certificates().ca_cert;
  proxy_front refused(wrong);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(http.get(refused.base() + "/hello").status, 502);
}

// Blocking calls with a timeout return EINTR (or a short count) now and then in a process whose
// servers run io_uring loops: the helpers below go on.

/// Reads from `fd` until `got` ends with `wanted` (true), or EOF / the read timeout (false).
bool read_until(int fd, std::string& got, std::string_view wanted) {
  char buffer[4096];
  while (!std::string_view(got).ends_with(wanted)) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

/// Sends all of `bytes` (false on an error or the send timeout).
bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// A WebSocket-style Upgrade through the proxy to an https upstream: the 101 comes back, bytes go
// both ways through the TLS upstream connection, and the client's half-close reaches the upstream
// (which answers and ends with close_notify) and comes back as the end of the tunnel.
TEST(ClientTls, TheProxyTunnelsAnUpgradeToAnHttpsUpstream) {
  REQUIRE_TLS_FILES();
  tls_http_server upstream(certificates().cert, certificates().key, answer::upgrade_echo);
  ASSERT_TRUE(upstream.ok()) << upstream.error();
  proxy_options options{.upstream = origin::parse(upstream.base("localhost")).value()};
  options.client.tls.ca_file = certificates().ca_cert;
  options.upgrades = true;
  proxy_front front(options);
  ASSERT_TRUE(front.ok());
  const int fd = connect_loopback(front.port(), std::chrono::seconds(5));
  ASSERT_GE(fd, 0);
  const std::string ask =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello";
  ASSERT_TRUE(send_all(fd, ask));
  std::string got;
  EXPECT_TRUE(read_until(fd, got, "\r\n\r\nHELLO")) << got;
  EXPECT_TRUE(got.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << got;
  EXPECT_NE(got.find("Upgrade: websocket\r\n"), std::string::npos) << got;
  // More than a TLS record each way.
  const std::string big(70000, 'w');
  ASSERT_TRUE(send_all(fd, big));
  got.clear();
  EXPECT_TRUE(read_until(fd, got, std::string(70000, 'W'))) << got.size();
  EXPECT_EQ(got.size(), big.size());
  // The client's end passes through to the upstream, whose answer and end come back.
  ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);
  got.clear();
  EXPECT_FALSE(read_until(fd, got, "never")) << "the tunnel must end";
  EXPECT_EQ(got, "BYE");
  char after = 0;
  ssize_t last = 0;
  do {
    last = ::recv(fd, &after, 1, 0);
  } while (last < 0 && errno == EINTR);
  EXPECT_EQ(last, 0) << "an EOF, not a read timeout";
  ::close(fd);
  EXPECT_EQ(upstream.accepts(), 1);
}

/// nginx answering /hello over TLS 1.2 and 1.3 with the given certificate.
nginx_process nginx_tls(const std::string& cert, const std::string& key) {
  return nginx_process(
      "  listen 127.0.0.1:@port@ ssl;\n"
      "  ssl_certificate @prefix@/cert.pem;\n  ssl_certificate_key @prefix@/key.pem;\n"
      "  ssl_protocols TLSv1.2 TLSv1.3;\n"
      "  location = /hello { default_type text/plain; return 200 \"hello nginx\"; }\n",
      {{cert, "cert.pem"}, {key, "key.pem"}});
}

TEST(ClientTlsNginx, GetsFromNginxOverTlsAndReuses) {
  REQUIRE_TLS_FILES();
  const nginx_process nginx = nginx_tls(certificates().cert, certificates().key);
  if (!nginx.installed()) GTEST_SKIP() << "nginx is not installed (apt-get install nginx-light)";
  ASSERT_TRUE(nginx.ready());
  blocking_client https(trusting_the_test_ca());
  for (int i = 0; i < 3; ++i) {
    const fetch_result r = https.get(nginx.base("https") + "/hello");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello nginx");
    EXPECT_EQ(r.reused_connection, i > 0);
  }
  EXPECT_EQ(https.client().stats().tls_handshakes, 1u);
  // A new connection resumes nginx's session (a ticket) after the first closed cleanly.
  https.client().close_idle();
  ASSERT_FALSE(https.get(nginx.base("https") + "/hello").error);
  EXPECT_EQ(https.client().stats().tls_handshakes, 2u);
  EXPECT_EQ(https.client().stats().tls_resumed, 1u);
  const fetch_result named = https.get(nginx.base("https", "localhost") + "/hello");
  ASSERT_FALSE(named.error) << named.error.message();
  EXPECT_EQ(named.body, "hello nginx");
  // The system store does not trust the test CA.
  blocking_client system_store;
  const client_error e = system_store.get(nginx.base("https") + "/hello").error;
  EXPECT_EQ(e.code, client_errc::tls_handshake_failed) << e.message();
  EXPECT_EQ(e.cause, transport::make_error_code(transport::errc::tls_unknown_ca));
}

TEST(ClientTlsNginx, AnExpiredCertificateFromNginxIsExpired) {
  REQUIRE_TLS_FILES();
  const nginx_process nginx = nginx_tls(certificates().expired_cert, certificates().expired_key);
  if (!nginx.installed()) GTEST_SKIP() << "nginx is not installed (apt-get install nginx-light)";
  ASSERT_TRUE(nginx.ready());
  blocking_client https(trusting_the_test_ca());
  const client_error e = https.get(nginx.base("https") + "/hello").error;
  EXPECT_EQ(e.code, client_errc::tls_handshake_failed) << e.message();
  EXPECT_EQ(e.cause, transport::make_error_code(transport::errc::tls_expired)) << e.message();
}

}  // namespace
}  // namespace taut::test
