#include "taut/middleware.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <exception>
#include <utility>

namespace taut {
namespace {

/// A bounded text builder on the stack: appends what fits and silently truncates the rest.
class line_buffer {
 public:
  void append(std::string_view text) noexcept {
    const std::size_t n = std::min(text.size(), sizeof data_ - size_);
    std::copy_n(text.data(), n, data_ + size_);
    size_ += n;
  }
  template <class... Args>
  void format(const char* spec, Args... args) noexcept {
    const int n = std::snprintf(data_ + size_, sizeof data_ - size_, spec, args...);
    if (n > 0) size_ = std::min(sizeof data_ - 1, size_ + static_cast<std::size_t>(n));
  }
  [[nodiscard]] std::string_view view() const noexcept { return {data_, size_}; }
  /// Room for `n` more bytes, to be committed with commit().
  [[nodiscard]] std::span<char> free() noexcept { return {data_ + size_, sizeof data_ - size_}; }
  void commit(std::size_t n) noexcept { size_ = std::min(sizeof data_, size_ + n); }

 private:
  char data_[2048];
  std::size_t size_ = 0;
};

void write_log_line(std::FILE* out, const request_context& request, const reply& response,
                    std::chrono::system_clock::time_point started,
                    std::chrono::steady_clock::duration took, bool threw) noexcept {
  line_buffer line;
  const transport::result<transport::address> remote = request.remote_address();
  if (remote) {
    char host[128];
    const std::size_t n = remote->format_to(host);
    std::string_view text(host, std::min(n, sizeof host));
    // CLF's first field is the host alone: drop a TCP port ("[::1]:5000" -> "::1").
    if (remote->transport() == transport::transport_kind::tcp) {
      const std::size_t colon = text.rfind(':');
      if (colon != std::string_view::npos) text = text.substr(0, colon);
      if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
      }
    }
    line.append(text.empty() ? "-" : text);
  } else {
    line.append("-");
  }
  const std::time_t seconds = std::chrono::system_clock::to_time_t(started);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char date[40];
  const std::size_t date_size = std::strftime(date, sizeof date, "%d/%b/%Y:%H:%M:%S +0000", &utc);
  line.append(" - - [");
  line.append({date, date_size});
  line.append("] \"");
  line.append(request.method_name());
  line.append(" ");
  line.append(request.target());
  line.format(" HTTP/1.%d\" ", request.version_minor());
  if (response.detached()) {
    line.append("- -");
  } else if (threw && !response.started()) {
    line.append("500 -");
  } else {
    line.format("%d %llu", response.status_code(),
                static_cast<unsigned long long>(response.body_bytes()));
  }
  line.format(" %.6f\n", std::chrono::duration<double>(took).count());
  const std::string_view text = line.view();
  std::fwrite(text.data(), 1, text.size(), out);
}

}  // namespace

handler logging(std::FILE* out, handler next) {
  const handler_options options = next.options();
  return handler(
      [out, next = std::move(next)](request_context& request, reply& response) {
        const auto wall = std::chrono::system_clock::now();
        const auto start = std::chrono::steady_clock::now();
        try {
          next(request, response);
        } catch (...) {
          write_log_line(out, request, response, wall, std::chrono::steady_clock::now() - start,
                         true);
          throw;
        }
        write_log_line(out, request, response, wall, std::chrono::steady_clock::now() - start,
                       false);
      },
      options);
}

handler recover(handler next, std::FILE* log) {
  const handler_options options = next.options();
  return handler(
      [log, next = std::move(next)](request_context& request, reply& response) {
        const char* what = nullptr;
        try {
          next(request, response);
          return;
        } catch (const std::exception& e) {
          what = e.what();
          if (log != nullptr) {
            std::fprintf(log, "taut: handler for %.*s %.*s threw: %s\n",
                         static_cast<int>(request.method_name().size()),
                         request.method_name().data(), static_cast<int>(request.target().size()),
                         request.target().data(), what);
          }
        } catch (...) {
          if (log != nullptr) {
            std::fprintf(log, "taut: handler for %.*s %.*s threw a non-standard exception\n",
                         static_cast<int>(request.method_name().size()),
                         request.method_name().data(), static_cast<int>(request.target().size()),
                         request.target().data());
          }
        }
        if (response.detached() || response.finished()) return;
        if (!response.started()) {
          response.error(500);
          return;
        }
        // The head (or part of it) is out: the status cannot change any more. End the response and
        // the connection, so the client does not take a cut-short body for a whole one.
        response.close_after();
        response.finish();
      },
      options);
}

handler limit_body(std::uint64_t max_bytes, handler next) {
  handler_options options = next.options();
  options.max_body = options.max_body ? std::min(*options.max_body, max_bytes) : max_bytes;
  const std::uint64_t limit = *options.max_body;
  return handler(
      [limit, next = std::move(next)](request_context& request, reply& response) {
        const framing& body = request.raw().body_framing();
        if (body.kind == body_kind::content_length && body.content_length > limit) {
          response.close_after();
          response.error(413);
          return;
        }
        next(request, response);
      },
      options);
}

}  // namespace taut
