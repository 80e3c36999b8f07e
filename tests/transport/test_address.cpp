// Address parsing: every accepted form, and a named error for every kind of mistake.
#include <gtest/gtest.h>

#include <iterator>
#include <set>
#include <string>
#include <string_view>

#include "taut/transport/address.hpp"

namespace {

using taut::transport::address;
using taut::transport::errc;
using taut::transport::transport_kind;

std::string round_trip(std::string_view text) {
  auto parsed = address::parse(text);
  EXPECT_TRUE(parsed) << text << ": " << parsed.error().message();
  return parsed ? parsed->to_string() : std::string();
}

TEST(Address, ParsesIpv4) {
  auto parsed = address::parse("127.0.0.1:8080");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->transport(), transport_kind::tcp);
  EXPECT_EQ(parsed->family(), AF_INET);
  EXPECT_EQ(parsed->port(), 8080);
  EXPECT_EQ(parsed->to_string(), "127.0.0.1:8080");
  EXPECT_EQ(round_trip("0.0.0.0:80"), "0.0.0.0:80");
  EXPECT_EQ(round_trip("tcp:10.1.2.3:65535"), "10.1.2.3:65535");
}

TEST(Address, PortZeroAsksForAnEphemeralPort) {
  auto parsed = address::parse("127.0.0.1:0");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->port(), 0);
}

TEST(Address, LocalhostIsTheIpv4Loopback) {
  EXPECT_EQ(round_trip("localhost:8080"), "127.0.0.1:8080");
  EXPECT_EQ(round_trip("LocalHost:1"), "127.0.0.1:1");
}

TEST(Address, ParsesIpv6InBrackets) {
  auto parsed = address::parse("[::1]:8080");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->family(), AF_INET6);
  EXPECT_EQ(parsed->port(), 8080);
  EXPECT_EQ(parsed->to_string(), "[::1]:8080");
  EXPECT_EQ(round_trip("[::]:443"), "[::]:443");
  EXPECT_EQ(round_trip("[2001:db8::1]:1"), "[2001:db8::1]:1");
  EXPECT_EQ(round_trip("[::ffff:127.0.0.1]:9"), "[::ffff:127.0.0.1]:9");
}

TEST(Address, Ipv6ZoneByNumberOrInterfaceName) {
  EXPECT_EQ(round_trip("[fe80::1%1]:80"), "[fe80::1%1]:80");
  EXPECT_EQ(round_trip("[fe80::1%lo]:80"), "[fe80::1%1]:80");  // lo is interface 1 on Linux
  EXPECT_EQ(address::parse("[fe80::1%no-such-interface]:80").error(), errc::unknown_interface);
  EXPECT_EQ(address::parse("[fe80::1%]:80").error(), errc::bad_ipv6);
}

TEST(Address, NamesEveryMistake) {
  struct bad_case {
    std::string_view text;
    errc expected;
  };
  const bad_case cases[] = {
      {"", errc::empty_address},
      {"localhost", errc::missing_port},
      {"127.0.0.1", errc::missing_port},
      {"127.0.0.1:", errc::missing_port},
      {"[::1]", errc::missing_port},
      {"[::1]:", errc::missing_port},
      {":8080", errc::missing_host},
      {"[]:8080", errc::missing_host},
      {"127.0.0.1:http", errc::bad_port},
      {"127.0.0.1:-1", errc::bad_port},
      {"127.0.0.1:+80", errc::bad_port},
      {"127.0.0.1: 80", errc::bad_port},
      {"127.0.0.1:80 ", errc::bad_port},
      {"127.0.0.1:65536", errc::port_out_of_range},
      {"127.0.0.1:99999999999999999999", errc::port_out_of_range},
      {"[::1]:70000", errc::port_out_of_range},
      {"example.com:80", errc::unknown_host},
      {"localhost.localdomain:80", errc::unknown_host},
      {"256.0.0.1:80", errc::bad_ipv4},
      {"1.2.3:80", errc::bad_ipv4},
      {"1.2.3.4.5:80", errc::bad_ipv4},
      {"01.2.3.4:80", errc::bad_ipv4},
      {"[::1:8080", errc::bad_brackets},
      {"::1]:8080", errc::bad_brackets},
      {"[::1]8080", errc::bad_brackets},
      {"[::1]x:8080", errc::bad_brackets},
      {"127.0.0.1]:80", errc::bad_brackets},
      {"::1:8080", errc::ipv6_needs_brackets},
      {"::1", errc::ipv6_needs_brackets},
      {"[127.0.0.1]:80", errc::bad_ipv6},
      {"[::g]:80", errc::bad_ipv6},
      {"unix:", errc::empty_path},
      {"@", errc::empty_path},
      {"unix:@", errc::empty_path},
  };
  for (const bad_case& c : cases) {
    auto parsed = address::parse(c.text);
    EXPECT_FALSE(parsed) << "'" << c.text << "' parsed as " << (parsed ? parsed->to_string() : "");
    EXPECT_EQ(parsed.error(), c.expected)
        << "'" << c.text << "': got " << parsed.error().message() << ", expected "
        << taut::transport::make_error_code(c.expected).message();
  }
}

