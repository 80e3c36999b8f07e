#include "results.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>

namespace taut_bench {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool is_taut(std::string_view subject) {
  return starts_with(subject, taut_strict_prefix) || starts_with(subject, taut_lenient_prefix);
}

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

std::string format_time(double seconds, bool markdown) {
  const double ns = seconds * 1e9;
  if (ns < 100) return format("%.1f ns", ns);
  if (ns < 10'000) return format("%.0f ns", ns);
  if (ns < 10'000'000) return format(markdown ? "%.1f µs" : "%.1f us", ns / 1e3);
  return format("%.1f ms", ns / 1e6);
}

std::string format_rate(double gigabytes_per_second) {
  if (gigabytes_per_second < 0.1) return format("%.0f MB/s", gigabytes_per_second * 1e3);
  return format("%.2f GB/s", gigabytes_per_second);
}

// "Intel(R) Xeon(R) Processor (AVX2, AVX-512; virtual machine)": the model name alone says little
// on a cloud machine, the vector extensions say which of taut's paths it can run.
std::string machine() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU", flags;
  while (std::getline(in, line)) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (starts_with(line, "model name") && model == "unknown CPU") model = line.substr(colon + 2);
    if (starts_with(line, "flags") && flags.empty()) flags = line.substr(colon + 1) + " ";
  }
  std::vector<std::string> traits;
  for (const auto& [flag, name] :
       {std::pair{" sse4_2 ", "SSE4.2"}, std::pair{" avx2 ", "AVX2"},
        std::pair{" avx512bw ", "AVX-512"}, std::pair{" hypervisor ", "virtual machine"}}) {
    if (flags.find(flag) != std::string::npos) traits.emplace_back(name);
  }
  std::string text = model;
  for (std::size_t i = 0; i < traits.size(); ++i) text += (i == 0 ? " (" : ", ") + traits[i];
  if (!traits.empty()) text += ")";
  return text + ", " + std::to_string(std::thread::hardware_concurrency()) + " logical CPUs";
}

std::string compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown compiler";
#endif
}

std::string pad(const std::string& text, std::size_t width, bool left_align) {
  // Column widths count characters, not the bytes of "µ".
  std::size_t length = 0;
  for (const unsigned char c : text) length += (c & 0xC0) != 0x80;
  if (length >= width) return text;
  const std::string fill(width - length, ' ');
  return left_align ? text + fill : fill + text;
}

}  // namespace

void results::declare(const std::string& benchmark_name, const std::string& input,
                      const std::string& subject, double items_per_iteration,
                      double bytes_per_iteration) {
  benchmarks_[benchmark_name] = {input, subject, items_per_iteration, bytes_per_iteration};
  if (std::find(input_order_.begin(), input_order_.end(), input) == input_order_.end()) {
    input_order_.push_back(input);
  }
  if (std::find(subject_order_.begin(), subject_order_.end(), subject) == subject_order_.end()) {
    subject_order_.push_back(subject);
  }
}

void results::describe_subject(const std::string& subject, const std::string& description) {
  descriptions_[subject] = description;
}

void results::record(const benchmark::BenchmarkReporter::Run& run) {
  using Run = benchmark::BenchmarkReporter::Run;
  if (run.error_occurred) {
    failures_.push_back(run.benchmark_name() + ": " + run.error_message);
    return;
  }
  if (run.iterations <= 0) return;
  // With --benchmark_display_aggregates_only only the aggregates come here: use their median.
  const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
  if (run.run_type != Run::RT_Iteration && !median) return;
  const auto it = benchmarks_.find(run.run_name.function_name);
  if (it == benchmarks_.end()) return;
  const declared& d = it->second;
  // CPU time leaves out what other processes on a shared machine take; a benchmark that times
  // itself (in-place decoding, which must copy its input first) reports only what it timed.
  const bool manual = run.run_name.time_type.find("manual_time") != std::string::npos;
  const double seconds = manual ? run.real_accumulated_time : run.cpu_accumulated_time;
  const figure f{seconds / static_cast<double>(run.iterations) / d.items, d.bytes / d.items};
  (median ? aggregate_medians_ : runs_)[{d.input, d.subject}].push_back(f);
  finalized_ = false;
}

