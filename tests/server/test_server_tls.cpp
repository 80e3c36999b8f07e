// HTTPS from the user's side: a taut::server with server_options::tls, as an application would set
// it up, and a handler that reads the connection's TLS facts; clients are plain OpenSSL (blocking,
// with timeouts) so the server is checked against another implementation. Also start() errors for
// bad certificates and keys, the handshake timeout (real sockets, and exactly on a manual clock
// over memory pipes), and handshake failures reported to on_tls_error. Loopback only; every wait
// is bounded. Certificates are made at test time (tests/support/tls_certs.hpp).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loopback.hpp"
#include "taut/server.hpp"
#include "taut/testing.hpp"
#include "taut/transport/memory.hpp"
#include "taut/transport/tls.hpp"
#include "tls_certs.hpp"

namespace taut::test {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

const tls_test_files& files() {
  static const tls_test_files made = make_tls_test_files();
  return made;
}

/// A blocking OpenSSL client connection (what curl or a browser would be), verifying the server
/// against the test CA.
class openssl_client {
 public:
  openssl_client(std::uint16_t port, const char* server_name, const char* alpn = "http/1.1")
      : ctx_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_load_verify_locations(ctx_, files().ca_cert.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    fd_ = connect_loopback(port, 5000ms);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, server_name);
    SSL_set1_host(ssl_, server_name);
    if (alpn != nullptr) {
      std::string wire(1, static_cast<char>(std::strlen(alpn)));
      wire += alpn;
      SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned>(wire.size()));
    }
  }
  ~openssl_client() {
    SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  openssl_client(const openssl_client&) = delete;
  openssl_client& operator=(const openssl_client&) = delete;

  bool handshake() {
    if (fd_ < 0) return false;
    ERR_clear_error();
    const int done = SSL_connect(ssl_);
    if (done == 1) return true;
    std::fprintf(stderr, "handshake: SSL_get_error %d, %s, errno %d\n", SSL_get_error(ssl_, done),
                 ERR_error_string(ERR_peek_error(), nullptr), errno);
    return false;
  }
  [[nodiscard]] SSL* ssl() const noexcept { return ssl_; }
  [[nodiscard]] int fd() const noexcept { return fd_; }

  bool send(std::string_view bytes) {
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }
  /// Reads one response with a Content-Length body; "" when the connection ends first.
  std::string read_response() {
    for (;;) {
      const std::size_t head_end = inbox_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = 0;
        const std::size_t at = inbox_.find("Content-Length: ");
        if (at != std::string::npos && at < head_end) length = std::stoul(inbox_.substr(at + 16));
        if (inbox_.size() >= head_end + 4 + length) {
          std::string out = inbox_.substr(0, head_end + 4 + length);
          inbox_.erase(0, out.size());
          return out;
        }
      }
      char buffer[4096];
      const int got = SSL_read(ssl_, buffer, sizeof buffer);
      if (got <= 0) return {};
      inbox_.append(buffer, static_cast<std::size_t>(got));
    }
  }
  std::string get(std::string_view target) {
    if (!send("GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n\r\n")) return {};
    return read_response();
  }

 private:
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  std::string inbox_;
};

/// Reads until the peer closes (or `limit`); returns what came and how long it took.
std::pair<std::string, std::chrono::milliseconds> read_until_closed(
    int fd, std::chrono::milliseconds limit) {
  const auto start = clock_type::now();
  std::string got;
  for (;;) {
    const auto left =
        limit - std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start);
    if (left <= 0ms) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  return {got, std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start)};
}

/// The handler an application would write to see how it was reached.
class tls_facts_handler final : public request_handler {
 public:
  body_mode on_head(server_request&) override { return body_mode::buffer; }
  void on_request(server_request&, response_writer response) override {
    const connection_info* connection = current_connection();
    std::string body;
    if (connection == nullptr) {
      body = "no connection";
    } else if (!connection->is_tls()) {
      body = "plain";
    } else {
      const transport::tls_state tls = connection->tls();
      body = std::string(tls.version) + " alpn=" + std::string(tls.alpn) +
             " sni=" + std::string(tls.server_name) + " resumed=" + (tls.resumed ? "1" : "0") +
             " done=" + (tls.handshake_done ? "1" : "0");
    }
    response.send(200, body, "text/plain");
  }
};

