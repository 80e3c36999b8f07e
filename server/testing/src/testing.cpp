#include "taut/testing.hpp"
#include "taut/http_chars.hpp"

#include <array>
#include <chrono>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "taut/body_decoder.hpp"
#include "taut/mux.hpp"
#include "taut/request_parser.hpp"
#include "taut/response_parser.hpp"

namespace taut::testing {
namespace {

using chars::iequals;

/// What the client parses with: generous limits (the server under test is what is strict).
parse_options client_parse_options() noexcept {
  parse_options options;
  options.max_request_line = 1024 * 1024;
  options.max_header_bytes = 1024 * 1024;
  options.max_headers = 1000;
  options.max_chunk_extension = 64 * 1024;
  options.max_chunk_overhead = 1024 * 1024;
  options.allow_transfer_codings = true;  // a request it sends with one is still tracked
  return options;
}

constexpr std::size_t max_fields = 1000;

}  // namespace

// --- response ------------------------------------------------------------------------------------

std::string_view response::header(std::string_view name) const noexcept {
  for (const field& f : headers) {
    if (iequals(f.name, name)) return f.value;
  }
  return {};
}

bool response::has_header(std::string_view name) const noexcept {
  return header_count(name) > 0;
}

std::size_t response::header_count(std::string_view name) const noexcept {
  std::size_t n = 0;
  for (const field& f : headers) n += iequals(f.name, name) ? 1 : 0;
  return n;
}

// --- request -------------------------------------------------------------------------------------

request::request(std::string_view method, std::string_view target)
    : method_(method), target_(target) {}

request& request::header(std::string_view name, std::string_view value) {
  if (iequals(name, "host")) host_ = false;
  headers_.push_back({std::string(name), std::string(value)});
  return *this;
}

request& request::body(std::string_view bytes) {
  body_ = bytes;
  chunked_ = false;
  return *this;
}

request& request::chunked(std::vector<std::string> chunks, std::vector<field> trailers) {
  chunks_ = std::move(chunks);
  trailers_ = std::move(trailers);
  chunked_ = true;
  return *this;
}

request& request::http10() {
  http10_ = true;
  return *this;
}

request& request::without_host() {
  host_ = false;
  return *this;
}

std::string request::serialize() const {
  std::string out;
  out.reserve(128 + target_.size() + body_.size());
  out.append(method_).append(" ").append(target_).append(http10_ ? " HTTP/1.0\r\n"
                                                                 : " HTTP/1.1\r\n");
  if (host_) out.append("Host: example.com\r\n");
  bool has_length = false;
  for (const field& f : headers_) {
    has_length = has_length || iequals(f.name, "content-length");
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  if (chunked_) {
    out.append("Transfer-Encoding: chunked\r\n\r\n");
    static constexpr char digits[] = "0123456789abcdef";
    for (const std::string& chunk : chunks_) {
      if (chunk.empty()) continue;  // an empty chunk would end the body
      std::string size;
      for (std::size_t n = chunk.size(); n > 0; n /= 16) size.insert(size.begin(), digits[n % 16]);
      out.append(size).append("\r\n").append(chunk).append("\r\n");
    }
    out.append("0\r\n");
    for (const field& f : trailers_) out.append(f.name).append(": ").append(f.value).append("\r\n");
    out.append("\r\n");
    return out;
  }
  if (!body_.empty() && !has_length) {
    out.append("Content-Length: ").append(std::to_string(body_.size())).append("\r\n");
  }
  out.append("\r\n").append(body_);
  return out;
}

// --- server --------------------------------------------------------------------------------------

void server::make_tls(const server_options& options) {
  if (!options.tls) return;
  transport::result<transport::tls_context> made = transport::tls_context::server(*options.tls);
  if (!made) throw std::system_error(made.error(), "taut::testing::server: TLS");
  tls_ = std::move(*made);
}

server::server(request_handler& handler, const server_options& options) {
  make_tls(options);
  auto loop = transport::event_loop::create({.clock = &clock_});
  if (!loop) throw std::system_error(loop.error(), "taut::testing::server: event loop");
  loop_ = std::move(*loop);
  server_ = std::make_unique<server_loop>(*loop_, handler, options.loop);
}

server::server(taut::handler handler, const server_options& options)
    : owned_(std::make_unique<mux>()) {
  make_tls(options);
  // Every method and path: "/" is a subtree pattern without a method.
  owned_->handle("/", std::move(handler));
  auto loop = transport::event_loop::create({.clock = &clock_});
  if (!loop) throw std::system_error(loop.error(), "taut::testing::server: event loop");
  loop_ = std::move(*loop);
  server_ = std::make_unique<server_loop>(*loop_, *owned_, options.loop);
}

server::~server() {
  // Connections first (their writers point into the handler): closed, so every writer still held
  // fails from now on, and a producer waiting in on_drained() is told at once.
  server_.reset();
  // A producer outside every handler call that waits on a timer of the loop (a response streamed
  // over time) learns it at its next tick: the clock moves on to let every armed timer fire, so
  // such producers end, and free their writers and the connections those kept, before the loop
  // goes. Steps that double from 1 s cover any deadline; a timer that re-arms itself whatever
  // happens is waited for no more than these rounds.
  auto step = std::chrono::seconds(1);
  for (int round = 0; round < 32 && loop_->armed_timers() > 0; ++round, step *= 2) {
    clock_.advance(step);
    loop_->run_until_idle();
  }
  loop_.reset();
}

void server::run() {
  loop_->run_until_idle();
}

void server::advance(std::chrono::steady_clock::duration by) {
  clock_.advance(by);
  run();
}

void server::shutdown() {
  server_->begin_shutdown();
  run();
}

// --- client --------------------------------------------------------------------------------------

client::client(request_handler& handler, const client_options& options,
               const server_options& server)
    : owned_(std::make_unique<testing::server>(handler, server)),
      server_(owned_.get()),
      options_(options) {
  connect();
}

client::client(taut::handler handler, const client_options& options, const server_options& server)
    : owned_(std::make_unique<testing::server>(std::move(handler), server)),
      server_(owned_.get()),
      options_(options) {
  connect();
}

client::client(testing::server& shared, const client_options& options)
    : server_(&shared), options_(options) {
  connect();
}

client::~client() {
  (void)stream_.close();
  server_->run();
}

void client::connect() {
  transport::memory_faults to_server;
  to_server.max_write = options_.write_piece;
  transport::memory_faults to_client;
  to_client.max_write = options_.read_piece;
  to_client.capacity = options_.capacity;
  auto [client_end, server_end] = transport::memory_pair(to_server, to_client);
  const transport::tls_context* server_tls = server_->tls();
  if (server_tls != nullptr) {
    if (!tls_) {
      transport::result<transport::tls_context> made = transport::tls_context::client(options_.tls);
      if (!made) throw std::system_error(made.error(), "taut::testing::client: TLS");
      tls_ = std::move(*made);
    }
    transport::result<transport::stream> wrapped =
        transport::tls_connect(std::move(client_end), *tls_, options_.server_name);
    if (!wrapped) throw std::system_error(wrapped.error(), "taut::testing::client: TLS");
    client_end = std::move(*wrapped);
  }
  stream_ = std::move(client_end);
  inbox_.clear();
  outbox_.clear();
  pending_.clear();
  methods_.clear();
  eof_ = reset_ = false;
  track_ = true;
  if (!server_->server_->adopt(std::move(server_end), server_tls)) {
    throw std::runtime_error("taut::testing::client: the server refused the connection");
  }
  server_->run();
  if (server_tls != nullptr) handshake();
}

void client::handshake() {
  // Each side's reads move the handshake on (the client's first read sends its hello); a few
  // rounds finish it, or end it when a side refuses (the client then reads the close).
  for (int round = 0; round < 8 && !eof_; ++round) {
    (void)drain_stream();
    server_->run();
    if (transport::tls_info(stream_).handshake_done) break;
  }
}

void client::reconnect() {
  (void)stream_.close();
  server_->run();
  connect();
}

void client::run() {
  pump();
}

void client::advance(std::chrono::steady_clock::duration by) {
  server_->clock_.advance(by);
  pump();
}

std::size_t client::drain_stream() {
  std::size_t total = 0;
  std::array<char, 16 * 1024> buffer;  // NOLINT: filled by read
  while (!eof_) {
    const transport::io_result r = stream_.read(buffer);
    if (r.done()) {
      if (r.bytes == 0) break;
      inbox_.append(buffer.data(), r.bytes);
      total += r.bytes;
    } else if (r.would_block()) {
      break;
    } else {
      eof_ = true;
      reset_ = r.failed();
    }
  }
  return total;
}

void client::pump() {
  // Alternate between the server and the client's reads until neither makes progress: the server
  // may block on a full pipe until the client reads.
  while (true) {
    const bool wrote = flush();
    server_->run();
    if (drain_stream() == 0 && !wrote) break;
  }
}

void client::track_methods(std::string_view bytes) {
  if (!track_) return;
  outbox_.append(bytes);
  // Learn each request's method from the bytes: a HEAD (or CONNECT) response is framed
  // differently. Anything that does not parse ends the tracking (the server will answer 400 and
  // close, a response read as if to GET).
  std::vector<taut::header> storage(max_fields);
  while (!outbox_.empty()) {
    request_parser parser(storage, client_parse_options());
    const parse_result head = parser.parse(outbox_);
    if (head.incomplete()) return;
    if (head.failed()) {
      track_ = false;
      outbox_.clear();
      return;
    }
    std::size_t used = head.consumed;
    const framing how = parser.request().body;
    if (how.kind != body_kind::none) {
      body_decoder decoder(how, client_parse_options());
      std::string_view rest = std::string_view(outbox_).substr(used);
      while (true) {
        const body_result r = decoder.decode(rest);
        used += r.consumed;
        rest.remove_prefix(r.consumed);
        if (r.status == parse_status::complete) break;
        if (r.status == parse_status::error) {
          track_ = false;
          outbox_.clear();
          return;
        }
        if (r.consumed == 0) return;  // the rest of the body is still to be written
      }
    }
    methods_.push_back(parser.request().method);
    outbox_.erase(0, used);
  }
}

void client::write_raw(std::string_view bytes) {
  track_methods(bytes);
  pending_.append(bytes);
  flush();
  pump();
}

bool client::flush() {
  bool progress = false;
  std::size_t sent = 0;
  while (sent < pending_.size()) {
    const transport::io_result r = stream_.write(std::string_view(pending_).substr(sent));
    if (!r.done() || r.bytes == 0) {
      if (r.failed()) sent = pending_.size();  // the server is gone: read() tells
      break;
    }
    sent += r.bytes;
    progress = true;
    server_->run();  // the server takes each piece as it comes (1-byte writes)
  }
  pending_.erase(0, sent);
  return progress;
}
void client::write(const request& r) {
  write_raw(r.serialize());
}

bool client::parse_one(response& out) {
  std::vector<taut::header> fields(max_fields);
  std::vector<taut::header> trailer_fields(max_fields);
  std::size_t offset = 0;
  std::vector<int> interim;
  const method m = methods_.empty() ? method::get : methods_.front();
  while (true) {
    response_parser parser(fields, client_parse_options());
    const std::string_view rest = std::string_view(inbox_).substr(offset);
    const parse_result head = parser.parse(rest, m);
    if (head.incomplete()) return false;
    if (head.failed()) {
      out = {};
      out.error = "unparseable response: " + std::string(to_string(head.error.code));
      return true;
    }
    const taut::response& h = parser.response();
    if (h.status >= 100 && h.status < 200 && h.status != 101) {
      interim.push_back(h.status);
      offset += head.consumed;
      continue;
    }
    body_decoder decoder(h.body, client_parse_options(), trailer_fields);
    std::string body;
    std::string_view encoded = rest.substr(head.consumed);
    std::size_t used = head.consumed;
    bool complete = h.body.kind == body_kind::none;
    while (!complete) {
      const body_result r = decoder.decode(encoded);
      body.append(r.data);
      used += r.consumed;
      encoded.remove_prefix(r.consumed);
      if (r.status == parse_status::error) {
        out = {};
        out.error = "unparseable response body: " + std::string(to_string(r.error.code));
        return true;
      }
      if (r.status == parse_status::complete) {
        complete = true;
      } else if (r.consumed == 0) {
        if (!eof_) return false;
        const body_result end = decoder.finish();
        if (end.status != parse_status::complete) {
          out = {};
          out.error = "connection closed in the middle of a response body";
          return true;
        }
        complete = true;
      }
    }
    out = {};
    out.status = h.status;
    out.reason = h.reason;
    out.version_minor = h.version_minor;
    for (const taut::header& f : h.headers) {
      out.headers.push_back({std::string(f.name), std::string(f.value)});
    }
    for (const taut::header& f : decoder.trailers()) {
      out.trailers.push_back({std::string(f.name), std::string(f.value)});
    }
    out.body = std::move(body);
    out.informational = std::move(interim);
    out.keep_alive = h.keep_alive;
    out.framing = h.body.kind;
    inbox_.erase(0, offset + used);
    if (!methods_.empty()) methods_.pop_front();
    return true;
  }
}

response client::read() {
  pump();
  response out;
  if (parse_one(out)) return out;
  out = {};
  out.error = eof_ ? (reset_ ? "connection reset" : "connection closed") : "no response yet";
  return out;
}

response client::read_within(std::chrono::milliseconds real_time) {
  const auto deadline = std::chrono::steady_clock::now() + real_time;
  while (true) {
    pump();
    response out;
    if (parse_one(out)) return out;
    const auto now = std::chrono::steady_clock::now();
    if (eof_ || now >= deadline) return read();
    // Waits on the loop's eventfd for work posted from other threads.
    server_->loop_->run_once(std::chrono::duration_cast<transport::duration>(deadline - now));
  }
}

std::vector<response> client::read_all() {
  pump();
  std::vector<response> out;
  response r;
  while (parse_one(r)) {
    const bool failed = r.status == 0;
    out.push_back(std::move(r));
    if (failed) break;
  }
  return out;
}

response client::send(const request& r) {
  write(r);
  return read();
}

response client::get(std::string_view target) {
  return send(request("GET", target));
}
response client::head(std::string_view target) {
  return send(request("HEAD", target));
}
response client::del(std::string_view target) {
  return send(request("DELETE", target));
}
response client::options(std::string_view target) {
  return send(request("OPTIONS", target));
}

response client::post(std::string_view target, std::string_view body,
                      std::string_view content_type) {
  request r("POST", target);
  if (!content_type.empty()) r.header("Content-Type", content_type);
  return send(r.body(body).header("Content-Length", std::to_string(body.size())));
}

response client::put(std::string_view target, std::string_view body,
                     std::string_view content_type) {
  request r("PUT", target);
  if (!content_type.empty()) r.header("Content-Type", content_type);
  return send(r.body(body).header("Content-Length", std::to_string(body.size())));
}

bool client::closed() {
  pump();
  return eof_;
}

void client::shutdown_write() {
  (void)stream_.shutdown_write();
  pump();
}

}  // namespace taut::testing
