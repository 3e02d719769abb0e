// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/diagnostics.hpp>
#include <tetrapak/error.hpp>
#include <tetrapak/outcome.hpp>

#include <boost/throw_exception.hpp>

#include <ostream>
#include <sstream>
#include <string>

namespace tetrapak {
namespace {

const char* client_message(error e) noexcept
{
    switch (e) {
    case error::missing_client_id:
        return "no client id is configured: set auth_config.client_id (TetraPak:ClientId)";
    case error::missing_client_secret:
        return "the client authentication method needs a client secret and none is configured: "
               "set auth_config.client_secret (TetraPak:ClientSecret)";
    case error::missing_token_endpoint:
        return "no token endpoint is configured: set auth_config.token_endpoint (TetraPak:TokenIssuerUrl) or "
               "auth_config.discovery_document_url (TetraPak:DiscoveryDocumentUrl)";
    case error::invalid_url:
        return "the token endpoint is not a valid absolute http(s) URL with a host and without "
               "user info or fragment: check the configured URL";
    case error::insecure_transport:
        return "refusing to send credentials over plain http: use https, or for a loopback "
               "development server set auth_config.allow_insecure_http_on_loopback";
    case error::invalid_header_value:
        return "a configured or caller-supplied value contains CR, LF or NUL and was refused "
               "before sending (see diagnostics.client_message() for which)";
    case error::invalid_scope_value:
        return "a scope entry is empty or contains characters RFC 6749 section 3.3 forbids "
               "(space, quote, backslash, control characters): list scopes one per entry";
    case error::unsupported_auth_method:
        return "the client authentication method is not available: this version does not support it, or (with "
               "auth_method_from_discovery) no method in the server's token_endpoint_auth_methods_supported fits "
               "what is configured (client secret, client_key, client certificate): see diagnostics.client_message()";
    case error::unsupported_grant:
        return "the configured grant type cannot be performed by this version: check auth_config.grant";
    case error::no_subject_token:
        return "token exchange needs the caller's token: set http_client_options.actor_token";
    case error::system_identity_refused:
        return "token exchange refused before sending: the caller's token is a system identity "
               "(userType system); use client credentials for system callers (grant automatic does)";
    case error::no_authorization:
        return "the configured grant is None: no token is needed, send the request without authorization";
    case error::config_parse_error:
        return "the configuration could not be read or is not valid JSON (see diagnostics for where)";
    case error::config_invalid_value:
        return "a configuration key has the wrong type or an unusable value (see diagnostics for the key)";
    case error::config_unknown_grant:
        return "unknown GrantType: use None, TokenExchange, ClientCredentials, Automatic, JwtBearer or Inherited";
    case error::config_unknown_environment:
        return "unknown Environment: use Production, Migration, Test, Staging, Development or Sandbox";
    case error::config_unknown_service:
        return "the requested service or endpoint is not in the configuration (TetraPak:Services)";
    case error::config_bad_url:
        return "a configured URL is not an absolute https URL (see diagnostics for the key)";
    case error::discovery_failed:
        return "the discovery document could not be fetched or is not valid authorization server metadata: "
               "check DiscoveryDocumentUrl";
    case error::discovery_issuer_mismatch:
        return "the discovery document names another issuer than the URL it came from (RFC 8414 section 3.3): "
               "check DiscoveryDocumentUrl";
    case error::discovery_no_token_endpoint:
        return "the discovery document has no usable https token_endpoint: set TokenIssuerUrl";
    case error::key_load_failed:
        return "a private key or certificate is missing or could not be loaded: private_key_jwt needs "
               "auth_config.client_key or client_assertion (TetraPak:ClientAssertionFile), DPoP a readable "
               "DPoPKeyFile of a supported algorithm; check the file path, the format (unencrypted PEM) and that "
               "key and certificate match (diagnostics.client_message() says which)";
    case error::connect_timeout:
        return "resolving or connecting to the token endpoint timed out: check the host, the "
               "network path and timeouts.connect";
    case error::handshake_timeout:
        return "the TLS handshake with the token endpoint timed out: check that the port speaks "
               "TLS and timeouts.handshake";
    case error::request_timeout:
        return "sending the token request timed out: check timeouts.request";
    case error::response_header_timeout:
        return "the token endpoint did not send response headers in time: the server is slow or "
               "stalled; check timeouts.response_header";
    case error::response_body_timeout:
        return "the token endpoint did not finish the response body in time: check "
               "timeouts.response_body";
    case error::tls_verification_failed:
        return "the token endpoint's certificate failed verification (untrusted CA, expired, or "
               "issued for another host): check tls.ca_file and the endpoint's host name";
    case error::tls_version_refused:
        return "the token endpoint offers only TLS versions below 1.2, which this client refuses: the "
               "server must be upgraded";
    case error::not_tls:
        return "the token endpoint did not answer in TLS (a plain HTTP server on an https URL?): check "
               "the port of the token endpoint URL";
    case error::response_too_large:
        return "the token endpoint's response body exceeds auth_config.max_response_size";
    case error::header_too_large:
        return "the token endpoint's response headers exceed auth_config.max_header_size";
    case error::redirect_not_followed:
        return "the token endpoint answered with a redirect, which is never followed for "
               "credential requests: configure the final token endpoint URL";
    case error::too_many_requests:
        return "the token endpoint is rate limiting this client (HTTP 429): wait for "
               "diagnostics.retry_after()";
    case error::server_unavailable:
        return "the token endpoint failed with an HTTP 5xx status and no OAuth error: the authorization server, "
               "or a gateway in front of it, is unavailable or failing (retried up to retry.max_attempts)";
    case error::unexpected_http_status:
        return "the token endpoint answered with an HTTP status that is neither success nor an OAuth error "
               "(see diagnostics.http_status()): 404 or 405 means the URL is not the token endpoint; otherwise "
               "check what answers in front of the server (a gateway or proxy)";
    case error::malformed_response:
        return "the token endpoint's answer is not the JSON object RFC 6749 section 5.1 describes: "
               "check that the URL is a token endpoint";
    case error::missing_access_token:
        return "the token endpoint answered success without an access_token";
    case error::invalid_expires_in:
        return "the token endpoint's expires_in is negative, absurdly large or not a number";
    case error::unsupported_token_type:
        return "the token endpoint issued a token type this library cannot use (only Bearer, DPoP and N_A)";
    case error::proxy_url_invalid:
        return "a proxy URL is not http://[user:password@]host[:port]: check auth_config.proxy.url "
               "(TetraPak:Proxy) or the https_proxy, http_proxy and all_proxy environment variables";
    case error::proxy_unsupported:
        return "the proxy's scheme is not supported (only http:// proxies, which tunnel https with CONNECT): "
               "check the proxy URL";
    case error::proxy_unreachable:
        return "the proxy could not be reached (resolving or connecting to it failed): check the proxy URL, "
               "that the proxy runs, and NO_PROXY";
    case error::proxy_timeout:
        return "the proxy did not connect or answer the tunnel request in time (timeouts.connect): check the "
               "proxy and its route to the authorization server";
    case error::proxy_refused:
        return "the proxy refused to open a tunnel to the authorization server (see diagnostics.http_status): "
               "check the proxy's access rules for the host and port, not the token endpoint";
    case error::proxy_auth_required:
        return "the proxy asked for credentials (407) or refused them: check the user name and password in "
               "the proxy URL or settings";
    case error::proxy_bad_response:
        return "the proxy's answer to the tunnel request is not HTTP/1.x: check that the proxy URL names an "
               "HTTP proxy";
    case error::connection_wait_timeout:
        return "every allowed connection to the endpoint stayed busy for timeouts.connection_wait: raise "
               "connections.max_per_endpoint or timeouts.connection_wait, or lower the load";
    case error::too_many_open_files:
        return "the process ran out of file descriptors opening a connection: raise the limit (ulimit -n) or "
               "lower connections.max_per_endpoint";
    case error::client_refused:
        return "the token endpoint refused the client (HTTP 401 or 403 without an OAuth error; the status is in "
               "diagnostics.http_status()): check the client id, the client secret, the client authentication "
               "method (AuthMethod; BasicCredentials=Raw for servers that compare Basic credentials literally) "
               "and the scope";
    case error::dpop_key_mismatch:
        return "the token endpoint issued a DPoP token that is not bound to this client's proof key (its cnf.jkt "
               "differs), or a DPoP token although DPoP was not asked for: check auth_config.dpop (TetraPak:DPoP) "
               "and that no proxy rewrites the DPoP header";
    case error::client_assertion_unavailable:
        return "no client or jwt_bearer assertion could be read (the file named in diagnostics is missing, "
               "unreadable, empty or not a JWT, or the callback returned none): check auth_config.client_assertion "
               "(TetraPak:ClientAssertionFile) or jwt_bearer_assertion, and that the platform mounts the token file";
    case error::client_assertion_expired:
        return "the client or jwt_bearer assertion (the file named in diagnostics, or the callback's) has expired "
               "and the platform has not written a newer one: check the platform's token projection and its refresh";
    case error::redis_unavailable:
        return "the fleet's Redis could not be reached or the connection broke (tokens come from the in-process "
               "cache and the token endpoint meanwhile): check fleet.redis_url (TetraPak:Fleet:RedisUrl)";
    case error::redis_timeout:
        return "the fleet's Redis did not answer in time (fleet.connect_timeout / command_timeout); the service "
               "went on without it";
    case error::redis_refused:
        return "the fleet's Redis refused AUTH or SELECT: check the user, password and database of fleet.redis_url";
    case error::redis_error_reply:
        return "the fleet's Redis answered a command with an error (is it Redis 6.2 or later, and may the user "
               "run GET, SET, DEL, EVAL and PUBLISH on the key prefix?)";
    case error::fleet_breaker_open:
        return "the fleet's shared store is skipped after repeated failures until a probe reaches Redis again";
    case error::fleet_value_rejected:
        return "a value in the fleet's shared store did not open (tampered, sealed with a key not in fleet.keys, or "
               "moved from another cache key); it was ignored and will be replaced";
    }
    return "unknown tetrapak client error";
}

const char* oauth_message(oauth_errc e) noexcept
{
    switch (e) {
    case oauth_errc::invalid_request:
        return "the token endpoint rejected the request as malformed (invalid_request): a parameter "
               "is missing, repeated or invalid";
    case oauth_errc::invalid_client:
        return "the token endpoint rejected the client credentials (invalid_client): check client_id, "
               "client_secret and the client authentication method (AuthMethod; BasicCredentials=Raw for "
               "servers that compare Basic credentials literally)";
    case oauth_errc::invalid_grant:
        return "the token endpoint rejected the grant (invalid_grant): the subject or refresh token "
               "is invalid, expired or was issued to another client";
    case oauth_errc::unauthorized_client:
        return "this client is not allowed to use this grant type (unauthorized_client): check the "
               "client's registration";
    case oauth_errc::unsupported_grant_type:
        return "the authorization server does not support this grant type (unsupported_grant_type): check "
               "GrantType; token exchange needs a server with RFC 8693";
    case oauth_errc::invalid_scope:
        return "a requested scope is invalid, unknown or not allowed for this client (invalid_scope)";
    case oauth_errc::invalid_target:
        return "the requested audience or resource is invalid or not allowed (invalid_target)";
    case oauth_errc::access_denied:
        return "the authorization server denied the request (access_denied)";
    case oauth_errc::server_error:
        return "the authorization server reported an internal error (server_error)";
    case oauth_errc::temporarily_unavailable:
        return "the authorization server is temporarily unavailable (temporarily_unavailable)";
    case oauth_errc::other:
        return "the token endpoint refused the request with a non-standard OAuth error: the server's own "
               "error and error_description say why (diagnostics.error(), diagnostics.error_description())";
    case oauth_errc::invalid_dpop_proof:
        return "the server refused the DPoP proof (invalid_dpop_proof): check the proof key's algorithm against the "
               "server's dpop_signing_alg_values_supported, and the clock (iat)";
    case oauth_errc::use_dpop_nonce:
        return "the server wants a nonce in the DPoP proof (use_dpop_nonce); the request was sent once more with "
               "the server's DPoP-Nonce, so this reaches you when the server sent no nonce or refused its own nonce "
               "(check the clocks, and that every replica of the server shares its nonce secret)";
    }
    return "unknown OAuth error";
}

class client_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "tetrapak.client"; }
    std::string message(int ev) const override { return client_message(static_cast<error>(ev)); }
    char const* message(int ev, char*, std::size_t) const noexcept override
    {
        return client_message(static_cast<error>(ev));
    }
};

