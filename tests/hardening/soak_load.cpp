// taut-soak-load: the soak test's load generator. Several threads hit a taut-serve on 127.0.0.1
// with a mix of valid keep-alive and pipelined requests (every response checked: status, body,
// framing), malformed requests (an error status, `Connection: close`, then the end), resets at
// random points (mid request, mid response), slow writers, and one thread of very slow clients
// (a head left unfinished until the header timeout answers 408; a pipeline read a little at a
// time). Prints a summary; exits 0 only if every valid request got its correct response.
//
// With --static-size N, the server's --root holds soak.bin, N bytes of 'a' + (offset % 26), and
// the mix also fetches it whole and by ranges, and resets in the middle of it.
//
//   taut-soak-load --port N [--seconds S] [--threads T] [--header-timeout-ms MS] [--seed N]
//                  [--static-size N]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "taut/body_decoder.hpp"
#include "taut/response_parser.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct settings {
  std::uint16_t port = 0;
  int seconds = 60;
  int threads = 3;
  int header_timeout_ms = 2000;
  std::uint64_t seed = 1;
  std::size_t static_size = 0;  // soak.bin under the server's root; 0: no static requests
};

settings config;

struct counters {
  std::atomic<std::uint64_t> valid_sent{0};
  std::atomic<std::uint64_t> valid_ok{0};
  std::atomic<std::uint64_t> valid_wrong{0};  // a response that is not the right one
  std::atomic<std::uint64_t> valid_lost{0};   // no response: the connection ended or stalled
  std::atomic<std::uint64_t> malformed_sent{0};
  std::atomic<std::uint64_t> malformed_ok{0};  // the expected error status, then the end
  std::atomic<std::uint64_t> malformed_wrong{0};
  std::atomic<std::uint64_t> resets{0};
  std::atomic<std::uint64_t> slow_ok{0};
  std::atomic<std::uint64_t> timeouts_ok{0};  // 408 after an unfinished head
  std::atomic<std::uint64_t> timeouts_wrong{0};
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> connect_failures{0};
  std::mutex mutex;
  std::vector<std::string> problems;  // the first few, for the report

  void problem(std::string what) {
    std::lock_guard lock(mutex);
    if (problems.size() < 20) problems.push_back(std::move(what));
  }
};

counters stats;

