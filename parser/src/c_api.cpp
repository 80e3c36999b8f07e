// taut.h: the C interface, a thin layer over request_parser, response_parser and body_decoder.
//
// The C objects are unions of bytes in the caller's memory; init placement-news a wrapper of the
// C++ object there (all three are trivially destructible, so nothing needs destroying). The
// caller's taut_header array holds C++ taut::header objects while a parse runs (same size and
// alignment, checked below) and is converted in place to taut_header entries when the head (or
// the trailer section) completes; reset turns the converted entries back. Nothing allocates.
#include "taut.h"

#include <cstddef>
#include <new>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "taut/body_decoder.hpp"
#include "taut/message.hpp"
#include "taut/parse_error.hpp"
#include "taut/request_parser.hpp"
#include "taut/response_parser.hpp"

namespace {

// ---- The C enums are the C++ enums -------------------------------------------------------------

template <class E>
constexpr int value(E e) noexcept {
  return static_cast<int>(e);
}

using taut::errc;
static_assert(TAUT_ERRC_OK == value(errc::ok));
static_assert(TAUT_ERRC_BARE_CR == value(errc::bare_cr));
static_assert(TAUT_ERRC_BARE_LF == value(errc::bare_lf));
static_assert(TAUT_ERRC_BAD_METHOD == value(errc::bad_method));
static_assert(TAUT_ERRC_BAD_REQUEST_LINE == value(errc::bad_request_line));
static_assert(TAUT_ERRC_BAD_TARGET == value(errc::bad_target));
static_assert(TAUT_ERRC_BAD_TARGET_FORM == value(errc::bad_target_form));
static_assert(TAUT_ERRC_BAD_VERSION == value(errc::bad_version));
static_assert(TAUT_ERRC_UNSUPPORTED_VERSION == value(errc::unsupported_version));
static_assert(TAUT_ERRC_REQUEST_LINE_TOO_LONG == value(errc::request_line_too_long));
static_assert(TAUT_ERRC_BAD_STATUS_LINE == value(errc::bad_status_line));
static_assert(TAUT_ERRC_BAD_STATUS_CODE == value(errc::bad_status_code));
static_assert(TAUT_ERRC_BAD_REASON_PHRASE == value(errc::bad_reason_phrase));
static_assert(TAUT_ERRC_BAD_HEADER_NAME == value(errc::bad_header_name));
static_assert(TAUT_ERRC_BAD_HEADER_VALUE == value(errc::bad_header_value));
static_assert(TAUT_ERRC_MISSING_COLON == value(errc::missing_colon));
static_assert(TAUT_ERRC_SPACE_BEFORE_COLON == value(errc::space_before_colon));
static_assert(TAUT_ERRC_OBS_FOLD == value(errc::obs_fold));
static_assert(TAUT_ERRC_LEADING_WHITESPACE == value(errc::leading_whitespace));
static_assert(TAUT_ERRC_HEADER_SECTION_TOO_LARGE == value(errc::header_section_too_large));
static_assert(TAUT_ERRC_TOO_MANY_HEADERS == value(errc::too_many_headers));
static_assert(TAUT_ERRC_BAD_CONTENT_LENGTH == value(errc::bad_content_length));
static_assert(TAUT_ERRC_CONFLICTING_CONTENT_LENGTH == value(errc::conflicting_content_length));
static_assert(TAUT_ERRC_TRANSFER_ENCODING_WITH_CONTENT_LENGTH ==
              value(errc::transfer_encoding_with_content_length));
static_assert(TAUT_ERRC_CHUNKED_NOT_FINAL == value(errc::chunked_not_final));
static_assert(TAUT_ERRC_CHUNKED_APPLIED_TWICE == value(errc::chunked_applied_twice));
static_assert(TAUT_ERRC_BAD_TRANSFER_ENCODING == value(errc::bad_transfer_encoding));
static_assert(TAUT_ERRC_UNKNOWN_TRANSFER_CODING == value(errc::unknown_transfer_coding));
static_assert(TAUT_ERRC_TRANSFER_ENCODING_HTTP10 == value(errc::transfer_encoding_http10));
static_assert(TAUT_ERRC_MISSING_HOST == value(errc::missing_host));
static_assert(TAUT_ERRC_DUPLICATE_HOST == value(errc::duplicate_host));
static_assert(TAUT_ERRC_BAD_HOST == value(errc::bad_host));
static_assert(TAUT_ERRC_BAD_CHUNK_SIZE == value(errc::bad_chunk_size));
static_assert(TAUT_ERRC_CHUNK_SIZE_OVERFLOW == value(errc::chunk_size_overflow));
static_assert(TAUT_ERRC_BAD_CHUNK_EXTENSION == value(errc::bad_chunk_extension));
static_assert(TAUT_ERRC_CHUNK_EXTENSION_TOO_LONG == value(errc::chunk_extension_too_long));
static_assert(TAUT_ERRC_BAD_CHUNK_DATA_END == value(errc::bad_chunk_data_end));
static_assert(TAUT_ERRC_BODY_CUT_SHORT == value(errc::body_cut_short));
static_assert(TAUT_ERRC_CHUNK_OVERHEAD_TOO_LARGE == value(errc::chunk_overhead_too_large));
// A code added after chunk_overhead_too_large still gets its name from taut_error_name (it forwards
// to taut::to_string); test_c_api.cpp fails until it also gets a TAUT_ERRC_ constant here.

static_assert(TAUT_PARSE_COMPLETE == value(taut::parse_status::complete));
static_assert(TAUT_PARSE_INCOMPLETE == value(taut::parse_status::incomplete));
static_assert(TAUT_PARSE_ERROR == value(taut::parse_status::error));

static_assert(TAUT_METHOD_OTHER == value(taut::method::other));
static_assert(TAUT_METHOD_GET == value(taut::method::get));
static_assert(TAUT_METHOD_HEAD == value(taut::method::head));
static_assert(TAUT_METHOD_POST == value(taut::method::post));
static_assert(TAUT_METHOD_PUT == value(taut::method::put));
static_assert(TAUT_METHOD_DELETE == value(taut::method::delete_));
static_assert(TAUT_METHOD_CONNECT == value(taut::method::connect));
static_assert(TAUT_METHOD_OPTIONS == value(taut::method::options));
static_assert(TAUT_METHOD_TRACE == value(taut::method::trace));
static_assert(TAUT_METHOD_PATCH == value(taut::method::patch));

static_assert(TAUT_TARGET_ORIGIN == value(taut::target_form::origin));
static_assert(TAUT_TARGET_ABSOLUTE == value(taut::target_form::absolute));
static_assert(TAUT_TARGET_AUTHORITY == value(taut::target_form::authority));
static_assert(TAUT_TARGET_ASTERISK == value(taut::target_form::asterisk));

static_assert(TAUT_BODY_NONE == value(taut::body_kind::none));
static_assert(TAUT_BODY_CONTENT_LENGTH == value(taut::body_kind::content_length));
static_assert(TAUT_BODY_CHUNKED == value(taut::body_kind::chunked));
static_assert(TAUT_BODY_UNTIL_CLOSE == value(taut::body_kind::until_close));

// ---- taut_parse_options has every field of taut::parse_options ---------------------------------

// Converts to any field type, so T{field{}, ...} compiles exactly up to T's number of fields.
struct any_field {
  template <class T>
  operator T() const noexcept;
};
template <class T, std::size_t... I>
constexpr bool brace_initialisable(std::index_sequence<I...>) noexcept {
  return requires {
    T{(static_cast<void>(I), any_field{})...};
  };
}
template <class T, std::size_t N>
constexpr bool has_fields = brace_initialisable<T>(std::make_index_sequence<N>()) &&
                            !brace_initialisable<T>(std::make_index_sequence<N + 1>());

static_assert(has_fields<taut::leniency, 5>,
              "taut::leniency changed: mirror it in taut.h's taut_leniency and in to_cpp() below");
static_assert(has_fields<taut::parse_options, 7>,
              "taut::parse_options changed: mirror it in taut.h's taut_parse_options and below");

taut::parse_options to_cpp(const taut_parse_options* options) noexcept {
  if (options == nullptr) return {};
  return {.max_request_line = options->max_request_line,
          .max_header_bytes = options->max_header_bytes,
          .max_headers = options->max_headers,
          .max_chunk_extension = options->max_chunk_extension,
          .max_chunk_overhead = options->max_chunk_overhead,
          .allow_transfer_codings = options->allow_transfer_codings,
          .lenient = {.bare_lf = options->lenient.bare_lf,
                      .obs_fold = options->lenient.obs_fold,
                      .space_before_colon = options->lenient.space_before_colon,
                      .transfer_encoding_with_content_length =
                          options->lenient.transfer_encoding_with_content_length,
                      .no_space_after_status_code = options->lenient.no_space_after_status_code}};
}

taut_leniency to_c(const taut::leniency& l) noexcept {
  return {l.bare_lf, l.obs_fold, l.space_before_colon, l.transfer_encoding_with_content_length,
          l.no_space_after_status_code};
}

taut_parse_options to_c(const taut::parse_options& o) noexcept {
  return {o.max_request_line,   o.max_header_bytes,       o.max_headers,  o.max_chunk_extension,
          o.max_chunk_overhead, o.allow_transfer_codings, to_c(o.lenient)};
}

// ---- Header arrays shared by both languages ----------------------------------------------------

static_assert(sizeof(taut_header) == sizeof(taut::header) &&
                  alignof(taut_header) == alignof(taut::header),
              "the caller's taut_header array must hold taut::header objects in place");

/// The caller's array as `count` C++ headers, ready for a parser.
std::span<taut::header> as_cpp(taut_header* array, std::size_t count) noexcept {
  if (array == nullptr) return {};
  for (std::size_t i = 0; i < count; ++i) new (static_cast<void*>(array + i)) taut::header{};
  return {std::launder(reinterpret_cast<taut::header*>(array)), count};
}

/// Turns the first `count` C++ headers of `storage` into taut_header entries in place.
void convert_to_c(taut::header* storage, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    const taut::header field = storage[i];
    new (static_cast<void*>(storage + i))
        taut_header{field.name.data(), field.name.size(), field.value.data(), field.value.size()};
  }
}

