// Concurrency stress: 4 threads on one io_context, many keys, random
// cancellation (at any step, through awaitable operators and a timer),
// random force and invalidate, against the real oidc-provider with short
// token lifetimes so refresh-ahead and expiry happen during the run.
// Two connections at most, so requests also wait for one. Built and run
// under ThreadSanitizer too (ctest label `tsan`).
//
// The fleet: three services, each on its own io_context with two threads,
// share one real redis-server while many callers ask for a few keys, force
// renewals and invalidate.
#include "fleet_instance.hpp"
#include "oidc_server.hpp"
#include "redis_server.hpp"
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
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <memory>
#include <random>
#include <set>
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

struct fleet_tallies {
    std::atomic<int> started{0}, finished{0}, ok{0}, errors{0}, empty{0}, expired{0}, forced{0}, invalidated{0};
    std::atomic<int> exceptions{0};
    std::mutex mtx;
    std::vector<std::string> failures;          ///< what the failed calls said (first few)
    std::vector<std::set<std::string>> tokens;  ///< per key: every token a caller got
};

/// Callers of one instance: random keys, forced renewals and invalidations,
/// without cancellation: every call must give a usable token.
asio::awaitable<void> fleet_worker(authorization_service& auth,
                                   const std::vector<std::shared_ptr<const auth_config>>& keys, fleet_tallies& t,
                                   std::chrono::steady_clock::time_point until, unsigned seed)
{
    std::mt19937 rng(seed);
    asio::steady_timer pause(co_await asio::this_coro::executor);
    while (std::chrono::steady_clock::now() < until) {
        pause.expires_after(std::chrono::microseconds(rng() % 3000));
        co_await pause.async_wait(asio::use_awaitable);
        const std::size_t k = rng() % keys.size();
        http_client_options o;
        o.auth_config = keys[k];
        o.force_authorization = rng() % 400 == 0;
        t.forced += o.force_authorization ? 1 : 0;
        if (rng() % 400 == 0) {
            auth.invalidate(o);
            ++t.invalidated;
        }
        ++t.started;
        auto [ec, token] = co_await auth.async_authorize(o, asio::as_tuple(asio::use_awaitable));
        ++t.finished;
        if (ec) {
            ++t.errors;
            std::lock_guard lock(t.mtx);
            if (t.failures.size() < 10)
                t.failures.push_back(ec.message());
            continue;
        }
        ++t.ok;
        if (token.value().empty())
            ++t.empty;
        if (token.is_expired())
            ++t.expired;
        std::lock_guard lock(t.mtx);
        t.tokens[k].emplace(token.value());
    }
}

/// One replica: its own io_context run by two threads and its own service.
struct fleet_node {
    asio::io_context ctx{2};
    std::optional<authorization_service> auth;
    std::vector<std::thread> threads;
};

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

