// taut-fetch: a small command-line HTTP/1.1 client on taut::client. One request printed like curl
// prints it (body on standard output, the exchange on standard error with -v), or N requests over
// C pooled connections with a report of requests/s and connections opened. Flags are described
// by `taut-fetch --help`; a bad flag is a one-line error and exit status 2.
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "taut/client.hpp"
#include "taut/parse_error.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

constexpr std::string_view help_text = R"(usage: taut-fetch [options] URL

Sends one request to URL (http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH, or unix:/PATH.sock)
and prints the response body on standard output. Host names are resolved without blocking the
client's event loop. An https server's certificate is checked against the system's CA store
(or --cacert) and must name HOST.

  -X, --method METHOD     request method [GET, or POST with a body]
  -H, --header 'N: V'     a request field (repeatable)
  -d, --data TEXT         the body; @FILE reads it from FILE
      --data-file FILE    the body from FILE
      --unix PATH         connect to the Unix socket PATH (or @NAME, an abstract name) and send
                          URL's path and Host (http:// only: no TLS over a Unix socket)
      --expect-continue   send Expect: 100-continue and hold the body until the server agrees
      --timeout T         deadline of each exchange (500ms, 10s, 2m; a number means seconds)
      --cacert FILE       trust the CA certificates of the PEM file FILE (instead of the
                          system's store) for https
  -k, --insecure          do not check the https server's certificate at all (tests only)
  -i, --include           print the status line and fields before the body
  -v, --verbose           print the request head sent (none for a refused request) and the
                          response head received on standard error ("> " and "< " lines)
  -n N                    send N requests (the body is read and dropped) and print a report
  -c C                    ... over at most C connections, C requests in flight at once [1]
      --pipeline N        ... up to N of them in flight on one connection (HTTP/1.1
                          pipelining of idempotent requests without a body: C requests over
                          C/N connections, rounded up); the report then counts them [1]
  -h, --help              print this help and exit
      --version           print "taut-fetch <version>" and exit

Exit status: 0 when every response came (whatever its status), 1 when a request failed (the
error is printed: what failed, in which phase, why), 2 for a bad flag. A response whose body
still carries a transfer coding other than chunked (gzip, ...) is not printed as if it were the
content: it fails as unsupported_transfer_coding, as Go's Transport refuses it.
)";

struct usage_error {
  std::string message;
};

std::optional<std::uint64_t> parse_count(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::uint64_t scale = 1000;
  if (text.ends_with("ms")) {
    scale = 1;
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
  } else if (text.ends_with("m")) {
    scale = 60000;
    text.remove_suffix(1);
  }
  const auto value = parse_count(text);
  if (!value || *value == 0) return std::nullopt;
  return std::chrono::milliseconds(*value * scale);
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct options {
  std::string url;
  std::string method;
  std::vector<std::string> header_lines;
  std::vector<taut::header> headers;
  std::optional<std::string> body;
  std::string unix_path;
  bool expect_continue = false;
  std::chrono::milliseconds timeout{0};
  std::string ca_file;
  bool insecure = false;
  bool include = false;
  bool verbose = false;
  std::uint64_t count = 0;
  std::uint64_t concurrency = 1;
  std::uint64_t pipeline = 1;
};

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) throw usage_error{std::string(arg) + " needs a value"};
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(help_text.data(), stdout);
      std::exit(exit_ok);
    } else if (arg == "--version") {
      std::printf("taut-fetch %s\n", TAUT_VERSION);
      std::exit(exit_ok);
    } else if (arg == "-X" || arg == "--method") {
      o.method = value();
    } else if (arg == "-H" || arg == "--header") {
      o.header_lines.emplace_back(value());
    } else if (arg == "-d" || arg == "--data") {
      const std::string_view text = value();
      if (text.starts_with("@")) {
        o.body = read_file(std::string(text.substr(1)));
        if (!o.body) throw usage_error{"cannot read " + std::string(text.substr(1))};
      } else {
        o.body = std::string(text);
      }
    } else if (arg == "--data-file") {
      const std::string path(value());
      o.body = read_file(path);
      if (!o.body) throw usage_error{"cannot read " + path};
    } else if (arg == "--unix") {
      o.unix_path = value();
    } else if (arg == "--expect-continue") {
      o.expect_continue = true;
    } else if (arg == "--timeout") {
      const std::string_view text = value();
      const auto t = parse_duration(text);
      if (!t) throw usage_error{"--timeout: not a duration: " + std::string(text)};
      o.timeout = *t;
    } else if (arg == "--cacert") {
      o.ca_file = value();
      if (o.ca_file.empty()) throw usage_error{"--cacert needs a file"};
    } else if (arg == "-k" || arg == "--insecure") {
      o.insecure = true;
    } else if (arg == "-i" || arg == "--include") {
      o.include = true;
    } else if (arg == "-v" || arg == "--verbose") {
      o.verbose = true;
    } else if (arg == "-n" || arg == "-c" || arg == "--pipeline") {
      const std::string_view text = value();
      const auto n = parse_count(text);
      if (!n || *n == 0)
        throw usage_error{std::string(arg) + ": not a positive count: " + std::string(text)};
      (arg == "-n" ? o.count : arg == "-c" ? o.concurrency : o.pipeline) = *n;
    } else if (!arg.empty() && arg.front() == '-') {
      throw usage_error{"unknown flag " + std::string(arg)};
    } else if (o.url.empty()) {
      o.url = arg;
    } else {
      throw usage_error{"one URL only: " + std::string(arg)};
    }
  }
  if (o.url.empty()) throw usage_error{"no URL (see --help)"};
  if (o.method.empty()) o.method = o.body ? "POST" : "GET";
  for (const std::string& line : o.header_lines) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) throw usage_error{"-H needs NAME: VALUE, got " + line};
    std::string_view name(line.data(), colon);
    std::string_view field_value(line.data() + colon + 1, line.size() - colon - 1);
    while (!field_value.empty() && (field_value.front() == ' ' || field_value.front() == '\t')) {
      field_value.remove_prefix(1);
    }
    o.headers.push_back({name, field_value});
  }
  return o;
}

