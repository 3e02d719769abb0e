// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// Micro-benchmark 3, cache hit: `co_await async_authorize` on a cached key
// against a bare `co_await asio::post` round trip on the same io_context (the
// floor of any asynchronous API), with one thread, with two threads running
// the io_context, and with two io_contexts of one thread each (one service
// shared by all, 4 concurrent coroutines). The real
// authorization server fills the cache once; the timed loops never touch the
// network (checked through stats()).
//
// Also the main() of tetrapak_bench_micro (with storm.cpp and many_keys.cpp):
//
//   build/bench/tetrapak_bench_micro --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   build/bench/tetrapak_bench_micro --smoke         # what ctest runs: small sizes, checks only
//   TETRAPAK_BENCH_LOOP=hit:20000 valgrind --tool=callgrind --toggle-collect='*measured_loop*'
//       build/bench/tetrapak_bench_micro   (one command line; instructions per hit = Ir / 20000;
//       loops: post, hit, hit_own_config, hit_outcome)
#include "alloc_count.hpp"
#include "micro.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/post.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tetrapak::bench {

namespace {
bool smoke_flag = false;
}

bool smoke() { return smoke_flag; }

test::oidc_server& server()
{
    static test::oidc_server s;
    return s;
}

batch_runner::batch_runner(asio::io_context& ctx, asio::io_context* ctx2)
    : ctx_(ctx), ctx2_(ctx2), helper_([this] { helper_loop(); })
{
}

batch_runner::~batch_runner()
{
    {
        std::lock_guard lock(mtx_);
        stop_ = true;
    }
    cv_.notify_all();
    helper_.join();
}

void batch_runner::helper_loop()
{
    int seen = 0;
    for (;;) {
        asio::io_context* ctx = nullptr;
        {
            std::unique_lock lock(mtx_);
            cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_)
                return;
            seen = generation_;
            ctx = helper_ctx_;
        }
        ctx->run();
        {
            std::lock_guard lock(mtx_);
            done_generation_ = seen;
        }
        cv_.notify_all();
    }
}

std::chrono::duration<double> batch_runner::run(int threads, int coros,
                                                const std::function<asio::awaitable<void>()>& make)
{
    asio::io_context& other = threads == -2 ? *ctx2_ : ctx_;
    ctx_.restart();
    other.restart();
    for (int i = 0; i < coros; ++i)
        asio::co_spawn(threads == -2 && i % 2 ? other : ctx_, make(), [](std::exception_ptr e) {
            if (e)
                std::rethrow_exception(e);
        });
    const auto t0 = std::chrono::steady_clock::now();
    int gen = 0;
    if (threads != 1) {
        {
            std::lock_guard lock(mtx_);
            helper_ctx_ = &other;
            gen = ++generation_;
        }
        cv_.notify_all();
    }
    ctx_.run();
    if (threads != 1) {
        std::unique_lock lock(mtx_);
        cv_.wait(lock, [&] { return done_generation_ == gen; });
    }
    return std::chrono::steady_clock::now() - t0;
}