BOOST_AUTO_TEST_CASE(fleet_of_three_services_on_one_redis)
{
    test::redis_server redis;
    test::oidc_server server; // 300-second tokens: every token seen must still be active at the end
    auto base = test::fleet_client(server, redis);
    base.fleet.command_timeout = 5000ms; // generous: ThreadSanitizer on a loaded two-core machine
    base.fleet.connect_timeout = 5000ms;
    const std::vector<std::vector<std::string>> scopes = {{}, {"read"}, {"write"}, {"read", "write"}};
    std::vector<std::shared_ptr<const auth_config>> keys;
    for (const auto& sc : scopes) {
        auto cfg = base;
        cfg.scope = sc;
        keys.push_back(std::make_shared<const auth_config>(std::move(cfg)));
    }

    fleet_tallies t;
    t.tokens.resize(keys.size());
    const int nodes_n = 3, workers_per_node = 8;
    const auto seconds =
        std::getenv("TETRAPAK_FLEET_STRESS_SECONDS") ? std::atoi(std::getenv("TETRAPAK_FLEET_STRESS_SECONDS")) : 3;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    std::atomic<int> live{nodes_n * workers_per_node};
    std::vector<std::unique_ptr<fleet_node>> nodes;
    for (int n = 0; n < nodes_n; ++n) {
        auto& node = *nodes.emplace_back(std::make_unique<fleet_node>());
        node.auth.emplace(node.ctx.get_executor(), base);
        for (int w = 0; w < workers_per_node; ++w)
            asio::co_spawn(asio::make_strand(node.ctx),
                           fleet_worker(*node.auth, keys, t, until, 5000u + unsigned(n * 100 + w)),
                           [&](std::exception_ptr e) {
                               if (e)
                                   ++t.exceptions;
                               --live;
                           });
    }
    for (auto& node : nodes)
        for (int i = 0; i < 2; ++i)
            node->threads.emplace_back([&ctx = node->ctx] { ctx.run(); });
    // The services' subscriptions keep the contexts busy: stop them once the callers are done.
    const bool all_done = test::eventually([&] { return live.load() == 0; }, std::chrono::seconds(seconds + 120));
    service_stats sum;
    for (auto& node : nodes) {
        const auto st = node->auth->stats();
        for (std::size_t i = 0; i < metric_count; ++i)
            sum.counts[i] += st.counts[i];
        node->ctx.stop();
        for (auto& th : node->threads)
            th.join();
        node->auth.reset();
    }
    nodes.clear();

    BOOST_TEST_MESSAGE("fleet: " << t.ok << " ok, " << t.errors << " errors of " << t.started << " calls; " << t.forced
                                 << " forced, " << t.invalidated << " invalidations; server saw "
                                 << server.stat("token_requests") << " token requests; " << sum);
    BOOST_TEST_REQUIRE(all_done, "callers still running after the bound: " << live.load());
    BOOST_TEST(t.exceptions.load() == 0);
    BOOST_TEST(t.finished.load() == t.started.load());
    BOOST_TEST(t.errors.load() == 0, "failures: " << [&] {
        std::string all;
        for (const auto& f : t.failures)
            all += f + "; ";
        return all;
    }());
    BOOST_TEST(t.ok.load() == t.started.load());
    BOOST_TEST(t.started.load() > nodes_n * workers_per_node * 20);
    BOOST_TEST(t.empty.load() == 0);
    BOOST_TEST(t.expired.load() == 0);
    BOOST_TEST(t.forced.load() > 0);
    BOOST_TEST(t.invalidated.load() > 0);
    // The fleet worked: tokens went through Redis, renewals dropped the others' copies.
    BOOST_TEST(sum[metric::fleet_stored] > 0u);
    BOOST_TEST(sum[metric::fleet_hit] > 0u);
    BOOST_TEST(sum[metric::fleet_dropped] > 0u);
    BOOST_TEST(sum[metric::fleet_unavailable] == 0u);
    BOOST_TEST(sum[metric::fleet_rejected] == 0u);
    // Shared, not per instance: about one fetch per key, forced call and
    // invalidation for the whole fleet (one per instance would be 3x that).
    const long requests = server.stat("token_requests");
    BOOST_TEST(requests <= 2 * long(keys.size() + std::size_t(t.forced.load()) + std::size_t(t.invalidated.load())));
    // Every token a caller got is active at the server, for the key's client and scope.
    std::size_t checked = 0;
    for (std::size_t k = 0; k < keys.size(); ++k) {
        std::set<std::string> want(scopes[k].begin(), scopes[k].end());
        for (const auto& tok : t.tokens[k]) {
            auto r = server.request("POST", "/token/introspection", "token=" + tok, "basic-client", "basic-secret");
            BOOST_TEST_REQUIRE(r.status == 200u, r.body);
            const auto j = boost::json::parse(r.body).as_object();
            BOOST_TEST_CONTEXT("key " << k << ": " << r.body)
            {
                BOOST_TEST((j.contains("active") && j.at("active").is_bool() && j.at("active").as_bool()));
                BOOST_TEST((j.contains("client_id") && j.at("client_id").as_string() == "basic-client"));
                std::set<std::string> got;
                if (j.contains("scope")) {
                    std::string_view sc = j.at("scope").as_string();
                    while (!sc.empty()) {
                        auto sp = sc.find(' ');
                        got.emplace(sc.substr(0, sp));
                        sc.remove_prefix(sp == std::string_view::npos ? sc.size() : sp + 1);
                    }
                }
                BOOST_TEST((got == want));
            }
            ++checked;
        }
    }
    BOOST_TEST(checked >= keys.size());
    BOOST_TEST_MESSAGE("introspected " << checked << " distinct tokens");
}

BOOST_AUTO_TEST_SUITE_END()
