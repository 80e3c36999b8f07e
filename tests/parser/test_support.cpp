#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>

namespace taut {

std::ostream& operator<<(std::ostream& out, errc code) {
  return out << to_string(code);
}

std::ostream& operator<<(std::ostream& out, parse_status status) {
  switch (status) {
    case parse_status::complete:
      return out << "complete";
    case parse_status::incomplete:
      return out << "incomplete";
    case parse_status::error:
      return out << "error";
  }
  return out << "parse_status(" << static_cast<int>(status) << ")";
}

std::ostream& operator<<(std::ostream& out, body_kind kind) {
  switch (kind) {
    case body_kind::none:
      return out << "none";
    case body_kind::content_length:
      return out << "content_length";
    case body_kind::chunked:
      return out << "chunked";
    case body_kind::until_close:
      return out << "until_close";
  }
  return out << "body_kind(" << static_cast<int>(kind) << ")";
}

std::ostream& operator<<(std::ostream& out, target_form form) {
  switch (form) {
    case target_form::origin:
      return out << "origin";
    case target_form::absolute:
      return out << "absolute";
    case target_form::authority:
      return out << "authority";
    case target_form::asterisk:
      return out << "asterisk";
  }
  return out << "target_form(" << static_cast<int>(form) << ")";
}

std::ostream& operator<<(std::ostream& out, method m) {
  const std::string_view name = to_string(m);
  return out << (name.empty() ? std::string_view{"other"} : name);
}

}  // namespace taut

