// Unit tests of the path helpers the router is built on (taut/path.hpp).
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>

#include "taut/path.hpp"

namespace {

std::string clean(std::string_view path) {
  std::string out(path.size() + 1, '\0');
  const auto cleaned = taut::clean_path(path, out);
  EXPECT_TRUE(cleaned.has_value()) << path;
  return cleaned ? std::string(*cleaned) : std::string("<none>");
}

std::string decode(std::string_view text, bool plus_as_space = false) {
  std::string out(text.size(), '\0');
  const auto decoded = taut::percent_decode(text, out, plus_as_space);
  return decoded ? std::string(*decoded) : std::string("<bad>");
}

TEST(SplitTarget, SplitsAtTheFirstQuestionMark) {
  auto parts = taut::split_target("/a/b?x=1?y");
  EXPECT_EQ(parts.path, "/a/b");
  EXPECT_EQ(parts.query, "x=1?y");
  EXPECT_TRUE(parts.has_query);
  parts = taut::split_target("/a?");
  EXPECT_EQ(parts.path, "/a");
  EXPECT_EQ(parts.query, "");
  EXPECT_TRUE(parts.has_query);
  parts = taut::split_target("/a");
  EXPECT_EQ(parts.path, "/a");
  EXPECT_FALSE(parts.has_query);
}

TEST(PercentEscapes, ValidOnlyWithTwoHexDigits) {
  for (std::string_view ok : {"", "/a", "%41", "a%2fb%2F", "%00", "%ff%FF"}) {
    EXPECT_TRUE(taut::valid_percent_escapes(ok)) << ok;
  }
  for (std::string_view bad : {"%", "%4", "a%", "%4g", "%g4", "%%41", "a%2", "% 41"}) {
    EXPECT_FALSE(taut::valid_percent_escapes(bad)) << bad;
  }
}

TEST(PercentDecode, DecodesEscapesAndOptionallyPlus) {
  EXPECT_EQ(decode("a%20b%2Fc%2f"), "a b/c/");
  EXPECT_EQ(decode("%C3%A9"), "\xC3\xA9");
  EXPECT_EQ(decode("a+b"), "a+b");
  EXPECT_EQ(decode("a+b", true), "a b");
  EXPECT_EQ(decode("%2B", true), "+");
  EXPECT_EQ(decode("%00"), std::string(1, '\0'));
  EXPECT_EQ(decode("%zz"), "<bad>");
  EXPECT_EQ(decode("abc%"), "<bad>");
}

TEST(PercentDecode, RefusesAShortBuffer) {
  std::array<char, 2> out{};
  EXPECT_FALSE(taut::percent_decode("abc", out).has_value());
  EXPECT_EQ(*taut::percent_decode("%41%42", out), "AB");
}

TEST(ClassifySegment, SeesDotsThroughEscapes) {
  using taut::dot_segment;
  EXPECT_EQ(taut::classify_segment("."), dot_segment::dot);
  EXPECT_EQ(taut::classify_segment("%2e"), dot_segment::dot);
  EXPECT_EQ(taut::classify_segment("%2E"), dot_segment::dot);
  EXPECT_EQ(taut::classify_segment(".."), dot_segment::dot_dot);
  EXPECT_EQ(taut::classify_segment(".%2e"), dot_segment::dot_dot);
  EXPECT_EQ(taut::classify_segment("%2e."), dot_segment::dot_dot);
  EXPECT_EQ(taut::classify_segment("%2E%2e"), dot_segment::dot_dot);
  for (std::string_view other : {"", "...", "a", ".a", "%2e%2e%2e", "%2f", "%2", "%"}) {
    EXPECT_EQ(taut::classify_segment(other), dot_segment::none) << other;
  }
}

TEST(CleanPath, BehavesLikeGoServeMux) {
  const std::array<std::pair<std::string_view, std::string_view>, 22> cases = {{
      {"", "/"},
      {"/", "/"},
      {"a", "/a"},
      {"a/", "/a/"},
      {"//", "/"},
      {"/a//b", "/a/b"},
      {"/a/b/", "/a/b/"},
      {"/a/b//", "/a/b/"},
      {"/./", "/"},
      {"/a/./b", "/a/b"},
      {"/a/b/.", "/a/b"},
      {"/a/b/./", "/a/b/"},
      {"/a/../b", "/b"},
      {"/a/b/..", "/a"},
      {"/a/b/../", "/a/"},
      {"/..", "/"},
      {"/../..//../a", "/a"},
      {"/a/%2e%2e/b", "/b"},
      {"/a/.%2E/", "/"},
      {"/a/%2e/b/", "/a/b/"},
      {"/a%2F..%2Fb", "/a%2F..%2Fb"},  // one segment: "%2F" does not separate
      {"/a/...", "/a/..."},
  }};
  for (const auto& [in, want] : cases) EXPECT_EQ(clean(in), want) << in;
}

TEST(CleanPath, RefusesAShortBuffer) {
  std::array<char, 3> out{};
  EXPECT_FALSE(taut::clean_path("/abc", out).has_value());
  EXPECT_EQ(*taut::clean_path("/ab", out), "/ab");
  EXPECT_EQ(*taut::clean_path("/a/../b/", out), "/b/");
}

TEST(IsCleanPath, AgreesWithCleanPath) {
  for (std::string_view path : {"/", "/a", "/a/", "/a/b", "/%2e%2e%2f", "/a/...", "/.a"}) {
    EXPECT_TRUE(taut::is_clean_path(path)) << path;
    EXPECT_EQ(clean(path), path);
  }
  for (std::string_view path : {"", "a", "//", "/a//", "/a/.", "/a/..", "/./a", "/%2E", "//a"}) {
    EXPECT_FALSE(taut::is_clean_path(path)) << path;
    EXPECT_NE(clean(path), path);
  }
}

}  // namespace
