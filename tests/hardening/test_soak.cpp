// The soak: taut-serve (with ASan and UBSan when the build has TAUT_SANITIZE=ON) takes a mixed
// load from taut-soak-load for TAUT_SOAK_SECONDS (default 120): valid keep-alive and pipelined
// requests, malformed ones, resets, slow writers and readers, unfinished heads. At the end:
// every valid request got its correct response (the load generator checks each one), the probe
// was served throughout, RSS at the end is within a few MiB of RSS after warm-up, the server
// exits cleanly on SIGTERM (with the leak checker on, under ASan), and its standard error holds no
// sanitizer report.
//
// With TLS in the build, a second taut-serve speaking TLS (every TCP listener of a taut-serve is
// TLS or none is) takes TLS clients at the same time under the same checks: keep-alive sessions
// (resumed from tickets) with GETs, echoed uploads and a static file, connections closed with and
// without close_notify, requests cut mid-way, half-done handshakes reset, and garbage.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "harness.hpp"

#if TAUT_SOAK_TLS
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "taut/transport/tls.hpp"
#include "tls_certs.hpp"
#endif

namespace taut::hardening {
namespace {

int soak_seconds() {
  const char* text = std::getenv("TAUT_SOAK_SECONDS");
  if (text == nullptr || *text == '\0') return 120;
  const int value = std::atoi(text);
  return value > 0 ? value : 120;
}

/// The load generator as a child process, its standard output in a temporary file.
class load_process {
 public:
  explicit load_process(std::vector<std::string> args) {
    char name[] = "/tmp/taut-soak-load-XXXXXX";
    const int out_fd = ::mkstemp(name);
    out_path_ = name;
    args.insert(args.begin(), TAUT_SOAK_LOAD_PATH);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);
      ::dup2(out_fd, STDOUT_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out_fd);
  }
  ~load_process() {
    if (pid_ > 0 && !done_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::unlink(out_path_.c_str());
  }
  load_process(const load_process&) = delete;
  load_process& operator=(const load_process&) = delete;

  /// The exit status once it has finished, or nothing while it runs.
  std::optional<int> poll() {
    if (done_) return status_;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
    done_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
  }
  void kill() {
    if (!done_) ::kill(pid_, SIGKILL);
  }
  [[nodiscard]] std::string output() const {
    std::ifstream in(out_path_);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  pid_t pid_ = -1;
  std::string out_path_;
  bool done_ = false;
  int status_ = -1;
};

/// "name value" lines of the load generator's summary.
long long summary_value(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::atoll(line.c_str() + name.size() + 1);
  }
  return -1;
}

/// Adds to the sanitizers' options from the environment (later entries win): the leak check
/// on, and a small quarantine, so that ASan's freed-memory quarantine (256 MiB by default) fills
/// during the warm-up instead of growing RSS through the whole run.
std::vector<std::string> sanitizer_environment() {
  std::string asan = "ASAN_OPTIONS=";
  if (const char* given = std::getenv("ASAN_OPTIONS")) asan += std::string(given) + ":";
  asan += "detect_leaks=1:quarantine_size_mb=16:malloc_context_size=20";
  std::string ubsan = "UBSAN_OPTIONS=";
  if (const char* given = std::getenv("UBSAN_OPTIONS")) ubsan += std::string(given) + ":";
  ubsan += "print_stacktrace=1:halt_on_error=1";
  return {asan, ubsan};
}

#if TAUT_SOAK_TLS
/// TLS clients against a TLS taut-serve for `seconds`, on `threads` threads, each checking every
/// answer to a valid request. Summary counters, and the first failure.
class tls_load {
 public:
  struct counts {
    std::atomic<long long> valid_sent{0};
    std::atomic<long long> valid_ok{0};
    std::atomic<long long> handshakes{0};
    std::atomic<long long> resumed{0};
    std::atomic<long long> abandoned{0};  // half-done handshakes, garbage, cut requests
  };

  tls_load(std::uint16_t port, std::string ca_file, std::string static_body, int seconds,
           int threads)
      : port_(port),
        static_body_(std::move(static_body)),
        until_(clock_type::now() + std::chrono::seconds(seconds)) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT);
    for (int i = 0; i < threads; ++i) {
      workers_.emplace_back([this, i] { run(static_cast<unsigned>(i)); });
    }
  }
  ~tls_load() {
    stop_ = true;
    for (std::thread& t : workers_) t.join();
    SSL_CTX_free(ctx_);
  }
  tls_load(const tls_load&) = delete;
  tls_load& operator=(const tls_load&) = delete;

  void wait() {
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }
  [[nodiscard]] const counts& seen() const noexcept { return counts_; }
  [[nodiscard]] std::string first_failure() {
    const std::lock_guard<std::mutex> hold(lock_);
    return first_failure_;
  }

