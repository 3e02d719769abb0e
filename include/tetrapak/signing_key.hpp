// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_SIGNING_KEY_HPP
#define TETRAPAK_SIGNING_KEY_HPP

/// \file
/// Keys and JWS signing for RFC 7523 client assertions (private_key_jwt,
/// client_secret_jwt), with OpenSSL.

#include <tetrapak/diagnostics.hpp>

#include <boost/system/result.hpp>

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

namespace tetrapak {

/// A private key for signing client assertions: EC P-256 (ES256) or RSA (RS256).
/// Immutable; share it between configurations. Never printed.
class signing_key {
public:
    /// Loads a PEM private key (PKCS#8, SEC1 or PKCS#1). `kid` is sent in the JWS header when non-empty.
    static boost::system::result<std::shared_ptr<const signing_key>>
    load_pem(std::string_view pem, std::string kid, diagnostics& diag);
    /// As load_pem, with the PEM read from the file at `path` (one that cannot
    /// be opened: error::key_load_failed, naming the file in diag).
    static boost::system::result<std::shared_ptr<const signing_key>>
    load_pem_file(const std::string& path, std::string kid, diagnostics& diag);

    /// "ES256" or "RS256".
    std::string_view algorithm() const noexcept { return alg_; }
    /// The `kid` sent in the JWS header; empty: none is sent.
    std::string_view key_id() const noexcept { return kid_; }

    /// The JWS signature of `signing_input` (raw bytes; ES256 as R||S).
    boost::system::result<std::string> sign(std::string_view signing_input) const;

    /// Prints the algorithm and the key id, never the key.
    friend std::ostream& operator<<(std::ostream& os, const signing_key& k);

    struct impl;
    /// How load_pem builds a key; `impl` is opaque outside the library. With
    /// a null `p` the key has no private part: sign() fails with
    /// error::key_load_failed.
    explicit signing_key(std::shared_ptr<impl> p, std::string alg, std::string kid)
        : impl_(std::move(p)), alg_(std::move(alg)), kid_(std::move(kid))
    {
    }

private:
    std::shared_ptr<impl> impl_;
    std::string alg_;
    std::string kid_;
};

/// The claims of one RFC 7523 client assertion.
struct assertion_claims {
    std::string_view client_id;  ///< iss and sub
    std::string_view audience;   ///< aud: the token endpoint URL
    std::chrono::system_clock::time_point now; ///< iat
    std::chrono::seconds lifetime{60};         ///< exp - iat
};

/// A compact JWS signed with `key` (private_key_jwt), with a fresh random jti.
boost::system::result<std::string> make_client_assertion(const signing_key& key, const assertion_claims& c);
/// A compact JWS signed with HS256 and `client_secret` (client_secret_jwt), with a fresh random jti.
boost::system::result<std::string> make_client_assertion(std::string_view client_secret, const assertion_claims& c);

/// base64url without padding (RFC 7515 §2).
std::string base64url_encode(std::string_view bytes);

} // namespace tetrapak

#endif
