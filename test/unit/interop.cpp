// Servers that bend the RFCs (issue 13), the pure parts: the two Basic
// credentials forms and which one a request carries, the BasicCredentials
// setting, HTTP 401/403 without an OAuth error, non-standard OAuth errors,
// discovery documents with partial grant lists and issuers with a path, and
// the per-endpoint memory of the form that worked.
#include "service/basic_form_memo.hpp"
#include "service/retry_policy.hpp"
#include "service/token_fsm.hpp"

#include <tetrapak.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include <sstream>
#include <string>

using namespace tetrapak;
using boost::system::error_code;

namespace {

/// The credentials inside a "Basic ..." value (an independent decoder: OpenSSL's).
std::string decoded(std::string_view header)
{
    BOOST_TEST_REQUIRE(header.substr(0, 6) == "Basic ");
    std::string_view b64 = header.substr(6);
    std::string out(b64.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    BOOST_TEST_REQUIRE(n >= 0);
    std::size_t pad = 0;
    for (auto it = b64.rbegin(); it != b64.rend() && *it == '='; ++it)
        ++pad;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

const std::string reserved_secret = "s:/+ &%~x";

auth_config basic_config(std::string secret = reserved_secret)
{
    auth_config c;
    c.client_id = "interop client";
    c.client_secret = std::move(secret);
    c.token_endpoint = "https://as.example.com/token";
    return c;
}

std::string authorization_of(const auth_config& cfg, bool raw_this_time)
{
    diagnostics d;
    grant_inputs in;
    in.raw_basic_credentials = raw_this_time;
    auto r = build_token_request(cfg, in, d);
    BOOST_TEST_REQUIRE(r.has_value(), d.client_message());
    for (auto& f : r->fields)
        if (f.name == "Authorization")
            return f.value;
    return {};
}

boost::system::result<actor_token> parse(unsigned status, std::string_view body, diagnostics& d,
                                         std::string_view www_authenticate = {})
{
    return parse_token_response({status, body, {}, www_authenticate}, {}, d);
}

tetrapak_settings load(std::string_view json, diagnostics& d, error_code& ec)
{
    auto r = load_settings(boost::json::parse(json), d);
    if (!r) {
        ec = r.error();
        return {};
    }
    return *r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(interop)

// --- the two Basic forms -----------------------------------------------------

BOOST_AUTO_TEST_CASE(rfc_and_raw_forms_of_a_secret_with_reserved_characters)
{
    const auto rfc = decoded(basic_authorization("interop client", reserved_secret));
    const auto raw = decoded(raw_basic_authorization("interop client", reserved_secret));
    BOOST_TEST(rfc == "interop+client:s%3A%2F%2B+%26%25~x"); // RFC 6749 §2.3.1 / Appendix B
    BOOST_TEST(raw == "interop client:s:/+ &%~x");           // RFC 7617, literal
    BOOST_TEST(basic_forms_differ("interop client", reserved_secret));
    BOOST_TEST(basic_forms_differ("id", " "));  // a space becomes '+': same length, different bytes
    BOOST_TEST(basic_forms_differ("i:d", "s")); // the id counts too
    for (char c : std::string(":/+ &%?#=@\"\\"))
        BOOST_TEST(basic_forms_differ("id", std::string("a") + c), c);
}

BOOST_AUTO_TEST_CASE(forms_are_equal_when_nothing_needs_encoding)
{
    const std::string id = "Client-1.x_y~z", secret = "AZaz09-._~";
    BOOST_TEST(!basic_forms_differ(id, secret));
    BOOST_TEST(basic_authorization(id, secret) == raw_basic_authorization(id, secret));
    BOOST_TEST(decoded(raw_basic_authorization(id, secret)) == id + ":" + secret);
    BOOST_TEST(!basic_forms_differ("", ""));
}

BOOST_AUTO_TEST_CASE(request_carries_the_form_the_setting_and_the_driver_choose)
{
    const std::string rfc = "interop+client:s%3A%2F%2B+%26%25~x", raw = "interop client:" + reserved_secret;
    auto cfg = basic_config();
    BOOST_TEST((cfg.basic_credentials == basic_credentials_encoding::automatic)); // the default
    BOOST_TEST(decoded(authorization_of(cfg, false)) == rfc);
    BOOST_TEST(decoded(authorization_of(cfg, true)) == raw);
    cfg.basic_credentials = basic_credentials_encoding::rfc6749; // forced: the driver's choice is ignored
    BOOST_TEST(decoded(authorization_of(cfg, false)) == rfc);
    BOOST_TEST(decoded(authorization_of(cfg, true)) == rfc);
    cfg.basic_credentials = basic_credentials_encoding::raw;
    BOOST_TEST(decoded(authorization_of(cfg, false)) == raw);
    BOOST_TEST(decoded(authorization_of(cfg, true)) == raw);
    cfg.auth_method = client_auth_method::client_secret_post; // no header at all
    BOOST_TEST(authorization_of(cfg, true).empty());
}

BOOST_AUTO_TEST_CASE(which_fetches_have_another_form)
{
    using detail::basic_alternative;
    auto cfg = basic_config();
    BOOST_TEST(basic_alternative(cfg));
    auto plain = basic_config("plain-Secret_1.~");
    BOOST_TEST(basic_alternative(plain)); // the id "interop client" has a space
    plain.client_id = "plain-client";
    BOOST_TEST(!basic_alternative(plain));
    for (auto e : {basic_credentials_encoding::rfc6749, basic_credentials_encoding::raw}) {
        auto forced = cfg;
        forced.basic_credentials = e;
        BOOST_TEST(!basic_alternative(forced), e);
    }
    for (auto m : {client_auth_method::client_secret_post, client_auth_method::client_secret_jwt,
                   client_auth_method::private_key_jwt, client_auth_method::tls_client_auth}) {
        auto other = cfg;
        other.auth_method = m;
        BOOST_TEST(!basic_alternative(other), m);
    }
}

// --- refusals and their messages ---------------------------------------------

BOOST_AUTO_TEST_CASE(refusal_without_an_oauth_error_is_client_refused)
{
    for (unsigned status : {401u, 403u}) {
        for (std::string_view body : {"", "<html>Forbidden</html>", R"({"message":"Forbidden"})"}) {
            diagnostics d;
            auto r = parse(status, body, d, "Basic realm=\"x\"");
            BOOST_TEST((r.error() == error::client_refused), status << ' ' << body);
            BOOST_TEST(d.http_status() == status); // the status stays in the diagnostics
            BOOST_TEST(d.www_authenticate() == "Basic realm=\"x\"");
        }
    }
    diagnostics d;
    BOOST_TEST((parse(401, R"({"error":"invalid_client"})", d).error() == oauth_errc::invalid_client));
    BOOST_TEST((parse(400, "", d).error() == error::unexpected_http_status));
    BOOST_TEST((parse(404, "", d).error() == error::unexpected_http_status));
    BOOST_TEST((parse(407, "", d).error() == error::unexpected_http_status));
}

BOOST_AUTO_TEST_CASE(client_refused_is_appended_and_says_where_to_look)
{
    // Appended: the codes before it keep their values.
    BOOST_TEST(static_cast<int>(error::client_refused) == static_cast<int>(error::too_many_open_files) + 1);
    BOOST_TEST(static_cast<int>(error::unexpected_http_status) == 36);
    const std::string m = make_error_code(error::client_refused).message();
    for (auto word : {"refused the client", "401", "403", "client id", "client secret", "authentication method",
                      "BasicCredentials=Raw", "scope", "http_status()"})
        BOOST_TEST(m.find(word) != std::string::npos, word);
    BOOST_TEST(make_error_code(error::unexpected_http_status).message().find("404") != std::string::npos);
    BOOST_TEST(make_error_code(oauth_errc::invalid_client).message().find("BasicCredentials=Raw") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(refusals_are_what_switches_the_form_and_never_retried)
{
    using detail::is_client_refusal;
    BOOST_TEST(is_client_refusal(error::client_refused));
    BOOST_TEST(is_client_refusal(oauth_errc::invalid_client));
    for (error_code ec : {make_error_code(oauth_errc::invalid_grant), make_error_code(oauth_errc::unauthorized_client),
                          make_error_code(oauth_errc::other), make_error_code(error::unexpected_http_status),
                          make_error_code(error::server_unavailable), make_error_code(error::connect_timeout), error_code{}})
        BOOST_TEST(!is_client_refusal(ec), ec.message());
    diagnostics d403;
    detail::diagnostics_access::http_status(d403) = 403;
    BOOST_TEST(!detail::is_retryable(error::client_refused, d403));
    retry_settings rs;
    BOOST_TEST(!detail::retry_delay(rs, 1, error::client_refused, d403, 0.5));
}

BOOST_AUTO_TEST_CASE(non_standard_error_keeps_the_servers_words)
{
    diagnostics d;
    auto r = parse(400, R"({"error":"account_locked","error_description":"locked after 5 failed logins"})", d);
    BOOST_TEST((r.error() == oauth_errc::other));
    BOOST_TEST(d.error() == "account_locked");
    BOOST_TEST(d.error_description() == "locked after 5 failed logins");
    // Everything a user prints shows it: diagnostics, failure, the exception's what().
    std::ostringstream diag_text, failure_text;
    diag_text << d;
    failure_text << failure{r.error(), d};
    const std::string what = error_with_diagnostics(r.error(), d).what();
    for (const std::string& s : {diag_text.str(), failure_text.str(), what}) {
        BOOST_TEST(s.find("account_locked") != std::string::npos, s);
        BOOST_TEST(s.find("locked after 5 failed logins") != std::string::npos, s);
    }
    BOOST_TEST(what.find("non-standard OAuth error") != std::string::npos, what);
    BOOST_TEST(!detail::is_retryable(r.error(), d)); // a 400: not transient
}

// --- the BasicCredentials setting --------------------------------------------

BOOST_AUTO_TEST_CASE(basic_credentials_names)
{
    const std::pair<const char*, basic_credentials_encoding> rows[] = {
        {"Rfc6749", basic_credentials_encoding::rfc6749}, {"RFC6749", basic_credentials_encoding::rfc6749},
        {"rfc_6749", basic_credentials_encoding::rfc6749}, {"Raw", basic_credentials_encoding::raw},
        {" RAW ", basic_credentials_encoding::raw},       {"Auto", basic_credentials_encoding::automatic},
        {"automatic", basic_credentials_encoding::automatic},
    };
    for (auto [name, e] : rows)
        BOOST_TEST((parse_basic_credentials_encoding(name) == e), name);
    for (auto bad : {"", "literal", "rfc", "basic", "rawx"})
        BOOST_TEST(!parse_basic_credentials_encoding(bad), bad);
    for (auto e : {basic_credentials_encoding::rfc6749, basic_credentials_encoding::raw, basic_credentials_encoding::automatic})
        BOOST_TEST((parse_basic_credentials_encoding(to_string(e)) == e));
}

BOOST_AUTO_TEST_CASE(basic_credentials_setting_resolves_per_level)
{
    diagnostics d;
    error_code ec;
    auto s = load(R"({"TetraPak": {"ClientId": "a", "ClientSecret": "b", "TokenIssuerUrl": "https://as.example.com/t",
                      "basiccredentials": "Raw",
                      "Services": {"Orders": {"BasicCredentials": "rfc6749"}, "Plain": {}}}})",
                  d, ec);
    BOOST_TEST_REQUIRE(!ec, ec.message() << ' ' << d.client_message());
    auto root = s.resolve("", "", {}, d);
    BOOST_TEST_REQUIRE(root.has_value());
    BOOST_TEST((root->basic_credentials == basic_credentials_encoding::raw));
    BOOST_TEST((s.resolve("Orders", "", {}, d)->basic_credentials == basic_credentials_encoding::rfc6749));
    BOOST_TEST((s.resolve("Plain", "", {}, d)->basic_credentials == basic_credentials_encoding::raw));
    // Unset: automatic.
    auto unset = load(R"({"TetraPak": {"ClientId": "a", "ClientSecret": "b", "TokenIssuerUrl": "https://as.example.com/t"}})",
                      d, ec);
    BOOST_TEST((unset.resolve("", "", {}, d)->basic_credentials == basic_credentials_encoding::automatic));
    // printed with the configuration (no secret)
    std::ostringstream os;
    os << *root;
    BOOST_TEST(os.str().find("basic_credentials=raw") != std::string::npos, os.str());
}

BOOST_AUTO_TEST_CASE(basic_credentials_setting_refuses_unknown_values)
{
    for (auto json : {R"({"TetraPak": {"BasicCredentials": "literal"}})", R"({"TetraPak": {"BasicCredentials": 1}})",
                      R"({"TetraPak": {"Services": {"Orders": {"BasicCredentials": "nope"}}}})"}) {
        diagnostics d;
        error_code ec;
        load(json, d, ec);
        BOOST_TEST((ec == error::config_invalid_value), json);
        BOOST_TEST(d.client_message().find("BasicCredentials") != std::string_view::npos, d.client_message());
    }
}

BOOST_AUTO_TEST_CASE(basic_credentials_from_the_environment)
{
    diagnostics d;
    error_code ec;
    auto s = load(R"({"TetraPak": {"ClientId": "a", "ClientSecret": "b", "TokenIssuerUrl": "https://as.example.com/t"}})", d, ec);
    const char* env[] = {"TetraPak__BasicCredentials=raw", "TetraPak__Services__Orders__BASICCREDENTIALS=Rfc6749", nullptr};
    BOOST_TEST_REQUIRE(apply_environment_variables(s, env, d).has_value(), d.client_message());
    BOOST_TEST((s.resolve("", "", {}, d)->basic_credentials == basic_credentials_encoding::raw));
    BOOST_TEST((s.resolve("Orders", "", {}, d)->basic_credentials == basic_credentials_encoding::rfc6749));
    const char* bad[] = {"TetraPak__BasicCredentials=sometimes", nullptr};
    BOOST_TEST(!apply_environment_variables(s, bad, d).has_value());
    BOOST_TEST(d.client_message().find("TetraPak:BasicCredentials") != std::string_view::npos, d.client_message());
}

// --- the memory of the form that worked -------------------------------------

BOOST_AUTO_TEST_CASE(memory_per_endpoint_and_client)
{
    detail::basic_form_memo memo;
    BOOST_TEST(!memo.raw_works("https://a/token", "c1"));
    memo.remember("https://a/token", "c1", true);
    BOOST_TEST(memo.raw_works("https://a/token", "c1"));
    BOOST_TEST(!memo.raw_works("https://a/token", "c2"));  // another client
    BOOST_TEST(!memo.raw_works("https://b/token", "c1"));  // another endpoint
    BOOST_TEST(!memo.raw_works("https://a/token\nc", "1")); // the parts do not run together
    memo.remember("https://a/token", "c1", false);         // the RFC form worked later
    BOOST_TEST(!memo.raw_works("https://a/token", "c1"));
    BOOST_TEST(memo.size() == 0u);
    for (std::size_t i = 0; i < detail::basic_form_memo::max_entries; ++i)
        memo.remember("https://a/token", std::to_string(i) + "-client", true);
    BOOST_TEST(memo.size() == detail::basic_form_memo::max_entries);
    memo.remember("https://a/token", "one-more", true); // bounded: starts over
    BOOST_TEST(memo.size() == 1u);
    BOOST_TEST(memo.raw_works("https://a/token", "one-more"));
}

// --- discovery ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(discovery_with_partial_grant_list_and_issuer_path)
{
    diagnostics d;
    const std::string url = "https://as.example.com/realms/x/.well-known/openid-configuration";
    auto md = parse_discovery_document(url, {200, R"({"issuer":"https://as.example.com/realms/x",
        "token_endpoint":"https://as.example.com/realms/x/protocol/openid-connect/token",
        "grant_types_supported":["authorization_code"],
        "token_endpoint_auth_methods_supported":["client_secret_basic","private_key_jwt"]})", {}, {}}, false, d);
    BOOST_TEST_REQUIRE(md.has_value(), d.client_message());
    BOOST_TEST(md->token_endpoint == "https://as.example.com/realms/x/protocol/openid-connect/token");
    BOOST_TEST(md->grant_types_supported.size() == 1u); // read, never used to refuse a grant
    auth_config cfg = basic_config();
    BOOST_TEST((choose_auth_method(md->token_endpoint_auth_methods_supported, cfg) == client_auth_method::client_secret_basic));
    // The issuer with a trailing slash matches too; another path does not.
    BOOST_TEST(parse_discovery_document(url, {200, R"({"issuer":"https://as.example.com/realms/x/",
        "token_endpoint":"https://as.example.com/t"})", {}, {}}, false, d).has_value());
    BOOST_TEST((parse_discovery_document(url, {200, R"({"issuer":"https://as.example.com/realms/y",
        "token_endpoint":"https://as.example.com/t"})", {}, {}}, false, d).error() == error::discovery_issuer_mismatch));
}

BOOST_AUTO_TEST_SUITE_END()
