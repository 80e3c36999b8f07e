#include "taut/router.hpp"
#include "taut/http_chars.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>

#include "percent.hpp"
#include "taut/path.hpp"

namespace taut {

namespace {

constexpr std::uint32_t no_index = 0xFFFFFFFFu;
// Method ids are bit positions in 64-bit masks; the last bit stands for "any method".
constexpr std::uint8_t any_method = 63;
constexpr std::uint8_t unknown_method = 0xFF;
static_assert(route_table::max_methods == any_method);

constexpr std::uint64_t bit(std::uint8_t i) noexcept {
  return std::uint64_t{1} << i;
}

// Registered up front so their ids are fixed: GET is 0, HEAD 1, OPTIONS 6.
constexpr std::array<std::string_view, 9> standard_methods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
constexpr std::uint8_t get_id = 0;
constexpr std::uint8_t head_id = 1;
constexpr std::uint8_t connect_id = 5;
constexpr std::uint8_t options_id = 6;
// What a method-less route stands for in the Allow list of "OPTIONS *".
constexpr std::uint64_t common_methods_mask =
    bit(0) | bit(1) | bit(2) | bit(3) | bit(4) | bit(6) | bit(8);

class route_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "taut.route"; }
  std::string message(int code) const override {
    switch (static_cast<route_errc>(code)) {
      case route_errc::ok:
        return "ok";
      case route_errc::invalid_pattern:
        return "invalid route pattern";
      case route_errc::conflict:
        return "route pattern conflicts with an earlier one";
      case route_errc::too_many_methods:
        return "too many distinct methods in route patterns";
      case route_errc::too_many_wildcards:
        return "too many wildcards in a route pattern";
    }
    return "unknown route error";
  }
};

// ---------------------------------------------------------------------------------------------
// Patterns

enum class element_kind : std::uint8_t { literal, wildcard };

struct element {
  element_kind kind = element_kind::literal;
  std::string text;  // the decoded literal, or the wildcard's name
};

struct parsed_pattern {
  std::string method;  // empty: every method
  std::string host;    // lower case; empty: every host
  // The path "/a/{x}/" is elements [a, {x}] plus a multi tail; "/a/{$}" is [a, ""] and no tail.
  std::vector<element> elements;
  bool multi = false;      // a trailing slash or {name...}: matches one or more further segments
  std::string multi_name;  // empty for an anonymous trailing slash
};

using chars::is_tchar;

bool is_identifier(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  out += text;
  out += '"';
  return out;
}

// Empty on success, otherwise why `host` is not a valid host pattern.
std::string check_host(std::string_view host) {
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) return "an IPv6 host must be written [address]";
    for (char c : host.substr(1, host.size() - 2)) {
      if (!(detail::hex_value(c) >= 0 || c == ':' || c == '.')) {
        return "bad character in an IPv6 host";
      }
    }
    return {};
  }
  for (char c : host) {
    if (c == ':') return "a host pattern has no port (the request's port is ignored)";
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
    if (!ok) return std::string("bad character '") + c + "' in the host";
  }
  return {};
}

route_error invalid(std::string_view pattern, std::string_view why) {
  return {route_errc::invalid_pattern,
          "invalid pattern " + quoted(pattern) + ": " + std::string(why)};
}

route_error parse_pattern(std::string_view text, parsed_pattern& out) {
  if (text.empty()) return invalid(text, "empty pattern");
  std::string_view rest = text;
  const auto space = rest.find_first_of(" \t");
  if (space != std::string_view::npos) {
    const auto method = rest.substr(0, space);
    if (method.empty()) return invalid(text, "leading whitespace");
    for (char c : method) {
      if (!is_tchar(c)) return invalid(text, "the method is not a token");
    }
    out.method = std::string(method);
    rest = rest.substr(space);
    rest.remove_prefix(std::min(rest.find_first_not_of(" \t"), rest.size()));
  }
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return invalid(text, "the path must start with '/'");
  const auto host = rest.substr(0, slash);
  if (!host.empty()) {
    if (const auto why = check_host(host); !why.empty()) return invalid(text, why);
    out.host.reserve(host.size());
    for (char c : host) out.host += chars::to_lower(c);
  }

  const auto path = rest.substr(slash);
  std::vector<std::string_view> names;
  std::size_t start = 1;
  while (true) {
    const auto next_slash = path.find('/', start);
    const bool last = next_slash == std::string_view::npos;
    const auto segment = path.substr(start, (last ? path.size() : next_slash) - start);
    if (segment.empty()) {
      if (!last) return invalid(text, "empty path segment (\"//\")");
      out.multi = true;  // a trailing slash: the subtree below
      break;
    }
    if (segment.front() == '{') {
      if (segment.back() != '}') {
        return invalid(text, "a wildcard must be a whole segment: {name}, {name...} or {$}");
      }
      auto name = segment.substr(1, segment.size() - 2);
      if (name == "$") {
        if (!last) return invalid(text, "{$} must be the last segment");
        out.elements.push_back({element_kind::literal, {}});
        break;
      }
      const bool multi = name.size() >= 3 && name.substr(name.size() - 3) == "...";
      if (multi) name.remove_suffix(3);
      if (!is_identifier(name)) {
        return invalid(text, "wildcard name " + quoted(name) + " is not an identifier");
      }
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        return invalid(text, "wildcard name " + quoted(name) + " is used twice");
      }
      names.push_back(name);
      if (multi) {
        if (!last) return invalid(text, "{" + std::string(name) + "...} must be the last segment");
        out.multi = true;
        out.multi_name = std::string(name);
        break;
      }
      out.elements.push_back({element_kind::wildcard, std::string(name)});
    } else {
      if (segment.find_first_of("{}") != std::string_view::npos) {
        return invalid(text, "a wildcard must be a whole segment: {name}, {name...} or {$}");
      }
      std::string decoded(segment.size(), '\0');
      const auto value = percent_decode(segment, decoded);
      if (!value) return invalid(text, "malformed percent-escape");
      if (classify_segment(segment) != dot_segment::none) {
        return invalid(text, "\".\" and \"..\" segments never match a cleaned path");
      }
      decoded.resize(value->size());
      out.elements.push_back({element_kind::literal, std::move(decoded)});
    }
    if (last) break;
    start = next_slash + 1;
  }
  if (names.size() > route_table::max_wildcards) {
    return {route_errc::too_many_wildcards, "pattern " + quoted(text) + " has more than " +
                                                std::to_string(route_table::max_wildcards) +
                                                " wildcards"};
  }
  return {};
}

