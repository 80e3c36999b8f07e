// Common Log Format: the one formatter behind every log line taut writes (the server's access log
// and the logging middleware), so the two cannot drift apart:
//
//     127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 2326
//
// Allocation-free: the caller gives the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

namespace taut {

/// Size of a bracketed CLF time, "[10/Oct/2000:13:55:36 +0000]".
inline constexpr std::size_t clf_timestamp_size = 28;

/// Writes the bracketed CLF time (UTC) of `unix_seconds` into `out`.
void format_clf_timestamp(std::int64_t unix_seconds,
                          std::span<char, clf_timestamp_size> out) noexcept;

/// The fields of one line; the views are read during format_common_log() only.
struct common_log_fields {
  /// The client, without a TCP port; "-" when empty.
  std::string_view host{};
  /// From format_clf_timestamp().
  std::string_view timestamp{};
  /// The request line's parts as received (escaped when written). An empty method writes the
  /// request line as "-": a message that never became a request (a parse error, a timeout).
  std::string_view method{};
  std::string_view target{};
  int version_minor = 1;
  /// Whether method or target were shortened before they got here: "..." marks the cut.
  bool request_cut = false;
  /// 0 writes "-" (no status known, as for a response finished later by a detached writer).
  int status = 0;
  /// 0 writes "-", as CLF does for no body bytes.
  std::uint64_t body_bytes = 0;
  /// Whether to append the optional error field: ` <code>@<offset>` when the connection refused
  /// the request (`missing_host@17`, `timed_out@12`), ` -` otherwise. Off by default, so the
  /// line stays plain CLF.
  bool error_field = false;
  std::error_code error{};
  std::uint64_t error_offset = 0;
};

/// A short name of `error` without allocating: the parser's code names ("missing_host"), a few
/// std::errc names ("timed_out", "message_size"), or "error".
[[nodiscard]] std::string_view error_name(std::error_code error) noexcept;

/// Writes the line (without a newline) into `out` and returns its size. The method and target are
/// escaped as \xHH where they could forge or break a line (quotes, backslashes, controls,
/// non-ASCII), the way nginx does; a request line that does not fit is cut and ends in "...".
/// `out` should hold at least 256 bytes; 2 KiB always holds a line cut to fit.
std::size_t format_common_log(const common_log_fields& fields, std::span<char> out) noexcept;

}  // namespace taut
