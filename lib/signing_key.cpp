// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/error.hpp>
#include <tetrapak/signing_key.hpp>

#include "detail/diag.hpp"
#include "detail/jws.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/object.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>

#include <ostream>

namespace tetrapak {

// The private key and its algorithm; dpop_key signs through the same code (detail/jws.hpp).
struct signing_key::impl : detail::jws::signer {};

namespace {

namespace jws = detail::jws;

std::string signing_input(std::string_view alg, std::string_view kid, const assertion_claims& c)
{
    boost::json::object header{{"alg", alg}, {"typ", "JWT"}};
    if (!kid.empty())
        header["kid"] = kid;
    auto iat = std::chrono::duration_cast<std::chrono::seconds>(c.now.time_since_epoch()).count();
    boost::json::object claims{{"iss", c.client_id}, {"sub", c.client_id}, {"aud", c.audience},
                               {"jti", jws::random_jti()}, {"iat", iat},           {"exp", iat + c.lifetime.count()}};
    return jws::signing_input(boost::json::serialize(header), boost::json::serialize(claims));
}

} // namespace

std::string base64url_encode(std::string_view bytes) { return jws::base64url(bytes); }

boost::system::result<std::shared_ptr<const signing_key>> signing_key::load_pem(std::string_view pem, std::string kid,
                                                                                diagnostics& diag)
{
    auto key = jws::read_private_key(pem, diag);
    if (!key)
        return key.error();
    // Client assertions keep to the algorithms every authorization server knows.
    if (key->natural == jws::algorithm::eddsa)
        return detail::fail_with<std::shared_ptr<const signing_key>>(
            diag, error::key_load_failed, "client assertion keys must be EC P-256 (ES256) or RSA (RS256), not Ed25519");
    const auto alg = key->natural;
    auto p = std::make_shared<impl>(impl{{std::move(key->pkey), alg}});
    return std::make_shared<const signing_key>(std::move(p), std::string(jws::name_of(alg)), std::move(kid));
}

boost::system::result<std::shared_ptr<const signing_key>> signing_key::load_pem_file(const std::string& path,
                                                                                     std::string kid, diagnostics& diag)
{
    auto pem = jws::read_key_file(path, diag);
    if (!pem)
        return pem.error();
    return load_pem(*pem, std::move(kid), diag);
}

boost::system::result<std::string> signing_key::sign(std::string_view input) const
{
    if (!impl_) // a key built from its public constructor without a private key
        return error::key_load_failed;
    return impl_->sign(input);
}

std::ostream& operator<<(std::ostream& os, const signing_key& k)
{
    return os << "signing_key{" << k.algorithm() << (k.key_id().empty() ? "" : ", kid=") << k.key_id() << "}";
}

boost::system::result<std::string> make_client_assertion(const signing_key& key, const assertion_claims& c)
{
    auto input = signing_input(key.algorithm(), key.key_id(), c);
    auto sig = key.sign(input);
    if (!sig)
        return sig.error();
    return jws::compact(std::move(input), *sig);
}

boost::system::result<std::string> make_client_assertion(std::string_view client_secret, const assertion_claims& c)
{
    auto input = signing_input("HS256", {}, c);
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, client_secret.data(), client_secret.size(),
                   reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac, &len)) {
        ERR_clear_error(); // not left for a later TLS call on this thread to find
        return error::key_load_failed;
    }
    return jws::compact(std::move(input), std::string_view(reinterpret_cast<const char*>(mac), len));
}

} // namespace tetrapak
