// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "proxy_rules.hpp"

#include <tetrapak/error.hpp>

#include "../detail/diag.hpp"
#include "../detail/text.hpp"
#include "../detail/url_host.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <initializer_list>

namespace tetrapak::detail {
namespace {

namespace ip = boost::asio::ip;
using boost::system::error_code;

/// The message every parse failure leaves: where the URL came from and what is
/// wrong with it, never the URL itself (it may carry credentials).
boost::system::result<proxy_endpoint> fail_url(diagnostics& diag, error_code ec, std::string_view source,
                                               std::string_view what)
{
    std::string msg = "proxy URL from ";
    msg += source;
    msg += ": ";
    msg += what;
    return fail_with<proxy_endpoint>(diag, ec, msg);
}

std::string base64(std::string_view in)
{
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

/// A TCP port 1..65535, or nullopt.
std::optional<std::uint16_t> parse_port(std::string_view s)
{
    auto n = to_int(s);
    if (!n || *n < 1 || *n > 65535)
        return std::nullopt;
    return static_cast<std::uint16_t>(*n);
}

/// `s` without a trailing dot (the DNS root), so "example.com." equals "example.com".
std::string_view strip_root_dot(std::string_view s)
{
    if (!s.empty() && s.back() == '.')
        s.remove_suffix(1);
    return s;
}

/// `s` without the brackets of an IPv6 literal.
std::string_view strip_brackets(std::string_view s)
{
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']')
        return s.substr(1, s.size() - 2);
    return s;
}

std::optional<ip::address> to_address(std::string_view s)
{
    error_code ec;
    auto a = ip::make_address(std::string(s), ec);
    if (ec)
        return std::nullopt;
    return a;
}

/// The IPv4 address inside an IPv4-mapped IPv6 one, so both spellings of an
/// IPv4 host meet the same rules.
std::optional<ip::address_v4> unmapped(const ip::address& a)
{
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return ip::make_address_v4(ip::v4_mapped, a.to_v6());
    return std::nullopt;
}

/// True when the first `prefix` bits of `a` and `b` (same length) agree.
template <std::size_t N>
bool same_prefix(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b, unsigned prefix)
{
    std::size_t full = prefix / 8;
    if (!std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(full), b.begin()))
        return false;
    unsigned rest = prefix % 8;
    if (rest == 0)
        return true;
    auto mask = static_cast<unsigned char>(0xffu << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool in_network(const ip::address& a, const ip::address& net, unsigned prefix)
{
    if (a.is_v4() && net.is_v4())
        return same_prefix(a.to_v4().to_bytes(), net.to_v4().to_bytes(), prefix);
    if (a.is_v6() && net.is_v6())
        return same_prefix(a.to_v6().to_bytes(), net.to_v6().to_bytes(), prefix);
    return false;
}

/// A host name (of a proxy URL or a no_proxy entry): letters, digits, '-', '_'
/// and dots, not starting with a dot.
bool valid_name(std::string_view s)
{
    if (s.empty() || s.front() == '.')
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.';
    });
}

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
    return out;
}

/// Only http:// proxies: https:// (TLS to the proxy), socks4/4a/5/5h and
/// any other scheme are proxy_unsupported.
bool is_http_scheme(std::string_view scheme) { return iequals(scheme, "http"); }

/// Host, host_is_ip and port of a parsed proxy URL, or the reason it is unusable.
std::optional<std::string_view> read_authority(const boost::urls::url_view& u, proxy_endpoint& ep)
{
    if (!u.has_authority() || u.encoded_host().empty())
        return "missing host";
    if (!read_url_host(u, ep.host, ep.host_is_ip))
        return "unsupported host form";
    if (!ep.host_is_ip && !valid_name(strip_root_dot(ep.host)))
        return "invalid host name";
    if (u.has_port()) {
        if (!parse_port(u.port()))
            return "invalid port (1 to 65535)";
        ep.port = u.port();
    } else {
        ep.port = "80"; // the scheme's default: curl's 1080 is the SOCKS port, not http's
    }
    if (!(u.encoded_path().empty() || u.encoded_path() == "/"))
        return "unexpected path (a proxy URL ends at host:port or \"/\")";
    if (u.has_query())
        return "unexpected query";
    if (u.has_fragment())
        return "unexpected fragment";
    return std::nullopt;
}

} // namespace

