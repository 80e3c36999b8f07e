// TLS streams: handshakes and echo over memory pipes and loopback TCP, every would_block path
// with tiny pipes, writev/sendfile, close_notify and truncation, each named handshake failure,
// SNI, resumption, garbage, moves mid-handshake. Peers are driven the way the server driver
// drives a connection: a read after a readable notification or while readable(), and a short
// read means "wait for the next notification".
#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../../transport/src/tls_session.hpp"  // tls_force_socket_bio, for the kTLS path
#include "taut/transport.hpp"
#include "tls_certs.hpp"
#include "transport_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace taut::transport;
using taut::transport::testing::make_loop;
using taut::transport::testing::run_until;

const taut::test::tls_test_files& files() {
  static const taut::test::tls_test_files made = taut::test::make_tls_test_files();
  return made;
}

std::string pattern_bytes(std::size_t size, unsigned seed = 1) {
  std::string bytes(size, '\0');
  unsigned state = seed;
  for (char& c : bytes) {
    state = state * 1103515245u + 12345u;
    c = static_cast<char>(state >> 16);
  }
  return bytes;
}

tls_context server_context(std::vector<tls_certificate> certificates = {},
                           std::vector<std::string> alpn = {"http/1.1"}) {
  tls_server_options options;
  options.certificates = certificates.empty()
                             ? std::vector<tls_certificate>{{files().cert, files().key}}
                             : std::move(certificates);
  options.alpn = std::move(alpn);
  auto made = tls_context::server(options);
  EXPECT_TRUE(made) << made.error().message();
  return made ? *made : tls_context{};
}

tls_context client_context(std::vector<std::string> alpn = {"http/1.1"}, bool resumption = true) {
  tls_client_options options;
  options.ca_file = files().ca_cert;
  options.alpn = std::move(alpn);
  options.session_resumption = resumption;
  auto made = tls_context::client(options);
  EXPECT_TRUE(made) << made.error().message();
  return made ? *made : tls_context{};
}

/// One end of a connection, driven like the server driver drives a connection: writes while
/// writable(), reads while readable() unless a short read said the stream was drained, which
/// only a readable notification undoes. Optionally echoes what it reads.
class peer {
 public:
  explicit peer(stream s, bool echo = false) : stream_(std::move(s)), echo_(echo) {}
  peer(const peer&) = delete;
  peer& operator=(const peer&) = delete;

  void start(event_loop& loop) {
    ASSERT_FALSE(stream_.watch(loop, [this](readiness bits) {
      if (has(bits, readiness::readable)) drained_ = false;
      pump();
    }));
  }
  void send(std::string bytes, bool then_shut = false) {
    output_ += bytes;
    shut_after_ = then_shut;
    pump();
  }
  void use_writev(bool on) { writev_ = on; }

  void pump() {
    for (int round = 0; round < 1000000; ++round) {
      bool progress = false;
      if (sent_ < output_.size() && !failed() && stream_.writable()) {
        const std::size_t left = output_.size() - sent_;
        io_result r;
        if (writev_ && left > 1) {
          // Two pieces: the retry rule holds because both start at sent_.
          const std::size_t first = std::min<std::size_t>(left / 2, 1000);
          const std::array<const_buffer, 2> parts{
              const_buffer(output_.data() + sent_, first),
              const_buffer(output_.data() + sent_ + first, left - first)};
          r = stream_.writev(parts);
        } else {
          r = stream_.write({output_.data() + sent_, left});
        }
        if (r.done()) {
          sent_ += r.bytes;
          progress = r.bytes > 0;
        } else if (r.failed()) {
          error_ = r.error();
        }
      }
      if (sent_ == output_.size() && shut_after_ && !shut_ && !failed()) {
        shut_ = true;
        EXPECT_FALSE(stream_.shutdown_write());
        progress = true;
      }
      if (!eof_ && !failed() && !drained_ && stream_.readable()) {
        std::array<char, 32 * 1024> buffer;
        const io_result r = stream_.read(buffer);
        if (r.done()) {
          received_.append(buffer.data(), r.bytes);
          if (echo_) output_.append(buffer.data(), r.bytes);
          if (r.bytes < buffer.size()) drained_ = true;
          progress = true;
        } else if (r.eof()) {
          eof_ = true;
          if (echo_) shut_after_ = true;
          progress = true;
        } else if (r.failed()) {
          error_ = r.error();
        }
      }
      if (!progress) return;
    }
    ADD_FAILURE() << "pump() went round a million times";
  }

  [[nodiscard]] stream& s() { return stream_; }
  [[nodiscard]] const std::string& received() const { return received_; }
  [[nodiscard]] bool eof() const { return eof_; }
  [[nodiscard]] bool failed() const { return static_cast<bool>(error_); }
  [[nodiscard]] std::error_code error() const { return error_; }
  [[nodiscard]] bool all_sent() const { return sent_ == output_.size(); }
  [[nodiscard]] bool handshake_done() const { return tls_info(stream_).handshake_done; }

 private:
  stream stream_;
  std::string output_;
  std::size_t sent_ = 0;
  std::string received_;
  std::error_code error_;
  bool echo_ = false;
  bool writev_ = false;
  bool shut_after_ = false;
  bool shut_ = false;
  bool eof_ = false;
  bool drained_ = false;
};

struct tls_pair {
  std::unique_ptr<peer> client;
  std::unique_ptr<peer> server;
};

tls_pair wrap_pair(stream client_raw, stream server_raw, const tls_context& client_ctx,
                   const tls_context& server_ctx, std::string_view name = "localhost",
                   bool echo = true) {
  tls_pair pair;
  auto client = tls_connect(std::move(client_raw), client_ctx, name);
  auto server = tls_accept(std::move(server_raw), server_ctx);
  EXPECT_TRUE(client) << client.error().message();
  EXPECT_TRUE(server) << server.error().message();
  if (client) pair.client = std::make_unique<peer>(std::move(*client));
  if (server) pair.server = std::make_unique<peer>(std::move(*server), echo);
  return pair;
}

// Client sends `payload` then close_notify; the server echoes and answers EOF with its own.
void echo_through(event_loop& loop, tls_pair& pair, const std::string& payload, bool writev = false,
                  std::chrono::milliseconds limit = 20000ms) {
  ASSERT_TRUE(pair.client && pair.server);
  pair.client->start(loop);
  pair.server->start(loop);
  pair.client->use_writev(writev);
  pair.client->send(payload, true);
  EXPECT_TRUE(run_until(
      loop, [&] { return pair.client->eof() || pair.client->failed() || pair.server->failed(); },
      limit));
  EXPECT_TRUE(pair.client->eof()) << pair.client->error().message() << " client got "
                                  << pair.client->received().size() << " server got "
                                  << pair.server->received().size() << " client sent all "
                                  << pair.client->all_sent() << " server sent all "
                                  << pair.server->all_sent() << " handshakes "
                                  << pair.client->handshake_done() << pair.server->handshake_done()
                                  << " server eof " << pair.server->eof();
  EXPECT_FALSE(pair.server->failed()) << pair.server->error().message();
  EXPECT_TRUE(pair.client->eof());
  EXPECT_EQ(pair.server->received().size(), payload.size());
  EXPECT_TRUE(pair.client->received() == payload) << "echo differs";
}

// Starts both ends and waits until the server has read `greeting`: the handshake is over.
void start_and_greet(event_loop& loop, tls_pair& pair, const std::string& greeting = "hello") {
  pair.client->start(loop);
  pair.server->start(loop);
  pair.client->send(greeting);
  ASSERT_TRUE(run_until(loop, [&] { return pair.server->received() == greeting; }));
}

// `content` in a file of `dir`, opened for reading: what a server sends with sendfile.
int open_file_with(const taut::transport::testing::temp_dir& dir, const std::string& content) {
  {
    std::ofstream out(dir.file("file.bin"), std::ios::binary);
    out << content;
  }
  return ::open(dir.file("file.bin").c_str(), O_RDONLY | O_CLOEXEC);
}

// The server end sends the first `size` bytes of `fd` as the server driver does (sendfile while
// writable(), then shutdown_write) until the client has read them and EOF, or failed. Returns the
// server's first error; the client end must have been started.
std::error_code sendfile_to_client(event_loop& loop, tls_pair& pair, int fd, std::uint64_t size,
                                   std::chrono::milliseconds limit = 5000ms) {
  std::uint64_t offset = 0;
  std::error_code failure;
  stream& sender = pair.server->s();
  const auto send_some = [&] {
    while (offset < size && !failure && sender.writable()) {
      const io_result sent = sender.sendfile(fd, offset, size - offset);
      if (sent.failed()) failure = sent.error();
      if (!sent.done()) break;
    }
    if (offset == size) (void)sender.shutdown_write();
  };
  if (const std::error_code watched = sender.watch(loop, [&](readiness) { send_some(); })) {
    ADD_FAILURE() << "watch: " << watched.message();
    return watched;
  }
  send_some();
  EXPECT_TRUE(run_until(
      loop, [&] { return pair.client->eof() || pair.client->failed(); }, limit));
  sender.unwatch();  // the callback refers to this frame
  EXPECT_FALSE(pair.client->failed()) << pair.client->error().message();
  EXPECT_EQ(offset, size);
  return failure;
}

// The server end alone, accepted on `s` and started, for a client played by hand; null if
// tls_accept failed.
std::unique_ptr<peer> started_server(event_loop& loop, stream s) {
  auto accepted = tls_accept(std::move(s), server_context());
  EXPECT_TRUE(accepted) << accepted.error().message();
  if (!accepted) return nullptr;
  auto server = std::make_unique<peer>(std::move(*accepted));
  server->start(loop);
  return server;
}

// Heap figures mean nothing where the sanitizer runtime owns malloc.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool under_asan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool under_asan = true;
#else
constexpr bool under_asan = false;
#endif
#else
constexpr bool under_asan = false;
#endif

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tls_available());
    ASSERT_TRUE(files().ok) << files().error;
  }
};

// The test certificates' private keys live only as long as the run: a directory the helper made
// goes with the last copy of its result; one the caller named stays.
TEST(TlsTestFiles, AMadeDirectoryGoesWithTheLastCopyANamedOneStays) {
  std::string made_directory;
  {
    const taut::test::tls_test_files made = taut::test::make_tls_test_files();
    ASSERT_TRUE(made.ok) << made.error;
    made_directory = made.directory;
    const taut::test::tls_test_files copy = made;
    {
      const taut::test::tls_test_files second_copy = copy;
      EXPECT_EQ(::access(second_copy.key.c_str(), R_OK), 0);
    }
    EXPECT_EQ(::access(made.key.c_str(), R_OK), 0) << "removed while a copy still holds it";
  }
  EXPECT_NE(::access(made_directory.c_str(), F_OK), 0) << made_directory << " outlived its files";

  const std::string named = made_directory + "-named";
  {
    const taut::test::tls_test_files kept = taut::test::make_tls_test_files(named);
    ASSERT_TRUE(kept.ok) << kept.error;
  }
  EXPECT_EQ(::access((named + "/localhost-key.pem").c_str(), R_OK), 0);
  for (const char* name :
       {"ca.pem", "ca-key.pem", "localhost.pem", "localhost-key.pem", "other.pem", "other-key.pem",
        "expired.pem", "expired-key.pem", "unknown-ca.pem", "unknown-ca-key.pem", "untrusted.pem",
        "untrusted-key.pem"}) {
    ::unlink((named + "/" + name).c_str());
  }
  EXPECT_EQ(::rmdir(named.c_str()), 0) << "the named directory held more than the twelve files";
}

