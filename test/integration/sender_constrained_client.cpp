// authorized_client with sender-constrained tokens, end to end: tokens from
// the real oidc-provider (DPoP-bound, or bound to the client certificate with
// --mtls-bound), sent to an in-process Beast resource server that verifies
// every DPoP proof and certificate binding with OpenSSL on its own
// (test/common/resource_server.hpp).
#include "fetch.hpp"
#include "oidc_server.hpp"
#include "resource_server.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>
#include <tetrapak/dpop.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <set>

using namespace tetrapak;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using test::resource_mode;
using test::resource_server;

namespace {

constexpr std::string_view api = "urn:tetrapak:test-api";

std::string cert(const char* name) { return test::cert_dir() + "/" + name; }

std::shared_ptr<const dpop_key> new_key(std::string_view alg = "ES256")
{
    auto k = dpop_key::generate(alg);
    BOOST_TEST_REQUIRE(k.has_value());
    return *k;
}

struct sent {
    error_code ec = asio::error::would_block;
    authorized_client::response_type res;
    diagnostics diag;
    int calls = 0;
};

sent send(asio::io_context& ctx, authorized_client& client, std::string url, authorized_client::request_type req)
{
    sent r;
    client.async_send(std::move(url), std::move(req), {}, r.diag,
                      [&](error_code ec, authorized_client::response_type res) {
                          r.ec = ec;
                          r.res = std::move(res);
                          ++r.calls;
                      });
    ctx.restart();
    ctx.run_for(20s);
    BOOST_TEST(ctx.stopped());
    BOOST_TEST(r.calls == 1);
    return r;
}

sent send(asio::io_context& ctx, authorized_client& client, std::string url, http::verb method = http::verb::get)
{
    authorized_client::request_type req{method, "/ignored", 11};
    if (method == http::verb::post)
        req.body() = "{}";
    return send(ctx, client, std::move(url), std::move(req));
}

std::string string_of(const boost::json::object& o, std::string_view name)
{
    const auto* v = o.if_contains(name);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

test::oidc_server& mtls_bound_server()
{
    static test::oidc_server s({.extra_args = {"--mtls-bound", "--mtls-aliases"}});
    return s;
}

std::string x5t_of(const actor_token& t)
{
    auto it = t.claims().find("cnf");
    if (it == t.claims().end() || !it->value().is_object())
        return {};
    return string_of(it->value().as_object(), "x5t#S256");
}

} // namespace

BOOST_AUTO_TEST_SUITE(dpop_client)

BOOST_AUTO_TEST_CASE(a_dpop_token_goes_with_a_proof_the_resource_server_verifies)
{
    auto& server = test::default_server();
    auto key = new_key();
    resource_server rs({.mode = resource_mode::dpop, .expected_jkt = std::string(key->thumbprint())});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::dpop_client(server, key));
    authorized_client client(auth);
    auto r = send(ctx, client, rs.url("/orders?page=2"), http::verb::post);
    BOOST_TEST_REQUIRE(!r.ec, r.ec.message() << ' ' << r.diag);
    BOOST_TEST(r.res.result_int() == 200u, r.res.body());
    auto v = rs.verdicts();
    BOOST_TEST_REQUIRE(v.size() == 1u);
    BOOST_TEST(v[0].accepted, v[0].reason);
    BOOST_TEST(v[0].scheme == "DPoP");
    BOOST_TEST(v[0].jkt == key->thumbprint());
    auto claims = rs.last_proof_claims();
    BOOST_TEST(string_of(claims, "htm") == "POST");
    BOOST_TEST(string_of(claims, "htu") == rs.url("/orders")); // no query
    BOOST_TEST(!string_of(claims, "ath").empty());

    // More requests on the kept-alive connection: a new proof (jti) each time.
    for (int i = 0; i < 5; ++i) {
        auto again = send(ctx, client, rs.url("/orders"));
        BOOST_TEST_REQUIRE(!again.ec, again.ec.message());
        BOOST_TEST(again.res.result_int() == 200u, again.res.body());
    }
    BOOST_TEST(rs.accepted() == 6);
    BOOST_TEST(rs.replays() == 0);
    BOOST_TEST(rs.connections() == 1);
}

BOOST_AUTO_TEST_CASE(every_algorithm_is_accepted_downstream)
{
    auto& server = test::default_server();
    for (std::string_view alg : {"ES256", "RS256", "PS256", "EdDSA"}) {
        auto key = new_key(alg);
        resource_server rs({.mode = resource_mode::dpop, .expected_jkt = std::string(key->thumbprint())});
        asio::io_context ctx;
        authorization_service auth(ctx.get_executor(), test::dpop_client(server, key));
        authorized_client client(auth);
        auto r = send(ctx, client, rs.url());
        BOOST_TEST_REQUIRE(!r.ec, alg << ": " << r.ec.message() << ' ' << r.diag);
        BOOST_TEST(r.res.result_int() == 200u, alg << ": " << r.res.body());
    }
}

