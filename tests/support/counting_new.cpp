// The replacements behind counting_new.hpp. They must stay the only ones in an executable, so this
// is one translation unit, linked as an object library (a static library member that nothing
// references by name could be left out by the linker, and the default operators would stay).
#include "counting_new.hpp"

#include <execinfo.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

std::atomic<long> new_calls{0};
std::atomic<long> c_allocator_calls{0};
std::atomic<bool> tracing{false};

void trace() noexcept {
  // backtrace() may allocate the first time it runs: that must not trace itself.
  if (!tracing.exchange(false, std::memory_order_relaxed)) return;
  void* frames[24];
  const int n = backtrace(frames, 24);
  backtrace_symbols_fd(frames, n, 2);
  tracing.store(true, std::memory_order_relaxed);
}

// Out of line, so the compiler does not pair this malloc with operator delete's free and warn.
[[gnu::noinline]] void* counted_new(std::size_t size, std::size_t alignment = 0) {
  new_calls.fetch_add(1, std::memory_order_relaxed);
  trace();
  if (size == 0) size = 1;
  void* p = alignment > alignof(std::max_align_t)
                ? std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment)
                : std::malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void* counted_new_nothrow(std::size_t size, std::size_t alignment = 0) noexcept {
  try {
    return counted_new(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

namespace taut::test {

long operator_new_calls() noexcept {
  return new_calls.load(std::memory_order_relaxed);
}

long malloc_calls() noexcept {
  return c_allocator_calls.load(std::memory_order_relaxed);
}

void trace_operator_new(bool on) noexcept {
  tracing.store(on, std::memory_order_relaxed);
}

}  // namespace taut::test

void* operator new(std::size_t size) {
  return counted_new(size);
}
void* operator new[](std::size_t size) {
  return counted_new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return counted_new_nothrow(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return counted_new_nothrow(size);
}
void* operator new(std::size_t size, std::align_val_t align) {
  return counted_new(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return counted_new(size, static_cast<std::size_t>(align));
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return counted_new_nothrow(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return counted_new_nothrow(size, static_cast<std::size_t>(align));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}

#if !defined(TAUT_TEST_NO_MALLOC_HOOK)
// glibc's own entry points, so a malloc call in the code under test is counted too.
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);

void* malloc(std::size_t size) {
  c_allocator_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
  c_allocator_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) {
  c_allocator_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
}
#endif
