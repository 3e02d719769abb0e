// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_DETAIL_JWS_HPP
#define TETRAPAK_LIB_DETAIL_JWS_HPP

// The JWS pieces that client assertions (signing_key) and DPoP proofs
// (dpop_key) share: reading and checking a private key, signing a JWS input
// (RFC 7515, algorithms of RFC 7518 and RFC 8037), the public JWK of a key
// (RFC 7517), its thumbprint (RFC 7638), base64url and random jti values.

#include <tetrapak/diagnostics.hpp>

#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <openssl/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tetrapak::detail::jws {

enum class algorithm { es256, rs256, ps256, eddsa };

/// The algorithm a JWS "alg" names ("ES256", "RS256", "PS256", "EdDSA"); nullopt for any other.
std::optional<algorithm> algorithm_named(std::string_view alg) noexcept;
/// The JWS "alg" value of `a`.
std::string_view name_of(algorithm a) noexcept;

struct pkey_free {
    void operator()(EVP_PKEY* k) const noexcept;
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

/// A private key and the algorithm its type implies (EC P-256: ES256, RSA: RS256, Ed25519: EdDSA).
struct private_key {
    pkey_ptr pkey;
    algorithm natural;
};

/// Reads an unencrypted PEM private key (PKCS#8, SEC1 or PKCS#1) and checks
/// that it is EC P-256, RSA of at least 2048 bits, or Ed25519. Fails with
/// error::key_load_failed and the problem in diag.
boost::system::result<private_key> read_private_key(std::string_view pem, diagnostics& diag);

/// Checks a key made or read elsewhere as read_private_key does.
boost::system::result<private_key> check_private_key(pkey_ptr pkey, diagnostics& diag);

/// The text of a key file; error::key_load_failed, naming the path, when it cannot be read.
boost::system::result<std::string> read_key_file(const std::string& path, diagnostics& diag);

/// Whether `a` can sign with a key whose natural algorithm is `natural`
/// (PS256 with an RSA key as well as RS256).
bool fits(algorithm a, algorithm natural) noexcept;

/// The JWS signature of `input` with `pkey` (ES256 as R||S, 64 bytes; PS256
/// with a salt as long as the digest). error::key_load_failed when OpenSSL fails.
boost::system::result<std::string> sign(EVP_PKEY* pkey, algorithm a, std::string_view input);

/// A private key with the algorithm it signs with: what a key class keeps.
struct signer {
    pkey_ptr pkey;
    algorithm alg;

    /// sign(pkey, alg, input).
    boost::system::result<std::string> sign(std::string_view input) const;
};

/// The public JWK of `pkey` with only the members RFC 7638 requires, in
/// lexicographic order (so its serialisation is also the thumbprint input).
/// error::key_load_failed for a key type other than EC P-256, RSA, Ed25519.
boost::system::result<boost::json::object> public_jwk(EVP_PKEY* pkey);

/// The RFC 7638 SHA-256 thumbprint of `jwk`, base64url; other members than
/// the required ones are ignored. "" when the key type is not EC, RSA or OKP,
/// or a required member is missing or not a string.
std::string thumbprint(const boost::json::object& jwk);

/// base64url without padding (RFC 7515 §2).
std::string base64url(std::string_view bytes);
void append_base64url(std::string& out, std::string_view bytes);

/// A fresh random JWT ID (144 bits, base64url).
std::string random_jti();

/// BASE64URL(header) "." BASE64URL(claims): the JWS signing input.
std::string signing_input(std::string_view header_json, std::string_view claims_json);
/// The compact serialisation: `input` "." BASE64URL(signature).
std::string compact(std::string input, std::string_view signature);

} // namespace tetrapak::detail::jws

#endif
