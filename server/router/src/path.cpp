#include "taut/path.hpp"

#include <cstring>

#include "absolute_form.hpp"
#include "percent.hpp"
#include "taut/http_chars.hpp"

namespace taut {

target_parts split_target(std::string_view target) noexcept {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return {target, {}, false};
  return {target.substr(0, question), target.substr(question + 1), true};
}

std::optional<absolute_target> split_absolute_form(std::string_view target) noexcept {
  const auto parts = detail::split_absolute_form_target(target);
  if (!parts) return std::nullopt;
  return absolute_target{parts->scheme, parts->authority, parts->path_and_query};
}

bool valid_percent_escapes(std::string_view text) noexcept {
  for (std::size_t i = text.find('%'); i != std::string_view::npos; i = text.find('%', i + 3)) {
    if (i + 2 >= text.size() || detail::hex_value(text[i + 1]) < 0 ||
        detail::hex_value(text[i + 2]) < 0) {
      return false;
    }
  }
  return true;
}

std::optional<std::string_view> percent_decode(std::string_view text, std::span<char> out,
                                               bool plus_as_space) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (n == out.size()) return std::nullopt;
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size() || detail::hex_value(text[i + 1]) < 0 ||
          detail::hex_value(text[i + 2]) < 0) {
        return std::nullopt;
      }
      c = static_cast<char>(detail::escaped_byte(text, i));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      c = ' ';
    }
    out[n++] = c;
  }
  return std::string_view(out.data(), n);
}

dot_segment classify_segment(std::string_view raw) noexcept {
  // The longest spelling of a dot segment is "%2e%2e".
  if (raw.empty() || raw.size() > 6) return dot_segment::none;
  int dots = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '.') {
      ++dots;
    } else if (raw[i] == '%' && i + 2 < raw.size() && raw[i + 1] == '2' &&
               (raw[i + 2] == 'e' || raw[i + 2] == 'E')) {
      ++dots;
      i += 2;
    } else {
      return dot_segment::none;
    }
  }
  if (dots == 1) return dot_segment::dot;
  if (dots == 2) return dot_segment::dot_dot;
  return dot_segment::none;
}

bool is_clean_path(std::string_view path) noexcept {
  if (path.empty() || path[0] != '/') return false;
  std::size_t start = 1;
  while (true) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string_view::npos ? path.size() : slash;
    const auto segment = path.substr(start, end - start);
    if (segment.empty()) {
      // Only the segment after a trailing slash (or the root's) may be empty.
      if (slash != std::string_view::npos) return false;
    } else if (classify_segment(segment) != dot_segment::none) {
      return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

std::optional<std::string_view> clean_path(std::string_view path, std::span<char> out) noexcept {
  // `n` is the length of the cleaned prefix written so far; it has the shape "/a/b" (no trailing
  // slash), or is empty for the root.
  std::size_t n = 0;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    const auto segment = path.substr(start, slash - start);
    start = slash + 1;
    if (segment.empty()) continue;
    switch (classify_segment(segment)) {
      case dot_segment::dot:
        continue;
      case dot_segment::dot_dot:
        while (n > 0 && out[n - 1] != '/') --n;
        if (n > 0) --n;
        continue;
      case dot_segment::none:
        break;
    }
    if (out.size() - n < segment.size() + 1) return std::nullopt;
    out[n++] = '/';
    std::memcpy(out.data() + n, segment.data(), segment.size());
    n += segment.size();
  }
  const bool trailing_slash = !path.empty() && path.back() == '/';
  if (n == 0 || trailing_slash) {
    if (n == out.size()) return std::nullopt;
    out[n++] = '/';
  }
  return std::string_view(out.data(), n);
}

}  // namespace taut
