// RapidCheck properties of the parser:
//  1. round trip: generated valid requests and responses (methods, targets, fields, bodies with
//     Content-Length or random chunking, extensions, trailers) parse back to what was generated;
//  2. split invariance: any cutting of the input gives exactly the whole-input result, for valid,
//     mutated and arbitrary inputs, and every SIMD path gives the same result as the scalar one;
//  3. every strict prefix of a valid message is incomplete, never an error or complete;
//  4. every error offset lies inside the input;
//  5. an error is reported as soon as the bytes received can no longer begin a valid request or
//     response (request-line, status-line, field lines), with the code and offset the whole input
//     gets.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "taut/simd.hpp"
#include "test_support.hpp"

namespace taut::test {
namespace {

namespace gen = rc::gen;

// ---- Generators --------------------------------------------------------------------------------

const std::string tchars =
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const std::string alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
// pchar without pct-encoded: unreserved / sub-delims / ":" / "@".
const std::string pchars = alnum + "-._~!$&'()*+,;=:@";
const std::string hexdigits = "0123456789abcdefABCDEF";

/// The bytes of a string literal, embedded NULs included, without its terminator.
template <std::size_t N>
std::string literal_bytes(const char (&bytes)[N]) {
  return std::string(bytes, N - 1);
}

std::string visible_chars() {
  std::string out;
  for (int c = 0x21; c <= 0x7e; ++c) out += static_cast<char>(c);
  return out;
}
std::string obs_text() {
  std::string out;
  for (int c = 0x80; c <= 0xff; ++c) out += static_cast<char>(c);
  return out;
}

rc::Gen<std::string> token() {
  return gen::nonEmpty(gen::container<std::string>(gen::elementOf(tchars)));
}

rc::Gen<std::string> join(rc::Gen<std::vector<std::string>> pieces) {
  return gen::map(pieces, [](const std::vector<std::string>& parts) {
    std::string out;
    for (const std::string& part : parts) out += part;
    return out;
  });
}

rc::Gen<std::string> one_char_of(const std::string& chars) {
  return gen::map(gen::elementOf(chars), [](char c) { return std::string(1, c); });
}

rc::Gen<std::string> percent_escape() {
  return gen::map(gen::pair(gen::elementOf(hexdigits), gen::elementOf(hexdigits)),
                  [](const std::pair<char, char>& h) {
                    return std::string{'%', h.first, h.second};
                  });
}

rc::Gen<std::string> path_and_query() {
  const auto path_piece = gen::weightedOneOf<std::string>(
      {{10, one_char_of(pchars)}, {2, gen::just(std::string("/"))}, {1, percent_escape()}});
  const auto query_piece = gen::weightedOneOf<std::string>(
      {{10, one_char_of(pchars)}, {1, one_char_of("/?")}, {1, percent_escape()}});
  return gen::map(
      gen::pair(join(gen::container<std::vector<std::string>>(path_piece)),
                gen::maybe(join(gen::container<std::vector<std::string>>(query_piece)))),
      [](const std::pair<std::string, rc::Maybe<std::string>>& p) {
        std::string out = "/" + p.first;
        if (p.second) out += "?" + *p.second;
        return out;
      });
}

rc::Gen<std::string> host_name() {
  return gen::map(
      gen::pair(gen::nonEmpty(gen::container<std::string>(gen::elementOf(alnum + "-."))),
                gen::maybe(gen::inRange(0, 65536))),
      [](const std::pair<std::string, rc::Maybe<int>>& p) {
        return p.second ? p.first + ":" + std::to_string(*p.second) : p.first;
      });
}

rc::Gen<std::string> target() {
  return gen::weightedOneOf<std::string>(
      {{4, path_and_query()},
       {1, gen::map(gen::pair(gen::element<std::string>("http://", "https://", "HTTP://"),
                              gen::pair(host_name(), path_and_query())),
                    [](const auto& p) { return p.first + p.second.first + p.second.second; })}});
}

rc::Gen<std::string> method_name() {
  return gen::weightedOneOf<std::string>(
      {{3, gen::element<std::string>("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE",
                                     "PATCH")},
       {1, token()}});
}

/// A field value: visible characters, obs-text, SP and HTAB, never starting or ending with
/// whitespace (what the parser hands back after trimming).
rc::Gen<std::string> field_value() {
  const auto piece = gen::weightedOneOf<std::string>(
      {{12, one_char_of(visible_chars())}, {2, one_char_of(" \t")}, {1, one_char_of(obs_text())}});
  return gen::map(join(gen::container<std::vector<std::string>>(piece)), [](std::string v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
    return v;
  });
}

/// Optional whitespace around a value on the wire.
rc::Gen<std::string> ows() {
  return gen::element<std::string>("", "", " ", "\t", "  ", " \t ");
}

struct wire_field {
  std::string name;
  std::string value;
  std::string before;  // OWS before the value
  std::string after;   // OWS after it
};

/// Fields that mean nothing to framing or connection handling ("X-" names).
rc::Gen<std::vector<wire_field>> plain_fields(int max) {
  const auto field = gen::build<wire_field>(
      gen::set(&wire_field::name, gen::map(token(), [](const std::string& t) { return "X-" + t; })),
      gen::set(&wire_field::value, field_value()), gen::set(&wire_field::before, ows()),
      gen::set(&wire_field::after, ows()));
  return gen::mapcat(gen::inRange(0, max + 1), [field](int n) {
    return gen::container<std::vector<wire_field>>(static_cast<std::size_t>(n), field);
  });
}

enum class body_mode { none, length, chunked, until_close };

struct chunk {
  std::size_t size = 0;
  std::string size_text;  // hex, any case, maybe leading zeros
  std::string extension;  // "" or ";name[=value]" with optional BWS
};

struct message_model {
  bool is_request = true;
  // Request-line or status-line.
  std::string method;
  std::string target;
  int status = 200;
  std::string reason;
  int minor = 1;
  std::vector<wire_field> fields;  // in wire order, framing and Host included
  body_mode mode = body_mode::none;
  std::string body;
  std::vector<chunk> chunks;
  std::string last_chunk_extension;
  std::vector<wire_field> trailers;

  [[nodiscard]] std::string head() const {
    std::string out = is_request ? method + " " + target + " HTTP/1." + std::to_string(minor)
                                 : "HTTP/1." + std::to_string(minor) + " " +
                                       std::to_string(status) + " " + reason;
    out += "\r\n";
    for (const wire_field& f : fields) out += f.name + ":" + f.before + f.value + f.after + "\r\n";
    return out + "\r\n";
  }

