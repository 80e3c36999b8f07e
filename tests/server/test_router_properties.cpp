// RapidCheck properties of the router, checked against a brute-force reference written straight
// from the ServeMux rules: no tree, no relation algebra. "More specific" is decided by comparing
// the sets of requests two patterns match over a finite universe of requests that is rich enough
// to tell every generated pattern apart (segments a, b, another one, and an empty last one; paths
// one segment longer than the longest pattern).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "taut/path.hpp"
#include "taut/router.hpp"

namespace {

// ----- the reference ---------------------------------------------------------------------------

struct ref_element {
  bool wildcard = false;
  std::string text;  // decoded literal ("" for {$}) or wildcard name
};

struct ref_pattern {
  std::string text;
  std::string method;  // "" = any
  std::string host;    // lower case, "" = any
  std::vector<ref_element> elements;
  bool multi = false;
  std::string multi_name;
};

std::string decode(std::string_view raw) {
  std::string out(raw.size(), '\0');
  const auto decoded = taut::percent_decode(raw, out);
  RC_ASSERT(decoded.has_value());
  return std::string(*decoded);
}

std::vector<std::string> split_segments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (true) {
    const auto slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.emplace_back(path.substr(start));
      return out;
    }
    out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

// Go's cleanPath, decoding each segment only to recognise dot segments.
std::string reference_clean(std::string_view path) {
  std::vector<std::string> kept;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    const std::string segment(path.substr(start, slash - start));
    start = slash + 1;
    if (segment.empty()) continue;
    std::string value(segment.size(), '\0');
    const auto decoded = taut::percent_decode(segment, value);
    if (decoded && *decoded == ".") continue;
    if (decoded && *decoded == "..") {
      if (!kept.empty()) kept.pop_back();
      continue;
    }
    kept.push_back(segment);
  }
  std::string out;
  for (const auto& s : kept) out += "/" + s;
  if (out.empty() || (!path.empty() && path.back() == '/')) out += "/";
  return out;
}

bool method_matches(const ref_pattern& p, std::string_view method) {
  return p.method.empty() || p.method == method || (p.method == "GET" && method == "HEAD");
}

std::string request_host(std::string_view host) {
  std::string out;
  for (char c : host.substr(0, host.find(':'))) out += static_cast<char>(std::tolower(c));
  return out;
}

bool host_matches(const ref_pattern& p, std::string_view host) {
  return p.host.empty() || p.host == request_host(host);
}

struct path_match {
  bool exact = false;
  std::vector<std::pair<std::string, std::string>> params;
};

// `segments` are the raw (escaped) segments of a clean path.
std::optional<path_match> match_path(const ref_pattern& p,
                                     const std::vector<std::string>& segments) {
  const std::size_t k = p.elements.size();
  const std::size_t n = segments.size();
  if (p.multi ? n < k + 1 : n != k) return std::nullopt;
  path_match m;
  for (std::size_t i = 0; i < k; ++i) {
    const std::string value = decode(segments[i]);
    if (p.elements[i].wildcard) {
      if (value.empty()) return std::nullopt;
      m.params.emplace_back(p.elements[i].text, value);
    } else if (p.elements[i].text != value) {
      return std::nullopt;
    }
  }
  m.exact = true;
  if (p.multi) {
    std::string rest;
    for (std::size_t i = k; i < n; ++i) rest += (i > k ? "/" : "") + segments[i];
    m.exact = rest.empty();
    if (!p.multi_name.empty()) m.params.emplace_back(p.multi_name, decode(rest));
  }
  return m;
}

// The finite universe of requests used to compare patterns as sets.
struct universe_request {
  std::string method;
  std::string host;
  std::vector<std::string> segments;
};

const std::vector<universe_request>& universe() {
  static const std::vector<universe_request> requests = [] {
    std::vector<std::vector<std::string>> paths;
    std::vector<std::vector<std::string>> prefixes = {{}};
    for (int length = 1; length <= 4; ++length) {
      for (const auto& prefix : prefixes) {
        for (const char* last : {"a", "b", "z", ""}) {
          auto path = prefix;
          path.emplace_back(last);
          paths.push_back(path);
        }
      }
      std::vector<std::vector<std::string>> longer;
      for (const auto& prefix : prefixes) {
        for (const char* s : {"a", "b", "z"}) {
          auto p = prefix;
          p.emplace_back(s);
          longer.push_back(p);
        }
      }
      prefixes = longer;
    }
    std::vector<universe_request> out;
    for (const char* method : {"GET", "HEAD", "POST", "PUT", "OTHER"}) {
      for (const char* host : {"", "h1", "h2", "hx"}) {
        for (const auto& path : paths) out.push_back({method, host, path});
      }
    }
    return out;
  }();
  return requests;
}

