// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The fleet's shared store against a real redis-server and the real
// authorization server: instances (each its own io_context, thread and
// service) share tokens, reject values that do not open, survive Redis
// going away or stalling, and drop copies another instance replaced.

#include "fault_server.hpp"
#include "fleet_instance.hpp"

#include <fleet/envelope.hpp>
#include <fleet/fleet_store.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include <boost/test/unit_test.hpp>

#include <hiredis/hiredis.h>

#include <set>

namespace asio = boost::asio;
using namespace tetrapak;
using namespace std::chrono_literals;
using test::fleet_instance;

namespace {

/// The one shared token value in `redis` (the test's only cache key).
std::string only_token_key(const test::redis_server& redis)
{
    for (const auto& k : redis.keys("tetrapak:t:*"))
        if (!k.ends_with(":ra") && !k.ends_with(":lock"))
            return k;
    return {};
}

bool contains(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

/// CONFIG SET on the (password-less) Redis at `port`.
void redis_config_set(unsigned short port, const char* name, const char* value)
{
    redisContext* c = redisConnect("127.0.0.1", port);
    BOOST_TEST_REQUIRE((c && !c->err));
    auto* r = static_cast<redisReply*>(redisCommand(c, "CONFIG SET %s %s", name, value));
    const bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    BOOST_TEST_REQUIRE(ok);
}

/// Waits until a token value is in `redis`; its key name, or "" after 3 s.
std::string shared_key(const test::redis_server& redis)
{
    test::eventually([&] { return !only_token_key(redis).empty(); });
    return only_token_key(redis);
}

/// A call on `i` that finds a shared value it must refuse: it counts the
/// refusal, fetches (the server has then seen `requests` in all) and gets a
/// token. Returns the call.
test::instance_result refused_then_fetched(fleet_instance& i, const test::oidc_server& server, long requests)
{
    auto t = i.authorize();
    BOOST_TEST_REQUIRE(!t.ec, t.ec.message() << ' ' << t.diag);
    BOOST_TEST(i.stat(metric::fleet_rejected) == 1u);
    BOOST_TEST(server.stat("token_requests") == requests);
    return t;
}

/// The name of the value an instance with `cfg` shares, learnt from a first
/// instance (gone after this); then Redis is emptied, as for a cold start.
std::string cold_key_name(const auth_config& cfg, const test::redis_server& redis)
{
    {
        fleet_instance probe(cfg);
        BOOST_TEST_REQUIRE(!probe.authorize().ec);
    }
    auto key = shared_key(redis);
    BOOST_TEST_REQUIRE(!key.empty());
    redis.flushall();
    return key;
}

} // namespace

BOOST_AUTO_TEST_SUITE(fleet)

// The lock itself: SET NX elects one owner among racing instances, and only
// the owner's compare-and-delete releases it.
BOOST_AUTO_TEST_CASE(the_lock_elects_one_owner_and_only_the_owner_releases_it)
{
    test::redis_server redis;
    fleet_settings fs;
    fs.redis_url = redis.url();
    fs.keys = test::fleet_key_1;
    fs.command_timeout = fs.connect_timeout = 2000ms;
    asio::io_context ctx;
    std::vector<std::shared_ptr<detail::fleet_store>> stores;
    for (int i = 0; i < 8; ++i)
        stores.push_back(detail::fleet_store::make(ctx.get_executor(), fs, std::make_shared<detail::event_counters>()));
    const auto names = detail::names_for(fs.key_prefix, detail::cache_key{});
    std::vector<std::string> owners;
    for (std::size_t i = 0; i < stores.size(); ++i)
        owners.push_back(detail::fleet_store::new_owner());
    std::vector<std::future<detail::fleet_store::lock_result>> won;
    for (std::size_t i = 0; i < stores.size(); ++i) // all sent before any answer is read
        won.push_back(asio::co_spawn(ctx, stores[i]->try_lock(names, owners[i]), asio::use_future));
    // (The connections keep the context busy: run it until every answer is in.)
    auto all_in = [&] {
        return std::all_of(won.begin(), won.end(), [](auto& f) { return f.wait_for(0s) == std::future_status::ready; });
    };
    for (int i = 0; i < 500 && !all_in(); ++i)
        ctx.run_for(10ms);
    int winners = 0, winner = -1;
    for (int i = 0; i < 8; ++i) {
        BOOST_TEST_REQUIRE((won[i].wait_for(0s) == std::future_status::ready));
        if (won[i].get() == detail::fleet_store::lock_result::won) {
            ++winners;
            winner = i;
        }
    }
    BOOST_TEST(winners == 1);
    BOOST_TEST_REQUIRE(winner >= 0);
    BOOST_TEST(redis.get(names.lock).value_or("") == owners[winner]);
    BOOST_TEST(redis.pttl(names.lock) > 0);
    stores[(winner + 1) % 8]->release(names, owners[(winner + 1) % 8]); // not the owner: no effect
    ctx.restart();
    ctx.run_for(300ms);
    BOOST_TEST(redis.get(names.lock).value_or("") == owners[winner]);
    stores[winner]->release(names, owners[winner]);
    ctx.restart();
    ctx.run_for(300ms);
    BOOST_TEST(!redis.get(names.lock).has_value());
}

BOOST_AUTO_TEST_CASE(a_second_instance_makes_no_token_request)
{
    test::redis_server redis;
    test::oidc_server server;
    fleet_instance a(test::fleet_client(server, redis));
    fleet_instance b(test::fleet_client(server, redis));
    auto first = a.authorize();
    BOOST_TEST_REQUIRE(!first.ec, first.ec.message() << ' ' << first.diag);
    BOOST_TEST(!shared_key(redis).empty());
    auto second = b.authorize();
    BOOST_TEST_REQUIRE(!second.ec, second.ec.message() << ' ' << second.diag);
    BOOST_TEST(second.token.value() == first.token.value());
    BOOST_TEST_REQUIRE(second.token.expires_at().has_value());
    BOOST_TEST((std::chrono::floor<std::chrono::milliseconds>(*second.token.expires_at()) ==
                std::chrono::floor<std::chrono::milliseconds>(*first.token.expires_at()))); // kept to the millisecond
    BOOST_TEST(server.stat("token_requests") == 1);
    BOOST_TEST(test::eventually([&] { return a.stat(metric::fleet_stored) == 1u; })); // counted when Redis answered
    BOOST_TEST(b.stat(metric::fleet_hit) == 1u);
    // The value lives as long as the token is usable, not longer.
    const auto ttl = redis.pttl(only_token_key(redis));
    BOOST_TEST(ttl > 0);
    BOOST_TEST(ttl <= 300'000);
}

BOOST_AUTO_TEST_CASE(nothing_in_redis_is_readable)
{
    test::redis_server redis;
    test::oidc_server server;
    auto cfg = test::fleet_client(server, redis);
    fleet_instance a(cfg);
    auto t = a.authorize();
    BOOST_TEST_REQUIRE(!t.ec, t.ec.message() << ' ' << t.diag);
    BOOST_TEST(!shared_key(redis).empty());
    const auto keys = redis.keys("*");
    BOOST_TEST(!keys.empty());
    for (const auto& k : keys) {
        const std::string value = redis.get(k).value_or("");
        for (const std::string& where : {k, value}) {
            BOOST_TEST(!contains(where, t.token.value()), k);
            BOOST_TEST(!contains(where, cfg.client_secret.reveal()), k);
            BOOST_TEST(!contains(where, cfg.client_id), k);
            BOOST_TEST(!contains(where, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"), k);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_tampered_value_is_ignored_counted_and_replaced)
{
    test::redis_server redis;
    test::oidc_server server;
    fleet_instance a(test::fleet_client(server, redis));
    BOOST_TEST_REQUIRE(!a.authorize().ec);
    const auto key = shared_key(redis);
    BOOST_TEST_REQUIRE(!key.empty());
    auto value = *redis.get(key);
    value[value.size() / 2] ^= 0x01;
    redis.set(key, value, 60s);

    fleet_instance b(test::fleet_client(server, redis));
    auto t = refused_then_fetched(b, server, 2);
    BOOST_TEST(test::eventually([&] { return redis.get(key).value_or("") != value; })); // and replaced

    fleet_instance c(test::fleet_client(server, redis));
    auto again = c.authorize();
    BOOST_TEST_REQUIRE(!again.ec);
    BOOST_TEST(again.token.value() == t.token.value());
    BOOST_TEST(server.stat("token_requests") == 2);
}

BOOST_AUTO_TEST_CASE(rotation_reads_old_values_and_an_unknown_key_id_is_refused)
{
    test::redis_server redis;
    test::oidc_server server;
    fleet_instance old_ring(test::fleet_client(server, redis, test::fleet_key_1));
    auto first = old_ring.authorize();
    BOOST_TEST_REQUIRE(!first.ec);
    BOOST_TEST_REQUIRE(!shared_key(redis).empty());

    // Rotated: the new key seals, the old one still opens.
    fleet_instance rotated(test::fleet_client(server, redis, std::string(test::fleet_key_2) + "," + test::fleet_key_1));
    auto read = rotated.authorize();
    BOOST_TEST_REQUIRE(!read.ec);
    BOOST_TEST(read.token.value() == first.token.value());
    BOOST_TEST(rotated.stat(metric::fleet_hit) == 1u);
    BOOST_TEST(server.stat("token_requests") == 1);

    // A ring without k1: the value is refused, a token fetched and the value replaced under k3.
    fleet_instance other(test::fleet_client(server, redis, test::fleet_key_3));
    refused_then_fetched(other, server, 2);
}

BOOST_AUTO_TEST_CASE(a_value_moved_from_another_cache_key_does_not_open)
{
    test::redis_server redis;
    test::oidc_server server;
    auto cfg_x = test::fleet_client(server, redis);
    auto cfg_y = cfg_x;
    cfg_y.scope = {"read"};
    fleet_instance x(cfg_x);
    BOOST_TEST_REQUIRE(!x.authorize().ec);
    const auto key_x = shared_key(redis);
    BOOST_TEST_REQUIRE(!key_x.empty());
    const auto value_x = *redis.get(key_x);

    fleet_instance y(cfg_y);
    BOOST_TEST_REQUIRE(!y.authorize().ec);
    BOOST_TEST_REQUIRE(test::eventually([&] { return redis.keys("tetrapak:t:*").size() == 2u; }));
    std::string key_y;
    for (const auto& k : redis.keys("tetrapak:t:*"))
        if (k != key_x && !k.ends_with(":lock"))
            key_y = k;
    BOOST_TEST_REQUIRE(!key_y.empty());
    redis.set(key_y, value_x, 60s); // X's token under Y's name

    fleet_instance y2(cfg_y);
    refused_then_fetched(y2, server, 3);
}

BOOST_AUTO_TEST_CASE(redis_killed_and_restarted_costs_callers_nothing)
{
    test::redis_server redis;
    test::oidc_server server;
    auto cfg = test::fleet_client(server, redis);
    cfg.fleet.connect_timeout = 200ms;
    cfg.fleet.command_timeout = 200ms;
    cfg.fleet.breaker_open = 300ms;
    fleet_instance a(cfg);
    BOOST_TEST_REQUIRE(!a.authorize().ec);

    redis.kill();
    int failed = 0;
    std::chrono::steady_clock::duration worst{};
    for (int i = 0; i < 5; ++i) { // new instances: each must fetch, Redis or not
        fleet_instance down(cfg);
        auto t = down.authorize();
        failed += t.ec ? 1 : 0;
        worst = std::max(worst, t.elapsed);
        BOOST_TEST(down.stat(metric::fleet_unavailable) >= 1u);
    }
    BOOST_TEST(failed == 0);
    BOOST_TEST_MESSAGE("worst call while Redis was down: "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(worst).count() << " ms");
    BOOST_TEST(worst < 2s); // at most the Redis timeouts on top of a fetch

    redis.restart();
    BOOST_TEST(test::eventually([&] {
        fleet_instance up(cfg);
        return !up.authorize().ec && test::eventually([&] { return up.stat(metric::fleet_stored) == 1u; }, 500ms);
    }, 5000ms));
    const auto before = server.stat("token_requests");
    fleet_instance again(cfg);
    BOOST_TEST(!again.authorize().ec);
    BOOST_TEST(again.stat(metric::fleet_hit) == 1u); // sharing resumed
    BOOST_TEST(server.stat("token_requests") == before);
}

BOOST_AUTO_TEST_CASE(a_stalled_redis_is_down_within_the_timeout)
{
    test::redis_server redis;
    test::oidc_server server;
    auto cfg = test::fleet_client(server, redis);
    cfg.fleet.connect_timeout = 200ms;
    cfg.fleet.command_timeout = 100ms;
    redis.pause(); // SIGSTOP: connections are accepted by the kernel, nothing is answered
    fleet_instance a(cfg);
    auto t = a.authorize();
    redis.resume();
    BOOST_TEST(!t.ec, t.ec.message());
    BOOST_TEST(t.elapsed < 2s);
    BOOST_TEST(a.stat(metric::fleet_unavailable) >= 1u);
    BOOST_TEST_MESSAGE("call while Redis was stalled: "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(t.elapsed).count() << " ms");
    // Redis answers again: a new instance shares through it
    fleet_instance b(cfg);
    BOOST_TEST(!b.authorize().ec);
    BOOST_TEST(!shared_key(redis).empty());
}

BOOST_AUTO_TEST_CASE(force_authorization_drops_the_other_instances_copies)
{
    test::redis_server redis;
    test::oidc_server server;
    fleet_instance a(test::fleet_client(server, redis));
    fleet_instance b(test::fleet_client(server, redis));
    auto t1 = a.authorize();
    BOOST_TEST_REQUIRE(!t1.ec);
    BOOST_TEST_REQUIRE(!shared_key(redis).empty());
    BOOST_TEST_REQUIRE(b.authorize().token.value() == t1.token.value());

    http_client_options forced;
    forced.force_authorization = true;
    auto t2 = a.authorize(forced);
    BOOST_TEST_REQUIRE(!t2.ec);
    BOOST_TEST(t2.token.value() != t1.token.value());
    BOOST_TEST(test::eventually([&] { return b.stat(metric::fleet_dropped) >= 1u; }));
    auto seen_by_b = b.authorize();
    BOOST_TEST(seen_by_b.token.value() == t2.token.value());
    BOOST_TEST(server.stat("token_requests") == 2);
}

BOOST_AUTO_TEST_CASE(invalidate_deletes_the_shared_copy)
{
    test::redis_server redis;
    test::oidc_server server;
    fleet_instance a(test::fleet_client(server, redis));
    BOOST_TEST_REQUIRE(!a.authorize().ec);
    BOOST_TEST_REQUIRE(!shared_key(redis).empty());
    BOOST_TEST(a.auth().invalidate({}));
    BOOST_TEST(test::eventually([&] { return only_token_key(redis).empty(); }));
    fleet_instance b(test::fleet_client(server, redis));
    BOOST_TEST(!b.authorize().ec);
    BOOST_TEST(server.stat("token_requests") == 2);
}

BOOST_AUTO_TEST_CASE(a_dead_lock_holder_is_taken_over_after_the_lock_expires)
{
    test::redis_server redis;
    test::oidc_server server;
    auto cfg = test::fleet_client(server, redis);
    cfg.fleet.lock_ttl = 1000ms;
    const auto key = cold_key_name(cfg, redis);
    redis.set(key + ":lock", "an-instance-that-died", 1000ms); // held by nobody alive

    fleet_instance b(cfg);
    auto t = b.authorize();
    BOOST_TEST_REQUIRE(!t.ec, t.ec.message());
    BOOST_TEST(t.elapsed >= 800ms); // waited for the lock to expire...
    BOOST_TEST(t.elapsed < 4s);     // ...not for max_wait
    BOOST_TEST(b.stat(metric::fleet_waited) == 1u);
    BOOST_TEST(server.stat("token_requests") == 2);
}

BOOST_AUTO_TEST_CASE(a_redis_that_refuses_writes_leaves_callers_unharmed)
{
    test::redis_server redis;
    test::oidc_server server;
    // Reads work, every write is refused (-OOM): the lock can never be taken.
    redis_config_set(redis.port(), "maxmemory-policy", "noeviction");
    redis_config_set(redis.port(), "maxmemory", "1");
    fleet_instance a(test::fleet_client(server, redis));
    auto t = a.authorize();
    BOOST_TEST(!t.ec, t.ec.message());
    BOOST_TEST(t.elapsed < 3s); // fetched alone at once, not after max_wait, and no loop
    BOOST_TEST(server.stat("token_requests") == 1);
    BOOST_TEST(redis.command_count("set") <= 3); // the lock tried once, the value once (and the harness)
}

BOOST_AUTO_TEST_CASE(a_caller_waiting_for_another_instance_can_leave)
{
    test::redis_server redis;
    test::oidc_server server;
    auto cfg = test::fleet_client(server, redis);
    const auto key = cold_key_name(cfg, redis);
    redis.set(key + ":lock", "another-instance", 10s); // fetching elsewhere, for long

    fleet_instance b(cfg);
    auto left = b.authorize_cancelled_after(150ms);
    BOOST_TEST(left.ec == asio::error::operation_aborted, left.ec.message());
    BOOST_TEST(left.elapsed < 2s); // at once, not after the wait
    BOOST_TEST(left.token.empty());
    BOOST_TEST(server.stat("token_requests") == 1); // the waiter left without fetching
}

BOOST_AUTO_TEST_CASE(a_retry_after_is_shared_by_the_fleet)
{
    test::redis_server redis;
    std::atomic<int> requests{0};
    test::fault_server fault(test::serving(requests, [](int) {
        return test::http("503 Service Unavailable", R"({"error":"temporarily_unavailable"})", "Retry-After: 60\r\n");
    }));
    auto cfg = test::fault_client(fault.url());
    cfg.fleet.redis_url = redis.url();
    cfg.fleet.keys = test::fleet_key_1;
    cfg.fleet.command_timeout = 2000ms;
    fleet_instance a(cfg);
    auto first = a.authorize();
    BOOST_TEST(first.ec == oauth_errc::temporarily_unavailable, first.ec.message());
    BOOST_TEST(requests == 1);
    BOOST_TEST_REQUIRE(test::eventually([&] { return redis.keys("tetrapak:t:*:ra").size() == 1u; }));

    fleet_instance b(cfg);
    auto second = b.authorize();
    BOOST_TEST(second.ec == first.ec);
    BOOST_TEST(second.diag.error() == "temporarily_unavailable");
    BOOST_TEST_REQUIRE(second.diag.retry_after().has_value()); // what is left of the server's 60 s
    BOOST_TEST(second.diag.retry_after()->count() > 50);
    BOOST_TEST(second.diag.retry_after()->count() <= 60);
    BOOST_TEST(requests == 1); // the fleet backs off together
}

BOOST_AUTO_TEST_CASE(refresh_tokens_are_shared_only_when_configured)
{
    test::redis_server redis;
    test::oidc_server server;
    for (bool share : {false, true}) {
        redis.flushall();
        auto cfg = test::fleet_client(server, redis);
        cfg.client_id = "refresh-client";
        cfg.client_secret = "refresh-secret";
        cfg.fleet.share_refresh_tokens = share;
        fleet_instance a(cfg);
        auto t = a.authorize();
        BOOST_TEST_REQUIRE(!t.ec, t.ec.message() << ' ' << t.diag);
        BOOST_TEST_REQUIRE(t.token.refresh_token().has_value());
        const auto key = shared_key(redis);
        BOOST_TEST_REQUIRE(!key.empty());
        tetrapak::diagnostics d;
        auto ring = detail::envelope_keyring::from_text(test::fleet_key_1, d);
        BOOST_TEST_REQUIRE(ring.has_value());
        auto plain = detail::open(*ring, *redis.get(key), key);
        BOOST_TEST_REQUIRE(plain.has_value());
        BOOST_TEST(contains(*plain, *t.token.refresh_token()) == share);
        BOOST_TEST(!contains(*redis.get(key), *t.token.refresh_token()));
    }
}

BOOST_AUTO_TEST_CASE(dpop_tokens_are_shared_only_with_the_same_key)
{
    test::redis_server redis;
    test::oidc_server server;
    auto own_key_cfg = test::dpop_client(server); // each service generates its own key: never shared
    own_key_cfg.fleet = test::fleet_client(server, redis).fleet;
    fleet_instance a(own_key_cfg);
    BOOST_TEST_REQUIRE(!a.authorize().ec);
    fleet_instance b(own_key_cfg);
    BOOST_TEST_REQUIRE(!b.authorize().ec);
    BOOST_TEST(server.stat("token_requests") == 2);
    BOOST_TEST(redis.keys("tetrapak:t:*").empty());

    auto key = dpop_key::generate("ES256");
    BOOST_TEST_REQUIRE(key.has_value());
    auto same_key_cfg = test::dpop_client(server, *key);
    same_key_cfg.fleet = own_key_cfg.fleet;
    fleet_instance c(same_key_cfg);
    auto tc = c.authorize();
    BOOST_TEST_REQUIRE(!tc.ec);
    BOOST_TEST_REQUIRE(!shared_key(redis).empty());
    fleet_instance d(same_key_cfg);
    auto td = d.authorize();
    BOOST_TEST_REQUIRE(!td.ec);
    BOOST_TEST(td.token.value() == tc.token.value());
    BOOST_TEST(td.token.is_dpop_bound());
    BOOST_TEST(server.stat("token_requests") == 3);
}

BOOST_AUTO_TEST_SUITE_END()
