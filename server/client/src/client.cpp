// taut::client: origins, request validation, the pool per origin (idle connections most recently
// used first, a connection limit with a wait queue), host-name resolution off the loop thread,
// and the exchange handle.
#include "taut/client.hpp"

#include <netdb.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "absolute_form.hpp"
#include "client_detail.hpp"
#include "taut/http_chars.hpp"

namespace taut {

namespace {

// Held by a resolver thread while it posts its answer, and by ~client while it says it is gone.
std::mutex& resolver_mutex() noexcept {
  static std::mutex m;
  return m;
}

bool parse_port(std::string_view text, std::uint16_t& port) noexcept {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  const auto made = std::from_chars(text.data(), text.data() + text.size(), value);
  if (made.ec != std::errc{} || made.ptr != text.data() + text.size() || value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

constexpr bool is_target_char(char c) noexcept {
  const auto byte = static_cast<unsigned char>(c);
  return byte > 0x20 && byte != 0x7f;
}

// The bytes valid_authority() allows, one lookup a byte instead of six comparisons: every
// proxied request's Host goes through it.
constexpr std::array<bool, 256> authority_bytes = [] {
  std::array<bool, 256> allowed{};
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    allowed[b] = is_target_char(c) && c != '/' && c != '?' && c != '#' && c != '@' && c != ',';
  }
  return allowed;
}();

// An origin's authority goes out as the Host field: visible ASCII without the URI delimiters that
// cannot be in one (a CR or LF would inject a header line).
bool valid_authority(std::string_view authority) noexcept {
  return std::all_of(authority.begin(), authority.end(),
                     [](char c) { return authority_bytes[static_cast<unsigned char>(c)]; });
}

// The header of a request as the client writes it, to check it fits the output buffer.
std::size_t head_size(const origin& where, const client_request& request) noexcept {
  std::size_t size = request.method.size() + 1 + request.target.size() + 11;
  size += 6 + where.authority().size() + 2;
  for (const header& field : request.headers)
    size += field.name.size() + 2 + field.value.size() + 2;
  return size + 64;  // framing fields, Expect, the final CRLF
}

}  // namespace

// ---- origin ----------------------------------------------------------------------------------

origin origin::https(std::string_view host, std::uint16_t port) {
  origin o = tcp(host, port);
  o.tls_ = true;
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string authority = v6 ? "[" + std::string(host) + "]" : std::string(host);
  if (port != 443) authority += ":" + std::to_string(port);
  o.authority_ = authority;
  // Never the pool of the plain origin on the same port.
  o.key_.replace(0, 3, "tls");
  return o;
}

origin origin::tcp(std::string_view host, std::uint16_t port) {
  origin o;
  o.kind_ = transport::transport_kind::tcp;
  o.host_ = std::string(host);
  o.port_ = port;
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string authority = v6 ? "[" + std::string(host) + "]" : std::string(host);
  if (port != 80) authority += ":" + std::to_string(port);
  o.authority_ = authority;
  o.key_ = "tcp:" + (v6 ? "[" + o.host_ + "]" : o.host_) + ":" + std::to_string(port);
  return o;
}

origin origin::unix_socket(std::string_view path, std::string_view authority) {
  origin o;
  o.kind_ = transport::transport_kind::unix_socket;
  o.host_ = std::string(path);
  o.authority_ = std::string(authority);
  o.key_ = "unix:" + o.host_;
  return o;
}

origin origin::memory(transport::memory_dialer dialer, std::string_view authority) {
  static std::uint64_t next_id = 0;  // distinguishes listeners: each memory origin is its own pool
  origin o;
  o.kind_ = transport::transport_kind::memory;
  o.authority_ = std::string(authority);
  o.dialer_ = std::move(dialer);
  o.key_ = "memory:" + std::to_string(++next_id);
  return o;
}

transport::result<origin> origin::parse(std::string_view text) {
  auto parsed = parse_url(text);
  if (!parsed) return parsed.error();
  return std::move(parsed->origin);
}

transport::result<url> parse_url(std::string_view text) {
  const std::error_code invalid = make_error_code(client_errc::invalid_origin);
  if (text.starts_with("unix:")) {
    const std::string_view path = text.substr(5);
    if (path.empty()) return invalid;
    return url{origin::unix_socket(path), "/"};
  }
  constexpr std::string_view http = "http://";
  constexpr std::string_view https = "https://";
  const auto has_scheme = [&](std::string_view scheme) {
    return text.size() >= scheme.size() && chars::iequals(text.substr(0, scheme.size()), scheme);
  };
  const bool tls = has_scheme(https);
  if (!tls && !has_scheme(http)) return invalid;
  text.remove_prefix(tls ? https.size() : http.size());
  const std::size_t end = std::min(text.find_first_of("/?#"), text.size());
  std::string_view authority = text.substr(0, end);
  std::string target(text.substr(end));
  if (const std::size_t hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.empty() || target.front() == '?') target.insert(0, "/");
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);  // userinfo is never sent (RFC 9110 section 4.2.4)
  }
  std::string_view host = authority;
  std::uint16_t port = tls ? 443 : 80;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid;
    host = authority.substr(1, close - 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !parse_port(rest.substr(1), port))) {
      return invalid;
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    if (!parse_port(authority.substr(colon + 1), port)) return invalid;
  }
  if (host.empty()) return invalid;
  for (char c : host) {
    if (!is_target_char(c) || c == '/' || c == '@') return invalid;
  }
  return url{tls ? origin::https(host, port) : origin::tcp(host, port), std::move(target)};
}

