// A TetraPak configuration file, with per-service and per-endpoint overrides,
// drives real requests: the server sees the grant, client and audience each
// level asked for.
#include "oidc_server.hpp"
#include "fetch.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace tetrapak;
namespace asio = boost::asio;
using boost::system::error_code;

namespace {


std::string write_config(const std::string& text)
{
    auto path = std::filesystem::temp_directory_path() / ("tetrapak-config-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path) << text;
    return path.string();
}

const char* no_env(const char*) { return nullptr; }

/// The resolved configuration, trusting the test CA.
test::fetched fetch(auth_config cfg, const actor_token& subject = {})
{
    cfg.tls.ca_file = test::oidc_server::ca_file();
    return test::fetch(cfg, subject);
}

} // namespace

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(overrides_are_honoured_by_the_server)
{
    auto& server = test::default_server();
    auto path = write_config(R"({
      "TetraPak": {
        "Environment": "Development",
        "DiscoveryDocumentUrl": ")" + server.issuer() + R"(/.well-known/openid-configuration",
        "ClientId": "basic-client",
        "ClientSecret": "basic-secret",
        "GrantType": "ClientCredentials",
        "Services": {
          "GrantType": "TokenExchange",
          "Orders": {
            "BaseAddress": "https://orders.example.com",
            "Audience": "urn:tetrapak:orders",
            "Scope": "read write",
            "Endpoints": {
              "Health": {
                "Path": "/health",
                "GrantType": "ClientCredentials",
                "ClientId": "post-client",
                "ClientSecret": "post-secret",
                "AuthMethod": "client_secret_post",
                "Resource": "urn:tetrapak:test-api"
              }
            }
          }
        }
      }
    })");
    diagnostics d;
    auto settings = load_settings_file(path, d);
    std::filesystem::remove(path);
    BOOST_TEST_REQUIRE(settings.has_value(), d);

    // root: client credentials for basic-client, token endpoint from discovery
    auto root = settings->resolve("", "", no_env, d);
    BOOST_TEST_REQUIRE(root.has_value(), d);
    server.reset_stats();
    auto r = fetch(*root);
    BOOST_TEST_REQUIRE(!r.ec, r.ec.message() << ' ' << r.diag);
    BOOST_TEST(server.stat("discovery_requests") == 1);
    BOOST_TEST(server.stat("exchange_requests") == 0);

    // service: the Services-level TokenExchange and the service's audience
    auto orders = settings->resolve("Orders", "", no_env, d);
    BOOST_TEST_REQUIRE(orders.has_value(), d);
    auto o = fetch(*orders, actor_token(server.user_token("hanna")));
    BOOST_TEST_REQUIRE(!o.ec, o.ec.message() << ' ' << o.diag);
    BOOST_TEST(server.stat("exchange_requests") == 1);
    BOOST_TEST((o.token.string_claim("aud") == std::string_view("urn:tetrapak:orders")));
    BOOST_TEST(o.token.scope().size() == 2u);

    // endpoint: its own grant, client, auth method and resource win
    auto health = settings->resolve("Orders", "Health", no_env, d);
    BOOST_TEST_REQUIRE(health.has_value(), d);
    BOOST_TEST((health->auth_method == client_auth_method::client_secret_post));
    auto h = fetch(*health, actor_token(server.user_token("ivan")));
    BOOST_TEST_REQUIRE(!h.ec, h.ec.message() << ' ' << h.diag);
    BOOST_TEST(server.stat("exchange_requests") == 1); // client credentials, not another exchange
    BOOST_TEST_REQUIRE(h.token.is_jwt());
    BOOST_TEST((h.token.string_claim("client_id") == std::string_view("post-client")));
}

BOOST_AUTO_TEST_CASE(a_wrong_secret_in_the_file_reaches_the_server_as_invalid_client)
{
    auto& server = test::default_server();
    auto path = write_config(R"({"TetraPak":{"TokenIssuerUrl":")" + server.token_endpoint() +
                             R"(","ClientId":"basic-client","ClientSecret":"nope"}})");
    diagnostics d;
    auto settings = load_settings_file(path, d);
    std::filesystem::remove(path);
    BOOST_TEST_REQUIRE(settings.has_value(), d);
    auto cfg = settings->resolve("", "", no_env, d);
    BOOST_TEST_REQUIRE(cfg.has_value(), d);
    auto f = fetch(*cfg);
    BOOST_TEST(f.ec == oauth_errc::invalid_client);
}

BOOST_AUTO_TEST_SUITE_END()
