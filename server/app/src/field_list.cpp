#include "taut/field_list.hpp"

#include "taut/http_chars.hpp"

namespace taut {

void field_list_range::iterator::advance() noexcept {
  while (true) {
    while (rest_.empty()) {
      // The next line of the field; a quoted string never continues onto it.
      while (line_ < fields_.size() && !chars::iequals(fields_[line_].name, name_)) ++line_;
      if (line_ == fields_.size()) {
        // The end: equal to a default-constructed iterator.
        fields_ = {};
        name_ = {};
        line_ = 0;
        current_ = {};
        done_ = true;
        return;
      }
      rest_ = fields_[line_++].value;
    }
    bool quoted = false;
    std::size_t i = 0;
    for (; i < rest_.size(); ++i) {
      const char c = rest_[i];
      if (quoted && c == '\\') {
        ++i;  // quoted-pair: the next byte is data, even a quote
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        break;
      }
    }
    const std::string_view member = chars::trim_ows(rest_.substr(0, i));
    rest_ = i < rest_.size() ? rest_.substr(i + 1) : std::string_view();
    if (member.empty()) continue;
    current_ = member;
    done_ = false;
    return;
  }
}

bool field_list_range::contains(std::string_view member) const noexcept {
  for (const std::string_view m : *this) {
    if (m == member) return true;
  }
  return false;
}

bool field_list_range::contains_token(std::string_view member) const noexcept {
  for (const std::string_view m : *this) {
    if (chars::iequals(m, member)) return true;
  }
  return false;
}

}  // namespace taut
