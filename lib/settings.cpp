// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/dpop.hpp>
#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>
#include <tetrapak/settings.hpp>

#include "detail/text.hpp"
#include "settings_reader.hpp"

#include <boost/json/parse_options.hpp>
#include <boost/json/stream_parser.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>

namespace tetrapak {
namespace {

using detail::all_digits;
using detail::find_ci;
using detail::iequals;
using detail::to_int;
using detail::trim;

using boost::system::error_code;
using access = detail::diagnostics_access;

template <class T>
boost::system::result<T> fail(diagnostics& diag, error_code ec, std::string_view detail)
{
    access::client_message(diag).assign(detail);
    return ec;
}

std::string line_and_column(std::string_view text, std::size_t offset)
{
    offset = std::min(offset, text.size());
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

} // namespace

std::string_view to_string(runtime_environment e) noexcept
{
    switch (e) {
    case runtime_environment::production: return "production";
    case runtime_environment::migration: return "migration";
    case runtime_environment::development: return "development";
    case runtime_environment::sandbox: return "sandbox";
    }
    return "unknown";
}

std::optional<runtime_environment> parse_environment(std::string_view s) noexcept
{
    s = trim(s);
    if (iequals(s, "Production"))
        return runtime_environment::production;
    if (iequals(s, "Migration") || iequals(s, "Test") || iequals(s, "Staging"))
        return runtime_environment::migration;
    if (iequals(s, "Development"))
        return runtime_environment::development;
    if (iequals(s, "Sandbox"))
        return runtime_environment::sandbox;
    return std::nullopt;
}

std::string_view default_authority(runtime_environment e) noexcept
{
    switch (e) {
    case runtime_environment::production: return "https://api.tetrapak.com";
    case runtime_environment::migration: return "https://api-mig.tetrapak.com";
    case runtime_environment::development: return "https://api-dev.tetrapak.com";
    case runtime_environment::sandbox: return "https://api-sb.tetrapak.com";
    }
    return "https://api.tetrapak.com";
}

namespace {
/// `s` equals `folded` ignoring case, '_' and '-': "TokenExchange", "token_exchange", "TOKEN-EXCHANGE".
bool folded_equals(std::string_view s, std::string_view folded) noexcept
{
    std::size_t j = 0;
    for (char c : trim(s)) {
        if (c == '_' || c == '-')
            continue;
        if (j == folded.size() || detail::ascii_lower(c) != folded[j])
            return false;
        ++j;
    }
    return j == folded.size();
}
} // namespace

std::optional<grant_type> parse_grant_type(std::string_view s) noexcept
{
    auto is = [s](std::string_view folded) { return folded_equals(s, folded); };
    if (is("none"))
        return grant_type::none;
    if (is("tokenexchange"))
        return grant_type::token_exchange;
    if (is("clientcredentials"))
        return grant_type::client_credentials;
    if (is("automatic"))
        return grant_type::automatic;
    if (is("inherited"))
        return grant_type::inherited;
    if (is("jwtbearer"))
        return grant_type::jwt_bearer;
    return std::nullopt;
}

std::optional<basic_credentials_encoding> parse_basic_credentials_encoding(std::string_view s) noexcept
{
    auto is = [s](std::string_view folded) { return folded_equals(s, folded); };
    if (is("rfc6749"))
        return basic_credentials_encoding::rfc6749;
    if (is("raw"))
        return basic_credentials_encoding::raw;
    if (is("auto") || is("automatic"))
        return basic_credentials_encoding::automatic;
    return std::nullopt;
}

namespace {

/// One configuration level of a resolution, with the key prefix it is read from.
struct level {
    const auth_settings* auth;
    std::string path;
};
/// The levels, nearest first: endpoint, service, services, root.
using level_chain = std::vector<level>;

/// The nearest level that sets `member`, or null.
template <class T>
const level* nearest(const level_chain& chain, std::optional<T> auth_settings::*member)
{
    for (auto& l : chain)
        if ((l.auth->*member).has_value())
            return &l;
    return nullptr;
}

/// The assertion files of workload identity. A client assertion file makes the
/// method private_key_jwt unless an AuthMethod is set at a nearer level.
error_code resolve_assertion_files(auth_config& cfg, const level_chain& chain,
                                   const std::function<const char*(const char*)>& getenv, diagnostics& diag)
{
    if (const level* file = nearest(chain, &auth_settings::client_assertion_file)) {
        const assertion_file_setting& f = *file->auth->client_assertion_file;
        cfg.client_assertion.file = f.path;
        if (!f.variable.empty()) {
            const char* value = getenv ? getenv(f.variable.c_str()) : nullptr;
            if (!value || !*value) {
                std::string m = file->path;
                m += ":ClientAssertionFileVariable: the environment variable ";
                m += f.variable;
                m += value ? " is empty" : " is not set";
                return fail<void>(diag, error::config_invalid_value, m).error();
            }
            cfg.client_assertion.file = value;
        }
        const level* method = nearest(chain, &auth_settings::auth_method);
        if (!method || file <= method) // the same vector: nearer is earlier
            cfg.auth_method = client_auth_method::private_key_jwt;
    }
    if (const level* l = nearest(chain, &auth_settings::jwt_bearer_assertion_file))
        cfg.jwt_bearer_assertion.file = *l->auth->jwt_bearer_assertion_file;
    if (const level* l = nearest(chain, &auth_settings::jwt_bearer_subject))
        cfg.jwt_bearer_subject = *l->auth->jwt_bearer_subject;
    return {};
}

/// DPoP: on with DPoP, or with a DPoPKeyFile unless a DPoP at a level at least
/// as near says otherwise. The proof key is loaded (or, for an algorithm other
/// than ES256 without a file, generated) here, so a bad key fails at start-up.
error_code resolve_dpop(auth_config& cfg, const level_chain& chain, diagnostics& diag)
{
    const level* key_file = nearest(chain, &auth_settings::dpop_key_file);
    const level* flag = nearest(chain, &auth_settings::dpop);
    const level* algorithm = nearest(chain, &auth_settings::dpop_algorithm);
    cfg.dpop.enabled = (flag && (!key_file || flag <= key_file)) ? *flag->auth->dpop : key_file != nullptr;
    if (!cfg.dpop.enabled)
        return {};
    const std::string alg = algorithm ? *algorithm->auth->dpop_algorithm : std::string();
    diagnostics key_diag;
    boost::system::result<std::shared_ptr<const dpop_key>> key = std::shared_ptr<const dpop_key>();
    std::string key_name;
    if (key_file) {
        key = dpop_key::load_pem_file(*key_file->auth->dpop_key_file, alg, key_diag);
        key_name = key_file->path + ":DPoPKeyFile";
    } else if (!alg.empty() && alg != "ES256") {
        key = dpop_key::generate(alg, key_diag);
        key_name = algorithm->path + ":DPoPAlgorithm";
    }
    if (!key) {
        key_name += ": ";
        key_name += key_diag.client_message();
        return fail<void>(diag, key.error(), key_name).error();
    }
    cfg.dpop.key = std::move(*key);
    return {};
}

} // namespace

boost::system::result<runtime_environment>
tetrapak_settings::effective_environment(const std::function<const char*(const char*)>& getenv,
                                         diagnostics& diag) const
{
    if (environment)
        return *environment;
    for (const char* name : {"ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT"}) {
        const char* value = getenv ? getenv(name) : nullptr;
        if (!value || trim(value).empty())
            continue;
        if (auto e = parse_environment(value))
            return *e;
        return fail<runtime_environment>(diag, error::config_unknown_environment, name);
    }
    return runtime_environment::production;
}

boost::system::result<auth_config> tetrapak_settings::resolve(std::string_view service_name,
                                                              std::string_view endpoint_name,
                                                              const std::function<const char*(const char*)>& getenv,
                                                              diagnostics& diag) const
{
    level_chain chain;
    std::string configured_service;
    if (!service_name.empty()) {
        auto svc = find_ci(service, service_name);
        if (svc == service.end())
            return fail<auth_config>(diag, error::config_unknown_service,
                                     "TetraPak:Services:" + std::string(service_name));
        configured_service = svc->first;
        const std::string svc_path = "TetraPak:Services:" + svc->first;
        if (!endpoint_name.empty()) {
            auto ep = find_ci(svc->second.endpoints, endpoint_name);
            if (ep == svc->second.endpoints.end())
                return fail<auth_config>(diag, error::config_unknown_service,
                                         svc_path + ":Endpoints:" + std::string(endpoint_name));
            chain.push_back({&ep->second.auth, svc_path + ":Endpoints:" + ep->first});
        }
        chain.push_back({&svc->second.auth, svc_path});
        chain.push_back({&services, "TetraPak:Services"});
    } else if (!endpoint_name.empty()) {
        return fail<auth_config>(diag, error::config_unknown_service,
                                 "TetraPak:Services::Endpoints:" + std::string(endpoint_name));
    }
    chain.push_back({&root, "TetraPak"});

    auto first = [&](auto member) -> decltype(&(root.*member)) {
        const level* l = nearest(chain, member);
        return l ? &(l->auth->*member) : nullptr;
    };
    auto looked_at = [&](std::string_view key) {
        std::string keys;
        for (auto& l : chain) {
            if (!keys.empty())
                keys += ", ";
            keys += l.path;
            keys += ':';
            keys += key;
        }
        return keys;
    };

    auth_config cfg;
    cfg.grant = grant_type::client_credentials;
    for (auto& l : chain)
        if (l.auth->grant && *l.auth->grant != grant_type::inherited) {
            cfg.grant = *l.auth->grant;
            break;
        }
    if (auto v = first(&auth_settings::client_id))
        cfg.client_id = **v;
    if (auto v = first(&auth_settings::client_secret))
        cfg.client_secret = **v;
    if (auto v = first(&auth_settings::scope))
        cfg.scope = **v;
    if (auto v = first(&auth_settings::auth_method))
        cfg.auth_method = **v;
    if (auto v = first(&auth_settings::basic_credentials))
        cfg.basic_credentials = **v;
    if (auto v = first(&auth_settings::audience))
        cfg.audience = **v;
    if (auto v = first(&auth_settings::resource))
        cfg.resource = **v;

    const bool needs_credentials = cfg.grant != grant_type::none;
    if (needs_credentials) {
        if (auto ec = resolve_assertion_files(cfg, chain, getenv, diag))
            return ec;
        if (auto ec = resolve_dpop(cfg, chain, diag))
            return ec;
    }
    bool from_provider = false;
    if (needs_credentials && secrets_provider) {
        if (auto creds = secrets_provider(configured_service)) {
            cfg.client_id = std::move(creds->client_id);
            cfg.client_secret = std::move(creds->client_secret);
            from_provider = true;
        }
    }
    if (needs_credentials) {
        const std::string provider_detail = "secrets provider (service \"" + configured_service + "\"): ";
        if (cfg.client_id.empty())
            return fail<auth_config>(diag, error::missing_client_id,
                                     from_provider ? provider_detail + "client_id" : looked_at("ClientId"));
        const bool secret_based = cfg.auth_method == client_auth_method::client_secret_basic ||
                                  cfg.auth_method == client_auth_method::client_secret_post ||
                                  cfg.auth_method == client_auth_method::client_secret_jwt;
        if (secret_based && cfg.client_secret.empty())
            return fail<auth_config>(diag, error::missing_client_secret,
                                     from_provider ? provider_detail + "client_secret" : looked_at("ClientSecret"));
    }

    diagnostics scratch;
    if (!token_issuer_url.empty() && !parse_endpoint(token_issuer_url, false, scratch))
        return fail<auth_config>(diag, error::config_bad_url, "TetraPak:TokenIssuerUrl");
    cfg.token_endpoint = token_issuer_url;
    if (!discovery_document_url.empty()) {
        if (!parse_endpoint(discovery_document_url, false, scratch))
            return fail<auth_config>(diag, error::config_bad_url, "TetraPak:DiscoveryDocumentUrl");
        cfg.discovery_document_url = discovery_document_url;
    } else {
        auto env = effective_environment(getenv, diag);
        if (!env)
            return env.error();
        cfg.discovery_document_url = std::string(default_authority(*env)) + "/.well-known/openid-configuration";
    }
    cfg.cache.enabled = is_caching_allowed;
    cfg.proxy = proxy;
    cfg.fleet = fleet;
    cfg.default_lifetime = default_caching_lifetime;
    return cfg;
}

boost::system::result<tetrapak_settings> load_settings(const boost::json::value& document, diagnostics& diag)
{
    const boost::json::value* section = nullptr;
    if (document.is_object())
        for (auto& [k, v] : document.get_object())
            if (iequals(k, "TetraPak"))
                section = &v; // the last spelling wins, as in .NET configuration
    if (!section)
        return fail<tetrapak_settings>(diag, error::config_parse_error, "TetraPak");
    tetrapak_settings s;
    if (auto ec = detail::read_settings_section(s, *section, diag))
        return ec;
    return s;
}

boost::system::result<tetrapak_settings> load_settings_file(const std::string& path, diagnostics& diag)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return fail<tetrapak_settings>(diag, error::config_parse_error, path + ": cannot open the file");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad())
        return fail<tetrapak_settings>(diag, error::config_parse_error, path + ": cannot read the file");

