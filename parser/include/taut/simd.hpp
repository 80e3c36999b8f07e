// Which vectorized code path the parser scans with. Chosen once from CPUID (the best one the CPU
// has), overridable by the environment variable TAUT_SIMD=scalar|swar|sse42|avx2|avx512, or by
// set_simd_path() for tests and benchmarks. Every path gives byte-for-byte identical results.
#pragma once

#include "taut/detail/require_cxx20.hpp"  // first: one clear error before C++20

#include <cstdint>
#include <span>
#include <string_view>

namespace taut {

/// avx512 needs AVX-512F and AVX-512BW and is used only when asked for (TAUT_SIMD or
/// set_simd_path): the automatic choice stops at avx2, which is as fast on the benchmark's heads
/// and does not lower the clock on CPUs where 512-bit code does. scalar is the reference: the
/// generic line loop alone, which every other path is tested against. swar runs the vector paths'
/// one-pass head loop in plain 64-bit code (field values 8 bytes a step), on any CPU: the
/// automatic choice where no vector path is compiled in (anything but x86-64 today; built with GCC
/// or Clang for a little-endian CPU).
enum class simd_path : std::uint8_t { scalar, sse42, avx2, avx512, swar };

/// "scalar", "sse42", "avx2", "avx512" or "swar".
[[nodiscard]] std::string_view to_string(simd_path path) noexcept;
/// True when the path is compiled in (see TAUT_SCALAR_ONLY) and this CPU can run it.
[[nodiscard]] bool simd_supported(simd_path path) noexcept;
/// Every supported path, scalar first.
[[nodiscard]] std::span<const simd_path> supported_simd_paths() noexcept;
/// The path parsers use now.
[[nodiscard]] simd_path active_simd_path() noexcept;
/// Switches the path for the whole process; false (and no change) when unsupported. Do not call
/// while another thread is parsing.
bool set_simd_path(simd_path path) noexcept;

}  // namespace taut
