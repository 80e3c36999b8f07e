// The known differences between taut (strict) and llhttp 8.1 (strict). Each predicate confirms its
// case from the input and the accepting parser's view of it; see known-differences.md for the why.
#include "known_differences.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "fuzz_support.hpp"

namespace taut::fuzz {
namespace {

// --- Grammar pieces (RFC 3986 section 2, RFC 9110 section 5.6)
// ------------------------------------

constexpr bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr bool is_unreserved(char c) noexcept {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
constexpr bool is_sub_delim(char c) noexcept {
  return std::string_view{"!$&'()*+,;="}.find(c) != std::string_view::npos;
}
constexpr bool is_obs_text(char c) noexcept {
  return static_cast<unsigned char>(c) >= 0x80;
}
constexpr bool is_vchar(char c) noexcept {
  return c > 0x20 && c < 0x7f;
}

// pchar-based check of a run of bytes, allowing `extra` characters and well-formed %-escapes.
bool is_uri_run(std::string_view s, std::string_view extra) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
      i += 2;
    } else if (!is_unreserved(c) && !is_sub_delim(c) && extra.find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool is_ip_literal(std::string_view s) {
  if (s.size() < 2 || s.front() != '[' || s.back() != ']') return false;
  s = s.substr(1, s.size() - 2);
  if (!s.empty() && (s.front() == 'v' || s.front() == 'V')) {  // IPvFuture
    const auto dot = s.find('.');
    if (dot == std::string_view::npos || dot < 2 || dot + 1 == s.size()) return false;
    for (std::size_t i = 1; i < dot; ++i) {
      if (!is_hex(s[i])) return false;
    }
    for (const char c : s.substr(dot + 1)) {
      if (!is_unreserved(c) && !is_sub_delim(c) && c != ':') return false;
    }
    return true;
  }
  if (s.find(':') == std::string_view::npos) return false;
  for (const char c : s) {
    if (!is_hex(c) && c != ':' && c != '.') return false;
  }
  return true;
}

// A chunk extension value: token or quoted-string (with quoted-pairs).
std::size_t quoted_string_end(std::string_view s, std::size_t i) {
  if (i >= s.size() || s[i] != '"') return std::string_view::npos;
  for (++i; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') return i + 1;
    if (c == '\\') {
      if (i + 1 >= s.size()) return std::string_view::npos;
      const char e = s[i + 1];
      if (!(e == '\t' || e == ' ' || is_vchar(e) || is_obs_text(e))) return std::string_view::npos;
      ++i;
    } else if (!(c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
                 (c >= 0x5d && c <= 0x7e) || is_obs_text(c))) {
      return std::string_view::npos;
    }
  }
  return std::string_view::npos;
}

std::size_t skip_ows(std::string_view s, std::size_t i) {
  while (i < s.size() && is_ows(s[i])) ++i;
  return i;
}
std::size_t skip_token(std::string_view s, std::size_t i) {
  while (i < s.size() && is_tchar(s[i])) ++i;
  return i;
}

// The line of `input` that holds `offset`, without its line ending.
std::string_view line_at(std::string_view input, std::size_t offset) {
  if (offset >= input.size()) offset = input.empty() ? 0 : input.size() - 1;
  const auto before = offset == 0 ? std::string_view::npos : input.rfind('\n', offset - 1);
  const std::size_t begin = before == std::string_view::npos ? 0 : before + 1;
  auto end = input.find('\n', offset);
  if (end == std::string_view::npos) end = input.size();
  std::string_view line = input.substr(begin, end - begin);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// The request-line, after any empty lines (CRLF or LF) before it.
std::string_view request_line(std::string_view input) {
  std::size_t i = 0;
  while (i < input.size()) {
    if (input[i] == '\n') {
      ++i;
    } else if (input[i] == '\r' && i + 1 < input.size() && input[i + 1] == '\n') {
      i += 2;
    } else {
      break;
    }
  }
  return line_at(input, i);
}

int count_fields(const field_list& fields, std::string_view name) {
  int n = 0;
  for (const auto& field : fields) n += iequals(field.first, name) ? 1 : 0;
  return n;
}

std::string_view first_field(const field_list& fields, std::string_view name) {
  for (const auto& field : fields) {
    if (iequals(field.first, name)) return field.second;
  }
  return {};
}

bool taut_rejected(const difference_case& c, std::initializer_list<errc> codes) {
  if (c.taut.outcome != verdict::reject || c.llhttp.outcome != verdict::accept) return false;
  for (const errc code : codes) {
    if (c.taut.code == code) return true;
  }
  return false;
}

bool llhttp_rejected(const difference_case& c, std::initializer_list<llhttp_errno_t> codes) {
  if (c.llhttp.outcome != verdict::reject || c.taut.outcome != verdict::accept) return false;
  for (const llhttp_errno_t code : codes) {
    if (c.llhttp.error == code) return true;
  }
  return false;
}

// --- The entries
// ----------------------------------------------------------------------------------

bool host_field(const difference_case& c) {
  if (!taut_rejected(c, {errc::missing_host, errc::duplicate_host, errc::bad_host})) return false;
  const int hosts = count_fields(c.llhttp.headers, "host");
  if (hosts > 1) return true;
  if (hosts == 0) return c.llhttp.major == 1 && c.llhttp.minor == 1;
  return !is_valid_host_value(trim_ows(first_field(c.llhttp.headers, "host")));
}

bool field_name_token(const difference_case& c) {
  if (!taut_rejected(c, {errc::bad_header_name})) return false;
  const auto bad_name = [](const auto& field) { return !is_token(field.first); };
  return std::any_of(c.llhttp.headers.begin(), c.llhttp.headers.end(), bad_name) ||
         std::any_of(c.llhttp.trailers.begin(), c.llhttp.trailers.end(), bad_name);
}

bool connection_options(const difference_case& c) {
  if (!taut_rejected(c, {errc::bad_header_value})) return false;
  if (!iequals(line_at(c.input, c.taut.error_at).substr(0, 11), "connection:")) return false;
  bool all_tokens = true;
  for (const auto& [name, value] : c.llhttp.headers) {
    if (!iequals(name, "connection")) continue;
    for_each_list_element(
        value, [&](std::string_view option) { all_tokens = all_tokens && is_token(option); });
  }
  return !all_tokens;
}

bool http_version(const difference_case& c) {
  if (!taut_rejected(c, {errc::unsupported_version})) return false;
  return !(c.llhttp.major == 1 && (c.llhttp.minor == 0 || c.llhttp.minor == 1));
}

bool obs_fold(const difference_case& c) {
  if (!taut_rejected(c, {errc::obs_fold})) return false;
  const std::size_t at = c.taut.error_at;
  return at > 0 && at < c.input.size() && is_ows(c.input[at]) && c.input[at - 1] == '\n';
}

bool request_line_spacing(const difference_case& c) {
  if (!taut_rejected(c, {errc::bad_request_line, errc::bad_target, errc::bad_version}))
    return false;
  const std::string_view line = request_line(c.input);
  // method SP request-target SP HTTP-version: exactly two single spaces, no other whitespace.
  std::size_t spaces = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\t') return true;
    if (line[i] == ' ') {
      ++spaces;
      if (i == 0 || i + 1 == line.size() || line[i + 1] == ' ') return true;
    }
  }
  return spaces != 2;
}

bool target_characters(const difference_case& c) {
  if (!taut_rejected(c, {errc::bad_target})) return false;
  return !is_valid_origin_or_absolute(c.llhttp.url);
}

bool target_form(const difference_case& c) {
  if (!taut_rejected(c, {errc::bad_target_form, errc::bad_target})) return false;
  const std::string_view url = c.llhttp.url;
  const bool is_connect = c.llhttp.method == "CONNECT";
  if (url == "*") return c.llhttp.method != "OPTIONS";
  if (is_connect) {
    // authority-form only: uri-host ":" port, port required (RFC 9112 section 3.2.3).
    const auto colon = url.rfind(':');
    return colon == std::string_view::npos || colon + 1 == url.size() || url.front() == '/' ||
           !is_valid_host_value(url);
  }
  // taut judges the form at the target's first bytes ("*/", "1x", "[": no form starts so) and
  // says bad_target_form there; llhttp takes any run of URL bytes.
  return !is_valid_origin_or_absolute(url);
}

bool empty_authority(const difference_case& c) {
  if (!taut_rejected(c, {errc::bad_target})) return false;
  const std::string_view url = c.llhttp.url;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return false;
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  return authority.empty() || authority.front() == ':';
}

bool userinfo_in_target(const difference_case& c) {
  if (!taut_rejected(c, {errc::bad_target})) return false;
  const std::string_view url = c.llhttp.url;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return false;
  const std::string_view rest = url.substr(scheme_end + 3);
  const auto authority_end = rest.find_first_of("/?#");
  return rest.substr(0, authority_end).find('@') != std::string_view::npos;
}

bool bare_lf(const difference_case& c) {
  if (!taut_rejected(c, {errc::bare_lf})) return false;
  const std::size_t at = c.taut.error_at;
  return at < c.input.size() && c.input[at] == '\n' && (at == 0 || c.input[at - 1] != '\r');
}

bool bare_cr(const difference_case& c) {
  if (!taut_rejected(c, {errc::bare_cr})) return false;
  const std::size_t at = c.taut.error_at;
  return at < c.input.size() && c.input[at] == '\r' &&
         (at + 1 == c.input.size() || c.input[at + 1] != '\n');
}

bool transfer_encoding_with_content_length(const difference_case& c) {
  if (!taut_rejected(c, {errc::transfer_encoding_with_content_length})) return false;
  return count_fields(c.llhttp.headers, "transfer-encoding") > 0 &&
         count_fields(c.llhttp.headers, "content-length") > 0;
}

bool transfer_encoding_http10(const difference_case& c) {
  if (!taut_rejected(c, {errc::transfer_encoding_http10})) return false;
  return c.llhttp.minor == 0 && count_fields(c.llhttp.headers, "transfer-encoding") > 0;
}

bool transfer_codings(const difference_case& c) {
  if (!taut_rejected(c, {errc::unknown_transfer_coding, errc::bad_transfer_encoding,
                         errc::chunked_applied_twice, errc::chunked_not_final})) {
    return false;
  }
  // taut (strict) decodes chunked only and answers 501 to any other coding (RFC 9112 section
  // 6.1), gzip and deflate included; llhttp passes the still-coded body on.
  bool other_coding = false;
  bool chunked_last = false;
  int chunked = 0;
  for (const auto& [name, value] : c.llhttp.headers) {
    if (!iequals(name, "transfer-encoding")) continue;
    for_each_list_element(value, [&](std::string_view coding) {
      chunked_last = iequals(coding, "chunked");
      if (chunked_last) {
        ++chunked;
        return;
      }
      other_coding = true;
    });
  }
  return other_coding || chunked > 1 || !chunked_last;
}

bool limits(const difference_case& c) {
  if (!taut_rejected(
          c, {errc::request_line_too_long, errc::header_section_too_large, errc::too_many_headers,
              errc::chunk_extension_too_long, errc::chunk_overhead_too_large})) {
    return false;
  }
  const parse_options defaults;
  // The framing excess counts input bytes, so it can only pass the bound with more input than it.
  if (c.taut.code == errc::chunk_overhead_too_large) {
    return c.input.size() > defaults.max_chunk_overhead;
  }
  if (c.taut.code == errc::chunk_extension_too_long) {
    const std::string_view line = line_at(c.input, c.taut.error_at);
    const auto extension = line.find_first_not_of("0123456789abcdefABCDEF");
    return extension != std::string_view::npos &&
           line.size() - extension > defaults.max_chunk_extension;
  }
  const auto too_large = [&](const field_list& fields) {
    std::size_t bytes = 0;
    for (const auto& [name, value] : fields) bytes += name.size() + value.size() + 3;
    return fields.size() > defaults.max_headers || bytes > defaults.max_header_bytes;
  };
  return too_large(c.llhttp.headers) || too_large(c.llhttp.trailers) ||
         request_line(c.input).size() + 2 > defaults.max_request_line;
}

bool chunk_extension_value(const difference_case& c) {
  if (!taut_rejected(c, {errc::bad_chunk_extension}) || !c.taut.body_error) return false;
  return !is_valid_chunk_line(line_at(c.input, c.taut.error_at));
}

bool connect_content(const difference_case& c) {
  if (c.llhttp.outcome != verdict::accept || !c.llhttp.upgrade || c.llhttp.method != "CONNECT")
    return false;
  if (c.taut.outcome == verdict::accept || c.taut.head_size == 0) return false;
  for (const auto& [name, value] : c.taut.headers) {
    if (iequals(name, "transfer-encoding") ||
        (iequals(name, "content-length") && value.find_first_not_of('0') != std::string::npos)) {
      return true;
    }
  }
  return false;
}

bool method_token(const difference_case& c) {
  // Methods llhttp knows only for RTSP (PAUSE, PLAY, ...) it rejects once it sees HTTP/1.x.
  const bool rtsp_only = llhttp_rejected(c, {HPE_INVALID_CONSTANT}) &&
                         c.llhttp.reason == "Invalid method for HTTP/x.x request";
  if (!llhttp_rejected(c, {HPE_INVALID_METHOD}) && !rtsp_only) return false;
  return is_token(c.taut.method) && method_from_token(c.taut.method) == method::other;
}

bool http_version_minor(const difference_case& c) {
  if (!llhttp_rejected(c, {HPE_INVALID_VERSION})) return false;
  // The request-line ends in HTTP/1.<minor> with a minor above 1, which taut handles as 1.1.
  const std::string_view line = request_line(c.input);
  constexpr std::string_view name = "HTTP/1.";
  if (line.size() < name.size() + 1) return false;
  const std::string_view version = line.substr(line.size() - name.size() - 1);
  return version.substr(0, name.size()) == name && version.back() >= '2' && version.back() <= '9' &&
         c.taut.minor == version.back() - '0';
}

bool pri_method(const difference_case& c) {
  // llhttp then waits for the rest of the preface or rejects what follows.
  return c.taut.outcome == verdict::accept && c.llhttp.outcome != verdict::accept &&
         c.taut.method == "PRI";
}

bool uri_scheme(const difference_case& c) {
  if (!llhttp_rejected(c, {HPE_INVALID_URL})) return false;
  const std::string_view target = c.taut.target;
  const auto colon = target.find("://");
  if (colon == std::string_view::npos || colon == 0 || !is_alpha(target.front())) return false;
  const std::string_view scheme = target.substr(0, colon);
  const bool valid = std::all_of(scheme.begin(), scheme.end(), [](char ch) {
    return is_alpha(ch) || is_digit(ch) || ch == '+' || ch == '-' || ch == '.';
  });
  const bool alpha_only =
      std::all_of(scheme.begin(), scheme.end(), [](char ch) { return is_alpha(ch); });
  return valid && !alpha_only && c.llhttp.error_offset <= c.input.find(target) + colon;
}

bool chunk_extension_grammar(const difference_case& c) {
  if (!llhttp_rejected(c, {HPE_INVALID_CHUNK_SIZE, HPE_STRICT})) return false;
  if (c.llhttp.error_offset < c.taut.head_size) return false;
  const std::string_view line = line_at(c.input, c.llhttp.error_offset);
  return line.find(';') != std::string_view::npos && is_valid_chunk_line(line);
}

bool duplicate_content_length(const difference_case& c) {
  if (!llhttp_rejected(c, {HPE_UNEXPECTED_CONTENT_LENGTH})) return false;
  // "the same decimal value" (RFC 9110 section 8.6): "03" and "3" agree.
  int count = 0;
  std::uint64_t first = 0;
  for (const auto& [name, value] : c.taut.headers) {
    if (!iequals(name, "content-length")) continue;
    std::uint64_t number = 0;
    for (const char ch : value) {
      if (!is_digit(ch) || number > (UINT64_MAX - 9) / 10) return false;
      number = number * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    if (value.empty()) return false;
    if (count++ == 0) first = number;
    if (number != first) return false;
  }
  return count > 1;
}

bool trailer_framing_fields(const difference_case& c) {
  if (!llhttp_rejected(c, {HPE_INVALID_TRANSFER_ENCODING, HPE_INVALID_CONTENT_LENGTH,
                           HPE_UNEXPECTED_CONTENT_LENGTH})) {
    return false;
  }
  if (c.llhttp.error_offset < c.taut.head_size) return false;
  return std::any_of(c.taut.trailers.begin(), c.taut.trailers.end(), [](const auto& field) {
    return iequals(field.first, "transfer-encoding") || iequals(field.first, "content-length");
  });
}

// True when the head has a `field_name` line whose value ends in OWS holding a tab, and taut
// parsed that field with the OWS excluded from its value.
bool has_tab_after_value(const difference_case& c, std::string_view field_name) {
  std::string_view head = c.input.substr(0, c.taut.head_size);
  while (!head.empty()) {
    const auto end = head.find('\n');
    std::string_view line = head.substr(0, end);
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || !iequals(line.substr(0, colon), field_name)) continue;
    const std::string_view value = line.substr(colon + 1);
    const auto last = value.find_last_not_of(" \t");
    const std::string_view trailing =
        last == std::string_view::npos ? value : value.substr(last + 1);
    if (trailing.find('\t') == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const bool parsed_trimmed = std::any_of(
        c.taut.headers.begin(), c.taut.headers.end(),
        [&](const auto& field) { return field.first == name && field.second == trim_ows(value); });
    if (parsed_trimmed) return true;
  }
  return false;
}

// True when the head has a `field_name` line with a tab after the value's first byte: trailing
// OWS, or OWS around a list comma ("chunked\t,").
bool has_tab_inside_value(const difference_case& c, std::string_view field_name) {
  std::string_view head = c.input.substr(0, c.taut.head_size);
  while (!head.empty()) {
    const auto end = head.find('\n');
    const std::string_view line = head.substr(0, end);
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || !iequals(line.substr(0, colon), field_name)) continue;
    const std::string_view value = line.substr(colon + 1);
    const auto first = value.find_first_not_of(" \t");
    if (first != std::string_view::npos && value.find('\t', first) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

bool framing_value_trailing_tab(const difference_case& c) {
  if (llhttp_rejected(c, {HPE_INVALID_CONTENT_LENGTH, HPE_INVALID_TRANSFER_ENCODING})) {
    return has_tab_after_value(
        c, c.llhttp.error == HPE_INVALID_CONTENT_LENGTH ? "content-length" : "transfer-encoding");
  }
  // In an upgrade request llhttp may not see "chunked<TAB>" or "chunked<TAB>," as chunked and
  // frame no body, while taut decodes the chunked body (and may reject it or wait for more).
  const bool taut_body_differs =
      c.taut.head_size > 0 && (c.taut.body_error || c.taut.outcome == verdict::incomplete);
  return c.llhttp.outcome == verdict::accept && c.llhttp.upgrade && taut_body_differs &&
         has_tab_inside_value(c, "transfer-encoding");
}

bool transfer_encoding_list(const difference_case& c) {
  if (!llhttp_rejected(c, {HPE_INVALID_TRANSFER_ENCODING})) return false;
  // Empty list elements ("chunked," or ", chunked") must be accepted (RFC 9110 section 5.6.1).
  for (const auto& [name, value] : c.taut.headers) {
    if (!iequals(name, "transfer-encoding")) continue;
    const std::string_view v = value;
    if (v.empty() || v.front() == ',' || v.back() == ',') return true;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] != ',') continue;
      const std::size_t next = skip_ows(v, i + 1);
      if (next < v.size() && v[next] == ',') return true;
    }
  }
  return false;
}

constexpr known_difference table[] = {
    {"host-field", "RFC 9112 section 3.2",
     "taut rejects an HTTP/1.1 request without Host, any request with two Host fields, and a Host "
     "value that is not uri-host [\":\" port]; llhttp does not check Host",
     host_field},
    {"field-name-token", "RFC 9110 section 5.1, RFC 9112 section 5",
     "llhttp accepts a field line with an empty name (\": x\"); taut requires field-name = token",
     field_name_token},
    {"connection-options", "RFC 9110 section 7.6.1",
     "llhttp accepts any Connection value; taut requires a list of tokens (connection-option = "
     "token)",
     connection_options},
    {"http-version", "RFC 9110 section 6.2, RFC 9112 section 2.3",
     "llhttp accepts HTTP/0.9 and HTTP/2.0 request-lines; taut speaks HTTP/1.0 and 1.1 only and "
     "answers 505",
     http_version},
    {"obs-fold", "RFC 9112 section 5.2",
     "llhttp accepts obs-fold in strict mode; taut rejects it unless the obs_fold leniency is on",
     obs_fold},
    {"request-line-spacing", "RFC 9112 section 3",
     "llhttp accepts several spaces between request-line parts; taut requires exactly one SP",
     request_line_spacing},
    {"target-characters", "RFC 9112 section 3.2, RFC 3986 sections 2 and 3",
     "llhttp accepts target bytes RFC 3986 forbids (\" < > \\ ^ ` { | } #) and malformed %-escapes",
     target_characters},
    {"target-form", "RFC 9112 sections 3.2.3 and 3.2.4",
     "llhttp accepts the asterisk-form with methods other than OPTIONS and CONNECT without an "
     "authority-form target",
     target_form},
    {"empty-authority", "RFC 9110 sections 4.2.1 and 4.2.2",
     "llhttp accepts an absolute-form target with an empty host (\"http:///\"); taut requires a "
     "host in every absolute-form target, as the RFC requires for http and https",
     empty_authority},
    {"userinfo", "RFC 9110 section 4.2.4",
     "llhttp accepts userinfo (user@host) in an absolute-form target; taut treats it as an error",
     userinfo_in_target},
    {"bare-lf", "RFC 9112 section 2.2",
     "llhttp accepts a bare LF before the request-line; taut strict rejects every bare LF",
     bare_lf},
    {"bare-cr", "RFC 9112 section 2.2",
     "llhttp skips bare CRs before the request-line; taut rejects a CR not followed by LF",
     bare_cr},
    {"transfer-encoding-with-content-length", "RFC 9112 sections 6.1 and 6.3",
     "taut rejects every request with both Transfer-Encoding and Content-Length (unless that "
     "leniency is on); llhttp rejects them too, except when Transfer-Encoding is empty, which it "
     "treats as absent",
     transfer_encoding_with_content_length},
    {"transfer-encoding-http10", "RFC 9112 section 6.1",
     "llhttp accepts Transfer-Encoding in an HTTP/1.0 request; taut treats the framing as faulty",
     transfer_encoding_http10},
    {"transfer-codings", "RFC 9112 sections 6.1 and 7, RFC 9110 section 5.6.1",
     "llhttp accepts any bytes before a final chunked, and an empty Transfer-Encoding; taut "
     "requires a list of coding tokens ending in chunked, answers 501 to every coding but chunked "
     "(it decodes no other) and 400 to chunked applied twice",
     transfer_codings},
    {"limits", "RFC 9110 section 15.5.15, RFC 6585 section 5, RFC 9112 section 7.1.1",
     "taut enforces default limits (8 KiB request-line, 32 KiB and 100 fields per header or "
     "trailer section, 1 KiB of chunk extensions per chunk, 16 KiB of chunk framing beyond what "
     "the data pays for); llhttp has none",
     limits},
    {"chunk-extension-value", "RFC 9112 section 7.1.1",
     "llhttp accepts an empty chunk-ext-val (\"3;a=\"); taut requires a token or quoted-string",
     chunk_extension_value},
    {"connect-content", "RFC 9110 sections 9.3.6 and 8.6, RFC 9112 section 6.3",
     "for a CONNECT request that declares content (Content-Length or Transfer-Encoding), llhttp "
     "switches to the tunnel at the end of the head; taut frames the declared body, so a server "
     "that "
     "refuses the tunnel skips exactly those bytes",
     connect_content},
    {"method-token", "RFC 9110 section 9.1",
     "taut accepts any token as a method; llhttp only the methods in its table", method_token},
    {"http-version-minor", "RFC 9110 section 2.5",
     "llhttp rejects HTTP/1.2 to HTTP/1.9 request-lines; taut handles a 1.x minor above 1 as "
     "HTTP/1.1, the highest minor it implements, as the RFC requires",
     http_version_minor},
    {"pri-method", "RFC 9110 section 9.1, RFC 9113 section 3.4",
     "llhttp treats any request with the method PRI as the start of the HTTP/2 preface and rejects "
     "it unless it is \"PRI * HTTP/2.0\"; for taut PRI is an extension method like any other",
     pri_method},
    {"uri-scheme", "RFC 3986 section 3.1, RFC 9112 section 3.2.2",
     "llhttp accepts only letters in the scheme of an absolute-form target; RFC 3986 also allows "
     "digits, \"+\", \"-\" and \".\" after the first letter",
     uri_scheme},
    {"chunk-extension-grammar", "RFC 9112 section 7.1.1",
     "llhttp rejects valid chunk extensions: BWS around ';' and '=', a second extension after a "
     "valued one, quoted-pairs",
     chunk_extension_grammar},
    {"duplicate-content-length", "RFC 9110 section 8.6",
     "taut accepts repeated identical Content-Length values; llhttp rejects any repetition",
     duplicate_content_length},
    {"trailer-framing-fields", "RFC 9110 sections 6.5.1 and 6.5.2",
     "llhttp checks Transfer-Encoding and Content-Length trailer fields as if they were header "
     "fields and rejects the message; taut keeps trailer fields uninterpreted, never lets them "
     "frame anything, and leaves them apart from the header section",
     trailer_framing_fields},
    {"framing-value-trailing-tab", "RFC 9112 section 5, RFC 9110 section 5.6.3",
     "llhttp rejects a Content-Length or Transfer-Encoding value followed by HTAB (or, in an "
     "upgrade request, frames no body after \"chunked<HTAB>\" or \"chunked<HTAB>,\"); OWS (SP "
     "or HTAB) is not part of a field value or a list element",
     framing_value_trailing_tab},
    {"transfer-encoding-list", "RFC 9110 section 5.6.1",
     "llhttp rejects empty list elements in Transfer-Encoding (\"chunked,\"); taut ignores them",
     transfer_encoding_list},
};

}  // namespace

std::span<const known_difference> known_differences() {
  return table;
}

const known_difference* explain(const difference_case& c) {
  for (const auto& entry : table) {
    if (entry.matches(c)) return &entry;
  }
  return nullptr;
}

bool is_valid_host_value(std::string_view value) {
  std::string_view host = value;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    port = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!port.empty() && port.front() != ':') return false;
    if (!is_ip_literal(host)) return false;
  } else {
    const auto colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon);
      host = host.substr(0, colon);
    }
    if (!is_uri_run(host, "")) return false;  // reg-name (IPv4address is a reg-name too)
  }
  if (!port.empty()) {
    for (const char c : port.substr(1)) {
      if (!is_digit(c)) return false;
    }
  }
  return true;
}

