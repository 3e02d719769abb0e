// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_RESOURCE_SERVER_HPP
#define TETRAPAK_TEST_RESOURCE_SERVER_HPP

// An in-process HTTPS resource server (a downstream service) on 127.0.0.1 that
// verifies sender-constrained requests and records a verdict for each:
//   dpop        Authorization: DPoP <token> with one DPoP proof (RFC 9449 §4.3, §7.1)
//   mtls_bound  Authorization: Bearer <JWT> bound to the connection's client
//               certificate by cnf["x5t#S256"] (RFC 8705 §3)
//   bearer_only any Bearer token (for contrast)
// In every mode a Bearer token that is DPoP-bound (a JWT with cnf.jkt) and a
// DPoP proof next to a Bearer token are refused.
//
// Access tokens are read, never verified: they come from the test's own
// authorization server (or are made by the test). Proofs are verified fully,
// with OpenSSL, independently of the library's DPoP code.
//
// TLS uses cert_dir()/server.pem. The server asks for a client certificate but
// does not require one and accepts any (self-signed too): it only records its
// SHA-256. Connections are kept alive; its io_context runs on its own thread;
// the destructor closes everything and joins it.

#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tetrapak::test {

enum class resource_mode { bearer_only, dpop, mtls_bound };

struct resource_options {
    resource_mode mode = resource_mode::dpop;
    /// DPoP: proofs must carry the current nonce; otherwise 401 use_dpop_nonce with DPoP-Nonce.
    bool require_nonce = false;
    /// > 0: a new nonce after every N requests that carried the current one (sent on that success).
    int rotate_nonce_every = 0;
    /// How far a proof's iat may be from the server's clock, either way.
    std::chrono::seconds iat_window{60};
    /// DPoP: the thumbprint the proof key must have (also for tokens that are not JWTs).
    std::optional<std::string> expected_jkt{};
    /// The answer on success.
    unsigned status = 200;
    std::string body = "resource";
};

/// What the server decided about one request.
struct verdict {
    bool accepted = false;
    /// The WWW-Authenticate error: "" (accepted, or no credentials), "invalid_request",
    /// "invalid_token", "invalid_dpop_proof" or "use_dpop_nonce".
    std::string error;
    /// "accepted", or why not (also sent as error_description). Refusals start with
    /// a fixed phrase, e.g. "htm does not match", followed by details.
    std::string reason;
    std::string method;
    std::string target;
    std::string scheme;      ///< the Authorization scheme as sent ("" when none)
    std::string jkt;         ///< RFC 7638 thumbprint of the proof's jwk ("" when no proof was read)
    std::string client_cert; ///< base64url(SHA-256(DER)) of this connection's client certificate, "" when none
    int connection = 0;      ///< the connection (1-based) that carried the request
};

class resource_server {
public:
    explicit resource_server(resource_options opts = {});
    ~resource_server();
    resource_server(const resource_server&) = delete;
    resource_server& operator=(const resource_server&) = delete;

    unsigned short port() const noexcept;
    /// https://127.0.0.1:PORT + path
    std::string url(std::string_view path = "/resource") const;

    int requests() const;               ///< requests read
    int accepted() const;               ///< requests accepted
    int connections() const;            ///< TLS connections accepted
    int nonce_challenges() const;       ///< 401 use_dpop_nonce answers
    int replays() const;                ///< proofs refused for a jti already seen
    std::vector<verdict> verdicts() const;
    std::string last_scheme() const;    ///< the last Authorization scheme as sent
    boost::json::object last_proof_claims() const; ///< of the last proof that could be decoded
    std::string current_nonce() const;  ///< the nonce proofs must carry now (require_nonce)

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// The RFC 7638 thumbprint of a public JWK (EC, RSA or OKP): base64url(SHA-256)
/// of its required members in lexicographic order. "" when a member is missing.
std::string jwk_thumbprint(const boost::json::object& jwk);

/// base64url(SHA-256(DER)) of the first certificate in a PEM file: what a
/// token bound to that certificate carries in cnf["x5t#S256"]. Throws when unreadable.
std::string x5t_s256(const std::string& pem_file);

} // namespace tetrapak::test

#endif
