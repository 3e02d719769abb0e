// Cache-hit cost: `co_await async_authorize` on a cached key against a bare
// `co_await asio::post` round trip on the same io_context (the floor any
// asynchronous API pays). Starts the real authorization server once to fill
// the cache; the timed loop never touches the network.
//
//   build/bench/tetrapak_bench_cache_hit --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <stdexcept>

namespace asio = boost::asio;
using namespace tetrapak;

namespace {

struct filled_cache {
    filled_cache() : server(), auth(ctx.get_executor(), test::basic_client(server))
    {
        bool ok = false;
        auth.async_authorize({}, [&](boost::system::error_code ec, actor_token) { ok = !ec; });
        ctx.run();
        ctx.restart();
        if (!ok)
            throw std::runtime_error("could not fill the cache");
    }
    test::oidc_server server;
    asio::io_context ctx{1};
    authorization_service auth;
};

filled_cache& fixture()
{
    static filled_cache f;
    return f;
}

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

void bm_cache_hit(benchmark::State& state)
{
    auto& f = fixture();
    const auto requests_before = f.auth.stats()[metric::cache_miss];
    asio::co_spawn(f.ctx, [&]() -> asio::awaitable<void> {
        for (auto _ : state) {
            auto t = co_await f.auth.async_authorize({}, asio::use_awaitable);
            benchmark::DoNotOptimize(t);
        }
    }, asio::detached);
    f.ctx.run();
    f.ctx.restart();
    if (f.auth.stats()[metric::cache_miss] != requests_before)
        state.SkipWithError("a cache hit went to the network");
}

} // namespace

BENCHMARK(bm_bare_post);
BENCHMARK(bm_cache_hit);
BENCHMARK_MAIN();
