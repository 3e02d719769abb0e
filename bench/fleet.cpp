// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// Micro-benchmarks of the fleet's shared token store (issue 15), against a
// real redis-server (test/common/redis_server: private, loopback, random port)
// and the real authorization server:
//
//   - bm_fleet_l2_hit: a call on a service whose in-process cache was just
//     cleared (clear_cache() before each call), so it goes L1 miss -> Redis
//     MGET -> open and decode the sealed value -> adopt. Per iteration, in the
//     same moments: the hit, a bare GET of the very value it reads (through a
//     second redis_connection on the same io_context: the floor), and
//     fleet_store::lookup alone (MGET, open, decode: the store without the
//     service's job). Counters: hit_us, get_us, lookup_us, ratio = hit / get
//     (aim <= 1.5), lookup_ratio = lookup / get. The loop must never reach the
//     token endpoint: each call counts one fleet_hit and no fetch, and the
//     server sees no token request, else the benchmark stops with an error.
//   - bm_redis_get_floor: the bare GET alone, classic loop.
//   - bm_fleet_cold_start/8/shared and /8/alone: 8 instances (each its own
//     io_context, thread and service) are made, then all make their first
//     call at once; time until all 8 have a token, and token_requests, the
//     server's count: exactly 1 with the shared store, 8 without (else error).
//
//   build/bench/tetrapak_bench_micro --benchmark_filter='fleet|redis'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true   (one command line)
//
// Registered at static initialisation: main() is cache_hit.cpp's.
#include "fleet_instance.hpp"
#include "micro.hpp"

#include <fleet/fleet_store.hpp>
#include <fleet/redis_connection.hpp>

#include <tetrapak.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/as_tuple.hpp>

#include <atomic>
#include <condition_variable>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace tetrapak::bench {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

test::redis_server& redis()
{
    static test::redis_server r; // made on the main thread (see redis_server.hpp)
    return r;
}

/// The one shared token value's Redis key (not its Retry-After or lock).
std::string token_key()
{
    for (const auto& k : redis().keys("tetrapak:t:*"))
        if (!k.ends_with(":ra") && !k.ends_with(":lock"))
            return k;
    return {};
}

/// Runs `make()`'s coroutine on `ctx` from this thread until it ends (the
/// fleet's subscriber keeps the context busy for ever: stopped, then).
/// False, and the reason on stderr, when it threw (a call failed).
template <class Make>
bool run_until_done(asio::io_context& ctx, Make make)
{
    std::exception_ptr failure;
    asio::co_spawn(ctx, make(), [&](std::exception_ptr e) {
        failure = e;
        ctx.stop();
    });
    ctx.restart();
    ctx.run();
    try {
        if (failure)
            std::rethrow_exception(failure);
        return true;
    } catch (const std::exception& e) {
        std::cerr << "fleet benchmark: " << e.what() << '\n';
        return false;
    }
}

/// One service with the shared store on this thread's io_context; its token
/// is in Redis. Plus a bare connection to the same Redis (the floor) and a
/// fleet_store of its own (the store's part alone).
struct l2_fixture {
    l2_fixture()
        : auth(ctx.get_executor(), test::fleet_client(server(), redis())),
          store(detail::fleet_store::make(ctx.get_executor(), auth.config().fleet,
                                          std::make_shared<detail::event_counters>()))
    {
        diagnostics d;
        auto ep = detail::read_redis_endpoint(auth.config().fleet, d);
        if (!ep)
            throw std::runtime_error("fleet.redis_url: " + std::string(d.client_message()));
        const auto& fs = auth.config().fleet;
        floor = std::make_shared<detail::redis_connection>(ctx.get_executor(), nullptr, *ep,
                                                           detail::redis_limits{fs.connect_timeout, fs.command_timeout});
        seed();
        names = {key.substr(key.rfind(':') + 1), key, key + ":ra", key + ":lock"};
    }
    /// Puts the service's token in Redis (again, after a cold start's FLUSHALL).
    void seed()
    {
        if (!key.empty() && redis().get(key))
            return;
        auth.clear_cache();
        if (!run_until_done(ctx, [&]() -> asio::awaitable<void> { co_await auth.async_authorize({}, asio::use_awaitable); }))
            throw std::runtime_error("the first call failed");
        key.clear();
        for (int i = 0; i < 300 && (key = token_key()).empty(); ++i) { // the SET is sent, not waited for
            ctx.restart();
            ctx.run_for(10ms);
        }
        if (key.empty())
            throw std::runtime_error("the token never reached Redis");
        value_bytes = redis().get(key).value_or("").size();
    }
    asio::io_context ctx;
    authorization_service auth;
    std::shared_ptr<detail::fleet_store> store;
    std::shared_ptr<detail::redis_connection> floor;
    std::string key;
    detail::fleet_names names;
    std::size_t value_bytes = 0;
};

