// The token cache, single-flight, refresh ahead, refresh-token renewal and
// keep-alive, against the real oidc-provider over TLS. Requests and
// connections are counted on the server's side.
#include "fault_server.hpp"
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;
using test::default_server;

namespace {

struct got {
    error_code ec = asio::error::would_block;
    actor_token token;
    diagnostics diag;
    int calls = 0;
};

/// A completion handler that records its call in `g`.
auto record(got& g)
{
    return [&g](error_code ec, actor_token t) {
        g.ec = ec;
        g.token = std::move(t);
        ++g.calls;
    };
}

/// One call on `auth`, run to completion on `ctx`.
got call(asio::io_context& ctx, authorization_service& auth, http_client_options o = {})
{
    got g;
    auth.async_authorize(std::move(o), g.diag, record(g));
    ctx.restart();
    ctx.run();
    return g;
}

http_client_options forced()
{
    http_client_options o;
    o.force_authorization = true;
    return o;
}

/// Runs `ctx` until `done()` or `limit` passes (real time: the server's tokens expire in real time).
template <class Pred>
bool run_until(asio::io_context& ctx, Pred done, std::chrono::milliseconds limit)
{
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
        ctx.restart();
        ctx.run_for(10ms);
    }
    return done();
}

void sleep_until(std::chrono::system_clock::time_point t) { std::this_thread::sleep_until(t); }

} // namespace

BOOST_AUTO_TEST_SUITE(cache)

BOOST_AUTO_TEST_CASE(second_call_is_a_hit_that_completes_through_the_executor)
{
    auto& server = default_server();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    auto a = call(ctx, auth);
    BOOST_TEST_REQUIRE(!a.ec, a.ec.message() << ' ' << a.diag);
    server.reset_stats();

    bool ran = false;
    actor_token b;
    auth.async_authorize({}, [&](error_code ec, actor_token t) {
        BOOST_TEST(!ec);
        b = std::move(t);
        ran = true;
    });
    BOOST_TEST(!ran); // never inside the initiating call
    ctx.restart();
    ctx.run();
    BOOST_TEST(ran);
    BOOST_TEST((b == a.token));
    BOOST_TEST(server.stat("token_requests") == 0);
    BOOST_TEST(auth.stats()[metric::cache_hit] == 1u);
    BOOST_TEST(auth.stats()[metric::cache_miss] == 1u);
    BOOST_TEST(auth.cache_size() == 1u);
}

BOOST_AUTO_TEST_CASE(distinct_subjects_and_configs_never_share_an_entry)
{
    auto& server = default_server();
    asio::io_context ctx;
    auto cc = test::basic_client(server);
    auto tx = cc;
    tx.grant = grant_type::token_exchange;
    tx.audience = "urn:tetrapak:orders";
    auto tx_other_audience = std::make_shared<auth_config>(tx);
    tx_other_audience->audience = "urn:tetrapak:billing";
    authorization_service auth(ctx.get_executor(), tx);

    actor_token alice(server.user_token("alice")), bob(server.user_token("bob"));
    http_client_options for_alice, for_bob, for_alice_billing;
    for_alice.actor_token = alice;
    for_bob.actor_token = bob;
    for_alice_billing.actor_token = alice;
    for_alice_billing.auth_config = tx_other_audience;

    server.reset_stats();
    auto a1 = call(ctx, auth, for_alice);
    auto b1 = call(ctx, auth, for_bob);
    auto c1 = call(ctx, auth, for_alice_billing);
    auto a2 = call(ctx, auth, for_alice);
    auto b2 = call(ctx, auth, for_bob);
    for (auto* g : {&a1, &b1, &c1, &a2, &b2})
        BOOST_TEST_REQUIRE(!g->ec, g->ec.message() << ' ' << g->diag);
    BOOST_TEST(server.stat("exchange_requests") == 3);
    BOOST_TEST((a2.token == a1.token));
    BOOST_TEST((b2.token == b1.token));
    BOOST_TEST((a1.token.string_claim("sub") == std::string_view("alice")));
    BOOST_TEST((b1.token.string_claim("sub") == std::string_view("bob")));
    BOOST_TEST((c1.token.string_claim("aud") == std::string_view("urn:tetrapak:billing")));
    BOOST_TEST(auth.cache_size() == 3u);
}

