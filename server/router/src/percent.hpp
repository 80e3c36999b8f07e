// Percent-escape primitives shared by path.cpp and router.cpp (private to taut::server).
#pragma once

#include <cstddef>
#include <string_view>

#include "taut/http_chars.hpp"

namespace taut::detail {

/// The byte an escape at text[i] ('%' followed by two hex digits, already validated) stands for.
[[nodiscard]] inline unsigned char escaped_byte(std::string_view text, std::size_t i) noexcept {
  return static_cast<unsigned char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
}

/// Length of `raw` once its (valid) escapes are decoded.
[[nodiscard]] inline std::size_t decoded_size(std::string_view raw) noexcept {
  std::size_t escapes = 0;
  for (char c : raw) escapes += (c == '%') ? 1 : 0;
  return raw.size() - 2 * escapes;
}

/// Three-way comparison of decode(raw) with `plain` as unsigned bytes, without materializing the
/// decoded text. `raw` must have valid escapes.
[[nodiscard]] inline int compare_decoded(std::string_view raw, std::string_view plain) noexcept {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < raw.size() && j < plain.size()) {
    unsigned char c;
    if (raw[i] == '%') {
      c = escaped_byte(raw, i);
      i += 3;
    } else {
      c = static_cast<unsigned char>(raw[i]);
      ++i;
    }
    const auto d = static_cast<unsigned char>(plain[j++]);
    if (c != d) return c < d ? -1 : 1;
  }
  if (i < raw.size()) return 1;
  if (j < plain.size()) return -1;
  return 0;
}

}  // namespace taut::detail
