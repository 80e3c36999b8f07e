/* taut.h from C: compiled as C99 by the C compiler, linked to taut_parser. A small runner: each
 * test function is run, every failed CHECK is printed with its line, and the program prints
 * "N passed, M failed" and exits nonzero if any test failed. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taut.h"

static int failures_in_test;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ++failures_in_test;                                                      \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

/* Whether the `len` bytes at `p` are the NUL-terminated `s`. */
static bool same(const char* p, size_t len, const char* s) {
  return len == strlen(s) && (len == 0 || memcmp(p, s, len) == 0);
}

/* ---- Counting the C allocator (the C++ runtime's operator new calls malloc too) ------------ */

#if defined(__GLIBC__) && !defined(TAUT_TEST_NO_MALLOC_HOOK)
#define COUNTS_MALLOC 1
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* p, size_t size);
static size_t malloc_calls;
void* malloc(size_t size) {
  ++malloc_calls;
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) {
  ++malloc_calls;
  return __libc_calloc(count, size);
}
void* realloc(void* p, size_t size) {
  ++malloc_calls;
  return __libc_realloc(p, size);
}
#endif

/* ---- Helpers --------------------------------------------------------------------------------- */

/* Parses `text` whole with default options (or `options`) into `headers`. */
static taut_parse_status parse_request(taut_request_parser* parser, taut_header* headers,
                                       size_t n_headers, const taut_parse_options* options,
                                       const char* text, taut_parse_result* result) {
  taut_request_parser_init(parser, headers, n_headers, options);
  return taut_request_parser_parse(parser, text, strlen(text), result);
}

/* Feeds `text` one byte at a time, each call with the whole prefix copied to a buffer that moves
 * (alternating between two buffers, the other one scribbled over): the parser keeps offsets, so
 * the result must be the same as a whole parse. Returns the final status; `*buffer` is where the
 * views point afterwards. */
static taut_parse_status parse_request_bytewise(taut_request_parser* parser, const char* text,
                                                char buffers[2][1024], const char** buffer,
                                                taut_parse_result* result) {
  const size_t len = strlen(text);
  taut_parse_status status = TAUT_PARSE_INCOMPLETE;
  size_t k;
  for (k = 1; k <= len && status == TAUT_PARSE_INCOMPLETE; ++k) {
    char* to = buffers[k % 2];
    memset(buffers[(k + 1) % 2], '#', 1024);
    memcpy(to, text, k);
    *buffer = to;
    status = taut_request_parser_parse(parser, to, k, result);
  }
  return status;
}

/* ---- Tests ----------------------------------------------------------------------------------- */

struct align_request {
  char c;
  taut_request_parser p;
};
struct align_decoder {
  char c;
  taut_body_decoder d;
};

static void sizes_and_alignment(void) {
  CHECK(taut_request_parser_size() == TAUT_REQUEST_PARSER_SIZE);
  CHECK(taut_response_parser_size() == TAUT_RESPONSE_PARSER_SIZE);
  CHECK(taut_body_decoder_size() == TAUT_BODY_DECODER_SIZE);
  CHECK(sizeof(taut_request_parser) == TAUT_REQUEST_PARSER_SIZE);
  CHECK(sizeof(taut_response_parser) == TAUT_RESPONSE_PARSER_SIZE);
  CHECK(sizeof(taut_body_decoder) == TAUT_BODY_DECODER_SIZE);
  /* The unions are aligned at least as the library needs, in C as in C++. */
  CHECK(offsetof(struct align_request, p) >= taut_object_alignment());
  CHECK(offsetof(struct align_decoder, d) >= taut_object_alignment());
  CHECK(offsetof(struct align_request, p) % sizeof(void*) == 0);
}

static void defaults_match_the_cpp_parse_options(void) {
  taut_parse_options options;
  taut_leniency syntax = taut_leniency_syntax();
  taut_leniency all = taut_leniency_all();
  memset(&options, 0xff, sizeof options);
  taut_parse_options_default(&options);
  CHECK(options.max_request_line == 8 * 1024);
  CHECK(options.max_header_bytes == 32 * 1024);
  CHECK(options.max_headers == 100);
  CHECK(options.max_chunk_extension == 1024);
  CHECK(options.max_chunk_overhead == 16 * 1024);
  CHECK(!options.lenient.bare_lf && !options.lenient.obs_fold);
  CHECK(!options.lenient.space_before_colon);
  CHECK(!options.lenient.transfer_encoding_with_content_length);
  CHECK(!options.lenient.no_space_after_status_code);
  CHECK(syntax.bare_lf && syntax.obs_fold && syntax.space_before_colon);
  CHECK(!syntax.transfer_encoding_with_content_length && syntax.no_space_after_status_code);
  CHECK(all.bare_lf && all.obs_fold && all.space_before_colon);
  CHECK(all.transfer_encoding_with_content_length && all.no_space_after_status_code);
}

