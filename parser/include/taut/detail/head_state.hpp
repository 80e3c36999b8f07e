// Internal state shared by the request and response parsers. Not part of the API: it is in a
// header only so that parsers can live on the stack without allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "taut/message.hpp"
#include "taut/parse_error.hpp"

namespace taut::detail {

/// Where a header-section parse stands, in offsets from the start of the message so that the
/// caller may move its buffer between calls.
struct field_section_state {
  std::size_t pos = 0;            // start of the next unprocessed line
  std::size_t scan = 0;           // where the search for the end of that line resumes
  std::size_t section_start = 0;  // first byte of the field section (limits count from here)
  std::size_t count = 0;          // fields stored
  std::size_t examined = 0;       // bytes looked at, cumulative (the O(n) resumability promise)
  const char* base = nullptr;     // buffer start at the previous call, to rebase stored views
  std::size_t name_end = 0;       // the byte after the name of the field line being read
  bool pending = false;           // storage[count - 1] may still be continued by obs-fold
  std::uint8_t line = 0;          // where the field line being read stands (fields.hpp)
  std::uint8_t value_kind = 0;    // the framing field whose value is being judged (fields.hpp)
  std::uint8_t value_state = 0;   // where that value stands (fields.hpp)
  std::uint8_t value_digits = 0;  // a Content-Length's significant digits so far (fields.hpp)
  std::uint8_t value_order = 0;   // how they compare with those of 2^64 - 1 (fields.hpp)
};

/// What the framing-relevant fields said, accumulated field by field.
struct framing_fields {
  std::uint64_t content_length = 0;
  std::size_t content_length_offset = 0;
  std::size_t transfer_encoding_offset = 0;
  std::size_t host_offset = 0;
  // The Host and (last) Upgrade values, as offsets: they outlive a moved buffer unchanged.
  std::size_t host_value_offset = 0;
  std::size_t host_value_size = 0;
  std::size_t upgrade_value_offset = 0;
  std::size_t upgrade_value_size = 0;
  // The transfer codings the parser does not decode (all but a final chunked), as offsets:
  // [codings_begin, codings_end) of the one field line that may hold them.
  std::size_t codings_begin = 0;
  std::size_t codings_end = 0;
  std::size_t codings_line = 0;  // 1 + the name offset of the first line with a coding, or 0
  std::uint8_t host_count = 0;
  std::uint8_t chunked_count = 0;
  bool has_content_length = false;
  bool has_transfer_encoding = false;
  bool last_coding_chunked = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool connection_upgrade = false;
  bool has_upgrade = false;
  bool expect_continue = false;
};

/// The outcome of one parsing step: ok, or an error code at an offset.
struct step {
  errc code = errc::ok;
  std::size_t offset = 0;
  [[nodiscard]] bool failed() const noexcept { return code != errc::ok; }
};

enum class head_phase : std::uint8_t { start_line, fields, complete, failed };

/// The request-line, validated byte by byte as it arrives, so that an error is reported at the
/// first byte no valid request could hold rather than once the line ends; offsets from the start
/// of the message, so that the buffer may move.
struct request_line_state {
  std::size_t checked = 0;     // bytes validated (empty lines before the request-line included)
  std::size_t begin = 0;       // the method's first byte
  std::size_t method_end = 0;  // the SP after the method
  std::size_t target_end = 0;  // the SP after the target
  std::size_t mark = 0;        // the '%' of an escape being read, or the start of an authority
  std::size_t colon = 0;       // an authority's port colon, or an IP-literal's first byte
  std::uint8_t state = 0;      // where the line stands (request_parser.cpp)
  std::uint8_t resume = 0;     // the state a '%' escape returns to
  std::uint8_t matched = 0;    // bytes of "HTTP/1." matched
  bool port_digit = false;     // a port has at least one digit
  taut::method method = taut::method::other;
  taut::target_form form = taut::target_form::origin;
  int version_minor = 1;
};

/// The status-line, validated byte by byte as it arrives (as request_line_state is): offsets from
/// the start of the message, so that the buffer may move.
struct status_line_state {
  std::size_t checked = 0;   // bytes validated (empty lines before the status-line included)
  std::size_t begin = 0;     // the version's first byte
  std::size_t line_end = 0;  // the CR (or bare LF) that ends the line
  std::uint8_t state = 0;    // where the line stands (response_parser.cpp)
  std::uint8_t matched = 0;  // bytes of "HTTP/1.x", or digits of the status code, matched
};

}  // namespace taut::detail
