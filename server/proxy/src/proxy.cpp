// The reverse proxy: each request is copied into a pooled per-request state (its text, fields and
// body in buffers that keep their capacity, so a steady state allocates nothing), rewritten
// (hop-by-hop fields out, forwarding fields in), sent with taut::client, and the response is
// streamed back through a detached response_writer, pausing the upstream read while the client
// is slower than the upstream.
#include "taut/proxy.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>

#include "forbidden_trailer.hpp"
#include "taut/connection_info.hpp"
#include "taut/http_chars.hpp"
#include "taut/path.hpp"
#include "taut/server_loop.hpp"
#include "taut/static_files.hpp"

namespace taut {

namespace {

constexpr std::size_t max_connection_tokens = 16;
constexpr std::uint8_t max_interim_responses = 8;

// The tokens of every Connection field: the fields they name are hop-by-hop too. Three of
// these are made for every proxied request: only the first `count` tokens are ever written or
// read, so the array is left uninitialized rather than zeroed each time.
// The next element of a comma-separated list, without its surrounding whitespace (empty for an
// empty element), and `list` past it and its comma.
std::string_view next_list_element(std::string_view& list) noexcept {
  const std::size_t comma = std::min(list.find(','), list.size());
  const std::string_view element = chars::trim_ows(list.substr(0, comma));
  list.remove_prefix(std::min(comma + 1, list.size()));
  return element;
}

struct connection_tokens {
  struct token {
    const char* data;
    std::size_t size;
  };
  std::array<token, max_connection_tokens> names;
  std::size_t count = 0;
  bool overflow = false;

  void add_list(std::string_view list) noexcept {
    while (!list.empty()) {
      const std::string_view token = next_list_element(list);
      if (token.empty()) continue;
      if (count == names.size()) {
        overflow = true;
        return;
      }
      names[count++] = {token.data(), token.size()};
    }
  }
  /// add_list() of every Connection field of `fields`.
  void add_fields(std::span<const header> fields) noexcept {
    for (const header& h : fields) {
      if (chars::iequals(h.name, "connection")) add_list(h.value);
    }
  }
  [[nodiscard]] std::string_view name(std::size_t i) const noexcept {
    return {names[i].data, names[i].size};
  }
  [[nodiscard]] bool named(std::string_view field) const noexcept {
    for (std::size_t i = 0; i < count; ++i) {
      if (chars::iequals(name(i), field)) return true;
    }
    return false;
  }
};

// Whether the comma-separated `list` names `field` (any case): connection_tokens::named() for a
// list that was checked when it was made.
bool list_names(std::string_view list, std::string_view field) noexcept {
  while (!list.empty()) {
    if (chars::iequals(next_list_element(list), field)) return true;
  }
  return false;
}

// Whether a parser with `options` gives only field names that are tokens and values that are
// field values without edge whitespace: what taut's parsers guarantee unless they fold lines or
// end them at a bare LF. The proxy then passes its fields on marked as parsed (not scanned again).
bool strict_fields(const parse_options& options) noexcept {
  return !options.lenient.obs_fold && !options.lenient.bare_lf;
}

// The client's IP address as X-Forwarded-For and Forwarded write it, without the port; empty
// for a client that is not on TCP. `into` holds the text.
std::string_view client_ip(const request_context& request, std::span<char> into) noexcept {
  auto peer = request.remote_address();
  if (!peer || peer->transport() != transport::transport_kind::tcp) return {};
  const std::size_t size = peer->format_to(into);
  if (size > into.size()) return {};
  std::string_view text(into.data(), size);
  if (text.starts_with("[")) return text.substr(1, text.find(']') - 1);
  return text.substr(0, text.rfind(':'));
}

// The origin-form part of a target (an absolute-form one loses its scheme and authority).
std::string_view origin_form(std::string_view target) noexcept {
  if (target.empty() || target.front() == '/' || target == "*") return target;
  const std::size_t scheme = target.find("://");
  if (scheme == std::string_view::npos) return target;
  const std::size_t path = target.find_first_of("/?", scheme + 3);
  return path == std::string_view::npos ? std::string_view("/") : target.substr(path);
}

// The authority of an absolute-form target ("http://a.example:8080/x" -> "a.example:8080").
std::string_view target_authority(std::string_view target) noexcept {
  const std::size_t scheme = target.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = target.substr(scheme + 3);
  rest = rest.substr(0, std::min(rest.find_first_of("/?#"), rest.size()));
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    rest.remove_prefix(at + 1);
  }
  return rest;
}

// Whether `path` holds a separator an upstream may see that the routing did not: an escaped slash
// ("%2F": "/api/..%2Fadmin" is one segment here, "/api/../admin" to a server that decodes
// first) or a backslash, raw or escaped (a separator on Windows servers).
bool has_hidden_separator(std::string_view path) noexcept {
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\\') return true;
    if (path[i] != '%' || i + 2 >= path.size()) continue;
    const char hi = path[i + 1];
    const char lo = static_cast<char>(path[i + 2] | 0x20);
    if ((hi == '2' && lo == 'f') || (hi == '5' && lo == 'c')) return true;
  }
  return false;
}

// Whether `path` holds what an upstream may resolve in a way the cleaning here did not: a NUL,
// raw or escaped ("%2e%2e%00" ends as ".." where C strings do), or a dot segment followed by
// path parameters ("..;", "..;x", "%2e%2e%3b"): Tomcat and Spring drop the ";..." part and then
// resolve the "..", so "/api/..;/admin" would reach "/admin" upstream. A strict front refuses
// both rather than guess how far the upstream goes.
bool has_hidden_dot_segment_or_nul(std::string_view path) noexcept {
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\0' || (path[i] == '%' && path.substr(i + 1, 2) == "00")) return true;
  }
  // Each segment's part before its first ';' (raw or "%3B"), read as a dot segment would be.
  for (std::size_t start = 0; start < path.size();) {
    const std::size_t slash = path.find('/', start);
    const std::string_view segment =
        path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
    std::size_t dots = 0;
    for (std::size_t i = 0; i < segment.size();) {
      const bool escape = segment[i] == '%' && i + 2 < segment.size();
      const char hi = escape ? segment[i + 1] : '\0';
      const char lo = escape ? static_cast<char>(segment[i + 2] | 0x20) : '\0';
      if (segment[i] == ';' || (hi == '3' && lo == 'b')) {
        if (dots == 1 || dots == 2) return true;
        break;
      }
      if (segment[i] == '.') {
        ++dots;
        ++i;
      } else if (hi == '2' && lo == 'e') {
        ++dots;
        i += 3;
      } else {
        break;
      }
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return false;
}

// A Max-Forwards value (RFC 9110 section 7.6.2: 1*DIGIT), or nothing when it is not one. More
// digits than 64 bits hold are the largest count this proxy supports: the forwarded value is
// "the lesser of the received value decremented by one and the recipient's maximum supported
// value", so it still counts down rather than going on unchanged.
std::optional<std::uint64_t> max_forwards_value(std::string_view text) noexcept {
  std::uint64_t value = 0;
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || parsed.ptr != text.data() + text.size()) return std::nullopt;
  if (parsed.ec == std::errc::result_out_of_range) return std::numeric_limits<std::uint64_t>::max();
  if (parsed.ec != std::errc{}) return std::nullopt;
  return value;
}