namespace {

/// A service on an io_context (default concurrency hint: it may be run by
/// several threads) with the client-credentials token of the real server cached.
struct hit_fixture {
    hit_fixture() : auth(ctx.get_executor(), test::basic_client(server()))
    {
        bool ok = false;
        auth.async_authorize({}, [&](boost::system::error_code ec, actor_token) { ok = !ec; });
        ctx.run();
        ctx.restart();
        if (!ok)
            throw std::runtime_error("could not fill the cache");
        own_config.auth_config = std::make_shared<const auth_config>(auth.config());
        auth.async_authorize(own_config, [&](boost::system::error_code ec, actor_token) { ok = !ec; });
        ctx.run();
        ctx.restart();
        if (!ok)
            throw std::runtime_error("could not fill the cache (own configuration)");
    }
    asio::io_context ctx;
    asio::io_context ctx2; // a second io_context (its own thread) sharing the service
    authorization_service auth;
    http_client_options own_config; // a call that brings its own (equal) configuration
    batch_runner runner{ctx, &ctx2};
};

hit_fixture& fixture()
{
    static hit_fixture f;
    return f;
}

/// Fails the benchmark when a timed loop reached the network.
struct no_network {
    explicit no_network(benchmark::State& s) : state(s), before(fixture().auth.stats()) {}
    ~no_network()
    {
        auto after = fixture().auth.stats();
        if (after[metric::cache_miss] != before[metric::cache_miss] ||
            after[metric::coalesced] != before[metric::coalesced])
            state.SkipWithError("a cache hit went to the network");
    }
    benchmark::State& state;
    service_stats before;
};

void bm_bare_post(benchmark::State& state)
{
    auto& f = fixture();
    asio::co_spawn(f.ctx, [&]() -> asio::awaitable<void> {
        for (auto _ : state)
            co_await asio::post(f.ctx, asio::use_awaitable);
    }, asio::detached);
    f.ctx.run();
    f.ctx.restart();
}

void hit_loop(benchmark::State& state, const http_client_options& options)
{
    auto& f = fixture();
    no_network check(state);
    const auto allocs = allocation_count();
    asio::co_spawn(f.ctx, [&]() -> asio::awaitable<void> {
        for (auto _ : state) {
            auto t = co_await f.auth.async_authorize(options, asio::use_awaitable);
            benchmark::DoNotOptimize(t);
        }
    }, asio::detached);
    f.ctx.run();
    f.ctx.restart();
    state.counters["allocs_per_hit"] =
        static_cast<double>(allocation_count() - allocs) / static_cast<double>(state.iterations());
}

void bm_cache_hit(benchmark::State& state) { hit_loop(state, {}); }

/// http_client_options::auth_config set (per-call configuration): its digest is remembered.
void bm_cache_hit_own_config(benchmark::State& state) { hit_loop(state, fixture().own_config); }

/// Interleaved batches, bare post and cache hit, on 1 and on 2 threads, so
/// that every ratio comes from the same moments of a noisy machine.
void bm_hit_vs_post(benchmark::State& state)
{
    auto& f = fixture();
    no_network check(state);
    constexpr int coros = 4;
    const int per_coro = smoke() ? 200 : 5000;
    const double ops = coros * per_coro;
    auto post_coro = [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        for (int i = 0; i < per_coro; ++i)
            co_await asio::post(ex, asio::use_awaitable);
    };
    auto hit_coro = [&]() -> asio::awaitable<void> {
        for (int i = 0; i < per_coro; ++i) {
            auto t = co_await f.auth.async_authorize({}, asio::use_awaitable);
            benchmark::DoNotOptimize(t);
        }
    };
    double post1 = 0, hit1 = 0, post2 = 0, hit2 = 0, post2c = 0, hit2c = 0;
    for (auto _ : state) {
        post1 += f.runner.run(1, coros, post_coro).count();
        const double h1 = f.runner.run(1, coros, hit_coro).count();
        hit1 += h1;
        post2 += f.runner.run(2, coros, post_coro).count();
        hit2 += f.runner.run(2, coros, hit_coro).count();
        post2c += f.runner.run(-2, coros, post_coro).count();
        hit2c += f.runner.run(-2, coros, hit_coro).count();
        state.SetIterationTime(h1);
    }
    const double n = static_cast<double>(state.iterations()) * ops;
    state.counters["post_1t_ns"] = post1 / n * 1e9;
    state.counters["hit_1t_ns"] = hit1 / n * 1e9;
    state.counters["post_2t_ns"] = post2 / n * 1e9;
    state.counters["hit_2t_ns"] = hit2 / n * 1e9;
    state.counters["ratio_1t"] = hit1 / post1;
    state.counters["ratio_2t"] = hit2 / post2;
    state.counters["hit_speedup_2t"] = hit1 / hit2;   // throughput on 2 threads / on 1
    state.counters["post_speedup_2t"] = post1 / post2;
    // Two io_contexts, one thread each, one shared service.
    state.counters["post_2ctx_ns"] = post2c / n * 1e9;
    state.counters["hit_2ctx_ns"] = hit2c / n * 1e9;
    state.counters["ratio_2ctx"] = hit2c / post2c;
    state.counters["hit_speedup_2ctx"] = hit1 / hit2c;
    state.counters["post_speedup_2ctx"] = post1 / post2c;
}

// ---------------------------------------------------------------------------
// Fixed loops for callgrind (TETRAPAK_BENCH_LOOP=name:count).

[[gnu::noinline]] void measured_loop(const std::string& name, int n)
{
    auto& f = fixture();
    asio::co_spawn(f.ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < n; ++i) {
            if (name == "post") {
                co_await asio::post(f.ctx, asio::use_awaitable);
            } else if (name == "hit") {
                auto t = co_await f.auth.async_authorize({}, asio::use_awaitable);
                benchmark::DoNotOptimize(t);
            } else if (name == "hit_own_config") {
                auto t = co_await f.auth.async_authorize(f.own_config, asio::use_awaitable);
                benchmark::DoNotOptimize(t);
            } else if (name == "hit_outcome") {
                auto t = co_await f.auth.async_authorize({}, as_outcome(asio::use_awaitable));
                benchmark::DoNotOptimize(t);
            } else {
                throw std::invalid_argument("unknown loop " + name);
            }
        }
    }, asio::detached);
    f.ctx.run();
    f.ctx.restart();
}

} // namespace

void register_cache_hit()
{
    benchmark::RegisterBenchmark("bm_bare_post", bm_bare_post);
    benchmark::RegisterBenchmark("bm_cache_hit", bm_cache_hit);
    benchmark::RegisterBenchmark("bm_cache_hit_own_config", bm_cache_hit_own_config);
    benchmark::RegisterBenchmark("bm_hit_vs_post", bm_hit_vs_post)->UseManualTime()->Unit(benchmark::kMicrosecond);
}

void register_storm();
void register_many_keys();

} // namespace tetrapak::bench

int main(int argc, char** argv)
{
    using namespace tetrapak::bench;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--smoke") == 0)
            smoke_flag = true;
        else
            args.push_back(argv[i]);
    }
    if (const char* loop = std::getenv("TETRAPAK_BENCH_LOOP")) { // name:count, for callgrind
        std::string spec = loop;
        auto colon = spec.find(':');
        const std::string name = spec.substr(0, colon);
        const int n = colon == std::string::npos ? 10000 : std::stoi(spec.substr(colon + 1));
        fixture();
        measured_loop(name, n);
        std::cout << "ran " << n << " x " << name << "\n";
        return 0;
    }
    register_cache_hit();
    register_storm();
    register_many_keys();
    int n = static_cast<int>(args.size());
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data()))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
