// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The "Fleet" section of the TetraPak configuration: every key from JSON and
// from environment variables arrives in auth_config::fleet; wrong values are
// refused naming the key, never the value; printing a configuration shows
// neither the Redis password nor the envelope keys.
#include <tetrapak/config.hpp>
#include <tetrapak/error.hpp>
#include <tetrapak/settings.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <sstream>
#include <string>
#include <vector>

using namespace tetrapak;
using namespace std::chrono_literals;
using boost::system::error_code;

namespace {

const char* no_env(const char*) { return nullptr; }

constexpr const char* key_text = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
constexpr const char* key_text_2 = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

/// A TetraPak section that resolves (token endpoint, id, secret) with `fleet`
/// as its "Fleet" value (raw JSON text).
std::string document(std::string_view fleet)
{
    return R"({"TetraPak": {"TokenIssuerUrl": "https://login.example.com/token", "ClientId": "id",
               "ClientSecret": "client-secret", "Fleet": )" +
           std::string(fleet) + "}}";
}

boost::system::result<tetrapak_settings> load(const std::string& json, diagnostics& diag)
{
    error_code ec;
    auto v = boost::json::parse(json, ec);
    BOOST_TEST_REQUIRE(!ec, "test JSON does not parse: " << json);
    return load_settings(v, diag);
}

tetrapak_settings load_ok(const std::string& json)
{
    diagnostics d;
    auto r = load(json, d);
    BOOST_TEST_REQUIRE(r.has_value(), json << " -> " << (r ? error_code{} : r.error()) << ' ' << d);
    return std::move(*r);
}

auth_config resolve_ok(const tetrapak_settings& s)
{
    diagnostics d;
    auto r = s.resolve("", "", no_env, d);
    BOOST_TEST_REQUIRE(r.has_value(), (r ? error_code{} : r.error()) << ' ' << d);
    return std::move(*r);
}

std::string str(const diagnostics& d)
{
    std::ostringstream os;
    os << d;
    return os.str();
}