TEST_F(Tls, ContextErrors) {
  tls_server_options none;
  EXPECT_EQ(tls_context::server(none).error(), errc::tls_bad_certificate);
  tls_server_options missing;
  missing.certificates = {{files().directory + "/nope.pem", files().key}};
  EXPECT_EQ(tls_context::server(missing).error(), errc::tls_bad_certificate);
  tls_server_options wrong_key;
  wrong_key.certificates = {{files().cert, files().other_key}};
  EXPECT_EQ(tls_context::server(wrong_key).error(), errc::tls_bad_key);
  tls_server_options no_key;
  no_key.certificates = {{files().cert, files().directory + "/nope-key.pem"}};
  EXPECT_EQ(tls_context::server(no_key).error(), errc::tls_bad_key);
  // An encrypted key is refused at once (OpenSSL would ask for the passphrase on the terminal).
  const std::string encrypted_key = files().directory + "/encrypted-key.pem";
  {
    BIO* in = BIO_new_file(files().key.c_str(), "r");
    ASSERT_NE(in, nullptr);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO_free(in);
    ASSERT_NE(key, nullptr);
    BIO* out = BIO_new_file(encrypted_key.c_str(), "w");
    ASSERT_NE(out, nullptr);
    static const char passphrase[] = "secret";
    EXPECT_EQ(PEM_write_bio_PrivateKey(out, key, EVP_aes_128_cbc(), nullptr, 0, nullptr,
                                       const_cast<char*>(passphrase)),
              1);
    BIO_free(out);
    EVP_PKEY_free(key);
  }
  tls_server_options locked;
  locked.certificates = {{files().cert, encrypted_key}};
  EXPECT_EQ(tls_context::server(locked).error(), errc::tls_bad_key);
  tls_client_options bad_ca;
  bad_ca.ca_file = files().directory + "/nope-ca.pem";
  EXPECT_EQ(tls_context::client(bad_ca).error(), errc::tls_bad_certificate);
  // A plain stream has no TLS state.
  auto [a, b] = memory_pair();
  EXPECT_FALSE(tls_info(a).is_tls);
  EXPECT_FALSE(a.is_tls());
}

TEST_F(Tls, HandshakeAndEchoOverMemoryPipes) {
  auto loop = make_loop();
  auto [c, s] = memory_pair();
  tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), server_context());
  echo_through(*loop, pair, pattern_bytes(300 * 1024));
  const tls_state client = tls_info(pair.client->s());
  const tls_state server = tls_info(pair.server->s());
  EXPECT_TRUE(client.is_tls && client.handshake_done);
  EXPECT_EQ(client.version, "TLSv1.3");
  EXPECT_EQ(client.alpn, "http/1.1");
  EXPECT_EQ(server.alpn, "http/1.1");
  EXPECT_EQ(server.server_name, "localhost");
  EXPECT_FALSE(server.cipher.empty());
  EXPECT_FALSE(client.resumed);
}

TEST_F(Tls, EveryWouldBlockPathWithTinyPipes) {
  auto loop = make_loop();
  memory_faults tiny;
  tiny.capacity = 97;
  tiny.max_write = 13;
  tiny.max_read = 7;
  auto [c, s] = memory_pair(tiny, tiny);
  tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), server_context());
  echo_through(*loop, pair, pattern_bytes(200 * 1024, 7));
}

TEST_F(Tls, WritevGathersIntoOneRecord) {
  auto loop = make_loop();
  auto [c, s] = memory_pair();
  tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), server_context());
  echo_through(*loop, pair, pattern_bytes(100 * 1024, 3), true);

  // A head and a body in one writev leave as one TLS 1.3 record: 5 bytes of header, the
  // plaintext, its content type byte and a 16-byte tag.
  auto [c2, s2] = memory_pair();
  tls_pair second = wrap_pair(std::move(c2), std::move(s2), client_context(), server_context(),
                              "localhost", false);
  second.client->start(*loop);
  second.server->start(*loop);
  second.client->send("x");
  ASSERT_TRUE(run_until(*loop, [&] {
    return second.server->received() == "x" && second.client->s().memory().in_flight() == 0;
  }));
  const std::string head(100, 'h');
  const std::string body(200, 'b');
  const std::array<const_buffer, 2> parts{const_buffer(head), const_buffer(body)};
  const io_result wrote = second.client->s().writev(parts);
  ASSERT_TRUE(wrote.done());
  EXPECT_EQ(wrote.bytes, 300u);
  EXPECT_EQ(second.client->s().memory().in_flight(), 300u + 22u);
  EXPECT_TRUE(run_until(*loop, [&] { return second.server->received() == "x" + head + body; }));
}

// The watch callback reports the direction the caller waits for: a server whose read had to
// write (its handshake flight did not fit) is told "readable" when the pipe has room again, and
// a client whose write had to read (its handshake) is told "writable" when the answer arrives.
TEST_F(Tls, ReadinessIsTranslated) {
  auto loop = make_loop();
  memory_faults narrow;
  narrow.capacity = 40;
  auto [c, s] = memory_pair({}, narrow);
  auto client = tls_connect(std::move(c), client_context(), "localhost");
  auto server = tls_accept(std::move(s), server_context());
  ASSERT_TRUE(client && server);
  readiness client_seen = readiness::none;
  readiness server_seen = readiness::none;
  ASSERT_FALSE(client->watch(*loop, [&](readiness bits) { client_seen |= bits; }));
  ASSERT_FALSE(server->watch(*loop, [&](readiness bits) { server_seen |= bits; }));
  loop->run_until_idle();
  std::array<char, 256> buffer;

  // The client's write sends its ClientHello, then must read the server's answer.
  ASSERT_TRUE(client->write("hello").would_block());
  EXPECT_FALSE(client->writable());
  loop->run_until_idle();
  client_seen = server_seen = readiness::none;
  // The server's read takes the ClientHello and must write more than the pipe holds.
  ASSERT_TRUE(server->read(buffer).would_block());
  EXPECT_FALSE(server->readable()) << "nothing to read and no room to write";
  loop->run_until_idle();
  EXPECT_TRUE(has(client_seen, readiness::writable)) << "the answer arrived: the write may go on";
  EXPECT_TRUE(client->writable());
  server_seen = readiness::none;
  // The client's write takes in the first 40 bytes: room for the server's next ones.
  ASSERT_TRUE(client->write("hello").would_block());
  loop->run_until_idle();
  EXPECT_TRUE(has(server_seen, readiness::readable)) << "room again: the read may go on";
  EXPECT_TRUE(server->readable());
}

// The same translation for streams watched before they were wrapped.
TEST_F(Tls, ReadinessIsTranslatedForStreamsWatchedBeforeWrapping) {
  auto loop = make_loop();
  memory_faults narrow;
  narrow.capacity = 40;
  auto [c, s] = memory_pair({}, narrow);
  readiness client_seen = readiness::none;
  readiness server_seen = readiness::none;
  ASSERT_FALSE(c.watch(*loop, [&](readiness bits) { client_seen |= bits; }));
  ASSERT_FALSE(s.watch(*loop, [&](readiness bits) { server_seen |= bits; }));
  auto client = tls_connect(std::move(c), client_context(), "localhost");
  auto server = tls_accept(std::move(s), server_context());
  ASSERT_TRUE(client && server);
  loop->run_until_idle();
  std::array<char, 256> buffer;
  ASSERT_TRUE(client->write("hello").would_block());
  loop->run_until_idle();
  ASSERT_TRUE(server->read(buffer).would_block());
  loop->run_until_idle();
  client_seen = server_seen = readiness::none;
  ASSERT_TRUE(client->write("hello").would_block());
  loop->run_until_idle();
  EXPECT_TRUE(has(server_seen, readiness::readable)) << "room again: the read may go on";
}

// A read that returned bytes and then found close_notify queues a wake of its own; a stream
// watched on another loop before that wake came gets it from the new loop, never the old one.
TEST_F(Tls, WakeFollowsTheStreamToItsNewLoop) {
  auto first = make_loop();
  auto second = make_loop();
  auto [c, s] = memory_pair();
  tls_pair pair =
      wrap_pair(std::move(c), std::move(s), client_context(), server_context(), "localhost", false);
  pair.client->start(*first);
  pair.server->start(*first);
  pair.client->send("x");
  ASSERT_TRUE(run_until(*first, [&] { return pair.server->received() == "x"; }));
  stream& server = pair.server->s();
  ASSERT_FALSE(server.watch(*first, [](readiness) {}));
  ASSERT_TRUE(pair.client->s().write("data").done());
  ASSERT_FALSE(pair.client->s().shutdown_write());
  std::array<char, 256> buffer;
  const io_result got = server.read(buffer);
  ASSERT_TRUE(got.done());
  ASSERT_EQ(std::string(buffer.data(), got.bytes), "data");
  const event_loop* running = nullptr;
  std::vector<const event_loop*> called_from;
  ASSERT_FALSE(server.watch(*second, [&](readiness bits) {
    if (has(bits, readiness::readable)) called_from.push_back(running);
  }));
  running = first.get();
  first->run_until_idle();
  EXPECT_TRUE(called_from.empty()) << "the old loop delivered the wake";
  running = second.get();
  second->run_until_idle();
  ASSERT_FALSE(called_from.empty());
  for (const event_loop* from : called_from) EXPECT_EQ(from, second.get());
  EXPECT_TRUE(server.read(buffer).eof());
}

// A client that writes first and whose callback reads before writing: its write waits for the
// server's answer, but the read takes that answer and finishes the handshake. The write may go on
// now, and writable() and a notification must say so, though the pipe's readiness never changed.
TEST_F(Tls, ReadThatFinishesTheHandshakeReleasesTheWaitingWrite) {
  auto loop = make_loop();
  auto [c, s] = memory_pair();
  auto client = tls_connect(std::move(c), client_context(), "localhost");
  auto server = tls_accept(std::move(s), server_context());
  ASSERT_TRUE(client && server);
  readiness client_seen = readiness::none;
  ASSERT_FALSE(client->watch(*loop, [&](readiness bits) { client_seen |= bits; }));
  ASSERT_FALSE(server->watch(*loop, [](readiness) {}));
  loop->run_until_idle();
  std::array<char, 256> buffer;
  ASSERT_TRUE(client->write("hello").would_block()) << "the ClientHello, then the answer";
  ASSERT_TRUE(server->read(buffer).would_block()) << "the server's flight";
  loop->run_until_idle();
  client_seen = readiness::none;
  ASSERT_TRUE(client->read(buffer).would_block()) << "the handshake ends; no data yet";
  ASSERT_TRUE(tls_info(*client).handshake_done);
  EXPECT_TRUE(client->writable());
  loop->run_until_idle();
  EXPECT_TRUE(has(client_seen, readiness::writable)) << "nothing else will tell the caller";
  const io_result wrote = client->write("hello");
  ASSERT_TRUE(wrote.done());
  EXPECT_EQ(wrote.bytes, 5u);
  std::string got;
  EXPECT_TRUE(run_until(*loop, [&] {
    const io_result r = server->read(buffer);
    if (r.done()) got.append(buffer.data(), r.bytes);
    return got == "hello";
  }));
}