// How the requests one pattern matches relate to another's.
enum class relation : std::uint8_t { equivalent, more_specific, more_general, overlaps, disjoint };

// The relation of two product sets, given the relations of their factors.
relation combine(relation a, relation b) noexcept {
  if (a == relation::disjoint || b == relation::disjoint) return relation::disjoint;
  if (a == relation::equivalent) return b;
  if (b == relation::equivalent) return a;
  if (a == b) return a;
  return relation::overlaps;
}

relation compare_methods(const parsed_pattern& p, const parsed_pattern& q) noexcept {
  if (p.method.empty() && q.method.empty()) return relation::equivalent;
  if (p.method.empty()) return relation::more_general;
  if (q.method.empty()) return relation::more_specific;
  if (p.method == q.method) return relation::equivalent;
  if (p.method == "HEAD" && q.method == "GET") return relation::more_specific;
  if (p.method == "GET" && q.method == "HEAD") return relation::more_general;
  return relation::disjoint;
}

relation compare_elements(const element& p, const element& q) noexcept {
  if (p.kind == element_kind::literal && q.kind == element_kind::literal) {
    return p.text == q.text ? relation::equivalent : relation::disjoint;
  }
  if (p.kind == element_kind::wildcard && q.kind == element_kind::wildcard) {
    return relation::equivalent;
  }
  // A {name} wildcard matches non-empty segments only, so it misses the empty literal of {$}.
  const element& literal = p.kind == element_kind::literal ? p : q;
  if (literal.text.empty()) return relation::disjoint;
  return p.kind == element_kind::literal ? relation::more_specific : relation::more_general;
}

relation compare_paths(const parsed_pattern& p, const parsed_pattern& q) noexcept {
  const std::size_t pk = p.elements.size();
  const std::size_t qk = q.elements.size();
  // A path pattern matches requests of exactly k segments (no tail) or of k + 1 or more (tail).
  relation lengths = relation::equivalent;
  if (!p.multi && !q.multi) {
    if (pk != qk) return relation::disjoint;
  } else if (!p.multi) {
    if (pk < qk + 1) return relation::disjoint;
    lengths = relation::more_specific;
  } else if (!q.multi) {
    if (qk < pk + 1) return relation::disjoint;
    lengths = relation::more_general;
  } else if (pk != qk) {
    lengths = pk > qk ? relation::more_specific : relation::more_general;
  }
  // Positions covered by both element lists compare pairwise; the longer list's extra positions
  // fall inside the other's tail, which is what `lengths` already says.
  relation result = lengths;
  for (std::size_t i = 0; i < std::min(pk, qk); ++i) {
    result = combine(result, compare_elements(p.elements[i], q.elements[i]));
    if (result == relation::disjoint) break;
  }
  return result;
}

// Escapes what would be ambiguous in a printed path.
void append_segment(std::string& out, std::string_view segment) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char c : segment) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '/' || c == '%' || c == '{' || c == '}' || c == '?') {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xF];
    } else {
      out += c;
    }
  }
}