// ---- validation ------------------------------------------------------------------------------

namespace {

// validate(), with the Host the origin sends when the request sets none (empty: unknown, then
// only a caller's Host is compared with an absolute-form target).
client_error check_request(std::string_view origin_host, const client_request& request) noexcept {
  const auto refuse = [](auto why) {
    return client_error{client_errc::invalid_request, client_phase::validating,
                        make_error_code(why)};
  };
  const client_error invalid = refuse(errc::bad_header_name);
  if (!chars::is_token(request.method)) {
    return {client_errc::invalid_request, client_phase::validating,
            make_error_code(errc::bad_method)};
  }
  if (request.target.empty() ||
      !std::all_of(request.target.begin(), request.target.end(), is_target_char)) {
    return {client_errc::invalid_request, client_phase::validating,
            make_error_code(errc::bad_target)};
  }
  std::optional<std::string_view> host;
  // The first parsed_headers fields came from taut's parser, which checked their bytes.
  const std::size_t parsed = std::min(request.parsed_headers, request.headers.size());
  for (std::size_t i = 0; i < request.headers.size(); ++i) {
    const header& field = request.headers[i];
    assert((i >= parsed || (chars::is_token(field.name) && chars::is_field_value(field.value))) &&
           "client_request::parsed_headers counts a field taut's parser would not give");
    if (i >= parsed) {
      if (!chars::is_token(field.name)) return invalid;
      if (!chars::is_field_value(field.value)) {
        return {client_errc::invalid_request, client_phase::validating,
                make_error_code(errc::bad_header_value)};
      }
    }
    // Framing is the client's to write, from what the request says its body is: a field from
    // the caller could contradict it (and smuggle a second request to the server).
    if (chars::iequals(field.name, "content-length") ||
        chars::iequals(field.name, "transfer-encoding") || chars::iequals(field.name, "te") ||
        chars::iequals(field.name, "expect")) {
      return refuse(request_errc::framing_field);
    }
    if (chars::iequals(field.name, "connection") && !chars::iequals(field.value, "close") &&
        !chars::iequals(field.value, "upgrade") && !chars::iequals(field.value, "keep-alive")) {
      return refuse(request_errc::connection_option);
    }
    if (chars::iequals(field.name, "host")) {
      if (host) return refuse(request_errc::duplicate_host);
      if (field.value.empty() || !valid_authority(field.value)) {
        return refuse(request_errc::bad_host);
      }
      host = field.value;
    }
  }
  // RFC 9112 section 3.2: the four forms of a request target, each for its methods.
  const std::string_view target = request.target;
  if (request.method == "CONNECT") {
    if (target == "*" || target.find_first_of("/?#") != std::string_view::npos) {
      return refuse(request_errc::bad_target_form);  // authority-form only
    }
  } else if (target.front() != '/') {
    if (const auto absolute = detail::split_absolute_form_target(target)) {
      // Host carries the target's authority (section 3.2.2): a different one would have the
      // server route by one and the request mean the other. Spellings of the same origin
      // ("example.com" and "example.com:80" for http) are not different.
      std::string_view authority = absolute->authority;
      if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
        authority.remove_prefix(at + 1);  // userinfo is not part of Host (RFC 9110 section 7.2)
      }
      const std::string_view sent = host.value_or(origin_host);
      if ((host || !origin_host.empty()) &&
          !detail::same_authority(absolute->scheme, authority, sent)) {
        return refuse(request_errc::host_mismatch);
      }
    } else if (target != "*" || request.method != "OPTIONS") {
      return refuse(request_errc::bad_target_form);
    }
  }
  if (request.stream_body && !request.body.empty()) {
    return refuse(request_errc::body_and_stream_body);
  }
  return {};
}

}  // namespace

