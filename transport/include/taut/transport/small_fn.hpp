// small_fn: a callback stored in place (no heap), for event-loop callbacks that run on every
// readiness change or timer: a lambda capturing `this` and a pointer or two fits.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace taut::transport {

template <class Signature, std::size_t Capacity = 2 * sizeof(void*)>
class small_fn;

/// Holds any trivially copyable callable of at most `Capacity` bytes (captures of pointers,
/// references and small values); bigger or non-trivial captures fail to compile rather than
/// allocate. Copying copies the bytes. Calling an empty small_fn is a no-op returning R{}.
template <class R, class... Args, std::size_t Capacity>
class small_fn<R(Args...), Capacity> {
 public:
  small_fn() noexcept = default;

  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, small_fn> &&
           std::is_invocable_r_v<R, std::remove_cvref_t<F>&, Args...>) small_fn(F&& callable)
  noexcept {  // NOLINT: implicit, so lambdas convert at call sites
    using stored = std::remove_cvref_t<F>;
    static_assert(sizeof(stored) <= Capacity,
                  "capture less (a pointer to your object) or raise small_fn's Capacity");
    static_assert(alignof(stored) <= alignof(void*), "over-aligned callable");
    static_assert(std::is_trivially_copyable_v<stored> && std::is_trivially_destructible_v<stored>,
                  "small_fn holds only trivially copyable callables (capture pointers)");
    ::new (static_cast<void*>(storage_)) stored(std::forward<F>(callable));
    invoke_ = [](void* storage, Args... args) -> R {
      return (*std::launder(static_cast<stored*>(storage)))(std::forward<Args>(args)...);
    };
  }

  [[nodiscard]] explicit operator bool() const noexcept { return invoke_ != nullptr; }

  R operator()(Args... args) const {
    if (invoke_ == nullptr) {
      if constexpr (std::is_void_v<R>) {
        return;
      } else {
        return R{};
      }
    }
    return invoke_(const_cast<unsigned char*>(storage_), std::forward<Args>(args)...);
  }

 private:
  alignas(void*) unsigned char storage_[Capacity] = {};
  R (*invoke_)(void*, Args...) = nullptr;
};

}  // namespace taut::transport