// A request both (overlapping) patterns match, to make a conflict message concrete.
std::string example_request(const parsed_pattern& p, const parsed_pattern& q) {
  std::string out;
  std::string_view method = p.method.empty() ? q.method : p.method;
  if (!p.method.empty() && !q.method.empty() && p.method != q.method) method = "HEAD";
  if (!method.empty()) {
    out += method;
    out += ' ';
  }
  out += p.host;
  std::size_t segments = std::max(p.elements.size(), q.elements.size());
  if (p.multi && q.multi) ++segments;  // one more (empty) segment for the tails
  for (std::size_t i = 0; i < segments; ++i) {
    out += '/';
    const element* a = i < p.elements.size() ? &p.elements[i] : nullptr;
    const element* b = i < q.elements.size() ? &q.elements[i] : nullptr;
    if (a && a->kind == element_kind::literal) {
      append_segment(out, a->text);
    } else if (b && b->kind == element_kind::literal) {
      append_segment(out, b->text);
    } else if (a || b) {
      out += 'x';
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The tree

struct leaf {
  std::uint64_t methods = 0;  // mask of the method ids present (any_method for method-less)
  std::uint32_t any = no_index;
  std::vector<std::pair<std::uint8_t, std::uint32_t>> by_method;

  [[nodiscard]] std::uint32_t find(std::uint8_t method) const noexcept {
    if (method == any_method) return any;
    for (const auto& [id, route] : by_method) {
      if (id == method) return route;
    }
    return no_index;
  }
};

// One position in the path. Children are tried in precedence order: the literal child for the
// segment, then the wildcard child, then this node's multi leaf (the rest of the path).
struct node {
  std::vector<std::pair<std::string, std::uint32_t>> literals;  // sorted by decoded text
  std::uint32_t wildcard = no_index;
  leaf end;                           // patterns whose path ends at this node
  leaf multi;                         // patterns whose tail starts below this node
  std::uint64_t subtree_methods = 0;  // method mask of every leaf here and below, for pruning
};

struct route_entry {
  std::string text;
  std::size_t id = 0;
  parsed_pattern pattern;
  std::uint8_t method = any_method;
};

struct captures {
  // Offsets into the searched path of the single wildcards along the way, then of the multi
  // wildcard's rest. Deliberately left uninitialized (this sits on the hot path): only the first
  // `size` entries are ever read.
  std::uint32_t begin[route_table::max_wildcards + 1];
  std::uint32_t end[route_table::max_wildcards + 1];
  std::uint32_t size;
};

struct candidate {
  std::uint32_t route;
  bool exact;  // no multi tail, or a tail that matched nothing
  captures values;
};

// The end of the path segment starting at `pos`. Segments are short: a plain loop beats memchr.
std::size_t segment_end(std::string_view path, std::size_t pos) noexcept {
  while (pos < path.size() && path[pos] != '/') ++pos;
  return pos;
}

struct path_scan {
  bool valid = true;     // every '%' starts a %XX escape
  bool clean = true;     // is_clean_path()
  bool escaped = false;  // has a '%'
};

// valid_percent_escapes, is_clean_path and a search for '%' in one pass. `path` starts with '/'.
path_scan scan_path(std::string_view path) noexcept {
  path_scan result;
  std::size_t start = 1;
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      const std::size_t size = i - start;
      if (size == 0) {
        if (i != path.size()) result.clean = false;  // "//": only the last segment may be empty
      } else if (size <= 6 && (path[start] == '.' || path[start] == '%') &&
                 classify_segment(path.substr(start, size)) != dot_segment::none) {
        result.clean = false;
      }
      start = i + 1;
    } else if (path[i] == '%') {
      if (i + 2 >= path.size() || detail::hex_value(path[i + 1]) < 0 ||
          detail::hex_value(path[i + 2]) < 0) {
        result.valid = false;
        return result;
      }
      result.escaped = true;
      i += 2;
    }
  }
  return result;
}

}  // namespace

struct route_table::impl {
  class searcher;

  router_options options;
  std::vector<std::string> methods;           // index = method id
  std::vector<std::uint8_t> methods_by_name;  // ids sorted by name, for the Allow list
  std::size_t allow_capacity = 0;             // bytes of the longest possible Allow value
  std::deque<route_entry> routes;  // a deque: the views in `hot` and `param_names` stay valid
  // What a match reads of a route, packed densely so that matching touches few cache lines.
  struct hot_route {
    std::size_t id = 0;
    std::string_view text;
    std::uint32_t names_begin = 0;  // the wildcard names, in capture order, in param_names
    std::uint32_t names_count = 0;
  };
  std::vector<hot_route> hot;
  std::vector<std::string_view> param_names;
  std::vector<node> nodes;                                   // nodes[0]: the host-less root
  std::vector<std::pair<std::string, std::uint32_t>> hosts;  // lower-case host -> root, sorted
  // Bit k (63: k >= 63) is set when some route could match a path ending in '/' after k
  // segments exactly: a tail (trailing slash or {name...}) after k segments, or {$} as segment
  // k + 1. match() probes "<path>/" for a trailing-slash redirect only when the path has such a
  // k: "/plaintext" under a table whose only route is "/" (k = 0) is never probed.
  std::uint64_t slash_depths = 0;