 private:
  struct session {
    int fd = -1;
    SSL* ssl = nullptr;
    std::string inbox;
  };

  void failure(std::string why) {
    const std::lock_guard<std::mutex> hold(lock_);
    if (first_failure_.empty()) first_failure_ = std::move(why);
  }

  bool open(session& s, SSL_SESSION* resume) {
    s.fd = connect_loopback(port_);
    if (s.fd < 0) return false;
    timeval tv{5, 0};
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    s.ssl = SSL_new(ctx_);
    SSL_set_fd(s.ssl, s.fd);
    SSL_set_tlsext_host_name(s.ssl, "localhost");
    SSL_set1_host(s.ssl, "localhost");
    if (resume != nullptr) SSL_set_session(s.ssl, resume);
    if (SSL_connect(s.ssl) != 1) return false;
    ++counts_.handshakes;
    if (SSL_session_reused(s.ssl) != 0) ++counts_.resumed;
    return true;
  }
  static void close(session& s, bool notify) {
    if (s.ssl != nullptr) {
      if (notify) (void)SSL_shutdown(s.ssl);
      SSL_free(s.ssl);
    }
    if (s.fd >= 0) ::close(s.fd);
    s = {};
  }
  /// Sends `request` and reads one response; checks it with `ok`.
  template <class Check>
  bool exchange(session& s, const std::string& request, Check ok, const char* what) {
    ++counts_.valid_sent;
    if (SSL_write(s.ssl, request.data(), static_cast<int>(request.size())) <= 0) {
      failure(std::string(what) + ": write failed");
      return false;
    }
    for (;;) {
      const split parsed = split_responses(s.inbox);
      if (!parsed.responses.empty()) {
        s.inbox.erase(0, parsed.used);
        if (!ok(parsed.responses.front())) {
          failure(std::string(what) + ": wrong response " +
                  std::to_string(parsed.responses.front().status));
          return false;
        }
        ++counts_.valid_ok;
        return true;
      }
      char buffer[16384];
      const int got = SSL_read(s.ssl, buffer, sizeof buffer);
      if (got <= 0) {
        failure(std::string(what) + ": no response");
        return false;
      }
      s.inbox.append(buffer, static_cast<std::size_t>(got));
    }
  }

  void run(unsigned index) {
    std::mt19937 random(index + 1);
    SSL_SESSION* last = nullptr;
    for (unsigned round = 0; !stop_ && clock_type::now() < until_; ++round) {
      session s;
      switch (round % 8) {
        case 0:
        case 1:
        case 2:
        case 3: {  // a keep-alive session: GETs, echoed uploads and the static file
          if (!open(s, round % 2 == 0 ? last : nullptr)) {
            failure("handshake failed");
            ++counts_.valid_sent;
            break;
          }
          for (int i = 0; i < 6; ++i) {
            bool good = false;
            if (i % 3 == 0) {
              good = exchange(
                  s, get_request("/plaintext"),
                  [](const response& r) { return r.status == 200 && r.body == "Hello, World!"; },
                  "plaintext");
            } else if (i % 3 == 1) {
              std::string body(random() % 20000, 'x');
              for (char& c : body) c = static_cast<char>('a' + random() % 26);
              const std::string request =
                  "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Type: text/plain\r\n"
                  "Content-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body;
              good = exchange(
                  s, request,
                  [&body](const response& r) {
                    return r.status == 200 &&
                           r.body.find("\"body\":\"" + body + "\"") != std::string::npos;
                  },
                  "echo");
            } else {
              good = exchange(
                  s, get_request("/static/soak.bin"),
                  [this](const response& r) { return r.status == 200 && r.body == static_body_; },
                  "static");
            }
            if (!good) break;
            if (i == 0) {
              // TLS 1.3 tickets come after the handshake: the session resumes once one was read.
              if (last != nullptr) SSL_SESSION_free(last);
              last = SSL_get1_session(s.ssl);
            }
          }
          close(s, round % 4 < 2);  // with close_notify, or just the FIN
          break;
        }
        case 4: {  // a half-done handshake, reset
          s.fd = connect_loopback(port_);
          if (s.fd >= 0) {
            static const std::string hello = [] {
              SSL_CTX* c = SSL_CTX_new(TLS_client_method());
              SSL* h = SSL_new(c);
              BIO* out = BIO_new(BIO_s_mem());
              SSL_set_bio(h, BIO_new(BIO_s_mem()), out);
              (void)SSL_connect(h);
              char* data = nullptr;
              const long size = BIO_get_mem_data(out, &data);
              std::string bytes(data, static_cast<std::size_t>(std::max(0L, size)));
              SSL_free(h);
              SSL_CTX_free(c);
              return bytes;
            }();
            (void)send_all(s.fd, hello.substr(0, random() % (hello.size() + 1)),
                           clock_type::now() + 2s);
            close_with_reset(s.fd);
            s.fd = -1;
          }
          ++counts_.abandoned;
          break;
        }
        case 5: {  // garbage instead of a hello
          s.fd = connect_loopback(port_);
          if (s.fd >= 0) {
            std::string junk(1 + random() % 2000, '\0');
            for (char& c : junk) c = static_cast<char>(random() & 0xff);
            (void)send_all(s.fd, junk, clock_type::now() + 2s);
            (void)read_until_close(s.fd, 3000ms);
            ::close(s.fd);
            s.fd = -1;
          }
          ++counts_.abandoned;
          break;
        }
        default: {  // a request cut mid-way, then gone without close_notify
          if (open(s, last)) {
            const std::string part =
                "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 100\r\n\r\nabc";
            (void)SSL_write(s.ssl, part.data(), static_cast<int>(part.size()));
          }
          close(s, false);
          ++counts_.abandoned;
          break;
        }
      }
      std::this_thread::sleep_for(5ms);
    }
    if (last != nullptr) SSL_SESSION_free(last);
  }

