// HTTP status codes: their reason phrases (RFC 9110 section 15) and which ones carry no content.
#pragma once

#include <string_view>

namespace taut {

/// The reason phrase registered for `status` ("Not Found"), or an empty view for an unregistered
/// code (a status-line may carry an empty reason phrase, RFC 9112 section 4).
[[nodiscard]] std::string_view reason_phrase(int status) noexcept;

/// Whether a response with this status never has content: 1xx, 204 and 304 (RFC 9110 section
/// 6.4.1). Responses to HEAD have none either, whatever their status.
[[nodiscard]] constexpr bool status_forbids_body(int status) noexcept {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

}  // namespace taut
