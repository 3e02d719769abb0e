// Token exchange (RFC 8693), the Automatic grant, grant None, and every client
// authentication method, against the real oidc-provider over TLS.
#include "oidc_server.hpp"
#include "fetch.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;
using test::default_server;
using test::fetch;

namespace {


std::string act_sub(const actor_token& t)
{
    auto it = t.claims().find("act");
    if (it == t.claims().end() || !it->value().is_object())
        return {};
    auto s = it->value().as_object().find("sub");
    return s == it->value().as_object().end() ? std::string() : std::string(s->value().as_string());
}

auth_config exchange_config()
{
    auto cfg = test::basic_client(default_server());
    cfg.grant = grant_type::token_exchange;
    cfg.audience = "urn:tetrapak:orders";
    cfg.scope = {"read"};
    return cfg;
}

std::string cert(const char* name) { return test::cert_dir() + "/" + name; }

} // namespace

BOOST_AUTO_TEST_SUITE(token_exchange)

BOOST_AUTO_TEST_CASE(user_jwt_is_exchanged_for_a_downstream_audience)
{
    auto& server = default_server();
    actor_token subject(server.user_token("alice", "User"));
    BOOST_TEST_REQUIRE(subject.is_jwt());
    auto f = fetch(exchange_config(), subject);
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST_REQUIRE(f.token.is_jwt());
    BOOST_TEST((f.token.string_claim("sub") == std::string_view("alice")));
    BOOST_TEST((f.token.string_claim("aud") == std::string_view("urn:tetrapak:orders")));
    BOOST_TEST(act_sub(f.token) == "basic-client");
    BOOST_TEST(f.token.issued_token_type() == "urn:ietf:params:oauth:token-type:access_token");
    BOOST_TEST(f.token.scope().size() == 1u);
    BOOST_TEST((*f.token.expires_at() <= *subject.expires_at() + 2s));
    BOOST_TEST(f.token.value() != subject.value());
}

BOOST_AUTO_TEST_CASE(exchanged_token_never_outlives_its_subject)
{
    auto& server = default_server();
    actor_token subject(server.user_token("bob", "User", 5));
    auto f = fetch(exchange_config(), subject);
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST((*f.token.expires_at() <= *subject.expires_at() + 1s));
}

BOOST_AUTO_TEST_CASE(system_identity_is_refused_without_a_request)
{
    auto& server = default_server();
    actor_token subject(server.user_token("robot", "system"));
    server.reset_stats();
    auto f = fetch(exchange_config(), subject);
    BOOST_TEST(f.ec == error::system_identity_refused);
    BOOST_TEST(server.stat("token_requests") == 0);
}

BOOST_AUTO_TEST_CASE(bad_subject_is_invalid_grant_with_the_reason)
{
    auto f = fetch(exchange_config(), actor_token("not-a-jwt-at-all"));
    BOOST_TEST(f.ec == oauth_errc::invalid_grant);
    BOOST_TEST(f.diag.error_description() == "subject_token is not a JWT");
    BOOST_TEST(f.diag.http_status() == 400u);
}

BOOST_AUTO_TEST_CASE(foreign_audience_is_invalid_target)
{
    auto cfg = exchange_config();
    cfg.audience = "https://evil.example";
    auto f = fetch(cfg, actor_token(default_server().user_token("carol")));
    BOOST_TEST(f.ec == oauth_errc::invalid_target);
}

BOOST_AUTO_TEST_CASE(exchange_with_post_authentication)
{
    auto cfg = exchange_config();
    cfg.client_id = "post-client";
    cfg.client_secret = "post-secret";
    cfg.auth_method = client_auth_method::client_secret_post;
    auto f = fetch(cfg, actor_token(default_server().user_token("dave")));
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST(act_sub(f.token) == "post-client");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(automatic_grant)

BOOST_AUTO_TEST_CASE(chooses_both_ways)
{
    auto& server = default_server();
    auto cfg = exchange_config();
    cfg.grant = grant_type::automatic;
    actor_token user(server.user_token("erin", "User"));
    actor_token system(server.user_token("cron", "System"));

    server.reset_stats();
    auto no_caller = fetch(cfg);
    BOOST_TEST_REQUIRE(!no_caller.ec, no_caller.ec.message() << ' ' << no_caller.diag);
    BOOST_TEST(server.stat("exchange_requests") == 0);
    BOOST_TEST(server.stat("token_requests") == 1);

    auto system_caller = fetch(cfg, system);
    BOOST_TEST_REQUIRE(!system_caller.ec, system_caller.ec.message());
    BOOST_TEST(server.stat("exchange_requests") == 0);
    BOOST_TEST(server.stat("token_requests") == 2);

    auto user_caller = fetch(cfg, user);
    BOOST_TEST_REQUIRE(!user_caller.ec, user_caller.ec.message() << ' ' << user_caller.diag);
    BOOST_TEST(server.stat("exchange_requests") == 1);
    BOOST_TEST((user_caller.token.string_claim("sub") == std::string_view("erin")));
}

BOOST_AUTO_TEST_CASE(grant_none_is_reported_as_no_authorization)
{
    auto& server = default_server();
    auto cfg = test::basic_client(server);
    cfg.grant = grant_type::none;
    server.reset_stats();
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == error::no_authorization);
    BOOST_TEST(server.stat("token_requests") == 0);
}

