// The reviewed list of places where taut (strict) and llhttp (strict) are allowed to disagree about
// whether a request is valid. Each entry names the RFC rule behind taut's choice and is a predicate
// that checks the input really is such a case, using the parse of the side that accepted it and
// grammar checks written here (so a taut bug that merely happens to return the right error code is
// not excused). fuzz/known-differences.md describes every entry.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "llhttp_capture.hpp"
#include "taut/parse_error.hpp"

namespace taut::fuzz {

// What taut made of the first request of an input.
struct taut_message {
  verdict outcome = verdict::incomplete;
  errc code = errc::ok;       // when rejected
  std::size_t error_at = 0;   // when rejected: offset of the error in the input
  bool body_error = false;    // the body decoder, not the head parser, rejected it
  std::size_t head_size = 0;  // when the head was complete
  std::string method;
  std::string target;
  int minor = 0;
  bool upgrade = false;
  bool connect = false;
  field_list headers;
  field_list trailers;
  std::string body;
};

struct difference_case {
  std::string_view input;
  const taut_message& taut;
  const llhttp_message& llhttp;
};

struct known_difference {
  std::string_view id;       // stable name, used in known-differences.md
  std::string_view rfc;      // the rule taut follows
  std::string_view summary;  // who accepts what
  bool (*matches)(const difference_case&);
};

/// Every known difference, in the order of known-differences.md.
std::span<const known_difference> known_differences();

/// The first entry that explains a disagreement, or nullptr: an unexplained difference is a bug in
/// one of the parsers or a new entry to review.
const known_difference* explain(const difference_case& c);

// Grammar checks shared with the harness (RFC 3986, RFC 9110, RFC 9112), written independently of
// taut's parser.
bool is_valid_host_value(std::string_view value);           // uri-host [ ":" port ]
bool is_valid_origin_or_absolute(std::string_view target);  // request-target bytes and escapes
bool is_valid_chunk_line(std::string_view line);  // chunk-size [ chunk-ext ], no line ending

}  // namespace taut::fuzz
