// The `TetraPak` configuration section: loading (JSON, environment variables),
// validation, inheritance and resolution into an auth_config.
#include <tetrapak/error.hpp>
#include <tetrapak/settings.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace tetrapak;
using boost::system::error_code;

namespace {

std::string fixture(const char* name)
{
    return (std::filesystem::path(__FILE__).parent_path() / "config" / name).string();
}

boost::system::result<tetrapak_settings> load(std::string_view json, diagnostics& diag)
{
    error_code ec;
    auto v = boost::json::parse(json, ec);
    BOOST_TEST_REQUIRE(!ec, "test JSON does not parse: " << json);
    return load_settings(v, diag);
}

tetrapak_settings load_ok(std::string_view json)
{
    diagnostics d;
    auto r = load(json, d);
    BOOST_TEST_REQUIRE(r.has_value(), json << " -> " << (r ? error_code{} : r.error()) << ' ' << d);
    return std::move(*r);
}

tetrapak_settings load_full()
{
    diagnostics d;
    auto r = load_settings_file(fixture("full.json"), d);
    BOOST_TEST_REQUIRE(r.has_value(), d);
    return std::move(*r);
}

/// A fake process environment for getenv.
struct fake_env {
    std::map<std::string, std::string> vars;
    std::function<const char*(const char*)> getenv() const
    {
        return [this](const char* name) -> const char* {
            auto it = vars.find(name);
            return it == vars.end() ? nullptr : it->second.c_str();
        };
    }
};

const char* no_env(const char*) { return nullptr; }

auth_config resolve_ok(const tetrapak_settings& s, std::string_view service = {}, std::string_view endpoint = {})
{
    diagnostics d;
    auto r = s.resolve(service, endpoint, no_env, d);
    BOOST_TEST_REQUIRE(r.has_value(), service << '/' << endpoint << " -> " << (r ? error_code{} : r.error()) << ' '
                                              << d);
    return std::move(*r);
}

std::string str(const diagnostics& d)
{
    std::ostringstream os;
    os << d;
    return os.str();
}

/// Loading `json` fails with `code`, and the diagnostics name exactly `path`.
void expect_load_error(std::string_view json, error code, std::string_view path)
{
    BOOST_TEST_CONTEXT(json)
    {
        diagnostics d;
        auto r = load(json, d);
        BOOST_TEST_REQUIRE(!r.has_value());
        BOOST_TEST(r.error() == make_error_code(code));
        BOOST_TEST(d.client_message() == path);
    }
}

/// Applying `entries` (a single "NAME=value") fails with `code` naming `path` and the variable.
void expect_env_error(tetrapak_settings s, std::string entry, error code, std::string_view path)
{
    BOOST_TEST_CONTEXT(entry)
    {
        const char* entries[] = {entry.c_str(), nullptr};
        diagnostics d;
        auto r = apply_environment_variables(s, entries, d);
        BOOST_TEST_REQUIRE(!r.has_value());
        BOOST_TEST(r.error() == make_error_code(code));
        std::string name = entry.substr(0, entry.find('='));
        BOOST_TEST(d.client_message() == std::string(path) + " (environment variable " + name + ")");
    }
}

std::vector<std::string> v(std::initializer_list<const char*> l) { return {l.begin(), l.end()}; }

} // namespace

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(full_file_loads_every_key)
{
    auto s = load_full();
    BOOST_TEST((s.environment == runtime_environment::development));
    BOOST_TEST(s.discovery_document_url == "https://login.example.com/.well-known/openid-configuration");
    BOOST_TEST(s.token_issuer_url == "https://login.example.com/oauth2/token");
    BOOST_TEST(s.authorization_header == "X-Authorization");
    BOOST_TEST(s.is_caching_allowed == false);
    BOOST_TEST(s.default_caching_lifetime.count() == 630);
    BOOST_TEST(s.request_message_id_header == "X-Flow-Id");

    BOOST_TEST((s.root.grant == grant_type::none));
    BOOST_TEST(*s.root.client_id == "root-id");
    BOOST_TEST(s.root.client_secret->reveal() == "root-secret-value");
    BOOST_TEST(*s.root.scope == v({"openid", "profile"}), boost::test_tools::per_element());
    BOOST_TEST((s.root.auth_method == client_auth_method::client_secret_post));
    BOOST_TEST(*s.root.audience == "root-audience");
    BOOST_TEST(*s.root.resource == "https://root.example.com");

    BOOST_TEST((s.services.grant == grant_type::client_credentials));
    BOOST_TEST(*s.services.client_id == "services-id");
    BOOST_TEST((s.services.auth_method == client_auth_method::client_secret_basic));

    BOOST_TEST_REQUIRE(s.service.size() == 2u);
    auto& orders = s.service.at("Orders");
    BOOST_TEST(orders.base_address == "https://orders.example.com/api");
    BOOST_TEST((orders.auth.grant == grant_type::token_exchange));
    BOOST_TEST(*orders.auth.scope == v({"orders.read", "orders.write"}), boost::test_tools::per_element());
    BOOST_TEST_REQUIRE(orders.endpoints.size() == 4u);
    BOOST_TEST(orders.endpoints.at("Get").path == "/orders/{id}");
    BOOST_TEST((orders.endpoints.at("Get").auth.grant == grant_type::automatic));
    BOOST_TEST(orders.endpoints.at("List").path == "/orders");            // "Endpoints": {"List": "/orders"}
    BOOST_TEST(!orders.endpoints.at("List").auth.grant.has_value());
    BOOST_TEST(orders.endpoints.at("Health").path == "/health");          // shorthand string
    BOOST_TEST(orders.endpoints.at("Cancel").path == "https://cancel.example.com/cancel"); // shorthand object
    BOOST_TEST((orders.endpoints.at("Cancel").auth.grant == grant_type::none));
    auto& inventory = s.service.at("Inventory");
    BOOST_TEST(inventory.base_address == "https://inventory.example.com");
    BOOST_TEST(!inventory.auth.client_id.has_value());
    BOOST_TEST(inventory.endpoints.empty());
}

