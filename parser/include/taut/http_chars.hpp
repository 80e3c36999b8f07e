// HTTP's character classes and ASCII helpers (RFC 9110, RFC 9112, RFC 3986), one table for the
// parser and the server alike, so what a server accepts from a handler cannot drift from what the
// parser accepts from a peer. The public names are at the bottom, in namespace taut::chars; the
// tables and the parser's fast helpers above them are taut::detail.
#pragma once

#include "taut/detail/require_cxx20.hpp"  // first: one clear error before C++20

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

namespace taut::detail {

enum char_class : std::uint8_t {
  tchar = 1 << 0,       // token characters (RFC 9110 section 5.6.2)
  field_char = 1 << 1,  // field-vchar, SP, HTAB (RFC 9110 section 5.5)
  path_char = 1 << 2,   // pchar and "/" and "?" (RFC 3986), '%' checked separately
  host_char = 1 << 3,   // reg-name: unreserved and sub-delims (RFC 3986 section 3.2.2)
  hex_digit = 1 << 4,
  digit = 1 << 5,
  alpha = 1 << 6,
  scheme_char = 1 << 7,  // ALPHA / DIGIT / "+" / "-" / "."
};

constexpr std::array<std::uint8_t, 256> make_char_table() {
  std::array<std::uint8_t, 256> t{};
  auto add = [&t](std::string_view chars, std::uint8_t cls) {
    for (char c : chars) t[static_cast<unsigned char>(c)] |= cls;
  };
  constexpr std::string_view lower = "abcdefghijklmnopqrstuvwxyz";
  constexpr std::string_view upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  constexpr std::string_view digits = "0123456789";
  for (std::string_view s : {lower, upper})
    add(s, tchar | path_char | host_char | alpha | scheme_char);
  add(digits, tchar | path_char | host_char | digit | hex_digit | scheme_char);
  add("abcdefABCDEF", hex_digit);
  add("!#$%&'*+-.^_`|~", tchar);
  add("-._~!$&'()*+,;=:@/?", path_char);
  add("-._~!$&'()*+,;=", host_char);
  add("+-.", scheme_char);
  for (std::size_t c = 0x21; c <= 0x7e; ++c) t[c] |= field_char;
  for (std::size_t c = 0x80; c <= 0xff; ++c) t[c] |= field_char;
  t[' '] |= field_char;
  t['\t'] |= field_char;
  return t;
}

inline constexpr std::array<std::uint8_t, 256> char_table = make_char_table();

[[nodiscard]] constexpr bool is(char c, char_class cls) noexcept {
  return (char_table[static_cast<unsigned char>(c)] & cls) != 0;
}
[[nodiscard]] constexpr bool is_ws(char c) noexcept {
  return c == ' ' || c == '\t';
}

[[nodiscard]] constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// ASCII case-insensitive comparison against a lower-case literal. A letter of the literal matches
/// either case of itself (OR 0x20 folds only 'A'-'Z' onto it), any other byte only itself; eight
/// bytes a step and no branch per byte: with a literal argument the words and masks fold away.
[[nodiscard]] constexpr bool iequals(std::string_view s, std::string_view lower) noexcept {
  if (s.size() != lower.size()) return false;
  const auto fold_of = [](char want) -> std::uint64_t {
    return want >= 'a' && want <= 'z' ? 0x20 : 0;
  };
  std::uint64_t difference = 0;
  std::size_t i = 0;
  if (!std::is_constant_evaluated()) {
    for (; i + 8 <= s.size(); i += 8) {
      // All three words are loaded the same way, so the byte order does not matter.
      unsigned char fold_bytes[8];
      for (std::size_t k = 0; k < 8; ++k)
        fold_bytes[k] = static_cast<unsigned char>(fold_of(lower[i + k]));
      std::uint64_t word = 0;
      std::uint64_t want = 0;
      std::uint64_t fold = 0;
      std::memcpy(&word, s.data() + i, 8);
      std::memcpy(&want, lower.data() + i, 8);
      std::memcpy(&fold, fold_bytes, 8);
      difference |= (word | fold) ^ want;
    }
  }
  for (; i < s.size(); ++i) {
    const auto want = static_cast<unsigned char>(lower[i]);
    difference |= (static_cast<unsigned char>(s[i]) | fold_of(lower[i])) ^ want;
  }
  return difference == 0;
}

/// `word` with each of its eight bytes in 'A'-'Z' turned lower case, every other byte unchanged:
/// per byte, the low seven bits plus a bias set the top bit from 'A' on and again past 'Z' (no
/// carry crosses a byte), and a byte with its own top bit set is never a letter.
[[nodiscard]] constexpr std::uint64_t lower_word(std::uint64_t word) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101U;
  const std::uint64_t low_bits = word & (0x7FU * ones);
  const std::uint64_t from_a = low_bits + (0x80U - 'A') * ones;
  const std::uint64_t past_z = low_bits + (0x80U - 'Z' - 1U) * ones;
  const std::uint64_t upper = (from_a ^ past_z) & ~word & (0x80U * ones);
  return word | upper >> 2;
}