int ms_left(clock_type::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock_type::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

/// One client connection: blocking writes, reads with a deadline, and a response reader built on
/// taut's response parser.
class client {
 public:
  explicit client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
      ::close(fd_);
      fd_ = -1;
      ++stats.connect_failures;
    } else {
      ++stats.connections;
    }
  }
  ~client() {
    if (fd_ >= 0) ::close(fd_);
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  void reset() {
    const linger now{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    ::close(fd_);
    fd_ = -1;
    ++stats.resets;
  }

  struct answer {
    int status = 0;
    std::string body;
    std::string connection;      // the Connection field
    std::string content_length;  // the Content-Length field
  };

  /// The next response to a request with method `m`, or nothing if the connection ended or
  /// `limit` passed first (then `ended` says which).
  std::optional<answer> read(taut::method m, milliseconds limit = 10s, std::size_t max_read = 0) {
    const auto deadline = clock_type::now() + limit;
    for (;;) {
      if (auto parsed = parse(m)) return parsed;
      if (malformed_) return std::nullopt;
      if (!fill(deadline, max_read)) return std::nullopt;
    }
  }

  /// Waits for the end of the connection: true for EOF or a reset with no further bytes.
  bool ends(milliseconds limit = 10s) {
    const auto deadline = clock_type::now() + limit;
    while (fill(deadline, 0)) {
    }
    return ended && in_.empty();
  }

  /// Reads at most `bytes` (the start of a response), waiting up to `limit` for them.
  bool read_some(std::size_t bytes, milliseconds limit) {
    return fill(clock_type::now() + limit, bytes);
  }

  bool ended = false;  // EOF or reset seen

 private:
  bool fill(clock_type::time_point deadline, std::size_t max_read) {
    if (ended) return false;
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, ms_left(deadline));
    if (ready <= 0) return false;
    char buffer[65536];
    const std::size_t want = max_read > 0 ? std::min(max_read, sizeof buffer) : sizeof buffer;
    const ssize_t n = ::recv(fd_, buffer, want, 0);
    if (n <= 0) {
      ended = true;
      return false;
    }
    in_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  std::optional<answer> parse(taut::method m) {
    if (in_.empty()) return std::nullopt;
    std::array<taut::header, 64> fields{};
    taut::response_parser parser(fields);
    const taut::parse_result head = parser.parse(in_, m);
    if (head.failed()) {
      malformed_ = true;
      return std::nullopt;
    }
    if (!head.complete()) return std::nullopt;
    const taut::response& r = parser.response();
    answer out;
    out.status = r.status;
    for (const taut::header& f : r.headers) {
      if (equal_ci(f.name, "Connection")) out.connection = f.value;
      if (equal_ci(f.name, "Content-Length")) out.content_length = f.value;
    }
    std::size_t used = head.consumed;
    switch (r.body.kind) {
      case taut::body_kind::none:
        break;
      case taut::body_kind::content_length:
        if (in_.size() - used < r.body.content_length) return std::nullopt;
        out.body = in_.substr(used, r.body.content_length);
        used += r.body.content_length;
        break;
      case taut::body_kind::chunked: {
        taut::chunked_decoder decoder;
        for (;;) {
          const taut::body_result piece = decoder.decode(std::string_view(in_).substr(used));
          if (piece.status == taut::parse_status::error) {
            malformed_ = true;
            return std::nullopt;
          }
          out.body.append(piece.data);
          used += piece.consumed;
          if (piece.status == taut::parse_status::complete) break;
          if (piece.consumed == 0) return std::nullopt;
        }
        break;
      }
      case taut::body_kind::until_close:
        if (!ended) return std::nullopt;
        out.body = in_.substr(used);
        used = in_.size();
        break;
    }
    in_.erase(0, used);
    return out;
  }

  static bool equal_ci(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }

  int fd_ = -1;
  std::string in_;
  bool malformed_ = false;
};

/// A valid request and the response it must get.
struct valid_request {
  std::string bytes;
  taut::method method = taut::method::get;
  int status = 200;
  std::string body;            // exact body, or for /echo the JSON body field to find
  bool echo = false;           // body is checked as the echoed JSON's "body"
  std::string content_length;  // for HEAD: the declared length
};

std::string random_name(std::mt19937_64& rng) {
  static constexpr std::string_view alphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string out(1 + rng() % 24, 'x');
  for (char& c : out) c = alphabet[rng() % alphabet.size()];
  return out;
}

/// Printable ASCII without '"' and '\' (which JSON would escape), so the echo shows it as is.
std::string random_body(std::mt19937_64& rng, std::size_t size) {
  std::string out(size, 'x');
  for (char& c : out) {
    do {
      c = static_cast<char>(0x20 + rng() % 95);
    } while (c == '"' || c == '\\');
  }
  return out;
}

std::string hex(std::size_t n) {
  char text[32];
  std::snprintf(text, sizeof text, "%zx", n);
  return text;
}

/// Bytes [from, to) of soak.bin.
std::string file_bytes(std::size_t from, std::size_t to) {
  std::string out(to - from, 'a');
  for (std::size_t i = from; i < to; ++i) out[i - from] = static_cast<char>('a' + i % 26);
  return out;
}

valid_request make_valid(std::mt19937_64& rng) {
  valid_request r;
  const std::string host = "Host: soak\r\n";
  if (config.static_size > 0 && rng() % 10 == 0) {
    r.bytes = "GET /static/soak.bin HTTP/1.1\r\n" + host;
    if (rng() % 2 == 0) {
      r.body = file_bytes(0, config.static_size);
    } else {
      const std::size_t from = rng() % config.static_size;
      const std::size_t to = from + rng() % (config.static_size - from);  // inclusive
      r.bytes += "Range: bytes=" + std::to_string(from) + "-" + std::to_string(to) + "\r\n";
      r.status = 206;
      r.body = file_bytes(from, to + 1);
    }
    r.bytes += "\r\n";
    return r;
  }
  switch (rng() % 8) {
    case 0:
    case 1:
      r.bytes = "GET /plaintext HTTP/1.1\r\n" + host + "\r\n";
      r.body = "Hello, World!";
      break;
    case 2: {
      const std::string name = random_name(rng);
      r.bytes = "GET /hello/" + name + " HTTP/1.1\r\n" + host + "User-Agent: soak\r\n\r\n";
      r.body = "Hello, " + name + "!\n";
      break;
    }
    case 3: {
      const std::string name = random_name(rng);
      r.bytes = "GET /hello?name=" + name + " HTTP/1.1\r\n" + host + "\r\n";
      r.body = "Hello, " + name + "!\n";
      break;
    }
    case 4:
      r.bytes = "GET /healthz HTTP/1.1\r\n" + host + "\r\n";
      r.body = "ok\n";
      break;
    case 5:
      r.bytes = "HEAD /plaintext HTTP/1.1\r\n" + host + "\r\n";
      r.method = taut::method::head;
      r.content_length = "13";
      break;
    case 6:
      r.bytes = "GET /no/such/route HTTP/1.1\r\n" + host + "\r\n";
      r.status = 404;
      break;
    default: {
      // POST /echo with a body of up to 20 KB, Content-Length or chunked in random pieces.
      const std::size_t size = rng() % 4 == 0 ? rng() % 20000 : rng() % 300;
      r.method = taut::method::post;
      r.echo = true;
      r.body = random_body(rng, size);
      if (rng() % 2 == 0) {
        r.bytes = "POST /echo HTTP/1.1\r\n" + host + "Content-Length: " + std::to_string(size) +
                  "\r\nContent-Type: text/plain\r\n\r\n" + r.body;
      } else {
        r.bytes = "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n";
        for (std::size_t at = 0; at < size;) {
          const std::size_t piece = std::min(size - at, 1 + rng() % 4096);
          r.bytes += hex(piece) + (rng() % 8 == 0 ? ";ext=1" : "") + "\r\n" +
                     r.body.substr(at, piece) + "\r\n";
          at += piece;
        }
        r.bytes += "0\r\n\r\n";
      }
      break;
    }
  }
  return r;
}

/// Checks the next response on `c` against `r`; counts it.
bool expect(client& c, const valid_request& r, milliseconds limit = 10s, std::size_t max_read = 0) {
  const auto got = c.read(r.method, limit, max_read);
  if (!got) {
    ++stats.valid_lost;
    stats.problem("no response to: " + r.bytes.substr(0, r.bytes.find('\r')) +
                  (c.ended ? " (connection ended)" : " (timed out or malformed)"));
    return false;
  }
  bool right = got->status == r.status;
  if (right && r.method == taut::method::head) {
    right = got->body.empty() && got->content_length == r.content_length;
  } else if (right && r.echo) {
    const std::string field = "\"body\":\"" + r.body + "\"}";
    right = got->body.find(field) != std::string::npos &&
            got->body.starts_with("{\"method\":\"POST\",\"target\":\"/echo\"");
  } else if (right && (r.status == 200 || r.status == 206)) {
    right = got->body == r.body;
  }
  if (!right) {
    ++stats.valid_wrong;
    stats.problem("wrong response " + std::to_string(got->status) + " to " +
                  r.bytes.substr(0, r.bytes.find('\r')) + ": " + got->body.substr(0, 80));
    return false;
  }
  ++stats.valid_ok;
  return true;
}

struct malformed_request {
  std::string bytes;
  int status;
};

malformed_request make_malformed(std::mt19937_64& rng) {
  const std::string post = "POST /echo HTTP/1.1\r\nHost: soak\r\n";
  switch (rng() % 9) {
    case 0:
      return {"GET /plaintext HTTP/1.1\r\nHost: soak\r\nX-Bad: a\x01z\r\n\r\n", 400};
    case 1:
      return {post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400};
    case 2:
      return {"GET /plaintext HTTP/1.1\r\n\r\n", 400};
    case 3:
      return {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: soak\r\n\r\n", 414};
    case 4:
      return {"GET / HTTP/1.1\r\nHost: soak\r\nX-Big: " + std::string(40000, 'b') + "\r\n\r\n",
              431};
    case 5:
      return {post + "Content-Length: 100000\r\n\r\n", 413};
    case 6:
      return {"GET / HTTP/2.0\r\nHost: soak\r\n\r\n", 505};
    case 7:
      return {post + "Transfer-Encoding: xchunked\r\n\r\n", 501};
    default:
      return {post + "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n", 400};
  }
}

// --- Scenarios ----------------------------------------------------------------------------------

/// Requests one after another on a keep-alive connection; closes with a FIN or a reset.
void keep_alive(std::mt19937_64& rng, std::uint16_t port) {
  client c(port);
  if (!c.ok()) return;
  const int count = 1 + static_cast<int>(rng() % 20);
  for (int i = 0; i < count; ++i) {
    const valid_request r = make_valid(rng);
    ++stats.valid_sent;
    if (!c.send(r.bytes)) {
      ++stats.valid_lost;
      stats.problem("send failed on a keep-alive connection");
      return;
    }
    if (!expect(c, r)) return;
  }
  if (rng() % 4 == 0) c.reset();
}

/// Up to 32 requests in one write, then their responses in order.
void pipelined(std::mt19937_64& rng, std::uint16_t port) {
  client c(port);
  if (!c.ok()) return;
  std::vector<valid_request> batch(2 + rng() % 31);
  std::string bytes;
  for (valid_request& r : batch) {
    r = make_valid(rng);
    bytes += r.bytes;
  }
  stats.valid_sent += batch.size();
  if (!c.send(bytes)) {
    stats.valid_lost += batch.size();
    stats.problem("send failed on a pipelined connection");
    return;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!expect(c, batch[i])) {
      stats.valid_lost += batch.size() - i - 1;
      return;
    }
  }
}

/// Valid requests, then a malformed one in the same write: the valid ones are answered, the
/// malformed one gets its status and `Connection: close`, then the connection ends.
void malformed(std::mt19937_64& rng, std::uint16_t port) {
  client c(port);
  if (!c.ok()) return;
  std::vector<valid_request> before(rng() % 4);
  std::string bytes;
  for (valid_request& r : before) {
    r = make_valid(rng);
    bytes += r.bytes;
  }
  const malformed_request bad = make_malformed(rng);
  bytes += bad.bytes;
  // A smuggled request after it must never be answered.
  bytes += "GET /hello/smuggled HTTP/1.1\r\nHost: soak\r\n\r\n";
  stats.valid_sent += before.size();
  ++stats.malformed_sent;
  (void)c.send(bytes);  // the server may close before taking all of it
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (!expect(c, before[i])) {
      stats.valid_lost += before.size() - i - 1;
      ++stats.malformed_wrong;
      return;
    }
  }
  const auto got = c.read(taut::method::get);
  if (got && got->status == bad.status && got->connection == "close" && c.ends()) {
    ++stats.malformed_ok;
  } else {
    ++stats.malformed_wrong;
    stats.problem("malformed request expecting " + std::to_string(bad.status) + " got " +
                  (got ? std::to_string(got->status) + " / Connection: " + got->connection
                       : std::string("nothing")));
  }
}

