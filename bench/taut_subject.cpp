// taut's own parser as a benchmark subject.
#include <array>

#include "subject.hpp"
#include "taut/parser.hpp"

namespace taut_bench {
namespace {

taut::parse_options options_for(bool lenient) {
  taut::parse_options options;
  if (lenient) options.lenient = taut::leniency::syntax();
  return options;
}

class taut_subject final : public subject {
 public:
  taut_subject(bool lenient, std::string path)
      : name_(std::string(lenient ? "taut-lenient" : "taut-strict") + ":" + path),
        lenient_(lenient),
        options_(options_for(lenient)),
        parser_(storage_, options_),
        response_parser_(storage_, options_) {}

  std::string name() const override { return name_; }
  std::string description() const override {
    return std::string("taut request_parser and response_parser, ") +
           (lenient_ ? "leniency::syntax()" : "strict") + ", path " +
           name_.substr(name_.find(':') + 1);
  }

  head_summary parse(std::string_view head) override {
    parser_.reset();
    return summary(parser_.parse(head));
  }

  std::size_t parse_pipelined(std::string_view stream) override {
    std::size_t count = 0;
    while (!stream.empty()) {
      parser_.reset();
      const taut::parse_result r = parser_.parse(stream);
      if (!r.complete()) return 0;
      stream.remove_prefix(r.consumed);
      ++count;
    }
    return count;
  }

  head_summary parse_bytewise(std::string_view head) override {
    parser_.reset();
    for (std::size_t have = 1; have <= head.size(); ++have) {
      const taut::parse_result r = parser_.parse(head.substr(0, have));
      if (!r.incomplete()) return summary(r);
    }
    return {};
  }

  head_summary parse_split(std::string_view head, std::size_t split) override {
    parser_.reset();
    if (!parser_.parse(head.substr(0, split)).incomplete()) return {};
    return summary(parser_.parse(head));
  }

  bool parses_responses() const override { return true; }
  head_summary parse_response(std::string_view head) override {
    response_parser_.reset();
    const taut::parse_result r = response_parser_.parse(head);
    if (!r.complete()) return {};
    return {r.consumed, response_parser_.response().headers.size()};
  }

  std::size_t parse_response_pipelined(std::string_view stream) override {
    std::size_t count = 0;
    while (!stream.empty()) {
      response_parser_.reset();
      const taut::parse_result r = response_parser_.parse(stream);
      if (!r.complete()) return 0;
      stream.remove_prefix(r.consumed);
      const taut::framing& body = response_parser_.response().body;
      if (body.kind == taut::body_kind::content_length) {
        if (body.content_length > stream.size()) return 0;
        stream.remove_prefix(static_cast<std::size_t>(body.content_length));
      } else if (body.kind != taut::body_kind::none) {
        return 0;
      }
      ++count;
    }
    return count;
  }

  bool decodes_chunked() const override { return true; }
  std::int64_t decode_chunked(std::string_view message, std::size_t head_size) override {
    std::string_view body = message.substr(head_size);
    taut::chunked_decoder decoder(options_);
    std::int64_t decoded = 0;
    while (true) {
      const taut::body_result r = decoder.decode(body);
      decoded += static_cast<std::int64_t>(r.data.size());
      body.remove_prefix(r.consumed);
      if (r.status == taut::parse_status::complete) return decoded;
      if (r.status == taut::parse_status::error || r.consumed == 0) return -1;
    }
  }

  bool decodes_chunked_in_place() const override { return true; }
  std::int64_t decode_chunked_in_place(std::span<char> body) override {
    taut::chunked_decoder decoder(options_);
    const taut::in_place_result r = decoder.decode_in_place(body);
    if (r.status != taut::parse_status::complete) return -1;
    return static_cast<std::int64_t>(r.decoded);
  }

 private:
  head_summary summary(const taut::parse_result& r) const {
    if (!r.complete()) return {};
    return {r.consumed, parser_.request().headers.size()};
  }

  std::string name_;
  bool lenient_;
  taut::parse_options options_;
  std::array<taut::header, 64> storage_{};
  taut::request_parser parser_;
  taut::response_parser response_parser_;  // shares storage_: one message at a time
};

}  // namespace

std::unique_ptr<subject> make_taut(bool lenient, std::string path) {
  return std::make_unique<taut_subject>(lenient, std::move(path));
}

}  // namespace taut_bench
