// Grant choice (the SDK's rules) and RFC 7523 client assertions, without a network.
#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>
#include <tetrapak/signing_key.hpp>

#include <boost/json/parse.hpp>
#include "../common/form.hpp"

#include <boost/test/unit_test.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <map>
#include <set>

using namespace tetrapak;

namespace {

std::string jwt_with(std::string_view payload)
{
    return base64url_encode(R"({"alg":"RS256"})") + "." + base64url_encode(payload) + ".sig";
}

std::string b64url_decode(std::string_view in)
{
    std::string s(in);
    for (auto& c : s)
        c = c == '-' ? '+' : c == '_' ? '/' : c;
    std::size_t pad = (4 - s.size() % 4) % 4;
    s.append(pad, '=');
    std::string out(s.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                            static_cast<int>(s.size()));
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

struct keypair {
    keypair(EVP_PKEY* k, std::string p) : pkey(k), pem(std::move(p)) {}
    keypair(const keypair&) = delete;
    keypair& operator=(const keypair&) = delete;
    ~keypair() { EVP_PKEY_free(pkey); }
    EVP_PKEY* pkey;
    std::string pem;
};

std::unique_ptr<keypair> generate(bool ec)
{
    EVP_PKEY* k = ec ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256") : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    auto kp = std::make_unique<keypair>(k, std::string(data, static_cast<std::size_t>(len)));
    BIO_free(bio);
    return kp;
}

bool verify(EVP_PKEY* pkey, bool ec, std::string_view input, std::string sig)
{
    if (ec) { // R||S -> DER
        if (sig.size() != 64)
            return false;
        ECDSA_SIG* es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr),
                       BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr));
        unsigned char* der = nullptr;
        int n = i2d_ECDSA_SIG(es, &der);
        sig.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
        OPENSSL_free(der);
        ECDSA_SIG_free(es);
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                               reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

using test::form_params;

auth_config base()
{
    auth_config c;
    c.client_id = "cid";
    c.client_secret = "a-long-shared-secret-of-at-least-32-bytes";
    c.token_endpoint = "https://auth.example.com/oauth2/token";
    return c;
}

} // namespace

BOOST_AUTO_TEST_SUITE(automatic_grant)