// A client uploads before its first read, and the server answers early (a 413) and stops
// reading: with the upload stuck in a full pipe the client must still see the answer.
TEST_F(Tls, ClientUploadingBeforeItsFirstReadSeesAnEarlyAnswer) {
  auto loop = make_loop();
  memory_faults narrow;
  narrow.capacity = 8 * 1024;
  auto [c, s] = memory_pair(narrow, {});
  auto client = tls_connect(std::move(c), client_context(), "localhost");
  auto server = tls_accept(std::move(s), server_context());
  ASSERT_TRUE(client && server);
  ASSERT_FALSE(client->watch(*loop, [](readiness) {}));
  ASSERT_FALSE(server->watch(*loop, [](readiness) {}));
  std::array<char, 256> buffer;
  const std::string upload = pattern_bytes(1024 * 1024, 5);
  std::size_t sent = 0;
  bool answered = false;
  const std::string answer = "HTTP/1.1 413 Content Too Large\r\n\r\n";
  // The client only writes; the server reads until the handshake is done and a first byte came,
  // then answers and reads no more.
  bool client_stuck = false;
  for (int round = 0; round < 1000 && !(answered && client_stuck); ++round) {
    const io_result w = client->write({upload.data() + sent, upload.size() - sent});
    ASSERT_FALSE(w.failed()) << w.error().message();
    if (w.done()) sent += w.bytes;
    // Only a write after the answer can have filled the pipe for good.
    client_stuck = answered && w.would_block();
    if (!answered) {
      const io_result r = server->read(buffer);
      ASSERT_FALSE(r.failed()) << r.error().message();
      if (r.done() && r.bytes > 0) answered = server->write(answer).done();
    }
    loop->run_until_idle();
  }
  ASSERT_TRUE(answered && client_stuck);
  ASSERT_LT(sent, upload.size());
  ASSERT_EQ(client->memory().in_flight(), narrow.capacity) << "the upload fills the pipe";
  EXPECT_TRUE(client->readable()) << "the answer waits in the pipe";
  const io_result r = client->read(buffer);
  ASSERT_TRUE(r.done()) << (r.failed() ? r.error().message() : "would_block");
  EXPECT_EQ(std::string(buffer.data(), r.bytes), answer);
}

// A connected (client, server) pair of plain streams (TCP over loopback, or Unix).
std::pair<stream, stream> tcp_pair(event_loop& loop, listener& server) {
  auto connected = connect(server.local_address());
  EXPECT_TRUE(connected) << connected.error().message();
  stream accepted;
  EXPECT_TRUE(run_until(loop, [&] {
    auto got = server.accept();
    if (got) accepted = std::move(*got);
    return accepted.is_open();
  }));
  return {connected ? std::move(*connected) : stream{}, std::move(accepted)};
}

// The client's socket sends FIN without close_notify after the handshake: the server must report
// tls_truncated, not EOF, or a cut-off response would pass for a whole one.
void expect_fin_without_close_notify_is_truncation(event_loop& loop, listener& server) {
  auto [c, s] = tcp_pair(loop, server);
  tls_pair pair =
      wrap_pair(std::move(c), std::move(s), client_context(), server_context(), "localhost", false);
  ASSERT_NO_FATAL_FAILURE(start_and_greet(loop, pair));
  ASSERT_EQ(::shutdown(pair.client->s().native_handle(), SHUT_WR), 0);
  EXPECT_TRUE(run_until(loop, [&] { return pair.server->eof() || pair.server->failed(); }));
  EXPECT_EQ(pair.server->error(), errc::tls_truncated) << pair.server->error().message();
}

// The same FIN without close_notify after a request (a client's shutdown(SHUT_WR), as plain HTTP
// clients half-close): the server reads tls_truncated but can still answer what it received.
// OpenSSL's default takes that EOF for a fatal error: it sent a decode_error alert and refused
// every later write, so the client got the alert instead of its answer.
void expect_answer_after_fin_without_close_notify(event_loop& loop, listener& server) {
  auto [c, s] = tcp_pair(loop, server);
  tls_pair pair =
      wrap_pair(std::move(c), std::move(s), client_context(), server_context(), "localhost", false);
  ASSERT_NO_FATAL_FAILURE(start_and_greet(loop, pair, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_EQ(::shutdown(pair.client->s().native_handle(), SHUT_WR), 0);
  EXPECT_TRUE(run_until(loop, [&] { return pair.server->eof() || pair.server->failed(); }));
  EXPECT_EQ(pair.server->error(), errc::tls_truncated) << pair.server->error().message();
  const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  std::size_t sent = 0;
  std::error_code write_failure;
  EXPECT_TRUE(run_until(loop, [&] {
    stream& out = pair.server->s();
    if (sent < answer.size() && !write_failure && out.writable()) {
      const io_result wrote = out.write(std::string_view(answer).substr(sent));
      if (wrote.done()) sent += wrote.bytes;
      if (wrote.failed()) write_failure = wrote.error();
    }
    return pair.client->received() == answer || pair.client->failed() ||
           static_cast<bool>(write_failure);
  }));
  EXPECT_FALSE(write_failure) << write_failure.message();
  EXPECT_FALSE(pair.client->failed()) << pair.client->error().message();
  EXPECT_EQ(pair.client->received(), answer);
}

listener tcp_listener() {
  auto made = listener::listen("127.0.0.1:0");
  EXPECT_TRUE(made) << made.error().message();
  return made ? std::move(*made) : listener{};
}

TEST_F(Tls, HandshakeAndEchoOverTcp) {
  auto loop = make_loop();
  listener server = tcp_listener();
  auto [c, s] = tcp_pair(*loop, server);
  tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), server_context());
  echo_through(*loop, pair, pattern_bytes(2 * 1024 * 1024, 5));
  EXPECT_EQ(tls_info(pair.client->s()).version, "TLSv1.3");
  EXPECT_EQ(tls_info(pair.server->s()).server_name, "localhost");
}

TEST_F(Tls, HandshakeAndEchoOverUnixSockets) {
  auto loop = make_loop();
  taut::transport::testing::temp_dir dir;
  auto where = address::parse(dir.file("tls.sock"));
  ASSERT_TRUE(where) << where.error().message();
  auto made = listener::listen(*where);
  ASSERT_TRUE(made) << made.error().message();
  listener server = std::move(*made);
  auto [c, s] = tcp_pair(*loop, server);
  EXPECT_EQ(s.kind(), transport_kind::unix_socket);
  tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), server_context());
  echo_through(*loop, pair, pattern_bytes(600 * 1024, 19));
}

// The name the server saw in SNI once "ping" went through, the client having connected to
// `name` over `ends` (client first).
std::string server_name_after_ping(event_loop& loop, std::pair<stream, stream> ends,
                                   std::string_view name) {
  tls_pair pair = wrap_pair(std::move(ends.first), std::move(ends.second), client_context(),
                            server_context(), name);
  echo_through(loop, pair, "ping");
  if (!pair.server) return "(no server stream)";
  return std::string(tls_info(pair.server->s()).server_name);
}

TEST_F(Tls, IpAddressNameIsCheckedAsAnAddressAndNotSentAsSni) {
  auto loop = make_loop();
  listener server = tcp_listener();
  EXPECT_EQ(server_name_after_ping(*loop, tcp_pair(*loop, server), "127.0.0.1"), "");
}

// The root's trailing dot and an IPv6 zone are not part of the name the certificate is checked
// against, nor of the SNI sent.
TEST_F(Tls, TrailingDotAndIpv6ZoneAreLeftOut) {
  auto loop = make_loop();
  EXPECT_EQ(server_name_after_ping(*loop, memory_pair(), "localhost."), "localhost");
  EXPECT_EQ(server_name_after_ping(*loop, memory_pair(), "[::1%lo]"), "");
}

TEST_F(Tls, SendfileOverTls) {
  auto loop = make_loop();
  taut::transport::testing::temp_dir dir;
  const std::string content = pattern_bytes(1024 * 1024 + 123, 9);
  const int fd = open_file_with(dir, content);
  ASSERT_GE(fd, 0);
  for (const bool over_tcp : {false, true}) {
    SCOPED_TRACE(over_tcp ? "tcp" : "memory");
    std::optional<listener> server;
    std::pair<stream, stream> raw;
    if (over_tcp) {
      server.emplace(tcp_listener());
      raw = tcp_pair(*loop, *server);
    } else {
      memory_faults small;
      small.capacity = 5000;
      raw = memory_pair(small, small);
    }
    tls_pair pair = wrap_pair(std::move(raw.first), std::move(raw.second), client_context(),
                              server_context(), "localhost", false);
    pair.client->start(*loop);
    const std::error_code failure = sendfile_to_client(*loop, pair, fd, content.size());
    EXPECT_FALSE(failure) << failure.message();
    EXPECT_TRUE(pair.client->received() == content);
  }
  ::close(fd);
}

TEST_F(Tls, CloseNotifyIsEofAndEofWithoutItIsTruncation) {
  auto loop = make_loop();
  listener server = tcp_listener();
  // close(): close_notify first, so the peer reads EOF.
  {
    auto [c, s] = tcp_pair(*loop, server);
    tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), server_context(),
                              "localhost", false);
    ASSERT_NO_FATAL_FAILURE(start_and_greet(*loop, pair));
    (void)pair.client->s().close();
    EXPECT_TRUE(run_until(*loop, [&] { return pair.server->eof() || pair.server->failed(); }));
    EXPECT_TRUE(pair.server->eof()) << pair.server->error().message();
  }
  expect_fin_without_close_notify_is_truncation(*loop, server);
  expect_answer_after_fin_without_close_notify(*loop, server);
}

TEST_F(Tls, ShutdownWriteSendsCloseNotifyAndKeepsReading) {
  auto loop = make_loop();
  memory_faults tiny;
  tiny.capacity = 50;
  auto [c, s] = memory_pair(tiny, tiny);
  tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), server_context());
  // The client half-closes; the server echoes, sees EOF, then half-closes too: the client reads
  // everything and then EOF, through pipes too small for one record.
  echo_through(*loop, pair, pattern_bytes(40000, 11));
}

// The client's verdict and the server's on a handshake that must fail.
struct failed_handshake {
  std::error_code client;
  std::error_code server;
};

failed_handshake handshake_between(const tls_context& client_ctx, const tls_context& server_ctx,
                                   std::string_view name) {
  auto loop = make_loop();
  auto [c, s] = memory_pair();
  tls_pair pair = wrap_pair(std::move(c), std::move(s), client_ctx, server_ctx, name, false);
  pair.client->start(*loop);
  pair.server->start(*loop);
  pair.client->send("hello");
  EXPECT_TRUE(run_until(*loop, [&] {
    return (pair.client->failed() || pair.client->eof()) &&
           (pair.server->failed() || pair.server->eof());
  }));
  return {pair.client->error(), pair.server->error()};
}

TEST_F(Tls, UnknownCa) {
  const failed_handshake result = handshake_between(
      client_context(), server_context({{files().untrusted_cert, files().untrusted_key}}),
      "localhost");
  EXPECT_EQ(result.client, errc::tls_unknown_ca) << result.client.message();
  EXPECT_EQ(result.server, errc::tls_unknown_ca) << result.server.message();
}

TEST_F(Tls, WrongName) {
  const failed_handshake result =
      handshake_between(client_context(), server_context(), "wrong.test");
  EXPECT_EQ(result.client, errc::tls_wrong_name) << result.client.message();
  EXPECT_TRUE(result.server) << "the server learns of it from the client's alert";
  const failed_handshake by_address =
      handshake_between(client_context(), server_context(), "10.9.8.7");
  EXPECT_EQ(by_address.client, errc::tls_wrong_name) << by_address.client.message();
}

// A partial wildcard ("f*.partial.test") names nothing: only a whole leftmost label may be "*".
TEST_F(Tls, PartialWildcardIsRefused) {
  taut::test::tls_cert_request request;
  request.common_name = "partial";
  request.dns_names = {"f*.partial.test"};
  const std::string cert = files().directory + "/partial.pem";
  const std::string key = files().directory + "/partial-key.pem";
  std::string error;
  ASSERT_TRUE(
      taut::test::write_certificate(request, files().ca_cert, files().ca_key, cert, key, &error))
      << error;
  const failed_handshake result =
      handshake_between(client_context(), server_context({{cert, key}}), "foo.partial.test");
  EXPECT_EQ(result.client, errc::tls_wrong_name) << result.client.message();
}

