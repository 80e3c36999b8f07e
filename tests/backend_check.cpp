// Linked into every test executable registered on both I/O backends (see
// cmake/TautTestBackends.cmake). A ".io_uring" copy runs with TAUT_IO=io_uring, but on a host
// without io_uring its loops quietly fall back to epoll: such a run is reported skipped instead
// of passed, so that a result never claims io_uring was tested when it was not.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "taut/transport/event_loop.hpp"

namespace {

class io_uring_really_runs : public ::testing::Environment {
 public:
  void SetUp() override {
    // Not in a death test's child: its test may forbid io_uring before the first probe, which
    // this check would otherwise make (and io_uring_available() remembers).
    if (!GTEST_FLAG_GET(internal_run_death_test).empty()) return;
    const char* wanted = std::getenv("TAUT_IO");
    if (wanted == nullptr || std::string_view(wanted) != "io_uring") return;
    auto loop = taut::transport::event_loop::create();
    if (!loop || (*loop)->backend() != taut::transport::io_backend::io_uring) {
      // The line ctest's SKIP_REGULAR_EXPRESSION looks for (GoogleTest 1.12 counts the tests of
      // a run whose environment skipped as passed).
      std::printf("taut: io_uring tests not run, the loops run on epoll here (%s)\n",
                  taut::transport::io_uring_available().message().c_str());
      GTEST_SKIP();
    }
  }
};

[[maybe_unused]] ::testing::Environment* const registered =
    ::testing::AddGlobalTestEnvironment(new io_uring_really_runs);

}  // namespace
