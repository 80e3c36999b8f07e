// Fuzz harness `differential`: taut's strict parser against llhttp's strict mode, on the first
// request of the input.
//
//  * Both accept: method, target, version, header fields, body and trailers must be equal.
//  * One accepts, the other rejects or waits for more: the input must match an entry of the
//    reviewed list in known_differences.cpp (each with its RFC reason, see known-differences.md);
//    otherwise the harness aborts and the input is a finding.
//  * Both reject, or one rejects while the other still waits: not compared. Parsers detect errors
//  at
//    different moments (taut checks Host when the head ends, llhttp checks Transfer-Encoding when
//    it sees the next field), so a prefix says little; if the grammars really differ, the fuzzer
//    reaches a complete input that one accepts and the other rejects.
//
// Comparison notes: llhttp reports a field value with its trailing whitespace, which RFC 9112
// section 5 excludes from the value, so values are compared with OWS trimmed. For CONNECT and
// upgrade requests llhttp stops at the head (the bytes after it belong to another protocol) so only
// heads are compared.
//
// TAUT_DIFF_TRACE=1 in the environment prints each input's verdicts and the entry that explains a
// disagreement, for reviewing the list against a corpus.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "known_differences.hpp"
#include "llhttp_capture.hpp"
#include "taut/parser.hpp"

namespace {

using namespace taut;
using namespace taut::fuzz;

taut_message run_taut(std::string_view input) {
  taut_message out;
  std::array<header, 100> storage{};
  std::array<header, 100> trailer_storage{};
  const parse_options options;
  request_parser parser(storage, options);
  const parse_result head = parser.parse(input);
  if (head.failed()) {
    out.outcome = verdict::reject;
    out.code = head.error.code;
    out.error_at = head.error.offset;
    return out;
  }
  if (head.incomplete()) return out;

  const request& r = parser.request();
  out.head_size = head.consumed;
  out.method = r.method_name;
  out.target = r.target;
  out.minor = r.version_minor;
  out.upgrade = r.upgrade;
  out.connect = r.method == method::connect;
  for (const auto& field : r.headers) out.headers.emplace_back(field.name, field.value);

  body_decoder decoder(r.body, options, trailer_storage);
  std::string_view rest = input.substr(head.consumed);
  while (true) {
    const body_result b = decoder.decode(rest);
    out.body.append(b.data);
    rest.remove_prefix(b.consumed);
    if (b.status == parse_status::error) {
      out.outcome = verdict::reject;
      out.code = b.error.code;
      out.error_at = head.consumed + b.error.offset;
      out.body_error = true;
      return out;
    }
    if (b.status == parse_status::complete) {
      out.outcome = verdict::accept;
      for (const auto& field : decoder.trailers())
        out.trailers.emplace_back(field.name, field.value);
      return out;
    }
    if (b.consumed == 0) return out;  // incomplete
  }
}

field_list trimmed(const field_list& fields) {
  field_list out;
  for (const auto& [name, value] : fields) out.emplace_back(name, std::string(trim_ows(value)));
  return out;
}

std::string describe_fields(const field_list& fields) {
  std::string out;
  for (const auto& [name, value] : fields) out += " [" + quoted(name) + ": " + quoted(value) + "]";
  return out;
}

std::string describe(const taut_message& t) {
  std::string out = std::string(verdict_name(t.outcome));
  if (t.outcome == verdict::reject) {
    out += " " + std::string(to_string(t.code)) + " at " + std::to_string(t.error_at);
  } else if (t.head_size > 0) {
    out += " " + quoted(t.method) + " " + quoted(t.target) + " 1." + std::to_string(t.minor) +
           describe_fields(t.headers) + " body=" + quoted(t.body, 80) + describe_fields(t.trailers);
  }
  return out;
}

std::string describe(const llhttp_message& l) {
  std::string out = std::string(verdict_name(l.outcome));
  if (l.outcome == verdict::reject) {
    out += std::string(" ") + llhttp_errno_name(l.error) + " (" + l.reason + ") at " +
           std::to_string(l.error_offset);
  } else {
    out += " " + quoted(l.method) + " " + quoted(l.url) + " " + std::to_string(l.major) + "." +
           std::to_string(l.minor) + describe_fields(l.headers) + " body=" + quoted(l.body, 80) +
           describe_fields(l.trailers) + (l.upgrade ? " (upgrade)" : "");
  }
  return out;
}

void compare_accepted(std::string_view input, const taut_message& t, const llhttp_message& l) {
  const auto where = [&] {
    return "input " + quoted(input) + "\n  taut   " + describe(t) + "\n  llhttp " + describe(l);
  };
  TAUT_FUZZ_CHECK(t.method == l.method, "methods differ: " + where());
  TAUT_FUZZ_CHECK(t.target == l.url, "targets differ: " + where());
  TAUT_FUZZ_CHECK(l.major == 1 && t.minor == l.minor, "versions differ: " + where());
  TAUT_FUZZ_CHECK(t.headers == trimmed(l.headers), "header fields differ: " + where());
  if (l.upgrade || t.connect) return;  // llhttp hands the rest of the stream to the new protocol
  TAUT_FUZZ_CHECK(t.body == l.body, "bodies differ: " + where());
  TAUT_FUZZ_CHECK(t.trailers == trimmed(l.trailers), "trailers differ: " + where());
}

bool tracing() {
  static const bool on = [] {
    const char* value = std::getenv("TAUT_DIFF_TRACE");
    return value != nullptr && *value != '\0' && *value != '0';
  }();
  return on;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const taut_message t = run_taut(input);
  const llhttp_message l = run_llhttp(input);

  if (t.outcome == verdict::accept && l.outcome == verdict::accept) {
    compare_accepted(input, t, l);
    if (tracing()) std::fprintf(stderr, "diff: both accept\n");
    return 0;
  }
  const bool one_accepts = t.outcome == verdict::accept || l.outcome == verdict::accept;
  if (!one_accepts || t.outcome == l.outcome) {
    if (tracing()) {
      std::fprintf(stderr, "diff: taut %s, llhttp %s\n", verdict_name(t.outcome).data(),
                   verdict_name(l.outcome).data());
    }
    return 0;
  }
  const known_difference* entry = explain({input, t, l});
  TAUT_FUZZ_CHECK(entry != nullptr,
                  "taut and llhttp disagree, and no known difference explains it:\n  input " +
                      quoted(input) + "\n  taut   " + describe(t) + "\n  llhttp " + describe(l));
  if (tracing()) {
    std::fprintf(stderr, "diff: taut %s, llhttp %s: known difference %s\n",
                 verdict_name(t.outcome).data(), verdict_name(l.outcome).data(), entry->id.data());
  }
  return 0;
}
