// Invariants every parse result must keep, checked against the input with logic written apart from
// the parser's: views inside the input, names that are tokens, consumed and error offsets in range,
// body framing that follows from the fields (RFC 9112 section 6.3), and limits honoured.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "taut/parser.hpp"

namespace taut::fuzz {

// Framing-relevant facts about a field section, gathered by the harness itself.
struct field_facts {
  int content_length_count = 0;
  int transfer_encoding_count = 0;
  int host_count = 0;
  std::string_view host;
  bool all_content_lengths_valid = true;  // 1*DIGIT, no overflow, all equal
  std::optional<std::uint64_t> content_length;
  std::string_view last_coding;  // the final element of the combined Transfer-Encoding list
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool connection_upgrade = false;
  int upgrade_count = 0;
  std::string_view upgrade;
  bool expect_continue = false;
};

inline std::optional<std::uint64_t> parse_content_length(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : digits) {
    if (!is_digit(c)) return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - d) / 10) return std::nullopt;
    value = value * 10 + d;
  }
  return value;
}

inline field_facts facts_of(std::span<const header> fields) {
  field_facts f;
  for (const auto& field : fields) {
    if (iequals(field.name, "content-length")) {
      ++f.content_length_count;
      const auto value = parse_content_length(field.value);
      if (!value || (f.content_length && *f.content_length != *value))
        f.all_content_lengths_valid = false;
      if (value) f.content_length = value;
    } else if (iequals(field.name, "transfer-encoding")) {
      ++f.transfer_encoding_count;
      for_each_list_element(field.value, [&](std::string_view coding) { f.last_coding = coding; });
    } else if (iequals(field.name, "host")) {
      ++f.host_count;
      f.host = field.value;
    } else if (iequals(field.name, "connection")) {
      for_each_list_element(field.value, [&](std::string_view option) {
        f.connection_close = f.connection_close || iequals(option, "close");
        f.connection_keep_alive = f.connection_keep_alive || iequals(option, "keep-alive");
        f.connection_upgrade = f.connection_upgrade || iequals(option, "upgrade");
      });
    } else if (iequals(field.name, "upgrade")) {
      ++f.upgrade_count;
      f.upgrade = field.value;
    } else if (iequals(field.name, "expect")) {
      f.expect_continue = f.expect_continue || iequals(field.value, "100-continue");
    }
  }
  return f;
}

// A field value: field-content bytes, trimmed of OWS, and line breaks only as obs-fold when that
// leniency is on (RFC 9112 section 5.2).
inline void check_field_value(std::string_view value, const leniency& lenient) {
  TAUT_FUZZ_CHECK(value.empty() || (!is_ows(value.front()) && !is_ows(value.back())),
                  "value not trimmed: " + quoted(value));
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\r' || c == '\n') {
      TAUT_FUZZ_CHECK(lenient.obs_fold, "line break in a value without obs_fold: " + quoted(value));
      if (c == '\r') {
        TAUT_FUZZ_CHECK(i + 1 < value.size() && value[i + 1] == '\n',
                        "bare CR in value: " + quoted(value));
        ++i;
      } else {
        TAUT_FUZZ_CHECK(lenient.bare_lf, "bare LF in value: " + quoted(value));
      }
      TAUT_FUZZ_CHECK(i + 1 < value.size() && is_ows(value[i + 1]),
                      "line break not a fold: " + quoted(value));
      continue;
    }
    TAUT_FUZZ_CHECK(is_field_content_byte(c), "bad byte in value: " + quoted(value));
  }
}

inline void check_fields(std::span<const header> fields, std::string_view head,
                         const parse_options& options, std::size_t storage_size) {
  TAUT_FUZZ_CHECK(fields.size() <= storage_size && fields.size() <= options.max_headers,
                  "more fields than storage or max_headers: " + std::to_string(fields.size()));
  const char* previous_end = head.data();
  for (const auto& field : fields) {
    TAUT_FUZZ_CHECK(within(field.name, head) && within(field.value, head),
                    "field view outside the head");
    TAUT_FUZZ_CHECK(is_token(field.name), "field name not a token: " + quoted(field.name));
    TAUT_FUZZ_CHECK(field.name.data() >= previous_end, "fields out of order or overlapping");
    if (!field.value.empty()) {
      TAUT_FUZZ_CHECK(field.value.data() > field.name.data() + field.name.size(),
                      "value before its name");
      previous_end = field.value.data() + field.value.size();
    } else {
      previous_end = field.name.data() + field.name.size();
    }
    check_field_value(field.value, options.lenient);
  }
}

