/* Uses the installed taut parser from C (taut.h), compiled as C99: parses one request, then rejects
 * an authority-form target on a GET. Prints "taut <version> from C: <method> <target> -> <error
 * name>", like consumer.cpp. */
#include <stdio.h>
#include <string.h>

#include <taut.h>

#ifndef TAUT_CONSUMER_VERSION
#error "define TAUT_CONSUMER_VERSION"
#endif

int main(void) {
  static const char good[] = "GET /installed HTTP/1.1\r\nHost: a\r\n\r\n";
  static const char bad[] = "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n";
  taut_header headers[8];
  taut_header other_headers[8];
  taut_request_parser parser;
  taut_request_parser second;
  taut_parse_result result;
  taut_request request;

  taut_request_parser_init(&parser, headers, 8, NULL);
  if (taut_request_parser_parse(&parser, good, strlen(good), NULL) != TAUT_PARSE_COMPLETE) return 1;
  if (!taut_request_parser_request(&parser, &request)) return 1;

  taut_request_parser_init(&second, other_headers, 8, NULL);
  if (taut_request_parser_parse(&second, bad, strlen(bad), &result) != TAUT_PARSE_ERROR) return 1;
  printf("taut %s from C: %.*s %.*s -> %s\n", TAUT_CONSUMER_VERSION, (int)request.method_name_len,
         request.method_name, (int)request.target_len, request.target,
         taut_error_name(result.error.code));
  return 0;
}
