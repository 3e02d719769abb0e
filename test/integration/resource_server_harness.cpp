// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
// Self-test of the resource server harness (common/resource_server): plain Beast
// requests, with proofs from the library's DPoP API, each checked against the
// server's verdict.
#include "oidc_server.hpp"
#include "resource_server.hpp"

#include <tetrapak/dpop.hpp>
#include <tetrapak/signing_key.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;
using tetrapak::base64url_encode;
using tetrapak::dpop_key;
using tetrapak::test::cert_dir;
using tetrapak::test::resource_mode;
using tetrapak::test::resource_options;
using tetrapak::test::resource_server;
using tetrapak::test::verdict;
using clock_type = std::chrono::system_clock;

const std::string path = "/orders?x=1";

std::string joined(std::string_view a, std::string_view sep, std::string_view b)
{
    std::string s(a);
    s.append(sep).append(b);
    return s;
}

struct reply {
    unsigned status = 0;
    std::string www_authenticate;
    std::string dpop_nonce;
    std::string body;
};

/// One kept-alive HTTPS connection to a resource server, trusting the test CA and
/// presenting the certificate pair `client_cert` from cert_dir() when non-empty.
class https_client {
public:
    explicit https_client(const resource_server& server, const std::string& client_cert = {})
        : tls_(context(client_cert)), stream_(ctx_, tls_), port_(server.port())
    {
        stream_.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
        stream_.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
        stream_.handshake(asio::ssl::stream_base::client);
    }

    reply send(http::verb method, std::string_view authorization, const std::vector<std::string>& proofs,
               std::string_view target = path)
    {
        http::request<http::empty_body> req(method, target, 11);
        req.set(http::field::host, joined("127.0.0.1", ":", std::to_string(port_)));
        if (!authorization.empty())
            req.set(http::field::authorization, authorization);
        for (const std::string& p : proofs)
            req.insert("DPoP", p);
        http::write(stream_, req);
        http::response<http::string_body> res;
        http::read(stream_, buf_, res);
        return {res.result_int(), std::string(res[http::field::www_authenticate]), std::string(res["DPoP-Nonce"]), res.body()};
    }

private:
    static asio::ssl::context context(const std::string& client_cert)
    {
        asio::ssl::context tls(asio::ssl::context::tls_client);
        tls.load_verify_file(tetrapak::test::oidc_server::ca_file());
        tls.set_verify_mode(asio::ssl::verify_peer);
        if (!client_cert.empty()) {
            tls.use_certificate_chain_file(joined(cert_dir(), "/", client_cert) + ".pem");
            tls.use_private_key_file(joined(cert_dir(), "/", client_cert) + ".key", asio::ssl::context::pem);
        }
        return tls;
    }

    asio::io_context ctx_;
    asio::ssl::context tls_;
    asio::ssl::stream<asio::ip::tcp::socket> stream_;
    boost::beast::flat_buffer buf_;
    unsigned short port_;
};

std::shared_ptr<const dpop_key> new_key(std::string_view alg = "ES256")
{
    auto k = dpop_key::generate(alg);
    BOOST_TEST_REQUIRE(k.has_value(), alg << ": " << k.error().message());
    return *k;
}

/// The server's own RFC 7638 thumbprint of the key's public JWK.
std::string jkt_of(const dpop_key& k) { return tetrapak::test::jwk_thumbprint(json::parse(k.public_jwk()).as_object()); }

/// A JWT access token with these claims; the resource server does not verify its signature.
std::string jwt(const json::object& claims)
{
    return base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(json::serialize(claims)) + ".x";
}

std::string dpop_bound_token(std::string_view jkt) { return jwt({{"sub", "svc"}, {"cnf", {{"jkt", jkt}}}}); }

struct proof_args {
    std::string_view htm = "GET";
    std::string htu{};               ///< empty: the server's URL of `path`
    clock_type::time_point now = clock_type::now();
    std::string_view nonce{};
    std::optional<std::string_view> token{}; ///< for ath; nothing: the setup's token
};

