// No over-read: every input, whole and truncated at every byte, is placed so that its last byte is
// the last readable byte before a PROT_NONE page. A read past the end is a SIGSEGV. Run for every
// SIMD path the CPU has, since the vector loops are where over-reads hide.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "sample_messages.hpp"
#include "taut/simd.hpp"
#include "test_support.hpp"

namespace taut::test {
namespace {

/// Readable and writable pages followed by one inaccessible page.
class guarded_region {
 public:
  explicit guarded_region(std::size_t capacity) {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    usable_ = (capacity + page_ - 1) / page_ * page_;
    if (usable_ == 0) usable_ = page_;
    void* p =
        mmap(nullptr, usable_ + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    base_ = static_cast<char*>(p);
    if (mprotect(base_ + usable_, page_, PROT_NONE) != 0) {
      munmap(base_, usable_ + page_);
      base_ = nullptr;
    }
  }
  guarded_region(const guarded_region&) = delete;
  guarded_region& operator=(const guarded_region&) = delete;
  ~guarded_region() {
    if (base_ != nullptr) munmap(base_, usable_ + page_);
  }

  [[nodiscard]] bool ok() const { return base_ != nullptr; }

  /// Copies `bytes` so that the byte after its end is the first byte of the guard page.
  std::span<char> place(std::string_view bytes) {
    char* at = base_ + usable_ - bytes.size();
    if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
    return {at, bytes.size()};
  }

 private:
  char* base_ = nullptr;
  std::size_t page_ = 0;
  std::size_t usable_ = 0;
};

std::string_view view(std::span<char> s) {
  return {s.data(), s.size()};
}

/// Prefix lengths to try: all of them for small inputs, a sample plus both ends for large ones.
std::vector<std::size_t> prefix_lengths(std::size_t size) {
  std::vector<std::size_t> lengths;
  const std::size_t stride = size <= 4096 ? 1 : 61;
  for (std::size_t k = 0; k <= size; k += stride) lengths.push_back(k);
  for (std::size_t k = size > 64 ? size - 64 : 0; k <= size; ++k) lengths.push_back(k);
  return lengths;
}

const parse_options strict{};
const parse_options lenient{.lenient = leniency::all()};

/// Parses every prefix with a fresh parser, and then all prefixes in turn with one parser (the
/// buffer "moves" each time: the prefix start shifts as it grows). Counts complete parses so the
/// test also checks that it ran something.
std::size_t requests_at_the_edge(guarded_region& region, std::string_view input,
                                 const parse_options& options) {
  std::vector<header> storage(default_header_capacity);
  std::size_t complete = 0;
  for (const std::size_t k : prefix_lengths(input.size())) {
    request_parser parser(storage, options);
    const std::span<char> placed = region.place(input.substr(0, k));
    complete += parser.parse(view(placed)).complete() ? 1 : 0;
  }
  request_parser resumed(storage, options);
  for (std::size_t k = 0; k <= input.size(); ++k) {
    const std::span<char> placed = region.place(input.substr(0, k));
    if (!resumed.parse(view(placed)).incomplete()) break;
  }
  return complete;
}

std::size_t responses_at_the_edge(guarded_region& region, const sample_response& sample) {
  std::vector<header> storage(default_header_capacity);
  std::size_t complete = 0;
  const std::string_view input = sample.bytes;
  for (const std::size_t k : prefix_lengths(input.size())) {
    response_parser parser(storage);
    const std::span<char> placed = region.place(input.substr(0, k));
    complete += parser.parse(view(placed), sample.request_method).complete() ? 1 : 0;
  }
  return complete;
}

/// Decodes a chunked body from the guard edge the way a server would: only the unconsumed bytes
/// are handed over, so each call's input also ends at the guard page.
void chunked_at_the_edge(guarded_region& region, std::string_view input) {
  std::vector<header> trailers(16);
  for (const std::size_t k : prefix_lengths(input.size())) {
    chunked_decoder decoder(strict, trailers);
    std::string_view rest = view(region.place(input.substr(0, k)));
    for (int guard = 0; guard < 100000; ++guard) {
      const body_result r = decoder.decode(rest);
      if (r.status != parse_status::incomplete || r.consumed == 0) break;
      rest.remove_prefix(r.consumed);
    }
    chunked_decoder in_place(strict, trailers);
    std::span<char> buffer = region.place(input.substr(0, k));
    for (int guard = 0; guard < 100000; ++guard) {
      const in_place_result r = in_place.decode_in_place(buffer);
      if (r.status != parse_status::incomplete || r.consumed == 0) break;
      buffer = buffer.subspan(r.consumed);
    }
  }
}

class GuardPage : public testing::TestWithParam<simd_path> {
 protected:
  void SetUp() override {
    previous_ = active_simd_path();
    ASSERT_TRUE(set_simd_path(GetParam()));
  }
  void TearDown() override { set_simd_path(previous_); }

