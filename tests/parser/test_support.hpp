// Helpers for the parser tests: every request/response/body is parsed whole AND fed in pieces
// (every two-piece split, one byte at a time, into a buffer that moves between calls), and the
// outcomes must be identical. That is how resumability bugs are caught (llhttp does the same).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "taut/parser.hpp"

namespace taut {
// Readable gtest failure messages for the library's enums.
std::ostream& operator<<(std::ostream& out, errc code);
std::ostream& operator<<(std::ostream& out, parse_status status);
std::ostream& operator<<(std::ostream& out, body_kind kind);
std::ostream& operator<<(std::ostream& out, target_form form);
std::ostream& operator<<(std::ostream& out, method m);
}  // namespace taut

namespace taut::test {

/// Where a checking helper was called from, for failure messages (std::source_location, which
/// clang 14 cannot provide with libstdc++ 12).
struct call_site {
  const char* file = "";
  int line = 0;
  static constexpr call_site current(const char* file = __builtin_FILE(),
                                     int line = __builtin_LINE()) noexcept {
    return {file, line};
  }
};

using field_list = std::vector<std::pair<std::string, std::string>>;

/// Everything a request parse produced, copied out of the buffer so outcomes can be compared.
struct request_outcome {
  parse_status status = parse_status::incomplete;
  std::size_t consumed = 0;
  errc code = errc::ok;
  std::size_t offset = 0;
  int http_status = 0;
  // Meaningful when complete.
  std::string method_name;
  taut::method method = taut::method::other;
  std::string target;
  taut::target_form form = taut::target_form::origin;
  int version_minor = -1;
  field_list headers;
  std::string host;
  body_kind body = body_kind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = false;
  bool expect_continue = false;
  bool upgrade = false;
  std::string upgrade_protocols;
  std::string transfer_codings;
  std::size_t head_size = 0;

  bool operator==(const request_outcome&) const = default;
};
std::ostream& operator<<(std::ostream& out, const request_outcome& o);

struct response_outcome {
  parse_status status = parse_status::incomplete;
  std::size_t consumed = 0;
  errc code = errc::ok;
  std::size_t offset = 0;
  int http_status = 0;
  int version_minor = -1;
  int status_code = 0;
  std::string reason;
  field_list headers;
  body_kind body = body_kind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = false;
  bool upgrade = false;
  std::string transfer_codings;
  bool body_of_response = false;  // framing::response
  std::size_t head_size = 0;

  bool operator==(const response_outcome&) const = default;
};
std::ostream& operator<<(std::ostream& out, const response_outcome& o);

/// The outcome of decoding a whole body (all calls together).
struct body_outcome {
  parse_status status = parse_status::incomplete;
  errc code = errc::ok;
  std::size_t offset = 0;
  int http_status = 0;
  std::string data;
  field_list trailers;
  std::size_t consumed = 0;  // encoded bytes consumed in total