// The head ends with an empty line; with bare_lf either line terminator may be a lone LF.
inline void check_head_end(std::string_view head, const leniency& lenient) {
  const bool crlf = head.ends_with("\r\n\r\n");
  const bool lf = head.ends_with("\n\n") || head.ends_with("\n\r\n");
  TAUT_FUZZ_CHECK(crlf || (lenient.bare_lf && lf),
                  "head does not end with an empty line: " + quoted(head));
}

inline void check_error(const parse_result& r, std::string_view input, bool is_response) {
  TAUT_FUZZ_CHECK(r.error.code != errc::ok, "error status without an error code");
  TAUT_FUZZ_CHECK(r.error.offset < input.size(), "error offset " + std::to_string(r.error.offset) +
                                                     " outside input of " +
                                                     std::to_string(input.size()) + " (" +
                                                     std::string(to_string(r.error.code)) + ")");
  const int expected_status = is_response ? 502 : default_status(r.error.code);
  TAUT_FUZZ_CHECK(
      r.error.status == expected_status,
      std::string(to_string(r.error.code)) + " has status " + std::to_string(r.error.status));
  TAUT_FUZZ_CHECK(!to_string(r.error.code).empty());
  TAUT_FUZZ_CHECK(r.consumed == 0);
}

// Offset of the byte after the start-line's line terminator.
inline std::size_t start_line_end(std::string_view head, std::size_t start_line_begin) {
  const auto lf = head.find('\n', start_line_begin);
  return lf == std::string_view::npos ? head.size() : lf + 1;
}

inline void check_limits(std::string_view head, std::size_t start_line_begin,
                         const parse_options& options) {
  const std::size_t line_end = start_line_end(head, start_line_begin);
  TAUT_FUZZ_CHECK(line_end <= options.max_request_line, "start-line over the limit accepted");
  TAUT_FUZZ_CHECK(head.size() - line_end <= options.max_header_bytes,
                  "header section over the limit accepted");
}

