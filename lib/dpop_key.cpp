// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/dpop.hpp>
#include <tetrapak/error.hpp>

#include "detail/diag.hpp"
#include "detail/jws.hpp"
#include "detail/sha256.hpp"
#include "detail/text.hpp"

#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <ostream>

namespace tetrapak {

// The private key and its algorithm; signing_key signs through the same code (detail/jws.hpp).
struct dpop_key::impl : detail::jws::signer {};

namespace {

namespace jws = detail::jws;
using key_result = boost::system::result<std::shared_ptr<const dpop_key>>;

/// Longest piece of a caller's text (an unknown algorithm name) quoted in diagnostics.
constexpr std::size_t max_quoted = 32;

key_result unknown_algorithm(std::string_view alg, diagnostics& diag)
{
    std::string m = "unknown DPoP algorithm \"";
    m.append(alg.substr(0, max_quoted)).append("\": use ES256, RS256, PS256 or EdDSA");
    return detail::fail_with<std::shared_ptr<const dpop_key>>(diag, error::key_load_failed, m);
}

std::string_view key_type_of(jws::algorithm natural) noexcept
{
    switch (natural) {
    case jws::algorithm::es256: return "an EC P-256 key";
    case jws::algorithm::eddsa: return "an Ed25519 key";
    default: return "an RSA key";
    }
}

/// The key object: its public JWK and thumbprint are computed once, here.
key_result make_key(jws::pkey_ptr pkey, jws::algorithm alg, diagnostics& diag)
{
    auto jwk = jws::public_jwk(pkey.get());
    if (!jwk)
        return detail::fail_with<std::shared_ptr<const dpop_key>>(diag, jwk.error(),
                                                                  "the public key cannot be written as a JWK");
    auto jkt = jws::thumbprint(*jwk);
    auto p = std::make_shared<dpop_key::impl>(dpop_key::impl{{std::move(pkey), alg}});
    return std::make_shared<const dpop_key>(std::move(p), std::string(jws::name_of(alg)), boost::json::serialize(*jwk),
                                            std::move(jkt));
}

jws::pkey_ptr new_private_key(jws::algorithm alg)
{
    switch (alg) {
    case jws::algorithm::es256: return jws::pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    case jws::algorithm::eddsa: return jws::pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    case jws::algorithm::rs256:
    case jws::algorithm::ps256: return jws::pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}));
    }
    return nullptr;
}

} // namespace

key_result dpop_key::generate(std::string_view alg, diagnostics& diag)
{
    const auto a = jws::algorithm_named(alg);
    if (!a)
        return unknown_algorithm(alg, diag);
    auto pkey = new_private_key(*a);
    if (!pkey) {
        ERR_clear_error();
        return detail::fail_with<std::shared_ptr<const dpop_key>>(diag, error::key_load_failed,
                                                                  "OpenSSL could not generate the DPoP key");
    }
    return make_key(std::move(pkey), *a, diag);
}

key_result dpop_key::generate(std::string_view alg)
{
    diagnostics unused;
    return generate(alg, unused);
}

key_result dpop_key::load_pem(std::string_view pem, std::string_view alg, diagnostics& diag)
{
    std::optional<jws::algorithm> wanted;
    if (!alg.empty() && !(wanted = jws::algorithm_named(alg)))
        return unknown_algorithm(alg, diag);
    auto key = jws::read_private_key(pem, diag);
    if (!key)
        return key.error();
    if (wanted && !jws::fits(*wanted, key->natural)) {
        std::string m = "the DPoP key is ";
        m.append(key_type_of(key->natural)).append(", which cannot sign ").append(alg);
        return detail::fail_with<std::shared_ptr<const dpop_key>>(diag, error::key_load_failed, m);
    }
    return make_key(std::move(key->pkey), wanted.value_or(key->natural), diag);
}

key_result dpop_key::load_pem_file(const std::string& path, std::string_view alg, diagnostics& diag)
{
    auto pem = jws::read_key_file(path, diag);
    if (!pem)
        return pem.error();
    return load_pem(*pem, alg, diag);
}

boost::system::result<std::string> dpop_key::sign(std::string_view signing_input) const
{
    if (!impl_) // a key built from its public constructor without a private key
        return error::key_load_failed;
    return impl_->sign(signing_input);
}

std::ostream& operator<<(std::ostream& os, const dpop_key& k)
{
    return os << "dpop_key{" << k.algorithm() << ", jkt=" << k.thumbprint() << "}";
}

boost::system::result<std::string> make_dpop_proof(const dpop_key& key, const dpop_proof_claims& c)
{
    // A proof without them is one every server rejects (RFC 9449 §4.3):
    // fail here, where the cause is known. dpop_htu gives "" for a relative URL.
    if (c.htu.empty())
        return error::invalid_url;
    if (c.htm.empty())
        return error::invalid_header_value;
    // The JWK is JSON this library serialised; it goes in as it is, not
    // parsed again for every proof.
    std::string header = R"({"typ":"dpop+jwt","alg":")";
    header.append(key.algorithm()).append(R"(","jwk":)").append(key.public_jwk()).push_back('}');
    boost::json::object claims;
    claims.reserve(6);
    claims.emplace("jti", jws::random_jti());
    claims.emplace("htm", c.htm);
    claims.emplace("htu", c.htu);
    claims.emplace("iat", std::chrono::duration_cast<std::chrono::seconds>(c.now.time_since_epoch()).count());
    if (!c.nonce.empty())
        claims.emplace("nonce", c.nonce);
    if (!c.access_token.empty())
        claims.emplace("ath", dpop_ath(c.access_token));
    auto input = jws::signing_input(header, boost::json::serialize(claims));
    auto sig = key.sign(input);
    if (!sig)
        return sig.error();
    return jws::compact(std::move(input), *sig);
}

std::string dpop_htu(std::string_view url)
{
    auto u = boost::urls::parse_uri(url); // absolute: a scheme is required
    if (!u || !u->has_authority() || u->encoded_host().empty())
        return {};
    // The scheme is case-insensitive and its canonical form is lower case
    // (RFC 3986 §6.2.2.1); the rest stays as the caller wrote it. User
    // information is not part of an HTTP target URI (RFC 9110 §4.2.4).
    std::string out(u->scheme());
    std::transform(out.begin(), out.end(), out.begin(), detail::ascii_lower);
    out.append("://").append(u->encoded_host_and_port()).append(u->encoded_path());
    return out;
}

std::string dpop_ath(std::string_view access_token)
{
    const auto digest = detail::sha256_of(access_token);
    return jws::base64url(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

} // namespace tetrapak
