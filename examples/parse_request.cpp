// Embedding taut's parser: a request arrives in pieces, as from a socket; the head is parsed
// without copying, then its chunked body is decoded. README.md quotes this file; ctest runs it.
#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

#include "taut/parser.hpp"

int main() {
  // What the client sent, cut where the network happened to cut it.
  constexpr std::array<std::string_view, 4> arrivals = {
      "POST /notes?draft=1 HTTP/1.1\r\nHo",
      "st: example.com\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhel",
      "lo\r\n7;lang=en\r\n, world\r\n0\r\nDigest: sha-256=:x:\r\n",
      "\r\n",
  };
  std::size_t arrived = 0;

  // The caller owns the bytes and keeps them still: every view the parser returns points here.
  std::array<char, 4096> buffer{};
  std::size_t filled = 0;
  auto receive = [&]() -> bool {
    if (arrived == arrivals.size()) return false;  // the peer closed the connection
    const std::string_view piece = arrivals[arrived++];
    std::memcpy(buffer.data() + filled, piece.data(), piece.size());
    filled += piece.size();
    return true;
  };

  std::array<taut::header, 32> headers;  // the parser stores field views here; it never allocates
  taut::request_parser parser(headers);
  taut::parse_result head;
  do {
    if (!receive()) return 1;
    head = parser.parse({buffer.data(), filled});  // resumes where the previous call stopped
  } while (head.incomplete());
  if (head.failed()) {
    std::printf("answer %d: %s at byte %zu\n", head.error.status,
                std::string(taut::to_string(head.error.code)).c_str(), head.error.offset);
    return 1;
  }

  const taut::request& request = parser.request();
  std::printf("%.*s %.*s HTTP/1.%d\n", static_cast<int>(request.method_name.size()),
              request.method_name.data(), static_cast<int>(request.target.size()),
              request.target.data(), request.version_minor);
  for (const taut::header& field : request.headers) {
    std::printf("  %.*s: %.*s\n", static_cast<int>(field.name.size()), field.name.data(),
                static_cast<int>(field.value.size()), field.value.data());
  }

  // The parser decided the framing (chunked here); the decoder removes it, piece by piece.
  std::array<taut::header, 8> trailers;
  taut::body_decoder decoder(request.body, parser.options(), trailers);
  std::string body;
  std::size_t position = head.consumed;  // the body starts right after the head
  for (;;) {
    const taut::body_result piece = decoder.decode({buffer.data() + position, filled - position});
    if (piece.status == taut::parse_status::error) {
      std::printf("bad body: %s\n", std::string(taut::to_string(piece.error.code)).c_str());
      return 1;
    }
    body += piece.data;
    position += piece.consumed;
    if (piece.status == taut::parse_status::complete) break;
    if (piece.consumed == 0 && !receive()) return 1;  // needs more bytes than the peer sent
  }
  std::printf("body: %s (%zu trailer field)\n", body.c_str(), decoder.trailers().size());

  // Errors are values: a code, the byte offset, the status to answer, and a std::error_code.
  taut::request_parser strict(headers);
  const taut::parse_result smuggled = strict.parse(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::error_code error = smuggled.error.code;
  std::printf("rejected: %s at byte %zu, answer %d\n", error.message().c_str(),
              smuggled.error.offset, smuggled.error.status);

  return body == "hello, world" && smuggled.failed() ? 0 : 1;
}
