// The parser's hot loops: skip the bytes of a class, vectorized. They only skip bytes that are
// surely fine; every decision about the byte they stop at is made by the one scalar parser.
#pragma once

#include <atomic>
#include <cstddef>

namespace taut::detail {

/// Each returns the index of the first byte in [i, end) outside its class, or `end`.
struct scan_ops {
  std::size_t (*skip_field)(const char* data, std::size_t i,
                            std::size_t end) noexcept;  // field_char
  std::size_t (*skip_token)(const char* data, std::size_t i, std::size_t end) noexcept;  // tchar
  std::size_t (*skip_target)(const char* data, std::size_t i,
                             std::size_t end) noexcept;  // path_char
};

extern std::atomic<const scan_ops*> active_scan;
const scan_ops* choose_scan() noexcept;

[[nodiscard]] inline const scan_ops& scan() noexcept {
  const scan_ops* ops = active_scan.load(std::memory_order_relaxed);
  return ops != nullptr ? *ops : *choose_scan();
}

}  // namespace taut::detail
