// Workload identity against the real authorization server: private_key_jwt
// with a client assertion the platform writes to a file (and rotates), and
// the RFC 7523 jwt_bearer grant with a platform's or the client's own assertion.
#include "assertion_files.hpp"
#include "fetch.hpp"
#include "oidc_server.hpp"

#include <tetrapak.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace tetrapak;
using namespace std::chrono_literals;
using test::default_server;
using test::fetch;
using sys_time = std::chrono::system_clock::time_point;

namespace {

/// The workload identity platform's issuer, as the test server trusts it.
constexpr std::string_view platform_issuer = "https://platform.tetrapak.test";

std::shared_ptr<const signing_key> key_from(const char* name)
{
    diagnostics d;
    auto k = signing_key::load_pem_file(test::cert_dir() + "/" + name, "", d);
    BOOST_TEST_REQUIRE(k.has_value(), name << ": " << d);
    return *k;
}

const signing_key& platform_key()
{
    static const auto key = key_from("workload-issuer.key");
    return *key;
}

sys_time now() { return std::chrono::system_clock::now(); }

/// The client assertion a platform writes for workload-client (iss = sub = the client).
std::string workload_client_assertion(std::string_view jti, sys_time exp = now() + 10min,
                                      const signing_key& key = platform_key())
{
    return test::signed_jwt(key, {{"iss", "workload-client"},
                                  {"sub", "workload-client"},
                                  {"aud", default_server().token_endpoint()},
                                  {"jti", jti},
                                  {"iat", test::numeric_date(now())},
                                  {"exp", test::numeric_date(exp)}});
}

/// A jwt_bearer grant assertion from the platform for `subject`.
std::string platform_grant_assertion(std::string_view subject, sys_time exp = now() + 10min,
                                     const signing_key& key = platform_key())
{
    return test::signed_jwt(key, {{"iss", platform_issuer},
                                  {"sub", subject},
                                  {"aud", default_server().token_endpoint()},
                                  {"jti", subject},
                                  {"iat", test::numeric_date(now())},
                                  {"exp", test::numeric_date(exp)}});
}

auth_config workload_client(const std::string& assertion_file)
{
    auth_config c;
    c.client_id = "workload-client";
    c.auth_method = client_auth_method::private_key_jwt;
    c.client_assertion.file = assertion_file;
    c.token_endpoint = default_server().token_endpoint();
    c.tls.ca_file = test::oidc_server::ca_file();
    c.retry.max_attempts = 1;
    return c;
}

auth_config basic_client_with_grant_file(const std::string& assertion_file)
{
    auth_config c;
    c.grant = grant_type::jwt_bearer;
    c.client_id = "basic-client";
    c.client_secret = "basic-secret";
    c.jwt_bearer_assertion.file = assertion_file;
    c.token_endpoint = default_server().token_endpoint();
    c.tls.ca_file = test::oidc_server::ca_file();
    return c;
}

std::string sub_of(const actor_token& t) { return std::string(t.string_claim("sub").value_or("")); }

/// A failure of the client before sending: the typed error, the file in diag, no request at the server.
void expect_refused_before_sending(const auth_config& cfg, error code, const std::string& path)
{
    auto& server = default_server();
    server.reset_stats();
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == make_error_code(code), f.ec.message() << ' ' << f.diag);
    BOOST_TEST(std::string(f.diag.client_message()).find(path) != std::string::npos, f.diag.client_message());
    BOOST_TEST(server.stat("token_requests") == 0);
}

} // namespace

BOOST_AUTO_TEST_SUITE(workload_identity)

BOOST_AUTO_TEST_CASE(workload_client_token_from_an_assertion_file)
{
    auto& server = default_server();
    const test::temp_file file(workload_client_assertion("first") + "\n");
    const std::string& path = file.path;
    server.reset_stats();
    auto f = fetch(workload_client(path));
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST(!f.token.value().empty());
    BOOST_TEST(server.stat("workload_auth_requests") == 1);
    // The platform's assertion is used as long as it is valid: a second service, the same file.
    auto again = fetch(workload_client(path));
    BOOST_TEST_REQUIRE(!again.ec, again.ec.message() << ' ' << again.diag);
    BOOST_TEST(server.stat("workload_auth_requests") == 2);
}

