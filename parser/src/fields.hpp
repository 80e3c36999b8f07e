// The line and field-section machinery shared by the request and response parsers and by the
// chunked decoder's trailer section: find each line once, validate it once, never rescan.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "scan.hpp"
#include "taut/detail/head_state.hpp"
#include "taut/http_chars.hpp"
#include "taut/message.hpp"
#include "taut/parse_error.hpp"

namespace taut::detail {

/// Makes every stored view follow the buffer if the caller moved it since the previous call.
void rebase_views(std::span<header> fields, std::size_t count, const char* from,
                  const char* to) noexcept;
void rebase_view(std::string_view& view, const char* from, const char* to) noexcept;

/// Stores the field line [state.pos, end), its name [state.pos, state.name_end) and every byte
/// already judged, into storage[state.count]; it stays pending (an obs-fold may continue it).
void store_field_line(const char* data, std::size_t end, std::span<header> storage,
                      field_section_state& state) noexcept;

/// Appends the obs-fold line [state.pos, end), already judged, to the pending field's value.
void fold_field_line(const char* data, std::size_t end, std::span<header> storage,
                     field_section_state& state) noexcept;

/// Folds one completed field into what framing needs (Content-Length, Transfer-Encoding, Host,
/// Connection, Expect, Upgrade). Transfer codings other than chunked are an error
/// (unknown_transfer_coding) unless `allow_codings`. Errors carry offsets relative to `data`.
step interpret_field(const char* data, const header& field, bool is_request, int version_minor,
                     bool allow_codings, framing_fields& fields) noexcept;

inline constexpr std::size_t valid = static_cast<std::size_t>(-1);

/// The Host value check past its plain reg-name prefix, which ends at i (interpret_host): an
/// IP-literal, a port, or the first byte no valid Host value holds (bad_host).
step check_host_rest(const char* data, std::size_t value_offset, std::size_t i,
                     std::size_t value_end) noexcept;

/// interpret_field's part for a request's Host field. Inline and small, so that the one framing
/// field every request has costs neither interpret_field's dispatch nor its frame.
inline step interpret_host(const char* data, const header& field, framing_fields& fields) noexcept {
  const auto name_offset = static_cast<std::size_t>(field.name.data() - data);
  const auto value_offset = static_cast<std::size_t>(field.value.data() - data);
  if (++fields.host_count > 1) return {errc::duplicate_host, name_offset};
  fields.host_offset = name_offset;
  fields.host_value_offset = value_offset;
  fields.host_value_size = field.value.size();
  const std::size_t value_end = value_offset + field.value.size();
  // A plain reg-name (or nothing) is valid: the usual Host needs no more than this skip.
  const std::size_t i = scan().skip_host(data, value_offset, value_end);
  if (i == value_end) return {};
  return check_host_rest(data, value_offset, i, value_end);
}

/// interpret_field's part for a Connection of exactly keep-alive or close, the values nearly every
/// message sends, inline so that a field callback can take them without interpret_field's call.
/// Returns whether it took the value; any other value (a list, upgrade) is interpret_field's.
inline bool take_plain_connection(std::string_view value, framing_fields& fields) noexcept {
  if (iequals(value, "keep-alive")) {
    fields.connection_keep_alive = true;
    return true;  // keep-alive taken
  }
  if (iequals(value, "close")) {
    fields.connection_close = true;
    return true;  // close taken
  }
  return false;
}

/// interpret_field's part for a message's first Content-Length when it is 1 to 19 digits, which
/// always fit in 64 bits (so no digit needs length_digits' check), inline as take_plain_connection.
/// Returns whether it took the value; every other form, and every error, is interpret_field's.
inline bool take_plain_content_length(const char* data, const header& field,
                                      framing_fields& fields) noexcept {
  constexpr std::size_t max_plain_digits = 19;
  const std::string_view value = field.value;
  if (fields.has_content_length || value.size() - 1 >= max_plain_digits) return false;
  std::uint64_t length = 0;
  for (const char c : value) {
    const auto digit = static_cast<unsigned>(static_cast<unsigned char>(c)) - '0';
    if (digit > 9) return false;
    length = length * 10 + digit;
  }
  fields.has_content_length = true;
  fields.content_length = length;
  fields.content_length_offset = static_cast<std::size_t>(field.name.data() - data);
  return true;  // the length taken
}

}  // namespace taut::detail

