// Included first by taut's public C++ headers: one clear error for a consumer compiled as C or as
// C++ older than C++20, instead of dozens about std::span. (taut's pkg-config files leave the
// language standard to the consumer, so that C programs can use taut.h through them.)
#pragma once

#if !defined(__cplusplus)
#error "taut's .hpp headers are C++20; from C, include <taut.h>"
#elif __cplusplus < 202002L && (!defined(_MSVC_LANG) || _MSVC_LANG < 202002L)
#error "taut needs C++20: compile with -std=c++20 or later"
#endif
