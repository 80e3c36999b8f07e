// nodejs/http-parser as Debian ships it (libhttp-parser-dev), as a benchmark subject.
#include <http_parser.h>

#include "span_capture.hpp"
#include "subject.hpp"

namespace taut_bench {
namespace {

span_capture& capture_of(http_parser* parser) {
  return *static_cast<span_capture*>(parser->data);
}

class http_parser_subject final : public subject {
 public:
  http_parser_subject() {
    http_parser_settings_init(&settings_);
    settings_.on_message_begin = [](http_parser* p) {
      capture_of(p).begin_message();
      return 0;
    };
    settings_.on_url = [](http_parser* p, const char* at, size_t n) {
      return capture_of(p).on_url(at, n);
    };
    settings_.on_status = [](http_parser* p, const char* at, size_t n) {
      return capture_of(p).on_reason(at, n);
    };
    settings_.on_header_field = [](http_parser* p, const char* at, size_t n) {
      return capture_of(p).on_field_name(at, n);
    };
    settings_.on_header_value = [](http_parser* p, const char* at, size_t n) {
      return capture_of(p).on_field_value(at, n);
    };
    settings_.on_headers_complete = [](http_parser* p) {
      capture_of(p).on_headers_complete();
      return 0;
    };
    settings_.on_body = [](http_parser* p, const char*, size_t n) {
      capture_of(p).on_body(n);
      return 0;
    };
    settings_.on_message_complete = [](http_parser* p) {
      capture_of(p).on_message_complete();
      return 0;
    };
  }

  std::string name() const override { return "http-parser"; }
  std::string description() const override {
    return "http-parser " + std::to_string(HTTP_PARSER_VERSION_MAJOR) + "." +
           std::to_string(HTTP_PARSER_VERSION_MINOR) + "." +
           std::to_string(HTTP_PARSER_VERSION_PATCH) + " as Debian ships it (libhttp_parser)";
  }

  head_summary parse(std::string_view head) override {
    start();
    if (!execute(head.data(), head.size())) return {};
    return summary(head);
  }

  std::size_t parse_pipelined(std::string_view stream) override {
    start();
    if (!execute(stream.data(), stream.size())) return 0;
    return capture_.messages();
  }

  head_summary parse_bytewise(std::string_view head) override {
    start();
    for (std::size_t i = 0; i < head.size(); ++i) {
      if (!execute(head.data() + i, 1)) return {};
    }
    return summary(head);
  }

  head_summary parse_split(std::string_view head, std::size_t split) override {
    start();
    if (!execute(head.data(), split) || capture_.head_done()) return {};
    if (!execute(head.data() + split, head.size() - split)) return {};
    return summary(head);
  }

  bool parses_responses() const override { return true; }
  head_summary parse_response(std::string_view head) override {
    start(HTTP_RESPONSE);
    if (!execute(head.data(), head.size())) return {};
    return summary(head);
  }

  std::size_t parse_response_pipelined(std::string_view stream) override {
    start(HTTP_RESPONSE);
    if (!execute(stream.data(), stream.size())) return 0;
    return capture_.messages();
  }

  bool decodes_chunked() const override { return true; }
  std::int64_t decode_chunked(std::string_view message, std::size_t) override {
    start();
    if (!execute(message.data(), message.size()) || capture_.messages() != 1) return -1;
    return static_cast<std::int64_t>(capture_.body_bytes());
  }

 private:
  void start(http_parser_type type = HTTP_REQUEST) {
    http_parser_init(&parser_, type);
    parser_.data = &capture_;
    capture_.begin_message();
    capture_.reset_counters();
  }

  bool execute(const char* data, std::size_t size) {
    return http_parser_execute(&parser_, &settings_, data, size) == size &&
           HTTP_PARSER_ERRNO(&parser_) == HPE_OK;
  }

  head_summary summary(std::string_view head) const {
    if (!capture_.head_done()) return {};
    return {head.size(), capture_.fields()};
  }

  http_parser_settings settings_{};
  http_parser parser_{};
  span_capture capture_;
};

}  // namespace

void add_http_parser(subject_list& out) {
  out.push_back(std::make_unique<http_parser_subject>());
}

}  // namespace taut_bench
