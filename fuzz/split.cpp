// Fuzz harness `split`: the resumable parser's core promise. A message delivered in pieces, however
// it is cut, parses exactly as when it arrives whole: same status, consumed bytes, views (as
// offsets), framing, error code and offset, decoded body and trailers. Also delivered one byte at
// a time, where the parser must examine O(n) bytes, not O(n^2).
//
// Input layout (the fuzzer mutates the cut points along with the message):
//   byte 0     bits 0-1: 0 or 3 = request (head and body), 1 = chunked body, 2 = response to GET
//              bits 2-5: leniency flags bare_lf, obs_fold, space_before_colon, TE with CL
//   byte 1     number of piece lengths that follow, modulo 16
//   bytes ...  piece lengths (0 to 255: an empty piece is a call with nothing new)
//   the rest   the message; whatever the listed pieces leave is delivered as the last piece
//
// Every call gets a fresh heap copy of the bytes so far, the way a server's buffer moves when it
// grows, so a view left pointing into an older buffer is a use-after-free ASan reports.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "head_checks.hpp"
#include "taut/parser.hpp"

namespace {

using namespace taut;
using namespace taut::fuzz;

constexpr std::size_t storage_size = 64;

struct split_input {
  int kind = 0;
  parse_options options;
  std::vector<std::string_view> pieces;  // slices of `message`, in order, covering it
  std::string_view message;
};

split_input decode_layout(std::string_view data) {
  split_input in;
  if (data.size() < 2) return in;
  const auto control = static_cast<unsigned char>(data[0]);
  in.kind = control & 3;
  in.options.lenient =
      leniency{(control & 4) != 0, (control & 8) != 0, (control & 16) != 0, (control & 32) != 0};
  const std::size_t count = static_cast<unsigned char>(data[1]) % 16;
  data.remove_prefix(2);
  std::vector<std::size_t> lengths;
  for (std::size_t i = 0; i < count && !data.empty(); ++i) {
    lengths.push_back(static_cast<unsigned char>(data[0]));
    data.remove_prefix(1);
  }
  in.message = data;
  for (const std::size_t length : lengths) {
    const std::size_t n = std::min(length, data.size());
    in.pieces.push_back(data.substr(0, n));
    data.remove_prefix(n);
  }
  in.pieces.push_back(data);
  return in;
}

// The part of a message's pieces that follows its first `offset` bytes.
std::vector<std::string_view> pieces_after(std::span<const std::string_view> pieces,
                                           std::size_t offset) {
  std::vector<std::string_view> rest;
  for (std::string_view piece : pieces) {
    const std::size_t skip = std::min(offset, piece.size());
    offset -= skip;
    piece.remove_prefix(skip);
    if (!piece.empty() || offset == 0) rest.push_back(piece);
  }
  return rest;
}

struct head_run {
  head_snapshot snapshot;
  framing body;
  std::size_t examined = 0;
  std::size_t fed = 0;  // bytes given to the parser when it stopped
};

// Feeds the pieces to a head parser; `parse` calls the parser on a buffer and returns a snapshot.
template <typename Parser, typename Parse>
head_run run_head(Parser& parser, std::span<const std::string_view> pieces, Parse&& parse,
                  const head_snapshot* whole, std::string_view message) {
  head_run run;
  std::string so_far;
  for (const std::string_view piece : pieces) {
    so_far.append(piece);
    const std::unique_ptr<char[]> buffer(new char[so_far.size() + 1]);
    std::copy(so_far.begin(), so_far.end(), buffer.get());
    const std::string_view view(buffer.get(), so_far.size());
    run.fed = so_far.size();
    run.snapshot = parse(parser, view);
    run.examined = parser.bytes_examined();
    if (whole != nullptr && run.snapshot.status != parse_status::incomplete) {
      TAUT_FUZZ_CHECK(run.snapshot == *whole,
                      "pieces parse differently from the whole message after " +
                          std::to_string(so_far.size()) + " bytes:\n  whole  " +
                          describe(*whole, message) + "\n  pieces " +
                          describe(run.snapshot, message));
    }
    if (run.snapshot.status != parse_status::incomplete) break;
  }
  return run;
}

template <typename Parser, typename Parse>
void check_head_and_body(const split_input& in, Parse&& parse) {
  std::array<header, storage_size> storage{};
  std::array<header, 8> trailer_storage{};

  Parser whole_parser(storage, in.options);
  const std::string_view whole_pieces[] = {in.message};
  const head_run whole = run_head(whole_parser, whole_pieces, parse, nullptr, in.message);
  const framing how = whole.body;

  Parser parser(storage, in.options);
  const head_run split = run_head(parser, in.pieces, parse, &whole.snapshot, in.message);
  TAUT_FUZZ_CHECK(split.snapshot == whole.snapshot,
                  "pieces end differently from the whole message:\n  whole  " +
                      describe(whole.snapshot, in.message) + "\n  pieces " +
                      describe(split.snapshot, in.message));

  Parser byte_parser(storage, in.options);
  const auto bytes = byte_pieces(in.message);
  const head_run bytewise = run_head(byte_parser, bytes, parse, &whole.snapshot, in.message);
  TAUT_FUZZ_CHECK(bytewise.snapshot == whole.snapshot, "byte at a time ends differently");
  // Resuming never rescans: the work is linear in the bytes fed, however small the pieces.
  TAUT_FUZZ_CHECK(bytewise.examined <= 3 * bytewise.fed + 32,
                  "examined " + std::to_string(bytewise.examined) + " bytes for " +
                      std::to_string(bytewise.fed) + " fed one at a time");

  if (whole.snapshot.status != parse_status::complete) return;
  const std::string_view rest = in.message.substr(whole.snapshot.consumed);
  const std::string_view rest_whole[] = {rest, std::string_view{}};
  body_decoder reference_decoder(how, in.options, trailer_storage);
  const body_outcome reference = decode_in_pieces(reference_decoder, rest_whole);

  std::array<header, 8> other_trailers{};
  body_decoder split_decoder(how, in.options, other_trailers);
  const auto body_pieces = pieces_after(in.pieces, whole.snapshot.consumed);
  body_outcome pieces_outcome = decode_in_pieces(split_decoder, body_pieces);
  if (reference.status != parse_status::complete) pieces_outcome.consumed = reference.consumed;
  TAUT_FUZZ_CHECK(pieces_outcome == reference, "body in pieces differs:\n  whole  " +
                                                   describe(reference) + "\n  pieces " +
                                                   describe(pieces_outcome));
}

void check_chunked(const split_input& in) {
  std::array<header, 8> trailers_a{};
  std::array<header, 8> trailers_b{};
  const std::string_view whole[] = {in.message, std::string_view{}};
  chunked_decoder reference_decoder(in.options, trailers_a);
  const body_outcome reference = decode_in_pieces(reference_decoder, whole);

  for (const bool one_byte : {false, true}) {
    chunked_decoder decoder(in.options, trailers_b);
    const auto bytes = byte_pieces(in.message);
    body_outcome outcome =
        decode_in_pieces(decoder, one_byte ? std::span<const std::string_view>(bytes)
                                           : std::span<const std::string_view>(in.pieces));
    if (reference.status != parse_status::complete) outcome.consumed = reference.consumed;
    TAUT_FUZZ_CHECK(outcome == reference, std::string(one_byte ? "byte at a time" : "pieces") +
                                              " decode differently:\n  whole  " +
                                              describe(reference) + "\n  pieces " +
                                              describe(outcome));
    if (one_byte) {
      TAUT_FUZZ_CHECK(decoder.bytes_examined() <= 3 * in.message.size() + 32,
                      "chunked decoder examined " + std::to_string(decoder.bytes_examined()) +
                          " bytes for " + std::to_string(in.message.size()));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const split_input in = decode_layout(std::string_view(reinterpret_cast<const char*>(data), size));
  if (in.pieces.empty()) return 0;
  switch (in.kind) {
    case 1:
      check_chunked(in);
      break;
    case 2:
      check_head_and_body<response_parser>(in, [](response_parser& p, std::string_view buffer) {
        return snapshot_of(p.parse(buffer, method::get), p.response(), buffer.data());
      });
      break;
    default:
      check_head_and_body<request_parser>(in, [](request_parser& p, std::string_view buffer) {
        return snapshot_of(p.parse(buffer), p.request(), buffer.data());
      });
      break;
  }
  return 0;
}
