// The parser's hot loops: skip the bytes of a class, vectorized. They only skip bytes that are
// surely fine; every decision about the byte they stop at is made by the one scalar parser.
// simd/engine.hpp writes them once; simd/<instruction set>.cpp compiles them per instruction set,
// and scan.cpp picks one table of them at run time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "taut/message.hpp"

namespace taut::detail {

/// a + b, or the largest size_t where that would overflow: a limit no input reaches.
[[nodiscard]] constexpr std::size_t saturating_add(std::size_t a, std::size_t b) noexcept {
  return b > static_cast<std::size_t>(-1) - a ? static_cast<std::size_t>(-1) : a + b;
}

/// The fast field loop's input and output. It stores strict, simple field lines starting at
/// `pos` ("name: value" CRLF, token name, value of VCHAR, SP and obs-text) into
/// storage[count..capacity) and stops at the first line that is anything else, incomplete, or would
/// end past `limit`: the generic line loop takes that line, so the fast loop never decides an
/// error. The empty line that ends the section it reports in `section_end`.
struct fast_fields_args {
  const char* data = nullptr;
  std::size_t size = 0;
  std::size_t pos = 0;    // in: a line start; out: the first line not taken
  std::size_t limit = 0;  // a taken line ends (CRLF included) at or before this offset
  header* storage = nullptr;
  std::size_t count = 0;  // in/out: fields stored
  std::size_t capacity = 0;
  std::size_t examined = 0;     // in/out: bytes looked at
  std::size_t section_end = 0;  // out: when the loop stopped at the final CRLF, one past it
};

/// The fast request-line path's input and output: a request-line at offset 0 of the common shape,
/// token SP origin-form SP "HTTP/1.1" or "HTTP/1.0" CRLF, ending at or before `max_line`, is
/// `taken`; so is an absolute-form target of the plain shape a proxy gets (scheme "://" reg-name
/// [":" port] and a path, query or nothing, `absolute` set). Anything else is left to the generic
/// parser, which alone decides errors.
struct fast_request_line_args {
  const char* data = nullptr;
  std::size_t size = 0;
  std::size_t max_line = 0;
  bool taken = false;
  bool absolute = false;  // the target is in absolute-form (else origin-form)
  int version_minor = 1;
  std::size_t method_end = 0;  // the SP after the method
  std::size_t target_end = 0;  // the SP after the target
  std::size_t next = 0;        // the first byte after CRLF
  std::size_t examined = 0;    // in/out: bytes looked at
  /// When set, a taken request-line (but CONNECT's) is followed by the fast field loop on these
  /// arguments, from `next` (pos) with `max_header_bytes` after it (limit): one call a head.
  fast_fields_args* fields = nullptr;
  std::size_t max_header_bytes = 0;
};

/// The fast status-line path's input and output: a status-line at offset 0 of the common shape,
/// "HTTP/1." DIGIT SP status-code (100 to 599) SP reason-phrase CRLF, whose reason holds no HTAB
/// and which ends at or before `max_line`, is `taken`, and the fast field loop then runs on
/// `fields` from the byte after its CRLF (pos), with `max_header_bytes` after it (limit): one call
/// a head, as fast_request_line. Anything else is left to the generic parser, which alone decides
/// errors.
struct fast_status_line_args {
  const char* data = nullptr;
  std::size_t size = 0;
  std::size_t max_line = 0;
  bool taken = false;
  std::size_t line_end = 0;            // the CR that ends the status-line
  std::size_t examined = 0;            // in/out: bytes looked at
  fast_fields_args* fields = nullptr;  // required
  std::size_t max_header_bytes = 0;
};

/// Each skip_* returns the index of the first byte in [i, end) outside its class, or `end`.
/// fast_fields, fast_request_line and fast_status_line are null on the scalar path, which keeps
/// only the generic line loops: the reference every vectorized path is compared against.
struct scan_ops {
  std::size_t (*skip_field)(const char* data, std::size_t i,
                            std::size_t end) noexcept;  // field_char
  std::size_t (*skip_token)(const char* data, std::size_t i, std::size_t end) noexcept;  // tchar
  std::size_t (*skip_target)(const char* data, std::size_t i,
                             std::size_t end) noexcept;  // path_char
  /// host_char, for a short range too: [data, data + end) must be readable (data the buffer's
  /// start), since a range shorter than a vector is read by one load that ends at `end`.
  std::size_t (*skip_host)(const char* data, std::size_t i, std::size_t end) noexcept;
  void (*fast_fields)(fast_fields_args& args) noexcept;
  void (*fast_request_line)(fast_request_line_args& args) noexcept;
  void (*fast_status_line)(fast_status_line_args& args) noexcept;
};

extern std::atomic<const scan_ops*> active_scan;
const scan_ops* choose_scan() noexcept;

[[nodiscard]] inline const scan_ops& scan() noexcept {
  const scan_ops* ops = active_scan.load(std::memory_order_relaxed);
  return ops != nullptr ? *ops : *choose_scan();
}

}  // namespace taut::detail
