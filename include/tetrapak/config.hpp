// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_CONFIG_HPP
#define TETRAPAK_CONFIG_HPP

/// \file
/// The authorization configuration (the SDK's `IAuthConfig` / `TetraPak` section).

#include <tetrapak/fleet.hpp>
#include <tetrapak/secret.hpp>
#include <tetrapak/version.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace tetrapak {

class signing_key;
class dpop_key;

/// How a token is obtained (the SDK's `GrantType`).
enum class grant_type {
    inherited,          ///< take the grant of the enclosing configuration level
    none,               ///< no authorization: no token is fetched
    client_credentials, ///< RFC 6749 §4.4
    token_exchange,     ///< RFC 8693
    automatic,          ///< client credentials for system callers, token exchange for users
    /// RFC 7523 §2.1: the assertion (auth_config::jwt_bearer_assertion, or one
    /// signed with auth_config::client_key) is the grant
    jwt_bearer,
};

/// How the client authenticates to the token endpoint (RFC 6749 §2.3, RFC 7523, RFC 8705).
enum class client_auth_method {
    client_secret_basic, ///< HTTP Basic (RFC 6749 §2.3.1; its form: auth_config::basic_credentials)
    client_secret_post,  ///< client_id and client_secret in the form body
    client_secret_jwt,   ///< RFC 7523 assertion signed with HS256 and the client secret
    private_key_jwt,     ///< RFC 7523 assertion signed with auth_config::client_key (ES256 / RS256)
    tls_client_auth,     ///< RFC 8705 mutual TLS: tls.client_certificate_file / tls.client_key_file
    /// RFC 8705 §2.2: mutual TLS with a self-signed certificate the server
    /// knows from the client's registration (same settings as tls_client_auth)
    self_signed_tls_client_auth,
};

/// How client_secret_basic puts the client id and secret into the HTTP Basic
/// `Authorization` header (setting `BasicCredentials`).
///
/// RFC 6749 §2.3.1 form-encodes id and secret before base64; some servers
/// compare the decoded header literally and refuse that form when the id or
/// secret holds a character form-encoding changes (anything but letters,
/// digits and `-._~`, e.g. `:/+ &%`). The two forms are the same bytes for
/// every other id and secret.
enum class basic_credentials_encoding {
    /// base64(form_encode(id) ":" form_encode(secret)): RFC 6749 §2.3.1, always.
    rfc6749,
    /// base64(id ":" secret), the literal RFC 7617 form, always.
    raw,
    /// The RFC 6749 form; when the server refuses the client (invalid_client,
    /// or HTTP 401/403 without an OAuth error: error::client_refused) and the
    /// raw form differs, the same fetch tries the raw form once. The form that
    /// worked is remembered per token endpoint URL and client id (for the
    /// service's lifetime) and sent first by later fetches and renewals; a
    /// refusal of the remembered form tries the other one once in turn. Never
    /// more than one extra request per fetch, never for other failures.
    automatic,
};

/// The enumerator's name, e.g. "client_credentials" ("unknown" for a value not listed).
std::string_view to_string(grant_type g) noexcept;
/// The enumerator's name, e.g. "private_key_jwt" ("unknown" for a value not listed).
std::string_view to_string(client_auth_method m) noexcept;
/// The enumerator's name, e.g. "rfc6749" ("unknown" for a value not listed).
std::string_view to_string(basic_credentials_encoding e) noexcept;
/// Prints to_string(g).
std::ostream& operator<<(std::ostream& os, grant_type g);
/// Prints to_string(m).
std::ostream& operator<<(std::ostream& os, client_auth_method m);
/// Prints to_string(e).
std::ostream& operator<<(std::ostream& os, basic_credentials_encoding e);

/// Per-step bounds of one token request. Each expiry surfaces as its own
/// error code (`error::connect_timeout`, ...), never as `operation_aborted`.
struct timeouts {
    std::chrono::milliseconds connect{5000};          ///< name resolution + TCP connect
    std::chrono::milliseconds handshake{5000};        ///< TLS handshake
    std::chrono::milliseconds request{5000};          ///< writing the request
    std::chrono::milliseconds response_header{10000}; ///< from request sent to complete headers
    std::chrono::milliseconds response_body{10000};   ///< from headers to complete body
    /// Longest wait for a connection when connections.max_per_endpoint are all busy.
    std::chrono::milliseconds connection_wait{10000};
};

/// The token cache (the SDK's `IsCachingAllowed` / `DefaultCachingLifetime`).
///
/// A cached token is served while it has at least `min_validity` left
/// (clamped to a quarter of the token's lifetime for short-lived tokens). From
/// `refresh_ahead` (clamped to half the lifetime) before expiry, moved earlier
/// by up to `refresh_jitter` of that window, the next caller still gets the
/// cached token at once and one background renewal starts.
struct cache_settings {
    /// false: every call fetches (concurrent calls for one key still share one request).
    bool enabled = true;
    /// Least remaining lifetime for a cached token to be served.
    std::chrono::seconds min_validity{60};
    /// How long before expiry the background renewal is due.
    std::chrono::seconds refresh_ahead{300};
    /// Fraction (0 to 1) of `refresh_ahead` by which each token's renewal is moved earlier at random.
    double refresh_jitter = 0.1;
    /// Service-wide bound (LRU). Read from the service's own configuration.
    std::size_t max_entries = 10000;
};