BOOST_AUTO_TEST_CASE(full_file_resolves_nearest_level)
{
    auto s = load_full();
    const std::string token = "https://login.example.com/oauth2/token";
    const std::string discovery = "https://login.example.com/.well-known/openid-configuration";

    // Root only: "Services" defaults do not apply outside a service.
    auto root = resolve_ok(s);
    BOOST_TEST((root.grant == grant_type::none));
    BOOST_TEST(root.client_id == "root-id");
    BOOST_TEST(root.client_secret.reveal() == "root-secret-value");
    BOOST_TEST(root.scope == v({"openid", "profile"}), boost::test_tools::per_element());
    BOOST_TEST((root.auth_method == client_auth_method::client_secret_post));
    BOOST_TEST(root.audience == "root-audience");
    BOOST_TEST(root.resource == "https://root.example.com");
    BOOST_TEST(root.token_endpoint == token);
    BOOST_TEST(root.discovery_document_url == discovery);

    // Endpoint level wins over everything.
    auto get = resolve_ok(s, "Orders", "Get");
    BOOST_TEST((get.grant == grant_type::automatic));
    BOOST_TEST(get.client_id == "get-id");
    BOOST_TEST(get.client_secret.reveal() == "get-secret-value");
    BOOST_TEST(get.scope == v({"orders.get"}), boost::test_tools::per_element());
    BOOST_TEST((get.auth_method == client_auth_method::client_secret_basic));
    BOOST_TEST(get.audience == "get-audience");
    BOOST_TEST(get.resource == "https://get.example.com");
    BOOST_TEST(get.token_endpoint == token);
    BOOST_TEST(get.discovery_document_url == discovery);

    // An endpoint without settings inherits the service's.
    for (auto ep : {"List", "Health", ""}) {
        BOOST_TEST_CONTEXT(ep)
        {
            auto c = resolve_ok(s, "Orders", ep);
            BOOST_TEST((c.grant == grant_type::token_exchange));
            BOOST_TEST(c.client_id == "orders-id");
            BOOST_TEST(c.client_secret.reveal() == "orders-secret-value");
            BOOST_TEST(c.scope == v({"orders.read", "orders.write"}), boost::test_tools::per_element());
            BOOST_TEST((c.auth_method == client_auth_method::client_secret_post));
            BOOST_TEST(c.audience == "orders-audience");
            BOOST_TEST(c.resource == "https://orders.example.com");
        }
    }

    // One key overridden at the endpoint, the rest from the service.
    auto cancel = resolve_ok(s, "Orders", "Cancel");
    BOOST_TEST((cancel.grant == grant_type::none));
    BOOST_TEST(cancel.client_id == "orders-id");
    BOOST_TEST(cancel.audience == "orders-audience");

    // A service without settings takes the "Services" level, not the root.
    auto inv = resolve_ok(s, "Inventory");
    BOOST_TEST((inv.grant == grant_type::client_credentials));
    BOOST_TEST(inv.client_id == "services-id");
    BOOST_TEST(inv.client_secret.reveal() == "services-secret-value");
    BOOST_TEST(inv.scope == v({"services.read"}), boost::test_tools::per_element());
    BOOST_TEST((inv.auth_method == client_auth_method::client_secret_basic));
    BOOST_TEST(inv.audience == "services-audience");
    BOOST_TEST(inv.resource == "https://services.example.com");

    // Fields resolve() does not set keep auth_config's defaults.
    auth_config defaults;
    BOOST_TEST(get.subject_token_type == defaults.subject_token_type);
    BOOST_TEST(get.requested_token_type == defaults.requested_token_type);
    BOOST_TEST(get.allow_insecure_http_on_loopback == false);
    // IsCachingAllowed / DefaultCachingLifetime reach the cache settings.
    BOOST_TEST(get.default_lifetime.count() == 630);
    BOOST_TEST(get.cache.enabled == false);
}

BOOST_AUTO_TEST_CASE(root_level_fills_gaps_through_the_chain)
{
    auto s = load_ok(R"({"TetraPak": {
        "ClientId": "root-id", "ClientSecret": "root-secret", "Audience": "root-aud",
        "Services": {"Scope": "svc.scope",
          "Orders": {"Resource": "https://orders.example.com",
            "Endpoints": {"Get": {"AuthMethod": "post"}}}}}})");
    auto c = resolve_ok(s, "Orders", "Get");
    BOOST_TEST((c.grant == grant_type::client_credentials)); // nothing sets it
    BOOST_TEST(c.client_id == "root-id");
    BOOST_TEST(c.client_secret.reveal() == "root-secret");
    BOOST_TEST(c.audience == "root-aud");
    BOOST_TEST(c.scope == v({"svc.scope"}), boost::test_tools::per_element());
    BOOST_TEST(c.resource == "https://orders.example.com");
    BOOST_TEST((c.auth_method == client_auth_method::client_secret_post));
    BOOST_TEST(c.token_endpoint.empty());
}

BOOST_AUTO_TEST_CASE(inherited_grant_counts_as_unset)
{
    auto s = load_ok(R"({"TetraPak": {"GrantType": "TokenExchange", "ClientId": "a", "ClientSecret": "b",
        "Services": {"GrantType": "Inherited",
          "Orders": {"GrantType": "inherited", "Endpoints": {"Get": {"GrantType": "INHERITED"}}}}}})");
    BOOST_TEST((s.service.at("Orders").endpoints.at("Get").auth.grant == grant_type::inherited));
    BOOST_TEST((resolve_ok(s, "Orders", "Get").grant == grant_type::token_exchange));

    auto none_set = load_ok(R"({"TetraPak": {"GrantType": "Inherited", "ClientId": "a", "ClientSecret": "b"}})");
    BOOST_TEST((resolve_ok(none_set).grant == grant_type::client_credentials));
}

BOOST_AUTO_TEST_CASE(defaults_of_an_empty_section)
{
    auto s = load_ok(R"({"TetraPak": {}})");
    BOOST_TEST(!s.environment.has_value());
    BOOST_TEST(s.discovery_document_url.empty());
    BOOST_TEST(s.token_issuer_url.empty());
    BOOST_TEST(s.authorization_header == "Authorization");
    BOOST_TEST(s.is_caching_allowed == true);
    BOOST_TEST(s.default_caching_lifetime.count() == 240);
    BOOST_TEST(s.request_message_id_header == "api-flow-id");
    BOOST_TEST(s.service.empty());
    BOOST_TEST(!s.root.grant.has_value());
    BOOST_TEST(!s.root.client_id.has_value());
}

