#include "sample_messages.hpp"

#include <cstdio>
#include <string_view>

namespace taut::test {

std::vector<std::string> sample_requests() {
  return {
      "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n",
      "\r\n\r\nGET /after-empty-lines HTTP/1.1\r\nHost: a\r\n\r\n",
      // The request everybody benchmarks (picohttpparser's), give or take.
      "GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n"
      "Host: www.kittyhell.com\r\n"
      "User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) "
      "Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n"
      "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
      "Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n"
      "Accept-Encoding: gzip,deflate\r\n"
      "Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n"
      "Keep-Alive: 115\r\n"
      "Connection: keep-alive\r\n"
      "Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; "
      "__utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; "
      "__utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/"
      "|"
      "utmcmd=referral\r\n"
      "\r\n",
      "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n"
      "hello world",
      "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-Field: yes\r\n\r\n",
      "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
      "GET http://example.com/absolute?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
      "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      "POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
      "GET / HTTP/1.1\r\nHost: a\r\nX:\r\nY: \t \r\nZ: caf\xc3\xa9\r\n\r\n",
      "DELETE /items/42 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  };
}

std::vector<std::string> sample_bad_requests() {
  using namespace std::string_literals;
  return {
      "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n"s,
      "GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n"s,
      "GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n"s,
      "GET / HTTP/1.1\r\nHost: a\0\r\n\r\n"s,
      "GET / HTTP/1.1\rHost: a\r\n\r\n",
      "GET / HTTP/1.1\nHost: a\n\n",
      "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
      "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nX",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n",
      // SSDP's asterisk-form with another method than OPTIONS.
      "M-SEARCH * HTTP/1.1\r\nHost: 239.255.255.250:1900\r\n\r\n",
  };
}

std::vector<sample_response> sample_responses() {
  return {
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
      {"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil close"},
      {"HTTP/1.1 204 No Content\r\n\r\n"},
      {"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"},
      {"HTTP/1.1 100 Continue\r\n\r\n"},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method::head},
      {"HTTP/1.1 200 Connection established\r\n\r\n", method::connect},
      {"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 2000 OK\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"},
      {"HTTP/2.0 200 OK\r\n\r\n"},
  };
}

std::vector<std::string> sample_chunked_bodies() {
  return {
      "0\r\n\r\n",
      "5\r\nhello\r\n0\r\n\r\n",
      "5;a=b;c;d=\"q\\\"uoted\"\r\nhello\r\n6 ; x = y\r\n world\r\n0\r\n\r\n",
      "A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
      "00000000000000000003\r\nabc\r\n0\r\n\r\n",
      "ffffffffffffffffff\r\n",
      "5\r\nhelloX\r\n",
      "g\r\n",
      "5;\r\nhello\r\n0\r\n\r\n",
      "5\rX",
      "0\r\nBad Trailer: x\r\n\r\n",
  };
}

std::string large_request(std::size_t header_bytes) {
  std::string out = "GET /large HTTP/1.1\r\nHost: example.com\r\n";
  // About 400 bytes per field, so that 30 KB stays under the default 100 fields.
  const std::string_view value =
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) value";
  for (int i = 0; out.size() + 2 < header_bytes; ++i) {
    out += "X-Field-" + std::to_string(i) + ": ";
    for (int k = 0; k < 5 && out.size() + 2 < header_bytes; ++k) {
      out += value;
      out += ' ';
    }
    out += "done\r\n";
  }
  return out + "\r\n";
}

std::string large_chunked_body(std::size_t chunks) {
  std::string out;
  for (std::size_t i = 0; i < chunks; ++i) {
    const std::size_t size = 1 + (i * 37) % 200;
    char hex[32];
    const int n = std::snprintf(hex, sizeof hex, "%zx", size);
    out.append(hex, static_cast<std::size_t>(n));
    out += i % 3 == 0 ? ";name=value" : "";
    out += "\r\n";
    out += std::string(size, static_cast<char>('a' + i % 26));
    out += "\r\n";
  }
  return out + "0\r\nX-Checksum: 1234\r\n\r\n";
}

}  // namespace taut::test
