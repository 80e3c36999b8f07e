// Slow readers: clients that pipeline requests as fast as the server takes them and never read a
// byte. The server must stop reading from them once its bounded output queue is full (so the
// clients' sends stall, and its memory stays within the per-connection bound), keep serving
// everyone else, and close them when the write timeout passes without write progress.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unordered_map>

#include "harness.hpp"

namespace taut::hardening {
namespace {

constexpr milliseconds write_timeout = 2000ms;
// What may pass between the write timeout's end and the test seeing the server hold none of the
// clients: the server closing 50 connections and the test's 50 ms samples, both slowed by
// whatever else runs (CI saw 4.6 s in all with other builds running). The property is that the
// write timeout closes them, not that it is punctual: the servers here run with a header timeout
// (and an idle timeout) of 60 s, so nothing else could close them within the bound, and without a
// write timeout nothing closes them within the test's 20 s wait.
constexpr milliseconds slack = 5000ms;
// The most a client may push into a server that stopped reading: its own send buffer plus the
// server's receive buffer and the requests behind the queued responses (a few MiB on loopback).
constexpr std::size_t send_cap = 32u * 1024 * 1024;

/// What the kernel holds for one of the server's connections: bytes the server wrote that the
/// client has not taken (its send queue) and bytes the client sent that the server has not read
/// (its receive queue).
struct queues {
  unsigned long unsent = 0;
  unsigned long unread = 0;
};

/// The server's established connections on `server_port`, by the client's port, from
/// /proc/net/tcp.
std::unordered_map<std::uint16_t, queues> server_queues(std::uint16_t server_port) {
  std::unordered_map<std::uint16_t, queues> found;
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the column names
  while (std::getline(table, line)) {
    unsigned local_port = 0;
    unsigned remote_port = 0;
    unsigned state = 0;
    queues q;
    if (std::sscanf(line.c_str(), " %*u: %*x:%x %*x:%x %x %lx:%lx", &local_port, &remote_port,
                    &state, &q.unsent, &q.unread) == 5 &&
        local_port == server_port && state == 1 /* TCP_ESTABLISHED */) {
      found[static_cast<std::uint16_t>(remote_port)] = q;
    }
  }
  return found;
}

/// Whether no thread of process `pid` is running or waiting for a CPU: it waits for an event.
bool asleep(pid_t pid) {
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream stat(task.path() / "stat");
    const std::string text((std::istreambuf_iterator<char>(stat)),
                           std::istreambuf_iterator<char>());
    const std::size_t paren = text.rfind(')');
    if (paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'R') {
      return false;
    }
  }
  return !ec;
}

/// The server's side of the test's connections, sampled at most every 50 ms (a read of
/// /proc/net/tcp walks the kernel's whole connection table). The clients read nothing, so a send
/// queue changes only when the server's writes make progress; and a server that sleeps with a
/// client's bytes unread, sample after sample, has stopped reading from that client, where one that
/// is only slow or kept off the CPU by other load would have been seen running.
class server_side {
 public:
  server_side(const server_process& server, const std::vector<int>& client_fds) : server_(server) {
    for (const int fd : client_fds) {
      sockaddr_in local{};
      socklen_t size = sizeof local;
      std::uint16_t port = 0;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size) == 0) {
        port = ntohs(local.sin_port);
      }
      clients_.push_back({port, {}, false, 0});
    }
  }

  void sample() {
    const auto now = clock_type::now();
    if (now - sampled_ < 50ms) return;
    sampled_ = now;
    const bool sleeping = asleep(server_.pid());
    const auto all = server_queues(server_.port());
    for (client& c : clients_) {
      const auto it = all.find(c.port);
      if (it == all.end()) {
        c.refused_samples = 0;
        continue;
      }
      const queues& q = it->second;
      if (c.seen && q.unsent != c.last.unsent) last_write_ = now;
      const bool unread_left = q.unread > 0 && (!c.seen || q.unread == c.last.unread);
      c.refused_samples = sleeping && unread_left ? c.refused_samples + 1 : 0;
      c.last = q;
      c.seen = true;
    }
  }

  /// Whether the server has left client `i`'s bytes unread while asleep for three samples.
  [[nodiscard]] bool stopped_reading(std::size_t i) const {
    return clients_[i].refused_samples >= 3;
  }

  /// When a send queue was last seen to change; nothing before any was.
  [[nodiscard]] std::optional<clock_type::time_point> last_write() const { return last_write_; }

 private:
  struct client {
    std::uint16_t port;
    queues last;
    bool seen;
    int refused_samples;
  };
  const server_process& server_;
  std::vector<client> clients_;
  clock_type::time_point sampled_{};
  std::optional<clock_type::time_point> last_write_;
};

