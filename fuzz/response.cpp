// Fuzz harness `response`: arbitrary bytes as a stream of responses on one connection, parsed as
// answers to GET, HEAD and CONNECT, strictly and with every leniency. Results are checked against
// head_checks.hpp (status, reason, fields, and the framing rules of RFC 9112 section 6.3 that
// depend on the request method and the status), and against each other:
//
//  * The request method changes only the framing, never the parsed head.
//  * A head that strict mode accepts is accepted identically by every leniency set.
//  * Determinism: parse() again, or after reset(), gives the same result.
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

struct one_parse {
  parse_result result;
  head_snapshot snapshot;
  framing body;
};

one_parse parse_head(std::string_view input, const parse_options& options,
                     std::span<header> storage, method request_method) {
  response_parser parser(storage, options);
  const parse_result r = parser.parse(input, request_method);
  check_response(r, parser.response(), input, options, storage.size(), request_method);
  const head_snapshot s = snapshot_of(r, parser.response(), input.data());
  const parse_result again = parser.parse(input, request_method);
  TAUT_FUZZ_CHECK(snapshot_of(again, parser.response(), input.data()) == s,
                  "parse() again differs");
  parser.reset();
  const parse_result fresh = parser.parse(input, request_method);
  TAUT_FUZZ_CHECK(snapshot_of(fresh, parser.response(), input.data()) == s,
                  "parse() after reset() differs");
  return {r, s, parser.response().body};
}

head_snapshot without_framing(head_snapshot s) {
  s.kind = body_kind::none;
  s.content_length = 0;
  s.keep_alive = false;
  s.upgrade = false;
  return s;
}

std::size_t check_one_message(std::string_view input) {
  std::array<header, storage_size> storage{};
  std::array<header, storage_size> other_storage{};
  std::array<header, 16> trailer_storage{};

  const parse_options strict;
  const one_parse base = parse_head(input, strict, storage, method::get);

  for (const method m : {method::head, method::connect, method::post}) {
    const one_parse other = parse_head(input, strict, other_storage, m);
    TAUT_FUZZ_CHECK(other.result.status == base.result.status,
                    "the request method changed the head's status");
    if (base.result.complete()) {
      TAUT_FUZZ_CHECK(without_framing(other.snapshot) == without_framing(base.snapshot),
                      "the request method changed the parsed head");
    }
  }

  for (const leniency& lenient :
       {leniency{true, false, false, false}, leniency{false, true, false, false},
        leniency{false, false, true, false}, leniency::all()}) {
    parse_options options;
    options.lenient = lenient;
    const one_parse loose = parse_head(input, options, other_storage, method::get);
    if (base.result.complete()) {
      TAUT_FUZZ_CHECK(loose.snapshot == base.snapshot,
                      "a leniency changed a strictly valid head:\n  strict  " +
                          describe(base.snapshot, input) + "\n  lenient " +
                          describe(loose.snapshot, input));
    } else if (base.result.incomplete()) {
      TAUT_FUZZ_CHECK(!loose.result.failed(), "strictly incomplete input is an error when lenient");
    }
  }

  if (!base.result.complete()) return 0;
  const std::string_view rest = input.substr(base.result.consumed);
  const body_outcome body = decode_body(base.body, rest, strict, trailer_storage);
  if (body.status != parse_status::complete) return 0;
  return base.result.consumed + body.consumed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // Interim (1xx) responses followed by the final one, or pipelined responses.
  for (int message = 0; message < 4 && !input.empty(); ++message) {
    const std::size_t used = check_one_message(input);
    if (used == 0) break;
    input.remove_prefix(used);
  }
  return 0;
}