BOOST_AUTO_TEST_CASE(a_resource_nonce_is_answered_once_and_kept_per_origin)
{
    auto& server = test::default_server();
    auto key = new_key();
    resource_server a({.mode = resource_mode::dpop, .require_nonce = true});
    resource_server b({.mode = resource_mode::dpop, .require_nonce = true});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::dpop_client(server, key));
    authorized_client client(auth);
    server.reset_stats();

    auto first = send(ctx, client, a.url("/one"));
    BOOST_TEST_REQUIRE(!first.ec, first.ec.message());
    BOOST_TEST(first.res.result_int() == 200u, first.res.body());
    BOOST_TEST(a.nonce_challenges() == 1);
    BOOST_TEST(a.requests() == 2);
    BOOST_TEST(server.stat("token_requests") == 1); // the nonce retry keeps the token

    // Another path on the same origin: the nonce is the origin's, no challenge.
    auto second = send(ctx, client, a.url("/two"));
    BOOST_TEST(second.res.result_int() == 200u, second.res.body());
    BOOST_TEST(a.nonce_challenges() == 1);

    // Another origin has its own nonce.
    auto other = send(ctx, client, b.url("/one"));
    BOOST_TEST(other.res.result_int() == 200u, other.res.body());
    BOOST_TEST(b.nonce_challenges() == 1);
    auto third = send(ctx, client, a.url("/three"));
    BOOST_TEST(third.res.result_int() == 200u, third.res.body());
    BOOST_TEST(a.nonce_challenges() == 1); // b's nonce did not replace a's
    BOOST_TEST(server.stat("token_requests") == 1);
}

BOOST_AUTO_TEST_CASE(a_nonce_sent_with_a_success_is_used_next)
{
    auto& server = test::default_server();
    resource_server rs({.mode = resource_mode::dpop, .require_nonce = true, .rotate_nonce_every = 1});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::dpop_client(server, new_key()));
    authorized_client client(auth);
    for (int i = 0; i < 4; ++i) {
        auto r = send(ctx, client, rs.url());
        BOOST_TEST(r.res.result_int() == 200u, r.res.body());
    }
    BOOST_TEST(rs.nonce_challenges() == 1); // only the first request, before any nonce was known
    BOOST_TEST(rs.accepted() == 4);
}

BOOST_AUTO_TEST_CASE(a_bearer_token_never_carries_a_proof)
{
    auto& server = test::default_server();
    resource_server rs({.mode = resource_mode::bearer_only});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), test::basic_client(server));
    authorized_client client(auth);
    authorized_client::request_type req{http::verb::get, "/ignored", 11};
    req.set("DPoP", "a-stale-proof-from-the-caller"); // the caller's own header is dropped
    auto r = send(ctx, client, rs.url(), std::move(req));
    BOOST_TEST_REQUIRE(!r.ec, r.ec.message());
    BOOST_TEST(r.res.result_int() == 200u, r.res.body());
    auto v = rs.verdicts();
    BOOST_TEST_REQUIRE(v.size() == 1u);
    BOOST_TEST(v[0].accepted, v[0].reason);
    BOOST_TEST(v[0].scheme == "Bearer");
    BOOST_TEST(v[0].jkt.empty()); // no proof was sent
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(mtls_bound)

/// A token for `cfg` (mutual TLS with the pair `name`), sent by
/// authorized_client to a resource server that checks the binding: accepted,
/// with the certificate of `name` seen downstream and in the token's cnf.
void check_bound_end_to_end(auth_config cfg, const char* pem)
{
    cfg.resource = std::string(api);
    resource_server rs({.mode = resource_mode::mtls_bound});
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    authorized_client client(auth);
    auto r = send(ctx, client, rs.url());
    BOOST_TEST_REQUIRE(!r.ec, r.ec.message() << ' ' << r.diag);
    BOOST_TEST(r.res.result_int() == 200u, r.res.body());
    auto v = rs.verdicts();
    BOOST_TEST_REQUIRE(v.size() == 1u);
    BOOST_TEST(v[0].accepted, v[0].reason);
    BOOST_TEST(v[0].client_cert == test::x5t_s256(cert(pem))); // the same certificate downstream
    auto t = test::call(ctx, auth);
    BOOST_TEST(x5t_of(t->token) == test::x5t_s256(cert(pem)));
}

BOOST_AUTO_TEST_CASE(a_certificate_bound_token_works_end_to_end)
{
    check_bound_end_to_end(test::mtls_client(mtls_bound_server(), "mtls-client", "client"), "client.pem");
}

BOOST_AUTO_TEST_CASE(a_self_signed_certificate_binds_too)
{
    check_bound_end_to_end(test::mtls_client(mtls_bound_server(), "mtls-self-signed-client", "client-self-signed",
                                             client_auth_method::self_signed_tls_client_auth),
                           "client-self-signed.pem");
}

BOOST_AUTO_TEST_CASE(mutual_tls_clients_use_the_mtls_endpoint_alias_from_discovery)
{
    auto& server = mtls_bound_server();
    const std::string discovery = server.issuer() + "/.well-known/openid-configuration";
    auto bearer = test::basic_client(server); // no mutual TLS: the plain token endpoint
    bearer.token_endpoint.clear();
    bearer.discovery_document_url = discovery;
    auto cfg = test::mtls_client(server, "mtls-client", "client");
    cfg.token_endpoint.clear();
    cfg.discovery_document_url = discovery;
    cfg.resource = std::string(api);
    server.reset_stats();
    auto bound = test::fetch(cfg);
    BOOST_TEST_REQUIRE(!bound.ec, bound.ec.message() << ' ' << bound.diag);
    BOOST_TEST(server.stat("mtls_alias_requests") == 1);
    BOOST_TEST(x5t_of(bound.token) == test::x5t_s256(cert("client.pem")));
    auto plain = test::fetch(bearer);
    BOOST_TEST_REQUIRE(!plain.ec, plain.ec.message() << ' ' << plain.diag);
    BOOST_TEST(server.stat("mtls_alias_requests") == 1);
    BOOST_TEST(server.stat("token_requests") == 2);
}

BOOST_AUTO_TEST_SUITE_END()