// A transfer coding's name, without its parameters ("gzip" of "gzip;q=1").
std::string_view coding_name(std::string_view coding) noexcept {
  return chars::trim_ows(coding.substr(0, std::min(coding.find(';'), coding.size())));
}

// Whether a list of transfer codings names `name` (any case, whatever its parameters).
bool names_coding(std::string_view codings, std::string_view name) noexcept {
  while (!codings.empty()) {
    if (chars::iequals(coding_name(next_list_element(codings)), name)) return true;
  }
  return false;
}

// `codings` without "identity" (RFC 2616's coding that changes no byte, which RFC 9112 no longer
// has, and which taut's own client and Go's refuse): the bytes carry only the others, so only
// they go on, and a body under "identity" alone goes on as if it had none. The list as it came
// when it holds no identity (nothing copied); otherwise the rest, joined in `storage`.
std::string_view without_identity(std::string_view codings, std::string& storage) {
  if (!names_coding(codings, "identity")) return codings;
  storage.clear();
  for (std::string_view rest = codings; !rest.empty();) {
    const std::string_view coding = next_list_element(rest);
    if (coding.empty() || chars::iequals(coding_name(coding), "identity")) continue;
    if (!storage.empty()) storage.append(", ");
    storage.append(coding);
  }
  return storage;
}

// The codings a Transfer-Encoding value applies before a final chunked ("gzip" of "gzip, chunked",
// all of "gzip"): what the parser reports as transfer_codings, for a HEAD response, whose
// Transfer-Encoding it does not read (there is no body to decode).
std::string_view codings_before_chunked(std::string_view value) noexcept {
  value = chars::trim_ows(value);
  const std::size_t comma = value.rfind(',');
  const std::size_t last = comma == std::string_view::npos ? 0 : comma + 1;
  if (!chars::iequals(chars::trim_ows(value.substr(last)), "chunked")) return value;
  return comma == std::string_view::npos ? std::string_view{}
                                         : chars::trim_ows(value.substr(0, comma));
}

// Passes on the origin's Date (RFC 9110 section 6.6.1: a proxy adds one only to a response that
// has none, and caches compute a response's age from the origin's, RFC 9111 section 4.2.3): as
// it came when it is an IMF-fixdate, rewritten as one from the obsolete forms. False when the
// writer keeps none (an invalid date, or a second one): the front's own then goes out, alone.
bool forward_date(response_writer& writer, std::string_view value) noexcept {
  if (writer.add_header("Date", value)) return true;
  const std::optional<std::int64_t> seconds = parse_http_date(value);
  if (!seconds) return false;
  std::array<char, 29> text{};
  date_cache::format(*seconds, text.data());
  return writer.add_header("Date", std::string_view(text.data(), text.size()));
}

}  // namespace

bool is_hop_by_hop(std::string_view name) noexcept {
  // By length first: every field of every proxied message comes through here, and most names
  // then need no comparison at all, the others one or two.
  switch (name.size()) {
    case 2:
      return chars::iequals(name, "te");
    case 7:
      return chars::iequals(name, "upgrade") || chars::iequals(name, "trailer");
    case 10:
      return chars::iequals(name, "connection") || chars::iequals(name, "keep-alive");
    case 16:
      return chars::iequals(name, "proxy-connection");
    case 17:
      return chars::iequals(name, "transfer-encoding");
    case 18:
      return chars::iequals(name, "proxy-authenticate");
    case 19:
      return chars::iequals(name, "proxy-authorization");
    default:
      return false;
  }
}

namespace detail {

/// An upgraded client connection joined to its upstream connection: bytes copied both ways, each
/// direction through a fixed buffer, reading paused while it is full; the end of one side is
/// passed on as a half-close, and the tunnel ends when both directions have ended or one fails.
class proxy_tunnel final : public upgrade_handler {
 public:
  explicit proxy_tunnel(reverse_proxy& owner) : owner_(&owner) {}
  ~proxy_tunnel() { close(); }
  proxy_tunnel(const proxy_tunnel&) = delete;
  proxy_tunnel& operator=(const proxy_tunnel&) = delete;

  [[nodiscard]] bool idle() const noexcept { return !in_use_; }
  /// Whether the tunnel joins a connection of `served`.
  [[nodiscard]] bool serves(const server_loop& served) const noexcept {
    return in_use_ && served_by_ == &served;
  }
  /// Holds the upstream stream and what it sent after its 101, until the client side arrives.
  void prepare(transport::stream&& upstream, std::string_view leftover, server_loop* served_by) {
    in_use_ = true;
    served_by_ = served_by;
    up_ = std::move(upstream);
    to_client_.reset();
    to_upstream_.reset();
    to_client_.take(leftover);
  }
  void on_upgrade(std::string_view leftover, void* stream) override {
    down_ = std::move(*static_cast<transport::stream*>(stream));
    to_upstream_.take(leftover);
    ++owner_->stats_.tunnels;
    transport::event_loop& loop = owner_->client_->loop();
    if (down_.watch(loop, [this](transport::readiness) { pump(); }) ||
        up_.watch(loop, [this](transport::readiness) { pump(); })) {
      close();
      return;
    }
    pump();
  }
  /// Gives the tunnel back when the client side never arrived (the client left before the 101).
  void abandon() noexcept { close(); }
  /// The client's connection closed after the 101 was accepted but before its take-over.
  void on_upgrade_abandoned() noexcept override { close(); }

