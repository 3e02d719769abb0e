// Secrets never leave the library in text: every path (success with each
// client authentication method and grant, refresh, each kind of failure,
// configuration mistakes) runs with recognisable secrets and tokens while
// everything the library can print is collected: trace events and metrics
// events at their most detailed (every event, printed), error messages,
// diagnostics, exception texts, `operator<<` of every public type, and the
// process's own stdout/stderr. None of the secrets, tokens, assertions or
// keys may appear in it. (The CLI's --verbose output is checked the same way
// by test/e2e/cli.sh.)
#include "assertion_files.hpp"
#include "fault_server.hpp"
#include "fetch.hpp"
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

std::string cert(const char* name) { return test::cert_dir() + "/" + name; }

/// Everything the process writes to fd 1 and 2 while it lives.
class captured_stdio {
public:
    captured_stdio() : file_(std::tmpfile())
    {
        std::fflush(nullptr);
        saved_out_ = ::dup(1);
        saved_err_ = ::dup(2);
        ::dup2(::fileno(file_), 1);
        ::dup2(::fileno(file_), 2);
    }
    /// Restores fd 1 and 2 and returns what was written.
    std::string release()
    {
        std::cout.flush();
        std::cerr.flush();
        std::fflush(nullptr);
        ::dup2(saved_out_, 1);
        ::dup2(saved_err_, 2);
        ::close(saved_out_);
        ::close(saved_err_);
        std::string text;
        std::rewind(file_);
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;)
            text.append(buf, n);
        std::fclose(file_);
        return text;
    }

private:
    std::FILE* file_;
    int saved_out_ = -1;
    int saved_err_ = -1;
};

/// The secrets of a run and the text the library produced.
struct leak_check {
    std::vector<std::string> secrets;
    std::ostringstream text;

    void secret(std::string s)
    {
        if (!s.empty())
            secrets.push_back(std::move(s));
    }

    /// A service that prints every trace and metrics event into `text`.
    void watch(authorization_service& auth)
    {
        auth.set_trace([this](const trace_event& e) { text << "trace: " << e << '\n'; });
        auth.set_metrics([this](const metrics_event& e) { text << "metric: " << e << '\n'; });
    }

    /// Everything a caller could print about a call's result.
    void record(const test::call_result& r)
    {
        text << "ec: " << r.ec << ' ' << r.ec.message() << " what: " << r.ec.what() << '\n';
        text << "diag: " << r.diag << " client_message: " << r.diag.client_message() << '\n';
        text << "failure: " << failure{r.ec, r.diag} << '\n';
        if (r.ec) {
            text << "error_with_diagnostics: " << error_with_diagnostics(r.ec, r.diag).what() << '\n';
            text << "system_error: " << boost::system::system_error(r.ec).what() << '\n';
        } else {
            text << "token: " << r.token << '\n';
            secret(std::string(r.token.value()));
            if (auto rt = r.token.refresh_token())
                secret(std::string(*rt));
        }
    }

    /// Runs one call on `auth` and records everything about it.
    std::shared_ptr<test::call_result> call(asio::io_context& ctx, authorization_service& auth,
                                            const http_client_options& o = {})
    {
        text << "options: " << o << '\n';
        auto r = test::call(ctx, auth, o);
        record(*r);
        text << "stats: " << auth.stats() << '\n';
        return r;
    }
};

/// base64 of "basic-client:basic-secret": the Basic credentials as sent.
constexpr const char* basic_credentials = "YmFzaWMtY2xpZW50OmJhc2ljLXNlY3JldA==";

} // namespace

BOOST_AUTO_TEST_SUITE(secrets)

