/* Embedding taut's parser from C (taut.h): a request arrives in pieces, as from a socket; the head
 * is parsed without copying, then its chunked body is decoded. README.md quotes this file; ctest
 * compiles it with the C compiler and runs it. */
#include <stdio.h>
#include <string.h>

#include "taut.h"

/* What the client sent, cut where the network happened to cut it. */
static const char* const arrivals[] = {
    "POST /notes?draft=1 HTTP/1.1\r\nHo",
    "st: example.com\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhel",
    "lo\r\n7;lang=en\r\n, world\r\n0\r\nDigest: sha-256=:x:\r\n",
    "\r\n",
};
static size_t arrived = 0;

/* The caller owns the bytes and keeps them still: every view the parser returns points here. */
static char buffer[4096];
static size_t filled = 0;

/* Appends the next piece to the buffer; 0 once the peer closed the connection. */
static int receive(void) {
  const char* piece;
  if (arrived == sizeof arrivals / sizeof arrivals[0]) return 0;
  piece = arrivals[arrived++];
  memcpy(buffer + filled, piece, strlen(piece));
  filled += strlen(piece);
  return 1;
}

int main(void) {
  /* The parser lives in our memory and stores field views in our array: it never allocates. */
  taut_request_parser parser;
  taut_header headers[32];
  taut_parse_result head;
  taut_request request;
  taut_body_decoder decoder;
  taut_header trailers[8];
  taut_body_result piece;
  taut_parse_options options;
  char body[64];
  size_t body_len = 0;
  size_t position;
  size_t trailer_count;
  size_t i;

  taut_parse_options_default(&options); /* strict; set options.lenient.* to relax */
  taut_request_parser_init(&parser, headers, 32, &options);
  /* Each call is given all that arrived so far and resumes where the previous one stopped. */
  do {
    if (!receive()) return 1;
  } while (taut_request_parser_parse(&parser, buffer, filled, &head) == TAUT_PARSE_INCOMPLETE);
  if (head.status == TAUT_PARSE_ERROR) {
    printf("answer %d: %s at byte %zu\n", head.error.status, taut_error_name(head.error.code),
           head.error.offset);
    return 1;
  }

  taut_request_parser_request(&parser, &request);
  printf("%.*s %.*s HTTP/1.%d\n", (int)request.method_name_len, request.method_name,
         (int)request.target_len, request.target, request.version_minor);
  for (i = 0; i < request.header_count; ++i) {
    printf("  %.*s: %.*s\n", (int)headers[i].name_len, headers[i].name, (int)headers[i].value_len,
           headers[i].value);
  }

  /* The parser decided the framing (chunked here); the decoder removes it, piece by piece. */
  taut_body_decoder_init(&decoder, &request.body, &options, trailers, 8);
  position = head.consumed; /* the body starts right after the head */
  for (;;) {
    taut_body_decoder_decode(&decoder, buffer + position, filled - position, &piece);
    if (piece.status == TAUT_PARSE_ERROR) {
      printf("bad body: %s\n", taut_error_name(piece.error.code));
      return 1;
    }
    if (body_len + piece.data_len > sizeof body) return 1; /* more than we accept */
    if (piece.data_len > 0) {                              /* data may be NULL when data_len is 0 */
      memcpy(body + body_len, piece.data, piece.data_len);
      body_len += piece.data_len;
    }
    position += piece.consumed;
    if (piece.status == TAUT_PARSE_COMPLETE) break;
    if (piece.consumed == 0 && !receive()) return 1; /* needs more bytes than the peer sent */
  }
  taut_body_decoder_trailers(&decoder, &trailer_count);
  printf("body: %.*s (%zu trailer field)\n", (int)body_len, body, trailer_count);

  /* Errors are plain structs: a code with a stable name, the byte offset, the status to answer. */
  {
    static const char smuggled[] =
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    taut_request_parser strict;
    taut_header few[4];
    taut_parse_result rejected;
    taut_request_parser_init(&strict, few, 4, NULL);
    taut_request_parser_parse(&strict, smuggled, strlen(smuggled), &rejected);
    printf("rejected: %s at byte %zu, answer %d\n", taut_error_name(rejected.error.code),
           rejected.error.offset, rejected.error.status);
    return body_len == 12 && memcmp(body, "hello, world", 12) == 0 &&
                   rejected.status == TAUT_PARSE_ERROR
               ? 0
               : 1;
  }
}
