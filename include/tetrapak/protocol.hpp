// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_PROTOCOL_HPP
#define TETRAPAK_PROTOCOL_HPP

/// \file
/// The token protocol without I/O: building the token request for a
/// grant (with client authentication) and reading the server's answer.
/// Every function here is synchronous, allocates only what it returns, and
/// reports failures as error codes plus diagnostics. The asynchronous service
/// only moves the bytes these functions produce and consume.

#include <tetrapak/actor_token.hpp>
#include <tetrapak/config.hpp>
#include <tetrapak/diagnostics.hpp>

#include <boost/system/result.hpp>
#include <boost/url/url.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tetrapak {

/// A validated token endpoint: where to connect and what to ask for.
struct endpoint {
    boost::urls::url url; ///< the URL as given, parsed
    std::string host;   ///< without brackets for IPv6
    std::string port;   ///< explicit or the scheme's default
    std::string target; ///< path and query, at least "/"
    bool tls = true;            ///< https; false only for http:// allowed on loopback
    bool host_is_ip = false;    ///< an IP literal: no SNI, and the certificate is checked against the address
};

/// Parses and checks a token endpoint URL: absolute, http(s), a host, no
/// userinfo or fragment; http only when `allow_insecure_http_on_loopback`
/// and the host is a loopback address or "localhost".
boost::system::result<endpoint> parse_endpoint(std::string_view url, bool allow_insecure_http_on_loopback,
                                               diagnostics& diag);

/// One header field of a token_request.
struct http_field {
    std::string name;  ///< e.g. "Authorization"
    std::string value; ///< checked: no CR, LF or NUL
};

/// An HTTP request to a token endpoint, ready to be serialised.
struct token_request {
    tetrapak::endpoint endpoint;    ///< where to send it (host, port, target)
    std::vector<http_field> fields; ///< besides Host and Content-Length
    std::string body;               ///< application/x-www-form-urlencoded
};

/// Everything a grant needs besides the configuration.
struct grant_inputs {
    grant_type grant = grant_type::client_credentials; ///< the resolved grant
    /// The subject of a token exchange (the incoming caller's token).
    const actor_token* subject = nullptr;
    /// When non-empty: renew with grant_type=refresh_token (RFC 6749 §6) instead.
    std::string_view refresh_token{};
    /// The time put into client assertions (iat/exp), and against which an
    /// external assertion's exp is checked.
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
    /// When set: the configuration's token endpoint, already parsed by
    /// parse_endpoint with its allow_insecure_http_on_loopback (it is not
    /// parsed again); when null, build_token_request parses it.
    const endpoint* token_endpoint = nullptr;
    /// client_secret_basic with basic_credentials_encoding::automatic: send
    /// the raw form this time (the driver's choice: see raw_basic_form).
    bool raw_basic_credentials = false;
};

/// True when `t` is a JWT whose `userType` claim is "system" (case-insensitive):
/// the SDK's system identity.
bool is_system_identity(const actor_token& t) noexcept;

/// The SDK's grant choice for a configured grant and the caller's token:
/// - client_credentials (and inherited, which means "not set") -> client credentials;
/// - token_exchange -> token exchange; no subject: error::no_subject_token; a
///   system identity subject: error::system_identity_refused (before any request);
/// - automatic -> client credentials when there is no subject or it is a
///   system identity, token exchange otherwise;
/// - jwt_bearer -> jwt_bearer (RFC 7523 §2.1; the caller's token plays no part);
/// - none -> error::no_authorization.
boost::system::result<grant_type> resolve_grant(grant_type configured, const actor_token& subject,
                                                diagnostics& diag);

/// Builds the token request for `in.grant` with `cfg`'s client authentication
/// (a fresh client assertion on every call for client_secret_jwt and
/// private_key_jwt). Checks every value (CR/LF/NUL, scope syntax, required
/// fields) first. `cfg.token_endpoint` must be set (after discovery).
///
/// private_key_jwt signs with `cfg.client_key` when set, else sends the
/// assertion of `cfg.client_assertion` (a platform's file or a callback,
/// checked and never sent expired: error::client_assertion_unavailable,
/// error::client_assertion_expired); neither: error::key_load_failed.
/// grant_type::jwt_bearer sends `assertion` from `cfg.jwt_bearer_assertion`,
/// else one signed with `cfg.client_key` (iss client_id, sub
/// jwt_bearer_subject or client_id, aud the token endpoint); neither:
/// error::client_assertion_unavailable. A refresh token, when given, is used
/// instead of any grant. self_signed_tls_client_auth sends client_id like
/// tls_client_auth.
boost::system::result<token_request> build_token_request(const auth_config& cfg, const grant_inputs& in,
                                                         diagnostics& diag);

/// `application/x-www-form-urlencoded` encoding of one name or value
/// (RFC 6749 Appendix B): space as '+', all but unreserved percent-encoded.
std::string form_encode(std::string_view s);

