// Uses the installed taut::proxy alone: a reverse proxy mounted on a mux. Prints
// "proxy: mounted, Keep-Alive is hop-by-hop".
#include <cstdio>

#include <taut/mux.hpp>
#include <taut/proxy.hpp>

int main() {
  taut::reverse_proxy proxy({.upstream = taut::origin::tcp("127.0.0.1", 8080)});
  taut::mux app;
  app.handle("/", proxy.handler());
  if (!taut::is_hop_by_hop("Keep-Alive")) return 1;
  std::printf("proxy: mounted, Keep-Alive is hop-by-hop\n");
  return 0;
}
