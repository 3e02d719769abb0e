// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// Micro-benchmark 4, cold-key storm: N concurrent callers (10,000) ask for
// one key that is not cached, against the real authorization server.
//   - requests: how many token requests reached the server (/test/stats): 1
//   - storm_ms / one_fetch_ms / ratio: from the first call to the last
//     completion, against one caller's cold fetch (both over a warm
//     keep-alive connection, measured alternately)
//   - posts_ms / floor_ratio: N callbacks through a bare asio::post, and the
//     ratio a storm would reach if a waiter cost no more than that
//   - bytes_per_waiter: peak heap during the storm minus the heap before it,
//     less what a storm of one caller peaks at (the fetch itself), divided by
//     N - 1. Counted by the replaced malloc (alloc_count.cpp), all
//     allocations of the process. The callers are plain callbacks (no
//     coroutine frames), so this is what the library holds per waiter.
#include "alloc_count.hpp"
#include "micro.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/post.hpp>

#include <stdexcept>

namespace tetrapak::bench {
namespace {

struct storm_fixture {
    storm_fixture() : auth(ctx.get_executor(), test::basic_client(server())) {}
    asio::io_context ctx{1};
    authorization_service auth;
};

storm_fixture& storm()
{
    static storm_fixture f;
    return f;
}

struct storm_result {
    double seconds = 0;
    std::int64_t peak_bytes = 0;    // above the heap in use before the first call
    std::int64_t waiting_bytes = 0; // the same, once every call was made (nothing has completed)
    int completed = 0;
    int failed = 0;
};

storm_result run_storm(int waiters)
{
    auto& f = storm();
    f.auth.clear_cache();
    storm_result r;
    const auto base = heap_in_use();
    reset_heap_peak();
    const auto t0 = std::chrono::steady_clock::now();
    auto last = t0;
    for (int i = 0; i < waiters; ++i)
        f.auth.async_authorize({}, [&r, &last, waiters](boost::system::error_code ec, actor_token) {
            if (ec)
                ++r.failed;
            if (++r.completed == waiters)
                last = std::chrono::steady_clock::now();
        });
    r.waiting_bytes = heap_in_use() - base;
    f.ctx.run();
    r.seconds = std::chrono::duration<double>(last - t0).count();
    r.peak_bytes = heap_peak() - base;
    f.ctx.restart();
    return r;
}

/// The floor: the same number of callbacks through a bare asio::post.
double run_posts(int n)
{
    auto& f = storm();
    int completed = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i)
        asio::post(f.ctx, [&completed] { ++completed; });
    f.ctx.run();
    f.ctx.restart();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void bm_storm(benchmark::State& state)
{
    const int n = static_cast<int>(state.range(0));
    auto& srv = server();
    run_storm(1); // a warm keep-alive connection for both measurements
    double one = 0, many = 0, posts = 0;
    std::int64_t one_peak = 0, many_peak = 0, one_waiting = 0, many_waiting = 0;
    long requests = 0, storms = 0;
    for (auto _ : state) {
        auto a = run_storm(1);
        state.PauseTiming();
        srv.reset_stats();
        state.ResumeTiming();
        auto b = run_storm(n);
        posts += run_posts(n);
        state.PauseTiming();
        const long req = srv.stat("token_requests");
        state.ResumeTiming();
        if (a.failed || b.failed || a.completed != 1 || b.completed != n) {
            state.SkipWithError("a caller failed or never completed");
            break;
        }
        if (req != 1) {
            state.SkipWithError("the storm made more than one token request");
            break;
        }
        one += a.seconds;
        many += b.seconds;
        one_peak = std::max(one_peak, a.peak_bytes);
        many_peak = std::max(many_peak, b.peak_bytes);
        one_waiting = std::max(one_waiting, a.waiting_bytes);
        many_waiting = std::max(many_waiting, b.waiting_bytes);
        requests += req;
        ++storms;
        state.SetIterationTime(b.seconds);
    }
    if (!storms)
        return;
    state.counters["waiters"] = n;
    state.counters["requests_per_storm"] = static_cast<double>(requests) / static_cast<double>(storms);
    state.counters["one_fetch_ms"] = one / static_cast<double>(storms) * 1e3;
    state.counters["storm_ms"] = many / static_cast<double>(storms) * 1e3;
    state.counters["ratio"] = many / one;
    // What N bare posts cost, and the ratio a storm would have if each waiter cost only that.
    state.counters["posts_ms"] = posts / static_cast<double>(storms) * 1e3;
    state.counters["floor_ratio"] = (one + posts) / one;
    state.counters["peak_bytes"] = static_cast<double>(many_peak);
    state.counters["one_caller_peak_bytes"] = static_cast<double>(one_peak);
    state.counters["bytes_per_waiter"] = static_cast<double>(many_peak - one_peak) / (n - 1);
    state.counters["waiting_bytes_per_waiter"] = static_cast<double>(many_waiting - one_waiting) / (n - 1);
}

} // namespace

void register_storm()
{
    benchmark::RegisterBenchmark("bm_storm", bm_storm)->Arg(10000)->UseManualTime()->Unit(benchmark::kMillisecond);
}

} // namespace tetrapak::bench