BOOST_AUTO_TEST_CASE(no_secret_or_token_in_any_output)
{
    auto& server = test::default_server();
    leak_check leaks;
    const std::string subject = server.user_token("secret-keeper");
    for (auto s : {"basic-secret", "post-secret", "refresh-secret", "jwt-secret-client-secret-0123456789abcdef",
                   "canary-wrong-secret-7f1d", "canary-crlf-secret", basic_credentials})
        leaks.secret(s);
    leaks.secret(subject);
    std::string key_pem;
    {
        std::ifstream in(cert("client-jwt-es256.key"));
        std::getline(in, key_pem); // -----BEGIN PRIVATE KEY-----
        std::getline(in, key_pem); // the first line of the key itself
    }
    leaks.secret(key_pem);

    captured_stdio stdio;
    asio::io_context ctx;
    std::vector<int> failures_seen;
    auto expect = [&](bool failed_as_expected) { failures_seen.push_back(failed_as_expected ? 1 : 0); };

    // 1. Success with each client authentication method and grant; refresh.
    {
        auto cfg = test::basic_client(server);
        leaks.text << "config: " << cfg << " secret: " << cfg.client_secret << '\n';
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        expect(!leaks.call(ctx, auth)->ec);
        http_client_options forced;
        forced.force_authorization = true;
        expect(!leaks.call(ctx, auth, forced)->ec);
    }
    {
        auto cfg = test::basic_client(server);
        cfg.client_id = "post-client";
        cfg.client_secret = "post-secret";
        cfg.auth_method = client_auth_method::client_secret_post;
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        expect(!leaks.call(ctx, auth)->ec);
    }
    {
        auto cfg = test::basic_client(server);
        cfg.client_id = "jwt-secret-client";
        cfg.client_secret = "jwt-secret-client-secret-0123456789abcdef";
        cfg.auth_method = client_auth_method::client_secret_jwt;
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        expect(!leaks.call(ctx, auth)->ec);
    }
    {
        diagnostics d;
        auto key = signing_key::load_pem_file(cert("client-jwt-es256.key"), "", d);
        leaks.text << "key: " << *key.value() << '\n';
        auto cfg = test::basic_client(server);
        cfg.client_id = "jwt-es256-client";
        cfg.client_secret = "";
        cfg.auth_method = client_auth_method::private_key_jwt;
        cfg.client_key = key.value();
        leaks.text << "config: " << cfg << '\n';
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        expect(!leaks.call(ctx, auth)->ec);
        // token exchange with the user's JWT as the subject
        cfg.grant = grant_type::token_exchange;
        cfg.audience = "urn:tetrapak:orders";
        authorization_service exchanging(ctx.get_executor(), cfg);
        leaks.watch(exchanging);
        http_client_options o;
        o.actor_token = actor_token(subject);
        leaks.text << "subject: " << o.actor_token << '\n';
        expect(!leaks.call(ctx, exchanging, o)->ec);
    }
    {
        auto cfg = test::basic_client(server);
        cfg.client_id = "refresh-client";
        cfg.client_secret = "refresh-secret";
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        auto first = leaks.call(ctx, auth);
        expect(!first->ec && first->token.refresh_token().has_value());
        http_client_options forced;
        forced.force_authorization = true;
        expect(!leaks.call(ctx, auth, forced)->ec); // grant_type=refresh_token
    }

    // 2. Failures: refused secret, CR/LF in values, TLS, timeouts, bad answers.
    {
        auto cfg = test::basic_client(server);
        cfg.client_secret = "canary-wrong-secret-7f1d";
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        expect(leaks.call(ctx, auth)->ec == oauth_errc::invalid_client);
        // the same through the throwing completion styles
        asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
            try {
                co_await auth.async_authorize({}, with_diagnostics(asio::use_awaitable));
            } catch (const std::exception& e) {
                leaks.text << "thrown: " << e.what() << '\n';
            }
            try {
                co_await auth.async_authorize({}, asio::use_awaitable);
            } catch (const std::exception& e) {
                leaks.text << "thrown: " << e.what() << '\n';
            }
            auto o = co_await auth.async_authorize({}, as_outcome(asio::use_awaitable));
            if (!o)
                leaks.text << "outcome: " << o.error() << '\n';
            try {
                (void)o.value();
            } catch (const std::exception& e) {
                leaks.text << "outcome thrown: " << e.what() << '\n';
            }
        }, asio::detached);
        ctx.restart();
        ctx.run();
    }
    {
        auto cfg = test::basic_client(server);
        cfg.client_secret = "canary-crlf-secret\r\nX-Injected: 1";
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        expect(leaks.call(ctx, auth)->ec == error::invalid_header_value);
        cfg.client_secret = "basic-secret";
        cfg.grant = grant_type::token_exchange;
        authorization_service exchanging(ctx.get_executor(), cfg);
        http_client_options o;
        o.actor_token = actor_token(subject + "\n");
        expect(leaks.call(ctx, exchanging, o)->ec == error::invalid_header_value);
    }
    {
        test::oidc_server untrusted({"other-server"});
        auto cfg = test::basic_client(untrusted);
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        expect(leaks.call(ctx, auth)->ec == error::tls_verification_failed);
    }
    {
        test::fault_server stalling([](test::fault_server::socket& s) {
            auto tls = test::server_tls_context();
            test::tls_stream st(s, tls);
            st.handshake(asio::ssl::stream_base::server);
            test::read_request(st);
            test::stall(s);
        });
        auto cfg = test::fault_client(stalling.url());
        cfg.client_secret = "canary-wrong-secret-7f1d";
        cfg.timeouts.response_header = 200ms;
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        expect(leaks.call(ctx, auth)->ec == error::response_header_timeout);
    }
    {
        // A server that answers 200 with a body that is not a token response,
        // and one whose error answer carries a description.
        for (std::string body : {std::string(R"({"access_token":"","token_type":"Bearer"})"),
                                 std::string(R"({"error":"invalid_client","error_description":"bad client"})")}) {
            const bool is_error = body.find("\"error\"") != std::string::npos;
            test::fault_server answering([&](test::fault_server::socket& s) {
                auto tls = test::server_tls_context();
                test::tls_stream st(s, tls);
                st.handshake(asio::ssl::stream_base::server);
                test::read_request(st);
                test::write_raw(st, test::http(is_error ? "401 Unauthorized" : "200 OK", body));
            });
            auto cfg = test::fault_client(answering.url());
            cfg.client_secret = "canary-wrong-secret-7f1d";
            authorization_service auth(ctx.get_executor(), cfg);
            leaks.watch(auth);
            auto r = leaks.call(ctx, auth);
            expect(is_error ? r->ec == oauth_errc::invalid_client : r->ec == error::missing_access_token);
        }
    }

    // 3. Configuration: a secret next to a mistake, from JSON and environment.
    {
        diagnostics d;
        auto doc = boost::json::parse(R"({"TetraPak": {"ClientId": "cfg-client", "ClientSecret": "canary-wrong-secret-7f1d",
                                          "GrantType": "Sideways"}})");
        auto s = load_settings(doc, d);
        expect(!s && s.error() == error::config_unknown_grant);
        leaks.text << "settings: " << s.error().message() << ' ' << d << '\n';
        diagnostics d2;
        auto doc2 = boost::json::parse(R"({"TetraPak": {"ClientId": "cfg-client", "ClientSecret": ["canary-wrong-secret-7f1d"]}})");
        auto s2 = load_settings(doc2, d2);
        expect(!s2);
        leaks.text << "settings: " << s2.error().message() << ' ' << d2 << '\n';
        diagnostics d3;
        auto doc3 = boost::json::parse(R"({"TetraPak": {"ClientId": "cfg-client", "ClientSecret": "canary-wrong-secret-7f1d",
                                           "TokenIssuerUrl": "http://example.com/token"}})");
        auto s3 = load_settings(doc3, d3);
        if (s3) {
            auto resolved = s3->resolve("", "", [](const char*) -> const char* { return nullptr; }, d3);
            leaks.text << "resolved: " << (resolved ? "ok" : resolved.error().message()) << ' ' << d3 << '\n';
            if (resolved)
                leaks.text << "config: " << *resolved << '\n';
        } else {
            leaks.text << "settings: " << s3.error().message() << ' ' << d3 << '\n';
        }
        const char* env[] = {"TetraPak__ClientSecret=canary-wrong-secret-7f1d", "TetraPak__GrantType=Upwards", nullptr};
        tetrapak_settings from_env;
        diagnostics d4;
        auto applied = apply_environment_variables(from_env, env, d4);
        expect(!applied);
        leaks.text << "environment: " << applied.error().message() << ' ' << d4 << '\n';
    }

    const std::string printed = leaks.text.str() + stdio.release();

    // Every path went the way the test meant (else it would prove little).
    for (std::size_t i = 0; i < failures_seen.size(); ++i)
        BOOST_TEST(failures_seen[i] == 1, "path " << i << " did not end as expected");
    BOOST_TEST(failures_seen.size() == 18u);
    // The recording saw real text: events, messages, token fingerprints.
    BOOST_TEST(printed.find("trace: ") != std::string::npos);
    BOOST_TEST(printed.find("metric: ") != std::string::npos);
    BOOST_TEST(printed.find("thrown: ") != std::string::npos);
    BOOST_TEST(printed.find("bad client") != std::string::npos); // the server's description is kept
    BOOST_TEST(printed.find("GrantType") != std::string::npos);   // configuration errors name the key
    BOOST_TEST(leaks.secrets.size() >= 15u);
    std::vector<std::string> needles;
    for (const auto& s : leaks.secrets) {
        needles.push_back(s);
        if (s.size() >= 20) { // a truncated print shows a piece: its first or last 10 characters
            needles.push_back(s.substr(0, 10));
            needles.push_back(s.substr(s.size() - 10));
        }
    }
    for (const auto& s : needles) {
        const auto at = printed.find(s);
        // Print where, never the secret itself.
        BOOST_TEST(at == std::string::npos, "a secret of " << s.size() << " characters appears at offset " << at << ": "
                                                           << printed.substr(at == std::string::npos ? 0 : (at > 40 ? at - 40 : 0), 40)
                                                           << "<...>");
    }
    // No JWT (a token, a subject, a client assertion) in any form: a JWS starts with base64url("{\"").
    BOOST_TEST(printed.find("eyJ") == std::string::npos);
    BOOST_TEST(printed.find("PRIVATE KEY") == std::string::npos);
}