template <class T>
std::string printed(const T& t)
{
    std::ostringstream os;
    os << t;
    return os.str();
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

/// Loading the document with `fleet` fails with config_invalid_value naming
/// exactly `path`, and nothing of `value` (the offending value's text).
void expect_fleet_error(std::string_view fleet, std::string_view path, std::string_view value)
{
    BOOST_TEST_CONTEXT(fleet)
    {
        diagnostics d;
        auto r = load(document(fleet), d);
        BOOST_TEST_REQUIRE(!r.has_value());
        BOOST_TEST(r.error() == make_error_code(error::config_invalid_value));
        BOOST_TEST(d.client_message() == path);
        if (!value.empty()) {
            BOOST_TEST(!contains(d.client_message(), value));
            BOOST_TEST(!contains(str(d), value));
        }
    }
}

/// Applying the single "NAME=value" `entry` over `s` fails with
/// config_invalid_value naming `path` and the variable, never the value.
void expect_env_error(tetrapak_settings s, const std::string& entry, std::string_view path)
{
    BOOST_TEST_CONTEXT(entry)
    {
        const char* entries[] = {entry.c_str(), nullptr};
        diagnostics d;
        auto r = apply_environment_variables(s, entries, d);
        BOOST_TEST_REQUIRE(!r.has_value());
        BOOST_TEST(r.error() == make_error_code(error::config_invalid_value));
        const auto eq = entry.find('=');
        const std::string name = entry.substr(0, eq), value = entry.substr(eq + 1);
        BOOST_TEST(d.client_message() == std::string(path) + " (environment variable " + name + ")");
        if (value.size() >= 3) { // short values ("0") could appear by chance
            BOOST_TEST(!contains(d.client_message(), value));
            BOOST_TEST(!contains(str(d), value));
        }
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(fleet_settings)

BOOST_AUTO_TEST_CASE(every_key_arrives_in_the_resolved_config)
{
    const auto s = load_ok(document(R"({
        "RedisUrl": "rediss://cache.example.com:6380/2",
        "Username": "fleet-user",
        "Password": "fleet-password",
        "Keys": "k2:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=,k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "KeyFile": "/run/secrets/fleet-keys",
        "KeyPrefix": "orders:",
        "ShareRefreshTokens": true,
        "CaFile": "/etc/ssl/redis-ca.pem",
        "ConnectTimeoutMs": 250,
        "CommandTimeoutMs": 75,
        "LockTtlMs": 7000,
        "MaxWaitMs": 3000})"));
    // Loaded...
    BOOST_TEST(s.fleet.redis_url == "rediss://cache.example.com:6380/2");
    // ...and resolved into the auth_config.
    const auto f = resolve_ok(s).fleet;
    BOOST_TEST(f.enabled());
    BOOST_TEST(f.redis_url == "rediss://cache.example.com:6380/2");
    BOOST_TEST(f.username == "fleet-user");
    BOOST_TEST(f.password.reveal() == "fleet-password");
    BOOST_TEST(f.keys.reveal() == std::string("k2:") + key_text_2 + ",k1:" + key_text);
    BOOST_TEST(f.key_file == "/run/secrets/fleet-keys");
    BOOST_TEST(f.key_prefix == "orders:");
    BOOST_TEST(f.share_refresh_tokens == true);
    BOOST_TEST(f.ca_file == "/etc/ssl/redis-ca.pem");
    BOOST_TEST(f.connect_timeout.count() == 250);
    BOOST_TEST(f.command_timeout.count() == 75);
    BOOST_TEST(f.lock_ttl.count() == 7000);
    BOOST_TEST(f.max_wait.count() == 3000);
    // Not in the section: the defaults.
    const tetrapak::fleet_settings defaults;
    BOOST_TEST(f.breaker_failures == defaults.breaker_failures);
    BOOST_TEST(f.breaker_open.count() == defaults.breaker_open.count());
}

BOOST_AUTO_TEST_CASE(defaults_without_the_section_and_case_insensitive_keys)
{
    const auto none = resolve_ok(load_ok(R"({"TetraPak": {"TokenIssuerUrl": "https://login.example.com/token",
                                             "ClientId": "id", "ClientSecret": "s"}})"))
                          .fleet;
    const tetrapak::fleet_settings defaults;
    BOOST_TEST(!none.enabled());
    BOOST_TEST(none.key_prefix == defaults.key_prefix);
    BOOST_TEST(none.connect_timeout.count() == defaults.connect_timeout.count());
    BOOST_TEST(none.command_timeout.count() == defaults.command_timeout.count());
    BOOST_TEST(none.lock_ttl.count() == defaults.lock_ttl.count());
    BOOST_TEST(none.max_wait.count() == defaults.max_wait.count());
    BOOST_TEST(none.share_refresh_tokens == false);

    // Keys in any case (as .NET configuration reads them), the section's name
    // too; durations as digit strings; the flag as a string.
    const auto f = resolve_ok(load_ok(R"({"TetraPak": {"TokenIssuerUrl": "https://login.example.com/token",
        "ClientId": "id", "ClientSecret": "s", "fleet": {"redisurl": "redis://10.0.0.5", "KEYFILE": "/k",
        "sharerefreshtokens": "TRUE", "connecttimeoutms": "1", "COMMANDTIMEOUTMS": " 600000 ", "lockTtlMs": 1,
        "maxwaitms": "600000", "keyprefix": "svc:", "cafile": "/ca.pem", "username": "u", "password": "p",
        "keys": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}})"))
                       .fleet;
    BOOST_TEST(f.redis_url == "redis://10.0.0.5");
    BOOST_TEST(f.key_file == "/k");
    BOOST_TEST(f.share_refresh_tokens == true);
    BOOST_TEST(f.connect_timeout.count() == 1); // the bounds themselves are accepted
    BOOST_TEST(f.command_timeout.count() == 600000);
    BOOST_TEST(f.lock_ttl.count() == 1);
    BOOST_TEST(f.max_wait.count() == 600000);
    BOOST_TEST(f.key_prefix == "svc:");
    BOOST_TEST(f.ca_file == "/ca.pem");
    BOOST_TEST(f.username == "u");
    BOOST_TEST(f.password.reveal() == "p");
    BOOST_TEST(f.keys.reveal() == std::string("k1:") + key_text);
}

BOOST_AUTO_TEST_CASE(environment_variables_set_and_override_fleet_keys)
{
    auto s = load_ok(document(R"({"RedisUrl": "redis://file-host:6379", "Keys": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                                  "ConnectTimeoutMs": 900, "LockTtlMs": 4000})"));
    const std::vector<std::string> env = {
        "PATH=/usr/bin",
        "TetraPak__Fleet__RedisUrl=redis://env-host:6390/4",
        "TetraPak__Fleet__ConnectTimeoutMs=250",
        "TetraPak__Fleet__ShareRefreshTokens=true",
        "TETRAPAK__FLEET__PASSWORD=env-password", // names are case-insensitive
        "TetraPak:Fleet:KeyPrefix=env:",          // ':' separates levels too
    };
    std::vector<const char*> entries;
    for (const auto& e : env)
        entries.push_back(e.c_str());
    entries.push_back(nullptr);
    diagnostics d;
    auto r = apply_environment_variables(s, entries.data(), d);
    BOOST_TEST_REQUIRE(r.has_value(), d);
    const auto f = resolve_ok(s).fleet;
    BOOST_TEST(f.redis_url == "redis://env-host:6390/4");
    BOOST_TEST(f.connect_timeout.count() == 250);
    BOOST_TEST(f.share_refresh_tokens == true);
    BOOST_TEST(f.password.reveal() == "env-password");
    BOOST_TEST(f.key_prefix == "env:");
    // What the variables do not name stays as the file said.
    BOOST_TEST(f.keys.reveal() == std::string("k1:") + key_text);
    BOOST_TEST(f.lock_ttl.count() == 4000);
    BOOST_TEST(f.command_timeout.count() == tetrapak::fleet_settings{}.command_timeout.count());

    // A fleet from the environment alone.
    tetrapak_settings bare;
    const char* only[] = {"TetraPak__Fleet__RedisUrl=redis://only-env", "TetraPak__Fleet__ShareRefreshTokens=False",
                          "TetraPak__Fleet__MaxWaitMs=1500", nullptr};
    BOOST_TEST_REQUIRE(apply_environment_variables(bare, only, d).has_value(), d);
    BOOST_TEST(bare.fleet.redis_url == "redis://only-env");
    BOOST_TEST(bare.fleet.share_refresh_tokens == false);
    BOOST_TEST(bare.fleet.max_wait.count() == 1500);
}

BOOST_AUTO_TEST_CASE(wrong_values_name_the_key_and_never_the_value)
{
    // An unknown key (a typo beside a secret must not quote the secret).
    expect_fleet_error(R"({"RedisUrl": "redis://h", "Bogus": 1})", "TetraPak:Fleet:Bogus", "");
    expect_fleet_error(R"({"Pasword": "typo-secret-4711"})", "TetraPak:Fleet:Pasword", "typo-secret-4711");
    expect_fleet_error(R"({"Key": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="})", "TetraPak:Fleet:Key",
                       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY");
    // Not an object.
    expect_fleet_error(R"("redis://:section-secret@h")", "TetraPak:Fleet", "section-secret");
    expect_fleet_error(R"(["redis://h"])", "TetraPak:Fleet", "");
    // Wrong types.
    expect_fleet_error(R"({"RedisUrl": 6379})", "TetraPak:Fleet:RedisUrl", "6379");
    expect_fleet_error(R"({"RedisUrl": {"url": "redis://:url-secret@h"}})", "TetraPak:Fleet:RedisUrl", "url-secret");
    expect_fleet_error(R"({"Password": ["pw-secret-1"]})", "TetraPak:Fleet:Password", "pw-secret-1");
    expect_fleet_error(R"({"Keys": ["k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="]})", "TetraPak:Fleet:Keys",
                       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY");
    expect_fleet_error(R"({"Username": true})", "TetraPak:Fleet:Username", "");
    expect_fleet_error(R"({"KeyFile": 1})", "TetraPak:Fleet:KeyFile", "");
    expect_fleet_error(R"({"KeyPrefix": 7})", "TetraPak:Fleet:KeyPrefix", "");
    expect_fleet_error(R"({"CaFile": false})", "TetraPak:Fleet:CaFile", "");
    expect_fleet_error(R"({"ShareRefreshTokens": "maybe"})", "TetraPak:Fleet:ShareRefreshTokens", "maybe");
    expect_fleet_error(R"({"ShareRefreshTokens": 1})", "TetraPak:Fleet:ShareRefreshTokens", "");
    // Durations: 1 ms .. 10 min, whole milliseconds.
    for (const char* key : {"ConnectTimeoutMs", "CommandTimeoutMs", "LockTtlMs", "MaxWaitMs"}) {
        const std::string path = std::string("TetraPak:Fleet:") + key;
        for (const char* value : {"0", "-5", "600001", "86400000", "18446744073709551615", "1e12", "1.5", "\"0\"",
                                  "\"12ms\"", "\"\"", "\"-1\"", "\"99999999999999999999\"", "true", "[1]"}) {
            expect_fleet_error("{\"" + std::string(key) + "\": " + value + "}", path,
                               std::string_view(value).size() >= 5 ? value : "");
        }
    }
    // The first bad key is named even after good ones.
    expect_fleet_error(R"({"RedisUrl": "redis://h", "LockTtlMs": 5000, "MaxWaitMs": 0})", "TetraPak:Fleet:MaxWaitMs",
                       "");
}

BOOST_AUTO_TEST_CASE(wrong_environment_values_name_the_key_and_the_variable)
{
    const tetrapak_settings s;
    expect_env_error(s, "TetraPak__Fleet__LockTtlMs=0", "TetraPak:Fleet:LockTtlMs");
    expect_env_error(s, "TetraPak__Fleet__ConnectTimeoutMs=600001", "TetraPak:Fleet:ConnectTimeoutMs");
    expect_env_error(s, "TetraPak__Fleet__CommandTimeoutMs=fifty-ms", "TetraPak:Fleet:CommandTimeoutMs");
    expect_env_error(s, "TetraPak__Fleet__MaxWaitMs=99999999999999999999", "TetraPak:Fleet:MaxWaitMs");
    expect_env_error(s, "TetraPak__Fleet__ShareRefreshTokens=sometimes", "TetraPak:Fleet:ShareRefreshTokens");
    expect_env_error(s, "TetraPak__Fleet__Pasword=env-typo-secret", "TetraPak:Fleet:Pasword");
    expect_env_error(s, "TetraPak__Fleet=redis://:env-section-secret@h", "TetraPak:Fleet");
}

// The readers of the other sections name a known key in its canonical
// spelling whatever the case it was written in ("TETRAPAK__SERVICES__ORDERS__GRANTTYPE"
// -> "TetraPak:Services:Orders:GrantType", test/unit/config.cpp); so should the Fleet section.
BOOST_AUTO_TEST_CASE(wrong_values_name_known_keys_in_their_canonical_spelling)
{
    expect_fleet_error(R"({"lockttlms": 0})", "TetraPak:Fleet:LockTtlMs", "");
    expect_fleet_error(R"({"REDISURL": 1})", "TetraPak:Fleet:RedisUrl", "");
    expect_env_error(tetrapak_settings{}, "TETRAPAK__FLEET__LOCKTTLMS=0", "TetraPak:Fleet:LockTtlMs");
}

BOOST_AUTO_TEST_CASE(printing_a_config_shows_neither_the_password_nor_the_keys)
{
    struct row {
        std::string url, shown;
    };
    const std::vector<row> rows = {
        {"redis://fleet-user:url-pw-4711@cache.example.com:6380/2", "redis://cache.example.com:6380/2"},
        {"rediss://:url-pw-4711@cache.example.com", "rediss://cache.example.com"},
        {"redis://fleet-user:url%40pw-4711@10.1.2.3:7000", "redis://10.1.2.3:7000"},
        {"redis://cache.example.com:6379/1", "redis://cache.example.com:6379/1"},
    };
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT(r.url)
        {
            auth_config c;
            c.client_id = "id";
            c.client_secret = "client-secret-0815";
            c.token_endpoint = "https://login.example.com/token";
            c.fleet.redis_url = r.url;
            c.fleet.password = "fleet-pw-override-4711";
            c.fleet.keys = std::string("k1:") + key_text + ",k2:" + key_text_2;
            const std::string out = printed(c);
            BOOST_TEST_MESSAGE(out);
            BOOST_TEST(contains(out, r.shown), out);
            for (const char* secret : {"url-pw-4711", "url%40pw-4711", "fleet-pw-override-4711", "MDEyMzQ1Njc4OWFi",
                                       "ZmVkY2JhOTg3NjU0", "client-secret-0815", "fleet-user"})
                BOOST_TEST(!contains(out, secret), out);
            BOOST_TEST(!contains(out, "@"), out);

            // Loaded from the configuration, printed the same way.
            const auto cfg = resolve_ok(load_ok(document(R"({"RedisUrl": ")" + r.url +
                                                         R"(", "Password": "fleet-pw-override-4711", "Keys": "k1:)" +
                                                         key_text + R"("})")));
            const std::string loaded = printed(cfg);
            BOOST_TEST(contains(loaded, r.shown), loaded);
            for (const char* secret : {"url-pw-4711", "fleet-pw-override-4711", "MDEyMzQ1Njc4OWFi", "fleet-user"})
                BOOST_TEST(!contains(loaded, secret), loaded);
        }
    }
}

// A URL the service would refuse is still printed without its user info: a
// scheme left out, or a generated password (base64: '/' and '+') pasted
// without percent-encoding, must not put the password in a log line.
BOOST_AUTO_TEST_CASE(printing_a_malformed_url_hides_what_may_be_a_password)
{
    for (const char* url : {"default:hunter2pw@cache.example.com:6379", // no scheme
                            "redis://:8/Zk+hunter2pw@cache.example.com:6379", // '/' not encoded
                            "redis:fleet:hunter2pw@cache.example.com"}) { // no "//"
        auth_config c;
        c.fleet.redis_url = url;
        const std::string out = printed(c);
        BOOST_TEST(!contains(out, "hunter2pw"), out);
    }
}

BOOST_AUTO_TEST_SUITE_END()