inline void check_request(const parse_result& r, const request& req, std::string_view input,
                          const parse_options& options, std::size_t storage_size) {
  TAUT_FUZZ_CHECK(r.consumed <= input.size());
  TAUT_FUZZ_CHECK((r.status == parse_status::error) == static_cast<bool>(r.error));
  if (r.failed()) return check_error(r, input, false);
  if (r.incomplete()) {
    TAUT_FUZZ_CHECK(r.consumed == 0);
    return;
  }

  const std::string_view head = input.substr(0, r.consumed);
  TAUT_FUZZ_CHECK(req.head_size == r.consumed);
  check_head_end(head, options.lenient);

  // Only empty lines may precede the request-line (RFC 9112 section 2.2).
  TAUT_FUZZ_CHECK(within(req.method_name, head) && !req.method_name.empty());
  for (const char* p = head.data(); p < req.method_name.data(); ++p) {
    TAUT_FUZZ_CHECK(*p == '\n' || (*p == '\r' && p[1] == '\n'), "junk before the request-line");
    TAUT_FUZZ_CHECK(*p != '\n' || options.lenient.bare_lf || (p > head.data() && p[-1] == '\r'),
                    "bare LF before the request-line");
  }
  TAUT_FUZZ_CHECK(is_token(req.method_name), "method not a token: " + quoted(req.method_name));
  TAUT_FUZZ_CHECK(req.method == method_from_token(req.method_name));
  if (req.method != method::other) TAUT_FUZZ_CHECK(to_string(req.method) == req.method_name);

  TAUT_FUZZ_CHECK(within(req.target, head) && !req.target.empty());
  TAUT_FUZZ_CHECK(req.target.data() == req.method_name.data() + req.method_name.size() + 1 &&
                      req.target.data()[-1] == ' ',
                  "target not one SP after the method");
  for (const char c : req.target) {
    const auto u = static_cast<unsigned char>(c);
    TAUT_FUZZ_CHECK(u > 0x20 && u < 0x7f, "bad byte in target: " + quoted(req.target));
  }
  switch (req.target_form) {
    case target_form::origin:
      TAUT_FUZZ_CHECK(req.target.front() == '/');
      break;
    case target_form::asterisk:
      TAUT_FUZZ_CHECK(req.target == "*" && req.method == method::options,
                      "asterisk-form: " + quoted(req.target));
      break;
    case target_form::authority:
      TAUT_FUZZ_CHECK(req.method == method::connect);
      break;
    case target_form::absolute:
      TAUT_FUZZ_CHECK(
          is_alpha(req.target.front()) && req.target.find(':') != std::string_view::npos,
          "absolute-form without a scheme: " + quoted(req.target));
      break;
  }
  if (req.method == method::connect) TAUT_FUZZ_CHECK(req.target_form == target_form::authority);
  // HTTP/1.<minor> as sent; every minor above 0 is handled as 1.1 (RFC 9110 section 2.5).
  TAUT_FUZZ_CHECK(req.version_minor >= 0 && req.version_minor <= 9);

  check_fields(req.headers, head, options, storage_size);
  check_limits(head, static_cast<std::size_t>(req.method_name.data() - head.data()), options);

  const field_facts f = facts_of(req.headers);
  TAUT_FUZZ_CHECK(f.host_count <= 1, "duplicate Host accepted");
  if (req.version_minor != 0)
    TAUT_FUZZ_CHECK(f.host_count == 1, "HTTP/1.1 request without Host accepted");
  TAUT_FUZZ_CHECK(req.host == f.host,
                  "host " + quoted(req.host) + " but field says " + quoted(f.host));
  TAUT_FUZZ_CHECK(f.all_content_lengths_valid, "bad or conflicting Content-Length accepted");
  const bool te_and_cl = f.transfer_encoding_count > 0 && f.content_length_count > 0;
  if (te_and_cl)
    TAUT_FUZZ_CHECK(options.lenient.transfer_encoding_with_content_length, "TE with CL accepted");
  if (f.transfer_encoding_count > 0) {
    TAUT_FUZZ_CHECK(req.version_minor != 0, "Transfer-Encoding in HTTP/1.0 accepted");
    TAUT_FUZZ_CHECK(iequals(f.last_coding, "chunked"), "request TE not ending in chunked accepted");
  }

  switch (req.body.kind) {
    case body_kind::chunked:
      TAUT_FUZZ_CHECK(f.transfer_encoding_count > 0, "chunked framing without Transfer-Encoding");
      break;
    case body_kind::content_length:
      TAUT_FUZZ_CHECK(f.transfer_encoding_count == 0 && f.content_length == req.body.content_length,
                      "content-length framing disagrees with the fields");
      break;
    case body_kind::none:
      TAUT_FUZZ_CHECK(f.transfer_encoding_count == 0 && f.content_length.value_or(0) == 0,
                      "no body although the fields frame one");
      break;
    case body_kind::until_close:
      TAUT_FUZZ_CHECK(false, "a request body framed until close");
      break;
  }
  if (f.transfer_encoding_count > 0) TAUT_FUZZ_CHECK(req.body.kind == body_kind::chunked);

  // Persistence (RFC 9112 section 9.3); a message framed by TE despite a CL must close the
  // connection.
  const bool persistent =
      req.version_minor != 0 ? !f.connection_close : f.connection_keep_alive && !f.connection_close;
  TAUT_FUZZ_CHECK(
      req.keep_alive == (persistent && !te_and_cl),
      "keep_alive " + std::to_string(req.keep_alive) + " disagrees with version and Connection");
  if (req.expect_continue)
    TAUT_FUZZ_CHECK(f.expect_continue, "expect_continue without Expect: 100-continue");
  if (req.upgrade) {
    TAUT_FUZZ_CHECK(f.upgrade_count > 0 && f.connection_upgrade,
                    "upgrade without Upgrade and Connection: upgrade");
    TAUT_FUZZ_CHECK(within(req.upgrade_protocols, head));
  }
}

