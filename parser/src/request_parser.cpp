#include "taut/request_parser.hpp"

#include "taut/http_chars.hpp"
#include "fields.hpp"
#include "scan.hpp"

namespace taut {

using detail::head_phase;
using detail::line;
using detail::line_found;
using detail::step;
using detail::valid;

request_parser::request_parser(std::span<header> header_storage, parse_options options) noexcept
    : storage_(header_storage), options_(options) {}

void request_parser::reset() noexcept {
  // Only what a parse reads before writing (rebase() moves every view, so a stale one from the
  // previous message must not survive): zeroing the whole parser compiled to `rep stos`, a fixed
  // cost as large as parsing a small request. The rest of request_ is written by every
  // successful parse; result_ only by a failed one.
  request_.method_name = {};
  request_.target = {};
  request_.host = {};
  request_.upgrade_protocols = {};
  request_.transfer_codings = {};
  section_ = {};
  fields_ = {};
  phase_ = head_phase::start_line;
}

parse_result request_parser::fail(errc code, std::size_t offset) noexcept {
  phase_ = head_phase::failed;
  result_ = {parse_status::error, 0, {code, offset, default_status(code)}};
  return result_;
}

void request_parser::rebase(const char* data) noexcept {
  if (section_.base == data) return;
  if (section_.base != nullptr) {
    detail::rebase_views(storage_, section_.count, section_.base, data);
    detail::rebase_view(request_.method_name, section_.base, data);
    detail::rebase_view(request_.target, section_.base, data);
  }
  section_.base = data;
}

namespace {

/// Validates path-abempty / absolute-path [ "?" query ] bytes in [begin, end): pchar, "/", "?",
/// and well-formed percent-escapes. Returns the first bad offset or `valid`.
std::size_t validate_path_and_query(const char* data, std::size_t begin, std::size_t end) noexcept {
  for (std::size_t i = begin; i < end; ++i) {
    const char c = data[i];
    if (detail::is(c, detail::path_char)) continue;
    if (c != '%') return i;
    if (i + 2 >= end || !detail::is(data[i + 1], detail::hex_digit) ||
        !detail::is(data[i + 2], detail::hex_digit)) {
      return i;
    }
    i += 2;
  }
  return valid;
}

struct target_check {
  errc code = errc::ok;
  std::size_t offset = 0;
  target_form form = target_form::origin;
};

/// RFC 9112 section 3.2: which form the target has, and whether the method allows that form.
target_check check_target(const char* data, std::size_t begin, std::size_t end, method m) noexcept {
  const char first = data[begin];
  if (m == method::connect) {
    // origin-form or asterisk-form; a reg-name may itself start with '*' (a sub-delim).
    if (first == '/' || (first == '*' && end - begin == 1)) return {errc::bad_target_form, begin};
    const std::size_t bad = detail::validate_authority(data, begin, end, true, true);
    if (bad != valid) return {errc::bad_target, bad};
    return {errc::ok, 0, target_form::authority};
  }
  if (first == '/') {
    const std::size_t bad = validate_path_and_query(data, begin, end);
    if (bad != valid) return {errc::bad_target, bad};
    return {errc::ok, 0, target_form::origin};
  }
  if (first == '*') {
    if (end - begin != 1) return {errc::bad_target, begin + 1};
    if (m != method::options) return {errc::bad_target_form, begin};
    return {errc::ok, 0, target_form::asterisk};
  }
  // authority-form ("127.0.0.1:80", "[::1]:443") is for CONNECT only; one starting with a
  // letter is caught below, as it also looks like a scheme.
  if (!detail::is(first, detail::alpha)) {
    const bool authority = detail::validate_authority(data, begin, end, true, true) == valid;
    return {authority ? errc::bad_target_form : errc::bad_target, begin};
  }
  // absolute-form: scheme "://" authority path-abempty [ "?" query ]; http(s) URIs need the
  // authority, and anything else shaped like authority-form is only for CONNECT.
  std::size_t i = begin;
  while (i < end && detail::is(data[i], detail::scheme_char)) ++i;
  if (i == end || data[i] != ':') return {errc::bad_target, i < end ? i : begin};
  if (end - i < 3 || data[i + 1] != '/' || data[i + 2] != '/') {
    return {errc::bad_target_form, begin};
  }
  const std::size_t authority_begin = i + 3;
  std::size_t authority_end = authority_begin;
  while (authority_end < end && data[authority_end] != '/' && data[authority_end] != '?') {
    ++authority_end;
  }
  // userinfo ("user@host") is refused: RFC 9110 section 4.2.4 tells recipients to treat it as an
  // error, and validate_authority rejects '@'.
  const std::size_t bad =
      detail::validate_authority(data, authority_begin, authority_end, false, true);
  if (bad != valid) return {errc::bad_target, bad};
  const std::size_t bad_path = validate_path_and_query(data, authority_end, end);
  if (bad_path != valid) return {errc::bad_target, bad_path};
  return {errc::ok, 0, target_form::absolute};
}

}  // namespace

detail::step request_parser::parse_request_line(const char* data, std::size_t begin,
                                                std::size_t end) noexcept {
  section_.examined += end - begin;
  const detail::scan_ops& ops = detail::scan();
  std::size_t i = ops.skip_token(data, begin, end);
  if (i == begin) return {errc::bad_method, begin};
  if (i == end) return {errc::bad_request_line, end};
  if (data[i] != ' ') return {errc::bad_method, i};
  request_.method_name = std::string_view(data + begin, i - begin);
  request_.method = method_from_token(request_.method_name);

  const std::size_t target_begin = i + 1;
  // One pass validates the common case, an origin-form of pchars and percent-escapes; anything
  // else is found to end at SP and checked form by form.
  std::size_t target_end = target_begin;
  while (true) {
    target_end = ops.skip_target(data, target_end, end);
    if (target_end + 2 < end && data[target_end] == '%' &&
        detail::is(data[target_end + 1], detail::hex_digit) &&
        detail::is(data[target_end + 2], detail::hex_digit)) {
      target_end += 3;
      continue;
    }
    break;
  }
  const bool simple_origin = target_end < end && data[target_end] == ' ' &&
                             data[target_begin] == '/' && request_.method != method::connect;
  target_form form = target_form::origin;
  if (!simple_origin) {
    while (target_end < end && data[target_end] != ' ') ++target_end;
    if (target_end == target_begin || target_end == end) {
      return {errc::bad_request_line, target_end};
    }
    const target_check target = check_target(data, target_begin, target_end, request_.method);
    if (target.code != errc::ok) return {target.code, target.offset};
    form = target.form;
  }
  request_.target = std::string_view(data + target_begin, target_end - target_begin);
  request_.target_form = form;

  // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 section 2.3).
  const std::size_t v = target_end + 1;
  constexpr std::string_view prefix = "HTTP/";
  for (std::size_t k = 0; k < 8; ++k) {
    if (v + k >= end) return {errc::bad_version, v + k < end ? v + k : end};
    const char c = data[v + k];
    const bool ok = k < 5 ? c == prefix[k] : (k == 6 ? c == '.' : detail::is(c, detail::digit));
    if (!ok) return {errc::bad_version, v + k};
  }
  if (v + 8 != end) return {errc::bad_version, v + 8};
  // RFC 9110 section 2.5: a higher 1.x minor is handled as 1.1, the highest one implemented; the
  // minor stays as sent.
  if (data[v + 5] != '1') return {errc::unsupported_version, v};
  request_.version_minor = data[v + 7] - '0';
  return {};
}

bool request_parser::take_fast_head(const char* data, std::size_t size,
                                    parse_result& out) noexcept {
  const detail::scan_ops& ops = detail::scan();
  if (ops.fast_request_line == nullptr) return false;
  detail::fast_fields_args fields{
      data, size, 0, 0, storage_.data(), 0, detail::field_capacity(options_, storage_), 0};
  detail::fast_request_line_args args{data, size, options_.max_request_line};
  args.examined = section_.examined;
  args.fields = &fields;
  args.max_header_bytes = options_.max_header_bytes;
  ops.fast_request_line(args);
  section_.examined = args.examined;
  if (!args.taken) return false;
  const std::string_view method_name(data, args.method_end);
  const method m = method_from_token(method_name);
  if (m == method::connect) return false;  // CONNECT takes authority-form: the generic parser
  request_.method_name = method_name;
  request_.method = m;
  request_.target =
      std::string_view(data + args.method_end + 1, args.target_end - args.method_end - 1);
  request_.target_form = target_form::origin;
  request_.version_minor = args.version_minor;
  phase_ = head_phase::fields;
  section_.pos = args.next;
  section_.scan = args.next;
  section_.section_start = args.next;
  fields.examined += section_.examined;
  detail::step error;
  const std::size_t end = detail::apply_fast_fields(
      data, fields, storage_, section_,
      [this](const char* d, const header& field) { return on_field(d, field); }, error);
  if (error.failed()) {
    out = fail(error.code, error.offset);
    return true;
  }
  if (end == 0) return false;
  out = finish(data, end);
  return true;
}

bool request_parser::extends_current_line(const char* data, std::size_t size) noexcept {
  // Input arriving in small pieces mostly only lengthens the line being read: when the new bytes
  // are plain field bytes within the limits, there is nothing to decide yet, and the line loop's
  // fixed cost (the larger part of a 1-byte call) is skipped. Exactly what find_line would do.
  constexpr std::size_t short_piece = 16;
  const std::size_t from = section_.scan;
  if (from == section_.pos || size <= from || size - from > short_piece) return false;
  const std::size_t limit =
      phase_ == head_phase::start_line
          ? options_.max_request_line
          : detail::saturating_add(section_.section_start, options_.max_header_bytes);
  if (size > limit) return false;
  for (std::size_t i = from; i < size; ++i) {
    if (!detail::is(data[i], detail::field_char)) return false;
  }
  section_.examined += size - from;
  section_.scan = size;
  return true;
}

detail::step request_parser::on_field(const char* data, const header& field) noexcept {
  // interpret_field ignores all but the framing fields: the prefilter spares it the call.
  if (!detail::may_be_framing_field(field.name)) return {};
  return detail::interpret_field(data, field, true, request_.version_minor,
                                 options_.allow_transfer_codings, fields_);
}

parse_result request_parser::finish(const char* data, std::size_t head_size) noexcept {
  const std::size_t final_line = section_.pos;
  // Every decision below is 1.1's for any minor above 0 (RFC 9110 section 2.5).
  const bool http11 = request_.version_minor != 0;
  if (http11 && fields_.host_count == 0) {
    return fail(errc::missing_host, final_line);
  }
  bool keep_alive = http11 ? !fields_.connection_close
                         : fields_.connection_keep_alive && !fields_.connection_close;
  if (fields_.has_transfer_encoding) {
    if (fields_.has_content_length) {
      if (!options_.lenient.transfer_encoding_with_content_length) {
        const std::size_t second = fields_.transfer_encoding_offset > fields_.content_length_offset
                                       ? fields_.transfer_encoding_offset
                                       : fields_.content_length_offset;
        return fail(errc::transfer_encoding_with_content_length, second);
      }
      keep_alive = false;  // RFC 9112 section 6.3: close after answering such a request
    }
    if (!fields_.last_coding_chunked) {
      return fail(errc::chunked_not_final, fields_.transfer_encoding_offset);
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
  // result_ keeps errors only: storing this one field by field and returning a copy of it stalled
  // on store forwarding, a measurable share of a small request's time.
  return {parse_status::complete, head_size, {}};
}

parse_result request_parser::parse(std::string_view buffer) noexcept {
  if (phase_ == head_phase::complete) return {parse_status::complete, request_.head_size, {}};
  if (phase_ == head_phase::failed) return result_;
  const char* data = buffer.data();
  rebase(data);
  if (phase_ == head_phase::start_line && section_.scan == 0) {
    if (parse_result done; take_fast_head(data, buffer.size(), done)) return done;
  }
  if (extends_current_line(data, buffer.size())) return {};
  const detail::section_result r = detail::run_section(
      data, buffer.size(), options_, storage_, section_, phase_,
      [this](const char* d, std::size_t begin, std::size_t end) {
        return parse_request_line(d, begin, end);
      },
      [this](const char* d, const header& field) { return on_field(d, field); });
  switch (r.outcome) {
    case detail::section_outcome::need_more:
      return {};
    case detail::section_outcome::error:
      return fail(r.error.code, r.error.offset);
    case detail::section_outcome::complete:
      break;
  }
  return finish(data, r.end);
}

}  // namespace taut
