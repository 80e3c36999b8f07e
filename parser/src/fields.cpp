#include "fields.hpp"

#include <cstdint>

#include "scan.hpp"
#include "taut/http_chars.hpp"

namespace taut::detail {

void rebase_view(std::string_view& view, const char* from, const char* to) noexcept {
  if (view.data() == nullptr) return;
  // Integer arithmetic: the old buffer may already be gone, so no pointer arithmetic on it.
  const auto offset =
      reinterpret_cast<std::uintptr_t>(view.data()) - reinterpret_cast<std::uintptr_t>(from);
  view = std::string_view(to + offset, view.size());
}

void rebase_views(std::span<header> fields, std::size_t count, const char* from,
                  const char* to) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    rebase_view(fields[i].name, from, to);
    rebase_view(fields[i].value, from, to);
  }
}

// Out of line: inlined into the field loop, it made every resumed call of the request parser
// slower (input arriving a byte at a time), not only those in a Content-Length or Host value.
std::size_t judge_framing_value(const char* data, std::size_t i, std::size_t limit,
                                field_section_state& state, std::size_t& bad) noexcept {
  std::uint8_t st = state.value_state;
  length_digits length{state.value_digits, state.value_order};
  const bool host = state.value_kind == host_value;
  for (; i < limit; ++i) {
    const char c = data[i];
    if (!is(c, field_char)) break;
    if (!next_value_state(st, length, c, host)) {
      bad = value_fault_offset(data, i, st);
      break;
    }
  }
  state.value_state = st;
  state.value_digits = length.count;
  state.value_order = length.order;
  return i;
}

// Out of line: only a head the fast loop stops in needs it, and inlined into take_fast_head it
// made every whole head's path longer.
step judge_stored_value(const char* data, std::span<const header> storage, std::size_t index,
                        std::size_t line_end, framing_values judge) noexcept {
  const header& field = storage[index];
  const auto name_begin = static_cast<std::size_t>(field.name.data() - data);
  field_section_state state;
  state.value_kind = framing_value_of(data, name_begin, name_begin + field.name.size(), judge,
                                      storage.first(index));
  if (state.value_kind == no_framing_value) return {};
  const auto begin = static_cast<std::size_t>(field.value.data() - data);
  std::size_t bad = valid;
  judge_framing_value(data, begin, line_end, state, bad);
  if (bad == valid) return {};
  return {state.value_kind == content_length_value ? errc::bad_content_length : errc::bad_host,
          bad};
}

void store_field_line(const char* data, std::size_t end, std::span<header> storage,
                      field_section_state& state) noexcept {
  // Only whitespace lies between the name's end and the colon: the value starts after both.
  std::size_t value_begin = state.name_end;
  while (data[value_begin] != ':') ++value_begin;
  ++value_begin;
  std::size_t value_end = end;
  while (value_begin < value_end && is_ws(data[value_begin])) ++value_begin;
  while (value_end > value_begin && is_ws(data[value_end - 1])) --value_end;
  storage[state.count++] = {std::string_view(data + state.pos, state.name_end - state.pos),
                            std::string_view(data + value_begin, value_end - value_begin)};
  state.pending = true;
}

void fold_field_line(const char* data, std::size_t end, std::span<header> storage,
                     field_section_state& state) noexcept {
  std::size_t begin = state.pos;
  while (begin < end && is_ws(data[begin])) ++begin;
  while (end > begin && is_ws(data[end - 1])) --end;
  if (begin == end) return;  // a fold of only whitespace adds nothing
  std::string_view& value = storage[state.count - 1].value;
  const std::size_t value_begin =
      value.empty() ? begin : static_cast<std::size_t>(value.data() - data);
  value = std::string_view(data + value_begin, end - value_begin);
}