std::vector<bool> request_set(const ref_pattern& p) {
  std::vector<bool> set;
  for (const auto& r : universe()) {
    set.push_back(method_matches(p, r.method) && host_matches(p, r.host) &&
                  match_path(p, r.segments).has_value());
  }
  return set;
}

bool strict_subset(const std::vector<bool>& a, const std::vector<bool>& b) {
  bool smaller = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] && !b[i]) return false;
    if (b[i] && !a[i]) smaller = true;
  }
  return smaller;
}

bool intersects(const std::vector<bool>& a, const std::vector<bool>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] && b[i]) return true;
  }
  return false;
}

struct registered {
  ref_pattern pattern;
  std::vector<bool> set;
};

struct best_match {
  std::size_t index = 0;
  path_match match;
};

// The most specific accepted pattern matching the request, found by brute force.
std::optional<best_match> reference_best(const std::vector<registered>& routes,
                                         std::string_view method, std::string_view host,
                                         std::string_view clean_path) {
  const auto segments = split_segments(clean_path);
  std::vector<best_match> candidates;
  bool with_host = false;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto& p = routes[i].pattern;
    if (!method_matches(p, method) || !host_matches(p, host)) continue;
    if (auto m = match_path(p, segments)) {
      candidates.push_back({i, *m});
      with_host = with_host || !p.host.empty();
    }
  }
  if (with_host) {  // a pattern with a host beats every pattern without one
    std::erase_if(candidates,
                  [&](const best_match& c) { return routes[c.index].pattern.host.empty(); });
  }
  std::optional<best_match> best;
  for (const auto& c : candidates) {
    bool below_all = true;
    for (const auto& other : candidates) {
      if (other.index != c.index && !strict_subset(routes[c.index].set, routes[other.index].set)) {
        below_all = false;
      }
    }
    if (below_all) {
      RC_ASSERT(!best.has_value());  // a conflict-free table has one most specific pattern
      best = c;
    }
  }
  RC_ASSERT(candidates.empty() || best.has_value());
  return best;
}

struct expected_answer {
  taut::route_status status = taut::route_status::not_found;
  std::size_t index = 0;
  std::vector<std::pair<std::string, std::string>> params;
  std::string location;
  std::string allow;
};

expected_answer reference_route(const std::vector<registered>& routes, std::string_view method,
                                std::string_view host, std::string_view target) {
  expected_answer answer;
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string query_suffix =
      question == std::string_view::npos ? "" : std::string(target.substr(question));
  if (!taut::valid_percent_escapes(path)) {
    answer.status = taut::route_status::bad_request;
    return answer;
  }
  const std::string clean = reference_clean(path);
  const auto best = reference_best(routes, method, host, clean);
  if ((!best || !best->match.exact) && clean.back() != '/') {
    const auto slashed = reference_best(routes, method, host, clean + "/");
    if (slashed && slashed->match.exact) {
      answer.status = taut::route_status::redirect;
      answer.location = clean + "/" + query_suffix;
      return answer;
    }
  }
  if (clean != path) {
    answer.status = taut::route_status::redirect;
    answer.location = clean + query_suffix;
    return answer;
  }
  if (best) {
    answer.status = taut::route_status::matched;
    answer.index = best->index;
    answer.params = best->match.params;
    return answer;
  }
  std::set<std::string> allowed;
  const auto segments = split_segments(clean);
  for (const auto& r : routes) {
    if (host_matches(r.pattern, host) && match_path(r.pattern, segments)) {
      allowed.insert(r.pattern.method);
    }
  }
  if (allowed.empty()) return answer;
  if (allowed.count("GET")) allowed.insert("HEAD");
  allowed.insert("OPTIONS");
  for (const auto& m : allowed) answer.allow += (answer.allow.empty() ? "" : ", ") + m;
  answer.status =
      method == "OPTIONS" ? taut::route_status::options : taut::route_status::method_not_allowed;
  return answer;
}

// ----- generators ----------------------------------------------------------------------------