BOOST_AUTO_TEST_CASE(null_and_empty_values_are_not_set)
{
    auto s = load_ok(R"({"TetraPak": {"ClientId": null, "ClientSecret": "", "GrantType": "", "Audience": null,
        "Environment": "", "TokenIssuerUrl": "", "DefaultCachingLifetime": null, "Services": null}})");
    BOOST_TEST(!s.root.client_id.has_value());
    BOOST_TEST(!s.root.client_secret.has_value());
    BOOST_TEST(!s.root.grant.has_value());
    BOOST_TEST(!s.root.audience.has_value());
    BOOST_TEST(!s.environment.has_value());
    BOOST_TEST(s.token_issuer_url.empty());
    BOOST_TEST(s.default_caching_lifetime.count() == 240);
}

BOOST_AUTO_TEST_CASE(file_errors)
{
    {
        diagnostics d;
        auto r = load_settings_file(fixture("bad.json"), d);
        BOOST_TEST_REQUIRE(!r.has_value());
        BOOST_TEST(r.error() == make_error_code(error::config_parse_error));
        BOOST_TEST(d.client_message().find("bad.json") != std::string_view::npos);
        BOOST_TEST(d.client_message().find("line 3") != std::string_view::npos, d.client_message());
        BOOST_TEST(str(d).find("do-not-echo") == std::string::npos);
    }
    {
        diagnostics d;
        auto r = load_settings_file(fixture("does-not-exist.json"), d);
        BOOST_TEST_REQUIRE(!r.has_value());
        BOOST_TEST(r.error() == make_error_code(error::config_parse_error));
        BOOST_TEST(d.client_message().find("does-not-exist.json") != std::string_view::npos);
    }
}

BOOST_AUTO_TEST_CASE(missing_or_malformed_section)
{
    expect_load_error(R"({"Logging": {}})", error::config_parse_error, "TetraPak");
    expect_load_error(R"({"TetraPakX": {}})", error::config_parse_error, "TetraPak");
    expect_load_error(R"([{"TetraPak": {}}])", error::config_parse_error, "TetraPak");
    expect_load_error(R"({"TetraPak": 5})", error::config_invalid_value, "TetraPak");
    expect_load_error(R"({"TetraPak": null})", error::config_invalid_value, "TetraPak");
}

BOOST_AUTO_TEST_CASE(unknown_grant_names_the_level)
{
    expect_load_error(R"({"TetraPak": {"GrantType": "Password"}})", error::config_unknown_grant,
                      "TetraPak:GrantType");
    expect_load_error(R"({"TetraPak": {"Services": {"GrantType": "implicit"}}})", error::config_unknown_grant,
                      "TetraPak:Services:GrantType");
    expect_load_error(R"({"TetraPak": {"Services": {"Orders": {"GrantType": "Token Exchange!"}}}})",
                      error::config_unknown_grant, "TetraPak:Services:Orders:GrantType");
    expect_load_error(R"({"TetraPak": {"Services": {"Orders": {"Endpoints": {"Get": {"GrantType": "cc"}}}}}})",
                      error::config_unknown_grant, "TetraPak:Services:Orders:Endpoints:Get:GrantType");
    expect_load_error(R"({"TetraPak": {"Services": {"Orders": {"Get": {"GrantType": "x"}}}}})",
                      error::config_unknown_grant, "TetraPak:Services:Orders:Get:GrantType");
    // Not a string at all: a type error, not an unknown grant.
    expect_load_error(R"({"TetraPak": {"GrantType": 1}})", error::config_invalid_value, "TetraPak:GrantType");
}

BOOST_AUTO_TEST_CASE(unknown_environment)
{
    expect_load_error(R"({"TetraPak": {"Environment": "Local"}})", error::config_unknown_environment,
                      "TetraPak:Environment");
    expect_load_error(R"({"TetraPak": {"Environment": true}})", error::config_invalid_value, "TetraPak:Environment");
}

BOOST_AUTO_TEST_CASE(wrong_types_name_the_key)
{
    struct {
        const char* json;
        const char* path;
    } const cases[] = {
        {R"({"TetraPak": {"ClientId": 5}})", "TetraPak:ClientId"},
        {R"({"TetraPak": {"ClientId": "line\nbreak"}})", "TetraPak:ClientId"},
        {R"({"TetraPak": {"ClientSecret": 12345}})", "TetraPak:ClientSecret"},
        {R"({"TetraPak": {"Scope": 5}})", "TetraPak:Scope"},
        {R"({"TetraPak": {"Scope": {"a": "b"}}})", "TetraPak:Scope"},
        {R"({"TetraPak": {"Scope": ["ok", 5]}})", "TetraPak:Scope:1"},
        {R"({"TetraPak": {"Scope": ["two words"]}})", "TetraPak:Scope:0"},
        {R"({"TetraPak": {"Scope": [""]}})", "TetraPak:Scope:0"},
        {R"({"TetraPak": {"Scope": "a \"quoted\""}})", "TetraPak:Scope"},
        {R"({"TetraPak": {"AuthMethod": "private_key_jwt"}})", "TetraPak:AuthMethod"},
        {R"({"TetraPak": {"AuthMethod": 1}})", "TetraPak:AuthMethod"},
        {R"({"TetraPak": {"Audience": {}}})", "TetraPak:Audience"},
        {R"({"TetraPak": {"Resource": []}})", "TetraPak:Resource"},
        {R"({"TetraPak": {"DiscoveryDocumentUrl": 1}})", "TetraPak:DiscoveryDocumentUrl"},
        {R"({"TetraPak": {"TokenIssuerUrl": false}})", "TetraPak:TokenIssuerUrl"},
        {R"({"TetraPak": {"AuthorizationHeader": "Bad Header"}})", "TetraPak:AuthorizationHeader"},
        {R"({"TetraPak": {"RequestMessageIdHeader": 7}})", "TetraPak:RequestMessageIdHeader"},
        {R"({"TetraPak": {"IsCachingAllowed": "yes"}})", "TetraPak:IsCachingAllowed"},
        {R"({"TetraPak": {"IsCachingAllowed": 1}})", "TetraPak:IsCachingAllowed"},
        {R"({"TetraPak": {"DefaultCachingLifetime": -1}})", "TetraPak:DefaultCachingLifetime"},
        {R"({"TetraPak": {"DefaultCachingLifetime": "abc"}})", "TetraPak:DefaultCachingLifetime"},
        {R"({"TetraPak": {"DefaultCachingLifetime": "25:00:00"}})", "TetraPak:DefaultCachingLifetime"},
        {R"({"TetraPak": {"DefaultCachingLifetime": "00:60:00"}})", "TetraPak:DefaultCachingLifetime"},
        {R"({"TetraPak": {"DefaultCachingLifetime": "-00:01:00"}})", "TetraPak:DefaultCachingLifetime"},
        {R"({"TetraPak": {"DefaultCachingLifetime": "1:2:3:4:5"}})", "TetraPak:DefaultCachingLifetime"},
        {R"({"TetraPak": {"DefaultCachingLifetime": 1e30}})", "TetraPak:DefaultCachingLifetime"},
        {R"({"TetraPak": {"DefaultCachingLifetime": true}})", "TetraPak:DefaultCachingLifetime"},
        {R"({"TetraPak": {"Services": "Orders"}})", "TetraPak:Services"},
        {R"({"TetraPak": {"Services": {"ClientId": 1}}})", "TetraPak:Services:ClientId"},
        {R"({"TetraPak": {"Services": {"Orders": {"BaseAddress": 5}}}})", "TetraPak:Services:Orders:BaseAddress"},
        {R"({"TetraPak": {"Services": {"Orders": {"Scope": [1]}}}})", "TetraPak:Services:Orders:Scope:0"},
        {R"({"TetraPak": {"Services": {"Orders": {"Endpoints": "x"}}}})", "TetraPak:Services:Orders:Endpoints"},
        {R"({"TetraPak": {"Services": {"Orders": {"Endpoints": {"Get": 5}}}}})",
         "TetraPak:Services:Orders:Endpoints:Get"},
        {R"({"TetraPak": {"Services": {"Orders": {"Endpoints": {"Get": {"Path": 5}}}}}})",
         "TetraPak:Services:Orders:Endpoints:Get:Path"},
        {R"({"TetraPak": {"Services": {"Orders": {"Endpoints": {"Get": {"Audience": 5}}}}}})",
         "TetraPak:Services:Orders:Endpoints:Get:Audience"},
        {R"({"TetraPak": {"Services": {"Orders": {"Get": {"ClientId": 5}}}}})", "TetraPak:Services:Orders:Get:ClientId"},
        {R"({"TetraPak": {"Services": {"Orders": {"Get": "/has space"}}}})", "TetraPak:Services:Orders:Get"},
    };
    for (auto& c : cases)
        expect_load_error(c.json, error::config_invalid_value, c.path);
}

