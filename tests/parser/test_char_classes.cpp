// The character classes of taut/http_chars.hpp, every byte against the grammar's own words (RFC
// 9110 sections 5.5 and 5.6.2, RFC 3986 sections 2.2, 2.3 and 3.1). The table is built at compile
// time for the parser; here the builder also runs at run time, so that what it computes is
// checked (and counted by the coverage figures) rather than trusted.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>

#include "taut/http_chars.hpp"
#include "taut/simd.hpp"
#include "test_support.hpp"

namespace taut::test {
namespace {

using detail::char_class;

bool in(std::string_view set, int byte) {
  return set.find(static_cast<char>(byte)) != std::string_view::npos;
}
bool is_alpha(int b) {
  return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}
bool is_digit(int b) {
  return b >= '0' && b <= '9';
}
// RFC 3986 section 2.3 and 2.2.
bool is_unreserved(int b) {
  return is_alpha(b) || is_digit(b) || in("-._~", b);
}
bool is_sub_delim(int b) {
  return in("!$&'()*+,;=", b);
}

/// What each class must hold, from the grammar.
bool expected(char_class cls, int b) {
  switch (cls) {
    case detail::tchar:  // RFC 9110 section 5.6.2
      return is_alpha(b) || is_digit(b) || in("!#$%&'*+-.^_`|~", b);
    case detail::field_char:  // field-vchar (VCHAR / obs-text), SP, HTAB: section 5.5
      return (b >= 0x21 && b <= 0x7e) || b >= 0x80 || b == ' ' || b == '\t';
    case detail::path_char:  // pchar (pct-encoded checked apart), "/" and "?": RFC 3986 3.3, 3.4
      return is_unreserved(b) || is_sub_delim(b) || in(":@/?", b);
    case detail::host_char:  // reg-name (pct-encoded checked apart): RFC 3986 section 3.2.2
      return is_unreserved(b) || is_sub_delim(b);
    case detail::hex_digit:
      return is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
    case detail::digit:
      return is_digit(b);
    case detail::alpha:
      return is_alpha(b);
    case detail::scheme_char:  // RFC 3986 section 3.1, after the first letter
      return is_alpha(b) || is_digit(b) || in("+-.", b);
  }
  return false;
}

constexpr std::array<char_class, 8> every_class = {
    detail::tchar,     detail::field_char, detail::path_char, detail::host_char,
    detail::hex_digit, detail::digit,      detail::alpha,     detail::scheme_char};

TEST(CharClasses, TheTableBuiltAtRunTimeMatchesTheGrammar) {
  // Through a volatile pointer the builder cannot be folded into a constant.
  std::array<std::uint8_t, 256> (*volatile build)() = detail::make_char_table;
  const std::array<std::uint8_t, 256> table = build();
  for (int b = 0; b < 256; ++b) {
    for (const char_class cls : every_class) {
      EXPECT_EQ((table[b] & cls) != 0, expected(cls, b)) << "byte " << b << " class " << int{cls};
    }
  }
  // The compile-time table the parser uses is the same table.
  EXPECT_EQ(table, detail::char_table);
}

TEST(CharClasses, ThePublicHelpersAgreeWithTheGrammarForEveryByte) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    EXPECT_EQ(chars::is_tchar(c), expected(detail::tchar, b)) << b;
    EXPECT_EQ(chars::is_field_value_char(c), expected(detail::field_char, b)) << b;
    EXPECT_EQ(chars::is_ows(c), b == ' ' || b == '\t') << b;
    const int hex = is_digit(b)              ? b - '0'
                    : (b >= 'a' && b <= 'f') ? b - 'a' + 10
                    : (b >= 'A' && b <= 'F') ? b - 'A' + 10
                                             : -1;
    EXPECT_EQ(chars::hex_value(c), hex) << b;
    EXPECT_EQ(chars::to_lower(c), b >= 'A' && b <= 'Z' ? static_cast<char>(b + 32) : c) << b;
  }
}

