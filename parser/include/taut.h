/* taut's HTTP/1.1 parser from C (C99 or later, or C++): the request parser, the response parser
 * and the body decoder of taut/parser.hpp, with the same strictness, leniency flags, limits and
 * error codes. Nothing here allocates: parser objects live in the caller's memory (their size is
 * TAUT_..._SIZE), header and trailer views land in the caller's arrays, and every string is a
 * pointer and a length into the caller's buffer. Link with taut_parser (a C++ library: link with
 * the C++ compiler, or add -lstdc++). */
#ifndef TAUT_H
#define TAUT_H

#include <stddef.h>
#include <stdint.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Error codes -------------------------------------------------------------------------- */

/** Every way a message can be rejected: the values and names of C++ taut::errc, upper-cased
 * (taut_error_name gives the lower-case name, e.g. "bad_method"). */
typedef enum taut_errc {
  TAUT_ERRC_OK = 0,
  TAUT_ERRC_BARE_CR = 1,
  TAUT_ERRC_BARE_LF = 2,
  TAUT_ERRC_BAD_METHOD = 3,
  TAUT_ERRC_BAD_REQUEST_LINE = 4,
  TAUT_ERRC_BAD_TARGET = 5,
  TAUT_ERRC_BAD_TARGET_FORM = 6,
  TAUT_ERRC_BAD_VERSION = 7,
  TAUT_ERRC_UNSUPPORTED_VERSION = 8,
  TAUT_ERRC_REQUEST_LINE_TOO_LONG = 9,
  TAUT_ERRC_BAD_STATUS_LINE = 10,
  TAUT_ERRC_BAD_STATUS_CODE = 11,
  TAUT_ERRC_BAD_REASON_PHRASE = 12,
  TAUT_ERRC_BAD_HEADER_NAME = 13,
  TAUT_ERRC_BAD_HEADER_VALUE = 14,
  TAUT_ERRC_MISSING_COLON = 15,
  TAUT_ERRC_SPACE_BEFORE_COLON = 16,
  TAUT_ERRC_OBS_FOLD = 17,
  TAUT_ERRC_LEADING_WHITESPACE = 18,
  TAUT_ERRC_HEADER_SECTION_TOO_LARGE = 19,
  TAUT_ERRC_TOO_MANY_HEADERS = 20,
  TAUT_ERRC_BAD_CONTENT_LENGTH = 21,
  TAUT_ERRC_CONFLICTING_CONTENT_LENGTH = 22,
  TAUT_ERRC_TRANSFER_ENCODING_WITH_CONTENT_LENGTH = 23,
  TAUT_ERRC_CHUNKED_NOT_FINAL = 24,
  TAUT_ERRC_CHUNKED_APPLIED_TWICE = 25,
  TAUT_ERRC_BAD_TRANSFER_ENCODING = 26,
  TAUT_ERRC_UNKNOWN_TRANSFER_CODING = 27,
  TAUT_ERRC_TRANSFER_ENCODING_HTTP10 = 28,
  TAUT_ERRC_MISSING_HOST = 29,
  TAUT_ERRC_DUPLICATE_HOST = 30,
  TAUT_ERRC_BAD_HOST = 31,
  TAUT_ERRC_BAD_CHUNK_SIZE = 32,
  TAUT_ERRC_CHUNK_SIZE_OVERFLOW = 33,
  TAUT_ERRC_BAD_CHUNK_EXTENSION = 34,
  TAUT_ERRC_CHUNK_EXTENSION_TOO_LONG = 35,
  TAUT_ERRC_BAD_CHUNK_DATA_END = 36,
  TAUT_ERRC_BODY_CUT_SHORT = 37,
  TAUT_ERRC_CHUNK_OVERHEAD_TOO_LARGE = 38
} taut_errc;

/** What went wrong: a taut_errc value, the byte offset where the input went wrong (from the start
 * of the message, or of the body for the body decoder), and the HTTP status to answer with (400,
 * 414, 431, 501, 505 for requests; 502 for responses, what a gateway answers a bad upstream). */
typedef struct taut_error {
  int code;
  size_t offset;
  int status;
} taut_error;

/** The stable, printable name of an error code ("bad_method"); "unknown" for a value that is not
 * a code. The string is static: never free it. */
const char* taut_error_name(int code);

/* ---- Values a parse produces -------------------------------------------------------------- */

/** Where a parse or decode call stands (the values of C++ taut::parse_status). */
typedef enum taut_parse_status {
  TAUT_PARSE_COMPLETE = 0,   /* a whole head (or body) is parsed */
  TAUT_PARSE_INCOMPLETE = 1, /* append more bytes and call again */
  TAUT_PARSE_ERROR = 2       /* see the error; the message is rejected */
} taut_parse_status;

