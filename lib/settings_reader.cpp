// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "settings_reader.hpp"

#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>

#include "detail/text.hpp"
#include "fleet/fleet_settings_reader.hpp"
#include "transport/proxy_rules.hpp"

#include <algorithm>
#include <cmath>

namespace tetrapak {
namespace {

using detail::all_digits;
using detail::find_ci;
using detail::iequals;
using detail::to_int;
using detail::valid_scope_token;
using detail::is_space;
using detail::trim;

using boost::system::error_code;
using access = detail::diagnostics_access;

constexpr std::int64_t max_lifetime_seconds = 10LL * 365 * 24 * 3600; // ten years


/// Lower case without '_', '-' and spaces: "Client_Credentials" == "clientcredentials".
std::string fold_name(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (char c : trim(s))
        if (c != '_' && c != '-' && c != ' ')
            out += detail::ascii_lower(c);
    return out;
}

bool has_control_char(std::string_view s) noexcept
{
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

// RFC 9110 §5.6.2 token (header field names).
bool is_token(std::string_view s) noexcept
{
    if (s.empty())
        return false;
    constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  extra.find(c) != std::string_view::npos;
        if (!ok)
            return false;
    }
    return true;
}


/// A portable environment variable name: [A-Za-z_][A-Za-z0-9_]*.
bool is_environment_name(std::string_view s) noexcept
{
    if (s.empty() || (s.front() >= '0' && s.front() <= '9'))
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

/// "[d.]hh:mm[:ss[.fffffff]]" or "d:hh:mm:ss[.fffffff]" (.NET TimeSpan), whole seconds.
std::optional<std::int64_t> parse_timespan(std::string_view s) noexcept
{
    std::vector<std::string_view> parts;
    for (;;) {
        auto colon = s.find(':');
        parts.push_back(s.substr(0, colon));
        if (colon == std::string_view::npos)
            break;
        s.remove_prefix(colon + 1);
    }
    if (parts.size() < 2 || parts.size() > 4)
        return std::nullopt;
    std::int64_t days = 0;
    std::string_view hours = parts[0];
    std::size_t next = 1;
    if (parts.size() == 4) {
        auto d = parts[0].size() <= 8 ? to_int(parts[0]) : std::nullopt;
        if (!d)
            return std::nullopt;
        days = *d;
        hours = parts[1];
        next = 2;
    } else if (auto dot = hours.find('.'); dot != std::string_view::npos) {
        auto d = dot <= 8 ? to_int(hours.substr(0, dot)) : std::nullopt;
        if (!d)
            return std::nullopt;
        days = *d;
        hours.remove_prefix(dot + 1);
    }
    std::string_view minutes = parts[next];
    std::string_view seconds = next + 1 < parts.size() ? parts[next + 1] : std::string_view("0");
    if (auto dot = seconds.find('.'); dot != std::string_view::npos) {
        auto fraction = seconds.substr(dot + 1);
        if (fraction.size() > 7 || !all_digits(fraction))
            return std::nullopt;
        seconds = seconds.substr(0, dot);
    }
    auto two = [](std::string_view v, std::int64_t max) -> std::optional<std::int64_t> {
        if (v.size() > 2)
            return std::nullopt;
        auto n = to_int(v);
        if (!n || *n > max)
            return std::nullopt;
        return n;
    };
    auto h = two(hours, 23), m = two(minutes, 59), sec = two(seconds, 59);
    if (!h || !m || !sec)
        return std::nullopt;
    return ((days * 24 + *h) * 60 + *m) * 60 + *sec;
}

template <class Map>
auto& get_or_add_ci(Map& m, std::string_view name)
{
    auto it = find_ci(m, name);
    if (it == m.end())
        it = m.emplace(std::string(name), typename Map::mapped_type{}).first;
    return *it;
}

/// Reads JSON values into settings. Every error names the key path
/// (canonical spelling for known keys, service and endpoint names as
/// configured) and never a value.
class reader {
public:
    reader(diagnostics& diag, std::string_view env_variable = {}) : diag_(diag), env_variable_(env_variable) {}

    error_code section(tetrapak_settings& s, const boost::json::value& v)
    {
        const std::string path = "TetraPak";
        if (!v.is_object())
            return fail(error::config_invalid_value, path);
        for (auto& [k, val] : v.get_object()) {
            error_code ec;
            std::string bad;
            if (!auth_key(s.root, k, val, path, ec) && !root_key(s, k, val, path, ec) &&
                !proxy_key(s.proxy, k, val, path, ec) && iequals(k, "Services"))
                ec = services(s, val, path + ":Services");
            else if (iequals(k, "Fleet") && detail::read_fleet_section(s.fleet, val, path + ":Fleet", bad))
                ec = fail(error::config_invalid_value, bad);
            if (ec)
                return ec;
        }
        return {};
    }

    error_code fail(error e, std::string_view path)
    {
        std::string& m = access::client_message(diag_);
        m.assign(path);
        if (!env_variable_.empty()) {
            m += " (environment variable ";
            m += env_variable_;
            m += ')';
        }
        return e;
    }

private:
    // A string setting: nullopt for null or "" (not set); fails on any other type.
    std::optional<std::string_view> string_of(const boost::json::value& v, const std::string& path, error_code& ec)
    {
        if (v.is_null())
            return std::nullopt;
        if (!v.is_string()) {
            ec = fail(error::config_invalid_value, path);
            return std::nullopt;
        }
        std::string_view s = v.get_string();
        if (s.empty())
            return std::nullopt;
        return s;
    }

    // A boolean setting: true/false, or the strings "true"/"false" (any case,
    // as environment variables give them); nullopt for null or "".
    std::optional<bool> bool_of(const boost::json::value& v, const std::string& path, error_code& ec)
    {
        if (v.is_bool())
            return v.get_bool();
        auto s = string_of(v, path, ec);
        if (!s)
            return std::nullopt;
        if (iequals(trim(*s), "true"))
            return true;
        if (iequals(trim(*s), "false"))
            return false;
        ec = fail(error::config_invalid_value, path);
        return std::nullopt;
    }

    bool url_key(std::string& out, const boost::json::value& v, const std::string& path, error_code& ec)
    {
        auto s = string_of(v, path, ec);
        if (!s)
            return true;
        diagnostics scratch;
        if (!parse_endpoint(*s, false, scratch)) {
            ec = fail(error::config_bad_url, path);
            return true;
        }
        out.assign(*s);
        return true;
    }

    bool plain_string(std::optional<std::string>& out, const boost::json::value& v, const std::string& path,
                      error_code& ec)
    {
        auto s = string_of(v, path, ec);
        if (!s)
            return true;
        if (has_control_char(*s)) {
            ec = fail(error::config_invalid_value, path);
            return true;
        }
        out.emplace(*s);
        return true;
    }

    bool scope_key(std::optional<std::vector<std::string>>& out, const boost::json::value& v, const std::string& path,
                   error_code& ec)
    {
        if (v.is_null())
            return true;
        std::vector<std::string> scope;
        if (v.is_string()) {
            std::string_view s = v.get_string();
            std::size_t i = 0;
            while (i < s.size()) {
                while (i < s.size() && is_space(s[i]))
                    ++i;
                std::size_t start = i;
                while (i < s.size() && !is_space(s[i]))
                    ++i;
                if (i > start) {
                    auto token = s.substr(start, i - start);
                    if (!valid_scope_token(token)) {
                        ec = fail(error::config_invalid_value, path);
                        return true;
                    }
                    scope.emplace_back(token);
                }
            }
        } else if (v.is_array()) {
            std::size_t index = 0;
            for (auto& e : v.get_array()) {
                if (!e.is_string() || !valid_scope_token(e.get_string())) {
                    ec = fail(error::config_invalid_value, path + ":" + std::to_string(index));
                    return true;
                }
                scope.emplace_back(e.get_string());
                ++index;
            }
        } else {
            ec = fail(error::config_invalid_value, path);
            return true;
        }
        out = std::move(scope);
        return true;
    }

    /// The auth keys, accepted at every level. Returns false when `k` is not one.
    bool auth_key(auth_settings& a, std::string_view k, const boost::json::value& v, const std::string& prefix,
                  error_code& ec)
    {
        if (iequals(k, "GrantType")) {
            const std::string path = prefix + ":GrantType";
            if (auto s = string_of(v, path, ec)) {
                auto g = parse_grant_type(*s);
                if (g)
                    a.grant = *g;
                else if (!trim(*s).empty())
                    ec = fail(error::config_unknown_grant, path);
            }
            return true;
        }
        if (iequals(k, "ClientId"))
            return plain_string(a.client_id, v, prefix + ":ClientId", ec);
        if (iequals(k, "ClientSecret")) {
            if (auto s = string_of(v, prefix + ":ClientSecret", ec))
                a.client_secret.emplace(std::string(*s));
            return true;
        }
        if (iequals(k, "Scope"))
            return scope_key(a.scope, v, prefix + ":Scope", ec);
        if (iequals(k, "AuthMethod")) {
            const std::string path = prefix + ":AuthMethod";
            if (auto s = string_of(v, path, ec)) {
                auto f = fold_name(*s);
                if (f == "clientsecretbasic" || f == "basic")
                    a.auth_method = client_auth_method::client_secret_basic;
                else if (f == "clientsecretpost" || f == "post")
                    a.auth_method = client_auth_method::client_secret_post;
                else if (f == "selfsignedtlsclientauth")
                    a.auth_method = client_auth_method::self_signed_tls_client_auth;
                else if (!f.empty())
                    ec = fail(error::config_invalid_value, path);
            }
            return true;
        }
        if (iequals(k, "BasicCredentials")) {
            const std::string path = prefix + ":BasicCredentials";
            if (auto s = string_of(v, path, ec)) {
                if (auto e = parse_basic_credentials_encoding(*s))
                    a.basic_credentials = *e;
                else if (!trim(*s).empty())
                    ec = fail(error::config_invalid_value, path);
            }
            return true;
        }
        if (iequals(k, "Audience"))
            return plain_string(a.audience, v, prefix + ":Audience", ec);
        if (iequals(k, "Resource"))
            return plain_string(a.resource, v, prefix + ":Resource", ec);
        return identity_key(a, k, v, prefix, ec);
    }

    /// Workload identity and DPoP keys, accepted at every level. Returns
    /// false when `k` is not one. Files are only named here: resolve reads them.
    bool identity_key(auth_settings& a, std::string_view k, const boost::json::value& v, const std::string& prefix,
                      error_code& ec)
    {
        if (iequals(k, "ClientAssertionFile"))
            return assertion_file(a.client_assertion_file, v, prefix + ":ClientAssertionFile", false, ec);
        if (iequals(k, "ClientAssertionFileVariable"))
            return assertion_file(a.client_assertion_file, v, prefix + ":ClientAssertionFileVariable", true, ec);
        if (iequals(k, "JwtBearerAssertionFile"))
            return plain_string(a.jwt_bearer_assertion_file, v, prefix + ":JwtBearerAssertionFile", ec);
        if (iequals(k, "JwtBearerSubject"))
            return plain_string(a.jwt_bearer_subject, v, prefix + ":JwtBearerSubject", ec);
        if (iequals(k, "DPoP")) {
            if (auto b = bool_of(v, prefix + ":DPoP", ec))
                a.dpop = *b;
            return true;
        }
        if (iequals(k, "DPoPKeyFile"))
            return plain_string(a.dpop_key_file, v, prefix + ":DPoPKeyFile", ec);
        if (iequals(k, "DPoPAlgorithm")) {
            const std::string path = prefix + ":DPoPAlgorithm";
            std::optional<std::string> text;
            plain_string(text, v, path, ec);
            if (!text)
                return true;
            std::optional<std::string_view> known;
            for (std::string_view alg : {"ES256", "RS256", "PS256", "EdDSA"})
                if (iequals(trim(*text), alg))
                    known = alg;
            if (known)
                a.dpop_algorithm.emplace(*known);
            else
                ec = fail(error::config_invalid_value, path);
            return true;
        }
        return false;
    }

    /// "...File" (a path) or "...FileVariable" (an environment variable's name).
    bool assertion_file(std::optional<assertion_file_setting>& out, const boost::json::value& v,
                        const std::string& path, bool variable, error_code& ec)
    {
        std::optional<std::string> text;
        plain_string(text, v, path, ec);
        if (!text)
            return true;
        if (variable && !is_environment_name(*text))
            ec = fail(error::config_invalid_value, path);
        else
            out = variable ? assertion_file_setting{{}, std::move(*text)} : assertion_file_setting{std::move(*text), {}};
        return true;
    }

    /// The settings only the top level has. Returns false when `k` is not one.
    bool root_key(tetrapak_settings& s, std::string_view k, const boost::json::value& v, const std::string& prefix,
                  error_code& ec)
    {
        if (iequals(k, "Environment")) {
            const std::string path = prefix + ":Environment";
            if (auto str = string_of(v, path, ec)) {
                auto e = parse_environment(*str);
                if (e)
                    s.environment = *e;
                else if (!trim(*str).empty())
                    ec = fail(error::config_unknown_environment, path);
            }
            return true;
        }
        if (iequals(k, "DiscoveryDocumentUrl"))
            return url_key(s.discovery_document_url, v, prefix + ":DiscoveryDocumentUrl", ec);
        if (iequals(k, "TokenIssuerUrl"))
            return url_key(s.token_issuer_url, v, prefix + ":TokenIssuerUrl", ec);
        if (iequals(k, "AuthorizationHeader"))
            return header_key(s.authorization_header, v, prefix + ":AuthorizationHeader", ec);
        if (iequals(k, "RequestMessageIdHeader"))
            return header_key(s.request_message_id_header, v, prefix + ":RequestMessageIdHeader", ec);
        if (iequals(k, "IsCachingAllowed")) {
            if (auto b = bool_of(v, prefix + ":IsCachingAllowed", ec))
                s.is_caching_allowed = *b;
            return true;
        }
        if (iequals(k, "DefaultCachingLifetime")) {
            const std::string path = prefix + ":DefaultCachingLifetime";
            std::optional<std::int64_t> n;
            if (v.is_null())
                return true;
            if (v.is_int64()) {
                n = v.get_int64();
            } else if (v.is_uint64()) {
                if (v.get_uint64() <= static_cast<std::uint64_t>(max_lifetime_seconds))
                    n = static_cast<std::int64_t>(v.get_uint64());
            } else if (v.is_double()) {
                double d = v.get_double();
                if (std::isfinite(d) && d >= 0 && d <= static_cast<double>(max_lifetime_seconds))
                    n = static_cast<std::int64_t>(d);
            } else if (auto str = string_of(v, path, ec)) {
                auto t = trim(*str);
                n = all_digits(t) ? to_int(t) : parse_timespan(t);
            } else {
                return true; // "" (not set) or a type error already reported
            }
            if (!n || *n < 0 || *n > max_lifetime_seconds)
                ec = fail(error::config_invalid_value, path);
            else
                s.default_caching_lifetime = std::chrono::seconds(*n);
            return true;
        }
        return false;
    }

    /// Proxy (a URL or "none"), NoProxy, ProxyUsername, ProxyPassword. A bad
    /// URL fails here, at load, rather than at the first request.
    bool proxy_key(proxy_settings& p, std::string_view k, const boost::json::value& v, const std::string& prefix,
                   error_code& ec)
    {
        std::optional<std::string> text;
        if (iequals(k, "Proxy")) {
            const std::string path = prefix + ":Proxy";
            plain_string(text, v, path, ec);
            diagnostics scratch;
            if (text && !iequals(*text, "none") && !detail::parse_proxy_url(*text, path, {}, {}, scratch))
                ec = fail(error::config_invalid_value, path);
            else if (text)
                p.url = *text;
            return true;
        }
        if (iequals(k, "NoProxy") || iequals(k, "ProxyUsername")) {
            const bool list = iequals(k, "NoProxy");
            plain_string(text, v, prefix + (list ? ":NoProxy" : ":ProxyUsername"), ec);
            if (text)
                (list ? p.no_proxy : p.username) = *text;
            return true;
        }
        if (iequals(k, "ProxyPassword")) {
            plain_string(text, v, prefix + ":ProxyPassword", ec);
            if (text)
                p.password = secret(std::move(*text));
            return true;
        }
        return false;
    }

    bool header_key(std::string& out, const boost::json::value& v, const std::string& path, error_code& ec)
    {
        if (auto s = string_of(v, path, ec)) {
            if (!is_token(*s))
                ec = fail(error::config_invalid_value, path);
            else
                out.assign(*s);
        }
        return true;
    }

    error_code services(tetrapak_settings& s, const boost::json::value& v, const std::string& path)
    {
        if (v.is_null())
            return {};
        if (!v.is_object())
            return fail(error::config_invalid_value, path);
        for (auto& [k, val] : v.get_object()) {
            error_code ec;
            if (auth_key(s.services, k, val, path, ec)) {
                if (ec)
                    return ec;
                continue;
            }
            if (!val.is_object())
                continue; // not a service: ignored
            auto& [name, svc] = get_or_add_ci(s.service, k);
            if (auto e = service(svc, val.get_object(), path + ":" + name))
                return e;
        }
        return {};
    }

    error_code service(service_settings& svc, const boost::json::object& o, const std::string& path)
    {
        for (auto& [k, val] : o) {
            error_code ec;
            if (auth_key(svc.auth, k, val, path, ec)) {
            } else if (iequals(k, "BaseAddress")) {
                url_key(svc.base_address, val, path + ":BaseAddress", ec);
            } else if (iequals(k, "Endpoints")) {
                const std::string epath = path + ":Endpoints";
                if (val.is_object()) {
                    for (auto& [ek, ev] : val.get_object()) {
                        if (!ev.is_string() && !ev.is_object() && !ev.is_null()) {
                            ec = fail(error::config_invalid_value, epath + ":" + std::string(ek));
                            break;
                        }
                        if ((ec = endpoint(svc, ek, ev, epath)))
                            break;
                    }
                } else if (!val.is_null()) {
                    ec = fail(error::config_invalid_value, epath);
                }
            } else if (val.is_string() || val.is_object()) {
                ec = endpoint(svc, k, val, path); // the SDK's shorthand
            }
            if (ec)
                return ec;
        }
        return {};
    }

    error_code endpoint(service_settings& svc, std::string_view key, const boost::json::value& v,
                        const std::string& prefix)
    {
        if (v.is_null())
            return {};
        auto& [name, ep] = get_or_add_ci(svc.endpoints, key);
        const std::string path = prefix + ":" + name;
        if (v.is_string())
            return endpoint_path(ep, v.get_string(), path);
        for (auto& [k, val] : v.get_object()) {
            error_code ec;
            if (auth_key(ep.auth, k, val, path, ec)) {
            } else if (iequals(k, "Path")) {
                const std::string ppath = path + ":Path";
                if (val.is_string())
                    ec = endpoint_path(ep, val.get_string(), ppath);
                else if (!val.is_null())
                    ec = fail(error::config_invalid_value, ppath);
            }
            if (ec)
                return ec;
        }
        return {};
    }

    error_code endpoint_path(endpoint_settings& ep, std::string_view p, const std::string& path)
    {
        if (has_control_char(p) || p.find(' ') != std::string_view::npos)
            return fail(error::config_invalid_value, path);
        if (p.find("://") != std::string_view::npos) {
            diagnostics scratch;
            if (!parse_endpoint(p, false, scratch))
                return fail(error::config_bad_url, path);
        }
        ep.path.assign(p);
        return {};
    }

    diagnostics& diag_;
    std::string_view env_variable_;
};
} // namespace

namespace detail {

boost::system::error_code read_settings_section(tetrapak_settings& s, const boost::json::value& section,
                                                diagnostics& diag, std::string_view env_variable)
{
    return reader(diag, env_variable).section(s, section);
}

} // namespace detail
} // namespace tetrapak
