// taut-parse: runs taut's request parser over a file or stdin and prints what it decided, one JSON
// object per request. Made for triaging fuzz findings and comparing taut with other parsers, so the
// output is byte-exact and stable; see `taut-parse --help` and the README for the contract.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "taut/parser.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_parse_error = 1;
constexpr int exit_usage = 2;

constexpr std::string_view usage_line =
    "usage: taut-parse [--lenient] [--allow-transfer-codings] [FILE]\n";

constexpr std::string_view help_text = R"(
Parses FILE (stdin when FILE is absent or "-") as a sequence of pipelined HTTP/1.1 requests, bodies
included, and prints one JSON object per line for each complete request:

  {"method":"GET","target":"/x","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}

with "trailers":[[name,value],...] after "body" when the request had trailer fields. "body" is
the decoded body (chunked framing removed). Header names keep their case and order. With
--allow-transfer-codings, a request whose body has codings before chunked gets
"transfer_codings":"<codings as sent>" after "body" (the body is printed still coded).

Strings are byte strings: bytes below 0x20, '"', '\' and bytes from 0x7f up are written as
\u00XX (lowercase hex); every other byte as itself. An obs-fold in a field value (accepted only with
--lenient) is printed as one SP in place of the whitespace, line break and whitespace that form it.

Requests follow one another whatever their Connection or Upgrade fields say. Empty lines after the
last request are not a request.

On a parse error it prints {"error":"<code name>","status":<status>,"offset":<offset>} and exits 1;
the offset counts from the first byte of the input. If the input ends inside a request it prints
{"incomplete":true} and exits 0. Otherwise it exits 0. Usage and input errors exit 2.

options:
  --lenient   accept bare LF line endings, obs-fold and whitespace before a field's colon
              (taut::leniency::syntax()); leniencies that change message framing stay off
  --allow-transfer-codings
              accept transfer codings other than chunked (gzip, br, ...) before the final
              chunked, as taut::parse_options::allow_transfer_codings; by default they are
              unknown_transfer_coding (501)
  -h, --help  print this help and exit
)";

/// Appends `bytes` as the contents of a JSON string, escaping every byte that is not printable
/// ASCII as \u00XX so that the output says exactly which bytes the parser saw.
void append_json_bytes(std::string& out, std::string_view bytes) {
  constexpr std::string_view hex = "0123456789abcdef";
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || byte == '"' || byte == '\\') {
      out += "\\u00";
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    } else {
      out += c;
    }
  }
}

void append_json_string(std::string& out, std::string_view bytes) {
  out += '"';
  append_json_bytes(out, bytes);
  out += '"';
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

/// A field value with each obs-fold (RFC 9112 section 5.2: OWS, a line break, then SP/HTAB)
/// replaced by one SP, which is what RFC 9112 tells a recipient to do with it.
std::string unfold(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size();) {
    const bool crlf = value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n';
    if (!crlf && value[i] != '\n') {
      out += value[i++];
      continue;
    }
    while (!out.empty() && is_blank(out.back())) out.pop_back();
    i += crlf ? 2 : 1;
    while (i < value.size() && is_blank(value[i])) ++i;
    out += ' ';
  }
  return out;
}

void append_fields(std::string& out, std::span<const taut::header> fields) {
  out += '[';
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i != 0) out += ',';
    out += '[';
    append_json_string(out, fields[i].name);
    out += ',';
    append_json_string(out, unfold(fields[i].value));
    out += ']';
  }
  out += ']';
}

void print_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

void print_request(const taut::request& request, std::string_view body,
                   std::span<const taut::header> trailers) {
  std::string line = "{\"method\":";
  append_json_string(line, request.method_name);
  line += ",\"target\":";
  append_json_string(line, request.target);
  line += ",\"version\":\"1.";
  line += static_cast<char>('0' + request.version_minor);
  line += "\",\"headers\":";
  append_fields(line, request.headers);
  line += ",\"body\":";
  append_json_string(line, body);
  if (!request.transfer_codings.empty()) {
    line += ",\"transfer_codings\":";
    append_json_string(line, request.transfer_codings);
  }
  if (!trailers.empty()) {
    line += ",\"trailers\":";
    append_fields(line, trailers);
  }
  line += ",\"keep_alive\":";
  line += request.keep_alive ? "true" : "false";
  line += '}';
  print_line(line);
}

