// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_BENCH_MICRO_HPP
#define TETRAPAK_BENCH_MICRO_HPP

// Shared by the micro-benchmarks of tetrapak_bench_micro (cache_hit.cpp,
// storm.cpp, many_keys.cpp): the real authorization server, a runner for
// batches of coroutines on an io_context run by 1 or 2 threads, and the
// --smoke switch.

#include "oidc_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace tetrapak::bench {

namespace asio = boost::asio;

/// True with --smoke (ctest): small sizes, the benchmarks only have to run.
bool smoke();

/// The real authorization server, started once per process.
test::oidc_server& server();

/// Runs batches of coroutines on one io_context with 1 or 2 threads: the
/// calling thread and, for 2, one helper thread kept between batches (so no
/// thread start-up is timed).
class batch_runner {
public:
    /// `ctx2` (optional) is run by the helper thread in run(-2, ...).
    explicit batch_runner(asio::io_context& ctx, asio::io_context* ctx2 = nullptr);
    ~batch_runner();
    batch_runner(const batch_runner&) = delete;
    batch_runner& operator=(const batch_runner&) = delete;

    /// Spawns `coros` coroutines made by `make()` and runs them to completion
    /// on `threads` threads: 1, 2 (both run `ctx`), or -2 (one thread runs
    /// `ctx`, the helper runs `ctx2`; half of the coroutines on each). Returns
    /// the wall time from the start of the first to the end of the last.
    std::chrono::duration<double> run(int threads, int coros, const std::function<asio::awaitable<void>()>& make);

private:
    void helper_loop();

    asio::io_context& ctx_;
    asio::io_context* ctx2_;
    asio::io_context* helper_ctx_ = nullptr;
    std::mutex mtx_;
    std::condition_variable cv_;
    int generation_ = 0;
    int done_generation_ = 0;
    bool stop_ = false;
    std::thread helper_;
};

} // namespace tetrapak::bench

#endif