/// Retries of failed token requests: transport errors, timeouts, HTTP 5xx and 429.
/// Never retried: invalid_client, invalid_grant, unauthorized_client,
/// invalid_scope, invalid_request (and every other OAuth or client error,
/// except the OAuth errors server_error, temporarily_unavailable and `other`
/// with HTTP 5xx or 429, which are retried).
/// Backoff: full jitter over min(max_delay, base_delay * 2^(attempt-1)); a
/// server's Retry-After is waited for when it is at most `max_delay`, and
/// otherwise fails the call at once and is remembered for the cache key.
struct retry_settings {
    int max_attempts = 3; ///< including the first; 1 turns retries off
    std::chrono::milliseconds base_delay{500}; ///< backoff bound of the first retry; doubles per attempt
    std::chrono::milliseconds max_delay{30000}; ///< largest backoff, and longest Retry-After waited for
};

/// Keep-alive connections to token endpoints (service-wide: read from the
/// service's own configuration).
struct connection_settings {
    /// Idle connections kept per endpoint (scheme, host, port); 0: one connection per request.
    std::size_t max_idle_per_endpoint = 4;
    /// An idle connection older than this is closed instead of reused.
    std::chrono::milliseconds idle_timeout{30000};
    /// Resume TLS sessions when a new connection is needed.
    bool tls_session_resumption = true;
    /// Connections open at once per endpoint (scheme, host, port, proxy), in
    /// use or idle; requests beyond it wait in order (timeouts.connection_wait).
    /// 0: no bound.
    std::size_t max_per_endpoint = 32;
};

/// The HTTP proxy for every request the library makes (token endpoint,
/// discovery, authorized_client). See README "Proxies" for the rules.
struct proxy_settings {
    /// "" (default): from the environment (https_proxy, http_proxy, all_proxy,
    /// no_proxy and their upper-case forms; loopback targets never use an
    /// environment proxy). "none": no proxy, whatever the environment says.
    /// Otherwise the proxy's URL, http://[user:password@]host[:port]; it is
    /// used for loopback targets too.
    std::string url;
    /// Hosts reached directly (NO_PROXY syntax: "*", host suffixes, IP
    /// addresses, CIDR ranges, host:port). Empty: the environment's no_proxy.
    std::string no_proxy;
    /// Proxy Basic credentials; when set they replace the URL's user info. A secret.
    std::string username;
    /// The password of those credentials (setting either one replaces both
    /// parts of the URL's user info).
    tetrapak::secret password;
};

/// TLS settings used when the service builds its own `ssl::context`.
struct tls_settings {
    /// PEM client certificate (chain) and key for mutual TLS (RFC 8705).
    std::string client_certificate_file;
    /// PEM private key of `client_certificate_file`. Empty: read from `client_certificate_file`.
    std::string client_key_file;
    /// PEM file of trusted CAs. Empty: the system's default verify paths.
    std::string ca_file;
    /// Directory of hashed CA certificates (c_rehash layout). Optional.
    std::string ca_path;
    /// Turns certificate and host-name verification OFF. Only for tests
    /// against throw-away servers; every request made with it is insecure.
    bool insecure_disable_verification_i_know_what_i_am_doing = false;
};

/// DPoP (RFC 9449): tokens bound to a proof key held by this process.
///
/// With `enabled`, every token request carries a fresh `DPoP` proof signed
/// with `key` (or, when `key` is null, with a key the service generates in
/// memory on first use: ES256, one per service); a server nonce
/// (`use_dpop_nonce`) is answered once; the token is cached under the key's
/// thumbprint; `authorized_client` sends `Authorization: DPoP` with a proof
/// per request. The private key never leaves the process.
struct dpop_settings {
    /// Send a DPoP proof with every token request (default off). A server
    /// without DPoP may still answer with a Bearer token, which is used as one.
    bool enabled = false;
    /// The proof key (dpop_key::load_pem_file or dpop_key::generate); null: the service's own.
    std::shared_ptr<const dpop_key> key;
};

/// A JWT someone else makes (workload identity: a platform-issued token in a
/// file that rotates, such as a Kubernetes projected service account token or
/// AZURE_FEDERATED_TOKEN_FILE; or a callback). Sent as it is: never signed,
/// never sent expired.
struct external_assertion {
    /// A file holding one JWT. Re-read when it changes (inode, size or
    /// modification time) and when the copy read last is about to expire.
    std::string file;
    /// Called on every token request when `file` is empty; returns the JWT.
    /// An empty string or an exception is error::client_assertion_unavailable.
    /// Runs on the service's executor: it must not block. The cache key
    /// cannot tell two callbacks apart: configurations that differ only in
    /// their callback share cached tokens unless another field (e.g.
    /// jwt_bearer_subject) differs.
    std::function<std::string()> callback;

