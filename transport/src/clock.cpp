#include "taut/transport/clock.hpp"

namespace taut::transport {

namespace {
class steady final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
};
}  // namespace

const clock& steady_clock() noexcept {
  static const steady instance;
  return instance;
}

}  // namespace taut::transport