    // As .NET's JSON configuration provider: comments and trailing commas are allowed.
    boost::json::parse_options opts;
    opts.allow_comments = true;
    opts.allow_trailing_commas = true;
    boost::json::stream_parser parser({}, opts);
    error_code ec;
    std::size_t consumed = parser.write(text.data(), text.size(), ec);
    if (!ec)
        parser.finish(ec);
    if (ec)
        return fail<tetrapak_settings>(diag, error::config_parse_error,
                                       path + ": invalid JSON at " + line_and_column(text, consumed) + " (" +
                                           ec.message() + ")");
    return load_settings(parser.release(), diag);
}

boost::system::result<void> apply_environment_variables(tetrapak_settings& s, const char* const* environ_entries,
                                                        diagnostics& diag)
{
    if (!environ_entries)
        return {};
    // Array entries ("TetraPak__Scope__0=a") are gathered first: key path -> index -> value.
    struct indexed {
        std::vector<std::string> segments;
        std::string variable;
        std::map<std::int64_t, std::string> values;
    };
    std::vector<indexed> arrays;

    auto nest = [](const std::vector<std::string>& segments, boost::json::value leaf) {
        boost::json::value v = std::move(leaf);
        for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
            boost::json::object o;
            o[*it] = std::move(v);
            v = std::move(o);
        }
        return v;
    };

    for (auto entry = environ_entries; *entry; ++entry) {
        std::string_view e = *entry;
        auto eq = e.find('=');
        if (eq == std::string_view::npos)
            continue;
        std::string_view name = e.substr(0, eq), value = e.substr(eq + 1);

        // "__" (and ':' as .NET also accepts) separates the levels.
        std::vector<std::string> segments;
        std::string current;
        bool bad = false;
        for (std::size_t i = 0; i < name.size(); ++i) {
            bool sep = name[i] == ':' || (name[i] == '_' && i + 1 < name.size() && name[i + 1] == '_');
            if (!sep) {
                current += name[i];
                continue;
            }
            if (name[i] == '_')
                ++i;
            if (current.empty())
                bad = true;
            segments.push_back(std::move(current));
            current.clear();
        }
        segments.push_back(std::move(current));
        if (bad || segments.back().empty() || segments.size() < 2 || !iequals(segments.front(), "TetraPak"))
            continue;
        segments.erase(segments.begin());

        auto n = segments.size();
        if (n >= 2 && iequals(segments[n - 2], "Scope") && all_digits(segments[n - 1])) {
            auto index = to_int(segments[n - 1]);
            if (!index)
                continue;
            segments.pop_back();
            auto same = [&](const indexed& a) {
                return std::equal(a.segments.begin(), a.segments.end(), segments.begin(), segments.end(),
                                  [](const std::string& x, const std::string& y) { return iequals(x, y); });
            };
            auto it = std::find_if(arrays.begin(), arrays.end(), same);
            if (it == arrays.end())
                it = arrays.insert(arrays.end(), indexed{segments, std::string(name), {}});
            it->values[*index] = std::string(value);
            continue;
        }
        if (auto ec = detail::read_settings_section(s, nest(segments, boost::json::string(value)), diag, name))
            return ec;
    }
    for (auto& a : arrays) {
        boost::json::array arr;
        for (auto& [i, v] : a.values)
            arr.emplace_back(v);
        if (auto ec = detail::read_settings_section(s, nest(a.segments, std::move(arr)), diag, a.variable))
            return ec;
    }
    return {};
}

} // namespace tetrapak
