#include "taut/buffer_pool.hpp"

#include <algorithm>
#include <cassert>
#include <new>

namespace taut {

block_pool::block_pool(std::size_t block_size, std::size_t max_free,
                       std::size_t max_blocks) noexcept
    : block_size_(std::max(block_size, sizeof(free_node))),
      max_free_(max_free),
      max_blocks_(max_blocks) {}

block_pool::~block_pool() {
  assert(in_use_ == 0 && "a block is still lent out: its borrower outlives the pool");
  while (free_ != nullptr) {
    free_node* next = free_->next;
    ::operator delete(static_cast<void*>(free_));
    free_ = next;
  }
}

char* block_pool::acquire() noexcept {
  if (in_use_ >= max_blocks_) return nullptr;
  if (free_ != nullptr) {
    free_node* node = free_;
    free_ = node->next;
    --free_count_;
    ++in_use_;
    return reinterpret_cast<char*>(node);
  }
  void* memory = ::operator new(block_size_, std::nothrow);
  if (memory == nullptr) return nullptr;
  ++heap_allocations_;
  ++in_use_;
  return static_cast<char*>(memory);
}

void block_pool::release(char* block) noexcept {
  if (block == nullptr) return;
  assert(in_use_ > 0);
  --in_use_;
  if (free_count_ >= max_free_) {
    ::operator delete(static_cast<void*>(block));
    return;
  }
  auto* node = ::new (static_cast<void*>(block)) free_node{free_};
  free_ = node;
  ++free_count_;
}

}  // namespace taut
