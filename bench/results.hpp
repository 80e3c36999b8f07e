// Collects what Google Benchmark measured and turns it into taut-bench's closing report: the table
// of taut against each peer measured in the same run, and the `ratio <input> <peer> <x>` lines.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace taut_bench {

/// The names taut's own subjects carry ("taut-strict:<path>", "taut-lenient:<path>").
inline constexpr std::string_view taut_strict_prefix = "taut-strict:";
inline constexpr std::string_view taut_lenient_prefix = "taut-lenient:";

class results {
 public:
  /// Declares a registered benchmark: which input and subject it measures, and how many requests
  /// (or bodies) and bytes one iteration processes.
  void declare(const std::string& benchmark_name, const std::string& input,
               const std::string& subject, double items_per_iteration, double bytes_per_iteration);
  void describe_subject(const std::string& subject, const std::string& description);

  /// Records one finished run (iteration runs, or median aggregates when only those are shown).
  void record(const benchmark::BenchmarkReporter::Run& run);

  /// The benchmarks that failed ("<name>: <why>"), e.g. a parser that rejected an input.
  [[nodiscard]] const std::vector<std::string>& failures() const { return failures_; }

  /// The human-readable table, or the Markdown one (with a legend and the machine it ran on).
  void print_table(std::ostream& out, bool markdown) const;
  /// One `ratio <input> <peer> <x>` line per input and peer measured with taut in this run.
  void print_ratios(std::ostream& out) const;
  /// Throughput in GB/s, one row per input and one column per subject ("-" where not measured),
  /// tab-separated, for the chart script.
  void print_throughput(std::ostream& out) const;

 private:
  struct figure {
    double seconds_per_item = 0;
    double bytes_per_item = 0;
    [[nodiscard]] double gigabytes_per_second() const {
      return bytes_per_item / seconds_per_item / 1e9;
    }
  };
  struct declared {
    std::string input, subject;
    double items = 1, bytes = 0;
  };

  /// The median over repetitions of one input and subject, if it was measured.
  [[nodiscard]] const figure* find(const std::string& input, const std::string& subject) const;
  /// The fastest of the taut subjects whose name starts with `prefix` (the best path).
  [[nodiscard]] const figure* best_taut(const std::string& input, std::string_view prefix) const;
  [[nodiscard]] std::vector<std::string> inputs() const;
  [[nodiscard]] std::vector<std::string> peers() const;
  [[nodiscard]] std::vector<std::string> taut_paths(std::string_view prefix) const;
  void finalize() const;
  [[nodiscard]] std::string bytewise_line() const;

  std::map<std::string, declared> benchmarks_;
  std::vector<std::string> input_order_, subject_order_;
  std::map<std::string, std::string> descriptions_;
  std::map<std::pair<std::string, std::string>, std::vector<figure>> runs_;
  std::map<std::pair<std::string, std::string>, std::vector<figure>> aggregate_medians_;
  mutable std::map<std::pair<std::string, std::string>, figure> medians_;
  std::vector<std::string> failures_;
  mutable bool finalized_ = false;
};

/// The console reporter, which also hands every run to `results`.
class recording_reporter final : public benchmark::ConsoleReporter {
 public:
  recording_reporter(results& sink, OutputOptions options)
      : benchmark::ConsoleReporter(options), sink_(sink) {}
  void ReportRuns(const std::vector<Run>& reports) override;

 private:
  results& sink_;
};

}  // namespace taut_bench
