// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// DPoP proof keys and proofs (RFC 9449), without a network. Every proof is
// checked the way a server would: its public key is rebuilt from the JWK in
// its header with OpenSSL and the signature verified over header.payload.
// Keys are made at run time; no private key is checked in.
#include <tetrapak/dpop.hpp>
#include <tetrapak/error.hpp>
#include <tetrapak/signing_key.hpp>

#include "detail/jws.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace tetrapak;
namespace json = boost::json;
namespace jws = tetrapak::detail::jws;

namespace {

constexpr std::array all_algorithms{"ES256", "RS256", "PS256", "EdDSA"};

// RFC 9449 §7.1: an access token and its ath.
constexpr std::string_view rfc9449_token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
constexpr std::string_view rfc9449_ath = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo";

// RFC 7638 §3.1: the example RSA key and its thumbprint.
constexpr std::string_view rfc7638_n =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
    "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5h"
    "ajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
constexpr std::string_view rfc7638_thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

const auto fixed_now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

/// base64url decoding written here, so the library's encoder is checked, not trusted.
std::string from_b64url(std::string_view in)
{
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char ch : in) {
        int v = ch >= 'A' && ch <= 'Z'   ? ch - 'A'
                : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
                : ch >= '0' && ch <= '9' ? ch - '0' + 52
                : ch == '-'              ? 62
                : ch == '_'              ? 63
                                         : -1;
        if (v < 0)
            BOOST_FAIL("not base64url: " << in);
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    return out;
}

const unsigned char* uchars(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

/// A compact JWS cut into its parts, header and claims parsed.
struct jws_parts {
    explicit jws_parts(std::string_view jwt)
    {
        const auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
        BOOST_TEST_REQUIRE((d1 != std::string_view::npos && d2 != d1), "not a compact JWS: " << jwt);
        input = jwt.substr(0, d2);
        header = json::parse(from_b64url(jwt.substr(0, d1))).as_object();
        claims = json::parse(from_b64url(jwt.substr(d1 + 1, d2 - d1 - 1))).as_object();
        signature = from_b64url(jwt.substr(d2 + 1));
    }
    std::string input;
    json::object header;
    json::object claims;
    std::string signature;
};

std::string member(const json::object& o, std::string_view name)
{
    const auto* v = o.if_contains(name);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

/// A public key rebuilt from a JWK (EC P-256, RSA, Ed25519), as a server would.
jws::pkey_ptr key_from_jwk(const json::object& jwk)
{
    const std::string kty = member(jwk, "kty");
    std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(), &OSSL_PARAM_BLD_free);
    std::unique_ptr<BIGNUM, decltype(&BN_free)> n(nullptr, &BN_free), e(nullptr, &BN_free);
    std::string point, type;
    if (kty == "EC") {
        const auto x = from_b64url(member(jwk, "x")), y = from_b64url(member(jwk, "y"));
        BOOST_TEST((member(jwk, "crv") == "P-256" && x.size() == 32u && y.size() == 32u)); // RFC 7518 §6.2.1: full length
        point.append(1, '\x04').append(x).append(y);
        OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
        type = "EC";
    } else if (kty == "RSA") {
        const auto nb = from_b64url(member(jwk, "n")), eb = from_b64url(member(jwk, "e"));
        BOOST_TEST((!nb.empty() && nb[0] != '\0' && !eb.empty() && eb[0] != '\0')); // RFC 7518 §6.3.1: no leading zeros
        n.reset(BN_bin2bn(uchars(nb), static_cast<int>(nb.size()), nullptr));
        e.reset(BN_bin2bn(uchars(eb), static_cast<int>(eb.size()), nullptr));
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
        type = "RSA";
    } else {
        BOOST_TEST_REQUIRE((kty == "OKP" && member(jwk, "crv") == "Ed25519"));
        point = from_b64url(member(jwk, "x"));
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
        type = "ED25519";
    }
    std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()), &OSSL_PARAM_free);
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type.c_str(), nullptr),
                                                                   &EVP_PKEY_CTX_free);
    EVP_PKEY* pkey = nullptr;
    BOOST_TEST_REQUIRE((params && ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
                        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) == 1));
    return jws::pkey_ptr(pkey);
}

