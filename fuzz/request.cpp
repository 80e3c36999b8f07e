// Fuzz harness `request`: arbitrary bytes as a stream of pipelined requests, parsed in strict mode,
// under each leniency flag, under all of them, and under tight limits. Every result is checked
// against the invariants in head_checks.hpp, and the modes are checked against each other:
//
//  * Leniencies only widen what is accepted: a head that strict mode accepts is accepted by every
//    leniency set with an identical result (same fields, offsets, framing). Each flag only turns an
//    error into an acceptance (bare LF, obs-fold, space before colon, TE with CL); none of them can
//    change a message that contains none of the sequences it relaxes.
//  * A strict prefix that is still incomplete in strict mode cannot be an error in a lenient mode.
//  * Limits only narrow: a head accepted under tight limits is accepted identically under the
//    defaults, and a head accepted under the defaults fails tight limits only with a limit error.
//  * Parsing is deterministic: calling parse() again, or after reset(), gives the same result.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "head_checks.hpp"
#include "taut/parser.hpp"

namespace {

using namespace taut;
using namespace taut::fuzz;

constexpr std::size_t storage_size = 128;

struct mode {
  parse_options options;
  std::size_t storage;
};

parse_options with(leniency lenient) {
  parse_options o;
  o.lenient = lenient;
  return o;
}

parse_options tight() {
  parse_options o;
  o.max_request_line = 64;
  o.max_header_bytes = 160;
  o.max_headers = 6;
  o.max_chunk_extension = 8;
  return o;
}

struct one_parse {
  parse_result result;
  head_snapshot snapshot;
  framing body;
};

one_parse parse_head(std::string_view input, const parse_options& options,
                     std::span<header> storage) {
  request_parser parser(storage, options);
  const parse_result r = parser.parse(input);
  check_request(r, parser.request(), input, options, storage.size());
  const head_snapshot s = snapshot_of(r, parser.request(), input.data());

  const parse_result again = parser.parse(input);
  TAUT_FUZZ_CHECK(snapshot_of(again, parser.request(), input.data()) == s, "parse() again differs");
  parser.reset();
  const parse_result fresh = parser.parse(input);
  TAUT_FUZZ_CHECK(snapshot_of(fresh, parser.request(), input.data()) == s,
                  "parse() after reset() differs:\n  first " + describe(s, input) + "\n  after " +
                      describe(snapshot_of(fresh, parser.request(), input.data()), input));
  return {r, s, parser.request().body};
}

// Parses one message (head and body) at the start of `input`; returns the bytes it used, or 0 when
// the stream cannot continue.
std::size_t check_one_message(std::string_view input) {
  std::array<header, storage_size> storage{};
  std::array<header, storage_size> other_storage{};
  std::array<header, 16> trailer_storage{};

  const parse_options strict;
  const one_parse base = parse_head(input, strict, storage);

  const leniency single_flags[] = {{true, false, false, false}, {false, true, false, false},
                                   {false, false, true, false}, {false, false, false, true},
                                   leniency::syntax(),          leniency::all()};
  for (const leniency& lenient : single_flags) {
    const one_parse loose = parse_head(input, with(lenient), other_storage);
    if (base.result.complete()) {
      TAUT_FUZZ_CHECK(loose.snapshot == base.snapshot,
                      "a leniency changed a strictly valid head:\n  strict  " +
                          describe(base.snapshot, input) + "\n  lenient " +
                          describe(loose.snapshot, input));
    } else if (base.result.incomplete()) {
      TAUT_FUZZ_CHECK(
          !loose.result.failed(),
          "strictly incomplete input is an error when lenient: " + describe(loose.snapshot, input));
    }
  }

  const parse_options small = tight();
  const one_parse limited = parse_head(input, small, std::span(other_storage).first(5));
  if (limited.result.complete()) {
    TAUT_FUZZ_CHECK(limited.snapshot == base.snapshot, "tight limits changed an accepted head");
  } else if (base.result.complete()) {
    const errc code = limited.result.error.code;
    TAUT_FUZZ_CHECK(limited.result.failed() &&
                        (code == errc::request_line_too_long ||
                         code == errc::header_section_too_large || code == errc::too_many_headers),
                    "tight limits failed a valid head with " + describe(limited.snapshot, input));
  }

  // Framing-changing leniency: the body as framed with TE winning over CL.
  const one_parse framing_lenient = parse_head(input, with(leniency::all()), other_storage);
  if (framing_lenient.result.complete()) {
    decode_body(framing_lenient.body, input.substr(framing_lenient.result.consumed),
                with(leniency::all()), trailer_storage);
  }

  if (!base.result.complete()) return 0;
  const std::string_view rest = input.substr(base.result.consumed);
  const body_outcome body = decode_body(base.body, rest, strict, trailer_storage);
  decode_body(base.body, rest, small, std::span(trailer_storage).first(2));
  if (body.status != parse_status::complete) return 0;
  return base.result.consumed + body.consumed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // A few pipelined messages, the way a keep-alive connection reads them.
  for (int message = 0; message < 4 && !input.empty(); ++message) {
    const std::size_t used = check_one_message(input);
    if (used == 0) break;
    input.remove_prefix(used);
  }
  return 0;
}
