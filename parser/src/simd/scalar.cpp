// The scalar path: the class skips as taut::chars' byte loop, and no fast head loop, so the
// generic line loop takes every line.
#include "simd/engines.hpp"
#include "taut/http_chars.hpp"

namespace taut::detail::simd {

namespace {

template <char_class Class>
std::size_t skip_scalar(const char* data, std::size_t i, std::size_t end) noexcept {
  return skip_class(data, i, end, Class);
}

}  // namespace

constinit const scan_ops scalar_ops{skip_scalar<field_char>,
                                    skip_scalar<tchar>,
                                    skip_scalar<path_char>,
                                    skip_scalar<host_char>,
                                    nullptr,
                                    nullptr,
                                    nullptr};

}  // namespace taut::detail::simd