namespace taut::detail {

/// Ends a start-line scan that judged every byte up to `limit` (the input's end, or
/// max_request_line when the input is longer) without the line ending: `checked` and `examined`
/// move past those bytes. Past the limit the line is too long, unless its last byte within the
/// limit is a CR (`after_cr`) that the byte past it shows to be bare; within it more input is
/// needed (errc::ok).
inline step start_line_cut_short(const char* data, std::size_t size, std::size_t start,
                                 std::size_t limit, bool after_cr, std::size_t max_line,
                                 std::size_t& checked, std::size_t& examined) noexcept {
  examined += limit - start;
  checked = limit;
  if (size <= max_line) return {};
  if (after_cr && data[limit] != '\n') {
    examined += 1;
    return {errc::bare_cr, limit - 1};
  }
  return {errc::request_line_too_long, max_line};
}

enum class section_outcome : unsigned char { need_more, complete, error };

struct section_result {
  section_outcome outcome = section_outcome::need_more;
  std::size_t end = 0;  // one past the final empty line, when complete
  step error{};
};

/// Which framing field values the byte-by-byte loop judges as they arrive: none in a trailer
/// section, Content-Length in a response, Content-Length and the first Host in a request.
enum class framing_values : unsigned char { none, response, request };

/// field_section_state::value_kind: the value being read is judged byte by byte as one of these.
enum framing_value : std::uint8_t { no_framing_value, content_length_value, host_value };

/// field_section_state::value_state of a Content-Length or Host value.
enum framing_value_state : std::uint8_t {
  value_lead,        // only whitespace yet
  value_body,        // Content-Length: in the digits; Host: in the reg-name
  value_trailing,    // in whitespace after something: anything but whitespace is an error
  host_pct1,         // after a '%' of the reg-name
  host_pct2,         // after a '%' and one hex digit
  host_literal0,     // after the '[' of an IP-literal
  host_literal,      // in an IP-literal
  host_literal_end,  // after its ']'
  host_port,         // after the ':' before the port
};

/// The framing field named [begin, end), if `judge` has its value judged byte by byte. Host only
/// while no Host is stored: a second Host is duplicate_host at its line end, not bad_host.
inline framing_value framing_value_of(const char* data, std::size_t begin, std::size_t end,
                                      framing_values judge, std::span<const header> stored) {
  if (judge == framing_values::none) return no_framing_value;
  const std::string_view name(data + begin, end - begin);
  if (name.size() == 14 && iequals(name, "content-length")) return content_length_value;
  if (judge != framing_values::request || name.size() != 4 || !iequals(name, "host")) {
    return no_framing_value;
  }
  for (const header& h : stored) {
    if (h.name.size() == 4 && iequals(h.name, "host")) return no_framing_value;
  }
  return host_value;
}

/// The significant digits of a Content-Length read so far against the same digits of 2^64 - 1,
/// the largest value it may hold: what tells at each digit whether the number still fits, in
/// two bytes (field_section_state::value_digits, value_order) where a whole number would not fit
/// the parser's size.
struct length_digits {
  std::uint8_t count = 0;  // significant digits: leading zeros do not count
  std::uint8_t order = 0;  // `same`, `below` or `above`: those digits against 2^64 - 1's first ones
  static constexpr std::uint8_t same = 0, below = 1, above = 2;