void results::finalize() const {
  if (finalized_) return;
  medians_.clear();
  auto all = aggregate_medians_;
  for (const auto& [key, figures] : runs_) all[key] = figures;  // the runs themselves, when shown
  for (const auto& [key, figures] : all) {
    std::vector<figure> sorted = figures;
    std::sort(sorted.begin(), sorted.end(), [](const figure& a, const figure& b) {
      return a.seconds_per_item < b.seconds_per_item;
    });
    const std::size_t n = sorted.size();
    figure median = sorted[n / 2];
    if (n % 2 == 0) {
      median.seconds_per_item =
          (sorted[n / 2 - 1].seconds_per_item + sorted[n / 2].seconds_per_item) / 2;
    }
    medians_[key] = median;
  }
  finalized_ = true;
}

const results::figure* results::find(const std::string& input, const std::string& subject) const {
  finalize();
  const auto it = medians_.find({input, subject});
  return it == medians_.end() ? nullptr : &it->second;
}

const results::figure* results::best_taut(const std::string& input, std::string_view prefix) const {
  const figure* best = nullptr;
  for (const std::string& subject : subject_order_) {
    if (!starts_with(subject, prefix)) continue;
    const figure* f = find(input, subject);
    if (f != nullptr && (best == nullptr || f->seconds_per_item < best->seconds_per_item)) best = f;
  }
  return best;
}

std::vector<std::string> results::inputs() const {
  std::vector<std::string> measured;
  for (const std::string& input : input_order_) {
    if (best_taut(input, taut_strict_prefix) != nullptr) {
      measured.push_back(input);
      continue;
    }
    for (const std::string& subject : subject_order_) {
      if (find(input, subject) != nullptr) {
        measured.push_back(input);
        break;
      }
    }
  }
  return measured;
}

std::vector<std::string> results::peers() const {
  std::vector<std::string> peers;
  for (const std::string& subject : subject_order_) {
    if (!is_taut(subject)) peers.push_back(subject);
  }
  return peers;
}

std::vector<std::string> results::taut_paths(std::string_view prefix) const {
  std::vector<std::string> paths;
  for (const std::string& subject : subject_order_) {
    if (starts_with(subject, prefix)) paths.push_back(subject);
  }
  return paths;
}

