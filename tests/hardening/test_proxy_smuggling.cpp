// Request smuggling through the reverse proxy: every shape of smuggling_cases.hpp is sent to
// `taut-serve --proxy` in front of a recording upstream (a taut::server in this process). The
// front answers as taut-serve alone does (the same status, Connection: close, never the smuggled
// request), and the upstream never sees more requests than the client's bytes hold: none for a
// refused request, one for a valid one (two for the control), each with the framing the front
// decided (a Content-Length body equal to what the front decoded, never Transfer-Encoding).
// Each case is sent whole and again one byte per send().
#include <gtest/gtest.h>

#include <mutex>

#include "harness.hpp"
#include "smuggling_cases.hpp"
#include "taut/mux.hpp"
#include "taut/server.hpp"

namespace taut::hardening {
namespace {

/// What the upstream received.
struct recorded {
  std::string method;
  std::string target;
  std::string body;
  body_kind framing = body_kind::none;
  std::string content_length;
  bool transfer_encoding = false;
};

class recording_upstream {
 public:
  recording_upstream() {
    app_.handle("/", [this](request_context& req, reply& res) {
      record(req);
      if (req.path() == "/echo") {
        res.send(200, "{\"body\":" + json_string(req.body()) + "}", "application/json");
      } else {
        res.text(200, "upstream " + std::string(req.target()));
      }
    });
    app_.handle("GET /hello/{name}", [this](request_context& req, reply& res) {
      record(req);
      res.text(200, "Hello, " + std::string(req.param("name")) + "!\n");
    });
    server_ = std::make_unique<taut::server>(
        app_, server_options{.listen = {"127.0.0.1:0"}, .threads = 1});
    ok_ = !server_->start();
  }
  ~recording_upstream() {
    server_->stop_now();
    server_->wait();
  }
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] std::uint16_t port() const { return server_->local_addresses().front().port(); }
  std::vector<recorded> take() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(seen_, {});
  }

 private:
  void record(request_context& req) {
    recorded r{std::string(req.method_name()),
               std::string(req.target()),
               std::string(req.body()),
               req.raw().head().body.kind,
               std::string(req.header("Content-Length")),
               req.find_header("Transfer-Encoding") != nullptr};
    const std::lock_guard<std::mutex> lock(mutex_);
    seen_.push_back(std::move(r));
  }

  mux app_;
  std::unique_ptr<taut::server> server_;
  std::mutex mutex_;
  std::vector<recorded> seen_;
  bool ok_ = false;
};

/// Sends the case to the front, reads until it closes, and checks the front's answer and what
/// the upstream saw; returns the failure, or nothing.
std::string run_case(std::uint16_t port, recording_upstream& upstream, const smuggling_case& c,
                     delivery how) {
  (void)upstream.take();
  const std::string failure = deliver(port, c, how).failure;
  if (!failure.empty()) return failure;

  const std::vector<recorded> seen = upstream.take();
  const std::size_t expected = c.status == 200 ? c.responses : 0;
  if (seen.size() != expected) {
    return "the upstream saw " + std::to_string(seen.size()) + " requests, expected " +
           std::to_string(expected);
  }
  for (const recorded& s : seen) {
    if (s.transfer_encoding) return "Transfer-Encoding reached the upstream";
    if (s.framing == body_kind::chunked || s.framing == body_kind::until_close) {
      return "a framing other than Content-Length reached the upstream";
    }
  }
  // In order: the front starts the control's pipelined GET only once the POST before it is
  // answered (RFC 9112 section 9.3.2), so the upstream sees the POST first.
  if (expected >= 1) {
    const recorded& first = seen.front();
    if (first.target != "/echo" || first.body != c.body) {
      return "the upstream got " + first.method + " " + first.target + " with body [" + first.body +
             "]";
    }
    if (first.content_length != std::to_string(c.body.size())) {
      return "the upstream's Content-Length is [" + first.content_length + "]";
    }
  }
  if (expected == 2 && seen[1].target != "/hello/smuggled") {
    return "the control's second request reached the upstream as " + seen[1].target;
  }
  return {};
}

// Once as taut-serve --proxy runs by default, once with its upstream requests pipelined.
class ProxySmuggling : public ::testing::TestWithParam<const char*> {};

