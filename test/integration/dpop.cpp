// DPoP (RFC 9449) at the token endpoint, against the real oidc-provider with
// features.dPoP, once with nonces optional and once required (--dpop-nonce);
// in-process fault servers only for answers oidc-provider never gives on
// demand (invalid_dpop_proof, a nonce demanded forever).
#include "assertion_files.hpp"
#include "fault_server.hpp"
#include "fetch.hpp"
#include "oidc_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>
#include <tetrapak/dpop.hpp>
#include <tetrapak/protocol.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <set>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using test::call;
using test::fetch;

namespace {


std::shared_ptr<const dpop_key> new_key(std::string_view alg = "ES256")
{
    diagnostics d;
    auto k = dpop_key::generate(alg, d);
    BOOST_TEST_REQUIRE(k.has_value(), alg << ": " << d);
    return *k;
}

using test::dpop_client;

std::string cnf_jkt(const actor_token& t)
{
    auto it = t.claims().find("cnf");
    if (it == t.claims().end() || !it->value().is_object())
        return {};
    const auto* jkt = it->value().as_object().if_contains("jkt");
    return jkt && jkt->is_string() ? std::string(jkt->as_string()) : std::string();
}

http_client_options forced()
{
    http_client_options o;
    o.force_authorization = true;
    return o;
}

test::oidc_server& nonce_server()
{
    static test::oidc_server s({.extra_args = {"--dpop-nonce"}});
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(dpop)

BOOST_AUTO_TEST_CASE(client_credentials_token_is_bound_to_the_proof_key)
{
    auto& server = test::default_server();
    auto key = new_key();
    server.reset_stats();
    auto f = fetch(dpop_client(server, key));
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST(f.token.token_type() == "DPoP");
    BOOST_TEST(f.token.is_dpop_bound());
    BOOST_TEST(cnf_jkt(f.token) == key->thumbprint());
    BOOST_TEST(f.token.authorization_header().rfind("DPoP ", 0) == 0u);
    BOOST_TEST(server.stat("dpop_requests") == 1);
}

BOOST_AUTO_TEST_CASE(every_algorithm_binds_the_token_to_its_key)
{
    auto& server = test::default_server();
    for (std::string_view alg : {"ES256", "RS256", "PS256", "EdDSA"}) {
        auto key = new_key(alg);
        BOOST_TEST(key->algorithm() == alg);
        auto f = fetch(dpop_client(server, key));
        BOOST_TEST_REQUIRE(!f.ec, alg << ": " << f.ec.message() << ' ' << f.diag);
        BOOST_TEST(f.token.token_type() == "DPoP");
        BOOST_TEST(cnf_jkt(f.token) == key->thumbprint(), alg);
    }
}

BOOST_AUTO_TEST_CASE(a_generated_key_is_one_per_service)
{
    auto& server = test::default_server();
    auto cfg = dpop_client(server);
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    auto first = call(ctx, auth);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message() << ' ' << first->diag);
    auto second = call(ctx, auth, forced());
    BOOST_TEST_REQUIRE(!second->ec, second->ec.message() << ' ' << second->diag);
    BOOST_TEST(!cnf_jkt(first->token).empty());
    BOOST_TEST(cnf_jkt(first->token) == cnf_jkt(second->token)); // the same key for the service's lifetime
    BOOST_TEST(first->token.value() != second->token.value());

    asio::io_context ctx2; // another service: another key
    authorization_service other(ctx2.get_executor(), cfg);
    auto third = call(ctx2, other);
    BOOST_TEST_REQUIRE(!third->ec, third->ec.message() << ' ' << third->diag);
    BOOST_TEST(cnf_jkt(third->token) != cnf_jkt(first->token));
}

BOOST_AUTO_TEST_CASE(token_exchange_and_refresh_are_bound_too)
{
    auto& server = test::default_server();
    auto key = new_key();
    actor_token subject(server.user_token("alice", "User"));
    auto cfg = dpop_client(server, key);
    cfg.grant = grant_type::token_exchange;
    cfg.resource.clear();
    cfg.audience = "urn:tetrapak:orders";
    auto x = fetch(cfg, subject);
    BOOST_TEST_REQUIRE(!x.ec, x.ec.message() << ' ' << x.diag);
    BOOST_TEST(x.token.token_type() == "DPoP");
    BOOST_TEST(cnf_jkt(x.token) == key->thumbprint());

    // dpop-client's client credentials answers carry a refresh token: a forced
    // renewal refreshes with a proof of the same key.
    auto cc = dpop_client(server, key);
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cc);
    auto first = call(ctx, auth);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message() << ' ' << first->diag);
    BOOST_TEST_REQUIRE(first->token.refresh_token().has_value());
    server.reset_stats();
    auto renewed = call(ctx, auth, forced());
    BOOST_TEST_REQUIRE(!renewed->ec, renewed->ec.message() << ' ' << renewed->diag);
    BOOST_TEST(server.stat("refresh_requests") == 1);
    BOOST_TEST(server.stat("dpop_requests") == 1);
    BOOST_TEST(renewed->token.token_type() == "DPoP");
    BOOST_TEST(cnf_jkt(renewed->token) == key->thumbprint());
}