class oauth_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "tetrapak.oauth"; }
    std::string message(int ev) const override { return oauth_message(static_cast<oauth_errc>(ev)); }
    char const* message(int ev, char*, std::size_t) const noexcept override
    {
        return oauth_message(static_cast<oauth_errc>(ev));
    }
};

constexpr std::pair<std::string_view, oauth_errc> oauth_names[] = {
    {"invalid_request", oauth_errc::invalid_request},
    {"invalid_client", oauth_errc::invalid_client},
    {"invalid_grant", oauth_errc::invalid_grant},
    {"unauthorized_client", oauth_errc::unauthorized_client},
    {"unsupported_grant_type", oauth_errc::unsupported_grant_type},
    {"invalid_scope", oauth_errc::invalid_scope},
    {"invalid_target", oauth_errc::invalid_target},
    {"access_denied", oauth_errc::access_denied},
    {"server_error", oauth_errc::server_error},
    {"temporarily_unavailable", oauth_errc::temporarily_unavailable},
    {"invalid_dpop_proof", oauth_errc::invalid_dpop_proof},
    {"use_dpop_nonce", oauth_errc::use_dpop_nonce},
};

void quote(std::ostream& os, std::string_view s)
{
    os << '"';
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\')
            os << '\\' << c;
        else if (u < 0x20 || u == 0x7f)
            os << '?';
        else
            os << c;
    }
    os << '"';
}

} // namespace

