// Heap-call counters for the allocation tests. Linking the taut_test_counting_new object library
// replaces every global operator new/delete form (and, outside sanitizer builds, glibc's malloc,
// calloc and realloc) with counting ones, so an executable links it at most once and links nothing
// else that replaces them.
#pragma once

namespace taut::test {

/// Calls of any global operator new form since the program started.
long operator_new_calls() noexcept;

/// Calls of malloc, calloc and realloc since the program started, operator new's own among them.
/// Stays 0 where TAUT_TEST_NO_MALLOC_HOOK is defined: a sanitizer runtime owns malloc there.
long malloc_calls() noexcept;

/// While on, every counted operator new also prints a backtrace to stderr, to find where a
/// steady-state allocation comes from.
void trace_operator_new(bool on) noexcept;

}  // namespace taut::test