rc::Gen<ref_pattern> gen_pattern() {
  return rc::gen::exec([] {
    ref_pattern p;
    p.method = *rc::gen::weightedElement<std::string>(
        {{4, ""}, {2, "GET"}, {1, "HEAD"}, {2, "POST"}, {1, "PUT"}});
    const std::string host_text =
        *rc::gen::weightedElement<std::string>({{6, ""}, {1, "h1"}, {1, "H1"}, {1, "h2"}});
    p.host = request_host(host_text);
    const int count = *rc::gen::inRange(0, 3);
    std::string path;
    for (int i = 0; i < count; ++i) {
      ref_element e;
      const int kind = *rc::gen::inRange(0, 5);
      if (kind == 0) {
        e.wildcard = true;
        e.text = "w" + std::to_string(i);
        path += "/{" + e.text + "}";
      } else {
        e.text = kind <= 2 ? "a" : "b";
        path += "/" + std::string(kind == 1 ? "%61" : e.text);  // escaped literals are literals
      }
      p.elements.push_back(e);
    }
    const int tail = *rc::gen::inRange(0, 4);  // end, trailing slash, {rest...}, {$}
    if (tail == 1 || (tail == 0 && count == 0)) {
      p.multi = true;
      path += "/";
    } else if (tail == 2) {
      p.multi = true;
      p.multi_name = "rest";
      path += "/{rest...}";
    } else if (tail == 3) {
      p.elements.push_back({false, ""});
      path += "/{$}";
    }
    p.text = (p.method.empty() ? "" : p.method + " ") + host_text + path;
    return p;
  });
}

struct generated_request {
  std::string method;
  std::string host;
  std::string target;
};

rc::Gen<generated_request> gen_request() {
  return rc::gen::exec([] {
    generated_request r;
    r.method = *rc::gen::element<std::string>("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS");
    r.host = *rc::gen::weightedElement<std::string>(
        {{4, ""}, {2, "h1"}, {1, "H1:8080"}, {1, "h2"}, {1, "h3"}});
    const int count = *rc::gen::inRange(1, 6);
    for (int i = 0; i < count; ++i) {
      r.target += "/" + *rc::gen::weightedElement<std::string>({{6, "a"},
                                                                {6, "b"},
                                                                {3, "z"},
                                                                {2, "%61"},
                                                                {2, ""},
                                                                {1, "."},
                                                                {1, ".."},
                                                                {1, "%2e%2E"},
                                                                {1, "b%2Fz"},
                                                                {1, "%7a%20"},
                                                                {1, "%zz"}});
    }
    if (*rc::gen::inRange(0, 4) == 0) r.target += "?q=1";
    return r;
  });
}

std::string describe(const std::vector<registered>& routes) {
  std::string out;
  for (const auto& r : routes) out += "\n  " + r.pattern.text;
  return out;
}

// ----- properties ------------------------------------------------------------------------------

RC_GTEST_PROP(RouterProperties, RefusesExactlyTheConflictingPatterns, ()) {
  const auto patterns = *rc::gen::container<std::vector<ref_pattern>>(
      *rc::gen::inRange<std::size_t>(1, 10), gen_pattern());
  taut::route_table table;
  std::vector<registered> accepted;
  for (const auto& p : patterns) {
    const registered candidate{p, request_set(p)};
    std::optional<std::string> conflict_with;
    for (const auto& q : accepted) {
      if (q.pattern.host != p.host) continue;
      if (intersects(candidate.set, q.set) && !strict_subset(candidate.set, q.set) &&
          !strict_subset(q.set, candidate.set)) {
        conflict_with = q.pattern.text;
      }
    }
    const auto error = table.add(p.text, accepted.size());
    if (conflict_with) {
      RC_ASSERT(error.code() == taut::route_errc::conflict);
      RC_ASSERT(error.message().find("\"" + p.text + "\"") != std::string::npos);
    } else {
      if (error) RC_FAIL(error.message() + describe(accepted));
      accepted.push_back(candidate);
    }
  }
  RC_ASSERT(table.size() == accepted.size());
}