  [[nodiscard]] std::string encoded_body() const {
    if (mode != body_mode::chunked) return body;
    std::string out;
    std::size_t at = 0;
    for (const chunk& c : chunks) {
      out += c.size_text + c.extension + "\r\n" + body.substr(at, c.size) + "\r\n";
      at += c.size;
    }
    out += "0" + last_chunk_extension + "\r\n";
    for (const wire_field& f : trailers)
      out += f.name + ":" + f.before + f.value + f.after + "\r\n";
    return out + "\r\n";
  }

  [[nodiscard]] std::string wire() const { return head() + encoded_body(); }

  [[nodiscard]] field_list expected_fields() const { return trimmed(fields); }
  [[nodiscard]] field_list expected_trailers() const { return trimmed(trailers); }

  static field_list trimmed(const std::vector<wire_field>& list) {
    field_list out;
    for (const wire_field& f : list) out.emplace_back(f.name, f.value);
    return out;
  }
};

rc::Gen<std::string> chunk_extension() {
  const auto value = gen::oneOf(token(), gen::map(field_value(), [](std::string v) {
                                  std::string quoted = "\"";
                                  for (const char c : v) {
                                    if (c == '"' || c == '\\') quoted += '\\';
                                    quoted += c;
                                  }
                                  return quoted + "\"";
                                }));
  const auto one = gen::map(gen::tuple(gen::element<std::string>("", " ", "\t"), token(),
                                       gen::maybe(value), gen::element<std::string>("", " ")),
                            [](const auto& t) {
                              const auto& [bws, name, v, bws2] = t;
                              std::string out = bws + ";" + name;
                              if (v) out += bws2 + "=" + bws2 + *v;
                              return out;
                            });
  return gen::weightedOneOf<std::string>(
      {{3, gen::just(std::string())},
       {1, join(gen::resize(3, gen::container<std::vector<std::string>>(one)))}});
}

std::string hex(std::size_t n, bool upper, std::size_t zeros) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), digits[n % 16]);
    n /= 16;
  } while (n != 0);
  return std::string(zeros, '0') + out;
}

/// Cuts `body` into chunks at random places, each with a random size spelling and extension.
rc::Gen<std::vector<chunk>> chunking(std::size_t body_size) {
  if (body_size == 0) return gen::just(std::vector<chunk>{});
  return gen::mapcat(
      gen::container<std::vector<std::size_t>>(gen::inRange<std::size_t>(1, body_size)),
      [body_size](std::vector<std::size_t> cuts) {
        cuts.push_back(body_size);
        std::sort(cuts.begin(), cuts.end());
        cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
        std::vector<std::size_t> sizes;
        std::size_t at = 0;
        for (const std::size_t cut : cuts) {
          sizes.push_back(cut - at);
          at = cut;
        }
        const auto spelled =
            gen::tuple(gen::arbitrary<bool>(), gen::inRange<std::size_t>(0, 3), chunk_extension());
        return gen::map(gen::container<std::vector<std::tuple<bool, std::size_t, std::string>>>(
                            sizes.size(), spelled),
                        [sizes](const std::vector<std::tuple<bool, std::size_t, std::string>>& s) {
                          std::vector<chunk> chunks;
                          for (std::size_t i = 0; i < sizes.size(); ++i) {
                            const auto& [upper, zeros, extension] = s[i];
                            chunks.push_back({sizes[i], hex(sizes[i], upper, zeros), extension});
                          }
                          return chunks;
                        });
      });
}

/// Inserts `field` at a random place among `fields`.
void insert_somewhere(std::vector<wire_field>& fields, wire_field field) {
  const auto at = *gen::inRange<std::size_t>(0, fields.size() + 1);
  fields.insert(fields.begin() + static_cast<std::ptrdiff_t>(at), std::move(field));
}

/// Fills in the body of `m` (called inside a property: draws with operator*).
void draw_body(message_model& m, bool allow_until_close) {
  std::vector<body_mode> modes = {body_mode::none, body_mode::length};
  if (m.minor == 1) modes.push_back(body_mode::chunked);
  if (allow_until_close) modes.push_back(body_mode::until_close);
  m.mode = *gen::elementOf(modes);
  if (m.mode == body_mode::none) return;
  m.body = *gen::string<std::string>();
  if (m.mode == body_mode::length) {
    insert_somewhere(m.fields, {*gen::element<std::string>("Content-Length", "content-length"),
                                std::to_string(m.body.size()), *ows(), *ows()});
  } else if (m.mode == body_mode::chunked) {
    // A request's codings other than chunked are 501 by default (allow_transfer_codings).
    const std::string coding =
        m.is_request ? *gen::element<std::string>("chunked", ", chunked", "CHUNKED")
                     : *gen::element<std::string>("chunked", "gzip, chunked", "CHUNKED");
    insert_somewhere(m.fields, {"Transfer-Encoding", coding, *ows(), *ows()});
    m.chunks = *chunking(m.body.size());
    m.last_chunk_extension = *chunk_extension();
    m.trailers = *plain_fields(4);
  }
}

message_model draw_request() {
  message_model m;
  m.is_request = true;
  m.method = *method_name();
  m.target = *target();
  m.minor = *gen::element(0, 1, 1, 1);
  m.fields = *plain_fields(12);
  if (m.minor == 1 || *gen::arbitrary<bool>()) {
    insert_somewhere(m.fields, {*gen::element<std::string>("Host", "host", "HOST"), *host_name(),
                                *ows(), *ows()});
  }
  draw_body(m, false);
  return m;
}

message_model draw_response() {
  message_model m;
  m.is_request = false;
  m.minor = *gen::element(0, 1, 1, 1);
  m.status = *gen::suchThat(gen::inRange(200, 600), [](int s) { return s != 204 && s != 304; });
  m.reason = *field_value();
  m.fields = *plain_fields(12);
  draw_body(m, true);
  return m;
}

// ---- Arbitrary and mutated inputs ---------------------------------------------------------------

rc::Gen<std::string> http_ish_bytes() {
  const auto piece = gen::weightedOneOf<std::string>(
      {{6, one_char_of(literal_bytes(" \t\r\n:;,=\"/?%-0123456789abcdefABCDEFxyz\x80\xff\0"))},
       {2, gen::element<std::string>("\r\n", "HTTP/1.1", "HTTP/1.0", "GET ", "POST ", "Host: a",
                                     "Content-Length: ", "Transfer-Encoding: ", "chunked",
                                     "\r\n\r\n", " / ", "Connection: close", "0\r\n\r\n",
                                     "HTTP/1.1 ", "200 OK", "ffffffffffffffffff")},
       {1, one_char_of(obs_text())}});
  return join(gen::container<std::vector<std::string>>(piece));
}

