// What the hardening tests share: taut-serve as a child process (its RSS, descriptors and CPU time
// read from /proc), loopback sockets with deadlines, a response splitter built on taut's own
// response parser, and a probe client that keeps asking GET /plaintext while a test attacks.
// Every wait is bounded; the only process ever signalled is the child this code started.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace taut::hardening {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Whether this build (and so the server under test) has ASan and UBSan (TAUT_SANITIZE). The
/// server's RSS then also counts shadow memory, redzones and the quarantine of freed blocks.
inline constexpr bool sanitized_build = TAUT_HARDENING_SANITIZED;

/// A bound on the server's memory: checked for a plain build; under the sanitizers, where RSS says
/// little about the server's own memory, the figures are only printed. (The soak test checks RSS
/// under ASan too, with a small quarantine and after a warm-up.)
#define TAUT_EXPECT_MEMORY_LT(a, b)         \
  if (::taut::hardening::sanitized_build) { \
  } else                                    \
    EXPECT_LT(a, b)

/// Raises this process's soft RLIMIT_NOFILE to its hard limit; returns the soft limit now.
rlim_t raise_fd_limit();

/// Milliseconds from `since` to now.
double elapsed_ms(clock_type::time_point since);

/// Whether an attack that started at `start` should run another round: at least `min_rounds`,
/// and rounds until `min_time` has passed (so that the probe runs alongside it for a while
/// however fast the rounds are).
bool another_round(int rounds_done, clock_type::time_point start, int min_rounds = 2,
                   milliseconds min_time = 2000ms);

/// The path of the taut-serve under test (from the build, or TAUT_SERVE overriding it).
std::string taut_serve_path();

/// taut-serve running as a child on 127.0.0.1 and an ephemeral port. Standard error goes to a
/// temporary file (read by stderr_text()); the destructor kills the child (SIGKILL) if a test
/// did not stop it.
class server_process {
 public:
  struct options {
    /// Flags after `--listen 127.0.0.1:0`.
    std::vector<std::string> args{};
    /// RLIMIT_NOFILE (soft and hard) set in the child before exec; unset: the hard limit.
    std::optional<rlim_t> fd_limit{};
    /// Extra environment entries ("NAME=value") for the child.
    std::vector<std::string> env{};
    /// Standard output goes to /dev/null unless set (the access log writes there).
    bool keep_stdout = false;
  };

  explicit server_process(options opts);
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  /// Whether the child started and printed its address.
  [[nodiscard]] bool ready() const noexcept { return port_ != 0; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  /// Whether the child is still running (reaps it if it exited).
  bool running();
  /// VmRSS of the child in KiB (0 if unreadable).
  [[nodiscard]] long rss_kib() const;
  /// Open descriptors of the child (entries of /proc/<pid>/fd), or -1.
  [[nodiscard]] int open_fds() const;
  /// User plus system CPU time the child has used.
  [[nodiscard]] milliseconds cpu_time() const;
  /// Everything the child wrote to standard error so far.
  [[nodiscard]] std::string stderr_text() const;

  /// SIGTERM, then waits up to `limit` for the child to exit (SIGKILL after that). Returns the
  /// exit status, 128 + the signal if a signal ended it, or -1 if it had to be killed.
  int terminate(milliseconds limit = 10s);
  /// Waits up to `limit` until open_fds() <= `target`; returns the last count seen.
  int wait_fds_at_most(int target, milliseconds limit);

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string stderr_path_;
  int exit_status_ = -1;
  bool reaped_ = false;
};

// --- Sockets ------------------------------------------------------------------------------------

/// A TCP socket connected to 127.0.0.1:`port` (blocking unless `nonblocking`, in which case the
/// connect may still be in progress), with SO_RCVBUF set first if `receive_buffer` > 0 (so the
/// window it announces stays small). -1 on failure, errno set.
int connect_loopback(std::uint16_t port, bool nonblocking = false, int receive_buffer = 0);
/// SO_LINGER with a zero timeout: close() then sends a RST instead of a FIN.
void set_reset_on_close(int fd);
/// Closes `fd` with a RST.
void close_with_reset(int fd);
/// A small SO_RCVBUF (set before connect to keep the window small).
void set_receive_buffer(int fd, int bytes);
void set_send_buffer(int fd, int bytes);

/// Opens `count` non-blocking connections to 127.0.0.1:`port`, at most `in_flight` of them
/// still connecting at a time, within `limit`; returns the connected descriptors (fewer on
/// failure or timeout). With `began`, also when each returned descriptor's connect began (at or
/// before the server could accept it: the earliest moment its timers can start), in the same order.
std::vector<int> open_connections(std::uint16_t port, std::size_t count, milliseconds limit,
                                  std::size_t in_flight = 512,
                                  std::vector<clock_type::time_point>* began = nullptr);
/// Closes every descriptor in `fds` (with a RST if `reset`) and clears it.
void close_all(std::vector<int>& fds, bool reset = false);

/// Sends all of `bytes` before `deadline`; false on error or timeout.
bool send_all(int fd, std::string_view bytes, clock_type::time_point deadline);

/// How a read ended.
enum class ending { eof, reset, timeout, complete };
const char* to_string(ending how);

struct read_outcome {
  std::string bytes;
  ending how = ending::timeout;
  double ms = 0;  // time until the ending
};

/// Reads until the peer closes (EOF or reset) or `limit` passes.
read_outcome read_until_close(int fd, milliseconds limit);
/// Reads until `responses` complete responses arrived, the peer closed, or `limit` passed;
/// how == complete when the responses arrived.
read_outcome read_responses(int fd, std::size_t responses, milliseconds limit,
                            bool head_requests = false);

// --- Responses ----------------------------------------------------------------------------------

struct response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = true;

