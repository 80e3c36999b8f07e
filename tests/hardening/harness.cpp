#include "harness.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "taut/body_decoder.hpp"
#include "taut/response_parser.hpp"

extern char** environ;

namespace taut::hardening {

rlim_t raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
    (void)::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

double elapsed_ms(clock_type::time_point since) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - since).count();
}

bool another_round(int rounds_done, clock_type::time_point start, int min_rounds,
                   milliseconds min_time) {
  return rounds_done < min_rounds || clock_type::now() - start < min_time;
}

std::string taut_serve_path() {
  if (const char* path = std::getenv("TAUT_SERVE"); path != nullptr && *path != '\0') return path;
  return TAUT_SERVE_PATH;
}

// --- server_process -----------------------------------------------------------------------------

server_process::server_process(options opts) {
  char name[] = "/tmp/taut-hardening-stderr-XXXXXX";
  const int err_fd = ::mkstemp(name);
  if (err_fd < 0) return;
  stderr_path_ = name;

  // Everything the child needs is built before fork(): after it only async-signal-safe calls.
  std::vector<std::string> args = {taut_serve_path(), "--listen", "127.0.0.1:0"};
  args.insert(args.end(), opts.args.begin(), opts.args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The given entries replace inherited ones of the same name (getenv() finds the first).
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry = *e;
    const std::string_view name = entry.substr(0, entry.find('=') + 1);
    if (std::none_of(opts.env.begin(), opts.env.end(),
                     [&](const std::string& given) { return given.starts_with(name); })) {
      envp.push_back(*e);
    }
  }
  for (std::string& e : opts.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  rlimit fds{};
  (void)::getrlimit(RLIMIT_NOFILE, &fds);
  if (opts.fd_limit) {
    fds.rlim_cur = *opts.fd_limit;
    fds.rlim_max = *opts.fd_limit;
  } else {
    fds.rlim_cur = fds.rlim_max;
  }
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  const pid_t parent = ::getpid();

  pid_ = ::fork();
  if (pid_ == 0) {
    // Dies with the test process, whatever ends it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(null_fd, STDIN_FILENO);
    if (!opts.keep_stdout) ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    // Only 0, 1 and 2: descriptors the test runner leaks to us would count against the limit.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::setrlimit(RLIMIT_NOFILE, &fds);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(err_fd);
  if (null_fd >= 0) ::close(null_fd);
  if (pid_ < 0) return;

  // Wait for "listening on http://127.0.0.1:PORT/" (or https://, with --tls-cert; slower under
  // the sanitizers).
  const auto deadline = clock_type::now() + 20s;
  while (clock_type::now() < deadline && running()) {
    const std::string text = stderr_text();
    std::string_view marker = "listening on http://127.0.0.1:";
    std::size_t at = text.find(marker);
    if (at == std::string::npos) {
      marker = "listening on https://127.0.0.1:";
      at = text.find(marker);
    }
    if (at != std::string::npos) {
      const unsigned long port = std::strtoul(text.c_str() + at + marker.size(), nullptr, 10);
      if (port > 0 && port < 65536) {
        port_ = static_cast<std::uint16_t>(port);
        return;
      }
    }
    std::this_thread::sleep_for(10ms);
  }
}

server_process::~server_process() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (!stderr_path_.empty()) ::unlink(stderr_path_.c_str());
}

bool server_process::running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == 0) return true;
  reaped_ = true;
  if (done == pid_) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return false;
}

long server_process::rss_kib() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

int server_process::open_fds() const {
  std::error_code ec;
  int count = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid_) + "/fd", ec), end;
       !ec && it != end; it.increment(ec)) {
    ++count;
  }
  return ec ? -1 : count;
}

milliseconds server_process::cpu_time() const {
  std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const std::size_t paren = text.rfind(')');
  if (paren == std::string::npos) return milliseconds(-1);
  std::istringstream fields(text.substr(paren + 2));
  // Fields from 3 (state) on: utime and stime are fields 14 and 15.
  std::string skip;
  for (int field = 3; field < 14; ++field) fields >> skip;
  unsigned long long utime = 0, stime = 0;
  fields >> utime >> stime;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  return milliseconds(
      static_cast<long long>((utime + stime) * 1000 / static_cast<unsigned>(ticks)));
}

