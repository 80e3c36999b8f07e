// Fuzz harness `chunked`: arbitrary bytes as a chunked body (RFC 9112 section 7.1), starting at the
// first chunk-size. The same input is decoded
//
//  * streaming, all at once: the reference;
//  * streaming in random pieces (cut points from the input's hash) and one byte at a time;
//  * in place, all at once: the body is moved to the front of the buffer;
//  * with tight chunk-extension and chunk-overhead limits and little trailer storage;
//
// and all of them must agree on the decoded bytes, the trailers, the bytes consumed, and the error
// code and offset. Every step's views must lie inside its input.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "head_checks.hpp"
#include "taut/parser.hpp"

namespace {

using namespace taut;
using namespace taut::fuzz;

body_outcome decode_streaming(std::string_view input, std::span<const std::string_view> pieces,
                              const parse_options& options, std::span<header> trailer_storage) {
  chunked_decoder decoder(options, trailer_storage);
  body_outcome out = decode_in_pieces(decoder, pieces);
  if (out.status != parse_status::error) {
    TAUT_FUZZ_CHECK(decoder.body_size() == out.body.size(),
                    "body_size disagrees with the data produced");
  }
  if (out.status == parse_status::complete) {
    TAUT_FUZZ_CHECK(decoder.done());
    TAUT_FUZZ_CHECK(out.consumed <= input.size());
    // The body ends with the last-chunk's empty line, CRLF (or LF with bare_lf).
    TAUT_FUZZ_CHECK(out.consumed >= 3 && input[out.consumed - 1] == '\n',
                    "complete without a final line");
    for (const auto& [name, value] : out.trailers) {
      TAUT_FUZZ_CHECK(is_token(name), "trailer name not a token: " + quoted(name));
      check_field_value(value, options.lenient);
    }
  }
  if (out.status == parse_status::error) {
    TAUT_FUZZ_CHECK(out.error_offset < input.size(),
                    "error offset " + std::to_string(out.error_offset) + " outside the body of " +
                        std::to_string(input.size()));
  }
  return out;
}

body_outcome decode_whole_in_place(std::string_view input, const parse_options& options,
                                   std::span<header> trailer_storage) {
  chunked_decoder decoder(options, trailer_storage);
  const std::size_t size = input.size();
  const std::unique_ptr<char[]> buffer(new char[size + 1]);
  std::copy(input.begin(), input.end(), buffer.get());
  const in_place_result r = decoder.decode_in_place(std::span<char>(buffer.get(), size));
  TAUT_FUZZ_CHECK(r.consumed <= size && r.decoded <= r.consumed, "in-place sizes out of range");
  TAUT_FUZZ_CHECK((r.status == parse_status::error) == static_cast<bool>(r.error));
  body_outcome out;
  out.status = r.status;
  out.consumed = r.consumed;
  out.body.assign(buffer.get(), r.decoded);
  if (r.status == parse_status::error) {
    out.code = r.error.code;
    out.error_offset = r.error.offset;
  }
  if (r.status == parse_status::complete) {
    const std::string_view whole(buffer.get(), size);
    for (const auto& field : decoder.trailers()) {
      TAUT_FUZZ_CHECK(within(field.name, whole.substr(r.decoded)) &&
                          within(field.value, whole.substr(r.decoded)),
                      "in-place trailer outside the buffer's undecoded part");
    }
    copy_trailers(decoder.trailers(), out);
  }
  return out;
}

// What must agree between two ways of decoding: consumed only matters once complete, since an
// incomplete or failed decode may stop at different places depending on how the input arrived.
void check_agree(const body_outcome& reference, body_outcome other, const char* what) {
  if (reference.status != parse_status::complete) other.consumed = reference.consumed;
  TAUT_FUZZ_CHECK(other == reference, std::string(what) +
                                          " disagrees with decoding at once:\n  whole " +
                                          describe(reference) + "\n  other " + describe(other));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::array<header, 16> trailer_storage{};
  input_rng rng(input);

  for (const leniency lenient : {leniency{}, leniency::syntax()}) {
    parse_options options;
    options.lenient = lenient;
    const std::string_view whole[] = {input, std::string_view{}};
    const body_outcome reference = decode_streaming(input, whole, options, trailer_storage);

    const auto pieces = random_pieces(input, rng, 1 + rng.below(16));
    check_agree(reference, decode_streaming(input, pieces, options, trailer_storage),
                "random pieces");
    const auto bytes = byte_pieces(input);
    check_agree(reference, decode_streaming(input, bytes, options, trailer_storage),
                "byte at a time");

    const body_outcome in_place = decode_whole_in_place(input, options, trailer_storage);
    TAUT_FUZZ_CHECK(in_place.status == reference.status,
                    "in place: " + describe(in_place) + "\n  streaming: " + describe(reference));
    check_agree(reference, in_place, "in place");
  }

  // Tight limits: a chunk extension over the limit, framing beyond the overhead bound and trailers
  // beyond the storage must be errors, and anything accepted must be what the default limits
  // accept (the framing excess grows the same whatever the bound, so a smaller one only refuses
  // sooner).
  parse_options small;
  small.max_chunk_extension = 4;
  small.max_chunk_overhead = 64;
  small.max_headers = 2;
  const std::string_view whole[] = {input, std::string_view{}};
  const body_outcome loose = decode_streaming(input, whole, parse_options{}, trailer_storage);
  const body_outcome limited =
      decode_streaming(input, whole, small, std::span(trailer_storage).first(2));
  if (limited.status == parse_status::complete) check_agree(loose, limited, "tight limits");
  return 0;
}
