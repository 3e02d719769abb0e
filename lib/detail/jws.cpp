// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "jws.hpp"

#include "diag.hpp"
#include "sha256.hpp"

#include <tetrapak/error.hpp>

#include <boost/json/serialize.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <span>
#include <sstream>
#include <stdexcept>

namespace tetrapak::detail::jws {

namespace {

struct bn_free {
    void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;

struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

const unsigned char* bytes_of(std::string_view s) noexcept { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string_view chars_of(const unsigned char* p, std::size_t n) noexcept
{
    return {reinterpret_cast<const char*>(p), n};
}

// Never asks for a pass phrase: OpenSSL's default callback would prompt on
// the terminal, which a library must not do.
int no_pass_phrase(char*, int, int, void*) { return -1; }

/// An OpenSSL failure leaves entries in this thread's error queue; a later
/// TLS call on the same thread would read them as its own, so they go now.
boost::system::error_code openssl_failed() noexcept
{
    ERR_clear_error();
    return error::key_load_failed;
}

/// JWS ES256 wants R||S, 32 bytes each (RFC 7518 §3.4); OpenSSL gives DER.
boost::system::result<std::string> ecdsa_der_to_raw(std::string_view der)
{
    const unsigned char* p = bytes_of(der);
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())),
                                                             &ECDSA_SIG_free);
    if (!es)
        return openssl_failed();
    std::string raw(64, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    if (BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), out, 32) != 32 || BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), out + 32, 32) != 32)
        return openssl_failed();
    return raw;
}

/// A big-number parameter of `pkey`, big-endian: left-padded to `width`
/// bytes, or without leading zero bytes when `width` is 0.
std::optional<std::string> bn_param(EVP_PKEY* pkey, const char* name, int width)
{
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1)
        return std::nullopt;
    bn_ptr bn(raw);
    std::string out(static_cast<std::size_t>(width ? width : BN_num_bytes(bn.get())), '\0');
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    const int n = width ? BN_bn2binpad(bn.get(), p, width) : BN_bn2bin(bn.get(), p);
    if (n < 0 || static_cast<std::size_t>(n) != out.size())
        return std::nullopt;
    return out;
}

/// RFC 7638 §3.2 (and RFC 8037 §2 for OKP): the members a thumbprint
/// covers, in lexicographic order; empty for another key type.
std::span<const std::string_view> required_members(std::string_view kty) noexcept
{
    static constexpr std::string_view ec[] = {"crv", "kty", "x", "y"};
    static constexpr std::string_view rsa[] = {"e", "kty", "n"};
    static constexpr std::string_view okp[] = {"crv", "kty", "x"};
    if (kty == "EC")
        return ec;
    if (kty == "RSA")
        return rsa;
    if (kty == "OKP")
        return okp;
    return {};
}

} // namespace

void pkey_free::operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }

std::optional<algorithm> algorithm_named(std::string_view alg) noexcept
{
    for (auto a : {algorithm::es256, algorithm::rs256, algorithm::ps256, algorithm::eddsa})
        if (name_of(a) == alg)
            return a;
    return std::nullopt;
}

std::string_view name_of(algorithm a) noexcept
{
    switch (a) {
    case algorithm::es256: return "ES256";
    case algorithm::rs256: return "RS256";
    case algorithm::ps256: return "PS256";
    case algorithm::eddsa: return "EdDSA";
    }
    return {};
}

bool fits(algorithm a, algorithm natural) noexcept
{
    return a == natural || (a == algorithm::ps256 && natural == algorithm::rs256);
}

boost::system::result<private_key> read_private_key(std::string_view pem, diagnostics& diag)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    pkey_ptr pkey(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, &no_pass_phrase, nullptr) : nullptr);
    ERR_clear_error(); // the decoders that did not match leave their failures queued
    if (!pkey) {
        const bool encrypted = pem.find("ENCRYPTED") != std::string_view::npos;
        return fail_with<private_key>(diag, error::key_load_failed,
                                      encrypted ? "the private key is encrypted: give it unencrypted (PEM, PKCS#8, SEC1 or PKCS#1)"
                                                : "the private key is not a readable PEM key (PKCS#8, SEC1 or PKCS#1)");
    }
    return check_private_key(std::move(pkey), diag);
}

boost::system::result<private_key> check_private_key(pkey_ptr pkey, diagnostics& diag)
{
    EVP_PKEY* k = pkey.get();
    if (EVP_PKEY_is_a(k, "EC")) {
        char group[64] = {};
        std::size_t len = 0;
        if (EVP_PKEY_get_group_name(k, group, sizeof group, &len) != 1 || std::string_view(group) != "prime256v1") {
            std::string m = "EC keys must use the P-256 curve (ES256); this one uses ";
            m.append(len ? group : "an unnamed curve");
            return fail_with<private_key>(diag, error::key_load_failed, m);
        }
        return private_key{std::move(pkey), algorithm::es256};
    }
    if (EVP_PKEY_is_a(k, "RSA")) {
        if (const int bits = EVP_PKEY_get_bits(k); bits < 2048) {
            std::string m = "RSA keys must have at least 2048 bits; this one has ";
            m.append(std::to_string(bits));
            return fail_with<private_key>(diag, error::key_load_failed, m);
        }
        return private_key{std::move(pkey), algorithm::rs256};
    }
    if (EVP_PKEY_is_a(k, "ED25519"))
        return private_key{std::move(pkey), algorithm::eddsa};
    const char* type = EVP_PKEY_get0_type_name(k);
    std::string m = "only EC P-256, RSA and Ed25519 keys are supported; this one is ";
    m.append(type ? type : "of an unknown type");
    return fail_with<private_key>(diag, error::key_load_failed, m);
}

