// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>
#include <tetrapak/signing_key.hpp>

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

boost::system::result<token_request> build_token_request(const auth_config& cfg, const grant_inputs& in,
                                                         diagnostics& diag)
{
    // Every value is checked before anything is built, so nothing partial escapes.
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
        {"http_client_options.actor_token", in.subject ? in.subject->value() : std::string_view()},
        {"refresh_token", in.refresh_token},
    };
    for (auto& v : values)
        if (has_forbidden_char(v.value))
            return fail<token_request>(diag, error::invalid_header_value, v.name);
    for (std::size_t i = 0; i < cfg.scope.size(); ++i) {
        if (has_forbidden_char(cfg.scope[i]))
            return fail<token_request>(diag, error::invalid_header_value, "auth_config.scope[" + std::to_string(i) + "]");
        if (!valid_scope_token(cfg.scope[i]))
            return fail<token_request>(diag, error::invalid_scope_value, "auth_config.scope[" + std::to_string(i) + "]");
    }
    if (in.grant != grant_type::client_credentials && in.grant != grant_type::token_exchange)
        return fail<token_request>(diag, error::unsupported_grant, "auth_config.grant");
    if (in.grant == grant_type::token_exchange && (!in.subject || in.subject->empty()))
        return fail<token_request>(diag, error::no_subject_token, "http_client_options.actor_token");
    if (cfg.client_id.empty())
        return fail<token_request>(diag, error::missing_client_id, "auth_config.client_id");
    const bool needs_secret = cfg.auth_method == client_auth_method::client_secret_basic ||
                              cfg.auth_method == client_auth_method::client_secret_post ||
                              cfg.auth_method == client_auth_method::client_secret_jwt;
    if (needs_secret && cfg.client_secret.empty())
        return fail<token_request>(diag, error::missing_client_secret, "auth_config.client_secret");
    if (cfg.auth_method == client_auth_method::private_key_jwt && !cfg.client_key)
        return fail<token_request>(diag, error::key_load_failed, "auth_config.client_key is not set");

    token_request req;
    if (in.token_endpoint) {
        req.endpoint = *in.token_endpoint;
    } else {
        auto ep = parse_endpoint(cfg.token_endpoint, cfg.allow_insecure_http_on_loopback, diag);
        if (!ep)
            return ep.error();
        req.endpoint = std::move(*ep);
    }
    if (!in.refresh_token.empty()) { // RFC 6749 §6
        append_param(req.body, "grant_type", "refresh_token");
        append_param(req.body, "refresh_token", in.refresh_token);
    } else if (in.grant == grant_type::client_credentials) {
        append_param(req.body, "grant_type", "client_credentials");
    } else { // RFC 8693 §2.1
        append_param(req.body, "grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
        append_param(req.body, "subject_token", in.subject->value());
        append_param(req.body, "subject_token_type", cfg.subject_token_type);
        if (!cfg.requested_token_type.empty())
            append_param(req.body, "requested_token_type", cfg.requested_token_type);
    }
    if (!cfg.scope.empty()) {
        std::string joined;
        for (auto& s : cfg.scope) {
            if (!joined.empty())
                joined += ' ';
            joined += s;
        }
        append_param(req.body, "scope", joined);
    }
    if (!cfg.resource.empty())
        append_param(req.body, "resource", cfg.resource);
    if (!cfg.audience.empty())
        append_param(req.body, "audience", cfg.audience);

    req.fields.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    req.fields.push_back({"Accept", "application/json"});
    if (!cfg.user_agent.empty())
        req.fields.push_back({"User-Agent", cfg.user_agent});
    switch (cfg.auth_method) {
    case client_auth_method::client_secret_basic:
        req.fields.push_back({"Authorization", raw_basic_form(cfg, in)
                                                   ? raw_basic_authorization(cfg.client_id, cfg.client_secret.reveal())
                                                   : basic_authorization(cfg.client_id, cfg.client_secret.reveal())});
        break;
    case client_auth_method::client_secret_post:
        append_param(req.body, "client_id", cfg.client_id);
        append_param(req.body, "client_secret", cfg.client_secret.reveal());
        break;
    case client_auth_method::client_secret_jwt:
    case client_auth_method::private_key_jwt: { // RFC 7523 §2.2
        assertion_claims claims{cfg.client_id, cfg.token_endpoint, in.now, cfg.client_assertion_lifetime};
        auto assertion = cfg.auth_method == client_auth_method::private_key_jwt
                             ? make_client_assertion(*cfg.client_key, claims)
                             : make_client_assertion(cfg.client_secret.reveal(), claims);
        if (!assertion)
            return fail<token_request>(diag, assertion.error(), "client assertion signing failed");
        append_param(req.body, "client_id", cfg.client_id);
        append_param(req.body, "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        append_param(req.body, "client_assertion", *assertion);
        break;
    }
    case client_auth_method::tls_client_auth: // RFC 8705 §2: the certificate authenticates
        append_param(req.body, "client_id", cfg.client_id);
        break;
    default:
        return fail<token_request>(diag, error::unsupported_auth_method, "auth_config.auth_method");
    }
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
    return md;
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
        {client_auth_method::private_key_jwt, cfg.client_key != nullptr},
        {client_auth_method::tls_client_auth, !cfg.tls.client_certificate_file.empty()},
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
    }
    return fail<grant_type>(diag, error::unsupported_grant, "auth_config.grant");
}


} // namespace tetrapak
