#include "taut/response_parser.hpp"

#include "fields.hpp"
#include "scan.hpp"
#include "taut/http_chars.hpp"

namespace taut {

using detail::head_phase;
using detail::step;

namespace {
/// A gateway that cannot parse its upstream's response answers 502 (RFC 9110 section 15.6.3).
constexpr int bad_gateway = 502;
}  // namespace

response_parser::response_parser(std::span<header> header_storage, parse_options options) noexcept
    : storage_(header_storage), options_(options) {}

void response_parser::reset() noexcept {
  response_ = {};
  section_ = {};
  fields_ = {};
  phase_ = head_phase::start_line;
  result_ = {};
}

parse_result response_parser::fail(errc code, std::size_t offset) noexcept {
  phase_ = head_phase::failed;
  result_ = {parse_status::error, 0, {code, offset, bad_gateway}};
  return result_;
}

void response_parser::rebase(const char* data) noexcept {
  if (section_.base == data) return;
  if (section_.base != nullptr) {
    detail::rebase_views(storage_, section_.count, section_.base, data);
    detail::rebase_view(response_.reason, section_.base, data);
  }
  section_.base = data;
}

step response_parser::parse_status_line(const char* data, std::size_t begin,
                                        std::size_t end) noexcept {
  section_.examined += end - begin;
  // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 section 4)
  constexpr std::string_view prefix = "HTTP/";
  for (std::size_t k = 0; k < 8; ++k) {
    if (begin + k >= end) return {errc::bad_version, end};
    const char c = data[begin + k];
    const bool ok = k < 5 ? c == prefix[k] : (k == 6 ? c == '.' : detail::is(c, detail::digit));
    if (!ok) return {errc::bad_version, begin + k};
  }
  // A higher 1.x minor is read as 1.1 (RFC 9110 section 2.5); the minor stays as sent.
  if (data[begin + 5] != '1') return {errc::unsupported_version, begin};
  response_.version_minor = data[begin + 7] - '0';
  std::size_t i = begin + 8;
  if (i >= end || data[i] != ' ') return {errc::bad_status_line, i};
  ++i;
  int status = 0;
  for (std::size_t k = 0; k < 3; ++k, ++i) {
    if (i >= end || !detail::is(data[i], detail::digit)) return {errc::bad_status_code, i};
    status = status * 10 + (data[i] - '0');
  }
  if (status < 100 || status > 599) return {errc::bad_status_code, begin + 9};
  response_.status = status;
  if (i >= end || data[i] != ' ') return {errc::bad_status_line, i};
  ++i;
  if (const std::size_t bad = detail::scan().skip_field(data, i, end); bad != end) {
    return {errc::bad_reason_phrase, bad};
  }
  response_.reason = std::string_view(data + i, end - i);
  return {};
}

step response_parser::on_field(const char* data, const header& field) noexcept {
  // interpret_field ignores all but the framing fields: the prefilter spares it the call.
  if (!detail::may_be_framing_field(field.name)) return {};
  // A client takes any transfer coding: it cannot answer 501, and reads the body still coded.
  return detail::interpret_field(data, field, false, response_.version_minor, true, fields_);
}

parse_result response_parser::finish(const char* data, std::size_t head_size,
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
  if (status == 101 || tunnel) response_.upgrade = true;
  response_.headers = std::span<const header>(storage_.data(), section_.count);
  response_.keep_alive = keep_alive;
  response_.head_size = head_size;
  phase_ = head_phase::complete;
  return {parse_status::complete, head_size, {}};  // result_ keeps errors only
}

parse_result response_parser::parse(std::string_view buffer, method request_method) noexcept {
  if (phase_ == head_phase::complete) return {parse_status::complete, response_.head_size, {}};
  if (phase_ == head_phase::failed) return result_;
  const char* data = buffer.data();
  rebase(data);
  const detail::section_result r = detail::run_section(
      data, buffer.size(), options_, storage_, section_, phase_,
      [this](const char* d, std::size_t begin, std::size_t end) {
        return parse_status_line(d, begin, end);
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
  return finish(data, r.end, request_method);
}

}  // namespace taut