namespace {

/// A new EC P-256 key as PEM in a file of its own (for dpop_key::load_pem_file).
std::string write_ec_key(const std::string& path)
{
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
                                                             &EVP_PKEY_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "w"), &BIO_free);
    BOOST_TEST_REQUIRE((pkey && bio));
    BOOST_TEST_REQUIRE(PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
    bio.reset();
    std::ifstream in(path);
    std::string line, body;
    while (std::getline(in, line))
        if (line.rfind("-----", 0) != 0)
            body += line;
    return body;
}

} // namespace

BOOST_AUTO_TEST_CASE(no_dpop_key_proof_nonce_assertion_or_bound_token_in_any_output)
{
    static test::oidc_server server({.extra_args = {"--dpop-nonce"}});
    leak_check leaks;
    const std::string key_file = test::cert_dir() + "/secrets-dpop.pem";
    const std::string key_body = write_ec_key(key_file);
    for (std::size_t i = 0; i + 16 <= key_body.size(); i += 16)
        leaks.secret(key_body.substr(i, 16)); // any piece of the private key
    leaks.secret("dpop-secret");

    captured_stdio stdio;
    asio::io_context ctx;
    int ok = 0;
    {
        diagnostics d;
        auto key = dpop_key::load_pem_file(key_file, "", d);
        BOOST_TEST_REQUIRE(key.has_value(), d);
        leaks.text << "key: " << **key << " jwk: " << (*key)->public_jwk() << '\n';
        auto cfg = test::basic_client(server);
        cfg.client_id = "dpop-client";
        cfg.client_secret = "dpop-secret";
        cfg.resource = "urn:tetrapak:test-api";
        cfg.dpop.enabled = true;
        cfg.dpop.key = *key;
        leaks.text << "config: " << cfg << '\n';
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        auto first = leaks.call(ctx, auth); // the nonce dance: use_dpop_nonce, then the token
        ok += !first->ec && first->token.is_dpop_bound();
        http_client_options forced;
        forced.force_authorization = true;
        ok += !leaks.call(ctx, auth, forced)->ec; // a refresh with a proof
    }
    { // a server that asks for a nonce forever: the failure path, with nonces in the answers
        std::atomic<int> requests{0};
        test::fault_server fs(test::serving(requests, [](int n) {
            return test::http("400 Bad Request", R"({"error":"use_dpop_nonce","error_description":"nonce please"})",
                              "DPoP-Nonce: canary-nonce-value-" + std::to_string(n) + "\r\n");
        }));
        leaks.secret("canary-nonce-value-1");
        leaks.secret("canary-nonce-value-2");
        auto cfg = test::fault_client(fs.url());
        cfg.dpop.enabled = true;
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        ok += leaks.call(ctx, auth)->ec == oauth_errc::use_dpop_nonce;
    }
    { // workload identity: a platform's assertion file for the client, and as a jwt_bearer grant
        diagnostics d;
        auto platform = signing_key::load_pem_file(cert("workload-issuer.key"), "", d);
        BOOST_TEST_REQUIRE(platform.has_value(), d);
        const auto exp = test::numeric_date(std::chrono::system_clock::now() + 10min);
        const std::string client_assertion = test::signed_jwt(
            **platform, {{"iss", "workload-client"}, {"sub", "workload-client"}, {"aud", server.token_endpoint()},
                         {"jti", "secrets-jti"}, {"exp", exp}});
        const std::string grant_assertion = test::signed_jwt(
            **platform, {{"iss", "https://platform.tetrapak.test"}, {"sub", "secret-workload"},
                         {"aud", server.token_endpoint()}, {"exp", exp}});
        leaks.secret(client_assertion);
        leaks.secret(grant_assertion);
        test::temp_dir dir;
        const std::string client_file = dir.file("token");
        const std::string grant_file = dir.file("grant");
        test::write_file(client_file, client_assertion);
        test::write_file(grant_file, grant_assertion);
        auto cfg = test::basic_client(server);
        cfg.client_id = "workload-client";
        cfg.client_secret = "";
        cfg.auth_method = client_auth_method::private_key_jwt;
        cfg.client_assertion.file = client_file;
        cfg.dpop.enabled = true; // with DPoP and the nonce dance as well
        leaks.text << "config: " << cfg << '\n';
        authorization_service auth(ctx.get_executor(), cfg);
        leaks.watch(auth);
        ok += !leaks.call(ctx, auth)->ec;
        cfg.grant = grant_type::jwt_bearer;
        cfg.jwt_bearer_assertion.file = grant_file;
        authorization_service bearer(ctx.get_executor(), cfg);
        leaks.watch(bearer);
        ok += !leaks.call(ctx, bearer)->ec;
        cfg.client_assertion.file = dir.file("missing");
        authorization_service missing(ctx.get_executor(), cfg);
        leaks.watch(missing);
        ok += leaks.call(ctx, missing)->ec == error::client_assertion_unavailable;
    }
    const std::string printed = leaks.text.str() + stdio.release();
    std::remove(key_file.c_str());

    BOOST_TEST(ok == 6);
    BOOST_TEST(printed.find("/missing") != std::string::npos); // the error names the file
    BOOST_TEST(printed.find("DPoP") != std::string::npos); // the token type is printed
    BOOST_TEST(printed.find("nonce please") != std::string::npos); // the server's description is kept
    for (const auto& s : leaks.secrets) {
        const auto at = printed.find(s);
        BOOST_TEST(at == std::string::npos, "a secret of " << s.size() << " characters appears at offset " << at);
    }
    BOOST_TEST(printed.find("eyJ") == std::string::npos); // no proof, bound token or assertion (a JWS)
    BOOST_TEST(printed.find("PRIVATE KEY") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(tls_verification_and_plain_http_are_opt_in_and_loudly_named)
{
    // The defaults verify and refuse http://; no configuration key turns verification off.
    auth_config defaults;
    BOOST_TEST(!defaults.tls.insecure_disable_verification_i_know_what_i_am_doing);
    BOOST_TEST(!defaults.allow_insecure_http_on_loopback);
    diagnostics d;
    auto doc = boost::json::parse(R"({"TetraPak": {"ClientId": "c", "ClientSecret": "s", "TokenIssuerUrl": "https://127.0.0.1/token",
                                      "InsecureDisableVerification": true, "DisableTlsVerification": true,
                                      "AllowInsecureHttpOnLoopback": true, "VerifyTls": false}})");
    auto s = load_settings(doc, d);
    BOOST_TEST_REQUIRE(s.has_value(), d);
    auto cfg = s->resolve("", "", [](const char*) -> const char* { return nullptr; }, d);
    BOOST_TEST_REQUIRE(cfg.has_value(), d);
    BOOST_TEST(!cfg->tls.insecure_disable_verification_i_know_what_i_am_doing);
    BOOST_TEST(!cfg->allow_insecure_http_on_loopback);
    // http:// to a non-loopback host is refused even with the loopback option.
    auto plain = test::fault_client("http://example.com/token");
    plain.allow_insecure_http_on_loopback = true;
    auto f = test::fetch(plain);
    BOOST_TEST(f.ec == error::insecure_transport);
    plain.token_endpoint = "http://127.0.0.1:9/token";
    plain.allow_insecure_http_on_loopback = false;
    BOOST_TEST(test::fetch(plain).ec == error::insecure_transport);
}

BOOST_AUTO_TEST_SUITE_END()