server_options tls_options(std::chrono::milliseconds handshake_timeout = 10s) {
  server_options options;
  options.listen = {"127.0.0.1:0"};
  options.threads = 1;
  server_tls_options tls;
  tls.transport.certificates = {{files().cert, files().key},
                                {files().other_cert, files().other_key}};
  tls.handshake_timeout = handshake_timeout;
  options.tls = tls;
  return options;
}

std::string body_of(const std::string& response) {
  const std::size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

class ServerTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!transport::tls_available()) GTEST_SKIP() << "taut was built without TLS";
    ASSERT_TRUE(files().ok) << files().error;
  }
};

TEST_F(ServerTls, HandlerSeesTheNegotiatedFacts) {
  tls_facts_handler handler;
  server_options options = tls_options();
  const std::string unix_path =
      "@taut-tls-facts-" + std::to_string(::getpid());  // Unix sockets stay plain by default
  options.unix_paths = {unix_path};
  taut::server server(handler, options);
  ASSERT_FALSE(server.start()) << server.error_address();
  ASSERT_EQ(server.local_addresses().size(), 2u);
  EXPECT_TRUE(server.is_tls(0));
  EXPECT_FALSE(server.is_tls(1));
  EXPECT_FALSE(server.tls_offload_status().empty());
  const std::uint16_t port = server.local_addresses()[0].port();

  {
    openssl_client client(port, "localhost");
    ASSERT_TRUE(client.handshake());
    EXPECT_EQ(body_of(client.get("/")), "TLSv1.3 alpn=http/1.1 sni=localhost resumed=0 done=1");
    // Keep-alive: the second request on the same session.
    EXPECT_EQ(body_of(client.get("/again")),
              "TLSv1.3 alpn=http/1.1 sni=localhost resumed=0 done=1");
  }
  {
    // SNI picks the second certificate; the handler sees the name.
    openssl_client client(port, "other.test", nullptr);
    ASSERT_TRUE(client.handshake());
    X509* peer = SSL_get1_peer_certificate(client.ssl());
    ASSERT_NE(peer, nullptr);
    char subject[256] = {};
    X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof subject);
    X509_free(peer);
    EXPECT_NE(std::string(subject).find("/CN=other.test"), std::string::npos) << subject;
    EXPECT_EQ(body_of(client.get("/")), "TLSv1.3 alpn= sni=other.test resumed=0 done=1");
  }

  // The plain Unix listener: the same handler sees no TLS.
  transport::result<transport::address> at = transport::address::unix_abstract(unix_path.substr(1));
  ASSERT_TRUE(at);
  transport::result<transport::stream> plain = transport::connect(*at);
  ASSERT_TRUE(plain);
  const int fd = plain->native_handle();
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  const auto [got, took] = read_until_closed(fd, 5000ms);
  EXPECT_EQ(body_of(got), "plain");
  (void)plain->close();  // or the server lingers on it (linger_timeout) before stopping
  server.stop();
  server.wait();
}

// An HTTP/1.0 client over TLS that offers ALPN "http/1.0" (and nothing else) is served as it is
// over plain TCP; one offering only h2 is still refused.
TEST_F(ServerTls, AnHttp10ClientOfferingAlpnHttp10IsServed) {
  tls_facts_handler handler;
  server server(handler, tls_options());
  ASSERT_FALSE(server.start());
  const std::uint16_t port = server.local_addresses()[0].port();
  {
    openssl_client client(port, "localhost", "http/1.0");
    ASSERT_TRUE(client.handshake());
    ASSERT_TRUE(client.send("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"));
    const std::string response = client.read_response();
    EXPECT_TRUE(response.starts_with("HTTP/1.1 200 ")) << response;
    EXPECT_EQ(body_of(response), "TLSv1.3 alpn=http/1.0 sni=localhost resumed=0 done=1");
  }
  {
    openssl_client client(port, "localhost", "h2");
    EXPECT_FALSE(client.handshake());
  }
  server.stop();
  server.wait();
}

