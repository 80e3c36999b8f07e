#include "paths.hpp"

#include "taut/simd.hpp"

namespace taut_bench {

std::vector<code_path> available_paths() {
  const taut::simd_path chosen = taut::active_simd_path();
  std::vector<code_path> paths;
  for (const taut::simd_path path : taut::supported_simd_paths()) {
    paths.push_back({std::string(taut::to_string(path)),
                     [path] { return taut::set_simd_path(path); }, path == chosen});
  }
  return paths;
}

}  // namespace taut_bench