/// A few random edits of `s`: byte replacements, insertions, deletions.
std::string mutate(std::string s) {
  const int edits = *gen::inRange(1, 5);
  const std::string interesting = literal_bytes("\r\n \t:;,0aZ\"\x7f\x80\0");
  for (int e = 0; e < edits; ++e) {
    const int kind = *gen::inRange(0, 3);
    const std::size_t at = s.empty() ? 0 : *gen::inRange<std::size_t>(0, s.size());
    const char c = *gen::oneOf(gen::elementOf(interesting), gen::arbitrary<char>());
    if (kind == 0 && !s.empty()) {
      s[at] = c;
    } else if (kind == 1) {
      s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
    } else if (!s.empty()) {
      s.erase(at, 1);
    }
  }
  return s;
}

/// A request input: valid, mutated from a valid one, or arbitrary bytes.
std::string draw_any_request_input() {
  switch (*gen::inRange(0, 3)) {
    case 0:
      return draw_request().wire();
    case 1:
      return mutate(draw_request().wire());
    default:
      return *http_ish_bytes();
  }
}

std::string draw_any_response_input() {
  switch (*gen::inRange(0, 3)) {
    case 0:
      return draw_response().wire();
    case 1:
      return mutate(draw_response().wire());
    default:
      return *http_ish_bytes();
  }
}

std::string draw_any_chunked_input() {
  message_model m;
  m.minor = 1;
  m.mode = body_mode::chunked;
  m.body = *gen::string<std::string>();
  m.chunks = *chunking(m.body.size());
  m.last_chunk_extension = *chunk_extension();
  m.trailers = *plain_fields(3);
  switch (*gen::inRange(0, 3)) {
    case 0:
      return m.encoded_body();
    case 1:
      return mutate(m.encoded_body());
    default:
      return *http_ish_bytes();
  }
}

