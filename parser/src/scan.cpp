#include "scan.hpp"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "taut/http_chars.hpp"
#include "taut/simd.hpp"

#if !defined(TAUT_SCALAR_ONLY) && (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__GNUC__) || defined(__clang__))
#define TAUT_HAVE_X86_SIMD 1
#include <immintrin.h>
#endif

namespace taut::detail {

namespace {

template <char_class Class>
std::size_t skip_scalar(const char* data, std::size_t i, std::size_t end) noexcept {
  return skip_class(data, i, end, Class);
}

#ifdef TAUT_HAVE_X86_SIMD

/// A byte class as two 16-entry tables for the nibble lookup: byte b is in the class when
/// rows[b & 15] has bit (b >> 4) set. Bytes >= 0x80 are in it only if `high_bytes`.
struct nibble_tables {
  alignas(16) std::array<std::uint8_t, 16> rows{};
  alignas(16) std::array<std::uint8_t, 16> bits{};
  // The same, once per 128-bit lane of a 512-bit vector.
  alignas(64) std::array<std::uint8_t, 64> rows64{};
  alignas(64) std::array<std::uint8_t, 64> bits64{};
  bool high_bytes = false;
};

constexpr nibble_tables make_tables(char_class cls) {
  nibble_tables t;
  for (int b = 0; b < 128; ++b) {
    if ((char_table[b] & cls) != 0) t.rows[b & 15] |= static_cast<std::uint8_t>(1u << (b >> 4));
  }
  for (int hi = 0; hi < 8; ++hi) t.bits[hi] = static_cast<std::uint8_t>(1u << hi);
  t.high_bytes = (char_table[0x80] & cls) != 0;
  for (std::size_t k = 0; k < 64; ++k) {
    t.rows64[k] = t.rows[k % 16];
    t.bits64[k] = t.bits[k % 16];
  }
  return t;
}

constexpr nibble_tables field_tables = make_tables(field_char);
constexpr nibble_tables token_tables = make_tables(tchar);
constexpr nibble_tables target_tables = make_tables(path_char);

// The vector steps, written once and compiled for each target: `out` gets a mask of the bytes
// outside the class. Macros rather than functions or lambdas, which cannot take their caller's
// target.
#define TAUT_OUTSIDE16(T, p, out)                                                                \
  do {                                                                                           \
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));                      \
    const __m128i row = _mm_shuffle_epi8(rows16, _mm_and_si128(v, nibble16));                    \
    const __m128i bit = _mm_shuffle_epi8(bits16, _mm_and_si128(_mm_srli_epi16(v, 4), nibble16)); \
    __m128i outside = _mm_cmpeq_epi8(_mm_and_si128(row, bit), zero16);                           \
    if constexpr (T.high_bytes) outside = _mm_andnot_si128(_mm_cmplt_epi8(v, zero16), outside);  \
    out = static_cast<unsigned>(_mm_movemask_epi8(outside));                                     \
  } while (false)

#define TAUT_OUTSIDE32(T, p, out)                                                         \
  do {                                                                                    \
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));            \
    const __m256i row = _mm256_shuffle_epi8(rows32, _mm256_and_si256(v, nibble32));       \
    const __m256i bit =                                                                   \
        _mm256_shuffle_epi8(bits32, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble32)); \
    __m256i outside = _mm256_cmpeq_epi8(_mm256_and_si256(row, bit), zero32);              \
    if constexpr (T.high_bytes) {                                                         \
      outside = _mm256_andnot_si256(_mm256_cmpgt_epi8(zero32, v), outside);               \
    }                                                                                     \
    out = static_cast<unsigned>(_mm256_movemask_epi8(outside));                           \
  } while (false)

#define TAUT_SETUP16(T)                                                                   \
  const __m128i rows16 = _mm_load_si128(reinterpret_cast<const __m128i*>(T.rows.data())); \
  const __m128i bits16 = _mm_load_si128(reinterpret_cast<const __m128i*>(T.bits.data())); \
  const __m128i nibble16 = _mm_set1_epi8(0x0f);                                           \
  const __m128i zero16 = _mm_setzero_si128()