/// A few valid requests, then a reset: in the middle of a request, or in the middle of a large
/// response.
void resets(std::mt19937_64& rng, std::uint16_t port) {
  client c(port);
  if (!c.ok()) return;
  const int before = static_cast<int>(rng() % 3);
  for (int i = 0; i < before; ++i) {
    const valid_request r = make_valid(rng);
    ++stats.valid_sent;
    if (!c.send(r.bytes) || !expect(c, r)) return;
  }
  const unsigned where = static_cast<unsigned>(rng() % 3);
  if (where == 0) {
    const valid_request r = make_valid(rng);
    (void)c.send(std::string_view(r.bytes).substr(0, rng() % r.bytes.size()));
  } else if (where == 1 && config.static_size > 0) {
    (void)c.send("GET /static/soak.bin HTTP/1.1\r\nHost: soak\r\n\r\n");
    (void)c.read_some(1 + rng() % 4096, 1s);  // the reset lands in the middle of the file
  } else {
    const std::string body(60000, 'r');
    (void)c.send("POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 60000\r\n\r\n" + body);
    if (rng() % 2 == 0) (void)c.read_some(1024, 1s);  // the reset lands mid-response
    std::this_thread::sleep_for(milliseconds(rng() % 3));
  }
  c.reset();
}