BOOST_AUTO_TEST_CASE(jwt_bearer_grant_is_bound_too)
{
    auto& server = test::default_server();
    diagnostics d;
    auto platform = signing_key::load_pem_file(test::cert_dir() + "/workload-issuer.key", "", d);
    BOOST_TEST_REQUIRE(platform.has_value(), d);
    test::temp_dir dir;
    const std::string file = dir.file("grant");
    test::write_file(file, test::signed_jwt(**platform, {{"iss", "https://platform.tetrapak.test"},
                                                         {"sub", "carol"},
                                                         {"aud", server.token_endpoint()},
                                                         {"exp", test::numeric_date(std::chrono::system_clock::now() + 10min)}}));
    auto key = new_key();
    auto cfg = dpop_client(server, key);
    cfg.grant = grant_type::jwt_bearer;
    cfg.jwt_bearer_assertion.file = file;
    server.reset_stats();
    auto f = fetch(cfg);
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST(f.token.token_type() == "DPoP");
    BOOST_TEST(cnf_jkt(f.token) == key->thumbprint());
    BOOST_TEST((f.token.string_claim("sub") == std::string_view("carol")));
    BOOST_TEST(server.stat("jwt_bearer_requests") == 1);
}

BOOST_AUTO_TEST_CASE(another_key_is_another_cache_entry)
{
    auto& server = test::default_server();
    auto a = std::make_shared<auth_config>(dpop_client(server, new_key()));
    auto b = std::make_shared<auth_config>(dpop_client(server, new_key()));
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), *a);
    http_client_options oa, ob;
    oa.auth_config = a;
    ob.auth_config = b;
    server.reset_stats();
    auto ta = call(ctx, auth, oa);
    auto tb = call(ctx, auth, ob);
    BOOST_TEST_REQUIRE(!ta->ec, ta->diag);
    BOOST_TEST_REQUIRE(!tb->ec, tb->diag);
    BOOST_TEST(server.stat("token_requests") == 2); // not served from the other key's entry
    BOOST_TEST(cnf_jkt(ta->token) == a->dpop.key->thumbprint());
    BOOST_TEST(cnf_jkt(tb->token) == b->dpop.key->thumbprint());
    auto again = call(ctx, auth, oa);
    BOOST_TEST((again->token == ta->token)); // the same key: the cached token
    BOOST_TEST(server.stat("token_requests") == 2);
}

BOOST_AUTO_TEST_CASE(a_replayed_proof_is_refused_and_the_library_never_replays)
{
    auto& server = test::default_server();
    auto key = new_key();
    // The server refuses a proof it has seen (so dpop_replays below can count).
    const std::string htu = server.token_endpoint();
    auto proof = make_dpop_proof(*key, {"POST", htu});
    BOOST_TEST_REQUIRE(proof.has_value());
    const std::string form = "grant_type=client_credentials";
    server.reset_stats();
    auto once = server.request("POST", "/token", form, "dpop-client", "dpop-secret", *proof);
    auto twice = server.request("POST", "/token", form, "dpop-client", "dpop-secret", *proof);
    BOOST_TEST(once.status == 200u, once.body);
    BOOST_TEST(twice.status == 400u, twice.body);
    BOOST_TEST(twice.body.find("Replay") != std::string::npos, twice.body);
    BOOST_TEST(server.stat("dpop_replays") == 1);

    // Twenty fetches with one key, forced: never a repeated jti.
    server.reset_stats();
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), dpop_client(server, key));
    for (int i = 0; i < 20; ++i) {
        auto r = call(ctx, auth, forced());
        BOOST_TEST_REQUIRE(!r->ec, r->ec.message() << ' ' << r->diag);
    }
    BOOST_TEST(server.stat("dpop_requests") == 20);
    BOOST_TEST(server.stat("dpop_replays") == 0);
}

BOOST_AUTO_TEST_CASE(without_dpop_a_dpop_only_client_is_refused_with_the_servers_words)
{
    auto& server = test::default_server();
    auto cfg = dpop_client(server);
    cfg.dpop.enabled = false;
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == oauth_errc::invalid_grant, f.ec.message());
    BOOST_TEST(f.diag.error_description().find("DPoP") != std::string_view::npos, f.diag);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dpop_nonce)