// Checking the chain without a name would accept any certificate the CA ever signed.
TEST_F(Tls, EmptyNameIsRefusedWhenVerifying) {
  auto [c, s] = memory_pair();
  auto refused = tls_connect(std::move(c), client_context(), "");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), std::errc::invalid_argument) << refused.error().message();
  EXPECT_FALSE(c.is_open()) << "refused: the raw stream is closed";

  tls_client_options unverified;
  unverified.verify = false;
  auto no_check = tls_context::client(unverified);
  ASSERT_TRUE(no_check);
  auto loop = make_loop();
  auto [c3, s3] = memory_pair();
  tls_pair pair = wrap_pair(std::move(c3), std::move(s3), *no_check, server_context(), "");
  echo_through(*loop, pair, "no name, no check");
}

TEST_F(Tls, Expired) {
  const failed_handshake result = handshake_between(
      client_context(), server_context({{files().expired_cert, files().expired_key}}), "localhost");
  EXPECT_EQ(result.client, errc::tls_expired) << result.client.message();
  EXPECT_EQ(result.server, errc::tls_expired) << result.server.message();
}

TEST_F(Tls, AlpnMismatch) {
  const failed_handshake result =
      handshake_between(client_context({"h2"}), server_context(), "localhost");
  EXPECT_EQ(result.client, errc::tls_no_application_protocol) << result.client.message();
  EXPECT_EQ(result.server, errc::tls_no_application_protocol) << result.server.message();
  // A client that offers no ALPN is served.
  auto loop = make_loop();
  auto [c, s] = memory_pair();
  tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context({}), server_context());
  echo_through(*loop, pair, "no alpn");
  EXPECT_EQ(tls_info(pair.client->s()).alpn, "");
}

// The default server accepts HTTP/1.0 clients that say so in ALPN ("http/1.0", RFC 7301's
// registry), preferring http/1.1 when a client offers both, and still refuses a client that
// offers only protocols it does not speak (h2).
TEST_F(Tls, DefaultAlpnAcceptsHttp10AndPrefersHttp11) {
  tls_server_options options;  // ALPN left at its default
  options.certificates = {{files().cert, files().key}};
  const auto made = tls_context::server(options);
  ASSERT_TRUE(made) << made.error().message();
  const tls_context& server = *made;
  const struct {
    std::vector<std::string> offered;
    std::string_view chosen;
  } cases[] = {
      {{"http/1.0"}, "http/1.0"},
      {{"http/1.0", "http/1.1"}, "http/1.1"},
      {{"h2", "http/1.1", "http/1.0"}, "http/1.1"},
      {{"h2", "http/1.0"}, "http/1.0"},
  };
  for (const auto& [offered, chosen] : cases) {
    auto loop = make_loop();
    auto [c, s] = memory_pair();
    tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(offered), server);
    echo_through(*loop, pair, "alpn");
    EXPECT_EQ(tls_info(pair.client->s()).alpn, chosen) << offered.front();
    EXPECT_EQ(tls_info(pair.server->s()).alpn, chosen) << offered.front();
  }
  const failed_handshake h2_only = handshake_between(client_context({"h2"}), server, "localhost");
  EXPECT_EQ(h2_only.client, errc::tls_no_application_protocol) << h2_only.client.message();
  EXPECT_EQ(h2_only.server, errc::tls_no_application_protocol) << h2_only.server.message();
}

// A client that does not verify is not told of certificate problems it asked to ignore: the
// server's flight (an expired certificate) is cut short before its Finished, and the client
// reports a failed handshake, not tls_expired.
TEST_F(Tls, UnverifiedClientReportsTheRealFailure) {
  tls_client_options options;
  options.verify = false;
  auto unverified = tls_context::client(options);
  ASSERT_TRUE(unverified);
  const tls_context server_ctx = server_context({{files().expired_cert, files().expired_key}});
  auto [c, relay_to_client] = memory_pair();
  auto [relay_to_server, s] = memory_pair();
  auto client = tls_connect(std::move(c), *unverified, "localhost");
  auto server = tls_accept(std::move(s), server_ctx);
  ASSERT_TRUE(client && server);
  std::array<char, 64 * 1024> buffer;
  ASSERT_TRUE(client->write("hello").would_block());
  io_result hello = relay_to_client.read(buffer);
  ASSERT_TRUE(hello.done());
  ASSERT_TRUE(relay_to_server.write({buffer.data(), hello.bytes}).done());
  ASSERT_TRUE(server->read(buffer).would_block());
  const io_result flight = relay_to_server.read(buffer);
  ASSERT_TRUE(flight.done());
  ASSERT_GT(flight.bytes, 200u);
  // Everything but the end of the Finished record, then the end of the stream.
  ASSERT_TRUE(relay_to_client.write({buffer.data(), flight.bytes - 20}).done());
  ASSERT_FALSE(relay_to_client.shutdown_write());
  const io_result r = client->read(buffer);
  ASSERT_TRUE(r.failed());
  EXPECT_EQ(r.error(), errc::tls_handshake_failed) << r.error().message();
}

TEST_F(Tls, ProtocolTooOld) {
  // A client capped at TLS 1.1, played with OpenSSL directly over a loopback socket.
  auto loop = make_loop();
  listener server = tcp_listener();
  auto [c, s] = tcp_pair(*loop, server);
  auto accepted = tls_accept(std::move(s), server_context());
  ASSERT_TRUE(accepted);
  peer server_peer(std::move(*accepted));
  server_peer.start(*loop);

  SSL_CTX* old = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(old, nullptr);
  SSL_CTX_set_security_level(old, 0);  // TLS 1.0/1.1 need SHA-1, refused at the default level
  SSL_CTX_set_min_proto_version(old, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
  SSL* ssl = SSL_new(old);
  SSL_set_fd(ssl, c.native_handle());
  SSL_set_connect_state(ssl);
  int client_error = 0;
  EXPECT_TRUE(run_until(*loop, [&] {
    if (client_error == 0) {
      const int rc = SSL_do_handshake(ssl);
      const int error = SSL_get_error(ssl, rc);
      if (rc != 1 && error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        client_error = error;
      }
    }
    return client_error != 0 && server_peer.failed();
  }));
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(old);
  EXPECT_EQ(server_peer.error(), errc::tls_protocol_too_old) << server_peer.error().message();
}

// A TLS 1.2 client played with OpenSSL directly on a socket, for what taut's own client never
// does (renegotiate, prefer a weaker cipher).
class openssl_tls12_client {
 public:
  explicit openssl_tls12_client(int fd, const char* cipher_list = nullptr) {
    if (ctx_ == nullptr) return;
    SSL_CTX_set_max_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    if (cipher_list != nullptr && SSL_CTX_set_cipher_list(ctx_, cipher_list) != 1) return;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd);
    SSL_set_connect_state(ssl_);
  }
  openssl_tls12_client(const openssl_tls12_client&) = delete;
  openssl_tls12_client& operator=(const openssl_tls12_client&) = delete;
  ~openssl_tls12_client() {
    ERR_clear_error();  // what the refusals left must not reach the next test
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }

  // Null if OpenSSL refused the set-up (the cipher list, say).
  [[nodiscard]] SSL* ssl() const { return ssl_; }

  // Runs `operation` (an SSL call on ssl()) on the loop until it wants neither to read nor to
  // write; returns SSL_get_error's verdict, 0 for success.
  template <class Operation>
  int step(event_loop& loop, Operation&& operation) {
    int error = 0;
    EXPECT_TRUE(run_until(loop, [&] {
      const int rc = operation();
      error = rc > 0 ? 0 : SSL_get_error(ssl_, rc);
      return error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE;
    }));
    return error;
  }

 private:
  SSL_CTX* ctx_ = SSL_CTX_new(TLS_client_method());
  SSL* ssl_ = nullptr;
};

TEST_F(Tls, RenegotiationIsRefused) {
  // A TLS 1.2 client played with OpenSSL directly asks to renegotiate after the handshake.
  auto loop = make_loop();
  listener server = tcp_listener();
  auto [c, s] = tcp_pair(*loop, server);
  auto accepted = tls_accept(std::move(s), server_context());
  ASSERT_TRUE(accepted);
  peer server_peer(std::move(*accepted), true);
  server_peer.start(*loop);

  openssl_tls12_client client(c.native_handle());
  SSL* ssl = client.ssl();
  ASSERT_NE(ssl, nullptr);
  ASSERT_EQ(client.step(*loop, [&] { return SSL_do_handshake(ssl); }), 0);
  EXPECT_STREQ(SSL_get_version(ssl), "TLSv1.2");
  ASSERT_EQ(SSL_renegotiate(ssl), 1);
  const int refused = client.step(*loop, [&] { return SSL_do_handshake(ssl); });
  EXPECT_NE(refused, 0) << "the server must not renegotiate";
  if (refused == SSL_ERROR_SSL) {
    EXPECT_EQ(ERR_GET_REASON(ERR_peek_error()), SSL_R_NO_RENEGOTIATION);
  }
}

// TLS 1.2 tickets rotate too (a client may reuse a TLS 1.2 ticket, so the server renews it only
// when the retired key decrypted it): a client played with OpenSSL keeps its session by hand.
TEST_F(Tls, TicketKeysRotateForTls12) {
  manual_clock time;
  tls_server_options options;
  options.certificates = {{files().cert, files().key}};
  options.ticket_key_interval = 1h;
  options.ticket_clock = &time;
  const auto server_ctx = tls_context::server(options);
  ASSERT_TRUE(server_ctx);
  auto loop = make_loop();
  listener server = tcp_listener();
  SSL_SESSION* kept = nullptr;
  // One connection offering `kept`; keeps the session it ends with. Whether it resumed.
  const auto resumes = [&] {
    auto [c, s] = tcp_pair(*loop, server);
    auto accepted = tls_accept(std::move(s), *server_ctx);
    EXPECT_TRUE(accepted);
    if (!accepted) return false;
    peer server_peer(std::move(*accepted), true);
    server_peer.start(*loop);
    openssl_tls12_client client(c.native_handle());
    SSL* ssl = client.ssl();
    if (kept != nullptr) SSL_set_session(ssl, kept);
    EXPECT_EQ(client.step(*loop, [&] { return SSL_do_handshake(ssl); }), 0);
    EXPECT_STREQ(SSL_get_version(ssl), "TLSv1.2");
    const bool reused = SSL_session_reused(ssl) == 1;
    SSL_SESSION_free(kept);
    kept = SSL_get1_session(ssl);
    // Ended as if by close_notify: OpenSSL marks the session of a connection freed without it
    // not resumable.
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    server_peer.s().unwatch();
    return reused;
  };
  EXPECT_FALSE(resumes());
  EXPECT_TRUE(resumes()) << "the current key decrypts";
  time.advance(1h);
  EXPECT_TRUE(resumes()) << "the retired key decrypts, and the ticket is renewed";
  time.advance(1h);
  EXPECT_TRUE(resumes()) << "the renewed ticket's key just retired";
  time.advance(2h);
  EXPECT_FALSE(resumes()) << "both keys are gone";
  SSL_SESSION_free(kept);
}

// The server's cipher order wins: a TLS 1.2 client (played with OpenSSL) listing CBC with SHA-1
// first still gets AES-GCM.
TEST_F(Tls, ServerChoosesTheCipher) {
  auto loop = make_loop();
  listener server = tcp_listener();
  auto [c, s] = tcp_pair(*loop, server);
  auto accepted = tls_accept(std::move(s), server_context());
  ASSERT_TRUE(accepted);
  peer server_peer(std::move(*accepted), true);
  server_peer.start(*loop);
  openssl_tls12_client client(c.native_handle(),
                              "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256");
  SSL* ssl = client.ssl();
  ASSERT_NE(ssl, nullptr);
  EXPECT_EQ(client.step(*loop, [&] { return SSL_do_handshake(ssl); }), 0);
  EXPECT_STREQ(SSL_get_cipher_name(ssl), "ECDHE-ECDSA-AES128-GCM-SHA256");
}

