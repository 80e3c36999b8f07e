// What a zero-copy user of a callback parser (llhttp, http-parser) keeps: views of the target (or
// a response's reason) and of each field's name and value, joined when the parser reports one in
// several pieces.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace taut_bench {

/// Views are joined by extending their length, which is right because every benchmark keeps the
/// whole message in one buffer (a user with scattered buffers would have to copy instead).
class span_capture {
 public:
  struct field {
    const char* name;
    std::size_t name_len;
    const char* value;
    std::size_t value_len;
  };

  void begin_message() {
    url_ = nullptr;
    url_len_ = 0;
    count_ = 0;
    last_ = piece::none;
    head_done_ = false;
  }

  int on_url(const char* at, std::size_t length) {
    if (last_ == piece::url) {
      url_len_ += length;
    } else {
      url_ = at;
      url_len_ = length;
    }
    last_ = piece::url;
    return 0;
  }

  /// A response's reason-phrase: kept where a request's target is, the start-line's view.
  int on_reason(const char* at, std::size_t length) { return on_url(at, length); }

  int on_field_name(const char* at, std::size_t length) {
    if (last_ == piece::name) {
      fields_[count_ - 1].name_len += length;
    } else {
      if (count_ == fields_.size()) return -1;
      fields_[count_++] = {at, length, nullptr, 0};
    }
    last_ = piece::name;
    return 0;
  }

  int on_field_value(const char* at, std::size_t length) {
    if (count_ == 0) return -1;
    field& f = fields_[count_ - 1];
    if (last_ == piece::value) {
      f.value_len += length;
    } else {
      f.value = at;
      f.value_len = length;
    }
    last_ = piece::value;
    return 0;
  }

  void on_headers_complete() { head_done_ = true; }
  void on_message_complete() { ++messages_; }
  void on_body(std::size_t length) { body_bytes_ += length; }

  [[nodiscard]] bool head_done() const { return head_done_; }
  [[nodiscard]] std::size_t fields() const { return count_; }
  [[nodiscard]] std::size_t messages() const { return messages_; }
  [[nodiscard]] std::uint64_t body_bytes() const { return body_bytes_; }
  void reset_counters() {
    messages_ = 0;
    body_bytes_ = 0;
  }

 private:
  enum class piece : std::uint8_t { none, url, name, value };

  const char* url_ = nullptr;
  std::size_t url_len_ = 0;
  std::array<field, 64> fields_{};
  std::size_t count_ = 0;
  std::size_t messages_ = 0;
  std::uint64_t body_bytes_ = 0;
  piece last_ = piece::none;
  bool head_done_ = false;
};

}  // namespace taut_bench
