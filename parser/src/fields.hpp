// The line and field-section machinery shared by the request and response parsers and by the
// chunked decoder's trailer section: find each line once, validate it once, never rescan.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "scan.hpp"
#include "taut/detail/head_state.hpp"
#include "taut/http_chars.hpp"
#include "taut/message.hpp"
#include "taut/parse_error.hpp"

namespace taut::detail {

/// One line of input: content is [begin, end), the next line starts at `next`.
struct line {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t next = 0;
  bool clean = true;  // every byte of the content is a field-vchar, SP or HTAB
};

enum class line_found : unsigned char { yes, need_more, error };

/// Finds the end of the line that starts at state.pos, resuming the search at state.scan. Bare CR
/// is always an error; bare LF is one unless `allow_bare_lf`.
line_found find_line(const char* data, std::size_t size, field_section_state& state,
                     bool allow_bare_lf, line& out, step& error) noexcept;

/// Makes every stored view follow the buffer if the caller moved it since the previous call.
void rebase_views(std::span<header> fields, std::size_t count, const char* from,
                  const char* to) noexcept;
void rebase_view(std::string_view& view, const char* from, const char* to) noexcept;

/// Parses one field line (not a continuation) into storage[state.count]; it stays pending.
step parse_field_line(const char* data, const line& ln, std::span<header> storage,
                      std::size_t max_fields, const leniency& lenient,
                      field_section_state& state) noexcept;

/// Handles a line that starts with SP/HTAB: obs-fold onto the pending field, or an error.
step continue_field_line(const char* data, const line& ln, std::span<header> storage,
                         const leniency& lenient, field_section_state& state) noexcept;

/// Folds one completed field into what framing needs (Content-Length, Transfer-Encoding, Host,
/// Connection, Expect, Upgrade). Transfer codings other than chunked are an error
/// (unknown_transfer_coding) unless `allow_codings`. Errors carry offsets relative to `data`.
step interpret_field(const char* data, const header& field, bool is_request, int version_minor,
                     bool allow_codings, framing_fields& fields) noexcept;

/// Validates uri-host [ ":" port ] in [begin, end); returns the offset of the first bad byte or
/// `end + 1` when valid. A port is required when `require_port`, a host when `require_host`.
std::size_t validate_authority(const char* data, std::size_t begin, std::size_t end,
                               bool require_port, bool require_host) noexcept;

inline constexpr std::size_t valid = static_cast<std::size_t>(-1);

}  // namespace taut::detail