  [[nodiscard]] static std::uint64_t depth_bit(std::size_t k) noexcept {
    return std::uint64_t{1} << std::min<std::size_t>(k, 63);
  }

  impl() {
    for (auto m : standard_methods) methods.emplace_back(m);
    index_methods();
    nodes.emplace_back();
  }

  void index_methods() {
    methods_by_name.clear();
    allow_capacity = 0;
    for (std::size_t i = 0; i < methods.size(); ++i) {
      methods_by_name.push_back(static_cast<std::uint8_t>(i));
      allow_capacity += methods[i].size() + 2;
    }
    std::sort(methods_by_name.begin(), methods_by_name.end(),
              [&](std::uint8_t a, std::uint8_t b) { return methods[a] < methods[b]; });
  }

  [[nodiscard]] std::uint8_t method_id(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < methods.size(); ++i) {
      if (methods[i] == name) return static_cast<std::uint8_t>(i);
    }
    return unknown_method;
  }

  [[nodiscard]] std::uint32_t host_root(std::string_view host) const noexcept {
    if (hosts.empty() || host.empty()) return no_index;
    // Ignore the port: "[::1]:8080" -> "[::1]", "example.com:80" -> "example.com".
    if (host.front() == '[') {
      const auto close = host.find(']');
      if (close != std::string_view::npos) host = host.substr(0, close + 1);
    } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
      host = host.substr(0, colon);
    }
    const auto compare = [](std::string_view stored, std::string_view wanted) noexcept {
      const std::size_t n = std::min(stored.size(), wanted.size());
      for (std::size_t i = 0; i < n; ++i) {
        const auto a = static_cast<unsigned char>(stored[i]);
        const auto b = static_cast<unsigned char>(chars::to_lower(wanted[i]));
        if (a != b) return a < b ? -1 : 1;
      }
      return stored.size() == wanted.size() ? 0 : (stored.size() < wanted.size() ? -1 : 1);
    };
    std::size_t lo = 0;
    std::size_t hi = hosts.size();
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      const int c = compare(hosts[mid].first, host);
      if (c == 0) return hosts[mid].second;
      if (c < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return no_index;
  }

  // Literal children are ordered by (decoded size, bytes): most probes then end on a size
  // comparison, and an escaped segment's decoded size is cheap to compute.
  [[nodiscard]] static bool literal_less(std::string_view a, std::string_view b) noexcept {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  }

  [[nodiscard]] std::uint32_t literal_child(const node& n, std::string_view segment,
                                            bool escaped) const noexcept {
    const std::size_t size = escaped ? detail::decoded_size(segment) : segment.size();
    std::size_t lo = 0;
    std::size_t hi = n.literals.size();
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      const std::string& text = n.literals[mid].first;
      int c;
      if (size != text.size()) {
        c = size < text.size() ? -1 : 1;
      } else if (escaped) {
        c = detail::compare_decoded(segment, text);
      } else {
        c = size == 0 ? 0 : std::memcmp(segment.data(), text.data(), size);
      }
      if (c == 0) return n.literals[mid].second;
      if (c > 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return no_index;
  }

  // Creates the nodes of `pattern`'s path (if missing) and returns the node its leaf is on.
  std::uint32_t make_path(const parsed_pattern& pattern) {
    std::uint32_t at = 0;
    if (!pattern.host.empty()) {
      auto it =
          std::lower_bound(hosts.begin(), hosts.end(), pattern.host,
                           [](const auto& entry, const std::string& h) { return entry.first < h; });
      if (it == hosts.end() || it->first != pattern.host) {
        const auto root = static_cast<std::uint32_t>(nodes.size());
        nodes.emplace_back();
        it = hosts.insert(it, {pattern.host, root});
      }
      at = it->second;
    }
    for (const element& e : pattern.elements) {
      if (e.kind == element_kind::wildcard) {
        if (nodes[at].wildcard == no_index) {
          const auto child = static_cast<std::uint32_t>(nodes.size());
          nodes.emplace_back();
          nodes[at].wildcard = child;
        }
        at = nodes[at].wildcard;
        continue;
      }
      const auto by_literal = [](const auto& entry, const std::string& text) {
        return literal_less(entry.first, text);
      };
      auto& literals = nodes[at].literals;
      auto it = std::lower_bound(literals.begin(), literals.end(), e.text, by_literal);
      if (it != literals.end() && it->first == e.text) {
        at = it->second;
        continue;
      }
      const auto child = static_cast<std::uint32_t>(nodes.size());
      nodes.emplace_back();
      auto& grown = nodes[at].literals;  // emplace_back may have moved the nodes
      grown.insert(std::lower_bound(grown.begin(), grown.end(), e.text, by_literal),
                   {e.text, child});
      at = child;
    }
    return at;
  }

  // Marks `method` as reachable on every node of `pattern`'s path.
  void mark_path(const parsed_pattern& pattern, std::uint8_t method) noexcept {
    std::uint32_t at = pattern.host.empty() ? 0 : host_root(pattern.host);
    nodes[at].subtree_methods |= bit(method);
    for (const element& e : pattern.elements) {
      at = e.kind == element_kind::wildcard ? nodes[at].wildcard
                                            : literal_child(nodes[at], e.text, false);
      nodes[at].subtree_methods |= bit(method);
    }
  }

  // Collects the methods of every route whose path (and host) matches, ignoring the method.
  void collect_methods(std::uint32_t at, std::string_view path, std::size_t pos, bool escaped,
                       std::uint64_t& mask) const noexcept {
    const node& n = nodes[at];
    if (pos == std::string_view::npos) {
      mask |= n.end.methods;
      return;
    }
    const auto slash = path.find('/', pos);
    const auto segment =
        path.substr(pos, (slash == std::string_view::npos ? path.size() : slash) - pos);
    const auto next = slash == std::string_view::npos ? std::string_view::npos : slash + 1;
    if (!n.literals.empty()) {
      const auto child = literal_child(n, segment, escaped);
      if (child != no_index) collect_methods(child, path, next, escaped, mask);
    }
    if (n.wildcard != no_index && !segment.empty()) {
      collect_methods(n.wildcard, path, next, escaped, mask);
    }
    mask |= n.multi.methods;
  }

  // Writes the Allow value for `mask` to `out`; returns its size, or npos if `out` is too small.
  std::size_t format_allow(std::uint64_t mask, std::span<char> out) const noexcept {
    if (mask & bit(any_method)) mask |= common_methods_mask;
    if (mask & bit(get_id)) mask |= bit(head_id);
    if (options.answer_options) mask |= bit(options_id);
    std::size_t n = 0;
    for (std::uint8_t id : methods_by_name) {
      if (!(mask & bit(id))) continue;
      const std::string& name = methods[id];
      const std::size_t need = name.size() + (n > 0 ? 2 : 0);
      if (out.size() - n < need) return std::string_view::npos;
      if (n > 0) {
        out[n++] = ',';
        out[n++] = ' ';
      }
      std::memcpy(out.data() + n, name.data(), name.size());
      n += name.size();
    }
    return n;
  }
};