 private:
  simd_path previous_ = simd_path::scalar;
};

TEST_P(GuardPage, RequestsNeverReadPastTheirEnd) {
  guarded_region region(64 * 1024);
  ASSERT_TRUE(region.ok());
  std::size_t complete = 0;
  for (const std::string& input : sample_requests()) {
    complete += requests_at_the_edge(region, input, strict);
    complete += requests_at_the_edge(region, input, lenient);
  }
  for (const std::string& input : sample_bad_requests()) {
    requests_at_the_edge(region, input, strict);
    requests_at_the_edge(region, input, lenient);
  }
  EXPECT_GT(complete, 0U);
}

TEST_P(GuardPage, LargeRequestsNeverReadPastTheirEnd) {
  guarded_region region(64 * 1024);
  ASSERT_TRUE(region.ok());
  const std::string large = large_request(30 * 1024);
  EXPECT_GT(requests_at_the_edge(region, large, strict), 0U);
  // Long runs of each byte class end at the guard page: vector loops run to the very end.
  for (const std::string& input :
       {"GET /" + std::string(5000, 'a'), "GET / HTTP/1.1\r\nX: " + std::string(5000, 'v'),
        "GET / HTTP/1.1\r\n" + std::string(5000, 'n'),
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n" + std::string(3000, 'b')}) {
    requests_at_the_edge(region, input, strict);
  }
}

TEST_P(GuardPage, PercentEscapesNeverReadPastTheirEnd) {
  // Among the prefixes, targets cut right after an escape's '%' or its first hex digit: the
  // digit after it would be the first byte of the guard page.
  guarded_region region(4096);
  ASSERT_TRUE(region.ok());
  for (const std::string input : {"GET /a%41%42b HTTP/1.1\r\nHost: a\r\n\r\n",
                                  "GET http://a/%7e%7E HTTP/1.1\r\nHost: a\r\n\r\n"}) {
    EXPECT_GT(requests_at_the_edge(region, input, strict), 0U) << input;
  }
}

TEST_P(GuardPage, ResponsesNeverReadPastTheirEnd) {
  guarded_region region(64 * 1024);
  ASSERT_TRUE(region.ok());
  std::size_t complete = 0;
  for (const sample_response& sample : sample_responses()) {
    complete += responses_at_the_edge(region, sample);
  }
  EXPECT_GT(complete, 0U);
}

TEST_P(GuardPage, ChunkedBodiesNeverReadPastTheirEnd) {
  guarded_region region(64 * 1024);
  ASSERT_TRUE(region.ok());
  for (const std::string& input : sample_chunked_bodies()) chunked_at_the_edge(region, input);
  chunked_at_the_edge(region, large_chunked_body(100));
}

TEST_P(GuardPage, EmptyInputAtTheEdge) {
  guarded_region region(4096);
  ASSERT_TRUE(region.ok());
  std::vector<header> storage(4);
  request_parser parser(storage);
  EXPECT_TRUE(parser.parse(view(region.place(""))).incomplete());
  chunked_decoder decoder;
  EXPECT_EQ(decoder.decode(view(region.place(""))).status, parse_status::incomplete);
}

TEST(GuardedRegion, ReadingPastTheEndFaults) {
  // The control experiment: without it, a passing guard-page test could mean a missing guard.
  guarded_region region(4096);
  ASSERT_TRUE(region.ok());
  const std::span<char> placed = region.place("GET /");
  EXPECT_EQ(placed.back(), '/');
  EXPECT_DEATH(
      {
        const volatile char* past = placed.data() + placed.size();
        std::printf("%c", *past);
      },
      "");
}

std::string path_name(const testing::TestParamInfo<simd_path>& info) {
  return std::string(to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(EverySimdPath, GuardPage,
                         testing::ValuesIn(supported_simd_paths().begin(),
                                           supported_simd_paths().end()),
                         path_name);

}  // namespace
}  // namespace taut::test
