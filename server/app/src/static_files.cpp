#include "taut/static_files.hpp"
#include "taut/http_chars.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <system_error>
#include <utility>

#include "taut/date_cache.hpp"
#include "taut/path.hpp"
#include "taut/server_loop.hpp"

namespace taut {
namespace {

// --- names ---------------------------------------------------------------------------------------

using chars::iequals;

struct mime_entry {
  std::string_view extension;
  std::string_view type;
};

constexpr std::array<mime_entry, 44> mime_table{{
    {"7z", "application/x-7z-compressed"},
    {"avif", "image/avif"},
    {"bmp", "image/bmp"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/vnd.microsoft.icon"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"md", "text/markdown; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xml", "application/xml"},
    {"yaml", "application/yaml"},
    {"zip", "application/zip"},
}};

// --- dates ---------------------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

/// Reads exactly `digits` decimal digits at text[at].
bool read_number(std::string_view text, std::size_t at, std::size_t digits, int& out) noexcept {
  if (at + digits > text.size()) return false;
  int value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = text[at + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

int month_from_name(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 12> months{
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::size_t i = 0; i < months.size(); ++i) {
    if (name == months[i]) return static_cast<int>(i) + 1;
  }
  return 0;
}

/// "HH:MM:SS" at text[at].
bool read_time(std::string_view text, std::size_t at, int& h, int& m, int& s) noexcept {
  return read_number(text, at, 2, h) && at + 2 < text.size() && text[at + 2] == ':' &&
         read_number(text, at + 3, 2, m) && at + 5 < text.size() && text[at + 5] == ':' &&
         read_number(text, at + 6, 2, s) && h < 24 && m < 60 && s < 61;
}

/// RFC 9110 section 5.6.7: a two-digit year that would be more than 50 years in the future is
/// the most recent past year with those digits. Pivoting on this year rather than a fixed one
/// keeps that true as the years pass.
int full_year(int two_digits) noexcept {
  using namespace std::chrono;
  const int current = static_cast<int>(year_month_day(floor<days>(system_clock::now())).year());
  int year = current - current % 100 + two_digits;
  if (year > current + 50) {
    year -= 100;
  } else if (year <= current - 50) {
    year += 100;
  }
  return year;
}

std::optional<std::int64_t> to_seconds(int year, int month, int day, int h, int m, int s) noexcept {
  // A day past the month's end (31 April, 29 February 2023) is no date: refused, not carried over
  // into the next month, so that a proxy replaces it rather than passing on a day nobody meant.
  const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  const int last = month == 2                                                ? (leap ? 29 : 28)
                   : (month == 4 || month == 6 || month == 9 || month == 11) ? 30
                                                                             : 31;
  if (month < 1 || month > 12 || day < 1 || day > last) return std::nullopt;
  return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
         h * 3600 + m * 60 + s;
}

// --- the file system -----------------------------------------------------------------------------

std::atomic<bool> g_use_openat2{true};

constexpr int open_flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

/// Opens `relative` (no leading slash; "." for the root itself) under `root` so that nothing
/// outside `root` can be reached: the kernel resolves the path beneath `root` (openat2), or, where
/// openat2 is missing, each segment is opened in turn without following any link. -1 and errno on
/// failure; an escape attempt is EXDEV or ELOOP.
int open_beneath(int root, const char* relative, bool follow_symlinks) noexcept {
  if (g_use_openat2.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = open_flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    if (!follow_symlinks) how.resolve |= RESOLVE_NO_SYMLINKS;
    const long fd = ::syscall(SYS_openat2, root, relative, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != ENOSYS) return -1;
    g_use_openat2.store(false, std::memory_order_relaxed);
  }
  // Segment by segment, O_NOFOLLOW each time: no symlink is followed, so none can lead out.
  int dir = ::openat(root, ".", open_flags | O_DIRECTORY);
  if (dir < 0) return -1;
  const char* p = relative;
  while (true) {
    const char* slash = std::strchr(p, '/');
    const std::size_t length = slash ? static_cast<std::size_t>(slash - p) : std::strlen(p);
    char segment[NAME_MAX + 1];
    if (length > NAME_MAX) {
      ::close(dir);
      errno = ENAMETOOLONG;
      return -1;
    }
    std::memcpy(segment, p, length);
    segment[length] = '\0';
    const int next = ::openat(dir, segment, open_flags | O_NOFOLLOW | (slash ? O_DIRECTORY : 0));
    const int saved = errno;
    ::close(dir);
    if (next < 0) {
      errno = saved;
      return -1;
    }
    if (!slash) return next;
    dir = next;
    p = slash + 1;
  }
}

struct file_descriptor {
  int fd = -1;
  explicit file_descriptor(int value) noexcept : fd(value) {}
  ~file_descriptor() {
    if (fd >= 0) ::close(fd);
  }
  file_descriptor(const file_descriptor&) = delete;
  file_descriptor& operator=(const file_descriptor&) = delete;
};

// --- validators ----------------------------------------------------------------------------------

/// The ETag of a file: its modification time and size, like nginx's.
std::size_t format_etag(const struct stat& st, char* out, std::size_t size) noexcept {
  const int n = std::snprintf(
      out, size, "\"%llx.%lx-%llx\"", static_cast<unsigned long long>(st.st_mtim.tv_sec),
      static_cast<long>(st.st_mtim.tv_nsec), static_cast<unsigned long long>(st.st_size));
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

/// Whether the If-None-Match / If-Match list `list`, over all its field lines, names `etag` ("*"
/// names anything). `weak`: W/ prefixes are ignored (If-None-Match); otherwise a weak tag never
/// matches (If-Match). A member that is no entity-tag matches nothing.
bool etag_list_matches(const field_list_range& list, std::string_view etag, bool weak) noexcept {
  for (std::string_view member : list) {
    if (member == "*") return true;
    bool is_weak = false;
    if (member.starts_with("W/")) {
      is_weak = true;
      member.remove_prefix(2);
    }
    if (member.size() < 2 || member.front() != '"' || member.back() != '"') continue;
    if ((weak || !is_weak) && member == etag) return true;
  }
  return false;
}

/// Seconds since the epoch of the Date field this response carries: the serving loop's, or the
/// wall clock's outside a server loop.
std::int64_t response_date() noexcept {
  if (const connection_info* connection = current_connection()) {
    if (const auto date = parse_http_date(connection->owner().dates().value())) return *date;
  }
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void add_validators(reply& response, std::string_view etag, std::string_view last_modified,
                    const static_options& options) {
  response.header("ETag", etag);
  response.header("Last-Modified", last_modified);
  if (!options.cache_control.empty()) response.header("Cache-Control", options.cache_control);
}

/// Sends `length` bytes of `file` from `offset` as the body: the connection's owner hands the
/// region to sendfile(2) on sockets, so the bytes never pass through user space. The descriptor
/// goes to the writer, which closes it when the body is sent (at once for HEAD).
void send_file_body(reply& response, file_descriptor& file, std::uint64_t offset,
                    std::uint64_t length) {
  const int fd = std::exchange(file.fd, -1);
  response.writer().send_file(fd, offset, length);
}

struct file_server {
  std::shared_ptr<file_descriptor> root;
  static_options options;

  void operator()(request_context& request, reply& response) const {
    const method m = request.method();
    if (m != method::get && m != method::head) {
      response.status(405);
      response.header("Allow", "GET, HEAD");
      response.error(405);
      return;
    }

    // Which file: the last wildcard, or the whole path.
    std::string_view raw;
    std::string_view decoded;
    std::array<char, PATH_MAX> decode_buffer;  // NOLINT: written by percent_decode
    if (!request.params().empty()) {
      raw = request.params().back().raw;
      decoded = request.params().back().value;
    } else {
      raw = request.path();
      if (!raw.empty() && raw.front() == '/') raw.remove_prefix(1);
      const auto d = percent_decode(raw, decode_buffer);
      if (!d) {
        response.error(raw.size() >= decode_buffer.size() ? 404 : 400);
        return;
      }
      decoded = *d;
    }
    // An escaped slash or NUL is never part of a file name here: "%2F" would let a name cross a
    // directory boundary the router did not see, "%00" would end the path early in C APIs.
    for (std::size_t i = 0; i + 2 < raw.size(); ++i) {
      if (raw[i] != '%') continue;
      const std::string_view escape = raw.substr(i + 1, 2);
      if (escape == "00" || iequals(escape, "2f") || iequals(escape, "5c")) {
        response.error(400);
        return;
      }
    }

    // Check every segment and build the relative path.
    std::array<char, PATH_MAX> relative;  // NOLINT: filled below
    std::size_t size = 0;
    bool wants_directory = decoded.empty() || decoded.back() == '/';
    std::string_view rest = decoded;
    while (!rest.empty()) {
      const std::size_t slash = rest.find('/');
      const std::string_view segment = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (segment.empty()) {
        if (rest.empty()) break;  // the trailing slash
        response.error(404);
        return;
      }
      if (segment == "." || segment == ".." ||
          segment.find_first_of(std::string_view("\0\\", 2)) != std::string_view::npos) {
        response.error(400);
        return;
      }
      if (segment.front() == '.' && !options.dotfiles) {
        response.error(404);
        return;
      }
      if (size + segment.size() + 2 + options.index.size() >= relative.size()) {
        response.error(404);
        return;
      }
      if (size > 0) relative[size++] = '/';
      std::memcpy(relative.data() + size, segment.data(), segment.size());
      size += segment.size();
    }
    if (size == 0) relative[size++] = '.';
    relative[size] = '\0';

    file_descriptor file(open_beneath(root->fd, relative.data(), options.follow_symlinks));
    if (file.fd < 0) {
      response.error(errno == EACCES ? 403 : 404);
      return;
    }
    struct stat st {};
    if (::fstat(file.fd, &st) != 0) {
      response.error(500);
      return;
    }
    std::string_view name(relative.data(), size);
    if (S_ISDIR(st.st_mode)) {
      if (!wants_directory) {
        // "/static/docs" is a directory: send the client to "/static/docs/" so that relative
        // links in its index resolve inside it.
        std::array<char, PATH_MAX + 2> location;  // NOLINT: filled below
        const std::string_view path = request.path();
        const std::string_view query = request.raw_query();
        if (path.size() + 2 + query.size() > location.size()) {
          response.error(404);
          return;
        }
        std::size_t n = path.size();
        std::memcpy(location.data(), path.data(), n);
        location[n++] = '/';
        if (!query.empty()) {
          location[n++] = '?';
          std::memcpy(location.data() + n, query.data(), query.size());
          n += query.size();
        }
        response.redirect(301, {location.data(), n});
        return;
      }
      if (options.index.empty()) {
        response.error(404);
        return;
      }
      if (name == ".") size = 0;
      if (size > 0) relative[size++] = '/';
      std::memcpy(relative.data() + size, options.index.data(), options.index.size());
      size += options.index.size();
      relative[size] = '\0';
      name = {relative.data(), size};
      ::close(file.fd);
      file.fd = open_beneath(root->fd, relative.data(), options.follow_symlinks);
      if (file.fd < 0 || ::fstat(file.fd, &st) != 0) {
        response.error(file.fd < 0 && errno == EACCES ? 403 : 404);
        return;
      }
    } else if (wants_directory) {
      response.error(404);  // "/static/file.txt/": not a directory
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      response.error(404);  // devices, FIFOs, sockets are never served
      return;
    }
    serve_file(request, response, file, st, name);
  }

  void serve_file(request_context& request, reply& response, file_descriptor& file,
                  const struct stat& st, std::string_view name) const {
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const std::int64_t modified = st.st_mtim.tv_sec;
    char etag_text[64];
    const std::string_view etag(etag_text, format_etag(st, etag_text, sizeof etag_text));
    char modified_text[32];
    date_cache::format(modified, modified_text);
    const std::string_view last_modified(modified_text, 29);

    // Conditional requests, in RFC 9110 section 13.2.2's order.
    // If-Match and If-None-Match are lists a client may split over several lines.
    const field_list_range if_match = request.field_list("If-Match");
    if (!if_match.empty()) {
      if (!etag_list_matches(if_match, etag, /*weak=*/false)) {
        response.error(412);
        return;
      }
    } else if (const auto since = parse_http_date(request.header("If-Unmodified-Since"))) {
      if (modified > *since) {
        response.error(412);
        return;
      }
    }
    const field_list_range if_none_match = request.field_list("If-None-Match");
    bool not_modified = false;
    if (!if_none_match.empty()) {
      not_modified = etag_list_matches(if_none_match, etag, /*weak=*/true);
    } else if (const auto since = parse_http_date(request.header("If-Modified-Since"))) {
      not_modified = modified <= *since;
    }
    if (not_modified) {
      response.status(304);
      add_validators(response, etag, last_modified, options);
      response.finish();
      return;
    }

    byte_range range;
    const std::string_view range_field = request.header("Range");
    if (!range_field.empty()) {
      range = parse_byte_range(range_field, size);
      // If-Range: the range applies only to the representation the client already has part of.
      const std::string_view if_range = request.header("If-Range");
      if (!if_range.empty()) {
        bool current;
        if (if_range.front() == '"') {
          current = if_range == etag;
        } else if (if_range.starts_with("W/")) {
          current = false;  // a weak tag never validates a range
        } else {
          // A date validates a range only if it is strong: two versions written within one
          // second share a Last-Modified, and a range of the newer spliced onto the older is
          // corrupt. It is strong once the Date sent is a second past it, as no later write can
          // share it then (RFC 9110 sections 8.8.2.2 and 13.1.5; a client checks the same of the
          // Date its copy came with). A file modified within this response's second is sent whole.
          const auto date = parse_http_date(if_range);
          current = date && *date == modified && response_date() >= modified + 1;
        }
        if (!current) range = {};
      }
    }

    const std::string_view type = content_type_for(name);
    switch (range.result) {
      case byte_range::kind::unsatisfiable: {
        char content_range[48];
        const int n = std::snprintf(content_range, sizeof content_range, "bytes */%llu",
                                    static_cast<unsigned long long>(size));
        response.status(416);
        response.header("Content-Range", {content_range, static_cast<std::size_t>(n)});
        response.error(416);
        return;
      }
      case byte_range::kind::satisfiable: {
        char content_range[80];
        const int n = std::snprintf(content_range, sizeof content_range, "bytes %llu-%llu/%llu",
                                    static_cast<unsigned long long>(range.first),
                                    static_cast<unsigned long long>(range.last),
                                    static_cast<unsigned long long>(size));
        response.status(206);
        response.header("Content-Type", type);
        response.header("X-Content-Type-Options", "nosniff");
        response.header("Content-Range", {content_range, static_cast<std::size_t>(n)});
        response.header("Accept-Ranges", "bytes");
        add_validators(response, etag, last_modified, options);
        send_file_body(response, file, range.first, range.last - range.first + 1);
        return;
      }
      case byte_range::kind::ignore:
        break;
    }
    response.header("Content-Type", type);
    response.header("X-Content-Type-Options", "nosniff");
    response.header("Accept-Ranges", "bytes");
    add_validators(response, etag, last_modified, options);
    send_file_body(response, file, 0, size);
  }
};

}  // namespace

namespace detail {
/// For tests: use openat2 (true, the default) or the portable segment-by-segment walk.
void static_files_use_openat2(bool use) noexcept {
  g_use_openat2.store(use, std::memory_order_relaxed);
}
}  // namespace detail

std::string_view content_type_for(std::string_view file_name) noexcept {
  const std::size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const std::size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "application/octet-stream";
  const std::string_view extension = file_name.substr(dot + 1);
  for (const mime_entry& entry : mime_table) {
    if (iequals(entry.extension, extension)) return entry.type;
  }
  return "application/octet-stream";
}

std::optional<std::int64_t> parse_http_date(std::string_view text) noexcept {
  int day = 0;
  int year = 0;
  int h = 0;
  int m = 0;
  int s = 0;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (text.size() == 29 && text[3] == ',' && text[4] == ' ' && text.substr(25) == " GMT" &&
      read_number(text, 5, 2, day) && text[7] == ' ' && text[11] == ' ' &&
      read_number(text, 12, 4, year) && text[16] == ' ' && read_time(text, 17, h, m, s)) {
    return to_seconds(year, month_from_name(text.substr(8, 3)), day, h, m, s);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (text.size() == 24 && text[3] == ' ' && text[7] == ' ' && text[10] == ' ' && text[19] == ' ' &&
      read_time(text, 11, h, m, s) && read_number(text, 20, 4, year)) {
    const bool one_digit = text[8] == ' ';
    if (!read_number(text, one_digit ? 9 : 8, one_digit ? 1 : 2, day)) return std::nullopt;
    return to_seconds(year, month_from_name(text.substr(4, 3)), day, h, m, s);
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
  const std::size_t comma = text.find(", ");
  if (comma != std::string_view::npos && comma >= 6 && text.size() == comma + 24 &&
      text.substr(text.size() - 4) == " GMT") {
    const std::size_t at = comma + 2;
    if (read_number(text, at, 2, day) && text[at + 2] == '-' && text[at + 6] == '-' &&
        read_number(text, at + 7, 2, year) && text[at + 9] == ' ' &&
        read_time(text, at + 10, h, m, s)) {
      year = full_year(year);
      return to_seconds(year, month_from_name(text.substr(at + 3, 3)), day, h, m, s);
    }
  }
  return std::nullopt;
}

byte_range parse_byte_range(std::string_view value, std::uint64_t size) noexcept {
  const auto trim = [](std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    return t;
  };
  value = trim(value);
  if (value.size() < 6 || !iequals(value.substr(0, 6), "bytes=")) return {};
  const std::string_view spec = trim(value.substr(6));
  if (spec.find(',') != std::string_view::npos) return {};  // several ranges: serve it whole
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  // Positions are 1*DIGIT of any length (RFC 9110 section 14.1.1). One past 64 bits is read as
  // the largest value, "very large", which is what it means for any file: a first-pos past the
  // end (416), a last-pos clamped to the end, a suffix-length taking the whole file.
  constexpr std::uint64_t very_large = std::numeric_limits<std::uint64_t>::max();
  const auto number = [](std::string_view digits) -> std::optional<std::uint64_t> {
    if (digits.empty()) return std::nullopt;
    std::uint64_t n = 0;
    for (const char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      const auto digit = static_cast<std::uint64_t>(c - '0');
      n = n > (very_large - digit) / 10 ? very_large : n * 10 + digit;
    }
    return n;
  };
  // Whether the decimal `a` is less than the decimal `b`, for two that both read as very_large.
  const auto decimal_less = [](std::string_view a, std::string_view b) {
    while (a.size() > 1 && a.front() == '0') a.remove_prefix(1);
    while (b.size() > 1 && b.front() == '0') b.remove_prefix(1);
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  };
  const std::string_view first_text = trim(spec.substr(0, dash));
  const std::string_view last_text = trim(spec.substr(dash + 1));
  byte_range out;
  if (first_text.empty()) {
    // "-n": the last n bytes.
    const auto suffix = number(last_text);
    if (!suffix) return {};
    if (*suffix == 0) return {byte_range::kind::unsatisfiable, 0, 0};
    // A non-zero suffix is satisfiable even for an empty representation (RFC 9110 section
    // 14.1.1), but no 206 can describe a range of nothing (a Content-Range names a first and a
    // last byte): the field is ignored and the empty file sent whole, as section 14.2 allows.
    if (size == 0) return {};
    out.first = *suffix >= size ? 0 : size - *suffix;
    out.last = size - 1;
    out.result = byte_range::kind::satisfiable;
    return out;
  }
  const auto first = number(first_text);
  if (!first) return {};
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    const auto given = number(last_text);
    if (!given) return {};
    const bool before_first = *given == very_large && *first == very_large
                                  ? decimal_less(last_text, first_text)
                                  : *given < *first;
    if (before_first) return {};  // invalid: ignore the field
    last = std::min(last, *given);
  }
  if (*first >= size) return {byte_range::kind::unsatisfiable, 0, 0};
  out.first = *first;
  out.last = last;
  out.result = byte_range::kind::satisfiable;
  return out;
}

handler static_files(const std::string& root, static_options options) {
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "static_files: cannot open " + root);
  }
  return handler(file_server{std::make_shared<file_descriptor>(fd), std::move(options)});
}

}  // namespace taut
