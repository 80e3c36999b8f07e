// The resumable, zero-copy, allocation-free HTTP/1.1 response-head parser (RFC 9112 sections 4-6).
#pragma once

#include "taut/detail/require_cxx20.hpp"  // first: one clear error before C++20

#include <cstddef>
#include <span>
#include <string_view>

#include "taut/detail/head_state.hpp"
#include "taut/message.hpp"
#include "taut/parse_error.hpp"

namespace taut {

/// Parses a response's status-line and header section, and decides its body framing, which
/// depends on the request it answers: pass that request's method (HEAD and CONNECT change it).
///
/// Used like request_parser: call parse() with the whole message so far, again after appending
/// when `incomplete`; reset() before the next response (a 1xx response is followed by another).
/// Like it, it refers to `header_storage` without owning it, in its copies and moves too.
/// The status-line is judged as its bytes arrive: an error is reported with the first byte no valid
/// response could hold there, with the code and offset the whole input would get.
class response_parser {
 public:
  explicit response_parser(std::span<header> header_storage, parse_options options = {}) noexcept;

  /// Parses as much of the head as `buffer` holds; `request_method` must be the same on every call
  /// for one response. Errors carry status 502, what a gateway answers for a bad upstream.
  parse_result parse(std::string_view buffer, method request_method = method::get) noexcept;

  /// The parsed head; meaningful after parse() returned `complete`.
  [[nodiscard]] const taut::response& response() const noexcept { return response_; }

  void reset() noexcept;

  [[nodiscard]] const parse_options& options() const noexcept { return options_; }
  /// Bytes the parser has examined for this message, within the bound request_parser's
  /// bytes_examined() states.
  [[nodiscard]] std::size_t bytes_examined() const noexcept { return section_.examined; }

 private:
  enum class line_progress : unsigned char { more, complete, error };
  enum class fast_head : unsigned char { not_taken, complete, failed };

  parse_result fail(errc code, std::size_t offset) noexcept;
  // The vectorized whole-head path: a failure is in result_.
  fast_head take_fast_head(const char* data, std::size_t size, method request_method) noexcept;
  line_progress advance_status_line(const char* data, std::size_t size,
                                    detail::step& error) noexcept;
  void status_line_taken(const char* data, std::size_t line_end, std::size_t next,
                         std::size_t reason_at = 13) noexcept;
  detail::step on_field(const char* data, const header& field) noexcept;
  parse_result finish(const char* data, std::size_t head_size, method request_method) noexcept;
  void rebase(const char* data) noexcept;

  std::span<header> storage_;
  parse_options options_;
  taut::response response_{};
  detail::field_section_state section_{};
  detail::framing_fields fields_{};
  detail::status_line_state line_{};
  detail::head_phase phase_ = detail::head_phase::start_line;
  parse_result result_{};  // the error, once failed
};

}  // namespace taut