/// R||S (JWS) to the DER OpenSSL verifies; "" when not 64 bytes.
std::string raw_to_der(std::string_view raw)
{
    if (raw.size() != 64)
        return {};
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> es(ECDSA_SIG_new(), &ECDSA_SIG_free);
    ECDSA_SIG_set0(es.get(), BN_bin2bn(uchars(raw), 32, nullptr), BN_bin2bn(uchars(raw) + 32, 32, nullptr));
    unsigned char* der = nullptr;
    const int n = i2d_ECDSA_SIG(es.get(), &der);
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n > 0 ? n : 0));
    OPENSSL_free(der);
    return out;
}

/// Verifies a JWS signature independently of the library.
bool verifies(EVP_PKEY* pub, std::string_view alg, std::string_view input, std::string_view signature)
{
    std::string sig(signature);
    if (alg == "ES256" && (sig = raw_to_der(signature)).empty())
        return false;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    if (EVP_DigestVerifyInit(ctx.get(), &pctx, alg == "EdDSA" ? nullptr : EVP_sha256(), nullptr, pub) != 1)
        return false;
    // RFC 7518 §3.5, checked strictly: a verifier left on "auto" would accept any salt length.
    if (alg == "PS256" && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
                           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1))
        return false;
    return EVP_DigestVerify(ctx.get(), uchars(sig), sig.size(), uchars(input), input.size()) == 1;
}

/// RFC 7638 computed here from the JWK's members, for comparison with the library's.
std::string thumbprint_of(const json::object& jwk)
{
    // Built by appending: GCC 12 at -O3 warns falsely (-Wrestrict) on "literal" + std::string.
    std::string canonical = "{";
    const std::string kty = member(jwk, "kty");
    if (kty == "RSA")
        canonical.append(R"("e":")").append(member(jwk, "e")).append(R"(","kty":"RSA","n":")").append(member(jwk, "n"));
    else
        canonical.append(R"("crv":")").append(member(jwk, "crv")).append(R"(","kty":")").append(kty).append(R"(","x":")")
            .append(member(jwk, "x"));
    if (kty == "EC")
        canonical.append(R"(","y":")").append(member(jwk, "y"));
    canonical.append("\"}");
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(canonical.data(), canonical.size(), md, &len, EVP_sha256(), nullptr);
    return tetrapak::base64url_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::shared_ptr<const dpop_key> generated(std::string_view alg)
{
    static std::map<std::string, std::shared_ptr<const dpop_key>, std::less<>> keys; // RSA takes a while: once each
    auto it = keys.find(alg);
    if (it == keys.end()) {
        diagnostics d;
        auto k = dpop_key::generate(alg, d);
        BOOST_TEST_REQUIRE(k.has_value(), alg << ": " << d);
        it = keys.emplace(std::string(alg), *k).first;
    }
    return it->second;
}

/// A proof that has been verified as a server would verify it.
jws_parts checked_proof(const dpop_key& key, const dpop_proof_claims& c)
{
    auto proof = make_dpop_proof(key, c);
    BOOST_TEST_REQUIRE(proof.has_value());
    jws_parts p(*proof);
    BOOST_TEST(member(p.header, "typ") == "dpop+jwt");
    BOOST_TEST(member(p.header, "alg") == key.algorithm());
    BOOST_TEST(p.header.size() == 3u); // typ, alg, jwk: no kid, no x5c
    const auto& jwk = p.header.at("jwk").as_object();
    for (auto priv : {"d", "p", "q", "dp", "dq", "qi", "k"})
        BOOST_TEST(!jwk.contains(priv), key.algorithm() << " proof header holds private member " << priv);
    BOOST_TEST(json::serialize(jwk) == key.public_jwk());
    BOOST_TEST(thumbprint_of(jwk) == key.thumbprint());
    auto pub = key_from_jwk(jwk);
    BOOST_TEST_REQUIRE(verifies(pub.get(), key.algorithm(), p.input, p.signature), key.algorithm() << " proof does not verify");
    // The check above can fail: one changed byte of the input does not verify.
    std::string tampered = p.input;
    tampered[tampered.size() / 2] ^= 1;
    BOOST_TEST(!verifies(pub.get(), key.algorithm(), tampered, p.signature));
    return p;
}

/// PEM of a private key: PKCS#8, or the type's own format (PKCS#1, SEC1) when `traditional`.
std::string pem_of(EVP_PKEY* k, bool traditional = false)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    const int ok = traditional ? PEM_write_bio_PrivateKey_traditional(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr)
                               : PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
    BOOST_TEST_REQUIRE(ok == 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

template <class... Args>
jws::pkey_ptr openssl_key(const char* type, Args... args)
{
    jws::pkey_ptr k(EVP_PKEY_Q_keygen(nullptr, nullptr, type, args...));
    BOOST_TEST_REQUIRE(k != nullptr);
    return k;
}

/// A private directory under the system's temporary one, removed at the end.
struct temp_dir {
    temp_dir()
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / "tetrapak-dpop-XXXXXX").string();
        BOOST_TEST_REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~temp_dir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, std::string_view text) const
    {
        auto file = (path / name).string();
        std::ofstream(file, std::ios::binary) << text;
        return file;
    }
    std::filesystem::path path;
};

