// Routing speed: ns per route_table::match over tables of 100 and 1000 REST-like routes (five per
// resource: list, create, read, update, a nested read), with requests spread over every route.
// Extra cases time the answers that do more work: 404, 405 (Allow list), escaped parameters and
// a redirect for an unclean path.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "taut/router.hpp"

namespace {

constexpr std::array<std::string_view, 40> nouns = {
    "users",    "orders",  "products", "invoices", "payments", "customers", "accounts",
    "sessions", "teams",   "projects", "issues",   "comments", "labels",    "releases",
    "builds",   "deploys", "servers",  "volumes",  "networks", "images",    "secrets",
    "webhooks", "events",  "alerts",   "metrics",  "reports",  "exports",   "imports",
    "tags",     "files",   "folders",  "shares",   "devices",  "locations", "shipments",
    "carts",    "coupons", "reviews",  "messages", "channels"};
constexpr std::array<std::string_view, 5> prefixes = {"api/v1", "api/v2", "admin", "internal",
                                                      "partner"};

struct request {
  std::string method;
  std::string target;
};

struct fixture {
  taut::route_table table;
  std::vector<request> requests;  // one per route, with concrete values
};

// `resources` resources of five routes each.
fixture make_fixture(std::size_t resources) {
  fixture f;
  std::mt19937 random(42);
  std::size_t id = 0;
  for (std::size_t r = 0; r < resources; ++r) {
    const std::string base =
        "/" + std::string(prefixes[r / nouns.size()]) + "/" + std::string(nouns[r % nouns.size()]);
    const auto add = [&](std::string_view method, const std::string& pattern,
                         const std::string& target) {
      if (f.table.add(std::string(method) + " " + pattern, id++)) std::abort();
      f.requests.push_back({std::string(method), target});
    };
    const std::string item = std::to_string(random() % 100000);
    add("GET", base, base);
    add("POST", base, base);
    add("GET", base + "/{id}", base + "/" + item);
    add("PUT", base + "/{id}", base + "/" + item);
    add("GET", base + "/{id}/events/{event}", base + "/" + item + "/events/" + item + "7");
  }
  std::shuffle(f.requests.begin(), f.requests.end(), random);
  return f;
}

const fixture& fixture_for(std::size_t routes) {
  static const fixture small = make_fixture(20);
  static const fixture large = make_fixture(200);
  return routes == 100 ? small : large;
}

void report(benchmark::State& state) {
  state.counters["ns/match"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["routes"] = static_cast<double>(state.range(0));
}

// Every route in turn, shuffled: the typical mix of literal and wildcard segments.
void BM_Match(benchmark::State& state) {
  const fixture& f = fixture_for(static_cast<std::size_t>(state.range(0)));
  taut::inline_route_match<> match;
  std::size_t i = 0;
  for (auto _ : state) {
    const request& r = f.requests[i];
    i = i + 1 == f.requests.size() ? 0 : i + 1;
    benchmark::DoNotOptimize(f.table.match(r.method, "", r.target, match));
    benchmark::DoNotOptimize(match.params().data());
  }
  report(state);
}

// One request, repeated: the best case (everything in cache, branch predictors trained).
void BM_MatchSame(benchmark::State& state) {
  const fixture& f = fixture_for(static_cast<std::size_t>(state.range(0)));
  taut::inline_route_match<> match;
  const request& r = f.requests.front();
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.table.match(r.method, "", r.target, match));
  }
  report(state);
}

void run_fixed(benchmark::State& state, std::string_view method, std::string_view target,
               taut::route_status expected) {
  const fixture& f = fixture_for(static_cast<std::size_t>(state.range(0)));
  taut::inline_route_match<> match;
  if (f.table.match(method, "", target, match) != expected) {
    state.SkipWithError("unexpected route status");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.table.match(method, "", target, match));
  }
  report(state);
}

void BM_NotFound(benchmark::State& state) {
  run_fixed(state, "GET", "/api/v1/nothing/here/at/all", taut::route_status::not_found);
}

void BM_MethodNotAllowed(benchmark::State& state) {
  run_fixed(state, "PATCH", "/api/v1/users/123", taut::route_status::method_not_allowed);
}

void BM_EscapedParams(benchmark::State& state) {
  run_fixed(state, "GET", "/api/v1/users/J%C3%BCrgen%20M/events/%31%32",
            taut::route_status::matched);
}

void BM_RedirectUnclean(benchmark::State& state) {
  run_fixed(state, "GET", "/api/v1//users/./123/../123?x=1", taut::route_status::redirect);
}

BENCHMARK(BM_Match)->Arg(100)->Arg(1000);
BENCHMARK(BM_MatchSame)->Arg(100)->Arg(1000);
BENCHMARK(BM_NotFound)->Arg(100)->Arg(1000);
BENCHMARK(BM_MethodNotAllowed)->Arg(100)->Arg(1000);
BENCHMARK(BM_EscapedParams)->Arg(100)->Arg(1000);
BENCHMARK(BM_RedirectUnclean)->Arg(100)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
