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
  bool pending = false;           // storage[count - 1] may still be continued by obs-fold
  bool dirty = false;             // the line being scanned holds a control byte
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

}  // namespace taut::detail