void print_head(std::FILE* to, std::string_view prefix, const taut::response& head) {
  std::fprintf(to, "%.*sHTTP/1.%d %d %.*s\r\n", static_cast<int>(prefix.size()), prefix.data(),
               head.version_minor, head.status, static_cast<int>(head.reason.size()),
               head.reason.data());
  for (const taut::header& h : head.headers) {
    std::fprintf(to, "%.*s%.*s: %.*s\r\n", static_cast<int>(prefix.size()), prefix.data(),
                 static_cast<int>(h.name.size()), h.name.data(), static_cast<int>(h.value.size()),
                 h.value.data());
  }
  std::fprintf(to, "%.*s\r\n", static_cast<int>(prefix.size()), prefix.data());
}

// A body still carrying transfer codings (gzip, ...) is not its content, and taut::client decodes
// none but chunked: refused as Go's Transport refuses it, rather than printed as if it were.
taut::client_error coded_body_error() {
  return {taut::client_errc::unsupported_transfer_coding, taut::client_phase::reading_head,
          make_error_code(taut::errc::unknown_transfer_coding), 0};
}

// One request, printed.
class printer final : public taut::client_exchange {
 public:
  explicit printer(const options& o) : o_(&o) {}
  void on_informational(const taut::response& head) override {
    if (o_->verbose) print_head(stderr, "< ", head);
  }
  void on_head(const taut::client_response& response) override {
    if (o_->verbose) print_head(stderr, "< ", response.head);
    if (o_->include) print_head(stdout, "", response.head);
    if (const std::string_view codings = response.transfer_codings(); !codings.empty()) {
      if (o_->verbose) {
        std::fprintf(stderr, "< (the body still carries the transfer codings \"%.*s\")\n",
                     static_cast<int>(codings.size()), codings.data());
      }
      coded = true;
      cancel();  // on_error reports it
    }
  }
  void on_body(std::string_view piece) override {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
  }
  void on_complete(std::span<const taut::header> trailers) override {
    if (o_->verbose) {
      for (const taut::header& h : trailers) {
        std::fprintf(stderr, "< (trailer) %.*s: %.*s\n", static_cast<int>(h.name.size()),
                     h.name.data(), static_cast<int>(h.value.size()), h.value.data());
      }
    }
    done = true;
  }
  void on_error(const taut::client_error& e) override {
    error = coded ? coded_body_error() : e;
    done = true;
  }
  bool done = false;
  bool coded = false;
  taut::client_error error;

 private:
  const options* o_;
};

// One of the C workers of -n/-c: sends again as soon as its response ended.
class worker final : public taut::client_exchange {
 public:
  void on_head(const taut::client_response& response) override {
    if (!response.transfer_codings().empty()) {
      coded = true;
      cancel();  // on_error counts it
    }
  }
  void on_body(std::string_view) override {}
  void on_complete(std::span<const taut::header>) override {
    ++*completed;
    next();
  }
  void on_error(const taut::client_error& e) override {
    ++*failed;
    const bool was_coded = std::exchange(coded, false);
    if (!*first_error) *first_error = was_coded ? coded_body_error() : e;
    next();
  }
  void next() {
    if (*started >= total) return;
    ++*started;
    // Sent from the loop in the next iteration: never from inside a callback of this exchange.
    again = true;
  }

  std::uint64_t total = 0;
  std::uint64_t* started = nullptr;
  std::uint64_t* completed = nullptr;
  std::uint64_t* failed = nullptr;
  taut::client_error* first_error = nullptr;
  bool again = false;
  bool coded = false;
};