TEST_P(ProxySmuggling, TheUpstreamSeesOnlyWhatTheFrontFramed) {
  recording_upstream upstream;
  ASSERT_TRUE(upstream.ok());
  server_process front(
      {.args = {"--threads", "2", "--proxy", "http://127.0.0.1:" + std::to_string(upstream.port()),
                "--proxy-pipeline", GetParam()}});
  ASSERT_TRUE(front.ready()) << front.stderr_text();

  const std::vector<smuggling_case> all = cases();
  std::size_t passed = 0;
  for (const smuggling_case& c : all) {
    for (const delivery how : {delivery::whole, delivery::byte_by_byte}) {
      const std::string why = run_case(front.port(), upstream, c, how);
      if (why.empty()) {
        ++passed;
      } else {
        ADD_FAILURE() << c.name << (how == delivery::whole ? " (whole)" : " (byte by byte)") << ": "
                      << why;
      }
    }
  }
  std::printf("%zu cases x 2 deliveries through taut-serve --proxy: %zu passed\n", all.size(),
              passed);
  EXPECT_EQ(passed, all.size() * 2);
  EXPECT_TRUE(front.running());
  EXPECT_EQ(front.terminate(), 0);
}

INSTANTIATE_TEST_SUITE_P(PipelineDepth, ProxySmuggling, ::testing::Values("1", "8"),
                         [](const auto& info) { return std::string("depth") + info.param; });

// A user's `taut-serve --proxy /api=URL`: no dot segment (plain, escaped or with path parameters
// as in "..;"), empty segment, escaped slash or NUL takes a request to an upstream path outside the
// prefix it was routed by.
TEST(ProxyPaths, TautServeForwardsOnlyTheCleanedPathUnderItsPrefix) {
  recording_upstream upstream;
  ASSERT_TRUE(upstream.ok());
  server_process front(
      {.args = {"--threads", "1", "--proxy",
                "/api=http://127.0.0.1:" + std::to_string(upstream.port()) + "/base"}});
  ASSERT_TRUE(front.ready()) << front.stderr_text();
  const auto ask = [&](const std::string& request_line) {
    const int fd = connect_loopback(front.port());
    EXPECT_GE(fd, 0);
    (void)send_all(fd, request_line + "\r\nHost: h\r\nConnection: close\r\n\r\n",
                   clock_type::now() + 2s);
    const read_outcome got = read_until_close(fd, 5000ms);
    ::close(fd);
    const split parsed = split_responses(got.bytes);
    return parsed.responses.empty() ? response{} : parsed.responses.front();
  };
  struct refused_case {
    const char* line;
    int status;
    const char* location;
  };
  for (const refused_case& c :
       {refused_case{"GET /api/../hello/x HTTP/1.1", 301, "/hello/x"},
        refused_case{"GET /api/%2e%2E/hello/x HTTP/1.1", 301, "/hello/x"},
        refused_case{"GET /api//a/./b HTTP/1.1", 301, "/api/a/b"},
        refused_case{"GET /api/..%2fhello/x HTTP/1.1", 400, ""},
        refused_case{"GET /api/..%5Chello/x HTTP/1.1", 400, ""},
        refused_case{"GET /api/..;/hello/x HTTP/1.1", 400, ""},
        refused_case{"GET /api/%2e%2e;x/hello/x HTTP/1.1", 400, ""},
        refused_case{"GET /api/%2e%2e%00 HTTP/1.1", 400, ""},
        refused_case{"OPTIONS /api/x HTTP/1.1\r\nMax-Forwards: 0", 200, ""},
        refused_case{"TRACE /api/x HTTP/1.1\r\nMax-Forwards: 0", 501, ""}}) {
    const response r = ask(c.line);
    EXPECT_EQ(r.status, c.status) << c.line;
    if (*c.location != '\0') {
      EXPECT_EQ(r.header("Location"), c.location) << c.line;
    }
    EXPECT_TRUE(upstream.take().empty()) << c.line << " reached the upstream";
  }
  const response forwarded = ask("GET /api/a/b?c=../d HTTP/1.1");
  EXPECT_EQ(forwarded.status, 200);
  const std::vector<recorded> seen = upstream.take();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/base/a/b?c=../d");
  EXPECT_EQ(front.terminate(), 0);
}

}  // namespace
}  // namespace taut::hardening
