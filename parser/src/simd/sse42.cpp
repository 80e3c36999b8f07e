// The SSE4.2 path (the shuffle is SSSE3): compiled with -msse4.2, 16-byte vectors throughout.
#include "simd/engine.hpp"
#include "simd/engines.hpp"
#include "simd/x86_vectors.hpp"

#if !defined(__SSE4_2__)
#error "sse42.cpp needs -msse4.2 (parser/CMakeLists.txt)"
#endif

namespace taut::detail::simd {

constinit const scan_ops sse42_ops = make_scan_ops<vec128, vec128>();

}  // namespace taut::detail::simd
