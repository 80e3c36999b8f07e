// Parse errors as values: a named code, the byte offset where the input went wrong, and the HTTP
// status a server should answer with. Plugs into std::error_code.
#pragma once

#include "taut/detail/require_cxx20.hpp"  // first: one clear error before C++20

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace taut {

/// Every way a message can be rejected. The names are stable: tools print them (taut-parse).
enum class errc : std::uint8_t {
  ok = 0,
  // Line structure (RFC 9112 section 2.2).
  bare_cr,  // CR not followed by LF
  bare_lf,  // LF without CR while the bare_lf leniency is off
  // Request-line (RFC 9112 section 3).
  bad_method,             // empty method or a byte that is not tchar
  bad_request_line,       // wrong separators (missing or extra SP)
  bad_target,             // a byte not allowed in a request-target, bad percent-escape, or bad form
  bad_target_form,        // authority-form without CONNECT, asterisk-form without OPTIONS, ...
  bad_version,            // not HTTP/DIGIT.DIGIT
  unsupported_version,    // well-formed but not HTTP/1.x (505); 1.2 and up are served as 1.1
  request_line_too_long,  // longer than parse_options::max_request_line (414)
  // Status-line (RFC 9112 section 4).
  bad_status_line,
  bad_status_code,
  bad_reason_phrase,
  // Header fields (RFC 9112 section 5).
  bad_header_name,           // empty name or a byte that is not tchar
  bad_header_value,          // a control byte (other than HTAB) in a field value
  missing_colon,             // a field line without ':'
  space_before_colon,        // whitespace between name and ':' while that leniency is off
  obs_fold,                  // a line starting with SP/HTAB while the obs_fold leniency is off
  leading_whitespace,        // whitespace between the start-line and the first field line
  header_section_too_large,  // more than parse_options::max_header_bytes (431)
  too_many_headers,  // more fields than the caller's span or parse_options::max_headers (431)
  // Framing (RFC 9112 section 6, RFC 9110 section 8.6).
  bad_content_length,                     // not 1*DIGIT, or overflows
  conflicting_content_length,             // two Content-Length fields with different values
  transfer_encoding_with_content_length,  // both present in a request (smuggling defence)
  chunked_not_final,         // request Transfer-Encoding whose final coding is not chunked
  chunked_applied_twice,     // chunked appears more than once
  bad_transfer_encoding,     // malformed transfer-coding list
  unknown_transfer_coding,   // a coding this parser does not know (501)
  transfer_encoding_http10,  // Transfer-Encoding in an HTTP/1.0 message
  missing_host,              // HTTP/1.1 request without Host
  duplicate_host,            // more than one Host field
  bad_host,                  // Host value that is not uri-host [ ":" port ]
  // Chunked body (RFC 9112 section 7.1).
  bad_chunk_size,
  chunk_size_overflow,
  bad_chunk_extension,
  chunk_extension_too_long,  // longer than parse_options::max_chunk_extension
  bad_chunk_data_end,        // chunk-data not followed by CRLF
  body_cut_short,            // the connection ended before a delimited body did
  // Appended here so the values above (and taut.h's) keep their numbers.
  chunk_overhead_too_large,  // more chunk framing than parse_options::max_chunk_overhead allows
};

/// The stable, printable name of a code ("bad_method", ...).
[[nodiscard]] std::string_view to_string(errc code) noexcept;

/// The status a server should answer a request that failed with this code (400, 414, 431, 501,
/// 505). For responses, parse_error::status is 502: a gateway reports a bad upstream.
[[nodiscard]] int default_status(errc code) noexcept;

/// What went wrong, where (byte offset from the start of the message the parser was given), and
/// what to answer.
struct parse_error {
  errc code = errc::ok;
  std::size_t offset = 0;
  int status = 0;

  [[nodiscard]] explicit operator bool() const noexcept { return code != errc::ok; }
};

/// The std::error_category of taut::errc ("taut.parse").
[[nodiscard]] const std::error_category& parse_category() noexcept;

/// Makes taut::errc usable as std::error_code.
[[nodiscard]] inline std::error_code make_error_code(errc code) noexcept {
  return {static_cast<int>(code), parse_category()};
}

}  // namespace taut

template <>
struct std::is_error_code_enum<taut::errc> : std::true_type {};