namespace {

enum class known_field : unsigned char {
  other,
  host,
  expect,
  upgrade,
  connection,
  content_length,
  transfer_encoding
};

/// Classifies a field name by its length and then one comparison: never a comparison per
/// candidate. Tests in the order requests carry them, not a switch: its indirect jump
/// mispredicted once per field.
known_field classify(std::string_view name) noexcept {
  const std::size_t n = name.size();
  if (n == 4) return iequals(name, "host") ? known_field::host : known_field::other;
  if (n == 10) return iequals(name, "connection") ? known_field::connection : known_field::other;
  if (n == 14) {
    return iequals(name, "content-length") ? known_field::content_length : known_field::other;
  }
  if (n == 17) {
    return iequals(name, "transfer-encoding") ? known_field::transfer_encoding : known_field::other;
  }
  if (n == 6) return iequals(name, "expect") ? known_field::expect : known_field::other;
  if (n == 7) return iequals(name, "upgrade") ? known_field::upgrade : known_field::other;
  return known_field::other;
}

/// One element of a comma-separated list (RFC 9110 section 5.6.1) with optional parameters.
struct list_element {
  std::string_view token;
  std::size_t offset = 0;  // of the token, relative to the value
  bool has_parameters = false;
};

/// Walks `value` as #( token *( OWS ";" OWS token "=" ( token / quoted-string ) ) ), calling
/// `visit` per element; empty elements are skipped as the RFC requires. Returns the offset (in the
/// value) of the first byte that breaks the grammar, or `valid`; `visit` may return one too.
template <class Visit>
std::size_t for_each_element(std::string_view v, Visit&& visit) {
  std::size_t i = 0;
  const std::size_t n = v.size();
  auto skip_ws = [&] {
    while (i < n && is_ws(v[i])) ++i;
  };
  while (true) {
    skip_ws();
    if (i == n) return valid;
    if (v[i] == ',') {
      ++i;
      continue;
    }
    const std::size_t token_begin = i;
    while (i < n && is(v[i], tchar)) ++i;
    if (i == token_begin) return i;
    list_element element{v.substr(token_begin, i - token_begin), token_begin, false};
    while (true) {
      std::size_t j = i;
      while (j < n && is_ws(v[j])) ++j;
      if (j == n || v[j] != ';') break;
      element.has_parameters = true;
      i = j + 1;
      skip_ws();
      const std::size_t name_begin = i;
      while (i < n && is(v[i], tchar)) ++i;
      if (i == name_begin) return i;
      skip_ws();
      if (i == n || v[i] != '=') return i;
      ++i;
      skip_ws();
      if (i < n && v[i] == '"') {
        ++i;
        while (i < n && v[i] != '"') {
          if (v[i] == '\\') ++i;
          if (i >= n || !is(v[i], field_char)) return i < n ? i : n - 1;
          ++i;
        }
        if (i == n) return n - 1;
        ++i;
      } else {
        const std::size_t value_begin = i;
        while (i < n && is(v[i], tchar)) ++i;
        if (i == value_begin) return i < n ? i : n - 1;
      }
    }
    if (const std::size_t bad = visit(element); bad != valid) return bad;
    skip_ws();
    if (i == n) return valid;
    if (v[i] != ',') return i;
    ++i;
  }
}

}  // namespace

step check_host_rest(const char* data, std::size_t value_offset, std::size_t i,
                     std::size_t value_end) noexcept {
  // The other usual forms, an IP-literal and a port, in a few more skips. Each form taken here
  // is one host_value_fault takes as well; all else is judged by it, byte by byte, as the
  // field loop judges the value as it arrives: one rule for where a fault is.
  if (i == value_offset && data[i] == '[') {
    const std::size_t literal = ++i;
    while (i < value_end && (is(data[i], host_char) || data[i] == ':')) ++i;
    // Anything but the usual IP-literal is left to the judge.
    i = i != literal && i < value_end && data[i] == ']' ? i + 1 : value_offset;
  }
  if (i < value_end && data[i] == ':') i = skip_class(data, i + 1, value_end, digit);
  if (i == value_end) return {};
  const std::size_t bad = host_value_fault(data, value_offset, value_end);
  if (bad != valid) return {errc::bad_host, bad};
  return {};
}