 private:
  struct direction {
    std::array<char, 16 * 1024> bytes{};
    std::size_t begin = 0;
    std::size_t end = 0;
    bool ended = false;  // the source reached its end
    bool shut = false;   // and the destination was half-closed
    // What was read before the tunnel began (after the 101, in the reading connection's buffer,
    // which may be larger than `bytes`) and does not fit `bytes`: sent before anything more is
    // read from the source, never dropped.
    std::string spill;
    std::size_t spill_at = 0;

    void reset() noexcept {
      begin = end = 0;
      ended = shut = false;
      spill.clear();
      spill_at = 0;
    }
    void take(std::string_view leftover) {
      const std::size_t n = std::min(leftover.size(), bytes.size());
      if (n > 0) std::memcpy(bytes.data(), leftover.data(), n);  // an empty view may be null
      end = n;
      spill.assign(leftover.substr(n));  // allocates only for a leftover over 16 KiB
    }
    // Refills `bytes` from the spill; false when it is empty.
    bool refill() noexcept {
      if (spill_at == spill.size()) return false;
      const std::size_t n = std::min(spill.size() - spill_at, bytes.size());
      std::memcpy(bytes.data(), spill.data() + spill_at, n);
      spill_at += n;
      begin = 0;
      end = n;
      return true;
    }
  };

  // Moves what it can from `from` to `to`; false when the tunnel must close.
  static bool move(transport::stream& from, transport::stream& to, direction& d) noexcept {
    for (;;) {
      if (d.begin < d.end) {
        const auto w = to.write({d.bytes.data() + d.begin, d.end - d.begin});
        if (w.would_block()) return true;
        if (w.failed()) return false;
        d.begin += w.bytes;
        continue;
      }
      d.begin = d.end = 0;
      if (d.refill()) continue;
      if (d.ended) {
        if (!d.shut) {
          (void)to.shutdown_write();
          d.shut = true;
        }
        return true;
      }
      const auto r = from.read(d.bytes);
      if (r.would_block()) return true;
      if (r.failed()) return false;
      if (r.eof()) {
        d.ended = true;
        continue;
      }
      d.end = r.bytes;
    }
  }

  void pump() noexcept {
    if (!in_use_) return;
    if (!move(down_, up_, to_upstream_) || !move(up_, down_, to_client_) ||
        (to_upstream_.shut && to_client_.shut)) {
      close();
    }
  }

  void close() noexcept {
    down_.unwatch();
    up_.unwatch();
    (void)down_.close();
    (void)up_.close();
    in_use_ = false;
  }

  reverse_proxy* owner_;
  transport::stream down_;  // the client's connection
  transport::stream up_;    // the upstream connection
  direction to_upstream_;
  direction to_client_;
  server_loop* served_by_ = nullptr;
  bool in_use_ = false;
};

/// One request on its way: the upstream request (its text in `text_`, fields in `fields_`, body
/// in `body_`) and the client's response writer.
class proxy_exchange final : public client_exchange, public body_sink {
 public:
  explicit proxy_exchange(reverse_proxy& owner) : owner_(&owner) {
    fields_.reserve(owner.options().client.parse.max_headers + 10);
    interim_fields_.reserve(owner.options().client.parse.max_headers);
    trailers_.reserve(owner.options().client.parse.max_headers);
    trailer_names_.reserve(256);
    named_.reserve(256);
    text_.reserve(4096);
    pending_.reserve(16 * 1024);
    // The options' text goes into fields the proxy builds (X-Forwarded-Proto, Forwarded, Via):
    // checked once here, so that those fields may be passed on as parsed.
    const proxy_options& o = owner.options();
    built_fields_checked_ = chars::is_field_value(o.proto) && chars::is_field_value(o.via_name);
    response_fields_parsed_ = strict_fields(o.client.parse);
  }

  /// Copies and rewrites the request; false (and a response sent) when it cannot be forwarded.
  bool prepare(request_context& req, reply& res);
  /// Sends the request upstream, streaming a Content-Length body as it arrives; a chunked body is
  /// read whole first (it goes upstream with the Content-Length the front counted).
  void start(request_context& req, response_writer writer) noexcept;
  /// The server_loop whose request this is, from start() until the exchange is done; null while
  /// the state is free.
  [[nodiscard]] server_loop* served_by() const noexcept { return served_by_; }

  // The request body, from the front (body_sink).
  void on_body_data(std::string_view piece) override;
  void on_body_end(std::span<const header> trailers) override;
  void on_body_error(std::error_code error) override;
  void on_body_writable() override;

  void on_informational(const taut::response& head) override;
  void on_head(const client_response& response) override;
  void on_body(std::string_view piece) override;
  void on_complete(std::span<const header> trailers) override;
  void on_error(const client_error& error) override;
  void on_upgrade(const taut::response& head, transport::stream&& stream,
                  std::string_view leftover) override;

 private:
  std::string_view keep(std::string_view bytes) {
    const std::size_t at = text_.size();
    text_.append(bytes);
    return {text_.data() + at, bytes.size()};
  }
  void drained() noexcept;
  /// Appends the names of a Trailer list the client may be sent to trailer_names_.
  void add_trailer_names(std::string_view list, const connection_tokens& tokens);
  void send_upstream() noexcept;
  void flush_body() noexcept;
  void done() noexcept;

