// Proves route_table::match never allocates: every global operator new form is replaced by a
// counting one (and, outside sanitizer builds, malloc/calloc/realloc too), and every kind of answer
// (match with decoded parameters, 404, 405, OPTIONS, redirects, 400) is produced many times between
// two readings of the counter.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "taut/router.hpp"

namespace {

std::atomic<long> allocations{0};

// Out of line, so the compiler does not pair malloc with operator delete's free and warn.
[[gnu::noinline]] void* counted_new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

[[gnu::noinline]] void* counted_new(std::size_t size, std::align_val_t align) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  const auto alignment = static_cast<std::size_t>(align);
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  if (void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t size) {
  return counted_new(size);
}
void* operator new[](std::size_t size) {
  return counted_new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t align) {
  return counted_new(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return counted_new(size, align);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

#if !defined(TAUT_TEST_NO_MALLOC_HOOK)
// glibc's own entry points, so a malloc call inside the router would be counted too.
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);

void* malloc(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
}
#endif

namespace {

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
      {"OPTIONS", "", "/api/v1/users", taut::route_status::options},
      {"OPTIONS", "", "*", taut::route_status::options},
      {"GET", "", "/api//v1/./users/../users?x=1", taut::route_status::redirect},
      {"GET", "", "/docs?x=1", taut::route_status::redirect},
      {"GET", "", "/api/v1/users/%zz", taut::route_status::bad_request},
  };
  taut::inline_route_match<> match;
  std::vector<char> scratch(table.scratch_size(256));
  taut::route_match external(scratch);

  const long before = allocations.load();
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
  EXPECT_EQ(allocations.load() - before, 0);
}

TEST(RouterAllocation, TheCounterSeesAllocations) {
  // Guards the test above: if operator new were not replaced, it would pass vacuously.
  const long before = allocations.load();
  taut::route_table table;
  ASSERT_FALSE(table.add("/a/{b}", 0));
  EXPECT_GT(allocations.load() - before, 0);
}

}  // namespace