boost::system::result<std::string> read_key_file(const std::string& path, diagnostics& diag)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::string m = "the private key file cannot be opened: ";
        m.append(path);
        return fail_with<std::string>(diag, error::key_load_failed, m);
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return std::move(ss).str();
}

boost::system::result<std::string> sign(EVP_PKEY* pkey, algorithm a, std::string_view input)
{
    std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr; // owned by ctx
    // Ed25519 hashes inside the algorithm (RFC 8032): no digest here.
    const EVP_MD* md = a == algorithm::eddsa ? nullptr : sha256_md();
    if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, pkey) != 1)
        return openssl_failed();
    // RFC 7518 §3.5: MGF1 with SHA-256 (OpenSSL's default: the signature's
    // digest) and a salt as long as the digest.
    if (a == algorithm::ps256 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        return openssl_failed();
    std::size_t len = static_cast<std::size_t>(EVP_PKEY_get_size(pkey)); // the largest signature
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, bytes_of(input), input.size()) != 1)
        return openssl_failed();
    sig.resize(len);
    if (a == algorithm::es256)
        return ecdsa_der_to_raw(sig);
    return sig;
}

boost::system::result<std::string> signer::sign(std::string_view input) const { return jws::sign(pkey.get(), alg, input); }

boost::system::result<boost::json::object> public_jwk(EVP_PKEY* pkey)
{
    if (EVP_PKEY_is_a(pkey, "EC")) {
        auto x = bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
        auto y = bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
        if (!x || !y)
            return openssl_failed();
        return boost::json::object{{"crv", "P-256"}, {"kty", "EC"}, {"x", base64url(*x)}, {"y", base64url(*y)}};
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        auto n = bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        auto e = bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        if (!n || !e)
            return openssl_failed();
        return boost::json::object{{"e", base64url(*e)}, {"kty", "RSA"}, {"n", base64url(*n)}};
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        std::array<unsigned char, 32> x{};
        std::size_t len = x.size();
        if (EVP_PKEY_get_raw_public_key(pkey, x.data(), &len) != 1 || len != x.size())
            return openssl_failed();
        return boost::json::object{{"crv", "Ed25519"}, {"kty", "OKP"}, {"x", base64url(chars_of(x.data(), len))}};
    }
    return error::key_load_failed;
}

std::string thumbprint(const boost::json::object& jwk)
{
    const auto* kty = jwk.if_contains("kty");
    const auto members = required_members(kty && kty->is_string() ? std::string_view(kty->get_string()) : "");
    if (members.empty())
        return {};
    boost::json::object canonical;
    canonical.reserve(members.size());
    for (auto name : members) {
        const auto* v = jwk.if_contains(name);
        if (!v || !v->is_string())
            return {};
        canonical.emplace(name, v->get_string());
    }
    const auto digest = sha256_of(boost::json::serialize(canonical)); // no whitespace, as §3.3 asks
    return base64url(chars_of(digest.data(), digest.size()));
}

void append_base64url(std::string& out, std::string_view bytes)
{
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char* p = bytes_of(bytes);
    const std::size_t n = bytes.size();
    const std::size_t start = out.size();
    out.resize(start + (n * 4 + 2) / 3); // no padding
    char* o = out.data() + start;
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        const std::uint32_t v = std::uint32_t{p[i]} << 16 | std::uint32_t{p[i + 1]} << 8 | p[i + 2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (i == n)
        return;
    const std::uint32_t v = std::uint32_t{p[i]} << 16 | (i + 1 < n ? std::uint32_t{p[i + 1]} << 8 : 0u);
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    if (i + 1 < n)
        *o = alphabet[(v >> 6) & 63];
}

std::string base64url(std::string_view bytes)
{
    std::string out;
    append_base64url(out, bytes);
    return out;
}

std::string random_jti()
{
    unsigned char bytes[18];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        ERR_clear_error();
        throw std::runtime_error("RAND_bytes failed: OpenSSL has no entropy source");
    }
    return base64url(chars_of(bytes, sizeof bytes));
}

std::string signing_input(std::string_view header_json, std::string_view claims_json)
{
    std::string out;
    // Room for the signature too (RSA 2048: 342 characters), which compact() appends.
    out.reserve((header_json.size() + claims_json.size()) * 4 / 3 + 348);
    append_base64url(out, header_json);
    out.push_back('.');
    append_base64url(out, claims_json);
    return out;
}

std::string compact(std::string input, std::string_view signature)
{
    input.push_back('.');
    append_base64url(input, signature);
    return input;
}

} // namespace tetrapak::detail::jws