/// Random ascending cut points inside [1, size).
std::vector<std::size_t> draw_cuts(std::size_t size) {
  if (size < 2) return {};
  auto cuts = *gen::container<std::vector<std::size_t>>(gen::inRange<std::size_t>(1, size));
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

parse_options draw_options() {
  parse_options options;
  options.lenient.bare_lf = *gen::arbitrary<bool>();
  options.lenient.obs_fold = *gen::arbitrary<bool>();
  options.lenient.space_before_colon = *gen::arbitrary<bool>();
  options.lenient.transfer_encoding_with_content_length = *gen::arbitrary<bool>();
  options.allow_transfer_codings = *gen::arbitrary<bool>();
  if (*gen::arbitrary<bool>()) {
    options.max_request_line = *gen::inRange<std::size_t>(1, 200);
    options.max_header_bytes = *gen::inRange<std::size_t>(1, 2000);
    options.max_headers = *gen::inRange<std::size_t>(0, 20);
    options.max_chunk_extension = *gen::inRange<std::size_t>(0, 50);
    options.max_chunk_overhead = *gen::inRange<std::size_t>(0, 300);
  }
  return options;
}

/// The decoded body and trailers of `encoded` under `how`, fed whole.
body_outcome decode_all(framing how, std::string_view encoded) {
  return decode_body_pieces(how, encoded, {}, how.kind == body_kind::until_close);
}

// ---- 1. Round trip ----------------------------------------------------------------------------

RC_GTEST_PROP(RoundTrip, GeneratedRequestsParseBackToTheirStructure, ()) {
  const message_model m = draw_request();
  const std::string wire = m.wire();
  RC_LOG() << testing::PrintToString(wire) << "\n";
  const request_outcome o = parse_request_whole(wire);
  RC_ASSERT(o.status == parse_status::complete);
  RC_ASSERT(o.method_name == m.method);
  RC_ASSERT(o.method == method_from_token(m.method));
  RC_ASSERT(o.target == m.target);
  RC_ASSERT(o.version_minor == m.minor);
  RC_ASSERT(o.headers == m.expected_fields());
  RC_ASSERT(o.head_size == m.head().size());
  const body_kind expected_kind = m.mode == body_mode::chunked  ? body_kind::chunked
                                  : m.mode == body_mode::length ? body_kind::content_length
                                                                : body_kind::none;
  if (!(m.mode == body_mode::length && m.body.empty())) RC_ASSERT(o.body == expected_kind);
  const body_outcome body =
      decode_all({o.body, o.content_length}, std::string_view(wire).substr(o.consumed));
  RC_ASSERT(body.status == parse_status::complete);
  RC_ASSERT(body.data == m.body);
  RC_ASSERT(body.trailers == m.expected_trailers());
  RC_ASSERT(body.consumed == m.encoded_body().size());
}

RC_GTEST_PROP(RoundTrip, GeneratedResponsesParseBackToTheirStructure, ()) {
  const message_model m = draw_response();
  const std::string wire = m.wire();
  RC_LOG() << testing::PrintToString(wire) << "\n";
  const response_outcome o = parse_response_whole(wire);
  RC_ASSERT(o.status == parse_status::complete);
  RC_ASSERT(o.status_code == m.status);
  RC_ASSERT(o.reason == m.reason);
  RC_ASSERT(o.version_minor == m.minor);
  RC_ASSERT(o.headers == m.expected_fields());
  const body_outcome body =
      decode_all({o.body, o.content_length}, std::string_view(wire).substr(o.consumed));
  RC_ASSERT(body.status == parse_status::complete);
  RC_ASSERT(body.data == m.body);
  RC_ASSERT(body.trailers == m.expected_trailers());
}

RC_GTEST_PROP(RoundTrip, ChunkedBodiesDecodeInPlaceToTheSameBytes, ()) {
  message_model m;
  m.mode = body_mode::chunked;
  m.body = *gen::string<std::string>();
  m.chunks = *chunking(m.body.size());
  m.trailers = *plain_fields(3);
  const std::string encoded = m.encoded_body();
  const body_outcome in_place = decode_chunked_in_place(encoded, draw_cuts(encoded.size()));
  RC_ASSERT(in_place.status == parse_status::complete);
  RC_ASSERT(in_place.data == m.body);
  RC_ASSERT(in_place.trailers == m.expected_trailers());
}

/// Where the framing of `m`'s valid chunked body first exceeds `bound` as max_chunk_overhead
/// documents it (every framing byte counts, a size line's end pays back 20 plus twice the chunk's
/// size, the excess never below zero), or nothing if it never does.
std::optional<std::size_t> overhead_failure(const message_model& m, std::uint64_t bound) {
  std::uint64_t excess = 0;
  std::size_t at = 0;
  const auto framing = [&](std::size_t bytes) -> std::optional<std::size_t> {
    if (excess + bytes > bound) return at + static_cast<std::size_t>(bound - excess);
    excess += bytes;
    at += bytes;
    return std::nullopt;
  };
  const auto pay_back = [&](std::size_t size) {
    const std::uint64_t credit = 20 + 2 * static_cast<std::uint64_t>(size);
    excess = excess > credit ? excess - credit : 0;
  };
  for (const chunk& c : m.chunks) {
    if (auto f = framing(c.size_text.size() + c.extension.size() + 2)) return f;
    pay_back(c.size);
    at += c.size;
    if (auto f = framing(2)) return f;
  }
  if (auto f = framing(1 + m.last_chunk_extension.size() + 2)) return f;
  return std::nullopt;
}

RC_GTEST_PROP(RoundTrip, ChunkFramingBeyondTheOverheadBoundFailsWhereTheRuleSays, ()) {
  message_model m;
  m.mode = body_mode::chunked;
  m.body = *gen::string<std::string>();
  m.chunks = *chunking(m.body.size());
  m.last_chunk_extension = *chunk_extension();
  m.trailers = *plain_fields(3);
  parse_options options;
  options.max_chunk_overhead = *gen::inRange<std::size_t>(0, 120);
  const std::string encoded = m.encoded_body();
  RC_LOG() << testing::PrintToString(encoded) << " bound " << options.max_chunk_overhead << "\n";
  const body_outcome whole = decode_chunked_whole(encoded, options);
  const auto at = overhead_failure(m, options.max_chunk_overhead);
  RC_TAG(at ? "refused" : "accepted");
  if (at) {
    RC_ASSERT(whole.status == parse_status::error);
    RC_ASSERT(whole.code == errc::chunk_overhead_too_large);
    RC_ASSERT(whole.offset == *at);
  } else {
    RC_ASSERT(whole.status == parse_status::complete);
    RC_ASSERT(whole.data == m.body);
  }
  RC_ASSERT(decode_chunked_pieces(encoded, draw_cuts(encoded.size()), options) == whole);
  RC_ASSERT(decode_chunked_pieces(encoded, every_byte(encoded.size()), options) == whole);
}

// ---- 2. Split invariance ----------------------------------------------------------------------

RC_GTEST_PROP(SplitInvariance, RequestsGiveTheSameResultHoweverCut, ()) {
  const std::string input = draw_any_request_input();
  const parse_options options = draw_options();
  const std::vector<std::size_t> cuts = draw_cuts(input.size());
  RC_LOG() << testing::PrintToString(input) << "\n";
  const request_outcome whole = parse_request_whole(input, options);
  const request_outcome pieces = parse_request_pieces(input, cuts, options);
  RC_ASSERT(pieces == whole);
  RC_ASSERT(parse_request_pieces(input, every_byte(input.size()), options) == whole);
}

RC_GTEST_PROP(SplitInvariance, ResponsesGiveTheSameResultHoweverCut, ()) {
  const std::string input = draw_any_response_input();
  const parse_options options = draw_options();
  const method request_method = *gen::element(method::get, method::head, method::connect);
  RC_LOG() << testing::PrintToString(input) << "\n";
  const response_outcome whole = parse_response_whole(input, request_method, options);
  RC_ASSERT(parse_response_pieces(input, draw_cuts(input.size()), request_method, options) ==
            whole);
}

RC_GTEST_PROP(SplitInvariance, ChunkedBodiesGiveTheSameResultHoweverCut, ()) {
  const std::string input = draw_any_chunked_input();
  const parse_options options = draw_options();
  RC_LOG() << testing::PrintToString(input) << "\n";
  const body_outcome whole = decode_chunked_whole(input, options);
  RC_ASSERT(decode_chunked_pieces(input, draw_cuts(input.size()), options) == whole);
  RC_ASSERT(decode_chunked_in_place(input, draw_cuts(input.size()), options) == whole);
}

RC_GTEST_PROP(SplitInvariance, EverySimdPathGivesTheScalarResult, ()) {
  const std::string request = draw_any_request_input();
  const std::string response = draw_any_response_input();
  const parse_options options = draw_options();
  const simd_path previous = active_simd_path();
  set_simd_path(simd_path::scalar);
  const request_outcome scalar_request = parse_request_whole(request, options);
  const response_outcome scalar_response = parse_response_whole(response, method::get, options);
  for (const simd_path path : supported_simd_paths()) {
    set_simd_path(path);
    const request_outcome r = parse_request_whole(request, options);
    const response_outcome s = parse_response_whole(response, method::get, options);
    set_simd_path(previous);
    RC_ASSERT(r == scalar_request);
    RC_ASSERT(s == scalar_response);
  }
  set_simd_path(previous);
}

/// A Content-Length or Host value whose faults may lie anywhere: runs of digits (long enough to
/// pass 2^64 - 1), whitespace, the bytes of an authority, escapes, obs-text and any visible byte.
rc::Gen<std::string> framing_value_bytes() {
  const auto piece = gen::weightedOneOf<std::string>(
      {{4, gen::container<std::string>(gen::elementOf(std::string("0123456789")))},
       {2, gen::element<std::string>("18446744073709551615", "18446744073709551616",
                                     "99999999999999999999", "000000000000000000000000001")},
       {3, one_char_of(" \t:[]%.,-aZ09")},
       {1, percent_escape()},
       {1, one_char_of(obs_text())},
       {1, one_char_of(visible_chars())}});
  return join(gen::container<std::vector<std::string>>(piece));
}

/// A head with a Content-Length or Host field line of framing_value_bytes(), cut short or not
/// (the vector loop may take the line whole and leave it pending), perhaps continued by an
/// obs-fold.
std::string draw_framing_value_head(bool request) {
  const std::string name =
      request ? *gen::element<std::string>("Content-Length", "Host", "content-length", "HOST")
              : *gen::element<std::string>("Content-Length", "content-length");
  std::string head = request ? "POST / HTTP/1.1\r\n" : "HTTP/1.1 200 OK\r\n";
  if (request && name.size() != 4) head += "Host: a\r\n";
  if (*gen::arbitrary<bool>()) head += "X-A: b\r\n";
  head += name + ":" + *ows() + *framing_value_bytes() + *ows();
  if (*gen::inRange(0, 4) == 0) head += "\r\n " + *framing_value_bytes();
  head += *gen::element<std::string>("", "\r\n", "\r\n\r\n", "\r\nX-B: c\r\n\r\n");
  return head;
}

RC_GTEST_PROP(SplitInvariance, FramingValueFaultsAreTheSameOnEveryPathHoweverCut, ()) {
  const std::string request = draw_framing_value_head(true);
  const std::string response = draw_framing_value_head(false);
  const parse_options options = draw_options();
  const std::vector<std::size_t> request_cuts = draw_cuts(request.size());
  const std::vector<std::size_t> response_cuts = draw_cuts(response.size());
  RC_LOG() << testing::PrintToString(request) << "\n" << testing::PrintToString(response) << "\n";
  const simd_path previous = active_simd_path();
  set_simd_path(simd_path::scalar);
  const request_outcome scalar_request = parse_request_whole(request, options);
  const response_outcome scalar_response = parse_response_whole(response, method::get, options);
  RC_TAG(scalar_request.code);
  for (const simd_path path : supported_simd_paths()) {
    set_simd_path(path);
    const request_outcome whole = parse_request_whole(request, options);
    const request_outcome pieces = parse_request_pieces(request, request_cuts, options);
    const request_outcome bytes =
        parse_request_pieces(request, every_byte(request.size()), options);
    // In one buffer that stays put too, where a resumed call may take its bytes on its short
    // front path.
    const request_outcome bytes_in_place = parse_request_pieces(
        request, every_byte(request.size()), options, default_header_capacity, false);
    const response_outcome response_whole = parse_response_whole(response, method::get, options);
    const response_outcome response_pieces =
        parse_response_pieces(response, response_cuts, method::get, options);
    set_simd_path(previous);
    RC_ASSERT(whole == scalar_request);
    RC_ASSERT(pieces == scalar_request);
    RC_ASSERT(bytes == scalar_request);
    RC_ASSERT(bytes_in_place == scalar_request);
    RC_ASSERT(response_whole == scalar_response);
    RC_ASSERT(response_pieces == scalar_response);
  }
  set_simd_path(previous);
}

// ---- 3. Strict prefixes are incomplete --------------------------------------------------------

RC_GTEST_PROP(Prefixes, EveryStrictPrefixOfAValidRequestIsIncomplete, ()) {
  const message_model m = draw_request();
  const std::string head = m.head();
  std::vector<header> storage(default_header_capacity);
  for (std::size_t k = 0; k < head.size(); ++k) {
    request_parser parser(storage);
    const parse_result r = parser.parse(std::string_view(head).substr(0, k));
    RC_ASSERT(r.status == parse_status::incomplete);
    RC_ASSERT(r.consumed == 0U);
  }
  request_parser parser(storage);
  RC_ASSERT(parser.parse(head).complete());
  // The body too: no strict prefix of it is a complete body.
  const std::string body = m.encoded_body();
  const framing how = parser.request().body;
  for (std::size_t k = 0; k < body.size(); ++k) {
    const body_outcome o = decode_body_pieces(how, std::string_view(body).substr(0, k), {}, false);
    RC_ASSERT(o.status == parse_status::incomplete);
  }
}

RC_GTEST_PROP(Prefixes, EveryStrictPrefixOfAValidResponseIsIncomplete, ()) {
  const message_model m = draw_response();
  const std::string head = m.head();
  std::vector<header> storage(default_header_capacity);
  for (std::size_t k = 0; k < head.size(); ++k) {
    response_parser parser(storage);
    RC_ASSERT(parser.parse(std::string_view(head).substr(0, k)).status == parse_status::incomplete);
  }
}

// ---- 4. Error offsets lie inside the input ----------------------------------------------------

RC_GTEST_PROP(ErrorOffsets, RequestErrorsPointInsideTheInput, ()) {
  const std::string input = draw_any_request_input();
  const request_outcome o = parse_request_whole(input, draw_options());
  if (o.status == parse_status::error) {
    RC_LOG() << testing::PrintToString(input) << " -> " << o << "\n";
    RC_ASSERT(o.offset < input.size());
    RC_ASSERT(o.http_status == default_status(o.code));
    RC_ASSERT(o.code != errc::ok);
  }
  RC_TAG(o.status);
}

RC_GTEST_PROP(ErrorOffsets, ResponseErrorsPointInsideTheInput, ()) {
  const std::string input = draw_any_response_input();
  const response_outcome o = parse_response_whole(input, method::get, draw_options());
  if (o.status == parse_status::error) {
    RC_LOG() << testing::PrintToString(input) << " -> " << o << "\n";
    RC_ASSERT(o.offset < input.size());
    RC_ASSERT(o.http_status == 502);
  }
}

RC_GTEST_PROP(ErrorOffsets, ChunkedErrorsPointInsideTheInput, ()) {
  const std::string input = draw_any_chunked_input();
  const body_outcome o = decode_chunked_whole(input, draw_options());
  if (o.status == parse_status::error) {
    RC_LOG() << testing::PrintToString(input) << " -> " << o << "\n";
    RC_ASSERT(o.offset < input.size());
  }
}

// ---- 5. An error as soon as no valid request can follow ----------------------------------------

/// Bytes a plain-HTTP port meets that are not HTTP: a TLS ClientHello's start, or anything.
rc::Gen<std::string> binary_bytes() {
  return gen::oneOf(
      gen::map(gen::string<std::string>(),
               [](const std::string& rest) {
                 return literal_bytes("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") + rest;
               }),
      gen::container<std::string>(gen::arbitrary<char>()));
}

/// Valid requests whose every suffix, appended to a viable prefix of a request-line, can complete
/// it: each shape of request-line (each target form, escapes, an IP literal, a port), after an
/// empty line or not.
const std::vector<std::string>& completion_templates() {
  static const std::vector<std::string> templates = [] {
    std::vector<std::string> out;
    for (const char* line :
         {"GET / HTTP/1.1", "GET /%aa HTTP/1.1", "OPTIONS * HTTP/1.1", "CONNECT a:1 HTTP/1.1",
          "CONNECT [::1]:1 HTTP/1.1", "CONNECT %aa:1 HTTP/1.1", "GET http://a/ HTTP/1.1",
          "GET http://[::1]:1/ HTTP/1.1", "GET http://%aa/ HTTP/1.1", "GET / HTTP/1.0"}) {
      out.push_back("\r\n" + std::string(line) + "\r\nHost: a\r\n\r\n");
    }
    return out;
  }();
  return templates;
}

/// Whether `prefix` still begins a valid request: shown by appending some suffix of a template and
/// parsing the result complete. (An oracle that knows the request-line grammar, not the parser.)
bool completes_to_a_valid_request(std::string_view prefix, const parse_options& options) {
  std::vector<header> storage(default_header_capacity);
  for (const std::string& t : completion_templates()) {
    for (std::size_t k = 0; k <= t.size(); ++k) {
      const std::string candidate = std::string(prefix) + t.substr(k);
      request_parser parser(storage, options);
      if (parser.parse(candidate).complete()) return true;
    }
  }
  return false;
}

/// Where the request-line of `input` ends (its LF), or npos: empty lines before it skipped.
std::size_t request_line_end(std::string_view input) {
  const std::size_t first = input.find_first_not_of("\r\n");
  if (first == std::string_view::npos) return std::string_view::npos;
  return input.find('\n', first);
}

RC_GTEST_PROP(EarlyErrors, RequestErrorsAreReportedAsSoonAsNoValidRequestCanFollow, ()) {
  const std::string input = *gen::inRange(0, 4) == 0 ? *binary_bytes() : draw_any_request_input();
  // Limits are counted, not predicted: a line is too long once its byte max + 1 arrived. With the
  // default limits no input here reaches them.
  parse_options options = draw_options();
  const parse_options defaults;
  options.max_request_line = defaults.max_request_line;
  options.max_header_bytes = defaults.max_header_bytes;
  options.max_headers = defaults.max_headers;
  RC_LOG() << testing::PrintToString(input) << "\n";
  const request_outcome whole = parse_request_whole(input, options);
  // One parser fed a byte at a time: the first prefix it rejects.
  std::vector<header> storage(default_header_capacity);
  request_parser parser(storage, options);
  std::size_t rejected_at = input.size() + 1;  // the length of the first rejected prefix
  parse_result first_error;
  for (std::size_t k = 0; k <= input.size(); ++k) {
    const parse_result r = parser.parse(std::string_view(input).substr(0, k));
    if (r.failed()) {
      rejected_at = k;
      first_error = r;
      break;
    }
    if (r.complete()) break;
  }
  RC_TAG(rejected_at <= input.size() ? "rejected" : "not rejected");
  if (whole.status != parse_status::error) {
    RC_ASSERT(rejected_at > input.size());
    return;
  }
  // The error is reported once its bytes arrived, with the whole input's code and offset...
  RC_ASSERT(rejected_at <= input.size());
  RC_ASSERT(first_error.error.code == whole.code);
  RC_ASSERT(first_error.error.offset == whole.offset);
  RC_ASSERT(whole.offset < rejected_at);
  const request_outcome prefix_alone =
      parse_request_whole(std::string_view(input).substr(0, rejected_at), options);
  RC_ASSERT(prefix_alone == whole);
  // ...and not later than it could be: the prefix one byte shorter still begins a valid request.
  // The oracle knows request-lines: it is asked while the error lies in one (field lines are
  // judged when they end).
  const std::string_view viable = std::string_view(input).substr(0, rejected_at - 1);
  const std::size_t line_end = request_line_end(input);
  if (line_end == std::string_view::npos || rejected_at - 1 <= line_end) {
    RC_TAG("request-line error");
    RC_ASSERT(completes_to_a_valid_request(viable, options));
  }
}

/// A valid head and the same head with one corruption in its field section.
struct corrupted_head {
  std::string original;
  std::string input;
};

/// Bytes that no field name may hold (':' ends one, so it is not among them).
const std::string& non_name_bytes() {
  static const std::string bytes = literal_bytes(" \t\r\n\"(),/;<=>?@[\\]{}\x01\x1f\x7f\x80\xff\0");
  return bytes;
}

/// Bytes that no field value may hold, the line ends included (a bare CR or LF inside a value).
const std::string& control_bytes() {
  static const std::string bytes = literal_bytes("\x01\x08\n\x0b\r\x1f\x7f\0");
  return bytes;
}

/// `head` (a valid head whose field lines are `fields`) with one corruption of a field line: a
/// name byte that is no tchar, a control byte in a value, whitespace at a line start (obs-fold),
/// a missing colon, any byte inserted in a line, or any byte put into (or in place of a byte of)
/// a Content-Length or Host value, whose bytes are judged as they arrive too. Other framing
/// fields (Transfer-Encoding, whose quoted parameters let nearly any byte follow) are never
/// corrupted, nor any line at its first byte: the head's own checks (Host, framing) are judged
/// once it ends, so a corruption there could make an earlier prefix hopeless (a CR that ends the
/// head before its Host) with no error yet, and there would be no earliest byte to check.
corrupted_head corrupt_field_section(const std::string& head,
                                     const std::vector<wire_field>& fields) {
  corrupted_head out{head, head};
  std::string& s = out.input;
  const std::size_t section = head.find("\r\n") + 2;
  struct line_at {
    std::size_t begin, colon, end;  // end: its CR
  };
  std::vector<line_at> plain;                // the lines of fields without a meaning
  std::vector<line_at> framed;               // the Content-Length and Host lines
  std::vector<std::size_t> starts{section};  // line starts whitespace may precede
  std::size_t at = section;
  for (const wire_field& f : fields) {
    const std::size_t colon = at + f.name.size();
    const std::size_t end = colon + 1 + f.before.size() + f.value.size() + f.after.size();
    const bool meaningless = f.name.starts_with("X-");
    if (meaningless) plain.push_back({at, colon, end});
    std::string lower = f.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "content-length" || lower == "host") framed.push_back({at, colon, end});
    at = end + 2;
    if (meaningless) starts.push_back(at);  // a fold onto this field
  }
  int kind = plain.empty() ? 2 : *gen::inRange(0, 5);
  if (!framed.empty() && *gen::inRange(0, 3) == 0) kind = 5;
  const line_at line = kind == 5       ? *gen::elementOf(framed)
                       : plain.empty() ? line_at{}
                                       : *gen::elementOf(plain);
  switch (kind) {
    case 5: {
      // A byte a value of either may hold, one it may only hold elsewhere, or any byte a field
      // value may hold (control bytes are the X- lines' corruption: a CR after an empty
      // Content-Length would end a line no valid head holds before any error).
      const auto value_byte = gen::suchThat(gen::arbitrary<char>(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u >= 0x20 && u != 0x7f) || c == '\t';
      });
      const char byte =
          *gen::oneOf(gen::elementOf(literal_bytes("0123456789 \t:[]%aZ.-,/@\"")), value_byte);
      const std::size_t at_value = *gen::inRange(line.colon + 1, line.end + 1);
      if (*gen::arbitrary<bool>() && at_value < line.end) {
        RC_TAG("a framing value byte replaced");
        s[at_value] = byte;
      } else {
        RC_TAG("a byte inserted in a framing value");
        s.insert(at_value, 1, byte);
      }
      break;
    }
    case 0:
      RC_TAG("bad name byte");
      s[*gen::inRange(line.begin + 1, line.colon)] = *gen::elementOf(non_name_bytes());
      break;
    case 1:
      RC_TAG("control byte in a value");
      s[*gen::inRange(line.colon + 1, line.end + 1)] = *gen::elementOf(control_bytes());
      break;
    case 2:
      RC_TAG("whitespace at a line start");
      s.insert(*gen::elementOf(starts), 1, *gen::element(' ', '\t'));
      break;
    case 3:
      RC_TAG("no colon");
      s.erase(line.colon, 1);
      break;
    default:
      RC_TAG("a byte inserted");
      s.insert(*gen::inRange(line.begin + 1, line.end + 1), 1,
               *gen::oneOf(gen::elementOf(non_name_bytes()), gen::arbitrary<char>()));
      break;
  }
  return out;
}

