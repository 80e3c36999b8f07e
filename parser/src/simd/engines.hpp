// The scan_ops table of each instruction set, one source file each, for the dispatch in scan.cpp.
// Only the files CMake compiles for this target are declared (TAUT_SIMD_SWAR, TAUT_SIMD_X86).
#pragma once

#include "scan.hpp"

namespace taut::detail::simd {

/// The scalar path: the generic line loop alone, the reference every other path is tested against.
extern const scan_ops scalar_ops;
#ifdef TAUT_SIMD_SWAR
/// swar.cpp: the vector paths' fast head loop in plain C++, for CPUs without one of those.
extern const scan_ops swar_ops;
#endif

#ifdef TAUT_SIMD_X86
extern const scan_ops sse42_ops;   // sse42.cpp: SSSE3 and SSE4.2
extern const scan_ops avx2_ops;    // avx2.cpp: AVX2, BMI1, BMI2
extern const scan_ops avx512_ops;  // avx512.cpp: AVX-512F and BW, BMI1, BMI2
#endif

}  // namespace taut::detail::simd