std::string server_process::stderr_text() const {
  std::ifstream in(stderr_path_);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int server_process::terminate(milliseconds limit) {
  if (pid_ <= 0) return -1;
  if (!running()) return exit_status_;
  ::kill(pid_, SIGTERM);
  const auto deadline = clock_type::now() + limit;
  while (clock_type::now() < deadline) {
    if (!running()) return exit_status_;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  reaped_ = true;
  return -1;
}

int server_process::wait_fds_at_most(int target, milliseconds limit) {
  const auto deadline = clock_type::now() + limit;
  int count = open_fds();
  while (count > target && clock_type::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    count = open_fds();
  }
  return count;
}

// --- Sockets ------------------------------------------------------------------------------------

int connect_loopback(std::uint16_t port, bool nonblocking, int receive_buffer) {
  const int fd =
      ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (receive_buffer > 0) set_receive_buffer(fd, receive_buffer);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 &&
      !(nonblocking && errno == EINPROGRESS)) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

void set_reset_on_close(int fd) {
  const linger now{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
}

void close_with_reset(int fd) {
  set_reset_on_close(fd);
  ::close(fd);
}

void set_receive_buffer(int fd, int bytes) {
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

void set_send_buffer(int fd, int bytes) {
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

namespace {

int ms_left(clock_type::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock_type::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60000));
}

}  // namespace

std::vector<int> open_connections(std::uint16_t port, std::size_t count, milliseconds limit,
                                  std::size_t in_flight,
                                  std::vector<clock_type::time_point>* began) {
  std::vector<int> done;
  done.reserve(count);
  if (began != nullptr) began->clear();
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return done;
  const auto deadline = clock_type::now() + limit;
  std::size_t started = 0;
  std::unordered_map<int, clock_type::time_point> pending;  // descriptor -> when its connect began
  std::vector<epoll_event> events(1024);
  while (done.size() < count && clock_type::now() < deadline) {
    while (started < count && pending.size() < in_flight) {
      const auto beginning = clock_type::now();
      const int fd = connect_loopback(port, true);
      ++started;
      if (fd < 0) continue;
      epoll_event interest{};
      interest.events = EPOLLOUT;
      interest.data.fd = fd;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &interest);
      pending.emplace(fd, beginning);
    }
    if (pending.empty()) break;
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()),
                               std::max(1, ms_left(deadline)));
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
      const auto it = pending.find(fd);
      const auto beginning = it->second;
      pending.erase(it);
      int error = 0;
      socklen_t size = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
      if (error == 0) {
        done.push_back(fd);
        if (began != nullptr) began->push_back(beginning);
      } else {
        ::close(fd);
      }
    }
  }
  for (const auto& [fd, beginning] : pending) ::close(fd);  // still connecting at the deadline
  ::close(ep);
  return done;
}

void close_all(std::vector<int>& fds, bool reset) {
  for (const int fd : fds) {
    if (reset) set_reset_on_close(fd);
    ::close(fd);
  }
  fds.clear();
}

bool send_all(int fd, std::string_view bytes, clock_type::time_point deadline) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const int left = ms_left(deadline);
      if (left == 0) return false;
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, left);
      continue;
    }
    return false;
  }
  return true;
}

const char* to_string(ending how) {
  switch (how) {
    case ending::eof:
      return "eof";
    case ending::reset:
      return "reset";
    case ending::timeout:
      return "timeout";
    case ending::complete:
      return "complete";
  }
  return "?";
}

namespace {

/// One read into `out`; the ending if the peer closed, nothing if bytes came, timeout if none
/// arrived before the deadline.
std::optional<ending> read_once(int fd, std::string& out, clock_type::time_point deadline) {
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, ms_left(deadline));
  if (ready <= 0)
    return ready < 0 && errno == EINTR ? std::nullopt : std::optional(ending::timeout);
  char buffer[65536];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n > 0) {
    out.append(buffer, static_cast<std::size_t>(n));
    return std::nullopt;
  }
  if (n == 0) return ending::eof;
  if (errno == EAGAIN || errno == EINTR) return std::nullopt;
  return ending::reset;
}

}  // namespace