static void complete_request(void) {
  static const char text[] =
      "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept:  */* \r\nX-Empty:\r\n\r\nrest";
  taut_header headers[8];
  taut_request_parser parser;
  taut_parse_result result;
  taut_request request;
  taut_parse_options options;
  CHECK(parse_request(&parser, headers, 8, NULL, text, &result) == TAUT_PARSE_COMPLETE);
  CHECK(result.status == TAUT_PARSE_COMPLETE);
  CHECK(result.consumed == strlen(text) - 4);
  CHECK(result.error.code == TAUT_ERRC_OK);
  CHECK(taut_request_parser_request(&parser, &request));
  CHECK(same(request.method_name, request.method_name_len, "GET"));
  CHECK(request.method == TAUT_METHOD_GET);
  CHECK(same(request.target, request.target_len, "/a/b?c=d"));
  CHECK(request.target == text + 4); /* zero-copy: a view into the caller's buffer */
  CHECK(request.target_form == TAUT_TARGET_ORIGIN);
  CHECK(request.version_minor == 1);
  CHECK(request.header_count == 3);
  CHECK(request.headers == headers); /* in the caller's array */
  CHECK(same(headers[0].name, headers[0].name_len, "Host"));
  CHECK(same(headers[0].value, headers[0].value_len, "example.com"));
  CHECK(same(headers[1].name, headers[1].name_len, "Accept"));
  CHECK(same(headers[1].value, headers[1].value_len, "*/*"));
  CHECK(same(headers[2].name, headers[2].name_len, "X-Empty"));
  CHECK(headers[2].value_len == 0);
  CHECK(same(request.host, request.host_len, "example.com"));
  CHECK(request.body.kind == TAUT_BODY_NONE);
  CHECK(request.keep_alive && !request.expect_continue && !request.upgrade);
  CHECK(request.head_size == result.consumed);
  /* Asking again gives the same answer until reset. */
  CHECK(taut_request_parser_parse(&parser, text, strlen(text), NULL) == TAUT_PARSE_COMPLETE);
  taut_request_parser_options(&parser, &options);
  CHECK(options.max_headers == 100);
}