/// A compact JWS of `header` and `claims`, signed by `signer` (whatever the header's jwk says).
std::string signed_jws(const dpop_key& signer, const json::object& header, const json::object& claims)
{
    const std::string input = base64url_encode(json::serialize(header)) + "." + base64url_encode(json::serialize(claims));
    auto sig = signer.sign(input);
    BOOST_TEST_REQUIRE(sig.has_value());
    return input + "." + base64url_encode(*sig);
}

/// A resource server in `opts`'s mode, an ES256 key, a token bound to it and a connection.
struct setup {
    resource_server server;
    std::shared_ptr<const dpop_key> key = new_key();
    std::string token = dpop_bound_token(jkt_of(*key));
    https_client client{server};

    explicit setup(resource_options opts = {}) : server(std::move(opts)) {}

    std::string proof(const proof_args& a = {}) const { return proof_by(*key, a); }
    std::string proof_by(const dpop_key& k, const proof_args& a) const
    {
        const std::string htu = a.htu.empty() ? tetrapak::dpop_htu(server.url(path)) : a.htu;
        tetrapak::dpop_proof_claims c{a.htm, htu, a.now, a.nonce, a.token.value_or(token)};
        auto p = tetrapak::make_dpop_proof(k, c);
        BOOST_TEST_REQUIRE(p.has_value(), p.error().message());
        return *p;
    }
    /// Claims as make_dpop_proof writes them, for proofs made by hand.
    json::object claims(std::string_view jti) const
    {
        return {{"jti", jti},
                {"htm", "GET"},
                {"htu", tetrapak::dpop_htu(server.url(path))},
                {"iat", std::chrono::duration_cast<std::chrono::seconds>(clock_type::now().time_since_epoch()).count()},
                {"ath", tetrapak::dpop_ath(token)}};
    }
    json::object header(const dpop_key& k, std::string_view typ = "dpop+jwt") const
    {
        return {{"typ", typ}, {"alg", k.algorithm()}, {"jwk", json::parse(k.public_jwk())}};
    }

    reply get(const std::string& proof, http::verb method = http::verb::get)
    {
        return client.send(method, joined("DPoP", " ", token), {proof});
    }
    verdict last() const
    {
        auto v = server.verdicts();
        BOOST_TEST_REQUIRE(!v.empty());
        return v.back();
    }
    void expect_accepted(const reply& r) const
    {
        const verdict v = last();
        BOOST_TEST(v.accepted, v.reason);
        BOOST_TEST(v.reason == "accepted");
        BOOST_TEST(r.status == 200u);
        BOOST_TEST(r.body == "resource");
    }
    void expect_refused(const reply& r, std::string_view error, std::string_view reason, unsigned status = 401) const
    {
        const verdict v = last();
        BOOST_TEST(!v.accepted);
        BOOST_TEST(v.error == error);
        BOOST_TEST(v.reason.starts_with(reason), v.reason);
        BOOST_TEST(r.status == status);
        if (error.empty()) // no credentials: a challenge without an error code (RFC 6750 §3.1)
            BOOST_TEST(r.www_authenticate.find("error=") == std::string::npos, r.www_authenticate);
        else
            BOOST_TEST(r.www_authenticate.find(joined("error=\"", error, "\"")) != std::string::npos, r.www_authenticate);
    }
};