read_outcome read_until_close(int fd, milliseconds limit) {
  const auto start = clock_type::now();
  const auto deadline = start + limit;
  read_outcome out;
  for (;;) {
    if (const auto end = read_once(fd, out.bytes, deadline)) {
      out.how = *end;
      break;
    }
  }
  out.ms = elapsed_ms(start);
  return out;
}

read_outcome read_responses(int fd, std::size_t responses, milliseconds limit, bool head_requests) {
  const auto start = clock_type::now();
  const auto deadline = start + limit;
  read_outcome out;
  for (;;) {
    if (split_responses(out.bytes, head_requests).responses.size() >= responses) {
      out.how = ending::complete;
      break;
    }
    if (const auto end = read_once(fd, out.bytes, deadline)) {
      out.how = *end;
      break;
    }
  }
  out.ms = elapsed_ms(start);
  return out;
}

// --- Responses ----------------------------------------------------------------------------------

std::string response::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (field.size() == name.size() &&
        std::equal(field.begin(), field.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return value;
    }
  }
  return {};
}

split split_responses(std::string_view bytes, bool head_requests) {
  split out;
  std::array<taut::header, 64> storage{};
  while (out.used < bytes.size()) {
    const std::string_view rest = bytes.substr(out.used);
    taut::response_parser parser(storage);
    const parse_result head = parser.parse(rest, head_requests ? method::head : method::get);
    if (head.failed()) {
      out.malformed = true;
      return out;
    }
    if (!head.complete()) return out;
    const taut::response& parsed = parser.response();
    response r;
    r.status = parsed.status;
    r.keep_alive = parsed.keep_alive;
    for (const taut::header& field : parsed.headers)
      r.headers.emplace_back(field.name, field.value);
    std::size_t used = head.consumed;
    switch (parsed.body.kind) {
      case body_kind::none:
        break;
      case body_kind::content_length: {
        if (rest.size() - used < parsed.body.content_length) return out;
        r.body = rest.substr(used, parsed.body.content_length);
        used += parsed.body.content_length;
        break;
      }
      case body_kind::chunked: {
        chunked_decoder decoder;
        for (;;) {
          const body_result piece = decoder.decode(rest.substr(used));
          if (piece.status == parse_status::error) {
            out.malformed = true;
            return out;
          }
          r.body.append(piece.data);
          used += piece.consumed;
          if (piece.status == parse_status::complete) break;
          if (piece.consumed == 0) return out;  // incomplete
        }
        break;
      }
      case body_kind::until_close:
        r.body = rest.substr(used);
        used = rest.size();
        break;
    }
    out.responses.push_back(std::move(r));
    out.used += used;
  }
  return out;
}

std::string get_request(std::string_view target) {
  std::string out = "GET ";
  out.append(target).append(" HTTP/1.1\r\nHost: hardening\r\n\r\n");
  return out;
}

round_result request_round(const std::vector<int>& fds, std::string_view request,
                           std::string_view expected_body, milliseconds limit) {
  round_result out;
  const auto start = clock_type::now();
  const auto deadline = start + limit;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::unordered_map<int, std::string> waiting;
  for (const int fd : fds) {
    if (!send_all(fd, request, deadline)) {
      ++out.closed;
      continue;
    }
    waiting.emplace(fd, std::string());
    epoll_event interest{};
    interest.events = EPOLLIN | EPOLLRDHUP;
    interest.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &interest);
  }
  std::vector<epoll_event> events(1024);
  while (!waiting.empty()) {
    const int left = ms_left(deadline);
    if (left == 0) break;
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), left);
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      const auto it = waiting.find(fd);
      if (it == waiting.end()) continue;
      bool done = false;
      char buffer[4096];
      for (;;) {
        const ssize_t got = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (got > 0) {
          it->second.append(buffer, static_cast<std::size_t>(got));
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
        done = true;  // EOF or reset
        break;
      }
      const split parsed = split_responses(it->second);
      if (!parsed.responses.empty()) {
        const response& r = parsed.responses.front();
        if (r.status == 200 && r.body == expected_body && parsed.responses.size() == 1) {
          ++out.ok;
        } else {
          ++out.wrong;
        }
        done = true;
      } else if (done || parsed.malformed) {
        ++out.closed;
        done = true;
      }
      if (done) {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        waiting.erase(it);
      }
    }
  }
  out.timed_out = waiting.size();
  ::close(ep);
  out.ms = elapsed_ms(start);
  return out;
}