BOOST_AUTO_TEST_CASE(urls_must_be_absolute_https)
{
    for (auto bad : {"http://login.example.com/token", "login.example.com/token", "/token", "ftp://example.com/x",
                     "https://user:pw@login.example.com/token", "https://login.example.com/token#frag", "https://",
                     "http://127.0.0.1:8080/token", "not a url"}) {
        BOOST_TEST_CONTEXT(bad)
        {
            std::string u = boost::json::serialize(boost::json::value(bad));
            expect_load_error(R"({"TetraPak": {"DiscoveryDocumentUrl": )" + u + "}}", error::config_bad_url,
                              "TetraPak:DiscoveryDocumentUrl");
            expect_load_error(R"({"TetraPak": {"TokenIssuerUrl": )" + u + "}}", error::config_bad_url,
                              "TetraPak:TokenIssuerUrl");
            expect_load_error(R"({"TetraPak": {"Services": {"Orders": {"BaseAddress": )" + u + "}}}}",
                              error::config_bad_url, "TetraPak:Services:Orders:BaseAddress");
        }
    }
    // An absolute endpoint path is a URL too.
    expect_load_error(R"({"TetraPak": {"Services": {"Orders": {"Endpoints": {"Get": {"Path": "http://x.example.com/a"}}}}}})",
                      error::config_bad_url, "TetraPak:Services:Orders:Endpoints:Get:Path");
    expect_load_error(R"({"TetraPak": {"Services": {"Orders": {"Get": "http://x.example.com/a"}}}})",
                      error::config_bad_url, "TetraPak:Services:Orders:Get");

    // Settings built in code are checked by resolve() as well.
    tetrapak_settings s;
    s.root.grant = grant_type::none;
    s.token_issuer_url = "http://login.example.com/token";
    diagnostics d;
    auto r = s.resolve("", "", no_env, d);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error() == make_error_code(error::config_bad_url));
    BOOST_TEST(d.client_message() == "TetraPak:TokenIssuerUrl");
}

