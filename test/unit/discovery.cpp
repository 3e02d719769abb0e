// Discovery document parsing and the auth-method choice (no network).
#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>

#include <boost/test/unit_test.hpp>

using namespace tetrapak;

namespace {
boost::system::result<server_metadata> parse(std::string_view url, std::string_view body, unsigned status = 200)
{
    diagnostics d;
    return parse_discovery_document(url, {status, body, {}, {}}, false, d);
}
} // namespace

BOOST_AUTO_TEST_SUITE(discovery)

BOOST_AUTO_TEST_CASE(oidc_document)
{
    auto md = parse("https://as.example.com/.well-known/openid-configuration",
                    R"({"issuer":"https://as.example.com","token_endpoint":"https://as.example.com/oauth2/token",
                        "token_endpoint_auth_methods_supported":["client_secret_basic","private_key_jwt"],
                        "grant_types_supported":["client_credentials"]})");
    BOOST_TEST_REQUIRE(md.has_value());
    BOOST_TEST(md->token_endpoint == "https://as.example.com/oauth2/token");
    BOOST_TEST(md->token_endpoint_auth_methods_supported.size() == 2u);
    BOOST_TEST(md->grant_types_supported.size() == 1u);
}

BOOST_AUTO_TEST_CASE(mtls_endpoint_alias_is_for_mutual_tls_clients_only)
{
    const std::string url = "https://as.example.com/.well-known/openid-configuration";
    auto md = parse(url, R"({"issuer":"https://as.example.com","token_endpoint":"https://as.example.com/token",
                             "mtls_endpoint_aliases":{"token_endpoint":"https://mtls.as.example.com/token"}})");
    BOOST_TEST_REQUIRE(md.has_value());
    BOOST_TEST(md->mtls_token_endpoint == "https://mtls.as.example.com/token");
    BOOST_TEST(token_endpoint_for(*md, client_auth_method::tls_client_auth) == "https://mtls.as.example.com/token");
    BOOST_TEST(token_endpoint_for(*md, client_auth_method::self_signed_tls_client_auth) ==
               "https://mtls.as.example.com/token");
    BOOST_TEST(token_endpoint_for(*md, client_auth_method::client_secret_basic) == "https://as.example.com/token");
    BOOST_TEST(token_endpoint_for(*md, client_auth_method::private_key_jwt) == "https://as.example.com/token");

    // An alias that is not a usable https URL is ignored, never fatal.
    for (auto bad : {R"("http://mtls.as.example.com/token")", R"(42)", R"("not a url")"}) {
        auto other = parse(url, std::string(R"({"issuer":"https://as.example.com","token_endpoint":"https://as.example.com/token",
                                                "mtls_endpoint_aliases":{"token_endpoint":)") + bad + "}}");
        BOOST_TEST_REQUIRE(other.has_value(), bad);
        BOOST_TEST(other->mtls_token_endpoint.empty(), bad);
        BOOST_TEST(token_endpoint_for(*other, client_auth_method::tls_client_auth) == "https://as.example.com/token");
    }
}

BOOST_AUTO_TEST_CASE(issuer_with_path_and_rfc8414_form)
{
    BOOST_TEST(parse("https://as.example.com/tenant/.well-known/openid-configuration",
                     R"({"issuer":"https://as.example.com/tenant","token_endpoint":"https://as.example.com/t"})")
                   .has_value());
    BOOST_TEST(parse("https://as.example.com/.well-known/oauth-authorization-server/tenant",
                     R"({"issuer":"https://as.example.com/tenant","token_endpoint":"https://as.example.com/t"})")
                   .has_value());
}

BOOST_AUTO_TEST_CASE(refusals)
{
    const std::pair<const char*, error> rows[] = {
        {R"({"issuer":"https://evil.example.com","token_endpoint":"https://as.example.com/t"})", error::discovery_issuer_mismatch},
        {R"({"issuer":"https://as.example.com/other","token_endpoint":"https://as.example.com/t"})", error::discovery_issuer_mismatch},
        {R"({"token_endpoint":"https://as.example.com/t"})", error::discovery_failed},
        {R"({"issuer":"https://as.example.com"})", error::discovery_no_token_endpoint},
        {R"({"issuer":"https://as.example.com","token_endpoint":"http://as.example.com/t"})", error::discovery_no_token_endpoint},
        {R"({"issuer":"https://as.example.com","token_endpoint":42})", error::discovery_no_token_endpoint},
        {R"(<html/>)", error::discovery_failed},
        {R"([])", error::discovery_failed},
    };
    for (auto& [body, code] : rows)
        BOOST_TEST((parse("https://as.example.com/.well-known/openid-configuration", body).error() == code), body);
    BOOST_TEST((parse("https://as.example.com/.well-known/openid-configuration", "{}", 404).error() == error::discovery_failed));
}

BOOST_AUTO_TEST_CASE(auth_method_choice)
{
    auth_config c;
    c.client_secret = "s";
    BOOST_TEST((choose_auth_method({}, c) == client_auth_method::client_secret_basic));
    BOOST_TEST((choose_auth_method({"client_secret_post"}, c) == client_auth_method::client_secret_post));
    BOOST_TEST((choose_auth_method({"client_secret_jwt", "tls_client_auth"}, c) == client_auth_method::client_secret_jwt));
    BOOST_TEST(!choose_auth_method({"private_key_jwt"}, c));
    c.tls.client_certificate_file = "/c.pem";
    BOOST_TEST((choose_auth_method({"client_secret_basic", "tls_client_auth"}, c) == client_auth_method::tls_client_auth));
}

BOOST_AUTO_TEST_SUITE_END()