  /// The first field named `name` (case-insensitive), or empty.
  [[nodiscard]] std::string header(std::string_view name) const;
};

struct split {
  std::vector<response> responses;
  std::size_t used = 0;    // bytes of the complete responses
  bool malformed = false;  // bytes that do not parse as a response follow them
};

/// Splits `bytes` into complete responses with taut::response_parser (Content-Length and chunked
/// bodies). Stops at the first incomplete or malformed one.
split split_responses(std::string_view bytes, bool head_requests = false);

/// "GET <target> HTTP/1.1" with a Host field.
std::string get_request(std::string_view target);

/// What one request on each of many connections brought back.
struct round_result {
  std::size_t ok = 0;         // a 200 with the expected body
  std::size_t wrong = 0;      // another response
  std::size_t closed = 0;     // EOF or reset before a response
  std::size_t timed_out = 0;  // nothing complete within the limit
  double ms = 0;
};

/// Sends `request` on every connection in `fds` (all at once, then reads with epoll) and reads
/// one response from each within `limit`.
round_result request_round(const std::vector<int>& fds, std::string_view request,
                           std::string_view expected_body, milliseconds limit);

// --- Probe --------------------------------------------------------------------------------------

/// A well-behaved client on its own thread: GET /plaintext every `interval`, on a keep-alive
/// connection that it replaces every `reconnect_every` requests (so accepting is exercised too).
/// Each answer must be a 200 "Hello, World!" within `bound`.
class probe {
 public:
  struct report {
    std::uint64_t ok = 0;
    std::uint64_t failed = 0;
    double max_ms = 0;
    std::string first_failure;
  };

  probe(std::uint16_t port, milliseconds bound = 2000ms, milliseconds interval = 20ms,
        int reconnect_every = 10);
  ~probe();
  probe(const probe&) = delete;
  probe& operator=(const probe&) = delete;

  /// Stops the thread and returns what it saw.
  report finish();
  /// Waits until `count` requests were answered well, or `timeout` passed: a test whose load is
  /// over in less time than that many probes take holds it until they were (its bound is then a
  /// count of requests served under load, not of how long the load lasted).
  void wait_for_answers(std::uint64_t count, milliseconds timeout);

 private:
  void run();

  std::uint16_t port_;
  milliseconds bound_;
  milliseconds interval_;
  int reconnect_every_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> answered_{0};
  report report_;
  std::thread thread_;
};

/// A temporary directory, removed with its contents.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// Writes a file of `size` bytes (a repeating pattern) and returns its path.
  std::string write_file(std::string_view name, std::size_t size) const;

 private:
  std::string path_;
};

}  // namespace taut::hardening
