// Slow readers: clients that pipeline requests as fast as the server takes them and never read a
// byte. The server must stop reading from them once its bounded output queue is full (so the
// clients' sends stall, and its memory stays within the per-connection bound), keep serving
// everyone else, and close them when the write timeout passes without write progress.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "harness.hpp"

namespace taut::hardening {
namespace {

constexpr milliseconds write_timeout = 2000ms;
constexpr milliseconds slack = 1000ms;
// The most a client may push into a server that stopped reading: its own send buffer plus the
// server's receive buffer and the requests behind the queued responses (a few MiB on loopback).
constexpr std::size_t send_cap = 32u * 1024 * 1024;

struct wave_result {
  std::size_t stalled = 0;       // clients whose sends stopped being taken
  std::size_t max_sent = 0;      // bytes the most successful client got accepted
  std::size_t closed = 0;        // clients that saw EOF or a reset afterwards
  double server_closed_ms = -1;  // from the server going idle until it held none of them
  long peak_rss_kib = 0;
  int peak_fds = 0;
};

/// `clients` connections each pipeline `request` without reading until the kernel takes no more
/// for a second (or send_cap is reached), then wait for the server to close them. A shorter
/// pause (300 ms was tried) also ends when the server is only slow, under load or while the
/// kernel grows its send buffer: the client then stops early, the server answers everything into
/// its socket buffers with nothing left queued, and what closes it is the header timeout of the
/// partial request the client's last send() left, 10 s later, not the write timeout.
wave_result run_wave(server_process& server, std::size_t clients, const std::string& request,
                     int base_fds) {
  wave_result out;
  std::vector<int> fds;
  for (std::size_t i = 0; i < clients; ++i) {
    const int fd = connect_loopback(server.port(), true, 4096);
    if (fd < 0) continue;
    set_send_buffer(fd, 64 * 1024);  // what the test itself queues stays small
    fds.push_back(fd);
  }
  std::string burst;
  while (burst.size() < 64 * 1024) burst += request;
  std::vector<std::size_t> sent(fds.size(), 0);
  std::vector<clock_type::time_point> last_progress(fds.size(), clock_type::now());
  std::vector<bool> stalled(fds.size(), false);
  const auto give_up = clock_type::now() + 20s;
  while (out.stalled < fds.size() && clock_type::now() < give_up) {
    bool any = false;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (stalled[i]) continue;
      const std::size_t at = sent[i] % request.size();  // keep the requests whole
      const ssize_t n =
          ::send(fds[i], burst.data() + at, burst.size() - at, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent[i] += static_cast<std::size_t>(n);
        last_progress[i] = clock_type::now();
        any = true;
      }
      if (sent[i] >= send_cap || (n < 0 && errno != EAGAIN) ||
          clock_type::now() - last_progress[i] > 1000ms) {
        stalled[i] = true;
        ++out.stalled;
      }
    }
    if (!any) {
      std::this_thread::sleep_for(10ms);
      out.peak_rss_kib = std::max(out.peak_rss_kib, server.rss_kib());
      out.peak_fds = std::max(out.peak_fds, server.open_fds());
    }
  }
  out.max_sent = *std::max_element(sent.begin(), sent.end());