/// The errors of the field section's syntax, which its bytes show as they arrive. (The meaning of
/// a framing field is judged once the field is whole, that of the head once it ends.)
bool is_field_syntax_error(errc code) {
  switch (code) {
    case errc::bad_header_name:
    case errc::bad_header_value:
    case errc::missing_colon:
    case errc::space_before_colon:
    case errc::obs_fold:
    case errc::leading_whitespace:
    case errc::bare_cr:
    case errc::bare_lf:
      return true;
    default:
      return false;
  }
}

/// Feeds `input` to a fresh parser cumulatively, ending a call at each of `ends` (ascending, the
/// last one input.size()): the length given to the first call that failed (input.size() + 1 if
/// none did) and its result.
template <class Parser>
std::pair<std::size_t, parse_result> first_rejection(std::string_view input,
                                                     const std::vector<std::size_t>& ends,
                                                     const parse_options& options) {
  std::vector<header> storage(default_header_capacity);
  Parser parser(storage, options);
  for (const std::size_t k : ends) {
    const parse_result r = parser.parse(input.substr(0, k));
    if (r.failed()) return {k, r};
    if (r.complete()) break;
  }
  return {input.size() + 1, {}};
}

/// Whether `prefix` still begins a valid head with no limit in the way (limits are counted, not
/// predicted): shown by appending the rest of `original` from about where the prefix ends, or the
/// rest of some field line and the rest of `original` from one of its line starts (or a plain
/// ending), and parsing the result complete.
template <class Parser>
bool completes_to_a_valid_head(std::string_view prefix, std::string_view original,
                               parse_options options) {
  const parse_options defaults;
  options.max_request_line = defaults.max_request_line;
  options.max_header_bytes = static_cast<std::size_t>(-1);
  options.max_headers = static_cast<std::size_t>(-1);
  std::vector<std::string_view> tails{"\r\n", "Host: a\r\n\r\n"};
  // The prefix is mostly the original's, up to a byte inserted or deleted.
  for (std::size_t k = prefix.size() == 0 ? 0 : prefix.size() - 1;
       k <= prefix.size() + 1 && k <= original.size(); ++k) {
    tails.push_back(original.substr(k));
  }
  for (std::size_t k = original.find("\r\n"); k != std::string_view::npos;
       k = original.find("\r\n", k + 2)) {
    tails.push_back(original.substr(k + 2));
  }
  // The rest of a field line, from each of its bytes; or a colon, for a name cut short.
  const std::string_view line = "x: a\r\n";
  // The rest of a Content-Length or Host value: a digit, the hex digits of a '%', an IP-literal.
  std::vector<std::string_view> bridges{":", "0\r\n", "00\r\n", "1]\r\n", "]\r\n"};
  for (std::size_t b = 0; b <= line.size(); ++b) bridges.push_back(line.substr(b));
  std::vector<header> storage(default_header_capacity);
  for (const std::string_view bridge : bridges) {
    for (const std::string_view tail : tails) {
      const std::string candidate = std::string(prefix) + std::string(bridge) + std::string(tail);
      Parser parser(storage, options);
      if (parser.parse(candidate).complete()) return true;
    }
  }
  return false;
}

