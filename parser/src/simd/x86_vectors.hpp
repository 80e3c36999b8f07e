// The x86 vector wrappers: the few operations the byte-class code needs (load, nibble lookup,
// compare, a bit a byte), once per register width. engine.hpp is written against them; an
// instruction set's source file (sse42.cpp, avx2.cpp, avx512.cpp) includes this header compiled
// with its own flags, and gets the widths those flags allow.
//
// Everything here has internal linkage on purpose: the same wrapper compiled with -msse4.2 in one
// file and -mavx2 in another is different code, and the linker must not keep one file's copy for
// the other's callers (which would run AVX2 instructions on the SSE4.2 path).
//
// The interface every wrapper `V` has (a NEON one would have the same):
//   V::width                     bytes in the vector, 16, 32 or 64
//   V::tail                      how engine.hpp reads a block that ends past the input (tail_read)
//   V::flags                     one flag a byte: `|`, and_not(), bits() (bit k for byte k)
//   V::load(p)                   `width` bytes from p, unaligned
//   V::load_first(p, n)          only with tail_read::masked: the first n bytes, zeros after
//   V::constant(row)             the first `width` bytes of a byte_row
//   v & w, v.shift_right_4()     bitwise and; each 16-bit lane shifted right by 4
//   table.lookup16(index)        table[index & 15] in each 128-bit lane (index bytes < 0x80)
//   v.disjoint(w)                flags where (v & w) == 0
//   v.at_most(w), v.equals(w)    flags where v <= w (unsigned), v == w
//   v.high_bit()                 flags where the byte is >= 0x80
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "simd/tables.hpp"

namespace taut::detail::simd {

namespace {

#if defined(__SSSE3__)
/// 128 bits: SSSE3 for the byte shuffle (the SSE4.2 path; VEX-encoded in AVX files).
struct vec128 {
  static constexpr std::size_t width = 16;
  static constexpr tail_read tail = tail_read::copy;

  struct flags {
    __m128i raw;
    flags operator|(flags other) const noexcept { return {_mm_or_si128(raw, other.raw)}; }
    flags and_not(flags other) const noexcept { return {_mm_andnot_si128(other.raw, raw)}; }
    std::uint64_t bits() const noexcept { return static_cast<unsigned>(_mm_movemask_epi8(raw)); }
  };

  __m128i raw;

  static vec128 load(const char* p) noexcept {
    return {_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))};
  }
  static vec128 constant(const byte_row& row) noexcept {
    return {_mm_load_si128(reinterpret_cast<const __m128i*>(row.bytes.data()))};
  }
  vec128 operator&(vec128 other) const noexcept { return {_mm_and_si128(raw, other.raw)}; }
  vec128 shift_right_4() const noexcept { return {_mm_srli_epi16(raw, 4)}; }
  vec128 lookup16(vec128 index) const noexcept { return {_mm_shuffle_epi8(raw, index.raw)}; }
  flags disjoint(vec128 other) const noexcept {
    return {_mm_cmpeq_epi8(_mm_and_si128(raw, other.raw), _mm_setzero_si128())};
  }
  flags at_most(vec128 bound) const noexcept {
    return {_mm_cmpeq_epi8(_mm_min_epu8(raw, bound.raw), raw)};
  }
  flags equals(vec128 other) const noexcept { return {_mm_cmpeq_epi8(raw, other.raw)}; }
  flags high_bit() const noexcept { return {_mm_cmplt_epi8(raw, _mm_setzero_si128())}; }
};
#endif

#if defined(__AVX2__)
/// 256 bits: AVX2.
struct vec256 {
  static constexpr std::size_t width = 32;
  static constexpr tail_read tail = tail_read::end_aligned;

  struct flags {
    __m256i raw;
    flags operator|(flags other) const noexcept { return {_mm256_or_si256(raw, other.raw)}; }
    flags and_not(flags other) const noexcept { return {_mm256_andnot_si256(other.raw, raw)}; }
    std::uint64_t bits() const noexcept { return static_cast<unsigned>(_mm256_movemask_epi8(raw)); }
  };

  __m256i raw;

  static vec256 load(const char* p) noexcept {
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))};
  }
  static vec256 constant(const byte_row& row) noexcept {
    // Through asm: GCC sees a constant splat in a plain load and rebuilds it from an immediate
    // (two or three instructions) at every use instead of loading it once.
    __m256i v;
    asm("vmovdqa %1, %0" : "=x"(v) : "m"(*reinterpret_cast<const __m256i*>(row.bytes.data())));
    return {v};
  }
  vec256 operator&(vec256 other) const noexcept { return {_mm256_and_si256(raw, other.raw)}; }
  vec256 shift_right_4() const noexcept { return {_mm256_srli_epi16(raw, 4)}; }
  vec256 lookup16(vec256 index) const noexcept { return {_mm256_shuffle_epi8(raw, index.raw)}; }
  flags disjoint(vec256 other) const noexcept {
    return {_mm256_cmpeq_epi8(_mm256_and_si256(raw, other.raw), _mm256_setzero_si256())};
  }
  flags at_most(vec256 bound) const noexcept {
    return {_mm256_cmpeq_epi8(_mm256_min_epu8(raw, bound.raw), raw)};
  }
  flags equals(vec256 other) const noexcept { return {_mm256_cmpeq_epi8(raw, other.raw)}; }
  flags high_bit() const noexcept { return {_mm256_cmpgt_epi8(_mm256_setzero_si256(), raw)}; }
};
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__)
/// 512 bits: AVX-512F and BW; the flags are a mask register.
struct vec512 {
  static constexpr std::size_t width = 64;
  static constexpr tail_read tail = tail_read::masked;

  struct flags {
    __mmask64 raw;
    flags operator|(flags other) const noexcept { return {raw | other.raw}; }
    flags and_not(flags other) const noexcept { return {raw & ~other.raw}; }
    std::uint64_t bits() const noexcept { return raw; }
  };

  __m512i raw;

  static vec512 load(const char* p) noexcept { return {_mm512_loadu_si512(p)}; }
  /// Masked loads read exactly the bytes that exist.
  static vec512 load_first(const char* p, std::size_t n) noexcept {
    return {_mm512_maskz_loadu_epi8(~(~std::uint64_t{0} << n), p)};
  }
  static vec512 constant(const byte_row& row) noexcept {
    __m512i v;  // through asm, as vec256::constant
    asm("vmovdqa64 %1, %0" : "=v"(v) : "m"(*reinterpret_cast<const __m512i*>(row.bytes.data())));
    return {v};
  }
  vec512 operator&(vec512 other) const noexcept { return {_mm512_and_si512(raw, other.raw)}; }
  vec512 shift_right_4() const noexcept { return {_mm512_srli_epi16(raw, 4)}; }
  vec512 lookup16(vec512 index) const noexcept { return {_mm512_shuffle_epi8(raw, index.raw)}; }
  flags disjoint(vec512 other) const noexcept { return {_mm512_testn_epi8_mask(raw, other.raw)}; }
  flags at_most(vec512 bound) const noexcept { return {_mm512_cmple_epu8_mask(raw, bound.raw)}; }
  flags equals(vec512 other) const noexcept { return {_mm512_cmpeq_epi8_mask(raw, other.raw)}; }
  flags high_bit() const noexcept { return {_mm512_movepi8_mask(raw)}; }
};
#endif

}  // namespace

}  // namespace taut::detail::simd
