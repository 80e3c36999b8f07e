// Writing: output blocks borrowed from the pool, chained in request order; what the owner sends
// next (bytes or a file segment) and what it reports sent.
#include "connection_internal.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace taut {

connection::out_block* connection::new_block() noexcept {
  char* memory = ctx_->pool_->acquire();
  if (memory == nullptr) {
    broken_ = true;
    return nullptr;
  }
  return ::new (static_cast<void*>(memory)) out_block{};
}

bool connection::append_blocks(out_chain& chain, std::string_view bytes) noexcept {
  const std::uint32_t capacity = ctx_->out_capacity_;
  while (!bytes.empty()) {
    out_block* tail = chain.tail;
    if (tail == nullptr || tail->end == capacity || tail->file_fd >= 0) {
      out_block* block = new_block();
      if (block == nullptr) return false;
      if (tail == nullptr) {
        chain.head = block;
      } else {
        tail->next = block;
      }
      chain.tail = tail = block;
    }
    const std::size_t n = std::min<std::size_t>(capacity - tail->end, bytes.size());
    std::memcpy(tail->data() + tail->end, bytes.data(), n);
    tail->end += static_cast<std::uint32_t>(n);
    queued_ += n;
    bytes.remove_prefix(n);
  }
  return true;
}

void connection::drop_blocks(out_chain& chain) noexcept {
  for (out_block* block = chain.head; block != nullptr;) {
    out_block* next = block->next;
    queued_ -= block->end - block->begin;
    if (block->file_fd >= 0) {
      queued_ -= static_cast<std::size_t>(block->file_left);
      ::close(block->file_fd);
    }
    block->~out_block();
    ctx_->pool_->release(reinterpret_cast<char*>(block));
    block = next;
  }
  chain = {};
}

void connection::splice(out_chain& chain) noexcept {
  if (chain.head == nullptr) return;
  if (out_.tail == nullptr) {
    out_.head = chain.head;
  } else {
    out_.tail->next = chain.head;
  }
  out_.tail = chain.tail;
  chain = {};
}

std::string_view connection::output() const noexcept {
  if (out_.head == nullptr) return {};
  return {out_.head->data() + out_.head->begin, out_.head->end - out_.head->begin};
}

std::size_t connection::output(std::span<std::string_view> pieces) const noexcept {
  std::size_t n = 0;
  for (out_block* block = out_.head; block != nullptr && n < pieces.size(); block = block->next) {
    if (block->file_fd >= 0) break;  // the file segment goes by pending_file()
    pieces[n++] = std::string_view(block->data() + block->begin, block->end - block->begin);
  }
  return n;
}

void connection::commit_write(std::size_t bytes, time_point now) noexcept {
  ctx_->now_ = now;
  if (bytes > 0) write_since_ = now;
  while (bytes > 0 && out_.head != nullptr && out_.head->file_fd < 0) {
    out_block* block = out_.head;
    const std::size_t n = std::min<std::size_t>(bytes, block->end - block->begin);
    block->begin += static_cast<std::uint32_t>(n);
    queued_ -= n;
    bytes -= n;
    if (block->begin == block->end) {
      out_.head = block->next;
      if (out_.head == nullptr) out_.tail = nullptr;
      block->~out_block();
      ctx_->pool_->release(reinterpret_cast<char*>(block));
    }
  }
  process();
}

file_segment connection::pending_file() const noexcept {
  const out_block* block = out_.head;
  if (block == nullptr || block->file_fd < 0) return {};
  return {block->file_fd, block->file_offset, block->file_left};
}

void connection::commit_file(std::uint64_t bytes, time_point now) noexcept {
  ctx_->now_ = now;
  out_block* block = out_.head;
  if (block == nullptr || block->file_fd < 0) return;
  bytes = std::min(bytes, block->file_left);
  if (bytes > 0) write_since_ = now;
  block->file_offset += bytes;
  block->file_left -= bytes;
  queued_ -= static_cast<std::size_t>(bytes);
  if (block->file_left == 0) {
    ::close(block->file_fd);
    out_.head = block->next;
    if (out_.head == nullptr) out_.tail = nullptr;
    block->~out_block();
    ctx_->pool_->release(reinterpret_cast<char*>(block));
  }
  process();
}

}  // namespace taut
