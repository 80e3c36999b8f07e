// The access log, Common Log Format:
//
//     127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 2326
//
// The request line and time are copied when the request head arrives (logging_handler), the
// status and body size are read from the response bytes as they are written (response_scanner),
// and the line goes into a per-loop buffer that is written out with one write() when it fills
// and on a timer: no lock, no allocation once the pools are warm, whole lines per write().
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>

#include "server_detail.hpp"
#include "taut/http_chars.hpp"

namespace taut::detail {

namespace {

using phase = response_scanner::phase;

std::int64_t wall_seconds() noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Appends `text` to `out`, escaping what could forge or break a log line (quotes, backslashes,
/// controls, non-ASCII) as \xHH, the way nginx does. Returns false when `out` is full.
bool append_escaped(std::string_view text, char* out, std::size_t capacity,
                    std::uint16_t& size) noexcept {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool plain = byte > 0x20 && byte < 0x7f && c != '"' && c != '\\';
    const std::size_t need = plain ? 1 : 4;
    if (size + need > capacity) return false;
    if (plain) {
      out[size++] = c;
    } else {
      out[size++] = '\\';
      out[size++] = 'x';
      out[size++] = hex[byte >> 4];
      out[size++] = hex[byte & 15];
    }
  }
  return true;
}

bool append_raw(std::string_view text, char* out, std::size_t capacity,
                std::uint16_t& size) noexcept {
  if (size + text.size() > capacity) return false;
  std::memcpy(out + size, text.data(), text.size());
  size = static_cast<std::uint16_t>(size + text.size());
  return true;
}

}  // namespace

// --- the writer ---------------------------------------------------------------------------------

access_log_writer::access_log_writer(int fd, std::size_t capacity)
    : fd_(fd),
      buffer_(new char[std::max<std::size_t>(capacity, 4096)]),
      capacity_(std::max<std::size_t>(capacity, 4096)) {}

access_log_writer::~access_log_writer() {
  flush();
}

void access_log_writer::append(std::span<const std::string_view> parts) noexcept {
  std::size_t total = 1;
  for (const std::string_view part : parts) total += part.size();
  if (size_ + total > capacity_) flush();
  if (total > capacity_) return;  // cannot happen: a line is at most about 1.2 KiB
  for (const std::string_view part : parts) {
    std::memcpy(buffer_.get() + size_, part.data(), part.size());
    size_ += part.size();
  }
  buffer_[size_++] = '\n';
}

void access_log_writer::flush() noexcept {
  if (size_ == 0) return;
  write_all(buffer_.get(), size_);
  size_ = 0;
}

void access_log_writer::write_all(const char* data, std::size_t size) noexcept {
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // a log target that fails (or would block) loses lines, never stalls the loop
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

std::string_view access_log_writer::timestamp(std::int64_t seconds) noexcept {
  if (seconds != stamp_second_) {
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto t = static_cast<std::time_t>(seconds);
    std::tm parts{};
    ::gmtime_r(&t, &parts);
    // [dd/Mon/yyyy:hh:mm:ss +0000]
    char* p = stamp_.data();
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
    stamp_second_ = seconds;
  }
  return {stamp_.data(), stamp_.size()};
}

// --- the handler wrapper ------------------------------------------------------------------------

body_mode logging_handler::on_head(server_request& request) {
  if (connection_driver* driver = current_driver()) driver->log_request(request);
  return inner_->on_head(request);
}

void logging_handler::on_request(server_request& request, response_writer response) {
  inner_->on_request(request, std::move(response));
}

// --- the driver's part --------------------------------------------------------------------------

void connection_driver::log_open() noexcept {
  log_ = owner_->log_->tracks.make();
  transport::result<transport::address> peer = stream_.peer_address();
  // A Unix-socket client is nearly always unnamed ("unix:(unnamed)" says nothing): name it by the
  // socket it came through, the listener's path.
  if (peer && peer->transport() == transport::transport_kind::unix_socket && peer->path().empty()) {
    peer = stream_.local_address();
  }
  std::size_t size = 0;
  if (!peer) {
    log_->host[0] = '-';
    size = 1;
  } else if (peer->family() == AF_INET || peer->family() == AF_INET6) {
    const sockaddr* raw = peer->sockaddr_data();
    const void* ip =
        raw->sa_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(raw)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(raw)->sin6_addr);
    if (::inet_ntop(raw->sa_family, ip, log_->host, sizeof log_->host) != nullptr) {
      size = std::strlen(log_->host);
    }
  } else {
    size = std::min(peer->format_to(log_->host), sizeof log_->host);
    for (std::size_t i = 0; i < size; ++i) {
      if (log_->host[i] == ' ') log_->host[i] = '_';
    }
  }
  if (size == 0) {
    log_->host[0] = '-';
    size = 1;
  }
  log_->host_size = static_cast<std::uint8_t>(size);
}

void connection_driver::log_request(const server_request& request) noexcept {
  if (log_ == nullptr) return;
  log_entry* entry = nullptr;
  try {
    entry = owner_->log_->entries.make();
  } catch (...) {
    return;
  }
  entry->when = wall_seconds();
  entry->head = request.method() == method::head;
  entry->connect = request.method() == method::connect;
  std::uint16_t size = 0;
  constexpr std::size_t room = log_entry::line_capacity - 16;  // the version and "..." fit after
  bool whole = append_escaped(request.method_name(), entry->line, room, size) &&
               append_raw(" ", entry->line, room, size) &&
               append_escaped(request.target(), entry->line, room, size);
  if (!whole) (void)append_raw("...", entry->line, log_entry::line_capacity, size);
  const char version[] = {
      ' ', 'H', 'T',
      'T', 'P', '/',
      '1', '.', static_cast<char>('0' + (request.version_minor() == 0 ? 0 : 1))};
  (void)append_raw({version, sizeof version}, entry->line, log_entry::line_capacity, size);
  entry->line_size = size;
  if (log_->last != nullptr) {
    log_->last->next = entry;
  } else {
    log_->first = entry;
  }
  log_->last = entry;
}

void connection_driver::scan_output(std::span<const std::string_view> pieces,
                                    std::size_t bytes) noexcept {
  for (const std::string_view piece : pieces) {
    if (bytes == 0) break;
    const std::size_t n = std::min(bytes, piece.size());
    scan_bytes(piece.substr(0, n));
    bytes -= n;
  }
}

void connection_driver::scan_file(std::size_t bytes) noexcept {
  // A file body is always Content-Length framed: count it without looking at it.
  response_scanner& s = log_->scanner;
  if (s.at != phase::body_length) return;
  const std::uint64_t n = std::min<std::uint64_t>(s.remaining, bytes);
  s.remaining -= n;
  s.body_bytes += n;
  if (s.remaining == 0) end_response();
}

void connection_driver::scan_bytes(std::string_view data) noexcept {
  response_scanner& s = log_->scanner;
  std::size_t i = 0;
  while (i < data.size()) {
    switch (s.at) {
      case phase::switched:
        return;
      case phase::until_close:
        s.body_bytes += data.size() - i;
        return;
      case phase::body_length:
      case phase::chunk_data: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(s.remaining, data.size() - i));
        i += n;
        s.remaining -= n;
        s.body_bytes += n;
        if (s.remaining == 0) {
          if (s.at == phase::body_length) {
            end_response();
          } else {
            s.at = phase::chunk_data_end;
          }
        }
        break;
      }
      case phase::chunk_data_end:
        if (data[i++] == '\n') {
          s.at = phase::chunk_size;
          s.chunk_size_done = false;
        }
        break;
      case phase::status_line: {
        const char c = data[i++];
        if (c == '\n') {
          s.at = phase::field_line;
          s.line_position = 0;
          s.saw_cr = false;
          s.in_value = false;
          s.name_size = 0;
          break;
        }
        // "HTTP/1.1 200 OK": the code is at offsets 9 to 11.
        if (s.line_position >= 9 && s.line_position <= 11 && c >= '0' && c <= '9') {
          s.status = static_cast<std::uint16_t>(s.status * 10 + (c - '0'));
        }
        ++s.line_position;
        break;
      }
      case phase::field_line: {
        const char c = data[i++];
        if (c == '\n') {
          if (s.line_position == 0 || (s.line_position == 1 && s.saw_cr)) {
            head_done();
          } else {
            s.line_position = 0;
            s.saw_cr = false;
            s.in_value = false;
            s.length_field = false;
            s.name_size = 0;
          }
          break;
        }
        if (s.line_position++ == 0 && c == '\r') {
          s.saw_cr = true;
          break;
        }
        if (!s.in_value) {
          if (c == ':') {
            s.in_value = true;
            const std::string_view name(s.name.data(), s.name_size);
            s.length_field = name == "content-length";
            if (name == "transfer-encoding")
              s.chunked = true;  // the connection writes only chunked
          } else if (s.name_size < s.name.size()) {
            s.name[s.name_size++] = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          }
        } else if (s.length_field && c >= '0' && c <= '9') {
          s.content_length = s.content_length * 10 + static_cast<std::uint64_t>(c - '0');
          s.has_length = true;
        }
        break;
      }
      case phase::chunk_size: {
        const char c = data[i++];
        if (c == '\n') {
          if (s.remaining == 0) {
            s.at = phase::trailer_line;
            s.line_position = 0;
            s.saw_cr = false;
          } else {
            s.at = phase::chunk_data;
          }
          break;
        }
        const int digit = s.chunk_size_done ? -1 : hex_value(c);
        if (digit < 0) {
          s.chunk_size_done = true;  // an extension or the CR
        } else {
          s.remaining = s.remaining * 16 + static_cast<std::uint64_t>(digit);
        }
        break;
      }
      case phase::trailer_line: {
        const char c = data[i++];
        if (c == '\n') {
          if (s.line_position == 0 || (s.line_position == 1 && s.saw_cr)) {
            end_response();
          } else {
            s.line_position = 0;
            s.saw_cr = false;
          }
          break;
        }
        if (s.line_position++ == 0 && c == '\r') s.saw_cr = true;
        break;
      }
    }
  }
}