// Another library's error left in the thread's OpenSSL error queue does not turn a would_block
// into a failure; and abort() sends no close_notify: the peer sees a reset.
TEST_F(Tls, ForeignErrorsAndAbort) {
  auto loop = make_loop();
  auto [c, s] = memory_pair();
  tls_pair pair =
      wrap_pair(std::move(c), std::move(s), client_context(), server_context(), "localhost", false);
  pair.client->start(*loop);
  pair.server->start(*loop);
  pair.client->send("hello");
  ASSERT_TRUE(run_until(*loop, [&] { return pair.server->received() == "hello"; }));
  // Nothing more to read: would_block, whatever the queue holds.
  ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
  std::array<char, 64> buffer;
  const io_result nothing = pair.server->s().read(buffer);
  EXPECT_TRUE(nothing.would_block()) << nothing.error().message();
  ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
  pair.client->send(" again");
  ASSERT_TRUE(run_until(*loop, [&] {
    return pair.server->received() == "hello again" || pair.server->failed() ||
           pair.client->failed();
  }));
  EXPECT_FALSE(pair.server->failed()) << pair.server->error().message();
  EXPECT_FALSE(pair.client->failed()) << pair.client->error().message();
  ERR_clear_error();
  pair.client->s().abort();
  EXPECT_TRUE(run_until(*loop, [&] { return pair.server->failed() || pair.server->eof(); }));
  EXPECT_EQ(pair.server->error(), std::errc::connection_reset) << pair.server->error().message();
}

TEST_F(Tls, SniChoosesTheSecondCertificate) {
  const tls_context two =
      server_context({{files().cert, files().key}, {files().other_cert, files().other_key}});
  for (const char* name : {"other.test", "www.other.test", "localhost"}) {
    SCOPED_TRACE(name);
    auto loop = make_loop();
    auto [c, s] = memory_pair();
    // The client checks the certificate against the name: only the right one passes.
    tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), two, name);
    echo_through(*loop, pair, "sni");
    EXPECT_EQ(tls_info(pair.server->s()).server_name, name);
  }
  // With the localhost certificate alone, other.test is refused: the choice above was real.
  const failed_handshake refused =
      handshake_between(client_context(), server_context(), "other.test");
  EXPECT_EQ(refused.client, errc::tls_wrong_name);
}

TEST_F(Tls, SessionResumption) {
  const tls_context server_ctx = server_context();
  const tls_context client_ctx = client_context();
  for (int round = 0; round < 2; ++round) {
    auto loop = make_loop();
    auto [c, s] = memory_pair();
    tls_pair pair = wrap_pair(std::move(c), std::move(s), client_ctx, server_ctx);
    echo_through(*loop, pair, "resume me");
    EXPECT_EQ(tls_info(pair.client->s()).resumed, round == 1) << "round " << round;
    EXPECT_EQ(tls_info(pair.server->s()).resumed, round == 1) << "round " << round;
  }
  // A client without resumption never resumes.
  const tls_context forgetful = client_context({"http/1.1"}, false);
  for (int round = 0; round < 2; ++round) {
    auto loop = make_loop();
    auto [c, s] = memory_pair();
    tls_pair pair = wrap_pair(std::move(c), std::move(s), forgetful, server_ctx);
    echo_through(*loop, pair, "no resumption");
    EXPECT_FALSE(tls_info(pair.client->s()).resumed);
  }
}

// Ticket keys rotate on the context's clock: a ticket resumes while its key encrypts and for one
// interval after it retired, never after; a ticket renewed under a newer key resumes on.
TEST_F(Tls, TicketKeysRotate) {
  manual_clock time;
  tls_server_options options;
  options.certificates = {{files().cert, files().key}};
  options.ticket_key_interval = 1h;
  options.ticket_clock = &time;
  const auto server_ctx = tls_context::server(options);
  ASSERT_TRUE(server_ctx) << server_ctx.error().message();
  const auto resumes = [&](const tls_context& client_ctx) {
    auto loop = make_loop();
    auto [c, s] = memory_pair();
    tls_pair pair = wrap_pair(std::move(c), std::move(s), client_ctx, *server_ctx);
    echo_through(*loop, pair, "ticket");
    EXPECT_EQ(tls_info(pair.client->s()).resumed, tls_info(pair.server->s()).resumed);
    return tls_info(pair.server->s()).resumed;
  };
  // Each client holds the ticket of its last connection (one server name).
  const tls_context regular = client_context();
  const tls_context late = client_context();
  const tls_context too_late = client_context();
  for (const tls_context* client : {&regular, &late, &too_late}) EXPECT_FALSE(resumes(*client));
  EXPECT_TRUE(resumes(regular)) << "the current key decrypts";
  time.advance(1h);
  EXPECT_TRUE(resumes(regular)) << "the retired key still decrypts";
  time.advance(59min);
  EXPECT_TRUE(resumes(late)) << "a ticket just under two intervals old";
  time.advance(1min);
  EXPECT_FALSE(resumes(too_late)) << "the first key is gone";
  EXPECT_TRUE(resumes(regular)) << "its ticket was renewed under the second key";
  // An idle server's first handshake after two intervals retires every key it had.
  time.advance(2h);
  EXPECT_FALSE(resumes(regular));
  EXPECT_TRUE(resumes(regular));
}

// The client keeps sessions for its 32 most recently used server names only.
TEST_F(Tls, SessionCacheKeepsTheRecentNames) {
  const tls_context server_ctx = server_context();
  tls_client_options options;
  options.verify = false;  // names the certificate does not carry
  auto client_ctx = tls_context::client(options);
  ASSERT_TRUE(client_ctx);
  const auto resumed = [&](const std::string& name) {
    auto loop = make_loop();
    auto [c, s] = memory_pair();
    tls_pair pair = wrap_pair(std::move(c), std::move(s), *client_ctx, server_ctx, name);
    echo_through(*loop, pair, "hi");
    return tls_info(pair.client->s()).resumed;
  };
  for (int i = 0; i < 40; ++i) EXPECT_FALSE(resumed("n" + std::to_string(i) + ".test"));
  EXPECT_TRUE(resumed("n39.test"));
  EXPECT_TRUE(resumed("n8.test"));
  EXPECT_FALSE(resumed("n7.test")) << "the 33rd most recent name was forgotten";
}

TEST_F(Tls, GarbageBeforeTheHandshake) {
  for (const std::string& garbage :
       {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), std::string(5000, '\x16'),
        std::string("\x16\x03\x01\x00\x05hello", 10), pattern_bytes(70000, 13)}) {
    auto loop = make_loop();
    auto [c, s] = memory_pair();
    auto accepted = tls_accept(std::move(s), server_context());
    ASSERT_TRUE(accepted);
    peer server_peer(std::move(*accepted));
    server_peer.start(*loop);
    (void)c.write(garbage);
    (void)c.shutdown_write();
    EXPECT_TRUE(run_until(*loop, [&] { return server_peer.failed() || server_peer.eof(); }));
    EXPECT_EQ(server_peer.error(), errc::tls_handshake_failed) << server_peer.error().message();
  }
  // The client side: a "server" that answers with plain HTTP.
  auto loop = make_loop();
  auto [c, s] = memory_pair();
  auto connected = tls_connect(std::move(c), client_context(), "localhost");
  ASSERT_TRUE(connected);
  peer client_peer(std::move(*connected));
  client_peer.start(*loop);
  client_peer.send("x");
  (void)s.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(run_until(*loop, [&] { return client_peer.failed() || client_peer.eof(); }));
  EXPECT_EQ(client_peer.error(), errc::tls_handshake_failed) << client_peer.error().message();
}

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  std::size_t resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// A record header and a ClientHello header declaring 128 KiB (OpenSSL's own limit), and nothing
// more: OpenSSL would grow its buffer to 128 KiB and hold it until the connection times out.
TEST_F(Tls, OversizedHandshakeMessageIsRefusedBeforeOpenSslAllocatesForIt) {
  const tls_context server_ctx = server_context();
  const auto refused = [&](std::string_view bytes) {
    auto [c, s] = memory_pair();
    auto server = tls_accept(std::move(s), server_ctx);
    EXPECT_TRUE(server);
    EXPECT_TRUE(c.write(bytes).done());
    std::array<char, 256> buffer;
    const io_result r = server->read(buffer);
    return r.failed() && r.error() == errc::tls_handshake_failed;
  };
  using namespace std::string_view_literals;
  EXPECT_TRUE(refused("\x16\x03\x01\x00\x04\x01\x02\x01\x44"sv));
  // The same message header split over two records.
  EXPECT_TRUE(refused("\x16\x03\x01\x00\x01\x01\x16\x03\x01\x00\x03\x02\x01\x44"sv));
  // 16 KiB is still let through to OpenSSL, which waits for the rest.
  EXPECT_FALSE(refused("\x16\x03\x01\x00\x04\x01\x00\x40\x00"sv));

  if (under_asan) {
    GTEST_SKIP() << "the sanitizer runtime owns malloc: heap figures mean nothing here";
  }
  // What 1,000 such connections hold, still open, against 1,000 that declared a small ClientHello
  // and wait for the rest of it.
  struct held {
    std::size_t heap;
    std::size_t resident;
  };
  const auto hold = [&](std::string_view bytes) {
    constexpr std::size_t count = 1000;
    std::vector<stream> streams;
    streams.reserve(2 * count);
    const std::size_t heap_before = ::mallinfo2().uordblks;
    const std::size_t resident_before = resident_bytes();
    for (std::size_t i = 0; i < count; ++i) {
      auto [c, s] = memory_pair();
      auto server = tls_accept(std::move(s), server_ctx);
      EXPECT_TRUE(server);
      if (!server) break;
      EXPECT_TRUE(c.write(bytes).done());
      std::array<char, 256> buffer;
      (void)server->read(buffer);
      streams.push_back(std::move(c));
      streams.push_back(std::move(*server));
    }
    return held{(::mallinfo2().uordblks - heap_before) / count,
                (resident_bytes() - resident_before) / count};
  };
  (void)hold("\x16\x03\x01\x00\x04\x01\x00\x02\x00"sv);  // warm-up
  const held small = hold("\x16\x03\x01\x00\x04\x01\x00\x02\x00"sv);
  const held large = hold("\x16\x03\x01\x00\x04\x01\x02\x01\x44"sv);
  std::printf(
      "[ memory   ] per connection, 1,000 open: a 9-byte 128 KiB ClientHello header holds %zu "
      "bytes of heap (%zu resident), a 512-byte one %zu (%zu resident)\n",
      large.heap, large.resident, small.heap, small.resident);
  EXPECT_LT(large.heap, small.heap + 8 * 1024);
}

// Copies what `from` has received into `to` (both raw memory streams, unwatched): the test stands
// between a TLS client and a TLS server and may add bytes of its own.
void relay(stream& from, stream& to) {
  std::array<char, 64 * 1024> buffer;
  for (;;) {
    const io_result got = from.read(buffer);
    if (!got.done() || got.bytes == 0) return;
    const io_result put = to.write({buffer.data(), got.bytes});
    ASSERT_TRUE(put.done() && put.bytes == got.bytes);
  }
}

