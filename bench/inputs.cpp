#include "inputs.hpp"

#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace taut_bench {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

[[noreturn]] void malformed(const std::filesystem::path& path, const std::string& why) {
  throw std::runtime_error(path.string() + ": " + why);
}

std::size_t head_end(std::string_view message) {
  const std::size_t end = message.find("\r\n\r\n");
  return end == std::string_view::npos ? 0 : end + 4;
}

// The inputs are generated well-formed, so a plain reading of the chunked framing is enough here.
std::string decode_chunked_plainly(std::string_view body, const std::filesystem::path& path) {
  std::string decoded;
  std::size_t pos = 0;
  while (true) {
    const std::size_t line_end = body.find("\r\n", pos);
    if (line_end == std::string_view::npos) malformed(path, "chunk-size line without CRLF");
    std::size_t size = 0;
    const auto [ptr, ec] = std::from_chars(body.data() + pos, body.data() + line_end, size, 16);
    if (ec != std::errc{} || ptr != body.data() + line_end) malformed(path, "bad chunk size");
    pos = line_end + 2;
    if (size == 0) {
      if (body.substr(pos) != "\r\n") malformed(path, "expected the end of the body");
      return decoded;
    }
    if (body.substr(pos + size, 2) != "\r\n") malformed(path, "chunk-data without CRLF");
    decoded.append(body.substr(pos, size));
    pos += size + 2;
  }
}

// The Content-Length of a generated response head (they spell it one way), or 0 when it has none.
std::size_t content_length_of(std::string_view head, const std::filesystem::path& path) {
  constexpr std::string_view name = "\r\nContent-Length: ";
  const std::size_t at = head.find(name);
  if (at == std::string_view::npos) return 0;
  const char* first = head.data() + at + name.size();
  std::size_t length = 0;
  const auto [ptr, ec] = std::from_chars(first, head.data() + head.size(), length);
  if (ec != std::errc{} || *ptr != '\r') malformed(path, "bad Content-Length");
  return length;
}

chunked_input load_chunked(const std::filesystem::path& path) {
  chunked_input input;
  input.message = read_file(path);
  input.head_size = head_end(input.message);
  if (input.head_size == 0) malformed(path, "no end of head");
  input.decoded = decode_chunked_plainly(input.body(), path);
  return input;
}

}  // namespace

head_summary expected_summary(std::string_view head) {
  std::size_t lines = 0;
  for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos;
       pos = head.find("\r\n", pos + 2)) {
    ++lines;
  }
  // The request-line and the empty line that ends the head are not fields.
  return {head.size(), lines >= 2 ? lines - 2 : 0};
}

corpus load_corpus(const std::filesystem::path& dir) {
  corpus c;
  c.tiny = read_file(dir / "tiny.http");
  c.typical = read_file(dir / "typical.http");
  c.large = read_file(dir / "large.http");
  for (const auto* single : {&c.tiny, &c.typical, &c.large}) {
    if (head_end(*single) != single->size())
      malformed(dir, "a single-request file is not one head");
  }

  c.rotating_file = read_file(dir / "rotating.http");
  std::istringstream index(read_file(dir / "rotating.index"));
  const std::string_view all(c.rotating_file);
  std::size_t offset = 0;
  std::size_t head_size = 0;
  std::size_t message_size = 0;
  while (index >> head_size >> message_size) {
    if (head_size > message_size || offset + message_size > all.size()) {
      malformed(dir / "rotating.index", "entry past the end of rotating.http");
    }
    const std::string_view head = all.substr(offset, head_size);
    if (head_end(head) != head_size) malformed(dir / "rotating.index", "entry is not a head");
    c.rotating.push_back({head, expected_summary(head)});
    offset += message_size;
  }
  if (offset != all.size() || c.rotating.empty()) {
    malformed(dir / "rotating.index", "does not cover rotating.http");
  }

  c.pipelined = read_file(dir / "pipelined.http");
  for (std::size_t pos = 0; pos < c.pipelined.size(); ++c.pipelined_count) {
    const std::size_t end = head_end(std::string_view(c.pipelined).substr(pos));
    if (end == 0) malformed(dir / "pipelined.http", "trailing bytes after the last head");
    pos += end;
  }

  c.chunked_small = load_chunked(dir / "chunked-small.http");
  c.chunked_16k = load_chunked(dir / "chunked-16k.http");

  c.resp_small = read_file(dir / "resp-small.http");
  c.resp_typical = read_file(dir / "resp-typical.http");
  c.resp_large = read_file(dir / "resp-large.http");
  for (const auto* single : {&c.resp_small, &c.resp_typical, &c.resp_large}) {
    if (head_end(*single) != single->size()) {
      malformed(dir, "a single-response file is not one head");
    }
  }
  const std::filesystem::path stream_path = dir / "resp-pipelined.http";
  c.resp_pipelined = read_file(stream_path);
  const std::string_view stream(c.resp_pipelined);
  for (std::size_t pos = 0; pos < stream.size(); ++c.resp_pipelined_count) {
    const std::size_t end = head_end(stream.substr(pos));
    if (end == 0) malformed(stream_path, "trailing bytes after the last response");
    pos += end + content_length_of(stream.substr(pos, end), stream_path);
    if (pos > stream.size()) malformed(stream_path, "a body runs past the end");
  }
  return c;
}

}  // namespace taut_bench