/** The methods of RFC 9110 section 9 plus PATCH; any other token is TAUT_METHOD_OTHER. */
typedef enum taut_method {
  TAUT_METHOD_OTHER = 0,
  TAUT_METHOD_GET = 1,
  TAUT_METHOD_HEAD = 2,
  TAUT_METHOD_POST = 3,
  TAUT_METHOD_PUT = 4,
  TAUT_METHOD_DELETE = 5,
  TAUT_METHOD_CONNECT = 6,
  TAUT_METHOD_OPTIONS = 7,
  TAUT_METHOD_TRACE = 8,
  TAUT_METHOD_PATCH = 9
} taut_method;

/** The four request-target forms of RFC 9112 section 3.2. */
typedef enum taut_target_form {
  TAUT_TARGET_ORIGIN = 0,
  TAUT_TARGET_ABSOLUTE = 1,
  TAUT_TARGET_AUTHORITY = 2,
  TAUT_TARGET_ASTERISK = 3
} taut_target_form;

/** How the body after the head is delimited (RFC 9112 section 6.3). */
typedef enum taut_body_kind {
  TAUT_BODY_NONE = 0,           /* no body at all */
  TAUT_BODY_CONTENT_LENGTH = 1, /* exactly content_length bytes */
  TAUT_BODY_CHUNKED = 2,        /* chunked transfer coding: decode with taut_body_decoder */
  TAUT_BODY_UNTIL_CLOSE = 3     /* responses only: everything until the connection closes */
} taut_body_kind;

/** The body framing the parser decided for a message; content_length is meaningful for
 * TAUT_BODY_CONTENT_LENGTH only. */
typedef struct taut_framing {
  taut_body_kind kind;
  uint64_t content_length;
  /* set by the response parser: the body is a response's, and a body decoder's errors on it carry
   * status 502 (a bad upstream) instead of a request's 400 */
  bool response;
} taut_framing;

/** One field line, as views into the caller's buffer (not NUL-terminated; here and in every
 * struct below, a pointer whose length is 0 may be NULL). The name keeps its case; the value is
 * trimmed of surrounding whitespace. */
typedef struct taut_header {
  const char* name;
  size_t name_len;
  const char* value;
  size_t value_len;
} taut_header;

/** The outcome of a head parse: `consumed` is the head's size in bytes once complete (the body
 * starts there), otherwise 0; `error` is set when status is TAUT_PARSE_ERROR. */
typedef struct taut_parse_result {
  taut_parse_status status;
  size_t consumed;
  taut_error error;
} taut_parse_result;

/** The head of a request. Every pointer points into the buffer of the last parse call (or into
 * the caller's header array) and is valid while both stay unchanged. */
typedef struct taut_request {
  const char* method_name; /* the method token as sent */
  size_t method_name_len;
  taut_method method;
  const char* target;
  size_t target_len;
  taut_target_form target_form;
  int version_minor; /* HTTP/1.<minor> as sent; every minor above 0 is served as 1.1 */
  const taut_header* headers;
  size_t header_count;
  const char* host; /* the Host field's value; length 0 if absent */
  size_t host_len;
  taut_framing body;
  bool keep_alive;               /* per version and Connection tokens (RFC 9112 section 9.3) */
  bool expect_continue;          /* Expect: 100-continue (RFC 9110 section 10.1.1) */
  bool upgrade;                  /* an Upgrade field and a Connection "upgrade" token */
  const char* upgrade_protocols; /* the Upgrade field's value */
  size_t upgrade_protocols_len;
  /* with allow_transfer_codings, the codings before the final chunked as sent ("gzip") */
  const char* transfer_codings;
  size_t transfer_codings_len;
  size_t head_size; /* bytes of the head; the body starts here */
} taut_request;

/** The head of a response; pointers as in taut_request. */
typedef struct taut_response {
  int version_minor;
  int status;
  const char* reason;
  size_t reason_len;
  const taut_header* headers;
  size_t header_count;
  taut_framing body;
  bool keep_alive;
  /* 101 Switching Protocols, or a 2xx answer to CONNECT (a tunnel): the connection now carries
   * another protocol, and no HTTP/1.1 message follows on it */
  bool upgrade;
  const char* transfer_codings; /* codings before the final chunked, as sent; left on the body */
  size_t transfer_codings_len;
  size_t head_size;
} taut_response;