TEST(CharClasses, FramingFieldPrefilterPassesEveryFramingName) {
  // A false "no" would let a framing field through unread: every case of each name must pass.
  for (const std::string_view name : {"host", "HOST", "Host", "expect", "Expect", "upgrade",
                                      "UPGRADE", "connection", "Connection", "content-length",
                                      "Content-Length", "transfer-encoding", "TRANSFER-ENCODING"}) {
    EXPECT_TRUE(detail::may_be_framing_field(name)) << name;
  }
  // The everyday fields cost no closer look.
  for (const std::string_view name : {"Accept", "User-Agent", "Cookie", "Content-Type", "Date",
                                      "Server", "Cache-Control", "Accept-Encoding"}) {
    EXPECT_FALSE(detail::may_be_framing_field(name)) << name;
  }
}

/// Runs `check` once on each vector path this CPU has, then restores the active one: a path's
/// table or shift wrong for one byte class shows up in the default run, not only under TAUT_SIMD.
template <class Check>
void on_every_path(Check check) {
  const simd_path original = active_simd_path();
  for (const simd_path path : supported_simd_paths()) {
    ASSERT_TRUE(set_simd_path(path));
    SCOPED_TRACE(std::string("vector path ") + std::string(to_string(path)));
    check();
  }
  set_simd_path(original);
}

// A 40-byte run puts the byte in every lane position across the 16-, 32- and 64-byte blocks the
// vector paths scan ("GET / HTTP/1.1\r\nHost: a\r\n" is 25 bytes).
constexpr std::size_t run_length = 40;
constexpr std::size_t field_line_at = 25;

// chars::is_token and chars::is_field_value at run time take the parser's vector scan from
// detail::vector_check_min bytes on, the four-byte table loop below it; each must still find every
// byte outside its class at every position of every length, on every vector path, and agree with
// the byte loop they keep for compile time.
TEST(CharClasses, TheStringChecksFindEveryBadByteAtEveryLengthAndPosition) {
  static_assert(chars::is_token("Content-Type") && !chars::is_token("a b") && !chars::is_token(""));
  static_assert(chars::is_field_value("text/plain; q=1") && !chars::is_field_value("a\r\nb"));
  on_every_path([] {
    for (std::size_t length = 1; length <= 100; ++length) {
      const std::string token(length, 't');
      const std::string value(length, 'v');
      ASSERT_TRUE(chars::is_token(token)) << length;
      ASSERT_TRUE(chars::is_field_value(value)) << length;
      for (std::size_t at = 0; at < length; ++at) {
        for (int b = 0; b < 256; ++b) {
          std::string t = token;
          t[at] = static_cast<char>(b);
          ASSERT_EQ(chars::is_token(t), expected(detail::tchar, b))
              << "byte " << b << " at " << at << " of " << length;
          std::string v = value;
          v[at] = static_cast<char>(b);
          ASSERT_EQ(chars::is_field_value(v), expected(detail::field_char, b))
              << "byte " << b << " at " << at << " of " << length;
        }
      }
    }
  });
}

// chars::iequals compares a word at a time (and two overlapping words for 4 to 7 bytes, the last
// word again past a multiple of eight): every pair of bytes at every position of every length must
// still give what a byte-by-byte ASCII fold gives, letters of either case alike and no other byte
// (not '@' against '`', nor 0xC1 against 0xE1) folded.
TEST(CharClasses, IequalsFoldsOnlyAsciiLettersAtEveryLengthAndPosition) {
  static_assert(chars::iequals("Content-Length", "content-LENGTH") && !chars::iequals("@", "`"));
  const auto folded = [](int x) { return x >= 'A' && x <= 'Z' ? x + ('a' - 'A') : x; };
  for (std::size_t length = 1; length <= 20; ++length) {
    for (std::size_t at = 0; at < length; ++at) {
      for (int x = 0; x < 256; ++x) {
        for (int y = 0; y < 256; ++y) {
          std::string a(length, 'k');
          std::string b(length, 'K');
          a[at] = static_cast<char>(x);
          b[at] = static_cast<char>(y);
          ASSERT_EQ(chars::iequals(a, b), folded(x) == folded(y))
              << x << " against " << y << " at " << at << " of " << length;
        }
      }
    }
  }
  EXPECT_FALSE(chars::iequals("date", "dates"));
  EXPECT_TRUE(chars::iequals("", ""));
}