namespace taut::detail {

enum class section_outcome : unsigned char { need_more, complete, error };

struct section_result {
  section_outcome outcome = section_outcome::need_more;
  std::size_t end = 0;  // one past the final empty line, when complete
  step error{};
};

/// Folds what the fast field loop stored into `state`, then hands on_field every field that can
/// no longer be continued, in order, as the generic loop would (on_field must ignore every field
/// may_be_framing_field rules out: those are skipped here). Returns the section's end (one past
/// the final CRLF) if the fast loop reached it, else 0; `error` tells a failed on_field.
template <class OnField>
std::size_t apply_fast_fields(const char* data, const fast_fields_args& args,
                              std::span<header> storage, field_section_state& state,
                              OnField&& on_field, step& error) {
  state.examined = args.examined;
  if (args.count != state.count) {
    // Every field before the last stored one is complete now, the one pending before included;
    // on_field only acts on framing fields, and the prefilter (one lookup) spares the call for
    // the rest. Marking them in the fast loop instead cost more: it left the loop short of
    // registers.
    const std::size_t first = state.pending ? state.count - 1 : state.count;
    const std::size_t last = args.count - 1;  // stays pending: a fold may still continue it
    state.count = args.count;
    state.pending = true;
    state.pos = args.pos;
    state.scan = args.pos;
    for (std::size_t k = first; k < last; ++k) {
      if (!may_be_framing_field(storage[k].name)) continue;
      if (error = on_field(data, storage[k]); error.failed()) return 0;
    }
  }
  if (args.section_end == 0) return 0;
  if (state.pending) {
    state.pending = false;
    if (error = on_field(data, storage[state.count - 1]); error.failed()) return 0;
  }
  return args.section_end;  // state.pos stays at the empty line, as the generic loop leaves it
}

/// How many fields a head may store: the option, capped by the caller's storage.
inline std::size_t field_capacity(const parse_options& options,
                                  std::span<header> storage) noexcept {
  return options.max_headers < storage.size() ? options.max_headers : storage.size();
}

/// The fast loop's arguments for the field lines from state.pos on.
inline fast_fields_args fast_fields_from(const char* data, std::size_t size,
                                         const parse_options& options, std::span<header> storage,
                                         const field_section_state& state) noexcept {
  return {data,
          size,
          state.pos,
          saturating_add(state.section_start, options.max_header_bytes),
          storage.data(),
          state.count,
          field_capacity(options, storage),
          state.examined};
}

/// Lets the fast field loop (when this path has one) take the simple field lines from state.pos,
/// then applies what it took (apply_fast_fields). The fast loop only takes lines the generic loop
/// would accept the same way, and stops before any line that would fail or hit a limit, so the
/// result is the same either way.
template <class OnField>
std::size_t take_fast_fields(const char* data, std::size_t size, const parse_options& options,
                             std::span<header> storage, field_section_state& state,
                             OnField&& on_field, step& error) {
  const scan_ops& ops = scan();
  if (ops.fast_fields == nullptr) return 0;
  fast_fields_args args = fast_fields_from(data, size, options, storage, state);
  ops.fast_fields(args);
  return apply_fast_fields(data, args, storage, state, on_field, error);
}

/// Runs the line loop of a head (start-line, then field lines, then the empty line) or, starting
/// in head_phase::fields, of a trailer section. `on_start_line(data, begin, end)` parses the
/// start-line; `on_field(data, field)` sees each field once it can no longer be continued. Both
/// return a step. Limits: the start-line (with leading empty lines) against max_request_line, the
/// field section against max_header_bytes.
template <class OnStartLine, class OnField>
section_result run_section(const char* data, std::size_t size, const parse_options& options,
                           std::span<header> storage, field_section_state& state, head_phase& phase,
                           OnStartLine&& on_start_line, OnField&& on_field) {
  while (true) {
    if (phase == head_phase::fields && state.scan == state.pos) {
      step s;
      const std::size_t end = take_fast_fields(data, size, options, storage, state, on_field, s);
      if (s.failed()) return {section_outcome::error, 0, s};
      if (end != 0) return {section_outcome::complete, end, {}};
    }
    line ln;
    step error;
    const line_found found = find_line(data, size, state, options.lenient.bare_lf, ln, error);
    // A bad line ending at or past a limit is reported as the limit, as a feed in small pieces
    // would have hit the limit first: the result must not depend on how the input was cut.
    const std::size_t seen = found == line_found::yes     ? ln.next
                             : found == line_found::error ? error.offset + 1
                                                          : size;
    if (found == line_found::error && phase == head_phase::start_line &&
        seen <= options.max_request_line) {
      return {section_outcome::error, 0, error};
    }
    if (found == line_found::error && phase != head_phase::start_line &&
        seen - state.section_start <= options.max_header_bytes) {
      return {section_outcome::error, 0, error};
    }
    if (phase == head_phase::start_line) {
      if (seen > options.max_request_line) {
        return {section_outcome::error, 0, {errc::request_line_too_long, options.max_request_line}};
      }
    } else if (seen - state.section_start > options.max_header_bytes) {
      return {section_outcome::error,
              0,
              {errc::header_section_too_large, state.section_start + options.max_header_bytes}};
    }
    if (found == line_found::need_more) return {};

    if (phase == head_phase::start_line) {
      state.pos = ln.next;
      if (ln.begin == ln.end) continue;  // RFC 9112 section 2.2: empty lines before it are ignored
      if (const step s = on_start_line(data, ln.begin, ln.end); s.failed()) {
        return {section_outcome::error, 0, s};
      }
      phase = head_phase::fields;
      state.section_start = ln.next;
      continue;
    }
    if (ln.begin < ln.end && is_ws(data[ln.begin])) {
      if (const step s = continue_field_line(data, ln, storage, options.lenient, state);
          s.failed()) {
        return {section_outcome::error, 0, s};
      }
      state.pos = ln.next;
      continue;
    }
    if (state.pending) {
      state.pending = false;
      if (const step s = on_field(data, storage[state.count - 1]); s.failed()) {
        return {section_outcome::error, 0, s};
      }
    }
    if (ln.begin == ln.end) return {section_outcome::complete, ln.next, {}};
    const step s = parse_field_line(data, ln, storage, options.max_headers, options.lenient, state);
    if (s.failed()) return {section_outcome::error, 0, s};
    state.pos = ln.next;
  }
}

}  // namespace taut::detail