/// A valid request written in pieces with pauses (well within the header timeout).
void slow_writer(std::mt19937_64& rng, std::uint16_t port) {
  client c(port);
  if (!c.ok()) return;
  const valid_request r = make_valid(rng);
  ++stats.valid_sent;
  const std::size_t pieces = 2 + rng() % 5;
  const std::size_t step = std::max<std::size_t>(1, r.bytes.size() / pieces);
  for (std::size_t at = 0; at < r.bytes.size(); at += step) {
    if (!c.send(std::string_view(r.bytes).substr(at, step))) break;
    std::this_thread::sleep_for(milliseconds(10 + rng() % 90));
  }
  if (expect(c, r)) ++stats.slow_ok;
}

/// The very slow clients, one at a time: a head never finished (408 at the header timeout), or
/// 100 pipelined requests whose responses are read 512 bytes at a time with pauses.
void very_slow(std::mt19937_64& rng, std::uint16_t port, int header_timeout_ms) {
  client c(port);
  if (!c.ok()) return;
  if (rng() % 2 == 0) {
    (void)c.send("GET /plaintext HTTP/1.1\r\nHost: soak\r\nX-Slow: ");
    const auto got = c.read(taut::method::get, milliseconds(header_timeout_ms + 5000));
    if (got && got->status == 408 && c.ends()) {
      ++stats.timeouts_ok;
    } else {
      ++stats.timeouts_wrong;
      stats.problem("an unfinished head got " +
                    (got ? std::to_string(got->status) : std::string("no answer")));
    }
    return;
  }
  std::vector<valid_request> batch(100);
  std::string bytes;
  for (valid_request& r : batch) {
    r = make_valid(rng);
    bytes += r.bytes;
  }
  stats.valid_sent += batch.size();
  if (!c.send(bytes)) {
    stats.valid_lost += batch.size();
    return;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (i % 10 == 0) std::this_thread::sleep_for(20ms);
    if (!expect(c, batch[i], 10s, 512)) {
      stats.valid_lost += batch.size() - i - 1;
      return;
    }
    ++stats.slow_ok;
  }
}

