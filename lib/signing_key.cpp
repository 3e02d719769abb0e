// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/error.hpp>
#include <tetrapak/signing_key.hpp>

#include <boost/json/serialize.hpp>
#include <boost/json/object.hpp>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <fstream>
#include <ostream>
#include <sstream>

namespace tetrapak {

struct signing_key::impl {
    EVP_PKEY* pkey = nullptr;
    ~impl() { EVP_PKEY_free(pkey); }
};

namespace {

using access = detail::diagnostics_access;

boost::system::result<std::string> sign_with(EVP_PKEY* pkey, bool ecdsa, std::string_view input)
{
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::size_t len = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
        return error::key_load_failed;
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
        return error::key_load_failed;
    sig.resize(len);
    if (!ecdsa)
        return sig;
    // JWS ES256 wants R||S, 32 bytes each (RFC 7518 §3.4); OpenSSL gives DER.
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())),
                                                             &ECDSA_SIG_free);
    if (!es)
        return error::key_load_failed;
    std::string raw(64, '\0');
    if (BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), reinterpret_cast<unsigned char*>(raw.data()), 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) != 32)
        return error::key_load_failed;
    return raw;
}

std::string random_jti()
{
    unsigned char bytes[18];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

std::string signing_input(std::string_view alg, std::string_view kid, const assertion_claims& c)
{
    boost::json::object header{{"alg", alg}, {"typ", "JWT"}};
    if (!kid.empty())
        header["kid"] = kid;
    auto iat = std::chrono::duration_cast<std::chrono::seconds>(c.now.time_since_epoch()).count();
    boost::json::object claims{{"iss", c.client_id}, {"sub", c.client_id}, {"aud", c.audience},
                               {"jti", random_jti()},  {"iat", iat},          {"exp", iat + c.lifetime.count()}};
    return base64url_encode(boost::json::serialize(header)) + "." + base64url_encode(boost::json::serialize(claims));
}

} // namespace

std::string base64url_encode(std::string_view bytes)
{
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '=')
        out.pop_back();
    for (auto& ch : out)
        ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    return out;
}

boost::system::result<std::shared_ptr<const signing_key>> signing_key::load_pem(std::string_view pem, std::string kid,
                                                                                diagnostics& diag)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    auto p = std::make_shared<impl>();
    if (bio)
        p->pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    ERR_clear_error();
    if (!p->pkey) {
        access::client_message(diag) = "the private key is not a readable unencrypted PEM key";
        return error::key_load_failed;
    }
    std::string alg;
    if (EVP_PKEY_is_a(p->pkey, "EC")) {
        char group[64] = {};
        std::size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(p->pkey, "group", group, sizeof group, &glen) != 1 ||
            std::string_view(group) != "prime256v1") {
            access::client_message(diag) = "EC keys must use P-256 (ES256)";
            return error::key_load_failed;
        }
        alg = "ES256";
    } else if (EVP_PKEY_is_a(p->pkey, "RSA")) {
        if (EVP_PKEY_get_bits(p->pkey) < 2048) {
            access::client_message(diag) = "RSA keys must have at least 2048 bits";
            return error::key_load_failed;
        }
        alg = "RS256";
    } else {
        access::client_message(diag) = "only EC P-256 and RSA keys are supported";
        return error::key_load_failed;
    }
    return std::make_shared<const signing_key>(std::move(p), std::move(alg), std::move(kid));
}

boost::system::result<std::shared_ptr<const signing_key>> signing_key::load_pem_file(const std::string& path,
                                                                                     std::string kid, diagnostics& diag)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        access::client_message(diag) = "the private key file cannot be opened";
        return error::key_load_failed;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return load_pem(ss.str(), std::move(kid), diag);
}

boost::system::result<std::string> signing_key::sign(std::string_view input) const
{
    return sign_with(impl_->pkey, alg_ == "ES256", input);
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
    return input + "." + base64url_encode(*sig);
}

boost::system::result<std::string> make_client_assertion(std::string_view client_secret, const assertion_claims& c)
{
    auto input = signing_input("HS256", {}, c);
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, client_secret.data(), client_secret.size(),
                   reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac, &len))
        return error::key_load_failed;
    return input + "." + base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

} // namespace tetrapak