  reverse_proxy* owner_;
  server_loop* served_by_ = nullptr;
  response_writer writer_;
  client_request request_{};
  std::string text_;
  std::vector<header> fields_;
  std::vector<header> interim_fields_;  // a 1xx's fields on their way to the client
  std::vector<header> trailers_;        // the upstream's trailer fields the client gets
  std::string trailer_names_;           // the upstream's Trailer list, as the client gets it
  std::string named_;                   // the response's Connection options, kept for its trailers
  std::string codings_;                 // the response's codings less identity, when it had one
  std::string clean_;                   // a path cleaned of dot segments and empty segments
  std::string body_;
  taut::method method_ = taut::method::get;
  bool client_http10_ = false;  // the client cannot be sent chunked (nor transfer codings)
  bool head_sent_ = false;
  std::uint8_t interim_ = 0;  // 1xx responses passed on in this exchange
  bool upgrading_ = false;    // the client asked to upgrade and upgrades are tunnelled
  // The request body: collected whole (chunked), or streamed (Content-Length) through
  // `pending_`, the part of a piece the upstream connection could not take yet; while it holds
  // bytes the front holds the body (response_writer::hold_body).
  bool collecting_ = false;
  bool streaming_ = false;
  bool body_ended_ = false;
  bool body_finished_ = false;
  std::error_code body_error_;
  std::string pending_;
  // The fields prepare() builds from the request's and the options' text are field values.
  bool built_fields_checked_ = false;
  // The upstream's responses come from a parser that checked their fields' bytes (strict_fields).
  bool response_fields_parsed_ = false;
};

bool proxy_exchange::prepare(request_context& req, reply& res) {
  const proxy_options& o = owner_->options();
  const std::span<const header> in = req.headers();
  connection_tokens tokens;
  tokens.add_fields(in);
  if (tokens.overflow) {
    res.error(400);
    return false;
  }
  // A body still coded (parse.allow_transfer_codings) would go up re-framed with a Content-Length
  // and nothing saying it is coded: the upstream would take the coded bytes for the content. The
  // proxy does not forward transfer codings it cannot label (RFC 9112 section 6.1).
  if (!req.raw().head().transfer_codings.empty()) {
    res.error(501);
    return false;
  }
  std::string_view target = origin_form(req.target());
  // Asterisk-form (OPTIONS *, RFC 9112 section 3.2.4) names the server, not a path: it goes
  // upstream as it came, never under upstream_path, and only from a proxy of the whole server.
  const bool asterisk = target == "*";
  std::string_view query;
  if (asterisk) {
    if (!o.strip_prefix.empty()) {
      res.error(404);
      return false;
    }
  } else {
    // The prefix is checked on the path the upstream will get, and that path is the one the
    // check saw: cleaned of "//", "." and ".." (escaped dots too) as taut's router cleans it, so
    // "/api/../admin" is "/admin" (outside "/api") and "/api/x/../y" goes up as "/y". What
    // cleaning cannot settle is refused: a malformed escape, a NUL, a dot segment behind path
    // parameters ("..;") or a separator hidden from it.
    const std::size_t question = target.find('?');
    std::string_view path = target.substr(0, question);
    if (question != std::string_view::npos) query = target.substr(question);
    if (path.empty()) path = "/";
    if (!valid_percent_escapes(path) || has_hidden_dot_segment_or_nul(path) ||
        (!o.allow_encoded_slashes && has_hidden_separator(path))) {
      res.error(400);
      return false;
    }
    if (!is_clean_path(path)) {
      if (clean_.size() < path.size() + 1) clean_.resize(path.size() + 1);
      path = *clean_path(path, {clean_.data(), path.size() + 1});
    }
    if (!o.strip_prefix.empty()) {
      if (!path.starts_with(o.strip_prefix) ||
          (path.size() > o.strip_prefix.size() && path[o.strip_prefix.size()] != '/')) {
        res.error(404);
        return false;
      }
      path.remove_prefix(o.strip_prefix.size());
    }
    target = path;
  }
  // Max-Forwards (RFC 9110 section 7.6.2) counts down on TRACE and OPTIONS; at 0 this proxy is
  // the last recipient and answers itself.
  const bool counted = req.method() == taut::method::options || req.method() == taut::method::trace;
  std::optional<std::uint64_t> max_forwards;
  if (counted) {
    // Of several lines, the smallest count: the next hop may read any of them (they all go,
    // replaced by one counted down), and a 0 among them means this proxy is the last.
    for (const header& h : in) {
      if (!chars::iequals(h.name, "max-forwards")) continue;
      const auto value = max_forwards_value(chars::trim_ows(h.value));
      if (value && (!max_forwards || *value < *max_forwards)) max_forwards = value;
    }
  }
  if (max_forwards == std::uint64_t{0}) {
    if (req.method() == taut::method::options) {
      // Allow is left out: which methods the target resource allows is the upstream's to say.
      res.send(200, std::string_view{});
    } else {
      // TRACE would echo the request, credentials and cookies included (cross-site tracing):
      // the front implements none.
      res.error(501);
    }
    return false;
  }
  const std::string_view ip = owner_->peer_ip(req);
  // RFC 9112 section 3.2.2: the authority of an absolute-form target replaces the Host field.
  const bool absolute = req.raw().head().target_form == target_form::absolute;
  const std::string_view host = absolute ? target_authority(req.target()) : req.host();

  // Everything the upstream request refers to is copied here first, so that no view moves:
  // reserve once for the whole, then append.
  std::size_t need =
      req.method_name().size() + o.upstream_path.size() + target.size() + query.size() + 2 + 24;
  for (const header& h : in) need += h.name.size() + h.value.size() + 2;
  need += 2 * ip.size() + 2 * host.size() + o.proto.size() + o.via_name.size() + 128;
  text_.clear();
  if (text_.capacity() < need) text_.reserve(need);
  fields_.clear();
  body_.clear();

  method_ = req.method();
  client_http10_ = req.version_minor() == 0;
  request_.method = keep(req.method_name());
  {
    const std::size_t at = text_.size();
    if (!asterisk) text_.append(o.upstream_path);
    if (target.empty()) text_.push_back('/');
    text_.append(target);
    text_.append(query);
    request_.target = std::string_view(text_.data() + at, text_.size() - at);
  }

  // X-Forwarded-For: every line the client sent, then its address, as one list kept contiguous
  // (it is appended before any other field is copied).
  std::string_view forwarded_for;
  if (o.x_forwarded) {
    const std::size_t at = text_.size();
    for (const header& h : in) {
      // Named in Connection, the client's list is hop-by-hop (RFC 9110 section 7.6.1): dropped
      // before this proxy adds the address, as every other named field is.
      if (!chars::iequals(h.name, "x-forwarded-for") || tokens.named(h.name)) continue;
      if (text_.size() != at) text_.append(", ");
      text_.append(h.value);
    }
    if (!ip.empty()) {
      if (text_.size() != at) text_.append(", ");
      text_.append(ip);
    }
    forwarded_for = std::string_view(text_.data() + at, text_.size() - at);
  }
  for (const header& h : in) {
    // Host names the target, not the connection (RFC 9112 section 3.2): a Connection option
    // naming it must not let the client pick the upstream's virtual host by removing it.
    if (is_hop_by_hop(h.name) || (tokens.named(h.name) && !chars::iequals(h.name, "host"))) {
      continue;
    }
    // The body is framed anew from what the front read; an Expect was answered by the front.
    if (chars::iequals(h.name, "content-length") || chars::iequals(h.name, "expect")) continue;
    // An empty Host (RFC 9112 section 3.2: a target without authority) names no virtual host:
    // the client then sends the upstream's authority, as for an HTTP/1.0 request without Host.
    if (chars::iequals(h.name, "host") && (!o.preserve_host || absolute || h.value.empty())) {
      continue;
    }
    if (o.x_forwarded && (chars::iequals(h.name, "x-forwarded-host") ||
                          chars::iequals(h.name, "x-forwarded-proto"))) {
      continue;
    }
    if (o.x_forwarded && chars::iequals(h.name, "x-forwarded-for")) continue;
    if (max_forwards && chars::iequals(h.name, "max-forwards")) continue;  // counted down below
    if (fields_.size() + 10 >= fields_.capacity()) break;  // the parser's field limit bounds this
    fields_.push_back({keep(h.name), keep(h.value)});
  }
  const std::size_t copied = fields_.size();
  if (max_forwards) {
    std::array<char, 24> digits{};
    const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), *max_forwards - 1);
    fields_.push_back(
        {"Max-Forwards", keep({digits.data(), static_cast<std::size_t>(end.ptr - digits.data())})});
  }
  if (absolute && o.preserve_host && !host.empty()) fields_.push_back({"Host", keep(host)});
  if (o.x_forwarded) {
    if (!forwarded_for.empty()) fields_.push_back({"X-Forwarded-For", forwarded_for});
    if (!host.empty()) fields_.push_back({"X-Forwarded-Host", keep(host)});
    fields_.push_back({"X-Forwarded-Proto", keep(o.proto)});
  }
  if (o.forwarded) {
    const std::size_t at = text_.size();
    const bool v6 = ip.find(':') != std::string_view::npos;
    if (!ip.empty()) {
      text_.append(v6 ? "for=\"[" : "for=");
      text_.append(ip);
      text_.append(v6 ? "]\";" : ";");
    }
    if (!host.empty() && chars::is_token(host)) {
      text_.append("host=");
      text_.append(host);
      text_.append(";");
    } else if (!host.empty()) {
      text_.append("host=\"");
      text_.append(host);
      text_.append("\";");
    }
    text_.append("proto=");
    text_.append(o.proto);
    fields_.push_back({"Forwarded", std::string_view(text_.data() + at, text_.size() - at)});
  }
  if (!o.via_name.empty()) {
    const std::size_t at = text_.size();
    text_.append(req.version_minor() == 0 ? "1.0 " : "1.1 ");
    text_.append(o.via_name);
    fields_.push_back({"Via", std::string_view(text_.data() + at, text_.size() - at)});
  }
  upgrading_ = o.upgrades && req.raw().head().upgrade && !req.has_body();
  if (upgrading_) {
    fields_.push_back({"Connection", "upgrade"});
    fields_.push_back({"Upgrade", keep(req.raw().head().upgrade_protocols)});
  }
  request_.headers = fields_;
  // The fields copied from the request are as the front's parser checked them, and those built
  // here hold only bytes of the request's head (itself parsed), the client's address and options
  // checked in the constructor: the client need not scan them again, unless the front's parser
  // folds lines or takes a bare LF as a line end.
  const bool parsed = strict_fields(req.connection()->owner().options().connection.parse);
  request_.parsed_headers = !parsed ? 0 : built_fields_checked_ ? fields_.size() : copied;
  request_.body = body_;
  // A Content-Length the client sent for an empty body goes up too, whatever the method (the
  // client sends one by itself only for POST, PUT and PATCH).
  request_.send_empty_length = req.raw().head().body.kind == body_kind::content_length;
  request_.timeout = o.timeout;
  request_.timeout_ends_at_head = true;  // a body takes as long as it flows (body_idle_timeout)
  return true;
}

