// Concurrency stress: 4 threads on one io_context, many keys, random
// cancellation (at any step, through awaitable operators and a timer),
// random force and invalidate, against the real oidc-provider with short
// token lifetimes so refresh-ahead and expiry happen during the run.
// Two connections at most, so requests also wait for one. Built and run
// under ThreadSanitizer too (ctest label `tsan`).
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;

namespace {

struct key_spec {
    std::shared_ptr<const auth_config> cfg;
    actor_token subject;
    std::string expect_sub; ///< for token exchange: the subject's user
    std::string expect_aud;
};

struct tallies {
    std::atomic<int> ok{0}, cancelled{0}, errors{0}, wrong{0}, expired{0}, started{0}, finished{0};
};

asio::awaitable<void> worker(authorization_service& auth, const std::vector<key_spec>& keys, tallies& t,
                             std::chrono::steady_clock::time_point until, unsigned seed)
{
    std::mt19937 rng(seed);
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex), pause(ex);
    while (std::chrono::steady_clock::now() < until) {
        pause.expires_after(std::chrono::microseconds(rng() % 4000));
        co_await pause.async_wait(asio::use_awaitable);
        const auto& k = keys[rng() % keys.size()];
        http_client_options o;
        o.auth_config = k.cfg;
        o.actor_token = k.subject;
        o.force_authorization = rng() % 1000 == 0;
        if (rng() % 3000 == 0)
            auth.invalidate(o);
        ++t.started;
        const auto deadline = std::chrono::microseconds(rng() % 4 == 0 ? rng() % 3000 : 2'000'000);
        timer.expires_after(deadline);
        auto r = co_await (auth.async_authorize(o, asio::as_tuple(asio::use_awaitable)) ||
                           timer.async_wait(asio::as_tuple(asio::use_awaitable)));
        ++t.finished;
        if (r.index() == 1) {
            ++t.cancelled; // the timer won: the call was cancelled (terminal) and completed
            continue;
        }
        auto [ec, token] = std::get<0>(std::move(r));
        if (ec) {
            ++t.errors;
            BOOST_TEST_MESSAGE("error: " << ec.message());
            continue;
        }
        ++t.ok;
        if (token.is_expired())
            ++t.expired;
        if (!k.expect_sub.empty() && (token.string_claim("sub") != std::optional<std::string_view>(k.expect_sub) ||
                                      token.string_claim("aud") != std::optional<std::string_view>(k.expect_aud)))
            ++t.wrong;
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(stress)

BOOST_AUTO_TEST_CASE(four_threads_random_cancel_force_and_invalidate)
{
    // 2-second tokens over a 6-second run: renewals ahead of expiry and
    // expiries happen while the workers run.
    test::oidc_server server({.ttl = 2});
    auto base = test::basic_client(server);
    base.retry.base_delay = 20ms;
    // Two connections for 32 workers: waits for a connection, hand-overs of
    // idle ones and cancelled waits happen under the sanitizers too.
    base.connections.max_per_endpoint = 2;

    std::vector<key_spec> keys;
    keys.push_back({std::make_shared<const auth_config>(base), {}, {}, {}});
    const char* users[] = {"alice", "bob"};
    const char* audiences[] = {"urn:tetrapak:a", "urn:tetrapak:b", "urn:tetrapak:c"};
    for (auto* u : users) {
        actor_token subject(server.user_token(u, "User", 3600));
        for (auto* a : audiences) {
            auto cfg = base;
            cfg.grant = grant_type::token_exchange;
            cfg.audience = a;
            keys.push_back({std::make_shared<const auth_config>(cfg), subject, u, a});
        }
    }

    asio::io_context ctx(4);
    authorization_service auth(ctx.get_executor(), base);
    tallies t;
    const int workers = 32;
    const auto seconds = std::getenv("TETRAPAK_STRESS_SECONDS") ? std::atoi(std::getenv("TETRAPAK_STRESS_SECONDS")) : 6;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (int w = 0; w < workers; ++w)
        asio::co_spawn(asio::make_strand(ctx), worker(auth, keys, t, until, 1000u + unsigned(w)), asio::detached);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] { ctx.run(); });
    for (auto& th : threads)
        th.join();

    BOOST_TEST_MESSAGE("ok " << t.ok << ", cancelled " << t.cancelled << ", errors " << t.errors << "; server saw "
                             << server.stat("token_requests") << " token requests; " << auth.stats());
    BOOST_TEST(t.started.load() > workers * 100);
    BOOST_TEST(t.finished.load() == t.started.load()); // every call completed exactly once
    BOOST_TEST(t.errors.load() == 0);
    BOOST_TEST(t.wrong.load() == 0);
    BOOST_TEST(t.expired.load() == 0);
    BOOST_TEST(t.ok.load() > t.started.load() / 2);
    BOOST_TEST(t.cancelled.load() > 0);
    BOOST_TEST(auth.stats()[metric::renewal_succeeded] > 0u);
    BOOST_TEST(auth.stats()[metric::connection_wait] > 0u);
}

BOOST_AUTO_TEST_SUITE_END()