/// The field-line half of property 5, for either parser: the corrupted head is rejected at the
/// same byte however it is cut, with the code and offset of the one-piece parse, and that byte is
/// the first one no valid head could hold there (a limit: the first byte past it).
template <class Parser>
void check_field_errors_come_at_once(const corrupted_head& head, const parse_options& options,
                                     const parse_result& whole) {
  const std::string_view input = head.input;
  std::vector<std::size_t> each_byte;
  for (std::size_t k = 0; k <= input.size(); ++k) each_byte.push_back(k);
  const auto [rejected_at, first_error] = first_rejection<Parser>(input, each_byte, options);
  if (!whole.failed()) {
    RC_ASSERT(rejected_at > input.size());
    return;
  }
  RC_ASSERT(rejected_at <= input.size());
  RC_ASSERT(first_error.error.code == whole.error.code);
  RC_ASSERT(first_error.error.offset == whole.error.offset);
  RC_ASSERT(whole.error.offset < rejected_at);
  // Any other cutting: the first call that holds the rejecting byte fails, the same way.
  std::vector<std::size_t> ends = draw_cuts(input.size());
  ends.push_back(input.size());
  const auto [cut_rejected_at, cut_error] = first_rejection<Parser>(input, ends, options);
  RC_ASSERT(cut_rejected_at == *std::lower_bound(ends.begin(), ends.end(), rejected_at));
  RC_ASSERT(cut_error.error.code == whole.error.code);
  RC_ASSERT(cut_error.error.offset == whole.error.offset);
  const errc code = whole.error.code;
  if (code == errc::too_many_headers || code == errc::header_section_too_large) {
    RC_TAG("a limit");
    RC_ASSERT(rejected_at == whole.error.offset + 1);
  } else if (is_field_syntax_error(code) && whole.error.offset >= head.original.find("\r\n") + 2) {
    RC_TAG("field syntax error");
    RC_ASSERT(completes_to_a_valid_head<Parser>(input.substr(0, rejected_at - 1), head.original,
                                                options));
  } else if ((code == errc::bad_content_length || code == errc::bad_host) &&
             whole.error.offset + 1 == rejected_at) {
    // A byte no Content-Length or Host value may hold there. (When the offset is that of an
    // earlier byte, whitespace or a '%', or the value is whole, the byte after may be hopeless
    // already: "[" SP, an empty value, a number too large; see fields.hpp.)
    RC_TAG("framing value byte");
    RC_ASSERT(completes_to_a_valid_head<Parser>(input.substr(0, rejected_at - 1), head.original,
                                                options));
  } else {
    RC_TAG(code);
  }
}

