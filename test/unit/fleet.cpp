// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The pure parts of the fleet's shared token store: Redis URL, entry names, JSON and messages,
// circuit breaker, fetch plan. No network, virtual time only; key digests are recomputed with OpenSSL.
#include "fleet/breaker.hpp"
#include "fleet/fleet_plan.hpp"
#include "fleet/redis_endpoint.hpp"
#include "fleet/shared_entry.hpp"

#include <tetrapak.hpp>
#include <tetrapak/fleet.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

using namespace tetrapak;
using namespace tetrapak::detail;
using namespace std::chrono_literals;

namespace {

using tp = sys_clock::time_point;
// A fixed virtual "now" with a millisecond part: 2024-01-02 03:04:05.678 UTC.
const tp T = tp{std::chrono::sys_days{std::chrono::year{2024} / 1 / 2}} + 3h + 4min + 5s + 678ms;

std::int64_t ms_of(tp t) { return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count(); }

bool is_lower_hex(std::string_view s)
{
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct url_outcome {
    diagnostics diag;
    boost::system::result<redis_endpoint> r;
};

/// read_redis_endpoint of `url`, with fleet_settings::username and password set.
url_outcome read_url(std::string url, std::string user = {}, std::string password = {})
{
    fleet_settings s;
    s.redis_url = std::move(url);
    s.username = std::move(user);
    s.password = std::move(password);
    url_outcome o;
    o.r = read_redis_endpoint(s, o.diag);
    return o;
}

cache_key key_of(unsigned char config_first, unsigned char subject_first, grant_type g = grant_type::client_credentials)
{
    cache_key k;
    for (std::size_t i = 0; i < k.config.size(); ++i) {
        k.config[i] = static_cast<unsigned char>(config_first + 11 * i);
        k.subject[i] = static_cast<unsigned char>(subject_first + 7 * i);
    }
    k.grant = g;
    return k;
}

/// SHA-256 of config | subject | grant byte, in lower-case hex, by OpenSSL.
std::string sha256_hex_openssl(const cache_key& k)
{
    std::string bytes(reinterpret_cast<const char*>(k.config.data()), k.config.size());
    bytes.append(reinterpret_cast<const char*>(k.subject.data()), k.subject.size());
    bytes += static_cast<char>(k.grant);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    BOOST_TEST_REQUIRE(EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr) == 1);
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
        out += "0123456789abcdef"[md[i] >> 4];
        out += "0123456789abcdef"[md[i] & 15];
    }
    return out;
}

shared_token full_token(tp refresh_at = T + 45min + 123ms)
{
    actor_token::fields f;
    f.value = "tok-abc.def_ghi";
    f.token_type = "DPoP";
    f.expires_at = T + 1h;
    f.scope = {"read", "write orders"};
    f.issued_token_type = "urn:ietf:params:oauth:token-type:access_token";
    f.issued_at = T - 2s;
    return {actor_token(std::move(f)), {T + 1h, T + 1h - 30s - 1ms, refresh_at}, "rt-xyz"};
}

/// Every field, times in milliseconds: tokens (failures) that describe alike are alike.
std::string describe(const shared_token& t)
{
    std::string s = std::string(t.token.value()) + '|' + std::string(t.token.token_type()) + '|' +
                    (t.token.expires_at() ? std::to_string(ms_of(*t.token.expires_at())) : "-") + '|';
    for (const auto& sc : t.token.scope())
        s += sc + ',';
    s += '|' + std::string(t.token.issued_token_type()) + '|' + std::to_string(ms_of(t.token.issued_at()));
    for (tp x : {t.times.expires, t.times.usable_until, t.times.refresh_at})
        s += '|' + std::to_string(ms_of(x));
    return s + '|' + t.refresh_token + (t.token.refresh_token() ? "|with actor_token::refresh_token" : "");
}

std::string describe(const shared_failure& f)
{
    const auto& d = f.failure.diag;
    return std::string(f.failure.ec.category().name()) + ':' + std::to_string(f.failure.ec.value()) + '|' +
           std::string(d.error()) + '|' + std::string(d.error_description()) + '|' + std::string(d.client_message()) +
           '|' + std::to_string(d.http_status()) + '|' + std::to_string(ms_of(f.until));
}