void connection_driver::head_done() noexcept {
  response_scanner& s = log_->scanner;
  const log_entry* entry = log_->first;
  const int status = s.status;
  if (status >= 100 && status < 200 && status != 101) {
    s = response_scanner{};  // interim (100 Continue, 103): the final response follows
    return;
  }
  if (status == 101 || (entry != nullptr && entry->connect && status / 100 == 2)) {
    end_response();
    s.at = phase::switched;
    return;
  }
  if ((entry != nullptr && entry->head) || status == 204 || status == 304) {
    end_response();
    return;
  }
  if (s.chunked) {
    s.at = phase::chunk_size;
    s.remaining = 0;
    s.chunk_size_done = false;
    return;
  }
  if (s.has_length) {
    if (s.content_length == 0) {
      end_response();
    } else {
      s.at = phase::body_length;
      s.remaining = s.content_length;
    }
    return;
  }
  s.at = phase::until_close;
}

/// Writes the log line of the response just completed (or cut short) and starts on the next.
void connection_driver::end_response() noexcept {
  access_log_writer& writer = *owner_->log_;
  response_scanner& s = log_->scanner;
  log_entry* entry = log_->first;
  if (entry != nullptr) {
    log_->first = entry->next;
    if (log_->first == nullptr) log_->last = nullptr;
  }
  char status_text[8];
  const auto status_end = std::to_chars(status_text, status_text + sizeof status_text, s.status);
  char bytes_text[24];
  std::string_view bytes = "-";  // CLF writes "-" for no body bytes
  if (s.body_bytes > 0) {
    const auto end = std::to_chars(bytes_text, bytes_text + sizeof bytes_text, s.body_bytes);
    bytes = {bytes_text, static_cast<std::size_t>(end.ptr - bytes_text)};
  }
  const std::string_view parts[] = {
      {log_->host, log_->host_size},
      " - - ",
      writer.timestamp(entry != nullptr ? entry->when : wall_seconds()),
      " \"",
      entry != nullptr ? std::string_view(entry->line, entry->line_size) : std::string_view("-"),
      "\" ",
      {status_text, static_cast<std::size_t>(status_end.ptr - status_text)},
      " ",
      bytes,
  };
  writer.append(parts);
  if (entry != nullptr) writer.entries.destroy(entry);
  s = response_scanner{};
}

void connection_driver::log_close() noexcept {
  access_log_writer& writer = *owner_->log_;
  const response_scanner& s = log_->scanner;
  // A response under way when the connection ends (a body until close, or one cut short) is
  // logged with the bytes that were sent.
  if (s.status != 0 && s.at != phase::switched && s.at != phase::status_line) end_response();
  while (log_entry* entry = log_->first) {
    log_->first = entry->next;
    writer.entries.destroy(entry);
  }
  writer.tracks.destroy(log_);
  log_ = nullptr;
}

}  // namespace taut::detail
