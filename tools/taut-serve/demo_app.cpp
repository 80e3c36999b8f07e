#include "demo_app.hpp"

#include <charconv>
#include <chrono>
#include <ctime>
#include <string>

#include "taut/handler.hpp"
#include "taut/server_loop.hpp"
#include "taut/static_files.hpp"
#include "taut/transport/event_loop.hpp"

namespace taut::serve {
namespace {

constexpr std::string_view index_page = R"(<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>taut-serve</title></head>
<body>
<h1>taut-serve</h1>
<p>The demo server of taut, a strict, zero-copy HTTP/1.1 toolkit.</p>
<ul>
<li><a href="/hello/world"><code>GET /hello/{name}</code></a>: a text greeting</li>
<li><a href="/hello?name=taut"><code>GET /hello?name=</code></a>: the same, from the query</li>
<li><code>POST /echo</code>: the request (method, target, headers, body) as JSON</li>
<li><a href="/static/"><code>GET /static/{path...}</code></a>: files under the <code>--root</code> directory</li>
<li><a href="/healthz"><code>GET /healthz</code></a>: <code>ok</code></li>
<li><a href="/plaintext"><code>GET /plaintext</code></a>: <code>Hello, World!</code></li>
<li><a href="/clock?n=3"><code>GET /clock?n=</code></a>: server-sent events, the time once a second</li>
</ul>
</body>
</html>
)";

/// The length of the UTF-8 sequence starting at s[i] if it is valid (no overlongs, no surrogates,
/// nothing above U+10FFFF), or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  const auto continuation = [&](std::size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return continuation(i + 1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!continuation(i + 1) || !continuation(i + 2)) return 0;
    const unsigned char b1 = byte(i + 1);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b0 == 0xED && b1 > 0x9F) return 0;  // a surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) return 0;
    const unsigned char b1 = byte(i + 1);
    if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && b1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

/// A 200 response of `type` that a browser never sniffs as another type: a greeting or an echo
/// that carries markup stays text, never HTML or script.
void send_unsniffed(reply& response, std::string_view body,
                    std::string_view type = "text/plain; charset=utf-8") {
  response.status(200);
  response.header("Content-Type", type);
  response.header("X-Content-Type-Options", "nosniff");
  response.send(body);
}

/// "Hello, <name>!": the body says charset=utf-8, so each byte of `name` that is not part of valid
/// UTF-8 (`/hello/%ff`) becomes U+FFFD, as in /echo's JSON.
void greet(reply& response, std::string_view name) {
  std::string text;
  text.reserve(name.size() + 9);
  text.append("Hello, ");
  for (std::size_t i = 0; i < name.size();) {
    const std::size_t n = utf8_sequence(name, i);
    if (n == 0) {
      text.append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
    } else {
      text.append(name.substr(i, n));
      i += n;
    }
  }
  text.append("!\n");
  send_unsniffed(response, text);
}

// --- GET /clock: server-sent events --------------------------------------------------------------

/// One `GET /clock` stream: a producer outside every handler call. A timer of the connection's
/// loop writes one event a second through the detached response writer; when the client reads
/// slower than that, it waits for on_drained() before the next. It deletes itself once the
/// stream has ended or can no longer be written (the client left, the server shut down).
class clock_stream {
 public:
  static void start(transport::event_loop& loop, response_writer writer, int events) {
    auto* stream = new clock_stream(loop, std::move(writer), events);
    stream->tick();
  }

 private:
  clock_stream(transport::event_loop& loop, response_writer writer, int events) noexcept
      : timer_(loop), writer_(std::move(writer)), events_(events) {
    timer_.set_callback([this] { tick(); });
  }

