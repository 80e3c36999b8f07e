// Boost.Beast's request_parser and response_parser (header-only, libboost-dev) as a benchmark
// subject. Beast keeps the fields in its own container (it copies and allocates), and a parser
// object serves one message.
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/version.hpp>
#include <iterator>

#include "subject.hpp"

namespace taut_bench {
namespace {

namespace http = boost::beast::http;
using request_parser = http::request_parser<http::empty_body>;
using response_parser = http::response_parser<http::empty_body>;

template <class Parser>
std::size_t field_count(const Parser& parser) {
  const auto& fields = parser.get().base();
  return static_cast<std::size_t>(std::distance(fields.begin(), fields.end()));
}

class beast_subject final : public subject {
 public:
  std::string name() const override { return "beast"; }
  bool parses_responses() const override { return true; }
  std::string description() const override {
    return "Boost.Beast " + std::to_string(BOOST_VERSION / 100000) + "." +
           std::to_string(BOOST_VERSION / 100 % 1000) +
           " http::request_parser<empty_body> and response_parser<empty_body> (header-only)";
  }

  head_summary parse(std::string_view head) override {
    request_parser parser;
    boost::system::error_code ec;
    const std::size_t used = parser.put(boost::asio::const_buffer(head.data(), head.size()), ec);
    if (ec || !parser.is_header_done()) return {};
    return {used, field_count(parser)};
  }

  std::size_t parse_pipelined(std::string_view stream) override {
    std::size_t count = 0;
    while (!stream.empty()) {
      request_parser parser;
      boost::system::error_code ec;
      const std::size_t used =
          parser.put(boost::asio::const_buffer(stream.data(), stream.size()), ec);
      if (ec || !parser.is_done() || used == 0) return 0;
      stream.remove_prefix(used);
      ++count;
    }
    return count;
  }

  // Beast consumes nothing until the head is whole, so the caller hands it the growing buffer.
  head_summary parse_bytewise(std::string_view head) override {
    request_parser parser;
    std::size_t used = 0;
    for (std::size_t have = 1; have <= head.size(); ++have) {
      boost::system::error_code ec;
      used += parser.put(boost::asio::const_buffer(head.data() + used, have - used), ec);
      if (ec == http::error::need_more) continue;
      if (ec || !parser.is_header_done()) return {};
      return {used, field_count(parser)};
    }
    return {};
  }

  head_summary parse_response(std::string_view head) override {
    response_parser parser;
    boost::system::error_code ec;
    const std::size_t used = parser.put(boost::asio::const_buffer(head.data(), head.size()), ec);
    if (ec || !parser.is_header_done()) return {};
    return {used, field_count(parser)};
  }

  // The parser stops after the head (it is not eager) and empty_body takes no body: each body is
  // skipped by the Content-Length Beast parsed, as a user reading bodies elsewhere would.
  std::size_t parse_response_pipelined(std::string_view stream) override {
    std::size_t count = 0;
    while (!stream.empty()) {
      response_parser parser;
      boost::system::error_code ec;
      const std::size_t used =
          parser.put(boost::asio::const_buffer(stream.data(), stream.size()), ec);
      if (ec || !parser.is_header_done() || used == 0) return 0;
      stream.remove_prefix(used);
      if (!parser.is_done()) {
        const auto length = parser.content_length();
        if (!length || *length > stream.size()) return 0;
        stream.remove_prefix(static_cast<std::size_t>(*length));
      }
      ++count;
    }
    return count;
  }

  head_summary parse_split(std::string_view head, std::size_t split) override {
    request_parser parser;
    boost::system::error_code ec;
    std::size_t used = parser.put(boost::asio::const_buffer(head.data(), split), ec);
    if (ec != http::error::need_more) return {};
    ec = {};
    used += parser.put(boost::asio::const_buffer(head.data() + used, head.size() - used), ec);
    if (ec || !parser.is_header_done()) return {};
    return {used, field_count(parser)};
  }
};

}  // namespace

void add_beast(subject_list& out) {
  out.push_back(std::make_unique<beast_subject>());
}

}  // namespace taut_bench