client_error validate(const client_request& request) noexcept {
  return check_request({}, request);
}

// ---- client_response -------------------------------------------------------------------------

std::string_view client_response::header(std::string_view name) const noexcept {
  for (const taut::header& field : head.headers) {
    if (chars::iequals(field.name, name)) return field.value;
  }
  return {};
}

// ---- client_exchange -------------------------------------------------------------------------

client_exchange::client_exchange() noexcept = default;

client_exchange::~client_exchange() {
  if (owner_ == nullptr) return;
  if (connection_ != nullptr) {
    connection_->abandon(*this);
  } else if (pool_ != nullptr) {
    pool_->remove_waiting(*this);
  }
  owner_ = nullptr;
}

void client_exchange::on_upgrade(const taut::response& head, transport::stream&& stream,
                                 std::string_view leftover) {
  static_cast<void>(head);
  static_cast<void>(leftover);
  (void)stream.close();
}

void client_exchange::pause() noexcept {
  paused_ = true;
}

void client_exchange::resume() noexcept {
  if (!paused_) return;
  paused_ = false;
  if (connection_ != nullptr) connection_->resume();
}

void client_exchange::cancel() noexcept {
  if (owner_ == nullptr) return;
  if (connection_ != nullptr) {
    connection_->fail_from_outside(*this, client_errc::canceled);
    return;
  }
  if (pool_ != nullptr) pool_->remove_waiting(*this);
  detail::client_access::end(*this);
  on_error({client_errc::canceled, client_phase::waiting,
            std::make_error_code(std::errc::operation_canceled)});
}

std::size_t client_exchange::write_body(std::string_view piece) noexcept {
  return connection_ != nullptr ? connection_->write_body(piece) : 0;
}

bool client_exchange::finish_body() noexcept {
  return connection_ != nullptr && connection_->finish_body();
}

