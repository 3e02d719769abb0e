// The token cache without I/O: key digests, token lifetimes and the cache's
// states, driven by a virtual clock (explicit time points, no sleeps).
#include "cache/token_cache.hpp"

#include <tetrapak.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

using namespace tetrapak;
using namespace tetrapak::detail;
using namespace std::chrono_literals;

namespace {

using tp = sys_clock::time_point;

// A fixed virtual "now": 2024-01-02 03:04:05 UTC.
const tp T = tp{std::chrono::sys_days{std::chrono::year{2024} / 1 / 2}} + 3h + 4min + 5s;

auth_config base_config()
{
    auth_config c;
    c.token_endpoint = "https://auth.example.com/oauth2/token";
    c.discovery_document_url = "https://auth.example.com/.well-known/openid-configuration";
    c.client_id = "client-1";
    c.client_secret = "secret-1";
    c.scope = {"read", "write"};
    c.audience = "orders";
    c.resource = "https://api.example.com/orders";
    c.requested_token_type = "urn:ietf:params:oauth:token-type:access_token";
    return c;
}

actor_token make_token(std::string value, std::optional<tp> expires, tp issued_at = T)
{
    actor_token::fields f;
    f.value = std::move(value);
    f.expires_at = expires;
    f.issued_at = issued_at;
    return actor_token(std::move(f));
}

/// Times for a token of `lifetime` sent at `sent_at`, default settings, no jitter.
token_times times_for(tp sent_at, sys_clock::duration lifetime)
{
    auto t = token_lifetime(make_token("x", sent_at + lifetime), sent_at, std::nullopt, cache_settings{}, 0.0);
    BOOST_TEST_REQUIRE(t.has_value());
    return *t;
}

cache_key key_for(std::string_view client_id, grant_type g = grant_type::client_credentials)
{
    auto c = base_config();
    c.client_id = std::string(client_id);
    return make_cache_key(config_digest(c), g, actor_token{});
}

remembered_failure block_failure(boost::system::error_code ec, unsigned status, std::string error_text)
{
    remembered_failure f;
    f.ec = ec;
    diagnostics_access::http_status(f.diag) = status;
    diagnostics_access::error(f.diag) = std::move(error_text);
    diagnostics_access::retry_after(f.diag) = std::chrono::seconds(120);
    return f;
}

double seconds_of(sys_clock::duration d)
{
    return std::chrono::duration<double>(d).count();
}

} // namespace

namespace tetrapak::detail {
// Boost.Test prints the state of a failed comparison through this.
inline std::ostream& boost_test_print_type(std::ostream& os, token_cache::state s)
{
    switch (s) {
    case token_cache::state::miss: return os << "miss";
    case token_cache::state::fresh: return os << "fresh";
    case token_cache::state::renew: return os << "renew";
    case token_cache::state::blocked: return os << "blocked";
    }
    return os << "state(" << static_cast<int>(s) << ")";
}
} // namespace tetrapak::detail

BOOST_AUTO_TEST_SUITE(cache)

// ---------------------------------------------------------------------------
// key digests

BOOST_AUTO_TEST_CASE(config_digest_is_deterministic)
{
    const auto a = base_config();
    const auto b = base_config();
    BOOST_TEST((config_digest(a) == config_digest(b)));
    BOOST_TEST((config_digest(a) != digest{})); // a real hash, not the zero array
}

BOOST_AUTO_TEST_CASE(config_digest_changes_with_every_identity_field)
{
    struct variation {
        const char* name;
        std::function<void(auth_config&)> change;
    };
    const std::vector<variation> variations = {
        {"token_endpoint", [](auth_config& c) { c.token_endpoint = "https://auth.example.com/oauth2/token2"; }},
        {"client_id", [](auth_config& c) { c.client_id = "client-2"; }},
        {"auth_method", [](auth_config& c) { c.auth_method = client_auth_method::client_secret_post; }},
        {"auth_method private_key_jwt", [](auth_config& c) { c.auth_method = client_auth_method::private_key_jwt; }},
        {"auth_method_from_discovery", [](auth_config& c) { c.auth_method_from_discovery = true; }},
        {"scope added", [](auth_config& c) { c.scope.push_back("admin"); }},
        {"scope removed", [](auth_config& c) { c.scope.pop_back(); }},
        {"scope emptied", [](auth_config& c) { c.scope.clear(); }},
        {"scope replaced", [](auth_config& c) { c.scope = {"read", "writes"}; }},
        {"audience", [](auth_config& c) { c.audience = "invoices"; }},
        {"audience emptied", [](auth_config& c) { c.audience.clear(); }},
        {"resource", [](auth_config& c) { c.resource = "https://api.example.com/invoices"; }},
        {"subject_token_type", [](auth_config& c) { c.subject_token_type = "urn:ietf:params:oauth:token-type:access_token"; }},
        {"requested_token_type", [](auth_config& c) { c.requested_token_type = "urn:ietf:params:oauth:token-type:jwt"; }},
    };
    const auto base = config_digest(base_config());
    for (const auto& v : variations) {
        BOOST_TEST_CONTEXT("changed field: " << v.name)
        {
            auto c = base_config();
            v.change(c);
            BOOST_TEST((config_digest(c) != base));
        }
    }
}

