// Uses the installed taut::transport alone: addresses parsed as listeners and clients name them.
// Prints "transport: <address> <address>".
#include <cstdio>

#include <taut/transport/address.hpp>

int main() {
  const auto v6 = taut::transport::address::parse("[::1]:8080");
  const auto abstract = taut::transport::address::parse("@taut-consumer");
  if (!v6 || !abstract) return 1;
  std::printf("transport: %s %s\n", v6->to_string().c_str(), abstract->to_string().c_str());
  return 0;
}
