// The soak: taut-serve (with ASan and UBSan when the build has TAUT_SANITIZE=ON) takes a mixed
// load from taut-soak-load for TAUT_SOAK_SECONDS (default 120): valid keep-alive and pipelined
// requests, malformed ones, resets, slow writers and readers, unfinished heads. At the end:
// every valid request got its correct response (the load generator checks each one), the probe
// was served throughout, RSS at the end is within a few MiB of RSS after warm-up, the server
// exits cleanly on SIGTERM (with the leak checker on, under ASan), and its standard error holds no
// sanitizer report.
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
#include <optional>
#include <sstream>

#include "harness.hpp"

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
}

}  // namespace
}  // namespace taut::hardening
