#include "taut/parse_error.hpp"

#include <string>

namespace taut {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::ok:
      return "ok";
    case errc::bare_cr:
      return "bare_cr";
    case errc::bare_lf:
      return "bare_lf";
    case errc::bad_method:
      return "bad_method";
    case errc::bad_request_line:
      return "bad_request_line";
    case errc::bad_target:
      return "bad_target";
    case errc::bad_target_form:
      return "bad_target_form";
    case errc::bad_version:
      return "bad_version";
    case errc::unsupported_version:
      return "unsupported_version";
    case errc::request_line_too_long:
      return "request_line_too_long";
    case errc::bad_status_line:
      return "bad_status_line";
    case errc::bad_status_code:
      return "bad_status_code";
    case errc::bad_reason_phrase:
      return "bad_reason_phrase";
    case errc::bad_header_name:
      return "bad_header_name";
    case errc::bad_header_value:
      return "bad_header_value";
    case errc::missing_colon:
      return "missing_colon";
    case errc::space_before_colon:
      return "space_before_colon";
    case errc::obs_fold:
      return "obs_fold";
    case errc::leading_whitespace:
      return "leading_whitespace";
    case errc::header_section_too_large:
      return "header_section_too_large";
    case errc::too_many_headers:
      return "too_many_headers";
    case errc::bad_content_length:
      return "bad_content_length";
    case errc::conflicting_content_length:
      return "conflicting_content_length";
    case errc::transfer_encoding_with_content_length:
      return "transfer_encoding_with_content_length";
    case errc::chunked_not_final:
      return "chunked_not_final";
    case errc::chunked_applied_twice:
      return "chunked_applied_twice";
    case errc::bad_transfer_encoding:
      return "bad_transfer_encoding";
    case errc::unknown_transfer_coding:
      return "unknown_transfer_coding";
    case errc::transfer_encoding_http10:
      return "transfer_encoding_http10";
    case errc::missing_host:
      return "missing_host";
    case errc::duplicate_host:
      return "duplicate_host";
    case errc::bad_host:
      return "bad_host";
    case errc::bad_chunk_size:
      return "bad_chunk_size";
    case errc::chunk_size_overflow:
      return "chunk_size_overflow";
    case errc::bad_chunk_extension:
      return "bad_chunk_extension";
    case errc::chunk_extension_too_long:
      return "chunk_extension_too_long";
    case errc::bad_chunk_data_end:
      return "bad_chunk_data_end";
    case errc::body_cut_short:
      return "body_cut_short";
    case errc::chunk_overhead_too_large:
      return "chunk_overhead_too_large";
  }
  return "unknown";
}

int default_status(errc code) noexcept {
  switch (code) {
    case errc::ok:
      return 200;
    case errc::unsupported_version:
      return 505;
    case errc::request_line_too_long:
      return 414;
    case errc::header_section_too_large:
    case errc::too_many_headers:
      return 431;
    case errc::unknown_transfer_coding:
      return 501;
    default:
      return 400;
  }
}

namespace {

class parse_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "taut.parse"; }
  std::string message(int value) const override {
    return std::string(to_string(static_cast<errc>(value)));
  }
  std::error_condition default_error_condition(int value) const noexcept override {
    if (value == 0) return {};
    return {value, *this};
  }
};

}  // namespace

const std::error_category& parse_category() noexcept {
  static const parse_category_impl category;
  return category;
}

}  // namespace taut