void results::print_table(std::ostream& out, bool markdown) const {
  const std::vector<std::string> rows = inputs();
  const std::vector<std::string> peer_columns = peers();
  const std::vector<std::string> strict_paths = taut_paths(taut_strict_prefix);

  std::vector<std::string> header = {"input", "taut strict", "taut lenient"};
  if (strict_paths.size() > 1) {
    for (const std::string& path : strict_paths) {
      header.push_back("strict " + path.substr(taut_strict_prefix.size()));
    }
  }
  for (const std::string& peer : peer_columns) header.push_back(peer);

  std::vector<std::vector<std::string>> table;
  for (const std::string& input : rows) {
    std::vector<std::string> row = {input};
    const figure* taut = best_taut(input, taut_strict_prefix);
    const figure* lenient = best_taut(input, taut_lenient_prefix);
    row.push_back(taut ? format_time(taut->seconds_per_item, markdown) + ", " +
                             format_rate(taut->gigabytes_per_second())
                       : "-");
    row.push_back(lenient ? format_time(lenient->seconds_per_item, markdown) : "-");
    if (strict_paths.size() > 1) {
      for (const std::string& path : strict_paths) {
        const figure* f = find(input, path);
        row.push_back(f ? format_time(f->seconds_per_item, markdown) : "-");
      }
    }
    for (const std::string& peer : peer_columns) {
      const figure* f = find(input, peer);
      if (f == nullptr) {
        row.push_back("-");
      } else if (taut == nullptr) {
        row.push_back(format_time(f->seconds_per_item, markdown));
      } else {
        row.push_back(format_time(f->seconds_per_item, markdown) + " (" +
                      format("%.2fx", f->seconds_per_item / taut->seconds_per_item) + ")");
      }
    }
    table.push_back(std::move(row));
  }

  if (markdown) {
    out << "| " << header[0];
    for (std::size_t i = 1; i < header.size(); ++i) out << " | " << header[i];
    out << " |\n|---";
    for (std::size_t i = 1; i < header.size(); ++i) out << "|--:";
    out << "|\n";
    for (const auto& row : table) {
      out << "| " << row[0];
      for (std::size_t i = 1; i < row.size(); ++i) out << " | " << row[i];
      out << " |\n";
    }
    out << "\nCPU time per request (per body for the chunked inputs; for in-place decoding the "
           "decoding alone), median of the repetitions; (x) is taut's throughput (strict, best "
           "path) divided by the peer's, measured in the same run: above 1 means taut is "
           "faster.\n\n";
    for (const std::string& subject : subject_order_) {
      const auto it = descriptions_.find(subject);
      if (it != descriptions_.end()) out << "- `" << subject << "`: " << it->second << "\n";
    }
    out << "\nMachine: " << machine() << "; taut and taut-bench built by " << compiler()
        << ", Release.\n";
    if (const std::string line = bytewise_line(); !line.empty()) out << "\n" << line << "\n";
    return;
  }

  std::vector<std::size_t> widths(header.size(), 0);
  for (std::size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : table) {
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], pad(row[i], 0, true).size());
  }
  out << "\ntaut against each peer, same run (time per request, or per body for chunked; "
         "(x) = taut throughput / peer throughput)\n";
  for (std::size_t i = 0; i < header.size(); ++i) out << pad(header[i], widths[i] + 2, i == 0);
  out << "\n";
  for (const auto& row : table) {
    for (std::size_t i = 0; i < row.size(); ++i) out << pad(row[i], widths[i] + 2, i == 0);
    out << "\n";
  }
  if (const std::string line = bytewise_line(); !line.empty()) out << line << "\n";
  out << "\n";
}

// The resumability promise: feeding a request byte by byte costs a small multiple of parsing it
// whole, not a multiple that grows with its length.
std::string results::bytewise_line() const {
  const figure* whole = best_taut("typical", taut_strict_prefix);
  const figure* bytewise = best_taut("typical-bytewise", taut_strict_prefix);
  if (whole == nullptr || bytewise == nullptr) return {};
  const double calls = bytewise->bytes_per_item;  // one parse call per byte
  return "taut, typical request fed 1 byte at a time: " +
         format("%.1f", bytewise->seconds_per_item / whole->seconds_per_item) +
         "x the time of parsing it whole (" + format("%.0f", calls) + " calls, " +
         format("%.1f ns", bytewise->seconds_per_item * 1e9 / calls) + " per call).";
}

void results::print_ratios(std::ostream& out) const {
  for (const std::string& input : inputs()) {
    const figure* taut = best_taut(input, taut_strict_prefix);
    if (taut == nullptr) continue;
    for (const std::string& peer : peers()) {
      const figure* f = find(input, peer);
      if (f == nullptr) continue;
      out << "ratio " << input << " " << peer << " "
          << format("%.2f", f->seconds_per_item / taut->seconds_per_item) << "\n";
    }
  }
}

void results::print_throughput(std::ostream& out) const {
  const std::vector<std::string> peer_columns = peers();
  out << "input\ttaut-strict\ttaut-lenient";
  for (const std::string& peer : peer_columns) out << "\t" << peer;
  out << "\n";
  auto cell = [&out](const figure* f) {
    out << "\t";
    if (f == nullptr) {
      out << "-";
    } else {
      out << format("%.4f", f->gigabytes_per_second());
    }
  };
  for (const std::string& input : inputs()) {
    out << input;
    cell(best_taut(input, taut_strict_prefix));
    cell(best_taut(input, taut_lenient_prefix));
    for (const std::string& peer : peer_columns) cell(find(input, peer));
    out << "\n";
  }
}

void recording_reporter::ReportRuns(const std::vector<Run>& reports) {
  for (const Run& run : reports) sink_.record(run);
  benchmark::ConsoleReporter::ReportRuns(reports);
}

}  // namespace taut_bench
