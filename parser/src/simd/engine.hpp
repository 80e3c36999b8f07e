// The vectorized scans, written once as templates over a vector wrapper `V` (x86_vectors.hpp
// describes its interface): the class skips and the fast head loop (the request-line, then the
// field lines). Each instruction set's source file instantiates them with its wrappers, compiled
// with its flags, and exports one scan_ops table (engines.hpp). Internal linkage, as for the
// wrappers: each file's instantiations are its own code.
//
// The head loop computes the masks of each 64-byte block once, whatever the lines in it, and then
// finds lines with bit operations on them: a line costs a few dependent bit operations, not the
// latency of a vector load and lookup, and the next block's loads do not wait for the line walk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "scan.hpp"
#include "simd/tables.hpp"
#include "taut/http_chars.hpp"
#include "taut/message.hpp"

namespace taut::detail::simd {
namespace {

constexpr std::uint64_t all_bits = ~std::uint64_t{0};

[[nodiscard]] inline std::size_t first_bit(std::uint64_t mask) noexcept {
  return static_cast<std::size_t>(__builtin_ctzll(mask));
}

/// One byte class, ready for V's nibble lookup: the tables loaded once per scan, not per vector.
template <class V, const nibble_tables& T>
struct class_lookup {
  V rows = V::constant(T.rows);
  V bits = V::constant(T.bits);
  V nibble = V::constant(low_nibble);

  /// A bit for each byte of v outside the class.
  [[nodiscard]] std::uint64_t outside(V v) const noexcept {
    auto flags = rows.lookup16(v & nibble).disjoint(bits.lookup16(v.shift_right_4() & nibble));
    if constexpr (T.high_bytes) flags = flags.and_not(v.high_bit());
    return flags.bits();
  }
};

// ---- The class skips -------------------------------------------------------------------------

/// The first byte in [i, end) outside the class, for end - i >= V::width: whole vectors, then one
/// last vector that overlaps what was already checked, so the tail needs no byte loop and nothing
/// is read past `end`.
template <class V, const nibble_tables& T>
inline std::size_t skip_vectors(const char* data, std::size_t i, std::size_t end) noexcept {
  const class_lookup<V, T> lookup;
  for (; i + V::width <= end; i += V::width) {
    if (const std::uint64_t mask = lookup.outside(V::load(data + i)); mask != 0) {
      return i + first_bit(mask);
    }
  }
  if (i == end) return end;
  const std::uint64_t mask =
      lookup.outside(V::load(data + end - V::width)) >> (V::width - (end - i));
  return mask != 0 ? i + first_bit(mask) : end;
}

/// The widest of the vectors `V, Narrower...` (widest first) that the range fills, else the scalar
/// loop: a short range costs no wide setup. Flattened so that taut::chars' skip_class is inlined
/// here in every build (instrumented ones included), never left as a weak copy compiled with this
/// file's flags (see check_simd_objects.cmake).
template <const nibble_tables& T, char_class Class, class V, class... Narrower>
__attribute__((flatten)) std::size_t skip(const char* data, std::size_t i,
                                          std::size_t end) noexcept {
  if (end - i >= V::width) return skip_vectors<V, T>(data, i, end);
  if constexpr (sizeof...(Narrower) != 0) {
    return skip<T, Class, Narrower...>(data, i, end);
  } else {
    return skip_class(data, i, end, Class);
  }
}

/// skip for a range that may be shorter than a vector, in a buffer whose bytes [data, data + end)
/// are all readable (data its start): a short range ending at least V::width bytes in is read by
/// one load ending at `end`, the bytes before i shifted out. A Host value, a dozen bytes well into
/// the head, costs a vector lookup instead of a byte loop.
template <const nibble_tables& T, char_class Class, class V, class... Narrower>
__attribute__((flatten)) std::size_t skip_in_buffer(const char* data, std::size_t i,
                                                    std::size_t end) noexcept {
  const std::size_t n = end - i;
  if (n >= V::width) return skip_vectors<V, T>(data, i, end);
  if (n == 0) return end;
  if (end >= V::width) {
    const std::uint64_t mask =
        class_lookup<V, T>{}.outside(V::load(data + end - V::width)) >> (V::width - n);
    return mask == 0 ? end : i + first_bit(mask);
  }
  if constexpr (sizeof...(Narrower) != 0) {
    return skip_in_buffer<T, Class, Narrower...>(data, i, end);
  } else {
    return skip_class(data, i, end, Class);
  }
}

// ---- The fast head loop ----------------------------------------------------------------------
//
// simd/swar.cpp repeats the rules of fast_request_line, field_loop and fast_status_line (which
// lines are taken, where each stops, what bytes_examined counts) over byte and word loops, for
// CPUs without a vector path: a change to them here is a change there too.

/// Which bytes of a 64-byte block end a field name (outside tchar), a field value (a control,
/// HTAB included, or DEL) or the request target (outside path_char, when asked for); bit k stands
/// for byte k of the block.
struct block_masks {
  std::uint64_t non_token = 0;
  std::uint64_t non_field = 0;
  std::uint64_t non_path = 0;
};

[[nodiscard]] inline block_masks shifted_right(block_masks m, unsigned shift) noexcept {
  return {m.non_token >> shift, m.non_field >> shift, m.non_path >> shift};
}

/// The masks of the V::width bytes of v, in the low bits.
template <class V, bool WithPath>
struct block_classifier {
  class_lookup<V, token_tables> tokens;
  class_lookup<V, target_tables> paths;
  V last_control_byte = V::constant(last_control);
  V del_byte = V::constant(del);