l2_fixture& l2()
{
    static l2_fixture f;
    f.seed();
    return f;
}

/// Fails the benchmark when a timed L2 hit did anything but adopt Redis's token.
struct only_fleet_hits {
    explicit only_fleet_hits(benchmark::State& s)
        : state(s), before(l2().auth.stats()), requests(server().stat("token_requests"))
    {
    }
    ~only_fleet_hits()
    {
        if (state.error_occurred())
            return;
        const auto after = l2().auth.stats();
        const auto hits = after[metric::fleet_hit] - before[metric::fleet_hit];
        if (after[metric::fetch] != before[metric::fetch] || server().stat("token_requests") != requests)
            state.SkipWithError("an L2 hit reached the token endpoint");
        else if (hits != static_cast<std::uint64_t>(state.iterations()))
            state.SkipWithError("a call was not served by the shared store");
    }
    benchmark::State& state;
    service_stats before;
    long requests;
};

/// One GET of the token's value through the floor connection; false unless
/// it came back whole.
asio::awaitable<bool> bare_get(l2_fixture& f)
{
    detail::redis_command cmd{"GET", f.key};
    auto [ec, r] = co_await f.floor->async_exec(std::move(cmd), tuple_awaitable);
    co_return !ec && r.type == detail::redis_reply::kind::string && r.str.size() == f.value_bytes;
}

double seconds_since(steady::time_point t0) { return std::chrono::duration<double>(steady::now() - t0).count(); }

void bm_fleet_l2_hit(benchmark::State& state)
{
    auto& f = l2();
    double hit = 0, get = 0, look = 0;
    {
        only_fleet_hits check(state);
        const bool ran = run_until_done(f.ctx, [&]() -> asio::awaitable<void> {
            for (auto _ : state) {
                f.auth.clear_cache();
                auto t0 = steady::now();
                auto t = co_await f.auth.async_authorize({}, asio::use_awaitable);
                const double h = seconds_since(t0);
                benchmark::DoNotOptimize(t);
                t0 = steady::now();
                const bool got = co_await bare_get(f);
                get += seconds_since(t0);
                t0 = steady::now();
                auto v = co_await f.store->lookup(f.names);
                look += seconds_since(t0);
                if (!got || !v.token || v.token->token.value() != t.value()) {
                    state.SkipWithError(got ? "fleet_store::lookup did not find the token" : "the floor's GET failed");
                    break;
                }
                hit += h;
                state.SetIterationTime(h);
            }
        });
        if (!ran)
            state.SkipWithError("an L2 hit failed");
    }
    if (state.error_occurred())
        return;
    const double n = static_cast<double>(state.iterations());
    state.counters["hit_us"] = hit / n * 1e6;
    state.counters["get_us"] = get / n * 1e6;
    state.counters["lookup_us"] = look / n * 1e6;
    state.counters["ratio"] = hit / get;
    state.counters["lookup_ratio"] = look / get;
    state.counters["value_bytes"] = static_cast<double>(f.value_bytes);
}

