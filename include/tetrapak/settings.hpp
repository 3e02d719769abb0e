// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_SETTINGS_HPP
#define TETRAPAK_SETTINGS_HPP

/// \file
/// The SDK's `TetraPak` configuration section: environments, the
/// endpoint -> service -> services -> root inheritance, loading from JSON
/// (appsettings style) and from environment variables, and a secrets provider.
/// Pure code: no I/O except reading the file in load_settings_file.

#include <tetrapak/config.hpp>
#include <tetrapak/diagnostics.hpp>

#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tetrapak {

/// The SDK's runtime environments.
enum class runtime_environment { production, migration, development, sandbox };

/// The enumerator's name, e.g. "production" ("unknown" for a value not listed).
std::string_view to_string(runtime_environment e) noexcept;
/// Case-insensitive: Production, Migration (also Test, Staging), Development, Sandbox.
std::optional<runtime_environment> parse_environment(std::string_view s) noexcept;
/// Production https://api.tetrapak.com, Migration https://api-mig.tetrapak.com,
/// Development https://api-dev.tetrapak.com, Sandbox https://api-sb.tetrapak.com.
std::string_view default_authority(runtime_environment e) noexcept;
/// Case-insensitive: None, TokenExchange, ClientCredentials, Automatic,
/// Inherited, JwtBearer (also the snake_case names of grant_type).
std::optional<grant_type> parse_grant_type(std::string_view s) noexcept;
/// Case-insensitive, '_' and '-' ignored: Rfc6749, Raw, Auto (also Automatic).
std::optional<basic_credentials_encoding> parse_basic_credentials_encoding(std::string_view s) noexcept;

/// Where an assertion file is: named directly, or by an environment variable.
struct assertion_file_setting {
    std::string path;     ///< "...File"
    std::string variable; ///< "...FileVariable": the environment variable that holds the path
    /// Equal when path and variable are equal.
    friend bool operator==(const assertion_file_setting&, const assertion_file_setting&) = default;
};

/// What may be set at each level. Unset (nullopt) inherits from the level above;
/// `grant == grant_type::inherited` also inherits.
struct auth_settings {
    std::optional<grant_type> grant;                 ///< "GrantType"
    std::optional<std::string> client_id;            ///< "ClientId"
    std::optional<secret> client_secret;             ///< "ClientSecret"
    std::optional<std::vector<std::string>> scope;   ///< "Scope": a space-separated string or an array
    /// "AuthMethod": client_secret_basic, client_secret_post or
    /// self_signed_tls_client_auth (private_key_jwt follows from ClientAssertionFile)
    std::optional<client_auth_method> auth_method;
    std::optional<basic_credentials_encoding> basic_credentials; ///< "BasicCredentials": Rfc6749, Raw or Auto
    std::optional<std::string> audience;             ///< "Audience" (RFC 8693)
    std::optional<std::string> resource;             ///< "Resource" (RFC 8707)
    /// "ClientAssertionFile" (the path) or "ClientAssertionFileVariable" (the
    /// name of an environment variable holding the path, e.g.
    /// AZURE_FEDERATED_TOKEN_FILE, read by resolve): private_key_jwt with the
    /// platform's assertion (auth_config::client_assertion). Whichever of the
    /// two a level reads last is that level's.
    std::optional<assertion_file_setting> client_assertion_file;
    std::optional<std::string> jwt_bearer_assertion_file; ///< "JwtBearerAssertionFile"
    std::optional<std::string> jwt_bearer_subject;        ///< "JwtBearerSubject"
    std::optional<bool> dpop;                             ///< "DPoP"
    std::optional<std::string> dpop_key_file;             ///< "DPoPKeyFile" (PEM; implies DPoP)
    std::optional<std::string> dpop_algorithm;            ///< "DPoPAlgorithm": ES256, RS256, PS256 or EdDSA
};

/// One endpoint of a service ("Services:<name>:Endpoints:<name>", or the
/// string shorthand): the nearest configuration level.
struct endpoint_settings {
    std::string path; ///< relative to the service's base address, or absolute
    auth_settings auth; ///< the auth keys set on the endpoint
};

/// One service ("Services:<name>").
struct service_settings {
    std::string base_address; ///< "BaseAddress" (for the application: resolve does not use it)
    auth_settings auth;       ///< the auth keys set on the service
    /// The endpoints by name (resolve finds them case-insensitively).
    std::map<std::string, endpoint_settings, std::less<>> endpoints;
};

/// Id and secret supplied by the application (a vault, a key store...).
struct client_credentials {
    std::string client_id; ///< replaces the configured ClientId (empty: error::missing_client_id)
    secret client_secret;  ///< replaces the configured ClientSecret, even when empty
};

/// Asked for a service's credentials ("" for the root level). Returning
/// nullopt falls back to the configuration file.
using secrets_provider = std::function<std::optional<client_credentials>(std::string_view service)>;