TEST_F(ServerTls, StartFailsNamingTheCertificateOrKeyFile) {
  tls_facts_handler handler;
  {
    server_options options = tls_options();
    const std::string missing = files().directory + "/missing.pem";
    options.tls->transport.certificates = {{files().cert, files().key}, {missing, files().key}};
    taut::server server(handler, options);
    EXPECT_EQ(server.start(), transport::errc::tls_bad_certificate);
    EXPECT_EQ(server.error_address(), missing);
    EXPECT_TRUE(server.local_addresses().empty());  // no port taken
  }
  {
    server_options options = tls_options();
    options.tls->transport.certificates = {{files().cert, files().other_key}};
    taut::server server(handler, options);
    EXPECT_EQ(server.start(), transport::errc::tls_bad_key);
    EXPECT_EQ(server.error_address(), files().other_key);
  }
}

TEST_F(ServerTls, SilentClientIsCutByTheHandshakeTimeout) {
  tls_facts_handler handler;
  server_options options = tls_options(400ms);
  options.connection.header_timeout = 10s;  // not what cuts it
  std::atomic<int> timeouts{0};
  std::atomic<int> other_errors{0};
  options.on_tls_error = [&](const connection_info&, std::error_code ec) {
    ++(ec == std::errc::timed_out ? timeouts : other_errors);
  };
  taut::server server(handler, options);
  ASSERT_FALSE(server.start());
  const std::uint16_t port = server.local_addresses()[0].port();

  const int fd = connect_loopback(port, 5000ms);
  ASSERT_GE(fd, 0);
  const auto [got, took] = read_until_closed(fd, 5000ms);
  ::close(fd);
  EXPECT_TRUE(got.empty()) << "no HTTP answer without a session";
  EXPECT_GE(took, 350ms);
  EXPECT_LT(took, 3000ms);
  for (int i = 0; i < 100 && timeouts.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(timeouts.load(), 1);
  EXPECT_EQ(other_errors.load(), 0);

  // Served as usual after that.
  openssl_client client(port, "localhost");
  ASSERT_TRUE(client.handshake());
  EXPECT_EQ(body_of(client.get("/")), "TLSv1.3 alpn=http/1.1 sni=localhost resumed=0 done=1");
  server.stop();
  server.wait();
}

TEST_F(ServerTls, HeaderTimeoutStartsWhenTheHandshakeEnds) {
  // The client's sleeps only ever overshoot under load, so the waits that must outlast a timer
  // are sleeps, and what must come in time has the most slack the test can give it: a header
  // timer started at the connection would fire a second before the handshake begins, one started
  // with the handshake's end leaves the request 1.5 s. The handshake timeout (20 s) is far from
  // every bound, so it cannot be what closes a connection here.
  tls_facts_handler handler;
  server_options options = tls_options(20s);
  options.connection.header_timeout = 2000ms;
  taut::server server(handler, options);
  ASSERT_FALSE(server.start());
  const std::uint16_t port = server.local_addresses()[0].port();

  openssl_client client(port, "localhost");
  std::this_thread::sleep_for(3000ms);  // a slow client: longer than the header timeout
  ASSERT_TRUE(client.handshake());
  std::this_thread::sleep_for(500ms);  // 3.5 s after connecting, 0.5 s after the handshake
  EXPECT_EQ(body_of(client.get("/")), "TLSv1.3 alpn=http/1.1 sni=localhost resumed=0 done=1");

  // And it does apply after the handshake: a client that says nothing more is closed by it (not
  // by the handshake timeout, 20 s after connecting, nor the idle timeout, 60 s).
  openssl_client idle(port, "localhost");
  ASSERT_TRUE(idle.handshake());
  // The socket's own receive timeout (5 s) would end the read too: past the bound instead.
  const timeval patience{.tv_sec = 15, .tv_usec = 0};
  ASSERT_EQ(
      ::setsockopt(SSL_get_fd(idle.ssl()), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience), 0);
  const auto start = clock_type::now();
  char byte = 0;
  const int got = SSL_read(idle.ssl(), &byte, 1);  // the server's close ends it
  const auto took = clock_type::now() - start;
  EXPECT_LE(got, 0);
  EXPECT_GE(took, 1800ms);
  EXPECT_LT(took, 10000ms);
  server.stop();
  server.wait();
}

TEST_F(ServerTls, GarbageFailsTheHandshakeWithoutAnAnswer) {
  tls_facts_handler handler;
  server_options options = tls_options();
  std::mutex lock;
  std::vector<std::error_code> errors;
  options.on_tls_error = [&](const connection_info& connection, std::error_code ec) {
    EXPECT_TRUE(connection.is_tls());
    const std::lock_guard<std::mutex> hold(lock);
    errors.push_back(ec);
  };
  taut::server server(handler, options);
  ASSERT_FALSE(server.start());
  const std::uint16_t port = server.local_addresses()[0].port();

  const int fd = connect_loopback(port, 5000ms);
  ASSERT_GE(fd, 0);
  const std::string plain_http = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ASSERT_EQ(::send(fd, plain_http.data(), plain_http.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(plain_http.size()));
  const auto [got, took] = read_until_closed(fd, 5000ms);
  ::close(fd);
  EXPECT_EQ(got.find("HTTP/"), std::string::npos) << got;
  EXPECT_LT(took, 3000ms);
  for (int i = 0; i < 100; ++i) {
    {
      const std::lock_guard<std::mutex> hold(lock);
      if (!errors.empty()) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  {
    const std::lock_guard<std::mutex> hold(lock);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], transport::errc::tls_handshake_failed) << errors[0].message();
  }
  openssl_client client(port, "localhost");
  ASSERT_TRUE(client.handshake());
  EXPECT_EQ(body_of(client.get("/")), "TLSv1.3 alpn=http/1.1 sni=localhost resumed=0 done=1");
  server.stop();
  server.wait();
}

// Requests in separate records that arrive together: a TLS read returns one record at a time, so
// a short read must not be taken for an empty socket (the rest would wait for an edge that never
// comes).
TEST_F(ServerTls, PipelinedRecordsAreAllServed) {
  tls_facts_handler handler;
  taut::server server(handler, tls_options());
  ASSERT_FALSE(server.start());
  openssl_client client(server.local_addresses()[0].port(), "localhost");
  ASSERT_TRUE(client.handshake());
  std::string requests;
  for (int i = 0; i < 4; ++i) requests += "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  // Four records (one per SSL_write) in one TCP segment: corked until all are written.
  int on = 1;
  ::setsockopt(client.fd(), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
  const std::size_t one = requests.size() / 4;
  for (std::size_t i = 0; i < 4; ++i) ASSERT_TRUE(client.send(requests.substr(i * one, one)));
  on = 0;
  ::setsockopt(client.fd(), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(body_of(client.read_response()),
              "TLSv1.3 alpn=http/1.1 sni=localhost resumed=0 done=1")
        << "response " << i;
  }
  server.stop();
  server.wait();
}

TEST_F(ServerTls, GracefulStopSendsCloseNotify) {
  tls_facts_handler handler;
  taut::server server(handler, tls_options());
  ASSERT_FALSE(server.start());
  openssl_client client(server.local_addresses()[0].port(), "localhost");
  ASSERT_TRUE(client.handshake());
  EXPECT_FALSE(body_of(client.get("/")).empty());
  server.stop();  // the connection is idle: closed at once, in order
  char byte = 0;
  EXPECT_EQ(SSL_read(client.ssl(), &byte, 1), 0);
  EXPECT_EQ(SSL_get_error(client.ssl(), 0), SSL_ERROR_ZERO_RETURN) << "close_notify expected";
  EXPECT_TRUE((SSL_get_shutdown(client.ssl()) & SSL_RECEIVED_SHUTDOWN) != 0);
  server.wait();
}

// The handshake timeout is exact on the loop's clock: a server_loop on a manual clock (the
// in-memory harness's) with a TLS stream adopted over a memory pipe.
TEST_F(ServerTls, HandshakeTimeoutOnAManualClock) {
  tls_facts_handler handler;
  testing::server_options options;
  options.loop.tls_handshake_timeout = 2s;
  options.loop.connection.header_timeout = 500ms;  // would cut first if it ran
  testing::server memory_server(handler, options);
  transport::result<transport::tls_context> context =
      transport::tls_context::server({.certificates = {{files().cert, files().key}}});
  ASSERT_TRUE(context) << context.error().message();

  auto ends = transport::memory_pair();
  transport::stream& client_end =
      ends.first;  // a named reference: clang 14 cannot capture bindings
  ASSERT_TRUE(memory_server.loop_server().adopt(std::move(ends.second), &*context));
  memory_server.run();
  const auto open = [&] {
    char byte = 0;
    const transport::io_result r = client_end.read({&byte, 1});
    return r.would_block();
  };
  memory_server.advance(1999ms);
  EXPECT_TRUE(open());
  EXPECT_EQ(memory_server.loop_server().stats().tls_handshake_timeouts, 0u);
  memory_server.advance(1ms);
  EXPECT_FALSE(open());
  EXPECT_EQ(memory_server.loop_server().stats().tls_handshake_timeouts, 1u);
  EXPECT_EQ(memory_server.loop_server().open_connections(), 0u);
}

// A user testing an HTTPS handler in memory: server_options::tls on taut::testing, and the
// client speaks TLS over the memory pipe (no socket, no thread, the manual clock).
// Copies what `from` received into `to` (raw memory ends): the test stands between a TLS client
// and the server.
void relay(transport::stream& from, transport::stream& to) {
  std::array<char, 16384> buffer;
  for (;;) {
    const transport::io_result got = from.read(buffer);
    if (!got.done() || got.bytes == 0) return;
    ASSERT_EQ(to.write({buffer.data(), got.bytes}).bytes, got.bytes);
  }
}

// A client whose Finished is followed by a FIN without close_notify, in the one read that ends
// the handshake: a handshake (then an EOF without a request), not a handshake failure.
TEST_F(ServerTls, AHandshakeEndedByTheReadThatThenFailsCountsAsAHandshake) {
  tls_facts_handler handler;
  testing::server_options options;
  testing::server memory_server(handler, options);
  const auto server_context =
      transport::tls_context::server({.certificates = {{files().cert, files().key}}});
  const auto client_context = transport::tls_context::client({.verify = false});
  ASSERT_TRUE(server_context && client_context);
  auto client_pipe = transport::memory_pair();
  auto server_pipe = transport::memory_pair();
  transport::stream& client_wire = client_pipe.second;
  transport::stream& server_wire = server_pipe.first;
  ASSERT_TRUE(memory_server.loop_server().adopt(std::move(server_pipe.second), &*server_context));
  auto client = transport::tls_connect(std::move(client_pipe.first), *client_context, "localhost");
  ASSERT_TRUE(client);
  std::array<char, 256> buffer;
  EXPECT_TRUE(client->read(buffer).would_block());  // the ClientHello
  relay(client_wire, server_wire);
  memory_server.run();
  relay(server_wire, client_wire);
  EXPECT_TRUE(client->read(buffer).would_block());  // the client's Finished
  ASSERT_TRUE(transport::tls_info(*client).handshake_done);
  relay(client_wire, server_wire);
  EXPECT_FALSE(server_wire.shutdown_write());
  memory_server.run();
  EXPECT_EQ(memory_server.loop_server().stats().tls_handshakes, 1u);
  EXPECT_EQ(memory_server.loop_server().stats().tls_handshake_failures, 0u);
  EXPECT_EQ(memory_server.loop_server().open_connections(), 0u);
}

TEST_F(ServerTls, InMemoryHarnessSpeaksTls) {
  tls_facts_handler handler;
  testing::server_options options;
  options.tls = transport::tls_server_options{.certificates = {{files().cert, files().key}}};
  testing::server shared(handler, options);

  testing::client client(shared);
  testing::response r = client.get("/");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "TLSv1.3 alpn=http/1.1 sni=localhost resumed=0 done=1");
  r = client.post("/upload", std::string(100000, 'x'));  // several records each way
  EXPECT_EQ(r.status, 200) << r.error;
  // A new connection of the same client resumes its session (a ticket).
  client.reconnect();
  r = client.get("/");
  EXPECT_EQ(r.body, "TLSv1.3 alpn=http/1.1 sni=localhost resumed=1 done=1");
  EXPECT_EQ(shared.loop_server().stats().tls_handshakes, 2u);

  // Verifying the certificate: right against the test CA, refused for a name it does not carry.
  testing::client_options checked;
  checked.tls = {.ca_file = files().ca_cert, .verify = true};
  testing::client verified(shared, checked);
  EXPECT_EQ(verified.get("/").status, 200);
  checked.server_name = "other.test";
  testing::client wrong_name(shared, checked);
  r = wrong_name.get("/");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(wrong_name.closed());
  EXPECT_EQ(shared.loop_server().stats().tls_handshake_failures, 1u);

  // Plain connections of a plain harness are unchanged.
  testing::client plain(handler);
  EXPECT_EQ(plain.get("/").body, "plain");
}

}  // namespace
}  // namespace taut::test
