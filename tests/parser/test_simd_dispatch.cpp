// The run-time choice of the vector path: TAUT_SIMD selects it, set_simd_path() switches it, and an
// unsupported path is refused rather than pretended.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "taut/simd.hpp"

namespace {

using taut::simd_path;

TEST(SimdDispatch, EnvironmentChoosesTheActivePath) {
  const char* requested = std::getenv("TAUT_SIMD");
  if (requested == nullptr) GTEST_SKIP() << "TAUT_SIMD not set";
  for (const simd_path path :
       {simd_path::scalar, simd_path::swar, simd_path::sse42, simd_path::avx2, simd_path::avx512}) {
    if (taut::to_string(path) != requested) continue;
    if (!taut::simd_supported(path)) GTEST_SKIP() << requested << " is not supported here";
    EXPECT_EQ(taut::active_simd_path(), path);
    return;
  }
  FAIL() << "unknown TAUT_SIMD value " << requested;
}

TEST(SimdDispatch, ScalarIsAlwaysSupportedAndListedFirst) {
  ASSERT_FALSE(taut::supported_simd_paths().empty());
  EXPECT_EQ(taut::supported_simd_paths().front(), simd_path::scalar);
  EXPECT_TRUE(taut::simd_supported(simd_path::scalar));
}

TEST(SimdDispatch, SwitchingFollowsSupport) {
  const simd_path original = taut::active_simd_path();
  for (const simd_path path :
       {simd_path::scalar, simd_path::swar, simd_path::sse42, simd_path::avx2, simd_path::avx512}) {
    const bool supported = taut::simd_supported(path);
    EXPECT_EQ(taut::set_simd_path(path), supported) << taut::to_string(path);
    if (supported) {
      EXPECT_EQ(taut::active_simd_path(), path);
    } else {
      EXPECT_NE(taut::active_simd_path(), path);
    }
  }
  EXPECT_TRUE(taut::set_simd_path(original));
}

TEST(SimdDispatch, PathNames) {
  EXPECT_EQ(taut::to_string(simd_path::scalar), "scalar");
  EXPECT_EQ(taut::to_string(simd_path::sse42), "sse42");
  EXPECT_EQ(taut::to_string(simd_path::avx2), "avx2");
  EXPECT_EQ(taut::to_string(simd_path::avx512), "avx512");
  EXPECT_EQ(taut::to_string(simd_path::swar), "swar");
}

TEST(SimdDispatch, SwarRunsOnEveryLittleEndianCpu) {
  if constexpr (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) GTEST_SKIP() << "big-endian: no swar";
  // Plain C++: what a CPU without a vector path here (ARM) gets by default, and always listed.
  EXPECT_TRUE(taut::simd_supported(simd_path::swar));
  const auto paths = taut::supported_simd_paths();
  EXPECT_NE(std::find(paths.begin(), paths.end(), simd_path::swar), paths.end());
}

}  // namespace
