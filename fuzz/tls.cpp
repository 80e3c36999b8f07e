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
//   byte 0   bit 7 clear: bit 0 client mode; bits 1-3 largest piece (0: 1 byte, 7: all at once);
//            bit 4 a write of the TLS stream after every piece; bit 5 a pipe of 64 bytes;
//            bit 6 the peer half-closes after its bytes (else it aborts)
//   the rest the peer's bytes
//
// Established mode (byte 0 bit 7 set): a taut client and a taut server finish a real handshake
// over two memory pipes with the harness in the middle, then the rest of the input is a script of
// operations on either end (see run_script): writes and writevs of sizes and contents from the
// input (honouring the retry rule after would_block), reads of any size, readiness-driven drains,
// the harness relaying ciphertext a chosen amount at a time, pipe capacities changing, raw bytes
// injected into the ciphertext, shutdown_write, close with close_notify, abort without it. Then
// both ends shut down and everything left is relayed and read. Invariants: what an end reads is
// always a prefix of what the other end's writes took (plus the bytes of a write still to be
// retried, which are already encrypted); an end that reads EOF has read everything the other
// took, and only after the other sent close_notify; failures are named (taut's errc, or EPIPE /
// ECONNRESET from the pipe), sticky, and nothing is read after EOF. One failure is sticky for
// reads only: the server's tls_truncated (its client's EOF without close_notify), after which the
// server can still write its answer.
//
// The certificate is made once at start-up (tests/support/tls_certs.cpp): no key is committed.
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

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

// ---- established mode -------------------------------------------------------------------------