BOOST_AUTO_TEST_CASE(force_authorization_replaces_the_entry_and_invalidate_removes_it)
{
    auto& server = default_server();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    server.reset_stats();
    auto a = call(ctx, auth);
    auto forced_call = call(ctx, auth, forced());
    auto after = call(ctx, auth);
    BOOST_TEST_REQUIRE((!a.ec && !forced_call.ec && !after.ec));
    BOOST_TEST(server.stat("token_requests") == 2);
    BOOST_TEST(forced_call.token.value() != a.token.value());
    BOOST_TEST((after.token == forced_call.token)); // the forced token replaced the entry

    BOOST_TEST(auth.invalidate({}));
    BOOST_TEST(!auth.invalidate({}));
    auto fresh = call(ctx, auth);
    BOOST_TEST_REQUIRE(!fresh.ec);
    BOOST_TEST(server.stat("token_requests") == 3);
    BOOST_TEST(fresh.token.value() != after.token.value());
}

BOOST_AUTO_TEST_CASE(caching_off_fetches_every_time)
{
    auto& server = default_server();
    auto cfg = test::basic_client(server);
    cfg.cache.enabled = false;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    server.reset_stats();
    auto a = call(ctx, auth);
    auto b = call(ctx, auth);
    BOOST_TEST_REQUIRE((!a.ec && !b.ec));
    BOOST_TEST(server.stat("token_requests") == 2);
    BOOST_TEST(a.token.value() != b.token.value());
    BOOST_TEST(auth.cache_size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(single_flight)

BOOST_AUTO_TEST_CASE(thousand_concurrent_awaits_on_a_cold_key_make_one_request)
{
    auto& server = default_server();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    server.reset_stats();
    constexpr int n = 1000;
    std::vector<got> results(n);
    for (auto& r : results) {
        asio::co_spawn(ctx, [&auth, &r]() -> asio::awaitable<void> {
            auto [ec, t] = co_await auth.async_authorize({}, asio::as_tuple(asio::use_awaitable));
            record(r)(ec, std::move(t));
        }, asio::detached);
    }
    ctx.run();
    BOOST_TEST(server.stat("token_requests") == 1);
    std::set<std::string> distinct;
    for (auto& r : results) {
        BOOST_TEST_REQUIRE(r.calls == 1);
        BOOST_TEST_REQUIRE(!r.ec, r.ec.message());
        distinct.insert(std::string(r.token.value()));
    }
    BOOST_TEST(distinct.size() == 1u);
    BOOST_TEST(auth.stats()[metric::cache_miss] == 1u);
    BOOST_TEST(auth.stats()[metric::coalesced] == unsigned(n - 1));
}

BOOST_AUTO_TEST_CASE(cancelling_half_of_the_waiters_leaves_the_rest_with_tokens)
{
    auto& server = default_server();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    server.reset_stats();
    constexpr int n = 1000;
    std::vector<got> results(n);
    std::vector<asio::cancellation_signal> signals(n);
    const asio::cancellation_type types[] = {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                                             asio::cancellation_type::total};
    for (int i = 0; i < n; ++i) {
        auth.async_authorize({}, results[i].diag, asio::bind_cancellation_slot(signals[i].slot(), record(results[i])));
    }
    ctx.run_one(); // the fetch is under way
    for (int i = 0; i < n; i += 2)
        signals[i].emit(types[(i / 2) % 3]);
    ctx.run();
    BOOST_TEST(server.stat("token_requests") == 1);
    for (int i = 0; i < n; ++i) {
        BOOST_TEST_REQUIRE(results[i].calls == 1);
        if (i % 2 == 0) {
            BOOST_TEST_REQUIRE(results[i].ec == asio::error::operation_aborted);
            BOOST_TEST_REQUIRE(results[i].token.empty());
        } else {
            BOOST_TEST_REQUIRE(!results[i].ec, results[i].ec.message() << ' ' << results[i].diag);
            BOOST_TEST_REQUIRE((results[i].token == results[1].token));
        }
    }
}

BOOST_AUTO_TEST_CASE(when_every_waiter_leaves_the_fetch_stops_and_the_next_call_starts_anew)
{
    auto& server = default_server();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    std::vector<got> results(10);
    std::vector<asio::cancellation_signal> signals(10);
    for (int i = 0; i < 10; ++i)
        auth.async_authorize({}, asio::bind_cancellation_slot(signals[i].slot(), record(results[i])));
    ctx.run_one();
    for (auto& s : signals)
        s.emit(asio::cancellation_type::terminal);
    ctx.run();
    for (auto& r : results) {
        BOOST_TEST(r.calls == 1);
        BOOST_TEST(r.ec == asio::error::operation_aborted);
    }
    BOOST_TEST(auth.cache_size() == 0u);
    auto next = call(ctx, auth);
    BOOST_TEST(!next.ec, next.ec.message() << ' ' << next.diag);
    BOOST_TEST(!next.token.empty());
}

BOOST_AUTO_TEST_CASE(a_stalled_key_never_delays_another_key)
{
    auto& server = default_server();
    test::fault_server stalled([](test::fault_server::socket& s) { test::stall(s); });
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));

    http_client_options slow;
    auto slow_cfg = std::make_shared<auth_config>(test::fault_client(stalled.url()));
    slow_cfg->timeouts.handshake = 5s;
    slow.auth_config = slow_cfg;
    asio::cancellation_signal stop_slow;
    got s;
    auth.async_authorize(slow, asio::bind_cancellation_slot(stop_slow.slot(), record(s)));
    got fast;
    auth.async_authorize({}, fast.diag, record(fast));
    BOOST_TEST_REQUIRE(run_until(ctx, [&] { return fast.calls == 1; }, 4s));
    BOOST_TEST(!fast.ec, fast.ec.message() << ' ' << fast.diag);
    BOOST_TEST(s.calls == 0); // still stalled while the other key was served
    stop_slow.emit(asio::cancellation_type::terminal);
    ctx.restart();
    ctx.run();
    BOOST_TEST(s.calls == 1);
    BOOST_TEST(s.ec == asio::error::operation_aborted);
}

