// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_ERROR_HPP
#define TETRAPAK_ERROR_HPP

/// \file
/// Error codes: `error` for what this library detects, `oauth_errc` for
/// what the authorization server answered (RFC 6749 §5.2 and extensions).

#include <boost/system/error_code.hpp>
#include <iosfwd>
#include <string_view>
#include <type_traits>

namespace tetrapak {

/// Failures detected by the client. Category name: "tetrapak.client".
enum class error {
    // configuration and input (nothing was sent)
    missing_client_id = 1,      ///< auth_config::client_id is empty
    missing_client_secret,      ///< the authentication method needs a secret and there is none
    missing_token_endpoint,     ///< no token endpoint URL was configured
    invalid_url,                ///< the token endpoint is not an absolute http(s) URL
    insecure_transport,         ///< http:// without allow_insecure_http_on_loopback, or to a non-loopback host
    invalid_header_value,       ///< a value bound for a header or form field contains CR, LF or NUL
    invalid_scope_value,        ///< a scope entry is empty or has characters RFC 6749 §3.3 forbids
    unsupported_auth_method,    ///< the client authentication method is not available
    unsupported_grant,          ///< the requested grant cannot be performed by this operation
    no_subject_token,           ///< token exchange needs an incoming actor token and there is none
    system_identity_refused,    ///< token exchange refused: the subject is a system identity (JWT userType "system")
    no_authorization,           ///< the grant is `none`: send the request without a token (not a failure to fetch)
    // configuration loading (diagnostics::client_message() names the key, e.g. "TetraPak:Services:Orders:GrantType")
    config_parse_error,         ///< the configuration file is missing or not valid JSON
    config_invalid_value,       ///< a key has the wrong JSON type or an unusable value
    config_unknown_grant,       ///< GrantType is not one of None, TokenExchange, ClientCredentials, Automatic, JwtBearer, Inherited
    config_unknown_environment, ///< Environment is not Production, Migration, Test, Staging, Development or Sandbox
    config_unknown_service,     ///< the requested service or endpoint is not configured
    config_bad_url,             ///< a URL setting is not an absolute https URL
    // discovery
    discovery_failed,           ///< the discovery document could not be fetched or is not valid JSON metadata
    discovery_issuer_mismatch,  ///< the discovery document's issuer differs from the URL it was fetched from
    discovery_no_token_endpoint,///< the discovery document has no usable token_endpoint
    // client authentication material
    key_load_failed,            ///< a private key, certificate or key file could not be read or used
    // transport
    connect_timeout,            ///< resolving or connecting took longer than timeouts::connect
    handshake_timeout,          ///< the TLS handshake took longer than timeouts::handshake
    request_timeout,            ///< sending the request took longer than timeouts::request
    response_header_timeout,    ///< the response headers took longer than timeouts::response_header
    response_body_timeout,      ///< the response body took longer than timeouts::response_body
    tls_verification_failed,    ///< the server certificate failed verification (chain or host name)
    tls_version_refused,        ///< the server offers no TLS version at or above the 1.2 minimum
    not_tls,                    ///< the endpoint answered, but not in TLS (plain HTTP on an https port?)
    response_too_large,         ///< the response body exceeded auth_config::max_response_size
    header_too_large,           ///< the response header section exceeded its limit
    // HTTP level
    redirect_not_followed,      ///< the token endpoint answered 3xx; redirects are never followed
    too_many_requests,          ///< HTTP 429 (see diagnostics::retry_after)
    server_unavailable,         ///< HTTP 5xx without an OAuth error body
    unexpected_http_status,     ///< another non-2xx status without an OAuth error body (401/403: client_refused)
    // token response
    malformed_response,         ///< the body is not the JSON object RFC 6749 §5.1 describes
    missing_access_token,       ///< a 2xx answer without a non-empty access_token
    invalid_expires_in,         ///< expires_in is negative, absurdly large or not a number
    unsupported_token_type,     ///< token_type is not Bearer, DPoP or N_A (any case)
    // proxies and connection limits (appended: the codes above keep their values)
    proxy_url_invalid,          ///< a proxy URL (setting or environment) is not http://[user:password@]host[:port]
    proxy_unsupported,          ///< the proxy's scheme is not supported (https:// proxies, socks)
    proxy_unreachable,          ///< resolving or connecting to the proxy failed
    proxy_timeout,              ///< the proxy did not answer the tunnel request within timeouts.connect
    proxy_refused,              ///< the proxy answered CONNECT with a non-2xx status (see diagnostics::http_status)
    proxy_auth_required,        ///< the proxy answered 407: proxy credentials missing or wrong
    proxy_bad_response,         ///< the proxy's answer to CONNECT is not HTTP/1.x
    connection_wait_timeout,    ///< every allowed connection to the endpoint stayed busy for timeouts.connection_wait
    too_many_open_files,        ///< the process ran out of file descriptors (EMFILE/ENFILE); retried like a transport failure
    // interoperability (appended)
    client_refused,             ///< HTTP 401 or 403 from the token endpoint without an OAuth error (status in diagnostics); never retried
    // sender-constrained tokens and workload identity (appended)
    dpop_key_mismatch,          ///< a DPoP token is not bound to the proof key (cnf.jkt differs), or came without DPoP being asked for
    client_assertion_unavailable, ///< a client or jwt_bearer assertion file is missing, unreadable, empty or not a JWT, or the callback gave none
    client_assertion_expired,   ///< a client or jwt_bearer assertion (file or callback) has expired and no newer one is there
    // the fleet's shared store (appended); never a caller's error: the service falls back to its own cache
    redis_unavailable,          ///< Redis could not be reached, or the connection broke
    redis_timeout,              ///< Redis did not answer within fleet.connect_timeout / command_timeout
    redis_refused,              ///< Redis refused AUTH or SELECT: check fleet.redis_url's credentials and database
    redis_error_reply,          ///< Redis answered a command with an error
    fleet_breaker_open,         ///< the shared store is skipped after repeated failures (until a probe succeeds)
    fleet_value_rejected,       ///< a shared value did not open (tampered, unknown key id, another cache key, malformed)
};

/// The server's OAuth error (the `error` member of an RFC 6749 §5.2 body).
/// Category name: "tetrapak.oauth". The server's exact text is in diagnostics.
enum class oauth_errc {
    invalid_request = 1,      ///< a parameter is missing, repeated or malformed
    invalid_client,           ///< client authentication failed (unknown client, wrong secret or assertion)
    invalid_grant,            ///< the grant (subject token, assertion, refresh token) is invalid, expired or revoked
    unauthorized_client,      ///< the client may not use this grant type
    unsupported_grant_type,   ///< the server does not support the grant type
    invalid_scope,            ///< a requested scope is invalid, unknown or not allowed for the client
    invalid_target,           ///< RFC 8693 §2.2.2 / RFC 8707
    access_denied,            ///< the server refused the request
    server_error,             ///< the server failed, and said so in an OAuth error body (retried)
    temporarily_unavailable,  ///< the server is overloaded or in maintenance (retried)
    other,                    ///< an error string this library does not know; see diagnostics::error()
    invalid_dpop_proof,       ///< RFC 9449 §5: the DPoP proof was refused (appended)
    use_dpop_nonce,           ///< RFC 9449 §8: the server wants a nonce in the DPoP proof (appended)
};

/// The category of tetrapak::error codes, named "tetrapak.client".
const boost::system::error_category& client_category() noexcept;
/// The category of tetrapak::oauth_errc codes, named "tetrapak.oauth".
const boost::system::error_category& oauth_category() noexcept;

/// `e` as an error_code of client_category() (found by ADL, so an `error`
/// converts to `boost::system::error_code`).
inline boost::system::error_code make_error_code(error e) noexcept
{
    return {static_cast<int>(e), client_category()};
}

/// `e` as an error_code of oauth_category() (found by ADL, so an `oauth_errc`
/// converts to `boost::system::error_code`).
inline boost::system::error_code make_error_code(oauth_errc e) noexcept
{
    return {static_cast<int>(e), oauth_category()};
}

/// Prints the code's category, value and message.
std::ostream& operator<<(std::ostream& os, error e);
/// Prints the code's category, value and message.
std::ostream& operator<<(std::ostream& os, oauth_errc e);

/// Maps an RFC 6749 `error` string to its code (`other` when unknown).
oauth_errc oauth_errc_from_string(std::string_view s) noexcept;

/// The error string RFC 6749 uses for a code ("" for `other`).
std::string_view to_string(oauth_errc e) noexcept;

/// The enumerator's name as declared (such as "redis_timeout"); stable
/// across releases, for logs and metric labels. "" for a value not listed.
std::string_view to_string(error e) noexcept;

} // namespace tetrapak

namespace boost::system {
template <> struct is_error_code_enum<::tetrapak::error> : std::true_type {};
template <> struct is_error_code_enum<::tetrapak::oauth_errc> : std::true_type {};
} // namespace boost::system

#endif
