// The value of the Date response header (RFC 9110 section 6.6.1), formatted at most once a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace taut {

/// Holds "Date: <IMF-fixdate>\r\n" for the current second. It reads no clock: its owner (one per
/// server thread, so no lock is needed) calls update() with the wall-clock time, typically once
/// per event-loop iteration; formatting happens only when the second changes.
class date_cache {
 public:
  explicit date_cache(std::chrono::system_clock::time_point now = {}) noexcept { update(now); }

  /// Moves the cache to `now`; returns whether the text changed.
  bool update(std::chrono::system_clock::time_point now) noexcept;

  /// "Sun, 06 Nov 1994 08:49:37 GMT"
  [[nodiscard]] std::string_view value() const noexcept {
    return {text_ + prefix_size, value_size};
  }
  /// "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", ready to copy into a response head.
  [[nodiscard]] std::string_view field_line() const noexcept { return {text_, line_size}; }

  /// Formats `seconds` since the Unix epoch as an IMF-fixdate into `out` (29 bytes).
  static void format(std::int64_t seconds, char* out) noexcept;

 private:
  static constexpr std::size_t prefix_size = 6;  // "Date: "
  static constexpr std::size_t value_size = 29;
  static constexpr std::size_t line_size = prefix_size + value_size + 2;

  std::int64_t second_ = -1;
  char text_[line_size] = {'D', 'a', 't', 'e', ':', ' '};
};

/// Whether `text` is an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the form of HTTP-date
/// every sender generates (RFC 9110 section 5.6.7) and a real instant: the day exists in its
/// month (leap years counted), the day name is the date's, and a second 60 is only 23:59:60.
[[nodiscard]] bool is_imf_fixdate(std::string_view text) noexcept;

}  // namespace taut
