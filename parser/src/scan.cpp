// The run-time choice of a scan path: what the CPU has, what TAUT_SIMD or set_simd_path() ask
// for. Each path's code is in simd/ (one source per instruction set, compiled with its flags); this
// file is compiled without them, so nothing here runs an instruction the CPU may lack.
#include "scan.hpp"

#include <array>
#include <cstdlib>
#include <string_view>

#include "simd/engines.hpp"
#include "taut/http_chars.hpp"
#include "taut/simd.hpp"

namespace taut::detail {

namespace {

const scan_ops* ops_for(simd_path path) noexcept {
  switch (path) {
    case simd_path::scalar:
      return &simd::scalar_ops;
#ifdef TAUT_SIMD_SWAR
    case simd_path::swar:
      return &simd::swar_ops;
#endif
#ifdef TAUT_SIMD_X86
    case simd_path::sse42:
      return &simd::sse42_ops;
    case simd_path::avx2:
      return &simd::avx2_ops;
    case simd_path::avx512:
      return &simd::avx512_ops;
#endif
    default:  // a path not compiled for this target
      break;
  }
  return nullptr;
}

/// Every feature the path's source file is compiled for (parser/CMakeLists.txt): the compiler may
/// use any of them anywhere in that file.
bool cpu_has(simd_path path) noexcept {
  switch (path) {
    case simd_path::scalar:
    case simd_path::swar:
      return true;
#ifdef TAUT_SIMD_X86
    case simd_path::sse42:
      return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("ssse3");
    case simd_path::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
             __builtin_cpu_supports("bmi2");
    case simd_path::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
#else
    default:
      break;
#endif
  }
  return false;
}

}  // namespace

std::atomic<const scan_ops*> active_scan{nullptr};

constexpr std::array all_paths{simd_path::scalar, simd_path::swar, simd_path::sse42,
                               simd_path::avx2, simd_path::avx512};

const scan_ops* choose_scan() noexcept {
  simd_path path = simd_path::scalar;
  // The best path compiled in, swar where none is: the automatic choice stops at AVX2, as most
  // lines are shorter than 64 bytes (the AVX-512 path hands those to the AVX2 code anyway), and
  // 512-bit code lowers the clock on some CPUs.
  for (const simd_path candidate : {simd_path::swar, simd_path::sse42, simd_path::avx2}) {
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

std::size_t skip_token_run(const char* data, std::size_t i, std::size_t end) noexcept {
  return scan().skip_token(data, i, end);
}

std::size_t skip_field_value_run(const char* data, std::size_t i, std::size_t end) noexcept {
  return scan().skip_field(data, i, end);
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
    case simd_path::swar:
      return "swar";
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
