#include "taut/body_decoder.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "fields.hpp"
#include "taut/http_chars.hpp"

namespace taut {
namespace {

/// Each byte's hex digit value, or -1: one load per digit of a size line.
constexpr std::array<std::int8_t, 256> hex_digit_values = [] {
  std::array<std::int8_t, 256> values{};
  for (int c = 0; c < 256; ++c) {
    values[static_cast<std::size_t>(c)] =
        static_cast<std::int8_t>(detail::hex_value(static_cast<char>(c)));
  }
  return values;
}();

/// The usual chunk-size line at p: 1 to 16 hex digits, then CRLF, all within [p, p + available).
/// Its length, the value in `size`; 0 for anything else (an extension, a bare LF, a longer size,
/// a line cut short), which the byte loop takes.
std::size_t plain_size_line(const char* p, std::size_t available, std::uint64_t& size) noexcept {
  constexpr std::size_t most_digits = 16;  // a 64-bit size; leading zeros past it: the byte loop
  const std::size_t scan = available < most_digits + 1 ? available : most_digits + 1;
  std::uint64_t value = 0;
  std::size_t k = 0;
  for (; k < scan; ++k) {
    const int v = hex_digit_values[static_cast<unsigned char>(p[k])];
    if (v < 0) break;
    value = (value << 4) | static_cast<std::uint64_t>(v);
  }
  if (k == 0 || k > most_digits || k + 2 > available || p[k] != '\r' || p[k + 1] != '\n') return 0;
  size = value;
  return k + 2;
}

}  // namespace

chunked_decoder::chunked_decoder(parse_options options, std::span<header> trailer_storage) noexcept
    : storage_(trailer_storage), options_(options) {}

void chunked_decoder::reset() noexcept {
  trailers_ = {};
  chunk_remaining_ = 0;
  body_size_ = 0;
  offset_ = 0;
  overhead_ = 0;
  extension_length_ = 0;
  examined_ = 0;
  state_ = state::size_first;
  error_ = {};
}

body_result chunked_decoder::fail(errc code, std::size_t index, std::size_t back) noexcept {
  state_ = state::failed;
  error_ = {code, static_cast<std::size_t>(offset_) + index - back, default_status(code)};
  return {parse_status::error, 0, {}, error_};
}

[[gnu::always_inline]] inline void chunked_decoder::end_size_line() noexcept {
  // Each chunk earns 20 bytes (a 16-byte size line and its two CRLFs: streaming one byte per chunk
  // stays legitimate) and twice its size, the allowance Go settled on for CVE-2023-39326. The
  // credit does not accumulate, so a large chunk early on cannot pay for a flood of tiny chunks
  // with long extensions later.
  constexpr std::uint64_t per_chunk = 20;
  const std::uint64_t data_credit =
      chunk_remaining_ > (std::numeric_limits<std::uint64_t>::max() / 4)
          ? std::numeric_limits<std::uint64_t>::max() / 2
          : chunk_remaining_ * 2;
  const std::uint64_t credit = per_chunk + data_credit;
  overhead_ = overhead_ > credit ? overhead_ - credit : 0;
  state_ = chunk_remaining_ == 0 ? state::trailers : state::data;
}

body_result chunked_decoder::decode_trailers(std::string_view input, std::size_t start) noexcept {
  const char* data = input.data() + start;
  const std::span<header> storage = trailer_slots();
  if (trailers_.base != data) {
    if (trailers_.base != nullptr) {
      detail::rebase_views(storage, trailers_.count, trailers_.base, data);
    }
    trailers_.base = data;
  }
  const std::size_t examined_before = trailers_.examined;
  const detail::section_result r = detail::run_section(
      data, input.size() - start, options_, storage, trailers_, [this](const char*, const header&) {
        // Validated, then dropped: nowhere to keep it. With the one discard slot the fast field
        // loop never completes a field itself, so this still runs for every trailer.
        if (storage_.empty()) trailers_.count = 0;
        return detail::step{};
      });
  examined_ += trailers_.examined - examined_before;
  switch (r.outcome) {
    case detail::section_outcome::need_more:
      offset_ += start;
      return {parse_status::incomplete, start, {}, {}};
    case detail::section_outcome::error:
      return fail(r.error.code, start + r.error.offset);
    case detail::section_outcome::complete:
      break;
  }
  state_ = state::done;
  offset_ += start + r.end;
  return {parse_status::complete, start + r.end, {}, {}};
}

bool chunked_decoder::take_plain_size_line(std::string_view input, std::size_t& i,
                                           std::size_t counted, bool after_data,
                                           bool last_chunk_too) noexcept {
  // After a chunk's data, its CRLF first.
  const std::size_t crlf = after_data ? 2 : 0;
  if (after_data && (input.size() - i < 3 || input[i] != '\r' || input[i + 1] != '\n')) {
    return false;
  }
  std::uint64_t size = 0;
  const std::size_t line = plain_size_line(input.data() + i + crlf, input.size() - i - crlf, size);
  // All its bytes must fit the overhead allowance; else the byte loop finds the one that does not.
  if (line == 0 || (size == 0 && !last_chunk_too) ||
      options_.max_chunk_overhead - overhead_ < crlf + line - counted) {
    return false;
  }
  overhead_ += crlf + line - counted;
  chunk_remaining_ = size;
  extension_length_ = 0;
  end_size_line();
  i += crlf + line - 1;
  return true;
}

body_result chunked_decoder::decode(std::string_view input) noexcept {
  if (state_ == state::done) return {parse_status::complete, 0, {}, {}};
  if (state_ == state::failed) return {parse_status::error, 0, {}, error_};
  const std::size_t n = input.size();
  const bool bare_lf = options_.lenient.bare_lf;
  std::size_t i = 0;
  // Extensions are counted byte by byte so the limit holds however the input is split.
  auto extension_byte = [this] { return ++extension_length_ > options_.max_chunk_extension; };
  for (; i < n; ++i) {
    const char c = input[i];
    // Every byte outside chunk data and the trailer section is framing (the data state returns
    // before the next loop iteration, the trailers state hands over to decode_trailers).
    if (state_ != state::data && state_ != state::trailers && framing_byte()) {
      return fail(errc::chunk_overhead_too_large, i);
    }
    switch (state_) {
      case state::size_first: {
        // The usual size line whole in the input: one step instead of a state per byte.
        if (take_plain_size_line(input, i, 1, false, true)) break;
        const int v = detail::hex_value(c);
        if (v < 0) return fail(errc::bad_chunk_size, i);
        chunk_remaining_ = static_cast<std::uint64_t>(v);
        extension_length_ = 0;
        state_ = state::size;
        break;
      }
      case state::size: {
        const int v = detail::hex_value(c);
        if (v >= 0) {
          if (chunk_remaining_ > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
            return fail(errc::chunk_size_overflow, i);
          }
          chunk_remaining_ = (chunk_remaining_ << 4) | static_cast<std::uint64_t>(v);
          break;
        }
        if (c == '\r') {
          state_ = state::size_lf;
        } else if (c == '\n') {
          if (!bare_lf) return fail(errc::bare_lf, i);
          end_size_line();
        } else if (c == ';' || detail::is_ws(c)) {
          if (extension_byte()) return fail(errc::chunk_extension_too_long, i);
          state_ = c == ';' ? state::ext_name_start : state::ext_bws;
        } else {
          return fail(errc::bad_chunk_size, i);
        }
        break;
      }
      // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (section 7.1.1)
      case state::ext_bws:
      case state::ext_name_start:
      case state::ext_name:
      case state::ext_after_name:
      case state::ext_value_start:
      case state::ext_token_value:
      case state::ext_quoted_value:
      case state::ext_quoted_pair:
      case state::ext_after_quoted: {
        const bool line_end = c == '\r' || c == '\n';
        const bool may_end = state_ == state::ext_name || state_ == state::ext_token_value ||
                             state_ == state::ext_after_quoted;
        if (line_end && state_ != state::ext_quoted_value && state_ != state::ext_quoted_pair) {
          if (!may_end) return fail(errc::bad_chunk_extension, i);
          if (c == '\n') {
            if (!bare_lf) return fail(errc::bare_lf, i);
            end_size_line();
          } else {
            state_ = state::size_lf;
          }
          break;
        }
        if (extension_byte()) return fail(errc::chunk_extension_too_long, i);
        const bool ws = detail::is_ws(c);
        const bool token = detail::is(c, detail::tchar);
        switch (state_) {
          case state::ext_bws:
            if (c == ';')
              state_ = state::ext_name_start;
            else if (!ws)
              return fail(errc::bad_chunk_extension, i);
            break;
          case state::ext_name_start:
            if (token)
              state_ = state::ext_name;
            else if (!ws)
              return fail(errc::bad_chunk_extension, i);
            break;
          case state::ext_name:
          case state::ext_after_name:
            if (c == '=')
              state_ = state::ext_value_start;
            else if (c == ';')
              state_ = state::ext_name_start;
            else if (ws)
              state_ = state::ext_after_name;
            else if (!token || state_ == state::ext_after_name)
              return fail(errc::bad_chunk_extension, i);
            break;
          case state::ext_value_start:
            if (token)
              state_ = state::ext_token_value;
            else if (c == '"')
              state_ = state::ext_quoted_value;
            else if (!ws)
              return fail(errc::bad_chunk_extension, i);
            break;
          case state::ext_token_value:
          case state::ext_after_quoted:
            if (c == ';')
              state_ = state::ext_name_start;
            else if (ws)
              state_ = state::ext_bws;
            else if (!token || state_ == state::ext_after_quoted)
              return fail(errc::bad_chunk_extension, i);
            break;
          case state::ext_quoted_value:
            if (c == '"')
              state_ = state::ext_after_quoted;
            else if (c == '\\')
              state_ = state::ext_quoted_pair;
            else if (!detail::is(c, detail::field_char))
              return fail(errc::bad_chunk_extension, i);
            break;
          case state::ext_quoted_pair:
            if (!detail::is(c, detail::field_char)) return fail(errc::bad_chunk_extension, i);
            state_ = state::ext_quoted_value;
            break;
          default:
            break;
        }
        break;
      }
      case state::size_lf:
        if (c != '\n') return fail(errc::bare_cr, i, 1);  // at the CR, maybe in the previous call
        end_size_line();
        break;
      case state::data: {
        const std::size_t available = n - i;
        const std::size_t take =
            chunk_remaining_ < available ? static_cast<std::size_t>(chunk_remaining_) : available;
        chunk_remaining_ -= take;
        body_size_ += take;
        examined_ += i;
        if (chunk_remaining_ == 0) state_ = state::data_cr;
        offset_ += i + take;
        return {parse_status::incomplete, i + take, input.substr(i, take), {}};
      }
      case state::data_cr:
        // The data's CRLF and the usual size line after it, whole: on to the next chunk's data.
        if (take_plain_size_line(input, i, 1, true, true)) break;
        if (c == '\r') {
          state_ = state::data_lf;
        } else if (c == '\n' && bare_lf) {
          state_ = state::size_first;
        } else {
          return fail(c == '\n' ? errc::bare_lf : errc::bad_chunk_data_end, i);
        }
        break;
      case state::data_lf:
        if (c != '\n') return fail(errc::bad_chunk_data_end, i);
        state_ = state::size_first;
        break;
      case state::trailers:
        examined_ += i;
        return decode_trailers(input, i);
      case state::done:
      case state::failed:
        break;
    }
  }
  examined_ += i;
  offset_ += i;
  return {parse_status::incomplete, i, {}, {}};
}

in_place_result chunked_decoder::decode_in_place(std::span<char> buffer) noexcept {
  char* const data = buffer.data();
  const std::size_t n = buffer.size();
  std::size_t read = 0;
  std::size_t written = 0;
  body_result r;
  while (true) {
    // The usual run of chunks, each whole in the buffer with the usual size line after its data:
    // the data moved and the framing taken here, as decode() would one call per chunk. Not the
    // last chunk's line: decode() takes it with the trailer section, in the same call, so that a
    // bad trailer section leaves `consumed` where it did.
    while (true) {
      if (state_ == state::data && chunk_remaining_ < n - read) {
        const auto take = static_cast<std::size_t>(chunk_remaining_);
        std::memmove(data + written, data + read, take);
        written += take;
        read += take;
        body_size_ += take;
        offset_ += take;
        chunk_remaining_ = 0;
        state_ = state::data_cr;
      }
      std::size_t last = read;
      if (state_ != state::data_cr ||
          !take_plain_size_line(std::string_view(data, n), last, 0, true, false)) {
        break;
      }
      examined_ += last + 1 - read;
      offset_ += last + 1 - read;
      read = last + 1;
    }
    r = decode(std::string_view(data + read, n - read));
    if (!r.data.empty()) {
      std::memmove(data + written, r.data.data(), r.data.size());
      written += r.data.size();
    }
    read += r.consumed;
    if (r.status != parse_status::incomplete || r.consumed == 0 || read == n) break;
  }
  return {r.status, read, written, r.error};
}

body_decoder::body_decoder(framing how, parse_options options,
                           std::span<header> trailer_storage) noexcept
    : framing_(how), chunked_(options, trailer_storage), remaining_(how.content_length) {}

bool body_decoder::done() const noexcept {
  switch (framing_.kind) {
    case body_kind::none:
      return true;
    case body_kind::content_length:
      return remaining_ == 0;
    case body_kind::chunked:
      return chunked_.done();
    case body_kind::until_close:
      return closed_;
  }
  return false;
}

std::uint64_t body_decoder::body_size() const noexcept {
  return framing_.kind == body_kind::chunked ? chunked_.body_size() : seen_;
}

body_result body_decoder::decode(std::string_view input) noexcept {
  switch (framing_.kind) {
    case body_kind::none:
      return {parse_status::complete, 0, {}, {}};
    case body_kind::content_length: {
      const std::size_t take =
          remaining_ < input.size() ? static_cast<std::size_t>(remaining_) : input.size();
      remaining_ -= take;
      seen_ += take;
      return {remaining_ == 0 ? parse_status::complete : parse_status::incomplete,
              take,
              input.substr(0, take),
              {}};
    }
    case body_kind::chunked: {
      body_result r = chunked_.decode(input);
      if (r.status == parse_status::error) r.error.status = error_status(r.error.code);
      return r;
    }
    case body_kind::until_close:
      if (closed_) return {parse_status::complete, 0, {}, {}};
      seen_ += input.size();
      return {parse_status::incomplete, input.size(), input, {}};
  }
  return {};
}

body_result body_decoder::finish() noexcept {
  closed_ = true;
  if (done()) return {parse_status::complete, 0, {}, {}};
  const errc code = errc::body_cut_short;
  const auto offset = static_cast<std::size_t>(
      framing_.kind == body_kind::chunked ? chunked_.bytes_consumed() : seen_);
  return {parse_status::error, 0, {}, {code, offset, error_status(code)}};
}

int body_decoder::error_status(errc code) const noexcept {
  // A response's body that cannot be decoded is a bad upstream (RFC 9110 section 15.6.3).
  constexpr int bad_gateway = 502;
  return framing_.response ? bad_gateway : default_status(code);
}

}  // namespace taut
