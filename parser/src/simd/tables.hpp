// What the vector code of every instruction set shares: the byte classes as it reads them, built
// once from taut::chars' table at compile time (plain data), and the names its wrappers use.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "taut/http_chars.hpp"

namespace taut::detail::simd {

/// How the head loop reads the masks of a block that ends past the input (a vector wrapper's
/// `tail`): from a copy of the bytes left, from vector loads that end at the input's end, or from
/// a masked load.
enum class tail_read : std::uint8_t { copy, end_aligned, masked };

/// 64 bytes, aligned for any vector load: a 128-bit row repeated four times, so that 128-, 256-
/// and 512-bit code load the same table.
struct alignas(64) byte_row {
  std::array<std::uint8_t, 64> bytes{};
};

/// A byte class as two 16-entry tables for the nibble lookup: byte b is in the class when
/// rows[b & 15] has bit (b >> 4) set. Bytes >= 0x80 are in it only if `high_bytes`.
struct nibble_tables {
  byte_row rows;
  byte_row bits;
  bool high_bytes = false;
};

constexpr byte_row splat(std::uint8_t value) {
  byte_row row;
  for (std::uint8_t& b : row.bytes) b = value;
  return row;
}

constexpr nibble_tables make_tables(char_class cls) {
  nibble_tables t;
  for (std::size_t b = 0; b < 128; ++b) {
    if ((char_table[b] & cls) != 0)
      t.rows.bytes[b & 15] |= static_cast<std::uint8_t>(1u << (b >> 4));
  }
  for (std::size_t hi = 0; hi < 8; ++hi) t.bits.bytes[hi] = static_cast<std::uint8_t>(1u << hi);
  for (std::size_t k = 16; k < 64; ++k) {
    t.rows.bytes[k] = t.rows.bytes[k % 16];
    t.bits.bytes[k] = t.bits.bytes[k % 16];
  }
  t.high_bytes = (char_table[0x80] & cls) != 0;
  return t;
}

// Internal linkage: each file's code addresses its own copy directly (RIP-relative), where a
// shared one would cost an address computation before every load in position-independent code.
namespace {

constexpr nibble_tables field_tables = make_tables(field_char);
constexpr nibble_tables token_tables = make_tables(tchar);
constexpr nibble_tables target_tables = make_tables(path_char);
constexpr nibble_tables host_tables = make_tables(host_char);

// Constants as memory: each vector type loads what it needs (see vec256::constant for why).
constexpr byte_row low_nibble = splat(0x0f);
constexpr byte_row last_control = splat(0x1f);
constexpr byte_row del = splat(0x7f);

}  // namespace

}  // namespace taut::detail::simd
