// Helpers shared by the fuzz harnesses: a check that aborts with a readable message, RFC 9110
// character classes written independently of the parser's own tables, and comparable snapshots of
// parse results (views recorded as offsets, so that results over different buffers compare).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "taut/parser.hpp"

namespace taut::fuzz {

[[noreturn]] inline void check_failed(const char* file, int line, const char* condition,
                                      const std::string& detail) {
  std::fprintf(stderr, "\n%s:%d: fuzz check failed: %s\n", file, line, condition);
  if (!detail.empty()) std::fprintf(stderr, "%s\n", detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// TAUT_FUZZ_CHECK(condition) or TAUT_FUZZ_CHECK(condition, detail): `detail` is any expression
// yielding std::string, evaluated only when the check fails.
#define TAUT_FUZZ_CHECK(condition, ...)                                                     \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      ::taut::fuzz::check_failed(__FILE__, __LINE__, #condition, std::string{__VA_ARGS__}); \
    }                                                                                       \
  } while (false)

// --- RFC 9110 section 5.6.2 / RFC 5234 character classes ----------------------------------------

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_tchar(char c) noexcept {
  return is_digit(c) || is_alpha(c) ||
         std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}
constexpr bool is_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(c); });
}
constexpr bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}
// field-vchar = VCHAR / obs-text, plus SP and HTAB inside a value.
constexpr bool is_field_content_byte(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}
constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls `each` with every element of a comma-separated list (RFC 9110 section 5.6.1), OWS trimmed,
// empty elements skipped.
template <typename Each>
void for_each_list_element(std::string_view list, Each&& each) {
  while (true) {
    const auto comma = list.find(',');
    const auto element = trim_ows(list.substr(0, comma));
    if (!element.empty()) each(element);
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

inline bool list_contains_token(std::string_view list, std::string_view token) {
  bool found = false;
  for_each_list_element(
      list, [&](std::string_view element) { found = found || iequals(element, token); });
  return found;
}

// True when `inner` lies within `outer`. Empty views may be anywhere (they point at nothing).
inline bool within(std::string_view inner, std::string_view outer) noexcept {
  if (inner.empty()) return true;
  const std::less_equal<const char*> le;
  return le(outer.data(), inner.data()) &&
         le(inner.data() + inner.size(), outer.data() + outer.size());
}

// Printable form of a byte string: escapes everything outside printable ASCII.
inline std::string quoted(std::string_view bytes, std::size_t limit = 400) {
  std::string out = "\"";
  for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (bytes.size() > limit) out += "...";
  out += '"';
  return out;
}

inline std::string_view status_name(parse_status s) noexcept {
  switch (s) {
    case parse_status::complete:
      return "complete";
    case parse_status::incomplete:
      return "incomplete";
    case parse_status::error:
      return "error";
  }
  return "?";
}

// --- Comparable snapshots
// -------------------------------------------------------------------------

// A view recorded as (offset, size) from a base pointer; empty views all compare equal.
struct view_ref {
  std::size_t offset = 0;
  std::size_t size = 0;
  bool operator==(const view_ref&) const = default;
};
inline view_ref ref_of(std::string_view view, const char* base) noexcept {
  if (view.empty()) return {};
  return {static_cast<std::size_t>(view.data() - base), view.size()};
}

struct field_ref {
  view_ref name;
  view_ref value;
  bool operator==(const field_ref&) const = default;
};

// The outcome of parsing one head, complete or not.
struct head_snapshot {
  parse_status status = parse_status::incomplete;
  std::size_t consumed = 0;
  errc code = errc::ok;
  std::size_t error_offset = 0;
  int error_status = 0;
  // Meaningful when complete. For responses, `target` holds the reason phrase and `method_name`
  // stays empty; `number` is the request method or the response status.
  view_ref method_name;
  int number = 0;
  view_ref target;
  int target_form = 0;
  int version_minor = 0;
  std::vector<field_ref> headers;
  view_ref host;
  body_kind kind = body_kind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = false;
  bool expect_continue = false;
  bool upgrade = false;
  view_ref upgrade_protocols;
  std::size_t head_size = 0;
  bool operator==(const head_snapshot&) const = default;
};

inline head_snapshot snapshot_of(const parse_result& result) {
  head_snapshot s;
  s.status = result.status;
  s.consumed = result.consumed;
  s.code = result.error.code;
  s.error_offset = result.error.offset;
  s.error_status = result.error.status;
  return s;
}

inline void add_fields(head_snapshot& s, std::span<const header> fields, const char* base) {
  for (const auto& field : fields)
    s.headers.push_back({ref_of(field.name, base), ref_of(field.value, base)});
}

inline head_snapshot snapshot_of(const parse_result& result, const request& r, const char* base) {
  head_snapshot s = snapshot_of(result);
  if (!result.complete()) return s;
  s.method_name = ref_of(r.method_name, base);
  s.number = static_cast<int>(r.method);
  s.target = ref_of(r.target, base);
  s.target_form = static_cast<int>(r.target_form);
  s.version_minor = r.version_minor;
  add_fields(s, r.headers, base);
  s.host = ref_of(r.host, base);
  s.kind = r.body.kind;
  s.content_length = r.body.content_length;
  s.keep_alive = r.keep_alive;
  s.expect_continue = r.expect_continue;
  s.upgrade = r.upgrade;
  s.upgrade_protocols = ref_of(r.upgrade_protocols, base);
  s.head_size = r.head_size;
  return s;
}

inline head_snapshot snapshot_of(const parse_result& result, const response& r, const char* base) {
  head_snapshot s = snapshot_of(result);
  if (!result.complete()) return s;
  s.number = r.status;
  s.target = ref_of(r.reason, base);
  s.version_minor = r.version_minor;
  add_fields(s, r.headers, base);
  s.kind = r.body.kind;
  s.content_length = r.body.content_length;
  s.keep_alive = r.keep_alive;
  s.upgrade = r.upgrade;
  s.head_size = r.head_size;
  return s;
}

inline std::string describe(const head_snapshot& s, std::string_view buffer) {
  auto text = [&](view_ref v) {
    if (v.offset > buffer.size() || v.size > buffer.size() - v.offset)
      return std::string("<out of range>");
    return quoted(buffer.substr(v.offset, v.size), 80);
  };
  std::string out = std::string(status_name(s.status));
  if (s.status == parse_status::error) {
    out += " " + std::string(to_string(s.code)) + " at " + std::to_string(s.error_offset) + " (" +
           std::to_string(s.error_status) + ")";
    return out;
  }
  if (s.status != parse_status::complete) return out;
  out += " consumed=" + std::to_string(s.consumed) + " start=" + text(s.method_name) + " " +
         std::to_string(s.number) + " " + text(s.target) +
         " form=" + std::to_string(s.target_form) + " minor=" + std::to_string(s.version_minor) +
         " body=" + std::to_string(static_cast<int>(s.kind)) + "/" +
         std::to_string(s.content_length) + " keep_alive=" + std::to_string(s.keep_alive) +
         " continue=" + std::to_string(s.expect_continue) +
         " upgrade=" + std::to_string(s.upgrade) + " host=" + text(s.host) + "\n  headers:";
  for (const auto& field : s.headers)
    out += " [" + text(field.name) + ": " + text(field.value) + "]";
  return out;
}

// --- Body decoding
// --------------------------------------------------------------------------------

// What a body decode produced in total, with trailers copied out of the (possibly gone) buffers.
struct body_outcome {
  parse_status status = parse_status::incomplete;
  std::string body;
  std::vector<std::pair<std::string, std::string>> trailers;
  errc code = errc::ok;
  std::size_t error_offset = 0;
  std::size_t consumed = 0;  // total input bytes consumed
  bool operator==(const body_outcome&) const = default;
};

inline std::string describe(const body_outcome& b) {
  std::string out = std::string(status_name(b.status)) + " consumed=" + std::to_string(b.consumed);
  if (b.status == parse_status::error) {
    out += " " + std::string(to_string(b.code)) + " at " + std::to_string(b.error_offset);
  }
  out += " body=" + quoted(b.body, 120);
  for (const auto& [name, value] : b.trailers)
    out += " [" + quoted(name) + ": " + quoted(value) + "]";
  return out;
}

inline void copy_trailers(std::span<const header> trailers, body_outcome& out) {
  for (const auto& field : trailers) out.trailers.emplace_back(field.name, field.value);
}

// Checks one decode call's result against the input it was given.
inline void check_body_step(const body_result& r, std::string_view input) {
  TAUT_FUZZ_CHECK(r.consumed <= input.size(), "consumed " + std::to_string(r.consumed));
  TAUT_FUZZ_CHECK(within(r.data, input), "data view outside the input");
  TAUT_FUZZ_CHECK(r.data.size() <= r.consumed, "more data than bytes consumed");
  TAUT_FUZZ_CHECK((r.status == parse_status::error) == static_cast<bool>(r.error));
}

// Feeds `pieces` (consecutive slices of one body) to a decoder the way a server would: unconsumed
// bytes are kept and the next piece appended; every call gets a fresh heap buffer so that a view
// into an older buffer is a use-after-free that ASan reports.
template <typename Decoder>
body_outcome decode_in_pieces(Decoder& decoder, std::span<const std::string_view> pieces) {
  body_outcome out;
  std::string pending;
  for (std::size_t i = 0; i < pieces.size() && out.status == parse_status::incomplete; ++i) {
    pending.append(pieces[i]);
    while (true) {
      const std::unique_ptr<char[]> buffer(new char[pending.size() + 1]);
      std::copy(pending.begin(), pending.end(), buffer.get());
      const std::string_view input(buffer.get(), pending.size());
      const body_result r = decoder.decode(input);
      check_body_step(r, input);
      out.body.append(r.data);
      out.consumed += r.consumed;
      pending.erase(0, r.consumed);
      out.status = r.status;
      if (r.status == parse_status::error) {
        out.code = r.error.code;
        out.error_offset = r.error.offset;
        break;
      }
      if (r.status == parse_status::complete) {
        copy_trailers(decoder.trailers(), out);
        break;
      }
      if (r.consumed == 0) break;
    }
  }
  return out;
}

// Picks pseudo-random cut points from the input's own hash, so that corpus files stay plain HTTP
// and every run of one input cuts it the same way.
class input_rng {
 public:
  explicit input_rng(std::string_view bytes) noexcept {
    std::uint64_t h = 0xcbf29ce484222325u;
    for (const char c : bytes) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3u;
    state_ = h;
  }
  std::uint64_t next() noexcept {  // splitmix64
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) noexcept {
    return n == 0 ? 0 : static_cast<std::size_t>(next() % n);
  }

 private:
  std::uint64_t state_ = 0;
};

// Cuts `bytes` into consecutive pieces of random sizes (1..max_piece bytes, sometimes empty).
inline std::vector<std::string_view> random_pieces(std::string_view bytes, input_rng& rng,
                                                   std::size_t max_piece) {
  std::vector<std::string_view> pieces;
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), rng.below(max_piece + 1));
    pieces.push_back(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  pieces.emplace_back();  // one last call with nothing new, as after a spurious wake-up
  return pieces;
}

inline std::vector<std::string_view> byte_pieces(std::string_view bytes) {
  std::vector<std::string_view> pieces;
  pieces.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) pieces.push_back(bytes.substr(i, 1));
  return pieces;
}

}  // namespace taut::fuzz
