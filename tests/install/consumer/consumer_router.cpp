// Uses the installed taut::router alone: a pattern table and one match on a
// percent-escaped path. Prints "router: <pattern> name=<param>".
#include <cstdio>
#include <string_view>

#include <taut/router.hpp>

int main() {
  taut::route_table routes;
  if (routes.add("GET /users/{name}", 7)) return 1;
  taut::inline_route_match<> match;
  routes.match("GET", "", "/users/Ada%20L?x=1", match);
  if (!match.matched()) return 2;
  const std::string_view pattern = match.pattern();
  const std::string_view name = match.param("name");
  std::printf("router: %.*s name=%.*s\n", static_cast<int>(pattern.size()), pattern.data(),
              static_cast<int>(name.size()), name.data());
  return 0;
}