TEST(Address, ErrorsHaveReadableMessagesAndStandardConditions) {
  const std::error_code missing = errc::missing_port;
  EXPECT_STREQ(missing.category().name(), "taut.transport");
  EXPECT_NE(missing.message().find("port"), std::string::npos);
  EXPECT_EQ(missing, std::errc::invalid_argument);
  EXPECT_EQ(std::error_code(errc::path_too_long), std::errc::filename_too_long);
  EXPECT_EQ(std::error_code(errc::not_a_socket_file), std::errc::file_exists);
  EXPECT_EQ(std::error_code(errc::not_supported), std::errc::operation_not_supported);
  EXPECT_STREQ(taut::transport::to_string(errc::unknown_host), "unknown_host");
}

TEST(Address, EveryErrorCodeHasItsOwnNameAndMessage) {
  // The names are what logs and scripts match on: each is the enumerator's own spelling.
  constexpr std::string_view names[] = {"ok",
                                        "empty_address",
                                        "missing_port",
                                        "bad_port",
                                        "port_out_of_range",
                                        "missing_host",
                                        "unknown_host",
                                        "bad_ipv4",
                                        "bad_ipv6",
                                        "bad_brackets",
                                        "ipv6_needs_brackets",
                                        "unknown_interface",
                                        "empty_path",
                                        "path_too_long",
                                        "bad_path",
                                        "not_a_socket_file",
                                        "not_supported",
                                        "not_connected",
                                        "tls_unavailable",
                                        "tls_bad_certificate",
                                        "tls_bad_key",
                                        "tls_handshake_failed",
                                        "tls_unknown_ca",
                                        "tls_wrong_name",
                                        "tls_expired",
                                        "tls_protocol_too_old",
                                        "tls_no_application_protocol",
                                        "tls_truncated",
                                        "tls_protocol_error"};
  std::set<std::string> messages;
  for (std::size_t i = 0; i < std::size(names); ++i) {
    const auto code = static_cast<errc>(i);
    EXPECT_EQ(taut::transport::to_string(code), names[i]);
    const std::string message = std::error_code(code).message();
    EXPECT_FALSE(message.empty()) << names[i];
    EXPECT_TRUE(messages.insert(message).second) << names[i] << " shares its message";
    // Every address mistake is an invalid argument (a path too long is a name too long); the
    // operation errors map to their standard conditions.
    const bool address_text = code >= errc::empty_address && code <= errc::bad_path;
    if (address_text && code != errc::path_too_long) {
      EXPECT_EQ(std::error_code(code), std::errc::invalid_argument) << names[i];
    }
  }
  EXPECT_EQ(std::error_code(errc::not_connected), std::errc::not_connected);
  EXPECT_EQ(std::error_code(errc::tls_unavailable), std::errc::operation_not_supported);
  EXPECT_EQ(std::error_code(errc::tls_truncated), std::errc::connection_aborted);
  // An io_result carries a transport code as well as an errno value.
  EXPECT_EQ(taut::transport::io_result::failure(errc::tls_truncated).error(),
            std::error_code(errc::tls_truncated));
  EXPECT_EQ(taut::transport::io_result::failure(ECONNRESET).error(), std::errc::connection_reset);
  const auto past_the_end = static_cast<errc>(std::size(names));
  EXPECT_STREQ(taut::transport::to_string(past_the_end), "unknown");
  EXPECT_EQ(std::error_code(past_the_end).message(), "unknown transport error");
}