/** The standard method named by a token of `len` bytes, or TAUT_METHOD_OTHER. */
taut_method taut_method_from_token(const char* token, size_t len);
/** The canonical token of a standard method (a taut_method value: "GET"), NUL-terminated and
 * static; "" for TAUT_METHOD_OTHER and any other value. */
const char* taut_method_name(int method);

/* ---- Options ------------------------------------------------------------------------------ */

/** Relaxations of strict RFC 9112 parsing, each off by default; each widens what an attacker can
 * send (see the README's leniency table). The fields of C++ taut::leniency. */
typedef struct taut_leniency {
  bool bare_lf;            /* accept LF alone as a line terminator */
  bool obs_fold;           /* accept obs-fold continuation lines */
  bool space_before_colon; /* accept "Host : x" */
  /* accept a request with both Transfer-Encoding and Content-Length (TE wins, no keep-alive) */
  bool transfer_encoding_with_content_length;
  /* responses: accept "HTTP/1.1 200" CRLF, no SP after the status code (an empty reason); new in
   * this version, so set it (or start from taut_parse_options_default()) */
  bool no_space_after_status_code;
} taut_leniency;

/** Limits and leniencies of a parser or decoder: the fields of C++ taut::parse_options. Fill it
 * with taut_parse_options_default() and change what you need. */
typedef struct taut_parse_options {
  size_t max_request_line;    /* bytes of request-line or status-line (414) */
  size_t max_header_bytes;    /* bytes of the header section after the start-line (431) */
  size_t max_headers;         /* field lines per message, also capped by the header array (431) */
  size_t max_chunk_extension; /* bytes of chunk extensions on one chunk-size line */
  /* chunk framing bytes beyond what the data earns (20 bytes plus twice each chunk's size); new
   * in this version, so a struct filled field by field rather than from
   * taut_parse_options_default() has 0 here, which refuses every chunked body */
  size_t max_chunk_overhead;
  /* accept request transfer codings other than chunked (gzip, ...) before the final chunked,
   * leaving the body coded and naming them in taut_request.transfer_codings; off: 501 */
  bool allow_transfer_codings;
  taut_leniency lenient;
} taut_parse_options;

/** Sets `options` to taut's defaults, safe for a public server (the C++ parse_options{}). */
void taut_parse_options_default(taut_parse_options* options);
/** The syntax relaxations that do not change message framing (C++ leniency::syntax()). */
taut_leniency taut_leniency_syntax(void);
/** Every relaxation, framing included (C++ leniency::all()). */
taut_leniency taut_leniency_all(void);

/* ---- Parser objects in caller memory ------------------------------------------------------ */

/** Bytes of a taut_request_parser (also taut_request_parser_size()). */
#define TAUT_REQUEST_PARSER_SIZE 576
/** Bytes of a taut_response_parser (also taut_response_parser_size()). */
#define TAUT_RESPONSE_PARSER_SIZE 576
/** Bytes of a taut_body_decoder (also taut_body_decoder_size()). */
#define TAUT_BODY_DECODER_SIZE 384

/** Storage for a request parser: declare one (on the stack, in a connection struct, ...), then
 * taut_request_parser_init() it. Opaque; never copy it once initialised. Needs no cleanup. */
typedef union taut_request_parser {
  unsigned char opaque[TAUT_REQUEST_PARSER_SIZE];
  uint64_t align_u64;
  void* align_ptr;
  double align_double;
} taut_request_parser;

/** Storage for a response parser; used like taut_request_parser. */
typedef union taut_response_parser {
  unsigned char opaque[TAUT_RESPONSE_PARSER_SIZE];
  uint64_t align_u64;
  void* align_ptr;
  double align_double;
} taut_response_parser;

/** Storage for a body decoder; used like taut_request_parser. */
typedef union taut_body_decoder {
  unsigned char opaque[TAUT_BODY_DECODER_SIZE];
  uint64_t align_u64;
  void* align_ptr;
  double align_double;
} taut_body_decoder;

/** sizeof(taut_request_parser), for callers that bring their own memory or check the ABI. */
size_t taut_request_parser_size(void);
/** sizeof(taut_response_parser). */
size_t taut_response_parser_size(void);
/** sizeof(taut_body_decoder). */
size_t taut_body_decoder_size(void);
/** The alignment of the three object types (the strictest of a pointer, a uint64_t and a double):
 * memory of your own cast to one of them must be aligned so. */
size_t taut_object_alignment(void);

/* ---- Request parser ----------------------------------------------------------------------- */

/** Makes `parser` a request parser storing field views in `headers` (`header_count` entries, the
 * caller's, which must outlive the parser's use) with `options` (NULL: the defaults; copied). */
void taut_request_parser_init(taut_request_parser* parser, taut_header* headers,
                              size_t header_count, const taut_parse_options* options);