RC_GTEST_PROP(EarlyErrors, FieldLineErrorsAreReportedAsSoonAsNoValidRequestCanFollow, ()) {
  const message_model m = draw_request();
  const corrupted_head head = corrupt_field_section(m.head(), m.fields);
  parse_options options = draw_options();
  options.max_request_line = parse_options{}.max_request_line;  // the field lines are at stake
  RC_LOG() << testing::PrintToString(head.input) << "\n";
  std::vector<header> storage(default_header_capacity);
  request_parser whole(storage, options);
  check_field_errors_come_at_once<request_parser>(head, options, whole.parse(head.input));
}

RC_GTEST_PROP(EarlyErrors, FieldLineErrorsAreReportedAsSoonAsNoValidResponseCanFollow, ()) {
  const message_model m = draw_response();
  const corrupted_head head = corrupt_field_section(m.head(), m.fields);
  parse_options options = draw_options();
  options.max_request_line = parse_options{}.max_request_line;  // the field lines are at stake
  RC_LOG() << testing::PrintToString(head.input) << "\n";
  std::vector<header> storage(default_header_capacity);
  response_parser whole(storage, options);
  check_field_errors_come_at_once<response_parser>(head, options, whole.parse(head.input));
}

/// Valid responses whose every suffix, appended to a viable prefix of a status-line, can complete
/// it: after an empty line or not (a prefix of digits gets the rest of some code from 100 to 599).
const std::vector<std::string>& response_completion_templates() {
  static const std::vector<std::string> templates = {"\r\nHTTP/1.1 200 OK\r\n\r\n",
                                                     "\r\nHTTP/1.1 100 OK\r\n\r\n"};
  return templates;
}

