// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// Micro-benchmark 5, many keys: the cost of a cache hit when 100,000
// token-exchange tokens are cached (distinct opaque subject tokens, so
// distinct cache keys; cache.max_entries raised to 200,000) against a service
// with 1 cached key, and the heap each cached token costs.
//   - hit_1key_ns: hits on the only key of a 1-entry service
//   - hit_many_random_ns: hits on all N keys of the N-entry service, in a
//     shuffled order (each hit touches memory the previous ones did not)
//   - hit_many_same_ns: hits on one key of the N-entry service
//   - ratio_random / ratio_same: against hit_1key_ns (same run, interleaved)
//   - bytes_per_entry: heap in use after the fill minus before it, divided by
//     N (the subject tokens are the caller's and built before: not counted)
// The fill comes from an in-process plain-HTTP keep-alive server on loopback
// (allow_insecure_http_on_loopback) that answers every request with one fixed
// token response: the real server would take ~1 min for 100,000 requests. The
// timed loops never touch the network: stats() and the server's request count
// are checked.
#include "alloc_count.hpp"
#include "fault_server.hpp"
#include "micro.hpp"

#include <tetrapak.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace tetrapak::bench {
namespace {

namespace http = boost::beast::http;

/// Answers every request on a keep-alive connection with one token response.
struct token_server {
    token_server()
        : srv([this](test::fault_server::socket& s) {
              boost::beast::flat_buffer buf;
              for (;;) {
                  http::request<http::string_body> req;
                  http::read(s, buf, req); // throws when the client goes away
                  ++requests;
                  boost::asio::write(s, boost::asio::buffer(answer));
              }
          })
    {
    }
    // An opaque 43-character token, as oidc-provider issues them.
    const std::string answer = test::http(
        "200 OK",
        R"({"access_token":"Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5","token_type":"Bearer","expires_in":3600,)"
        R"("issued_token_type":"urn:ietf:params:oauth:token-type:access_token","scope":"read"})");
    std::atomic<long> requests{0};
    test::fault_server srv;
};

auth_config exchange_config(const token_server& s)
{
    auth_config c;
    c.grant = grant_type::token_exchange;
    c.client_id = "bench";
    c.client_secret = "bench-secret";
    c.token_endpoint = s.srv.url("http");
    c.allow_insecure_http_on_loopback = true;
    c.cache.max_entries = 200000;
    c.retry.max_attempts = 1;
    return c;
}

struct many_keys_fixture {
    explicit many_keys_fixture(std::size_t n)
        : one(ctx.get_executor(), exchange_config(server_one)), many(ctx.get_executor(), exchange_config(server_many))
    {
        // Opaque subject tokens (not JWTs), the length of a typical access token.
        options.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            http_client_options o;
            std::string raw = "subject-" + std::to_string(i);
            raw.resize(43, 'x');
            o.actor_token = actor_token(std::move(raw));
            options.push_back(std::move(o));
        }
        order.resize(n);
        for (std::size_t i = 0; i < n; ++i)
            order[i] = i;
        std::shuffle(order.begin(), order.end(), std::mt19937_64(42));

        fill(one, 1);
        const auto base = heap_in_use();
        const auto t0 = std::chrono::steady_clock::now();
        fill(many, n);
        fill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        bytes_per_entry = static_cast<double>(heap_in_use() - base) / static_cast<double>(n);
        if (many.cache_size() != n || one.cache_size() != 1)
            throw std::runtime_error("the cache does not hold every key");
    }

    void fill(authorization_service& auth, std::size_t n)
    {
        std::size_t failed = 0;
        asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
            for (std::size_t i = 0; i < n; ++i) {
                auto [ec, t] = co_await auth.async_authorize(options[i], asio::as_tuple(asio::use_awaitable));
                if (ec)
                    ++failed;
            }
        }, asio::detached);
        ctx.run();
        ctx.restart();
        if (failed)
            throw std::runtime_error("the fill failed " + std::to_string(failed) + " times");
    }

    token_server server_one, server_many;
    asio::io_context ctx{1};
    authorization_service one, many;
    std::vector<http_client_options> options;
    std::vector<std::size_t> order;
    double fill_seconds = 0;
    double bytes_per_entry = 0;
    batch_runner runner{ctx};
};

many_keys_fixture& many_keys(std::size_t n)
{
    static many_keys_fixture f(n);
    return f;
}

void bm_many_keys(benchmark::State& state)
{
    const auto n = static_cast<std::size_t>(state.range(0));
    auto& f = many_keys(n);
    const auto stats_one = f.one.stats();
    const auto stats_many = f.many.stats();
    const long requests = f.server_one.requests + f.server_many.requests;

    constexpr int coros = 4;
    const int per_coro = smoke() ? 250 : 5000;
    std::size_t next = 0;
    auto hit_one = [&]() -> asio::awaitable<void> {
        for (int i = 0; i < per_coro; ++i) {
            auto t = co_await f.one.async_authorize(f.options[0], asio::use_awaitable);
            benchmark::DoNotOptimize(t);
        }
    };
    auto hit_many_random = [&]() -> asio::awaitable<void> {
        for (int i = 0; i < per_coro; ++i) {
            const auto k = f.order[next];
            next = next + 1 == n ? 0 : next + 1;
            auto t = co_await f.many.async_authorize(f.options[k], asio::use_awaitable);
            benchmark::DoNotOptimize(t);
        }
    };
    auto hit_many_same = [&]() -> asio::awaitable<void> {
        for (int i = 0; i < per_coro; ++i) {
            auto t = co_await f.many.async_authorize(f.options[0], asio::use_awaitable);
            benchmark::DoNotOptimize(t);
        }
    };
    double one = 0, random = 0, same = 0;
    for (auto _ : state) {
        one += f.runner.run(1, coros, hit_one).count();
        const double r = f.runner.run(1, coros, hit_many_random).count();
        random += r;
        same += f.runner.run(1, coros, hit_many_same).count();
        state.SetIterationTime(r);
    }
    const auto after_one = f.one.stats();
    const auto after_many = f.many.stats();
    if (after_one[metric::cache_miss] != stats_one[metric::cache_miss] ||
        after_many[metric::cache_miss] != stats_many[metric::cache_miss] ||
        f.server_one.requests + f.server_many.requests != requests) {
        state.SkipWithError("a timed hit reached the network");
        return;
    }
    const double hits = static_cast<double>(state.iterations()) * coros * per_coro;
    state.counters["keys"] = static_cast<double>(n);
    state.counters["hit_1key_ns"] = one / hits * 1e9;
    state.counters["hit_many_random_ns"] = random / hits * 1e9;
    state.counters["hit_many_same_ns"] = same / hits * 1e9;
    state.counters["ratio_random"] = random / one;
    state.counters["ratio_same"] = same / one;
    state.counters["bytes_per_entry"] = f.bytes_per_entry;
    state.counters["fill_us_per_token"] = f.fill_seconds / static_cast<double>(n) * 1e6;
}

} // namespace

void register_many_keys()
{
    benchmark::RegisterBenchmark("bm_many_keys", bm_many_keys)
        ->Arg(smoke() ? 2000 : 100000)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
}

} // namespace tetrapak::bench
