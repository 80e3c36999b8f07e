// A shared set of sample messages (valid, invalid, requests, responses, chunked bodies) that the
// guard-page, allocation and work-per-byte tests run over.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "taut/parser.hpp"

namespace taut::test {

/// Valid requests, heads with their bodies, as a browser, curl or a proxy would send them.
std::vector<std::string> sample_requests();
/// Rejected requests: one per kind of error, smuggling shapes included.
std::vector<std::string> sample_bad_requests();

struct sample_response {
  std::string bytes;
  method request_method = method::get;
};
/// Valid and invalid responses.
std::vector<sample_response> sample_responses();

/// Chunked bodies (the bytes after the head), valid and invalid.
std::vector<std::string> sample_chunked_bodies();

/// A GET request whose header section is about `header_bytes` long, made of many ordinary fields.
std::string large_request(std::size_t header_bytes);

/// A chunked body of `chunks` chunks with extensions and a trailer.
std::string large_chunked_body(std::size_t chunks);

}  // namespace taut::test