BOOST_AUTO_TEST_CASE(discovery_url_counts_only_without_token_endpoint)
{
    // With a token endpoint, the discovery URL plays no part.
    auto a = base_config(), b = base_config();
    b.discovery_document_url = "https://other.example.com/.well-known/openid-configuration";
    BOOST_TEST((config_digest(a) == config_digest(b)));

    // Without one, the endpoint comes from discovery: the URL is the identity.
    a.token_endpoint.clear();
    b.token_endpoint.clear();
    BOOST_TEST((config_digest(a) != config_digest(b)));

    // The same URL as token endpoint or as discovery URL is not the same key.
    auto x = base_config(), y = base_config();
    x.token_endpoint = "https://auth.example.com/x";
    y.token_endpoint.clear();
    y.discovery_document_url = "https://auth.example.com/x";
    BOOST_TEST((config_digest(x) != config_digest(y)));
}

BOOST_AUTO_TEST_CASE(auth_method_is_ignored_when_taken_from_discovery)
{
    auto a = base_config(), b = base_config();
    a.auth_method_from_discovery = b.auth_method_from_discovery = true;
    a.auth_method = client_auth_method::client_secret_basic;
    b.auth_method = client_auth_method::client_secret_post;
    BOOST_TEST((config_digest(a) == config_digest(b)));
}

BOOST_AUTO_TEST_CASE(scope_order_and_duplicates_do_not_matter)
{
    auto a = base_config(), b = base_config(), c = base_config();
    a.scope = {"read", "write", "admin"};
    b.scope = {"admin", "write", "read"};
    c.scope = {"write", "read", "admin", "read", "write"};
    BOOST_TEST((config_digest(a) == config_digest(b)));
    BOOST_TEST((config_digest(a) == config_digest(c)));
    // ... but the set does.
    c.scope = {"write", "read", "read"};
    BOOST_TEST((config_digest(a) != config_digest(c)));
}

BOOST_AUTO_TEST_CASE(client_secret_and_transport_settings_do_not_change_the_key)
{
    auto a = base_config(), b = base_config();
    b.client_secret = "a-completely-different-secret";
    BOOST_TEST((config_digest(a) == config_digest(b)));
    b.timeouts.connect = 1234ms;
    b.retry.max_attempts = 7;
    b.user_agent = "other/1.0";
    BOOST_TEST((config_digest(a) == config_digest(b)));
}

BOOST_AUTO_TEST_CASE(field_boundaries_are_unambiguous)
{
    auto check = [](const char* what, auto&& set_a, auto&& set_b) {
        BOOST_TEST_CONTEXT(what)
        {
            auto a = base_config(), b = base_config();
            set_a(a);
            set_b(b);
            BOOST_TEST((config_digest(a) != config_digest(b)));
        }
    };
    check("client_id|audience", [](auth_config& c) { c.client_id = "ab"; c.audience = "c"; },
          [](auth_config& c) { c.client_id = "a"; c.audience = "bc"; });
    check("audience|resource", [](auth_config& c) { c.audience = "ab"; c.resource = "c"; },
          [](auth_config& c) { c.audience = "a"; c.resource = "bc"; });
    check("resource|subject_token_type", [](auth_config& c) { c.resource = "x:y"; c.subject_token_type = "z"; },
          [](auth_config& c) { c.resource = "x"; c.subject_token_type = ":yz"; });
    check("subject|requested token type", [](auth_config& c) { c.subject_token_type = "ab"; c.requested_token_type = ""; },
          [](auth_config& c) { c.subject_token_type = "a"; c.requested_token_type = "b"; });
    check("scope entries", [](auth_config& c) { c.scope = {"ab"}; }, [](auth_config& c) { c.scope = {"a", "b"}; });
    check("scope|audience", [](auth_config& c) { c.scope = {"a", "b"}; c.audience = ""; },
          [](auth_config& c) { c.scope = {"a"}; c.audience = "b"; });
    check("token_endpoint|client_id",
          [](auth_config& c) { c.token_endpoint = "https://a/tokenx"; c.client_id = "y"; },
          [](auth_config& c) { c.token_endpoint = "https://a/token"; c.client_id = "xy"; });
}

BOOST_AUTO_TEST_CASE(grant_and_subject_shape_the_cache_key)
{
    const auto cd = config_digest(base_config());
    const actor_token alice = make_token("alice-token", T + 1h);
    const actor_token bob = make_token("bob-token", T + 1h);

    // grant
    const auto cc = make_cache_key(cd, grant_type::client_credentials, actor_token{});
    const auto te_alice = make_cache_key(cd, grant_type::token_exchange, alice);
    BOOST_TEST(!(cc == te_alice));
    BOOST_TEST(!(cc == make_cache_key(cd, grant_type::token_exchange, actor_token{})));

    // the subject matters for token exchange ...
    const auto te_bob = make_cache_key(cd, grant_type::token_exchange, bob);
    BOOST_TEST(!(te_alice == te_bob));
    BOOST_TEST((te_alice.subject != digest{}));
    // ... by its value, not by the object
    BOOST_TEST((te_alice == make_cache_key(cd, grant_type::token_exchange, make_token("alice-token", T + 2h))));
    BOOST_TEST((cache_key_hash{}(te_alice) ==
                cache_key_hash{}(make_cache_key(cd, grant_type::token_exchange, make_token("alice-token", T)))));

    // ... and not for client credentials (a subject passed along is not part of the key)
    BOOST_TEST((make_cache_key(cd, grant_type::client_credentials, alice) == cc));
    BOOST_TEST((make_cache_key(cd, grant_type::client_credentials, bob) == cc));
    BOOST_TEST((cc.subject == digest{}));

    // the configuration digest is part of the key
    BOOST_TEST(!(cc == key_for("someone-else")));
}