void proxy_exchange::start(request_context& req, response_writer writer) noexcept {
  served_by_ = &req.connection()->owner();  // serve() answers a request without one itself
  writer_ = std::move(writer);
  head_sent_ = false;
  interim_ = 0;
  collecting_ = streaming_ = body_ended_ = body_finished_ = false;
  body_error_ = {};
  pending_.clear();
  request_.stream_body = false;
  request_.stream_length = -1;
  const taut::framing& framing = req.raw().head().body;
  if (!req.has_body()) {
    send_upstream();
    return;
  }
  if (!req.body().empty()) {  // serve() from a route that buffered the body: forward it whole
    body_.assign(req.body());
    request_.body = body_;
    send_upstream();
    return;
  }
  if (framing.kind == body_kind::content_length) {
    streaming_ = true;
    request_.stream_body = true;
    request_.stream_length = static_cast<std::int64_t>(framing.content_length);
    send_upstream();
    if (!pending()) return;  // refused at once: answered, and the body is not wanted
  } else {
    collecting_ = true;
  }
  if (!req.stream_body(*this)) {
    if (collecting_) {
      // A route that buffered the body: a chunked one with no data (the only buffered body that
      // is empty, so the branch above missed it) goes up empty.
      collecting_ = false;
      body_.assign(req.body());
      request_.body = body_;
      send_upstream();
      return;
    }
    streaming_ = false;
    if (pending()) {
      cancel();
    } else {
      (void)writer_.send(500, "500 Internal Server Error\n", "text/plain; charset=utf-8");
      done();
    }
  }
}

void proxy_exchange::send_upstream() noexcept {
  ++owner_->stats_.forwarded;
  const client_error refused = owner_->client_->send(owner_->options().upstream, request_, *this);
  if (refused) {
    on_error(refused);
    return;
  }
  // A client that leaves while its request waits (for a connection, for the head) ends the
  // exchange: a request still waiting for a connection goes to no upstream once nobody can read
  // its answer (one already written, or pipelined, has its answer read for nobody).
  if (pending()) (void)writer_.on_abandoned([this] { drained(); });
}

