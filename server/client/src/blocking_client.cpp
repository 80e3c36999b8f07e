// blocking_client: a client on a loop of its own, run until each exchange has ended.
#include "taut/blocking_client.hpp"

#include "taut/http_chars.hpp"
#include "taut/parse_error.hpp"

namespace taut {

namespace {

// What io_uring_mode() says of rings that only the thread that first waited on them may run.
constexpr std::string_view single_issuer_mode = "single issuer, deferred task running";

// Gathers a whole response into a fetch_result.
class collector final : public client_exchange {
 public:
  collector(fetch_result& out, std::size_t max_body, bool allow_codings) noexcept
      : out_(&out), max_body_(max_body), allow_codings_(allow_codings) {}

  void on_informational(const taut::response& head) override {
    out_->informational.push_back(head.status);
  }
  void on_head(const client_response& response) override {
    const taut::response& head = response.head;
    out_->status = head.status;
    out_->reason = std::string(head.reason);
    out_->version_minor = head.version_minor;
    out_->keep_alive = head.keep_alive;
    out_->reused_connection = response.reused_connection;
    for (const header& field : head.headers) {
      out_->headers.push_back({std::string(field.name), std::string(field.value)});
    }
    out_->transfer_codings = std::string(response.transfer_codings());
    if (!out_->transfer_codings.empty() && !allow_codings_) {
      // The client decodes no coding but chunked: the body would be the coded bytes, not the
      // content. Refused before a byte of it is read, as Go's Transport refuses it.
      coded_ = true;
      cancel();  // on_error says why
    }
  }
  void on_body(std::string_view piece) override {
    if (piece.size() > max_body_ - out_->body.size()) {
      too_large_ = true;
      cancel();  // on_error says why
      return;
    }
    out_->body.append(piece);
  }
  void on_complete(std::span<const header> trailers) override {
    for (const header& field : trailers) {
      out_->trailers.push_back({std::string(field.name), std::string(field.value)});
    }
    done = true;
  }
  void on_error(const client_error& error) override {
    out_->error = error;
    if (too_large_) {
      out_->error = {client_errc::body_too_large, client_phase::reading_body,
                     std::make_error_code(std::errc::message_size), out_->body.size()};
    } else if (coded_) {
      out_->error = {client_errc::unsupported_transfer_coding, client_phase::reading_head,
                     make_error_code(errc::unknown_transfer_coding), 0};
    }
    done = true;
  }
  void on_upgrade(const taut::response& head, transport::stream&& stream,
                  std::string_view leftover) override {
    static_cast<void>(leftover);
    out_->status = head.status;
    (void)stream.close();
    done = true;
  }

  bool done = false;

 private:
  fetch_result* out_;
  std::size_t max_body_;
  bool allow_codings_;
  bool too_large_ = false;
  bool coded_ = false;
};

}  // namespace

std::string_view fetch_result::header(std::string_view name) const noexcept {
  for (const fetch_field& field : headers) {
    if (chars::iequals(field.name, name)) return field.value;
  }
  return {};
}

blocking_client::blocking_client(const client_options& options, const blocking_limits& limits)
    : options_(options),
      loop_(transport::event_loop::create().value()),
      client_(std::make_unique<taut::client>(*loop_, options_)),
      limits_(limits) {}

blocking_client::~blocking_client() {
  client_.reset();  // before the loop it watches with
}

void blocking_client::start_over() {
  client_.reset();  // before the loop it watches with
  loop_ = transport::event_loop::create().value();
  client_ = std::make_unique<taut::client>(*loop_, options_);
}

void blocking_client::follow_calling_thread() {
  const std::thread::id caller = std::this_thread::get_id();
  if (last_caller_ != std::thread::id{} && last_caller_ != caller &&
      loop_->backend() == transport::io_backend::io_uring &&
      std::string_view(transport::io_uring_mode()) == single_issuer_mode) {
    // A single-issuer ring belongs to the thread that first waited on it: the kernel would refuse
    // this one, so the pool starts again on a loop of this thread's own. An epoll loop, or a ring
    // whose completions are task work on whichever thread waits, moves with its caller.
    start_over();
  }
  last_caller_ = caller;
}

fetch_result blocking_client::send(const origin& where, const client_request& request) {
  follow_calling_thread();
  fetch_result result;
  collector exchange(result, limits_.max_body, limits_.allow_transfer_codings);
  client_request bounded = request;  // lives until the exchange ended (below)
  if (bounded.timeout.count() == 0) bounded.timeout = limits_.timeout;
  if (client_error refused = client_->send(where, bounded, exchange)) {
    result.error = refused;
    return result;
  }
  while (!exchange.done) {
    loop_->run_once();
    if (const std::error_code failed = loop_->failure()) {
      // The loop cannot wait any more: every further iteration would fail at once, so the call
      // ends now (not at its deadline) and the next call gets a loop that works.
      exchange.cancel();
      start_over();
      result.error = client_error{client_errc::canceled, result.error.phase, failed};
      break;
    }
  }
  return result;
}

fetch_result blocking_client::get(std::string_view text) {
  auto parsed = parse_url(text);
  if (!parsed) {
    fetch_result result;
    result.error = {client_errc::invalid_origin, client_phase::validating, parsed.error()};
    return result;
  }
  const client_request request{.method = "GET", .target = parsed->target};
  return send(parsed->origin, request);
}

}  // namespace taut
