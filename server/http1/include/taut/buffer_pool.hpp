// Fixed-size byte blocks that connections borrow only while bytes are in flight and give back when
// they go idle, so an idle keep-alive connection holds no buffer at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

namespace taut {

/// Lends fixed-size blocks of bytes. One pool serves the connections of one thread: it is not
/// thread-safe, by design (no lock on the per-request path).
class buffer_pool {
 public:
  virtual ~buffer_pool() = default;

  /// Bytes in every block; never changes.
  [[nodiscard]] virtual std::size_t block_size() const noexcept = 0;
  /// A block of block_size() bytes, aligned for any fundamental type, or nullptr when the pool is
  /// exhausted (the borrower then gives up the work that needed it).
  [[nodiscard]] virtual char* acquire() noexcept = 0;
  /// Gives back a block that acquire() returned.
  virtual void release(char* block) noexcept = 0;
};

/// A buffer_pool over the heap: released blocks go on a free list and are lent again, so in the
/// steady state lending costs no allocation. At most `max_free` released blocks are kept (the
/// rest are freed), and at most `max_blocks` are lent at once.
class block_pool final : public buffer_pool {
 public:
  static constexpr std::size_t default_block_size = 8 * 1024;

  explicit block_pool(std::size_t block_size = default_block_size, std::size_t max_free = 1024,
                      std::size_t max_blocks = std::numeric_limits<std::size_t>::max()) noexcept;
  ~block_pool() override;
  block_pool(const block_pool&) = delete;
  block_pool& operator=(const block_pool&) = delete;

  [[nodiscard]] std::size_t block_size() const noexcept override { return block_size_; }
  [[nodiscard]] char* acquire() noexcept override;
  void release(char* block) noexcept override;

  /// Blocks lent out now.
  [[nodiscard]] std::size_t in_use() const noexcept { return in_use_; }
  /// Released blocks kept for reuse.
  [[nodiscard]] std::size_t free_blocks() const noexcept { return free_count_; }
  /// Blocks ever taken from the heap (a steady state stops increasing it).
  [[nodiscard]] std::uint64_t heap_allocations() const noexcept { return heap_allocations_; }

 private:
  struct free_node {
    free_node* next;
  };
  std::size_t block_size_;
  std::size_t max_free_;
  std::size_t max_blocks_;
  free_node* free_ = nullptr;
  std::size_t free_count_ = 0;
  std::size_t in_use_ = 0;
  std::uint64_t heap_allocations_ = 0;
};

}  // namespace taut
