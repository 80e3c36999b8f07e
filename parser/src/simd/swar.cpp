// The SWAR path ("SIMD within a register"): the fast head loop of the vector paths in plain C++,
// for CPUs without a vector engine here (ARM, for now) or with none compiled in. Field values, the
// longest part of a head, are scanned 8 bytes a step in a 64-bit word; names and targets by the
// table loop (skip_class). It follows engine.hpp's fast_request_line, field_loop and
// fast_status_line line for line, so the lines it takes and where it stops are the vector paths'
// exactly, and the same tests and fuzz harness compare it with the scalar path. (Written once
// with those, over a finder for either walk, or even sharing only the version and status-code
// tests, the vector paths compiled to 6-20% more instructions a head: kept apart.)
#include <cstdint>
#include <cstring>

#include "simd/engine.hpp"
#include "simd/engines.hpp"
#include "taut/http_chars.hpp"
#include "taut/message.hpp"

namespace taut::detail::simd {

namespace {

constexpr std::uint64_t each_byte = 0x0101010101010101;
constexpr std::uint64_t high_bits = 0x8080808080808080;

/// The high bit of each byte of `word` that ends a field value, a control (HTAB included, as on
/// the vector paths) or DEL: exact per byte, as no sum carries into the next byte.
[[nodiscard]] inline std::uint64_t value_stops(std::uint64_t word) noexcept {
  const std::uint64_t low7 = word & ~high_bits;
  const std::uint64_t at_least_space = low7 + 0x60 * each_byte;  // bit 7: low7 >= 0x20
  const std::uint64_t del = low7 + each_byte;                    // bit 7: low7 == 0x7f
  // A byte with its high bit set (obs-text) is neither.
  return (~(at_least_space | word) | (del & ~word)) & high_bits;
}

[[nodiscard]] inline std::uint64_t load_word(const char* p) noexcept {
  std::uint64_t word = 0;
  std::memcpy(&word, p, sizeof word);
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "byte k of a word in bits 8k..8k+7");
  return word;
}

/// The first byte in [i, size) that ends a field value, or size: a word a step, then one word
/// that ends at `size` (the bytes before i shifted out). For size >= 8 from `data`, the start of
/// the readable bytes, which every caller has: field lines and a reason-phrase follow a
/// request-line or status-line of 14 bytes or more, and run_section (fields.hpp) calls the fast
/// field loop only with 8 bytes or more.
[[nodiscard]] inline std::size_t value_end(const char* data, std::size_t i,
                                           std::size_t size) noexcept {
  for (; size - i >= 8; i += 8) {
    if (const std::uint64_t stops = value_stops(load_word(data + i)); stops != 0) {
      return i + first_bit(stops) / 8;
    }
  }
  if (i == size) return size;
  const std::uint64_t stops = value_stops(load_word(data + size - 8)) >> (8 * (8 - (size - i)));
  return stops != 0 ? i + first_bit(stops) / 8 : size;
}

/// engine.hpp's field_loop, with the name's and the line's ends found by the loops above.
void take_fields(fast_fields_args& args) noexcept {
  const char* const data = args.data;
  const std::size_t size = args.size;
  const std::size_t line_stop = size < args.limit ? size : args.limit;
  header* const out_end = args.storage + args.capacity;
  header* out = args.storage + args.count;
  const std::size_t first_pos = args.pos;
  std::size_t pos = first_pos;
  std::size_t looked_past = 0;
  while (out < out_end) {
    const std::size_t name_end = skip_class(data, pos, size, tchar);
    if (name_end == pos) {
      if (pos + 2 <= line_stop && is_crlf(data + pos)) {
        args.section_end = pos + 2;
        looked_past = 2;
      }
      break;
    }
    if (name_end >= size || data[name_end] != ':') {
      looked_past = (name_end < size ? name_end + 1 : size) - pos;
      break;
    }
    // The name's bytes are field bytes: the line's end is the first stop after the colon.
    const std::size_t end = value_end(data, name_end + 1, size);
    if (end + 2 > line_stop || !is_crlf(data + end)) {
      looked_past = (end < size ? end + 1 : size) - pos;
      break;
    }
    std::size_t value_begin = name_end + 1;
    while (data[value_begin] == ' ') ++value_begin;  // the CR at `end` stops it
    std::size_t value_last = end;
    while (value_last > value_begin && data[value_last - 1] == ' ') --value_last;
    *out++ = {std::string_view(data + pos, name_end - pos),
              std::string_view(data + value_begin, value_last - value_begin)};
    pos = end + 2;
  }
  args.pos = pos;
  args.count = static_cast<std::size_t>(out - args.storage);
  args.examined += pos - first_pos + looked_past;
}

/// " HTTP/1.1" or " HTTP/1.0", then CRLF, from the SP at `target_end`, within the input and the
/// line limit: fast_request_line's test of the usual request-line's end.
constexpr std::size_t version_and_crlf = 10;
[[nodiscard]] inline bool usual_version_after(const char* data, std::size_t size,
                                              std::size_t target_end,
                                              std::size_t max_line) noexcept {
  const std::size_t v = target_end + 1;
  const std::size_t next = v + version_and_crlf;
  return next <= size && data[target_end] == ' ' && next <= max_line &&
         std::memcmp(data + v, "HTTP/1.", 7) == 0 && (data[v + 7] == '0' || data[v + 7] == '1') &&
         data[v + 8] == '\r' && data[v + 9] == '\n';
}

/// fast_status_line's test of the fixed part of the usual status-line, "HTTP/1." DIGIT SP
/// status-code (100 to 599) SP, and of a CRLF's room after it.
constexpr std::size_t reason_begin = 13;
[[nodiscard]] inline bool usual_status_start(const char* data, std::size_t size) noexcept {
  return size >= reason_begin + 2 && std::memcmp(data, "HTTP/1.", 7) == 0 && is(data[7], digit) &&
         data[8] == ' ' && data[9] >= '1' && data[9] <= '5' && is(data[10], digit) &&
         is(data[11], digit) && data[12] == ' ';
}

/// engine.hpp's fast_request_line, each class boundary found by the table loop.
void take_request_line(fast_request_line_args& args) noexcept {
  const char* const data = args.data;
  const std::size_t size = args.size;
  args.taken = false;
  const std::size_t method_end = skip_class(data, 0, size, tchar);
  const std::size_t target_begin = method_end + 1;
  if (method_end == 0 || target_begin >= size || data[method_end] != ' ') {
    args.examined += (method_end < size ? method_end + 1 : size);
    return;
  }
  std::size_t target_end = target_begin;
  args.absolute = data[target_begin] != '/';
  if (args.absolute) {
    std::size_t stop = target_begin;
    const std::size_t path =
        is(data[target_begin], alpha) ? absolute_form_path(data, target_begin, size, stop) : 0;
    if (path == 0) {
      args.examined += (stop < size ? stop + 1 : size);
      return;
    }
    target_end = path;
  }
  while (true) {
    target_end = skip_class(data, target_end, size, path_char);
    if (target_end + 2 < size && data[target_end] == '%' && is(data[target_end + 1], hex_digit) &&
        is(data[target_end + 2], hex_digit)) {
      target_end += 3;
      continue;
    }
    break;
  }
  if (!usual_version_after(data, size, target_end, args.max_line)) {
    args.examined += (target_end < size ? target_end + 1 : size);
    return;
  }
  const std::size_t next = target_end + 1 + version_and_crlf;
  args.taken = true;
  args.method_end = method_end;
  args.target_end = target_end;
  args.version_minor = data[target_end + 8] - '0';
  args.next = next;
  args.examined += next;
  fast_fields_args* const fields = args.fields;
  if (fields == nullptr || (method_end == 7 && std::memcmp(data, "CONNECT", 7) == 0)) return;
  fields->pos = next;
  fields->limit = saturating_add(next, args.max_header_bytes);
  take_fields(*fields);
}

/// engine.hpp's fast_status_line: the reason-phrase ends where a field value would.
void take_status_line(fast_status_line_args& args) noexcept {
  const char* const data = args.data;
  const std::size_t size = args.size;
  args.taken = false;
  if (!usual_status_start(data, size)) return;
  const std::size_t line_end = value_end(data, reason_begin, size);
  const std::size_t next = line_end + 2;
  if (next > size || next > args.max_line || !is_crlf(data + line_end)) {
    args.examined += (line_end < size ? line_end + 1 : size);
    return;
  }
  args.taken = true;
  args.line_end = line_end;
  args.examined += next;
  fast_fields_args* const fields = args.fields;
  fields->pos = next;
  fields->limit = saturating_add(next, args.max_header_bytes);
  take_fields(*fields);
}

template <char_class Class>
std::size_t skip_table(const char* data, std::size_t i, std::size_t end) noexcept {
  return skip_class(data, i, end, Class);
}

}  // namespace

constinit const scan_ops swar_ops{skip_table<field_char>, skip_table<tchar>, skip_table<path_char>,
                                  skip_table<host_char>,  take_fields,       take_request_line,
                                  take_status_line};

}  // namespace taut::detail::simd
