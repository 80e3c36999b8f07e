#include "taut/handler.hpp"

#include <cstring>
#include <string>
#include <utility>

#include "taut/http_chars.hpp"
#include "taut/path.hpp"
#include "taut/status.hpp"

namespace taut {
namespace {

/// Whether `raw` (a query name or value: '+' is a space) decodes to exactly `plain`. A malformed
/// escape never matches.
bool query_text_equals(std::string_view raw, std::string_view plain) noexcept {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < raw.size()) {
    if (j == plain.size()) return false;
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= raw.size()) return false;
      const int high = chars::hex_value(raw[i + 1]);
      const int low = chars::hex_value(raw[i + 2]);
      if (high < 0 || low < 0) return false;
      c = static_cast<char>(high * 16 + low);
      i += 3;
    } else {
      if (c == '+') c = ' ';
      ++i;
    }
    if (c != plain[j++]) return false;
  }
  return j == plain.size();
}

bool needs_decoding(std::string_view raw) noexcept {
  return raw.find_first_of("%+") != std::string_view::npos;
}

}  // namespace

void query_range::iterator::advance() noexcept {
  while (!rest_.empty()) {
    const std::size_t amp = rest_.find('&');
    const std::string_view pair = rest_.substr(0, amp);
    rest_ = amp == std::string_view::npos ? rest_.substr(rest_.size()) : rest_.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    current_.name = pair.substr(0, eq);
    current_.value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    done_ = false;
    return;
  }
  // The end: equal to a default-constructed iterator.
  rest_ = {};
  current_ = {};
  done_ = true;
}

std::string_view request_context::authority() const noexcept {
  switch (request_->head().target_form) {
    case target_form::absolute:
      if (const auto parts = split_absolute_form(request_->target())) return parts->authority;
      break;
    case target_form::authority:
      return request_->target();
    case target_form::origin:
    case target_form::asterisk:
      break;
  }
  return request_->host();
}

bool request_context::has_query(std::string_view name) const noexcept {
  for (const query_param& p : query_params()) {
    if (query_text_equals(p.name, name)) return true;
  }
  return false;
}

std::optional<std::string_view> request_context::query(std::string_view name) noexcept {
  for (const query_param& p : query_params()) {
    if (!query_text_equals(p.name, name)) continue;
    if (!needs_decoding(p.value)) return p.value;
    for (std::size_t i = 0; i < memo_count_; ++i) {
      if (memo_[i].raw == p.value.data()) return memo_[i].value;
    }
    if (!valid_percent_escapes(p.value)) continue;  // as Go's ParseQuery: a bad pair is skipped
    const std::span<char> free = scratch_.subspan(scratch_used_);
    const auto value = percent_decode(p.value, free, /*plus_as_space=*/true);
    if (!value) return std::nullopt;
    scratch_used_ += value->size();
    if (memo_count_ < memo_size) memo_[memo_count_++] = {p.value.data(), *value};
    return value;
  }
  return std::nullopt;
}

// --- reply -------------------------------------------------------------------------------------

bool reply::status(int code) noexcept {
  if (!writer_.set_status(code)) return false;
  status_ = code;
  return true;
}

bool reply::header(std::string_view name, std::string_view value) noexcept {
  if (!writer_.add_header(name, value)) return false;
  if (chars::iequals(name, "content-type")) typed_ = true;
  return true;
}

bool reply::reset() noexcept {
  if (!writer_.reset()) return false;
  status_ = 200;
  typed_ = false;
  return true;
}

bool reply::send(std::string_view body) noexcept {
  if (!writer_.send(body)) return false;
  body_bytes_ += body.size();
  started_ = finished_ = true;
  return true;
}

bool reply::send(int code, std::string_view body, std::string_view content_type) noexcept {
  if (!status(code)) return false;
  if (!content_type.empty() && !header("Content-Type", content_type)) return false;
  return send(body);
}

// A default type yields to a Content-Type the handler set itself ("application/problem+json"
// before json()); send(code, body, type)'s explicit one replaces it.
bool reply::text(int code, std::string_view body) noexcept {
  return send(code, body, typed_ ? std::string_view() : "text/plain; charset=utf-8");
}