// Whole vectors, then one last vector that overlaps what was already checked, so the tail needs
// no byte loop and nothing is read past `end`.
#define TAUT_SKIP(W, OUTSIDE, T)                                                \
  do {                                                                          \
    unsigned mask = 0;                                                          \
    for (; i + (W) <= end; i += (W)) {                                          \
      OUTSIDE(T, data + i, mask);                                               \
      if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(mask));  \
    }                                                                           \
    if (i == end) return end;                                                   \
    OUTSIDE(T, data + end - (W), mask);                                         \
    mask >>= (W) - (end - i);                                                   \
    return mask != 0 ? i + static_cast<std::size_t>(__builtin_ctz(mask)) : end; \
  } while (false)

template <const nibble_tables& T, char_class Class>
__attribute__((target("sse4.2"))) std::size_t skip_sse42(const char* data, std::size_t i,
                                                         std::size_t end) noexcept {
  if (end - i < 16) return skip_scalar<Class>(data, i, end);
  TAUT_SETUP16(T);
  TAUT_SKIP(16, TAUT_OUTSIDE16, T);
}

template <const nibble_tables& T, char_class Class>
__attribute__((target("avx2"))) std::size_t skip_avx2(const char* data, std::size_t i,
                                                      std::size_t end) noexcept {
  if (end - i < 16) return skip_scalar<Class>(data, i, end);
  TAUT_SETUP16(T);
  if (end - i < 32) TAUT_SKIP(16, TAUT_OUTSIDE16, T);
  const __m256i rows32 = _mm256_broadcastsi128_si256(rows16);
  const __m256i bits32 = _mm256_broadcastsi128_si256(bits16);
  const __m256i nibble32 = _mm256_set1_epi8(0x0f);
  const __m256i zero32 = _mm256_setzero_si256();
  TAUT_SKIP(32, TAUT_OUTSIDE32, T);
}

// Lines are mostly shorter than 64 bytes: those take the AVX2 code, which this target includes.
template <const nibble_tables& T, char_class Class>
__attribute__((target("avx512f,avx512bw"))) std::size_t skip_avx512(const char* data, std::size_t i,
                                                                    std::size_t end) noexcept {
  if (end - i < 64) return skip_avx2<T, Class>(data, i, end);
  // Tables stored four times over: GCC 12's broadcast intrinsics trip -Wmaybe-uninitialized.
  const __m512i rows = _mm512_loadu_si512(T.rows64.data());
  const __m512i bits = _mm512_loadu_si512(T.bits64.data());
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  auto outside64 = [&](const char* p) __attribute__((target("avx512f,avx512bw"))) {
    const __m512i v = _mm512_loadu_si512(p);
    const __m512i row = _mm512_shuffle_epi8(rows, _mm512_and_si512(v, nibble));
    const __m512i bit =
        _mm512_shuffle_epi8(bits, _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble));
    __mmask64 outside = _mm512_testn_epi8_mask(row, bit);
    if constexpr (T.high_bytes) outside &= ~_mm512_movepi8_mask(v);
    return static_cast<std::uint64_t>(outside);
  };
  for (; i + 64 <= end; i += 64) {
    if (const std::uint64_t mask = outside64(data + i); mask != 0) {
      return i + static_cast<std::size_t>(__builtin_ctzll(mask));
    }
  }
  if (i == end) return end;
  const std::uint64_t mask = outside64(data + end - 64) >> (64 - (end - i));
  return mask != 0 ? i + static_cast<std::size_t>(__builtin_ctzll(mask)) : end;
}

#undef TAUT_SKIP
#undef TAUT_SETUP16
#undef TAUT_OUTSIDE32
#undef TAUT_OUTSIDE16

/// Vector constants as memory, not set1(): the compiler folds a load into the instruction that
/// uses it, where it rebuilt each broadcast once per block.
struct byte_splats {
  alignas(64) std::array<std::uint8_t, 64> low_nibble{};
  alignas(64) std::array<std::uint8_t, 64> last_control{};
  alignas(64) std::array<std::uint8_t, 64> del{};
};

constexpr byte_splats make_splats() {
  byte_splats s;
  for (std::size_t k = 0; k < 64; ++k) {
    s.low_nibble[k] = 0x0f;
    s.last_control[k] = 0x1f;
    s.del[k] = 0x7f;
  }
  return s;
}