BOOST_AUTO_TEST_CASE(rotated_file_is_used_by_the_next_fetch)
{
    auto& server = default_server();
    const test::temp_file file(workload_client_assertion("before-rotation"));
    const std::string& path = file.path;
    boost::asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), workload_client(path));
    http_client_options forced;
    forced.force_authorization = true;
    server.reset_stats();
    auto first = test::call(ctx, auth);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message() << ' ' << first->diag);

    // Rotated to an assertion the server refuses (signed by a key it does not
    // trust for workload-client): the refusal proves the file was read again.
    test::replace_file(path, workload_client_assertion("wrong-key", now() + 10min, *key_from("client-jwt-es256.key")));
    auto refused = test::call(ctx, auth, forced);
    BOOST_TEST(refused->ec == make_error_code(oauth_errc::invalid_client), refused->ec.message() << ' ' << refused->diag);

    test::replace_file(path, workload_client_assertion("after-rotation"));
    auto second = test::call(ctx, auth, forced);
    BOOST_TEST_REQUIRE(!second->ec, second->ec.message() << ' ' << second->diag);
    BOOST_TEST(second->token.value() != first->token.value());
    BOOST_TEST(server.stat("token_requests") == 3);
    BOOST_TEST(server.stat("workload_auth_requests") == 2);
}

BOOST_AUTO_TEST_CASE(missing_empty_and_expired_files_fail_before_sending)
{
    test::temp_dir dir;
    const std::string path = dir.file("token");
    expect_refused_before_sending(workload_client(path), error::client_assertion_unavailable, path);
    test::write_file(path, "");
    expect_refused_before_sending(workload_client(path), error::client_assertion_unavailable, path);
    test::write_file(path, "\n");
    expect_refused_before_sending(workload_client(path), error::client_assertion_unavailable, path);
    test::write_file(path, workload_client_assertion("expired", now() - 30s));
    expect_refused_before_sending(workload_client(path), error::client_assertion_expired, path);
}

BOOST_AUTO_TEST_CASE(assertion_file_variable_from_the_configuration)
{
    const test::temp_file file(workload_client_assertion("configured"), "azure-identity-token");
    const std::string& path = file.path;
    diagnostics d;
    auto settings = load_settings(boost::json::parse(R"({"TetraPak": {"ClientId": "workload-client",
        "ClientAssertionFileVariable": "AZURE_FEDERATED_TOKEN_FILE"}})"), d);
    BOOST_TEST_REQUIRE(settings.has_value(), d);
    settings->token_issuer_url = default_server().token_endpoint();
    auto cfg = settings->resolve("", "", [&](const char* name) {
        return std::string_view(name) == "AZURE_FEDERATED_TOKEN_FILE" ? path.c_str() : nullptr;
    }, d);
    BOOST_TEST_REQUIRE(cfg.has_value(), d);
    cfg->tls.ca_file = test::oidc_server::ca_file();
    auto f = fetch(*cfg);
    BOOST_TEST(!f.ec, f.ec.message() << ' ' << f.diag);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(jwt_bearer)

BOOST_AUTO_TEST_CASE(platform_assertion_file_is_the_grant)
{
    auto& server = default_server();
    const test::temp_file file(platform_grant_assertion("system:serviceaccount:orders:api"), "grant");
    const std::string& path = file.path;
    server.reset_stats();
    auto f = fetch(basic_client_with_grant_file(path));
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST(sub_of(f.token) == "system:serviceaccount:orders:api");
    BOOST_TEST((f.token.string_claim("client_id") == std::string_view("basic-client")));
    BOOST_TEST(server.stat("jwt_bearer_requests") == 1);
}