const boost::system::error_category& client_category() noexcept
{
    static const client_category_impl instance;
    return instance;
}

const boost::system::error_category& oauth_category() noexcept
{
    static const oauth_category_impl instance;
    return instance;
}

oauth_errc oauth_errc_from_string(std::string_view s) noexcept
{
    for (auto& [name, code] : oauth_names)
        if (name == s)
            return code;
    return oauth_errc::other;
}

std::string_view to_string(oauth_errc e) noexcept
{
    for (auto& [name, code] : oauth_names)
        if (code == e)
            return name;
    return {};
}

std::ostream& operator<<(std::ostream& os, error e)
{
    auto ec = make_error_code(e);
    return os << ec.category().name() << ':' << ec.value() << " (" << ec.message() << ')';
}

std::ostream& operator<<(std::ostream& os, oauth_errc e)
{
    auto ec = make_error_code(e);
    return os << ec.category().name() << ':' << ec.value() << " (" << ec.message() << ')';
}

bool diagnostics::empty() const noexcept
{
    return *this == diagnostics{};
}

std::ostream& operator<<(std::ostream& os, const diagnostics& d)
{
    bool first = true;
    auto sep = [&]() -> std::ostream& {
        if (!first)
            os << ", ";
        first = false;
        return os;
    };
    os << '{';
    if (d.http_status())
        sep() << "http_status=" << d.http_status();
    if (!d.error().empty())
        quote(sep() << "error=", d.error());
    if (!d.error_description().empty())
        quote(sep() << "error_description=", d.error_description());
    if (!d.error_uri().empty())
        quote(sep() << "error_uri=", d.error_uri());
    if (d.retry_after())
        sep() << "retry_after=" << d.retry_after()->count() << "s";
    if (!d.www_authenticate().empty())
        quote(sep() << "www_authenticate=", d.www_authenticate());
    if (!d.client_message().empty())
        sep() << "detail=" << d.client_message();
    return os << '}';
}

std::ostream& operator<<(std::ostream& os, const failure& f)
{
    return os << f.code.category().name() << ':' << f.code.value() << " (" << f.code.message() << ") "
              << f.diagnostics;
}

namespace {
std::string what_with_diagnostics(const boost::system::error_code& ec, const diagnostics& d)
{
    // system_error appends ": " and the code's message.
    std::ostringstream os;
    os << "tetrapak";
    if (!d.empty())
        os << ' ' << d;
    (void)ec;
    return os.str();
}
} // namespace

error_with_diagnostics::error_with_diagnostics(boost::system::error_code ec, tetrapak::diagnostics diag)
    : boost::system::system_error(ec, what_with_diagnostics(ec, diag)), diag_(std::move(diag))
{
}

void throw_exception_from_error(const failure& f, const boost::source_location& loc)
{
    boost::throw_exception(error_with_diagnostics(f.code, f.diagnostics), loc);
}

} // namespace tetrapak