BOOST_AUTO_TEST_CASE(missing_credentials_name_the_keys_looked_at)
{
    struct {
        const char* json;
        const char* service;
        const char* endpoint;
        error code;
        const char* keys;
    } const cases[] = {
        {R"({"TetraPak": {"ClientSecret": "s3cr3t-A"}})", "", "", error::missing_client_id, "TetraPak:ClientId"},
        {R"({"TetraPak": {"ClientId": "id"}})", "", "", error::missing_client_secret, "TetraPak:ClientSecret"},
        {R"({"TetraPak": {"ClientId": "id", "GrantType": "TokenExchange"}})", "", "", error::missing_client_secret,
         "TetraPak:ClientSecret"},
        {R"({"TetraPak": {"ClientSecret": "s3cr3t-A", "GrantType": "Automatic"}})", "", "", error::missing_client_id,
         "TetraPak:ClientId"},
        {R"({"TetraPak": {"ClientId": "id", "Services": {"Orders": {}}}})", "Orders", "",
         error::missing_client_secret,
         "TetraPak:Services:Orders:ClientSecret, TetraPak:Services:ClientSecret, TetraPak:ClientSecret"},
        {R"({"TetraPak": {"ClientSecret": "s3cr3t-A", "Services": {"Orders": {"Endpoints": {"Get": "/x"}}}}})",
         "Orders", "Get", error::missing_client_id,
         "TetraPak:Services:Orders:Endpoints:Get:ClientId, TetraPak:Services:Orders:ClientId, "
         "TetraPak:Services:ClientId, TetraPak:ClientId"},
        // The endpoint needs credentials although the service does not.
        {R"({"TetraPak": {"Services": {"Orders": {"GrantType": "None", "Get": {"GrantType": "ClientCredentials",
            "ClientId": "id"}}}}})",
         "Orders", "Get", error::missing_client_secret,
         "TetraPak:Services:Orders:Endpoints:Get:ClientSecret, TetraPak:Services:Orders:ClientSecret, "
         "TetraPak:Services:ClientSecret, TetraPak:ClientSecret"},
    };
    for (auto& c : cases) {
        BOOST_TEST_CONTEXT(c.json)
        {
            auto s = load_ok(c.json);
            diagnostics d;
            auto r = s.resolve(c.service, c.endpoint, no_env, d);
            BOOST_TEST_REQUIRE(!r.has_value());
            BOOST_TEST(r.error() == make_error_code(c.code));
            BOOST_TEST(d.client_message() == c.keys);
            BOOST_TEST(str(d).find("s3cr3t") == std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(grant_none_needs_no_credentials)
{
    auto s = load_ok(R"({"TetraPak": {"GrantType": "none", "Services": {"Orders": {"Get": "/x"}}}})");
    bool asked = false;
    s.secrets_provider = [&](std::string_view) -> std::optional<client_credentials> {
        asked = true;
        return std::nullopt;
    };
    auto c = resolve_ok(s, "Orders", "Get");
    BOOST_TEST((c.grant == grant_type::none));
    BOOST_TEST(c.client_id.empty());
    BOOST_TEST(c.client_secret.empty());
    BOOST_TEST(!asked);
}

BOOST_AUTO_TEST_CASE(unknown_service_or_endpoint)
{
    auto s = load_full();
    struct {
        const char* service;
        const char* endpoint;
        const char* path;
    } const cases[] = {
        {"Billing", "", "TetraPak:Services:Billing"},
        {"Billing", "Get", "TetraPak:Services:Billing"},
        {"Orders", "Delete", "TetraPak:Services:Orders:Endpoints:Delete"},
        {"Inventory", "Get", "TetraPak:Services:Inventory:Endpoints:Get"},
        {"", "Get", "TetraPak:Services::Endpoints:Get"},
    };
    for (auto& c : cases) {
        BOOST_TEST_CONTEXT(c.service << '/' << c.endpoint)
        {
            diagnostics d;
            auto r = s.resolve(c.service, c.endpoint, no_env, d);
            BOOST_TEST_REQUIRE(!r.has_value());
            BOOST_TEST(r.error() == make_error_code(error::config_unknown_service));
            BOOST_TEST(d.client_message() == c.path);
        }
    }
}

BOOST_AUTO_TEST_CASE(environment_selection)
{
    tetrapak_settings s;
    fake_env env;
    diagnostics d;
    auto eff = [&] { return s.effective_environment(env.getenv(), d); };

    BOOST_TEST((eff().value() == runtime_environment::production)); // nothing set
    BOOST_TEST((s.effective_environment(nullptr, d).value() == runtime_environment::production));

    env.vars["DOTNET_ENVIRONMENT"] = "Sandbox";
    BOOST_TEST((eff().value() == runtime_environment::sandbox));

    env.vars["ASPNETCORE_ENVIRONMENT"] = "Development"; // wins over DOTNET_ENVIRONMENT
    BOOST_TEST((eff().value() == runtime_environment::development));

    s.environment = runtime_environment::migration; // the configuration wins over both
    BOOST_TEST((eff().value() == runtime_environment::migration));

    s.environment.reset();
    env.vars["ASPNETCORE_ENVIRONMENT"] = ""; // empty: as if unset
    BOOST_TEST((eff().value() == runtime_environment::sandbox));

    env.vars["ASPNETCORE_ENVIRONMENT"] = "staging";
    BOOST_TEST((eff().value() == runtime_environment::migration));

    env.vars["ASPNETCORE_ENVIRONMENT"] = "Local";
    auto r = eff();
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error() == make_error_code(error::config_unknown_environment));
    BOOST_TEST(d.client_message() == "ASPNETCORE_ENVIRONMENT");

    env.vars.erase("ASPNETCORE_ENVIRONMENT");
    env.vars["DOTNET_ENVIRONMENT"] = "Qa";
    d.clear();
    r = eff();
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error() == make_error_code(error::config_unknown_environment));
    BOOST_TEST(d.client_message() == "DOTNET_ENVIRONMENT");

    // resolve() reports it too, when it needs the environment for the discovery URL.
    s.root.grant = grant_type::none;
    d.clear();
    auto rr = s.resolve("", "", env.getenv(), d);
    BOOST_TEST_REQUIRE(!rr.has_value());
    BOOST_TEST(rr.error() == make_error_code(error::config_unknown_environment));
    BOOST_TEST(d.client_message() == "DOTNET_ENVIRONMENT");
}

BOOST_AUTO_TEST_CASE(default_authorities)
{
    struct {
        runtime_environment env;
        const char* authority;
        const char* name;
    } const cases[] = {
        {runtime_environment::production, "https://api.tetrapak.com", "production"},
        {runtime_environment::migration, "https://api-mig.tetrapak.com", "migration"},
        {runtime_environment::development, "https://api-dev.tetrapak.com", "development"},
        {runtime_environment::sandbox, "https://api-sb.tetrapak.com", "sandbox"},
    };
    for (auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name)
        {
            BOOST_TEST(default_authority(c.env) == c.authority);
            BOOST_TEST(to_string(c.env) == c.name);

            // Through the configuration...
            auto s = load_ok(std::string(R"({"TetraPak": {"GrantType": "None", "Environment": ")") + c.name + "\"}}");
            auto cfg = resolve_ok(s);
            BOOST_TEST(cfg.discovery_document_url == std::string(c.authority) + "/.well-known/openid-configuration");
            BOOST_TEST(cfg.token_endpoint.empty());

            // ... and through ASPNETCORE_ENVIRONMENT.
            s.environment.reset();
            fake_env env;
            env.vars["ASPNETCORE_ENVIRONMENT"] = c.name;
            diagnostics d;
            auto r = s.resolve("", "", env.getenv(), d);
            BOOST_TEST_REQUIRE(r.has_value());
            BOOST_TEST(r->discovery_document_url == std::string(c.authority) + "/.well-known/openid-configuration");
        }
    }
    // An explicit DiscoveryDocumentUrl wins over the environment's authority.
    auto s = load_ok(R"({"TetraPak": {"GrantType": "None", "Environment": "Sandbox",
        "DiscoveryDocumentUrl": "https://idp.example.com/.well-known/openid-configuration"}})");
    BOOST_TEST(resolve_ok(s).discovery_document_url == "https://idp.example.com/.well-known/openid-configuration");
}