// The server's verdict on a connection whose client finished the handshake and then, in the same
// flight as its Finished, did `after_finished` to the server's raw stream: the server's one read
// finishes the handshake and meets the failure.
std::error_code failure_right_after_finished(bool tickets,
                                             const std::function<void(stream&)>& after_finished) {
  auto [client_raw, client_relay] = memory_pair();
  auto [server_relay, server_raw] = memory_pair();
  tls_server_options options;
  options.certificates = {{files().cert, files().key}};
  options.session_tickets = tickets;
  const auto server_ctx = tls_context::server(options);
  EXPECT_TRUE(server_ctx);
  auto client = tls_connect(std::move(client_raw), client_context(), "localhost");
  auto server = tls_accept(std::move(server_raw), *server_ctx);
  EXPECT_TRUE(client && server);
  if (!client || !server) return {};
  std::array<char, 256> buffer;
  EXPECT_TRUE(client->read(buffer).would_block());  // the ClientHello
  relay(client_relay, server_relay);
  EXPECT_TRUE(server->read(buffer).would_block());  // the server's flight up to its Finished
  relay(server_relay, client_relay);
  EXPECT_TRUE(client->read(buffer).would_block());  // the client's Finished
  EXPECT_TRUE(tls_info(*client).handshake_done);
  EXPECT_FALSE(tls_info(*server).handshake_done);
  relay(client_relay, server_relay);
  after_finished(server_relay);
  const io_result verdict = server->read(buffer);
  EXPECT_TRUE(verdict.failed());
  // Sticky: the next read says the same.
  EXPECT_EQ(server->read(buffer).error(), verdict.error());
  EXPECT_TRUE(tls_info(*server).handshake_done) << "the handshake itself succeeded";
  return verdict.error();
}

TEST_F(Tls, FailureInTheCallThatFinishedTheHandshakeIsNamedForAfterIt) {
  // A record that does not decrypt: a protocol error, not a failed handshake.
  const auto bad_record = [](stream& raw) {
    const std::array<char, 10> record{0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5};
    EXPECT_TRUE(raw.write({record.data(), record.size()}).done());
  };
  for (const bool tickets : {true, false}) {
    const std::error_code failure = failure_right_after_finished(tickets, bad_record);
    EXPECT_EQ(failure, errc::tls_protocol_error) << failure.message() << " tickets " << tickets;
  }
  // The stream ends without close_notify: truncation.
  const auto end_without_close_notify = [](stream& raw) { EXPECT_FALSE(raw.shutdown_write()); };
  for (const bool tickets : {true, false}) {
    const std::error_code failure = failure_right_after_finished(tickets, end_without_close_notify);
    EXPECT_EQ(failure, errc::tls_truncated) << failure.message() << " tickets " << tickets;
  }
}

// The caller shuts down instead of retrying a write that blocked halfway through its record (found
// by fuzz_tls's established mode): the rest of the record goes, then close_notify, and the peer
// reads every byte of it and a clean EOF. Before, OpenSSL refused close_notify behind the record
// (bad write retry), the peer saw a cut record, and the writer's reads wanted to write forever.
TEST_F(Tls, ShutdownWriteAfterABlockedWriteFinishesTheRecordFirst) {
  memory_faults narrow;
  narrow.capacity = 100;
  auto [client_raw, server_raw] = memory_pair(narrow, {});
  auto client = tls_connect(std::move(client_raw), client_context(), "localhost");
  auto server = tls_accept(std::move(server_raw), server_context());
  ASSERT_TRUE(client && server);
  std::array<char, 32 * 1024> buffer;
  for (int round = 0;
       round < 200 && !(tls_info(*client).handshake_done && tls_info(*server).handshake_done);
       ++round) {
    ASSERT_FALSE(client->read(buffer).failed());
    ASSERT_FALSE(server->read(buffer).failed());
  }
  ASSERT_TRUE(tls_info(*client).handshake_done && tls_info(*server).handshake_done);
  const std::string payload = pattern_bytes(5000, 3);
  ASSERT_TRUE(client->write(payload).would_block());  // 100 bytes of the record in the pipe
  EXPECT_FALSE(client->shutdown_write());
  std::string received;
  bool server_eof = false;
  bool client_eof = false;
  for (int round = 0; round < 500 && !(server_eof && client_eof); ++round) {
    const io_result got = server->read(buffer);
    if (got.done()) received.append(buffer.data(), got.bytes);
    ASSERT_FALSE(got.failed()) << got.error().message() << " after " << received.size();
    if (got.eof() && !server_eof) {
      server_eof = true;
      EXPECT_FALSE(server->shutdown_write());
    }
    const io_result back = client->read(buffer);  // also what moves the client's output on
    ASSERT_FALSE(back.failed()) << back.error().message();
    ASSERT_FALSE(back.done() && back.bytes > 0);
    client_eof = back.eof();
  }
  EXPECT_TRUE(server_eof);
  EXPECT_TRUE(client_eof);
  EXPECT_TRUE(received == payload) << received.size();
}

