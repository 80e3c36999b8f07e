#include "taut/request_parser.hpp"

#include <array>
#include <cassert>
#include <cstring>

#include "fields.hpp"
#include "scan.hpp"
#include "taut/http_chars.hpp"

namespace taut {

using detail::head_phase;
using detail::step;

request_parser::request_parser(std::span<header> header_storage, parse_options options) noexcept
    : storage_(header_storage), options_(options) {}

namespace {
// What reset() copies: an object of each state as a parse starts it.
constexpr detail::field_section_state fresh_section{};
constexpr detail::framing_fields fresh_fields{};
constexpr detail::request_line_state fresh_line{};
}  // namespace

void request_parser::reset() noexcept {
  // Only what a parse reads before writing (rebase() moves every view, so a stale one from the
  // previous message must not survive): zeroing the whole parser compiled to `rep stos`, a fixed
  // cost as large as parsing a small request. The rest of request_ is written by every
  // successful parse; result_ only by a failed one. The states are copied from constants, which
  // compiles to a few vector moves: `= {}` compiled to `rep stos` again (memset too: adjacent
  // ones are merged into one), or to a copy of a temporary built on the stack whose load stalled
  // on the stores that had just built it.
  request_.method_name = {};
  request_.target = {};
  request_.host = {};
  request_.upgrade_protocols = {};
  request_.transfer_codings = {};
  section_ = fresh_section;
  // Of the framing fields, the counts, the flags and what is read before it is written
  // (codings_line, and codings_end, which finish() compares): every offset, size and the length
  // is written with the flag or count that finish() and interpret_field read it under.
  fields_.codings_end = fresh_fields.codings_end;
  fields_.codings_line = fresh_fields.codings_line;
  fields_.host_count = fresh_fields.host_count;
  fields_.chunked_count = fresh_fields.chunked_count;
  fields_.has_content_length = fresh_fields.has_content_length;
  fields_.has_transfer_encoding = fresh_fields.has_transfer_encoding;
  fields_.last_coding_chunked = fresh_fields.last_coding_chunked;
  fields_.connection_close = fresh_fields.connection_close;
  fields_.connection_keep_alive = fresh_fields.connection_keep_alive;
  fields_.connection_upgrade = fresh_fields.connection_upgrade;
  fields_.has_upgrade = fresh_fields.has_upgrade;
  fields_.expect_continue = fresh_fields.expect_continue;
  // Of the request-line's state, only where it stands: advance_request_line, from its first
  // state, writes every other member before it reads it (and the vector pass none).
  line_.checked = fresh_line.checked;
  line_.state = fresh_line.state;
  phase_ = head_phase::start_line;
  shortcut_end_ = 0;
}

parse_result request_parser::fail(errc code, std::size_t offset) noexcept {
  phase_ = head_phase::failed;
  result_ = {parse_status::error, 0, {code, offset, default_status(code)}};
  return result_;
}

// Inlined: on a new message (base cleared by reset()) or the same buffer it is a compare and a
// store, which a call cost more than.
[[gnu::always_inline]] inline void request_parser::rebase(const char* data) noexcept {
  if (section_.base == data) return;
  if (section_.base != nullptr) {
    detail::rebase_views(storage_, section_.count, section_.base, data);
    detail::rebase_view(request_.method_name, section_.base, data);
    detail::rebase_view(request_.target, section_.base, data);
  }
  section_.base = data;
}

namespace {

/// Where a request-line being validated byte by byte stands (request_line_state::state).
enum rl : std::uint8_t {
  lead,             // before the method: empty lines may come first
  lead_cr,          // after the CR of an empty line
  method_token,     // in the method
  target_first,     // at the target's first byte
  path,             // origin-form, or the path and query after an absolute-form's authority
  escape_first,     // after '%'
  escape_second,    // after '%' and one hex digit
  asterisk,         // after OPTIONS's '*'
  scheme,           // absolute-form: in the scheme
  scheme_colon,     // after the scheme's ':'
  scheme_slash,     // after ":/"
  authority_start,  // the first byte of an authority (absolute-form after "//", or CONNECT's)
  ip_literal,       // inside "[...]"
  reg_name,         // in a host name
  after_literal,    // after "]"
  port,             // after the port's ':'
  version,          // in "HTTP/" DIGIT "." DIGIT
  version_end,      // after the version: only the line end may follow
  line_cr,          // after the request-line's CR
};

}  // namespace

request_parser::line_progress request_parser::advance_request_line(const char* data,
                                                                   std::size_t size,
                                                                   detail::step& error) noexcept {
  // Every byte is judged when it arrives, by what came before it only: the error a prefix gets is
  // the error of every input that starts with it, however it was cut, and a byte that no valid
  // request could hold there is an error at once (a TLS ClientHello is refused at its first byte,
  // not after the header timeout). The bytes already judged are never looked at again.
  detail::request_line_state& st = line_;
  const std::size_t limit = size < options_.max_request_line ? size : options_.max_request_line;
  const bool allow_bare_lf = options_.lenient.bare_lf;
  const detail::scan_ops& ops = detail::scan();
  const std::size_t start = st.checked;
  std::size_t i = start;
  auto fail = [&](errc code, std::size_t offset) {
    section_.examined += i + 1 - start;
    error = {code, offset};
    return line_progress::error;
  };
  // An authority ends (at SP, or at '/' or '?' in absolute-form): what may follow it.
  auto authority_ends = [&](char c) {
    if (c == ' ') {
      st.target_end = i;
      st.state = version;
      st.matched = 0;
    } else {
      st.state = path;
    }
  };
  for (; i < limit; ++i) {
    const char c = data[i];
    if ((c == '\r' || c == '\n') && st.state != lead_cr && st.state != line_cr) {
      if (c == '\n' && !allow_bare_lf) return fail(errc::bare_lf, i);
      if (st.state == lead) {
        if (c == '\r') st.state = lead_cr;
        continue;
      }
      if (st.state != version_end) {
        // The line ends before the request-line does.
        return fail(st.state == version ? errc::bad_version : errc::bad_request_line, i);
      }
      if (c == '\r') {
        st.state = line_cr;
        continue;
      }
      break;  // a bare LF, leniently: the line is whole
    }
    switch (st.state) {
      case lead:
        if (!detail::is(c, detail::tchar)) return fail(errc::bad_method, i);
        st.begin = i;
        st.state = method_token;
        i = ops.skip_token(data, i, limit) - 1;
        break;
      case lead_cr:
        if (c != '\n') return fail(errc::bare_cr, i - 1);
        st.state = lead;
        break;
      case method_token:
        if (detail::is(c, detail::tchar)) {
          i = ops.skip_token(data, i, limit) - 1;
          break;
        }
        if (c != ' ') return fail(errc::bad_method, i);
        st.method_end = i;
        st.method = method_from_token(std::string_view(data + st.begin, i - st.begin));
        st.state = target_first;
        break;
      case target_first: {
        if (c == ' ') return fail(errc::bad_request_line, i);
        if (st.method == method::connect) {
          // authority-form only (RFC 9112 section 3.2.3): never origin-form.
          if (c == '/') return fail(errc::bad_target_form, i);
          st.form = target_form::authority;
          st.mark = i;
          st.state = authority_start;
          --i;  // the authority's first byte, judged there
          break;
        }
        if (c == '/') {
          st.form = target_form::origin;
          st.state = path;
        } else if (c == '*') {
          if (st.method != method::options) return fail(errc::bad_target_form, i);
          st.form = target_form::asterisk;
          st.state = asterisk;
        } else if (detail::is(c, detail::alpha)) {
          st.form = target_form::absolute;
          st.state = scheme;
        } else {
          // An IP address or literal is an authority-form, the wrong form for this method;
          // anything else starts no request-target at all.
          const bool authority = detail::is(c, detail::digit) || c == '[';
          return fail(authority ? errc::bad_target_form : errc::bad_target, i);
        }
        break;
      }
      case path:
        if (detail::is(c, detail::path_char)) {
          i = ops.skip_target(data, i, limit) - 1;
          break;
        }
        if (c == '%') {
          st.mark = i;
          st.resume = path;
          st.state = escape_first;
        } else if (c == ' ') {
          st.target_end = i;
          st.state = version;
          st.matched = 0;
        } else {
          return fail(errc::bad_target, i);
        }
        break;
      case escape_first:
      case escape_second:
        if (!detail::is(c, detail::hex_digit)) return fail(errc::bad_target, st.mark);
        st.state = st.state == escape_first ? std::uint8_t{escape_second} : st.resume;
        break;
      case asterisk:
        if (c != ' ') return fail(errc::bad_target, i);
        st.target_end = i;
        st.state = version;
        st.matched = 0;
        break;
      case scheme:
        if (detail::is(c, detail::scheme_char)) break;
        if (c == ':') {
          st.state = scheme_colon;
          break;
        }
        return fail(errc::bad_target, c == ' ' ? st.method_end + 1 : i);
      case scheme_colon:
      case scheme_slash:
        // scheme ":" without "//" is no http(s) URI: the authority-form shape of another method.
        if (c != '/') return fail(errc::bad_target_form, st.method_end + 1);
        if (st.state == scheme_slash) {
          st.mark = i + 1;
          st.state = authority_start;
        } else {
          st.state = scheme_slash;
        }
        break;
      case authority_start:
        // uri-host [ ":" port ] (RFC 3986 section 3.2.2); a host is required.
        if (c == '[') {
          st.colon = i + 1;
          st.state = ip_literal;
        } else if (detail::is(c, detail::host_char)) {
          st.state = reg_name;
        } else if (c == '%') {
          st.mark = i;
          st.resume = reg_name;
          st.state = escape_first;
        } else {
          return fail(errc::bad_target, i);
        }
        break;
      case ip_literal:
        if (detail::is(c, detail::host_char) || c == ':') break;
        if (c == ']') {
          if (i == st.colon) return fail(errc::bad_target, i);
          st.state = after_literal;
          break;
        }
        // The authority ends inside the literal: the error is its last byte.
        if (c == ' ' || (st.form == target_form::absolute && (c == '/' || c == '?'))) {
          return fail(errc::bad_target, i - 1);
        }
        return fail(errc::bad_target, i);
      case reg_name:
      case after_literal:
      case port: {
        const bool connect = st.form == target_form::authority;
        if (st.state == reg_name && detail::is(c, detail::host_char)) break;
        if (st.state == port && detail::is(c, detail::digit)) {
          st.port_digit = true;
          break;
        }
        if (st.state == reg_name && c == '%') {
          st.mark = i;
          st.resume = reg_name;
          st.state = escape_first;
          break;
        }
        if (st.state != port && c == ':') {
          st.colon = i;
          st.port_digit = false;
          st.state = port;
          break;
        }
        if (c == ' ' || (!connect && (c == '/' || c == '?'))) {
          if (connect) {
            // CONNECT needs a port; "*" alone is the asterisk-form, the wrong form.
            if (i - st.mark == 1 && data[st.mark] == '*') {
              return fail(errc::bad_target_form, st.mark);
            }
            if (st.state != port) return fail(errc::bad_target, i - 1);
            if (!st.port_digit) return fail(errc::bad_target, st.colon);
          }
          authority_ends(c);
          break;
        }
        return fail(errc::bad_target, i);
      }
      case version: {
        // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 section 2.3).
        constexpr std::string_view name = "HTTP/";
        const std::uint8_t k = st.matched;
        if (k < 5) {
          if (c != name[k]) return fail(errc::bad_version, i);
        } else if (k == 5) {
          if (!detail::is(c, detail::digit)) return fail(errc::bad_version, i);
          // Only HTTP/1.x is implemented: any other major is 505 as soon as it is read.
          if (c != '1') return fail(errc::unsupported_version, st.target_end + 1);
        } else if (k == 6) {
          if (c != '.') return fail(errc::bad_version, i);
        } else {
          if (!detail::is(c, detail::digit)) return fail(errc::bad_version, i);
          // A higher 1.x minor is handled as 1.1, the highest one implemented (RFC 9110 section
          // 2.5); the minor stays as sent.
          st.version_minor = c - '0';
          st.state = version_end;
        }
        ++st.matched;
        break;
      }
      case version_end:
        return fail(errc::bad_version, i);
      case line_cr:
        if (c != '\n') return fail(errc::bare_cr, i - 1);
        break;
      default:
        break;
    }
    if (st.state == line_cr && c == '\n') break;
  }
  if (i == limit) {
    error = detail::start_line_cut_short(data, size, start, limit,
                                         st.state == line_cr || st.state == lead_cr,
                                         options_.max_request_line, st.checked, section_.examined);
    return error.failed() ? line_progress::error : line_progress::more;
  }
  // The line is whole, the next one starts after its LF at i.
  section_.examined += i + 1 - start;
  st.checked = i + 1;
  request_.method_name = std::string_view(data + st.begin, st.method_end - st.begin);
  request_.method = st.method;
  request_.target = std::string_view(data + st.method_end + 1, st.target_end - st.method_end - 1);
  request_.target_form = st.form;
  request_.version_minor = st.version_minor;
  phase_ = head_phase::fields;
  section_.pos = i + 1;
  section_.scan = i + 1;
  section_.section_start = i + 1;
  return line_progress::complete;
}

// Inlined into parse_more, its one caller: a frame of its own (six saved registers) was a
// tenth of a small request's time.
[[gnu::always_inline]] inline request_parser::fast_head request_parser::take_fast_head(
    const char* data, std::size_t size) noexcept {
  const detail::scan_ops& ops = detail::scan();
  if (ops.fast_request_line == nullptr) return fast_head::not_taken;
  detail::fast_fields_args fields{
      data, size, 0, 0, storage_.data(), 0, detail::field_capacity(options_, storage_), 0};
  detail::fast_request_line_args args{data, size, options_.max_request_line};
  args.examined = section_.examined;
  args.fields = &fields;
  args.max_header_bytes = options_.max_header_bytes;
  ops.fast_request_line(args);
  section_.examined = args.examined;
  if (!args.taken) return fast_head::not_taken;
  const std::string_view method_name(data, args.method_end);
  // GET, the usual method, without the call (method_from_token's answer for it).
  const method m = method_name.size() == 3 && std::memcmp(data, "GET", 3) == 0
                       ? method::get
                       : method_from_token(method_name);
  if (m == method::connect)
    return fast_head::not_taken;  // CONNECT takes authority-form: the generic parser
  request_.method_name = method_name;
  request_.method = m;
  request_.target =
      std::string_view(data + args.method_end + 1, args.target_end - args.method_end - 1);
  request_.target_form = args.absolute ? target_form::absolute : target_form::origin;
  request_.version_minor = args.version_minor;
  phase_ = head_phase::fields;
  section_.pos = args.next;
  section_.scan = args.next;
  section_.section_start = args.next;
  fields.examined += section_.examined;
  detail::step error;
  // Inlined as on_field is: its call was a fixed cost of every head (each has a Host).
  const std::size_t end = detail::apply_fast_fields(
      data, fields, storage_, section_,
      [this](const char* d, const header& field)
          __attribute__((always_inline)) { return on_field(d, field); },
      error, detail::framing_values::request);
  if (error.failed()) {
    fail(error.code, error.offset);
    return fast_head::failed;
  }
  if (end == 0) return fast_head::not_taken;
  return finish(data, end) ? fast_head::complete : fast_head::failed;
}

namespace {

/// The bytes that only lengthen the field line being read, by its state (field_section_state::
/// line): none in the states where a byte may decide something. judged_value's entry holds only
/// for a Host's reg-name, tested apart.
constexpr std::array<detail::char_class, 256> continuing_bytes = [] {
  std::array<detail::char_class, 256> by_state{};
  by_state[detail::field_line::name] = detail::tchar;
  by_state[detail::field_line::value] = detail::field_char;
  by_state[detail::field_line::fold] = detail::field_char;
  by_state[detail::field_line::judged_value] = detail::host_char;
  return by_state;
}();

}  // namespace

inline bool request_parser::extends_current_line(const char* data, std::size_t size) noexcept {
  // Input arriving in small pieces mostly only lengthens the field line being read: when the new
  // bytes only continue its name or value within the limits, there is nothing to decide yet, and
  // the line loop's fixed cost (the larger part of a 1-byte call) is skipped. Exactly what
  // advance_field_line would do. (The request-line is advance_request_line's.)
  constexpr std::size_t short_piece = 16;
  const std::size_t from = section_.scan;
  // 1 to short_piece new bytes: one unsigned comparison (no new byte wraps around).
  if (from == section_.pos || size - from - 1 >= short_piece) return false;
  const std::uint8_t line = section_.line;
  // One load instead of a chain of tests: with no taken branch before the loop for a name or a
  // value, the 1-byte call (the usual one) is measurably cheaper.
  // (A table for every value of the byte: no masking of the index.)
  const detail::char_class continues = continuing_bytes[line];
  if (continues == detail::char_class{}) return false;
  if (line == detail::field_line::judged_value &&
      (section_.value_kind != detail::host_value || section_.value_state != detail::value_body)) {
    // In a Host's reg-name, as advance_field_line's judge would find, more of its bytes leave the
    // judge where it is. (Any other byte, and a Content-Length's digits, are the judge's.)
    return false;
  }
  // Past the section's limit (section_start <= from < size: no overflow, unlike the sum).
  if (size - section_.section_start > options_.max_header_bytes) return false;
  for (std::size_t i = from; i < size; ++i) {
    if (!detail::is(data[i], continues)) return false;
  }
  section_.examined += size - from;
  section_.scan = size;
  return true;
}

// Inlined into each field loop that hands it fields: its call and frame were a fixed cost of
// every request (every request has a Host).
[[gnu::always_inline]] inline detail::step request_parser::on_field(const char* data,
                                                                    const header& field) noexcept {
  // interpret_field ignores all but the framing fields: the prefilter spares it the call.
  if (!detail::may_be_framing_field(field.name)) return {};
  // The only framing field of 4 bytes: Host, which every request has, without the dispatch.
  if (field.name.size() == 4) {
    // "host" in any case, in one word: OR 0x20 maps only 'H', 'O', 'S', 'T' (and themselves) onto
    // these lower-case letters. (iequals compared it a byte at a time.)
    std::uint32_t word = 0;
    std::uint32_t host = 0;
    std::memcpy(&word, field.name.data(), 4);
    std::memcpy(&host, "host", 4);
    return (word | 0x20202020U) == host ? detail::interpret_host(data, field, fields_)
                                        : detail::step{};
  }
  return detail::interpret_field(data, field, true, request_.version_minor,
                                 options_.allow_transfer_codings, fields_);
}

// Inlined into its two callers, as on_field: a fixed cost of every request.
[[gnu::always_inline]] inline bool request_parser::finish(const char* data,
                                                          std::size_t head_size) noexcept {
  const std::size_t final_line = section_.pos;
  // Every decision below is 1.1's for any minor above 0 (RFC 9110 section 2.5).
  const bool http11 = request_.version_minor != 0;
  if (http11 && fields_.host_count == 0) {
    fail(errc::missing_host, final_line);
    return false;
  }
  bool keep_alive = http11 ? !fields_.connection_close
                           : fields_.connection_keep_alive && !fields_.connection_close;
  if (fields_.has_transfer_encoding) {
    if (fields_.has_content_length) {
      if (!options_.lenient.transfer_encoding_with_content_length) {
        const std::size_t second = fields_.transfer_encoding_offset > fields_.content_length_offset
                                       ? fields_.transfer_encoding_offset
                                       : fields_.content_length_offset;
        fail(errc::transfer_encoding_with_content_length, second);
        return false;
      }
      keep_alive = false;  // RFC 9112 section 6.3: close after answering such a request
    }
    if (!fields_.last_coding_chunked) {
      fail(errc::chunked_not_final, fields_.transfer_encoding_offset);
      return false;
    }
    request_.body = {body_kind::chunked, 0};
    if (fields_.codings_end > fields_.codings_begin) {
      request_.transfer_codings = std::string_view(data + fields_.codings_begin,
                                                   fields_.codings_end - fields_.codings_begin);
    }
  } else if (fields_.has_content_length) {
    request_.body = {body_kind::content_length, fields_.content_length};
  } else {
    request_.body = {body_kind::none, 0};
  }
  request_.headers = std::span<const header>(storage_.data(), section_.count);
  request_.keep_alive = keep_alive;
  // RFC 9110 sections 10.1.1 and 7.8: a server MUST ignore Expect: 100-continue and Upgrade in
  // an HTTP/1.0 request.
  request_.expect_continue = fields_.expect_continue && http11;
  request_.upgrade = fields_.has_upgrade && fields_.connection_upgrade && http11;
  if (fields_.host_count != 0) {
    request_.host = std::string_view(data + fields_.host_value_offset, fields_.host_value_size);
  }
  if (fields_.has_upgrade) {
    request_.upgrade_protocols =
        std::string_view(data + fields_.upgrade_value_offset, fields_.upgrade_value_size);
  }
  request_.head_size = head_size;
  phase_ = head_phase::complete;
  // The caller builds the result in its return slot: result_ keeps errors only, and a parse_result
  // returned from here was copied by loads that stalled on the stores that had just built it.
  return true;
}

void request_parser::arm_shortcut() noexcept {
  // The conditions of advance_request_line's and the field line loop's plain runs, worked out
  // once when a call ends rather than at each resumed call: what extends_current_line tests, in a
  // form parse() needs one comparison of the buffer's size for. Where a field line's next byte
  // may only move it on (takes_stop), the shortcut is set up with no class of bytes.
  shortcut_end_ = 0;
  if (phase_ == head_phase::start_line) {
    // Not at the line's first byte, which decides more (empty lines may come first).
    if (line_.checked == 0) return;
    if (line_.state == path) {
      shortcut_class_ = detail::path_char;
    } else if (line_.state == method_token) {
      shortcut_class_ = detail::tchar;
    } else {
      return;
    }
    shortcut_pos_ = line_.checked;
    shortcut_end_ = options_.max_request_line;
    return;
  }
  if (phase_ != head_phase::fields) return;
  const std::uint8_t line = section_.line;
  if (line == detail::field_line::line_start || line == detail::field_line::value_cr) {
    if (line == detail::field_line::line_start && section_.scan != section_.pos) return;
    shortcut_class_ = 0;
  } else {
    if (section_.scan == section_.pos) return;
    const detail::char_class continues = continuing_bytes[line];
    if (continues == detail::char_class{}) return;
    if (line == detail::field_line::judged_value &&
        (section_.value_kind != detail::host_value || section_.value_state != detail::value_body)) {
      return;
    }
    shortcut_class_ = continues;
  }
  shortcut_pos_ = section_.scan;
  shortcut_end_ = detail::saturating_add(section_.section_start, options_.max_header_bytes);
}

[[gnu::always_inline]] inline void request_parser::disarm_shortcut() noexcept {
  // What parse() took is recorded where the line loops resume.
  if (shortcut_end_ == 0) return;
  if (phase_ == head_phase::start_line) {
    line_.checked = shortcut_pos_;
  } else {
    section_.scan = shortcut_pos_;
  }
  shortcut_end_ = 0;
}

parse_result request_parser::need_more() noexcept {
  arm_shortcut();
  return {};
}

inline bool request_parser::takes_stop(const char* data, std::size_t at) noexcept {
  // The one byte at `at`, the buffer's last, which shortcut_class_ does not hold: exactly what the
  // field line loop (advance_field_line) would do with it when it only moves the line on, or
  // false. shortcut_pos_ moves past it.
  if (phase_ != head_phase::fields) return false;
  const char c = data[at];
  switch (section_.line) {
    case detail::field_line::name: {
      // A colon ends a name of neither Host's nor Content-Length's size (the values of those are
      // judged byte by byte: the loop's).
      const std::size_t name_size = at - section_.pos;
      if (c != ':' || name_size == 4 || name_size == 14) return false;
      section_.name_end = at;
      section_.value_kind = detail::no_framing_value;
      section_.line = detail::field_line::value;
      section_.value_state = detail::value_lead;
      section_.value_digits = 0;
      section_.value_order = detail::length_digits::same;
      shortcut_class_ = detail::field_char;
      break;
    }
    case detail::field_line::value:
    case detail::field_line::fold:
      // A CR ends a plain value.
      if (c != '\r') return false;
      section_.line = section_.line == detail::field_line::fold ? detail::field_line::fold_cr
                                                                : detail::field_line::value_cr;
      shortcut_class_ = 0;
      break;
    case detail::field_line::value_cr:
      // Its LF ends the field line (not an obs-fold's: those are appended, the loop's).
      if (c != '\n') return false;
      detail::store_field_line(data, at - 1, storage_, section_);
      section_.line = detail::field_line::line_start;
      section_.pos = at + 1;
      break;
    case detail::field_line::line_start:
      // A name's first byte: the field before is whole, and on_field ignores it unless it may
      // be a framing field (those are the loop's).
      if (!detail::is(c, detail::tchar) ||
          section_.count >= detail::field_capacity(options_, storage_) ||
          (section_.pending && detail::may_be_framing_field(storage_[section_.count - 1].name))) {
        return false;
      }
      section_.pending = false;
      section_.line = detail::field_line::name;
      shortcut_class_ = detail::tchar;
      break;
    default:
      return false;
  }
  section_.examined += at + 1 - shortcut_pos_;
  shortcut_pos_ = at + 1;
  return true;
}

parse_result request_parser::parse_at(std::string_view buffer, std::size_t stop) noexcept {
  // parse() found every new byte before `stop` in shortcut_class_. Apart from parse_more, whose
  // frame is large.
  if (stop + 1 == buffer.size() && takes_stop(buffer.data(), stop)) return {};
  return parse_more(buffer);
}

parse_result request_parser::parse_more(std::string_view buffer) noexcept {
  const char* data = buffer.data();
  // A message's first call with bytes (reset() cleared the base, and every call that saw a byte
  // set it): no shortcut is armed, no view is stored, the request-line is not begun. The usual
  // whole head goes straight to the vector pass, past the resumed call's bookkeeping below.
  bool first_line_byte = section_.base == nullptr && phase_ == head_phase::start_line;
  bool line_tried = false;
  if (first_line_byte) {
    section_.base = data;
  } else {
    disarm_shortcut();
    // request()'s views are into the buffer the head completed in: another buffer is a misuse
    // (the next message given without reset(), or the head moved), which debug builds catch.
    assert((phase_ != head_phase::complete || section_.base == data) &&
           "request_parser::parse() after complete with another buffer: reset() first");
    if (phase_ == head_phase::complete) return {parse_status::complete, request_.head_size, {}};
    if (phase_ == head_phase::failed) return result_;
    // In the fields of the same buffer, parse() has just found that the new bytes do not only
    // extend the current line: not tried again.
    line_tried = phase_ == head_phase::fields && section_.base == data;
    rebase(data);
    first_line_byte = phase_ == head_phase::start_line && line_.checked == 0;
  }
  if (first_line_byte) {
    switch (take_fast_head(data, buffer.size())) {
      case fast_head::complete:
        return {parse_status::complete, request_.head_size, {}};
      case fast_head::failed:
        return result_;
      case fast_head::not_taken:
        break;
    }
  }
  // The fast path may have taken the request-line (and some field lines) and stopped short.
  if (phase_ == head_phase::start_line) {
    detail::step error;
    switch (advance_request_line(data, buffer.size(), error)) {
      case line_progress::more:
        return need_more();
      case line_progress::error:
        return fail(error.code, error.offset);
      case line_progress::complete:
        break;
    }
  }
  if (!line_tried && extends_current_line(data, buffer.size())) return need_more();
  const detail::section_result r = detail::run_section(
      data, buffer.size(), options_, storage_, section_,
      // advance_request_line took the request-line: the loop starts at the field lines.
      [this](const char* d, const header& field) { return on_field(d, field); },
      detail::framing_values::request);
  switch (r.outcome) {
    case detail::section_outcome::need_more:
      return need_more();
    case detail::section_outcome::error:
      return fail(r.error.code, r.error.offset);
    case detail::section_outcome::complete:
      break;
  }
  if (!finish(data, r.end)) return result_;
  return {parse_status::complete, r.end, {}};
}

}  // namespace taut
