// Uses the installed taut parser: parses one request, then rejects an authority-form target on a
// GET. Prints "taut <version>: <method> <target> -> <error name>".
#include <array>
#include <cstdio>
#include <string_view>

#include <taut/parser.hpp>

// The version the build system found: taut_VERSION from CMake, or pkg-config --modversion.
#ifndef TAUT_CONSUMER_VERSION
#error "define TAUT_CONSUMER_VERSION"
#endif

int main() {
  std::array<taut::header, 8> headers;
  taut::request_parser parser(headers);
  const taut::parse_result good = parser.parse("GET /installed HTTP/1.1\r\nHost: a\r\n\r\n");
  if (!good.complete()) return 1;
  const taut::request& request = parser.request();

  taut::request_parser second(headers);
  const taut::parse_result bad = second.parse("GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n");
  const std::string_view error = taut::to_string(bad.error.code);
  std::printf("taut %s: %.*s %.*s -> %.*s\n", TAUT_CONSUMER_VERSION,
              static_cast<int>(request.method_name.size()), request.method_name.data(),
              static_cast<int>(request.target.size()), request.target.data(),
              static_cast<int>(error.size()), error.data());
  return 0;
}