BOOST_AUTO_TEST_CASE(name_parsers)
{
    using re = runtime_environment;
    BOOST_TEST((parse_environment("Production") == re::production));
    BOOST_TEST((parse_environment("PRODUCTION") == re::production));
    BOOST_TEST((parse_environment("migration") == re::migration));
    BOOST_TEST((parse_environment("Test") == re::migration));
    BOOST_TEST((parse_environment("Staging") == re::migration));
    BOOST_TEST((parse_environment("development") == re::development));
    BOOST_TEST((parse_environment("SandBox") == re::sandbox));
    BOOST_TEST(!parse_environment("").has_value());
    BOOST_TEST(!parse_environment("Prod").has_value());
    BOOST_TEST(!parse_environment("Productionx").has_value());

    using g = grant_type;
    BOOST_TEST((parse_grant_type("None") == g::none));
    BOOST_TEST((parse_grant_type("TokenExchange") == g::token_exchange));
    BOOST_TEST((parse_grant_type("token_exchange") == g::token_exchange));
    BOOST_TEST((parse_grant_type("TOKENEXCHANGE") == g::token_exchange));
    BOOST_TEST((parse_grant_type("ClientCredentials") == g::client_credentials));
    BOOST_TEST((parse_grant_type("client_credentials") == g::client_credentials));
    BOOST_TEST((parse_grant_type("automatic") == g::automatic));
    BOOST_TEST((parse_grant_type("Inherited") == g::inherited));
    for (auto gt : {g::none, g::token_exchange, g::client_credentials, g::automatic, g::inherited})
        BOOST_TEST((parse_grant_type(to_string(gt)) == gt));
    BOOST_TEST(!parse_grant_type("").has_value());
    BOOST_TEST(!parse_grant_type("password").has_value());
    BOOST_TEST(!parse_grant_type("ClientCredential").has_value());
    BOOST_TEST(!parse_grant_type("ClientCredentialsX").has_value());
}

BOOST_AUTO_TEST_CASE(value_forms)
{
    // Scope: whitespace-separated string, array, or empty (which overrides an inherited scope).
    auto s = load_ok(R"({"TetraPak": {"ClientId": "a", "ClientSecret": "b", "Scope": " a\tb  c\n",
        "Services": {"Orders": {"Scope": "", "Get": "/x"}, "Billing": {"Scope": []}}}})");
    BOOST_TEST(*s.root.scope == v({"a", "b", "c"}), boost::test_tools::per_element());
    BOOST_TEST(resolve_ok(s, "Orders", "Get").scope.empty());
    BOOST_TEST(resolve_ok(s, "Billing").scope.empty());

    // DefaultCachingLifetime: seconds (number or string) or a TimeSpan.
    struct {
        const char* json;
        long long seconds;
    } const lifetimes[] = {
        {"90", 90},         {"0", 0},           {"12.9", 12},          {R"("300")", 300},
        {R"(" 45 ")", 45},  {R"("00:05:00")", 300}, {R"("01:02:03")", 3723}, {R"("1.02:00:00")", 93600},
        {R"("00:01")", 60}, {R"("00:00:10.5")", 10}, {R"("2:00:00:00")", 172800},
    };
    for (auto& l : lifetimes) {
        BOOST_TEST_CONTEXT(l.json)
        {
            auto t = load_ok(std::string(R"({"TetraPak": {"DefaultCachingLifetime": )") + l.json + "}}");
            BOOST_TEST(t.default_caching_lifetime.count() == l.seconds);
        }
    }

    // IsCachingAllowed: bool or its string form.
    BOOST_TEST(load_ok(R"({"TetraPak": {"IsCachingAllowed": false}})").is_caching_allowed == false);
    BOOST_TEST(load_ok(R"({"TetraPak": {"IsCachingAllowed": "False"}})").is_caching_allowed == false);
    BOOST_TEST(load_ok(R"({"TetraPak": {"IsCachingAllowed": "TRUE"}})").is_caching_allowed == true);

    // AuthMethod names.
    auto method = [](const char* m) {
        return load_ok(std::string(R"({"TetraPak": {"AuthMethod": ")") + m + "\"}}").root.auth_method.value();
    };
    BOOST_TEST((method("client_secret_basic") == client_auth_method::client_secret_basic));
    BOOST_TEST((method("CLIENT_SECRET_POST") == client_auth_method::client_secret_post));
    BOOST_TEST((method("ClientSecretPost") == client_auth_method::client_secret_post));
    BOOST_TEST((method("basic") == client_auth_method::client_secret_basic));
    BOOST_TEST((method("Post") == client_auth_method::client_secret_post));
}

BOOST_AUTO_TEST_CASE(keys_and_names_are_case_insensitive)
{
    auto s = load_ok(R"({"tetrapak": {"clientid": "id", "CLIENTSECRET": "sec", "granttype": "tokenexchange",
        "environment": "SANDBOX", "tokenissuerurl": "https://login.example.com/token",
        "services": {"orders": {"baseaddress": "https://orders.example.com",
            "endpoints": {"get": {"path": "/x", "GRANTTYPE": "NONE", "authmethod": "CLIENT_SECRET_POST"}}},
          "ORDERS": {"AUDIENCE": "merged-audience", "Get": {"Audience": "get-aud"}}}}})");
    BOOST_TEST((s.environment == runtime_environment::sandbox));
    BOOST_TEST(s.token_issuer_url == "https://login.example.com/token");
    BOOST_TEST_REQUIRE(s.service.size() == 1u); // "orders" and "ORDERS" are one service
    auto& orders = s.service.begin()->second;
    BOOST_TEST(s.service.begin()->first == "orders");
    BOOST_TEST(orders.base_address == "https://orders.example.com");
    BOOST_TEST(*orders.auth.audience == "merged-audience");
    BOOST_TEST_REQUIRE(orders.endpoints.size() == 1u);
    BOOST_TEST(orders.endpoints.begin()->second.path == "/x");

    auto get = resolve_ok(s, "Orders", "GET");
    BOOST_TEST((get.grant == grant_type::none));
    BOOST_TEST((get.auth_method == client_auth_method::client_secret_post));
    BOOST_TEST(get.audience == "get-aud");
    auto svc = resolve_ok(s, "oRdErS");
    BOOST_TEST((svc.grant == grant_type::token_exchange));
    BOOST_TEST(svc.client_id == "id");
    BOOST_TEST(svc.audience == "merged-audience");
    // A later spelling of the same key wins, as in .NET configuration.
    BOOST_TEST(*load_ok(R"({"TetraPak": {"ClientId": "first", "CLIENTID": "second"}})").root.client_id == "second");
}