bool is_valid_origin_or_absolute(std::string_view target) {
  if (target.empty()) return false;
  if (target.front() == '/') return is_uri_run(target, ":@/?");
  // absolute-URI = scheme ":" hier-part [ "?" query ]; IP-literals may bracket the host.
  const auto colon = target.find(':');
  if (colon == std::string_view::npos || colon == 0 || !is_alpha(target.front())) return false;
  for (const char c : target.substr(0, colon)) {
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  std::string_view rest = target.substr(colon + 1);
  if (rest.starts_with("//")) {  // authority = [ userinfo "@" ] host [ ":" port ]
    rest.remove_prefix(2);
    const auto authority_end = std::min(rest.find_first_of("/?"), rest.size());
    std::string_view authority = rest.substr(0, authority_end);
    rest.remove_prefix(authority_end);
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
      if (!is_uri_run(authority.substr(0, at), ":")) return false;
      authority.remove_prefix(at + 1);
    }
    if (!is_valid_host_value(authority)) return false;
  }
  return is_uri_run(rest, ":@/?");
}

bool is_valid_chunk_line(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && is_hex(line[i])) ++i;
  if (i == 0) return false;
  while (i < line.size()) {
    i = skip_ows(line, i);
    if (i >= line.size() || line[i] != ';') return false;
    i = skip_ows(line, i + 1);
    const std::size_t name_end = skip_token(line, i);
    if (name_end == i) return false;
    i = name_end;
    const std::size_t equals = skip_ows(line, name_end);
    if (equals < line.size() && line[equals] == '=') {
      i = skip_ows(line, equals + 1);
      if (i < line.size() && line[i] == '"') {
        i = quoted_string_end(line, i);
        if (i == std::string_view::npos) return false;
      } else {
        const std::size_t value_end = skip_token(line, i);
        if (value_end == i) return false;
        i = value_end;
      }
    }
  }
  return true;
}

}  // namespace taut::fuzz
