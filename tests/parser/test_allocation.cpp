// Allocation-free parsing: every global operator new/delete form is replaced by a counting one
// (and, outside sanitizer builds, malloc/calloc/realloc too), and the counts must not move across
// the parse calls. The inputs, parsers and buffers are all made before counting starts.
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "counting_new.hpp"
#include "sample_messages.hpp"
#include "taut/parser.hpp"

namespace taut::test {
namespace {

struct counts {
  std::size_t news = 0;
  std::size_t mallocs = 0;
};

counts now() {
  return {static_cast<std::size_t>(operator_new_calls()), static_cast<std::size_t>(malloc_calls())};
}

/// Allocation counts across `parse_all`, which must only call the parser.
template <class Parse>
counts allocations_during(Parse&& parse_all) {
  const counts before = now();
  parse_all();
  const counts after = now();
  return {after.news - before.news, after.mallocs - before.mallocs};
}

void report(const char* what, const counts& c, std::size_t parses) {
  std::cout << "  " << what << ": " << parses << " parse calls, " << c.news << " operator new, "
            << c.mallocs << " malloc/calloc/realloc\n";
}

TEST(Allocation, TheCountersWork) {
  // The hooks must see an allocation, or a zero below would prove nothing.
  const counts c = allocations_during([] {
    auto* p = new std::string(100, 'x');
    delete p;
  });
  EXPECT_GE(c.news, 1U);
#if !defined(TAUT_TEST_NO_MALLOC_HOOK)
  const counts m = allocations_during([] {
    void* volatile p = std::malloc(64);
    std::free(p);
  });
  EXPECT_GE(m.mallocs, 1U);
#endif
}

TEST(Allocation, RequestParsingAllocatesNothing) {
  std::vector<std::string> inputs = sample_requests();
  for (std::string& bad : sample_bad_requests()) inputs.push_back(std::move(bad));
  inputs.push_back(large_request(30 * 1024));
  // The same requests fed one byte at a time: the buffers are grown before counting starts.
  std::vector<std::vector<std::string_view>> prefixes;
  for (const std::string& input : inputs) {
    std::vector<std::string_view> p;
    for (std::size_t k = 0; k <= input.size(); ++k) p.emplace_back(input.data(), k);
    prefixes.push_back(std::move(p));
  }
  std::array<header, 128> storage;
  const parse_options lenient{.lenient = leniency::all()};
  std::size_t parses = 0;
  std::size_t complete = 0;
  const counts c = allocations_during([&] {
    for (const parse_options& options : {parse_options{}, lenient}) {
      for (const std::string& input : inputs) {
        request_parser parser(storage, options);
        complete += parser.parse(input).complete() ? 1 : 0;
        ++parses;
      }
      for (const auto& steps : prefixes) {
        request_parser parser(storage, options);
        for (const std::string_view prefix : steps) {
          ++parses;
          if (!parser.parse(prefix).incomplete()) break;
        }
        parser.reset();
      }
    }
  });
  report("requests", c, parses);
  EXPECT_EQ(c.news, 0U);
  EXPECT_EQ(c.mallocs, 0U);
  EXPECT_GT(complete, 10U);
}

TEST(Allocation, ResponseParsingAllocatesNothing) {
  const std::vector<sample_response> inputs = sample_responses();
  std::array<header, 64> storage;
  std::size_t parses = 0;
  const counts c = allocations_during([&] {
    for (const sample_response& sample : inputs) {
      response_parser parser(storage);
      const std::string_view bytes = sample.bytes;
      for (std::size_t k = 0; k <= bytes.size(); ++k) {
        ++parses;
        if (!parser.parse(bytes.substr(0, k), sample.request_method).incomplete()) break;
      }
    }
  });
  report("responses", c, parses);
  EXPECT_EQ(c.news, 0U);
  EXPECT_EQ(c.mallocs, 0U);
}

TEST(Allocation, BodyDecodingAllocatesNothing) {
  std::vector<std::string> bodies = sample_chunked_bodies();
  bodies.push_back(large_chunked_body(500));
  std::vector<std::string> in_place_copies = bodies;
  const std::string fixed = "hello world, and more";
  std::array<header, 16> trailers;
  std::size_t calls = 0;
  const counts c = allocations_during([&] {
    for (const std::string& body : bodies) {
      chunked_decoder decoder({}, trailers);
      std::string_view rest = body;
      for (;;) {
        ++calls;
        const body_result r = decoder.decode(rest);
        rest.remove_prefix(r.consumed);
        if (r.status != parse_status::incomplete || r.consumed == 0) break;
      }
      // One byte at a time, as a server whose reads return single bytes.
      chunked_decoder slow({}, trailers);
      std::size_t start = 0;
      for (std::size_t end = 1; end <= body.size(); ++end) {
        ++calls;
        const body_result r = slow.decode(std::string_view(body).substr(start, end - start));
        start += r.consumed;
        if (r.status != parse_status::incomplete) break;
      }
    }
    for (std::string& body : in_place_copies) {
      chunked_decoder decoder({}, trailers);
      ++calls;
      (void)decoder.decode_in_place(std::span<char>(body.data(), body.size()));
    }
    body_decoder length({body_kind::content_length, 11});
    ++calls;
    (void)length.decode(fixed);
    body_decoder until_close({body_kind::until_close, 0});
    calls += 2;
    (void)until_close.decode(fixed);
    (void)until_close.finish();
    body_decoder chunked({body_kind::chunked, 0}, {}, trailers);
    calls += 2;
    (void)chunked.decode("5\r\nhel");
    (void)chunked.finish();
  });
  report("bodies", c, calls);
  EXPECT_EQ(c.news, 0U);
  EXPECT_EQ(c.mallocs, 0U);
}

TEST(Allocation, ErrorsAllocateNothing) {
  // std::error_code and the names are static; making one allocates nothing.
  std::size_t total = 0;
  const counts c = allocations_during([&] {
    for (int code = 0; code <= static_cast<int>(errc::chunk_overhead_too_large); ++code) {
      const std::error_code ec = static_cast<errc>(code);
      total += to_string(static_cast<errc>(code)).size() + static_cast<std::size_t>(ec.value());
      total += static_cast<std::size_t>(default_status(static_cast<errc>(code)));
    }
  });
  EXPECT_EQ(c.news, 0U);
  EXPECT_EQ(c.mallocs, 0U);
  EXPECT_GT(total, 0U);
}

}  // namespace
}  // namespace taut::test
