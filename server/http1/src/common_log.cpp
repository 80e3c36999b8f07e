// The Common Log Format formatter: a bounded writer over the caller's buffer, the request line
// escaped and cut to fit, the status, the body size and the optional error field.
#include "taut/common_log.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>

#include "taut/parse_error.hpp"

namespace taut {
namespace {

/// Appends to a fixed buffer; what does not fit is dropped and remembered.
class bounded_writer {
 public:
  explicit bounded_writer(std::span<char> out) noexcept : out_(out) {}
  bool raw(std::string_view text) noexcept {
    if (text.size() > out_.size() - size_) return false;
    std::memcpy(out_.data() + size_, text.data(), text.size());
    size_ += text.size();
    return true;
  }
  bool number(std::uint64_t value) noexcept {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    return raw({digits, static_cast<std::size_t>(end - digits)});
  }
  /// Escapes `text` into at most `limit` bytes of the buffer; false when it had to stop short.
  bool escaped(std::string_view text, std::size_t limit) noexcept {
    static constexpr char hex[] = "0123456789ABCDEF";
    limit = std::min(limit, out_.size());
    for (const char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      const bool plain = byte > 0x20 && byte < 0x7f && c != '"' && c != '\\';
      const std::size_t need = plain ? 1 : 4;
      if (size_ + need > limit) return false;
      if (plain) {
        out_[size_++] = c;
      } else {
        out_[size_++] = '\\';
        out_[size_++] = 'x';
        out_[size_++] = hex[byte >> 4];
        out_[size_++] = hex[byte & 15];
      }
    }
    return true;
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
};

/// Room kept after the request line for `" 200 18446744073709551615 <error>@<offset>`.
constexpr std::size_t tail_room = 112;

}  // namespace

void format_clf_timestamp(std::int64_t unix_seconds,
                          std::span<char, clf_timestamp_size> out) noexcept {
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm parts{};
  ::gmtime_r(&t, &parts);
  char* p = out.data();
  auto two = [&p](int value) {
    *p++ = static_cast<char>('0' + value / 10 % 10);
    *p++ = static_cast<char>('0' + value % 10);
  };
  *p++ = '[';
  two(parts.tm_mday);
  *p++ = '/';
  std::memcpy(p, months[parts.tm_mon], 3);
  p += 3;
  *p++ = '/';
  const int year = parts.tm_year + 1900;
  two(year / 100);
  two(year % 100);
  *p++ = ':';
  two(parts.tm_hour);
  *p++ = ':';
  two(parts.tm_min);
  *p++ = ':';
  two(parts.tm_sec);
  std::memcpy(p, " +0000]", 7);
}

std::string_view error_name(std::error_code error) noexcept {
  if (!error) return "-";
  if (error.category() == parse_category()) return to_string(static_cast<errc>(error.value()));
  if (error == std::errc::timed_out) return "timed_out";
  if (error == std::errc::message_size) return "message_size";
  if (error == std::errc::not_enough_memory) return "not_enough_memory";
  if (error == std::errc::connection_aborted) return "connection_aborted";
  // The answer 417 to an Expect other than 100-continue.
  if (error == std::errc::not_supported) return "not_supported";
  return "error";
}

std::size_t format_common_log(const common_log_fields& fields, std::span<char> out) noexcept {
  bounded_writer line(out);
  (void)(line.raw(fields.host.empty() ? std::string_view("-") : fields.host) && line.raw(" - - ") &&
         line.raw(fields.timestamp) && line.raw(" \""));
  if (fields.method.empty()) {
    (void)line.raw("-");
  } else {
    // The request line takes what the tail leaves; a cut one ends in "..." and the version.
    const std::size_t limit = out.size() > tail_room + 16 ? out.size() - tail_room - 16 : 0;
    const bool whole = line.escaped(fields.method, limit) && line.raw(" ") &&
                       line.escaped(fields.target, limit) && !fields.request_cut;
    if (!whole) (void)line.raw("...");
    const char version[] = {
        ' ', 'H', 'T',
        'T', 'P', '/',
        '1', '.', static_cast<char>('0' + std::clamp(fields.version_minor, 0, 9))};
    (void)line.raw({version, sizeof version});
  }
  (void)line.raw("\" ");
  if (fields.status > 0) {
    (void)line.number(static_cast<std::uint64_t>(fields.status));
  } else {
    (void)line.raw("-");
  }
  (void)line.raw(" ");
  if (fields.body_bytes > 0) {
    (void)line.number(fields.body_bytes);
  } else {
    (void)line.raw("-");
  }
  if (fields.error_field) {
    (void)line.raw(" ");
    (void)line.raw(error_name(fields.error));
    if (fields.error) (void)(line.raw("@") && line.number(fields.error_offset));
  }
  return line.size();
}

}  // namespace taut