bool reply::html(int code, std::string_view body) noexcept {
  return send(code, body, typed_ ? std::string_view() : "text/html; charset=utf-8");
}

bool reply::json(int code, std::string_view body) noexcept {
  return send(code, body, typed_ ? std::string_view() : "application/json");
}

bool reply::error(int code) noexcept {
  // "404 Not Found\n": the status digits, a space, the reason and a newline, without allocating.
  const std::string_view reason = reason_phrase(code);
  char text[64];
  // An error is a 4xx or 5xx: error(200) would dress a failure as a success.
  if (code < 400 || code > 599 || reason.size() + 6 > sizeof text) return false;
  text[0] = static_cast<char>('0' + code / 100);
  text[1] = static_cast<char>('0' + code / 10 % 10);
  text[2] = static_cast<char>('0' + code % 10);
  std::size_t n = 3;
  if (!reason.empty()) {
    text[n++] = ' ';
    std::memcpy(text + n, reason.data(), reason.size());
    n += reason.size();
  }
  text[n++] = '\n';
  // A caller may have set the status already to add fields first (405 with Allow).
  if (!status(code)) return false;
  if (!header("Content-Type", "text/plain; charset=utf-8")) return false;
  if (!header("X-Content-Type-Options", "nosniff")) return false;
  return send(std::string_view(text, n));
}

bool reply::redirect(int code, std::string_view location) noexcept {
  // Only the codes that redirect with a Location (RFC 9110 section 15.4); 300 and 305 do not.
  if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) return false;
  // A URI-reference (RFC 3986 section 4.1) holds only these characters, non-ASCII ones
  // percent-encoded: a space or control would make a Location no client reads as meant.
  for (const char c : location) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') ||
                         std::strchr("-._~:/?#[]@!$&'()*+,;=%", c) != nullptr;
    if (!allowed || c == '\0') return false;
  }
  if (!status(code)) return false;
  if (!header("Location", location)) return false;
  if (!header("Content-Type", "text/plain; charset=utf-8")) return false;
  const std::string_view reason = reason_phrase(code);
  if (!writer_.begin(reason.size() + 1)) return false;
  started_ = true;
  const bool ok = writer_.write(reason) && writer_.write("\n");
  body_bytes_ += reason.size() + 1;
  return finish() && ok;
}

bool reply::begin() noexcept {
  if (!writer_.begin()) return false;
  started_ = true;
  return true;
}

bool reply::begin(std::uint64_t content_length) noexcept {
  if (!writer_.begin(content_length)) return false;
  started_ = true;
  return true;
}

bool reply::write(std::string_view piece) noexcept {
  if (!writer_.write(piece)) return false;
  body_bytes_ += piece.size();
  return true;
}

bool reply::finish(std::span<const taut::header> trailers) noexcept {
  if (!writer_.finish(trailers)) return false;
  started_ = finished_ = true;
  return true;
}

// --- strip_prefix --------------------------------------------------------------------------------

handler strip_prefix(std::string_view prefix, handler inner) {
  std::string stripped(prefix);
  while (!stripped.empty() && stripped.back() == '/') stripped.pop_back();
  const handler_options options = inner.options();
  return handler(
      [stripped = std::move(stripped), inner = std::move(inner)](request_context& request,
                                                                 reply& response) {
        const std::string_view path = request.path();
        // "/v1" covers "/v1" and "/v1/..." but not "/v1x": a prefix ends at a segment boundary.
        if (!path.starts_with(stripped) ||
            (path.size() > stripped.size() && path[stripped.size()] != '/')) {
          response.error(404);
          return;
        }
        const std::string_view rest = path.substr(stripped.size());
        // Restores the outer path for whoever runs after the inner handler (middleware, a log),
        // also when it throws.
        struct restore {
          request_context& request;
          std::string_view path;
          ~restore() { request.path_ = path; }
        } guard{request, path};
        request.path_ = rest.empty() ? std::string_view("/") : rest;
        inner(request, response);
      },
      options);
}

}  // namespace taut
