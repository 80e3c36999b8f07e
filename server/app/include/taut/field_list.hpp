// The members of a list-valued field (RFC 9110 section 5.6.1: `#element`, such as If-None-Match,
// If-Match, Accept-Encoding, Cache-Control, Vary) read over every field line of that name, in
// order, as one list: RFC 9110 section 5.3 lets a sender split such a list over several lines, and
// a recipient must read the lines as if they were one joined by commas.
#pragma once

#include <cstddef>
#include <iterator>
#include <span>
#include <string_view>

#include "taut/message.hpp"

namespace taut {

/// The comma-separated members of every field named `name` (ASCII case-insensitive), in order:
/// each trimmed of OWS, empty members skipped (RFC 9110 section 5.6.1 has recipients ignore
/// them), and a comma inside a quoted string ("a,b" in `"a,b", W/"c"`) not a separator.
/// Members are views of the fields' values; a member is not checked against any grammar beyond
/// that. Allocation-free; valid while `fields` is.
class field_list_range {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string_view*;
    using reference = const std::string_view&;

    iterator() noexcept = default;
    reference operator*() const noexcept { return current_; }
    pointer operator->() const noexcept { return &current_; }
    iterator& operator++() noexcept {
      advance();
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator copy = *this;
      advance();
      return copy;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.current_.data() == b.current_.data() && a.current_.size() == b.current_.size() &&
             a.done_ == b.done_;
    }

   private:
    friend class field_list_range;
    iterator(std::span<const header> fields, std::string_view name) noexcept
        : fields_(fields), name_(name), line_(0) {
      advance();
    }
    void advance() noexcept;

    std::span<const header> fields_{};
    std::string_view name_{};
    std::size_t line_ = 0;        // the next field to look at once rest_ is used up
    std::string_view rest_{};     // what is left of the current line's value
    std::string_view current_{};  // the member *this yields
    bool done_ = true;
  };

  field_list_range(std::span<const header> fields, std::string_view name) noexcept
      : fields_(fields), name_(name) {}

  [[nodiscard]] iterator begin() const noexcept { return iterator(fields_, name_); }
  [[nodiscard]] iterator end() const noexcept { return iterator(); }
  /// Whether the list has no member (no such field, or only empty values and commas).
  [[nodiscard]] bool empty() const noexcept { return begin() == end(); }
  /// Whether some member equals `member` exactly (case-sensitive, as entity-tags compare).
  [[nodiscard]] bool contains(std::string_view member) const noexcept;
  /// Whether some member equals `member` ASCII case-insensitively (tokens: "gzip", "close").
  [[nodiscard]] bool contains_token(std::string_view member) const noexcept;

 private:
  std::span<const header> fields_;
  std::string_view name_;
};

}  // namespace taut
