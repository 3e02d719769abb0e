// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_DPOP_HPP
#define TETRAPAK_DPOP_HPP

/// \file
/// DPoP proof keys and proofs (RFC 9449), with OpenSSL.

#include <tetrapak/diagnostics.hpp>

#include <boost/system/result.hpp>

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

namespace tetrapak {

/// A DPoP proof key: the private key stays in this object (never printed,
/// never serialised); its public JWK goes into every proof's header.
/// Immutable; share it between configurations and threads.
///
/// Algorithms: "ES256" (EC P-256, the default), "RS256" and "PS256" (RSA,
/// at least 2048 bits), "EdDSA" (Ed25519).
class dpop_key {
public:
    /// A new key made in memory (for ES256, EdDSA; RSA takes a while: 2048 bits).
    /// An unknown algorithm: error::key_load_failed, naming it in diag.
    static boost::system::result<std::shared_ptr<const dpop_key>> generate(std::string_view alg, diagnostics& diag);
    /// As generate(alg, diag), without diagnostics; `generate()` makes an ES256 key.
    static boost::system::result<std::shared_ptr<const dpop_key>> generate(std::string_view alg = "ES256");

    /// Loads a PEM private key (PKCS#8, SEC1 or PKCS#1, unencrypted). `alg`
    /// empty: the key's natural one (EC P-256 -> ES256, RSA -> RS256,
    /// Ed25519 -> EdDSA); otherwise it must fit the key ("PS256" for RSA).
    static boost::system::result<std::shared_ptr<const dpop_key>>
    load_pem(std::string_view pem, std::string_view alg, diagnostics& diag);
    /// As load_pem, with the PEM read from the file at `path` (one that cannot
    /// be opened: error::key_load_failed, naming the file in diag).
    static boost::system::result<std::shared_ptr<const dpop_key>>
    load_pem_file(const std::string& path, std::string_view alg, diagnostics& diag);

    /// "ES256", "RS256", "PS256" or "EdDSA".
    std::string_view algorithm() const noexcept { return alg_; }
    /// The public key as a JWK (RFC 7517; only the public members), serialised JSON.
    std::string_view public_jwk() const noexcept { return jwk_; }
    /// The JWK SHA-256 thumbprint (RFC 7638), base64url: what a bound token's `cnf.jkt` holds.
    std::string_view thumbprint() const noexcept { return jkt_; }

    /// The JWS signature of `signing_input` (ES256 as R||S, 64 bytes).
    boost::system::result<std::string> sign(std::string_view signing_input) const;

    /// Prints the algorithm and the thumbprint (public), never the key.
    friend std::ostream& operator<<(std::ostream& os, const dpop_key& k);

    struct impl;
    /// How generate and load_pem build a key; `impl` is opaque outside the
    /// library. With a null `p` the key has no private part: sign() fails
    /// with error::key_load_failed.
    dpop_key(std::shared_ptr<impl> p, std::string alg, std::string jwk, std::string jkt)
        : impl_(std::move(p)), alg_(std::move(alg)), jwk_(std::move(jwk)), jkt_(std::move(jkt))
    {
    }

private:
    std::shared_ptr<impl> impl_;
    std::string alg_;
    std::string jwk_;
    std::string jkt_;
};

/// What one DPoP proof is for (RFC 9449 §4.2).
struct dpop_proof_claims {
    std::string_view htm; ///< the HTTP method, e.g. "POST"
    std::string_view htu; ///< the target URI without query and fragment (dpop_htu)
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now(); ///< iat
    std::string_view nonce{};        ///< the server's DPoP-Nonce; empty: none
    std::string_view access_token{}; ///< for a resource request: `ath` is its SHA-256; empty: no ath
};

/// A DPoP proof JWT: header {typ "dpop+jwt", alg, jwk}, claims {jti (fresh,
/// random), htm, htu, iat[, nonce][, ath]}, signed with `key`.
boost::system::result<std::string> make_dpop_proof(const dpop_key& key, const dpop_proof_claims& c);

/// The `htu` of a request to `url` (RFC 9449 §4.2): scheme, authority and
/// path, without query and fragment. Returns "" when `url` is not absolute.
std::string dpop_htu(std::string_view url);

/// base64url(SHA-256(access_token)): the `ath` claim (RFC 9449 §4.2).
std::string dpop_ath(std::string_view access_token);

} // namespace tetrapak

#endif