  void tick() noexcept {
    if (!writer_.ready()) {
      // Wait for the client; a false answer means the response is already gone.
      if (!writer_.on_drained([this] { tick(); })) delete this;
      return;
    }
    ++sent_;
    // "id: 1\ndata: 2026-01-02T03:04:05Z\n\n": the event number, then the UTC time.
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm utc{};
    gmtime_r(&now, &utc);
    char event[64];
    const std::size_t size =
        std::strftime(event, sizeof event, "data: %Y-%m-%dT%H:%M:%SZ\n\n", &utc);
    char id[24] = "id: ";
    char* id_end = std::to_chars(id + 4, id + sizeof id - 1, sent_).ptr;
    *id_end++ = '\n';
    if (!writer_.write(std::string_view(id, static_cast<std::size_t>(id_end - id))) ||
        !writer_.write(std::string_view(event, size))) {
      delete this;  // the client is gone
      return;
    }
    if (sent_ == events_) {
      writer_.finish();
      delete this;
      return;
    }
    timer_.arm_in(std::chrono::seconds(1));
  }

  transport::timer timer_;
  response_writer writer_;
  int events_;
  int sent_ = 0;
};

/// The `n` of /clock?n=: 1 to 3600 events, 3 when absent; 0 when it is not such a number.
int clock_events(std::string_view n) noexcept {
  if (n.empty()) return 3;
  int value = 0;
  for (const char c : n) {
    if (c < '0' || c > '9' || value > 3600) return 0;
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 3600 ? value : 0;
}

}  // namespace

void append_json_string(std::string& out, std::string_view bytes) {
  constexpr std::string_view hex = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < bytes.size();) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 0xf];
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence(bytes, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    // U+2028 and U+2029 are valid JSON but end a line in older JavaScript.
    if (n == 3 && c == 0xE2 && static_cast<unsigned char>(bytes[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(bytes[i + 2]) & 0xFE) == 0xA8) {
      out += static_cast<unsigned char>(bytes[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
    } else {
      out.append(bytes.substr(i, n));
    }
    i += n;
  }
  out += '"';
}

void add_demo_routes(mux& app, const demo_options& options) {
  app.handle("GET /{$}", [](request_context&, reply& response) {
    send_unsniffed(response, index_page, "text/html; charset=utf-8");
  });
  app.handle("GET /hello/{name}", [](request_context& request, reply& response) {
    greet(response, request.param("name"));
  });
  app.handle("GET /hello", [](request_context& request, reply& response) {
    const std::string_view name = request.query_or("name", "");
    greet(response, name.empty() ? "world" : name);
  });
  app.handle("POST /echo",
             handler(
                 [](request_context& request, reply& response) {
                   std::string json;
                   json.reserve(128 + request.target().size() + request.body().size() * 2);
                   json += "{\"method\":";
                   append_json_string(json, request.method_name());
                   json += ",\"target\":";
                   append_json_string(json, request.target());
                   json += ",\"headers\":[";
                   bool first = true;
                   for (const taut::header& field : request.headers()) {
                     if (!first) json += ',';
                     first = false;
                     json += '[';
                     append_json_string(json, field.name);
                     json += ',';
                     append_json_string(json, field.value);
                     json += ']';
                   }
                   json += "],\"body\":";
                   append_json_string(json, request.body());
                   json += "}\n";
                   send_unsniffed(response, json, "application/json");
                 },
                 {.body = body_mode::buffer, .max_body = options.max_body}));
  app.handle("GET /static/{path...}", static_files(options.root));
  app.handle("GET /healthz",
             [](request_context&, reply& response) { send_unsniffed(response, "ok\n"); });
  // The TechEmpower plaintext test: a constant body, nothing allocated per request.
  app.handle("GET /plaintext", [](request_context&, reply& response) {
    send_unsniffed(response, "Hello, World!", "text/plain");
  });
  add_clock_route(app);
}

void add_clock_route(mux& app) {
  app.handle("GET /clock", [](request_context& request, reply& response) {
    const int events = clock_events(request.query_or("n", ""));
    const connection_info* connection = request.connection();
    if (events == 0 || connection == nullptr) {
      response.text(events == 0 ? 400 : 500, events == 0 ? "n: a number of events, 1 to 3600\n"
                                                         : "no event loop to tick on\n");
      return;
    }
    response.header("Content-Type", "text/event-stream");
    response.header("Cache-Control", "no-cache");
    response.header("X-Content-Type-Options", "nosniff");
    if (!response.begin()) return;
    if (response.body_suppressed()) {  // HEAD: the head is all there is
      response.finish();
      return;
    }
    clock_stream::start(connection->owner().loop(), response.detach(), events);
  });
}

}  // namespace taut::serve
