// Resets and half-closes at every stage of an exchange: in the request-line, in the headers, in a
// Content-Length body, in a chunked body, after whole pipelined requests, and in the middle of a
// large response. A reset (SO_LINGER 0) must cost the server nothing but the connection; a
// half-close (shutdown(SHUT_WR)) must be answered sensibly: an unfinished request is never
// answered 200, finished ones are answered in full before the server closes. Meanwhile the probe
// is served, and afterwards the server's descriptors are back at the baseline and its memory did
// not grow from one round to the next.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <map>

#include "harness.hpp"

namespace taut::hardening {
namespace {

constexpr std::size_t file_size = 1024 * 1024;

enum class action { reset, half_close };

struct stage {
  const char* name;
  std::string bytes;            // what the client sends before acting
  std::size_t complete = 0;     // whole requests among them
  std::size_t read_before = 0;  // response bytes to read before acting
};

std::vector<stage> stages() {
  const std::string post = "POST /echo HTTP/1.1\r\nHost: hardening\r\n";
  std::string pipelined;
  for (int i = 0; i < 10; ++i) pipelined += get_request("/plaintext");
  return {
      {"mid request-line", "GET /plaint", 0, 0},
      {"mid headers", "GET /plaintext HTTP/1.1\r\nHost: hardening\r\nX-Half: b", 0, 0},
      {"mid Content-Length body", post + "Content-Length: 100\r\n\r\n" + std::string(50, 'b'), 0,
       0},
      {"mid chunked body", post + "Transfer-Encoding: chunked\r\n\r\n10\r\nabcde", 0, 0},
      {"after 10 pipelined requests", pipelined, 10, 0},
      {"mid response (1 MiB file)", get_request("/static/big"), 1, 16 * 1024},
  };
}

/// One connection through one stage and action; returns what went wrong, or nothing.
std::string run_case(std::uint16_t port, const stage& s, action act) {
  const int fd = connect_loopback(port);
  if (fd < 0) return std::string("connect: ") + std::strerror(errno);
  const auto deadline = clock_type::now() + 5s;
  if (!send_all(fd, s.bytes, deadline)) {
    ::close(fd);
    return "send failed";
  }
  std::string received;
  while (received.size() < s.read_before) {
    char buffer[4096];
    const std::size_t want = std::min(sizeof buffer, s.read_before - received.size());
    const ssize_t n = ::recv(fd, buffer, want, 0);
    if (n <= 0) {
      ::close(fd);
      return "closed before the response";
    }
    received.append(buffer, static_cast<std::size_t>(n));
  }
  if (act == action::reset) {
    close_with_reset(fd);
    return {};
  }
  ::shutdown(fd, SHUT_WR);
  const read_outcome rest = read_until_close(fd, 5000ms);
  ::close(fd);
  received += rest.bytes;
  if (rest.how == ending::timeout) return "not closed after the half-close";
  const split parsed = split_responses(received);
  if (parsed.malformed) return "malformed response";
  if (s.complete == 0) {
    // An unfinished request may get an error status, never an answer.
    for (const response& r : parsed.responses) {
      if (r.status < 400) return "an unfinished request was answered " + std::to_string(r.status);
    }
    if (parsed.responses.size() > 1) return "more than one response";
    return {};
  }
  if (parsed.responses.size() != s.complete) {
    return "expected " + std::to_string(s.complete) + " responses, got " +
           std::to_string(parsed.responses.size()) + " (" + to_string(rest.how) + ")";
  }
  for (const response& r : parsed.responses) {
    if (r.status != 200) return "status " + std::to_string(r.status);
  }
  if (s.read_before > 0 && parsed.responses[0].body.size() != file_size) {
    return "file cut short: " + std::to_string(parsed.responses[0].body.size()) + " bytes";
  }
  return {};
}

TEST(Resets, ResetsAndHalfClosesAtEveryStage) {
  temp_dir root;
  root.write_file("big", file_size);
  server_process server({.args = {"--threads", "2", "--root", root.path(), "--header-timeout", "2s",
                                  "--body-timeout", "2s", "--write-timeout", "2s"}});
  ASSERT_TRUE(server.ready()) << server.stderr_text();
  const int base_fds = server.open_fds();
  const long base_rss = server.rss_kib();
  probe well_behaved(server.port());

  constexpr int per_case = 150;
  std::vector<long> rss_after;
  std::vector<int> fds_after;
  std::map<std::string, std::string> failures;  // case -> first failure
  std::map<std::string, int> failure_counts;
  const auto attack = clock_type::now();
  for (int round = 0; another_round(round, attack); ++round) {
    const auto start = clock_type::now();
    for (const stage& s : stages()) {
      for (const action act : {action::reset, action::half_close}) {
        const std::string name =
            std::string(s.name) + (act == action::reset ? ", reset" : ", half-close");
        for (int i = 0; i < per_case; ++i) {
          const std::string why = run_case(server.port(), s, act);
          if (why.empty()) continue;
          ++failure_counts[name];
          failures.emplace(name, why);
        }
      }
    }
    // A server that lingers after its last response reads for up to 2 s: allow that. The
    // probe may hold one connection.
    fds_after.push_back(server.wait_fds_at_most(base_fds + 1, 5s) - 1);
    rss_after.push_back(server.rss_kib());
    std::printf(
        "round %d: %zu cases x %d in %.0f ms; server descriptors %d (baseline %d), RSS "
        "%ld KiB (baseline %ld)\n",
        round, stages().size() * 2, per_case, elapsed_ms(start), fds_after.back(), base_fds,
        rss_after.back(), base_rss);
  }
  const probe::report seen = well_behaved.finish();
  std::printf(
      "probe: %llu ok, %llu failed, max %.1f ms %s\n", static_cast<unsigned long long>(seen.ok),
      static_cast<unsigned long long>(seen.failed), seen.max_ms, seen.first_failure.c_str());

  for (const auto& [name, why] : failures) {
    ADD_FAILURE() << name << ": " << failure_counts[name] << " of " << rss_after.size() * per_case
                  << " failed; first: " << why;
  }
  for (const int fds : fds_after) EXPECT_LE(fds, base_fds) << "descriptors leaked";
  TAUT_EXPECT_MEMORY_LT(rss_after.back() - rss_after.front(), 2048)
      << "KiB grown after the first round";
  EXPECT_EQ(seen.failed, 0u) << seen.first_failure;
  EXPECT_GT(seen.ok, 20u);
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace
}  // namespace taut::hardening