/// Whether `prefix` still begins a valid response (an oracle of the status-line grammar, as
/// completes_to_a_valid_request is of the request-line's).
bool completes_to_a_valid_response(std::string_view prefix, const parse_options& options) {
  std::vector<header> storage(default_header_capacity);
  for (const std::string& t : response_completion_templates()) {
    for (std::size_t k = 0; k <= t.size(); ++k) {
      const std::string candidate = std::string(prefix) + t.substr(k);
      response_parser parser(storage, options);
      if (parser.parse(candidate).complete()) return true;
    }
  }
  return false;
}

/// A response whose status-line got a few random edits (and so is mostly invalid).
std::string draw_mutated_status_line() {
  const std::string wire = draw_response().wire();
  const std::size_t line_end = wire.find("\r\n") + 2;
  return mutate(wire.substr(0, line_end)) + wire.substr(line_end);
}

RC_GTEST_PROP(EarlyErrors, StatusLineErrorsAreReportedAsSoonAsNoValidResponseCanFollow, ()) {
  const int kind = *gen::inRange(0, 4);
  const std::string input = kind == 0   ? *binary_bytes()
                            : kind == 1 ? draw_any_response_input()
                                        : draw_mutated_status_line();
  parse_options options = draw_options();
  const parse_options defaults;
  options.max_request_line = defaults.max_request_line;
  options.max_header_bytes = defaults.max_header_bytes;
  options.max_headers = defaults.max_headers;
  RC_LOG() << testing::PrintToString(input) << "\n";
  const response_outcome whole = parse_response_whole(input, method::get, options);
  // One parser fed a byte at a time: the first prefix it rejects.
  std::vector<header> storage(default_header_capacity);
  response_parser parser(storage, options);
  std::size_t rejected_at = input.size() + 1;
  parse_result first_error;
  for (std::size_t k = 0; k <= input.size(); ++k) {
    const parse_result r = parser.parse(std::string_view(input).substr(0, k));
    if (r.failed()) {
      rejected_at = k;
      first_error = r;
      break;
    }
    if (r.complete()) break;
  }
  RC_TAG(rejected_at <= input.size() ? "rejected" : "not rejected");
  if (whole.status != parse_status::error) {
    RC_ASSERT(rejected_at > input.size());
    return;
  }
  RC_ASSERT(rejected_at <= input.size());
  RC_ASSERT(first_error.error.code == whole.code);
  RC_ASSERT(first_error.error.offset == whole.offset);
  RC_ASSERT(whole.offset < rejected_at);
  RC_ASSERT(parse_response_whole(std::string_view(input).substr(0, rejected_at), method::get,
                                 options) == whole);
  // However the input is cut, the error comes with the first piece that holds that byte.
  std::vector<std::size_t> ends = draw_cuts(input.size());
  ends.push_back(input.size());
  response_parser cut_parser(storage, options);
  for (const std::size_t end : ends) {
    const parse_result r = cut_parser.parse(std::string_view(input).substr(0, end));
    if (end < rejected_at) {
      RC_ASSERT(r.incomplete());
      continue;
    }
    RC_ASSERT(r.failed());
    RC_ASSERT(r.error.code == whole.code);
    RC_ASSERT(r.error.offset == whole.offset);
    break;
  }
  // Not later than it could be, while the error lies in the status-line (field-line errors have
  // properties of their own, above): the prefix one byte shorter still begins a valid response.
  const std::size_t first = input.find_first_not_of("\r\n");
  const std::size_t line_end =
      first == std::string::npos ? std::string::npos : input.find('\n', first);
  if (line_end == std::string::npos || rejected_at - 1 <= line_end) {
    RC_TAG("status-line error");
    RC_ASSERT(
        completes_to_a_valid_response(std::string_view(input).substr(0, rejected_at - 1), options));
  }
}

}  // namespace
}  // namespace taut::test