// One search of one tree for a request: a depth-first walk in precedence order that stops at the
// first route for the request's own method. Routes for GET (serving a HEAD request) and
// method-less routes are remembered on the way, the first of each kind, and used only when no
// route names the method: a conflict-free table guarantees a route naming the method is more
// specific than any method-less route that also matches.
class route_table::impl::searcher {
 public:
  searcher(const std::vector<node>& nodes, const impl& table, std::string_view path, bool escaped,
           std::uint8_t method, bool head) noexcept
      : nodes_(nodes),
        table_(table),
        path_(path),
        escaped_(escaped),
        method_(method),
        head_(head) {}

  // Searches the tree under `root`: the best route found, or nullptr. The result stays valid
  // until the next run().
  const candidate* run(std::uint32_t root) noexcept {
    want_ = bit(any_method);
    if (method_ != unknown_method) want_ |= bit(method_);
    if (head_) want_ |= bit(get_id);
    done_ = false;
    for (auto& f : found_) f.route = no_index;
    stack_.size = 0;
    if (nodes_[root].subtree_methods & want_) visit(root, 1);
    for (const auto& f : found_) {
      if (f.route != no_index) return &f;
    }
    return nullptr;
  }

 private:
  void visit(std::uint32_t at, std::size_t pos) noexcept {
    const node& n = nodes_[at];
    if (pos == std::string_view::npos) {
      if (n.end.methods & want_) offer(n.end, true);
      return;
    }
    const std::size_t end = segment_end(path_, pos);
    const auto segment = path_.substr(pos, end - pos);
    const auto next = end == path_.size() ? std::string_view::npos : end + 1;
    if (!n.literals.empty()) {
      const auto child = table_.literal_child(n, segment, escaped_);
      if (child != no_index && (nodes_[child].subtree_methods & want_)) {
        visit(child, next);
        if (done_) return;
      }
    }
    if (n.wildcard != no_index && !segment.empty() &&
        (nodes_[n.wildcard].subtree_methods & want_)) {
      push(pos, end);
      visit(n.wildcard, next);
      --stack_.size;
      if (done_) return;
    }
    if (n.multi.methods & want_) {
      push(pos, path_.size());
      offer(n.multi, pos == path_.size());
      --stack_.size;
    }
  }

  void push(std::size_t begin, std::size_t end) noexcept {
    stack_.begin[stack_.size] = static_cast<std::uint32_t>(begin);
    stack_.end[stack_.size] = static_cast<std::uint32_t>(end);
    ++stack_.size;
  }