static void incomplete_then_resumed_byte_by_byte_in_a_moving_buffer(void) {
  static const char text[] =
      "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n"
      "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  static char buffers[2][1024];
  const char* buffer = NULL;
  taut_header headers[8];
  taut_request_parser parser;
  taut_parse_result result;
  taut_request request;
  taut_request_parser_init(&parser, headers, 8, NULL);
  CHECK(taut_request_parser_parse(&parser, text, 10, &result) == TAUT_PARSE_INCOMPLETE);
  CHECK(result.consumed == 0 && result.error.code == TAUT_ERRC_OK);
  CHECK(!taut_request_parser_request(&parser, &request)); /* nothing before completion */
  CHECK(request.method_name == NULL && request.header_count == 0);

  taut_request_parser_reset(&parser);
  CHECK(parse_request_bytewise(&parser, text, buffers, &buffer, &result) == TAUT_PARSE_COMPLETE);
  CHECK(result.consumed == strlen(text));
  CHECK(taut_request_parser_request(&parser, &request));
  CHECK(request.method == TAUT_METHOD_POST);
  CHECK(request.target == buffer + 5); /* rebased to the last buffer */
  CHECK(same(request.target, request.target_len, "/upload"));
  CHECK(request.header_count == 4);
  CHECK(headers[3].value >= buffer && headers[3].value < buffer + strlen(text));
  CHECK(same(headers[3].value, headers[3].value_len,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
  CHECK(request.body.kind == TAUT_BODY_CONTENT_LENGTH);
  CHECK(request.body.content_length == 11);
  CHECK(request.expect_continue);
}

static void every_request_framing(void) {
  taut_header headers[8];
  taut_request_parser parser;
  taut_request request;
  taut_parse_result result;
  taut_parse_options coded;
  CHECK(parse_request(&parser, headers, 8, NULL, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", NULL) ==
        TAUT_PARSE_COMPLETE);
  CHECK(taut_request_parser_request(&parser, &request));
  CHECK(request.body.kind == TAUT_BODY_NONE && request.keep_alive);

  CHECK(parse_request(&parser, headers, 8, NULL,
                      "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123\r\n\r\n",
                      NULL) == TAUT_PARSE_COMPLETE);
  CHECK(taut_request_parser_request(&parser, &request));
  CHECK(request.body.kind == TAUT_BODY_CONTENT_LENGTH);
  CHECK(request.body.content_length == UINT64_C(1234567890123));

  /* A transfer coding the server does not decode is 501, unless the caller opts in. */
  CHECK(parse_request(&parser, headers, 8, NULL,
                      "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                      &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_UNKNOWN_TRANSFER_CODING && result.error.status == 501);
  taut_parse_options_default(&coded);
  coded.allow_transfer_codings = true;
  CHECK(parse_request(&parser, headers, 8, &coded,
                      "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                      NULL) == TAUT_PARSE_COMPLETE);
  CHECK(taut_request_parser_request(&parser, &request));
  CHECK(request.body.kind == TAUT_BODY_CHUNKED);
  CHECK(same(request.transfer_codings, request.transfer_codings_len, "gzip"));

  CHECK(parse_request(&parser, headers, 8, NULL,
                      "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: "
                      "websocket\r\n\r\n",
                      NULL) == TAUT_PARSE_COMPLETE);
  CHECK(taut_request_parser_request(&parser, &request));
  CHECK(request.upgrade);
  CHECK(same(request.upgrade_protocols, request.upgrade_protocols_len, "websocket"));

  CHECK(parse_request(&parser, headers, 8, NULL, "OPTIONS * HTTP/1.0\r\n\r\n", NULL) ==
        TAUT_PARSE_COMPLETE);
  CHECK(taut_request_parser_request(&parser, &request));
  CHECK(request.method == TAUT_METHOD_OPTIONS && request.target_form == TAUT_TARGET_ASTERISK);
  CHECK(request.version_minor == 0 && !request.keep_alive && request.host_len == 0);
}

static void keep_alive_requests_one_after_another(void) {
  static const char two[] =
      "GET /1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n";
  taut_header headers[4];
  taut_request_parser parser;
  taut_parse_result result;
  taut_request request;
  size_t at;
  CHECK(parse_request(&parser, headers, 4, NULL, two, &result) == TAUT_PARSE_COMPLETE);
  at = result.consumed;
  CHECK(taut_request_parser_request(&parser, &request) && request.header_count == 2);
  taut_request_parser_reset(&parser);
  CHECK(taut_request_parser_parse(&parser, two + at, strlen(two) - at, &result) ==
        TAUT_PARSE_COMPLETE);
  CHECK(taut_request_parser_request(&parser, &request));
  CHECK(same(request.target, request.target_len, "/2"));
  CHECK(request.header_count == 1);
  CHECK(same(headers[0].value, headers[0].value_len, "b"));
}

static void errors_carry_code_offset_status_and_name(void) {
  taut_header headers[4];
  taut_request_parser parser;
  taut_parse_result result;
  taut_parse_options options;
  taut_request request;

  CHECK(parse_request(&parser, headers, 4, NULL,
                      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: "
                      "chunked\r\n\r\n",
                      &result) == TAUT_PARSE_ERROR);
  CHECK(result.status == TAUT_PARSE_ERROR && result.consumed == 0);
  CHECK(result.error.code == TAUT_ERRC_TRANSFER_ENCODING_WITH_CONTENT_LENGTH);
  CHECK(result.error.status == 400);
  CHECK(strcmp(taut_error_name(result.error.code), "transfer_encoding_with_content_length") == 0);
  CHECK(!taut_request_parser_request(&parser, &request));

  CHECK(parse_request(&parser, headers, 4, NULL, "G(T / HTTP/1.1\r\n\r\n", &result) ==
        TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_BAD_METHOD && result.error.offset == 1);
  CHECK(strcmp(taut_error_name(result.error.code), "bad_method") == 0);
  /* The same error again until reset. */
  CHECK(taut_request_parser_parse(&parser, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, &result) ==
        TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_BAD_METHOD);

  CHECK(parse_request(&parser, headers, 4, NULL, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                      &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_DUPLICATE_HOST && result.error.offset == 25);

  CHECK(parse_request(&parser, headers, 4, NULL, "GET / HTTP/3.0\r\nHost: a\r\n\r\n", &result) ==
        TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_UNSUPPORTED_VERSION && result.error.status == 505);

  /* More fields than the caller's array: 431. */
  CHECK(parse_request(&parser, headers, 2, NULL,
                      "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n",
                      &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_TOO_MANY_HEADERS && result.error.status == 431);

  /* Limits come from the options. */
  taut_parse_options_default(&options);
  options.max_request_line = 16;
  CHECK(parse_request(&parser, headers, 4, &options, "GET /a-long-target HTTP/1.1\r\n\r\n",
                      &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_REQUEST_LINE_TOO_LONG && result.error.status == 414);

  CHECK(strcmp(taut_error_name(TAUT_ERRC_OK), "ok") == 0);
  CHECK(strcmp(taut_error_name(TAUT_ERRC_BODY_CUT_SHORT), "body_cut_short") == 0);
  CHECK(strcmp(taut_error_name(TAUT_ERRC_CHUNK_OVERHEAD_TOO_LARGE), "chunk_overhead_too_large") ==
        0);
  CHECK(strcmp(taut_error_name(TAUT_ERRC_CHUNK_OVERHEAD_TOO_LARGE + 1), "unknown") == 0);
  CHECK(strcmp(taut_error_name(-1), "unknown") == 0);
  CHECK(strcmp(taut_error_name(256 + TAUT_ERRC_BAD_METHOD), "unknown") == 0);
}

static void leniency_flags(void) {
  taut_header headers[8];
  taut_request_parser parser;
  taut_parse_result result;
  taut_parse_options options;
  taut_request request;
  static const char bare_lf[] = "GET / HTTP/1.1\nHost: a\n\n";
  static const char fold[] = "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n";
  static const char space[] = "GET / HTTP/1.1\r\nHost : a\r\n\r\n";
  static const char smuggle[] =
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";

  CHECK(parse_request(&parser, headers, 8, NULL, bare_lf, &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_BARE_LF && result.error.offset == 14);
  CHECK(parse_request(&parser, headers, 8, NULL, fold, &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_OBS_FOLD);
  CHECK(parse_request(&parser, headers, 8, NULL, space, &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_SPACE_BEFORE_COLON);

  taut_parse_options_default(&options);
  options.lenient.bare_lf = true;
  CHECK(parse_request(&parser, headers, 8, &options, bare_lf, NULL) == TAUT_PARSE_COMPLETE);
  taut_parse_options_default(&options);
  options.lenient.obs_fold = true;
  CHECK(parse_request(&parser, headers, 8, &options, fold, NULL) == TAUT_PARSE_COMPLETE);
  CHECK(taut_request_parser_request(&parser, &request) && request.header_count == 2);
  CHECK(same(headers[1].value, headers[1].value_len, "1\r\n 2"));
  taut_parse_options_default(&options);
  options.lenient.space_before_colon = true;
  CHECK(parse_request(&parser, headers, 8, &options, space, NULL) == TAUT_PARSE_COMPLETE);
  CHECK(taut_request_parser_request(&parser, &request));
  CHECK(same(headers[0].name, headers[0].name_len, "Host"));
  /* Syntax leniency does not relax framing. */
  options.lenient = taut_leniency_syntax();
  CHECK(parse_request(&parser, headers, 8, &options, smuggle, &result) == TAUT_PARSE_ERROR);
  options.lenient = taut_leniency_all();
  CHECK(parse_request(&parser, headers, 8, &options, smuggle, NULL) == TAUT_PARSE_COMPLETE);
  CHECK(taut_request_parser_request(&parser, &request));
  CHECK(request.body.kind == TAUT_BODY_CHUNKED && !request.keep_alive);
}

static void status_line_without_space_after_the_code(void) {
  static const char no_space[] = "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi";
  taut_header headers[8];
  taut_response_parser parser;
  taut_parse_result result;
  taut_parse_options options;
  taut_response response;

  /* RFC 9112 section 4 wants the SP: refused by default, at the CR where it should be. */
  taut_response_parser_init(&parser, headers, 8, NULL);
  CHECK(taut_response_parser_parse(&parser, no_space, strlen(no_space), TAUT_METHOD_GET, &result) ==
        TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_BAD_STATUS_LINE && result.error.offset == 12);
  /* Accepted with the flag, as an empty reason. */
  taut_parse_options_default(&options);
  options.lenient.no_space_after_status_code = true;
  taut_response_parser_init(&parser, headers, 8, &options);
  CHECK(taut_response_parser_parse(&parser, no_space, strlen(no_space), TAUT_METHOD_GET, &result) ==
        TAUT_PARSE_COMPLETE);
  CHECK(result.consumed == strlen(no_space) - 2);
  CHECK(taut_response_parser_response(&parser, &response));
  CHECK(response.status == 200 && response.reason_len == 0 && response.header_count == 1);
  CHECK(response.body.kind == TAUT_BODY_CONTENT_LENGTH && response.body.content_length == 2);
}

static taut_parse_status parse_response(taut_response_parser* parser, taut_header* headers,
                                        const char* text, taut_method method,
                                        taut_response* response) {
  taut_parse_status status;
  taut_response_parser_init(parser, headers, 8, NULL);
  status = taut_response_parser_parse(parser, text, strlen(text), method, NULL);
  taut_response_parser_response(parser, response);
  return status;
}

static void responses(void) {
  static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: s\r\n\r\nhello";
  taut_header headers[8];
  taut_response_parser parser;
  taut_response response;
  taut_parse_result result;
  size_t k;

  CHECK(parse_response(&parser, headers, ok, TAUT_METHOD_GET, &response) == TAUT_PARSE_COMPLETE);
  CHECK(response.status == 200 && response.version_minor == 1);
  CHECK(same(response.reason, response.reason_len, "OK"));
  CHECK(response.header_count == 2 && response.headers == headers);
  CHECK(same(headers[1].name, headers[1].name_len, "Server"));
  CHECK(response.body.kind == TAUT_BODY_CONTENT_LENGTH && response.body.content_length == 5);
  CHECK(response.keep_alive && response.head_size == strlen(ok) - 5);

  /* Byte by byte. */
  taut_response_parser_init(&parser, headers, 8, NULL);
  for (k = 1; k <= strlen(ok); ++k) {
    const taut_parse_status status =
        taut_response_parser_parse(&parser, ok, k, TAUT_METHOD_GET, &result);
    if (status != TAUT_PARSE_INCOMPLETE) break;
  }
  CHECK(result.status == TAUT_PARSE_COMPLETE && result.consumed == strlen(ok) - 5);

  /* The same head answering HEAD has no body; nor do 204 and 304. */
  CHECK(parse_response(&parser, headers, ok, TAUT_METHOD_HEAD, &response) == TAUT_PARSE_COMPLETE);
  CHECK(response.body.kind == TAUT_BODY_NONE);
  CHECK(parse_response(&parser, headers, "HTTP/1.1 204 No Content\r\n\r\n", TAUT_METHOD_GET,
                       &response) == TAUT_PARSE_COMPLETE);
  CHECK(response.status == 204 && response.body.kind == TAUT_BODY_NONE);
  CHECK(parse_response(&parser, headers, "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
                       TAUT_METHOD_GET, &response) == TAUT_PARSE_COMPLETE);
  CHECK(response.status == 304 && response.body.kind == TAUT_BODY_NONE);
  /* Neither length nor chunked: the body runs until the connection closes. */
  CHECK(parse_response(&parser, headers, "HTTP/1.1 200 OK\r\n\r\n", TAUT_METHOD_GET, &response) ==
        TAUT_PARSE_COMPLETE);
  CHECK(response.body.kind == TAUT_BODY_UNTIL_CLOSE && !response.keep_alive);
  CHECK(parse_response(&parser, headers, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                       TAUT_METHOD_POST, &response) == TAUT_PARSE_COMPLETE);
  CHECK(response.body.kind == TAUT_BODY_CHUNKED);
  CHECK(parse_response(&parser, headers,
                       "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: "
                       "websocket\r\n\r\n",
                       TAUT_METHOD_GET, &response) == TAUT_PARSE_COMPLETE);
  CHECK(response.status == 101 && response.upgrade);

  /* A 1xx, then reset, then the final response in the same buffer. */
  {
    static const char two[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\n";
    taut_response_parser_init(&parser, headers, 8, NULL);
    CHECK(taut_response_parser_parse(&parser, two, strlen(two), TAUT_METHOD_POST, &result) ==
          TAUT_PARSE_COMPLETE);
    CHECK(taut_response_parser_response(&parser, &response) && response.status == 100);
    taut_response_parser_reset(&parser);
    CHECK(!taut_response_parser_response(&parser, &response));
    CHECK(taut_response_parser_parse(&parser, two + result.consumed, strlen(two) - result.consumed,
                                     TAUT_METHOD_POST, NULL) == TAUT_PARSE_COMPLETE);
    CHECK(taut_response_parser_response(&parser, &response) && response.status == 201);
  }

  /* A 2xx answering CONNECT opens a tunnel: no body, and the connection carries another
   * protocol. */
  CHECK(parse_response(&parser, headers, "HTTP/1.1 200 Connection established\r\n\r\n",
                       TAUT_METHOD_CONNECT, &response) == TAUT_PARSE_COMPLETE);
  CHECK(response.body.kind == TAUT_BODY_NONE && response.upgrade);

  /* The parser's options, for its body decoder. */
  {
    taut_parse_options options;
    taut_parse_options got;
    taut_parse_options_default(&options);
    options.max_chunk_extension = 7;
    options.lenient.bare_lf = true;
    taut_response_parser_init(&parser, headers, 8, &options);
    memset(&got, 0, sizeof got);
    taut_response_parser_options(&parser, &got);
    CHECK(got.max_chunk_extension == 7 && got.lenient.bare_lf && !got.lenient.obs_fold);
    CHECK(got.max_request_line == options.max_request_line);
    CHECK(got.max_chunk_overhead == options.max_chunk_overhead);
  }

  /* Errors answer 502: a bad upstream. */
  taut_response_parser_init(&parser, headers, 8, NULL);
  CHECK(taut_response_parser_parse(&parser, "HTTP/1.1 2x0 OK\r\n\r\n", 19, TAUT_METHOD_GET,
                                   &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_BAD_STATUS_CODE && result.error.status == 502);
  CHECK(strcmp(taut_error_name(result.error.code), "bad_status_code") == 0);
}

static void chunked_body_with_trailers_byte_by_byte(void) {
  static const char body[] =
      "5\r\nhello\r\n7;lang=en\r\n, world\r\n0\r\nDigest: sha-256=:x:\r\nX-T: 2\r\n\r\nNEXT";
  const size_t encoded = strlen(body) - 4;
  taut_header trailers[4];
  taut_body_decoder decoder;
  taut_body_result result;
  taut_framing framing;
  char decoded[64];
  size_t decoded_len = 0;
  size_t position = 0;
  size_t available = 0;
  size_t count = 99;
  const taut_header* got;
  framing.kind = TAUT_BODY_CHUNKED;
  framing.content_length = 0;
  framing.response = false;
  taut_body_decoder_init(&decoder, &framing, NULL, trailers, 4);
  CHECK(!taut_body_decoder_done(&decoder));
  CHECK(taut_body_decoder_trailers(&decoder, &count) == NULL && count == 0);
  /* The bytes arrive one at a time; the decoder is given what is not yet consumed. */
  while (available < strlen(body)) {
    taut_parse_status status;
    ++available;
    do {
      status = taut_body_decoder_decode(&decoder, body + position, available - position, &result);
      CHECK(result.data_len == 0 || (result.data >= body && result.data < body + available));
      if (result.data_len > 0) memcpy(decoded + decoded_len, result.data, result.data_len);
      decoded_len += result.data_len;
      position += result.consumed;
    } while (status == TAUT_PARSE_INCOMPLETE && result.consumed > 0 && position < available);
    if (status != TAUT_PARSE_INCOMPLETE) break;
  }
  CHECK(result.status == TAUT_PARSE_COMPLETE);
  CHECK(position == encoded); /* the bytes after the body stay unconsumed */
  CHECK(same(decoded, decoded_len, "hello, world"));
  CHECK(taut_body_decoder_done(&decoder));
  CHECK(taut_body_decoder_body_size(&decoder) == 12);
  got = taut_body_decoder_trailers(&decoder, &count);
  CHECK(got == trailers && count == 2);
  CHECK(same(trailers[0].name, trailers[0].name_len, "Digest"));
  CHECK(same(trailers[0].value, trailers[0].value_len, "sha-256=:x:"));
  CHECK(same(trailers[1].name, trailers[1].name_len, "X-T"));
  /* Done stays done. */
  CHECK(taut_body_decoder_decode(&decoder, "x", 1, &result) == TAUT_PARSE_COMPLETE);
  CHECK(result.consumed == 0 && result.data_len == 0);

  /* Without a trailer array, trailers are validated and dropped. */
  taut_body_decoder_init(&decoder, &framing, NULL, NULL, 0);
  CHECK(taut_body_decoder_decode(&decoder, "0\r\nA: 1\r\n\r\n", 11, &result) ==
        TAUT_PARSE_COMPLETE);
  CHECK(taut_body_decoder_trailers(&decoder, &count) == NULL && count == 0);
}

/* A C server's loop: pipelined requests arrive in pieces (1 to 7 bytes) into a fixed buffer, which
 * the server compacts with memmove (the head once parsed, the body bytes the decoder consumed)
 * and at times moves whole to another array, scribbling over the old one, between any two calls:
 * in a head, in chunk data, in a chunk-size line, in the trailer section. The parser and the
 * decoder keep offsets, so every request, body and trailer comes out whole. The arrays are used in
 * turn and a message never comes back to one it left: a view not moved with it points at '#'. */
enum { c_server_arrays = 64 };
struct c_server {
  char arrays[c_server_arrays][96];
  int current;
  size_t filled;
  size_t sent;
  unsigned moves;
};

/* Drops the first `n` bytes of the buffer (memmove) and, every third call, moves what is left to
 * the next array. */
static void c_server_drop(struct c_server* server, size_t n) {
  char* buffer = server->arrays[server->current];
  memmove(buffer, buffer + n, server->filled - n);
  server->filled -= n;
  if (++server->moves % 3 == 0) {
    const int next = (server->current + 1) % c_server_arrays;
    memcpy(server->arrays[next], buffer, server->filled);
    memset(buffer, '#', sizeof server->arrays[0]);
    server->current = next;
  }
}

/* Appends the next piece of `wire` (1 to 7 bytes); false once all of it was sent. */
static bool c_server_receive(struct c_server* server, const char* wire) {
  const size_t left = strlen(wire) - server->sent;
  size_t n = 1 + (server->sent * 7 + server->moves) % 7;
  if (left == 0) return false;
  if (n > left) n = left;
  if (n > sizeof server->arrays[0] - server->filled) n = sizeof server->arrays[0] - server->filled;
  memcpy(server->arrays[server->current] + server->filled, wire + server->sent, n);
  server->filled += n;
  server->sent += n;
  return true;
}

static void pipelined_requests_in_a_compacted_moving_buffer(void) {
  static const char wire[] =
      "POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n7;lang=en\r\n, world\r\n0\r\nDigest: sha-256=:x:\r\nX-Trailer-Two: 2\r\n\r\n"
      "GET /2 HTTP/1.1\r\nHost: b\r\nX-Long-Field-Name: a value long enough to span pieces\r\n\r\n"
      "PUT /3 HTTP/1.1\r\nHost: c\r\nContent-Length: 11\r\n\r\nhello again"
      "POST /4 HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  static const char* const targets[] = {"/1", "/2", "/3", "/4"};
  static const char* const hosts[] = {"a", "b", "c", "d"};
  static const char* const bodies[] = {"hello, world", "", "hello again", "abc"};
  static const size_t trailer_counts[] = {2, 0, 0, 0};
  static struct c_server server;
  taut_request_parser parser;
  taut_header headers[4];
  taut_header trailers[4];
  size_t done = 0;
  memset(&server, 0, sizeof server);
  taut_request_parser_init(&parser, headers, 4, NULL);
  while (done < 4) {
    taut_parse_result head;
    taut_request request;
    taut_body_decoder decoder;
    taut_body_result piece;
    char body[32];
    size_t body_len = 0;
    size_t position = 0;
    size_t trailer_count = 0;
    /* The head: the message starts at the front of the buffer, which moves between calls. */
    while (taut_request_parser_parse(&parser, server.arrays[server.current], server.filled,
                                     &head) == TAUT_PARSE_INCOMPLETE) {
      c_server_drop(&server, 0);
      if (!c_server_receive(&server, wire)) break;
    }
    CHECK(head.status == TAUT_PARSE_COMPLETE);
    if (head.status != TAUT_PARSE_COMPLETE) return;
    CHECK(taut_request_parser_request(&parser, &request));
    CHECK(same(request.target, request.target_len, targets[done]));
    CHECK(same(request.host, request.host_len, hosts[done]));
    CHECK(request.header_count >= 1 && same(headers[0].name, headers[0].name_len, "Host"));
    /* The body: the head is dropped, then what the decoder consumed, between any two calls. */
    taut_body_decoder_init(&decoder, &request.body, NULL, trailers, 4);
    c_server_drop(&server, head.consumed);
    for (;;) {
      taut_body_decoder_decode(&decoder, server.arrays[server.current] + position,
                               server.filled - position, &piece);
      CHECK(piece.status != TAUT_PARSE_ERROR);
      if (piece.status == TAUT_PARSE_ERROR) return;
      if (piece.data_len > 0 && body_len + piece.data_len <= sizeof body) {
        memcpy(body + body_len, piece.data, piece.data_len); /* before the buffer moves */
      }
      body_len += piece.data_len;
      position += piece.consumed;
      if (piece.status == TAUT_PARSE_COMPLETE) break;
      if (piece.consumed == 0) {
        c_server_drop(&server, position);
        position = 0;
        if (!c_server_receive(&server, wire)) break;
      }
    }
    CHECK(piece.status == TAUT_PARSE_COMPLETE);
    CHECK(same(body, body_len, bodies[done]));
    CHECK(taut_body_decoder_trailers(&decoder, &trailer_count) != NULL || trailer_count == 0);
    CHECK(trailer_count == trailer_counts[done]);
    if (trailer_count == 2) {
      CHECK(same(trailers[0].name, trailers[0].name_len, "Digest"));
      CHECK(same(trailers[0].value, trailers[0].value_len, "sha-256=:x:"));
      CHECK(same(trailers[1].name, trailers[1].name_len, "X-Trailer-Two"));
      CHECK(same(trailers[1].value, trailers[1].value_len, "2"));
    }
    c_server_drop(&server, position);
    taut_request_parser_reset(&parser);
    ++done;
  }
  CHECK(done == 4 && server.sent == strlen(wire) && server.filled == 0);
}

static void body_errors_and_other_framings(void) {
  taut_header trailers[2];
  size_t count = 99;
  taut_body_decoder decoder;
  taut_body_result result;
  taut_framing framing;
  taut_parse_options options;

  framing.kind = TAUT_BODY_CHUNKED;
  framing.content_length = 0;
  framing.response = false;
  taut_body_decoder_init(&decoder, &framing, NULL, NULL, 0);
  CHECK(taut_body_decoder_decode(&decoder, "5\r\nhelloX", 9, &result) == TAUT_PARSE_INCOMPLETE);
  CHECK(same(result.data, result.data_len, "hello") && result.consumed == 8);
  CHECK(taut_body_decoder_decode(&decoder, "X", 1, &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_BAD_CHUNK_DATA_END && result.error.offset == 8);
  CHECK(strcmp(taut_error_name(result.error.code), "bad_chunk_data_end") == 0);

  taut_body_decoder_init(&decoder, &framing, NULL, NULL, 0);
  CHECK(taut_body_decoder_decode(&decoder, "z\r\n", 3, &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_BAD_CHUNK_SIZE && result.error.offset == 0);

  taut_parse_options_default(&options);
  options.max_chunk_extension = 4;
  taut_body_decoder_init(&decoder, &framing, &options, NULL, 0);
  CHECK(taut_body_decoder_decode(&decoder, "1;abcdefgh\r\nx\r\n", 15, &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_CHUNK_EXTENSION_TOO_LONG);

  framing.kind = TAUT_BODY_CONTENT_LENGTH;
  framing.content_length = 5;
  taut_body_decoder_init(&decoder, &framing, NULL, NULL, 0);
  CHECK(taut_body_decoder_decode(&decoder, "abc", 3, &result) == TAUT_PARSE_INCOMPLETE);
  CHECK(same(result.data, result.data_len, "abc") && result.consumed == 3);
  CHECK(taut_body_decoder_decode(&decoder, "defgh", 5, &result) == TAUT_PARSE_COMPLETE);
  CHECK(same(result.data, result.data_len, "de") && result.consumed == 2);
  CHECK(taut_body_decoder_done(&decoder) && taut_body_decoder_body_size(&decoder) == 5);

  /* The peer closing early cuts a delimited body short. */
  taut_body_decoder_init(&decoder, &framing, NULL, NULL, 0);
  CHECK(taut_body_decoder_decode(&decoder, "ab", 2, NULL) == TAUT_PARSE_INCOMPLETE);
  CHECK(taut_body_decoder_finish(&decoder, &result) == TAUT_PARSE_ERROR);
  CHECK(result.error.code == TAUT_ERRC_BODY_CUT_SHORT && result.error.offset == 2);

  /* Until close: everything is body, and closing completes it. */
  framing.kind = TAUT_BODY_UNTIL_CLOSE;
  taut_body_decoder_init(&decoder, &framing, NULL, trailers, 2);
  CHECK(taut_body_decoder_decode(&decoder, "all of it", 9, &result) == TAUT_PARSE_INCOMPLETE);
  CHECK(same(result.data, result.data_len, "all of it"));
  CHECK(!taut_body_decoder_done(&decoder));
  CHECK(taut_body_decoder_trailers(&decoder, &count) == NULL && count == 0);
  CHECK(taut_body_decoder_finish(&decoder, &result) == TAUT_PARSE_COMPLETE);
  CHECK(taut_body_decoder_done(&decoder) && taut_body_decoder_body_size(&decoder) == 9);
  /* Done: the (empty) trailer array. */
  CHECK(taut_body_decoder_trailers(&decoder, &count) == trailers && count == 0);

  framing.kind = TAUT_BODY_NONE;
  taut_body_decoder_init(&decoder, &framing, NULL, NULL, 0);
  CHECK(taut_body_decoder_done(&decoder));
  CHECK(taut_body_decoder_decode(&decoder, "x", 1, &result) == TAUT_PARSE_COMPLETE);
  CHECK(result.consumed == 0);
}

static void methods(void) {
  CHECK(taut_method_from_token("DELETE", 6) == TAUT_METHOD_DELETE);
  CHECK(taut_method_from_token("get", 3) == TAUT_METHOD_OTHER); /* methods are case-sensitive */
  CHECK(taut_method_from_token("GETX", 3) == TAUT_METHOD_GET);
  CHECK(strcmp(taut_method_name(TAUT_METHOD_PATCH), "PATCH") == 0);
  CHECK(strcmp(taut_method_name(TAUT_METHOD_OTHER), "") == 0);
  CHECK(strcmp(taut_method_name(42), "") == 0);
  CHECK(strcmp(taut_method_name(-1), "") == 0);
}

static void parsing_allocates_nothing(void) {
#ifdef COUNTS_MALLOC
  static const char request_text[] =
      "POST /n HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: "
      "1\r\n\r\n";
  static const char bad[] = "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
  static const char response_text[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  taut_header headers[8];
  taut_header trailers[2];
  taut_request_parser request_parser;
  taut_response_parser response_parser;
  taut_body_decoder decoder;
  taut_parse_result result;
  taut_body_result body;
  taut_request request;
  taut_response response;
  size_t before;
  size_t k;
  void* volatile probe;

  /* The counter must see an allocation, or the zero below proves nothing. */
  before = malloc_calls;
  probe = malloc(16);
  free(probe);
  CHECK(malloc_calls == before + 1);

  before = malloc_calls;
  taut_request_parser_init(&request_parser, headers, 8, NULL);
  for (k = 1; k <= strlen(request_text); ++k) {
    if (taut_request_parser_parse(&request_parser, request_text, k, &result) !=
        TAUT_PARSE_INCOMPLETE) {
      break;
    }
  }
  CHECK(taut_request_parser_request(&request_parser, &request));
  taut_body_decoder_init(&decoder, &request.body, NULL, trailers, 2);
  CHECK(taut_body_decoder_decode(&decoder, request_text + result.consumed,
                                 strlen(request_text) - result.consumed,
                                 &body) == TAUT_PARSE_INCOMPLETE);
  CHECK(taut_body_decoder_decode(&decoder, request_text + result.consumed + body.consumed,
                                 strlen(request_text) - result.consumed - body.consumed,
                                 &body) == TAUT_PARSE_COMPLETE);
  taut_request_parser_reset(&request_parser);
  CHECK(taut_request_parser_parse(&request_parser, bad, strlen(bad), &result) == TAUT_PARSE_ERROR);
  CHECK(taut_error_name(result.error.code)[0] == 'd');
  taut_response_parser_init(&response_parser, headers, 8, NULL);
  CHECK(taut_response_parser_parse(&response_parser, response_text, strlen(response_text),
                                   TAUT_METHOD_GET, NULL) == TAUT_PARSE_COMPLETE);
  CHECK(taut_response_parser_response(&response_parser, &response));
  CHECK(malloc_calls == before);
  printf("  allocation: %lu malloc/calloc/realloc calls while parsing\n",
         (unsigned long)(malloc_calls - before));
#else
  printf("  allocation: not counted in this build (sanitizer or not glibc)\n");
#endif
}

/* ---- Runner ---------------------------------------------------------------------------------- */

struct test {
  const char* name;
  void (*run)(void);
};

int main(void) {
  static const struct test tests[] = {
      {"sizes_and_alignment", sizes_and_alignment},
      {"defaults_match_the_cpp_parse_options", defaults_match_the_cpp_parse_options},
      {"complete_request", complete_request},
      {"incomplete_then_resumed_byte_by_byte_in_a_moving_buffer",
       incomplete_then_resumed_byte_by_byte_in_a_moving_buffer},
      {"every_request_framing", every_request_framing},
      {"keep_alive_requests_one_after_another", keep_alive_requests_one_after_another},
      {"errors_carry_code_offset_status_and_name", errors_carry_code_offset_status_and_name},
      {"leniency_flags", leniency_flags},
      {"status_line_without_space_after_the_code", status_line_without_space_after_the_code},
      {"responses", responses},
      {"chunked_body_with_trailers_byte_by_byte", chunked_body_with_trailers_byte_by_byte},
      {"pipelined_requests_in_a_compacted_moving_buffer",
       pipelined_requests_in_a_compacted_moving_buffer},
      {"body_errors_and_other_framings", body_errors_and_other_framings},
      {"methods", methods},
      {"parsing_allocates_nothing", parsing_allocates_nothing},
  };
  const size_t count = sizeof tests / sizeof tests[0];
  size_t passed = 0;
  size_t i;
  for (i = 0; i < count; ++i) {
    failures_in_test = 0;
    tests[i].run();
    printf("%s %s\n", failures_in_test == 0 ? "ok  " : "FAIL", tests[i].name);
    if (failures_in_test == 0) ++passed;
  }
  printf("%lu passed, %lu failed\n", (unsigned long)passed, (unsigned long)(count - passed));
  return passed == count ? EXIT_SUCCESS : EXIT_FAILURE;
}
