// taut-bench-count: a loop of parses for instruction counting, without a benchmark library.
//
//   taut-bench-count whole|bytewise FILE N
//
// Parses the first request head of FILE N times (reset() before each), whole or fed one byte per
// call as taut-bench's `typical-bytewise` does, and prints the heads parsed. Run it under
// `valgrind --tool=callgrind` for two values of N and difference the totals: start-up cancels and
// what is left, divided by the difference of N, is the instruction count of one head (or, divided
// by the head's size too, of one resumed call). bench/README.md has the figures.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "taut/parser.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: taut-bench-count whole|bytewise FILE N\n");
    return 2;
  }
  const bool bytewise = std::strcmp(argv[1], "bytewise") == 0;
  if (!bytewise && std::strcmp(argv[1], "whole") != 0) {
    std::fprintf(stderr, "taut-bench-count: mode is whole or bytewise\n");
    return 2;
  }
  std::ifstream in(argv[2], std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const long n = std::strtol(argv[3], nullptr, 10);
  taut::header storage[128];
  taut::request_parser parser(storage);
  // The first head's size, from one whole parse.
  const taut::parse_result first = parser.parse(text);
  if (!first.complete()) {
    std::fprintf(stderr, "taut-bench-count: %s holds no complete request head\n", argv[2]);
    return 1;
  }
  const std::string_view head(text.data(), first.consumed);
  long parsed = 0;
  for (long k = 0; k < n; ++k) {
    parser.reset();
    if (bytewise) {
      for (std::size_t have = 1; have <= head.size(); ++have) {
        if (parser.parse(head.substr(0, have)).complete()) ++parsed;
      }
    } else if (parser.parse(head).complete()) {
      ++parsed;
    }
  }
  std::printf("%ld heads of %zu bytes\n", parsed, head.size());
  return parsed == n ? 0 : 1;
}
