#include "connection_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace taut::test {

namespace {
bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

std::string parsed_response::field(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequal(n, name)) return v;
  }
  return {};
}

bool parsed_response::has(std::string_view name) const {
  return count(name) > 0;
}

int parsed_response::count(std::string_view name) const {
  return static_cast<int>(std::count_if(headers.begin(), headers.end(),
                                        [&](const auto& f) { return iequal(f.first, name); }));
}

std::vector<parsed_response> parse_responses(std::string_view bytes, std::vector<method> methods,
                                             std::string* rest) {
  std::vector<parsed_response> out;
  std::size_t next_method = 0;
  while (!bytes.empty()) {
    std::array<header, 64> storage{};
    response_parser parser(storage);
    const method m = next_method < methods.size() ? methods[next_method] : method::get;
    const parse_result r = parser.parse(bytes, m);
    if (!r.complete()) {
      if (rest != nullptr) {
        *rest = std::string(bytes);
        return out;
      }
      ADD_FAILURE() << "response does not parse: " << (r.failed() ? to_string(r.error.code) : "")
                    << " in \"" << bytes << "\"";
      return out;
    }
    const response& head = parser.response();
    parsed_response p;
    p.status = head.status;
    p.keep_alive = head.keep_alive;
    p.framing = head.body.kind;
    for (const header& f : head.headers) p.headers.emplace_back(f.name, f.value);
    bytes.remove_prefix(r.consumed);
    if (head.status >= 200) ++next_method;
    if (head.status == 101 || (m == method::connect && head.status / 100 == 2)) {
      out.push_back(std::move(p));
      if (rest != nullptr) *rest = std::string(bytes);
      return out;
    }
    std::array<header, 16> trailer_storage{};
    body_decoder decoder(head.body, {}, trailer_storage);
    while (true) {
      const body_result b = decoder.decode(bytes);
      p.body += b.data;
      bytes.remove_prefix(b.consumed);
      if (b.status == parse_status::complete) break;
      if (b.status == parse_status::error) {
        ADD_FAILURE() << "bad response body: " << to_string(b.error.code);
        return out;
      }
      if (b.consumed == 0) {
        if (head.body.kind == body_kind::until_close) break;  // the rest is the body
        if (rest != nullptr) {
          *rest = std::string(bytes);
          return out;
        }
        ADD_FAILURE() << "response body cut short";
        return out;
      }
    }
    for (const header& f : decoder.trailers()) p.trailers.emplace_back(f.name, f.value);
    out.push_back(std::move(p));
  }
  return out;
}

std::string get(std::string_view target, std::string_view extra_fields) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: example.com\r\n" +
         std::string(extra_fields) + "\r\n";
}

}  // namespace taut::test
