// The values a parse produces: header fields, the request and response heads, and the framing of
// the body that follows them. Every string_view points into the caller's buffer.
#pragma once

#include "taut/detail/require_cxx20.hpp"  // first: one clear error before C++20

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "taut/parse_error.hpp"

namespace taut {

/// One field line. The name keeps its case; the value is trimmed of leading and trailing
/// whitespace (and, with the obs_fold leniency, may span folded lines verbatim).
struct header {
  std::string_view name;
  std::string_view value;
};

/// The methods of RFC 9110 section 9 plus PATCH; anything else that is a token is `other`.
enum class method : std::uint8_t {
  other,
  get,
  head,
  post,
  put,
  delete_,
  connect,
  options,
  trace,
  patch
};

/// The four request-target forms of RFC 9112 section 3.2.
enum class target_form : std::uint8_t { origin, absolute, authority, asterisk };

/// How the body after the head is delimited (RFC 9112 section 6.3).
enum class body_kind : std::uint8_t {
  none,            // no body at all
  content_length,  // exactly `content_length` bytes
  chunked,         // chunked transfer coding, decode with chunked_decoder
  until_close,     // responses only: everything until the connection closes
};

/// The body framing the parser decided for a message.
struct framing {
  body_kind kind = body_kind::none;
  std::uint64_t content_length = 0;  // meaningful for body_kind::content_length
  /// Set by response_parser: the body is a response's, and a body_decoder's errors on it carry
  /// status 502 (a bad upstream, RFC 9110 section 15.6.3) instead of a request's 400.
  bool response = false;
};

/// Relaxations of strict RFC 9112 parsing. Each is off by default; each widens what an attacker can
/// send, so turn on only what real peers need. See the README's leniency table for the risks.
struct leniency {
  /// Accept LF alone as a line terminator. Risk: a front-end that only splits on CRLF sees a
  /// different message boundary than this parser (request smuggling).
  bool bare_lf = false;
  /// Accept obs-fold (a field line continued on the next line starting with SP/HTAB). The value
  /// view then spans the fold verbatim. Risk: peers disagree on folded values; framing fields
  /// (Content-Length, Transfer-Encoding) with a fold are still rejected.
  bool obs_fold = false;
  /// Accept whitespace between a field name and its colon ("Host : x"), trimmed from the name.
  /// Risk: RFC 9112 section 5.1 forbids it because proxies disagree on which field it is.
  bool space_before_colon = false;
  /// Accept a request with both Transfer-Encoding and Content-Length: Transfer-Encoding wins and
  /// the connection is marked not keep-alive (RFC 9112 section 6.3). Risk: the classic CL.TE/TE.CL
  /// smuggling shape when another hop picks the other field.
  bool transfer_encoding_with_content_length = false;
  /// Responses only: accept a status-line that ends right after its status code, with no SP and
  /// no reason-phrase ("HTTP/1.1 200" CRLF; RFC 9112 section 4 requires the SP), read as an empty
  /// reason. Some upstreams send it; llhttp and current picohttpparser accept it. Risk: small, the
  /// line's end is still a CRLF and nothing about framing changes; a peer that wants the SP refuses
  /// it.
  bool no_space_after_status_code = false;