  std::uint16_t port_;
  std::string static_body_;
  clock_type::time_point until_;
  SSL_CTX* ctx_ = nullptr;
  std::atomic<bool> stop_{false};
  counts counts_;
  std::mutex lock_;
  std::string first_failure_;
  std::vector<std::thread> workers_;
};
#endif

TEST(Soak, MixedLoadForTautSoakSeconds) {
  const int seconds = soak_seconds();
  // The first third of the run (5 to 40 s) warms up the pools, the allocator and, under ASan,
  // its quarantine: about 30 s for an ASan build, so runs shorter than a minute may not reach
  // a steady state there.
  const int warm_up = std::clamp(seconds / 3, 5, 40);
  constexpr int header_timeout_ms = 2000;
  std::printf("soak: %d s against %s taut-serve (warm-up %d s)\n", seconds,
              sanitized_build ? "an ASan+UBSan" : "a plain", warm_up);
  raise_fd_limit();
  constexpr std::size_t static_size = 300 * 1000;  // served by sendfile, whole and by ranges
  temp_dir root;
  root.write_file("soak.bin", static_size);
  server_process server(
      {.args = {"--threads", "2", "--root", root.path(), "--header-timeout",
                std::to_string(header_timeout_ms) + "ms", "--body-timeout", "5s", "--idle-timeout",
                "10s", "--write-timeout", "10s", "--max-body", "64K", "--drain-timeout", "5s"},
       .env = sanitizer_environment()});
  ASSERT_TRUE(server.ready()) << server.stderr_text();
  const long base_rss = server.rss_kib();
  probe well_behaved(server.port(), 5000ms, 50ms);
#if TAUT_SOAK_TLS
  // The TLS server and its clients (when the transport has TLS at run time).
  std::unique_ptr<server_process> tls_server;
  std::unique_ptr<tls_load> tls_clients;
  const test::tls_test_files certs = test::make_tls_test_files();
  if (transport::tls_available()) {
    ASSERT_TRUE(certs.ok) << certs.error;
    tls_server = std::make_unique<server_process>(server_process::options{
        .args = {"--threads", "2", "--root", root.path(), "--tls-cert", certs.cert, "--tls-key",
                 certs.key, "--tls-handshake-timeout", "3s", "--header-timeout", "2s",
                 "--idle-timeout", "10s", "--max-body", "64K", "--drain-timeout", "5s"},
        .env = sanitizer_environment()});
    ASSERT_TRUE(tls_server->ready()) << tls_server->stderr_text();
    std::ifstream in(root.path() + "/soak.bin", std::ios::binary);
    const std::string static_body{std::istreambuf_iterator<char>(in),
                                  std::istreambuf_iterator<char>()};
    tls_clients =
        std::make_unique<tls_load>(tls_server->port(), certs.ca_cert, static_body, seconds, 2);
  } else {
    std::printf("soak: no TLS clients (taut was built without TLS)\n");
  }
  long tls_warm_rss = 0;
  long tls_end_rss = 0;
#endif

  load_process load({"--port", std::to_string(server.port()), "--seconds", std::to_string(seconds),
                     "--threads", "6", "--header-timeout-ms", std::to_string(header_timeout_ms),
                     "--static-size", std::to_string(static_size)});
  const auto start = clock_type::now();
  long warm_rss = 0;
  long peak_rss = 0;
  long end_rss = 0;
  std::optional<int> load_status;
  // Bounded: the load stops itself after `seconds`; a minute more and it is killed.
  const auto give_up = start + std::chrono::seconds(seconds + 60);
  int next_report = 30;
  while (!(load_status = load.poll()) && clock_type::now() < give_up) {
    std::this_thread::sleep_for(200ms);
    const long rss = server.rss_kib();
    const double at = elapsed_ms(start) / 1000;
    if (warm_rss == 0 && at >= warm_up) warm_rss = rss;
    if (warm_rss != 0) peak_rss = std::max(peak_rss, rss);
    if (at < seconds) end_rss = rss;  // the last sample under load
#if TAUT_SOAK_TLS
    if (tls_server) {
      const long tls_rss = tls_server->rss_kib();
      if (tls_warm_rss == 0 && at >= warm_up) tls_warm_rss = tls_rss;
      if (at < seconds) tls_end_rss = tls_rss;
    }
#endif
    if (at >= next_report) {
      std::printf("  %4.0f s: server RSS %ld KiB, CPU %lld ms\n", at, rss,
                  static_cast<long long>(server.cpu_time().count()));
      std::fflush(stdout);
      next_report += 30;
    }
    if (!server.running()) break;
  }
  if (!load_status) load.kill();
  const bool server_survived = server.running();
  const probe::report seen = well_behaved.finish();
  const int exit_status = server.terminate(20s);
  const std::string errors = server.stderr_text();
  const std::string summary = load.output();

  std::printf("%s", summary.c_str());
  std::printf(
      "server RSS: start %ld KiB, after warm-up %ld KiB, peak %ld KiB, at the end %ld KiB "
      "(end - warm-up: %+ld KiB)\n",
      base_rss, warm_rss, peak_rss, end_rss, end_rss - warm_rss);
  std::printf(
      "probe: %llu ok, %llu failed, max %.1f ms %s\n", static_cast<unsigned long long>(seen.ok),
      static_cast<unsigned long long>(seen.failed), seen.max_ms, seen.first_failure.c_str());
  std::printf("server exit status after SIGTERM: %d\n", exit_status);

  EXPECT_TRUE(server_survived) << errors;
  ASSERT_TRUE(load_status.has_value()) << "the load generator did not finish";
  EXPECT_EQ(*load_status, 0) << "some valid request did not get its correct response";
  const long long sent = summary_value(summary, "valid_sent");
  EXPECT_GT(sent, 1000);
  EXPECT_EQ(summary_value(summary, "valid_ok"), sent);
  EXPECT_GT(summary_value(summary, "malformed_ok"), 0);
  EXPECT_GT(summary_value(summary, "resets"), 0);
  EXPECT_GT(summary_value(summary, "timeouts_ok"), 0);
  EXPECT_EQ(seen.failed, 0u) << seen.first_failure;
  EXPECT_GT(seen.ok, 10u);
  EXPECT_LT(end_rss - warm_rss, 4096) << "KiB grown after the warm-up";
  EXPECT_EQ(exit_status, 0) << errors;
  for (const char* report : {"ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"}) {
    EXPECT_EQ(errors.find(report), std::string::npos) << errors;
  }

#if TAUT_SOAK_TLS
  if (!tls_server) return;
  tls_clients->wait();
  const bool tls_survived = tls_server->running();
  const int tls_exit = tls_server->terminate(20s);
  const std::string tls_errors = tls_server->stderr_text();
  const tls_load::counts& tls = tls_clients->seen();
  std::printf(
      "tls: %lld valid requests sent, %lld answered correctly; %lld handshakes (%lld resumed), "
      "%lld abandoned (half-done handshakes, garbage, cut requests) %s\n",
      tls.valid_sent.load(), tls.valid_ok.load(), tls.handshakes.load(), tls.resumed.load(),
      tls.abandoned.load(), tls_clients->first_failure().c_str());
  std::printf("tls server RSS: after warm-up %ld KiB, at the end %ld KiB (%+ld KiB); exit %d\n",
              tls_warm_rss, tls_end_rss, tls_end_rss - tls_warm_rss, tls_exit);
  EXPECT_TRUE(tls_survived) << tls_errors;
  EXPECT_GT(tls.valid_sent.load(), 100);
  EXPECT_EQ(tls.valid_ok.load(), tls.valid_sent.load()) << tls_clients->first_failure();
  EXPECT_GT(tls.resumed.load(), 0);
  EXPECT_GT(tls.abandoned.load(), 0);
  EXPECT_LT(tls_end_rss - tls_warm_rss, 4096) << "KiB grown after the warm-up (TLS server)";
  EXPECT_EQ(tls_exit, 0) << tls_errors;
  for (const char* report : {"ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"}) {
    EXPECT_EQ(tls_errors.find(report), std::string::npos) << tls_errors;
  }
#endif
}

}  // namespace
}  // namespace taut::hardening