boost::system::result<proxy_endpoint> parse_proxy_url(std::string_view url, std::string_view source,
                                                      std::string_view username, std::string_view password,
                                                      diagnostics& diag)
{
    url = trim(url);
    if (url.empty())
        return fail_url(diag, error::proxy_url_invalid, source, "empty");
    // Without "://" the text is a bare host[:port], as curl accepts; parsed as
    // is, "proxy:3128" would read as scheme "proxy" and path "3128".
    std::string with_scheme;
    if (url.find("://") == std::string_view::npos) {
        with_scheme = "http://";
        with_scheme += url;
        url = with_scheme;
    }
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) {
        // Report an unsupported scheme even when the rest does not parse.
        auto scheme = url.substr(0, url.find("://"));
        if (!scheme.empty() && !is_http_scheme(scheme) && valid_name(scheme))
            return fail_url(diag, error::proxy_unsupported, source,
                            "the scheme is not http (only http:// proxies are supported)");
        return fail_url(diag, error::proxy_url_invalid, source, "not http://[user:password@]host[:port]");
    }
    boost::urls::url_view u = *parsed;
    if (!is_http_scheme(u.scheme()))
        return fail_url(diag, error::proxy_unsupported, source,
                        "the scheme is not http (only http:// proxies are supported)");
    proxy_endpoint ep;
    if (auto why = read_authority(u, ep))
        return fail_url(diag, error::proxy_url_invalid, source, *why);

    std::string user, pass;
    if (!username.empty() || !password.empty()) {
        user = username;
        pass = password;
    } else if (u.has_userinfo()) {
        user = u.user();
        pass = u.password();
    }
    if (user.find(':') != std::string::npos)
        return fail_url(diag, error::proxy_url_invalid, source,
                        "the proxy user name contains ':' (RFC 7617 Basic cannot carry it)");
    if (!user.empty() || !pass.empty()) {
        std::string creds = std::move(user);
        creds += ':';
        creds += pass;
        ep.authorization = "Basic " + base64(creds);
    }

    ep.display = "http://";
    ep.display += ep.host_is_ip && ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
    ep.display += ':';
    ep.display += ep.port;
    return ep;
}

no_proxy_list no_proxy_list::parse(std::string_view list)
{
    no_proxy_list out;
    auto is_sep = [](char c) { return c == ',' || is_space(c); };
    std::size_t i = 0;
    while (i < list.size()) {
        while (i < list.size() && is_sep(list[i]))
            ++i;
        std::size_t start = i;
        while (i < list.size() && !is_sep(list[i]))
            ++i;
        if (i > start)
            out.add_entry(list.substr(start, i - start));
    }
    return out;
}

void no_proxy_list::add_entry(std::string_view entry)
{
    if (entry == "*") {
        all_ = true;
        return;
    }
    std::string_view host = entry, port, prefix;
    bool bracketed = false;
    if (entry.front() == '[') { // [v6], [v6]:port, [v6]/prefix
        auto close = entry.find(']');
        if (close == std::string_view::npos)
            return;
        host = entry.substr(1, close - 1);
        auto rest = entry.substr(close + 1);
        if (!rest.empty() && rest.front() == ':')
            port = rest.substr(1);
        else if (!rest.empty() && rest.front() == '/')
            prefix = rest.substr(1);
        else if (!rest.empty())
            return;
        if (rest.size() == 1)
            return; // "[::1]:" or "[::1]/"
        bracketed = true;
    } else if (auto slash = entry.find('/'); slash != std::string_view::npos) {
        host = entry.substr(0, slash);
        prefix = entry.substr(slash + 1);
        if (prefix.empty())
            return;
    } else if (std::count(entry.begin(), entry.end(), ':') == 1) { // one colon: host:port; more: bare IPv6
        auto colon = entry.find(':');
        host = entry.substr(0, colon);
        port = entry.substr(colon + 1);
        if (port.empty())
            return;
    }
    std::uint16_t port_number = 0;
    if (!port.empty()) {
        auto p = parse_port(port);
        if (!p)
            return;
        port_number = *p;
    }
    if (!bracketed)
        host = strip_root_dot(host);
    auto addr = to_address(host);
    if (bracketed && !(addr && addr->is_v6()))
        return;
    if (addr) {
        unsigned bits = addr->is_v4() ? 32 : 128;
        unsigned len = bits;
        if (!prefix.empty()) {
            auto n = to_int(prefix);
            if (!n || *n > static_cast<std::int64_t>(bits))
                return;
            len = static_cast<unsigned>(*n);
        }
        if (auto v4 = unmapped(*addr); v4 && len >= 96)
            ips_.push_back({*v4, len - 96, port_number});
        else
            ips_.push_back({*addr, len, port_number});
        return;
    }
    if (!prefix.empty())
        return; // a range needs an address
    if (host.substr(0, 2) == "*.")
        host.remove_prefix(2);
    else if (!host.empty() && host.front() == '.')
        host.remove_prefix(1);
    if (!valid_name(host))
        return;
    names_.push_back({lower(host), port_number});
}