  void offer(const leaf& l, bool exact) noexcept {
    if (method_ != unknown_method && (l.methods & bit(method_))) {
      record(found_[0], l.find(method_), exact);
      done_ = true;
      return;
    }
    if (head_ && (want_ & bit(get_id)) && (l.methods & bit(get_id))) {
      record(found_[1], l.find(get_id), exact);
      want_ &= ~(bit(get_id) | bit(any_method));
    } else if ((want_ & bit(any_method)) && (l.methods & bit(any_method))) {
      record(found_[2], l.any, exact);
      want_ &= ~bit(any_method);
    }
    if (want_ == 0) done_ = true;
  }

  void record(candidate& c, std::uint32_t route, bool exact) noexcept {
    c.route = route;
    c.exact = exact;
    c.values.size = stack_.size;
    std::copy_n(stack_.begin, stack_.size, c.values.begin);
    std::copy_n(stack_.end, stack_.size, c.values.end);
  }

  const std::vector<node>& nodes_;
  const impl& table_;
  std::string_view path_;
  bool escaped_;
  std::uint8_t method_;
  bool head_;
  std::uint64_t want_ = 0;
  bool done_ = false;
  candidate found_[3];  // the request's method, GET for HEAD, method-less
  captures stack_;
};

const std::error_category& route_category() noexcept {
  static const route_category_impl category;
  return category;
}

std::error_code make_error_code(route_errc code) noexcept {
  return {static_cast<int>(code), route_category()};
}

route_table::route_table(router_options options) : impl_(std::make_unique<impl>()) {
  impl_->options = options;
}
route_table::~route_table() = default;
route_table::route_table(route_table&&) noexcept = default;
route_table& route_table::operator=(route_table&&) noexcept = default;

std::size_t route_table::size() const noexcept {
  return impl_->routes.size();
}
std::string_view route_table::pattern(std::size_t index) const noexcept {
  return impl_->hot[index].text;
}
std::size_t route_table::id(std::size_t index) const noexcept {
  return impl_->hot[index].id;
}
const router_options& route_table::options() const noexcept {
  return impl_->options;
}

std::size_t route_table::scratch_size(std::size_t max_target) const noexcept {
  // A cleaned path plus decoded parameters (each at most the path), or a cleaned path plus a
  // redirect location (one more slash and the query) or the Allow value.
  return 2 * max_target + 2 + impl_->allow_capacity;
}

route_error route_table::add(std::string_view text, std::size_t id) {
  impl& t = *impl_;
  parsed_pattern pattern;
  if (auto error = parse_pattern(text, pattern)) return error;

  std::uint8_t method = any_method;
  bool new_method = false;
  if (!pattern.method.empty()) {
    method = t.method_id(pattern.method);
    if (method == unknown_method) {
      if (t.methods.size() >= max_methods) {
        return {route_errc::too_many_methods, "pattern " + quoted(text) +
                                                  " would be method number " +
                                                  std::to_string(max_methods + 1) + "; at most " +
                                                  std::to_string(max_methods) + " are supported"};
      }
      method = static_cast<std::uint8_t>(t.methods.size());
      new_method = true;
    }
  }

  for (const route_entry& other : t.routes) {
    if (other.pattern.host != pattern.host) continue;  // different hosts, or host beats no host
    const relation r =
        combine(compare_methods(pattern, other.pattern), compare_paths(pattern, other.pattern));
    if (r == relation::equivalent) {
      std::string message = "pattern " + quoted(text) + " conflicts with pattern " +
                            quoted(other.text) + ": they match the same requests";
      if (text == other.text) message = "pattern " + quoted(text) + " is already registered";
      return {route_errc::conflict, std::move(message)};
    }
    if (r == relation::overlaps) {
      return {route_errc::conflict, "pattern " + quoted(text) + " conflicts with pattern " +
                                        quoted(other.text) + ": both match " +
                                        quoted(example_request(pattern, other.pattern)) +
                                        " and neither is more specific"};
    }
  }

  // Everything that can throw happens before the first visible change (new empty nodes are
  // invisible: their method masks stay zero until mark_path).
  t.hot.reserve(t.hot.size() + 1);
  t.param_names.reserve(t.param_names.size() + pattern.elements.size() + 1);
  if (new_method) {
    t.methods.reserve(t.methods.size() + 1);
    t.methods_by_name.reserve(t.methods.size() + 1);
  }
  std::string stored_text(text);
  std::string method_name = pattern.method;
  const std::uint32_t at = t.make_path(pattern);
  leaf& target = pattern.multi ? t.nodes[at].multi : t.nodes[at].end;
  if (method != any_method) target.by_method.reserve(target.by_method.size() + 1);

  const auto route_index = static_cast<std::uint32_t>(t.routes.size());
  const route_entry& stored =
      t.routes.emplace_back(route_entry{std::move(stored_text), id, std::move(pattern), method});
  // No more throwing from here on.
  if (new_method) {
    t.methods.push_back(std::move(method_name));
    t.index_methods();
  }
  impl::hot_route hot{id, stored.text, static_cast<std::uint32_t>(t.param_names.size()), 0};
  for (const element& e : stored.pattern.elements) {
    if (e.kind == element_kind::wildcard) t.param_names.push_back(e.text);
  }
  if (!stored.pattern.multi_name.empty()) t.param_names.push_back(stored.pattern.multi_name);
  hot.names_count = static_cast<std::uint32_t>(t.param_names.size()) - hot.names_begin;
  t.hot.push_back(hot);
  if (method == any_method) {
    target.any = route_index;
  } else {
    target.by_method.emplace_back(method, route_index);
  }
  target.methods |= bit(method);
  t.mark_path(stored.pattern, method);
  const auto& elements = stored.pattern.elements;
  if (stored.pattern.multi) {
    t.slash_depths |= impl::depth_bit(elements.size());
  } else if (!elements.empty() && elements.back().kind == element_kind::literal &&
             elements.back().text.empty()) {
    t.slash_depths |= impl::depth_bit(elements.size() - 1);
  }
  return {};
}

