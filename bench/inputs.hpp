// The benchmark inputs (requests, chunked bodies, responses), read from bench/data/ (see
// bench/data/generate.py), with what a correct parse of each must produce, worked out here without
// any of the parsers under test.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "subject.hpp"

namespace taut_bench {

/// A request head and the summary a correct parse gives.
struct head_input {
  std::string_view bytes;
  head_summary expected;
};

/// A request with a chunked body: the whole message, where its body starts, and the decoded body.
struct chunked_input {
  std::string message;
  std::size_t head_size = 0;
  std::string decoded;

  [[nodiscard]] std::string_view body() const {
    return std::string_view(message).substr(head_size);
  }
};

struct corpus {
  std::string tiny, typical, large;
  std::string rotating_file;         // heads and bodies back to back
  std::vector<head_input> rotating;  // views of the heads in rotating_file
  std::string pipelined;             // GET requests back to back, no bodies
  std::size_t pipelined_count = 0;
  chunked_input chunked_small, chunked_16k;
  std::string resp_small, resp_typical, resp_large;  // single response heads
  std::string resp_pipelined;  // responses back to back, bodies framed by Content-Length
  std::size_t resp_pipelined_count = 0;
};

/// Reads every input from `dir`; throws std::runtime_error naming the file that is missing or
/// malformed.
corpus load_corpus(const std::filesystem::path& dir);

/// The summary a correct parse of a single head gives: its size and its field-line count.
head_summary expected_summary(std::string_view head);

}  // namespace taut_bench