/// Turns the first `count` taut_header entries back into C++ headers, for the next message.
void convert_to_cpp(taut::header* storage, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) new (static_cast<void*>(storage + i)) taut::header{};
}

const taut_header* c_view(taut::header* storage) noexcept {
  return std::launder(reinterpret_cast<const taut_header*>(storage));
}

/// The header array of a parser or decoder, and how much of it is in taut_header form.
struct shared_headers {
  taut::header* storage = nullptr;
  std::size_t converted = 0;
  bool done = false;

  void finish(std::size_t count) noexcept {
    if (done) return;
    convert_to_c(storage, count);
    converted = count;
    done = true;
  }
  void reset() noexcept {
    convert_to_cpp(storage, converted);
    converted = 0;
    done = false;
  }
};

taut_error to_c(const taut::parse_error& e) noexcept {
  return {value(e.code), e.offset, e.status};
}

taut_parse_result to_c(const taut::parse_result& r) noexcept {
  return {static_cast<taut_parse_status>(r.status), r.consumed, to_c(r.error)};
}

taut_framing to_c(const taut::framing& f) noexcept {
  return {static_cast<taut_body_kind>(f.kind), f.content_length, f.response};
}

// ---- The objects in the caller's memory --------------------------------------------------------

struct request_parser_object {
  taut::request_parser parser;
  shared_headers headers;
};
struct response_parser_object {
  taut::response_parser parser;
  shared_headers headers;
};
struct body_decoder_object {
  taut::body_decoder decoder;
  shared_headers trailers;
};

