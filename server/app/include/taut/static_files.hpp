// A handler that serves the files under one directory safely: nothing outside the directory is
// ever opened (no "..", no encoded slashes, no NUL, no symlink that leads out), with Content-Type
// by extension (and `X-Content-Type-Options: nosniff`, so a browser never reads a file as another
// type than the one sent), Last-Modified / ETag and their conditional requests (304), and single
// byte ranges (206, 416).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "taut/handler.hpp"

namespace taut {

struct static_options {
  /// Served for a request naming a directory (with a trailing slash; without one the client is
  /// redirected to it). Empty: directories are 404.
  std::string index = "index.html";
  /// Serve names starting with '.' (".git", ".env"): off, so a checkout served by mistake does not
  /// leak its secrets.
  bool dotfiles = false;
  /// Follow symbolic links that stay inside the directory. Links that lead outside it (absolute, or
  /// climbing with "..") are refused either way, by the kernel (openat2 RESOLVE_BENEATH); on
  /// kernels without openat2, no link is followed at all.
  bool follow_symlinks = true;
  /// A Cache-Control value for every file served ("public, max-age=3600"); empty sends none.
  std::string cache_control{};
};

/// Serves `root` for GET and HEAD (other methods: 405). The file is named by the route's last
/// wildcard when it has one ("GET /static/{path...}" serves root/<path>), or by the whole path
/// otherwise. Opens `root` now and keeps it open (later renames of `root` do not matter); throws
/// std::system_error if it cannot. Missing, hidden (dotfiles off) or non-regular files are 404,
/// unreadable ones 403.
[[nodiscard]] handler static_files(const std::string& root, static_options options = {});

/// The Content-Type for a file name, from its extension (case-insensitive, a small built-in
/// table: HTML, CSS, JavaScript, JSON, text, common images, fonts, audio/video, archives, wasm);
/// "application/octet-stream" when unknown. Text types carry "; charset=utf-8".
[[nodiscard]] std::string_view content_type_for(std::string_view file_name) noexcept;

/// Seconds since the Unix epoch for an HTTP-date (RFC 9110 section 5.6.7): IMF-fixdate, and the
/// obsolete RFC 850 and asctime forms; nothing when `text` is none of them, or names a day its
/// month does not have (31 April). The day name is not checked. An RFC 850 two-digit year more
/// than 50 years after the current one is read as the most recent past year with those digits.
[[nodiscard]] std::optional<std::int64_t> parse_http_date(std::string_view text) noexcept;

/// A Range field (RFC 9110 section 14) applied to a representation of `size` bytes.
struct byte_range {
  enum class kind : std::uint8_t {
    ignore,         // no usable single range: serve the whole representation (200)
    satisfiable,    // serve [first, last] (206)
    unsatisfiable,  // 416 with "Content-Range: bytes */size"
  };
  kind result = kind::ignore;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};

/// Interprets a Range field value: "bytes=a-b", "bytes=a-" and "bytes=-n" (one range only; a
/// list of several, another unit or a malformed value is ignored, as RFC 9110 allows). Numbers
/// past 64 bits read as very large (a first position past the end, 416; a last one clamped). An
/// empty representation ignores "-n" (n > 0 is satisfiable, but no 206 can describe nothing).
[[nodiscard]] byte_range parse_byte_range(std::string_view value, std::uint64_t size) noexcept;

namespace detail {
/// For tests: resolve paths with openat2 (true, the default) or with the fallback for kernels
/// without it (a segment-by-segment walk that follows no symbolic link).
void static_files_use_openat2(bool use) noexcept;
}  // namespace detail

}  // namespace taut
