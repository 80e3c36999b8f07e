// picohttpparser as a benchmark subject. This file is compiled once per build of it:
//   TAUT_PICO_DEBIAN: the copy Debian ships inside libh2o-evloop (symbols phr_*);
//   TAUT_PICO_NATIVE: the copy build-peers.sh compiles -O3 -march=native (symbols
//   pico_native_phr_*).
// Debian installs no picohttpparser.h, so the documented prototypes are declared here.
#include <sys/types.h>

#include <strings.h>
#include <array>
#include <charconv>
#include <cstring>

#include "subject.hpp"

#if defined(TAUT_PICO_DEBIAN)
#define TAUT_PICO(name) name
#define TAUT_PICO_NAMESPACE pico_debian
#elif defined(TAUT_PICO_NATIVE)
#define TAUT_PICO(name) pico_native_##name
#define TAUT_PICO_NAMESPACE pico_native
#else
#error "define TAUT_PICO_DEBIAN or TAUT_PICO_NATIVE"
#endif

extern "C" {
struct phr_header {
  const char* name;
  size_t name_len;
  const char* value;
  size_t value_len;
};
// Returns the head's length, -2 if the request is partial, -1 on error. `last_len` is how much of
// `buf` the previous call saw, so that it only looks for the end of the head in the new bytes.
int TAUT_PICO(phr_parse_request)(const char* buf, size_t len, const char** method,
                                 size_t* method_len, const char** path, size_t* path_len,
                                 int* minor_version, phr_header* headers, size_t* num_headers,
                                 size_t last_len);
// The same for a response head: its status code and reason instead of a method and target.
int TAUT_PICO(phr_parse_response)(const char* buf, size_t len, int* minor_version, int* status,
                                  const char** msg, size_t* msg_len, phr_header* headers,
                                  size_t* num_headers, size_t last_len);
// Zero-filled before the first call.
struct phr_chunked_decoder {
  size_t bytes_left_in_chunk;
  char consume_trailer;
  char hex_count;
  char state;
};
// Decodes in place; *bufsz becomes the decoded length. Returns the undecoded bytes left after the
// body once it ended, -2 while incomplete, -1 on error.
ssize_t TAUT_PICO(phr_decode_chunked)(phr_chunked_decoder* decoder, char* buf, size_t* bufsz);
}

namespace taut_bench {
namespace TAUT_PICO_NAMESPACE {
namespace {

class pico_subject final : public subject {
 public:
#if defined(TAUT_PICO_DEBIAN)
  std::string name() const override {
    return "pico-debian";
  }
  std::string description() const override {
    return "picohttpparser as Debian ships it (phr_parse_request, phr_parse_response in "
           "libh2o-evloop)";
  }
#else
  std::string name() const override {
    return "pico-native";
  }
  std::string description() const override {
    return "picohttpparser from Debian's h2o source package, " TAUT_PICO_NATIVE_FLAGS;
  }
#endif

  head_summary parse(std::string_view head) override {
    return run(head, 0);
  }

  std::size_t parse_pipelined(std::string_view stream) override {
    std::size_t count = 0;
    while (!stream.empty()) {
      const head_summary s = run(stream, 0);
      if (s.head_size == 0) return 0;
      stream.remove_prefix(s.head_size);
      ++count;
    }
    return count;
  }

  head_summary parse_bytewise(std::string_view head) override {
    for (std::size_t have = 1; have <= head.size(); ++have) {
      size_t num_headers = headers_.size();
      const int r = call(head.data(), have, num_headers, have - 1);
      if (r == -2) continue;
      if (r < 0) return {};
      return {static_cast<std::size_t>(r), num_headers};
    }
    return {};
  }

  head_summary parse_split(std::string_view head, std::size_t split) override {
    size_t num_headers = headers_.size();
    if (call(head.data(), split, num_headers, 0) != -2) return {};
    return run(head, split);
  }

  bool parses_responses() const override {
    return true;
  }
  head_summary parse_response(std::string_view head) override {
    size_t num_headers = headers_.size();
    const int r = call_response(head, num_headers);
    if (r <= 0) return {};
    return {static_cast<std::size_t>(r), num_headers};
  }

  // picohttpparser leaves framing to its caller: the body's length is read from the fields, as
  // h2o's own HTTP client does.
  std::size_t parse_response_pipelined(std::string_view stream) override {
    std::size_t count = 0;
    while (!stream.empty()) {
      size_t num_headers = headers_.size();
      const int r = call_response(stream, num_headers);
      if (r <= 0) return 0;
      stream.remove_prefix(static_cast<std::size_t>(r));
      if (!(status_ / 100 == 1 || status_ == 204 || status_ == 304)) {
        const std::size_t length = content_length(num_headers);
        if (length == no_length || length > stream.size()) return 0;
        stream.remove_prefix(length);
      }
      ++count;
    }
    return count;
  }

  bool decodes_chunked_in_place() const override {
    return true;
  }
  std::int64_t decode_chunked_in_place(std::span<char> body) override {
    phr_chunked_decoder decoder{};
    size_t size = body.size();
    if (TAUT_PICO(phr_decode_chunked)(&decoder, body.data(), &size) < 0) return -1;
    return static_cast<std::int64_t>(size);
  }

 private:
  static constexpr std::size_t no_length = static_cast<std::size_t>(-1);

  int call_response(std::string_view data, size_t& num_headers) {
    return TAUT_PICO(phr_parse_response)(data.data(), data.size(), &minor_version_, &status_,
                                         &reason_, &reason_len_, headers_.data(), &num_headers, 0);
  }

  std::size_t content_length(std::size_t num_headers) const {
    for (std::size_t i = 0; i < num_headers; ++i) {
      const phr_header& h = headers_[i];
      if (h.name_len != 14 || strncasecmp(h.name, "content-length", 14) != 0) continue;
      std::size_t length = 0;
      const auto [end, ec] = std::from_chars(h.value, h.value + h.value_len, length);
      return ec == std::errc{} && end == h.value + h.value_len ? length : no_length;
    }
    return no_length;
  }

  int call(const char* data, std::size_t size, size_t& num_headers, std::size_t last_len) {
    return TAUT_PICO(phr_parse_request)(data, size, &method_, &method_len_, &path_, &path_len_,
                                        &minor_version_, headers_.data(), &num_headers, last_len);
  }

  head_summary run(std::string_view data, std::size_t last_len) {
    size_t num_headers = headers_.size();
    const int r = call(data.data(), data.size(), num_headers, last_len);
    if (r <= 0) return {};
    return {static_cast<std::size_t>(r), num_headers};
  }

  const char* method_ = nullptr;
  size_t method_len_ = 0;
  const char* path_ = nullptr;
  size_t path_len_ = 0;
  int minor_version_ = 0;
  int status_ = 0;
  const char* reason_ = nullptr;
  size_t reason_len_ = 0;
  std::array<phr_header, 64> headers_{};
};

}  // namespace
}  // namespace TAUT_PICO_NAMESPACE

#if defined(TAUT_PICO_DEBIAN)
void add_pico_debian(subject_list& out) {
  out.push_back(std::make_unique<pico_debian::pico_subject>());
}
#else
void add_pico_native(subject_list& out) {
  out.push_back(std::make_unique<pico_native::pico_subject>());
}
#endif

}  // namespace taut_bench
