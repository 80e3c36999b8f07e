// Fuzz harness `simd`: every vectorized path the CPU supports must agree with the scalar path, byte
// for byte: the same status, consumed bytes, views, framing, error code and offset, for requests
// (strict and lenient), responses and chunked bodies.
//
// Input layout: byte 0 chooses the leniency flags (bits 0-3) and whether the message is also parsed
// as a response (bit 4) and as a chunked body (bit 5); the rest is the message. The message is
// placed at the end of a heap block of exactly its size, so a vector load past the end is an ASan
// report, not a silent over-read.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "taut/parser.hpp"

namespace {

using namespace taut;
using namespace taut::fuzz;

constexpr std::size_t storage_size = 64;

head_snapshot parse_request(std::string_view input, const parse_options& options) {
  header storage[storage_size];
  request_parser parser(storage, options);
  const parse_result r = parser.parse(input);
  return snapshot_of(r, parser.request(), input.data());
}

head_snapshot parse_response(std::string_view input, const parse_options& options) {
  header storage[storage_size];
  response_parser parser(storage, options);
  const parse_result r = parser.parse(input);
  return snapshot_of(r, parser.response(), input.data());
}

body_outcome decode_chunked(std::string_view input, const parse_options& options) {
  header trailers[storage_size];
  chunked_decoder decoder(options, trailers);
  const std::string_view whole[] = {input};
  return decode_in_pieces(decoder, std::span<const std::string_view>(whole));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto control = static_cast<unsigned char>(data[0]);
  parse_options options;
  options.lenient =
      leniency{(control & 1) != 0, (control & 2) != 0, (control & 4) != 0, (control & 8) != 0};
  const std::size_t length = size - 1;
  const std::unique_ptr<char[]> block(new char[length == 0 ? 1 : length]);
  std::memcpy(block.get(), data + 1, length);
  const std::string_view input(block.get(), length);

  const simd_path original = active_simd_path();
  TAUT_FUZZ_CHECK(set_simd_path(simd_path::scalar));
  const head_snapshot request_ref = parse_request(input, options);
  const head_snapshot response_ref = parse_response(input, options);
  const body_outcome chunked_ref = decode_chunked(input, options);
  for (const simd_path path : supported_simd_paths()) {
    if (path == simd_path::scalar) continue;
    TAUT_FUZZ_CHECK(set_simd_path(path));
    const std::string name(to_string(path));
    const head_snapshot request = parse_request(input, options);
    TAUT_FUZZ_CHECK(request == request_ref, "request on " + name + ": " + describe(request, input) +
                                                "\n  scalar: " + describe(request_ref, input));
    if ((control & 16) != 0) {
      const head_snapshot response = parse_response(input, options);
      TAUT_FUZZ_CHECK(response == response_ref, "response on " + name + ": " +
                                                    describe(response, input) +
                                                    "\n  scalar: " + describe(response_ref, input));
    }
    if ((control & 32) != 0) {
      const body_outcome chunked = decode_chunked(input, options);
      TAUT_FUZZ_CHECK(chunked == chunked_ref, "chunked on " + name + ": " + describe(chunked) +
                                                  "\n  scalar: " + describe(chunked_ref));
    }
  }
  set_simd_path(original);
  return 0;
}
