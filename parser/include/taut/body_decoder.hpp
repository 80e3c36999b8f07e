// Incremental body decoders: chunked (RFC 9112 section 7.1), Content-Length, and read-until-close.
// They consume what they are given, keep their place between calls, and never allocate.
#pragma once

#include "taut/detail/require_cxx20.hpp"  // first: one clear error before C++20

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "taut/detail/head_state.hpp"
#include "taut/message.hpp"
#include "taut/parse_error.hpp"

namespace taut {

/// The outcome of one decode call. Error offsets count from the first byte of the body.
struct body_result {
  parse_status status = parse_status::incomplete;  // complete once the body (and trailers) ended
  std::size_t consumed = 0;                        // input bytes the caller may now drop
  std::string_view data;  // decoded bytes produced by this call, a view into the input
  parse_error error{};
};

/// The outcome of an in-place decode: the decoded bytes were moved to the front of the buffer.
struct in_place_result {
  parse_status status = parse_status::incomplete;
  std::size_t consumed = 0;  // encoded input bytes processed, from the start of the buffer
  std::size_t decoded = 0;   // decoded body bytes now at the front of the buffer
  parse_error error{};
};

/// Decodes the chunked transfer coding: chunk sizes in hex with overflow checks, validated and
/// length-limited chunk extensions, and trailer fields parsed like header fields. The framing as a
/// whole is bounded relative to the data (parse_options::max_chunk_overhead), so a body of N bytes
/// costs at most about 16 KiB plus 23 bytes per body byte of input (one-byte chunks, the worst).
/// It refers to `trailer_storage` without owning it, in its copies and moves too (as
/// request_parser does to its header storage), and so does body_decoder.
class chunked_decoder {
 public:
  explicit chunked_decoder(parse_options options = {},
                           std::span<header> trailer_storage = {}) noexcept;

  /// Decodes from `input`, which starts at the first byte not yet consumed. Produces at most one
  /// contiguous piece of body per call: call again with the rest while the status is `incomplete`
  /// and bytes were consumed. A trailer section is consumed only once it is whole. Between calls
  /// the caller may drop the consumed bytes and move the rest, in a trailer section too (offsets
  /// are kept, not pointers); `data` points into this call's input: use it before moving that.
  body_result decode(std::string_view input) noexcept;

  /// Decodes `buffer` in place: the body bytes are moved to its front, overwriting chunk framing.
  /// Trailer views point into the part of `buffer` after the decoded bytes.
  in_place_result decode_in_place(std::span<char> buffer) noexcept;

  /// Trailer fields; valid after completion while the input stays unchanged. Without trailer
  /// storage, trailers are validated and dropped.
  [[nodiscard]] std::span<const header> trailers() const noexcept {
    return {storage_.data(), storage_.empty() ? 0 : trailers_.count};
  }
  [[nodiscard]] bool done() const noexcept { return state_ == state::done; }
  /// Total body bytes decoded so far.
  [[nodiscard]] std::uint64_t body_size() const noexcept { return body_size_; }
  /// Encoded bytes consumed so far (chunk framing included).
  [[nodiscard]] std::uint64_t bytes_consumed() const noexcept { return offset_; }
  [[nodiscard]] std::size_t bytes_examined() const noexcept { return examined_; }
  void reset() noexcept;

 private:
  enum class state : std::uint8_t {
    size_first,
    size,
    ext_bws,
    ext_name_start,
    ext_name,
    ext_after_name,
    ext_value_start,
    ext_token_value,
    ext_quoted_value,
    ext_quoted_pair,
    ext_after_quoted,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailers,
    done,
    failed
  };
  body_result fail(errc code, std::size_t index, std::size_t back = 0) noexcept;
  std::span<header> trailer_slots() noexcept {
    return storage_.empty() ? std::span<header>(&discard_slot_, 1) : storage_;
  }
  body_result decode_trailers(std::string_view input, std::size_t start) noexcept;
  /// Counts one framing byte; true once the framing costs more than max_chunk_overhead allows.
  bool framing_byte() noexcept { return ++overhead_ > options_.max_chunk_overhead; }
  /// Where a chunk-size line ends: the chunk pays back for framing, then data or trailers follow.
  void end_size_line() noexcept;
  /// Takes the usual size line (hex digits, then CRLF; `after_data`: the data's CRLF before it)
  /// at input[i] in one step when it is whole and its bytes, less the `counted` ones, fit the
  /// overhead allowance (and it is not the last chunk's, unless `last_chunk_too`): true, i at its
  /// LF.
  bool take_plain_size_line(std::string_view input, std::size_t& i, std::size_t counted,
                            bool after_data, bool last_chunk_too) noexcept;

  std::span<header> storage_;
  header discard_slot_{};  // where trailers go when the caller keeps none
  parse_options options_;
  detail::field_section_state trailers_{};
  std::uint64_t chunk_remaining_ = 0;
  std::uint64_t body_size_ = 0;
  std::uint64_t offset_ = 0;    // body bytes consumed before the current call
  std::uint64_t overhead_ = 0;  // framing bytes not yet paid for by data
  std::size_t extension_length_ = 0;
  std::size_t examined_ = 0;
  state state_ = state::size_first;
  parse_error error_{};
};

/// Decodes a body of any framing a parser decided: none, Content-Length, chunked, or until close.
/// Errors carry the status to answer: a request's as default_status() says (400), a response's
/// (framing::response, set by response_parser) 502, what a gateway answers for a bad upstream.
class body_decoder {
 public:
  explicit body_decoder(framing how, parse_options options = {},
                        std::span<header> trailer_storage = {}) noexcept;

  /// Like chunked_decoder::decode, for every framing.
  body_result decode(std::string_view input) noexcept;
  /// Tells the decoder the peer closed the connection: completes an until-close body, and is an
  /// error (bad framing: the body was cut short) for the others while incomplete.
  body_result finish() noexcept;

  [[nodiscard]] bool done() const noexcept;
  [[nodiscard]] std::span<const header> trailers() const noexcept { return chunked_.trailers(); }
  [[nodiscard]] std::uint64_t body_size() const noexcept;
  [[nodiscard]] const framing& how() const noexcept { return framing_; }

 private:
  [[nodiscard]] int error_status(errc code) const noexcept;

  framing framing_;
  chunked_decoder chunked_;
  std::uint64_t remaining_ = 0;
  std::uint64_t seen_ = 0;
  bool closed_ = false;
};

}  // namespace taut