/// The script's input, consumed from the front; zeros once it runs out.
class script_input {
 public:
  script_input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  [[nodiscard]] bool empty() const { return at_ == size_; }
  std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  /// `count` bytes of content: from the input while it lasts, then a pattern.
  std::string bytes(std::size_t count) {
    std::string out;
    out.reserve(count);
    while (out.size() < count) {
      out +=
          at_ < size_ ? static_cast<char>(data_[at_++]) : static_cast<char>('a' + out.size() % 26);
    }
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

/// One TLS end and what the harness knows of it.
struct tls_end {
  stream tls;
  std::string sent{};      // plaintext its writes reported taken
  std::string retry{};     // a write that said would_block: the next write must start with these
  std::string received{};  // plaintext its reads returned
  bool failed = false;
  bool ended = false;      // read EOF (the peer's close_notify)
  bool notified = false;   // sent (or queued) close_notify: shutdown_write or close
  bool cut_early = false;  // the harness cut its ciphertext with a FIN before it notified
  bool gone = false;       // closed or aborted
  bool server = false;
  bool truncated = false;  // the server read tls_truncated: reads fail from then on, writes go
};

bool named_failure(std::error_code error) {
  if (error.category() == transport_category()) return error != errc::ok;
  return error == std::errc::broken_pipe || error == std::errc::connection_reset;
}

/// One direction of ciphertext through the harness: from the raw end facing the sender to the raw
/// end facing the receiver, with what the second would not take yet.
struct wire {
  stream* from;
  stream* to;
  std::string held{};
  bool tampered = false;  // bytes injected, or cut short
  bool closed = false;

  /// Moves up to `limit` bytes; an EOF or reset seen on `from` is passed on once `held` is out.
  void move(std::size_t limit) {
    std::array<char, 4096> buffer;
    while (limit > 0 && !closed) {
      if (held.empty()) {
        const io_result got = from->read({buffer.data(), std::min(limit, buffer.size())});
        if (got.done() && got.bytes > 0) {
          held.assign(buffer.data(), got.bytes);
        } else if (got.eof()) {
          closed = true;
          (void)to->shutdown_write();
          return;
        } else if (got.failed()) {
          closed = true;
          to->abort();
          return;
        } else {
          return;
        }
      }
      const io_result put = to->write(held);
      if (!put.done() || put.bytes == 0) {
        if (put.failed()) closed = true;  // the receiver's raw end is gone
        return;
      }
      held.erase(0, put.bytes);
      limit -= std::min(limit, put.bytes);
    }
  }
};

void check_received(const tls_end& reader, const tls_end& writer) {
  const std::string_view could = reader.received.size() <= writer.sent.size()
                                     ? std::string_view(writer.sent)
                                     : std::string_view{};
  if (!could.empty() || reader.received.empty()) {
    TAUT_FUZZ_CHECK(could.substr(0, reader.received.size()) == reader.received,
                    "read bytes the other end never wrote, or out of order");
    return;
  }
  // More than the writes took: the rest must be the start of a write to be retried (already
  // encrypted inside OpenSSL, and sent when the writer shut down instead of retrying).
  const std::string possible = writer.sent + writer.retry;
  TAUT_FUZZ_CHECK(
      reader.received.size() <= possible.size() &&
          std::string_view(possible).substr(0, reader.received.size()) == reader.received,
      "read bytes the other end never wrote, or out of order");
}

void note_failure(tls_end& end, const io_result& result) {
  TAUT_FUZZ_CHECK(named_failure(result.error()), result.error().message());
  end.failed = true;
}

void read_once(tls_end& reader, const tls_end& writer, std::size_t size) {
  if (reader.gone) return;
  std::array<char, 20000> buffer;
  const io_result got = reader.tls.read({buffer.data(), std::min(size, buffer.size())});
  const bool failed_before = reader.failed || reader.truncated;
  if (got.done() && got.bytes > 0) {
    TAUT_FUZZ_CHECK(!failed_before, "a read succeeded after a failure");
    TAUT_FUZZ_CHECK(!reader.ended, "a read returned bytes after EOF");
    reader.received.append(buffer.data(), got.bytes);
    check_received(reader, writer);
  } else if (got.eof()) {
    TAUT_FUZZ_CHECK(!failed_before, "EOF after a failure");
    TAUT_FUZZ_CHECK(writer.notified && !writer.cut_early,
                    "EOF without the other end's close_notify");
    TAUT_FUZZ_CHECK(reader.received.size() >= writer.sent.size(),
                    "EOF before everything the other end wrote");
    reader.ended = true;
  } else if (got.failed() && reader.server && got.error() == errc::tls_truncated &&
             !reader.failed) {
    reader.truncated = true;  // the session stays writable (see tls_read)
  } else if (got.failed()) {
    TAUT_FUZZ_CHECK(!reader.truncated || got.error() == errc::tls_truncated,
                    "a read after tls_truncated failed otherwise: " + got.error().message());
    note_failure(reader, got);
  } else {
    TAUT_FUZZ_CHECK(!failed_before, "would_block after a failure");
  }
}

/// A write (one part) or a writev (several) of `fresh`, after the bytes a blocked write left.
void write_once(tls_end& end, const std::string& fresh, std::span<const std::size_t> cuts) {
  if (end.gone) return;
  const std::string output = end.retry + fresh;
  std::array<const_buffer, 5> parts;
  std::size_t count = 0;
  std::size_t at = 0;
  for (const std::size_t cut : cuts) {
    if (count + 1 == parts.size() || at >= output.size()) break;
    const std::size_t take = std::min(cut, output.size() - at);
    parts[count++] = const_buffer(output.data() + at, take);
    at += take;
  }
  if (at < output.size()) parts[count++] = const_buffer(output.data() + at, output.size() - at);
  const io_result wrote = count == 1 ? end.tls.write({output.data(), output.size()})
                                     : end.tls.writev({parts.data(), count});
  if (wrote.done()) {
    TAUT_FUZZ_CHECK(!end.failed, "a write succeeded after a failure");
    TAUT_FUZZ_CHECK(wrote.bytes <= output.size());
    end.sent.append(output, 0, wrote.bytes);
    end.retry.clear();
  } else if (wrote.would_block()) {
    TAUT_FUZZ_CHECK(!end.failed, "would_block after a failure");
    end.retry = output;
  } else if (wrote.failed()) {
    TAUT_FUZZ_CHECK(named_failure(wrote.error()) || wrote.error() == std::errc::not_connected,
                    wrote.error().message());
    end.failed = end.failed || !end.notified;  // after shutdown_write, EPIPE is the answer
  }
}

void close_end(tls_end& end, bool notify) {
  if (end.gone) return;
  end.gone = true;
  if (notify) {
    end.notified = true;
    (void)end.tls.close();
  } else {
    end.tls.abort();
  }
}

void run_established(const contexts& contexts, const std::uint8_t* data, std::size_t size) {
  auto [client_raw, client_wire] = memory_pair();
  auto [server_wire, server_raw] = memory_pair();
  auto client = tls_connect(std::move(client_raw), contexts.client, "localhost");
  auto server = tls_accept(std::move(server_raw), contexts.server);
  TAUT_FUZZ_CHECK(client.has_value() && server.has_value());
  std::array<tls_end, 2> ends{tls_end{.tls = std::move(*client)},
                              tls_end{.tls = std::move(*server), .server = true}};
  std::array<wire, 2> wires{wire{.from = &client_wire, .to = &server_wire},
                            wire{.from = &server_wire, .to = &client_wire}};
  // The handshake, with nothing in the way.
  for (int round = 0; round < 20; ++round) {
    read_once(ends[0], ends[1], 256);
    wires[0].move(SIZE_MAX);
    read_once(ends[1], ends[0], 256);
    wires[1].move(SIZE_MAX);
    if (tls_info(ends[0].tls).handshake_done && tls_info(ends[1].tls).handshake_done) break;
  }
  TAUT_FUZZ_CHECK(tls_info(ends[0].tls).handshake_done && tls_info(ends[1].tls).handshake_done,
                  "the handshake did not finish");
  TAUT_FUZZ_CHECK(!ends[0].failed && !ends[1].failed);

  static constexpr std::array<std::size_t, 8> capacities{1,    64,    100,   517,
                                                         1500, 16406, 65536, 1 << 20};
  script_input in(data + 1, size - 1);
  memory_faults first;
  first.capacity = capacities[data[0] & 7];
  memory_faults second;
  second.capacity = capacities[(data[0] >> 3) & 7];
  // What each TLS end may have in flight before its writes block; the harness's own writes into
  // the far pipes never block (the receivers' pipes stay at the default capacity).
  ends[0].tls.memory().set_faults(first);
  ends[1].tls.memory().set_faults(second);

  for (int step = 0; step < 400 && !in.empty(); ++step) {
    const std::uint8_t op = in.byte();
    const int side = op & 1;
    tls_end& me = ends[side];
    tls_end& other = ends[1 - side];
    switch ((op >> 1) % 11) {
      case 0: {  // write
        const std::uint8_t n = in.byte();
        const std::size_t length = n < 200 ? n + 1u : (n - 199u) * 1000u;
        const std::array<std::size_t, 1> whole{SIZE_MAX};
        write_once(me, in.bytes(length), whole);
        break;
      }
      case 1: {  // writev of 2 to 5 parts
        const std::size_t count = 1 + in.byte() % 4;
        std::array<std::size_t, 4> cuts{};
        std::size_t total = 0;
        for (std::size_t i = 0; i < count; ++i) {
          const std::uint8_t n = in.byte();
          cuts[i] = n < 240 ? n : (n - 239u) * 1024u;
          total += cuts[i];
        }
        write_once(me, in.bytes(total + in.byte()), std::span(cuts.data(), count));
        break;
      }
      case 2: {  // one read of a chosen size
        const std::uint8_t n = in.byte();
        read_once(me, other, n < 128 ? n + 1u : (n - 127u) * 160u);
        break;
      }
      case 3:  // reads while readable(), as an edge-triggered caller after an event
        for (int round = 0; round < 8 && !me.gone && me.tls.readable(); ++round) {
          read_once(me, other, 4096);
        }
        break;
      case 4:  // the harness passes on some ciphertext this end sent
        wires[side].move((in.byte() + 1u) * 16u);
        break;
      case 5: {  // raw bytes into the ciphertext this end sent
        const std::string raw = in.bytes(1 + in.byte() % 24);
        stream& to = *wires[side].to;
        if (!wires[side].closed && to.write(raw).done()) wires[side].tampered = true;
        break;
      }
      case 6:  // close_notify, then half-close
        if (!me.gone) {
          const bool was = me.notified;
          me.notified = true;
          const std::error_code shut = me.tls.shutdown_write();
          TAUT_FUZZ_CHECK(!shut || named_failure(shut) || was || me.failed, shut.message());
        }
        break;
      case 7:
        close_end(me, (in.byte() & 1) != 0);
        break;
      case 8: {  // this end's pipe capacity changes
        memory_faults faults;
        faults.capacity = capacities[in.byte() & 7];
        if (!me.gone) me.tls.memory().set_faults(faults);
        break;
      }
      case 10:  // the ciphertext this end sent ends here with a FIN: no close_notify after it
        if (!wires[side].closed) {
          wires[side].closed = wires[side].tampered = true;
          me.cut_early = !me.notified;
          (void)wires[side].to->shutdown_write();
        }
        break;
      case 9:  // what a driver asks between operations
        if (!me.gone) {
          (void)me.tls.readable();
          (void)me.tls.writable();
          (void)tls_info(me.tls);
        }
        break;
    }
  }

  // The end: roomy pipes, blocked writes retried, both ends shut down, everything relayed and
  // read.
  memory_faults roomy;
  roomy.capacity = std::size_t{1} << 22;
  for (tls_end& end : ends) {
    if (!end.gone) end.tls.memory().set_faults(roomy);
  }
  for (int round = 0; round < 64; ++round) {
    for (int side = 0; side < 2; ++side) {
      tls_end& end = ends[side];
      if (!end.retry.empty() && !end.failed) {
        const std::array<std::size_t, 1> whole{SIZE_MAX};
        write_once(end, {}, whole);
      }
      if (end.retry.empty() && !end.notified && !end.gone) {
        end.notified = true;
        (void)end.tls.shutdown_write();
      }
      wires[side].move(SIZE_MAX);
    }
    for (int side = 0; side < 2; ++side) {
      // Also after EOF: a read (EOF again) is what pushes a pending close_notify of an end that
      // nobody watches.
      // A truncated end too: its reads fail, but they push its close_notify all the same.
      for (int reads = 0; reads < 8 && !ends[side].gone && !ends[side].failed; ++reads) {
        const std::size_t before = ends[side].received.size();
        read_once(ends[side], ends[1 - side], 20000);
        if (ends[side].received.size() == before) break;
      }
    }
  }
  // Nothing injected or cut: each end that stayed read everything the other wrote, and EOF.
  for (int side = 0; side < 2; ++side) {
    const tls_end& reader = ends[side];
    const tls_end& writer = ends[1 - side];
    const bool clean = !wires[1 - side].tampered && !reader.gone && !writer.gone &&
                       !reader.failed && !reader.truncated && !writer.failed;
    if (clean) {
      TAUT_FUZZ_CHECK(reader.ended, "an end never read the other's close_notify");
      // (check_received saw to the order; a write the other end never retried may have gone too)
      TAUT_FUZZ_CHECK(reader.received.size() >= writer.sent.size(),
                      "an end missed bytes the other wrote");
    }
    if ((reader.failed || reader.truncated) && !reader.gone) {
      std::array<char, 16> buffer;
      TAUT_FUZZ_CHECK(ends[side].tls.read(buffer).failed(), "a failure must be sticky");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const contexts& tls = shared();
  if (size == 0) return 0;
  if ((data[0] & 0x80) != 0) {
    run_established(tls, data, size);
    return 0;
  }
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