// --- probe --------------------------------------------------------------------------------------

probe::probe(std::uint16_t port, milliseconds bound, milliseconds interval, int reconnect_every)
    : port_(port), bound_(bound), interval_(interval), reconnect_every_(reconnect_every) {
  thread_ = std::thread([this] { run(); });
}

probe::~probe() {
  finish();
}

probe::report probe::finish() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  return report_;
}

void probe::wait_for_answers(std::uint64_t count, milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (answered_.load() < count && clock_type::now() < deadline) {
    std::this_thread::sleep_for(interval_);
  }
}

void probe::run() {
  const std::string request = get_request("/plaintext");
  int fd = -1;
  int served_here = 0;
  const auto fail = [&](std::string why) {
    ++report_.failed;
    if (report_.first_failure.empty()) report_.first_failure = std::move(why);
    if (fd >= 0) ::close(fd);
    fd = -1;
  };
  while (!stop_.load()) {
    const auto start = clock_type::now();
    const auto deadline = start + bound_;
    if (fd < 0) {
      fd = connect_loopback(port_, true);
      served_here = 0;
      pollfd p{fd, POLLOUT, 0};
      int error = fd < 0 ? errno : 0;
      if (fd >= 0) {
        if (::poll(&p, 1, ms_left(deadline)) <= 0) {
          error = ETIMEDOUT;
        } else {
          socklen_t size = sizeof error;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
        }
      }
      if (error != 0) {
        fail(std::string("connect: ") + std::strerror(error));
        std::this_thread::sleep_for(interval_);
        continue;
      }
    }
    if (!send_all(fd, request, deadline)) {
      fail("send failed");
      continue;
    }
    const read_outcome got = read_responses(
        fd, 1, std::chrono::duration_cast<milliseconds>(deadline - clock_type::now()));
    const double ms = elapsed_ms(start);
    const split parsed = split_responses(got.bytes);
    if (got.how != ending::complete || parsed.responses.size() != 1 ||
        parsed.used != got.bytes.size()) {
      fail(std::string("no response within bound: ") + to_string(got.how) + " after " +
           std::to_string(ms) + " ms");
      continue;
    }
    const response& r = parsed.responses.front();
    if (r.status != 200 || r.body != "Hello, World!") {
      fail("unexpected response " + std::to_string(r.status) + " " + r.body);
      continue;
    }
    ++report_.ok;
    answered_.fetch_add(1);
    report_.max_ms = std::max(report_.max_ms, ms);
    if (++served_here >= reconnect_every_ || !r.keep_alive) {
      ::close(fd);
      fd = -1;
    }
    std::this_thread::sleep_for(interval_);
  }
  if (fd >= 0) ::close(fd);
}

// --- temp_dir -----------------------------------------------------------------------------------

temp_dir::temp_dir() {
  char name[] = "/tmp/taut-hardening-XXXXXX";
  if (::mkdtemp(name) != nullptr) path_ = name;
}

temp_dir::~temp_dir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

std::string temp_dir::write_file(std::string_view name, std::size_t size) const {
  const std::string path = path_ + "/" + std::string(name);
  std::ofstream out(path, std::ios::binary);
  std::string block(26 * 2520, '\0');  // a whole number of alphabets: byte i is 'a' + i % 26
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + i % 26);
  for (std::size_t written = 0; written < size; written += block.size()) {
    out.write(block.data(), static_cast<std::streamsize>(std::min(block.size(), size - written)));
  }
  return path;
}

}  // namespace taut::hardening
