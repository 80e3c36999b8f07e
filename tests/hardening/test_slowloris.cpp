// Slowloris: 2,000 connections each send one byte of a request head per second, forever. The
// header timeout (2 s here) must cut every one of them (with a 408, since bytes came), on time,
// while a well-behaved client keeps getting its answers; and a second wave must not grow the
// server's memory beyond the first.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "harness.hpp"

namespace taut::hardening {
namespace {

constexpr std::size_t attackers = 2000;
constexpr milliseconds header_timeout = 2000ms;
// Scheduling on two shared cores, and the 1 s between bytes: a byte sent just after the deadline
// passed is when the client learns of the close at the latest.
constexpr milliseconds slack = 1500ms;

struct wave_result {
  std::size_t opened = 0;
  std::size_t closed = 0;
  std::size_t answered_408 = 0;
  std::size_t other_answers = 0;
  double min_ms = 1e9;
  double max_ms = 0;
  double median_ms = 0;
  long peak_rss_kib = 0;
  int peak_fds = 0;
};

/// Opens the attackers and dribbles one byte per second per connection until each is closed.
wave_result run_wave(server_process& server) {
  wave_result out;
  const std::string head =
      "GET /plaintext HTTP/1.1\r\nHost: slowloris\r\nX-Slow: " + std::string(200, 'a');
  // The earliest close is measured per connection from when its connect began (no server can
  // start its timer before that), and the latest from before the first was opened, so that both
  // bounds hold for every connection however long the 2,000 connects take on a loaded machine.
  const auto opening = clock_type::now();
  std::vector<clock_type::time_point> began;
  std::vector<int> fds = open_connections(server.port(), attackers, 10s, 512, &began);
  out.opened = fds.size();

  struct state {
    std::size_t sent = 0;
    std::string received;
    clock_type::time_point began;
  };
  std::unordered_map<int, state> open;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  for (std::size_t i = 0; i < fds.size(); ++i) {
    const int fd = fds[i];
    open.emplace(fd, state{0, {}, began[i]});
    epoll_event interest{};
    interest.events = EPOLLIN | EPOLLRDHUP;
    interest.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &interest);
  }
  std::vector<clock_type::time_point> closed_at;
  clock_type::duration shortest_life = clock_type::duration::max();
  const auto finish = [&](int fd, state& s) {
    const auto now = clock_type::now();
    closed_at.push_back(now);
    shortest_life = std::min(shortest_life, now - s.began);
    const split parsed = split_responses(s.received);
    if (parsed.responses.size() == 1 && parsed.responses[0].status == 408 &&
        parsed.used == s.received.size()) {
      ++out.answered_408;
    } else if (!s.received.empty()) {
      ++out.other_answers;
    }
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
  };

  const auto give_up = opening + header_timeout + slack + 2s;
  auto next_tick = clock_type::now();
  std::vector<epoll_event> events(1024);
  while (!open.empty() && clock_type::now() < give_up) {
    if (clock_type::now() >= next_tick) {
      for (auto& [fd, s] : open) {
        if (s.sent < head.size() &&
            ::send(fd, head.data() + s.sent, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
          ++s.sent;
        }
      }
      next_tick += 1s;
      out.peak_rss_kib = std::max(out.peak_rss_kib, server.rss_kib());
      out.peak_fds = std::max(out.peak_fds, server.open_fds());
    }
    const int wait = static_cast<int>(std::max<long long>(
        1, std::chrono::duration_cast<milliseconds>(next_tick - clock_type::now()).count()));
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), wait);
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      const auto it = open.find(fd);
      if (it == open.end()) continue;
      char buffer[4096];
      for (;;) {
        const ssize_t got = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (got > 0) {
          it->second.received.append(buffer, static_cast<std::size_t>(got));
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
        finish(fd, it->second);  // EOF or reset
        open.erase(it);
        break;
      }
    }
  }
  out.closed = closed_at.size();
  for (auto& [fd, s] : open) ::close(fd);
  ::close(ep);
  if (!closed_at.empty()) {
    std::sort(closed_at.begin(), closed_at.end());
    const auto ms = [](clock_type::duration d) {
      return std::chrono::duration<double, std::milli>(d).count();
    };
    out.min_ms = ms(shortest_life);
    out.max_ms = ms(closed_at.back() - opening);
    out.median_ms = ms(closed_at[closed_at.size() / 2] - opening);
  }
  return out;
}

