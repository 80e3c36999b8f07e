// Uses the installed taut::client alone: a URL split into origin and target, and a request the
// client refuses before sending. Prints "client: <authority> <target> <error code>".
#include <cstdio>
#include <string_view>

#include <taut/client.hpp>

int main() {
  auto parsed = taut::parse_url("http://example.com:8080/a?b=1");
  if (!parsed) return 1;
  const taut::header fields[] = {{"X-Split", "a\r\nX-Injected: 1"}};
  const taut::client_error refused =
      taut::validate({.method = "GET", .target = "/", .headers = fields});
  const std::string_view authority = parsed->origin.authority();
  const std::string_view code = taut::to_string(refused.code);
  std::printf("client: %.*s %s %.*s\n", static_cast<int>(authority.size()), authority.data(),
              parsed->target.c_str(), static_cast<int>(code.size()), code.data());
  return 0;
}
