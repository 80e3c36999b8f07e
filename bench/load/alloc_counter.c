/* alloc_counter: an LD_PRELOAD library that counts heap allocations, for scripts/bench-server.sh.
 *
 * It replaces malloc, calloc, realloc, reallocarray, free and the aligned allocators with thin
 * wrappers around glibc's own (__libc_malloc and friends, so no dlsym and no recursion while the
 * loader is still resolving symbols), and counts each call with a relaxed atomic add.
 *
 * The counters live in a file mapped MAP_SHARED, named by the environment variable
 * TAUT_ALLOC_COUNTER_FILE: a reader (the benchmark script) snapshots them at any moment by reading
 * the file, with no signal to deliver and no cooperation from the server. The mapping survives
 * fork(), so a server that forks workers (nginx) counts all its processes into the same file.
 * Without the variable, counts go to a private struct and are never seen.
 *
 * File layout: 8 little-endian uint64 words (see struct counters), padded to a page.
 * Build: cc -O2 -shared -fPIC -o alloc_counter.so alloc_counter.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void* __libc_malloc(size_t size);
extern void* __libc_calloc(size_t count, size_t size);
extern void* __libc_realloc(void* pointer, size_t size);
extern void __libc_free(void* pointer);
extern void* __libc_memalign(size_t alignment, size_t size);

struct counters {
  _Atomic uint64_t magic; /* "tautallc" once the file is ready */
  _Atomic uint64_t malloc_calls;
  _Atomic uint64_t calloc_calls;
  _Atomic uint64_t realloc_calls;
  _Atomic uint64_t aligned_calls; /* memalign, posix_memalign, aligned_alloc, valloc, pvalloc */
  _Atomic uint64_t free_calls;    /* free() of a non-null pointer */
  _Atomic uint64_t bytes_requested;
  _Atomic uint64_t reserved;
};

static struct counters private_counters;
static struct counters* counters = &private_counters;

static const uint64_t magic = 0x636c6c6174756174ull; /* "tautallc" read as little-endian */

__attribute__((constructor)) static void map_counter_file(void) {
  const char* path = getenv("TAUT_ALLOC_COUNTER_FILE");
  if (path == NULL || path[0] == '\0') return;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  long page = sysconf(_SC_PAGESIZE);
  if (ftruncate(fd, page) == 0) {
    void* mapped = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapped != MAP_FAILED) {
      counters = mapped;
      atomic_store_explicit(&counters->magic, magic, memory_order_release);
    }
  }
  close(fd);
}

static inline void count(_Atomic uint64_t* counter, size_t bytes) {
  atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&counters->bytes_requested, bytes, memory_order_relaxed);
}

void* malloc(size_t size) {
  count(&counters->malloc_calls, size);
  return __libc_malloc(size);
}

void* calloc(size_t count_, size_t size) {
  count(&counters->calloc_calls, count_ * size);
  return __libc_calloc(count_, size);
}

void* realloc(void* pointer, size_t size) {
  count(&counters->realloc_calls, size);
  return __libc_realloc(pointer, size);
}

void free(void* pointer) {
  if (pointer != NULL) atomic_fetch_add_explicit(&counters->free_calls, 1, memory_order_relaxed);
  __libc_free(pointer);
}

/* glibc's reallocarray calls its internal realloc, which the wrapper above would not see. */
void* reallocarray(void* pointer, size_t count_, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(count_, size, &bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(pointer, bytes);
}

void* memalign(size_t alignment, size_t size) {
  count(&counters->aligned_calls, size);
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(size_t alignment, size_t size) {
  count(&counters->aligned_calls, size);
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** result, size_t alignment, size_t size) {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  count(&counters->aligned_calls, size);
  void* pointer = __libc_memalign(alignment, size);
  if (pointer == NULL && size != 0) return ENOMEM;
  *result = pointer;
  return 0;
}

void* valloc(size_t size) {
  count(&counters->aligned_calls, size);
  return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

void* pvalloc(size_t size) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  count(&counters->aligned_calls, size);
  return __libc_memalign(page, (size + page - 1) / page * page);
}
