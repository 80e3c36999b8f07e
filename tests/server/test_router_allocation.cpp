// Proves route_table::match never allocates: every global operator new form is replaced by a
// counting one (and, outside sanitizer builds, malloc/calloc/realloc too), and every kind of answer
// (match with decoded parameters, 404, 405, OPTIONS, redirects, 400) is produced many times between
// two readings of the counter.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "counting_new.hpp"
#include "taut/router.hpp"

namespace {

// operator new and the C allocator both: a malloc inside the router would count too.
long heap_calls() {
  return taut::test::operator_new_calls() + taut::test::malloc_calls();
}

TEST(RouterAllocation, MatchingNeverAllocates) {
  taut::route_table table;
  const std::vector<std::string> patterns = {
      "GET /{$}",
      "GET /api/v1/users",
      "POST /api/v1/users",
      "GET /api/v1/users/{id}",
      "PUT /api/v1/users/{id}",
      "DELETE /api/v1/users/{id}",
      "GET /api/v1/users/{id}/posts/{post}",
      "GET /static/{path...}",
      "/docs/",
      "GET example.com/special/{x}",
      "PROPFIND /dav/{x}",
  };
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    const auto error = table.add(patterns[i], i);
    ASSERT_FALSE(error) << error.message();
  }

  struct request {
    std::string_view method, host, target;
    taut::route_status expected;
  };
  const std::vector<request> requests = {
      {"GET", "", "/api/v1/users/42", taut::route_status::matched},
      {"GET", "", "/api/v1/users/J%C3%BCrgen/posts/%31", taut::route_status::matched},
      {"HEAD", "", "/static/css/site%20main.css", taut::route_status::matched},
      {"BREW", "", "/docs/coffee", taut::route_status::matched},
      {"GET", "EXAMPLE.com:80", "/special/x", taut::route_status::matched},
      {"GET", "", "/nope/nothing", taut::route_status::not_found},
      {"PATCH", "", "/api/v1/users/42", taut::route_status::method_not_allowed},
      {"FOO", "", "/api/v1/users/42", taut::route_status::not_implemented},
      {"OPTIONS", "", "/api/v1/users", taut::route_status::options},
      {"OPTIONS", "", "*", taut::route_status::options},
      {"GET", "", "/api//v1/./users/../users?x=1", taut::route_status::redirect},
      {"GET", "", "/docs?x=1", taut::route_status::redirect},
      {"GET", "", "/api/v1/users/%zz", taut::route_status::bad_request},
  };
  taut::inline_route_match<> match;
  std::vector<char> scratch(table.scratch_size(256));
  taut::route_match external(scratch);

  const long before = heap_calls();
  for (int round = 0; round < 1000; ++round) {
    for (const auto& r : requests) {
      if (table.match(r.method, r.host, r.target, match) != r.expected) {
        ADD_FAILURE() << r.method << " " << r.target;
      }
      if (table.match(r.method, r.host, r.target, external) != r.expected) {
        ADD_FAILURE() << r.method << " " << r.target;
      }
    }
  }
  EXPECT_EQ(heap_calls() - before, 0);
}

TEST(RouterAllocation, TheCounterSeesAllocations) {
  // Guards the test above: if operator new were not replaced, it would pass vacuously.
  const long before = heap_calls();
  taut::route_table table;
  ASSERT_FALSE(table.add("/a/{b}", 0));
  EXPECT_GT(heap_calls() - before, 0);
}

}  // namespace
