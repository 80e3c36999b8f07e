// No EINTR is waited out in connect_loopback: the tests that count interruptions need to see it,
// and taut's loops interrupt no other thread (issue 14,
// tests/server/test_server_interruptions.cpp).
#include "loopback.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace taut::test {

int connect_loopback(std::uint16_t port, std::chrono::milliseconds limit) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(limit.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((limit.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    const int error = errno;  // the caller's to read, not close()'s or fprintf()'s
    std::fprintf(stderr, "connect to 127.0.0.1:%u: %s\n", port, std::strerror(error));
    ::close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

int listen_loopback(int backlog, std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in where{};
  where.sin_family = AF_INET;
  where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof where;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&where), size) != 0 ||
      ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&where), &size) != 0) {
    ::close(fd);
    return -1;
  }
  port = ntohs(where.sin_port);
  return fd;
}

int newest_loop_descriptor() {
  int newest = -1;
  for (int fd = 0; fd < 1024; ++fd) {
    char target[64] = {};
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    if (::readlink(link.c_str(), target, sizeof target - 1) <= 0) continue;
    const std::string_view name(target);
    if (name == "anon_inode:[eventpoll]" || name == "anon_inode:[io_uring]") newest = fd;
  }
  return newest;
}

}  // namespace taut::test
