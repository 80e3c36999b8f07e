// The access log, Common Log Format:
//
//     127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 2326
//
// The request line and time are copied when the request head arrives (logging_handler); the
// status and body size come from the connection's response_record when the response leaves its
// queue (connection_observer), and taut::format_common_log writes the line, into a per-loop
// buffer that is written out with one write() when it fills and on a timer: no lock, no
// allocation once the pools are warm, whole lines per write().
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "server_detail.hpp"
#include "taut/common_log.hpp"

namespace taut::detail {

namespace {

std::int64_t wall_seconds() noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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
    format_clf_timestamp(seconds, std::span<char, clf_timestamp_size>(stamp_));
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
  entry->sequence = request.sequence();
  entry->version_minor = static_cast<std::uint8_t>(request.version_minor());  // as sent: 1.2 too
  const std::string_view method = request.method_name();
  const std::string_view target = request.target();
  const std::size_t method_size = std::min(method.size(), log_entry::line_capacity / 4);
  const std::size_t target_size = std::min(target.size(), log_entry::line_capacity - method_size);
  std::memcpy(entry->line, method.data(), method_size);
  std::memcpy(entry->line + method_size, target.data(), target_size);
  entry->method_size = static_cast<std::uint16_t>(method_size);
  entry->target_size = static_cast<std::uint16_t>(target_size);
  entry->cut = method_size < method.size() || target_size < target.size();
  entry->next = nullptr;
  if (log_->last != nullptr) {
    log_->last->next = entry;
  } else {
    log_->first = entry;
  }
  log_->last = entry;
}

void connection_driver::on_response_finished(const response_record& record) noexcept {
  if (record.error && owner_->options_.on_error) {
    try {
      owner_->options_.on_error(*this, record);
    } catch (...) {  // a hook that throws loses its call, never the loop
    }
  }
  if (log_ == nullptr) return;
  access_log_writer& writer = *owner_->log_;
  // Requests before this one whose responses were never reported (dropped behind a close) are
  // forgotten; a refusal (sequence 0) has no request line.
  log_entry* entry = nullptr;
  while (record.sequence != 0 && log_->first != nullptr &&
         log_->first->sequence <= record.sequence) {
    log_entry* first = log_->first;
    log_->first = first->next;
    if (log_->first == nullptr) log_->last = nullptr;
    if (first->sequence == record.sequence) {
      entry = first;
      break;
    }
    writer.entries.destroy(first);
  }
  common_log_fields fields;
  fields.host = {log_->host, log_->host_size};
  fields.timestamp = writer.timestamp(entry != nullptr ? entry->when : wall_seconds());
  if (entry != nullptr) {
    fields.method = {entry->line, entry->method_size};
    fields.target = {entry->line + entry->method_size, entry->target_size};
    fields.version_minor = entry->version_minor;
    fields.request_cut = entry->cut;
  }
  fields.status = record.status;
  fields.body_bytes = record.body_bytes;
  fields.error_field = owner_->options_.access_log_errors;
  fields.error = record.error;
  fields.error_offset = record.error_offset;
  char line[2048];
  const std::size_t size = format_common_log(fields, line);
  const std::string_view parts[] = {{line, size}};
  writer.append(parts);
  if (entry != nullptr) writer.entries.destroy(entry);
}

void connection_driver::log_close() noexcept {
  access_log_writer& writer = *owner_->log_;
  while (log_entry* entry = log_->first) {
    log_->first = entry->next;
    writer.entries.destroy(entry);
  }
  writer.tracks.destroy(log_);
  log_ = nullptr;
}

}  // namespace taut::detail