/// The refusal of a key: key_load_failed, and diagnostics naming the problem.
void refused(const boost::system::result<std::shared_ptr<const dpop_key>>& r, const diagnostics& d,
             std::string_view expected_text)
{
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error() == error::key_load_failed));
    BOOST_TEST(d.client_message().find(expected_text) != std::string_view::npos,
               '"' << d.client_message() << "\" does not say " << expected_text);
}

} // namespace

BOOST_AUTO_TEST_SUITE(dpop_proofs)

BOOST_AUTO_TEST_CASE(proofs_verify_for_every_algorithm)
{
    for (std::string_view alg : all_algorithms) {
        BOOST_TEST_CONTEXT(alg)
        {
            auto key = generated(alg);
            BOOST_TEST(key->algorithm() == alg);
            auto p = checked_proof(*key, {"POST", "https://as.example/token", fixed_now, "nonce-1", rfc9449_token});
            BOOST_TEST(p.claims.size() == 6u);
            BOOST_TEST(member(p.claims, "htm") == "POST");
            BOOST_TEST(member(p.claims, "htu") == "https://as.example/token");
            BOOST_TEST(p.claims.at("iat").as_int64() == 1'700'000'000);
            BOOST_TEST(member(p.claims, "nonce") == "nonce-1");
            BOOST_TEST(member(p.claims, "ath") == rfc9449_ath);
            BOOST_TEST(member(p.claims, "jti").size() >= 16u);
            if (alg == "ES256")
                BOOST_TEST(p.signature.size() == 64u);
            if (alg == "EdDSA")
                BOOST_TEST(p.signature.size() == 64u);
            auto jwk = p.header.at("jwk").as_object();
            BOOST_TEST(member(jwk, "kty") == (alg == "ES256" ? "EC" : alg == "EdDSA" ? "OKP" : "RSA"));
        }
    }
}

BOOST_AUTO_TEST_CASE(ps256_is_pss_and_rs256_is_not)
{
    // Each RSA signature verifies only under its own padding: the algorithms are not swapped.
    for (auto [signer, other] : {std::pair{"PS256", "RS256"}, std::pair{"RS256", "PS256"}}) {
        auto key = generated(signer);
        auto p = checked_proof(*key, {"GET", "https://rs.example/r", fixed_now});
        auto pub = key_from_jwk(p.header.at("jwk").as_object());
        BOOST_TEST(!verifies(pub.get(), other, p.input, p.signature), signer << " verified as " << other);
    }
}

BOOST_AUTO_TEST_CASE(nonce_and_ath_only_when_given)
{
    auto key = generated("ES256");
    auto bare = checked_proof(*key, {"GET", "https://rs.example/r", fixed_now});
    BOOST_TEST(!bare.claims.contains("nonce"));
    BOOST_TEST(!bare.claims.contains("ath"));
    BOOST_TEST(bare.claims.size() == 4u); // jti, htm, htu, iat
    auto nonce_only = checked_proof(*key, {"GET", "https://rs.example/r", fixed_now, "n\"x"});
    BOOST_TEST(member(nonce_only.claims, "nonce") == "n\"x"); // escaped as JSON, read back unchanged
    BOOST_TEST(!nonce_only.claims.contains("ath"));
    auto ath_only = checked_proof(*key, {"GET", "https://rs.example/r", fixed_now, {}, "token-2"});
    BOOST_TEST(!ath_only.claims.contains("nonce"));
    BOOST_TEST(member(ath_only.claims, "ath") == dpop_ath("token-2"));
}

BOOST_AUTO_TEST_CASE(ath_is_the_rfc_9449_vector)
{
    BOOST_TEST(dpop_ath(rfc9449_token) == rfc9449_ath);
    BOOST_TEST(dpop_ath("x") != dpop_ath("y"));
}

BOOST_AUTO_TEST_CASE(jti_is_unique_across_1000_proofs)
{
    auto key = generated("ES256");
    std::set<std::string> jtis;
    for (int i = 0; i < 1000; ++i) {
        auto proof = make_dpop_proof(*key, {"POST", "https://as.example/token", fixed_now});
        BOOST_TEST_REQUIRE(proof.has_value());
        jtis.insert(member(jws_parts(*proof).claims, "jti"));
    }
    BOOST_TEST(jtis.size() == 1000u);
}

BOOST_AUTO_TEST_CASE(proof_needs_method_and_absolute_target)
{
    auto key = generated("ES256");
    BOOST_TEST((make_dpop_proof(*key, {"POST", dpop_htu("/token")}).error() == error::invalid_url));
    BOOST_TEST((make_dpop_proof(*key, {"", "https://as.example/token"}).error() == error::invalid_header_value));
    // A key object made through the public constructor has no private key: an error, not a crash.
    const dpop_key hollow(nullptr, "ES256", std::string(key->public_jwk()), std::string(key->thumbprint()));
    BOOST_TEST((make_dpop_proof(hollow, {"POST", "https://as.example/token"}).error() == error::key_load_failed));
}

BOOST_AUTO_TEST_CASE(ec_coordinates_keep_their_leading_zeros)
{
    // About 1 key in 128 has a coordinate below 2^248: look for one, so the
    // padding of x and y (RFC 7518 §6.2.1.2) is checked every run, not by chance.
    jws::pkey_ptr short_one;
    for (int i = 0; i < 20000 && !short_one; ++i) {
        auto k = openssl_key("EC", "P-256");
        int shortest = 32;
        for (const char* coordinate : {OSSL_PKEY_PARAM_EC_PUB_X, OSSL_PKEY_PARAM_EC_PUB_Y}) {
            BIGNUM* bn = nullptr;
            BOOST_TEST_REQUIRE(EVP_PKEY_get_bn_param(k.get(), coordinate, &bn) == 1);
            shortest = std::min(shortest, BN_num_bytes(bn));
            BN_free(bn);
        }
        if (shortest < 32)
            short_one = std::move(k);
    }
    BOOST_TEST_REQUIRE(short_one != nullptr);
    diagnostics d;
    auto key = dpop_key::load_pem(pem_of(short_one.get()), "", d);
    BOOST_TEST_REQUIRE(key.has_value(), d);
    auto p = checked_proof(**key, {"POST", "https://as.example/token", fixed_now}); // x, y: 32 bytes each
    BOOST_TEST(verifies(short_one.get(), "ES256", p.input, p.signature));
}

BOOST_AUTO_TEST_CASE(thumbprint_is_the_rfc_7638_example)
{
    // The example JWK as the RFC prints it, with members a thumbprint ignores.
    std::string text = R"({"kty":"RSA","n":")";
    text.append(rfc7638_n).append(R"(","e":"AQAB","alg":"RS256","kid":"2011-04-29"})");
    BOOST_TEST(jws::thumbprint(json::parse(text).as_object()) == rfc7638_thumbprint);
    // The same key rebuilt in OpenSSL: its public JWK and that JWK's thumbprint.
    json::object jwk{{"kty", "RSA"}, {"n", rfc7638_n}, {"e", "AQAB"}};
    auto pub = key_from_jwk(jwk);
    auto exported = jws::public_jwk(pub.get());
    BOOST_TEST_REQUIRE(exported.has_value());
    BOOST_TEST(member(*exported, "n") == rfc7638_n);
    BOOST_TEST(member(*exported, "e") == "AQAB");
    BOOST_TEST(exported->size() == 3u);
    BOOST_TEST(jws::thumbprint(*exported) == rfc7638_thumbprint);
    // A JWK a thumbprint cannot be made of.
    BOOST_TEST(jws::thumbprint(json::object{{"kty", "oct"}, {"k", "AAAA"}}).empty());
    BOOST_TEST(jws::thumbprint(json::object{{"kty", "RSA"}, {"n", rfc7638_n}}).empty());
}