/// Hands a decode or finish result to C; once the body is done, the trailers become taut_header.
taut_parse_status deliver(body_decoder_object& self, const taut::body_result& r,
                          taut_body_result* result) noexcept {
  if (r.status == taut::parse_status::complete && self.trailers.storage != nullptr) {
    self.trailers.finish(self.decoder.trailers().size());
  }
  if (result != nullptr) {
    *result = {static_cast<taut_parse_status>(r.status), r.consumed, r.data.data(), r.data.size(),
               to_c(r.error)};
  }
  return static_cast<taut_parse_status>(r.status);
}

template <class Object, class C>
constexpr bool fits = sizeof(Object) <= sizeof(C) &&
                      alignof(C) % alignof(Object) == 0 && std::is_trivially_destructible_v<Object>;
static_assert(fits<request_parser_object, taut_request_parser>,
              "raise TAUT_REQUEST_PARSER_SIZE (an ABI change)");
static_assert(fits<response_parser_object, taut_response_parser>,
              "raise TAUT_RESPONSE_PARSER_SIZE (an ABI change)");
static_assert(fits<body_decoder_object, taut_body_decoder>,
              "raise TAUT_BODY_DECODER_SIZE (an ABI change)");

template <class Object, class C>
Object& object(C* c) noexcept {
  return *std::launder(reinterpret_cast<Object*>(c->opaque));
}
template <class Object, class C>
const Object& object(const C* c) noexcept {
  return *std::launder(reinterpret_cast<const Object*>(c->opaque));
}

}  // namespace

