// Request smuggling through the whole server: every request below carries a second request
// (GET /hello/smuggled) where a server that frames the body differently from taut would read it
// as a new request. Ambiguous or malformed framing (CL.TE, TE.CL, TE.TE obfuscations, duplicate or
// malformed Content-Length, chunk-size overflow, bare CR and LF, NUL and other controls) must be
// answered with the parser's status (400, or 501 for an unknown coding) and `Connection: close`,
// then closed: exactly one response, never "Hello, smuggled!". Framing that is unusual but valid
// (OWS tabs, case, empty list elements, identical Content-Lengths, trailers) must frame the body
// as the RFC says: the echo shows the body, and the smuggled bytes stay body or go unread after
// `Connection: close`. A control case proves the test sees a second response when there is one.
// Each case is sent whole and again one byte per send().
#include <gtest/gtest.h>

#include <cstdio>

#include "harness.hpp"
#include "smuggling_cases.hpp"

namespace taut::hardening {
namespace {

/// Sends the case, reads until the server closes; returns the failure, or nothing.
std::string run_case(std::uint16_t port, const smuggling_case& c, delivery how) {
  const case_answer answer = deliver(port, c, how);
  if (!answer.failure.empty()) return answer.failure;
  if (c.responses == 2 && answer.parsed.responses[1].body != "Hello, smuggled!\n") {
    return "the control's second response is missing";
  }
  return {};
}

TEST(Smuggling, AmbiguousFramingIsRejectedAndBodyBytesAreNeverARequest) {
  server_process server({.args = {"--threads", "2"}});
  ASSERT_TRUE(server.ready()) << server.stderr_text();
  const int base_fds = server.open_fds();
  const long base_rss = server.rss_kib();
  probe well_behaved(server.port());

  const std::vector<smuggling_case> all = cases();
  std::vector<long> rss_after;
  std::size_t passed = 0;
  const auto attack = clock_type::now();
  int rounds = 0;
  for (; another_round(rounds, attack); ++rounds) {
    for (const smuggling_case& c : all) {
      for (const delivery how : {delivery::whole, delivery::byte_by_byte}) {
        const std::string why = run_case(server.port(), c, how);
        if (why.empty()) {
          ++passed;
        } else if (rounds == 0) {
          ADD_FAILURE() << c.name << (how == delivery::whole ? " (whole)" : " (byte by byte)")
                        << ": " << why;
        }
      }
    }
    rss_after.push_back(server.rss_kib());
  }
  const probe::report seen = well_behaved.finish();
  const int fds_after = server.wait_fds_at_most(base_fds, 5s);
  std::printf(
      "%zu cases x 2 deliveries x %d rounds: %zu passed; RSS %ld -> %ld -> %ld KiB; "
      "descriptors %d (baseline %d)\n",
      all.size(), rounds, passed, base_rss, rss_after.front(), rss_after.back(), fds_after,
      base_fds);
  std::printf(
      "probe: %llu ok, %llu failed, max %.1f ms %s\n", static_cast<unsigned long long>(seen.ok),
      static_cast<unsigned long long>(seen.failed), seen.max_ms, seen.first_failure.c_str());
  EXPECT_EQ(passed, all.size() * 2 * static_cast<std::size_t>(rounds));
  TAUT_EXPECT_MEMORY_LT(rss_after.back() - rss_after.front(), 1024);
  EXPECT_LE(fds_after, base_fds);
  EXPECT_EQ(seen.failed, 0u) << seen.first_failure;
  EXPECT_GT(seen.ok, 20u);
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace
}  // namespace taut::hardening
