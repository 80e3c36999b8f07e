// taut-bench: taut's request and response parsers against their peers, on the same inputs, in one
// run.
//
// Usage: taut-bench [--markdown] [--markdown-out=FILE] [--throughput-out=FILE] [--data=DIR]
//                   [Google Benchmark flags, e.g. --benchmark_filter=typical]
// Google Benchmark's report comes first, then the table of taut against each peer, then one line
// per input and peer: `ratio <input> <peer> <x>`, x = taut's throughput (strict, best path) / the
// peer's. Exits with 1 when a benchmark failed (a parser's output on an input was wrong), so a
// quick run (--benchmark_min_time=0.001) doubles as a check that every parser reads every input.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "inputs.hpp"
#include "paths.hpp"
#include "results.hpp"
#include "subject.hpp"

namespace taut_bench {

namespace {

struct options {
  bool markdown = false;
  std::string markdown_out;
  std::string throughput_out;
  std::string data_dir = TAUT_BENCH_DATA_DIR;
};

double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

bool take_value(std::string_view arg, std::string_view flag, std::string& value) {
  if (arg.substr(0, flag.size()) != flag || arg.size() <= flag.size() || arg[flag.size()] != '=') {
    return false;
  }
  value = std::string(arg.substr(flag.size() + 1));
  return true;
}

// Removes taut-bench's own flags from argv, so Google Benchmark sees only its own.
options take_own_flags(int& argc, char** argv) {
  options o;
  if (const char* dir = std::getenv("TAUT_BENCH_DATA")) o.data_dir = dir;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--markdown") {
      o.markdown = true;
    } else if (take_value(arg, "--markdown-out", o.markdown_out) ||
               take_value(arg, "--throughput-out", o.throughput_out) ||
               take_value(arg, "--data", o.data_dir)) {
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: taut-bench [--markdown] [--markdown-out=FILE] [--throughput-out=FILE]\n"
                   "                  [--data=DIR] [Google Benchmark flags]\n"
                   "  --markdown            print the closing table as Markdown\n"
                   "  --markdown-out=FILE   also write the Markdown table to FILE\n"
                   "  --throughput-out=FILE write GB/s per input and parser (TSV) for the chart\n"
                   "  --data=DIR            inputs directory (default " TAUT_BENCH_DATA_DIR
                   ", or $TAUT_BENCH_DATA)\n\n";
      argv[kept++] = argv[i];  // and Google Benchmark's own help after ours
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  return o;
}

// A subject under test, and for taut's the code path to switch to before measuring it.
struct entry {
  subject* s;
  const code_path* path;
};

using verify_fn = std::function<std::string(subject&)>;  // empty string: the output is right
using body_fn = std::function<void(benchmark::State&, subject&)>;

class registry {
 public:
  explicit registry(results& sink) : sink_(sink) {}