namespace taut::test {
namespace {

std::string escaped(std::string_view bytes) {
  std::string out = "\"";
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '\r') {
      out += "\\r";
    } else if (byte == '\n') {
      out += "\\n";
    } else if (byte == '\t') {
      out += "\\t";
    } else if (byte == '"' || byte == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      std::array<char, 8> hex{};
      std::snprintf(hex.data(), hex.size(), "\\x%02x", byte);
      out += hex.data();
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void print_fields(std::ostream& out, const field_list& fields) {
  out << "[";
  for (const auto& [name, value] : fields) out << " " << escaped(name) << ": " << escaped(value);
  out << " ]";
}

/// True when `view` is empty or lies entirely inside `buffer`: a stale view into a buffer the
/// caller has since replaced would fail this even when its bytes happen to compare equal.
bool inside(std::string_view view, std::string_view buffer) {
  if (view.empty()) return true;
  const auto* begin = buffer.data();
  const auto* end = buffer.data() + buffer.size();
  return std::less_equal<>{}(begin, view.data()) &&
         std::less_equal<>{}(view.data() + view.size(), end);
}

field_list copy_fields(std::span<const header> fields, std::string_view buffer, bool& all_inside) {
  field_list out;
  for (const header& field : fields) {
    all_inside = all_inside && inside(field.name, buffer) && inside(field.value, buffer);
    out.emplace_back(std::string(field.name), std::string(field.value));
  }
  return out;
}

/// Records a view outside the buffer as a recognisable, never-equal-to-real header.
void flag_outside(field_list& headers, bool all_inside) {
  if (!all_inside) headers.emplace_back("<view outside the buffer>", "");
}

request_outcome snapshot(const request_parser& parser, const parse_result& result,
                         std::string_view buffer) {
  request_outcome o;
  o.status = result.status;
  o.consumed = result.consumed;
  o.code = result.error.code;
  o.offset = result.error.offset;
  o.http_status = result.error.status;
  if (!result.complete()) return o;
  const taut::request& r = parser.request();
  bool all_inside = inside(r.method_name, buffer) && inside(r.target, buffer) &&
                    inside(r.host, buffer) && inside(r.upgrade_protocols, buffer) &&
                    inside(r.transfer_codings, buffer);
  o.method_name = r.method_name;
  o.method = r.method;
  o.target = r.target;
  o.form = r.target_form;
  o.version_minor = r.version_minor;
  o.headers = copy_fields(r.headers, buffer, all_inside);
  flag_outside(o.headers, all_inside);
  o.host = r.host;
  o.body = r.body.kind;
  o.content_length = r.body.kind == body_kind::content_length ? r.body.content_length : 0;
  o.keep_alive = r.keep_alive;
  o.expect_continue = r.expect_continue;
  o.upgrade = r.upgrade;
  o.upgrade_protocols = r.upgrade_protocols;
  o.transfer_codings = r.transfer_codings;
  o.head_size = r.head_size;
  return o;
}

response_outcome snapshot(const response_parser& parser, const parse_result& result,
                          std::string_view buffer) {
  response_outcome o;
  o.status = result.status;
  o.consumed = result.consumed;
  o.code = result.error.code;
  o.offset = result.error.offset;
  o.http_status = result.error.status;
  if (!result.complete()) return o;
  const taut::response& r = parser.response();
  bool all_inside = inside(r.reason, buffer) && inside(r.transfer_codings, buffer);
  o.version_minor = r.version_minor;
  o.status_code = r.status;
  o.reason = r.reason;
  o.headers = copy_fields(r.headers, buffer, all_inside);
  flag_outside(o.headers, all_inside);
  o.body = r.body.kind;
  o.content_length = r.body.kind == body_kind::content_length ? r.body.content_length : 0;
  o.keep_alive = r.keep_alive;
  o.upgrade = r.upgrade;
  o.transfer_codings = r.transfer_codings;
  o.body_of_response = r.body.response;
  o.head_size = r.head_size;
  return o;
}

/// Grows `buffer` by `piece`; with `move`, into a new allocation with the old one freed first.
void append(std::string& buffer, std::string_view piece, bool move) {
  if (!move) {
    buffer.append(piece);
    return;
  }
  std::string grown;
  grown.reserve(buffer.size() + piece.size());
  grown.append(buffer).append(piece);
  buffer = std::move(grown);
}

template <typename Parser, typename Parse>
auto feed_in_pieces(Parser& parser, std::string_view input, std::span<const std::size_t> cuts,
                    bool move_buffer, Parse parse) {
  std::string buffer;
  // Without moves, the buffer stays where it is, as a server's read buffer does: the case in which
  // a parser may take a resumed call's few bytes by a shortcut (request_parser::parse).
  if (!move_buffer) buffer.reserve(input.size());
  auto result = parse(parser, std::string_view{buffer});
  std::size_t from = 0;
  auto next_cut = cuts.begin();
  while (result.incomplete() && from < input.size()) {
    const std::size_t to =
        next_cut == cuts.end() ? input.size() : std::min(*next_cut++, input.size());
    if (to < from) continue;
    append(buffer, input.substr(from, to - from), move_buffer);
    from = to;
    result = parse(parser, std::string_view{buffer});
  }
  return snapshot(parser, result, buffer);
}

template <typename Decode>
body_outcome drain(std::string_view input, std::span<const std::size_t> cuts, Decode decode) {
  body_outcome o;
  std::string pending;
  std::size_t from = 0;
  auto next_cut = cuts.begin();
  bool first = true;
  while (o.status == parse_status::incomplete && (first || from < input.size())) {
    first = false;
    const std::size_t to =
        next_cut == cuts.end() ? input.size() : std::min(*next_cut++, input.size());
    if (to < from) continue;
    append(pending, input.substr(from, to - from), true);
    from = to;
    // Call while the decoder makes progress: it yields at most one piece of body per call.
    for (int guard = 0; guard < 1'000'000; ++guard) {
      const std::size_t consumed = decode(pending, o);
      // What an erroneous call "consumed" is meaningless: the body is rejected as a whole.
      if (o.status == parse_status::error) o.consumed = 0;
      if (o.status != parse_status::incomplete || consumed == 0) break;
      std::string rest = pending.substr(consumed);
      pending = std::move(rest);
    }
  }
  return o;
}

std::vector<std::size_t> split_points(std::size_t size) {
  constexpr std::size_t exhaustive_limit = 1024;
  std::vector<std::size_t> points;
  if (size <= exhaustive_limit) {
    for (std::size_t k = 1; k < size; ++k) points.push_back(k);
    return points;
  }
  const std::size_t stride = size / 97 + 1;
  for (std::size_t k = 1; k < size; k += stride) points.push_back(k);
  for (std::size_t k = size > 8 ? size - 8 : 1; k < size; ++k) points.push_back(k);
  return points;
}

testing::ScopedTrace trace_at(const call_site& where) {
  return testing::ScopedTrace(where.file, where.line, "called here");
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const request_outcome& o) {
  out << "{status=" << o.status << " consumed=" << o.consumed;
  if (o.status == parse_status::error) {
    return out << " error=" << o.code << " offset=" << o.offset << " http_status=" << o.http_status
               << "}";
  }
  if (o.status != parse_status::complete) return out << "}";
  out << " method=" << escaped(o.method_name) << "(" << o.method << ") target=" << escaped(o.target)
      << "(" << o.form << ") HTTP/1." << o.version_minor << " headers=";
  print_fields(out, o.headers);
  return out << " host=" << escaped(o.host) << " body=" << o.body << "/" << o.content_length
             << " keep_alive=" << o.keep_alive << " expect_continue=" << o.expect_continue
             << " upgrade=" << o.upgrade << "/" << escaped(o.upgrade_protocols)
             << " codings=" << escaped(o.transfer_codings) << " head_size=" << o.head_size << "}";
}

std::ostream& operator<<(std::ostream& out, const response_outcome& o) {
  out << "{status=" << o.status << " consumed=" << o.consumed;
  if (o.status == parse_status::error) {
    return out << " error=" << o.code << " offset=" << o.offset << " http_status=" << o.http_status
               << "}";
  }
  if (o.status != parse_status::complete) return out << "}";
  out << " HTTP/1." << o.version_minor << " " << o.status_code << " " << escaped(o.reason)
      << " headers=";
  print_fields(out, o.headers);
  return out << " body=" << o.body << "/" << o.content_length << " keep_alive=" << o.keep_alive
             << " upgrade=" << o.upgrade << " codings=" << escaped(o.transfer_codings)
             << " head_size=" << o.head_size << "}";
}

std::ostream& operator<<(std::ostream& out, const body_outcome& o) {
  out << "{status=" << o.status << " consumed=" << o.consumed;
  if (o.status == parse_status::error) {
    out << " error=" << o.code << " offset=" << o.offset << " http_status=" << o.http_status;
  }
  out << " data=" << escaped(o.data) << " trailers=";
  print_fields(out, o.trailers);
  return out << "}";
}

std::vector<std::size_t> every_byte(std::size_t size) {
  std::vector<std::size_t> cuts;
  for (std::size_t k = 1; k < size; ++k) cuts.push_back(k);
  return cuts;
}

std::string request_with(std::string_view request_line, std::string_view fields,
                         std::string_view body) {
  std::string out(request_line);
  out += "\r\n";
  out += fields;
  out += "\r\n";
  out += body;
  return out;
}

// ---- Requests -------------------------------------------------------------------------------

request_outcome parse_request_whole(std::string_view input, const parse_options& options,
                                    std::size_t header_capacity) {
  std::vector<header> storage(header_capacity);
  request_parser parser(storage, options);
  const parse_result result = parser.parse(input);
  request_outcome o = snapshot(parser, result, input);
  // A finished parser keeps answering the same until reset().
  const parse_result again = parser.parse(input);
  if (result.status != parse_status::incomplete && !(snapshot(parser, again, input) == o)) {
    o.headers.emplace_back("<second parse() call differs>", "");
  }
  return o;
}

request_outcome parse_request_pieces(std::string_view input, std::span<const std::size_t> cuts,
                                     const parse_options& options, std::size_t header_capacity,
                                     bool move_buffer) {
  std::vector<header> storage(header_capacity);
  request_parser parser(storage, options);
  return feed_in_pieces(parser, input, cuts, move_buffer,
                        [](request_parser& p, std::string_view b) { return p.parse(b); });
}

request_outcome parse_request(std::string_view input, const parse_options& options,
                              std::size_t header_capacity, call_site where) {
  const auto trace = trace_at(where);
  const request_outcome whole = parse_request_whole(input, options, header_capacity);
  for (const std::size_t k : split_points(input.size())) {
    const std::array cut{k};
    const request_outcome split = parse_request_pieces(input, cut, options, header_capacity);
    if (!(split == whole)) {
      ADD_FAILURE() << "split at " << k << " of " << escaped(input) << "\n  whole: " << whole
                    << "\n  split: " << split;
      break;
    }
  }
  const std::vector<std::size_t> bytes = every_byte(input.size());
  const bool small = input.size() <= 4096;
  EXPECT_EQ(parse_request_pieces(input, bytes, options, header_capacity, small), whole)
      << "1 byte at a time (moving buffer) of " << escaped(input);
  if (small) {
    EXPECT_EQ(parse_request_pieces(input, bytes, options, header_capacity, false), whole)
        << "1 byte at a time (buffer that stays put) of " << escaped(input);
  }
  // Uneven pieces: 3, 1, 4, 1, 5, 9, ... bytes.
  std::vector<std::size_t> uneven;
  constexpr std::array sizes{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9};
  for (std::size_t at = 0, i = 0; at < input.size(); ++i) {
    at += static_cast<std::size_t>(sizes[i % sizes.size()]);
    uneven.push_back(at);
  }
  EXPECT_EQ(parse_request_pieces(input, uneven, options, header_capacity), whole)
      << "uneven pieces of " << escaped(input);
  return whole;
}

request_outcome expect_request_ok(std::string_view input, const parse_options& options,
                                  call_site where) {
  const auto trace = trace_at(where);
  request_outcome o = parse_request(input, options, default_header_capacity, where);
  EXPECT_EQ(o.status, parse_status::complete) << o << " for " << escaped(input);
  if (o.status == parse_status::complete) {
    EXPECT_EQ(o.consumed, o.head_size);
    EXPECT_LE(o.consumed, input.size());
  }
  return o;
}

void expect_request_error(std::string_view input, errc code, std::size_t offset,
                          const parse_options& options, std::size_t header_capacity,
                          call_site where) {
  const auto trace = trace_at(where);
  const request_outcome o = parse_request(input, options, header_capacity, where);
  EXPECT_EQ(o.status, parse_status::error) << o << " for " << escaped(input);
  EXPECT_EQ(o.code, code) << o << " for " << escaped(input);
  EXPECT_EQ(o.offset, offset) << o << " for " << escaped(input);
  EXPECT_EQ(o.http_status, default_status(code)) << o;
  EXPECT_LT(o.offset, input.size()) << o;
  EXPECT_EQ(o.consumed, 0U) << o;
}

void expect_request_incomplete(std::string_view input, const parse_options& options,
                               call_site where) {
  const auto trace = trace_at(where);
  const request_outcome o = parse_request(input, options, default_header_capacity, where);
  EXPECT_EQ(o.status, parse_status::incomplete) << o << " for " << escaped(input);
  EXPECT_EQ(o.consumed, 0U);
}

// ---- Responses ------------------------------------------------------------------------------

response_outcome parse_response_whole(std::string_view input, method request_method,
                                      const parse_options& options, std::size_t header_capacity) {
  std::vector<header> storage(header_capacity);
  response_parser parser(storage, options);
  const parse_result result = parser.parse(input, request_method);
  response_outcome o = snapshot(parser, result, input);
  const parse_result again = parser.parse(input, request_method);
  if (result.status != parse_status::incomplete && !(snapshot(parser, again, input) == o)) {
    o.headers.emplace_back("<second parse() call differs>", "");
  }
  return o;
}

response_outcome parse_response_pieces(std::string_view input, std::span<const std::size_t> cuts,
                                       method request_method, const parse_options& options,
                                       std::size_t header_capacity, bool move_buffer) {
  std::vector<header> storage(header_capacity);
  response_parser parser(storage, options);
  return feed_in_pieces(parser, input, cuts, move_buffer,
                        [request_method](response_parser& p, std::string_view b) {
                          return p.parse(b, request_method);
                        });
}

response_outcome parse_response(std::string_view input, method request_method,
                                const parse_options& options, call_site where) {
  const auto trace = trace_at(where);
  const response_outcome whole =
      parse_response_whole(input, request_method, options, default_header_capacity);
  for (const std::size_t k : split_points(input.size())) {
    const std::array cut{k};
    const response_outcome split =
        parse_response_pieces(input, cut, request_method, options, default_header_capacity);
    if (!(split == whole)) {
      ADD_FAILURE() << "split at " << k << " of " << escaped(input) << "\n  whole: " << whole
                    << "\n  split: " << split;
      break;
    }
  }
  EXPECT_EQ(parse_response_pieces(input, every_byte(input.size()), request_method, options,
                                  default_header_capacity),
            whole)
      << "1 byte at a time of " << escaped(input);
  return whole;
}

response_outcome expect_response_ok(std::string_view input, method request_method,
                                    const parse_options& options, call_site where) {
  const auto trace = trace_at(where);
  response_outcome o = parse_response(input, request_method, options, where);
  EXPECT_EQ(o.status, parse_status::complete) << o << " for " << escaped(input);
  if (o.status == parse_status::complete) {
    EXPECT_EQ(o.consumed, o.head_size);
  }
  return o;
}

void expect_response_error(std::string_view input, errc code, std::size_t offset,
                           method request_method, const parse_options& options, call_site where) {
  const auto trace = trace_at(where);
  const response_outcome o = parse_response(input, request_method, options, where);
  EXPECT_EQ(o.status, parse_status::error) << o << " for " << escaped(input);
  EXPECT_EQ(o.code, code) << o << " for " << escaped(input);
  EXPECT_EQ(o.offset, offset) << o << " for " << escaped(input);
  EXPECT_EQ(o.http_status, 502) << o;
  EXPECT_LT(o.offset, input.size()) << o;
}

// ---- Bodies ---------------------------------------------------------------------------------

body_outcome decode_chunked_pieces(std::string_view input, std::span<const std::size_t> cuts,
                                   const parse_options& options, std::size_t trailer_capacity) {
  std::vector<header> storage(trailer_capacity);
  chunked_decoder decoder(options, storage);
  return drain(input, cuts, [&](std::string_view pending, body_outcome& o) {
    const body_result r = decoder.decode(pending);
    o.data += r.data;
    o.consumed += r.consumed;
    o.status = r.status;
    o.code = r.error.code;
    o.offset = r.error.offset;
    o.http_status = r.error.status;
    if (r.status == parse_status::complete) {
      bool all_inside = true;
      o.trailers = copy_fields(decoder.trailers(), pending, all_inside);
      flag_outside(o.trailers, all_inside);
    }
    if (!r.data.empty() && !inside(r.data, pending)) o.trailers.emplace_back("<data outside>", "");
    return r.consumed;
  });
}

body_outcome decode_chunked_whole(std::string_view input, const parse_options& options,
                                  std::size_t trailer_capacity) {
  return decode_chunked_pieces(input, {}, options, trailer_capacity);
}

body_outcome decode_chunked_in_place(std::string_view input, std::span<const std::size_t> cuts,
                                     const parse_options& options, std::size_t trailer_capacity) {
  std::vector<header> storage(trailer_capacity);
  chunked_decoder decoder(options, storage);
  return drain(input, cuts, [&](std::string& pending, body_outcome& o) {
    const in_place_result r =
        decoder.decode_in_place(std::span<char>(pending.data(), pending.size()));
    o.data.append(pending.data(), std::min(r.decoded, pending.size()));
    o.consumed += r.consumed;
    o.status = r.status;
    o.code = r.error.code;
    o.offset = r.error.offset;
    o.http_status = r.error.status;
    if (r.decoded > r.consumed) o.trailers.emplace_back("<decoded more than consumed>", "");
    if (r.status == parse_status::complete) {
      bool all_inside = true;
      o.trailers = copy_fields(decoder.trailers(), pending, all_inside);
      flag_outside(o.trailers, all_inside);
    }
    return r.consumed;
  });
}

body_outcome decode_body_pieces(framing how, std::string_view input,
                                std::span<const std::size_t> cuts, bool close_at_end,
                                const parse_options& options, std::size_t trailer_capacity) {
  std::vector<header> storage(trailer_capacity);
  body_decoder decoder(how, options, storage);
  body_outcome o = drain(input, cuts, [&](std::string_view pending, body_outcome& out) {
    const body_result r = decoder.decode(pending);
    out.data += r.data;
    out.consumed += r.consumed;
    out.status = r.status;
    out.code = r.error.code;
    out.offset = r.error.offset;
    out.http_status = r.error.status;
    if (r.status == parse_status::complete) {
      bool all_inside = true;
      out.trailers = copy_fields(decoder.trailers(), pending, all_inside);
      flag_outside(out.trailers, all_inside);
    }
    return r.consumed;
  });
  if (close_at_end && o.status == parse_status::incomplete) {
    const body_result r = decoder.finish();
    o.data += r.data;
    o.status = r.status;
    o.code = r.error.code;
    o.offset = r.error.offset;
    o.http_status = r.error.status;
  }
  return o;
}

body_outcome decode_chunked(std::string_view input, const parse_options& options,
                            std::size_t trailer_capacity, call_site where) {
  const auto trace = trace_at(where);
  const body_outcome whole = decode_chunked_whole(input, options, trailer_capacity);
  for (const std::size_t k : split_points(input.size())) {
    const std::array cut{k};
    const body_outcome split = decode_chunked_pieces(input, cut, options, trailer_capacity);
    if (!(split == whole)) {
      ADD_FAILURE() << "split at " << k << " of " << escaped(input) << "\n  whole: " << whole
                    << "\n  split: " << split;
      break;
    }
  }
  const std::vector<std::size_t> bytes = every_byte(input.size());
  EXPECT_EQ(decode_chunked_pieces(input, bytes, options, trailer_capacity), whole)
      << "1 byte at a time of " << escaped(input);
  EXPECT_EQ(decode_chunked_in_place(input, {}, options, trailer_capacity), whole)
      << "in place, whole, of " << escaped(input);
  EXPECT_EQ(decode_chunked_in_place(input, bytes, options, trailer_capacity), whole)
      << "in place, 1 byte at a time, of " << escaped(input);
  EXPECT_EQ(decode_body_pieces(framing{body_kind::chunked, 0}, input, {}, false, options,
                               trailer_capacity),
            whole)
      << "through body_decoder, of " << escaped(input);
  return whole;
}

body_outcome expect_chunked_ok(std::string_view input, std::string_view data,
                               const parse_options& options, call_site where) {
  const auto trace = trace_at(where);
  body_outcome o = decode_chunked(input, options, 16, where);
  EXPECT_EQ(o.status, parse_status::complete) << o << " for " << escaped(input);
  EXPECT_EQ(o.data, data) << escaped(input);
  return o;
}

void expect_chunked_error(std::string_view input, errc code, std::size_t offset,
                          const parse_options& options, call_site where) {
  const auto trace = trace_at(where);
  const body_outcome o = decode_chunked(input, options, 16, where);
  EXPECT_EQ(o.status, parse_status::error) << o << " for " << escaped(input);
  EXPECT_EQ(o.code, code) << o << " for " << escaped(input);
  EXPECT_EQ(o.offset, offset) << o << " for " << escaped(input);
  EXPECT_EQ(o.http_status, default_status(code)) << o;
  EXPECT_LT(o.offset, input.size()) << o;
}

}  // namespace taut::test