BOOST_AUTO_TEST_CASE(distinct_keys_are_distinct_entries)
{
    token_cache c(16);
    const auto cd = config_digest(base_config());
    const auto alice = make_cache_key(cd, grant_type::token_exchange, make_token("alice-token", T + 1h));
    const auto bob = make_cache_key(cd, grant_type::token_exchange, make_token("bob-token", T + 1h));
    const auto tt = times_for(T, 3600s);
    c.store(alice, make_token("for-alice", tt.expires), tt, "");
    BOOST_TEST(c.lookup(bob, T).st == token_cache::state::miss);
    auto r = c.lookup(alice, T);
    BOOST_TEST(r.st == token_cache::state::fresh);
    BOOST_TEST(r.token.value() == "for-alice");
}

// ---------------------------------------------------------------------------
// lifetimes

BOOST_AUTO_TEST_CASE(lifetime_of_an_hour_token)
{
    const cache_settings s; // 60 s margin, 300 s lead, 10 % jitter
    const auto token = make_token("t", T + 3600s);
    auto t = token_lifetime(token, T, std::nullopt, s, 0.0);
    BOOST_TEST_REQUIRE(t.has_value());
    BOOST_TEST((t->expires == T + 3600s));
    BOOST_TEST((t->usable_until == T + 3600s - 60s));
    BOOST_TEST((t->refresh_at == T + 3600s - 300s));
}

BOOST_AUTO_TEST_CASE(jitter_moves_refresh_earlier_by_up_to_its_share_of_the_lead)
{
    const cache_settings s;
    const auto token = make_token("t", T + 3600s);
    const auto nominal = T + 3600s - 300s;

    auto half = token_lifetime(token, T, std::nullopt, s, 0.5);
    BOOST_TEST_REQUIRE(half.has_value());
    BOOST_TEST(seconds_of(nominal - half->refresh_at) == 15.0, boost::test_tools::tolerance(1e-6));
    BOOST_TEST((half->usable_until == T + 3540s)); // jitter never moves the margin
    BOOST_TEST((half->expires == T + 3600s));

    auto almost_one = token_lifetime(token, T, std::nullopt, s, 0.999999);
    BOOST_TEST_REQUIRE(almost_one.has_value());
    const auto early = nominal - almost_one->refresh_at;
    BOOST_TEST((early > 29s));
    BOOST_TEST((early <= 30s)); // refresh_jitter (0.1) * lead (300 s)

    // Out-of-range jitter is clamped to [0, 1].
    auto over = token_lifetime(token, T, std::nullopt, s, 7.0);
    BOOST_TEST_REQUIRE(over.has_value());
    BOOST_TEST((over->refresh_at == nominal - 30s));
    auto under = token_lifetime(token, T, std::nullopt, s, -3.0);
    BOOST_TEST_REQUIRE(under.has_value());
    BOOST_TEST((under->refresh_at == nominal));

    // A larger refresh_jitter widens the window.
    cache_settings wide;
    wide.refresh_jitter = 0.5;
    auto w = token_lifetime(token, T, std::nullopt, wide, 0.5);
    BOOST_TEST_REQUIRE(w.has_value());
    BOOST_TEST(seconds_of(nominal - w->refresh_at) == 75.0, boost::test_tools::tolerance(1e-6));
    // refresh_jitter 0 turns jitter off.
    cache_settings none;
    none.refresh_jitter = 0.0;
    auto n = token_lifetime(token, T, std::nullopt, none, 0.9);
    BOOST_TEST_REQUIRE(n.has_value());
    BOOST_TEST((n->refresh_at == nominal));
}

