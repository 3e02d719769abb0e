// The pure token request builder: form encoding, client authentication, endpoint checks.
#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>

#include "../common/form.hpp"

#include <boost/test/unit_test.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <openssl/evp.h>

#include <map>

using namespace tetrapak;

namespace {

auth_config base_config()
{
    auth_config c;
    c.client_id = "my-client";
    c.client_secret = "my-secret";
    c.token_endpoint = "https://auth.example.com/oauth2/token";
    return c;
}

using test::form_params;

std::string field(const token_request& r, std::string_view name)
{
    for (auto& f : r.fields)
        if (f.name == name)
            return f.value;
    return {};
}

std::string base64_decode(std::string_view b64);

} // namespace

BOOST_AUTO_TEST_SUITE(request_builder)

BOOST_AUTO_TEST_CASE(client_credentials_basic)
{
    diagnostics d;
    auto cfg = base_config();
    cfg.scope = {"read", "write"};
    auto r = build_token_request(cfg, {}, d);
    BOOST_TEST_REQUIRE(r.has_value());
    auto p = form_params(r->body);
    BOOST_TEST(p.size() == 2u);
    BOOST_TEST(p.find("grant_type")->second == "client_credentials");
    BOOST_TEST(p.find("scope")->second == "read write");
    BOOST_TEST(r->body.find("scope=read+write") != std::string::npos);
    BOOST_TEST(field(*r, "Authorization") == "Basic bXktY2xpZW50Om15LXNlY3JldA==");
    BOOST_TEST(field(*r, "Content-Type") == "application/x-www-form-urlencoded");
    BOOST_TEST(field(*r, "Accept") == "application/json");
    BOOST_TEST(r->endpoint.host == "auth.example.com");
    BOOST_TEST(r->endpoint.port == "443");
    BOOST_TEST(r->endpoint.target == "/oauth2/token");
    BOOST_TEST(r->endpoint.tls);
    BOOST_TEST(!r->endpoint.host_is_ip);
}

BOOST_AUTO_TEST_CASE(an_endpoint_parsed_before_is_used_as_it_is)
{
    // The driver parses the token endpoint once and hands it in: the builder
    // uses it instead of parsing cfg.token_endpoint again (checks still run).
    diagnostics d;
    auto parsed = parse_endpoint("https://127.0.0.1:8443/other/token", false, d);
    BOOST_TEST_REQUIRE(parsed.has_value());
    grant_inputs in;
    in.token_endpoint = &*parsed;
    auto r = build_token_request(base_config(), in, d);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->endpoint.host == "127.0.0.1");
    BOOST_TEST(r->endpoint.port == "8443");
    BOOST_TEST(r->endpoint.target == "/other/token");
    auto bad = base_config();
    bad.client_secret = "a\nb";
    BOOST_TEST((build_token_request(bad, in, d).error() == error::invalid_header_value));
}

BOOST_AUTO_TEST_CASE(empty_scope_is_omitted)
{
    diagnostics d;
    auto r = build_token_request(base_config(), {}, d);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->body == "grant_type=client_credentials");
}

BOOST_AUTO_TEST_CASE(client_secret_post_puts_credentials_in_body)
{
    diagnostics d;
    auto cfg = base_config();
    cfg.auth_method = client_auth_method::client_secret_post;
    cfg.client_secret = "s&=+ %";
    auto r = build_token_request(cfg, {}, d);
    BOOST_TEST_REQUIRE(r.has_value());
    auto p = form_params(r->body);
    BOOST_TEST(p.find("client_id")->second == "my-client");
    BOOST_TEST(p.find("client_secret")->second == "s&=+ %");
    BOOST_TEST(field(*r, "Authorization").empty());
}

BOOST_AUTO_TEST_CASE(basic_form_encodes_id_and_secret_before_base64)
{
    // RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded first.
    BOOST_TEST(form_encode("we:ird@id/+ %") == "we%3Aird%40id%2F%2B+%25");
    BOOST_TEST(form_encode("s3:cr@t/+ %&=") == "s3%3Acr%40t%2F%2B+%25%26%3D");
    BOOST_TEST(form_encode("AZaz09-._~") == "AZaz09-._~");
    BOOST_TEST(form_encode("\xc3\xbc") == "%C3%BC");
    auto h = basic_authorization("we:ird@id/+ %", "s3:cr@t/+ %&=");
    BOOST_TEST_REQUIRE(h.rfind("Basic ", 0) == 0u);
    BOOST_TEST(base64_decode(h.substr(6)) == "we%3Aird%40id%2F%2B+%25:s3%3Acr%40t%2F%2B+%25%26%3D");
}