extern "C" {

const char* taut_error_name(int code) {
  if (code < 0 || code > 255) return "unknown";
  // Every name taut::to_string returns is a string literal, so NUL-terminated.
  return taut::to_string(static_cast<taut::errc>(code)).data();
}

taut_method taut_method_from_token(const char* token, size_t len) {
  if (token == nullptr) return TAUT_METHOD_OTHER;
  return static_cast<taut_method>(taut::method_from_token({token, len}));
}

const char* taut_method_name(int method) {
  if (method <= value(taut::method::other) || method > value(taut::method::patch)) return "";
  return taut::to_string(static_cast<taut::method>(method)).data();
}

void taut_parse_options_default(taut_parse_options* options) {
  *options = to_c(taut::parse_options{});
}

taut_leniency taut_leniency_syntax(void) {
  return to_c(taut::leniency::syntax());
}

taut_leniency taut_leniency_all(void) {
  return to_c(taut::leniency::all());
}

size_t taut_request_parser_size(void) {
  return sizeof(taut_request_parser);
}
size_t taut_response_parser_size(void) {
  return sizeof(taut_response_parser);
}
size_t taut_body_decoder_size(void) {
  return sizeof(taut_body_decoder);
}
size_t taut_object_alignment(void) {
  return alignof(taut_request_parser);
}

// ---- Request parser ----------------------------------------------------------------------------

void taut_request_parser_init(taut_request_parser* parser, taut_header* headers,
                              size_t header_count, const taut_parse_options* options) {
  const std::span<taut::header> storage = as_cpp(headers, header_count);
  new (static_cast<void*>(parser->opaque))
      request_parser_object{taut::request_parser(storage, to_cpp(options)), {storage.data()}};
}

taut_parse_status taut_request_parser_parse(taut_request_parser* parser, const char* data,
                                            size_t len, taut_parse_result* result) {
  auto& self = object<request_parser_object>(parser);
  const taut::parse_result r = self.parser.parse({data, len});
  if (r.complete()) self.headers.finish(self.parser.request().headers.size());
  if (result != nullptr) *result = to_c(r);
  return static_cast<taut_parse_status>(r.status);
}

bool taut_request_parser_request(const taut_request_parser* parser, taut_request* request) {
  const auto& self = object<request_parser_object>(parser);
  if (!self.headers.done) {
    *request = taut_request{};
    return false;
  }
  const taut::request& r = self.parser.request();
  *request = {r.method_name.data(),
              r.method_name.size(),
              static_cast<taut_method>(r.method),
              r.target.data(),
              r.target.size(),
              static_cast<taut_target_form>(r.target_form),
              r.version_minor,
              c_view(self.headers.storage),
              r.headers.size(),
              r.host.data(),
              r.host.size(),
              to_c(r.body),
              r.keep_alive,
              r.expect_continue,
              r.upgrade,
              r.upgrade_protocols.data(),
              r.upgrade_protocols.size(),
              r.transfer_codings.data(),
              r.transfer_codings.size(),
              r.head_size};
  return true;
}

void taut_request_parser_reset(taut_request_parser* parser) {
  auto& self = object<request_parser_object>(parser);
  self.headers.reset();
  self.parser.reset();
}

void taut_request_parser_options(const taut_request_parser* parser, taut_parse_options* options) {
  *options = to_c(object<request_parser_object>(parser).parser.options());
}

// ---- Response parser ---------------------------------------------------------------------------

void taut_response_parser_init(taut_response_parser* parser, taut_header* headers,
                               size_t header_count, const taut_parse_options* options) {
  const std::span<taut::header> storage = as_cpp(headers, header_count);
  new (static_cast<void*>(parser->opaque))
      response_parser_object{taut::response_parser(storage, to_cpp(options)), {storage.data()}};
}

taut_parse_status taut_response_parser_parse(taut_response_parser* parser, const char* data,
                                             size_t len, taut_method request_method,
                                             taut_parse_result* result) {
  auto& self = object<response_parser_object>(parser);
  const taut::parse_result r =
      self.parser.parse({data, len}, static_cast<taut::method>(request_method));
  if (r.complete()) self.headers.finish(self.parser.response().headers.size());
  if (result != nullptr) *result = to_c(r);
  return static_cast<taut_parse_status>(r.status);
}

bool taut_response_parser_response(const taut_response_parser* parser, taut_response* response) {
  const auto& self = object<response_parser_object>(parser);
  if (!self.headers.done) {
    *response = taut_response{};
    return false;
  }
  const taut::response& r = self.parser.response();
  *response = {r.version_minor,
               r.status,
               r.reason.data(),
               r.reason.size(),
               c_view(self.headers.storage),
               r.headers.size(),
               to_c(r.body),
               r.keep_alive,
               r.upgrade,
               r.transfer_codings.data(),
               r.transfer_codings.size(),
               r.head_size};
  return true;
}

void taut_response_parser_reset(taut_response_parser* parser) {
  auto& self = object<response_parser_object>(parser);
  self.headers.reset();
  self.parser.reset();
}

void taut_response_parser_options(const taut_response_parser* parser, taut_parse_options* options) {
  *options = to_c(object<response_parser_object>(parser).parser.options());
}

// ---- Body decoder ------------------------------------------------------------------------------

void taut_body_decoder_init(taut_body_decoder* decoder, const taut_framing* framing,
                            const taut_parse_options* options, taut_header* trailers,
                            size_t trailer_count) {
  const taut::framing how{static_cast<taut::body_kind>(framing->kind), framing->content_length,
                          framing->response};
  const std::span<taut::header> storage = as_cpp(trailers, trailer_count);
  new (static_cast<void*>(decoder->opaque))
      body_decoder_object{taut::body_decoder(how, to_cpp(options), storage), {storage.data()}};
}

taut_parse_status taut_body_decoder_decode(taut_body_decoder* decoder, const char* data, size_t len,
                                           taut_body_result* result) {
  auto& self = object<body_decoder_object>(decoder);
  return deliver(self, self.decoder.decode({data, len}), result);
}

taut_parse_status taut_body_decoder_finish(taut_body_decoder* decoder, taut_body_result* result) {
  auto& self = object<body_decoder_object>(decoder);
  return deliver(self, self.decoder.finish(), result);
}

bool taut_body_decoder_done(const taut_body_decoder* decoder) {
  return object<body_decoder_object>(decoder).decoder.done();
}

const taut_header* taut_body_decoder_trailers(const taut_body_decoder* decoder, size_t* count) {
  const auto& self = object<body_decoder_object>(decoder);
  if (!self.trailers.done) {
    if (count != nullptr) *count = 0;
    return nullptr;
  }
  if (count != nullptr) *count = self.trailers.converted;
  return c_view(self.trailers.storage);
}

uint64_t taut_body_decoder_body_size(const taut_body_decoder* decoder) {
  return object<body_decoder_object>(decoder).decoder.body_size();
}

}  // extern "C"