int print_error(const taut::parse_error& error, std::size_t input_offset) {
  std::string line = "{\"error\":";
  append_json_string(line, taut::to_string(error.code));
  line += ",\"status\":" + std::to_string(error.status);
  line += ",\"offset\":" + std::to_string(input_offset + error.offset) + "}";
  print_line(line);
  return exit_parse_error;
}

int print_incomplete() {
  print_line("{\"incomplete\":true}");
  return exit_ok;
}

/// True if `rest` holds nothing but empty lines, which RFC 9112 section 2.2 lets a server ignore
/// before a request-line: they start no request, so running out of input there is not
/// "incomplete".
bool only_empty_lines(std::string_view rest, bool bare_lf) {
  while (!rest.empty()) {
    if (rest.starts_with("\r\n")) {
      rest.remove_prefix(2);
    } else if (bare_lf && rest.front() == '\n') {
      rest.remove_prefix(1);
    } else {
      return false;
    }
  }
  return true;
}

/// Parses `input` as pipelined requests and prints each; returns the exit status.
int parse_requests(std::string_view input, const taut::parse_options& options) {
  std::vector<taut::header> header_storage(options.max_headers);
  std::vector<taut::header> trailer_storage(options.max_headers);
  taut::request_parser parser(header_storage, options);
  std::string body;

  std::size_t position = 0;
  while (!only_empty_lines(input.substr(position), options.lenient.bare_lf)) {
    parser.reset();
    const taut::parse_result head = parser.parse(input.substr(position));
    if (head.incomplete()) return print_incomplete();
    if (head.failed()) return print_error(head.error, position);

    const taut::request& request = parser.request();
    const std::size_t body_start = position + head.consumed;
    taut::body_decoder decoder(request.body, options, trailer_storage);
    body.clear();
    position = body_start;
    for (;;) {
      const taut::body_result piece = decoder.decode(input.substr(position));
      if (piece.status == taut::parse_status::error) return print_error(piece.error, body_start);
      body += piece.data;
      position += piece.consumed;
      if (piece.status == taut::parse_status::complete) break;
      // The decoder was given all the input there is: no progress means it needs more.
      if (piece.consumed == 0) return print_incomplete();
    }
    print_request(request, body, decoder.trailers());
  }
  return exit_ok;
}

bool read_all(std::FILE* file, std::string& out) {
  char chunk[64 * 1024];
  for (;;) {
    const std::size_t n = std::fread(chunk, 1, sizeof chunk, file);
    out.append(chunk, n);
    if (n < sizeof chunk) return std::ferror(file) == 0;
  }
}

int usage_error(std::string_view message) {
  std::fprintf(stderr, "taut-parse: %.*s\n%.*s", static_cast<int>(message.size()), message.data(),
               static_cast<int>(usage_line.size()), usage_line.data());
  return exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
  taut::parse_options options;
  const char* path = nullptr;
  bool options_ended = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!options_ended && (arg == "-h" || arg == "--help")) {
      std::fwrite(usage_line.data(), 1, usage_line.size(), stdout);
      std::fwrite(help_text.data(), 1, help_text.size(), stdout);
      return exit_ok;
    }
    if (!options_ended && arg == "--lenient") {
      options.lenient = taut::leniency::syntax();
    } else if (!options_ended && arg == "--allow-transfer-codings") {
      options.allow_transfer_codings = true;
    } else if (!options_ended && arg == "--") {
      options_ended = true;
    } else if (!options_ended && arg.size() > 1 && arg.front() == '-') {
      return usage_error("unknown option " + std::string(arg));
    } else if (path != nullptr) {
      return usage_error("more than one FILE");
    } else {
      path = argv[i];
    }
  }

  std::string input;
  const bool from_stdin = path == nullptr || std::string_view(path) == "-";
  std::FILE* file = from_stdin ? stdin : std::fopen(path, "rb");
  if (file == nullptr) {
    std::fprintf(stderr, "taut-parse: cannot open %s: %s\n", path, std::strerror(errno));
    return exit_usage;
  }
  const bool read_ok = read_all(file, input);
  const int read_errno = errno;
  if (!from_stdin) std::fclose(file);
  if (!read_ok) {
    std::fprintf(stderr, "taut-parse: cannot read %s: %s\n", from_stdin ? "stdin" : path,
                 std::strerror(read_errno));
    return exit_usage;
  }

  const int status = parse_requests(input, options);
  if (std::fflush(stdout) != 0) {
    std::fprintf(stderr, "taut-parse: cannot write output: %s\n", std::strerror(errno));
    return exit_usage;
  }
  return status;
}
