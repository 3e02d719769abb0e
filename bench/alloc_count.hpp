// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_BENCH_ALLOC_COUNT_HPP
#define TETRAPAK_BENCH_ALLOC_COUNT_HPP

// Heap accounting for the micro-benchmarks. alloc_count.cpp replaces malloc,
// free, calloc, realloc and the aligned allocators of this executable
// (glibc's documented way of replacing malloc: every allocation of the
// process goes through them, operator new, Asio's recycling allocator,
// OpenSSL and Boost.JSON included) and counts the usable size of every live
// block. Exact and noise-free; under valgrind the numbers are meaningless
// (valgrind replaces the allocator itself).

#include <cstdint>

namespace tetrapak::bench {

/// Bytes in live heap blocks now (malloc_usable_size of each).
std::int64_t heap_in_use() noexcept;
/// The highest heap_in_use() since the last reset_heap_peak().
std::int64_t heap_peak() noexcept;
/// Sets the peak to the current use.
void reset_heap_peak() noexcept;
/// Allocations made since the process started.
std::uint64_t allocation_count() noexcept;

} // namespace tetrapak::bench

#endif
