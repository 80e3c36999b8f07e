// The AVX2 path: compiled with -mavx2 -mbmi -mbmi2. The head loop reads a block as two 32-byte
// vectors; the skips use 32 bytes, or 16 on a range shorter than 32.
#include "simd/engine.hpp"
#include "simd/engines.hpp"
#include "simd/x86_vectors.hpp"

#if !defined(__AVX2__) || !defined(__BMI2__)
#error "avx2.cpp needs -mavx2 -mbmi -mbmi2 (parser/CMakeLists.txt)"
#endif

namespace taut::detail::simd {

constinit const scan_ops avx2_ops = make_scan_ops<vec256, vec256, vec128>();

}  // namespace taut::detail::simd