/// ASCII case-insensitive equality of the `size` bytes at `a` and at `b`, either of any case:
/// eight bytes a step with both sides folded by lower_word() and no branch per byte, the last
/// partial word read again overlapping the one before (two four-byte words below eight bytes).
[[nodiscard]] inline bool iequals_words(const char* a, const char* b, std::size_t size) noexcept {
  const auto load = [](const char* p, std::size_t n) {
    std::uint64_t word = 0;
    std::memcpy(&word, p, n);
    return word;
  };
  const auto differ = [](std::uint64_t x, std::uint64_t y) {
    return (lower_word(x) ^ lower_word(y)) != 0;
  };
  if (size >= 8) {
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      if (differ(load(a + i, 8), load(b + i, 8))) return false;
    }
    return i == size || !differ(load(a + size - 8, 8), load(b + size - 8, 8));
  }
  if (size >= 4) {
    return !differ(load(a, 4) | load(a + size - 4, 4) << 32, load(b, 4) | load(b + size - 4, 4)
                                                                              << 32);
  }
  std::uint64_t difference = 0;
  for (std::size_t i = 0; i < size; ++i) {
    difference |=
        lower_word(static_cast<unsigned char>(a[i])) ^ lower_word(static_cast<unsigned char>(b[i]));
  }
  return difference == 0;
}

/// The index of the first byte in [i, end) outside `cls`, or `end`; four lookups a branch (the
/// one-byte loop's speed swung by half with code placement).
[[nodiscard]] inline std::size_t skip_class(const char* data, std::size_t i, std::size_t end,
                                            char_class cls) noexcept {
  while (end - i >= 4) {
    const unsigned all = char_table[static_cast<unsigned char>(data[i])] &
                         char_table[static_cast<unsigned char>(data[i + 1])] &
                         char_table[static_cast<unsigned char>(data[i + 2])] &
                         char_table[static_cast<unsigned char>(data[i + 3])];
    if ((all & cls) == 0) break;
    i += 4;
  }
  while (i < end && is(data[i], cls)) ++i;
  return i;
}

/// The index of the first byte of [i, end) outside tchar (skip_token_run) or field_char
/// (skip_field_value_run): the parser's own vectorized scans, for the instruction set picked at run
/// time (parser/src/scan.hpp). Nothing outside [data + i, data + end) is read. For chars::is_token
/// and chars::is_field_value on longer strings; not constexpr.
[[nodiscard]] std::size_t skip_token_run(const char* data, std::size_t i, std::size_t end) noexcept;
[[nodiscard]] std::size_t skip_field_value_run(const char* data, std::size_t i,
                                               std::size_t end) noexcept;
/// From this many bytes on, a string is checked by the vector scan: below it the call and the
/// vector setup cost more than the four-byte table loop (skip_class).
inline constexpr std::size_t vector_check_min = 16;

/// framing_first_letter[n % 32]: the lower-case first letter of the framing field (Host, Expect,
/// Upgrade, Connection, Content-Length, Transfer-Encoding) whose name has n bytes, else 0.
inline constexpr std::array<char, 32> framing_first_letter = {0,   0, 0, 0, 'h', 0, 'e', 'u', 0, 0,
                                                              'c', 0, 0, 0, 'c', 0, 0,   't'};

/// False for every field the framing logic ignores, told apart by length and first letter alone
/// (a few longer names pass too, which costs only a closer look), so the common fields cost one
/// table lookup instead of a call. A name is never empty and its first byte never 0.
[[nodiscard]] constexpr bool may_be_framing_field(const char* name, std::size_t size) noexcept {
  return (name[0] | 0x20) == framing_first_letter[size % framing_first_letter.size()];
}
[[nodiscard]] constexpr bool may_be_framing_field(std::string_view name) noexcept {
  return may_be_framing_field(name.data(), name.size());
}

}  // namespace taut::detail

namespace taut::chars {

/// tchar of RFC 9110 section 5.6.2: the bytes of a token (method, field name, coding name).
[[nodiscard]] constexpr bool is_tchar(char c) noexcept {
  return detail::is(c, detail::tchar);
}
/// A token: one or more tchar.
[[nodiscard]] constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  if (!std::is_constant_evaluated()) {  // checked for every field a server or client writes
    return (s.size() >= detail::vector_check_min
                ? detail::skip_token_run(s.data(), 0, s.size())
                : detail::skip_class(s.data(), 0, s.size(), detail::tchar)) == s.size();
  }
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}
/// A byte allowed inside a field value (RFC 9110 section 5.5): field-vchar, obs-text, SP or HTAB;
/// never CR, LF, NUL, another control or DEL.
[[nodiscard]] constexpr bool is_field_value_char(char c) noexcept {
  return detail::is(c, detail::field_char);
}
/// A field value as a sender may write it: field-value bytes only (empty is allowed).
[[nodiscard]] constexpr bool is_field_value(std::string_view s) noexcept {
  if (!std::is_constant_evaluated()) {
    return (s.size() >= detail::vector_check_min
                ? detail::skip_field_value_run(s.data(), 0, s.size())
                : detail::skip_class(s.data(), 0, s.size(), detail::field_char)) == s.size();
  }
  for (char c : s) {
    if (!is_field_value_char(c)) return false;
  }
  return true;
}
/// Optional whitespace (OWS, RFC 9110 section 5.6.3): SP or HTAB.
[[nodiscard]] constexpr bool is_ows(char c) noexcept {
  return detail::is_ws(c);
}
/// The value of a hex digit (0-15), or -1.
[[nodiscard]] constexpr int hex_value(char c) noexcept {
  return detail::hex_value(c);
}
/// ASCII lower case; every other byte unchanged (HTTP's case-insensitivity is ASCII only).
[[nodiscard]] constexpr char to_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}
/// ASCII case-insensitive equality of two strings, either of any case.
[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  // Field names are compared with many known names per request, most of another length: that
  // test stays inline, the bytes are compared a word at a time (detail::iequals_words).
  if (a.size() != b.size()) return false;
  if (!std::is_constant_evaluated()) return detail::iequals_words(a.data(), b.data(), a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}
/// `s` with leading and trailing OWS removed.
[[nodiscard]] constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace taut::chars