BOOST_AUTO_TEST_CASE(the_nonce_dance_costs_one_extra_request_once_per_server)
{
    auto& server = nonce_server();
    auto cfg = dpop_client(server, new_key());
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    server.reset_stats();
    auto first = call(ctx, auth);
    BOOST_TEST_REQUIRE(!first->ec, first->ec.message() << ' ' << first->diag);
    BOOST_TEST(first->token.token_type() == "DPoP");
    BOOST_TEST(server.stat("token_requests") == 2);
    BOOST_TEST(server.stat("dpop_nonce_challenges") == 1);
    BOOST_TEST(auth.stats()[metric::retry] == 0u); // the nonce answer is no retry

    // The nonce from the last answer (a successful one) goes with the next request.
    server.reset_stats();
    for (int i = 0; i < 3; ++i) {
        auto r = call(ctx, auth, forced());
        BOOST_TEST_REQUIRE(!r->ec, r->ec.message() << ' ' << r->diag);
    }
    BOOST_TEST(server.stat("token_requests") == 3);
    BOOST_TEST(server.stat("dpop_nonce_challenges") == 0);
}

BOOST_AUTO_TEST_CASE(token_exchange_does_the_nonce_dance_too)
{
    auto& server = nonce_server();
    actor_token subject(server.user_token("bob", "User"));
    auto cfg = dpop_client(server, new_key());
    cfg.grant = grant_type::token_exchange;
    cfg.resource.clear();
    cfg.audience = "urn:tetrapak:orders";
    server.reset_stats();
    auto f = fetch(cfg, subject);
    BOOST_TEST_REQUIRE(!f.ec, f.ec.message() << ' ' << f.diag);
    BOOST_TEST(f.token.token_type() == "DPoP");
    BOOST_TEST(server.stat("exchange_requests") == 2);
    BOOST_TEST(server.stat("dpop_nonce_challenges") == 1);
}

BOOST_AUTO_TEST_CASE(a_nonce_demanded_again_is_an_error_not_a_loop)
{
    std::atomic<int> requests{0};
    const std::string body =
        R"({"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"})";
    test::fault_server fs(test::serving(requests, [&](int n) {
        return test::http("400 Bad Request", body, "DPoP-Nonce: nonce-" + std::to_string(n) + "\r\n");
    }));
    auto cfg = test::fault_client(fs.url());
    cfg.retry.max_attempts = 3;
    cfg.dpop.enabled = true;
    cfg.dpop.key = new_key();
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == oauth_errc::use_dpop_nonce, f.ec.message());
    BOOST_TEST(f.diag.error_description() == "Authorization server requires nonce in DPoP proof");
    BOOST_TEST(requests.load() == 2); // the first answer and one retry with its nonce, never more
}

BOOST_AUTO_TEST_CASE(use_dpop_nonce_without_a_nonce_is_not_retried)
{
    std::atomic<int> requests{0};
    test::fault_server fs(test::serving(requests, [](int) {
        return test::http("400 Bad Request", R"({"error":"use_dpop_nonce"})");
    }));
    auto cfg = test::fault_client(fs.url());
    cfg.retry.max_attempts = 3;
    cfg.dpop.enabled = true;
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == oauth_errc::use_dpop_nonce, f.ec.message());
    BOOST_TEST(requests.load() == 1);
}

BOOST_AUTO_TEST_CASE(invalid_dpop_proof_is_typed_with_the_description_and_not_retried)
{
    std::atomic<int> requests{0};
    test::fault_server fs(test::serving(requests, [](int) {
        return test::http("400 Bad Request",
                          R"({"error":"invalid_dpop_proof","error_description":"DPoP proof htu mismatch"})");
    }));
    auto cfg = test::fault_client(fs.url());
    cfg.retry.max_attempts = 3;
    cfg.dpop.enabled = true;
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == oauth_errc::invalid_dpop_proof, f.ec.message());
    BOOST_TEST(f.diag.error_description() == "DPoP proof htu mismatch");
    BOOST_TEST(requests.load() == 1);
}

BOOST_AUTO_TEST_CASE(a_token_bound_to_another_key_is_refused)
{
    // A server (or something in between) answering with a token bound to
    // another key: never handed out, never cached.
    auto other = new_key();
    const std::string header = base64url_encode(R"({"alg":"RS256","typ":"at+jwt"})");
    const std::string claims = base64url_encode(R"({"sub":"x","exp":4102444800,"cnf":{"jkt":")" +
                                                std::string(other->thumbprint()) + R"("}})");
    const std::string jwt = header + "." + claims + ".c2ln";
    std::atomic<int> requests{0};
    test::fault_server fs(test::serving(requests, [&](int) {
        return test::http("200 OK", R"({"access_token":")" + jwt + R"(","token_type":"DPoP","expires_in":300})");
    }));
    auto cfg = test::fault_client(fs.url());
    cfg.dpop.enabled = true;
    cfg.dpop.key = new_key();
    auto f = fetch(cfg);
    BOOST_TEST(f.ec == error::dpop_key_mismatch, f.ec.message());
    BOOST_TEST(f.token.empty());

    cfg.dpop.enabled = false; // a DPoP token without a proof sent
    auto g = fetch(cfg);
    BOOST_TEST(g.ec == error::dpop_key_mismatch, g.ec.message());
}

BOOST_AUTO_TEST_SUITE_END()