  // Registers `<input>/<subject>`: check once, then time `body`. Every iteration processes
  // `items` requests (or bodies) of `bytes` bytes in all.
  void add(const std::string& input, const entry& e, double items, double bytes, verify_fn verify,
           body_fn body, bool manual_time = false) {
    const std::string name = input + "/" + e.s->name();
    sink_.declare(name, input, e.s->name(), items, bytes);
    auto* b = benchmark::RegisterBenchmark(
        name.c_str(), [e, items, bytes, verify, body](benchmark::State& state) {
          if (e.path != nullptr && !e.path->activate()) {
            state.SkipWithError("this code path is not available here");
            return;
          }
          if (const std::string wrong = verify(*e.s); !wrong.empty()) {
            state.SkipWithError(wrong.c_str());
            return;
          }
          body(state, *e.s);
          const auto iterations = static_cast<double>(state.iterations());
          state.SetItemsProcessed(static_cast<std::int64_t>(iterations * items));
          state.SetBytesProcessed(static_cast<std::int64_t>(iterations * bytes));
          state.counters["time/req"] = benchmark::Counter(
              iterations * items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
        });
    if (manual_time) b->UseManualTime();
  }

 private:
  results& sink_;
};

std::string check(head_summary got, head_summary want, const char* what) {
  if (got == want) return {};
  return std::string(what) + ": parsed " + std::to_string(got.head_size) + " bytes and " +
         std::to_string(got.headers) + " fields, expected " + std::to_string(want.head_size) +
         " and " + std::to_string(want.headers);
}

void register_heads(registry& r, const entry& e, const std::string& input, std::string_view head) {
  const head_summary want = expected_summary(head);
  r.add(
      input, e, 1, static_cast<double>(head.size()),
      [head, want](subject& s) { return check(s.parse(head), want, "parse"); },
      [head](benchmark::State& state, subject& s) {
        for (auto _ : state) {
          head_summary got = s.parse(head);
          benchmark::DoNotOptimize(got);
        }
      });
}

void register_response_heads(registry& r, const entry& e, const std::string& input,
                             std::string_view head) {
  const head_summary want = expected_summary(head);
  r.add(
      input, e, 1, static_cast<double>(head.size()),
      [head, want](subject& s) { return check(s.parse_response(head), want, "parse_response"); },
      [head](benchmark::State& state, subject& s) {
        for (auto _ : state) {
          head_summary got = s.parse_response(head);
          benchmark::DoNotOptimize(got);
        }
      });
}

// The response inputs, for the subjects that parse responses: a client's, a proxy's or a load
// balancer's side of the connection.
void register_responses(registry& r, const corpus& c, const entry& e) {
  if (!e.s->parses_responses()) return;
  register_response_heads(r, e, "resp-small", c.resp_small);
  register_response_heads(r, e, "resp-typical", c.resp_typical);
  register_response_heads(r, e, "resp-large", c.resp_large);
  const std::string_view stream = c.resp_pipelined;
  const std::size_t count = c.resp_pipelined_count;
  r.add(
      "resp-pipelined", e, static_cast<double>(count), static_cast<double>(stream.size()),
      [stream, count](subject& s) {
        const std::size_t got = s.parse_response_pipelined(stream);
        return got == count ? std::string()
                            : "parsed " + std::to_string(got) + " of " + std::to_string(count) +
                                  " pipelined responses";
      },
      [stream](benchmark::State& state, subject& s) {
        for (auto _ : state) benchmark::DoNotOptimize(s.parse_response_pipelined(stream));
      });
}

void register_all(registry& r, const corpus& c, const entry& e) {
  register_heads(r, e, "tiny", c.tiny);
  register_heads(r, e, "typical", c.typical);
  register_heads(r, e, "large", c.large);

  double rotating_bytes = 0;
  for (const head_input& h : c.rotating) rotating_bytes += static_cast<double>(h.bytes.size());
  r.add(
      "rotating", e, static_cast<double>(c.rotating.size()), rotating_bytes,
      [&c](subject& s) {
        for (std::size_t i = 0; i < c.rotating.size(); ++i) {
          const std::string wrong = check(s.parse(c.rotating[i].bytes), c.rotating[i].expected,
                                          ("request " + std::to_string(i)).c_str());
          if (!wrong.empty()) return wrong;
        }
        return std::string();
      },
      [&c](benchmark::State& state, subject& s) {
        for (auto _ : state) {
          for (const head_input& h : c.rotating) {
            head_summary got = s.parse(h.bytes);
            benchmark::DoNotOptimize(got);
          }
        }
      });

  const std::string_view stream = c.pipelined;
  const std::size_t count = c.pipelined_count;
  r.add(
      "pipelined", e, static_cast<double>(count), static_cast<double>(stream.size()),
      [stream, count](subject& s) {
        const std::size_t got = s.parse_pipelined(stream);
        return got == count ? std::string()
                            : "parsed " + std::to_string(got) + " of " + std::to_string(count) +
                                  " pipelined requests";
      },
      [stream](benchmark::State& state, subject& s) {
        for (auto _ : state) benchmark::DoNotOptimize(s.parse_pipelined(stream));
      });

  const std::string_view typical = c.typical;
  const head_summary want = expected_summary(typical);
  r.add(
      "typical-bytewise", e, 1, static_cast<double>(typical.size()),
      [typical, want](subject& s) {
        return check(s.parse_bytewise(typical), want, "1 byte at a time");
      },
      [typical](benchmark::State& state, subject& s) {
        for (auto _ : state) {
          head_summary got = s.parse_bytewise(typical);
          benchmark::DoNotOptimize(got);
        }
      });

  const double splits = static_cast<double>(typical.size() - 1);
  r.add(
      "typical-split", e, splits, splits * static_cast<double>(typical.size()),
      [typical, want](subject& s) {
        for (std::size_t split = 1; split < typical.size(); ++split) {
          const std::string wrong = check(s.parse_split(typical, split), want,
                                          ("split at " + std::to_string(split)).c_str());
          if (!wrong.empty()) return wrong;
        }
        return std::string();
      },
      [typical](benchmark::State& state, subject& s) {
        for (auto _ : state) {
          for (std::size_t split = 1; split < typical.size(); ++split) {
            head_summary got = s.parse_split(typical, split);
            benchmark::DoNotOptimize(got);
          }
        }
      });

  const std::pair<const char*, const chunked_input*> chunked[] = {
      {"chunked-small", &c.chunked_small}, {"chunked-16k", &c.chunked_16k}};
  for (const auto& [name, input] : chunked) {
    const chunked_input* in = input;
    const auto decoded_size = static_cast<std::int64_t>(in->decoded.size());
    const auto body_bytes = static_cast<double>(in->body().size());
    if (e.s->decodes_chunked()) {
      r.add(
          std::string(name) + "-stream", e, 1, body_bytes,
          [in, decoded_size](subject& s) {
            const std::int64_t got = s.decode_chunked(in->message, in->head_size);
            return got == decoded_size ? std::string()
                                       : "decoded " + std::to_string(got) + " bytes, expected " +
                                             std::to_string(decoded_size);
          },
          [in](benchmark::State& state, subject& s) {
            for (auto _ : state)
              benchmark::DoNotOptimize(s.decode_chunked(in->message, in->head_size));
          });
    }
    if (e.s->decodes_chunked_in_place()) {
      // Each iteration decodes fresh copies of the body, about 1.5 MiB of them (so the clock's cost
      // is lost in the work), and times the decoding alone, in CPU time of this thread: the
      // copies are made outside the timed part, and other processes do not count.
      const std::size_t size = in->body().size();
      const std::size_t batch = std::max<std::size_t>(1, (std::size_t{3} << 19) / size);
      r.add(
          std::string(name) + "-inplace", e, static_cast<double>(batch),
          static_cast<double>(batch) * body_bytes,
          [in](subject& s) {
            std::vector<char> work(in->body().begin(), in->body().end());
            const std::int64_t got = s.decode_chunked_in_place(work);
            if (got != static_cast<std::int64_t>(in->decoded.size()) ||
                std::memcmp(work.data(), in->decoded.data(), in->decoded.size()) != 0) {
              return "in-place decoding produced " + std::to_string(got) + " wrong bytes";
            }
            return std::string();
          },
          [in, size, batch](benchmark::State& state, subject& s) {
            std::vector<char> work(batch * size);
            for (auto _ : state) {
              for (std::size_t i = 0; i < batch; ++i) {
                std::memcpy(work.data() + i * size, in->body().data(), size);
              }
              const double start = thread_cpu_seconds();
              for (std::size_t i = 0; i < batch; ++i) {
                benchmark::DoNotOptimize(
                    s.decode_chunked_in_place(std::span<char>(work.data() + i * size, size)));
              }
              state.SetIterationTime(thread_cpu_seconds() - start);
            }
          },
          true);
    }
  }
  register_responses(r, c, e);
}

subject_list make_peers() {
  subject_list peers;
#ifdef TAUT_BENCH_HAVE_PICO_DEBIAN
  add_pico_debian(peers);
#endif
#ifdef TAUT_BENCH_HAVE_PICO_NATIVE
  add_pico_native(peers);
#endif
#ifdef TAUT_BENCH_HAVE_LLHTTP
  add_llhttp_generic(peers);
  add_llhttp_native(peers);
#endif
#ifdef TAUT_BENCH_HAVE_HTTP_PARSER
  add_http_parser(peers);
#endif
#ifdef TAUT_BENCH_HAVE_BEAST
  add_beast(peers);
#endif
  return peers;
}

void write_file(const std::string& path, const std::function<void(std::ostream&)>& write) {
  if (path.empty()) return;
  std::ofstream out(path);
  write(out);
  if (!out) std::cerr << "taut-bench: could not write " << path << "\n";
}

}  // namespace
}  // namespace taut_bench

int main(int argc, char** argv) {
  using namespace taut_bench;
  const options o = take_own_flags(argc, argv);

  corpus c;
  try {
    c = load_corpus(o.data_dir);
  } catch (const std::exception& e) {
    std::cerr << "taut-bench: " << e.what() << "\n";
    return 1;
  }

  results sink;
  registry r(sink);
  const std::vector<code_path> paths = available_paths();
  subject_list subjects;
  for (const bool lenient : {false, true}) {
    for (const code_path& path : paths) {
      if (lenient && !path.is_default) continue;
      subjects.push_back(make_taut(lenient, path.name));
      register_all(r, c, {subjects.back().get(), &path});
    }
  }
  for (auto& peer : make_peers()) {
    subjects.push_back(std::move(peer));
    register_all(r, c, {subjects.back().get(), nullptr});
  }
  for (const auto& s : subjects) sink.describe_subject(s->name(), s->description());

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  recording_reporter reporter(sink, isatty(STDOUT_FILENO)
                                        ? benchmark::ConsoleReporter::OO_ColorTabular
                                        : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  std::cout.flush();
  for (const std::string& failure : sink.failures()) {
    std::cerr << "taut-bench: failed: " << failure << "\n";
  }
  sink.print_table(std::cout, o.markdown);
  write_file(o.markdown_out, [&sink](std::ostream& out) { sink.print_table(out, true); });
  write_file(o.throughput_out, [&sink](std::ostream& out) { sink.print_throughput(out); });
  sink.print_ratios(std::cout);
  // A parser that got an input wrong was not measured: say so to scripts too.
  return sink.failures().empty() ? 0 : 1;
}
