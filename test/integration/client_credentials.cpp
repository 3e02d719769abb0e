// Client credentials (RFC 6749 §4.4) against the real oidc-provider over TLS.
#include "oidc_server.hpp"
#include "fetch.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <vector>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using test::default_server;
using test::fetch;

namespace {


} // namespace

BOOST_AUTO_TEST_SUITE(client_credentials)

BOOST_AUTO_TEST_CASE(basic_auth)
{
    auto before = std::chrono::system_clock::now();
    auto f = fetch(test::basic_client(default_server()));
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST(!f.token.empty());
    BOOST_TEST(f.token.token_type() == "Bearer");
    BOOST_TEST(!f.token.is_jwt());
    BOOST_TEST_REQUIRE(f.token.expires_at().has_value());
    // the server's ttl is 300 s, measured from when the request was sent
    BOOST_TEST((*f.token.expires_at() >= before + 299s));
    BOOST_TEST((*f.token.expires_at() <= std::chrono::system_clock::now() + 301s));
    BOOST_TEST(f.diag.empty());
}

BOOST_AUTO_TEST_CASE(two_fetches_give_two_tokens)
{
    auto a = fetch(test::basic_client(default_server()));
    auto b = fetch(test::basic_client(default_server()));
    BOOST_TEST_REQUIRE((!a.ec && !b.ec));
    BOOST_TEST(a.token.value() != b.token.value());
}

BOOST_AUTO_TEST_CASE(post_auth)
{
    auto cfg = test::basic_client(default_server());
    cfg.client_id = "post-client";
    cfg.client_secret = "post-secret";
    cfg.auth_method = client_auth_method::client_secret_post;
    auto f = fetch(cfg);
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST(!f.token.empty());
}

BOOST_AUTO_TEST_CASE(reserved_characters_in_id_and_secret)
{
    for (auto method : {client_auth_method::client_secret_basic, client_auth_method::client_secret_post}) {
        auto cfg = test::basic_client(default_server());
        cfg.client_id = "we:ird@id/+ %";
        cfg.client_secret = "s3:cr@t/+ %&=";
        cfg.auth_method = method;
        auto f = fetch(cfg);
        BOOST_TEST(!f.ec, to_string(method) << ": " << f.ec.message() << ' ' << f.diag);
        BOOST_TEST(!f.token.empty());
    }
}

BOOST_AUTO_TEST_CASE(scopes_are_sent_and_read_back)
{
    auto cfg = test::basic_client(default_server());
    cfg.scope = {"read", "write"};
    auto f = fetch(cfg);
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message());
    std::vector<std::string> got(f.token.scope().begin(), f.token.scope().end());
    BOOST_TEST((got == std::vector<std::string>{"read", "write"}));
}

BOOST_AUTO_TEST_CASE(wrong_secret_is_invalid_client_with_diagnostics)
{
    for (auto method : {client_auth_method::client_secret_basic, client_auth_method::client_secret_post}) {
        auto cfg = test::basic_client(default_server());
        cfg.client_secret = "wrong-secret";
        cfg.auth_method = method;
        auto f = fetch(cfg);
        BOOST_TEST(f.ec == oauth_errc::invalid_client);
        BOOST_TEST(f.token.empty());
        BOOST_TEST(f.diag.http_status() == 401u);
        BOOST_TEST(f.diag.error() == "invalid_client");
        BOOST_TEST(f.diag.error_description() == "client authentication failed");
        if (method == client_auth_method::client_secret_basic)
            BOOST_TEST(f.diag.www_authenticate().find("invalid_client") != std::string_view::npos);
    }
}

BOOST_AUTO_TEST_CASE(unknown_grant_is_unsupported_grant_type)
{
    // A server started without the token-exchange grant: an RFC 8693
    // request is a grant it does not know.
    test::oidc_server server({.extra_args = {"--no-token-exchange"}});
    auto cfg = test::basic_client(server);
    cfg.grant = grant_type::token_exchange;
    auto f = fetch(cfg, actor_token("some-subject-token"));
    BOOST_TEST(f.ec == oauth_errc::unsupported_grant_type);
    BOOST_TEST(f.diag.http_status() == 400u);
    BOOST_TEST(f.diag.error() == "unsupported_grant_type");
    BOOST_TEST(!f.diag.error_description().empty());
}

BOOST_AUTO_TEST_CASE(jwt_access_token_claims_are_readable)
{
    auto cfg = test::basic_client(default_server());
    cfg.client_id = "system-client";
    cfg.client_secret = "system-secret";
    cfg.resource = "urn:tetrapak:test-api";
    cfg.scope = {"read", "api:all"};
    auto f = fetch(cfg);
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST_REQUIRE(f.token.is_jwt());
    BOOST_TEST((f.token.string_claim("aud") == std::string_view("urn:tetrapak:test-api")));
    BOOST_TEST((f.token.string_claim("client_id") == std::string_view("system-client")));
    BOOST_TEST((f.token.string_claim("userType") == std::string_view("System")));
    auto exp = f.token.jwt_expiry();
    BOOST_TEST_REQUIRE(exp.has_value());
    auto skew = *exp > *f.token.expires_at() ? *exp - *f.token.expires_at() : *f.token.expires_at() - *exp;
    BOOST_TEST((skew <= 2s));
}

BOOST_AUTO_TEST_CASE(steps_are_traced_in_order)
{
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(default_server()));
    std::vector<trace_event> events;
    auth.set_trace([&](const trace_event& e) { events.push_back(e); });
    boost::system::error_code got;
    auto t0 = std::chrono::steady_clock::now();
    auth.async_authorize({}, [&](boost::system::error_code ec, actor_token) { got = ec; });
    ctx.run();
    auto elapsed = std::chrono::steady_clock::now() - t0;
    BOOST_TEST_REQUIRE(!got);
    const step expected[] = {step::connect, step::handshake, step::write, step::read_header, step::read_body, step::parse};
    BOOST_TEST_REQUIRE(events.size() == 2 * std::size(expected));
    for (std::size_t i = 0; i < std::size(expected); ++i) {
        BOOST_TEST((events[2 * i].step == expected[i]));
        BOOST_TEST(!events[2 * i].finished);
        BOOST_TEST((events[2 * i + 1].step == expected[i]));
        BOOST_TEST(events[2 * i + 1].finished);
        BOOST_TEST(!events[2 * i + 1].ec);
    }
    BOOST_TEST_MESSAGE("one token fetch (new TLS connection) took "
                       << std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count() << " us");
}

BOOST_AUTO_TEST_CASE(name_resolution_step)
{
    auto cfg = test::basic_client(default_server());
    cfg.token_endpoint = "https://localhost:" + std::to_string(default_server().port()) + "/token";
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    std::vector<step> started;
    auth.set_trace([&](const trace_event& e) {
        if (!e.finished)
            started.push_back(e.step);
    });
    boost::system::error_code got;
    auth.async_authorize({}, [&](boost::system::error_code ec, actor_token) { got = ec; });
    ctx.run();
    BOOST_TEST(!got, got.message());
    BOOST_TEST_REQUIRE(!started.empty());
    BOOST_TEST((started.front() == step::resolve));
}

BOOST_AUTO_TEST_CASE(refused_connection)
{
    auto cfg = test::basic_client(default_server());
    cfg.token_endpoint = "https://127.0.0.1:1/token";
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == asio::error::connection_refused);
}

BOOST_AUTO_TEST_SUITE_END()