struct wave_result {
  std::size_t stalled = 0;       // clients whose sends stopped being taken
  std::size_t max_sent = 0;      // bytes the most successful client got accepted
  std::size_t closed = 0;        // clients that saw EOF or a reset afterwards
  double server_closed_ms = -1;  // from the server's last write to them until it held none
  long peak_rss_kib = 0;
  int peak_fds = 0;
};

/// `clients` connections each pipeline `request` without reading until the server stops reading
/// from them (or send_cap is reached), then wait for the server to close them. Judging the stop
/// by time alone (no progress for a second) also stops a client early when the server is only
/// slow, under load or while the kernel grows its send buffer: the server then answers
/// everything into its socket buffers with nothing left queued, and what closes it is the header
/// timeout of the partial request the client's last send() left, 10 s later, not the write
/// timeout. So a client stops once the server was seen asleep with its bytes unread (server_side);
/// 5 s without progress remains as a last resort.
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
  server_side server_end(server, fds);
  const auto give_up = clock_type::now() + 20s;
  auto measured = clock_type::time_point{};
  while (out.stalled < fds.size() && clock_type::now() < give_up) {
    server_end.sample();
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
          (n < 0 && server_end.stopped_reading(i)) ||
          clock_type::now() - last_progress[i] > 5000ms) {
        stalled[i] = true;
        ++out.stalled;
      }
    }
    // Every 10 ms even while some client still makes progress: under load that can last until the
    // first stalled clients are closed, and a peak read only in quiet moments would miss them.
    if (clock_type::now() - measured >= 10ms) {
      measured = clock_type::now();
      out.peak_rss_kib = std::max(out.peak_rss_kib, server.rss_kib());
      out.peak_fds = std::max(out.peak_fds, server.open_fds());
    }
    if (!any) std::this_thread::sleep_for(10ms);
  }
  out.max_sent = *std::max_element(sent.begin(), sent.end());

  // The server is still answering what its receive buffers hold (a few MiB of requests per
  // client) and each write into its send buffer is progress that restarts the write timeout:
  // count from the last change seen in the send queues of its connections to these clients (from
  // the last byte a client got in if none was seen), until it holds none of them (descriptors at
  // the baseline, plus the probe's connection). How busy the machine is then delays both ends
  // alike, where an estimate of when the server went idle could start the count early.
  const auto wait_until = clock_type::now() + 20s;
  while (clock_type::now() < wait_until) {
    server_end.sample();
    std::this_thread::sleep_for(50ms);
    out.peak_rss_kib = std::max(out.peak_rss_kib, server.rss_kib());
    const int fds_now = server.open_fds();
    out.peak_fds = std::max(out.peak_fds, fds_now);
    if (fds_now <= base_fds + 1) {  // the probe may hold one
      out.server_closed_ms = elapsed_ms(server_end.last_write().value_or(
          *std::max_element(last_progress.begin(), last_progress.end())));
      break;
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
        "server %.0f ms after its last write to them, %zu saw the close; peak %d fds, peak RSS "
        "%ld KiB (baseline %ld, after %ld)\n",
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
  server_process server({.args = {"--threads", "2", "--write-timeout", "2s", "--header-timeout",
                                  "60s", "--max-requests-per-connection", "0"}});
  ASSERT_TRUE(server.ready()) << server.stderr_text();
  // Queued output stops reading at 64 KiB; it may overshoot by a response and there is an input
  // block and working state too: 96 KiB per client at most.
  check_waves("pipelined GET /plaintext", server, 50, get_request("/plaintext"), 96);
  EXPECT_EQ(server.terminate(), 0);
}

TEST(SlowReader, PipelinedLargeFilesStopBeingReadAndTheWriteTimeoutCloses) {
  temp_dir root;
  root.write_file("big", 4u * 1024 * 1024);
  server_process server({.args = {"--threads", "2", "--write-timeout", "2s", "--header-timeout",
                                  "60s", "--root", root.path()}});
  ASSERT_TRUE(server.ready()) << server.stderr_text();
  // A 4 MiB file per response: the server must not read a whole file into memory for a client
  // that does not take it (the file goes by sendfile from its descriptor; each client holds a
  // few blocks at most).
  check_waves("pipelined GET /static/big (4 MiB)", server, 50, get_request("/static/big"), 160);
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace
}  // namespace taut::hardening