  /// Takes the value's next byte `c`: false when it is no digit or makes the number pass
  /// 2^64 - 1, the first byte at which no Content-Length can hold the value. The one rule for a
  /// Content-Length's digits, whether its line is taken whole or byte by byte.
  bool append(char c) noexcept {
    constexpr std::string_view max_digits = "18446744073709551615";
    if (!is(c, digit)) return false;
    if (count == 0 && c == '0') return true;
    if (count == max_digits.size()) return false;
    if (order == same && c != max_digits[count]) order = c < max_digits[count] ? below : above;
    ++count;
    return count < max_digits.size() || order != above;
  }
};

/// Moves a Content-Length (`host` false) or Host value in state `st` past its next byte `c`, a
/// field-vchar, SP or HTAB: false, `st` unchanged, when no valid value can hold `c` there.
inline bool next_value_state(std::uint8_t& st, length_digits& length, char c, bool host) noexcept {
  if (is_ws(c)) {
    if (st == host_pct1 || st == host_pct2) return false;  // a '%' without its two hex digits
    if (st != value_lead) st = value_trailing;
    return true;
  }
  if (st == value_trailing) return false;  // the value holds whitespace
  if (!host) {
    if (!length.append(c)) return false;
    st = value_body;
    return true;
  }
  switch (st) {
    case value_lead:
    case value_body:
      if (is(c, host_char)) {
        st = value_body;
      } else if (c == '%') {
        st = host_pct1;
      } else if (c == ':') {
        st = host_port;
      } else if (c == '[' && st == value_lead) {
        st = host_literal0;
      } else {
        return false;
      }
      return true;
    case host_pct1:
    case host_pct2:
      if (!is(c, hex_digit)) return false;
      st = st == host_pct1 ? host_pct2 : value_body;
      return true;
    case host_literal0:
    case host_literal:
      if (is(c, host_char) || c == ':') {
        st = host_literal;
      } else if (c == ']' && st == host_literal) {
        st = host_literal_end;
      } else {
        return false;
      }
      return true;
    case host_literal_end:
      if (c != ':') return false;
      st = host_port;
      return true;
    default:  // host_port
      return is(c, digit);
  }
}

/// Where a value in state `st` that byte i cannot continue is reported bad: at the '%' of an
/// escape cut short, at the first byte of the whitespace a value holds inside, else at i.
inline std::size_t value_fault_offset(const char* data, std::size_t i, std::uint8_t st) noexcept {
  if (st == host_pct1) return i - 1;
  if (st == host_pct2) return i - 2;
  if (st == value_trailing) {
    while (is_ws(data[i - 1])) --i;
  }
  return i;
}

/// Judges the Content-Length or Host value bytes from i on, each once: returns where it stopped
/// (at `limit`, at a byte that is no field-vchar SP or HTAB, left to the caller, or at the first
/// byte no valid value can hold there, with `bad` the offset reported for it).
std::size_t judge_framing_value(const char* data, std::size_t i, std::size_t limit,
                                field_section_state& state, std::size_t& bad) noexcept;

/// The first byte at which the whole Host value [begin, end) (as stored: trimmed) can no longer
/// be valid, or `valid`: what judge_framing_value finds, byte by byte, then what only the value's
/// end shows (a '%' escape or an IP-literal cut short). The lines taken whole and those taken
/// byte by byte are judged by this one rule. (A Content-Length's is length_digits::append.)
inline std::size_t host_value_fault(const char* data, std::size_t begin, std::size_t end) noexcept {
  field_section_state state;
  state.value_kind = host_value;
  std::size_t bad = valid;
  const std::size_t stop = judge_framing_value(data, begin, end, state, bad);
  if (bad != valid) return bad;
  // A byte no field value holds (the CR LF an obs-fold leaves inside the value).
  if (stop != end) return value_fault_offset(data, stop, state.value_state);
  switch (state.value_state) {
    case host_pct1:
    case host_pct2:
      return value_fault_offset(data, end, state.value_state);
    case host_literal0:
    case host_literal:
      return end - 1;
    default:
      return valid;
  }
}

/// judge_framing_value over the value of a field line the fast loop stored, whose CR is at
/// `line_end`: the error it finds there, so that a field line taken whole is judged as one taken
/// byte by byte. Up to the CR, not the stored value's end: whitespace after the value ends a '%'
/// escape too, and the value may yet be continued (an obs-fold), so its end decides nothing.
step judge_stored_value(const char* data, std::span<const header> storage, std::size_t index,
                        std::size_t line_end, framing_values judge) noexcept;

/// Folds what the fast field loop stored into `state`, then hands on_field every field that can
/// no longer be continued, in order, as the generic loop would (on_field must ignore every field
/// may_be_framing_field rules out: those are skipped here). Returns the section's end (one past
/// the final CRLF) if the fast loop reached it, else 0; `error` tells a failed on_field. Inlined
/// into its callers: its frame was a fixed cost of every head.
template <class OnField>
[[gnu::always_inline]] inline std::size_t apply_fast_fields(
    const char* data, const fast_fields_args& args, std::span<header> storage,
    field_section_state& state, OnField&& on_field, step& error,
    framing_values judge = framing_values::none) {
  state.examined = args.examined;
  const bool stored = args.count != state.count;
  if (stored) {
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
  if (args.section_end == 0) {
    // The last field stays pending, but a byte its Content-Length or Host value cannot hold is an
    // error now, as when its line arrives byte by byte.
    if (stored && judge != framing_values::none &&
        may_be_framing_field(storage[args.count - 1].name)) {
      // The fast loop stopped at the line after it: args.pos, past the CR LF of this one.
      error = judge_stored_value(data, storage, args.count - 1, args.pos - 2, judge);
    }
    return 0;
  }
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
                             OnField&& on_field, step& error,
                             framing_values judge = framing_values::none) {
  const scan_ops& ops = scan();
  if (ops.fast_fields == nullptr) return 0;
  fast_fields_args args = fast_fields_from(data, size, options, storage, state);
  ops.fast_fields(args);
  return apply_fast_fields(data, args, storage, state, on_field, error, judge);
}

/// Where the field line being read stands (field_section_state::line).
enum field_line : std::uint8_t {
  line_start,  // at a line's first byte: a field, an obs-fold or the final empty line
  name,        // in the field name
  name_space,  // after the name, in whitespace before the colon (leniently only)
  value,       // after the colon
  value_cr,    // after the CR that ends a field line
  fold,        // in an obs-fold line (leniently only)
  fold_cr,     // after the CR that ends an obs-fold line
  final_cr,    // after the CR of the empty line that ends the section
  // After the colon of a Content-Length or Host field (field_section_state::value_kind), whose
  // value is judged byte by byte: a state of its own, so that the callers' shortcuts for plain
  // values (request_parser::extends_current_line) need no second test to step aside for it.
  judged_value,
};

enum class field_progress : unsigned char { line_done, more, complete, error };

/// Judges the bytes of the current field line from state.scan, each once and as it arrives, up to
/// the end of that line: an error is reported at the first byte no valid field section could hold
/// there (a bad name byte at once, a control byte in a value at once, an obs-fold at the byte
/// after the CRLF before it), however the input was cut. The field before this line is handed to
/// on_field as soon as this line's first byte shows it cannot be continued. The section's limits
/// fire as soon as exceeded: the byte past max_header_bytes, the first byte of a field line past
/// the field capacity. `end` is one past the line's LF (line_done) or the section's (complete).
template <class OnField>
field_progress advance_field_line(const char* data, std::size_t size, const parse_options& options,
                                  std::span<header> storage, field_section_state& state,
                                  OnField&& on_field, std::size_t& end, step& error,
                                  framing_values judge = framing_values::none) {
  const scan_ops& ops = scan();
  const std::size_t budget_end = saturating_add(state.section_start, options.max_header_bytes);
  const std::size_t limit = size < budget_end ? size : budget_end;
  const bool allow_bare_lf = options.lenient.bare_lf;
  const std::size_t start = state.scan;
  std::size_t i = start;
  auto fail = [&](errc code, std::size_t offset) {
    state.examined += i + 1 - start;
    error = {code, offset};
    return field_progress::error;
  };
  // The colon at i ends the name that ends at `name_end`.
  auto value_starts = [&](std::size_t name_end) {
    state.value_kind =
        framing_value_of(data, state.pos, name_end, judge, storage.first(state.count));
    state.line = state.value_kind == no_framing_value ? value : judged_value;
    state.value_state = value_lead;
    state.value_digits = 0;
    state.value_order = length_digits::same;
    ++i;
  };
  // The line ends at `line_end` (its CR, or a lenient bare LF), its LF at i.
  auto line_ends = [&](std::size_t line_end) {
    if (state.line == fold || state.line == fold_cr) {
      fold_field_line(data, line_end, storage, state);
    } else {
      store_field_line(data, line_end, storage, state);
    }
    state.examined += i + 1 - start;
    state.line = line_start;
    state.pos = i + 1;
    state.scan = i + 1;
    end = i + 1;
    return field_progress::line_done;
  };
  while (i < limit) {
    const char c = data[i];
    switch (state.line) {
      case line_start: {
        if (is_ws(c)) {
          if (!state.pending) return fail(errc::leading_whitespace, i);
          // Framing fields are never folded, even leniently: a fold onto an empty value would
          // otherwise vanish ("Transfer-Encoding:" CRLF " chunked" read as plain chunked), and
          // hops disagree on it.
          const std::string_view folded = storage[state.count - 1].name;
          if (!options.lenient.obs_fold ||
              (folded.size() == 14 && iequals(folded, "content-length")) ||
              (folded.size() == 17 && iequals(folded, "transfer-encoding"))) {
            return fail(errc::obs_fold, i);
          }
          state.line = fold;
          ++i;
          break;
        }
        // Not a fold: the field before is whole.
        if (state.pending) {
          state.pending = false;
          if (const step s = on_field(data, storage[state.count - 1]); s.failed()) {
            state.examined += i - start;
            error = s;
            return field_progress::error;
          }
        }
        if (c == '\r') {
          state.line = final_cr;
          ++i;
          break;
        }
        if (c == '\n') {
          if (!allow_bare_lf) return fail(errc::bare_lf, i);
          state.examined += i + 1 - start;
          state.scan = i + 1;
          end = i + 1;
          return field_progress::complete;
        }
        if (!is(c, tchar)) return fail(errc::bad_header_name, i);
        if (state.count >= field_capacity(options, storage)) {
          return fail(errc::too_many_headers, i);
        }
        state.line = name;
        i = ops.skip_token(data, i + 1, limit);
        break;
      }
      case name:
        if (c == ':') {
          state.name_end = i;
          value_starts(i);
          break;
        }
        if (is(c, tchar)) {  // resumed inside the name
          i = ops.skip_token(data, i, limit);
          break;
        }
        [[fallthrough]];
      case name_space:
        if (c == ':') {
          value_starts(state.name_end);
          break;
        }
        if (is_ws(c)) {
          if (!options.lenient.space_before_colon) return fail(errc::space_before_colon, i);
          if (state.line == name) state.name_end = i;
          state.line = name_space;
          ++i;
          break;
        }
        if (c == '\n' && !allow_bare_lf) return fail(errc::bare_lf, i);
        // A line end before any colon: whatever follows the CR, this line is no field line.
        if (c == '\r' || c == '\n') return fail(errc::missing_colon, i);
        return fail(errc::bad_header_name, i);
      case value:
      case fold:
      case judged_value: {
        if (state.line == judged_value) {
          // A Content-Length or Host value: each byte is judged as interpret_field will judge
          // the whole value, so a byte no valid value can hold is an error at once.
          std::size_t bad = valid;
          i = judge_framing_value(data, i, limit, state, bad);
          if (bad != valid) {
            return fail(state.value_kind == content_length_value ? errc::bad_content_length
                                                                 : errc::bad_host,
                        bad);
          }
        } else {
          i = ops.skip_field(data, i, limit);
        }
        if (i == limit) break;
        const char stop = data[i];
        if (stop == '\r') {
          state.line = state.line == fold ? fold_cr : value_cr;
          ++i;
          break;
        }
        if (stop != '\n') return fail(errc::bad_header_value, i);
        if (!allow_bare_lf) return fail(errc::bare_lf, i);
        return line_ends(i);
      }
      case value_cr:
      case fold_cr:
        if (c != '\n') return fail(errc::bare_cr, i - 1);
        return line_ends(i - 1);
      case final_cr:
        if (c != '\n') return fail(errc::bare_cr, i - 1);
        state.examined += i + 1 - start;
        state.scan = i + 1;
        end = i + 1;
        return field_progress::complete;
      default:
        break;
    }
  }
  state.examined += i - start;
  state.scan = i;
  if (size > limit) {
    error = {errc::header_section_too_large, budget_end};
    return field_progress::error;
  }
  return field_progress::more;
}

/// Runs the line loop of a field section (a head's, after its start-line, which each parser takes
/// byte by byte itself; or a trailer section's): `on_field(data, field)` sees each field once it
/// can no longer be continued and returns a step. The field section is limited by
/// max_header_bytes.
template <class OnField>
section_result run_section(const char* data, std::size_t size, const parse_options& options,
                           std::span<header> storage, field_section_state& state,
                           OnField&& on_field, framing_values judge = framing_values::none) {
  while (true) {
    // At a line start the fast loop may take whole lines; not with a few bytes, where it cannot
    // take one line and costs more than the generic loop (input arriving a byte at a time).
    constexpr std::size_t few_bytes = 8;
    if (state.scan == state.pos && size - state.pos >= few_bytes) {
      step s;
      const std::size_t end =
          take_fast_fields(data, size, options, storage, state, on_field, s, judge);
      if (s.failed()) return {section_outcome::error, 0, s};
      if (end != 0) return {section_outcome::complete, end, {}};
    }
    std::size_t end = 0;
    step error;
    switch (advance_field_line(data, size, options, storage, state, on_field, end, error, judge)) {
      case field_progress::line_done:
        continue;
      case field_progress::more:
        return {};
      case field_progress::complete:
        return {section_outcome::complete, end, {}};
      case field_progress::error:
        return {section_outcome::error, 0, error};
    }
  }
}

}  // namespace taut::detail
