// llhttp as a benchmark subject. This file is compiled once per build of it, each of which
// build-peers.sh made with its own symbol prefix:
//   TAUT_LLHTTP_GENERIC: -O3 for baseline x86-64 (symbols llhttp_generic_*);
//   TAUT_LLHTTP_NATIVE:  -O3 -march=native (symbols llhttp_native_*).
#include "span_capture.hpp"
#include "subject.hpp"

#if defined(TAUT_LLHTTP_GENERIC)
#define TAUT_LLHTTP(name) llhttp_generic_##name
#define TAUT_LLHTTP_NAMESPACE llhttp_generic
#elif defined(TAUT_LLHTTP_NATIVE)
#define TAUT_LLHTTP(name) llhttp_native_##name
#define TAUT_LLHTTP_NAMESPACE llhttp_native
#else
#error "define TAUT_LLHTTP_GENERIC or TAUT_LLHTTP_NATIVE"
#endif

// The header declares the unprefixed names; these make its declarations name this build's copy.
#define llhttp_init TAUT_LLHTTP(llhttp_init)
#define llhttp_reset TAUT_LLHTTP(llhttp_reset)
#define llhttp_settings_init TAUT_LLHTTP(llhttp_settings_init)
#define llhttp_execute TAUT_LLHTTP(llhttp_execute)
#include <llhttp.h>

namespace taut_bench {
namespace TAUT_LLHTTP_NAMESPACE {
namespace {

span_capture& capture_of(llhttp_t* parser) {
  return *static_cast<span_capture*>(parser->data);
}

class llhttp_subject final : public subject {
 public:
  llhttp_subject() {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = [](llhttp_t* p) {
      capture_of(p).begin_message();
      return 0;
    };
    settings_.on_url = [](llhttp_t* p, const char* at, size_t n) {
      return capture_of(p).on_url(at, n);
    };
    settings_.on_status = [](llhttp_t* p, const char* at, size_t n) {
      return capture_of(p).on_reason(at, n);
    };
    settings_.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      return capture_of(p).on_field_name(at, n);
    };
    settings_.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      return capture_of(p).on_field_value(at, n);
    };
    settings_.on_headers_complete = [](llhttp_t* p) {
      capture_of(p).on_headers_complete();
      return 0;
    };
    settings_.on_body = [](llhttp_t* p, const char*, size_t n) {
      capture_of(p).on_body(n);
      return 0;
    };
    settings_.on_message_complete = [](llhttp_t* p) {
      capture_of(p).on_message_complete();
      return 0;
    };
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = &capture_;
    llhttp_init(&response_parser_, HTTP_RESPONSE, &settings_);
    response_parser_.data = &capture_;
  }

#if defined(TAUT_LLHTTP_GENERIC)
  std::string name() const override {
    return "llhttp-generic";
  }
  std::string description() const override {
    return "llhttp from Debian's node-llhttp sources, " TAUT_LLHTTP_GENERIC_FLAGS;
  }
#else
  std::string name() const override {
    return "llhttp-native";
  }
  std::string description() const override {
    return "llhttp from Debian's node-llhttp sources, " TAUT_LLHTTP_NATIVE_FLAGS;
  }
#endif

  head_summary parse(std::string_view head) override {
    start(parser_);
    if (llhttp_execute(&parser_, head.data(), head.size()) != HPE_OK) return {};
    return summary(head);
  }

  std::size_t parse_pipelined(std::string_view stream) override {
    start(parser_);
    if (llhttp_execute(&parser_, stream.data(), stream.size()) != HPE_OK) return 0;
    return capture_.messages();
  }

  head_summary parse_bytewise(std::string_view head) override {
    start(parser_);
    for (std::size_t i = 0; i < head.size(); ++i) {
      if (llhttp_execute(&parser_, head.data() + i, 1) != HPE_OK) return {};
    }
    return summary(head);
  }

  head_summary parse_split(std::string_view head, std::size_t split) override {
    start(parser_);
    if (llhttp_execute(&parser_, head.data(), split) != HPE_OK) return {};
    if (capture_.head_done()) return {};
    if (llhttp_execute(&parser_, head.data() + split, head.size() - split) != HPE_OK) return {};
    return summary(head);
  }

  bool parses_responses() const override {
    return true;
  }
  head_summary parse_response(std::string_view head) override {
    start(response_parser_);
    if (llhttp_execute(&response_parser_, head.data(), head.size()) != HPE_OK) return {};
    return summary(head);
  }

  std::size_t parse_response_pipelined(std::string_view stream) override {
    start(response_parser_);
    if (llhttp_execute(&response_parser_, stream.data(), stream.size()) != HPE_OK) return 0;
    return capture_.messages();
  }

  bool decodes_chunked() const override {
    return true;
  }
  std::int64_t decode_chunked(std::string_view message, std::size_t) override {
    start(parser_);
    if (llhttp_execute(&parser_, message.data(), message.size()) != HPE_OK) return -1;
    if (capture_.messages() != 1) return -1;
    return static_cast<std::int64_t>(capture_.body_bytes());
  }

 private:
  void start(llhttp_t& parser) {
    llhttp_reset(&parser);
    capture_.begin_message();
    capture_.reset_counters();
  }

  head_summary summary(std::string_view head) const {
    if (!capture_.head_done()) return {};
    return {head.size(), capture_.fields()};
  }

  llhttp_settings_t settings_{};
  llhttp_t parser_{};
  llhttp_t response_parser_{};  // llhttp's parser is of one type: a second one for responses
  span_capture capture_;
};

}  // namespace
}  // namespace TAUT_LLHTTP_NAMESPACE

#if defined(TAUT_LLHTTP_GENERIC)
void add_llhttp_generic(subject_list& out) {
  out.push_back(std::make_unique<llhttp_generic::llhttp_subject>());
}
#else
void add_llhttp_native(subject_list& out) {
  out.push_back(std::make_unique<llhttp_native::llhttp_subject>());
}
#endif

}  // namespace taut_bench