/// The `TetraPak` section.
struct tetrapak_settings {
    std::optional<runtime_environment> environment; ///< "Environment"
    std::string discovery_document_url;             ///< "DiscoveryDocumentUrl" (override)
    std::string token_issuer_url;                   ///< "TokenIssuerUrl" (token endpoint override)
    std::string authorization_header = "Authorization"; ///< "AuthorizationHeader"
    bool is_caching_allowed = true;                 ///< "IsCachingAllowed"
    std::chrono::seconds default_caching_lifetime{240}; ///< "DefaultCachingLifetime" (seconds or "hh:mm:ss")
    std::string request_message_id_header = "api-flow-id"; ///< "RequestMessageIdHeader"
    tetrapak::proxy_settings proxy;                 ///< "Proxy" (URL or "none"), "NoProxy", "ProxyUsername", "ProxyPassword"
    tetrapak::fleet_settings fleet;                 ///< "Fleet": RedisUrl, Keys, KeyFile, ... (README "Fleets")
    auth_settings root;                             ///< ClientId, ClientSecret, Scope, GrantType, ... at the top
    auth_settings services;                         ///< the same keys directly under "Services"
    std::map<std::string, service_settings, std::less<>> service; ///< "Services:<name>"
    tetrapak::secrets_provider secrets_provider;    ///< optional, not loaded from JSON

    /// The environment in force: `environment`, else ASPNETCORE_ENVIRONMENT,
    /// else DOTNET_ENVIRONMENT (through `getenv`), else Production.
    boost::system::result<runtime_environment>
    effective_environment(const std::function<const char*(const char*)>& getenv, diagnostics& diag) const;

    /// The flat auth_config for a call to `service`/`endpoint` ("" for none):
    /// each auth setting from the nearest level that sets it (endpoint ->
    /// service -> services -> root); the secrets provider, when it answers,
    /// supplies id and secret; token endpoint = TokenIssuerUrl if set, else
    /// empty with discovery_document_url = DiscoveryDocumentUrl if set, else
    /// default_authority(environment) + "/.well-known/openid-configuration".
    /// Errors: config_unknown_service, config_unknown_environment, and
    /// missing_client_id / missing_client_secret (the diagnostics name the keys
    /// that were looked at) when the resolved grant needs credentials (a
    /// secret only for the secret-based authentication methods).
    ///
    /// Workload identity: a ClientAssertionFile(Variable) in force makes the
    /// method private_key_jwt unless an AuthMethod is set at a nearer level;
    /// a ClientAssertionFileVariable is read through `getenv` (unset or empty:
    /// config_invalid_value naming the key and the variable).
    /// DPoP: enabled by DPoP, or by a DPoPKeyFile in force (DPoP false at a
    /// level at least as near turns it off). The key file is loaded with
    /// DPoPAlgorithm (empty: the key's own); without a file, ES256 leaves
    /// auth_config::dpop.key null (the service generates one) and any other
    /// algorithm generates a key here. Key problems: key_load_failed naming
    /// the key, e.g. "TetraPak:DPoPKeyFile: the private key file cannot be opened".
    boost::system::result<auth_config> resolve(std::string_view service, std::string_view endpoint,
                                               const std::function<const char*(const char*)>& getenv,
                                               diagnostics& diag) const;
};

/// Reads the `TetraPak` section of an appsettings-style document
/// (`{"TetraPak": {...}}`; a document without it is an error naming "TetraPak").
/// Keys are case-insensitive as in .NET configuration. Under "Services", a key
/// whose value is an object is a service; inside a service, "BaseAddress" and the
/// auth keys are settings, "Endpoints" is an object of endpoints, and any other
/// key with a string value is an endpoint path (the SDK's shorthand); an
/// endpoint object has "Path" plus auth keys. "Scope" is a space-separated
/// string or an array of strings. "AuthMethod" (client_secret_basic,
/// client_secret_post, self_signed_tls_client_auth), "BasicCredentials"
/// (Rfc6749, Raw, Auto) and the workload identity and DPoP keys
/// (ClientAssertionFile, ClientAssertionFileVariable, JwtBearerAssertionFile,
/// JwtBearerSubject, DPoP, DPoPKeyFile, DPoPAlgorithm) are accepted at every level.
/// Unknown keys elsewhere are ignored.
/// Errors name the key path, e.g. "TetraPak:Services:Orders:GrantType".
boost::system::result<tetrapak_settings> load_settings(const boost::json::value& document, diagnostics& diag);

/// Reads and parses a JSON file, then load_settings.
boost::system::result<tetrapak_settings> load_settings_file(const std::string& path, diagnostics& diag);

/// Applies environment variables in the .NET convention over `s`:
/// `TetraPak__ClientId`, `TetraPak__Services__Orders__GrantType`, ... (double
/// underscore separates levels, names case-insensitive). `environ_entries`
/// is a list of "NAME=value" strings (pass `environ`).
boost::system::result<void> apply_environment_variables(tetrapak_settings& s, const char* const* environ_entries,
                                                        diagnostics& diag);

} // namespace tetrapak

#endif