void proxy_exchange::on_body_data(std::string_view piece) {
  if (collecting_) {
    body_.append(piece);  // bounded by the handler's max_body (413 beyond)
    return;
  }
  if (!streaming_) return;
  if (!pending_.empty()) {
    pending_.append(piece);  // what the front had read before it saw the hold
    return;
  }
  const std::size_t taken = write_body(piece);
  if (taken < piece.size()) {
    pending_.assign(piece.substr(taken));
    (void)writer_.hold_body(true);
  }
}

void proxy_exchange::on_body_writable() {
  flush_body();
}

void proxy_exchange::flush_body() noexcept {
  if (!pending_.empty()) {
    const std::size_t taken = write_body(pending_);
    pending_.erase(0, taken);
    if (!pending_.empty()) return;
    (void)writer_.hold_body(false);
  }
  if (body_ended_ && !body_finished_) body_finished_ = finish_body();
}

void proxy_exchange::on_body_end(std::span<const header> trailers) {
  static_cast<void>(trailers);  // re-framed with a Content-Length: trailers have nowhere to go
  if (collecting_) {
    collecting_ = false;
    request_.body = body_;
    send_upstream();
    return;
  }
  body_ended_ = true;
  if (streaming_) flush_body();
}

void proxy_exchange::on_body_error(std::error_code error) {
  // The front's response was finished before the body ended (the sink was detached then): this
  // exchange is done, and may already be back in the free list or serving another request.
  if (error == std::errc::operation_canceled) return;
  body_error_ = error;
  if (collecting_) {
    collecting_ = false;
    const int status = error == std::errc::message_size ? 413
                       : error == std::errc::timed_out  ? 408
                                                        : 400;
    writer_.close_after();  // the body's framing is lost: nothing after it can be read
    (void)writer_.send(status, {}, {});
    done();
    return;
  }
  streaming_ = false;
  if (pending()) cancel();  // the upstream must not take a body cut short as a whole one
}

void proxy_exchange::on_informational(const taut::response& head) {
  if (head.status == 100) return;  // the front answered the client's Expect itself
  // Each is buffered for the client: an upstream sending them without end is a bad gateway.
  if (++interim_ > max_interim_responses) {
    cancel();
    return;
  }
  // 103 Early Hints and the like go on with their fields (Link, ...), as Go's ReverseProxy
  // passes them; what is hop-by-hop or the front's own (framing, Date) stays behind.
  connection_tokens tokens;
  tokens.add_fields(head.headers);
  interim_fields_.clear();
  for (const header& h : head.headers) {
    if (is_hop_by_hop(h.name) || tokens.named(h.name) || chars::iequals(h.name, "date") ||
        chars::iequals(h.name, "content-length") ||
        interim_fields_.size() == interim_fields_.capacity()) {
      continue;
    }
    interim_fields_.push_back(h);
  }
  (void)writer_.send_informational(head.status, interim_fields_);
}

void proxy_exchange::on_head(const client_response& response) {
  const taut::response& head = response.head;
  connection_tokens tokens;
  tokens.add_fields(head.headers);
  if (tokens.overflow) {
    cancel();  // fields named past the 16th token would pass: a bad gateway, not a guess
    return;
  }
  // Transfer-Encoding is hop-by-hop (RFC 9110 section 7.6.1), but the codings it names other
  // than chunked stay on the bytes: they go on to the client as `<codings>, chunked`, the bytes
  // still coded. An HTTP/1.0 client knows no transfer codings, and a coding list holding chunked
  // cannot be chunked again: a bad gateway rather than coded bytes nobody labels.
  // A HEAD's Transfer-Encoding is read here: the client is told what its GET would carry. The
  // codings are all on the first line (a final chunked may follow on its own line, as the
  // parser takes a GET's); anything else on a later line would fail the GET, so it fails here.
  std::string_view codings = head.transfer_codings;
  const bool head_request = method_ == taut::method::head && head.body.kind == body_kind::none;
  if (head_request) {
    bool first = true;
    for (const header& h : head.headers) {
      if (!chars::iequals(h.name, "transfer-encoding")) continue;
      if (first) {
        codings = codings_before_chunked(h.value);
        first = false;
      } else if (!chars::iequals(chars::trim_ows(h.value), "chunked")) {
        cancel();
        return;
      }
    }
  }
  codings = without_identity(codings, codings_);
  // An HTTP/1.0 client's HEAD carries no body to label, and that client is told of no codings.
  const bool coded =
      !codings.empty() && (head.body.kind != body_kind::none || (head_request && !client_http10_));
  // Applied again, chunked could not be undone by the next hop (RFC 9112 section 6.1: never
  // twice), so codings naming it are not passed on.
  if (coded && (client_http10_ || names_coding(codings, "chunked"))) {
    cancel();
    return;
  }
  if (!writer_.set_status(head.status)) {
    cancel();  // the client is gone, or the status is not one a server may send
    return;
  }
  std::string_view declared_length;
  trailer_names_.clear();
  named_.clear();
  for (std::size_t i = 0; i < tokens.count; ++i) {
    if (i != 0) named_.push_back(',');
    named_.append(tokens.name(i));
  }
  for (const header& h : head.headers) {
    // Content-Length frames the message whatever Connection names: a HEAD's declared length
    // goes on even then, rather than turning into a chunked head.
    if (chars::iequals(h.name, "content-length")) {
      declared_length = h.value;
      continue;
    }
    if (chars::iequals(h.name, "trailer") && !tokens.named(h.name)) {
      add_trailer_names(h.value, tokens);
      continue;
    }
    if (is_hop_by_hop(h.name) || tokens.named(h.name)) continue;
    if (chars::iequals(h.name, "date")) {
      (void)forward_date(writer_, h.value);
      continue;
    }
    // Server too: it replaces the front's name.
    if (response_fields_parsed_) {
      (void)writer_.add_header(h.name, h.value, parsed_field);
    } else {
      (void)writer_.add_header(h.name, h.value);
    }
  }
  if (!owner_->options().via_name.empty()) {
    std::array<char, 96> via{};
    const std::string_view version = head.version_minor == 0 ? "1.0 " : "1.1 ";
    const std::size_t n = std::min(owner_->options().via_name.size(), via.size() - version.size());
    std::memcpy(via.data(), version.data(), version.size());
    std::memcpy(via.data() + version.size(), owner_->options().via_name.data(), n);
    (void)writer_.add_header("Via", std::string_view(via.data(), version.size() + n));
  }
  // Trailer announces the trailer fields (RFC 9110 section 6.6.2): it goes on where they can, in
  // a chunked response to an HTTP/1.1 client (a HEAD says what its GET would), and not where
  // they are dropped (HTTP/1.0, a Content-Length or close-delimited body).
  const bool trailers_go_on =
      !client_http10_ && (head.body.kind == body_kind::chunked ||
                          (method_ == taut::method::head && head.body.kind == body_kind::none &&
                           declared_length.empty()));
  if (trailers_go_on && !trailer_names_.empty()) {
    (void)writer_.add_header("Trailer", trailer_names_);
  }
  head_sent_ = true;
  switch (head.body.kind) {
    case body_kind::content_length:
      (void)writer_.begin(head.body.content_length);
      break;
    case body_kind::chunked:
    case body_kind::until_close:
      if (!coded) {
        (void)writer_.begin();
      } else if (!writer_.begin_coded(codings)) {
        cancel();  // the client is gone: nothing may go on unlabelled
      }
      break;
    case body_kind::none: {
      // HEAD keeps the length the upstream declared, and declares none when it declared none
      // (RFC 9110 section 8.6: a HEAD's Content-Length is the GET's; 0 would be a lie). Its
      // fields are then those this proxy's GET would carry for a body of unknown length (RFC
      // 9110 section 9.3.2): chunked for HTTP/1.1, a close for HTTP/1.0. 204 and 304 have none.
      if (method_ != taut::method::head) break;
      std::uint64_t length = 0;
      const auto parsed = std::from_chars(declared_length.data(),
                                          declared_length.data() + declared_length.size(), length);
      if (parsed.ec == std::errc{} && !declared_length.empty() &&
          parsed.ptr == declared_length.data() + declared_length.size()) {
        (void)writer_.begin(length);
      } else if (!coded || !writer_.begin_coded(codings)) {
        (void)writer_.begin();  // a 204 or 304 says nothing of codings
      }
      break;
    }
  }
}