BOOST_AUTO_TEST_CASE(multi_threaded_io_context_makes_one_request)
{
    auto& server = default_server();
    asio::io_context ctx(4);
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    server.reset_stats();
    constexpr int n = 400;
    std::atomic<int> ok{0}, calls{0};
    std::mutex mtx;
    std::set<std::string> distinct;
    for (int i = 0; i < n; ++i)
        asio::post(ctx, [&] {
            auth.async_authorize({}, [&](error_code ec, actor_token t) {
                ++calls;
                if (!ec) {
                    ++ok;
                    std::lock_guard lock(mtx);
                    distinct.insert(std::string(t.value()));
                }
            });
        });
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] { ctx.run(); });
    for (auto& t : threads)
        t.join();
    BOOST_TEST(calls.load() == n);
    BOOST_TEST(ok.load() == n);
    BOOST_TEST(distinct.size() == 1u);
    BOOST_TEST(server.stat("token_requests") == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(refresh_ahead)

// With 4-second tokens: margin 1 s (a quarter), refresh lead 2 s (a half),
// jitter up to 0.2 s earlier. So a token sent at T is renewed from about
// T+1.8..2 s and served until T+3 s.

BOOST_AUTO_TEST_CASE(renewal_happens_in_the_background_while_the_old_token_is_served)
{
    test::oidc_server server({.ttl = 4});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    auto first = call(ctx, auth);
    BOOST_TEST_REQUIRE(!first.ec, first.ec.message() << ' ' << first.diag);
    const auto sent = first.token.issued_at();
    sleep_until(sent + 2300ms);

    auto in_window = call(ctx, auth); // runs until the renewal finished, too (ctx.run)
    BOOST_TEST_REQUIRE(!in_window.ec);
    BOOST_TEST((in_window.token == first.token)); // served at once, not the renewed one
    BOOST_TEST(auth.stats()[metric::renewal_started] == 1u);
    BOOST_TEST(auth.stats()[metric::renewal_succeeded] == 1u);

    auto after = call(ctx, auth);
    BOOST_TEST_REQUIRE(!after.ec);
    BOOST_TEST(after.token.value() != first.token.value());
    BOOST_TEST(server.stat("token_requests") == 2);
    BOOST_TEST(auth.stats()[metric::cache_miss] == 1u); // nobody ever waited on a renewal
}

BOOST_AUTO_TEST_CASE(no_caller_ever_receives_an_expired_token)
{
    test::oidc_server server({.ttl = 2});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    const auto end = std::chrono::steady_clock::now() + 7s;
    int calls = 0, failures = 0, too_close = 0;
    std::set<std::string> distinct;
    while (std::chrono::steady_clock::now() < end) {
        auto g = call(ctx, auth);
        const auto now = std::chrono::system_clock::now();
        ++calls;
        if (g.ec) {
            ++failures;
            continue;
        }
        distinct.insert(std::string(g.token.value()));
        // served only with at least its margin (a quarter of 2 s) left, minus scheduling slack
        if (*g.token.expires_at() - now < 400ms)
            ++too_close;
        std::this_thread::sleep_for(10ms);
    }
    BOOST_TEST(calls > 100);
    BOOST_TEST(failures == 0);
    BOOST_TEST(too_close == 0);
    // about one token per second of lifetime used; never one per call
    BOOST_TEST(distinct.size() >= 4u);
    BOOST_TEST(server.stat("token_requests") <= 12);
}

BOOST_AUTO_TEST_CASE(failed_renewal_keeps_serving_the_valid_token)
{
    auto server = std::make_unique<test::oidc_server>(test::server_options{.ttl = 4});
    auto cfg = test::basic_client(*server);
    cfg.retry.max_attempts = 1;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    auto first = call(ctx, auth);
    BOOST_TEST_REQUIRE(!first.ec);
    server.reset(); // the authorization server goes away
    sleep_until(first.token.issued_at() + 2300ms);

    auto in_window = call(ctx, auth);
    BOOST_TEST_REQUIRE(!in_window.ec, in_window.ec.message());
    BOOST_TEST((in_window.token == first.token));
    BOOST_TEST(auth.stats()[metric::renewal_failed] == 1u);
    auto again = call(ctx, auth); // still usable: stale-if-error
    BOOST_TEST_REQUIRE(!again.ec);
    BOOST_TEST((again.token == first.token));

    sleep_until(first.token.issued_at() + 3100ms); // past usable_until: a typed error, never the old token
    auto late = call(ctx, auth);
    BOOST_TEST(late.ec == asio::error::connection_refused, late.ec.message());
    BOOST_TEST(late.token.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(refresh_token_renewal)

BOOST_AUTO_TEST_CASE(renewal_uses_the_refresh_token_and_falls_back_once_when_it_is_rejected)
{
    test::oidc_server server({.ttl = 4});
    auto cfg = test::basic_client(server);
    cfg.client_id = "refresh-client";
    cfg.client_secret = "refresh-secret";
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    auto first = call(ctx, auth);
    BOOST_TEST_REQUIRE(!first.ec, first.ec.message() << ' ' << first.diag);
    BOOST_TEST_REQUIRE(first.token.refresh_token().has_value());

    // 1. renewed with grant_type=refresh_token
    server.reset_stats();
    auto second = call(ctx, auth, forced());
    BOOST_TEST_REQUIRE(!second.ec, second.ec.message() << ' ' << second.diag);
    BOOST_TEST(server.stat("refresh_requests") == 1);
    BOOST_TEST(server.stat("token_requests") == 1);
    BOOST_TEST(second.token.value() != first.token.value());

    // 2. the refresh token is rejected (invalid_grant): client credentials, once
    auto revoked = server.request("POST", "/test/revoke-refresh");
    BOOST_TEST_REQUIRE(revoked.status == 200u);
    server.reset_stats();
    auto third = call(ctx, auth, forced());
    BOOST_TEST_REQUIRE(!third.ec, third.ec.message() << ' ' << third.diag);
    BOOST_TEST(server.stat("refresh_requests") == 1);
    BOOST_TEST(server.stat("token_requests") == 2);
    BOOST_TEST(third.token.value() != second.token.value());
    BOOST_TEST(auth.stats()[metric::retry] == 0u); // the fallback is not a retry

    // 3. background renewal in the refresh window also uses the (new) refresh token
    server.reset_stats();
    sleep_until(third.token.issued_at() + 2300ms);
    auto in_window = call(ctx, auth);
    BOOST_TEST_REQUIRE(!in_window.ec);
    BOOST_TEST((in_window.token == third.token));
    BOOST_TEST(server.stat("refresh_requests") == 1);
    auto renewed = call(ctx, auth);
    BOOST_TEST(renewed.token.value() != third.token.value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(keep_alive)

BOOST_AUTO_TEST_CASE(many_fetches_share_one_connection_and_one_handshake)
{
    test::oidc_server server;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    server.reset_stats();
    // TETRAPAK_KEEPALIVE_FETCHES=1000 measures handshakes per 1,000 fetches.
    const int n = std::getenv("TETRAPAK_KEEPALIVE_FETCHES") ? std::atoi(std::getenv("TETRAPAK_KEEPALIVE_FETCHES")) : 50;
    std::set<std::string> distinct;
    for (int i = 0; i < n; ++i) {
        auto g = call(ctx, auth, forced());
        BOOST_TEST_REQUIRE(!g.ec, g.ec.message() << ' ' << g.diag);
        distinct.insert(std::string(g.token.value()));
    }
    BOOST_TEST(distinct.size() == unsigned(n));
    BOOST_TEST_MESSAGE(n << " forced fetches: " << auth.stats());
    // (each stats request is a connection of its own: read this one first)
    BOOST_TEST(server.stat("connections") == 1 + 1); // ours, and the stats request's own
    BOOST_TEST(server.stat("token_requests") == n);
    BOOST_TEST(auth.stats()[metric::connection_opened] == 1u);
    BOOST_TEST(auth.stats()[metric::connection_reused] == unsigned(n - 1));
}

BOOST_AUTO_TEST_CASE(a_connection_the_server_closed_is_replaced_and_the_session_resumed)
{
    test::oidc_server server({.extra_args = {"--keep-alive-ms", "200"}});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    server.reset_stats();
    auto a = call(ctx, auth, forced());
    BOOST_TEST_REQUIRE(!a.ec, a.ec.message() << ' ' << a.diag);
    std::this_thread::sleep_for(2000ms); // the server closes the idle connection (Node: after ~1.2 s here)
    auto b = call(ctx, auth, forced());
    BOOST_TEST_REQUIRE(!b.ec, b.ec.message() << ' ' << b.diag);
    BOOST_TEST_MESSAGE("stats " << auth.stats());
    BOOST_TEST(server.stat("connections") == 2 + 1);
    BOOST_TEST(server.stat("token_requests") == 2);
    BOOST_TEST(server.stat("resumed_connections") == 1);
    BOOST_TEST(auth.stats()[metric::connection_opened] == 2u);
    BOOST_TEST(auth.stats()[metric::tls_resumed] == 1u);
    BOOST_TEST(auth.stats()[metric::failure] == 0u);
}

BOOST_AUTO_TEST_CASE(without_pooling_each_fetch_has_its_own_connection_and_resumes_the_session)
{
    test::oidc_server server;
    auto cfg = test::basic_client(server);
    cfg.connections.max_idle_per_endpoint = 0;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    server.reset_stats();
    for (int i = 0; i < 4; ++i) {
        auto g = call(ctx, auth, forced());
        BOOST_TEST_REQUIRE(!g.ec, g.ec.message() << ' ' << g.diag);
    }
    BOOST_TEST(server.stat("connections") == 4 + 1);
    BOOST_TEST(server.stat("resumed_connections") == 3);
    BOOST_TEST(auth.stats()[metric::connection_opened] == 4u);
    BOOST_TEST(auth.stats()[metric::connection_reused] == 0u);
    BOOST_TEST(auth.stats()[metric::tls_resumed] == 3u);
}

BOOST_AUTO_TEST_CASE(unverified_connections_and_sessions_never_serve_a_verifying_call)
{
    test::oidc_server server;
    auto verifying = test::basic_client(server);
    auto unverified = std::make_shared<auth_config>(verifying);
    unverified->tls.insecure_disable_verification_i_know_what_i_am_doing = true;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), verifying);
    http_client_options o;
    o.auth_config = unverified;
    auto a = call(ctx, auth, o);
    BOOST_TEST_REQUIRE(!a.ec, a.ec.message());
    auto b = call(ctx, auth, forced());
    BOOST_TEST_REQUIRE(!b.ec, b.ec.message());
    BOOST_TEST(auth.stats()[metric::connection_opened] == 2u);
    BOOST_TEST(auth.stats()[metric::connection_reused] == 0u);
    BOOST_TEST(auth.stats()[metric::tls_resumed] == 0u);
    auto c = call(ctx, auth, forced()); // verified connections are reused among themselves
    BOOST_TEST_REQUIRE(!c.ec);
    BOOST_TEST(auth.stats()[metric::connection_reused] == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
