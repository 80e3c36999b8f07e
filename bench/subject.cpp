// What a subject that lacks a scenario answers (subject.hpp): shared by taut-bench and
// taut-bench-count.
#include "subject.hpp"

namespace taut_bench {

head_summary subject::parse_response(std::string_view) {
  return {};
}
std::size_t subject::parse_response_pipelined(std::string_view) {
  return 0;
}
std::int64_t subject::decode_chunked(std::string_view, std::size_t) {
  return -1;
}
std::int64_t subject::decode_chunked_in_place(std::span<char>) {
  return -1;
}

}  // namespace taut_bench