namespace detail {

void client_access::on_deadline(client_exchange& exchange) noexcept {
  if (exchange.owner_ == nullptr) return;
  if (exchange.connection_ != nullptr) {
    exchange.connection_->fail_from_outside(exchange, client_errc::deadline_exceeded);
    return;
  }
  if (exchange.pool_ != nullptr) exchange.pool_->remove_waiting(exchange);
  end(exchange);
  exchange.on_error({client_errc::deadline_exceeded, client_phase::waiting,
                     std::make_error_code(std::errc::timed_out)});
}

void client_access::end(client_exchange& exchange) noexcept {
  exchange.owner_ = nullptr;
  exchange.pool_ = nullptr;
  exchange.connection_ = nullptr;
  exchange.next_ = nullptr;
  exchange.paused_ = false;
  if (exchange.deadline_) exchange.deadline_->cancel();
}

// ---- origin_pool -----------------------------------------------------------------------------

origin_pool::origin_pool(client& owner_client, const origin& at) : owner(&owner_client), where(at) {
  if (where.kind_ == transport::transport_kind::unix_socket) {
    auto parsed = where.host_.starts_with("@")
                      ? transport::address::unix_abstract(std::string_view(where.host_).substr(1))
                      : transport::address::unix_path(where.host_);
    if (parsed) addresses.push_back(*parsed);
    literal = true;
  } else if (where.kind_ == transport::transport_kind::tcp) {
    // Literals (and "localhost") need no resolver.
    const bool v6 = where.host_.find(':') != std::string::npos;
    const std::string text =
        (v6 ? "[" + where.host_ + "]" : where.host_) + ":" + std::to_string(where.port_);
    auto parsed = transport::address::parse_tcp(text);
    if (parsed) {
      addresses.push_back(*parsed);
      literal = true;
    }
  }
  idle.reserve(owner->options().max_idle_per_origin + 1);
}

origin_pool::~origin_pool() {
  // Every exchange still in the pool hears that it was canceled; the callbacks must not send on
  // this client (it is being destroyed).
  client_exchange* e = std::exchange(wait_head, nullptr);
  wait_tail = nullptr;
  waiting = 0;
  while (e != nullptr) {
    client_exchange* next = e->next_;
    client_access::end(*e);
    e->on_error({client_errc::canceled, client_phase::waiting,
                 std::make_error_code(std::errc::operation_canceled)});
    e = next;
  }
  for (auto& c : connections) c->shut();
}

client_error origin_pool::dispatch(client_exchange& exchange, bool fresh) {
  exchange.pool_ = this;
  // A retry (`fresh`) is never pipelined: RFC 9112 section 9.3.2 forbids pipelining right after
  // a failed connection, since the request that failed may fail the ones behind it again.
  const bool pipelining = !fresh && owner->options().pipeline_depth > 1 &&
                          client_connection::pipelinable(*exchange.request_);
  if (pipelining && batch != nullptr && batch->take_follower(exchange)) return {};
  if (!fresh) {
    while (!idle.empty()) {
      client_connection* c = idle.back();
      idle.pop_back();
      if (!c->still_idle()) {
        // Stray bytes or the server's close: freed now, so the limit counts it no more.
        const auto found = std::find_if(connections.begin(), connections.end(),
                                        [c](const auto& owned) { return owned.get() == c; });
        if (found != connections.end() && c->closed()) connections.erase(found);
        continue;
      }
      c->start(exchange);
      return {};
    }
  }
  const std::size_t limit = owner->options().max_connections_per_origin;
  if (limit == 0 || connections.size() < limit) {
    open_for(exchange);
    return {};
  }
  if (pipelining) {
    // At the limit: behind the requests of the connection with the fewest, rather than waiting.
    client_connection* shortest = nullptr;
    for (const auto& c : connections) {
      if (c->accepts_follower(*exchange.request_) &&
          (shortest == nullptr || c->followers() < shortest->followers())) {
        shortest = c.get();
      }
    }
    if (shortest != nullptr && shortest->take_follower(exchange)) return {};
  }
  if (waiting >= owner->options().max_waiting_per_origin) {
    exchange.pool_ = nullptr;
    return {client_errc::too_many_waiting, client_phase::waiting,
            std::make_error_code(std::errc::resource_unavailable_try_again)};
  }
  exchange.next_ = nullptr;
  if (wait_tail != nullptr) {
    wait_tail->next_ = &exchange;
  } else {
    wait_head = &exchange;
  }
  wait_tail = &exchange;
  ++waiting;
  return {};
}

void origin_pool::open_for(client_exchange& exchange) {
  connections.push_back(std::make_unique<client_connection>(*this, &exchange));
  connections.back()->open();
}

void origin_pool::remove_waiting(client_exchange& exchange) noexcept {
  client_exchange* previous = nullptr;
  for (client_exchange* e = wait_head; e != nullptr; previous = e, e = e->next_) {
    if (e != &exchange) continue;
    (previous != nullptr ? previous->next_ : wait_head) = e->next_;
    if (wait_tail == e) wait_tail = previous;
    e->next_ = nullptr;
    --waiting;
    return;
  }
}

void origin_pool::release(client_connection& connection, bool reusable) noexcept {
  if (!reusable || connection.closed()) {
    connection.abandon();
    return;
  }
  if (wait_head != nullptr && wait_head->retried_ && connection.served()) {
    // A retry waits for a new connection (RFC 9110 section 9.2.2): a reused one may fail the
    // same way, and then nothing could tell the server never saw the request. This one makes
    // room for it: closed, and destroy() dials for the head of the queue.
    connection.abandon();
    return;
  }
  if (wait_head != nullptr) {
    // Handed over at once, it is checked as an idle one is when lent: bytes that came after the
    // response (one nobody asked for) or the server's close would be taken for the next
    // exchange's answer. It makes room for a new connection instead.
    if (!connection.quiet()) {
      connection.abandon();
      return;
    }
    client_exchange* next = wait_head;
    wait_head = next->next_;
    if (wait_head == nullptr) wait_tail = nullptr;
    next->next_ = nullptr;
    --waiting;
    connection.start(*next);
    return;
  }
  idle.push_back(&connection);
  if (idle.size() > owner->options().max_idle_per_origin) {
    client_connection* oldest = idle.front();
    idle.erase(idle.begin());
    oldest->abandon();
  }
  if (connection.current() == client_connection::state::busy ||
      connection.current() == client_connection::state::connecting) {
    connection.go_idle();
  }
}

void origin_pool::destroy(client_connection& connection) noexcept {
  std::erase(idle, &connection);
  if (batch == &connection) batch = nullptr;
  const auto found = std::find_if(connections.begin(), connections.end(),
                                  [&](const auto& c) { return c.get() == &connection; });
  if (found == connections.end()) return;
  std::unique_ptr<client_connection> doomed = std::move(*found);
  connections.erase(found);
  doomed.reset();
  const std::size_t limit = owner->options().max_connections_per_origin;
  while (wait_head != nullptr && (limit == 0 || connections.size() < limit)) {
    client_exchange* next = wait_head;
    wait_head = next->next_;
    if (wait_head == nullptr) wait_tail = nullptr;
    next->next_ = nullptr;
    --waiting;
    open_for(*next);
  }
}

namespace {
// getaddrinfo's EAI_* codes, worded by gai_strerror ("Name or service not known").
class resolver_category_t final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "taut.resolver"; }
  [[nodiscard]] std::string message(int code) const override { return ::gai_strerror(code); }
};
const std::error_category& resolver_category() noexcept {
  static const resolver_category_t category;
  return category;
}
}  // namespace

