// The code paths of taut's parser that taut-bench measures one by one (scalar, SSE4.2, AVX2, ...).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace taut_bench {

/// A code path of the parser: its name in benchmark names ("avx2") and how to make it the active
/// one. `activate` returns false when this CPU or build cannot run it.
struct code_path {
  std::string name;
  std::function<bool()> activate;
  /// The path the parser chose on its own at start-up (CPUID, or TAUT_SIMD): the one users get.
  bool is_default = false;
};

/// The paths this build and CPU can run, in the order they are benchmarked. Every strict taut
/// benchmark is registered once per path; the lenient ones on the default path only.
std::vector<code_path> available_paths();

}  // namespace taut_bench