TEST(CharClasses, EveryByteOutsideTcharEndsAFieldNameWhereItIs) {
  on_every_path([] {
    for (int b = 0; b < 256; ++b) {
      // These end the name or the line instead: tested by the field-line tests.
      if (in(":\r\n \t", b)) continue;
      for (std::size_t at = 0; at < run_length; ++at) {
        std::string name(run_length, 'n');
        name[at] = static_cast<char>(b);
        const request_outcome o =
            parse_request_whole("GET / HTTP/1.1\r\nHost: a\r\n" + name + ": v\r\n\r\n");
        if (expected(detail::tchar, b)) {
          EXPECT_EQ(o.status, parse_status::complete) << "byte " << b << " at " << at;
        } else {
          EXPECT_EQ(o.code, errc::bad_header_name) << "byte " << b << " at " << at;
          EXPECT_EQ(o.offset, field_line_at + at) << "byte " << b << " at " << at;
        }
      }
      // The byte alone as the name: a lookup that misreads the bytes around it (here none) could
      // otherwise hand the line to the general parser and hide its own mistake.
      const request_outcome alone = parse_request_whole(
          "GET / HTTP/1.1\r\nHost: a\r\n" + std::string(1, static_cast<char>(b)) + ": v\r\n\r\n");
      if (expected(detail::tchar, b)) {
        EXPECT_EQ(alone.status, parse_status::complete) << "byte " << b << " alone";
      } else {
        EXPECT_EQ(alone.code, errc::bad_header_name) << "byte " << b << " alone";
      }
    }
  });
}

TEST(CharClasses, EveryByteOutsideAFieldValueIsRejectedWhereItIs) {
  on_every_path([] {
    for (int b = 0; b < 256; ++b) {
      if (b == '\r' || b == '\n') continue;  // they end the line
      for (std::size_t at = 0; at < run_length; ++at) {
        std::string value(run_length, 'v');
        value[at] = static_cast<char>(b);
        const request_outcome o =
            parse_request_whole("GET / HTTP/1.1\r\nHost: a\r\nX: " + value + "\r\n\r\n");
        if (expected(detail::field_char, b)) {
          EXPECT_EQ(o.status, parse_status::complete) << "byte " << b << " at " << at;
        } else {
          EXPECT_EQ(o.code, errc::bad_header_value) << "byte " << b << " at " << at;
          EXPECT_EQ(o.offset, field_line_at + 3 + at) << "byte " << b << " at " << at;
        }
      }
    }
  });
}

TEST(CharClasses, EveryByteOutsideAPathIsRejectedInTheTargetWhereItIs) {
  // "GET /" is 5 bytes. "%" starts an escape, SP ends the target, CR and LF the line.
  on_every_path([] {
    for (int b = 0; b < 256; ++b) {
      if (in("% \r\n", b)) continue;
      for (std::size_t at = 0; at < run_length; ++at) {
        std::string path(run_length, 'p');
        path[at] = static_cast<char>(b);
        const request_outcome o =
            parse_request_whole("GET /" + path + " HTTP/1.1\r\nHost: a\r\n\r\n");
        if (expected(detail::path_char, b)) {
          EXPECT_EQ(o.status, parse_status::complete) << "byte " << b << " at " << at;
          EXPECT_EQ(o.target, "/" + path) << "byte " << b << " at " << at;
        } else {
          EXPECT_EQ(o.code, errc::bad_target) << "byte " << b << " at " << at;
          EXPECT_EQ(o.offset, 5 + at) << "byte " << b << " at " << at;
        }
      }
      const request_outcome alone = parse_request_whole(
          "GET /" + std::string(1, static_cast<char>(b)) + " HTTP/1.1\r\nHost: a\r\n\r\n");
      EXPECT_EQ(alone.status == parse_status::complete, expected(detail::path_char, b))
          << "byte " << b << " alone";
    }
  });
}

}  // namespace
}  // namespace taut::test