void bm_redis_get_floor(benchmark::State& state)
{
    auto& f = l2();
    const bool ran = run_until_done(f.ctx, [&]() -> asio::awaitable<void> {
        for (auto _ : state)
            if (!co_await bare_get(f)) {
                state.SkipWithError("the floor's GET failed");
                break;
            }
    });
    if (!ran)
        state.SkipWithError("the floor's GET threw");
    state.counters["value_bytes"] = static_cast<double>(f.value_bytes);
}

/// Waits for `n` completions, each counted from any thread.
struct completions {
    std::mutex mtx;
    std::condition_variable cv;
    int done = 0, failed = 0;
    steady::time_point last{};

    void one(bool ok)
    {
        std::lock_guard lock(mtx);
        ++done;
        failed += ok ? 0 : 1;
        last = steady::now();
        cv.notify_all();
    }
    bool wait_for(int n)
    {
        std::unique_lock lock(mtx);
        return cv.wait_for(lock, 30s, [&] { return done == n; });
    }
};

struct cold_totals {
    double seconds = 0;
    long requests = 0;
    std::uint64_t fleet_hits = 0, waited = 0;
    int starts = 0;
};

/// One cold start of `n` instances; nullptr or what went wrong.
const char* cold_start(int n, bool shared, cold_totals& totals)
{
    auto cfg = shared ? test::fleet_client(server(), redis()) : test::basic_client(server());
    redis().flushall();
    completions c; // outlives the instances (their handlers count in it)
    std::vector<std::unique_ptr<test::fleet_instance>> fleet;
    for (int i = 0; i < n; ++i)
        fleet.push_back(std::make_unique<test::fleet_instance>(cfg));
    server().reset_stats();
    const auto t0 = steady::now();
    for (auto& inst : fleet)
        inst->auth().async_authorize({}, [&c](boost::system::error_code ec, actor_token t) {
            c.one(!ec && !t.value().empty());
        });
    if (!c.wait_for(n))
        return "an instance never got its token";
    if (c.failed)
        return "an instance's first call failed";
    const long requests = server().stat("token_requests");
    if (requests != (shared ? 1 : n))
        return shared ? "the shared store let more than one token request through" : "an instance made no request";
    totals.seconds += std::chrono::duration<double>(c.last - t0).count();
    totals.requests += requests;
    for (auto& inst : fleet) {
        totals.fleet_hits += inst->stat(metric::fleet_hit);
        totals.waited += inst->stat(metric::fleet_waited);
    }
    ++totals.starts;
    return nullptr;
}

void bm_fleet_cold_start(benchmark::State& state, int n, bool shared)
{
    cold_totals totals;
    for (auto _ : state) {
        const double before = totals.seconds;
        if (const char* error = cold_start(n, shared, totals)) {
            state.SkipWithError(error);
            return;
        }
        state.SetIterationTime(totals.seconds - before);
    }
    const double starts = totals.starts;
    state.counters["instances"] = n;
    state.counters["token_requests"] = static_cast<double>(totals.requests) / starts;
    state.counters["all_ms"] = totals.seconds / starts * 1e3;
    state.counters["fleet_hits"] = static_cast<double>(totals.fleet_hits) / starts;
    state.counters["fleet_waited"] = static_cast<double>(totals.waited) / starts;
}

const bool registered = [] {
    benchmark::RegisterBenchmark("bm_fleet_l2_hit", bm_fleet_l2_hit)->UseManualTime()->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("bm_redis_get_floor", bm_redis_get_floor)->UseRealTime()->Unit(benchmark::kMicrosecond);
    for (bool shared : {true, false})
        benchmark::RegisterBenchmark(shared ? "bm_fleet_cold_start/8/shared" : "bm_fleet_cold_start/8/alone",
                                     bm_fleet_cold_start, 8, shared)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    return true;
}();

} // namespace
} // namespace tetrapak::bench