void print_request(const options& o, const taut::origin& where, const taut::client_request& r) {
  std::fprintf(stderr, "> %.*s %.*s HTTP/1.1\r\n", static_cast<int>(r.method.size()),
               r.method.data(), static_cast<int>(r.target.size()), r.target.data());
  bool has_host = false;
  for (const taut::header& h : r.headers) {
    has_host = has_host || (h.name.size() == 4 && strncasecmp(h.name.data(), "host", 4) == 0);
  }
  if (!has_host) {
    std::fprintf(stderr, "> Host: %.*s\r\n", static_cast<int>(where.authority().size()),
                 where.authority().data());
  }
  for (const taut::header& h : r.headers) {
    std::fprintf(stderr, "> %.*s: %.*s\r\n", static_cast<int>(h.name.size()), h.name.data(),
                 static_cast<int>(h.value.size()), h.value.data());
  }
  if (o.body) std::fprintf(stderr, "> Content-Length: %zu\r\n", o.body->size());
  if (o.expect_continue && o.body && !o.body->empty()) {
    std::fputs("> Expect: 100-continue\r\n", stderr);
  }
  std::fputs(">\r\n", stderr);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  try {
    o = parse_args(argc, argv);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "taut-fetch: %s\n", e.message.c_str());
    return exit_usage;
  }
  auto parsed = taut::parse_url(o.url);
  if (!parsed) {
    std::fprintf(stderr, "taut-fetch: not an http://, https:// or unix: URL: %s\n", o.url.c_str());
    return exit_usage;
  }
  taut::origin where = parsed->origin;
  if (!o.unix_path.empty()) {
    if (where.tls()) {
      // Plaintext to a server that expects a handshake would fail obscurely, and quietly drop the
      // --cacert/-k the caller relies on.
      std::fprintf(stderr,
                   "taut-fetch: --unix with an https:// URL: the client does not speak TLS over a "
                   "Unix socket (use http://)\n");
      return exit_usage;
    }
    where = taut::origin::unix_socket(o.unix_path, parsed->origin.authority());
  }
  const taut::client_request request{
      .method = o.method,
      .target = parsed->target,
      .headers = o.headers,
      .body = o.body ? std::string_view(*o.body) : std::string_view{},
      .expect_continue = o.expect_continue,
      .timeout = o.timeout};
  auto loop = taut::transport::event_loop::create();
  if (!loop) {
    std::fprintf(stderr, "taut-fetch: %s\n", loop.error().message().c_str());
    return exit_failure;
  }
  taut::transport::ignore_sigpipe();

  taut::client_options settings;
  settings.tls.ca_file = o.ca_file;
  settings.tls.verify = !o.insecure;

  if (o.count == 0) {
    taut::client client(**loop, settings);
    printer exchange(o);
    if (const taut::client_error refused = client.send(where, request, exchange)) {
      std::fprintf(stderr, "taut-fetch: %s\n", refused.message().c_str());
      return exit_failure;
    }
    // Only a request the client took is sent: a refused one printed no head (and no callback
    // runs inside send, so this still comes before the response's "< " lines).
    if (o.verbose) print_request(o, where, request);
    while (!exchange.done) (*loop)->run_once();
    std::fflush(stdout);
    if (exchange.error) {
      std::fprintf(stderr, "taut-fetch: %s\n", exchange.error.message().c_str());
      return exit_failure;
    }
    return exit_ok;
  }

  const std::uint64_t concurrency = std::min(o.concurrency, o.count);
  // Pipelined, the requests in flight share fewer connections: each one carries up to N.
  const std::uint64_t connections = (concurrency + o.pipeline - 1) / o.pipeline;
  settings.max_idle_per_origin = connections;
  settings.max_connections_per_origin = connections;
  settings.pipeline_depth = o.pipeline;
  taut::client client(**loop, settings);
  std::uint64_t started = 0;
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  taut::client_error first_error;
  std::vector<std::unique_ptr<worker>> workers;
  for (std::uint64_t i = 0; i < concurrency; ++i) {
    auto w = std::make_unique<worker>();
    w->total = o.count;
    w->started = &started;
    w->completed = &completed;
    w->failed = &failed;
    w->first_error = &first_error;
    w->again = true;
    ++started;
    workers.push_back(std::move(w));
  }
  const auto begin = std::chrono::steady_clock::now();
  while (completed + failed < o.count) {
    for (auto& w : workers) {
      if (!w->again) continue;
      w->again = false;
      if (const taut::client_error refused = client.send(where, request, *w)) {
        std::fprintf(stderr, "taut-fetch: %s\n", refused.message().c_str());
        return exit_failure;
      }
    }
    (*loop)->run_once();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  std::printf(
      "requests: %llu\nfailed: %llu\nconnections opened: %llu\nseconds: %.3f\nrequests/s: %.0f\n",
      static_cast<unsigned long long>(completed + failed), static_cast<unsigned long long>(failed),
      static_cast<unsigned long long>(client.stats().connections_opened), seconds,
      seconds > 0 ? static_cast<double>(completed) / seconds : 0.0);
  if (o.pipeline > 1) {
    std::printf("pipelined: %llu\n", static_cast<unsigned long long>(client.stats().pipelined));
  }
  if (where.tls()) {
    std::printf("tls handshakes: %llu\n",
                static_cast<unsigned long long>(client.stats().tls_handshakes));
  }
  if (failed != 0) {
    std::fprintf(stderr, "taut-fetch: first error: %s\n", first_error.message().c_str());
    return exit_failure;
  }
  return exit_ok;
}
