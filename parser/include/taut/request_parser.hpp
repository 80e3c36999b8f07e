// The resumable, zero-copy, allocation-free HTTP/1.1 request-head parser (RFC 9112 sections 2-6).
#pragma once

#include "taut/detail/require_cxx20.hpp"  // first: one clear error before C++20

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "taut/detail/head_state.hpp"
#include "taut/http_chars.hpp"
#include "taut/message.hpp"
#include "taut/parse_error.hpp"

namespace taut {

/// Parses a request's start-line and header section, and decides its body framing.
///
/// Call parse() with every byte received so far for this message, from its first byte; when it
/// says `incomplete`, append to the buffer (which may move) and call again: the parser resumes
/// where it stopped and never rescans. The header views land in the caller's `header_storage`.
/// After `complete`, request() describes the head and the body starts at `consumed`; call reset()
/// before the next message.
///
/// The parser refers to `header_storage` without owning it, and a copy or a move of the parser
/// refers to the same array: a struct holding both an array and a parser over it must stay where
/// it is (a std::vector of such connections moves them when it grows, leaving each parser writing
/// to the array it left; keep them behind a pointer, or build a new parser over the new array).
class request_parser {
 public:
  explicit request_parser(std::span<header> header_storage, parse_options options = {}) noexcept;

  /// Parses as much of the head as `buffer` holds. Calling again after `complete` or `error`
  /// returns the same result until reset(), whatever `buffer` holds: request() still views the
  /// buffer the head completed in, so a next message needs reset() first (after `complete`, a
  /// call with another buffer asserts in debug builds). Inline: the usual resumed call, a few
  /// more bytes of a name, value, method or target, is decided here, without a call.
  parse_result parse(std::string_view buffer) noexcept;

  /// The parsed head; meaningful after parse() returned `complete`.
  [[nodiscard]] const taut::request& request() const noexcept { return request_; }

  /// Forgets the current message, keeping storage and options.
  void reset() noexcept;

  [[nodiscard]] const parse_options& options() const noexcept { return options_; }
  /// Bytes the parser has examined for this message: at most three times the bytes it was given
  /// for it, however the input was split (a line the vector pass leaves to the byte-by-byte parser
  /// is read again by it; tests/parser/test_work_per_byte.cpp checks the bound).
  [[nodiscard]] std::size_t bytes_examined() const noexcept { return section_.examined; }

 private:
  enum class line_progress : unsigned char { more, complete, error };
  enum class fast_head : unsigned char { not_taken, complete, failed };

  parse_result fail(errc code, std::size_t offset) noexcept;
  line_progress advance_request_line(const char* data, std::size_t size,
                                     detail::step& error) noexcept;
  // All that parse() does but the usual resumed call; out of line, so that parse() stays small.
  [[gnu::noinline]] parse_result parse_more(std::string_view buffer) noexcept;
  // parse() with the new bytes before `stop` found in shortcut_class_: takes_stop, or parse_more.
  [[gnu::noinline]] parse_result parse_at(std::string_view buffer, std::size_t stop) noexcept;
  // The vectorized whole-head path: a failure is in result_.
  fast_head take_fast_head(const char* data, std::size_t size) noexcept;
  bool extends_current_line(const char* data, std::size_t size) noexcept;
  // The resumed call's shortcut (parse()): set up when a call ends incomplete, handed back first
  // thing in parse_more.
  void arm_shortcut() noexcept;
  void disarm_shortcut() noexcept;
  parse_result need_more() noexcept;
  bool takes_stop(const char* data, std::size_t at) noexcept;
  detail::step on_field(const char* data, const header& field) noexcept;
  // Decides the framing of the whole head: false for an error, which is then in result_.
  bool finish(const char* data, std::size_t head_size) noexcept;
  void rebase(const char* data) noexcept;

  std::span<header> storage_;
  parse_options options_;
  taut::request request_{};
  detail::field_section_state section_{};
  detail::framing_fields fields_{};
  detail::request_line_state line_{};
  detail::head_phase phase_ = detail::head_phase::start_line;
  parse_result result_{};  // the error, once failed
  // What parse() may take without parse_more: from shortcut_pos_ (the request-line's `checked` or
  // the field line's `scan`), bytes of shortcut_class_ that leave the buffer no longer than
  // shortcut_end_ (0: no shortcut); a last byte outside the class may only move the field line on
  // (takes_stop).
  std::size_t shortcut_pos_ = 0;
  std::size_t shortcut_end_ = 0;
  std::uint8_t shortcut_class_ = 0;  // a detail::char_class
};

inline parse_result request_parser::parse(std::string_view buffer) noexcept {
  // The usual resumed call, when input trickles in: a few more bytes of the method, the target or
  // the field line being read, nothing to decide (or one byte that only moves the field line on:
  // a colon, a CR, an LF, a name's first byte; parse_at). It is kept apart from the rest, whose
  // frame (six saved registers and a large stack) was most of the cost of such a call; what it may
  // take was worked out when the previous call ended (arm_shortcut), so that it is one comparison
  // of the size and a loop over the new bytes.
  const char* data = buffer.data();
  const std::size_t size = buffer.size();
  const std::size_t from = shortcut_pos_;
  // 1 to 16 new bytes (one unsigned comparison: no new byte wraps around), within the limits.
  if (section_.base == data && size - from - 1 < 16 && size <= shortcut_end_) {
    const auto continues = static_cast<detail::char_class>(shortcut_class_);
    std::size_t i = from;
    do {
      if (!detail::is(data[i], continues)) return parse_at(buffer, i);
    } while (++i < size);
    section_.examined += size - from;
    shortcut_pos_ = size;
    return {};
  }
  return parse_more(buffer);
}

}  // namespace taut
