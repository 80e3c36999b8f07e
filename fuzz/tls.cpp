// Fuzz harness `tls`: taut's TLS stream adapter (transport/src/tls.cpp) under arbitrary peer
// bytes, through a memory pipe. The server side of a TLS stream is fed the input as if a client
// sent it; or, in client mode, a TLS client that has sent its ClientHello is fed the input as the
// server's answer. The bytes arrive in pieces, with reads and writes of the TLS stream in between
// and, depending on the input, a pipe too small for a record. Whatever the bytes: nothing crashes,
// a failure is sticky (every later read and write reports an error), no read succeeds after EOF,
// readiness never claims more than the stream can back (a read reported readable never returns
// would_block twice in a row without new input), and closing is clean.
//
// Input layout:
//   byte 0   bit 0 client mode; bits 1-3 largest piece (0: 1 byte, 7: all at once);
//            bit 4 a write of the TLS stream after every piece; bit 5 a pipe of 64 bytes;
//            bit 6 the peer half-closes after its bytes (else it aborts)
//   the rest the peer's bytes
//
// The certificate is made once at start-up (tests/support/tls_certs.cpp): no key is committed.
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "taut/transport.hpp"
#include "tls_certs.hpp"

namespace {

using namespace taut::transport;

struct contexts {
  tls_context server;
  tls_context client;
};

const contexts& shared() {
  static const contexts made = [] {
    const char* base = std::getenv("TMPDIR");
    const std::string directory = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                                  "/taut-fuzz-tls-" + std::to_string(::getpid());
    const taut::test::tls_test_files files = taut::test::make_tls_test_files(directory);
    TAUT_FUZZ_CHECK(files.ok, files.error);
    tls_server_options server_options;
    server_options.certificates = {{files.cert, files.key}, {files.other_cert, files.other_key}};
    auto server = tls_context::server(server_options);
    TAUT_FUZZ_CHECK(server.has_value(), server.error().message());
    tls_client_options client_options;
    client_options.ca_file = files.ca_cert;
    auto client = tls_context::client(client_options);
    TAUT_FUZZ_CHECK(client.has_value(), client.error().message());
    // The contexts hold what they need in memory: the files can go.
    for (const std::string* path :
         {&files.ca_cert, &files.ca_key, &files.cert, &files.key, &files.other_cert,
          &files.other_key, &files.expired_cert, &files.expired_key, &files.untrusted_cert,
          &files.untrusted_key, &files.unknown_ca_cert, &files.unknown_ca_key}) {
      ::unlink(path->c_str());
    }
    ::rmdir(directory.c_str());
    return contexts{std::move(*server), std::move(*client)};
  }();
  return made;
}

// Reads from the TLS stream while it says it is readable; checks the adapter's promises.
void drain(stream& tls, bool& failed, bool& ended) {
  std::array<char, 4096> buffer;
  int would_blocks = 0;
  for (int round = 0; round < 64 && tls.readable(); ++round) {
    const io_result got = tls.read(buffer);
    if (got.failed()) {
      TAUT_FUZZ_CHECK(static_cast<bool>(got.error()));
      failed = true;
      return;
    }
    if (got.eof()) {
      ended = true;
      return;
    }
    TAUT_FUZZ_CHECK(!failed, "a read succeeded after a failure");
    TAUT_FUZZ_CHECK(!ended, "a read succeeded after EOF");
    if (got.would_block()) {
      if (++would_blocks == 2) return;  // readiness kept saying yes: it is a hint, stop here
      continue;
    }
    would_blocks = 0;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const contexts& tls = shared();
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const bool client_mode = (flags & 1) != 0;
  const std::size_t piece_size = ((flags >> 1) & 7) == 7 ? SIZE_MAX : ((flags >> 1) & 7) * 37 + 1;
  const bool write_between = (flags & 0x10) != 0;
  const bool small_pipe = (flags & 0x20) != 0;
  const bool half_close = (flags & 0x40) != 0;
  const std::string_view peer_bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  memory_faults faults;
  if (small_pipe) faults.capacity = 64;
  auto pipe = memory_pair(faults, faults);
  stream& theirs = pipe.second;
  auto wrapped = client_mode ? tls_connect(std::move(pipe.first), tls.client, "localhost")
                             : tls_accept(std::move(pipe.first), tls.server);
  TAUT_FUZZ_CHECK(wrapped.has_value(), wrapped.error().message());
  stream s = std::move(*wrapped);

  bool failed = false;
  bool ended = false;
  constexpr std::string_view request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  std::size_t request_sent = 0;
  const auto write_some = [&] {
    if (!s.writable() || request_sent == request.size()) return;
    const io_result wrote = s.write(request.substr(request_sent));
    if (wrote.done()) {
      TAUT_FUZZ_CHECK(!failed, "a write succeeded after a failure");
      request_sent += wrote.bytes;
    } else if (wrote.failed()) {
      failed = true;
    }
  };
  // Whatever the other side writes is read and dropped, so a small pipe never wedges the test.
  const auto peer_reads = [&] {
    std::array<char, 4096> sink;
    while (theirs.read(sink).done()) {
    }
  };
  if (client_mode) write_some();  // the ClientHello
  std::size_t fed = 0;
  while (fed < peer_bytes.size()) {
    peer_reads();
    const std::size_t take = std::min(piece_size, peer_bytes.size() - fed);
    const io_result put = theirs.write(peer_bytes.substr(fed, take));
    if (put.done()) fed += put.bytes;
    drain(s, failed, ended);
    if (write_between) write_some();
    if (!put.done() || put.bytes == 0) {
      // The pipe is full and the TLS side would not take more: it has given up or waits to write.
      peer_reads();
      drain(s, failed, ended);
      if (!theirs.writable()) break;
    }
  }
  if (half_close) {
    (void)theirs.shutdown_write();
  } else {
    theirs.abort();
  }
  peer_reads();
  drain(s, failed, ended);
  if (failed) {
    std::array<char, 16> buffer;
    TAUT_FUZZ_CHECK(s.read(buffer).failed(), "a failure must be sticky");
    TAUT_FUZZ_CHECK(s.write("x").failed(), "a failure must be sticky");
  }
  (void)tls_info(s);
  (void)s.shutdown_write();
  (void)s.close();
  return 0;
}