/// `json` with `member` set to `*to`, or removed when `to` is null.
std::string with_member(const std::string& json, std::string_view member, const boost::json::value* to)
{
    auto v = boost::json::parse(json);
    to ? void(v.as_object()[member] = *to) : void(v.as_object().erase(member));
    return boost::json::serialize(v);
}

shared_failure failure_of(boost::system::error_code ec)
{
    shared_failure f;
    f.failure.ec = ec;
    diagnostics_access::error(f.failure.diag) = "temporarily_unavailable";
    diagnostics_access::error_description(f.failure.diag) = "try again \"later\"";
    diagnostics_access::client_message(f.failure.diag) = "token endpoint busy";
    diagnostics_access::http_status(f.failure.diag) = 503;
    f.until = T + 30s + 250ms;
    return f;
}

std::string crafted_failure(std::string_view cat, bool with_status = true)
{
    return R"({"v":1,"cat":")" + std::string(cat) + R"(","code":3,"until":)" + std::to_string(ms_of(T + 10s)) +
           R"(,"error":"invalid_grant","error_description":"","client_message":"")" +
           (with_status ? R"(,"http_status":400})" : "}");
}

} // namespace

namespace tetrapak::detail {
inline std::ostream& boost_test_print_type(std::ostream& os, fleet_step s)
{
    return os << std::array{"adopt", "blocked", "lock", "wait", "fetch_alone"}.at(static_cast<std::size_t>(s));
}
inline std::ostream& boost_test_print_type(std::ostream& os, circuit_breaker::state s)
{
    return os << std::array{"closed", "open", "half_open"}.at(static_cast<std::size_t>(s));
}
} // namespace tetrapak::detail

BOOST_AUTO_TEST_SUITE(fleet_redis_url)