RC_GTEST_PROP(RouterProperties, ChoosesTheMostSpecificPatternAndListsAllowedMethods, ()) {
  const auto patterns = *rc::gen::container<std::vector<ref_pattern>>(
      *rc::gen::inRange<std::size_t>(1, 12), gen_pattern());
  taut::route_table table;
  std::vector<registered> accepted;
  for (const auto& p : patterns) {
    if (!table.add(p.text, accepted.size())) accepted.push_back({p, request_set(p)});
  }
  const auto requests = *rc::gen::container<std::vector<generated_request>>(
      *rc::gen::inRange<std::size_t>(1, 20), gen_request());
  taut::inline_route_match<> match;
  for (const auto& r : requests) {
    const auto want = reference_route(accepted, r.method, r.host, r.target);
    const auto got = table.match(r.method, r.host, r.target, match);
    RC_LOG() << r.method << " " << r.host << r.target << describe(accepted) << "\n";
    RC_ASSERT(static_cast<int>(got) == static_cast<int>(want.status));
    switch (got) {
      case taut::route_status::matched: {
        RC_ASSERT(match.id() == want.index);
        RC_ASSERT(match.params().size() == want.params.size());
        const auto path = match.path();
        for (std::size_t i = 0; i < want.params.size(); ++i) {
          const auto& param = match.params()[i];
          RC_ASSERT(std::string(param.name) == want.params[i].first);
          RC_ASSERT(std::string(param.value) == want.params[i].second);
          // Every parameter comes from the path.
          RC_ASSERT(param.raw.data() >= path.data());
          RC_ASSERT(param.raw.data() + param.raw.size() <= path.data() + path.size());
          RC_ASSERT(decode(param.raw) == std::string(param.value));
        }
        break;
      }
      case taut::route_status::redirect:
        RC_ASSERT(std::string(match.location()) == want.location);
        break;
      case taut::route_status::method_not_allowed:
      case taut::route_status::options:
        RC_ASSERT(std::string(match.allow()) == want.allow);
        break;
      default:
        break;
    }
  }
}

RC_GTEST_PROP(RouterProperties, ServesHeadWithGetRoutes, ()) {
  // Whatever the table, a HEAD request gets the GET answer unless a HEAD route is more specific.
  const auto patterns = *rc::gen::container<std::vector<ref_pattern>>(
      *rc::gen::inRange<std::size_t>(1, 10), gen_pattern());
  taut::route_table table;
  bool has_head_route = false;
  for (const auto& p : patterns) {
    if (!table.add(p.text, table.size())) has_head_route = has_head_route || p.method == "HEAD";
  }
  RC_PRE(!has_head_route);
  const auto r = *gen_request();
  taut::inline_route_match<> get;
  taut::inline_route_match<> head;
  const auto get_status = table.match("GET", r.host, r.target, get);
  const auto head_status = table.match("HEAD", r.host, r.target, head);
  RC_ASSERT(get_status == head_status);
  RC_ASSERT(get.id() == head.id());
  RC_ASSERT(get.location() == head.location());
  RC_ASSERT(get.allow() == head.allow());
}

RC_GTEST_PROP(PathProperties, CleanPathIsGoCleanPathAndIdempotent, ()) {
  const auto segments = *rc::gen::container<std::vector<std::string>>(
      rc::gen::element<std::string>("", "a", "bc", ".", "..", "%2e", "%2E%2e", ".%2e.", "%2F"));
  std::string path;
  for (const auto& s : segments) path += "/" + s;
  if (*rc::gen::arbitrary<bool>()) path += "/";
  if (*rc::gen::arbitrary<bool>() && !path.empty()) path.erase(0, 1);

  std::string buffer(path.size() + 1, '\0');
  const auto cleaned = taut::clean_path(path, buffer);
  RC_ASSERT(cleaned.has_value());
  const std::string clean(*cleaned);
  RC_ASSERT(clean == reference_clean(path));
  RC_ASSERT(taut::is_clean_path(clean));
  RC_ASSERT(taut::is_clean_path(path) == (clean == path));
  RC_ASSERT(clean.find("//") == std::string::npos);
  for (const auto& s : split_segments(clean)) {
    RC_ASSERT(taut::classify_segment(s) == taut::dot_segment::none);
  }
  std::string again(clean.size() + 1, '\0');
  RC_ASSERT(std::string(*taut::clean_path(clean, again)) == clean);
}

RC_GTEST_PROP(PathProperties, PercentDecodeInvertsEncoding, (const std::string& text)) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string encoded;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (*rc::gen::arbitrary<bool>() || c == '%') {
      encoded += '%';
      encoded += hex[u >> 4];
      encoded += hex[u & 0xF];
    } else {
      encoded += c;
    }
  }
  RC_ASSERT(taut::valid_percent_escapes(encoded));
  std::string out(encoded.size(), '\0');
  const auto decoded = taut::percent_decode(encoded, out);
  RC_ASSERT(decoded.has_value());
  RC_ASSERT(std::string(*decoded) == text);
}

}  // namespace