BOOST_AUTO_TEST_CASE(secrets_provider_precedence)
{
    auto s = load_full();
    std::vector<std::string> asked;
    s.secrets_provider = [&](std::string_view service) -> std::optional<client_credentials> {
        asked.emplace_back(service);
        if (service == "Orders")
            return client_credentials{"vault-orders-id", secret("vault-orders-secret")};
        if (service.empty())
            return client_credentials{"vault-root-id", secret("vault-root-secret")};
        return std::nullopt;
    };
    // The provider wins over every configuration level, endpoint included.
    auto get = resolve_ok(s, "orders", "Get");
    BOOST_TEST(get.client_id == "vault-orders-id");
    BOOST_TEST(get.client_secret.reveal() == "vault-orders-secret");
    BOOST_TEST(get.audience == "get-audience"); // the rest still comes from the configuration
    // Falls back to the configuration when it has nothing.
    auto inv = resolve_ok(s, "Inventory");
    BOOST_TEST(inv.client_id == "services-id");
    BOOST_TEST(inv.client_secret.reveal() == "services-secret-value");
    // Root: asked with "" (the root grant is None in full.json, so switch it).
    s.root.grant = grant_type::client_credentials;
    auto root = resolve_ok(s);
    BOOST_TEST(root.client_id == "vault-root-id");
    BOOST_TEST(root.client_secret.reveal() == "vault-root-secret");
    BOOST_TEST(asked == v({"Orders", "Inventory", ""}), boost::test_tools::per_element());

    // The provider supplies credentials the configuration lacks.
    auto bare = load_ok(R"({"TetraPak": {"Services": {"Orders": {}}}})");
    bare.secrets_provider = [](std::string_view) -> std::optional<client_credentials> {
        return client_credentials{"id", secret("from-vault")};
    };
    BOOST_TEST(resolve_ok(bare, "Orders").client_secret.reveal() == "from-vault");

    // It supplies both: an empty secret from it is missing, even if the file has one.
    auto half = load_ok(R"({"TetraPak": {"ClientId": "a", "ClientSecret": "file-s3cr3t"}})");
    half.secrets_provider = [](std::string_view) -> std::optional<client_credentials> {
        return client_credentials{"vault-id", secret()};
    };
    diagnostics d;
    auto r = half.resolve("", "", no_env, d);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error() == make_error_code(error::missing_client_secret));
    BOOST_TEST(d.client_message().find("secrets provider") != std::string_view::npos);
    BOOST_TEST(str(d).find("s3cr3t") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(environment_variables_override_the_file)
{
    auto s = load_full();
    const char* entries[] = {
        "PATH=/usr/bin:/bin",
        "TetraPakX__ClientId=ignored",
        "TETRAPAK_CLIENTID=ignored",            // single underscore: not a level separator
        "TetraPak__Unknown__Thing=ignored",
        "NoEqualsSign",
        "TetraPak__ClientId=env-root-id",
        "TETRAPAK__SERVICES__ORDERS__GRANTTYPE=ClientCredentials",
        "tetrapak__services__orders__endpoints__get__path=/v2/orders/{id}",
        "TetraPak__Services__Orders__Get__Audience=env-get-audience",
        "TetraPak__Services__Orders__Refund=/refund",
        "TetraPak__Services__Orders__Health__Path=/healthz",
        "TetraPak__Services__Billing__BaseAddress=https://billing.example.com",
        "TetraPak__Services__Billing__ClientSecret=env-billing-secret",
        "TetraPak__Services__Scope=env.services",
        "TetraPak__IsCachingAllowed=TRUE",
        "TetraPak__DefaultCachingLifetime=00:01:30",
        "TetraPak__Environment=sandbox",
        "TetraPak__Scope__1=second",
        "TetraPak__Scope__0=first",
        "TetraPak__TokenIssuerUrl=https://env.example.com/token",
        "TetraPak__Audience=",                  // empty: leaves the file's value
        nullptr,
    };
    diagnostics d;
    auto r = apply_environment_variables(s, entries, d);
    BOOST_TEST_REQUIRE(r.has_value(), d);

    BOOST_TEST(*s.root.client_id == "env-root-id");
    BOOST_TEST(*s.root.audience == "root-audience");
    BOOST_TEST(*s.root.scope == v({"first", "second"}), boost::test_tools::per_element());
    BOOST_TEST(s.is_caching_allowed == true);
    BOOST_TEST(s.default_caching_lifetime.count() == 90);
    BOOST_TEST((s.environment == runtime_environment::sandbox));
    BOOST_TEST(s.token_issuer_url == "https://env.example.com/token");
    BOOST_TEST_REQUIRE(s.service.size() == 3u); // ORDERS is Orders; Billing is new
    auto& orders = s.service.at("Orders");
    BOOST_TEST(orders.endpoints.at("Get").path == "/v2/orders/{id}");
    BOOST_TEST(orders.endpoints.at("Refund").path == "/refund");
    BOOST_TEST(orders.endpoints.at("Health").path == "/healthz");
    BOOST_TEST(s.service.at("Billing").base_address == "https://billing.example.com");

    // Through resolve(): the service's grant now comes from the environment, the
    // endpoint's own grant still wins, and untouched file values remain.
    BOOST_TEST((resolve_ok(s, "Orders", "List").grant == grant_type::client_credentials));
    auto get = resolve_ok(s, "Orders", "Get");
    BOOST_TEST((get.grant == grant_type::automatic));
    BOOST_TEST(get.client_id == "get-id");
    BOOST_TEST(get.audience == "env-get-audience");
    BOOST_TEST(get.token_endpoint == "https://env.example.com/token");
    auto billing = resolve_ok(s, "Billing");
    BOOST_TEST(billing.client_id == "services-id");
    BOOST_TEST(billing.client_secret.reveal() == "env-billing-secret");
    BOOST_TEST(billing.scope == v({"env.services"}), boost::test_tools::per_element());

    // No entries at all.
    BOOST_TEST(apply_environment_variables(s, nullptr, d).has_value());
    const char* none[] = {nullptr};
    BOOST_TEST(apply_environment_variables(s, none, d).has_value());
}

BOOST_AUTO_TEST_CASE(proxy_keys_load_resolve_and_are_checked)
{
    auto s = load_ok(R"({"TetraPak": {"ClientId": "id", "ClientSecret": "s", "TokenIssuerUrl": "https://as.example.com/token",
        "Proxy": "http://proxy.corp:3128", "NoProxy": ".corp, 10.0.0.0/8", "ProxyUsername": "u",
        "ProxyPassword": "p@ss"}})");
    auto cfg = resolve_ok(s);
    BOOST_TEST(cfg.proxy.url == "http://proxy.corp:3128");
    BOOST_TEST(cfg.proxy.no_proxy == ".corp, 10.0.0.0/8");
    BOOST_TEST(cfg.proxy.username == "u");
    BOOST_TEST(cfg.proxy.password.reveal() == "p@ss");
    std::ostringstream printed;
    printed << cfg;
    BOOST_TEST(printed.str().find("p@ss") == std::string::npos);

    auto none = load_ok(R"({"TetraPak": {"proxy": "NONE"}})"); // keys ignore case; "none" is a value
    BOOST_TEST(none.proxy.url == "NONE");
    expect_load_error(R"({"TetraPak": {"Proxy": "https://proxy.corp:3128"}})", error::config_invalid_value,
                      "TetraPak:Proxy");
    expect_load_error(R"({"TetraPak": {"Proxy": "http://proxy.corp:3128/path"}})", error::config_invalid_value,
                      "TetraPak:Proxy");
    expect_load_error(R"({"TetraPak": {"NoProxy": 5}})", error::config_invalid_value, "TetraPak:NoProxy");
    expect_env_error(tetrapak_settings{}, "TetraPak__Proxy=http://:1", error::config_invalid_value, "TetraPak:Proxy");

    tetrapak_settings e;
    const char* entries[] = {"TetraPak__Proxy=http://env-proxy:8080", "TetraPak__NoProxy=*", nullptr};
    diagnostics d;
    BOOST_TEST_REQUIRE(apply_environment_variables(e, entries, d).has_value(), d);
    BOOST_TEST(e.proxy.url == "http://env-proxy:8080");
    BOOST_TEST(e.proxy.no_proxy == "*");
}

