// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_DETAIL_COUNTERS_HPP
#define TETRAPAK_LIB_DETAIL_COUNTERS_HPP

#include <tetrapak/metrics.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tetrapak::detail {

/// The service's metric totals and hook. Counting happens on every cache hit,
/// from every thread, so the totals are striped: each thread adds to its own
/// cache-line-aligned row (threads are spread over the rows in turn) and
/// stats() adds the rows up. With one shared counter, two threads hitting the
/// cache bounced its cache line between their cores on every hit.
class event_counters {
public:
    metrics_hook hook; ///< set before first use (authorization_service::set_metrics)

    void report(metric m, boost::system::error_code ec = {}, std::chrono::steady_clock::duration elapsed = {})
    {
        rows_[row_of_this_thread()].counts[static_cast<std::size_t>(m)].fetch_add(1, std::memory_order_relaxed);
        if (hook)
            hook(metrics_event{m, ec, elapsed});
    }

    service_stats totals() const noexcept
    {
        service_stats s;
        for (const auto& r : rows_)
            for (std::size_t i = 0; i < metric_count; ++i)
                s.counts[i] += r.counts[i].load(std::memory_order_relaxed);
        return s;
    }

private:
    static constexpr std::size_t row_count = 16;
    struct alignas(64) row {
        std::atomic<std::uint64_t> counts[metric_count]{};
    };

    static std::size_t row_of_this_thread() noexcept
    {
        static std::atomic<std::size_t> next{0};
        thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) % row_count;
        return mine;
    }

    std::array<row, row_count> rows_{};
};

} // namespace tetrapak::detail

#endif