void origin_pool::start_resolving() {
  if (resolving) return;
  resolving = true;
  ++owner->stats_.resolutions;
  // Resolution blocks (DNS, /etc/hosts); it runs on a thread of its own and the answer is posted
  // back to the loop. The shared flag tells that thread whether the client still exists. The
  // thread owns a copy of the resolver, so what it calls never dies with the client's options.
  struct job {
    std::string host;
    std::uint16_t port;
    transport::event_loop* loop;
    std::shared_ptr<bool> alive;
    origin_pool* pool;
    resolver_function resolver;
  };
  job work{where.host_,   where.port_, &owner->loop(),
           owner->alive_, this,        owner->options().resolver};
  std::thread([work = std::move(work)]() mutable {
    std::vector<transport::address> answer;
    std::error_code error;
    if (work.resolver) {
      // A client destroyed before this thread got here does not have its resolver called: one
      // that captured references to what died with the client would touch freed memory. A call
      // under way when the client is destroyed is not waited for (a resolver that does not answer
      // would hold the destructor), which client_options::resolver documents.
      {
        const std::lock_guard<std::mutex> lock(resolver_mutex());
        if (!*work.alive) return;
      }
      auto found = work.resolver(work.host, work.port);
      if (found) {
        answer = std::move(*found);
      } else {
        error = found.error();
      }
    } else {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* found = nullptr;
      const int rc =
          ::getaddrinfo(work.host.c_str(), std::to_string(work.port).c_str(), &hints, &found);
      const int system_error = errno;  // EAI_SYSTEM's cause, before anything else can change it
      // Every address, in the order getaddrinfo sorted them (RFC 6724: IPv6 and IPv4 as the
      // host's policy prefers): a connection tries the next when one does not answer.
      for (const addrinfo* at = found; rc == 0 && at != nullptr; at = at->ai_next) {
        auto made = transport::address::from_sockaddr(at->ai_addr, at->ai_addrlen);
        if (made) {
          answer.push_back(*made);
        } else {
          error = made.error();
        }
      }
      if (found != nullptr) ::freeaddrinfo(found);
      if (rc == EAI_SYSTEM && system_error != 0) {
        error = std::error_code(system_error, std::system_category());
      }
      if (rc != 0 && rc != EAI_SYSTEM) error = std::error_code(rc, resolver_category());
    }
    if (!answer.empty()) error = {};
    if (answer.empty() && !error) error = std::make_error_code(std::errc::host_unreachable);
    const std::lock_guard<std::mutex> lock(resolver_mutex());
    if (!*work.alive) return;
    work.loop->post([alive = work.alive, pool = work.pool, answer = std::move(answer), error]() {
      if (*alive) pool->resolved(answer, error);
    });
  }).detach();
}