step interpret_field(const char* data, const header& field, bool is_request, int version_minor,
                     bool allow_codings, framing_fields& fields) noexcept {
  const auto name_offset = static_cast<std::size_t>(field.name.data() - data);
  const auto value_offset = static_cast<std::size_t>(field.value.data() - data);
  const std::string_view value = field.value;
  switch (classify(field.name)) {
    case known_field::other:
      return {};
    case known_field::host:
      if (!is_request) return {};
      return interpret_host(data, field, fields);
    case known_field::expect:
      if (iequals(value, "100-continue")) fields.expect_continue = true;
      return {};
    case known_field::upgrade:
      fields.has_upgrade = true;
      fields.upgrade_value_offset = value_offset;
      fields.upgrade_value_size = value.size();
      return {};
    case known_field::connection: {
      // The two values nearly every message sends, without the list walk.
      if (take_plain_connection(value, fields)) return {};
      const std::size_t bad = for_each_element(value, [&](const list_element& e) {
        if (e.has_parameters) return e.offset;
        if (iequals(e.token, "close"))
          fields.connection_close = true;
        else if (iequals(e.token, "keep-alive"))
          fields.connection_keep_alive = true;
        else if (iequals(e.token, "upgrade"))
          fields.connection_upgrade = true;
        return valid;
      });
      if (bad != valid) return {errc::bad_header_value, value_offset + bad};
      return {};
    }
    case known_field::content_length: {
      if (take_plain_content_length(data, field, fields)) return {};
      if (value.empty()) return {errc::bad_content_length, value_offset};
      // The value is trimmed and holds no control byte (no fold continues a Content-Length):
      // its first byte that is no digit, or makes the number too large, is the first byte
      // the byte judge finds, without its state machine.
      length_digits digits;
      std::uint64_t length = 0;
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (!digits.append(value[i])) return {errc::bad_content_length, value_offset + i};
        length = length * 10 + static_cast<std::uint64_t>(value[i] - '0');  // fits: checked
      }
      if (fields.has_content_length) {
        if (fields.content_length != length) return {errc::conflicting_content_length, name_offset};
        return {};
      }
      fields.has_content_length = true;
      fields.content_length = length;
      fields.content_length_offset = name_offset;
      return {};
    }
    case known_field::transfer_encoding: {
      // RFC 9112 section 6.1: HTTP/1.0 framing with Transfer-Encoding is faulty.
      if (version_minor == 0) return {errc::transfer_encoding_http10, name_offset};
      if (!fields.has_transfer_encoding) fields.transfer_encoding_offset = name_offset;
      fields.has_transfer_encoding = true;
      // Field lines combine into one list (RFC 9110 section 5.3) whose empty elements do not
      // count: only a coding in this line can change which coding is final.
      errc element_error = errc::ok;
      const std::size_t bad = for_each_element(value, [&](const list_element& e) {
        if (is_request && fields.chunked_count > 0) {
          element_error = fields.chunked_count > 0 && iequals(e.token, "chunked")
                              ? errc::chunked_applied_twice
                              : errc::chunked_not_final;
          return e.offset;
        }
        const std::size_t begin = value_offset + e.offset;
        if (fields.codings_line == 0) {
          fields.codings_line = name_offset + 1;
          fields.codings_begin = begin;
        }
        if (iequals(e.token, "chunked")) {
          if (e.has_parameters) {
            element_error = errc::bad_transfer_encoding;
            return e.offset;
          }
          if (++fields.chunked_count > 1) {
            element_error = errc::chunked_applied_twice;
            return e.offset;
          }
          fields.last_coding_chunked = true;
          return valid;
        }
        fields.last_coding_chunked = false;
        // RFC 9112 section 6.1: a server answers 501 to a coding it does not decode, and this
        // parser decodes chunked only; the embedder may take the coded body instead.
        if (!allow_codings) {
          element_error = errc::unknown_transfer_coding;
          return e.offset;
        }
        // The codings left to the caller are reported as one view: they must all be in the first
        // Transfer-Encoding field line that names any coding.
        if (fields.codings_line != name_offset + 1) {
          element_error = errc::bad_transfer_encoding;
          return e.offset;
        }
        std::size_t end = e.offset;
        while (end < value.size() && is(value[end], tchar)) ++end;
        if (e.has_parameters) {
          // The parameters are part of the coding: up to the next comma outside a quoted string.
          end = value.size();
          bool quoted = false;
          for (std::size_t k = e.offset; k < value.size(); ++k) {
            if (value[k] == '\\' && quoted) {
              ++k;
            } else if (value[k] == '"') {
              quoted = !quoted;
            } else if (value[k] == ',' && !quoted) {
              end = k;
              break;
            }
          }
          while (end > e.offset && is_ws(value[end - 1])) --end;
        }
        fields.codings_end = value_offset + end;
        return valid;
      });
      if (bad != valid) {
        return {element_error == errc::ok ? errc::bad_transfer_encoding : element_error,
                value_offset + bad};
      }
      return {};
    }
  }
  return {};
}

}  // namespace taut::detail
