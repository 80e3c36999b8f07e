// Running a piece of a test as an unprivileged user, in a child process: permission checks are
// meaningless as root (root bypasses file permissions), so root tests them as "nobody".
#pragma once

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

namespace taut::transport::testing {

inline constexpr uid_t nobody = 65534;

/// Switches the calling process to nobody:nogroup if it is root. Returns false if that failed.
inline bool drop_privileges() {
  if (::geteuid() != 0) return true;
  return ::setgroups(0, nullptr) == 0 && ::setgid(nobody) == 0 && ::setuid(nobody) == 0;
}

/// Whether a child process could drop privileges (containers may forbid setuid).
inline bool can_drop_privileges() {
  if (::geteuid() != 0) return true;
  const pid_t child = ::fork();
  if (child == 0) ::_exit(drop_privileges() ? 0 : 1);
  int status = 0;
  if (child < 0 || ::waitpid(child, &status, 0) != child) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace taut::transport::testing