BOOST_AUTO_TEST_CASE(short_lived_tokens_clamp_margin_and_lead)
{
    const cache_settings s;
    {
        // 100 s: margin min(60, 25) = 25 s, lead min(300, 50) = 50 s
        auto t = token_lifetime(make_token("t", T + 100s), T, std::nullopt, s, 0.0);
        BOOST_TEST_REQUIRE(t.has_value());
        BOOST_TEST((t->expires == T + 100s));
        BOOST_TEST((t->usable_until == T + 75s));
        BOOST_TEST((t->refresh_at == T + 50s));
        auto j = token_lifetime(make_token("t", T + 100s), T, std::nullopt, s, 0.5);
        BOOST_TEST_REQUIRE(j.has_value());
        BOOST_TEST((j->refresh_at == T + 50s - 2500ms)); // 0.1 * 0.5 * 50 s
    }
    {
        // 2 s: margin 500 ms, lead 1 s
        auto t = token_lifetime(make_token("t", T + 2s), T, std::nullopt, s, 0.0);
        BOOST_TEST_REQUIRE(t.has_value());
        BOOST_TEST((t->expires == T + 2s));
        BOOST_TEST((t->usable_until == T + 1500ms));
        BOOST_TEST((t->refresh_at == T + 1s));
        // With full jitter, refresh still starts after the request was sent.
        auto j = token_lifetime(make_token("t", T + 2s), T, std::nullopt, s, 0.999999);
        BOOST_TEST_REQUIRE(j.has_value());
        BOOST_TEST((j->refresh_at >= T + 900ms));
        BOOST_TEST((j->refresh_at < T + 1s));
    }
    {
        // Exactly the boundary: 240 s has margin 60 s (= 240/4) and lead 120 s (= 240/2).
        auto t = token_lifetime(make_token("t", T + 240s), T, std::nullopt, s, 0.0);
        BOOST_TEST_REQUIRE(t.has_value());
        BOOST_TEST((t->usable_until == T + 180s));
        BOOST_TEST((t->refresh_at == T + 120s));
    }
    for (auto life : {1s, 2s, 10s, 100s, 600s, 3600s, 86400s}) {
        BOOST_TEST_CONTEXT("lifetime " << life.count() << " s")
        {
            for (double j : {0.0, 0.5, 0.999999}) {
                auto t = token_lifetime(make_token("t", T + life), T, std::nullopt, s, j);
                BOOST_TEST_REQUIRE(t.has_value());
                BOOST_TEST((T <= t->refresh_at));
                BOOST_TEST((t->refresh_at < t->usable_until));
                BOOST_TEST((t->usable_until < t->expires));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(lifetime_is_measured_from_sent_at)
{
    const cache_settings s;
    // The token's own issued_at (here an hour earlier) plays no part: 100 s from sent_at.
    const auto token = make_token("t", T + 100s, T - 1h);
    auto t = token_lifetime(token, T, std::nullopt, s, 0.0);
    BOOST_TEST_REQUIRE(t.has_value());
    BOOST_TEST((t->usable_until == T + 75s));
    BOOST_TEST((t->refresh_at == T + 50s));

    // Sent 1000 s before it expires: a 1000 s lifetime, so the full 60 s / 300 s apply.
    auto early = token_lifetime(token, T + 100s - 1000s, std::nullopt, s, 0.0);
    BOOST_TEST_REQUIRE(early.has_value());
    BOOST_TEST((early->usable_until == T + 40s));
    BOOST_TEST((early->refresh_at == T - 200s));

    // Sent 10 s before it expires: margin 2.5 s, lead 5 s.
    auto late = token_lifetime(token, T + 90s, std::nullopt, s, 0.0);
    BOOST_TEST_REQUIRE(late.has_value());
    BOOST_TEST((late->usable_until == T + 97500ms));
    BOOST_TEST((late->refresh_at == T + 95s));
}

BOOST_AUTO_TEST_CASE(lifetime_is_capped_at_subject_expiry)
{
    const cache_settings s;
    const auto token = make_token("t", T + 3600s);
    // The subject expires after 400 s: the exchanged token with it.
    auto t = token_lifetime(token, T, T + 400s, s, 0.0);
    BOOST_TEST_REQUIRE(t.has_value());
    BOOST_TEST((t->expires == T + 400s));
    BOOST_TEST((t->usable_until == T + 340s));  // margin 60 s (< 100 s)
    BOOST_TEST((t->refresh_at == T + 200s));    // lead min(300, 200) = 200 s

    // A subject living longer than the token changes nothing.
    auto longer = token_lifetime(token, T, T + 7200s, s, 0.0);
    BOOST_TEST_REQUIRE(longer.has_value());
    BOOST_TEST((longer->expires == T + 3600s));
    BOOST_TEST((longer->usable_until == T + 3540s));

    // An already-expired subject leaves nothing to cache.
    BOOST_TEST(!token_lifetime(token, T, T, s, 0.0).has_value());
    BOOST_TEST(!token_lifetime(token, T, T - 1s, s, 0.0).has_value());
}

BOOST_AUTO_TEST_CASE(unusable_tokens_have_no_lifetime)
{
    const cache_settings s;
    BOOST_TEST(!token_lifetime(make_token("t", T), T, std::nullopt, s, 0.0).has_value());
    BOOST_TEST(!token_lifetime(make_token("t", T - 1s), T, std::nullopt, s, 0.0).has_value());
    BOOST_TEST(!token_lifetime(make_token("t", std::nullopt), T, std::nullopt, s, 0.0).has_value());
    BOOST_TEST(!token_lifetime(make_token("t", std::nullopt), T, T + 1h, s, 0.0).has_value());
    // The smallest positive lifetime is usable.
    BOOST_TEST(token_lifetime(make_token("t", T + 1s), T, std::nullopt, s, 0.0).has_value());
}

// ---------------------------------------------------------------------------
// token_cache

BOOST_AUTO_TEST_CASE(empty_cache_misses)
{
    token_cache c(4);
    BOOST_TEST(c.size() == 0u);
    auto r = c.lookup(key_for("a"), T);
    BOOST_TEST(r.st == token_cache::state::miss);
    BOOST_TEST(r.token.empty());
    BOOST_TEST(r.refresh_token.empty());
    BOOST_TEST(!r.failure.ec);
    BOOST_TEST(c.max_entries() == 4u);
    BOOST_TEST(token_cache(0).max_entries() == 1u);
}

BOOST_AUTO_TEST_CASE(fresh_until_refresh_window)
{
    token_cache c(4);
    const auto k = key_for("a");
    const auto tt = times_for(T, 3600s); // refresh at T+3300, usable until T+3540
    c.store(k, make_token("tok-1", tt.expires), tt, "rt-1");
    BOOST_TEST(c.size() == 1u);
    for (auto now : {T, T + 1s, T + 3000s, T + 3299s, T + 3300s - 1ns}) {
        auto r = c.lookup(k, now);
        BOOST_TEST(r.st == token_cache::state::fresh);
        BOOST_TEST(r.token.value() == "tok-1");
    }
}

BOOST_AUTO_TEST_CASE(exactly_one_caller_renews_in_the_refresh_window)
{
    token_cache c(4);
    const auto k = key_for("a");
    const auto tt = times_for(T, 3600s);
    c.store(k, make_token("tok-1", tt.expires), tt, "rt-1");

    auto first = c.lookup(k, T + 3300s);
    BOOST_TEST(first.st == token_cache::state::renew);
    BOOST_TEST(first.token.value() == "tok-1"); // served at once while renewing
    BOOST_TEST(first.refresh_token == "rt-1");

    for (auto now : {T + 3300s, T + 3301s, T + 3500s, T + 3539s}) {
        auto r = c.lookup(k, now);
        BOOST_TEST(r.st == token_cache::state::fresh);
        BOOST_TEST(r.token.value() == "tok-1");
    }

    // The renewal stores the new token: fresh again, and its own window later.
    const auto t2 = times_for(T + 3310s, 3600s);
    c.store(k, make_token("tok-2", t2.expires), t2, "rt-2");
    BOOST_TEST(c.size() == 1u);
    auto r = c.lookup(k, T + 3320s);
    BOOST_TEST(r.st == token_cache::state::fresh);
    BOOST_TEST(r.token.value() == "tok-2");
    auto again = c.lookup(k, t2.refresh_at);
    BOOST_TEST(again.st == token_cache::state::renew);
    BOOST_TEST(again.refresh_token == "rt-2");
    BOOST_TEST(c.lookup(k, t2.refresh_at).st == token_cache::state::fresh);
}

BOOST_AUTO_TEST_CASE(past_usable_until_is_a_miss_with_the_refresh_token)
{
    token_cache c(4);
    const auto k = key_for("a");
    const auto tt = times_for(T, 3600s);
    c.store(k, make_token("tok-1", tt.expires), tt, "rt-1");
    for (auto now : {T + 3540s, T + 3599s, T + 3600s, T + 1h + 1h}) {
        auto r = c.lookup(k, now);
        BOOST_TEST(r.st == token_cache::state::miss);
        BOOST_TEST(r.token.empty());
        BOOST_TEST(r.refresh_token == "rt-1");
    }
    // Even while a renewal is under way, an unusable token is never served.
    const auto k2 = key_for("b");
    c.store(k2, make_token("tok-b", tt.expires), tt, "rt-b");
    BOOST_TEST(c.lookup(k2, T + 3400s).st == token_cache::state::renew);
    BOOST_TEST(c.lookup(k2, T + 3540s).st == token_cache::state::miss);
}

BOOST_AUTO_TEST_CASE(dropped_refresh_token_is_not_offered)
{
    token_cache c(4);
    const auto k = key_for("a");
    const auto tt = times_for(T, 3600s);
    c.store(k, make_token("tok-1", tt.expires), tt, "rt-1");
    c.drop_refresh_token(k);
    BOOST_TEST(c.size() == 1u);
    auto fresh = c.lookup(k, T + 10s); // the entry stays
    BOOST_TEST(fresh.st == token_cache::state::fresh);
    auto renew = c.lookup(k, T + 3300s);
    BOOST_TEST(renew.st == token_cache::state::renew);
    BOOST_TEST(renew.refresh_token.empty());
    auto miss = c.lookup(k, T + 3550s);
    BOOST_TEST(miss.st == token_cache::state::miss);
    BOOST_TEST(miss.refresh_token.empty());
    c.drop_refresh_token(key_for("unknown")); // no entry: nothing happens
    BOOST_TEST(c.size() == 1u);
}

BOOST_AUTO_TEST_CASE(renewal_failed_serves_stale_and_retries_at_retry_at)
{
    token_cache c(4);
    const auto k = key_for("a");
    const auto tt = times_for(T, 3600s); // refresh T+3300, usable until T+3540
    c.store(k, make_token("tok-1", tt.expires), tt, "rt-1");

    BOOST_TEST(c.lookup(k, T + 3300s).st == token_cache::state::renew);
    c.renewal_failed(k, T + 3302s, T + 3330s);

    for (auto now : {T + 3302s, T + 3310s, T + 3329s}) {
        auto r = c.lookup(k, now);
        BOOST_TEST(r.st == token_cache::state::fresh);
        BOOST_TEST(r.token.value() == "tok-1");
    }
    auto retry = c.lookup(k, T + 3330s);
    BOOST_TEST(retry.st == token_cache::state::renew);
    BOOST_TEST(retry.refresh_token == "rt-1");
    BOOST_TEST(c.lookup(k, T + 3331s).st == token_cache::state::fresh);

    // A retry time in the past lets the very next caller renew.
    c.renewal_failed(k, T + 3335s, T + 3000s);
    BOOST_TEST(c.lookup(k, T + 3335s).st == token_cache::state::renew);
}

BOOST_AUTO_TEST_CASE(renewal_retry_is_clamped_before_usable_until)
{
    token_cache c(4);
    const auto k = key_for("a");
    const auto tt = times_for(T, 3600s); // usable until T+3540
    c.store(k, make_token("tok-1", tt.expires), tt, "");

    BOOST_TEST(c.lookup(k, T + 3300s).st == token_cache::state::renew);
    // Retry-After beyond usable_until: try again halfway to it instead (T+3300 + 240/2).
    c.renewal_failed(k, T + 3300s, T + 4000s);
    BOOST_TEST(c.lookup(k, T + 3419s).st == token_cache::state::fresh);
    BOOST_TEST(c.lookup(k, T + 3420s).st == token_cache::state::renew);

    // Exactly at usable_until also counts as too late.
    c.renewal_failed(k, T + 3500s, T + 3540s);
    BOOST_TEST(c.lookup(k, T + 3519s).st == token_cache::state::fresh);
    BOOST_TEST(c.lookup(k, T + 3520s).st == token_cache::state::renew);

    // renewal_failed for an unknown key is harmless.
    c.renewal_failed(key_for("unknown"), T, T);
    BOOST_TEST(c.size() == 1u);
}

BOOST_AUTO_TEST_CASE(lru_evicts_the_least_recently_used)
{
    token_cache c(3);
    const auto tt = times_for(T, 3600s);
    const auto a = key_for("a"), b = key_for("b"), d = key_for("d"), e = key_for("e");
    c.store(a, make_token("A", tt.expires), tt, "");
    c.store(b, make_token("B", tt.expires), tt, "");
    c.store(d, make_token("D", tt.expires), tt, "");
    BOOST_TEST(c.size() == 3u);

    // a is the oldest stored, but a lookup makes it the most recently used.
    BOOST_TEST(c.lookup(a, T + 1s).st == token_cache::state::fresh);
    c.store(e, make_token("E", tt.expires), tt, "");
    BOOST_TEST(c.size() == 3u);
    BOOST_TEST(c.lookup(b, T + 2s).st == token_cache::state::miss); // evicted
    BOOST_TEST(c.lookup(a, T + 2s).st == token_cache::state::fresh);
    BOOST_TEST(c.lookup(d, T + 2s).st == token_cache::state::fresh);
    BOOST_TEST(c.lookup(e, T + 2s).st == token_cache::state::fresh);
    BOOST_TEST(c.size() == 3u);

    // Order now (most recent first): e, d, a. Storing b evicts a.
    c.store(b, make_token("B2", tt.expires), tt, "");
    BOOST_TEST(c.lookup(a, T + 3s).st == token_cache::state::miss);
    BOOST_TEST(c.lookup(b, T + 3s).token.value() == "B2");
}

BOOST_AUTO_TEST_CASE(lru_without_lookups_evicts_the_oldest_and_replacing_refreshes_recency)
{
    token_cache c(2);
    const auto tt = times_for(T, 3600s);
    const auto a = key_for("a"), b = key_for("b"), d = key_for("d");
    c.store(a, make_token("A", tt.expires), tt, "");
    c.store(b, make_token("B", tt.expires), tt, "");
    c.store(a, make_token("A2", tt.expires), tt, ""); // replacing a makes it the most recent
    BOOST_TEST(c.size() == 2u);
    c.store(d, make_token("D", tt.expires), tt, "");
    BOOST_TEST(c.size() == 2u);
    BOOST_TEST(c.lookup(b, T).st == token_cache::state::miss);
    BOOST_TEST(c.lookup(a, T).token.value() == "A2");
    BOOST_TEST(c.lookup(d, T).token.value() == "D");

    // A bound of one keeps just the last.
    token_cache one(1);
    one.store(a, make_token("A", tt.expires), tt, "");
    one.store(b, make_token("B", tt.expires), tt, "");
    BOOST_TEST(one.size() == 1u);
    BOOST_TEST(one.lookup(a, T).st == token_cache::state::miss);
    BOOST_TEST(one.lookup(b, T).token.value() == "B");
}

BOOST_AUTO_TEST_CASE(store_replaces_an_entry)
{
    token_cache c(4);
    const auto k = key_for("a");
    const auto t1 = times_for(T, 3600s);
    c.store(k, make_token("tok-1", t1.expires), t1, "rt-1");
    BOOST_TEST(c.lookup(k, T + 3300s).st == token_cache::state::renew);

    const auto t2 = times_for(T + 100s, 100s); // refresh at T+150, usable until T+175
    c.store(k, make_token("tok-2", t2.expires), t2, "rt-2");
    BOOST_TEST(c.size() == 1u);
    auto r = c.lookup(k, T + 120s);
    BOOST_TEST(r.st == token_cache::state::fresh);
    BOOST_TEST(r.token.value() == "tok-2");
    // The replaced entry's times and renewal flag are gone: the new window grants renew.
    auto renew = c.lookup(k, T + 150s);
    BOOST_TEST(renew.st == token_cache::state::renew);
    BOOST_TEST(renew.refresh_token == "rt-2");
    auto miss = c.lookup(k, T + 175s);
    BOOST_TEST(miss.st == token_cache::state::miss);
    BOOST_TEST(miss.refresh_token == "rt-2");
}

BOOST_AUTO_TEST_CASE(invalidate_and_clear)
{
    token_cache c(4);
    const auto tt = times_for(T, 3600s);
    const auto a = key_for("a"), b = key_for("b");
    c.store(a, make_token("A", tt.expires), tt, "rt");
    c.store(b, make_token("B", tt.expires), tt, "");
    BOOST_TEST(c.invalidate(a));
    BOOST_TEST(c.size() == 1u);
    BOOST_TEST(!c.invalidate(a));
    auto r = c.lookup(a, T);
    BOOST_TEST(r.st == token_cache::state::miss);
    BOOST_TEST(r.refresh_token.empty()); // the refresh token went with it
    BOOST_TEST(c.lookup(b, T).st == token_cache::state::fresh);
    BOOST_TEST(!c.invalidate(key_for("never-stored")));

    // invalidate also forgets a Retry-After.
    c.block(a, T + 60s, block_failure(make_error_code(error::too_many_requests), 429, ""));
    BOOST_TEST(c.lookup(a, T).st == token_cache::state::blocked);
    BOOST_TEST(!c.invalidate(a)); // no entry, ...
    BOOST_TEST(c.lookup(a, T).st == token_cache::state::miss); // ... but the block is gone

    c.block(a, T + 60s, block_failure(make_error_code(error::too_many_requests), 429, ""));
    c.clear();
    BOOST_TEST(c.size() == 0u);
    BOOST_TEST(c.lookup(a, T).st == token_cache::state::miss);
    BOOST_TEST(c.lookup(b, T).st == token_cache::state::miss);
}

BOOST_AUTO_TEST_CASE(block_remembers_the_failure_and_the_remaining_delay)
{
    token_cache c(4);
    const auto k = key_for("a");
    const auto ec = make_error_code(oauth_errc::temporarily_unavailable);
    c.block(k, T + 90s, block_failure(ec, 503, "temporarily_unavailable"));

    auto r = c.lookup(k, T);
    BOOST_TEST(r.st == token_cache::state::blocked);
    BOOST_TEST((r.failure.ec == ec));
    BOOST_TEST(r.failure.diag.http_status() == 503u);
    BOOST_TEST(r.failure.diag.error() == "temporarily_unavailable");
    BOOST_TEST_REQUIRE(r.failure.diag.retry_after().has_value());
    BOOST_TEST(r.failure.diag.retry_after()->count() == 90); // not the 120 s it was stored with
    BOOST_TEST(r.token.empty());

    // The remaining time, rounded up to whole seconds.
    auto later = c.lookup(k, T + 30s);
    BOOST_TEST(later.st == token_cache::state::blocked);
    BOOST_TEST(later.failure.diag.retry_after()->count() == 60);
    auto partial = c.lookup(k, T + 30s + 500ms);
    BOOST_TEST(partial.failure.diag.retry_after()->count() == 60);
    auto last = c.lookup(k, T + 90s - 1ns);
    BOOST_TEST(last.st == token_cache::state::blocked);
    BOOST_TEST(last.failure.diag.retry_after()->count() == 1);

    // Other keys are not blocked.
    BOOST_TEST(c.lookup(key_for("b"), T + 1s).st == token_cache::state::miss);

    // At `until` the block is over, and stays over.
    auto after = c.lookup(k, T + 90s);
    BOOST_TEST(after.st == token_cache::state::miss);
    BOOST_TEST(!after.failure.ec);
    BOOST_TEST(c.lookup(k, T + 10s).st == token_cache::state::miss); // forgotten, not merely skipped
}

BOOST_AUTO_TEST_CASE(block_serves_a_usable_token_without_renewal)
{
    token_cache c(4);
    const auto k = key_for("a");
    const auto tt = times_for(T, 3600s); // refresh T+3300, usable until T+3540
    c.store(k, make_token("tok-1", tt.expires), tt, "rt-1");
    c.block(k, T + 3400s, block_failure(make_error_code(error::too_many_requests), 429, ""));

    auto r = c.lookup(k, T + 3000s);
    BOOST_TEST(r.st == token_cache::state::fresh);
    BOOST_TEST(r.token.value() == "tok-1");
    // In the refresh window: still served, but no renewal while the Retry-After runs.
    for (auto now : {T + 3300s, T + 3350s, T + 3399s}) {
        auto w = c.lookup(k, now);
        BOOST_TEST(w.st == token_cache::state::fresh);
        BOOST_TEST(w.token.value() == "tok-1");
    }
    // Once it ran out, one caller renews.
    auto renew = c.lookup(k, T + 3400s);
    BOOST_TEST(renew.st == token_cache::state::renew);
    BOOST_TEST(renew.refresh_token == "rt-1");
}

BOOST_AUTO_TEST_CASE(block_on_an_unusable_entry_is_blocked)
{
    token_cache c(4);
    const auto k = key_for("a");
    const auto tt = times_for(T, 3600s);
    c.store(k, make_token("tok-1", tt.expires), tt, "rt-1");
    c.block(k, T + 4000s, block_failure(make_error_code(error::server_unavailable), 503, ""));
    auto r = c.lookup(k, T + 3600s);
    BOOST_TEST(r.st == token_cache::state::blocked);
    BOOST_TEST(r.token.empty());
    BOOST_TEST(r.failure.diag.retry_after()->count() == 400);
    // After the block the miss offers the refresh token again.
    auto m = c.lookup(k, T + 4000s);
    BOOST_TEST(m.st == token_cache::state::miss);
    BOOST_TEST(m.refresh_token == "rt-1");
}

BOOST_AUTO_TEST_CASE(store_clears_a_block)
{
    token_cache c(4);
    const auto k = key_for("a");
    c.block(k, T + 600s, block_failure(make_error_code(error::too_many_requests), 429, ""));
    BOOST_TEST(c.lookup(k, T).st == token_cache::state::blocked);
    const auto tt = times_for(T + 10s, 3600s);
    c.store(k, make_token("tok-1", tt.expires), tt, "");
    auto r = c.lookup(k, T + 11s);
    BOOST_TEST(r.st == token_cache::state::fresh);
    BOOST_TEST(r.token.value() == "tok-1");
    // ... and for good: past usable_until it is a plain miss, not blocked.
    BOOST_TEST(c.lookup(k, tt.usable_until).st == token_cache::state::miss);
    // Renewal in the window is not held back by the old block.
    token_cache c2(4);
    c2.block(k, T + 600s, block_failure(make_error_code(error::too_many_requests), 429, ""));
    const auto short_t = times_for(T, 100s); // refresh at T+50
    c2.store(k, make_token("tok-s", short_t.expires), short_t, "");
    BOOST_TEST(c2.lookup(k, T + 50s).st == token_cache::state::renew);
}

BOOST_AUTO_TEST_CASE(sweep_removes_expired_entries_without_refresh_token)
{
    token_cache c(8);
    const auto tt = times_for(T, 100s); // usable until T+75, expires T+100
    const auto long_t = times_for(T, 3600s);
    const auto plain = key_for("plain"), with_rt = key_for("with-rt"), live = key_for("live");
    const auto renewing = key_for("renewing");
    c.store(plain, make_token("P", tt.expires), tt, "");
    c.store(with_rt, make_token("R", tt.expires), tt, "rt");
    c.store(live, make_token("L", long_t.expires), long_t, "");
    c.store(renewing, make_token("N", tt.expires), tt, "");
    BOOST_TEST(c.lookup(renewing, T + 60s).st == token_cache::state::renew);

    // Past usable_until but before expiry: nothing is removed yet.
    BOOST_TEST(c.sweep(T + 80s) == 0u);
    BOOST_TEST(c.size() == 4u);

    // Expired: the plain entry goes; the one with a refresh token and the one
    // being renewed stay.
    BOOST_TEST(c.sweep(T + 100s) == 1u);
    BOOST_TEST(c.size() == 3u);
    BOOST_TEST(c.lookup(plain, T + 100s).refresh_token.empty());
    auto r = c.lookup(with_rt, T + 100s);
    BOOST_TEST(r.st == token_cache::state::miss);
    BOOST_TEST(r.refresh_token == "rt");
    BOOST_TEST(c.lookup(live, T + 100s).st == token_cache::state::fresh);

    // A second sweep finds nothing more.
    BOOST_TEST(c.sweep(T + 200s) == 0u);
    // Once the refresh token is dropped and the renewal has failed, they go too.
    c.drop_refresh_token(with_rt);
    c.renewal_failed(renewing, T + 200s, T + 200s);
    BOOST_TEST(c.sweep(T + 200s) == 2u);
    BOOST_TEST(c.size() == 1u);
    BOOST_TEST(c.sweep(T + 3600s) == 1u);
    BOOST_TEST(c.size() == 0u);
}

BOOST_AUTO_TEST_CASE(sweep_removes_expired_blocks)
{
    // Observed through the bound on Retry-After records: with room for one,
    // a new record displaces the one that ends first. If sweep has dropped
    // the expired record, the new one survives even though it ends earlier.
    const auto a = key_for("a"), b = key_for("b");
    {
        token_cache c(1);
        c.block(a, T + 10s, block_failure(make_error_code(error::too_many_requests), 429, ""));
        BOOST_TEST(c.sweep(T + 20s) == 0u); // no entries removed (blocks are not counted)
        c.block(b, T + 5s, block_failure(make_error_code(error::too_many_requests), 429, ""));
        BOOST_TEST(c.lookup(b, T + 1s).st == token_cache::state::blocked);
    }
    {
        // Control: without the sweep the expired record is still there, and the
        // new record (ending first) is the one dropped to keep the bound.
        token_cache c(1);
        c.block(a, T + 10s, block_failure(make_error_code(error::too_many_requests), 429, ""));
        c.block(b, T + 5s, block_failure(make_error_code(error::too_many_requests), 429, ""));
        BOOST_TEST(c.lookup(b, T + 1s).st == token_cache::state::miss);
    }
    {
        // A running block survives a sweep.
        token_cache c(4);
        c.block(a, T + 60s, block_failure(make_error_code(error::too_many_requests), 429, ""));
        BOOST_TEST(c.sweep(T + 59s) == 0u);
        BOOST_TEST(c.lookup(a, T + 59s).st == token_cache::state::blocked);
    }
}

BOOST_AUTO_TEST_CASE(blocks_are_bounded_too)
{
    token_cache c(2);
    const auto a = key_for("a"), b = key_for("b"), d = key_for("d");
    c.block(a, T + 10s, block_failure(make_error_code(error::too_many_requests), 429, ""));
    c.block(b, T + 30s, block_failure(make_error_code(error::too_many_requests), 429, ""));
    c.block(d, T + 20s, block_failure(make_error_code(error::too_many_requests), 429, ""));
    // The record ending first (a) made room.
    BOOST_TEST(c.lookup(a, T).st == token_cache::state::miss);
    BOOST_TEST(c.lookup(b, T).st == token_cache::state::blocked);
    BOOST_TEST(c.lookup(d, T).st == token_cache::state::blocked);
}

BOOST_AUTO_TEST_SUITE_END()