BOOST_AUTO_TEST_CASE(accepted_urls)
{
    struct row {
        std::string url, set_user, set_password; // the URL and fleet_settings::username/password
        bool tls;
        std::string host, port;
        int db;
        std::string user, password; // expected
    };
    const std::vector<row> rows = {
        {"redis://127.0.0.1:6380/2", "", "", false, "127.0.0.1", "6380", 2, "", ""},
        {"rediss://cache.example.com", "", "", true, "cache.example.com", "6379", 0, "", ""},
        {"redis://cache.example.com/", "", "", false, "cache.example.com", "6379", 0, "", ""},
        {"redis://h:65535/0", "", "", false, "h", "65535", 0, "", ""},
        {"redis://app%40x:p%3Ass@h", "", "", false, "h", "6379", 0, "app@x", "p:ss"},
        {"redis://:s3cret@h:6000/5", "", "", false, "h", "6000", 5, "", "s3cret"},
        {"redis://u:p@h", "svc", "override", false, "h", "6379", 0, "svc", "override"},
        {"redis://u:p@h", "", "q", false, "h", "6379", 0, "u", "q"},
        {"redis://h", "", "only", false, "h", "6379", 0, "", "only"},
        {"redis://[::1]:7000", "", "", false, "::1", "7000", 0, "", ""},
        {"rediss://[2001:db8::7]/3", "", "", true, "2001:db8::7", "6379", 3, "", ""},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT("url " << r.url << " user " << r.set_user)
        {
            auto o = read_url(r.url, r.set_user, r.set_password);
            BOOST_TEST_REQUIRE(o.r.has_value(), o.diag.client_message());
            BOOST_TEST(o.r->tls == r.tls);
            BOOST_TEST(o.r->host == r.host);
            BOOST_TEST(o.r->port == r.port);
            BOOST_TEST(o.r->database == r.db);
            BOOST_TEST(o.r->username == r.user);
            BOOST_TEST(o.r->password == r.password);
            BOOST_TEST(o.diag.client_message().empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(refusals_name_the_setting_and_never_the_password)
{
    const std::string pw = "hunter2pw";
    const std::vector<std::array<std::string, 3>> cases = { // URL, username, password
        {"http://h:6379", "", ""}, {"http://u:" + pw + "@h:6379", "", ""}, {"redis:///0", "", ""},
        {"redis://:" + pw + "@/1", "", ""}, {"redis://h:0", "", ""}, {"redis://u:" + pw + "@h:0", "", ""},
        {"redis://h/abc", "", ""}, {"redis://h/-1", "", ""}, {"redis://u:" + pw + "@h/abc", "", ""},
        {"redis://h/2?ssl=true", "", ""}, {"redis://u:" + pw + "@h/?x", "", ""}, {"redis://h#frag", "", ""},
        {"redis://user@h", "", ""}, {"redis://h", "svc", ""}, {"http://h", "svc", pw}, {"not a url " + pw, "", ""},
    };
    for (const auto& [url, user, password] : cases) {
        BOOST_TEST_CONTEXT("url " << url << " user " << user)
        {
            auto o = read_url(url, user, password);
            BOOST_TEST_REQUIRE(o.r.has_error());
            BOOST_TEST(o.r.error() == make_error_code(tetrapak::error::config_invalid_value));
            const std::string msg(o.diag.client_message());
            BOOST_TEST(msg.find("fleet.redis_url") != std::string::npos, msg);
            BOOST_TEST(msg.find(pw) == std::string::npos, msg);
        }
    }
}

// Boost.URL 1.81's port_number() wraps modulo 65536 (99999 -> 34463, 65536 -> 0):
// only the port's text shows that these are out of range.
BOOST_AUTO_TEST_CASE(port_above_65535_is_refused)
{
    for (const char* url : {"redis://h:65536", "redis://h:99999", "redis://h:100000"}) {
        auto o = read_url(url);
        BOOST_TEST(o.r.has_error(), url << " accepted with port " << (o.r ? o.r->port : ""));
        BOOST_TEST(o.diag.client_message().find("fleet.redis_url") != std::string_view::npos, url);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fleet_entry)

BOOST_AUTO_TEST_CASE(names_are_the_prefix_and_the_sha256_of_the_key)
{
    const auto k = key_of(1, 2);
    const auto n = names_for("tetrapak:", k);
    BOOST_TEST(n.digest == sha256_hex_openssl(k));
    BOOST_TEST(n.digest.size() == 64u);
    BOOST_TEST(is_lower_hex(n.digest));
    BOOST_TEST(n.token == "tetrapak:t:" + n.digest);
    BOOST_TEST(n.retry_after == n.token + ":ra");
    BOOST_TEST(n.lock == n.token + ":lock");
    BOOST_TEST(channel_for("tetrapak:") == "tetrapak:events");
    const auto again = names_for("tetrapak:", key_of(1, 2));
    BOOST_TEST((again.digest == n.digest && again.token == n.token && again.lock == n.lock));
    // The prefix names the Redis keys; the digest D is of the cache key alone.
    const auto other_prefix = names_for("q:", k);
    BOOST_TEST(other_prefix.digest == n.digest);
    BOOST_TEST(other_prefix.token == "q:t:" + n.digest);
    BOOST_TEST(names_for("tetrapak:", key_of(1, 2, grant_type::token_exchange)).digest != n.digest);
    BOOST_TEST(names_for("tetrapak:", key_of(1, 3)).digest != n.digest);
    BOOST_TEST(names_for("tetrapak:", key_of(9, 2)).digest != n.digest);
}

BOOST_AUTO_TEST_CASE(raw_tokens_never_appear_in_names_or_messages)
{
    auth_config c;
    c.token_endpoint = "https://auth.example.com/oauth2/token";
    c.client_id = "client-1";
    const std::string raw = "eyJsubject-token-value-0123456789abcdef";
    const auto k = make_cache_key(config_digest(c), grant_type::token_exchange, actor_token(raw));
    BOOST_TEST((k.subject != digest{}));
    const auto n = names_for("tp:", k);
    for (const auto& s : {n.digest, n.token, n.retry_after, n.lock, ready_message(n.digest), drop_message("i1", k)})
        BOOST_TEST(s.find(raw) == std::string::npos, s);
    BOOST_TEST(is_lower_hex(n.token.substr(5)));
}

BOOST_AUTO_TEST_CASE(key_hex_round_trip_and_refusals)
{
    for (int g = 0; g <= static_cast<int>(grant_type::jwt_bearer); ++g) {
        const auto k = key_of(200, 17, static_cast<grant_type>(g));
        const auto h = key_to_hex(k);
        BOOST_TEST_CONTEXT("grant " << g)
        {
            BOOST_TEST(h.size() == 130u);
            BOOST_TEST(is_lower_hex(h));
            BOOST_TEST(h.substr(0, 4) == "c8d3"); // config[0] = 200, config[1] = 211
            BOOST_TEST(std::stoi(h.substr(128), nullptr, 16) == g);
            const auto back = key_from_hex(h);
            BOOST_TEST_REQUIRE(back.has_value());
            BOOST_TEST((*back == k));
        }
    }
    const auto h = key_to_hex(key_of(0xab, 0xcd));
    std::string upper = h, non_hex = h;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
    non_hex[70] = 'g';
    BOOST_TEST_REQUIRE(upper != h);
    for (const auto& b : {std::string(), h.substr(0, 128), h + "00", h.substr(1), upper, non_hex,
                          h.substr(0, 128) + "06", h.substr(0, 128) + "ff", h.substr(0, 64) + std::string(64, ' ') + "02"})
        BOOST_TEST(!key_from_hex(b).has_value(), "accepted " << b);
}

BOOST_AUTO_TEST_CASE(token_round_trip)
{
    const auto in = full_token();
    const auto out = decode_token(encode_token(in), T);
    BOOST_TEST_REQUIRE(out.has_value());
    BOOST_TEST(describe(*out) == describe(in));
    BOOST_TEST(out->token.is_dpop_bound());
    BOOST_TEST((out->token.issued_at() == in.token.issued_at() && out->times.usable_until == in.times.usable_until));
    BOOST_TEST(ms_of(out->times.refresh_at) == ms_of(T) + (45 * 60 * 1000 + 123));

    // The least a token can have; a sub-millisecond time is kept to the millisecond.
    actor_token::fields f;
    f.value = "plain";
    f.issued_at = T;
    const shared_token least{actor_token(std::move(f)), {T + 5min + 999us, T + 4min, T + 3min}, ""};
    const auto json = encode_token(least);
    const auto min = decode_token(json, T);
    BOOST_TEST_REQUIRE(min.has_value());
    BOOST_TEST(describe(*min) == describe(least));
    BOOST_TEST(min->token.token_type() == "Bearer");
    BOOST_TEST(!min->token.expires_at().has_value());
    BOOST_TEST(ms_of(min->times.expires) == ms_of(T + 5min));
    BOOST_TEST(json.find("\"rt\"") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(token_refusals)
{
    const auto good = encode_token(full_token());
    BOOST_TEST_REQUIRE(decode_token(good, T).has_value());
    const boost::json::value v2 = 2, v_text = "1", empty_text = "", bad_scope = boost::json::array{"read", 7};
    std::vector<std::string> bad = {
        "", "not json", "[]", "{}", "{\"v\":1}", good.substr(0, good.size() - 1), with_member(good, "v", &v2),
        with_member(good, "v", &v_text), with_member(good, "value", &empty_text),
        with_member(good, "scope", &bad_scope), with_member(good, "expires", &v_text),
    };
    for (const char* m : {"v", "value", "type", "iat", "expires", "usable_until", "refresh_at", "scope"})
        bad.push_back(with_member(good, m, nullptr));
    for (const auto& b : bad)
        BOOST_TEST(!decode_token(b, T).has_value(), "accepted " << b);
    const auto usable_until = full_token().times.usable_until;
    BOOST_TEST(decode_token(good, usable_until - 1ms).has_value());
    BOOST_TEST(!decode_token(good, usable_until).has_value());
    BOOST_TEST(!decode_token(good, usable_until + 1h).has_value());
}

BOOST_AUTO_TEST_CASE(failure_round_trip_and_refusals)
{
    for (auto ec : {make_error_code(tetrapak::error::too_many_requests), make_error_code(oauth_errc::temporarily_unavailable)}) {
        BOOST_TEST_CONTEXT(ec)
        {
            const auto in = failure_of(ec);
            const auto json = encode_failure(in);
            const auto out = decode_failure(json, T);
            BOOST_TEST_REQUIRE(out.has_value());
            BOOST_TEST(out->failure.ec == ec);
            BOOST_TEST(describe(*out) == describe(in));
            BOOST_TEST((out->until == in.until));
            BOOST_TEST(decode_failure(json, in.until - 1ms).has_value());
            BOOST_TEST(!decode_failure(json, in.until).has_value());
            BOOST_TEST(!decode_failure(json, in.until + 1s).has_value());
            for (const char* m : {"v", "cat", "code", "until", "http_status"})
                BOOST_TEST(!decode_failure(with_member(json, m, nullptr), T).has_value(), "without " << m);
        }
    }
    // Hand-made: the library's two categories are accepted, any other is not.
    const auto client = decode_failure(crafted_failure("tetrapak.client"), T);
    BOOST_TEST_REQUIRE(client.has_value());
    BOOST_TEST(client->failure.ec == make_error_code(tetrapak::error::missing_token_endpoint));
    const auto oauth = decode_failure(crafted_failure("tetrapak.oauth"), T);
    BOOST_TEST_REQUIRE(oauth.has_value());
    BOOST_TEST(oauth->failure.ec == make_error_code(oauth_errc::invalid_grant));
    BOOST_TEST(oauth->failure.diag.http_status() == 400u);
    for (const auto& b : {crafted_failure("system"), crafted_failure("generic"), crafted_failure("tetrapak.oauth", false),
                          std::string("{\"v\":1"), std::string("[1]"), std::string("not json")})
        BOOST_TEST(!decode_failure(b, T).has_value(), "accepted " << b);
}

BOOST_AUTO_TEST_CASE(messages)
{
    const auto k = key_of(5, 6, grant_type::jwt_bearer);
    const auto d = names_for("p:", k).digest;
    const auto h = key_to_hex(k);
    BOOST_TEST(ready_message(d) == "ready " + d);
    const auto ready = parse_message(ready_message(d));
    BOOST_TEST_REQUIRE(ready.has_value());
    BOOST_TEST((ready->what == fleet_message::kind::ready));
    BOOST_TEST(ready->digest == d);
    const auto drop = parse_message(drop_message("inst-7", k));
    BOOST_TEST_REQUIRE(drop.has_value());
    BOOST_TEST((drop->what == fleet_message::kind::drop));
    BOOST_TEST(drop->instance == "inst-7");
    BOOST_TEST_REQUIRE(drop->key.has_value());
    BOOST_TEST((*drop->key == k));
    for (const auto& b : {std::string(), std::string("garbage"), std::string("ready"), std::string("ready "),
                          "ready " + d.substr(0, 63), "ready " + d + "0", "READY " + d, "readyx" + d,
                          std::string("drop x"), std::string("drop "), "drop  " + h, "drop x " + h.substr(1),
                          "drop x " + h.substr(0, 128) + "07", "drop x " + h + " extra", "dropx i " + h})
        BOOST_TEST(!parse_message(b).has_value(), "accepted \"" << b << '"');
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fleet_breaker)

using bstate = circuit_breaker::state;
const circuit_breaker::clock::time_point S{std::chrono::hours(1)};

BOOST_AUTO_TEST_CASE(opens_after_n_failures_exactly_once)
{
    circuit_breaker b(3, 1000ms);
    BOOST_TEST(b.allow(S));
    BOOST_TEST(!b.failed(S));
    BOOST_TEST(!b.failed(S + 1ms));
    BOOST_TEST(b.current() == bstate::closed);
    BOOST_TEST(b.allow(S + 2ms));
    BOOST_TEST(b.failed(S + 2ms)); // the third opens it
    BOOST_TEST(b.current() == bstate::open);
    BOOST_TEST(!b.failed(S + 3ms)); // a late failure does not open it again
    BOOST_TEST(!b.allow(S + 2ms));
    BOOST_TEST(!b.allow(S + 1001ms));
    BOOST_TEST(b.current() == bstate::open);
}

BOOST_AUTO_TEST_CASE(one_probe_after_open_for_and_its_success_closes)
{
    circuit_breaker b(2, 500ms);
    BOOST_TEST(!b.failed(S));
    BOOST_TEST_REQUIRE(b.failed(S));
    BOOST_TEST(!b.allow(S + 499ms));
    BOOST_TEST(b.allow(S + 500ms)); // the probe
    BOOST_TEST(b.current() == bstate::half_open);
    BOOST_TEST(!b.allow(S + 501ms));
    BOOST_TEST(!b.allow(S + 10s));
    BOOST_TEST(b.succeeded()); // recovered
    BOOST_TEST(b.current() == bstate::closed);
    BOOST_TEST((b.allow(S + 10s) && b.allow(S + 10s)));
    BOOST_TEST(!b.succeeded()); // already closed
}

BOOST_AUTO_TEST_CASE(probe_failure_reopens_for_another_open_for)
{
    circuit_breaker b(1, 500ms);
    BOOST_TEST_REQUIRE(b.failed(S));
    const auto p = S + 700ms;
    BOOST_TEST_REQUIRE(b.allow(p));
    BOOST_TEST(!b.failed(p)); // reopened, not newly opened
    BOOST_TEST(b.current() == bstate::open);
    BOOST_TEST(!b.allow(p + 499ms));
    BOOST_TEST(b.allow(p + 500ms));
    BOOST_TEST(b.current() == bstate::half_open);
}

BOOST_AUTO_TEST_CASE(abandoned_probe_lets_another_go)
{
    circuit_breaker b(1, 100ms);
    BOOST_TEST_REQUIRE(b.failed(S));
    BOOST_TEST_REQUIRE(b.allow(S + 100ms));
    BOOST_TEST(!b.allow(S + 101ms));
    b.abandoned();
    BOOST_TEST(b.current() == bstate::half_open);
    BOOST_TEST(b.allow(S + 102ms));
    BOOST_TEST(!b.allow(S + 103ms));
}

BOOST_AUTO_TEST_CASE(success_resets_the_failure_count)
{
    circuit_breaker b(3, 1s);
    BOOST_TEST((!b.failed(S) && !b.failed(S)));
    BOOST_TEST(!b.succeeded());
    BOOST_TEST((!b.failed(S) && !b.failed(S)));
    BOOST_TEST(b.current() == bstate::closed);
    BOOST_TEST(b.allow(S));
    BOOST_TEST(b.failed(S));
    BOOST_TEST(b.current() == bstate::open);
    circuit_breaker zero(0, 1s); // a threshold below one means one
    BOOST_TEST(zero.failed(S));
    BOOST_TEST(!zero.allow(S));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fleet_plan)

BOOST_AUTO_TEST_CASE(next_step_table)
{
    const std::optional<shared_token> none, due = full_token(T - 1ms), now = full_token(T), fresh = full_token(T + 1ms);
    const std::optional<shared_failure> ok, ra = failure_of(make_error_code(tetrapak::error::too_many_requests));
    using enum fleet_step;
    struct row {
        const char* name;
        bool reachable;
        const std::optional<shared_token>& token;
        const std::optional<shared_failure>& failure;
        bool locked, background, waited;
        fleet_step expected;
    };
    const row rows[] = {
        {"unreachable", false, none, ok, false, false, false, fetch_alone},
        {"unreachable, token", false, fresh, ok, true, false, false, fetch_alone},
        {"token", true, fresh, ok, false, false, false, adopt},
        {"due token, foreground", true, due, ok, true, false, true, adopt},
        {"token and Retry-After, foreground", true, fresh, ra, false, false, false, adopt},
        {"background, fresh token", true, fresh, ok, true, true, false, adopt},
        {"background, due token, unlocked", true, due, ok, false, true, false, lock},
        {"background, token due now, unlocked", true, now, ok, false, true, false, lock},
        {"background, due token, locked", true, due, ok, true, true, false, wait},
        {"background, due token, locked, waited", true, due, ok, true, true, true, fetch_alone},
        {"background, due token, Retry-After", true, due, ra, false, true, false, blocked},
        {"Retry-After", true, none, ra, false, false, false, blocked},
        {"Retry-After, locked, background, waited", true, none, ra, true, true, true, blocked},
        {"nothing, unlocked", true, none, ok, false, false, false, lock},
        {"nothing, unlocked, waited", true, none, ok, false, false, true, lock},
        {"nothing, locked", true, none, ok, true, false, false, wait},
        {"nothing, locked, waited", true, none, ok, true, false, true, fetch_alone},
    };
    for (const auto& r : rows) {
        fleet_view v;
        v.reachable = r.reachable;
        v.token = r.token;
        v.failure = r.failure;
        v.locked = r.locked;
        BOOST_TEST(next_fleet_step(v, r.background, T, r.waited) == r.expected, r.name);
    }
}

BOOST_AUTO_TEST_CASE(poll_interval_is_clamped)
{
    const std::pair<std::chrono::milliseconds, long> rows[] = {{100ms, 10}, {200ms, 10}, {400ms, 20}, {1s, 50},
                                                               {2s, 100},   {5s, 100},   {0ms, 10}};
    for (const auto& [ttl, expected] : rows) {
        fleet_settings s;
        s.lock_ttl = ttl;
        BOOST_TEST(fleet_poll_interval(s).count() == expected, "lock_ttl " << ttl.count() << "ms");
    }
    BOOST_TEST(fleet_poll_interval(fleet_settings{}).count() == 100); // the default lock_ttl, 5 s
}

BOOST_AUTO_TEST_SUITE_END()
