// The code paths of taut's parser that taut-bench measures one by one (scalar, SSE4.2, AVX2, ...).
#pragma once

#include <string>
#include <vector>

namespace taut_bench {

/// A code path of the parser: its name in benchmark names ("avx2") and how to make it the active
/// one. `activate` returns false when this CPU or build cannot run it.
struct code_path {
  std::string name;
  bool (*activate)();
};

/// The paths this build and CPU can run, in the order they are benchmarked. Adding a path is one
/// entry here; every taut benchmark is then registered once per path.
std::vector<code_path> available_paths();

}  // namespace taut_bench