BOOST_AUTO_TEST_CASE(load_pem_of_every_key_type)
{
    struct load_case {
        const char* name;
        jws::pkey_ptr pkey;
        bool traditional;
        std::string_view alg;
        std::string_view expected;
    };
    auto rsa = openssl_key("RSA", std::size_t{2048});
    std::vector<load_case> cases;
    cases.push_back({"EC P-256 PKCS#8", openssl_key("EC", "P-256"), false, "", "ES256"});
    cases.push_back({"EC P-256 SEC1", openssl_key("EC", "P-256"), true, "ES256", "ES256"});
    cases.push_back({"RSA PKCS#1", jws::pkey_ptr(EVP_PKEY_dup(rsa.get())), true, "", "RS256"});
    cases.push_back({"RSA PKCS#8", jws::pkey_ptr(EVP_PKEY_dup(rsa.get())), false, "", "RS256"});
    cases.push_back({"RSA PKCS#1 as PS256", jws::pkey_ptr(EVP_PKEY_dup(rsa.get())), true, "PS256", "PS256"});
    cases.push_back({"RSA PKCS#8 as PS256", std::move(rsa), false, "PS256", "PS256"});
    cases.push_back({"Ed25519 PKCS#8", openssl_key("ED25519"), false, "", "EdDSA"});
    temp_dir dir;
    for (auto& c : cases) {
        BOOST_TEST_CONTEXT(c.name)
        {
            const std::string pem = pem_of(c.pkey.get(), c.traditional);
            diagnostics d;
            auto from_text = dpop_key::load_pem(pem, c.alg, d);
            BOOST_TEST_REQUIRE(from_text.has_value(), d);
            auto from_file = dpop_key::load_pem_file(dir.write("key.pem", pem), c.alg, d);
            BOOST_TEST_REQUIRE(from_file.has_value(), d);
            for (const auto& key : {*from_text, *from_file}) {
                BOOST_TEST(key->algorithm() == c.expected);
                // The loaded key is the one written: its JWK is the original's, and its proofs verify.
                BOOST_TEST(key->public_jwk() == json::serialize(jws::public_jwk(c.pkey.get()).value()));
                auto p = checked_proof(*key, {"POST", "https://as.example/token", fixed_now});
                BOOST_TEST(verifies(c.pkey.get(), c.expected, p.input, p.signature));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(unfit_keys_and_algorithms_are_refused)
{
    const std::string ec_pem = pem_of(openssl_key("EC", "P-256").get());
    const std::string rsa_pem = pem_of(openssl_key("RSA", std::size_t{2048}).get());
    diagnostics d;
    refused(dpop_key::generate("HS256", d), d, "unknown DPoP algorithm \"HS256\"");
    BOOST_TEST((dpop_key::generate("ES512").error() == error::key_load_failed));
    refused(dpop_key::load_pem(ec_pem, "ES512", d), d, "unknown DPoP algorithm \"ES512\"");
    refused(dpop_key::load_pem(ec_pem, "es256", d), d, "unknown DPoP algorithm"); // names are case-sensitive (RFC 7515)
    refused(dpop_key::load_pem(pem_of(openssl_key("EC", "P-384").get()), "", d), d, "P-256");
    refused(dpop_key::load_pem(pem_of(openssl_key("RSA", std::size_t{1024}).get()), "", d), d, "at least 2048 bits");
    refused(dpop_key::load_pem(rsa_pem, "ES256", d), d, "RSA key, which cannot sign ES256");
    refused(dpop_key::load_pem(rsa_pem, "EdDSA", d), d, "RSA key, which cannot sign EdDSA");
    refused(dpop_key::load_pem(ec_pem, "RS256", d), d, "EC P-256 key, which cannot sign RS256");
    refused(dpop_key::load_pem(ec_pem, "PS256", d), d, "EC P-256 key, which cannot sign PS256");
    refused(dpop_key::load_pem(pem_of(openssl_key("X25519").get()), "", d), d, "only EC P-256, RSA and Ed25519");
    refused(dpop_key::load_pem("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n", "", d), d,
            "not a readable PEM key");
    refused(dpop_key::load_pem("", "", d), d, "not a readable PEM key");
    refused(dpop_key::load_pem_file("/nonexistent/tetrapak/dpop.pem", "", d), d,
            "cannot be opened: /nonexistent/tetrapak/dpop.pem");
    // An encrypted key fails at once: no pass phrase prompt on the terminal.
    auto ec = openssl_key("EC", "P-256");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    char pass[] = "secret";
    BOOST_TEST_REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), ec.get(), EVP_aes_256_cbc(), pass, 6, nullptr, nullptr) == 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    refused(dpop_key::load_pem(std::string_view(data, static_cast<std::size_t>(len)), "", d), d, "encrypted");
    // The loader is shared with client assertion keys, which keep to ES256 and RS256.
    BOOST_TEST((signing_key::load_pem(pem_of(openssl_key("ED25519").get()), "", d).error() == error::key_load_failed));
    BOOST_TEST(d.client_message().find("not Ed25519") != std::string_view::npos);
}

BOOST_AUTO_TEST_CASE(printing_shows_no_private_material)
{
    for (const char* type : {"EC", "RSA", "ED25519"}) {
        BOOST_TEST_CONTEXT(type)
        {
            auto pkey = std::string_view(type) == "EC"    ? openssl_key("EC", "P-256")
                        : std::string_view(type) == "RSA" ? openssl_key("RSA", std::size_t{2048})
                                                          : openssl_key("ED25519");
            const std::string pem = pem_of(pkey.get());
            diagnostics d;
            auto key = dpop_key::load_pem(pem, "", d);
            BOOST_TEST_REQUIRE(key.has_value(), d);
            std::ostringstream os;
            os << **key;
            const std::string printed = os.str();
            BOOST_TEST(printed.find((*key)->algorithm()) != std::string::npos);
            BOOST_TEST(printed.find((*key)->thumbprint()) != std::string::npos);
            std::string body; // the PEM's base64, without the armour lines
            std::istringstream lines(pem);
            for (std::string line; std::getline(lines, line);)
                if (line.rfind("-----", 0) != 0)
                    body += line;
            BOOST_TEST_REQUIRE(body.size() > 16u);
            std::size_t leaks = 0;
            for (std::size_t i = 0; i + 16 <= body.size(); ++i)
                leaks += printed.find(body.substr(i, 16)) != std::string::npos;
            BOOST_TEST(leaks == 0u, printed);
        }
    }
}

BOOST_AUTO_TEST_CASE(htu_is_scheme_authority_and_path)
{
    BOOST_TEST(dpop_htu("https://as.example/token?x=1#f") == "https://as.example/token");
    BOOST_TEST(dpop_htu("https://as.example:8443/a/B/Token?q") == "https://as.example:8443/a/B/Token");
    BOOST_TEST(dpop_htu("HTTPS://AS.Example/Token") == "https://AS.Example/Token"); // only the scheme is lowered
    BOOST_TEST(dpop_htu("https://as.example/a%20b;p=1") == "https://as.example/a%20b;p=1");
    BOOST_TEST(dpop_htu("http://[::1]:8080/t#x") == "http://[::1]:8080/t");
    BOOST_TEST(dpop_htu("https://as.example") == "https://as.example");
    BOOST_TEST(dpop_htu("https://user:pw@as.example/token") == "https://as.example/token");
    BOOST_TEST(dpop_htu("/token").empty());
    BOOST_TEST(dpop_htu("as.example/token").empty());
    BOOST_TEST(dpop_htu("").empty());
    BOOST_TEST(dpop_htu("urn:ietf:params:oauth").empty()); // absolute, but no host to send a request to
    BOOST_TEST(dpop_htu("https://as.example/a b").empty());
    BOOST_TEST(dpop_htu("https://[::1/token").empty());
}

BOOST_AUTO_TEST_SUITE_END()
