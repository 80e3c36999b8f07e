// The AVX-512 path: compiled with -mavx512f -mavx512bw -mbmi -mbmi2, and run only when the CPU has
// them (and when asked for: see choose_scan). A block is one 64-byte vector; the skips take
// the AVX2 code on ranges shorter than 64 bytes, as most lines are.
#include "simd/engine.hpp"
#include "simd/engines.hpp"
#include "simd/x86_vectors.hpp"

#if !defined(__AVX512BW__) || !defined(__BMI2__)
#error "avx512.cpp needs -mavx512f -mavx512bw -mbmi -mbmi2 (parser/CMakeLists.txt)"
#endif

namespace taut::detail::simd {

constinit const scan_ops avx512_ops = make_scan_ops<vec512, vec512, vec256, vec128>();

}  // namespace taut::detail::simd
