// Fuzz harness for the router (taut/router.hpp): random patterns and random requests.
//
// Input: lines. Up to the first empty line, each line is a pattern given to route_table::add (id =
// registration index); failures are fine, crashes are not. Every later line is a request,
// "METHOD HOST TARGET" split at the first two spaces (a missing HOST or TARGET is empty).
//
// Checked for every request, besides "does not crash" (ASan/UBSan catch the rest):
// - a matched route exists, and each parameter's raw text lies inside the cleaned path, decodes
//   to its value, and the path itself is clean;
// - a redirect goes to a clean, local path (never "//" or "/\"), with the query kept;
// - 405 and OPTIONS answers list methods, OPTIONS among them;
// - matching is deterministic: a second match with a fresh route_match agrees.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "taut/path.hpp"
#include "taut/router.hpp"

namespace {

[[noreturn]] void fail(const char* condition, int line, std::string_view request) {
  std::fprintf(stderr, "\nfuzz/router.cpp:%d: check failed: %s\nrequest: %.*s\n", line, condition,
               static_cast<int>(request.size()), request.data());
  std::abort();
}

#define ROUTER_CHECK(condition)                              \
  do {                                                       \
    if (!(condition)) fail(#condition, __LINE__, line_text); \
  } while (false)

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

std::string decode(std::string_view raw) {
  std::string out(raw.size(), '\0');
  const auto decoded = taut::percent_decode(raw, out);
  return decoded ? std::string(*decoded) : std::string("<bad escape>");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  taut::route_table table;
  std::size_t pos = 0;
  bool in_patterns = true;
  std::size_t patterns = 0;
  taut::inline_route_match<> match;
  taut::inline_route_match<> again;

  while (pos <= input.size()) {
    auto end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line_text = input.substr(pos, end - pos);
    pos = end + 1;

    if (in_patterns) {
      if (line_text.empty()) {
        in_patterns = false;
        continue;
      }
      if (++patterns > 64) continue;  // enough to build interesting trees, cheap to run
      const std::size_t before = table.size();
      const auto error = table.add(line_text, before);
      ROUTER_CHECK(table.size() == before + (error ? 0 : 1));
      ROUTER_CHECK(!error || !error.message().empty());
      if (!error) ROUTER_CHECK(table.pattern(before) == line_text);
      continue;
    }

    const auto first_space = line_text.find(' ');
    const std::string_view method = line_text.substr(0, first_space);
    std::string_view rest = first_space == std::string_view::npos
                                ? std::string_view()
                                : line_text.substr(first_space + 1);
    const auto second_space = rest.find(' ');
    const std::string_view host = rest.substr(0, second_space);
    const std::string_view target =
        second_space == std::string_view::npos ? std::string_view() : rest.substr(second_space + 1);

    const taut::route_status status = table.match(method, host, target, match);
    ROUTER_CHECK(status == match.status());
    switch (status) {
      case taut::route_status::matched: {
        ROUTER_CHECK(match.id() < table.size());
        ROUTER_CHECK(match.pattern() == table.pattern(match.id()));
        ROUTER_CHECK(taut::is_clean_path(match.path()));
        ROUTER_CHECK(match.params().size() <= taut::route_match::max_params);
        for (const taut::path_param& param : match.params()) {
          ROUTER_CHECK(!param.name.empty());
          ROUTER_CHECK(inside(param.raw, match.path()));
          ROUTER_CHECK(decode(param.raw) == param.value);
          ROUTER_CHECK(match.param(param.name).data() != nullptr);
        }
        break;
      }
      case taut::route_status::redirect: {
        const auto location = match.location();
        const auto parts = taut::split_target(location);
        ROUTER_CHECK(!parts.path.empty() && parts.path.front() == '/');
        ROUTER_CHECK(parts.path.size() < 2 || (parts.path[1] != '/' && parts.path[1] != '\\'));
        ROUTER_CHECK(taut::is_clean_path(parts.path));
        ROUTER_CHECK(parts.query == taut::split_target(target).query);
        break;
      }
      case taut::route_status::method_not_allowed:
      case taut::route_status::options:
        ROUTER_CHECK(!match.allow().empty());
        ROUTER_CHECK(match.allow().find("OPTIONS") != std::string_view::npos);
        break;
      case taut::route_status::bad_request:
        ROUTER_CHECK(target != "*" || method != "OPTIONS");
        break;
      case taut::route_status::not_found:
      case taut::route_status::uri_too_long:
      case taut::route_status::not_implemented:
        break;
    }

    ROUTER_CHECK(table.match(method, host, target, again) == status);
    ROUTER_CHECK(again.id() == match.id());
    ROUTER_CHECK(again.location() == match.location());
    ROUTER_CHECK(again.allow() == match.allow());
    ROUTER_CHECK(again.params().size() == match.params().size());
  }
  return 0;
}
