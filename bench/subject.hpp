// The common face of every parser taut-bench measures: taut itself and each peer implement the
// same scenarios, so every benchmark runs the same loop around a different parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace taut_bench {

/// What a head parse produced: the bytes of the head it consumed and the header fields it found.
/// Both are checked against the input before timing, so a parser that silently fails cannot look
/// fast. `head_size` is 0 when the parse failed.
struct head_summary {
  std::size_t head_size = 0;
  std::size_t headers = 0;

  friend bool operator==(const head_summary&, const head_summary&) = default;
};

/// A parser under test. Heads are parsed into the parser's own storage the way a zero-copy user
/// would keep them: method, target and a (name, value) view per field. Every call starts a new
/// message on the same parser object, as a server does on a keep-alive connection.
class subject {
 public:
  virtual ~subject() = default;

  /// The name used in benchmark names, ratio lines and tables ("pico-native").
  [[nodiscard]] virtual std::string name() const = 0;
  /// One line on what was built and how ("picohttpparser from h2o 2.2.5, -O3 -march=native").
  [[nodiscard]] virtual std::string description() const = 0;

  /// Parses `head`, a whole request head delivered at once.
  virtual head_summary parse(std::string_view head) = 0;
  /// Parses back-to-back requests without bodies; returns how many, 0 on any failure.
  virtual std::size_t parse_pipelined(std::string_view stream) = 0;
  /// Parses `head` delivered one more byte at a time, into the same buffer.
  virtual head_summary parse_bytewise(std::string_view head) = 0;
  /// Parses `head` delivered in two pieces, `[0, split)` and then the rest.
  virtual head_summary parse_split(std::string_view head, std::size_t split) = 0;

  /// Whether parse_response() and parse_response_pipelined() are available.
  [[nodiscard]] virtual bool parses_responses() const { return false; }
  /// Parses `head`, a whole response head (the answer to a GET) delivered at once; the status
  /// code, reason and fields are kept as for a request.
  virtual head_summary parse_response(std::string_view head);
  /// Parses back-to-back responses to GETs, skipping each body by its Content-Length (a 1xx, 204
  /// or 304 has none); returns how many, 0 on any failure.
  virtual std::size_t parse_response_pipelined(std::string_view stream);

  /// Whether decode_chunked() is available (a streaming decoder that hands out views).
  [[nodiscard]] virtual bool decodes_chunked() const { return false; }
  /// Decodes the chunked body of `message` (its head is `head_size` bytes, for parsers that must
  /// parse it to reach the body). Returns the decoded body size, or -1 on failure.
  virtual std::int64_t decode_chunked(std::string_view message, std::size_t head_size);

  /// Whether decode_chunked_in_place() is available.
  [[nodiscard]] virtual bool decodes_chunked_in_place() const { return false; }
  /// Decodes the chunked `body` in place (the decoded bytes end up at its front). Returns the
  /// decoded size, or -1 on failure.
  virtual std::int64_t decode_chunked_in_place(std::span<char> body);
};

using subject_list = std::vector<std::unique_ptr<subject>>;

/// taut's request and response parsers, strict or with leniency::syntax(), on the SIMD path active
/// when called.
std::unique_ptr<subject> make_taut(bool lenient, std::string path);

/// Each peer compiled into this build adds itself to `out` (the build decides which are).
void add_pico_debian(subject_list& out);
void add_pico_native(subject_list& out);
void add_llhttp_generic(subject_list& out);
void add_llhttp_native(subject_list& out);
void add_http_parser(subject_list& out);
void add_beast(subject_list& out);

}  // namespace taut_bench