void proxy_exchange::add_trailer_names(std::string_view list, const connection_tokens& tokens) {
  while (!list.empty()) {
    const std::string_view name = next_list_element(list);
    // Only the names the client may be sent as trailers: the front's writer drops the others from
    // the trailer section (RFC 9110 section 6.5.1), so announcing them would be a lie.
    if (name.empty() || detail::forbidden_trailer(name) || tokens.named(name)) continue;
    if (!trailer_names_.empty()) trailer_names_.append(", ");
    trailer_names_.append(name);
  }
}

void proxy_exchange::on_body(std::string_view piece) {
  if (!writer_.write(piece)) {
    cancel();  // the client is gone or the writer gave up: stop reading the upstream
    return;
  }
  if (!writer_.ready()) {
    pause();
    if (!writer_.on_drained([this] { drained(); })) resume();
  }
}

void proxy_exchange::drained() noexcept {
  if (!writer_.valid()) {
    cancel();
    return;
  }
  resume();
}

void proxy_exchange::on_upgrade(const taut::response& head, transport::stream&& stream,
                                std::string_view leftover) {
  if (!upgrading_ || head.status != 101) {
    // A switch nobody asked for (or a tunnel to a CONNECT the front never forwards).
    (void)stream.close();
    ++owner_->stats_.bad_gateway;
    (void)writer_.send(502, "502 Bad Gateway\n", "text/plain; charset=utf-8");
    done();
    return;
  }
  proxy_tunnel& tunnel = owner_->take_tunnel();
  tunnel.prepare(std::move(stream), leftover, served_by_);
  connection_tokens tokens;
  tokens.add_fields(head.headers);
  // Upgrade is hop-by-hop: the proxy names it in its own Connection (RFC 9110 section 7.8), as a
  // WebSocket client requires of the 101 (RFC 6455 section 4.1).
  bool ok = writer_.set_status(101) && writer_.add_header("Connection", "upgrade");
  for (const header& h : head.headers) {
    if (chars::iequals(h.name, "upgrade")) {
      ok = ok && writer_.add_header(h.name, h.value);
      continue;
    }
    if (is_hop_by_hop(h.name) || tokens.named(h.name)) continue;
    if (chars::iequals(h.name, "date")) {
      (void)forward_date(writer_, h.value);
      continue;
    }
    (void)writer_.add_header(h.name, h.value);  // Sec-WebSocket-Accept and the like
  }
  if (!ok || !writer_.upgrade(tunnel)) tunnel.abandon();
  head_sent_ = true;
  done();
}

void proxy_exchange::on_complete(std::span<const header> trailers) {
  (void)writer_.hold_body(false);  // an upstream that answered before the whole body: the
                                   // front reads (and drops) the rest, or closes
  trailers_.clear();
  for (const header& h : trailers) {
    // What the writer would drop anyway (RFC 9110 section 6.5.1; hop-by-hop fields included),
    // and what the response's Connection named (named_ holds at most 16 tokens).
    if (detail::forbidden_trailer(h.name) || list_names(named_, h.name) ||
        trailers_.size() == trailers_.capacity()) {
      continue;
    }
    trailers_.push_back(h);
  }
  (void)writer_.finish(trailers_);
  done();
}

void proxy_exchange::on_error(const client_error& error) {
  if (head_sent_) {
    ++owner_->stats_.cut_short;
    // Dropping a writer whose body is incomplete closes the client's connection: it sees the
    // body cut short, as the front saw the upstream's.
    writer_ = response_writer();
    done();
    return;
  }
  if (!writer_.valid()) {  // the client left (on_abandoned, drained): nobody to answer
    done();
    return;
  }
  const bool timeout = error.code == client_errc::connect_timeout ||
                       error.code == client_errc::header_timeout ||
                       error.code == client_errc::deadline_exceeded;
  if (body_error_) {
    // The client's body failed on the way in: its own fault, answered as the front would.
    const int status = body_error_ == std::errc::message_size ? 413
                       : body_error_ == std::errc::timed_out  ? 408
                                                              : 400;
    writer_.close_after();
    (void)writer_.send(status, {}, {});
  } else if (timeout) {
    ++owner_->stats_.timed_out;
    (void)writer_.send(504, "504 Gateway Timeout\n", "text/plain; charset=utf-8");
  } else if (error.code == client_errc::request_too_large) {
    // The client's head does not fit the upstream connection's buffer: its fault, not the
    // upstream's, and said as a server would (RFC 6585 section 5).
    (void)writer_.send(431, "431 Request Header Fields Too Large\n", "text/plain; charset=utf-8");
  } else if (error.code == client_errc::too_many_waiting) {
    // Every upstream connection is busy and the queue is full: a passing overload.
    (void)writer_.add_header("Retry-After", "1");
    (void)writer_.send(503, "503 Service Unavailable\n", "text/plain; charset=utf-8");
  } else {
    ++owner_->stats_.bad_gateway;
    (void)writer_.send(502, "502 Bad Gateway\n", "text/plain; charset=utf-8");
  }
  done();
}

