// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>
#include <tetrapak/signing_key.hpp>

#include "assertion_source.hpp"
#include "detail/diag.hpp"
#include "detail/text.hpp"
#include "detail/url_host.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <openssl/evp.h>


namespace tetrapak {
namespace {

using boost::system::error_code;
using access = detail::diagnostics_access;
using detail::has_forbidden_char;
using detail::iequals;
using detail::diag_text_of;
using detail::valid_scope_token;

template <class T>
boost::system::result<T> fail(diagnostics& diag, error_code ec, std::string_view detail = {})
{
    return detail::fail_with<T>(diag, ec, detail);
}

/// Fails with `ec`, leaving `why` as the client-side message.
error_code refuse(diagnostics& diag, error_code ec, std::string_view why)
{
    access::client_message(diag).assign(why);
    return ec;
}

void append_param(std::string& body, std::string_view name, std::string_view value)
{
    if (!body.empty())
        body += '&';
    body += form_encode(name);
    body += '=';
    body += form_encode(value);
}

bool is_loopback(const endpoint& ep, const boost::urls::url_view& u)
{
    switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
        return u.host_ipv4_address().is_loopback();
    case boost::urls::host_type::ipv6:
        return u.host_ipv6_address().is_loopback();
    case boost::urls::host_type::name:
        return iequals(ep.host, "localhost");
    default:
        return false;
    }
}

} // namespace

std::string form_encode(std::string_view s)
{
    boost::urls::encoding_opts opts;
    opts.space_as_plus = true;
    return boost::urls::encode(s, boost::urls::unreserved_chars, opts);
}