// A client that negotiated max_fragment_length 512 (OpenSSL servers accept it by default) gets
// records of 512 bytes: a blocked write then has one such record pending, and finishing it before
// close_notify must send that record only. Finishing it with a write of the whole blocked size
// made OpenSSL encrypt the rest of a shared scratch buffer as application data: bytes the
// connection never wrote (another connection's plaintext) reached the peer.
TEST_F(Tls, ShutdownWriteAfterABlockedWriteSendsOnlyTheSmallRecordNegotiated) {
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2");
    auto loop = make_loop();
    listener server = tcp_listener();
    auto [c, s] = tcp_pair(*loop, server);
    // Small socket buffers: the server's write blocks after a few records.
    const int small = 4096;
    ASSERT_EQ(::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    ASSERT_EQ(::setsockopt(c.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    auto accepted = tls_accept(std::move(s), server_context());
    ASSERT_TRUE(accepted);
    stream& tls_server = *accepted;

    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    ASSERT_NE(ctx, nullptr);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL* ssl = SSL_new(ctx);
    ASSERT_NE(ssl, nullptr);
    ASSERT_EQ(SSL_set_tlsext_max_fragment_length(ssl, TLSEXT_max_fragment_length_512), 1);
    SSL_set_fd(ssl, c.native_handle());  // non-blocking, as taut's streams are
    SSL_set_connect_state(ssl);
    std::array<char, 32 * 1024> buffer;
    bool client_done = false;
    for (int round = 0; round < 2000 && !(client_done && tls_info(tls_server).handshake_done);
         ++round) {
      if (!client_done) client_done = SSL_do_handshake(ssl) == 1;
      ASSERT_FALSE(tls_server.read(buffer).failed());
      ERR_clear_error();
    }
    ASSERT_TRUE(client_done && tls_info(tls_server).handshake_done);
    ASSERT_EQ(SSL_SESSION_get_max_fragment_length(SSL_get_session(ssl)),
              TLSEXT_max_fragment_length_512);

    // Large writes until one blocks (the client reads nothing meanwhile).
    const std::string payload = pattern_bytes(64 * 1024, 9);
    std::string sent;
    bool blocked = false;
    for (int round = 0; round < 10000 && !blocked; ++round) {
      const std::size_t from = sent.size() % payload.size();
      const io_result w = tls_server.write({payload.data() + from, payload.size() - from});
      ASSERT_FALSE(w.failed()) << w.error().message();
      blocked = w.would_block();
      if (w.done()) sent.append(payload, from, w.bytes);
      // The record of the blocked write is encrypted already: it goes out before close_notify.
      if (blocked) sent.append(payload, from, 512);
    }
    ASSERT_TRUE(blocked);
    EXPECT_FALSE(tls_server.shutdown_write());

    // The client takes everything: exactly the bytes written (and the blocked record), then
    // close_notify.
    std::string received;
    bool closed = false;
    for (int round = 0; round < 100000 && !closed; ++round) {
      std::size_t got = 0;
      const int rc = SSL_read_ex(ssl, buffer.data(), buffer.size(), &got);
      if (rc == 1) {
        received.append(buffer.data(), got);
      } else {
        const int error = SSL_get_error(ssl, rc);
        closed = error == SSL_ERROR_ZERO_RETURN;
        ASSERT_TRUE(closed || error == SSL_ERROR_WANT_READ) << "error " << error;
      }
      ERR_clear_error();
      ASSERT_FALSE(tls_server.read(buffer).failed());  // moves the server's output on
    }
    EXPECT_TRUE(closed);
    EXPECT_EQ(received.size(), sent.size());
    EXPECT_TRUE(received == sent) << "bytes the server never wrote reached the peer";
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
}

// A raw OpenSSL TLS 1.3 client over memory BIOs, its bytes carried by hand to and from one end of
// a memory pipe, so that a test decides exactly how much of the server's output it takes.
class hand_driven_client {
 public:
  explicit hand_driven_client(stream raw) : raw_(std::move(raw)) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    ssl_ = SSL_new(ctx_);
    SSL_set_bio(ssl_, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_connect_state(ssl_);
  }
  ~hand_driven_client() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  hand_driven_client(const hand_driven_client&) = delete;
  hand_driven_client& operator=(const hand_driven_client&) = delete;

  SSL* ssl() { return ssl_; }

  /// Carries what the client wrote to the server's end.
  void send_out() {
    std::array<char, 4096> chunk;
    int got = 0;
    while ((got = BIO_read(SSL_get_wbio(ssl_), chunk.data(), chunk.size())) > 0) {
      ASSERT_EQ(raw_.write({chunk.data(), static_cast<std::size_t>(got)}).bytes,
                static_cast<std::size_t>(got));
    }
  }
  /// Takes at most `limit` bytes of what the server sent (freeing that much of the pipe) and gives
  /// them to the client's OpenSSL. Returns how many it took.
  std::size_t take_in(std::size_t limit) {
    std::array<char, 4096> chunk;
    std::size_t taken = 0;
    while (taken < limit) {
      const io_result got = raw_.read({chunk.data(), std::min(chunk.size(), limit - taken)});
      if (!got.done() || got.bytes == 0) break;
      BIO_write(SSL_get_rbio(ssl_), chunk.data(), static_cast<int>(got.bytes));
      taken += got.bytes;
    }
    return taken;
  }
  /// Reads what OpenSSL decrypted so far into received(); true once close_notify came. A failure
  /// (a cut or bad record) is a test failure.
  bool read_all() {
    std::array<char, 4096> chunk;
    for (;;) {
      std::size_t got = 0;
      const int rc = SSL_read_ex(ssl_, chunk.data(), chunk.size(), &got);
      if (rc == 1) {
        received_.append(chunk.data(), got);
        continue;
      }
      const int error = SSL_get_error(ssl_, rc);
      ERR_clear_error();
      EXPECT_TRUE(error == SSL_ERROR_WANT_READ || error == SSL_ERROR_ZERO_RETURN)
          << "the client's read failed: SSL error " << error;
      send_out();  // a KeyUpdate answer, if OpenSSL made one
      return error == SSL_ERROR_ZERO_RETURN;
    }
  }
  [[nodiscard]] const std::string& received() const { return received_; }

 private:
  stream raw_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string received_;
};

// After the handshake, the peer asks for a KeyUpdate (SSL_KEY_UPDATE_REQUESTED): the server's next
// write must send its own KeyUpdate before any application data, and here the pipe has no room for
// it, so the write blocks on handshake output, with no record of its own pending. Then the caller
// retries the write, or shuts down instead (the KeyUpdate partly sent, or not at all). Either way
// the peer reads exactly the bytes the writes reported, never the zeros that finish a blocked
// application record (there is none here: blocked_write stays 0 while OpenSSL is in init; counting
// the write as blocked sent its 1000 zeros), then close_notify. Before, a shutdown there sent a
// bare FIN (OpenSSL refuses close_notify while the KeyUpdate is under way): the peer saw a
// truncation, and the server's own reads then failed with EPIPE.
TEST_F(Tls, AWriteBlockedByAKeyUpdateSendsOnlyTheWrittenBytesThenCloseNotify) {
  enum class then { retry, shut_down, shut_down_mid_key_update };
  for (const then next : {then::retry, then::shut_down, then::shut_down_mid_key_update}) {
    SCOPED_TRACE(next == then::retry ? "retry" : next == then::shut_down ? "shut down" : "mid");
    memory_faults narrow;
    narrow.capacity = 2000;
    auto [server_raw, client_raw] = memory_pair(narrow, {});
    auto accepted = tls_accept(std::move(server_raw), server_context());
    ASSERT_TRUE(accepted);
    stream& server = *accepted;
    hand_driven_client client(std::move(client_raw));
    std::array<char, 32 * 1024> buffer;
    bool client_done = false;
    for (int round = 0; round < 200 && !(client_done && tls_info(server).handshake_done); ++round) {
      if (!client_done) client_done = SSL_do_handshake(client.ssl()) == 1;
      ERR_clear_error();
      client.send_out();
      ASSERT_FALSE(server.read(buffer).failed());
      client.take_in(SIZE_MAX);
    }
    ASSERT_TRUE(client_done && tls_info(server).handshake_done);
    ASSERT_FALSE(client.read_all());  // the server's tickets

    // Fill the pipe exactly: write until a write blocks, then free one byte at a time and retry
    // until the blocked record is out. The pipe is then full and nothing of the server's pending.
    const std::string payload = pattern_bytes(3000, 5);
    std::string sent;
    bool blocked = false;
    while (!blocked) {
      const io_result w = server.write({payload.data(), 1500});
      ASSERT_FALSE(w.failed()) << w.error().message();
      blocked = w.would_block();
      if (w.done()) sent.append(payload, 0, w.bytes);
    }
    for (int round = 0; round < 5000; ++round) {
      ASSERT_EQ(client.take_in(1), 1u);
      const io_result w = server.write({payload.data(), 1500});
      ASSERT_FALSE(w.failed()) << w.error().message();
      if (w.done()) {
        sent.append(payload, 0, w.bytes);
        break;
      }
    }

    // The peer asks for a KeyUpdate; the server's read takes it in.
    ASSERT_EQ(SSL_key_update(client.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
    ASSERT_EQ(SSL_do_handshake(client.ssl()), 1);
    client.send_out();
    ASSERT_TRUE(server.read(buffer).would_block());
    ASSERT_EQ(SSL_get_key_update_type(client.ssl()), SSL_KEY_UPDATE_NONE) << "not sent";

    // The server's KeyUpdate has no room: the write blocks on it.
    const std::size_t second = 1000;
    io_result w = server.write({payload.data() + 1500, second});
    ASSERT_TRUE(w.would_block()) << (w.done() ? "written" : w.error().message());
    if (next == then::shut_down_mid_key_update) {
      ASSERT_EQ(client.take_in(10), 10u);  // room for part of the KeyUpdate record
      w = server.write({payload.data() + 1500, second});
      ASSERT_TRUE(w.would_block()) << (w.done() ? "written" : w.error().message());
    }
    if (next == then::retry) {
      for (int round = 0; round < 1000 && !w.done(); ++round) {
        client.take_in(SIZE_MAX);
        (void)client.read_all();
        w = server.write({payload.data() + 1500, second});
        ASSERT_FALSE(w.failed()) << w.error().message();
      }
      ASSERT_TRUE(w.done());
      sent.append(payload, 1500, w.bytes);
    }
    EXPECT_FALSE(server.shutdown_write());

    bool closed = false;
    for (int round = 0; round < 1000 && !closed; ++round) {
      client.take_in(SIZE_MAX);
      closed = client.read_all();
      const io_result r = server.read(buffer);  // also what moves the server's output on
      EXPECT_FALSE(r.failed()) << "the server's read: " << r.error().message();
      if (r.failed()) break;
      ASSERT_FALSE(r.done() && r.bytes > 0);
    }
    EXPECT_TRUE(closed) << "no close_notify reached the peer";
    EXPECT_EQ(client.received().size(), sent.size());
    EXPECT_TRUE(client.received() == sent) << "bytes the server never wrote reached the peer";
  }
}

// The TLS 1.3 tickets a client (played with OpenSSL) receives from a server with `options`: one
// full handshake, then one offering the first ticket. Each count is what arrived after that
// handshake; `resumed` whether the second one resumed.
struct ticket_counts {
  int after_full = 0;
  int after_resumption = 0;
  bool resumed = false;
};

ticket_counts tickets_received(const tls_server_options& options) {
  const auto server_ctx = tls_context::server(options);
  EXPECT_TRUE(server_ctx) << server_ctx.error().message();
  ticket_counts counts;
  if (!server_ctx) return counts;
  SSL_SESSION* kept = nullptr;
  for (int round = 0; round < 2; ++round) {
    auto [server_raw, client_raw] = memory_pair();
    auto accepted = tls_accept(std::move(server_raw), *server_ctx);
    EXPECT_TRUE(accepted);
    if (!accepted) break;
    stream& server = *accepted;
    hand_driven_client client(std::move(client_raw));
    SSL_CTX* client_ctx = SSL_get_SSL_CTX(client.ssl());
    // OpenSSL hands the client each ticket it receives (as a session) once it caches sessions.
    static thread_local int received = 0;
    static thread_local SSL_SESSION* first = nullptr;
    received = 0;
    first = nullptr;
    SSL_CTX_set_session_cache_mode(client_ctx,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(client_ctx, [](SSL*, SSL_SESSION* made) {
      ++received;
      if (first != nullptr) return 0;  // OpenSSL frees it
      first = made;
      return 1;  // kept
    });
    if (kept != nullptr) SSL_set_session(client.ssl(), kept);
    std::array<char, 4096> buffer;
    bool client_done = false;
    for (int step = 0; step < 200 && !(client_done && tls_info(server).handshake_done); ++step) {
      if (!client_done) client_done = SSL_do_handshake(client.ssl()) == 1;
      ERR_clear_error();
      client.send_out();
      EXPECT_FALSE(server.read(buffer).failed());
      client.take_in(SIZE_MAX);
    }
    EXPECT_TRUE(client_done && tls_info(server).handshake_done);
    // The server's tickets follow its Finished; its next write flushes any still queued.
    EXPECT_TRUE(server.write("x").done());
    client.take_in(SIZE_MAX);
    EXPECT_FALSE(client.read_all());
    EXPECT_EQ(client.received(), "x");
    (round == 0 ? counts.after_full : counts.after_resumption) = received;
    if (round == 1) counts.resumed = SSL_session_reused(client.ssl()) == 1;
    SSL_SESSION_free(kept);
    kept = first;
    SSL_set_shutdown(client.ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  SSL_SESSION_free(kept);
  return counts;
}

// A full TLS 1.3 handshake earns one ticket, not OpenSSL's default two: the second ticket's
// making cost about 6% of a full handshake's server instructions and served only a client opening
// two connections at once. The ticket resumes, and the resumption brings a fresh one.
// tickets_per_handshake sets the count; 0 issues none.
TEST_F(Tls, AFullHandshakeIssuesOneTicketByDefault) {
  tls_server_options options;
  options.certificates = {{files().cert, files().key}};
  ticket_counts counts = tickets_received(options);
  EXPECT_EQ(counts.after_full, 1);
  EXPECT_TRUE(counts.resumed);
  EXPECT_EQ(counts.after_resumption, 1);

  options.tickets_per_handshake = 2;
  counts = tickets_received(options);
  EXPECT_EQ(counts.after_full, 2);
  EXPECT_TRUE(counts.resumed);
  EXPECT_EQ(counts.after_resumption, 1);

  options.tickets_per_handshake = 0;
  counts = tickets_received(options);
  EXPECT_EQ(counts.after_full, 0);
  EXPECT_FALSE(counts.resumed);
  EXPECT_EQ(counts.after_resumption, 0);
}

TEST_F(Tls, ConnectedAndLeftWithoutAByteIsEof) {
  auto loop = make_loop();
  auto [c, s] = memory_pair();
  const std::unique_ptr<peer> server_peer = started_server(*loop, std::move(s));
  ASSERT_TRUE(server_peer);
  (void)c.shutdown_write();
  EXPECT_TRUE(run_until(*loop, [&] { return server_peer->failed() || server_peer->eof(); }));
  EXPECT_TRUE(server_peer->eof()) << server_peer->error().message();
}

TEST_F(Tls, MovingStreamsMidHandshake) {
  auto loop = make_loop();
  memory_faults tiny;
  tiny.capacity = 64;
  auto [c, s] = memory_pair(tiny, tiny);
  auto client = tls_connect(std::move(c), client_context(), "localhost");
  auto server = tls_accept(std::move(s), server_context());
  ASSERT_TRUE(client && server);
  std::vector<stream> client_homes(1);
  std::vector<stream> server_homes(1);
  client_homes[0] = std::move(*client);
  server_homes[0] = std::move(*server);
  const std::string message = pattern_bytes(50000, 17);
  std::string received;
  std::size_t sent = 0;
  bool client_ready = false;
  bool server_ready = false;
  ASSERT_FALSE(client_homes.back().watch(*loop, [&](readiness) { client_ready = true; }));
  ASSERT_FALSE(server_homes.back().watch(*loop, [&](readiness) { server_ready = true; }));
  for (int step = 0; step < 200000 && received.size() < message.size(); ++step) {
    // Every few steps both streams move to a new home (the watch and the BIO follow).
    if (step % 3 == 0) {
      client_homes.emplace_back(std::move(client_homes.back()));
      server_homes.emplace_back(std::move(server_homes.back()));
    }
    stream& cs = client_homes.back();
    stream& ss = server_homes.back();
    if (sent < message.size() && cs.writable()) {
      const io_result r = cs.write({message.data() + sent, message.size() - sent});
      ASSERT_FALSE(r.failed()) << r.error().message();
      if (r.done()) sent += r.bytes;
    }
    if (cs.readable()) {
      // Nothing comes but the server's session tickets, which must be taken in: with pipes this
      // small the server cannot go on while they wait.
      std::array<char, 1000> buffer;
      const io_result r = cs.read(buffer);
      ASSERT_FALSE(r.failed()) << r.error().message();
    }
    if (ss.readable()) {
      std::array<char, 1000> buffer;
      const io_result r = ss.read(buffer);
      ASSERT_FALSE(r.failed()) << r.error().message();
      if (r.done()) received.append(buffer.data(), r.bytes);
    }
    loop->run_once(0ms);
  }
  EXPECT_TRUE(client_ready && server_ready);
  EXPECT_TRUE(received == message)
      << "sent " << sent << " received " << received.size() << " client r/w "
      << client_homes.back().readable() << client_homes.back().writable() << " server r/w "
      << server_homes.back().readable() << server_homes.back().writable();
  EXPECT_TRUE(tls_info(server_homes.back()).handshake_done);
  EXPECT_FALSE(client_homes.front().is_open());
}

TEST_F(Tls, OffloadStatusSaysWhy) {
  tls_server_options options;
  options.certificates = {{files().cert, files().key}};
  options.ktls = false;
  auto off = tls_context::server(options);
  ASSERT_TRUE(off);
  EXPECT_EQ(off->offload_status(), "no kTLS: disabled");
  options.ktls = true;
  auto on = tls_context::server(options);
  ASSERT_TRUE(on);
  EXPECT_TRUE(on->offload_status() == "ktls" ||
              on->offload_status() == "ktls if the kernel loads its tls module" ||
              on->offload_status() == "no kTLS: the kernel has no tls module")
      << on->offload_status();
  EXPECT_TRUE(on->is_server());
}

// Kernel TLS: where the kernel has the tls module, a TCP stream on an epoll loop gets kTLS and
// sendfile goes through the kernel; elsewhere the test says why it cannot run.
TEST_F(Tls, KernelTlsSendfile) {
  tls_server_options options;
  options.certificates = {{files().cert, files().key}};
  options.ciphersuites = "TLS_AES_128_GCM_SHA256";  // what every kTLS kernel offers
  auto server_ctx = tls_context::server(options);
  ASSERT_TRUE(server_ctx);
  if (!server_ctx->offload_status().starts_with("ktls")) {
    GTEST_SKIP() << server_ctx->offload_status();
  }
  ignore_sigpipe();  // the kTLS path writes with write(2)
  auto loop = make_loop();
  if (loop->backend() != io_backend::epoll) {
    GTEST_SKIP() << "kTLS needs OpenSSL's socket BIO: TCP streams on an epoll loop";
  }
  taut::transport::testing::temp_dir dir;
  const std::string content = pattern_bytes(3 * 1024 * 1024 + 7, 21);
  const int fd = open_file_with(dir, content);
  ASSERT_GE(fd, 0);
  listener server = tcp_listener();
  auto [c, s] = tcp_pair(*loop, server);
  tls_pair pair =
      wrap_pair(std::move(c), std::move(s), client_context(), *server_ctx, "localhost", false);
  ASSERT_NO_FATAL_FAILURE(start_and_greet(*loop, pair, "go"));
  const tls_state info = tls_info(pair.server->s());
  if (!info.ktls_send) {
    ::close(fd);
    GTEST_SKIP() << "the kernel refused kTLS for " << info.cipher << " (" << info.version << ")";
  }
  const std::error_code failure = sendfile_to_client(*loop, pair, fd, content.size(), 20000ms);
  ::close(fd);
  EXPECT_FALSE(failure) << failure.message();
  EXPECT_TRUE(pair.client->received() == content);
}

// Writes and writevs on a socket with kTLS send, big enough for short writes: taut sends the
// plaintext itself (OpenSSL would finish a short write later from the first call's buffer).
TEST_F(Tls, KernelTlsWritesAndWritevs) {
  tls_server_options options;
  options.certificates = {{files().cert, files().key}};
  options.ciphersuites = "TLS_AES_128_GCM_SHA256";
  auto server_ctx = tls_context::server(options);
  ASSERT_TRUE(server_ctx);
  if (!server_ctx->offload_status().starts_with("ktls")) {
    GTEST_SKIP() << server_ctx->offload_status();
  }
  ignore_sigpipe();  // OpenSSL's own records (alerts) go with sendmsg without MSG_NOSIGNAL
  auto loop = make_loop();
  if (loop->backend() != io_backend::epoll) {
    GTEST_SKIP() << "kTLS needs OpenSSL's socket BIO: TCP streams on an epoll loop";
  }
  listener server = tcp_listener();
  auto [c, s] = tcp_pair(*loop, server);
  tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), *server_ctx);
  pair.server->use_writev(true);
  echo_through(*loop, pair, pattern_bytes(4 * 1024 * 1024 + 3, 23), true, 60000ms);
  if (!tls_info(pair.server->s()).ktls_send) GTEST_SKIP() << "the kernel refused kTLS";
}

// What an idle TLS connection costs once the handshake is over: OpenSSL's buffers are released
// while idle (SSL_MODE_RELEASE_BUFFERS), leaving the SSL objects and taut's session.
TEST_F(Tls, IdleConnectionMemory) {
  if (under_asan) {
    GTEST_SKIP() << "the sanitizer runtime owns malloc: heap figures mean nothing here";
  }
  const tls_context server_ctx = server_context();
  const tls_context client_ctx = client_context({"http/1.1"}, false);
  auto loop = make_loop();
  constexpr std::size_t count = 300;
  const auto heap = [] { return ::mallinfo2().uordblks; };
  // The same connections with and without TLS: the difference is what TLS costs.
  const auto per_pair = [&](bool tls) {
    std::vector<tls_pair> pairs;
    pairs.reserve(count);
    const std::size_t before = heap();
    for (std::size_t i = 0; i < count; ++i) {
      auto [c, s] = memory_pair();
      if (tls) {
        pairs.push_back(wrap_pair(std::move(c), std::move(s), client_ctx, server_ctx));
      } else {
        tls_pair plain;
        plain.client = std::make_unique<peer>(std::move(c));
        plain.server = std::make_unique<peer>(std::move(s), true);
        pairs.push_back(std::move(plain));
      }
      pairs.back().client->start(*loop);
      pairs.back().server->start(*loop);
      pairs.back().client->send("ping");
    }
    EXPECT_TRUE(run_until(*loop, [&] {
      for (const tls_pair& pair : pairs) {
        if (pair.client->received() != "ping") return false;
      }
      return true;
    }));
    loop->run_until_idle();
    return (heap() - before) / count;
  };
  (void)per_pair(true);  // warm-up: OpenSSL's one-time tables are not per connection
  const std::size_t plain = per_pair(false);
  const std::size_t with_tls = per_pair(true);
  const std::size_t cost = with_tls > plain ? with_tls - plain : 0;
  std::printf(
      "[ memory   ] an idle TLS connection costs %zu bytes for both ends together "
      "(%zu with TLS, %zu without)\n",
      cost, with_tls, plain);
  // Without SSL_MODE_RELEASE_BUFFERS each end keeps ~34 KiB more: its record buffers.
  EXPECT_LT(cost, 80u * 1024u);
}

// The path kTLS takes (OpenSSL's socket BIO on TCP streams of an epoll loop), forced here without
// kTLS so that it is tested on every machine: echo, sendfile and truncation.
class TlsSocketBio : public Tls {
 protected:
  void SetUp() override {
    Tls::SetUp();
    ignore_sigpipe();  // OpenSSL's socket BIO writes with write(2), as the header says
    taut::transport::detail::tls_force_socket_bio(true);
  }
  void TearDown() override { taut::transport::detail::tls_force_socket_bio(false); }
};

// A health check that connects and leaves without a byte: EOF, as over the stream BIO.
TEST_F(TlsSocketBio, ConnectedAndLeftWithoutAByteIsEof) {
  auto loop = make_loop();
  listener server = tcp_listener();
  auto [c, s] = tcp_pair(*loop, server);
  const std::unique_ptr<peer> server_peer = started_server(*loop, std::move(s));
  ASSERT_TRUE(server_peer);
  ASSERT_FALSE(c.close());
  EXPECT_TRUE(run_until(*loop, [&] { return server_peer->failed() || server_peer->eof(); }));
  EXPECT_TRUE(server_peer->eof()) << server_peer->error().message();
}

// The handshake guard holds on this path too: 9 bytes declaring a 128 KiB ClientHello are refused.
TEST_F(TlsSocketBio, OversizedHandshakeMessageIsRefused) {
  auto loop = make_loop();
  listener server = tcp_listener();
  auto [c, s] = tcp_pair(*loop, server);
  const std::unique_ptr<peer> server_peer = started_server(*loop, std::move(s));
  ASSERT_TRUE(server_peer);
  using namespace std::string_view_literals;
  ASSERT_TRUE(c.write("\x16\x03\x01\x00\x04\x01\x02\x01\x44"sv).done());
  EXPECT_TRUE(run_until(*loop, [&] { return server_peer->failed() || server_peer->eof(); }));
  EXPECT_EQ(server_peer->error(), errc::tls_handshake_failed) << server_peer->error().message();
}

TEST_F(TlsSocketBio, EchoSendfileAndTruncation) {
  auto loop = make_loop();
  listener server = tcp_listener();
  {
    auto [c, s] = tcp_pair(*loop, server);
    tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), server_context());
    echo_through(*loop, pair, pattern_bytes(3 * 1024 * 1024, 23));
  }
  {
    taut::transport::testing::temp_dir dir;
    const std::string content = pattern_bytes(2 * 1024 * 1024 + 5, 29);
    const int fd = open_file_with(dir, content);
    ASSERT_GE(fd, 0);
    auto [c, s] = tcp_pair(*loop, server);
    tls_pair pair = wrap_pair(std::move(c), std::move(s), client_context(), server_context(),
                              "localhost", false);
    pair.client->start(*loop);
    const std::error_code failure = sendfile_to_client(*loop, pair, fd, content.size());
    ::close(fd);
    EXPECT_FALSE(failure) << failure.message();
    EXPECT_TRUE(pair.client->received() == content);
  }
  expect_fin_without_close_notify_is_truncation(*loop, server);
}

// What a user writes: the README's echo server, made TLS by one call in the accept callback, and
// a client that sends a message, half-closes and reads the echo.
struct tls_echo {
  stream s;
  std::array<char, 4096> buffer{};
  std::string pending;  // read but not yet written back
  void on_ready(readiness) {
    for (;;) {
      if (!pending.empty()) {
        if (!s.writable()) return;
        const io_result wrote = s.write(pending);  // after would_block: the same bytes again
        if (wrote.failed()) return (void)s.close();
        if (!wrote.done()) return;
        pending.erase(0, wrote.bytes);
        continue;
      }
      if (!s.readable()) return;
      const io_result got = s.read(buffer);
      if (got.would_block()) return;
      if (got.eof()) return (void)s.shutdown_write();  // close_notify: the client reads EOF
      if (got.failed()) return (void)s.close();
      pending.assign(buffer.data(), got.bytes);
    }
  }
};

struct tls_echo_server {
  event_loop& loop;
  tls_context context;
  std::vector<std::unique_ptr<tls_echo>> connections;

  void on_accept(stream&& accepted) {
    auto tls = tls_accept(std::move(accepted), context);  // the one TLS line
    if (!tls) return;
    auto& c = connections.emplace_back(new tls_echo{std::move(*tls), {}, {}});
    (void)c->s.watch(loop, [e = c.get()](readiness r) { e->on_ready(r); });
  }
};

struct tls_echo_client {
  tls_echo_client(stream tls, std::string text) : s(std::move(tls)), message(std::move(text)) {}

  stream s;
  std::string message;
  std::size_t sent = 0;
  std::string echoed;
  bool ended = false;
  std::error_code failure;
  std::array<char, 8192> buffer{};

  void on_ready(readiness) {
    while (sent < message.size() && s.writable()) {
      const io_result wrote = s.write(std::string_view(message).substr(sent));
      if (wrote.failed()) failure = wrote.error();
      if (!wrote.done()) break;
      sent += wrote.bytes;
      if (sent == message.size()) (void)s.shutdown_write();
    }
    while (!ended && !failure && s.readable()) {
      const io_result got = s.read(buffer);
      if (got.done()) echoed.append(buffer.data(), got.bytes);
      if (got.eof()) ended = true;
      if (got.failed()) failure = got.error();
      if (!got.done()) break;
    }
  }
};

TEST(TlsUserProgram, EchoServerOverTls) {
  ASSERT_TRUE(files().ok) << files().error;
  auto loop = event_loop::create().value();
  auto made = tls_context::server({.certificates = {{files().cert, files().key}}});
  ASSERT_TRUE(made) << made.error().message();
  auto server = listener::listen("127.0.0.1:0");
  ASSERT_TRUE(server) << server.error().message();
  const address where = server->local_address();
  tls_echo_server echo{*loop, *made, {}};
  acceptor accepting(*loop, [&echo](stream&& accepted) { echo.on_accept(std::move(accepted)); });
  ASSERT_FALSE(accepting.start(std::move(*server)));

  auto client_ctx = tls_context::client({.ca_file = files().ca_cert});
  ASSERT_TRUE(client_ctx) << client_ctx.error().message();
  auto connected = connect(where);
  ASSERT_TRUE(connected);
  auto tls = tls_connect(std::move(*connected), *client_ctx, "localhost");
  ASSERT_TRUE(tls) << tls.error().message();
  tls_echo_client client{std::move(*tls), pattern_bytes(100000, 31)};
  ASSERT_FALSE(client.s.watch(*loop, [&client](readiness r) { client.on_ready(r); }));
  EXPECT_TRUE(run_until(
      *loop, [&] { return client.ended || static_cast<bool>(client.failure); }, 20000ms));
  EXPECT_FALSE(client.failure) << client.failure.message();
  EXPECT_TRUE(client.echoed == client.message);
  EXPECT_EQ(tls_info(client.s).alpn, "http/1.1");
}

}  // namespace