constexpr byte_splats splats = make_splats();

/// Which bytes of a block end a field name (outside tchar) or a field value (a control, HTAB
/// included, or DEL).
struct block_masks {
  std::uint64_t non_token = 0;
  std::uint64_t non_field = 0;
  std::uint64_t non_path = 0;  // outside path_char (the request target), when asked for
};

constexpr std::uint64_t all_bits = ~std::uint64_t{0};

// A value ends at the first control or DEL (RFC 9110 section 5.5): two compares instead of a
// table lookup. HTAB is a control here, though a value may hold it: a line with one is rare, and
// the fast loop leaves it to the generic loop. Tokens need the nibble lookup.
#define TAUT_ENGINE_TARGET __attribute__((target("sse4.2")))
namespace sse42_engine {

TAUT_ENGINE_TARGET inline std::uint64_t non_field16(__m128i v) noexcept {
  const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(control, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)))));
}

TAUT_ENGINE_TARGET inline std::uint64_t outside16(__m128i v, __m128i rows, __m128i bits) noexcept {
  const __m128i nibble = _mm_set1_epi8(0x0f);
  const __m128i row = _mm_shuffle_epi8(rows, _mm_and_si128(v, nibble));
  const __m128i bit = _mm_shuffle_epi8(bits, _mm_and_si128(_mm_srli_epi16(v, 4), nibble));
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(row, bit), _mm_setzero_si128())));
}

template <bool WithPath>
TAUT_ENGINE_TARGET inline block_masks block_at(const char* p) noexcept {
  const __m128i rows = _mm_load_si128(reinterpret_cast<const __m128i*>(token_tables.rows.data()));
  const __m128i bits = _mm_load_si128(reinterpret_cast<const __m128i*>(token_tables.bits.data()));
  const __m128i path_rows =
      _mm_load_si128(reinterpret_cast<const __m128i*>(target_tables.rows.data()));
  const __m128i path_bits =
      _mm_load_si128(reinterpret_cast<const __m128i*>(target_tables.bits.data()));
  block_masks m;
  for (unsigned k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    m.non_token |= outside16(v, rows, bits) << (16 * k);
    m.non_field |= non_field16(v) << (16 * k);
    if constexpr (WithPath) m.non_path |= outside16(v, path_rows, path_bits) << (16 * k);
  }
  return m;
}

template <bool WithPath>
TAUT_ENGINE_TARGET block_masks copied_block(const char* data, std::size_t at,
                                            std::size_t size) noexcept;

template <bool WithPath>
TAUT_ENGINE_TARGET inline block_masks short_block(const char* data, std::size_t at,
                                                  std::size_t size) noexcept {
  return copied_block<WithPath>(data, at, size);
}

#include "fast_fields.inc"
}  // namespace sse42_engine
#undef TAUT_ENGINE_TARGET

#define TAUT_ENGINE_TARGET __attribute__((target("avx2,bmi,bmi2")))
namespace avx2_engine {

TAUT_ENGINE_TARGET inline __m256i splat32(const std::array<std::uint8_t, 64>& bytes) noexcept {
  // Through asm: GCC sees a constant splat in a plain load and rebuilds it from an immediate
  // (two or three instructions) at every use instead of loading it once.
  __m256i v;
  asm("vmovdqa %1, %0" : "=x"(v) : "m"(*reinterpret_cast<const __m256i*>(bytes.data())));
  return v;
}

TAUT_ENGINE_TARGET inline std::uint64_t non_field32(__m256i v) noexcept {
  const __m256i control = _mm256_cmpeq_epi8(_mm256_min_epu8(v, splat32(splats.last_control)), v);
  return static_cast<unsigned>(
      _mm256_movemask_epi8(_mm256_or_si256(control, _mm256_cmpeq_epi8(v, splat32(splats.del)))));
}

TAUT_ENGINE_TARGET inline std::uint64_t outside32(__m256i v, const nibble_tables& t) noexcept {
  const __m256i nibble = splat32(splats.low_nibble);
  const __m256i row = _mm256_shuffle_epi8(splat32(t.rows64), _mm256_and_si256(v, nibble));
  const __m256i bit =
      _mm256_shuffle_epi8(splat32(t.bits64), _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
  return static_cast<unsigned>(
      _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_and_si256(row, bit), _mm256_setzero_si256())));
}