namespace {
std::string basic_of(std::string_view creds)
{
    std::string out(4 * ((creds.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(creds.data()), static_cast<int>(creds.size()));
    out.resize(static_cast<std::size_t>(n));
    return "Basic " + out;
}
} // namespace

std::string basic_authorization(std::string_view client_id, std::string_view client_secret)
{
    std::string creds = form_encode(client_id);
    creds += ':';
    creds += form_encode(client_secret);
    return basic_of(creds);
}

std::string raw_basic_authorization(std::string_view client_id, std::string_view client_secret)
{
    std::string creds(client_id);
    creds += ':';
    creds += client_secret;
    return basic_of(creds);
}

bool basic_forms_differ(std::string_view client_id, std::string_view client_secret) noexcept
{
    // form_encode keeps exactly the unreserved characters (no allocation here: called per fetch).
    auto changes = [](std::string_view s) {
        for (char c : s)
            if (!boost::urls::unreserved_chars(c))
                return true;
        return false;
    };
    return changes(client_id) || changes(client_secret);
}

bool raw_basic_form(const auth_config& cfg, const grant_inputs& in) noexcept
{
    switch (cfg.basic_credentials) {
    case basic_credentials_encoding::rfc6749: return false;
    case basic_credentials_encoding::raw: return true;
    case basic_credentials_encoding::automatic: return in.raw_basic_credentials;
    }
    return false;
}

boost::system::result<endpoint> parse_endpoint(std::string_view url, bool allow_insecure_http_on_loopback,
                                               diagnostics& diag)
{
    if (url.empty())
        return fail<endpoint>(diag, error::missing_token_endpoint, "auth_config.token_endpoint is empty");
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed)
        return fail<endpoint>(diag, error::invalid_url, "auth_config.token_endpoint does not parse as an absolute URI");
    boost::urls::url_view u = *parsed;
    endpoint ep;
    if (u.scheme_id() == boost::urls::scheme::https)
        ep.tls = true;
    else if (u.scheme_id() == boost::urls::scheme::http)
        ep.tls = false;
    else
        return fail<endpoint>(diag, error::invalid_url, "auth_config.token_endpoint: the scheme must be https");
    if (!u.has_authority() || u.encoded_host().empty())
        return fail<endpoint>(diag, error::invalid_url, "auth_config.token_endpoint has no host");
    if (u.has_userinfo())
        return fail<endpoint>(diag, error::invalid_url, "auth_config.token_endpoint must not carry user info");
    if (u.has_fragment())
        return fail<endpoint>(diag, error::invalid_url, "auth_config.token_endpoint must not have a fragment");
    if (!detail::read_url_host(u, ep.host, ep.host_is_ip))
        return fail<endpoint>(diag, error::invalid_url, "auth_config.token_endpoint: unsupported host form");
    if (has_forbidden_char(ep.host) || ep.host.empty())
        return fail<endpoint>(diag, error::invalid_url, "auth_config.token_endpoint: invalid host");
    if (u.has_port()) {
        if (u.port().empty() || u.port_number() == 0)
            return fail<endpoint>(diag, error::invalid_url, "auth_config.token_endpoint: invalid port");
        ep.port = u.port();
    } else {
        ep.port = ep.tls ? "443" : "80";
    }
    ep.target = u.encoded_path();
    if (ep.target.empty())
        ep.target = "/";
    if (u.has_query()) {
        ep.target += '?';
        ep.target += u.encoded_query();
    }
    if (!ep.tls && !(allow_insecure_http_on_loopback && is_loopback(ep, u)))
        return fail<endpoint>(diag, error::insecure_transport,
                              allow_insecure_http_on_loopback
                                  ? "auth_config.token_endpoint: http is allowed only to loopback hosts"
                                  : "auth_config.token_endpoint uses http");
    ep.url = u;
    return ep;
}

namespace {

/// Checks every value before anything is built, so nothing partial escapes.
error_code check_request_inputs(const auth_config& cfg, const grant_inputs& in, diagnostics& diag)
{
    struct named {
        std::string_view name;
        std::string_view value;
    };
    const named values[] = {
        {"auth_config.client_id", cfg.client_id},
        {"auth_config.client_secret", cfg.client_secret.reveal()},
        {"auth_config.resource", cfg.resource},
        {"auth_config.audience", cfg.audience},
        {"auth_config.user_agent", cfg.user_agent},
        {"auth_config.token_endpoint", cfg.token_endpoint},
        {"auth_config.subject_token_type", cfg.subject_token_type},
        {"auth_config.requested_token_type", cfg.requested_token_type},
        {"auth_config.jwt_bearer_subject", cfg.jwt_bearer_subject},
        {"http_client_options.actor_token", in.subject ? in.subject->value() : std::string_view()},
        {"refresh_token", in.refresh_token},
    };
    for (auto& v : values)
        if (has_forbidden_char(v.value))
            return refuse(diag, error::invalid_header_value, v.name);
    for (std::size_t i = 0; i < cfg.scope.size(); ++i) {
        std::string name = "auth_config.scope[";
        name += std::to_string(i);
        name += ']';
        if (has_forbidden_char(cfg.scope[i]))
            return refuse(diag, error::invalid_header_value, name);
        if (!valid_scope_token(cfg.scope[i]))
            return refuse(diag, error::invalid_scope_value, name);
    }
    if (in.grant != grant_type::client_credentials && in.grant != grant_type::token_exchange &&
        in.grant != grant_type::jwt_bearer)
        return refuse(diag, error::unsupported_grant, "auth_config.grant");
    if (in.grant == grant_type::token_exchange && (!in.subject || in.subject->empty()))
        return refuse(diag, error::no_subject_token, "http_client_options.actor_token");
    if (in.grant == grant_type::jwt_bearer && cfg.jwt_bearer_assertion.empty() && !cfg.client_key)
        return refuse(diag, error::client_assertion_unavailable,
                      "grant jwt_bearer: set auth_config.jwt_bearer_assertion (TetraPak:JwtBearerAssertionFile) "
                      "or auth_config.client_key to sign one");
    if (cfg.client_id.empty())
        return refuse(diag, error::missing_client_id, "auth_config.client_id");
    const bool needs_secret = cfg.auth_method == client_auth_method::client_secret_basic ||
                              cfg.auth_method == client_auth_method::client_secret_post ||
                              cfg.auth_method == client_auth_method::client_secret_jwt;
    if (needs_secret && cfg.client_secret.empty())
        return refuse(diag, error::missing_client_secret, "auth_config.client_secret");
    if (cfg.auth_method == client_auth_method::private_key_jwt && !cfg.client_key && cfg.client_assertion.empty())
        return refuse(diag, error::key_load_failed,
                      "private_key_jwt: set auth_config.client_key, or auth_config.client_assertion.file "
                      "(TetraPak:ClientAssertionFile) for a platform-issued assertion");
    return {};
}

/// RFC 7523 §2.1: the assertion that is the grant, from the configured source
/// or signed with client_key (iss client_id, sub jwt_bearer_subject or client_id).
boost::system::result<std::string> jwt_bearer_assertion(const auth_config& cfg, const grant_inputs& in,
                                                        diagnostics& diag)
{
    if (!cfg.jwt_bearer_assertion.empty())
        return detail::read_external_assertion(cfg.jwt_bearer_assertion, in.now, diag, "jwt_bearer assertion");
    detail::grant_assertion_claims claims{cfg.client_id,
                                          cfg.jwt_bearer_subject.empty() ? cfg.client_id : cfg.jwt_bearer_subject,
                                          cfg.token_endpoint, in.now, cfg.client_assertion_lifetime};
    auto signed_assertion = detail::sign_grant_assertion(*cfg.client_key, claims);
    if (!signed_assertion)
        return fail<std::string>(diag, signed_assertion.error(), "jwt_bearer assertion signing failed");
    return signed_assertion;
}

/// The grant's own form parameters (the refresh token first: any grant that
/// was issued one renews with it).
error_code append_grant(std::string& body, const auth_config& cfg, const grant_inputs& in, diagnostics& diag)
{
    if (!in.refresh_token.empty()) { // RFC 6749 §6
        append_param(body, "grant_type", "refresh_token");
        append_param(body, "refresh_token", in.refresh_token);
    } else if (in.grant == grant_type::client_credentials) {
        append_param(body, "grant_type", "client_credentials");
    } else if (in.grant == grant_type::jwt_bearer) {
        auto assertion = jwt_bearer_assertion(cfg, in, diag);
        if (!assertion)
            return assertion.error();
        append_param(body, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
        append_param(body, "assertion", *assertion);
    } else { // RFC 8693 §2.1
        append_param(body, "grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
        append_param(body, "subject_token", in.subject->value());
        append_param(body, "subject_token_type", cfg.subject_token_type);
        if (!cfg.requested_token_type.empty())
            append_param(body, "requested_token_type", cfg.requested_token_type);
    }
    if (!cfg.scope.empty()) {
        std::string joined;
        for (auto& s : cfg.scope) {
            if (!joined.empty())
                joined += ' ';
            joined += s;
        }
        append_param(body, "scope", joined);
    }
    if (!cfg.resource.empty())
        append_param(body, "resource", cfg.resource);
    if (!cfg.audience.empty())
        append_param(body, "audience", cfg.audience);
    return {};
}

/// RFC 7523 §2.2: a client assertion signed here (client_key, or HS256 with the
/// secret), or the platform's (auth_config::client_assertion).
boost::system::result<std::string> client_assertion(const auth_config& cfg, const grant_inputs& in,
                                                    diagnostics& diag)
{
    if (cfg.auth_method == client_auth_method::private_key_jwt && !cfg.client_key)
        return detail::read_external_assertion(cfg.client_assertion, in.now, diag);
    assertion_claims claims{cfg.client_id, cfg.token_endpoint, in.now, cfg.client_assertion_lifetime};
    auto assertion = cfg.auth_method == client_auth_method::private_key_jwt
                         ? make_client_assertion(*cfg.client_key, claims)
                         : make_client_assertion(cfg.client_secret.reveal(), claims);
    if (!assertion)
        return fail<std::string>(diag, assertion.error(), "client assertion signing failed");
    return assertion;
}

error_code append_client_authentication(token_request& req, const auth_config& cfg, const grant_inputs& in,
                                        diagnostics& diag)
{
    switch (cfg.auth_method) {
    case client_auth_method::client_secret_basic:
        req.fields.push_back({"Authorization", raw_basic_form(cfg, in)
                                                   ? raw_basic_authorization(cfg.client_id, cfg.client_secret.reveal())
                                                   : basic_authorization(cfg.client_id, cfg.client_secret.reveal())});
        return {};
    case client_auth_method::client_secret_post:
        append_param(req.body, "client_id", cfg.client_id);
        append_param(req.body, "client_secret", cfg.client_secret.reveal());
        return {};
    case client_auth_method::client_secret_jwt:
    case client_auth_method::private_key_jwt: {
        auto assertion = client_assertion(cfg, in, diag);
        if (!assertion)
            return assertion.error();
        append_param(req.body, "client_id", cfg.client_id);
        append_param(req.body, "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        append_param(req.body, "client_assertion", *assertion);
        return {};
    }
    case client_auth_method::tls_client_auth: // RFC 8705 §2: the certificate authenticates
    case client_auth_method::self_signed_tls_client_auth:
        append_param(req.body, "client_id", cfg.client_id);
        return {};
    }
    return refuse(diag, error::unsupported_auth_method, "auth_config.auth_method");
}

} // namespace

boost::system::result<token_request> build_token_request(const auth_config& cfg, const grant_inputs& in,
                                                         diagnostics& diag)
{
    if (auto ec = check_request_inputs(cfg, in, diag))
        return ec;
    token_request req;
    if (in.token_endpoint) {
        req.endpoint = *in.token_endpoint;
    } else {
        auto ep = parse_endpoint(cfg.token_endpoint, cfg.allow_insecure_http_on_loopback, diag);
        if (!ep)
            return ep.error();
        req.endpoint = std::move(*ep);
    }
    if (auto ec = append_grant(req.body, cfg, in, diag))
        return ec;
    req.fields.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    req.fields.push_back({"Accept", "application/json"});
    if (!cfg.user_agent.empty())
        req.fields.push_back({"User-Agent", cfg.user_agent});
    if (auto ec = append_client_authentication(req, cfg, in, diag))
        return ec;
    return req;
}

boost::system::result<server_metadata> parse_discovery_document(std::string_view discovery_url,
                                                                 const http_response_view& response,
                                                                 bool allow_insecure_http_on_loopback,
                                                                 diagnostics& diag)
{
    diag.clear();
    if (response.status < 200 || response.status >= 300) {
        access::http_status(diag) = response.status;
        return fail<server_metadata>(diag, error::discovery_failed, "the discovery document answer is not 2xx");
    }
    error_code jec;
    auto doc = boost::json::parse(response.body, jec);
    if (jec || !doc.is_object())
        return fail<server_metadata>(diag, error::discovery_failed, "the discovery document is not a JSON object");
    const auto& obj = doc.get_object();
    server_metadata md;
    const auto* iss = obj.if_contains("issuer");
    if (!iss || !iss->is_string() || iss->get_string().empty())
        return fail<server_metadata>(diag, error::discovery_failed, "the discovery document has no issuer");
    md.issuer = std::string_view(iss->get_string());

    // RFC 8414 §3.3 / OIDC Discovery §4.3: the issuer must be the one the URL names.
    constexpr std::string_view oidc_suffix = "/.well-known/openid-configuration";
    constexpr std::string_view oauth_infix = "/.well-known/oauth-authorization-server";
    std::string expected;
    auto url = boost::urls::parse_absolute_uri(discovery_url);
    if (!url)
        return fail<server_metadata>(diag, error::config_bad_url, "discovery_document_url");
    std::string_view path = url->encoded_path();
    std::string origin = std::string(url->scheme()) + "://" + std::string(url->encoded_host_and_port());
    if (path.size() >= oidc_suffix.size() && path.substr(path.size() - oidc_suffix.size()) == oidc_suffix)
        expected = origin + std::string(path.substr(0, path.size() - oidc_suffix.size()));
    else if (path.substr(0, oauth_infix.size()) == oauth_infix)
        expected = origin + std::string(path.substr(oauth_infix.size()));
    if (!expected.empty()) {
        auto trim = [](std::string_view s) { return (!s.empty() && s.back() == '/') ? s.substr(0, s.size() - 1) : s; };
        if (trim(md.issuer) != trim(expected))
            return fail<server_metadata>(diag, error::discovery_issuer_mismatch, "issuer");
    } else {
        auto iu = boost::urls::parse_absolute_uri(md.issuer);
        if (!iu || !iequals(iu->encoded_host(), url->encoded_host()))
            return fail<server_metadata>(diag, error::discovery_issuer_mismatch, "issuer");
    }

    const auto* te = obj.if_contains("token_endpoint");
    if (!te || !te->is_string())
        return fail<server_metadata>(diag, error::discovery_no_token_endpoint, "token_endpoint");
    md.token_endpoint = std::string_view(te->get_string());
    diagnostics ediag;
    if (!parse_endpoint(md.token_endpoint, allow_insecure_http_on_loopback, ediag))
        return fail<server_metadata>(diag, error::discovery_no_token_endpoint, "token_endpoint is not a usable https URL");

    auto read_list = [&](const char* key, std::vector<std::string>& out) {
        if (const auto* v = obj.if_contains(key); v && v->is_array())
            for (const auto& item : v->get_array())
                if (item.is_string())
                    out.emplace_back(std::string_view(item.get_string()));
    };
    read_list("token_endpoint_auth_methods_supported", md.token_endpoint_auth_methods_supported);
    read_list("grant_types_supported", md.grant_types_supported);
    if (const auto* aliases = obj.if_contains("mtls_endpoint_aliases"); aliases && aliases->is_object())
        if (const auto* alias = aliases->get_object().if_contains("token_endpoint"); alias && alias->is_string()) {
            diagnostics adiag;
            if (parse_endpoint(alias->get_string(), allow_insecure_http_on_loopback, adiag))
                md.mtls_token_endpoint = std::string_view(alias->get_string());
        }
    return md;
}

const std::string& token_endpoint_for(const server_metadata& md, client_auth_method method) noexcept
{
    const bool mutual_tls = method == client_auth_method::tls_client_auth ||
                            method == client_auth_method::self_signed_tls_client_auth;
    return mutual_tls && !md.mtls_token_endpoint.empty() ? md.mtls_token_endpoint : md.token_endpoint;
}

std::optional<client_auth_method> choose_auth_method(const std::vector<std::string>& supported, const auth_config& cfg)
{
    auto offered = [&](client_auth_method m) {
        if (supported.empty())
            return true;
        for (auto& s : supported)
            if (s == to_string(m))
                return true;
        return false;
    };
    const bool has_secret = !cfg.client_secret.empty();
    const std::pair<client_auth_method, bool> preference[] = {
        {client_auth_method::private_key_jwt, cfg.client_key != nullptr || !cfg.client_assertion.empty()},
        {client_auth_method::tls_client_auth, !cfg.tls.client_certificate_file.empty()},
        {client_auth_method::self_signed_tls_client_auth, !cfg.tls.client_certificate_file.empty()},
        {client_auth_method::client_secret_basic, has_secret},
        {client_auth_method::client_secret_post, has_secret},
        {client_auth_method::client_secret_jwt, has_secret},
    };
    for (auto [m, possible] : preference)
        if (possible && offered(m))
            return m;
    return std::nullopt;
}

bool is_system_identity(const actor_token& t) noexcept
{
    auto user_type = t.string_claim("userType");
    return user_type && iequals(*user_type, "system");
}

boost::system::result<grant_type> resolve_grant(grant_type configured, const actor_token& subject, diagnostics& diag)
{
    switch (configured) {
    case grant_type::none:
        return fail<grant_type>(diag, error::no_authorization, "auth_config.grant is none");
    case grant_type::inherited:
    case grant_type::client_credentials:
        return grant_type::client_credentials;
    case grant_type::token_exchange:
        if (subject.empty())
            return fail<grant_type>(diag, error::no_subject_token, "http_client_options.actor_token");
        if (is_system_identity(subject))
            return fail<grant_type>(diag, error::system_identity_refused, "http_client_options.actor_token");
        return grant_type::token_exchange;
    case grant_type::automatic:
        if (subject.empty() || is_system_identity(subject))
            return grant_type::client_credentials;
        return grant_type::token_exchange;
    case grant_type::jwt_bearer:
        return grant_type::jwt_bearer;
    }
    return fail<grant_type>(diag, error::unsupported_grant, "auth_config.grant");
}


} // namespace tetrapak