void worker(std::uint64_t seed, clock_type::time_point deadline) {
  std::mt19937_64 rng(seed);
  while (clock_type::now() < deadline) {
    const unsigned pick = static_cast<unsigned>(rng() % 100);
    if (pick < 35) {
      keep_alive(rng, config.port);
    } else if (pick < 60) {
      pipelined(rng, config.port);
    } else if (pick < 75) {
      malformed(rng, config.port);
    } else if (pick < 90) {
      resets(rng, config.port);
    } else {
      slow_writer(rng, config.port);
    }
  }
}

bool parse_args(int argc, char** argv, settings& out) {
  out = settings{};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const long long value = std::strtoll(argv[i + 1], nullptr, 10);
    if (flag == "--port") {
      out.port = static_cast<std::uint16_t>(value);
    } else if (flag == "--seconds") {
      out.seconds = static_cast<int>(value);
    } else if (flag == "--threads") {
      out.threads = static_cast<int>(value);
    } else if (flag == "--header-timeout-ms") {
      out.header_timeout_ms = static_cast<int>(value);
    } else if (flag == "--seed") {
      out.seed = static_cast<std::uint64_t>(value);
    } else if (flag == "--static-size") {
      out.static_size = static_cast<std::size_t>(value);
    } else {
      return false;
    }
  }
  return out.port != 0 && out.seconds > 0 && out.threads > 0 && argc % 2 == 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (!parse_args(argc, argv, config)) {
    std::fprintf(stderr,
                 "usage: taut-soak-load --port N [--seconds S] [--threads T] "
                 "[--header-timeout-ms MS] [--seed N] [--static-size N]\n");
    return 2;
  }
  const auto deadline = clock_type::now() + std::chrono::seconds(config.seconds);
  std::vector<std::thread> threads;
  for (int i = 0; i < config.threads; ++i) {
    threads.emplace_back(worker, config.seed * 1000 + static_cast<unsigned>(i), deadline);
  }
  threads.emplace_back([&] {
    std::mt19937_64 rng(config.seed * 1000 + 999);
    while (clock_type::now() < deadline) very_slow(rng, config.port, config.header_timeout_ms);
  });
  for (std::thread& t : threads) t.join();

  const auto value = [](const std::atomic<std::uint64_t>& v) {
    return static_cast<unsigned long long>(v.load());
  };
  std::printf(
      "connections %llu\nconnect_failures %llu\nvalid_sent %llu\nvalid_ok %llu\n"
      "valid_wrong %llu\nvalid_lost %llu\nmalformed_sent %llu\nmalformed_ok %llu\n"
      "malformed_wrong %llu\nresets %llu\nslow_ok %llu\ntimeouts_ok %llu\n"
      "timeouts_wrong %llu\n",
      value(stats.connections), value(stats.connect_failures), value(stats.valid_sent),
      value(stats.valid_ok), value(stats.valid_wrong), value(stats.valid_lost),
      value(stats.malformed_sent), value(stats.malformed_ok), value(stats.malformed_wrong),
      value(stats.resets), value(stats.slow_ok), value(stats.timeouts_ok),
      value(stats.timeouts_wrong));
  for (const std::string& p : stats.problems) std::printf("problem: %s\n", p.c_str());
  const bool good = stats.valid_ok == stats.valid_sent && stats.valid_wrong == 0 &&
                    stats.valid_lost == 0 && stats.malformed_wrong == 0 &&
                    stats.timeouts_wrong == 0 && stats.connect_failures == 0 &&
                    stats.valid_sent > 0;
  std::fflush(stdout);
  return good ? 0 : 1;
}