inline void check_response(const parse_result& r, const response& res, std::string_view input,
                           const parse_options& options, std::size_t storage_size,
                           method request_method) {
  TAUT_FUZZ_CHECK(r.consumed <= input.size());
  TAUT_FUZZ_CHECK((r.status == parse_status::error) == static_cast<bool>(r.error));
  if (r.failed()) return check_error(r, input, true);
  if (r.incomplete()) {
    TAUT_FUZZ_CHECK(r.consumed == 0);
    return;
  }

  const std::string_view head = input.substr(0, r.consumed);
  TAUT_FUZZ_CHECK(res.head_size == r.consumed);
  check_head_end(head, options.lenient);
  TAUT_FUZZ_CHECK(res.version_minor >= 0 && res.version_minor <= 9);
  TAUT_FUZZ_CHECK(res.status >= 100 && res.status <= 999, "status " + std::to_string(res.status));
  TAUT_FUZZ_CHECK(within(res.reason, head));
  for (const char c : res.reason) {
    TAUT_FUZZ_CHECK(c == '\t' || c == ' ' || is_field_content_byte(c),
                    "bad byte in reason: " + quoted(res.reason));
  }
  check_fields(res.headers, head, options, storage_size);
  const auto status_line = head.find("HTTP/");
  TAUT_FUZZ_CHECK(status_line != std::string_view::npos);
  check_limits(head, status_line, options);

  const field_facts f = facts_of(res.headers);
  TAUT_FUZZ_CHECK(f.all_content_lengths_valid, "bad or conflicting Content-Length accepted");
  if (f.transfer_encoding_count > 0)
    TAUT_FUZZ_CHECK(res.version_minor != 0, "TE in HTTP/1.0 accepted");

  // RFC 9112 section 6.3, rules 1 to 7, in order.
  const bool bodiless =
      request_method == method::head || res.status < 200 || res.status == 204 ||
      res.status == 304 ||
      (request_method == method::connect && res.status >= 200 && res.status < 300);
  if (bodiless) {
    TAUT_FUZZ_CHECK(res.body.kind == body_kind::none, "body framed for a response that has none");
  } else if (f.transfer_encoding_count > 0) {
    const auto expected =
        iequals(f.last_coding, "chunked") ? body_kind::chunked : body_kind::until_close;
    TAUT_FUZZ_CHECK(res.body.kind == expected, "TE response framed wrongly");
  } else if (f.content_length) {
    TAUT_FUZZ_CHECK(
        res.body.kind == body_kind::content_length && res.body.content_length == *f.content_length,
        "Content-Length response framed wrongly");
  } else {
    TAUT_FUZZ_CHECK(res.body.kind == body_kind::until_close,
                    "unframed response not read until close");
  }
  // 101 switches protocols; a 2xx answer to CONNECT turns the connection into a tunnel.
  const bool tunnel = request_method == method::connect && res.status >= 200 && res.status < 300;
  TAUT_FUZZ_CHECK(res.upgrade == (res.status == 101 || tunnel),
                  "upgrade flag wrong for the status");
  if (res.body.kind == body_kind::until_close)
    TAUT_FUZZ_CHECK(!res.keep_alive, "until-close body keeps alive");
}

// Decodes the body after a head with the framing the parser chose, in one pass over `rest`, and
// checks each step; `finish` then tells the decoder the peer closed.
inline body_outcome decode_body(const framing& how, std::string_view rest,
                                const parse_options& options, std::span<header> trailer_storage) {
  body_decoder decoder(how, options, trailer_storage);
  body_outcome out;
  std::string_view input = rest;
  while (true) {
    const body_result r = decoder.decode(input);
    check_body_step(r, input);
    TAUT_FUZZ_CHECK(within(r.data, rest));
    out.body.append(r.data);
    out.consumed += r.consumed;
    input.remove_prefix(r.consumed);
    out.status = r.status;
    if (r.status == parse_status::error) {
      TAUT_FUZZ_CHECK(r.error.offset < rest.size(), "body error offset outside the body");
      out.code = r.error.code;
      out.error_offset = r.error.offset;
      return out;
    }
    if (r.status == parse_status::complete) {
      TAUT_FUZZ_CHECK(decoder.done());
      for (const auto& field : decoder.trailers()) {
        TAUT_FUZZ_CHECK(within(field.name, rest) && within(field.value, rest),
                        "trailer outside the input");
        TAUT_FUZZ_CHECK(is_token(field.name), "trailer name not a token: " + quoted(field.name));
        check_field_value(field.value, options.lenient);
      }
      copy_trailers(decoder.trailers(), out);
      break;
    }
    if (r.consumed == 0) break;
  }
  TAUT_FUZZ_CHECK(decoder.body_size() == out.body.size(),
                  "body_size disagrees with the data produced");

  switch (how.kind) {
    case body_kind::none:
      TAUT_FUZZ_CHECK(out.status == parse_status::complete && out.consumed == 0 &&
                      out.body.empty());
      break;
    case body_kind::content_length: {
      const bool whole = rest.size() >= how.content_length;
      TAUT_FUZZ_CHECK(out.status == (whole ? parse_status::complete : parse_status::incomplete));
      TAUT_FUZZ_CHECK(out.body == rest.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(
                                                     how.content_length, rest.size()))),
                      "content-length body is not the bytes after the head");
      break;
    }
    case body_kind::until_close:
      TAUT_FUZZ_CHECK(out.status == parse_status::incomplete && out.body == rest,
                      "until-close body");
      break;
    case body_kind::chunked:
      break;
  }
  if (out.status == parse_status::incomplete) {
    const body_result end = decoder.finish();
    if (how.kind == body_kind::until_close) {
      TAUT_FUZZ_CHECK(end.status == parse_status::complete,
                      "finish() did not complete an until-close body");
    } else {
      TAUT_FUZZ_CHECK(end.status == parse_status::error && end.error.code == errc::body_cut_short,
                      "finish() on a cut body is not body_cut_short");
    }
  }
  return out;
}

}  // namespace taut::fuzz