/// The masks of the 32 bytes of v, in the low half.
template <bool WithPath>
TAUT_ENGINE_TARGET inline block_masks masks32(__m256i v) noexcept {
  block_masks m{outside32(v, token_tables), non_field32(v)};
  if constexpr (WithPath) m.non_path = outside32(v, target_tables);
  return m;
}

TAUT_ENGINE_TARGET inline __m256i load32(const char* p) noexcept {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

TAUT_ENGINE_TARGET inline block_masks join(block_masks low, block_masks high) noexcept {
  return {low.non_token | (high.non_token << 32), low.non_field | (high.non_field << 32),
          low.non_path | (high.non_path << 32)};
}

TAUT_ENGINE_TARGET inline block_masks shifted(block_masks m, unsigned shift) noexcept {
  return {m.non_token >> shift, m.non_field >> shift, m.non_path >> shift};
}

template <bool WithPath>
TAUT_ENGINE_TARGET inline block_masks block_at(const char* p) noexcept {
  return join(masks32<WithPath>(load32(p)), masks32<WithPath>(load32(p + 32)));
}

template <bool WithPath>
TAUT_ENGINE_TARGET block_masks copied_block(const char* data, std::size_t at,
                                            std::size_t size) noexcept;

/// Fewer than 64 bytes from `at`: 32-byte loads that end at `size` (shifted into place) rather
/// than a copy, unless the whole input is shorter than 32 bytes.
template <bool WithPath>
TAUT_ENGINE_TARGET inline block_masks short_block(const char* data, std::size_t at,
                                                  std::size_t size) noexcept {
  const std::size_t available = size - at;
  if (size < 32) return copied_block<WithPath>(data, at, size);
  // The input's last 32 bytes hold the bytes from at + 32 (when available >= 32) or from at.
  const block_masks last = shifted(masks32<WithPath>(load32(data + size - 32)),
                                   static_cast<unsigned>(32 - available % 32));
  if (available >= 32) return join(masks32<WithPath>(load32(data + at)), last);
  return last;
}

#include "fast_fields.inc"
}  // namespace avx2_engine
#undef TAUT_ENGINE_TARGET

#define TAUT_ENGINE_TARGET __attribute__((target("avx512f,avx512bw,bmi,bmi2")))
namespace avx512_engine {

TAUT_ENGINE_TARGET inline __m512i splat64(const std::array<std::uint8_t, 64>& bytes) noexcept {
  __m512i v;  // through asm, as splat32 in the AVX2 engine
  asm("vmovdqa64 %1, %0" : "=v"(v) : "m"(*reinterpret_cast<const __m512i*>(bytes.data())));
  return v;
}

TAUT_ENGINE_TARGET inline std::uint64_t outside64(__m512i v, const nibble_tables& t) noexcept {
  const __m512i nibble = splat64(splats.low_nibble);
  const __m512i row = _mm512_shuffle_epi8(splat64(t.rows64), _mm512_and_si512(v, nibble));
  const __m512i bit =
      _mm512_shuffle_epi8(splat64(t.bits64), _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble));
  return _mm512_testn_epi8_mask(row, bit);
}

template <bool WithPath>
TAUT_ENGINE_TARGET inline block_masks masks_of(__m512i v) noexcept {
  const __mmask64 control = _mm512_cmple_epu8_mask(v, splat64(splats.last_control));
  block_masks m{outside64(v, token_tables),
                control | _mm512_cmpeq_epi8_mask(v, splat64(splats.del))};
  if constexpr (WithPath) m.non_path = outside64(v, target_tables);
  return m;
}

template <bool WithPath>
TAUT_ENGINE_TARGET inline block_masks block_at(const char* p) noexcept {
  return masks_of<WithPath>(_mm512_loadu_si512(p));
}

/// Masked loads read exactly the bytes that exist.
template <bool WithPath>
TAUT_ENGINE_TARGET inline block_masks short_block(const char* data, std::size_t at,
                                                  std::size_t size) noexcept {
  const __mmask64 present = ~(all_bits << (size - at));
  return masks_of<WithPath>(_mm512_maskz_loadu_epi8(present, data + at));
}