/** Parses as much of the head as `data` holds: every byte of this message received so far, from
 * its first. On TAUT_PARSE_INCOMPLETE append to the buffer (which may move or grow) and call again
 * with all of it: the parser resumes and never rescans. Returns the status; fills `result` unless
 * NULL. After complete or error it returns the same result until reset. */
taut_parse_status taut_request_parser_parse(taut_request_parser* parser, const char* data,
                                            size_t len, taut_parse_result* result);

/** Fills `request` with the parsed head and returns true once a parse completed; otherwise
 * returns false and zeroes `request`. */
bool taut_request_parser_request(const taut_request_parser* parser, taut_request* request);

/** Forgets the current message, keeping the header array and options (call before the next
 * request on a keep-alive connection). */
void taut_request_parser_reset(taut_request_parser* parser);

/** The options the parser was initialised with. */
void taut_request_parser_options(const taut_request_parser* parser, taut_parse_options* options);

/* ---- Response parser ---------------------------------------------------------------------- */

/** Makes `parser` a response parser; arguments as taut_request_parser_init(). */
void taut_response_parser_init(taut_response_parser* parser, taut_header* headers,
                               size_t header_count, const taut_parse_options* options);

/** Like taut_request_parser_parse(), for a response to a request with `request_method` (HEAD and
 * CONNECT change the framing; pass the same method on every call for one response). Errors carry
 * status 502. */
taut_parse_status taut_response_parser_parse(taut_response_parser* parser, const char* data,
                                             size_t len, taut_method request_method,
                                             taut_parse_result* result);

/** Fills `response` and returns true once a parse completed; otherwise false, zeroed. */
bool taut_response_parser_response(const taut_response_parser* parser, taut_response* response);

/** Forgets the current response (a 1xx response is followed by another). */
void taut_response_parser_reset(taut_response_parser* parser);

/** The options the parser was initialised with (to give its body decoder the same limits). */
void taut_response_parser_options(const taut_response_parser* parser, taut_parse_options* options);

/* ---- Body decoder ------------------------------------------------------------------------- */

/** The outcome of one decode call. `data`/`data_len` are the decoded bytes this call produced, a
 * view into its input (not NUL-terminated; may be NULL when empty); `consumed` is how many input
 * bytes the caller may now drop; error offsets count from the first byte of the body. */
typedef struct taut_body_result {
  taut_parse_status status;
  size_t consumed;
  const char* data;
  size_t data_len;
  taut_error error;
} taut_body_result;

/** Makes `decoder` a decoder of a body framed as `framing` says (from taut_request or
 * taut_response), with `options` (NULL: defaults; pass the parser's for the same limits) and
 * `trailers` (`trailer_count` entries; NULL and 0 to validate and drop trailer fields). */
void taut_body_decoder_init(taut_body_decoder* decoder, const taut_framing* framing,
                            const taut_parse_options* options, taut_header* trailers,
                            size_t trailer_count);

/** Decodes from `data`, which starts at the first body byte not yet consumed. Produces at most
 * one contiguous piece of body per call: while the status is TAUT_PARSE_INCOMPLETE, call again
 * with the rest if bytes were consumed, else after more arrive. Returns the status; fills
 * `result` unless NULL. A trailer section is consumed only once it is whole. Between calls the
 * caller may drop the consumed bytes and move the rest (memmove to the front of its buffer,
 * realloc), in a trailer section too: the decoder keeps offsets, not pointers. `result->data`
 * points into this call's input: copy it out before moving or overwriting that. */
taut_parse_status taut_body_decoder_decode(taut_body_decoder* decoder, const char* data, size_t len,
                                           taut_body_result* result);

/** Tells the decoder the peer closed the connection: completes a TAUT_BODY_UNTIL_CLOSE body; for
 * the other framings, an unfinished body is the error TAUT_ERRC_BODY_CUT_SHORT. */
taut_parse_status taut_body_decoder_finish(taut_body_decoder* decoder, taut_body_result* result);

/** Whether the whole body (and its trailers) has been decoded. */
bool taut_body_decoder_done(const taut_body_decoder* decoder);

/** The trailer fields: the caller's trailer array, `*count` (unless NULL) set to how many it holds,
 * once the body is done (before that, or without a trailer array: NULL and 0). Their views point
 * into the input of the decode call that completed the body. */
const taut_header* taut_body_decoder_trailers(const taut_body_decoder* decoder, size_t* count);

/** Total body bytes decoded so far. */
uint64_t taut_body_decoder_body_size(const taut_body_decoder* decoder);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TAUT_H */