void origin_pool::resolved(std::vector<transport::address> result, std::error_code error) noexcept {
  resolving = false;
  if (!result.empty()) {
    addresses = std::move(result);
    stale = false;
    error = {};
  } else if (!error) {
    error = std::make_error_code(std::errc::host_unreachable);
  }
  // Each connection waiting for the name fails or dials now; iterate over a copy, as failing
  // frees connections.
  std::vector<client_connection*> waiting_for_name;
  for (auto& c : connections) {
    if (c->current() == client_connection::state::resolving) waiting_for_name.push_back(c.get());
  }
  for (client_connection* c : waiting_for_name) {
    c->on_resolved(error);
  }
}

}  // namespace detail

// ---- client ----------------------------------------------------------------------------------

client::client(transport::event_loop& loop, const client_options& options)
    : loop_(&loop), options_(options), alive_(std::make_shared<bool>(true)) {}

client::~client() {
  {
    // The resolver threads check the flag under this lock before posting to the loop.
    const std::lock_guard<std::mutex> lock(resolver_mutex());
    *alive_ = false;
  }
  pools_.clear();
}

detail::origin_pool& client::pool_for(const origin& where) {
  for (auto& p : pools_) {
    if (p->where.key_ == where.key_) return *p;
  }
  pools_.push_back(std::make_unique<detail::origin_pool>(*this, where));
  return *pools_.back();
}

const detail::origin_pool* client::find_pool(const origin& where) const noexcept {
  for (const auto& p : pools_) {
    if (p->where.key_ == where.key_) return p.get();
  }
  return nullptr;
}

client_error client::send(const origin& where, const client_request& request,
                          client_exchange& exchange) {
  if (exchange.owner_ != nullptr) {
    return {client_errc::invalid_request, client_phase::validating,
            std::make_error_code(std::errc::operation_in_progress)};
  }
  if (client_error invalid = check_request(where.authority(), request)) return invalid;
  if (where.kind_ == transport::transport_kind::none || !valid_authority(where.authority_)) {
    return {client_errc::invalid_origin, client_phase::validating,
            std::make_error_code(std::errc::invalid_argument)};
  }
  if (head_size(where, request) > options_.buffer_size) {
    return {client_errc::request_too_large, client_phase::validating,
            std::make_error_code(std::errc::message_size)};
  }
  if (where.tls_) {
    if (client_error unusable = prepare_tls()) return unusable;
  }
  detail::origin_pool& pool = pool_for(where);
  exchange.owner_ = this;
  exchange.request_ = &request;
  exchange.retried_ = false;
  exchange.paused_ = false;
  if (request.timeout.count() > 0) {
    if (!exchange.deadline_ || &exchange.deadline_->loop() != loop_) {
      exchange.deadline_.reset();
      exchange.deadline_.emplace(*loop_);
      client_exchange* self = &exchange;
      exchange.deadline_->set_callback([self] { detail::client_access::on_deadline(*self); });
    }
    exchange.deadline_->arm_in(request.timeout);
  }
  client_error queued = pool.dispatch(exchange, false);
  if (queued) detail::client_access::end(exchange);
  return queued;
}

client_error client::prepare_tls() {
  if (tls_.valid()) return {};
  auto made = transport::tls_context::client(options_.tls);
  if (!made) return {client_errc::tls_setup_failed, client_phase::validating, made.error()};
  tls_ = std::move(*made);
  return {};
}

void client::close_idle() noexcept {
  for (auto& p : pools_) {
    std::vector<detail::client_connection*> idle = p->idle;
    p->idle.clear();
    for (auto* c : idle) c->abandon();
  }
}

std::size_t client::open_connections(const origin& where) const noexcept {
  const detail::origin_pool* p = find_pool(where);
  return p != nullptr ? p->connections.size() : 0;
}

std::size_t client::idle_connections(const origin& where) const noexcept {
  const detail::origin_pool* p = find_pool(where);
  return p != nullptr ? p->idle.size() : 0;
}

}  // namespace taut