BOOST_AUTO_TEST_CASE(resource_and_audience)
{
    diagnostics d;
    auto cfg = base_config();
    cfg.resource = "urn:tetrapak:test-api";
    cfg.audience = "downstream service";
    auto r = build_token_request(cfg, {}, d);
    BOOST_TEST_REQUIRE(r.has_value());
    auto p = form_params(r->body);
    BOOST_TEST(p.find("resource")->second == "urn:tetrapak:test-api");
    BOOST_TEST(p.find("audience")->second == "downstream service");
}

BOOST_AUTO_TEST_CASE(token_exchange_form)
{
    diagnostics d;
    actor_token subject("Bearer incoming.jwt.token");
    grant_inputs in{grant_type::token_exchange, &subject};
    auto r = build_token_request(base_config(), in, d);
    BOOST_TEST_REQUIRE(r.has_value());
    auto p = form_params(r->body);
    BOOST_TEST(p.find("grant_type")->second == "urn:ietf:params:oauth:grant-type:token-exchange");
    BOOST_TEST(p.find("subject_token")->second == "incoming.jwt.token"); // never "Bearer ..."
    BOOST_TEST(p.find("subject_token_type")->second == "urn:ietf:params:oauth:token-type:id_token");
    BOOST_TEST(p.count("requested_token_type") == 0u);

    grant_inputs none{grant_type::token_exchange, nullptr};
    BOOST_TEST((build_token_request(base_config(), none, d).error() == error::no_subject_token));
}

BOOST_AUTO_TEST_CASE(endpoint_forms)
{
    diagnostics d;
    auto ep = parse_endpoint("https://127.0.0.1:8443/a/b?x=1", false, d);
    BOOST_TEST_REQUIRE(ep.has_value());
    BOOST_TEST(ep->host == "127.0.0.1");
    BOOST_TEST(ep->port == "8443");
    BOOST_TEST(ep->target == "/a/b?x=1");
    BOOST_TEST(ep->host_is_ip);
    auto v6 = parse_endpoint("https://[::1]:9/t", false, d);
    BOOST_TEST_REQUIRE(v6.has_value());
    BOOST_TEST(v6->host == "::1");
    BOOST_TEST(v6->host_is_ip);
    auto root = parse_endpoint("https://example.com", false, d);
    BOOST_TEST_REQUIRE(root.has_value());
    BOOST_TEST(root->target == "/");
}

BOOST_AUTO_TEST_CASE(endpoint_refusals)
{
    const std::pair<const char*, error> rows[] = {
        {"", error::missing_token_endpoint},
        {"not a url", error::invalid_url},
        {"/relative/token", error::invalid_url},
        {"ftp://example.com/token", error::invalid_url},
        {"https://user:pw@example.com/token", error::invalid_url},
        {"https://example.com/token#frag", error::invalid_url},
        {"https:///token", error::invalid_url},
        {"https://example.com:0/token", error::invalid_url},
        {"https://exa\r\nmple.com/token", error::invalid_url},
        {"http://example.com/token", error::insecure_transport},
        {"http://127.0.0.1/token", error::insecure_transport},
    };
    for (auto& [url, code] : rows) {
        diagnostics d;
        auto ep = parse_endpoint(url, false, d);
        BOOST_TEST((ep.error() == code), url);
        BOOST_TEST(!d.client_message().empty(), url);
    }
}

BOOST_AUTO_TEST_CASE(http_only_on_loopback_when_allowed)
{
    diagnostics d;
    for (auto url : {"http://127.0.0.1:8080/token", "http://127.9.9.9/token", "http://[::1]/token", "http://LocalHost/t"}) {
        auto ep = parse_endpoint(url, true, d);
        BOOST_TEST_REQUIRE(ep.has_value(), url);
        BOOST_TEST(!ep->tls);
    }
    for (auto url : {"http://10.0.0.1/token", "http://example.com/token", "http://localhost.evil.com/token"}) {
        BOOST_TEST((parse_endpoint(url, true, d).error() == error::insecure_transport), url);
    }
}

BOOST_AUTO_TEST_SUITE_END()

namespace {
std::string base64_decode(std::string_view b64)
{
    std::string out(b64.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(b64.data()),
                            static_cast<int>(b64.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!b64.empty() && b64.back() == '=') {
        out.pop_back();
        b64.remove_suffix(1);
    }
    return out;
}
} // namespace