BOOST_AUTO_TEST_CASE(workload_client_with_platform_files_for_both)
{
    auto& server = default_server();
    test::temp_dir dir;
    auto cfg = workload_client(dir.file("client-assertion"));
    cfg.grant = grant_type::jwt_bearer;
    cfg.jwt_bearer_assertion.file = dir.file("grant");
    test::write_file(cfg.client_assertion.file, workload_client_assertion("both"));
    test::write_file(cfg.jwt_bearer_assertion.file, platform_grant_assertion("system:serviceaccount:billing:job"));
    server.reset_stats();
    auto f = fetch(cfg);
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST(sub_of(f.token) == "system:serviceaccount:billing:job");
    BOOST_TEST(server.stat("jwt_bearer_requests") == 1);
    BOOST_TEST(server.stat("workload_auth_requests") == 1);
}

BOOST_AUTO_TEST_CASE(assertion_signed_with_the_client_key)
{
    auto cfg = basic_client_with_grant_file("");
    cfg.client_id = "jwt-es256-client";
    cfg.client_secret = {};
    cfg.auth_method = client_auth_method::private_key_jwt;
    cfg.client_key = key_from("client-jwt-es256.key");
    cfg.jwt_bearer_assertion = {};
    auto own = fetch(cfg);
    BOOST_TEST_REQUIRE(!own.ec, own.ec.message() << ' ' << own.diag);
    BOOST_TEST(sub_of(own.token) == "jwt-es256-client");
    cfg.jwt_bearer_subject = "alice";
    auto alice = fetch(cfg);
    BOOST_TEST_REQUIRE(!alice.ec, alice.ec.message() << ' ' << alice.diag);
    BOOST_TEST(sub_of(alice.token) == "alice");
}

BOOST_AUTO_TEST_CASE(cached_like_other_grants)
{
    auto& server = default_server();
    const test::temp_file file(platform_grant_assertion("system:serviceaccount:cache:api"), "grant");
    const std::string& path = file.path;
    boost::asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), basic_client_with_grant_file(path));
    server.reset_stats();
    auto first = test::call(ctx, auth);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message() << ' ' << first->diag);
    auto second = test::call(ctx, auth);
    BOOST_TEST_REQUIRE(!second->ec, second->ec.message() << ' ' << second->diag);
    BOOST_TEST(second->token.value() == first->token.value());
    BOOST_TEST(server.stat("token_requests") == 1);
    BOOST_TEST(auth.cache_size() == 1u);
}

BOOST_AUTO_TEST_CASE(expired_assertion_fails_before_sending)
{
    const test::temp_file file(platform_grant_assertion("system:serviceaccount:late:api", now() - 1min), "grant");
    const std::string& path = file.path;
    expect_refused_before_sending(basic_client_with_grant_file(path), error::client_assertion_expired, path);
    auto& server = default_server();
    auto cfg = basic_client_with_grant_file("");
    cfg.jwt_bearer_assertion = {};
    const std::string expired = platform_grant_assertion("system:serviceaccount:late:api", now() - 1min);
    cfg.jwt_bearer_assertion.callback = [&] { return expired; };
    server.reset_stats();
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == make_error_code(error::client_assertion_expired));
    const std::string m(f.diag.client_message()); // 60 or 61 s: the clock moved on since the JWT was made
    BOOST_TEST(m.rfind("jwt_bearer assertion callback: expired 6", 0) == 0, m);
    BOOST_TEST(server.stat("token_requests") == 0);
}

BOOST_AUTO_TEST_CASE(untrusted_assertion_is_the_servers_invalid_grant)
{
    const auto untrusted_key = key_from("client-jwt-es256.key");
    const test::temp_file file(platform_grant_assertion("system:serviceaccount:forged:api", now() + 10min, *untrusted_key),
                               "grant");
    const std::string& path = file.path;
    auto f = fetch(basic_client_with_grant_file(path));
    BOOST_TEST(f.ec == make_error_code(oauth_errc::invalid_grant), f.ec.message() << ' ' << f.diag);
    BOOST_TEST(!f.diag.error_description().empty());
}

BOOST_AUTO_TEST_SUITE_END()