route_status route_table::match(std::string_view method, std::string_view host,
                                std::string_view target, route_match& out) const noexcept {
  const impl& t = *impl_;
  out.scratch_used_ = 0;
  out.id_ = 0;
  out.pattern_ = {};
  out.path_ = {};
  out.query_ = {};
  out.location_ = {};
  out.allow_ = {};
  out.param_count_ = 0;

  const auto take = [&out](std::size_t n) noexcept -> char* {
    if (out.scratch_.size() - out.scratch_used_ < n) return nullptr;
    char* p = out.scratch_.data() + out.scratch_used_;
    out.scratch_used_ += n;
    return p;
  };
  const auto finish = [&out](route_status status) noexcept {
    out.status_ = status;
    return status;
  };
  const auto answer_allow = [&](std::uint64_t mask, route_status status) noexcept {
    const auto free = out.scratch_.subspan(out.scratch_used_);
    const std::size_t n = t.format_allow(mask, free);
    if (n == std::string_view::npos) return finish(route_status::uri_too_long);
    out.allow_ = std::string_view(free.data(), n);
    out.scratch_used_ += n;
    return finish(status);
  };
  bool absolute_form = false;
  if (!target.empty() && target.front() != '/' && target != "*") {
    if (const auto absolute = split_absolute_form(target)) {
      absolute_form = true;
      // RFC 9112 section 3.2.2: route by the path; the target's authority replaces the Host field.
      host = absolute->authority;
      target = absolute->path_and_query;
    } else if (method == "CONNECT") {
      // CONNECT's authority-form names a tunnel's far end, not a resource of this server: no
      // pattern routes it, so the answer is 405 with the methods the server does serve (like
      // "OPTIONS *", without CONNECT itself), or 404 when it serves nothing.
      std::uint64_t mask = t.nodes[0].subtree_methods;
      if (const std::uint32_t tree = t.host_root(target); tree != no_index) {
        mask |= t.nodes[tree].subtree_methods;
      }
      mask &= ~bit(connect_id);
      if (mask == 0) return finish(route_status::not_found);
      return answer_allow(mask, route_status::method_not_allowed);
    }
  }
  const std::uint32_t host_tree = t.host_root(host);

  if (target == "*") {
    // The asterisk-form is for OPTIONS only (RFC 9112 section 3.2.4).
    if (method != "OPTIONS") return finish(route_status::bad_request);
    if (!t.options.answer_options) return finish(route_status::not_found);
    std::uint64_t mask = t.nodes[0].subtree_methods;
    if (host_tree != no_index) mask |= t.nodes[host_tree].subtree_methods;
    return answer_allow(mask, route_status::options);
  }
  // An absolute-form target may have an empty path ("http://example.com?q"): it means "/".
  const bool empty_path = absolute_form && (target.empty() || target.front() == '?');
  if (!empty_path && (target.empty() || target.front() != '/'))
    return finish(route_status::bad_request);
  // Captures are 32-bit offsets; no sane request line comes near 4 GiB.
  if (target.size() > 0xFFFFFFFFu) return finish(route_status::uri_too_long);
  target_parts parts = split_target(target);
  if (empty_path) parts.path = "/";
  out.query_ = parts.query;
  const path_scan scan = scan_path(parts.path);
  if (!scan.valid) return finish(route_status::bad_request);

  std::string_view path = parts.path;
  const bool unclean = !scan.clean;
  if (unclean) {
    char* buffer = take(path.size() + 1);
    if (!buffer) return finish(route_status::uri_too_long);
    const auto cleaned = clean_path(path, {buffer, path.size() + 1});
    out.scratch_used_ -= path.size() + 1 - cleaned->size();
    path = *cleaned;
  }
  out.path_ = path;
  const bool escaped = scan.escaped;
  const std::uint8_t method_index = t.method_id(method);
  const bool head = method_index == head_id;

  // The host's routes first: a pattern with a host beats every pattern without one.
  const auto search = [&](impl::searcher& s) noexcept -> const candidate* {
    if (host_tree != no_index) {
      if (const candidate* found = s.run(host_tree)) return found;
    }
    return s.run(0);
  };
  // Writes `base` (plus a slash) and the query as a redirect location, reusing `base` in place
  // when it is the last thing in the scratch space.
  const auto redirect = [&](std::string_view base, bool add_slash) noexcept {
    const std::size_t size =
        base.size() + (add_slash ? 1 : 0) + (parts.has_query ? 1 + parts.query.size() : 0);
    char* start;
    const char* scratch_end = out.scratch_.data() + out.scratch_used_;
    if (!base.empty() && base.data() + base.size() == scratch_end) {
      start = const_cast<char*>(base.data());
      if (!take(size - base.size())) return finish(route_status::uri_too_long);
    } else {
      start = take(size);
      if (!start) return finish(route_status::uri_too_long);
      std::memcpy(start, base.data(), base.size());
    }
    std::size_t n = base.size();
    if (add_slash) start[n++] = '/';
    if (parts.has_query) {
      start[n++] = '?';
      std::memcpy(start + n, parts.query.data(), parts.query.size());
      n += parts.query.size();
    }
    // A location starting "/\" is read as "//host" by browsers: never emit a raw backslash (it
    // is not a valid path character anyway).
    if (std::string_view(start, base.size()).find('\\') != std::string_view::npos) {
      return finish(route_status::bad_request);
    }
    out.location_ = std::string_view(start, n);
    return finish(route_status::redirect);
  };

  impl::searcher searcher(t.nodes, t, path, escaped, method_index, head);
  const candidate* best = search(searcher);
  // A path of k segments ("/a/b": k = 2) has k slashes; "<path>/" can only match exactly a
  // route counted in slash_depths at k.
  const auto slash_probe_may_match = [&]() noexcept {
    const std::size_t k = static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
    return (t.slash_depths & impl::depth_bit(k)) != 0;
  };
  if (t.options.redirect_trailing_slash && (!best || !best->exact) && path.back() != '/' &&
      slash_probe_may_match()) {
    // Would "<path>/" match exactly (a route for the directory itself)? Then send the client
    // there, as Go does for subtrees.
    const std::size_t mark = out.scratch_used_;
    char* probe_start;
    const bool in_place = path.data() + path.size() == out.scratch_.data() + out.scratch_used_;
    if (in_place) {
      if (!take(1)) return finish(route_status::uri_too_long);
      probe_start = const_cast<char*>(path.data());
    } else {
      probe_start = take(path.size() + 1);
      if (!probe_start) return finish(route_status::uri_too_long);
      std::memcpy(probe_start, path.data(), path.size());
    }
    probe_start[path.size()] = '/';
    const std::string_view probe(probe_start, path.size() + 1);
    impl::searcher probe_searcher(t.nodes, t, probe, escaped, method_index, head);
    const candidate* with_slash = search(probe_searcher);
    if (with_slash && with_slash->exact) return redirect(probe, false);
    out.scratch_used_ = mark;
  }
  if (unclean && t.options.redirect_unclean_paths) return redirect(path, false);

  if (best) {
    const impl::hot_route& r = t.hot[best->route];
    out.id_ = r.id;
    out.pattern_ = r.text;
    std::size_t value = 0;
    const auto add_param = [&](std::string_view name) noexcept {
      const std::string_view raw = path.substr(best->values.begin[value],
                                               best->values.end[value] - best->values.begin[value]);
      ++value;
      std::string_view decoded = raw;
      if (raw.find('%') != std::string_view::npos) {
        const std::size_t size = detail::decoded_size(raw);
        char* buffer = take(size);
        if (!buffer) return false;
        decoded = *percent_decode(raw, {buffer, size});
      }
      out.params_[out.param_count_++] = {name, decoded, raw};
      return true;
    };
    // An anonymous tail ("/static/") captured the rest too, last: it simply has no name here.
    for (std::uint32_t i = 0; i < r.names_count; ++i) {
      if (!add_param(t.param_names[r.names_begin + i])) return finish(route_status::uri_too_long);
    }
    return finish(route_status::matched);
  }

  // RFC 9110 section 9.1: a method the server does not recognise is 501, not 405 or 404 (a
  // method-less pattern, which takes any method, has matched above if there is one).
  if (method_index == unknown_method) return finish(route_status::not_implemented);
  std::uint64_t mask = 0;
  if (host_tree != no_index) t.collect_methods(host_tree, path, 1, escaped, mask);
  t.collect_methods(0, path, 1, escaped, mask);
  if (mask == 0) return finish(route_status::not_found);
  if (method == "OPTIONS" && t.options.answer_options) {
    return answer_allow(mask, route_status::options);
  }
  return answer_allow(mask, route_status::method_not_allowed);
}

}  // namespace taut