  // The server is still answering what its receive buffers hold (a few MiB of requests per
  // client) and each write into its send buffer is progress that restarts the write timeout:
  // the timeout runs once it has nothing left to do. Count from the start of the first 300 ms
  // in which its CPU time did not move, until it holds none of them (descriptors at the
  // baseline, plus the probe's connection).
  milliseconds cpu = server.cpu_time();
  auto cpu_moved = clock_type::now();
  std::optional<clock_type::time_point> idle_since;
  const auto wait_until = clock_type::now() + 20s;
  while (clock_type::now() < wait_until) {
    std::this_thread::sleep_for(50ms);
    out.peak_rss_kib = std::max(out.peak_rss_kib, server.rss_kib());
    const int fds_now = server.open_fds();
    out.peak_fds = std::max(out.peak_fds, fds_now);
    if (fds_now <= base_fds + 1) {  // the probe may hold one
      // Closed before its CPU time was seen to rest: count from the last byte a client got in,
      // after which the server had only its own queue to write.
      out.server_closed_ms = elapsed_ms(
          idle_since ? *idle_since : *std::max_element(last_progress.begin(), last_progress.end()));
      break;
    }
    const milliseconds cpu_now = server.cpu_time();
    if (cpu_now != cpu) {
      cpu = cpu_now;
      cpu_moved = clock_type::now();
    } else if (!idle_since && clock_type::now() - cpu_moved >= 300ms) {
      idle_since = cpu_moved;
    }
  }
  // And the clients, reading at last, find the end of what was queued and then EOF or a reset.
  for (const int fd : fds) {
    const read_outcome got = read_until_close(fd, 5000ms);
    if (got.how == ending::eof || got.how == ending::reset) ++out.closed;
    ::close(fd);
  }
  return out;
}

void check_waves(const char* what, server_process& server, std::size_t clients,
                 const std::string& request, long per_client_kib) {
  const int base_fds = server.open_fds();
  const long base_rss = server.rss_kib();
  probe well_behaved(server.port());
  std::vector<wave_result> waves;
  std::vector<long> rss_after;
  for (int wave = 0; wave < 2; ++wave) {
    waves.push_back(run_wave(server, clients, request, base_fds));
    rss_after.push_back(server.rss_kib());
  }
  const probe::report seen = well_behaved.finish();
  for (std::size_t i = 0; i < waves.size(); ++i) {
    const wave_result& w = waves[i];
    std::printf(
        "%s, wave %zu: %zu clients stalled (most bytes accepted from one: %zu), closed by the "
        "server %.0f ms after it went idle, %zu saw the close; peak %d fds, peak RSS %ld KiB "
        "(baseline %ld, after %ld)\n",
        what, i, w.stalled, w.max_sent, w.server_closed_ms, w.closed, w.peak_fds, w.peak_rss_kib,
        base_rss, rss_after[i]);
    EXPECT_EQ(w.stalled, clients);
    EXPECT_LT(w.max_sent, send_cap) << "the server kept reading from a client that never reads";
    EXPECT_GE(w.peak_fds, base_fds + static_cast<int>(clients));
    EXPECT_GE(w.server_closed_ms, 0) << "not closed by the write timeout";
    EXPECT_LE(w.server_closed_ms, static_cast<double>((write_timeout + slack).count()));
    EXPECT_EQ(w.closed, clients);
    TAUT_EXPECT_MEMORY_LT(w.peak_rss_kib - base_rss,
                          static_cast<long>(clients) * per_client_kib + 4096)
        << "output buffered beyond the per-connection bound";
  }
  std::printf(
      "probe: %llu ok, %llu failed, max %.1f ms %s\n", static_cast<unsigned long long>(seen.ok),
      static_cast<unsigned long long>(seen.failed), seen.max_ms, seen.first_failure.c_str());
  EXPECT_EQ(seen.failed, 0u) << seen.first_failure;
  EXPECT_GT(seen.ok, 20u);
  TAUT_EXPECT_MEMORY_LT(rss_after[1] - rss_after[0], 2048) << "KiB grown by the second wave";
}

TEST(SlowReader, PipelinedSmallResponsesStopBeingReadAndTheWriteTimeoutCloses) {
  if (sanitized_build) {
    // The attack's size is set by the kernel's socket buffers (a few MiB of requests per
    // client), not by the server's speed: an instrumented server needs tens of seconds for it.
    GTEST_SKIP() << "too heavy for a server built with the sanitizers";
  }
  // No per-connection request limit: with one, the connection would close after its last
  // response instead of stopping to read because of the queue.
  server_process server(
      {.args = {"--threads", "2", "--write-timeout", "2s", "--max-requests-per-connection", "0"}});
  ASSERT_TRUE(server.ready()) << server.stderr_text();
  // Queued output stops reading at 64 KiB; it may overshoot by a response and there is an input
  // block and working state too: 96 KiB per client at most.
  check_waves("pipelined GET /plaintext", server, 50, get_request("/plaintext"), 96);
  EXPECT_EQ(server.terminate(), 0);
}

TEST(SlowReader, PipelinedLargeFilesStopBeingReadAndTheWriteTimeoutCloses) {
  temp_dir root;
  root.write_file("big", 4u * 1024 * 1024);
  server_process server(
      {.args = {"--threads", "2", "--write-timeout", "2s", "--root", root.path()}});
  ASSERT_TRUE(server.ready()) << server.stderr_text();
  // A 4 MiB file per response: the server must not read a whole file into memory for a client
  // that does not take it (the file goes by sendfile from its descriptor; each client holds a
  // few blocks at most).
  check_waves("pipelined GET /static/big (4 MiB)", server, 50, get_request("/static/big"), 160);
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace
}  // namespace taut::hardening