/// The `Authorization` value for client_secret_basic: "Basic " +
/// base64(form_encode(id) ":" form_encode(secret)) (RFC 6749 §2.3.1).
std::string basic_authorization(std::string_view client_id, std::string_view client_secret);

/// The raw (RFC 7617) form: "Basic " + base64(id ":" secret), for servers that
/// compare the decoded credentials literally (basic_credentials_encoding::raw).
std::string raw_basic_authorization(std::string_view client_id, std::string_view client_secret);

/// True when the two forms differ: form-encoding changes the id or the secret
/// (a character other than letters, digits and `-._~`).
bool basic_forms_differ(std::string_view client_id, std::string_view client_secret) noexcept;

/// Whether build_token_request sends the raw Basic form for `cfg` and `in`:
/// `cfg.basic_credentials` rfc6749 -> no, raw -> yes, automatic ->
/// `in.raw_basic_credentials`.
bool raw_basic_form(const auth_config& cfg, const grant_inputs& in) noexcept;

/// The parts of an HTTP response the parser reads.
struct http_response_view {
    unsigned status = 0;               ///< the HTTP status code
    std::string_view body;             ///< the response body
    std::string_view retry_after;      ///< raw header value, may be empty
    std::string_view www_authenticate; ///< raw header value, may be empty
};

/// What parse_token_response needs besides the response.
struct parse_options {
    /// When the request was sent: expiry is measured from here.
    std::chrono::system_clock::time_point sent_at = std::chrono::system_clock::now();
    /// Lifetime when neither expires_in nor a JWT exp is given.
    std::chrono::seconds default_lifetime{300};
    /// The thumbprint of the DPoP proof key the request carried (RFC 7638);
    /// empty: no DPoP. A DPoP token is accepted only with it, and a JWT access
    /// token's cnf.jkt must equal it.
    std::string_view dpop_jkt{};
};

/// Reads a token endpoint answer: the token on 2xx (RFC 6749 §5.1), else the
/// typed error with the server's diagnostics (§5.2, status, Retry-After,
/// WWW-Authenticate).
boost::system::result<actor_token> parse_token_response(const http_response_view& response,
                                                        const parse_options& opts, diagnostics& diag);

/// Authorization server metadata (OpenID Connect Discovery 1.0 / RFC 8414).
struct server_metadata {
    std::string issuer;         ///< `issuer`, checked against the discovery URL
    std::string token_endpoint; ///< `token_endpoint`, checked with parse_endpoint
    std::vector<std::string> token_endpoint_auth_methods_supported; ///< empty: not advertised
    std::vector<std::string> grant_types_supported;                 ///< empty: not advertised
    /// RFC 8705 §5 `mtls_endpoint_aliases.token_endpoint`: where clients that
    /// authenticate with mutual TLS send token requests. Empty: none (or not
    /// a usable https URL, which is ignored).
    std::string mtls_token_endpoint;
};

/// The token endpoint a client with `method` uses (RFC 8705 §5): the mutual
/// TLS alias for tls_client_auth and self_signed_tls_client_auth when the
/// server has one, else the token endpoint.
const std::string& token_endpoint_for(const server_metadata& md, client_auth_method method) noexcept;

/// Reads a discovery document fetched from `discovery_url`: a 2xx JSON object
/// with `issuer` and `token_endpoint`. The issuer must match the URL it was
/// fetched from (OIDC: issuer + "/.well-known/openid-configuration"; RFC 8414
/// §3.3: the well-known suffix inserted after the origin); other URLs need an
/// issuer on the same host. The token endpoint must pass parse_endpoint.
boost::system::result<server_metadata> parse_discovery_document(std::string_view discovery_url,
                                                                 const http_response_view& response,
                                                                 bool allow_insecure_http_on_loopback,
                                                                 diagnostics& diag);

/// The client authentication method to use with a server that advertises
/// `supported` (empty: anything): the first of private_key_jwt (when a key or
/// a client_assertion source is configured), tls_client_auth and
/// self_signed_tls_client_auth (when a client certificate is configured),
/// client_secret_basic, client_secret_post, client_secret_jwt that the server
/// lists and the configuration can perform.
std::optional<client_auth_method> choose_auth_method(const std::vector<std::string>& supported, const auth_config& cfg);

/// Parses a Retry-After value: delay-seconds or an HTTP-date (relative to `now`).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

/// Decodes the payload of a JWS compact token, without verifying it.
/// Returns nothing when `token` is not such a token.
std::optional<boost::json::object> decode_jwt_payload(std::string_view token);

/// The `exp` claim of decoded JWT claims, when it is a sane NumericDate.
std::optional<std::chrono::system_clock::time_point> jwt_expiry(const boost::json::object& claims);

} // namespace tetrapak

#endif