resource_options with_mode(resource_mode m)
{
    resource_options o;
    o.mode = m;
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(resource_server_harness)

BOOST_AUTO_TEST_CASE(valid_proofs_are_accepted_on_a_kept_alive_connection)
{
    setup s;
    auto r = s.get(s.proof());
    s.expect_accepted(r);
    BOOST_TEST(r.dpop_nonce.empty()); // nonces are off
    auto again = s.get(s.proof());
    s.expect_accepted(again);

    auto v = s.server.verdicts();
    BOOST_TEST_REQUIRE(v.size() == 2u);
    BOOST_TEST(v[0].connection == 1);
    BOOST_TEST(v[1].connection == 1);
    BOOST_TEST(v[1].scheme == "DPoP");
    BOOST_TEST(v[1].target == path);
    BOOST_TEST(v[1].method == "GET");
    BOOST_TEST(v[1].client_cert.empty());
    BOOST_TEST(v[1].jkt == std::string(s.key->thumbprint())); // the library's thumbprint is RFC 7638's
    BOOST_TEST(s.server.connections() == 1);
    BOOST_TEST(s.server.requests() == 2);
    BOOST_TEST(s.server.accepted() == 2);
    BOOST_TEST(s.server.last_scheme() == "DPoP");
    const json::object claims = s.server.last_proof_claims();
    BOOST_TEST(json::serialize(claims.at("htm")) == R"("GET")");
    BOOST_TEST(json::serialize(claims.at("htu")) == json::serialize(json::value(s.server.url("/orders"))));
}

BOOST_AUTO_TEST_CASE(the_scheme_is_case_insensitive_and_htu_is_normalised)
{
    setup s;
    proof_args a;
    a.htu = s.server.url("/orders?x=1#frag"); // RFC 9449 §4.3: compared without query and fragment
    auto r = s.client.send(http::verb::get, joined("dpop", " ", s.token), {s.proof(a)});
    s.expect_accepted(r);
    BOOST_TEST(s.server.last_scheme() == "dpop");

    // scheme and host compare case-insensitively; an empty path is "/" (RFC 3986 §6.2.2.1, §6.2.3)
    a.htu = joined("HTTPS://127.0.0.1:", "", std::to_string(s.server.port())) + "/orders";
    s.expect_accepted(s.get(s.proof(a)));
    a.htu = s.server.url("");
    s.expect_accepted(s.client.send(http::verb::get, joined("DPoP", " ", s.token), {s.proof(a)}, "/"));
    a.htu = s.server.url("/Orders"); // the path is case-sensitive
    s.expect_refused(s.get(s.proof(a)), "invalid_dpop_proof", "htu does not match");
}

BOOST_AUTO_TEST_CASE(every_algorithm_verifies)
{
    setup s;
    for (std::string_view alg : {"ES256", "RS256", "PS256", "EdDSA"}) {
        BOOST_TEST_CONTEXT(alg)
        {
            auto k = new_key(alg);
            const std::string token = dpop_bound_token(jkt_of(*k));
            proof_args a;
            a.htm = "POST";
            a.token = token;
            auto r = s.client.send(http::verb::post, joined("DPoP", " ", token), {s.proof_by(*k, a)});
            s.expect_accepted(r);
            BOOST_TEST(s.last().jkt == std::string(k->thumbprint()));
            BOOST_TEST(json::serialize(s.server.last_proof_claims().at("htm")) == R"("POST")");
        }
    }
    BOOST_TEST(s.server.accepted() == 4);
}

BOOST_AUTO_TEST_CASE(wrong_htm_is_refused)
{
    setup s;
    proof_args a;
    a.htm = "POST";
    s.expect_refused(s.get(s.proof(a)), "invalid_dpop_proof", "htm does not match");
    BOOST_TEST(s.server.accepted() == 0);
}

BOOST_AUTO_TEST_CASE(wrong_htu_is_refused)
{
    setup s;
    proof_args a;
    a.htu = s.server.url("/other");
    s.expect_refused(s.get(s.proof(a)), "invalid_dpop_proof", "htu does not match");
    a.htu = joined("https://localhost:", "", std::to_string(s.server.port())) + "/orders";
    s.expect_refused(s.get(s.proof(a)), "invalid_dpop_proof", "htu does not match");
}

BOOST_AUTO_TEST_CASE(iat_outside_the_window_is_refused)
{
    setup s;
    proof_args a;
    a.now = clock_type::now() - 120s;
    s.expect_refused(s.get(s.proof(a)), "invalid_dpop_proof", "iat is outside the window");
    a.now = clock_type::now() + 120s;
    s.expect_refused(s.get(s.proof(a)), "invalid_dpop_proof", "iat is outside the window");
    a.now = clock_type::now() - 30s; // inside the 60 s default
    s.expect_accepted(s.get(s.proof(a)));
}

BOOST_AUTO_TEST_CASE(a_replayed_jti_is_refused)
{
    setup s;
    const std::string p = s.proof();
    s.expect_accepted(s.get(p));
    BOOST_TEST(s.server.replays() == 0);
    s.expect_refused(s.get(p), "invalid_dpop_proof", "jti was used before");
    BOOST_TEST(s.server.replays() == 1);
    BOOST_TEST(s.server.accepted() == 1);
}

BOOST_AUTO_TEST_CASE(wrong_or_missing_ath_is_refused)
{
    setup s;
    proof_args a;
    const std::string other = dpop_bound_token("another-token");
    a.token = other;
    s.expect_refused(s.get(s.proof(a)), "invalid_dpop_proof", "ath does not match");
    a.token = std::string_view{}; // make_dpop_proof: no ath
    s.expect_refused(s.get(s.proof(a)), "invalid_dpop_proof", "no ath claim");
}

BOOST_AUTO_TEST_CASE(a_signature_not_made_by_the_jwk_is_refused)
{
    setup s;
    // tampered: one signature byte changed
    std::string p = s.proof();
    char& c = p[p.rfind('.') + 10];
    c = c == 'A' ? 'B' : 'A';
    s.expect_refused(s.get(p), "invalid_dpop_proof", "signature does not verify");

    // the header names key B, key A signed it
    auto b = new_key();
    s.expect_refused(s.get(signed_jws(*s.key, s.header(*b), s.claims("jti-signed-by-a"))), "invalid_dpop_proof",
                     "signature does not verify");
    // the same proof signed by B itself is fine (the token is bound to A: refused for that, later)
    s.expect_refused(s.get(signed_jws(*b, s.header(*b), s.claims("jti-signed-by-b"))), "invalid_token",
                     "cnf.jkt does not match");
    // and by A with A's header is accepted: the hand-made claims are right
    s.expect_accepted(s.get(signed_jws(*s.key, s.header(*s.key), s.claims("jti-a"))));
}

BOOST_AUTO_TEST_CASE(bad_proof_headers_are_refused)
{
    setup s;
    const dpop_key& k = *s.key;
    s.expect_refused(s.get(signed_jws(k, s.header(k, "JWT"), s.claims("j1"))), "invalid_dpop_proof", "typ is not dpop+jwt");

    json::object h = s.header(k);
    h["alg"] = "HS256";
    s.expect_refused(s.get(signed_jws(k, h, s.claims("j2"))), "invalid_dpop_proof", "alg is not one of");

    h = s.header(k);
    h["jwk"].as_object()["d"] = "c2VjcmV0";
    s.expect_refused(s.get(signed_jws(k, h, s.claims("j3"))), "invalid_dpop_proof", "jwk has a private member");

    h = s.header(k);
    h.erase("jwk");
    s.expect_refused(s.get(signed_jws(k, h, s.claims("j4"))), "invalid_dpop_proof", "no jwk object");

    h = s.header(k);
    h["alg"] = "EdDSA"; // an EC key claimed as Ed25519
    s.expect_refused(s.get(signed_jws(k, h, s.claims("j5"))), "invalid_dpop_proof", "jwk is not an OKP Ed25519 key");

    s.expect_refused(s.get("not-a-jws"), "invalid_dpop_proof", "DPoP proof is not a compact JWS");
    BOOST_TEST(s.server.accepted() == 0);
}

BOOST_AUTO_TEST_CASE(one_dpop_header_exactly)
{
    setup s;
    s.expect_refused(s.client.send(http::verb::get, joined("DPoP", " ", s.token), {}), "invalid_dpop_proof",
                     "no DPoP header");
    s.expect_refused(s.client.send(http::verb::get, joined("DPoP", " ", s.token), {s.proof(), s.proof()}),
                     "invalid_dpop_proof", "more than one DPoP header");
}

BOOST_AUTO_TEST_CASE(a_token_bound_to_another_key_is_refused)
{
    setup s;
    auto other = new_key();
    s.token = dpop_bound_token(jkt_of(*other));
    s.expect_refused(s.get(s.proof()), "invalid_token", "cnf.jkt does not match");

    s.token = jwt({{"sub", "svc"}}); // a JWT that is not bound at all
    s.expect_refused(s.get(s.proof()), "invalid_token", "access token is not DPoP-bound");
}

BOOST_AUTO_TEST_CASE(an_opaque_token_is_checked_against_expected_jkt)
{
    {
        setup s; // no expected_jkt: any proof key
        s.token = "opaque-token";
        s.expect_accepted(s.get(s.proof()));
    }
    auto key = new_key();
    resource_options o;
    o.expected_jkt = std::string(key->thumbprint());
    setup s(o);
    s.token = "opaque-token";
    s.expect_refused(s.get(s.proof()), "invalid_token", "proof key is not the expected one");
    s.expect_accepted(s.get(s.proof_by(*key, {})));
}

BOOST_AUTO_TEST_CASE(a_bound_token_as_bearer_is_refused_in_every_mode)
{
    for (auto mode : {resource_mode::dpop, resource_mode::bearer_only, resource_mode::mtls_bound}) {
        BOOST_TEST_CONTEXT("mode " << static_cast<int>(mode))
        {
            setup s(with_mode(mode));
            s.expect_refused(s.client.send(http::verb::get, joined("Bearer", " ", s.token), {}), "invalid_token",
                             "DPoP-bound token sent as Bearer");
            BOOST_TEST(s.server.last_scheme() == "Bearer");
        }
    }
}

BOOST_AUTO_TEST_CASE(bearer_only_accepts_bearer_and_refuses_a_proof_beside_it)
{
    setup s(with_mode(resource_mode::bearer_only));
    s.expect_accepted(s.client.send(http::verb::get, "Bearer opaque", {}));
    BOOST_TEST(s.last().scheme == "Bearer");
    s.expect_refused(s.client.send(http::verb::get, "Bearer opaque", {s.proof()}), "invalid_request",
                     "DPoP proof sent with a Bearer token", 400);
    s.expect_refused(s.get(s.proof()), "invalid_token", "DPoP scheme where a Bearer token is expected");
    s.expect_refused(s.client.send(http::verb::get, "", {}), "", "no Authorization header");
    BOOST_TEST(s.server.accepted() == 1);

    setup d; // DPoP mode: a plain Bearer token is not enough
    d.expect_refused(d.client.send(http::verb::get, "Bearer opaque", {}), "invalid_token",
                     "Bearer token where DPoP is required");
}

BOOST_AUTO_TEST_CASE(a_nonce_challenge_then_the_same_request_with_the_nonce)
{
    resource_options o;
    o.require_nonce = true;
    setup s(o);
    auto r = s.get(s.proof());
    s.expect_refused(r, "use_dpop_nonce", "proof has no nonce");
    BOOST_TEST(r.www_authenticate.starts_with("DPoP "), r.www_authenticate);
    BOOST_TEST_REQUIRE(!r.dpop_nonce.empty());
    BOOST_TEST(r.dpop_nonce == s.server.current_nonce());
    BOOST_TEST(s.server.nonce_challenges() == 1);

    proof_args a;
    a.nonce = r.dpop_nonce;
    auto ok = s.get(s.proof(a));
    s.expect_accepted(ok);
    BOOST_TEST(ok.dpop_nonce == r.dpop_nonce); // no rotation: the same nonce on success
    BOOST_TEST(json::serialize(s.server.last_proof_claims().at("nonce")) == json::serialize(json::value(r.dpop_nonce)));

    a.nonce = "stale-nonce";
    s.expect_refused(s.get(s.proof(a)), "use_dpop_nonce", "nonce is not the current one");
    BOOST_TEST(s.server.nonce_challenges() == 2);
    BOOST_TEST(s.server.accepted() == 1);
}

BOOST_AUTO_TEST_CASE(a_rotated_nonce_comes_with_the_success)
{
    resource_options o;
    o.require_nonce = true;
    o.rotate_nonce_every = 1;
    setup s(o);
    const std::string n1 = s.get(s.proof()).dpop_nonce;
    BOOST_TEST_REQUIRE(!n1.empty());
    proof_args a;
    a.nonce = n1;
    auto ok = s.get(s.proof(a));
    s.expect_accepted(ok);
    const std::string n2 = ok.dpop_nonce;
    BOOST_TEST(n2 != n1);
    BOOST_TEST(n2 == s.server.current_nonce());

    s.expect_refused(s.get(s.proof(a)), "use_dpop_nonce", "nonce is not the current one"); // n1 is gone
    a.nonce = n2;
    auto again = s.get(s.proof(a));
    s.expect_accepted(again);
    BOOST_TEST(again.dpop_nonce != n2);
    BOOST_TEST(s.server.nonce_challenges() == 2);
}

BOOST_AUTO_TEST_CASE(mtls_bound_token_needs_its_certificate_on_the_connection)
{
    resource_server server(with_mode(resource_mode::mtls_bound));
    const std::string x5t = tetrapak::test::x5t_s256(cert_dir() + "/client.pem");
    const std::string token = jwt({{"sub", "svc"}, {"cnf", {{"x5t#S256", x5t}}}});
    const std::string bearer = joined("Bearer", " ", token);

    https_client with_cert(server, "client");
    auto r = with_cert.send(http::verb::get, bearer, {});
    BOOST_TEST(r.status == 200u);
    auto v = server.verdicts();
    BOOST_TEST_REQUIRE(v.size() == 1u);
    BOOST_TEST(v[0].accepted, v[0].reason);
    BOOST_TEST(v[0].client_cert == x5t);

    https_client without(server);
    r = without.send(http::verb::get, bearer, {});
    BOOST_TEST(r.status == 401u);
    BOOST_TEST(r.www_authenticate.find(R"(error="invalid_token")") != std::string::npos);
    v = server.verdicts();
    BOOST_TEST_REQUIRE(v.size() == 2u);
    BOOST_TEST(!v[1].accepted);
    BOOST_TEST(v[1].reason == "no client certificate on this connection");
    BOOST_TEST(v[1].client_cert.empty());

    https_client other(server, "other-client"); // signed by another CA: accepted by TLS, refused by the binding
    r = other.send(http::verb::get, bearer, {});
    BOOST_TEST(r.status == 401u);
    v = server.verdicts();
    BOOST_TEST_REQUIRE(v.size() == 3u);
    BOOST_TEST(v[2].reason.starts_with("client certificate does not match"), v[2].reason);
    BOOST_TEST(v[2].client_cert == tetrapak::test::x5t_s256(cert_dir() + "/other-client.pem"));

    r = with_cert.send(http::verb::get, joined("Bearer", " ", jwt({{"sub", "svc"}})), {});
    BOOST_TEST(r.status == 401u);
    BOOST_TEST(server.verdicts().back().reason.starts_with("token is not certificate-bound"));
    BOOST_TEST(server.accepted() == 1);
    BOOST_TEST(server.connections() == 3);
}

BOOST_AUTO_TEST_CASE(the_destructor_closes_kept_alive_connections)
{
    auto server = std::make_unique<resource_server>(with_mode(resource_mode::bearer_only));
    https_client client(*server);
    BOOST_TEST(client.send(http::verb::get, "Bearer opaque", {}).status == 200u);
    const auto t0 = std::chrono::steady_clock::now();
    server.reset(); // the connection is still open and idle
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 5s));
    BOOST_CHECK_THROW(client.send(http::verb::get, "Bearer opaque", {}), boost::system::system_error);
}

BOOST_AUTO_TEST_SUITE_END()