  /// The syntax relaxations that do not change message framing (what `taut-parse --lenient` uses).
  [[nodiscard]] static constexpr leniency syntax() noexcept {
    return {true, true, true, false, true};
  }
  /// Every relaxation, framing included.
  [[nodiscard]] static constexpr leniency all() noexcept { return {true, true, true, true, true}; }
};

/// Limits and leniencies of a parser. The defaults are safe for a public server.
struct parse_options {
  /// Bytes of request-line (or status-line), CRLF and leading empty lines included (414).
  std::size_t max_request_line = 8 * 1024;
  /// Bytes of the header section after the start-line, final CRLF included (431).
  std::size_t max_header_bytes = 32 * 1024;
  /// Field lines per message, further capped by the caller's header span (431).
  std::size_t max_headers = 100;
  /// Bytes of chunk extensions on one chunk-size line.
  std::size_t max_chunk_extension = 1024;
  /// Framing bytes a chunked body may carry beyond what its data pays for
  /// (chunk_overhead_too_large, 400). Size lines with their extensions and the CRLFs around chunk
  /// data count one each; every chunk-size line, once read, earns 20 bytes plus twice its chunk's
  /// size back, and the excess never drops below zero. So a sender cannot make the receiver read
  /// far more bytes than the body holds (tiny chunks with long extensions, or endless leading
  /// zeros), while chunks of any size with short size lines never reach it. The trailer section is
  /// bounded by max_header_bytes.
  std::size_t max_chunk_overhead = 16 * 1024;
  /// Requests only: accept transfer codings other than chunked (gzip, deflate, br, ...) before the
  /// final chunked, instead of rejecting them with unknown_transfer_coding (501, RFC 9112 section
  /// 6.1). The parser still decodes only chunked: the body reaches the caller still coded, and
  /// request::transfer_codings names the codings left to decode. Turn on only where the handler
  /// decodes them (or wants the coded bytes). Risk: a handler that ignores transfer_codings takes
  /// compressed bytes for the content, and decompressing is the handler's to bound (a small coded
  /// body can inflate without limit). The codings other than chunked must all come in one
  /// Transfer-Encoding field line, the first that names a coding (bad_transfer_encoding for one in
  /// a later line), so that transfer_codings is one view; the final chunked may come in a line of
  /// its own ("gzip" then "chunked" is accepted, as RFC 9110 section 5.3 combines field lines).
  /// The response parser accepts any coding whatever this says: a client cannot answer 501, and
  /// RFC 9112 lets it read the coded body (see response).
  bool allow_transfer_codings = false;
  leniency lenient{};
};

/// The head of a request, valid while the caller's buffer stays unchanged.
struct request {
  std::string_view method_name;  // the method token as sent
  taut::method method = taut::method::other;
  std::string_view target;
  taut::target_form target_form = taut::target_form::origin;
  // HTTP/1.<minor> as sent: 0, 1, or a higher minor (2-9), which is handled as 1.1 in every
  // decision the parser makes (RFC 9110 section 2.5); a server answers such a request as 1.1.
  int version_minor = 1;
  std::span<const header> headers;
  std::string_view host;  // the Host field's value, empty if absent
  taut::framing body;
  bool keep_alive = false;             // per version and Connection tokens (RFC 9112 section 9.3)
  bool expect_continue = false;        // Expect: 100-continue (RFC 9110 section 10.1.1)
  bool upgrade = false;                // Upgrade field and a Connection "upgrade" token
  std::string_view upgrade_protocols;  // the Upgrade field's value
  /// With parse_options::allow_transfer_codings, the codings applied before the final chunked as
  /// sent ("gzip", "gzip, deflate"), which the body still carries once chunked is decoded; empty
  /// when the body is only chunked (always, without that option).
  std::string_view transfer_codings;
  std::size_t head_size = 0;  // bytes of the head; the body starts here
};

/// The head of a response, valid while the caller's buffer stays unchanged.
struct response {
  int version_minor = 1;  // as sent; a minor above 1 is read as 1.1 (RFC 9110 section 2.5)
  int status = 0;
  std::string_view reason;
  std::span<const header> headers;
  taut::framing body;  // body.response is set: decode errors carry 502
  bool keep_alive = false;
  // 101 Switching Protocols, or a 2xx answer to CONNECT (a tunnel): the connection now carries
  // another protocol, and no HTTP/1.1 message follows on it
  bool upgrade = false;
  /// The transfer codings left on the body, as sent: every coding but a final chunked (which the
  /// body decoder removes), e.g. "gzip" for "gzip, chunked". Any coding is accepted in a response:
  /// a client cannot answer 501, and one that does not decode a coding gets the coded body.
  std::string_view transfer_codings;
  std::size_t head_size = 0;
};

/// Where a parse call stands.
enum class parse_status : std::uint8_t {
  complete,    // a whole head (or body) is parsed
  incomplete,  // append more bytes and call again
  error,       // see parse_result::error; the message is rejected
};

/// The outcome of one parse call.
struct parse_result {
  parse_status status = parse_status::incomplete;
  std::size_t consumed = 0;  // bytes of the head when complete, otherwise 0
  parse_error error{};

  [[nodiscard]] bool complete() const noexcept { return status == parse_status::complete; }
  [[nodiscard]] bool incomplete() const noexcept { return status == parse_status::incomplete; }
  [[nodiscard]] bool failed() const noexcept { return status == parse_status::error; }
};

/// The standard method named by a token, or method::other.
[[nodiscard]] taut::method method_from_token(std::string_view token) noexcept;
/// The canonical token of a standard method ("GET"); empty for method::other.
[[nodiscard]] std::string_view to_string(taut::method m) noexcept;

}  // namespace taut
