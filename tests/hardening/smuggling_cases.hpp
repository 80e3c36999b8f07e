// The request-smuggling shapes of the hardening suite, shared by test_smuggling.cpp (taut-serve
// alone) and test_proxy_smuggling.cpp (taut-serve --proxy in front of a recording upstream).
// Every request carries a second request (GET /hello/smuggled) where a server that frames the
// body differently from taut would read it as a new request.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace taut::hardening {

inline const std::string smuggled = "GET /hello/smuggled HTTP/1.1\r\nHost: hardening\r\n\r\n";
inline constexpr std::string_view smuggled_answer = "Hello, smuggled!";

struct smuggling_case {
  std::string name;
  std::string bytes;
  int status;                 // the one response's status
  std::string body = {};      // for 200: the body the echo must show
  std::size_t responses = 1;  // the control case expects 2
};

/// A string literal with every byte, NULs included.
template <std::size_t N>
std::string literal(const char (&text)[N]) {
  return std::string(text, N - 1);
}

inline std::string json_string(std::string_view bytes) {
  std::string out = "\"";
  for (const char c : bytes) {
    switch (c) {
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

inline std::vector<smuggling_case> cases() {
  const std::string post = "POST /echo HTTP/1.1\r\nHost: hardening\r\n";
  const std::string chunked_hello = "5\r\nhello\r\n0\r\n\r\n";
  const auto te = [&](std::string_view field, int status) {
    return smuggling_case{"Transfer-Encoding field \"" + std::string(field) + "\"",
                          post + std::string(field) + "\r\n\r\n" + chunked_hello + smuggled,
                          status};
  };
  const auto cl = [&](std::string_view fields) {
    return smuggling_case{"Content-Length \"" + std::string(fields) + "\"",
                          post + std::string(fields) + "\r\n\r\nhello" + smuggled, 400};
  };
  const auto chunk = [&](std::string_view name, std::string_view body) {
    return smuggling_case{
        std::string(name),
        post + "Transfer-Encoding: chunked\r\n\r\n" + std::string(body) + smuggled, 400};
  };
  const auto head = [&](std::string_view name, std::string_view request) {
    return smuggling_case{std::string(name), std::string(request) + smuggled, 400};
  };
  const auto valid = [&](std::string_view name, std::string_view fields, std::string_view body,
                         std::string_view decoded) {
    return smuggling_case{std::string(name) + " (valid)",
                          post + "Connection: close\r\n" + std::string(fields) + "\r\n\r\n" +
                              std::string(body) + smuggled,
                          200, std::string(decoded)};
  };

  std::vector<smuggling_case> all = {
      // CL.TE and TE.CL: both framing fields in one request.
      {"CL.TE",
       post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
      {"TE.CL",
       post + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" +
           std::to_string(smuggled.size()) + "\r\n" + smuggled + "\r\n0\r\n\r\n",
       400},
      // TE.TE: obfuscated Transfer-Encoding that another hop might read as chunked, or not.
      te("Transfer-Encoding: xchunked", 501),
      te("Transfer-Encoding: chun ked", 501),
      te("Transfer-Encoding:\r\n chunked", 400),  // obs-fold
      te("Transfer-Encoding: chunked\r\n identity", 400),
      te("Transfer-Encoding: chunked, identity", 400),
      te("Transfer-Encoding: identity, chunked", 501),
      te("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity", 400),
      te("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", 400),
      te("Transfer-Encoding: \"chunked\"", 400),
      te("Transfer-Encoding: chunked;q=1", 400),
      te("Transfer-Encoding : chunked", 400),
      te("Transfer-Encoding\t: chunked", 400),
      te("Transfer-Encoding:\x0b"
         "chunked",
         400),
      te("Transfer-Encoding: \x0c"
         "chunked",
         400),
      te(literal("Transfer-Encoding: chunked\0"), 400),
      te("Transfer-Encoding: chunked\r", 400),
      te("Transfer-Encoding: \r\n", 400),
      te("Transfer_Encoding: chunked\r\nContent-Length: x", 400),
      {"Transfer-Encoding as the first field, after whitespace",
       "POST /echo HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: hardening\r\n\r\n" +
           chunked_hello + smuggled,
       400},
      {"Transfer-Encoding in HTTP/1.0",
       "POST /echo HTTP/1.0\r\nHost: hardening\r\nTransfer-Encoding: chunked\r\n\r\n" +
           chunked_hello + smuggled,
       400},
      // Content-Length: duplicates that differ, lists, signs, other bases, overflow.
      cl("Content-Length: 5\r\nContent-Length: 6"),
      cl("Content-Length: 5, 5"),
      cl("Content-Length: +5"),
      cl("Content-Length: -5"),
      cl("Content-Length: 0x5"),
      cl("Content-Length: 5 5"),
      cl("Content-Length: 5.0"),
      cl("Content-Length: 99999999999999999999999"),
      cl("Content-Length: 18446744073709551616"),
      cl("Content-Length: "),
      cl("Content-Length:\r\n 5"),
      cl("Content Length: 5"),
      cl("Content-Length : 5"),
      // Chunk framing.
      chunk("chunk size overflow (17 hex digits)", "FFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n"),
      chunk("chunk size overflow (2^64 + 5)", "100000000000000005\r\nhello\r\n0\r\n\r\n"),
      chunk("chunk size 0x5", "0x5\r\nhello\r\n0\r\n\r\n"),
      chunk("chunk size -5", "-5\r\nhello\r\n0\r\n\r\n"),
      chunk("chunk size with leading space", " 5\r\nhello\r\n0\r\n\r\n"),
      chunk("chunk size with trailing space", "5 \r\nhello\r\n0\r\n\r\n"),
      chunk("chunk size ended by a bare LF", "5\nhello\r\n0\r\n\r\n"),
      chunk("chunk size ended by a bare CR", "5\rhello\r\n0\r\n\r\n"),
      chunk("chunk data longer than its size", "3\r\nhello\r\n0\r\n\r\n"),
      chunk("chunk data ended by a bare LF", "5\r\nhello\n0\r\n\r\n"),
      chunk("last chunk without its CRLF, then a request", "0\r\n"),
      // Line endings and control bytes in the head.
      head("bare CR in the request-line", "GET /plaintext HTTP/1.1\rHost: hardening\r\n\r\n"),
      head("bare LF line endings", "GET /plaintext HTTP/1.1\nHost: hardening\n\n"),
      head("bare CR in a field value",
           "GET /plaintext HTTP/1.1\r\nHost: hardening\r\nX-A: a\rb\r\n\r\n"),
      head("bare LF in a field value",
           "GET /plaintext HTTP/1.1\r\nHost: hardening\r\nX-A: a\nb\r\n\r\n"),
      head("CR in the target", "GET /plain\rtext HTTP/1.1\r\nHost: hardening\r\n\r\n"),
      head("NUL in the target", literal("GET /plain\0text HTTP/1.1\r\nHost: hardening\r\n\r\n")),
      head("NUL in a field value",
           literal("GET /plaintext HTTP/1.1\r\nHost: hardening\r\nX-A: a\0b\r\n\r\n")),
      head("NUL in a field name",
           literal("GET /plaintext HTTP/1.1\r\nHost: hardening\r\nX\0A: ab\r\n\r\n")),
      head("DEL in a field value",
           "GET /plaintext HTTP/1.1\r\nHost: hardening\r\nX-A: a\x7f"
           "b\r\n\r\n"),
      head("ESC in a field value",
           "GET /plaintext HTTP/1.1\r\nHost: hardening\r\nX-A: a\x1b"
           "b\r\n\r\n"),
      head("SOH in a field name",
           "GET /plaintext HTTP/1.1\r\nHost: hardening\r\nX\x01"
           "A: ab\r\n\r\n"),
      head("missing Host", "GET /plaintext HTTP/1.1\r\n\r\n"),
      head("two Host fields", "GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
      head("Host with a fold", "GET /plaintext HTTP/1.1\r\nHost:\r\n hardening\r\n\r\n"),
      head("HTTP/0.9 request-line", "GET /plaintext\r\n\r\n"),
      // Unusual but valid framing: the body is what the RFC says it is.
      valid("Transfer-Encoding with a tab before the value", "Transfer-Encoding:\tchunked",
            chunked_hello, "hello"),
      valid("Transfer-Encoding with a tab after the value", "Transfer-Encoding: chunked\t",
            chunked_hello, "hello"),
      valid("Transfer-Encoding in capitals", "Transfer-Encoding: CHUNKED", chunked_hello, "hello"),
      valid("Transfer-Encoding with an empty list element", "Transfer-Encoding: , chunked",
            chunked_hello, "hello"),
      valid("two identical Content-Length fields", "Content-Length: 5\r\nContent-Length: 5",
            "hello", "hello"),
      valid("Content-Length with leading zeros", "Content-Length: 0005", "hello", "hello"),
      valid("chunk size with leading zeros", "Transfer-Encoding: chunked",
            "0000000000000000000005\r\nhello\r\n0\r\n\r\n", "hello"),
      valid("chunk extension", "Transfer-Encoding: chunked",
            "5;name=\"v;al\"\r\nhello\r\n0\r\n\r\n", "hello"),
      valid("trailer named Content-Length", "Transfer-Encoding: chunked",
            "5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n", "hello"),
      valid(
          "a request inside the chunk data", "Transfer-Encoding: chunked",
          [] {
            std::string body;
            char size[16];
            std::snprintf(size, sizeof size, "%zx\r\n", smuggled.size());
            return body + size + smuggled + "\r\n0\r\n\r\n";
          }(),
          smuggled),
      valid("a request inside a Content-Length body",
            "Content-Length: " + std::to_string(smuggled.size()), smuggled, smuggled),
  };
  // The control: a second request that really is one is answered.
  all.push_back({"control: a real second request",
                 post + "Content-Length: 5\r\n\r\nhello" +
                     "GET /hello/smuggled HTTP/1.1\r\nHost: hardening\r\nConnection: close\r\n\r\n",
                 200, "hello", 2});
  return all;
}

enum class delivery { whole, byte_by_byte };

/// The server's answer to one case: its complete responses, and what is wrong with them (empty
/// when nothing is).
struct case_answer {
  std::string failure;
  split parsed;
};

/// Sends the case on a new loopback connection to `port` (whole, or one byte per send()), reads
/// until the server closes, and checks what every server must answer, alone or as a proxy: closed
/// within 5 s, never the smuggled response, exactly the case's responses and nothing after them,
/// the case's status, the echoed body for a 200 and `Connection: close` on an error.
inline case_answer deliver(std::uint16_t port, const smuggling_case& c, delivery how) {
  const int fd = connect_loopback(port);
  if (fd < 0) return {"connect failed", {}};
  if (how == delivery::whole) {
    (void)send_all(fd, c.bytes, clock_type::now() + 2s);
  } else {
    // Once the server has answered an error it may reset: stop sending then.
    for (const char byte : c.bytes) {
      if (::send(fd, &byte, 1, MSG_NOSIGNAL) != 1) break;
    }
  }
  const read_outcome got = read_until_close(fd, 5000ms);
  ::close(fd);
  if (got.how == ending::timeout) return {"not closed within 5 s", {}};
  if (c.responses == 1 && got.bytes.find(smuggled_answer) != std::string::npos) {
    return {"the smuggled request was served", {}};
  }
  case_answer answer{{}, split_responses(got.bytes)};
  const split& parsed = answer.parsed;
  if (parsed.malformed || parsed.used != got.bytes.size()) {
    answer.failure = "bytes after the responses: " + got.bytes.substr(parsed.used, 80);
  } else if (parsed.responses.size() != c.responses) {
    answer.failure = std::to_string(parsed.responses.size()) + " responses";
  } else if (const response& r = parsed.responses.front(); r.status != c.status) {
    answer.failure = "status " + std::to_string(r.status);
  } else if (c.status == 200) {
    if (r.body.find("\"body\":" + json_string(c.body) + "}") == std::string::npos) {
      answer.failure = "echoed body differs: " + r.body;
    }
  } else if (r.header("Connection") != "close") {
    answer.failure = "error answered without Connection: close";
  }
  return answer;
}

}  // namespace taut::hardening
