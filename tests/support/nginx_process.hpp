// nginx run by a test as the peer taut talks to: in the foreground, with a private prefix, on a
// free loopback port, killed by its PID. Link the taut_test_nginx library.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace taut::test {

/// One nginx process serving one `server` block; stopped and its prefix removed on destruction.
class nginx_process {
 public:
  /// A file copied into the prefix before nginx starts: from `source` to `name` in the prefix,
  /// readable by all (nginx's worker runs as nobody when the test runs as root).
  struct file_copy {
    std::string source;
    std::string name;
  };

  /// Writes a configuration whose http block holds `server_block` (the body of `server { }`,
  /// in which "@port@" stands for the chosen port and "@prefix@" for the private directory), then
  /// starts nginx and waits up to 5 s for it to accept. ready() says whether it did.
  explicit nginx_process(std::string_view server_block, const std::vector<file_copy>& files = {});
  ~nginx_process();
  nginx_process(const nginx_process&) = delete;
  nginx_process& operator=(const nginx_process&) = delete;

  /// Whether an nginx binary was found (a test skips when not).
  [[nodiscard]] bool installed() const { return !binary_.empty(); }
  /// Whether nginx accepted a connection on port().
  [[nodiscard]] bool ready() const { return ready_; }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// "scheme://host:port", the base of the URLs the tests fetch.
  [[nodiscard]] std::string base(std::string_view scheme,
                                 std::string_view host = "127.0.0.1") const;

 private:
  bool start(std::string_view server_block, const std::vector<file_copy>& files);

  std::string binary_;
  std::string prefix_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool ready_ = false;
};

}  // namespace taut::test