TEST(Address, UnixPaths) {
  auto absolute = address::parse("/run/app.sock");
  ASSERT_TRUE(absolute);
  EXPECT_EQ(absolute->transport(), transport_kind::unix_socket);
  EXPECT_EQ(absolute->family(), AF_UNIX);
  EXPECT_FALSE(absolute->is_abstract());
  EXPECT_EQ(absolute->path(), "/run/app.sock");
  EXPECT_EQ(absolute->to_string(), "/run/app.sock");
  EXPECT_EQ(absolute->port(), 0);

  auto relative = address::parse("unix:app.sock");
  ASSERT_TRUE(relative);
  EXPECT_EQ(relative->path(), "app.sock");

  const std::string longest(107, 'x');
  EXPECT_TRUE(address::unix_path(longest));
  EXPECT_EQ(address::unix_path(longest + "x").error(), errc::path_too_long);
  EXPECT_EQ(address::unix_path(std::string_view("a\0b", 3)).error(), errc::bad_path);
  EXPECT_EQ(address::unix_path("").error(), errc::empty_path);
}

TEST(Address, AbstractNames) {
  auto parsed = address::parse("@taut-test");
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->is_abstract());
  EXPECT_EQ(parsed->path(), "taut-test");
  EXPECT_EQ(parsed->to_string(), "@taut-test");
  // The address length counts the name exactly: no terminating NUL for abstract names.
  EXPECT_EQ(parsed->sockaddr_size(), offsetof(sockaddr_un, sun_path) + 1 + 9);
  auto prefixed = address::parse("unix:@taut-test");
  ASSERT_TRUE(prefixed);
  EXPECT_EQ(*prefixed, *parsed);
  EXPECT_EQ(address::unix_abstract(std::string(108, 'n')).error(), errc::path_too_long);
}

TEST(Address, MemoryAddressesAndEquality) {
  EXPECT_EQ(address::memory(7).to_string(), "memory:7");
  EXPECT_EQ(address::memory(7).transport(), transport_kind::memory);
  EXPECT_EQ(address::memory(7), address::memory(7));
  EXPECT_NE(address::memory(7), address::memory(8));
  EXPECT_EQ(*address::parse("127.0.0.1:1"), *address::parse("localhost:1"));
  EXPECT_NE(*address::parse("127.0.0.1:1"), *address::parse("127.0.0.1:2"));
}

TEST(Address, FormatToNeverOverflowsAndReportsTheFullLength) {
  const address parsed = *address::parse("[2001:db8::1]:8080");
  char small[6] = {'#', '#', '#', '#', '#', '#'};
  const std::size_t length = parsed.format_to(std::span<char>(small, 5));
  EXPECT_EQ(length, std::string("[2001:db8::1]:8080").size());
  EXPECT_EQ(std::string_view(small, 5), "[2001");
  EXPECT_EQ(small[5], '#');
}

TEST(Address, FromSockaddrRejectsNonsense) {
  EXPECT_FALSE(address::from_sockaddr(nullptr, 0));
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  EXPECT_FALSE(address::from_sockaddr(reinterpret_cast<sockaddr*>(&v4), 4));
  sockaddr other{};
  other.sa_family = AF_PACKET;
  EXPECT_EQ(address::from_sockaddr(&other, sizeof other).error(), errc::not_supported);
}

}  // namespace