TEST(Slowloris, HeaderTimeoutCutsTwoThousandDribblingConnections) {
  raise_fd_limit();
  server_process server({.args = {"--threads", "2", "--header-timeout", "2s"}});
  ASSERT_TRUE(server.ready()) << server.stderr_text();
  const int base_fds = server.open_fds();
  const long base_rss = server.rss_kib();

  probe well_behaved(server.port());
  std::vector<wave_result> waves;
  std::vector<long> rss_after;
  for (int wave = 0; wave < 3; ++wave) {
    waves.push_back(run_wave(server));
    // Every attacker closed: back to the baseline, plus the probe's connection if it has one.
    EXPECT_LE(server.wait_fds_at_most(base_fds + 1, 3s), base_fds + 1) << "wave " << wave;
    rss_after.push_back(server.rss_kib());
  }
  const probe::report seen = well_behaved.finish();

  for (std::size_t i = 0; i < waves.size(); ++i) {
    const wave_result& w = waves[i];
    std::printf(
        "slowloris wave %zu: %zu opened, %zu closed (%zu with 408, %zu other answers); close after "
        "%.0f / %.0f / %.0f ms (min / median / max); peak %d fds, peak RSS %ld KiB, after %ld KiB "
        "(baseline %ld KiB)\n",
        i, w.opened, w.closed, w.answered_408, w.other_answers, w.min_ms, w.median_ms, w.max_ms,
        w.peak_fds, w.peak_rss_kib, rss_after[i], base_rss);
    EXPECT_EQ(w.opened, attackers);
    EXPECT_EQ(w.closed, w.opened) << "connections the header timeout did not cut";
    EXPECT_EQ(w.answered_408, w.closed);
    EXPECT_GE(w.min_ms, static_cast<double>(header_timeout.count()) - 200)
        << "closed before the header timeout";
    EXPECT_LE(w.max_ms, static_cast<double>((header_timeout + slack).count()));
    EXPECT_GE(w.peak_fds, base_fds + static_cast<int>(attackers) * 9 / 10)
        << "the attackers were not all held open at once";
  }
  std::printf(
      "probe: %llu ok, %llu failed, max %.1f ms %s\n", static_cast<unsigned long long>(seen.ok),
      static_cast<unsigned long long>(seen.failed), seen.max_ms, seen.first_failure.c_str());
  EXPECT_EQ(seen.failed, 0u) << seen.first_failure;
  EXPECT_GT(seen.ok, 50u);
  // A leak: the server's RSS after a wave (freed memory mostly stays with the allocator, so RSS is
  // the high-water mark of what was held at once) grows by the leaked amount after every wave.
  // What a wave holds at once also depends on this test's own speed: on a busy machine it opens
  // the attackers more slowly, so fewer hold an input block at the same moment and the first wave
  // warms the allocator to a lower mark, which a later wave then raises by a few MiB with no leak
  // (seen under load: 29.1 MiB after the first wave, 31.8 after the second; 31.5 and 31.9 on an
  // idle machine). So three waves, and the growth over the last two together: a leak grows it by
  // twice its size per wave, a late high-water mark only once. Under 3.5 MiB: a leak of 1 KiB per
  // attacker (3.9 MiB over the two waves) exceeds it; the largest late mark seen, 2.7 MiB, not.
  TAUT_EXPECT_MEMORY_LT(rss_after[2] - rss_after[0], 3584)
      << "KiB grown by the second and the third wave together";
  // While attacked, each connection holds at most an input block (8 KiB) and its bookkeeping. RSS
  // keeps the allocator's high-water mark, so a later wave's peak also holds the late mark that
  // the growth check above allows (seen under load: 28.5 MiB over the baseline in a second wave
  // whose first peaked at 25.9, with 27.4 MiB the per-connection bound).
  for (std::size_t i = 0; i < waves.size(); ++i) {
    const long late_mark = i == 0 ? 0 : 3584;
    TAUT_EXPECT_MEMORY_LT(waves[i].peak_rss_kib - base_rss,
                          static_cast<long>(attackers) * 12 + 4096 + late_mark)
        << "KiB at the peak of wave " << i;
  }
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace
}  // namespace taut::hardening
