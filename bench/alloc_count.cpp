// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "alloc_count.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>

#include <malloc.h>

extern "C" {
void* __libc_malloc(std::size_t n);
void __libc_free(void* p);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t n);
void* __libc_memalign(std::size_t alignment, std::size_t n);
}

namespace {

std::atomic<std::int64_t> in_use{0};
std::atomic<std::int64_t> peak{0};
std::atomic<std::uint64_t> count{0};

void counted(void* p) noexcept
{
    if (!p)
        return;
    const auto n = static_cast<std::int64_t>(malloc_usable_size(p));
    const auto now = in_use.fetch_add(n, std::memory_order_relaxed) + n;
    count.fetch_add(1, std::memory_order_relaxed);
    auto pk = peak.load(std::memory_order_relaxed);
    while (now > pk && !peak.compare_exchange_weak(pk, now, std::memory_order_relaxed)) {
    }
}

void uncounted(void* p) noexcept
{
    if (p)
        in_use.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
}

} // namespace

extern "C" {

void* malloc(std::size_t n)
{
    void* p = __libc_malloc(n);
    counted(p);
    return p;
}

void free(void* p)
{
    uncounted(p);
    __libc_free(p);
}

void* calloc(std::size_t n, std::size_t size)
{
    void* p = __libc_calloc(n, size);
    counted(p);
    return p;
}

void* realloc(void* p, std::size_t n)
{
    if (!p)
        return malloc(n);
    const auto old = static_cast<std::int64_t>(malloc_usable_size(p));
    void* q = __libc_realloc(p, n);
    if (q || n == 0) { // the old block is gone
        in_use.fetch_sub(old, std::memory_order_relaxed);
        counted(q);
    }
    return q;
}

void* memalign(std::size_t alignment, std::size_t n)
{
    void* p = __libc_memalign(alignment, n);
    counted(p);
    return p;
}

void* aligned_alloc(std::size_t alignment, std::size_t n) { return memalign(alignment, n); }

int posix_memalign(void** out, std::size_t alignment, std::size_t n)
{
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    void* p = memalign(alignment, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void* valloc(std::size_t n) { return memalign(4096, n); }

void* pvalloc(std::size_t n) { return memalign(4096, (n + 4095) & ~std::size_t(4095)); }

} // extern "C"

namespace tetrapak::bench {

std::int64_t heap_in_use() noexcept { return in_use.load(std::memory_order_relaxed); }
std::int64_t heap_peak() noexcept { return peak.load(std::memory_order_relaxed); }
void reset_heap_peak() noexcept { peak.store(in_use.load(std::memory_order_relaxed), std::memory_order_relaxed); }
std::uint64_t allocation_count() noexcept { return count.load(std::memory_order_relaxed); }

} // namespace tetrapak::bench