BOOST_AUTO_TEST_CASE(the_resolver_can_be_replaced)
{
    auto& server = default_server();
    auto cfg = exchange_config();
    server.reset_stats();
    auto f = fetch(cfg, actor_token(server.user_token("frank")),
                   [](const auth_config&, const http_client_options&, diagnostics&) -> boost::system::result<grant_type> {
                       return grant_type::client_credentials;
                   });
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message());
    BOOST_TEST(server.stat("exchange_requests") == 0);
    BOOST_TEST(act_sub(f.token).empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(private_key_jwt)

BOOST_AUTO_TEST_CASE(es256_and_rs256_are_accepted_and_a_wrong_key_is_not)
{
    const std::pair<const char*, const char*> clients[] = {{"jwt-es256-client", "client-jwt-es256.key"},
                                                            {"jwt-rs256-client", "client-jwt-rs256.key"}};
    for (auto& [client, keyfile] : clients) {
        diagnostics d;
        auto key = signing_key::load_pem_file(cert(keyfile), "", d);
        BOOST_TEST_REQUIRE(key.has_value(), d);
        auto cfg = test::basic_client(default_server());
        cfg.client_id = client;
        cfg.client_secret = "";
        cfg.auth_method = client_auth_method::private_key_jwt;
        cfg.client_key = *key;
        auto ok = fetch(cfg);
        BOOST_TEST(!ok.ec, client << ": " << ok.ec.message() << ' ' << ok.diag);
        auto again = fetch(cfg); // a fresh jti: not a replay
        BOOST_TEST(!again.ec, client << ": " << again.ec.message() << ' ' << again.diag);

        // the other client's key is the wrong key for this client
        auto wrong = signing_key::load_pem_file(cert(std::string_view(keyfile).find("es256") != std::string_view::npos
                                                         ? "client-jwt-rs256.key"
                                                         : "client-jwt-es256.key"),
                                                "", d);
        cfg.client_key = *wrong;
        auto bad = fetch(cfg);
        BOOST_TEST(bad.ec == oauth_errc::invalid_client, client);
        BOOST_TEST(bad.diag.error_description() == "client authentication failed");
    }
}

BOOST_AUTO_TEST_CASE(exchange_with_a_jwt_authenticated_client)
{
    diagnostics d;
    auto cfg = exchange_config();
    cfg.client_id = "jwt-es256-client";
    cfg.client_secret = "";
    cfg.auth_method = client_auth_method::private_key_jwt;
    cfg.client_key = signing_key::load_pem_file(cert("client-jwt-es256.key"), "", d).value();
    auto f = fetch(cfg, actor_token(default_server().user_token("gina")));
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST(act_sub(f.token) == "jwt-es256-client");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(client_secret_jwt)

BOOST_AUTO_TEST_CASE(hs256_assertion_accepted_wrong_secret_rejected)
{
    auto cfg = test::basic_client(default_server());
    cfg.client_id = "jwt-secret-client";
    cfg.client_secret = "jwt-secret-client-secret-0123456789abcdef";
    cfg.auth_method = client_auth_method::client_secret_jwt;
    auto ok = fetch(cfg);
    BOOST_TEST(!ok.ec, ok.ec.message() << ' ' << ok.diag);
    cfg.client_secret = "jwt-secret-client-secret-0123456789abcdeX";
    auto bad = fetch(cfg);
    BOOST_TEST(bad.ec == oauth_errc::invalid_client);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(mtls)

BOOST_AUTO_TEST_CASE(client_certificate_authenticates)
{
    auto cfg = test::basic_client(default_server());
    cfg.client_id = "mtls-client";
    cfg.client_secret = "";
    cfg.auth_method = client_auth_method::tls_client_auth;
    cfg.tls.client_certificate_file = cert("client.pem");
    cfg.tls.client_key_file = cert("client.key");
    auto ok = fetch(cfg);
    BOOST_TEST(!ok.ec, ok.ec.message() << ' ' << ok.diag);

    cfg.tls.client_certificate_file = cert("other-client.pem"); // signed by an untrusted CA
    cfg.tls.client_key_file = cert("other-client.key");
    auto untrusted = fetch(cfg);
    BOOST_TEST(untrusted.ec == oauth_errc::invalid_client);

    cfg.tls.client_certificate_file.clear();
    cfg.tls.client_key_file.clear();
    auto none = fetch(cfg);
    BOOST_TEST(none.ec == oauth_errc::invalid_client);
    BOOST_TEST(none.diag.http_status() == 401u);
}

BOOST_AUTO_TEST_CASE(unreadable_client_certificate_is_a_clear_error)
{
    auto cfg = test::basic_client(default_server());
    cfg.tls.client_certificate_file = "/nonexistent/client.pem";
    asio::io_context ctx;
    try {
        authorization_service auth(ctx.get_executor(), cfg);
        BOOST_FAIL("accepted a missing client certificate");
    } catch (const error_with_diagnostics& e) {
        BOOST_TEST(e.code() == error::key_load_failed);
    }
}

BOOST_AUTO_TEST_SUITE_END()