BOOST_AUTO_TEST_CASE(environment_variables_are_validated)
{
    auto s = load_full();
    expect_env_error(s, "TetraPak__Services__Orders__GrantType=Sometimes", error::config_unknown_grant,
                     "TetraPak:Services:Orders:GrantType");
    expect_env_error(s, "TETRAPAK__SERVICES__ORDERS__GRANTTYPE=Sometimes", error::config_unknown_grant,
                     "TetraPak:Services:Orders:GrantType");
    expect_env_error(s, "TetraPak__Environment=Local", error::config_unknown_environment, "TetraPak:Environment");
    expect_env_error(s, "TetraPak__TokenIssuerUrl=http://login.example.com/token", error::config_bad_url,
                     "TetraPak:TokenIssuerUrl");
    expect_env_error(s, "TetraPak__Services__Orders__BaseAddress=orders.example.com", error::config_bad_url,
                     "TetraPak:Services:Orders:BaseAddress");
    expect_env_error(s, "TetraPak__Services__Orders__Endpoints__Get__GrantType=bad", error::config_unknown_grant,
                     "TetraPak:Services:Orders:Endpoints:Get:GrantType");
    expect_env_error(s, "TetraPak__Services__Orders__Get__Path=http://x.example.com/", error::config_bad_url,
                     "TetraPak:Services:Orders:Get:Path");
    expect_env_error(s, "TetraPak__IsCachingAllowed=maybe", error::config_invalid_value, "TetraPak:IsCachingAllowed");
    expect_env_error(s, "TetraPak__DefaultCachingLifetime=soon", error::config_invalid_value,
                     "TetraPak:DefaultCachingLifetime");
    expect_env_error(s, "TetraPak__AuthMethod=tls_client_auth", error::config_invalid_value, "TetraPak:AuthMethod");
    expect_env_error(s, "TetraPak__Services__Orders__Endpoints=/x", error::config_invalid_value,
                     "TetraPak:Services:Orders:Endpoints");
    expect_env_error(s, "TetraPak__Scope__0=bad\"scope", error::config_invalid_value, "TetraPak:Scope:0");
}

BOOST_AUTO_TEST_CASE(no_secret_in_diagnostics)
{
    const std::string secret_value = "TOPSECRET-4711";
    std::vector<std::string> messages;
    auto record = [&](const diagnostics& d) { messages.push_back(str(d)); };

    // A secret of the wrong type, and a secret next to an error.
    for (auto json : {R"({"TetraPak": {"ClientSecret": {"value": "TOPSECRET-4711"}}})",
                      R"({"TetraPak": {"ClientSecret": ["TOPSECRET-4711"]}})",
                      R"({"TetraPak": {"ClientSecret": "TOPSECRET-4711", "GrantType": "TOPSECRET-4711"}})",
                      R"({"TetraPak": {"ClientSecret": "TOPSECRET-4711", "AuthMethod": "TOPSECRET-4711"}})",
                      R"({"TetraPak": {"ClientSecret": "TOPSECRET-4711", "Environment": "TOPSECRET-4711"}})",
                      R"({"TetraPak": {"TokenIssuerUrl": "https://u:TOPSECRET-4711@x.example.com/"}})"}) {
        diagnostics d;
        BOOST_TEST(!load(json, d).has_value());
        record(d);
    }
    // Missing id while the secret is present, at every level.
    auto s = load_ok(R"({"TetraPak": {"ClientSecret": "TOPSECRET-4711",
        "Services": {"ClientSecret": "TOPSECRET-4711", "Orders": {"ClientSecret": "TOPSECRET-4711",
          "Get": {"Path": "/x", "ClientSecret": "TOPSECRET-4711"}}}}})");
    for (auto [svc, ep] : {std::pair{"", ""}, std::pair{"Orders", ""}, std::pair{"Orders", "Get"}}) {
        diagnostics d;
        auto r = s.resolve(svc, ep, no_env, d);
        BOOST_TEST_REQUIRE(!r.has_value());
        BOOST_TEST(r.error() == make_error_code(error::missing_client_id));
        record(d);
    }
    // Environment variables carrying the secret.
    {
        std::string a = "TetraPak__ClientSecret=" + secret_value, b = "TetraPak__GrantType=" + secret_value;
        const char* entries[] = {a.c_str(), b.c_str(), nullptr};
        diagnostics d;
        BOOST_TEST(!apply_environment_variables(s, entries, d).has_value());
        record(d);
    }
    // A file with the secret next to a syntax error.
    {
        diagnostics d;
        BOOST_TEST(!load_settings_file(fixture("bad.json"), d).has_value());
        record(d);
    }
    for (auto& m : messages) {
        BOOST_TEST_CONTEXT(m)
        {
            BOOST_TEST(!m.empty());
            BOOST_TEST(m.find("TOPSECRET") == std::string::npos);
            BOOST_TEST(m.find("do-not-echo") == std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
