// Runs llhttp (strict mode, compiled from Debian's node-llhttp sources) over a request and records
// what it saw of the first message, in a form the differential harness compares with taut's.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <llhttp.h>

namespace taut::fuzz {

// How a parser judged the first message of an input.
enum class verdict { accept, reject, incomplete };

inline std::string_view verdict_name(verdict v) noexcept {
  switch (v) {
    case verdict::accept:
      return "accept";
    case verdict::reject:
      return "reject";
    case verdict::incomplete:
      return "incomplete";
  }
  return "?";
}

using field_list = std::vector<std::pair<std::string, std::string>>;

struct llhttp_message {
  verdict outcome = verdict::incomplete;
  std::string method;
  std::string url;
  int major = 0;
  int minor = 0;
  field_list headers;
  field_list trailers;
  std::string body;
  bool upgrade = false;  // llhttp stopped after the head: CONNECT or a protocol upgrade
  llhttp_errno_t error = HPE_OK;
  std::string reason;
  std::size_t error_offset = 0;
};

namespace detail {

struct llhttp_state {
  llhttp_message* out = nullptr;
  std::string field;
  std::string value;
  bool in_value = false;
  bool headers_done = false;
  bool message_done = false;
};

inline llhttp_state& state_of(llhttp_t* parser) {
  return *static_cast<llhttp_state*>(parser->data);
}

inline void flush_field(llhttp_state& s) {
  if (!s.in_value && s.field.empty()) return;
  (s.headers_done ? s.out->trailers : s.out->headers)
      .emplace_back(std::move(s.field), std::move(s.value));
  s.field.clear();
  s.value.clear();
  s.in_value = false;
}

inline const llhttp_settings_t& settings() {
  static const llhttp_settings_t instance = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_method = [](llhttp_t* p, const char* at, std::size_t n) {
      state_of(p).out->method.append(at, n);
      return 0;
    };
    s.on_url = [](llhttp_t* p, const char* at, std::size_t n) {
      state_of(p).out->url.append(at, n);
      return 0;
    };
    s.on_header_field = [](llhttp_t* p, const char* at, std::size_t n) {
      auto& st = state_of(p);
      if (st.in_value) flush_field(st);
      st.field.append(at, n);
      return 0;
    };
    s.on_header_value = [](llhttp_t* p, const char* at, std::size_t n) {
      auto& st = state_of(p);
      st.in_value = true;
      st.value.append(at, n);
      return 0;
    };
    s.on_header_value_complete = [](llhttp_t* p) {
      auto& st = state_of(p);
      st.in_value = true;
      flush_field(st);
      return 0;
    };
    s.on_headers_complete = [](llhttp_t* p) {
      auto& st = state_of(p);
      flush_field(st);
      st.headers_done = true;
      st.out->major = p->http_major;
      st.out->minor = p->http_minor;
      return 0;
    };
    s.on_body = [](llhttp_t* p, const char* at, std::size_t n) {
      state_of(p).out->body.append(at, n);
      return 0;
    };
    s.on_message_complete = [](llhttp_t* p) {
      auto& st = state_of(p);
      flush_field(st);
      st.message_done = true;
      return static_cast<int>(HPE_PAUSED);  // stop after the first message
    };
    return s;
  }();
  return instance;
}

}  // namespace detail

inline llhttp_message run_llhttp(std::string_view input) {
  llhttp_message out;
  detail::llhttp_state state;
  state.out = &out;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &detail::settings());
  parser.data = &state;
  const llhttp_errno_t rc = llhttp_execute(&parser, input.data(), input.size());
  if (state.message_done) {
    out.outcome = verdict::accept;
    out.upgrade = rc == HPE_PAUSED_UPGRADE || parser.upgrade != 0;
  } else if (rc == HPE_OK) {
    out.outcome = verdict::incomplete;
  } else if (rc == HPE_PAUSED_UPGRADE) {
    out.outcome = verdict::accept;
    out.upgrade = true;
  } else {
    out.outcome = verdict::reject;
    out.error = rc;
    out.reason =
        llhttp_get_error_reason(&parser) != nullptr ? llhttp_get_error_reason(&parser) : "";
    const char* pos = llhttp_get_error_pos(&parser);
    out.error_offset = pos != nullptr && pos >= input.data() && pos <= input.data() + input.size()
                           ? static_cast<std::size_t>(pos - input.data())
                           : input.size();
  }
  return out;
}

}  // namespace taut::fuzz
