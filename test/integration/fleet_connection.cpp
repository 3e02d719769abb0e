// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// How the fleet's shared store reaches Redis, against a real redis-server:
// rediss:// verified against fleet.ca_file (and not against the system's CAs),
// ACL users and passwords from the URL or from fleet_settings, a database
// selected by the URL's path, and the constructor's refusal of a bad URL or
// key ring without ever quoting the password or a key.

#include "fleet_instance.hpp"

#include "fleet/redis_connection.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <unistd.h>

namespace asio = boost::asio;
using namespace tetrapak;
using namespace std::chrono_literals;
using boost::system::error_code;
using test::fleet_instance;

namespace {

/// The shared token values in `redis` (db 0): tetrapak:t:D without :ra or :lock.
std::vector<std::string> token_keys(const test::redis_server& redis)
{
    std::vector<std::string> out;
    for (const auto& k : redis.keys("tetrapak:t:*"))
        if (!k.ends_with(":ra") && !k.ends_with(":lock"))
            out.push_back(k);
    return out;
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

/// What the fleet_unavailable events said (the metrics hook's ec), in order.
struct unavailable_log {
    std::mutex mtx;
    std::vector<error_code> codes;

    /// Call before the instance's first request.
    void attach(fleet_instance& i)
    {
        i.auth().set_metrics([this](const metrics_event& e) {
            if (e.metric == metric::fleet_unavailable) {
                std::lock_guard lock(mtx);
                codes.push_back(e.ec);
            }
        });
    }
    std::vector<error_code> snapshot()
    {
        std::lock_guard lock(mtx);
        return codes;
    }
};

/// `a` fetches and shares a token; `b` then gets the very same one.
void expect_shared(fleet_instance& a, fleet_instance& b, const test::redis_server& redis)
{
    auto first = a.authorize();
    BOOST_TEST_REQUIRE(!first.ec, first.ec.message() << ' ' << first.diag);
    BOOST_TEST_REQUIRE(test::eventually([&] { return token_keys(redis).size() == 1u; }));
    auto second = b.authorize();
    BOOST_TEST_REQUIRE(!second.ec, second.ec.message() << ' ' << second.diag);
    BOOST_TEST(second.token.value() == first.token.value());
}

/// Two instances of one configuration, each with its fleet_unavailable log.
struct logged_pair {
    explicit logged_pair(const auth_config& cfg) : a(cfg), b(cfg)
    {
        log_a.attach(a);
        log_b.attach(b);
    }
    fleet_instance a, b;
    unavailable_log log_a, log_b;
};

struct hiredis_free {
    void operator()(redisContext* c) const { redisFree(c); }
};

/// Key names in database `db` of the (password-less) Redis on `port`, with
/// hiredis directly: the harness's helpers only look at db 0.
std::vector<std::string> keys_in_db(unsigned short port, int db)
{
    const timeval tv{2, 0};
    std::unique_ptr<redisContext, hiredis_free> c(redisConnectWithTimeout("127.0.0.1", port, tv));
    if (!c || c->err)
        throw std::runtime_error("cannot connect to Redis on port " + std::to_string(port));
    redisSetTimeout(c.get(), tv);
    auto ask = [&](const std::vector<std::string>& argv) {
        std::vector<const char*> ptrs;
        std::vector<std::size_t> lens;
        for (const auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(
            redisCommandArgv(c.get(), static_cast<int>(argv.size()), ptrs.data(), lens.data()));
        if (!r)
            throw std::runtime_error(std::string("Redis: ") + c->errstr);
        return std::unique_ptr<redisReply, void (*)(void*)>(r, freeReplyObject);
    };
    auto sel = ask({"SELECT", std::to_string(db)});
    if (sel->type != REDIS_REPLY_STATUS)
        throw std::runtime_error("SELECT " + std::to_string(db) + " failed");
    auto r = ask({"KEYS", "*"});
    if (r->type != REDIS_REPLY_ARRAY)
        throw std::runtime_error("KEYS did not answer an array");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < r->elements; ++i)
        out.emplace_back(r->element[i]->str, r->element[i]->len);
    std::sort(out.begin(), out.end());
    return out;
}

std::string with_database(std::string url, int db) { return url + "/" + std::to_string(db); }

std::string str(const diagnostics& d)
{
    std::ostringstream os;
    os << d;
    return os.str();
}

/// A 32-byte key that passes for none of the test keys, and one of 16 bytes.
constexpr const char* other_key_b64 = "c2VjcmV0LWtleS10ZXh0LXRoYXQtbXVzdC1uZXZlci0=";
constexpr const char* short_key_b64 = "MTZieXRlcy1zZWNyZXQtIQ==";

/// The service refuses `cfg` with error_with_diagnostics `code`; neither
/// what() nor the diagnostics contain any of `secrets`. `about` must appear
/// in the message (the setting it names).
void expect_refused(const auth_config& cfg, error code, const std::vector<std::string>& secrets, std::string_view about)
{
    asio::io_context ctx;
    try {
        authorization_service s(ctx.get_executor(), cfg);
        BOOST_ERROR("the service accepted the configuration");
    } catch (const error_with_diagnostics& e) {
        BOOST_TEST(e.code() == make_error_code(code), e.code().message());
        const std::string what = e.what();
        const std::string diag = str(e.get_diagnostics());
        const std::string message(e.get_diagnostics().client_message());
        BOOST_TEST_MESSAGE("refused: " << what);
        BOOST_TEST(!message.empty());
        BOOST_TEST(contains(what + diag, about), what << " | " << diag);
        for (const auto& s : secrets) {
            BOOST_TEST(!contains(what, s), "what() holds a secret: " << what);
            BOOST_TEST(!contains(diag, s), "the diagnostics hold a secret: " << diag);
            BOOST_TEST(!contains(message, s), "the message holds a secret: " << message);
        }
    } catch (const std::exception& e) {
        BOOST_ERROR("another exception than error_with_diagnostics: " << e.what());
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(fleet_connection)

BOOST_AUTO_TEST_CASE(rediss_verified_with_the_ca_file_shares)
{
    test::redis_server redis(test::redis_options{.tls = true});
    test::oidc_server server;
    auto cfg = test::fleet_client(server, redis);
    BOOST_TEST_REQUIRE(cfg.fleet.redis_url.starts_with("rediss://"));
    BOOST_TEST_REQUIRE(contains(cfg.fleet.redis_url, ":" + std::to_string(redis.tls_port())));
    cfg.fleet.ca_file = redis.ca_file();

    logged_pair pair(cfg);
    auto &a = pair.a, &b = pair.b;
    auto &log_a = pair.log_a, &log_b = pair.log_b;
    expect_shared(a, b, redis);
    BOOST_TEST(server.stat("token_requests") == 1); // the second instance made no token request
    BOOST_TEST(test::eventually([&] { return a.stat(metric::fleet_stored) == 1u; }));
    BOOST_TEST(b.stat(metric::fleet_hit) == 1u);
    BOOST_TEST(log_a.snapshot().empty());
    BOOST_TEST(log_b.snapshot().empty());
    // Through TLS only: the plain port saw nothing but the harness's own commands.
    BOOST_TEST(!contains(redis.log(), "Error accepting a client connection"), redis.log());
}

BOOST_AUTO_TEST_CASE(rediss_against_the_system_cas_does_not_share_but_callers_get_tokens)
{
    test::redis_server redis(test::redis_options{.tls = true});
    test::oidc_server server;
    auto cfg = test::fleet_client(server, redis);
    BOOST_TEST_REQUIRE(cfg.fleet.redis_url.starts_with("rediss://"));
    cfg.fleet.ca_file.clear(); // the system's CAs: the harness's certificate does not verify

    logged_pair pair(cfg);
    auto &a = pair.a, &b = pair.b;
    auto &log_a = pair.log_a, &log_b = pair.log_b;
    auto first = a.authorize();
    BOOST_TEST_REQUIRE(!first.ec, first.ec.message() << ' ' << first.diag);
    auto second = b.authorize();
    BOOST_TEST_REQUIRE(!second.ec, second.ec.message() << ' ' << second.diag);
    BOOST_TEST(!first.token.value().empty());
    BOOST_TEST(!second.token.value().empty());
    BOOST_TEST(server.stat("token_requests") == 2); // not shared: each fetched its own
    for (auto* i : {&a, &b}) {
        BOOST_TEST(i->stat(metric::fleet_unavailable) >= 1u);
        BOOST_TEST(i->stat(metric::fleet_hit) == 0u);
    }
    for (auto* log : {&log_a, &log_b}) {
        const auto codes = log->snapshot();
        BOOST_TEST_REQUIRE(!codes.empty());
        BOOST_TEST(codes.front() == make_error_code(error::redis_unavailable), codes.front().message());
        for (const auto& ec : codes)
            BOOST_TEST((ec == error::redis_unavailable || ec == error::redis_timeout || ec == error::fleet_breaker_open),
                       ec.message());
    }
    std::this_thread::sleep_for(300ms); // the writes after a fetch are not waited for
    BOOST_TEST(redis.keys("*").empty());
}

BOOST_AUTO_TEST_CASE(acl_user_and_password_in_the_url_share)
{
    // Characters that must be percent-encoded in the URL's user info.
    test::redis_server redis(test::redis_options{.acl_user = "fleet-app", .acl_password = "acl:p@ss/w%rd"});
    test::oidc_server server;
    auto cfg = test::fleet_client(server, redis);
    BOOST_TEST_REQUIRE(contains(cfg.fleet.redis_url, "fleet-app:"));
    fleet_instance a(cfg);
    fleet_instance b(cfg);
    unavailable_log log_a;
    log_a.attach(a);
    expect_shared(a, b, redis);
    BOOST_TEST(server.stat("token_requests") == 1);
    BOOST_TEST(b.stat(metric::fleet_hit) == 1u);
    BOOST_TEST(log_a.snapshot().empty());
}

BOOST_AUTO_TEST_CASE(a_wrong_password_is_refused_callers_still_get_tokens_and_nothing_is_stored)
{
    test::redis_server redis(test::redis_options{.acl_user = "fleet-app", .acl_password = "right-pw"});
    test::oidc_server server;
    auto cfg = test::fleet_client(server, redis);
    cfg.fleet.redis_url = "redis://fleet-app:wrong-pw@127.0.0.1:" + std::to_string(redis.port());

    fleet_instance a(cfg);
    unavailable_log log;
    log.attach(a);
    auto t = a.authorize();
    BOOST_TEST_REQUIRE(!t.ec, t.ec.message() << ' ' << t.diag);
    BOOST_TEST(!t.token.value().empty());
    BOOST_TEST(server.stat("token_requests") == 1);
    BOOST_TEST(a.stat(metric::fleet_unavailable) >= 1u);
    BOOST_TEST(a.stat(metric::fleet_hit) == 0u);
    const auto codes = log.snapshot();
    BOOST_TEST_REQUIRE(!codes.empty());
    BOOST_TEST(codes.front() == make_error_code(error::redis_refused), codes.front().message());
    for (const auto& ec : codes)
        BOOST_TEST((ec == error::redis_refused || ec == error::fleet_breaker_open), ec.message());

    // Another instance with the same wrong password fetches too: nothing was shared.
    fleet_instance b(cfg);
    auto again = b.authorize();
    BOOST_TEST_REQUIRE(!again.ec, again.ec.message());
    BOOST_TEST(server.stat("token_requests") == 2);
    std::this_thread::sleep_for(300ms); // the writes after a fetch are not waited for
    BOOST_TEST(redis.keys("*").empty());
    BOOST_TEST(!contains(redis.log(), "wrong-pw"));
}

// metric::fleet_stored is "this instance stored a token it fetched in the
// shared store": not counted when Redis refused or could not be reached.
BOOST_AUTO_TEST_CASE(fleet_stored_is_not_counted_when_nothing_was_stored)
{
    test::oidc_server server;
    {
        test::redis_server redis(test::redis_options{.acl_user = "fleet-app", .acl_password = "right-pw"});
        auto cfg = test::fleet_client(server, redis);
        cfg.fleet.redis_url = "redis://fleet-app:wrong-pw@127.0.0.1:" + std::to_string(redis.port());
        fleet_instance a(cfg);
        auto t = a.authorize();
        BOOST_TEST_REQUIRE(!t.ec, t.ec.message());
        std::this_thread::sleep_for(300ms);
        BOOST_TEST_REQUIRE(redis.keys("*").empty());
        BOOST_TEST(a.stat(metric::fleet_stored) == 0u, "wrong password: fleet_stored " << a.stat(metric::fleet_stored));
    }
    {
        test::redis_server redis(test::redis_options{.tls = true});
        auto cfg = test::fleet_client(server, redis); // rediss://, no ca_file: does not verify
        fleet_instance a(cfg);
        auto t = a.authorize();
        BOOST_TEST_REQUIRE(!t.ec, t.ec.message());
        std::this_thread::sleep_for(300ms);
        BOOST_TEST_REQUIRE(redis.keys("*").empty());
        BOOST_TEST(a.stat(metric::fleet_stored) == 0u, "unverified TLS: fleet_stored " << a.stat(metric::fleet_stored));
    }
}

BOOST_AUTO_TEST_CASE(fleet_settings_credentials_override_the_urls)
{
    test::oidc_server server;
    {
        // ACL user: the URL's password is wrong, fleet_settings::password is right.
        test::redis_server redis(test::redis_options{.acl_user = "fleet-app", .acl_password = "right-pw"});
        auto cfg = test::fleet_client(server, redis);
        cfg.fleet.redis_url = "redis://fleet-app:wrong-pw@127.0.0.1:" + std::to_string(redis.port());
        cfg.fleet.password = "right-pw";
        // And the user from fleet_settings::username in place of the URL's.
        auto other = cfg;
        other.fleet.redis_url = "redis://nobody:wrong-pw@127.0.0.1:" + std::to_string(redis.port());
        other.fleet.username = "fleet-app";
        server.reset_stats();
        fleet_instance a(cfg);
        fleet_instance b(other);
        auto first = a.authorize();
        BOOST_TEST_REQUIRE(!first.ec, first.ec.message() << ' ' << first.diag);
        BOOST_TEST(a.stat(metric::fleet_unavailable) == 0u);
        BOOST_TEST_REQUIRE(test::eventually([&] { return token_keys(redis).size() == 1u; }));
        auto second = b.authorize();
        BOOST_TEST_REQUIRE(!second.ec, second.ec.message() << ' ' << second.diag);
        BOOST_TEST(second.token.value() == first.token.value());
        BOOST_TEST(b.stat(metric::fleet_hit) == 1u);
        BOOST_TEST(b.stat(metric::fleet_unavailable) == 0u);
        BOOST_TEST(server.stat("token_requests") == 1);
    }
    {
        // requirepass: the URL has no credentials, fleet_settings::password alone.
        test::redis_server redis(test::redis_options{.password = "require-pw"});
        auto cfg = test::fleet_client(server, redis);
        cfg.fleet.redis_url = redis.url_without_credentials();
        cfg.fleet.password = "require-pw";
        server.reset_stats();
        fleet_instance a(cfg);
        fleet_instance b(cfg);
        auto first = a.authorize();
        BOOST_TEST_REQUIRE(!first.ec, first.ec.message());
        BOOST_TEST_REQUIRE(test::eventually([&] { return token_keys(redis).size() == 1u; }));
        auto second = b.authorize();
        BOOST_TEST_REQUIRE(!second.ec, second.ec.message());
        BOOST_TEST(second.token.value() == first.token.value());
        BOOST_TEST(b.stat(metric::fleet_hit) == 1u);
        BOOST_TEST(server.stat("token_requests") == 1);
    }
}

BOOST_AUTO_TEST_CASE(the_urls_database_holds_the_keys)
{
    test::redis_server redis;
    test::oidc_server server;
    auto cfg = test::fleet_client(server, redis);
    cfg.fleet.redis_url = with_database(redis.url(), 3);
    fleet_instance a(cfg);
    fleet_instance b(cfg);
    auto first = a.authorize();
    BOOST_TEST_REQUIRE(!first.ec, first.ec.message() << ' ' << first.diag);
    BOOST_TEST_REQUIRE(test::eventually([&] {
        for (const auto& k : keys_in_db(redis.port(), 3))
            if (k.starts_with("tetrapak:t:") && !k.ends_with(":lock") && !k.ends_with(":ra"))
                return true;
        return false;
    }));
    auto second = b.authorize();
    BOOST_TEST_REQUIRE(!second.ec, second.ec.message() << ' ' << second.diag);
    BOOST_TEST(second.token.value() == first.token.value());
    BOOST_TEST(b.stat(metric::fleet_hit) == 1u);
    BOOST_TEST(server.stat("token_requests") == 1);
    // Nothing in db 0 (where the harness's helpers look).
    BOOST_TEST(redis.keys("*").empty());
    BOOST_TEST(keys_in_db(redis.port(), 0).empty());

    // An instance on db 0 does not see db 3's token.
    auto db0 = cfg;
    db0.fleet.redis_url = redis.url();
    fleet_instance c(db0);
    auto third = c.authorize();
    BOOST_TEST_REQUIRE(!third.ec, third.ec.message());
    BOOST_TEST(c.stat(metric::fleet_hit) == 0u);
    BOOST_TEST(third.token.value() != first.token.value());
    BOOST_TEST(server.stat("token_requests") == 2);
    BOOST_TEST(test::eventually([&] { return token_keys(redis).size() == 1u; }));
}

BOOST_AUTO_TEST_CASE(bad_settings_are_refused_without_quoting_a_secret)
{
    test::redis_server redis;
    test::oidc_server server;
    const std::string pw = "hunter2-pw-7f3a";
    const std::string port = std::to_string(redis.port());
    auto base = test::fleet_client(server, redis);
    const std::vector<std::string> key_texts = {
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", // fleet_key_1
        "MDEyMzQ1Njc4OWFi",                            // and a piece of it
        "c2VjcmV0LWtleS10ZXh0LXRoYXQtbXVzdC1uZXZlci0", // other_key_b64
        "c2VjcmV0LWtleS10",
        "MTZieXRlcy1zZWNyZXQtIQ",                      // short_key_b64
        "secret-key-text",
    };
    auto secrets = key_texts;
    secrets.push_back(pw);

    // Bad URLs, with the password in them or in fleet_settings::password.
    for (const std::string& url : {"redis://app:" + pw + "@127.0.0.1:0", "http://app:" + pw + "@127.0.0.1:" + port,
                                  "redis://app:" + pw + "@127.0.0.1:" + port + "/db3",
                                  "redis://app:" + pw + "@127.0.0.1:" + port + "/1?timeout=5",
                                  "redis://app:" + pw + "@/0", "redis://:" + pw + "@127.0.0.1:99999",
                                  "not a url " + pw}) {
        BOOST_TEST_CONTEXT("url " << url)
        {
            auto cfg = base;
            cfg.fleet.redis_url = url;
            expect_refused(cfg, error::config_invalid_value, secrets, "fleet.redis_url");
            cfg.fleet.password = pw; // the override does not change the verdict
            expect_refused(cfg, error::config_invalid_value, secrets, "fleet.redis_url");
        }
    }
    {
        // A user without a password (fleet_settings::password would supply it).
        auto cfg = base;
        cfg.fleet.redis_url = "redis://app@127.0.0.1:" + port;
        expect_refused(cfg, error::config_invalid_value, secrets, "fleet.redis_url");
        cfg.fleet.redis_url = redis.url();
        cfg.fleet.username = "app";
        expect_refused(cfg, error::config_invalid_value, secrets, "fleet.redis_url");
    }

    // No keys at all.
    {
        auto cfg = base;
        cfg.fleet.keys = "";
        cfg.fleet.key_file.clear();
        expect_refused(cfg, error::config_invalid_value, secrets, "fleet.keys");
        cfg.fleet.redis_url = "redis://app:" + pw + "@127.0.0.1:" + port; // a good URL with a password
        expect_refused(cfg, error::config_invalid_value, secrets, "fleet.keys");
    }

    // Malformed key lists.
    const std::string good = test::fleet_key_1, other = std::string("k2:") + other_key_b64;
    const std::vector<std::string> lists = {
        std::string("k1:") + short_key_b64,                                  // 16 bytes
        "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY",                    // no padding
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",                       // no id
        good + "," + other.substr(0, 20),                                     // truncated second key
        good + ";" + other,                                                   // wrong separator
        good + ":" + other_key_b64,                                           // a ',' missing
        good + "," + "k1:" + other_key_b64,                                   // the same id twice
        std::string("bad id!:") + other_key_b64,                              // a bad id
        std::string(other_key_b64) + ":" + other_key_b64,                     // key text as the id
        good + ",",                                                           // a stray ','
        std::string("k1:secret-key-text-secret-key-text-secret-key=="),        // not base64
    };
    for (std::size_t i = 0; i < lists.size(); ++i) {
        BOOST_TEST_CONTEXT("key list #" << i)
        {
            auto cfg = base;
            cfg.fleet.keys = lists[i];
            expect_refused(cfg, error::config_invalid_value, secrets, "key");
        }
    }

    // The same list in a key file: refused as invalid, the file named, no key text.
    const std::string file = std::filesystem::temp_directory_path().string() + "/tetrapak-fleet-keys-" +
                             std::to_string(::getpid()) + ".txt";
    {
        std::ofstream(file) << good << "," << "k2:" << short_key_b64 << "\n";
        auto cfg = base;
        cfg.fleet.keys = "";
        cfg.fleet.key_file = file;
        expect_refused(cfg, error::config_invalid_value, secrets, file);
        std::filesystem::remove(file);
        // And a key file that is not there.
        expect_refused(cfg, error::key_load_failed, secrets, file);
    }
}

/// A handler that owns its connection (as a detached coroutine that owns
/// the fleet's store does) is destroyed with the io_context when its command
/// never completed: BLPOP on an empty list keeps a real server from replying.
BOOST_AUTO_TEST_CASE(handlers_waiting_on_redis_are_destroyed_with_their_io_context)
{
    test::redis_server redis;
    std::weak_ptr<detail::redis_connection> conn_alive;
    std::weak_ptr<int> handler_alive;
    bool ran = false;
    {
        asio::io_context ctx;
        detail::redis_endpoint ep;
        ep.host = "127.0.0.1";
        ep.port = std::to_string(redis.port());
        auto conn = std::make_shared<detail::redis_connection>(ctx.get_executor(), nullptr, ep,
                                                               detail::redis_limits{10s, 10s});
        auto probe = std::make_shared<int>(0);
        conn_alive = conn;
        handler_alive = probe;
        conn->async_exec({"BLPOP", "tetrapak:test:never-pushed", "0"},
                         [conn, probe, &ran](error_code, detail::redis_reply) { ran = true; });
        conn.reset();
        probe.reset();
        ctx.run_for(300ms); // connected, sent; the reply never comes
        BOOST_TEST_REQUIRE(!handler_alive.expired()); // still waiting, owned by the connection's queue
    }
    BOOST_TEST(!ran); // destroyed, never run
    BOOST_TEST(handler_alive.expired());
    BOOST_TEST(conn_alive.expired());
}

BOOST_AUTO_TEST_SUITE_END()