    /// True when neither a file nor a callback is set.
    bool empty() const noexcept { return file.empty() && !callback; }
};

/// The authorization configuration for one client (one `TetraPak` section).
struct auth_config {
    /// How tokens are obtained (see resolve_grant); default client credentials.
    grant_type grant = grant_type::client_credentials;
    /// The OAuth client id. Required: empty fails every token request with error::missing_client_id.
    std::string client_id;
    /// The client secret of client_secret_basic, client_secret_post and client_secret_jwt.
    tetrapak::secret client_secret;
    /// Scopes to request; sent space-joined, omitted when empty.
    std::vector<std::string> scope;
    /// Absolute https URL of the token endpoint. Empty: taken from the
    /// discovery document at `discovery_document_url`.
    std::string token_endpoint;
    /// OIDC / RFC 8414 metadata URL, used when `token_endpoint` is empty.
    std::string discovery_document_url;
    /// How the client authenticates to the token endpoint (default client_secret_basic).
    client_auth_method auth_method = client_auth_method::client_secret_basic;
    /// The form of client_secret_basic's credentials (see basic_credentials_encoding).
    basic_credentials_encoding basic_credentials = basic_credentials_encoding::automatic;
    /// Choose the method from discovery's token_endpoint_auth_methods_supported
    /// (see choose_auth_method) instead of `auth_method`.
    bool auth_method_from_discovery = false;
    /// How long a fetched discovery document is trusted.
    std::chrono::seconds discovery_ttl{3600};
    /// The private key for private_key_jwt (load it once with signing_key::load_pem_file).
    std::shared_ptr<const signing_key> client_key;
    /// Lifetime of a client assertion (RFC 7523 `exp` - `iat`).
    std::chrono::seconds client_assertion_lifetime{60};
    /// private_key_jwt without client_key: the client assertion comes from
    /// here (workload identity) instead of being signed by this process.
    external_assertion client_assertion;
    /// grant_type::jwt_bearer: the assertion that is the grant. Empty: one
    /// signed with client_key (iss client_id, sub jwt_bearer_subject, aud the
    /// token endpoint).
    external_assertion jwt_bearer_assertion;
    /// `sub` of a jwt_bearer assertion signed with client_key (empty: client_id).
    std::string jwt_bearer_subject;
    /// Sender-constrained tokens with DPoP (RFC 9449).
    dpop_settings dpop;
    /// RFC 8707 resource indicator to send, when non-empty.
    std::string resource;
    /// Audience to request (RFC 8693 `audience`), when non-empty.
    std::string audience;
    /// RFC 8693 `subject_token_type` sent with token exchange (the SDK's choice is the default).
    std::string subject_token_type = "urn:ietf:params:oauth:token-type:id_token";
    /// RFC 8693 `requested_token_type`, sent when non-empty.
    std::string requested_token_type;

    /// Per-step bounds of each token request.
    tetrapak::timeouts timeouts;
    /// TLS. The files are read once, by the constructor that builds the
    /// service's own TLS context from the service's configuration (ignored
    /// with a caller's context and in per-call configurations); the
    /// verification switch applies to each request made with this configuration.
    tls_settings tls;
    /// Largest accepted response body (default 1 MiB).
    std::size_t max_response_size = 1024 * 1024;
    /// Largest accepted response header section.
    std::size_t max_header_size = 16 * 1024;
    /// Lifetime assumed when the server gives no expires_in and the token is
    /// not a JWT (the SDK's `DefaultCachingLifetime`).
    std::chrono::seconds default_lifetime{300};
    /// The token cache for calls made with this configuration (`max_entries`: service-wide).
    tetrapak::cache_settings cache;
    /// Retries of failed token requests made with this configuration.
    tetrapak::retry_settings retry;
    /// Keep-alive connections (service-wide: read from the service's own configuration).
    tetrapak::connection_settings connections;
    /// The HTTP proxy (service-wide: read, with the proxy environment
    /// variables, from the service's own configuration when it is made).
    tetrapak::proxy_settings proxy;
    /// The token store shared with the service's other replicas (service-wide).
    tetrapak::fleet_settings fleet;
    /// Allows http:// token endpoints, and only on loopback hosts (127.0.0.0/8, ::1, localhost).
    bool allow_insecure_http_on_loopback = false;
    /// Sent as User-Agent.
    std::string user_agent = "tetrapak-asio/" TETRAPAK_VERSION_STRING;

    /// Prints the configuration with the secret redacted.
    friend std::ostream& operator<<(std::ostream& os, const auth_config& c);
};

} // namespace tetrapak

#endif
