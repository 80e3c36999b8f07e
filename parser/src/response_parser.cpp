#include "taut/response_parser.hpp"

#include <cstdint>
#include <cstring>

#include "fields.hpp"
#include "scan.hpp"
#include "taut/http_chars.hpp"

namespace taut {

using detail::head_phase;
using detail::step;

namespace {

/// A gateway that cannot parse its upstream's response answers 502 (RFC 9110 section 15.6.3).
constexpr int bad_gateway = 502;

/// Where the reason-phrase starts in a status-line: after "HTTP/1.x", SP, three digits and SP
/// (the default of response_parser::status_line_taken's reason_at).
constexpr std::size_t reason_offset = 13;
/// Where the status code ends: a line that ends there has no SP and no reason-phrase.
constexpr std::size_t status_code_end = 12;

/// Where a status-line being validated byte by byte stands (status_line_state::state).
enum sl : std::uint8_t {
  lead,         // before the status-line: empty lines may come first
  lead_cr,      // after the CR of an empty line
  version,      // in "HTTP/" DIGIT "." DIGIT
  version_end,  // after the version: SP
  status_code,  // in the three digits
  status_end,   // after them: SP
  reason,       // in the reason-phrase
  line_cr,      // after the status-line's CR
};

}  // namespace

response_parser::response_parser(std::span<header> header_storage, parse_options options) noexcept
    : storage_(header_storage), options_(options) {}

void response_parser::reset() noexcept {
  // Only what a parse reads before writing, as request_parser::reset does (zeroing the whole
  // parser cost a tenth of parsing a typical response head): rebase() moves every view, so a stale
  // one must not survive. The rest of response_ is written by every successful parse; result_ only
  // by a failed one.
  response_.reason = {};
  response_.transfer_codings = {};
  section_ = {};
  // Copied from a zeroed constant, not assigned {}: GCC zeroes a struct of this size with
  // `rep stos`, whose start-up cost was a twentieth of a typical response head's time.
  static constexpr detail::framing_fields no_framing_fields{};
  fields_ = no_framing_fields;
  line_ = {};
  phase_ = head_phase::start_line;
}

parse_result response_parser::fail(errc code, std::size_t offset) noexcept {
  phase_ = head_phase::failed;
  result_ = {parse_status::error, 0, {code, offset, bad_gateway}};
  return result_;
}

// Inlined: on a new message (base cleared by reset()) or the same buffer it is a compare and a
// store, which a call cost more than.
[[gnu::always_inline]] inline void response_parser::rebase(const char* data) noexcept {
  if (section_.base == data) return;
  if (section_.base != nullptr) {
    detail::rebase_views(storage_, section_.count, section_.base, data);
    detail::rebase_view(response_.reason, section_.base, data);
  }
  section_.base = data;
}

[[gnu::always_inline]] inline void response_parser::status_line_taken(
    const char* data, std::size_t line_end, std::size_t next, std::size_t reason_at) noexcept {
  // Every byte of [line_.begin, line_end) has been validated: the fields are where the grammar
  // puts them. The reason-phrase starts at reason_offset, or at the line's end (reason_at 12) when
  // leniency::no_space_after_status_code took a line with no SP after the code.
  const char* line = data + line_.begin;
  // A higher 1.x minor is read as 1.1 (RFC 9110 section 2.5); the minor stays as sent.
  response_.version_minor = line[7] - '0';
  response_.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  response_.reason = std::string_view(line + reason_at, line_end - line_.begin - reason_at);
  line_.checked = next;
  phase_ = head_phase::fields;
  section_.pos = next;
  section_.scan = next;
  section_.section_start = next;
}

// Inlined into each field loop that hands it fields, as finish() into parse(): their calls were a
// fixed cost of every head.
[[gnu::always_inline]] inline step response_parser::on_field(const char* data,
                                                             const header& field) noexcept {
  // interpret_field ignores all but the framing fields: the prefilter spares it the call.
  if (!detail::may_be_framing_field(field.name)) return {};
  // The two framing fields nearly every response has, in the form nearly every server writes
  // them, without interpret_field's call: the first Content-Length with a plain number, a
  // Connection of keep-alive or close. interpret_field takes every other form, and decides every
  // error.
  const std::string_view name = field.name;
  if (name.size() == 14) {
    if (detail::iequals(name, "content-length") &&
        detail::take_plain_content_length(data, field, fields_)) {
      return {};
    }
  } else if (name.size() == 10 && detail::iequals(name, "connection") &&
             detail::take_plain_connection(field.value, fields_)) {
    return {};
  }
  // A client takes any transfer coding: it cannot answer 501, and reads the body still coded.
  return detail::interpret_field(data, field, false, response_.version_minor, true, fields_);
}

[[gnu::always_inline]] inline parse_result response_parser::finish(const char* data,
                                                                   std::size_t head_size,
                                                                   method request_method) noexcept {
  const int status = response_.status;
  bool keep_alive = response_.version_minor != 0
                        ? !fields_.connection_close
                        : fields_.connection_keep_alive && !fields_.connection_close;
  // Any 2xx to CONNECT, 204 included, turns the connection into a tunnel (RFC 9110 section 9.3.6).
  const bool tunnel = request_method == method::connect && status / 100 == 2;
  // RFC 9112 section 6.3, in its order.
  if (status / 100 == 1 || status == 204 || status == 304 || request_method == method::head ||
      tunnel) {
    response_.body = {body_kind::none, 0};
  } else if (fields_.has_transfer_encoding) {
    if (fields_.last_coding_chunked) {
      response_.body = {body_kind::chunked, 0};
    } else {
      response_.body = {body_kind::until_close, 0};
    }
    if (fields_.codings_end > fields_.codings_begin) {
      response_.transfer_codings = std::string_view(data + fields_.codings_begin,
                                                    fields_.codings_end - fields_.codings_begin);
    }
    // Transfer-Encoding overrides Content-Length, but the pair hints at smuggling: do not reuse.
    if (fields_.has_content_length) keep_alive = false;
  } else if (fields_.has_content_length) {
    response_.body = {body_kind::content_length, fields_.content_length};
  } else {
    response_.body = {body_kind::until_close, 0};
  }
  response_.body.response = true;
  if (response_.body.kind == body_kind::until_close) keep_alive = false;
  response_.upgrade = status == 101 || tunnel;
  response_.headers = std::span<const header>(storage_.data(), section_.count);
  response_.keep_alive = keep_alive;
  response_.head_size = head_size;
  phase_ = head_phase::complete;
  return {parse_status::complete, head_size, {}};  // result_ keeps errors only
}

// Inlined into parse(), its one caller, as on_field and finish are: a frame of its own was a fixed
// cost of every head.
[[gnu::always_inline]] inline response_parser::fast_head response_parser::take_fast_head(
    const char* data, std::size_t size, method request_method) noexcept {
  // The status-line nearly every server sends and the simple field lines after it, in one pass
  // over the head's 64-byte blocks (fast_status_line); anything else is advance_status_line's and
  // the generic line loop's, which alone decide errors. The scalar path, the reference the
  // others are tested against, keeps only those.
  const detail::scan_ops& ops = detail::scan();
  if (ops.fast_status_line == nullptr) return fast_head::not_taken;
  detail::fast_fields_args fields{
      data, size, 0, 0, storage_.data(), 0, detail::field_capacity(options_, storage_), 0};
  detail::fast_status_line_args args{data, size, options_.max_request_line};
  args.examined = section_.examined;
  args.fields = &fields;
  args.max_header_bytes = options_.max_header_bytes;
  ops.fast_status_line(args);
  section_.examined = args.examined;
  if (!args.taken) return fast_head::not_taken;
  line_.begin = 0;
  status_line_taken(data, args.line_end, args.line_end + 2);
  fields.examined += section_.examined;
  detail::step error;
  const std::size_t end = detail::apply_fast_fields(
      data, fields, storage_, section_,
      [this](const char* d, const header& field)
          __attribute__((always_inline)) { return on_field(d, field); },
      error, detail::framing_values::response);
  if (error.failed()) {
    fail(error.code, error.offset);
    return fast_head::failed;
  }
  // Taken as far as a line the fast loop leaves to the generic one: parse() goes on from there.
  if (end == 0) return fast_head::not_taken;
  finish(data, end, request_method);
  return fast_head::complete;
}

response_parser::line_progress response_parser::advance_status_line(const char* data,
                                                                    std::size_t size,
                                                                    detail::step& error) noexcept {
  // As the request-line is: every byte is judged when it arrives, by what came before it only, so
  // the error a prefix gets is the error of every input that starts with it, however it was cut,
  // and a byte no valid response could hold there is an error at once (a TLS record or an SSH
  // banner from a misconfigured upstream is refused at its first byte, not at a timeout). The
  // bytes already judged are never looked at again.
  // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 section 4)
  detail::status_line_state& st = line_;
  const std::size_t limit = size < options_.max_request_line ? size : options_.max_request_line;
  const bool allow_bare_lf = options_.lenient.bare_lf;
  // The line may end right after the status code (no SP, no reason-phrase) when lenient.
  const bool allow_no_space = options_.lenient.no_space_after_status_code;
  const std::size_t start = st.checked;
  std::size_t i = start;
  auto fail = [&](errc code, std::size_t offset) {
    section_.examined += i + 1 - start;
    error = {code, offset};
    return line_progress::error;
  };
  for (; i < limit; ++i) {
    const char c = data[i];
    if ((c == '\r' || c == '\n') && st.state != lead_cr && st.state != line_cr) {
      if (c == '\n' && !allow_bare_lf) return fail(errc::bare_lf, i);
      if (st.state == lead) {
        if (c == '\r') st.state = lead_cr;
        continue;
      }
      if (st.state != reason && !(st.state == status_end && allow_no_space)) {
        // The line ends before the status-line does.
        const errc code = st.state == version       ? errc::bad_version
                          : st.state == status_code ? errc::bad_status_code
                                                    : errc::bad_status_line;
        return fail(code, i);
      }
      st.line_end = i;
      if (c == '\r') {
        st.state = line_cr;
        continue;
      }
      break;  // a bare LF, leniently: the line is whole
    }
    switch (st.state) {
      case lead:
        st.begin = i;
        st.state = version;
        st.matched = 0;
        [[fallthrough]];
      case version: {
        // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 section 2.3).
        constexpr std::string_view name = "HTTP/";
        const std::uint8_t k = st.matched;
        if (k < 5) {
          if (c != name[k]) return fail(errc::bad_version, i);
        } else if (k == 5) {
          if (!detail::is(c, detail::digit)) return fail(errc::bad_version, i);
          // Only HTTP/1.x is implemented: any other major is refused as soon as it is read.
          if (c != '1') return fail(errc::unsupported_version, st.begin);
        } else if (k == 6) {
          if (c != '.') return fail(errc::bad_version, i);
        } else {
          if (!detail::is(c, detail::digit)) return fail(errc::bad_version, i);
          st.state = version_end;
        }
        ++st.matched;
        break;
      }
      case lead_cr:
        if (c != '\n') return fail(errc::bare_cr, i - 1);
        st.state = lead;
        break;
      case version_end:
        if (c != ' ') return fail(errc::bad_status_line, i);
        st.state = status_code;
        st.matched = 0;
        break;
      case status_code:
        // Three digits, 100 to 599 (RFC 9110 section 15): the first digit alone can rule it out.
        if (!detail::is(c, detail::digit) || (st.matched == 0 && (c < '1' || c > '5'))) {
          return fail(errc::bad_status_code, i);
        }
        if (++st.matched == 3) st.state = status_end;
        break;
      case status_end:
        if (c != ' ') return fail(errc::bad_status_line, i);
        st.state = reason;
        break;
      case reason:
        // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ), the bytes of a field value.
        if (!detail::is(c, detail::field_char)) return fail(errc::bad_reason_phrase, i);
        i = detail::scan().skip_field(data, i, limit) - 1;
        break;
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
  // The line is whole: [begin, line_end), the field section starts after its LF at i.
  section_.examined += i + 1 - start;
  status_line_taken(data, st.line_end, i + 1,
                    st.line_end - st.begin == status_code_end ? status_code_end : reason_offset);
  return line_progress::complete;
}

parse_result response_parser::parse(std::string_view buffer, method request_method) noexcept {
  if (phase_ == head_phase::complete) return {parse_status::complete, response_.head_size, {}};
  if (phase_ == head_phase::failed) return result_;
  const char* data = buffer.data();
  rebase(data);
  if (phase_ == head_phase::start_line && line_.checked == 0) {
    switch (take_fast_head(data, buffer.size(), request_method)) {
      case fast_head::complete:
        return {parse_status::complete, response_.head_size, {}};
      case fast_head::failed:
        return result_;
      case fast_head::not_taken:
        break;
    }
  }
  // The fast path may have taken the status-line (and some field lines) and stopped short.
  if (phase_ == head_phase::start_line) {
    detail::step error;
    switch (advance_status_line(data, buffer.size(), error)) {
      case line_progress::more:
        return {};
      case line_progress::error:
        return fail(error.code, error.offset);
      case line_progress::complete:
        break;
    }
  }
  const detail::section_result r = detail::run_section(
      data, buffer.size(), options_, storage_, section_,
      // The status-line is taken above: the loop starts at the field lines.
      [this](const char* d, const header& field) { return on_field(d, field); },
      detail::framing_values::response);
  switch (r.outcome) {
    case detail::section_outcome::need_more:
      return {};
    case detail::section_outcome::error:
      return fail(r.error.code, r.error.offset);
    case detail::section_outcome::complete:
      break;
  }
  return finish(data, r.end, request_method);
}

}  // namespace taut