#include "fast_fields.inc"
}  // namespace avx512_engine
#undef TAUT_ENGINE_TARGET

constexpr scan_ops sse42_ops{skip_sse42<field_tables, field_char>, skip_sse42<token_tables, tchar>,
                             skip_sse42<target_tables, path_char>, sse42_engine::fast_fields,
                             sse42_engine::fast_request_line};
constexpr scan_ops avx2_ops{skip_avx2<field_tables, field_char>, skip_avx2<token_tables, tchar>,
                            skip_avx2<target_tables, path_char>, avx2_engine::fast_fields,
                            avx2_engine::fast_request_line};
constexpr scan_ops avx512_ops{skip_avx512<field_tables, field_char>,
                              skip_avx512<token_tables, tchar>,
                              skip_avx512<target_tables, path_char>, avx512_engine::fast_fields,
                              avx512_engine::fast_request_line};
#endif

constexpr scan_ops scalar_ops{skip_scalar<field_char>, skip_scalar<tchar>, skip_scalar<path_char>,
                              nullptr, nullptr};

const scan_ops* ops_for(simd_path path) noexcept {
  switch (path) {
    case simd_path::scalar:
      return &scalar_ops;
#ifdef TAUT_HAVE_X86_SIMD
    case simd_path::sse42:
      return &sse42_ops;
    case simd_path::avx2:
      return &avx2_ops;
    case simd_path::avx512:
      return &avx512_ops;
#else
    default:
      break;
#endif
  }
  return nullptr;
}

bool cpu_has(simd_path path) noexcept {
  switch (path) {
    case simd_path::scalar:
      return true;
#ifdef TAUT_HAVE_X86_SIMD
    case simd_path::sse42:
      return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("ssse3");
    case simd_path::avx2:
      return __builtin_cpu_supports("avx2");
    case simd_path::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#else
    default:
      break;
#endif
  }
  return false;
}

}  // namespace

std::atomic<const scan_ops*> active_scan{nullptr};

constexpr std::array all_paths{simd_path::scalar, simd_path::sse42, simd_path::avx2,
                               simd_path::avx512};

const scan_ops* choose_scan() noexcept {
  simd_path path = simd_path::scalar;
  // The automatic choice stops at AVX2: most lines are shorter than 64 bytes (the AVX-512 path
  // hands those to the AVX2 code anyway), and 512-bit code lowers the clock on some CPUs.
  for (const simd_path candidate : {simd_path::sse42, simd_path::avx2}) {
    if (simd_supported(candidate)) path = candidate;
  }
  if (const char* forced = std::getenv("TAUT_SIMD"); forced != nullptr) {
    for (const simd_path candidate : all_paths) {
      if (to_string(candidate) == forced && simd_supported(candidate)) path = candidate;
    }
  }
  const scan_ops* ops = ops_for(path);
  active_scan.store(ops, std::memory_order_relaxed);
  return ops;
}

}  // namespace taut::detail

namespace taut {

std::string_view to_string(simd_path path) noexcept {
  switch (path) {
    case simd_path::scalar:
      return "scalar";
    case simd_path::sse42:
      return "sse42";
    case simd_path::avx2:
      return "avx2";
    case simd_path::avx512:
      return "avx512";
  }
  return "unknown";
}

bool simd_supported(simd_path path) noexcept {
  return detail::ops_for(path) != nullptr && detail::cpu_has(path);
}

std::span<const simd_path> supported_simd_paths() noexcept {
  static const auto paths = [] {
    struct list {
      std::array<simd_path, detail::all_paths.size()> items{};
      std::size_t size = 0;
    } l;
    for (const simd_path p : detail::all_paths) {
      if (simd_supported(p)) l.items[l.size++] = p;
    }
    return l;
  }();
  return {paths.items.data(), paths.size};
}

simd_path active_simd_path() noexcept {
  const detail::scan_ops* ops = &detail::scan();
  for (const simd_path p : detail::all_paths) {
    if (detail::ops_for(p) == ops) return p;
  }
  return simd_path::scalar;
}

bool set_simd_path(simd_path path) noexcept {
  if (!simd_supported(path)) return false;
  detail::active_scan.store(detail::ops_for(path), std::memory_order_relaxed);
  return true;
}

}  // namespace taut