BOOST_AUTO_TEST_CASE(sdk_rules)
{
    actor_token none;
    actor_token user(jwt_with(R"({"sub":"u","userType":"User"})"));
    actor_token system(jwt_with(R"({"sub":"s","userType":"SYSTEM"})"));
    actor_token opaque("opaque-token");
    diagnostics d;
    BOOST_TEST(is_system_identity(system));
    BOOST_TEST(!is_system_identity(user));
    BOOST_TEST(!is_system_identity(opaque));
    BOOST_TEST((resolve_grant(grant_type::automatic, none, d).value() == grant_type::client_credentials));
    BOOST_TEST((resolve_grant(grant_type::automatic, system, d).value() == grant_type::client_credentials));
    BOOST_TEST((resolve_grant(grant_type::automatic, user, d).value() == grant_type::token_exchange));
    BOOST_TEST((resolve_grant(grant_type::automatic, opaque, d).value() == grant_type::token_exchange));
    BOOST_TEST((resolve_grant(grant_type::client_credentials, user, d).value() == grant_type::client_credentials));
    BOOST_TEST((resolve_grant(grant_type::inherited, user, d).value() == grant_type::client_credentials));
    BOOST_TEST((resolve_grant(grant_type::token_exchange, user, d).value() == grant_type::token_exchange));
    BOOST_TEST((resolve_grant(grant_type::token_exchange, system, d).error() == error::system_identity_refused));
    BOOST_TEST((resolve_grant(grant_type::token_exchange, none, d).error() == error::no_subject_token));
    BOOST_TEST((resolve_grant(grant_type::none, user, d).error() == error::no_authorization));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(private_key_jwt)

BOOST_AUTO_TEST_CASE(assertions_verify_and_are_fresh)
{
    for (bool ec : {true, false}) {
        auto kp = generate(ec);
        diagnostics d;
        auto key = signing_key::load_pem(kp->pem, "kid-1", d);
        BOOST_TEST_REQUIRE(key.has_value(), d);
        BOOST_TEST((*key)->algorithm() == (ec ? "ES256" : "RS256"));
        auto cfg = base();
        cfg.auth_method = client_auth_method::private_key_jwt;
        cfg.client_key = *key;
        std::set<std::string> jtis;
        for (int i = 0; i < 3; ++i) {
            auto req = build_token_request(cfg, {}, d);
            BOOST_TEST_REQUIRE(req.has_value());
            auto p = form_params(req->body);
            BOOST_TEST(p.find("client_assertion_type")->second == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
            BOOST_TEST(p.count("client_secret") == 0u);
            std::string jws = p.find("client_assertion")->second;
            auto d1 = jws.find('.'), d2 = jws.rfind('.');
            BOOST_TEST_REQUIRE(verify(kp->pkey, ec, jws.substr(0, d2), b64url_decode(jws.substr(d2 + 1))));
            auto header = boost::json::parse(b64url_decode(jws.substr(0, d1))).as_object();
            BOOST_TEST(header.at("alg").as_string() == (ec ? "ES256" : "RS256"));
            BOOST_TEST(header.at("kid").as_string() == "kid-1");
            auto claims = boost::json::parse(b64url_decode(jws.substr(d1 + 1, d2 - d1 - 1))).as_object();
            BOOST_TEST(claims.at("iss").as_string() == "cid");
            BOOST_TEST(claims.at("sub").as_string() == "cid");
            BOOST_TEST(claims.at("aud").as_string() == "https://auth.example.com/oauth2/token");
            BOOST_TEST(claims.at("exp").as_int64() - claims.at("iat").as_int64() == 60);
            jtis.insert(std::string(claims.at("jti").as_string()));
            // a tampered signature does not verify: the check above can fail
            BOOST_TEST(!verify(kp->pkey, ec, jws.substr(0, d2) + "x", b64url_decode(jws.substr(d2 + 1))));
        }
        BOOST_TEST(jtis.size() == 3u); // a new jti on every request
    }
}

BOOST_AUTO_TEST_CASE(bad_keys)
{
    diagnostics d;
    BOOST_TEST((signing_key::load_pem("not a key", "", d).error() == error::key_load_failed));
    BOOST_TEST((signing_key::load_pem_file("/nonexistent.pem", "", d).error() == error::key_load_failed));
    auto cfg = base();
    cfg.auth_method = client_auth_method::private_key_jwt;
    BOOST_TEST((build_token_request(cfg, {}, d).error() == error::key_load_failed));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(client_secret_jwt)

BOOST_AUTO_TEST_CASE(hs256_assertion)
{
    auto cfg = base();
    cfg.auth_method = client_auth_method::client_secret_jwt;
    diagnostics d;
    auto req = build_token_request(cfg, {}, d);
    BOOST_TEST_REQUIRE(req.has_value());
    auto p = form_params(req->body);
    std::string jws = p.find("client_assertion")->second;
    auto d2 = jws.rfind('.');
    unsigned char mac[64];
    std::size_t len = 0;
    std::string input = jws.substr(0, d2);
    EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, cfg.client_secret.reveal().data(), cfg.client_secret.reveal().size(),
              reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac, &len);
    BOOST_TEST(b64url_decode(jws.substr(d2 + 1)) == std::string(reinterpret_cast<char*>(mac), len));
    BOOST_TEST(p.count("client_secret") == 0u);
    BOOST_TEST(req->body.find("a-long-shared-secret") == std::string::npos); // the secret itself never travels
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(refresh_token)

BOOST_AUTO_TEST_CASE(refresh_form)
{
    diagnostics d;
    grant_inputs in;
    in.refresh_token = "rt-123";
    auto req = build_token_request(base(), in, d);
    BOOST_TEST_REQUIRE(req.has_value());
    auto p = form_params(req->body);
    BOOST_TEST(p.find("grant_type")->second == "refresh_token");
    BOOST_TEST(p.find("refresh_token")->second == "rt-123");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(mtls)

BOOST_AUTO_TEST_CASE(tls_client_auth_sends_only_the_client_id)
{
    auto cfg = base();
    cfg.client_secret = "";
    cfg.auth_method = client_auth_method::tls_client_auth;
    diagnostics d;
    auto req = build_token_request(cfg, {}, d);
    BOOST_TEST_REQUIRE(req.has_value());
    auto p = form_params(req->body);
    BOOST_TEST(p.find("client_id")->second == "cid");
    BOOST_TEST(p.count("client_secret") == 0u);
    for (auto& f : req->fields)
        BOOST_TEST(f.name != "Authorization");
}

BOOST_AUTO_TEST_SUITE_END()