  bool operator==(const body_outcome&) const = default;
};
std::ostream& operator<<(std::ostream& out, const body_outcome& o);

inline constexpr std::size_t default_header_capacity = 128;

// ---- Single ways of feeding a parser ------------------------------------------------------

/// Parses `input` in one call.
request_outcome parse_request_whole(std::string_view input, const parse_options& options = {},
                                    std::size_t header_capacity = default_header_capacity);

/// Feeds `input` cut at `cuts` (ascending offsets), appending each piece to a buffer and calling
/// parse() with the whole buffer after each append. With `move_buffer`, every call sees a freshly
/// allocated copy (the old one is freed), so stale pointers are caught (by ASan, and by the check
/// that every view lies inside the current buffer); without, the buffer never moves (room for the
/// whole input is reserved first), as a server's read buffer.
request_outcome parse_request_pieces(std::string_view input, std::span<const std::size_t> cuts,
                                     const parse_options& options = {},
                                     std::size_t header_capacity = default_header_capacity,
                                     bool move_buffer = true);

response_outcome parse_response_whole(std::string_view input, method request_method = method::get,
                                      const parse_options& options = {},
                                      std::size_t header_capacity = default_header_capacity);
response_outcome parse_response_pieces(std::string_view input, std::span<const std::size_t> cuts,
                                       method request_method = method::get,
                                       const parse_options& options = {},
                                       std::size_t header_capacity = default_header_capacity,
                                       bool move_buffer = true);

/// Decodes a chunked body fed in pieces the way a server would: the decoder only ever sees the
/// bytes not consumed yet; it is called again while it makes progress.
body_outcome decode_chunked_pieces(std::string_view input, std::span<const std::size_t> cuts,
                                   const parse_options& options = {},
                                   std::size_t trailer_capacity = 16);
body_outcome decode_chunked_whole(std::string_view input, const parse_options& options = {},
                                  std::size_t trailer_capacity = 16);
/// Decodes with decode_in_place on a copy of `input`, pieces as above.
body_outcome decode_chunked_in_place(std::string_view input, std::span<const std::size_t> cuts,
                                     const parse_options& options = {},
                                     std::size_t trailer_capacity = 16);
/// Any framing through body_decoder; `close_at_end` calls finish() once the input ran out.
body_outcome decode_body_pieces(framing how, std::string_view input,
                                std::span<const std::size_t> cuts, bool close_at_end,
                                const parse_options& options = {},
                                std::size_t trailer_capacity = 16);

// ---- Checked parses: whole, every split, one byte at a time; all must agree ----------------

/// Parses `input` whole and in pieces (every two-piece split, 1 byte at a time, a few 3-piece
/// splits), checks all outcomes are identical, and returns the whole outcome. Inputs longer than
/// `exhaustive_limit` get a sample of split points instead of all of them.
request_outcome parse_request(std::string_view input, const parse_options& options = {},
                              std::size_t header_capacity = default_header_capacity,
                              call_site where = call_site::current());
response_outcome parse_response(std::string_view input, method request_method = method::get,
                                const parse_options& options = {},
                                call_site where = call_site::current());
body_outcome decode_chunked(std::string_view input, const parse_options& options = {},
                            std::size_t trailer_capacity = 16,
                            call_site where = call_site::current());

/// A request that must parse completely; returns its outcome.
request_outcome expect_request_ok(std::string_view input, const parse_options& options = {},
                                  call_site where = call_site::current());
/// A request that must be rejected with `code` at `offset`, status default_status(code).
void expect_request_error(std::string_view input, errc code, std::size_t offset,
                          const parse_options& options = {},
                          std::size_t header_capacity = default_header_capacity,
                          call_site where = call_site::current());
void expect_request_incomplete(std::string_view input, const parse_options& options = {},
                               call_site where = call_site::current());

response_outcome expect_response_ok(std::string_view input, method request_method = method::get,
                                    const parse_options& options = {},
                                    call_site where = call_site::current());
/// A response that must be rejected with `code` at `offset` and status 502.
void expect_response_error(std::string_view input, errc code, std::size_t offset,
                           method request_method = method::get, const parse_options& options = {},
                           call_site where = call_site::current());

/// A chunked body that must decode completely to `data`.
body_outcome expect_chunked_ok(std::string_view input, std::string_view data,
                               const parse_options& options = {},
                               call_site where = call_site::current());
/// A chunked body that must fail with `code` at `offset` (counted from the first body byte).
void expect_chunked_error(std::string_view input, errc code, std::size_t offset,
                          const parse_options& options = {},
                          call_site where = call_site::current());

/// "Host: h\r\n..." helpers for readable inputs.
std::string request_with(std::string_view request_line, std::string_view fields,
                         std::string_view body = {});

/// Cut points for the split checks: every single split, 1-byte pieces, and so on.
std::vector<std::size_t> every_byte(std::size_t size);

}  // namespace taut::test