void proxy_exchange::done() noexcept {
  collecting_ = streaming_ = false;
  (void)writer_.hold_body(false);
  writer_ = response_writer();  // a body sink still attached is detached by now
  served_by_ = nullptr;
  owner_->release(*this);
}

}  // namespace detail

reverse_proxy::reverse_proxy(proxy_options options) : options_(std::move(options)) {}

reverse_proxy::~reverse_proxy() {
  end_all();
}

void reverse_proxy::end_all() noexcept {
  trim_timer_.reset();
  // The exchanges refer to the client: they go first (cancelling what is pending, silently).
  free_.clear();
  all_.clear();
  tunnels_.clear();
  client_.reset();
  peers_ = {};
  peak_in_use_ = 0;
  loop_ends_.clear();
}

void reverse_proxy::loop_end::on_loop_end(server_loop& ending) noexcept {
  // Its loop may never run again (taut::server's hard stop): nothing here would ever end. This
  // watcher is destroyed by the call; nothing of it is used after.
  owner->end_loop(ending);
}

void reverse_proxy::watch(server_loop& served) {
  for (const auto& watcher : loop_ends_) {
    if (watcher->loop == &served) return;
  }
  loop_ends_.push_back(std::make_unique<loop_end>(*this, served));
  served.watch_end(*loop_ends_.back());
}

void reverse_proxy::end_loop(server_loop& ending) noexcept {
  std::erase_if(loop_ends_, [&ending](const auto& watcher) { return watcher->loop == &ending; });
  if (loop_ends_.empty()) {
    end_all();
    return;
  }
  // Another server_loop on the same loop still uses the client and its pool: only this one's
  // exchanges go (destroyed, they cancel their upstream exchange silently and drop their
  // writers), and its tunnels close.
  std::erase_if(all_, [&ending](const auto& exchange) { return exchange->served_by() == &ending; });
  for (const auto& tunnel : tunnels_) {
    if (tunnel->serves(ending)) tunnel->abandon();
  }
}

taut::handler reverse_proxy::handler() {
  return taut::handler([this](request_context& req, reply& res) { serve(req, res); },
                       handler_options{.body = body_mode::stream, .max_body = options_.max_body});
}

void reverse_proxy::serve(request_context& req, reply& res) {
  const connection_info* connection = req.connection();
  if (connection == nullptr) {
    res.error(500);  // not under a server_loop: no event loop to run the client on
    return;
  }
  server_loop& served = connection->owner();
  transport::event_loop& loop = served.loop();
  if (!client_) {
    client_ = std::make_unique<taut::client>(loop, options_.client);
    if (options_.trim_interval.count() > 0) {
      trim_timer_.emplace(loop);
      trim_timer_->set_callback([this] { trim(); });
    }
  } else if (&client_->loop() != &loop) {
    res.error(500);  // one proxy per loop (see the class comment)
    return;
  }
  watch(served);
  detail::proxy_exchange* exchange = nullptr;
  if (!free_.empty()) {
    exchange = free_.back();
    free_.pop_back();
  } else {
    all_.push_back(std::make_unique<detail::proxy_exchange>(*this));
    exchange = all_.back().get();
    ++stats_.exchanges_made;
  }
  peak_in_use_ = std::max(peak_in_use_, all_.size() - free_.size());
  if (trim_timer_ && !trim_timer_->armed() && all_.size() > 1) {
    trim_timer_->arm_in(options_.trim_interval);
  }
  if (!exchange->prepare(req, res)) {
    free_.push_back(exchange);
    return;
  }
  exchange->start(req, res.detach());
}

std::string_view reverse_proxy::peer_ip(const request_context& req) noexcept {
  // getpeername(2) once per client connection, not once per request: connection ids are unique
  // on a loop, so an entry is never another connection's.
  const connection_info* connection = req.connection();
  if (connection == nullptr) return {};
  peer_entry& entry = peers_[connection->id() % peers_.size()];
  if (!entry.valid || entry.id != connection->id()) {
    const std::string_view ip = client_ip(req, entry.text);
    entry.id = connection->id();
    entry.size = static_cast<std::uint8_t>(ip.size());
    if (!ip.empty() && ip.data() != entry.text.data()) {
      std::memmove(entry.text.data(), ip.data(), ip.size());
    }
    entry.valid = true;
  }
  return {entry.text.data(), entry.size};
}

detail::proxy_tunnel& reverse_proxy::take_tunnel() {
  for (auto& t : tunnels_) {
    if (t->idle()) return *t;
  }
  tunnels_.push_back(std::make_unique<detail::proxy_tunnel>(*this));
  return *tunnels_.back();
}

void reverse_proxy::trim() noexcept {
  // Keep what the busiest moment of the interval used: a steady load allocates nothing, and a
  // peak that passed gives its memory back one interval later.
  const std::size_t in_use = all_.size() - free_.size();
  while (all_.size() > std::max(peak_in_use_, in_use) && !free_.empty()) {
    const detail::proxy_exchange* doomed = free_.back();
    free_.pop_back();
    std::erase_if(all_, [doomed](const auto& e) { return e.get() == doomed; });
    ++stats_.exchanges_freed;
  }
  std::erase_if(tunnels_, [](const auto& t) { return t->idle(); });
  peak_in_use_ = in_use;
  if (all_.size() > in_use) trim_timer_->arm_in(options_.trim_interval);  // more may go next time
}

void reverse_proxy::release(detail::proxy_exchange& done) noexcept {
  free_.push_back(&done);
}

}  // namespace taut
