// taut-bench-count: a loop of parses for instruction counting, without a benchmark library.
//
//   taut-bench-count whole|bytewise FILE N
//   taut-bench-count input NAME SUBJECT N
//
// The first form parses the first request head of FILE N times (reset() before each), whole or fed
// one byte per call as taut-bench's `typical-bytewise` does, and prints the heads parsed.
//
// The second runs N iterations of taut-bench's input NAME (tiny, typical, large, rotating or
// pipelined; or the responses resp-small, resp-typical, resp-large or resp-pipelined; read from
// bench/data/ or $TAUT_BENCH_DATA) with SUBJECT (taut: strict, on the path the parser chose;
// pico-native or pico-debian when this build has them), doing in each what taut-bench times
// (rotating: every head once; pipelined and resp-pipelined: the whole stream), and prints the
// messages parsed.
//
// Run either under `valgrind --tool=callgrind` for two values of N and difference the totals:
// start-up cancels and what is left, divided by the difference of the requests parsed, is the
// instruction count of one request (or, divided by the head's size too, of one resumed call).
// bench/README.md has the figures.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include "inputs.hpp"
#include "subject.hpp"
#include "taut/parser.hpp"

namespace {

std::unique_ptr<taut_bench::subject> make_subject(std::string_view name) {
  if (name == "taut") return taut_bench::make_taut(false, "default");
  taut_bench::subject_list peers;
#ifdef TAUT_BENCH_HAVE_PICO_DEBIAN
  taut_bench::add_pico_debian(peers);
#endif
#ifdef TAUT_BENCH_HAVE_PICO_NATIVE
  taut_bench::add_pico_native(peers);
#endif
  for (auto& peer : peers) {
    if (peer->name() == name) return std::move(peer);
  }
  return nullptr;
}

// N iterations of the response input `name` with subject `s`: the responses parsed, or -1 (also
// when `name` is no response input).
long run_response_input(const taut_bench::corpus& c, std::string_view name, taut_bench::subject& s,
                        long n) {
  if (!s.parses_responses()) return -1;
  long parsed = 0;
  if (name == "resp-pipelined") {
    for (long k = 0; k < n; ++k) {
      parsed += static_cast<long>(s.parse_response_pipelined(c.resp_pipelined));
    }
    return parsed == n * static_cast<long>(c.resp_pipelined_count) ? parsed : -1;
  }
  const std::string* head = name == "resp-small"     ? &c.resp_small
                            : name == "resp-typical" ? &c.resp_typical
                            : name == "resp-large"   ? &c.resp_large
                                                     : nullptr;
  if (head == nullptr) return -1;
  // A status-line counts as expected_summary's request-line does.
  const taut_bench::head_summary want = taut_bench::expected_summary(*head);
  for (long k = 0; k < n; ++k) {
    if (s.parse_response(*head) == want) ++parsed;
  }
  return parsed == n ? parsed : -1;
}

// N iterations of taut-bench's input `name` with subject `s`: the messages parsed, or -1.
long run_input(const taut_bench::corpus& c, std::string_view name, taut_bench::subject& s, long n) {
  if (name.starts_with("resp-")) return run_response_input(c, name, s, n);
  long parsed = 0;
  if (name == "rotating") {
    for (long k = 0; k < n; ++k) {
      for (const taut_bench::head_input& h : c.rotating) {
        if (s.parse(h.bytes) == h.expected) ++parsed;
      }
    }
    return parsed == n * static_cast<long>(c.rotating.size()) ? parsed : -1;
  }
  if (name == "pipelined") {
    for (long k = 0; k < n; ++k) parsed += static_cast<long>(s.parse_pipelined(c.pipelined));
    return parsed == n * static_cast<long>(c.pipelined_count) ? parsed : -1;
  }
  const std::string* head = name == "tiny"      ? &c.tiny
                            : name == "typical" ? &c.typical
                            : name == "large"   ? &c.large
                                                : nullptr;
  if (head == nullptr) return -1;
  const taut_bench::head_summary want = taut_bench::expected_summary(*head);
  for (long k = 0; k < n; ++k) {
    if (s.parse(*head) == want) ++parsed;
  }
  return parsed == n ? parsed : -1;
}

int count_input(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: taut-bench-count input NAME SUBJECT N\n");
    return 2;
  }
  const std::string_view name = argv[2];
  const std::unique_ptr<taut_bench::subject> s = make_subject(argv[3]);
  if (s == nullptr) {
    std::fprintf(stderr, "taut-bench-count: no subject %s in this build\n", argv[3]);
    return 2;
  }
  taut_bench::corpus c;
  try {
    const char* dir = std::getenv("TAUT_BENCH_DATA");
    c = taut_bench::load_corpus(dir != nullptr ? dir : TAUT_BENCH_DATA_DIR);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "taut-bench-count: %s\n", e.what());
    return 1;
  }
  const long n = std::strtol(argv[4], nullptr, 10);
  const long parsed = run_input(c, name, *s, n);
  if (parsed < 0) {
    std::fprintf(stderr, "taut-bench-count: %s: no such input, or %s got it wrong\n", argv[2],
                 argv[3]);
    return 1;
  }
  std::printf("%ld %s of %s parsed by %s\n", parsed,
              name.starts_with("resp-") ? "responses" : "requests", argv[2], argv[3]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "input") == 0) return count_input(argc, argv);
  if (argc != 4) {
    std::fprintf(stderr,
                 "usage: taut-bench-count whole|bytewise FILE N\n"
                 "       taut-bench-count input NAME SUBJECT N\n");
    return 2;
  }
  const bool bytewise = std::strcmp(argv[1], "bytewise") == 0;
  if (!bytewise && std::strcmp(argv[1], "whole") != 0) {
    std::fprintf(stderr, "taut-bench-count: mode is whole, bytewise or input\n");
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