  [[nodiscard]] block_masks masks(V v) const noexcept {
    // A value ends at the first control or DEL (RFC 9110 section 5.5): two compares instead of a
    // table lookup. HTAB is a control here, though a value may hold it: a line with one is rare,
    // and the fast loop leaves it to the generic loop.
    block_masks m{tokens.outside(v), (v.at_most(last_control_byte) | v.equals(del_byte)).bits()};
    if constexpr (WithPath) m.non_path = paths.outside(v);
    return m;
  }
};

/// The masks of the 64 bytes from p, all readable.
template <class V, bool WithPath>
[[nodiscard]] inline block_masks block_at(const block_classifier<V, WithPath>& classify,
                                          const char* p) noexcept {
  block_masks m;
  // Unrolled, as the hand-written engines were: GCC keeps a two-step loop where it inlines this
  // into a cold-looking spot, at a cost of a dozen instructions a block.
#pragma GCC unroll 4
  for (std::size_t k = 0; k < 64 / V::width; ++k) {
    const block_masks part = classify.masks(V::load(p + V::width * k));
    m.non_token |= part.non_token << (V::width * k);
    m.non_field |= part.non_field << (V::width * k);
    m.non_path |= part.non_path << (V::width * k);
  }
  return m;
}

/// The masks of the 64 bytes from `at` of an input shorter than 64 bytes, from a copy.
template <class V, bool WithPath>
[[nodiscard]] block_masks copy_and_classify(const block_classifier<V, WithPath>& classify,
                                            const char* data, std::size_t at,
                                            std::size_t size) noexcept {
  alignas(64) char copy[64] = {};
  std::memcpy(copy, data + at, size - at);
  return block_at<V, WithPath>(classify, copy);
}

/// copy_and_classify out of line with its own tables, for the request-line's first block:
/// inlined, its 64-byte-aligned copy made fast_request_line realign its stack and keep the tables
/// in memory, a fixed cost of every request however long. (The field loop keeps it inline: out of
/// line, a response's loop compiled to more instructions a line.)
template <class V, bool WithPath>
[[nodiscard]] block_masks copied_short_input(const block_classifier<V, WithPath>& classify,
                                             const char* data, std::size_t at,
                                             std::size_t size) noexcept {
  if constexpr (WithPath) {
    return [](const char* d, std::size_t a, std::size_t s) __attribute__((noinline, cold)) {
      return copy_and_classify<V, WithPath>(block_classifier<V, WithPath>{}, d, a, s);
    }
    (data, at, size);
  } else {
    return copy_and_classify<V, WithPath>(classify, data, at, size);
  }
}

/// The masks of the 64 bytes from `at` for an input shorter than 64 bytes from there, from the
/// input's last 64 bytes shifted into place (nothing past `size` is read), or from a copy.
template <class V, bool WithPath>
[[nodiscard]] block_masks copied_block(const block_classifier<V, WithPath>& classify,
                                       const char* data, std::size_t at,
                                       std::size_t size) noexcept {
  const std::size_t available = size - at;
  if (size >= 64) {
    return shifted_right(block_at<V, WithPath>(classify, data + size - 64),
                         static_cast<unsigned>(64 - available));
  }
  return copied_short_input<V, WithPath>(classify, data, at, size);
}

/// The masks of the bytes from `at` to `size`, fewer than 64, right for those bytes (the rest is
/// marked by load_block), read the way V::tail says.
template <class V, bool WithPath>
[[nodiscard]] inline block_masks short_block(const block_classifier<V, WithPath>& classify,
                                             const char* data, std::size_t at,
                                             std::size_t size) noexcept {
  if constexpr (V::tail == tail_read::masked) {
    static_assert(V::width == 64);
    return classify.masks(V::load_first(data + at, size - at));
  } else if constexpr (V::tail == tail_read::end_aligned) {
    // Vector loads that end at `size` (shifted into place) rather than a copy, unless the whole
    // input is shorter than a vector.
    static_assert(V::width == 32);
    const std::size_t available = size - at;
    if (size < V::width) return copied_short_input<V, WithPath>(classify, data, at, size);
    // The input's last 32 bytes hold the bytes from at + 32 (when available >= 32) or from at.
    const block_masks last = shifted_right(classify.masks(V::load(data + size - V::width)),
                                           static_cast<unsigned>(32 - available % 32));
    if (available < 32) return last;
    const block_masks first = classify.masks(V::load(data + at));
    return {first.non_token | (last.non_token << 32), first.non_field | (last.non_field << 32),
            first.non_path | (last.non_path << 32)};
  } else {
    return copied_block<V, WithPath>(classify, data, at, size);
  }
}

/// The masks of the 64 bytes from `at`, with every byte at or past `size` marked in all.
template <class V, bool WithPath>
[[nodiscard]] __attribute__((always_inline)) inline block_masks load_block(
    const block_classifier<V, WithPath>& classify, const char* data, std::size_t at,
    std::size_t size) noexcept {
  if (at >= size) return {all_bits, all_bits, all_bits};
  const std::size_t available = size - at;
  if (available >= 64) return block_at<V, WithPath>(classify, data + at);
  const block_masks m = short_block<V, WithPath>(classify, data, at, size);
  const std::uint64_t past = all_bits << available;
  return {m.non_token | past, m.non_field | past, m.non_path | past};
}

/// Whether p[0], p[1] are CR LF: one 16-bit compare.
[[nodiscard]] inline bool is_crlf(const char* p) noexcept {
  std::uint16_t pair = 0;
  std::memcpy(&pair, p, 2);
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "CR LF as one 16-bit value");
  constexpr std::uint16_t crlf = '\r' | ('\n' << 8);
  return pair == crlf;
}

/// The block the line walk is in: its masks cover [base, base + 64).
struct block_cursor {
  std::size_t base = 0;
  block_masks masks;
};

/// The first offset at or after `from` whose bit is set in `which` of the masks, moving the cursor
/// forward block by block; at or past `size` when the input ends first.
template <class V, bool WithPath>
[[nodiscard]] inline std::size_t next_marked(const block_classifier<V, WithPath>& classify,
                                             const char* data, std::size_t size,
                                             block_cursor& cursor, std::size_t from,
                                             std::uint64_t block_masks::*which) noexcept {
  while (true) {
    const std::size_t offset = from - cursor.base;
    if (offset < 64) {
      const std::uint64_t bits = cursor.masks.*which & (all_bits << offset);
      if (bits != 0) return cursor.base + first_bit(bits);
    }
    cursor.base += 64;
    cursor.masks = load_block<V, WithPath>(classify, data, cursor.base, size);
    if (from < cursor.base) from = cursor.base;
  }
}

/// The field loop from args.pos, whose block [base, base + 64) is already computed, with the table
/// constants of `classify` (built once by the caller, before the loop: built where a line runs
/// into the next block, they were loaded again at every such line).
template <class V>
inline void field_loop(fast_fields_args& args, std::size_t base, block_masks block,
                       const block_classifier<V, false>& classify) noexcept {
  // Everything in locals, not in args or a struct: the header stores could alias args' fields,
  // and the loop is short enough for its state to live in registers.
  const char* const data = args.data;
  const std::size_t size = args.size;
  // A taken line ends (CRLF included) at or before both the input's end and the limit.
  const std::size_t line_stop = size < args.limit ? size : args.limit;
  // Fields go to [out, out_end): pointers rather than a count, fewer values to keep live.
  header* const out_end = args.storage + args.capacity;
  header* out = args.storage + args.count;
  const std::size_t first_pos = args.pos;
  std::size_t pos = first_pos;
  std::size_t looked_past = 0;  // bytes examined of the line the loop stopped at
  // The control bytes of the block from pos on: when the line at pos ends in this block, the
  // lowest is its CR. Taking a line clears the bits of its CR and LF, two dependent bit operations,
  // instead of masking the block again from the next line's start.
  std::uint64_t end_bits = block.non_field & (all_bits << (pos - base));
  while (out < out_end) {
    std::size_t name_end = 0;
    std::size_t end = 0;
    if (end_bits != 0) [[likely]] {
      // The line ends in this block (so pos is in it): its name ends here too, every control
      // being outside tchar. The two searches are independent of each other.
      end = base + first_bit(end_bits);
      name_end = base + first_bit(block.non_token & (all_bits << (pos - base)));
    } else {  // pos past the block, or the line runs into the next blocks
      while (pos - base >= 64) {
        base += 64;
        block = load_block<V, false>(classify, data, base, size);
      }
      std::uint64_t name_bits = block.non_token & (all_bits << (pos - base));
      while (name_bits == 0) {
        base += 64;
        block = load_block<V, false>(classify, data, base, size);
        name_bits = block.non_token;
      }
      name_end = base + first_bit(name_bits);
      end_bits = block.non_field & (all_bits << (name_end - base));  // none before name_end
      while (end_bits == 0) {
        base += 64;
        block = load_block<V, false>(classify, data, base, size);
        end_bits = block.non_field;
      }
      end = base + first_bit(end_bits);
    }
    // One test for a line taken; which check failed is sorted out after it. With the CRLF within
    // the input, so is the name's end (name_end <= end): no bounds check before its colon.
    if (name_end == pos || end + 2 > line_stop || !is_crlf(data + end) || data[name_end] != ':')
        [[unlikely]] {
      if (name_end == pos) {
        // The empty line ends the section; an obs-fold or a line with no name is for the
        // generic loop to judge.
        if (pos + 2 <= line_stop && is_crlf(data + pos)) {
          args.section_end = pos + 2;
          looked_past = 2;
        }
      } else if (name_end >= size || data[name_end] != ':') {
        looked_past = (name_end < size ? name_end + 1 : size) - pos;
      } else {
        looked_past = (end < size ? end + 1 : size) - pos;
      }
      break;
    }
    // OWS trimmed: only SP can be here (an HTAB ends the line's run of field bytes, and such a
    // line is the generic loop's), and the first loop needs no bounds check: the CR at `end`
    // stops it.
    std::size_t value_begin = name_end + 1;
    value_begin += data[value_begin] == ' ' ? 1 : 0;  // the usual single SP, without a loop
    if (data[value_begin] == ' ') [[unlikely]] {
      while (data[value_begin] == ' ') ++value_begin;
    }
    std::size_t value_end = end;
    // Trailing SP is rare: the usual value costs one compare, outside the loop. (An empty value,
    // value_begin == end, is never trimmed: the byte before its end is the colon or an SP
    // skipped above.)
    if (data[end - 1] == ' ') [[unlikely]] {
      while (value_end > value_begin && data[value_end - 1] == ' ') --value_end;
    }
    const std::size_t name_size = name_end - pos;
    *out++ = {std::string_view(data + pos, name_size),
              std::string_view(data + value_begin, value_end - value_begin)};
    pos = end + 2;
    // The CR's bit, then the LF's (none left when the CR was the block's last byte).
    end_bits &= end_bits - 1;
    end_bits &= end_bits - 1;
  }
  args.pos = pos;
  args.count = static_cast<std::size_t>(out - args.storage);
  args.examined += pos - first_pos + looked_past;
}

template <class V>
void fast_fields(fast_fields_args& args) noexcept {
  const block_classifier<V, false> classify;
  field_loop<V>(args, args.pos, load_block<V, false>(classify, args.data, args.pos, args.size),
                classify);
}

/// Where the path of an absolute-form target starting at `begin` (its first byte a letter)
/// starts: after scheme "://" reg-name [":" port], at the '/', '?' or SP that follows, as the
/// generic parser reads that shape (request_parser.cpp); 0 for any other shape (an IP-literal, a
/// '%' in the host, a bad byte, the input's end), left to the generic parser. `stop` is the byte
/// it stopped at (for bytes_examined). A few dozen bytes once per proxy request: a byte loop.
[[nodiscard]] inline std::size_t absolute_form_path(const char* data, std::size_t begin,
                                                    std::size_t size, std::size_t& stop) noexcept {
  std::size_t i = begin + 1;
  while (i < size && is(data[i], scheme_char)) ++i;
  stop = i;
  if (i + 3 >= size || data[i] != ':' || data[i + 1] != '/' || data[i + 2] != '/') return 0;
  i += 3;
  const std::size_t host = i;
  while (i < size && is(data[i], host_char)) ++i;
  stop = i;
  if (i == host || i >= size) return 0;
  if (data[i] == ':') {
    ++i;
    while (i < size && is(data[i], digit)) ++i;
    stop = i;
    if (i >= size) return 0;
  }
  const char c = data[i];
  return c == '/' || c == '?' || c == ' ' ? i : 0;
}

// Flattened: the field loop and the block loads inlined here, one frame for a whole head (a
// frame of the field loop's own was a fixed cost of every request).
template <class V>
__attribute__((flatten)) void fast_request_line(fast_request_line_args& args) noexcept {
  const char* const data = args.data;
  const std::size_t size = args.size;
  const block_classifier<V, true> classify;
  block_cursor cursor{0, load_block<V, true>(classify, data, 0, size)};
  args.taken = false;
  const std::size_t method_end =
      next_marked<V, true>(classify, data, size, cursor, 0, &block_masks::non_token);
  const std::size_t target_begin = method_end + 1;
  if (method_end == 0 || target_begin >= size || data[method_end] != ' ') {
    args.examined += (method_end < size ? method_end + 1 : size);
    return;
  }
  std::size_t target_end = target_begin;
  args.absolute = data[target_begin] != '/';
  if (args.absolute) [[unlikely]] {
    // A proxy's absolute-form: its scheme and authority byte by byte, then its path as an
    // origin-form's.
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
    target_end =
        next_marked<V, true>(classify, data, size, cursor, target_end, &block_masks::non_path);
    if (target_end + 2 < size && data[target_end] == '%' && is(data[target_end + 1], hex_digit) &&
        is(data[target_end + 2], hex_digit)) {
      target_end += 3;
      continue;
    }
    break;
  }
  // "HTTP/1.1" or "HTTP/1.0", then CRLF; any other version is for the generic parser to judge.
  constexpr std::size_t version_and_crlf = 10;
  const std::size_t v = target_end + 1;
  const std::size_t next = v + version_and_crlf;
  if (next > size || data[target_end] != ' ' || next > args.max_line ||
      std::memcmp(data + v, "HTTP/1.", 7) != 0 || (data[v + 7] != '0' && data[v + 7] != '1') ||
      data[v + 8] != '\r' || data[v + 9] != '\n') {
    args.examined += (target_end < size ? target_end + 1 : size);
    return;
  }
  args.taken = true;
  args.method_end = method_end;
  args.target_end = target_end;
  args.version_minor = data[v + 7] - '0';
  args.next = next;
  args.examined += next;
  // On into the field lines, from the block already computed when it holds them; not for
  // CONNECT, whose request-line the generic parser takes.
  fast_fields_args* const fields = args.fields;
  if (fields == nullptr || (method_end == 7 && std::memcmp(data, "CONNECT", 7) == 0)) return;
  fields->pos = next;
  fields->limit = saturating_add(next, args.max_header_bytes);
  // The request-line's table constants, already loaded, without the target's class.
  const block_classifier<V, false> field_classify{classify.tokens, classify.paths,
                                                  classify.last_control_byte, classify.del_byte};
  if (next - cursor.base < 64) {
    field_loop<V>(*fields, cursor.base, cursor.masks, field_classify);
  } else {
    field_loop<V>(*fields, next, load_block<V, false>(field_classify, data, next, size),
                  field_classify);
  }
}

/// The status-line nearly every server sends, "HTTP/1." DIGIT SP status-code SP reason CRLF at
/// offset 0, then the field lines from the block already computed: one call and one pass over the
/// head, as fast_request_line makes for a request. Flattened for the same reason.
template <class V>
__attribute__((flatten)) void fast_status_line(fast_status_line_args& args) noexcept {
  const char* const data = args.data;
  const std::size_t size = args.size;
  args.taken = false;
  // "HTTP/1.x DDD " before the reason-phrase: the version, then a status code of 100 to 599 (RFC
  // 9110 section 15), in compares of bytes that are there (the CRLF after them too).
  constexpr std::size_t reason_begin = 13;
  if (size < reason_begin + 2 || std::memcmp(data, "HTTP/1.", 7) != 0 || !is(data[7], digit) ||
      data[8] != ' ' || data[9] < '1' || data[9] > '5' || !is(data[10], digit) ||
      !is(data[11], digit) || data[12] != ' ') {
    return;
  }
  const block_classifier<V, false> classify;
  block_cursor cursor{0, load_block<V, false>(classify, data, 0, size)};
  // The reason-phrase is field bytes; the line ends at the first control or DEL after its start,
  // which must be the CR of a CRLF. (An HTAB, which a reason may hold, stops it too: such a line
  // is the generic parser's.)
  const std::size_t line_end =
      next_marked<V, false>(classify, data, size, cursor, reason_begin, &block_masks::non_field);
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
  if (next - cursor.base < 64) {
    field_loop<V>(*fields, cursor.base, cursor.masks, classify);
  } else {
    field_loop<V>(*fields, next, load_block<V, false>(classify, data, next, size), classify);
  }
}

/// The scan_ops of an instruction set: `Block` computes the head loop's 64-byte blocks, and the
/// skips use the widest of `Skip...` (widest first) that a range fills.
template <class Block, class... Skip>
constexpr scan_ops make_scan_ops() noexcept {
  return {skip<field_tables, field_char, Skip...>,
          skip<token_tables, tchar, Skip...>,
          skip<target_tables, path_char, Skip...>,
          skip_in_buffer<host_tables, host_char, Skip...>,
          fast_fields<Block>,
          fast_request_line<Block>,
          fast_status_line<Block>};
}

}  // namespace
}  // namespace taut::detail::simd