bool no_proxy_list::matches_ip(const ip::address& a, std::uint16_t port) const
{
    auto v4 = unmapped(a);
    return std::any_of(ips_.begin(), ips_.end(), [&](const ip_rule& r) {
        if (r.port != 0 && r.port != port)
            return false;
        return in_network(a, r.network, r.prefix) || (v4 && in_network(ip::address(*v4), r.network, r.prefix));
    });
}

bool no_proxy_list::matches(std::string_view host, std::string_view port) const
{
    if (all_)
        return true;
    host = strip_root_dot(strip_brackets(host));
    if (host.empty())
        return false;
    auto p = parse_port(port);
    std::uint16_t port_number = p ? *p : 0; // an unusable port matches only port-less entries
    if (auto addr = to_address(host))
        return matches_ip(*addr, port_number);
    return std::any_of(names_.begin(), names_.end(), [&](const name_rule& r) {
        if (r.port != 0 && r.port != port_number)
            return false;
        if (host.size() == r.suffix.size())
            return iequals(host, r.suffix);
        // A subdomain on a label boundary: "api.example.com", never "badexample.com".
        return host.size() > r.suffix.size() && host[host.size() - r.suffix.size() - 1] == '.' &&
               iequals(host.substr(host.size() - r.suffix.size()), r.suffix);
    });
}

bool no_proxy_list::empty() const noexcept { return !all_ && names_.empty() && ips_.empty(); }

std::size_t no_proxy_list::size() const noexcept { return (all_ ? 1 : 0) + names_.size() + ips_.size(); }

proxy_environment proxy_environment::read(const std::function<const char*(const char*)>& getenv)
{
    // The first of `names` that is set and not blank, with its name.
    auto first = [&](std::string& value, std::string* source, std::initializer_list<const char*> names) {
        for (const char* name : names) {
            const char* v = getenv(name);
            std::string_view s = v ? trim(v) : std::string_view{};
            if (!s.empty()) {
                value = s;
                if (source)
                    *source = name;
                return;
            }
        }
    };
    proxy_environment env;
    first(env.https_proxy, &env.https_source, {"https_proxy", "HTTPS_PROXY"});
    first(env.http_proxy, &env.http_source, {"http_proxy"}); // never HTTP_PROXY: "httpoxy"
    first(env.all_proxy, &env.all_source, {"all_proxy", "ALL_PROXY"});
    first(env.no_proxy, nullptr, {"no_proxy", "NO_PROXY"});
    return env;
}

boost::system::result<std::optional<proxy_endpoint>> select_proxy(const endpoint& target,
                                                                  const proxy_settings& settings,
                                                                  const proxy_environment& env, diagnostics& diag)
{
    using result = boost::system::result<std::optional<proxy_endpoint>>;
    std::string_view url = trim(settings.url);
    if (iequals(url, "none"))
        return result(std::nullopt);
    const std::string& no_proxy = settings.no_proxy.empty() ? env.no_proxy : settings.no_proxy;
    const std::string_view user = settings.username;
    const std::string_view pass = settings.password.reveal();

    if (!url.empty()) {
        auto ep = parse_proxy_url(url, "auth_config.proxy.url", user, pass, diag);
        if (!ep)
            return ep.error();
        if (no_proxy_list::parse(no_proxy).matches(target.host, target.port))
            return result(std::nullopt);
        return result(std::move(*ep));
    }

    if (is_loopback_host(target.host))
        return result(std::nullopt);
    const std::string* chosen = target.tls ? &env.https_proxy : &env.http_proxy;
    const std::string* source = target.tls ? &env.https_source : &env.http_source;
    if (chosen->empty()) {
        chosen = &env.all_proxy;
        source = &env.all_source;
    }
    if (chosen->empty() || no_proxy_list::parse(no_proxy).matches(target.host, target.port))
        return result(std::nullopt);
    auto ep = parse_proxy_url(*chosen, "environment variable " + *source, user, pass, diag);
    if (!ep)
        return ep.error();
    return result(std::move(*ep));
}

bool is_loopback_host(std::string_view host)
{
    host = strip_root_dot(strip_brackets(host));
    if (iequals(host, "localhost"))
        return true;
    constexpr std::string_view suffix = ".localhost";
    if (host.size() > suffix.size() && iequals(host.substr(host.size() - suffix.size()), suffix))
        return true;
    auto addr = to_address(host);
    if (!addr)
        return false;
    if (auto v4 = unmapped(*addr))
        return v4->is_loopback();
    return addr->is_loopback();
}

} // namespace tetrapak::detail
