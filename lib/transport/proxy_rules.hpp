// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_TRANSPORT_PROXY_RULES_HPP
#define TETRAPAK_LIB_TRANSPORT_PROXY_RULES_HPP

// Which HTTP proxy a request uses: pure decisions, no I/O (hosts are never
// resolved), so every rule below is testable without a network.
//
// Choosing the proxy (select_proxy)
// ---------------------------------
// | proxy_settings.url | target                          | result                                           |
// |--------------------|---------------------------------|--------------------------------------------------|
// | "none" (any case)  | any                             | direct                                           |
// | "http://p:3128"    | matched by the no_proxy list    | direct                                           |
// | "http://p:3128"    | anything else, loopback too     | p:3128                                           |
// | "" (default)       | loopback (localhost, 127.0.0.1) | direct: environment proxies never apply          |
// | ""                 | matched by the no_proxy list    | direct                                           |
// | ""                 | https://api.example.com         | https_proxy, else HTTPS_PROXY, else all_proxy,   |
// |                    |                                 | else ALL_PROXY, else direct                      |
// | ""                 | http://api.example.com          | http_proxy, else all_proxy, else ALL_PROXY, else |
// |                    |                                 | direct; HTTP_PROXY is IGNORED                    |
//
// - The no_proxy list is proxy_settings.no_proxy when non-empty, else no_proxy,
//   else NO_PROXY from the environment.
// - Lower case wins over upper case when both are set (curl's order). An empty
//   (or all-blank) variable counts as unset.
// - HTTP_PROXY is ignored, as curl does: CGI servers set it from the request's
//   "Proxy:" header ("httpoxy"), so an attacker could choose our proxy.
// - Loopback is "localhost", "*.localhost", 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
//   An explicit proxy applies to it because the user asked for that proxy by
//   name (e.g. a debugging proxy); an inherited one does not (as Go's net/http).
// - An explicit proxy_settings.url that does not parse is an error for every
//   target, no_proxy-matched ones included, so a configuration mistake shows
//   at once. An environment proxy is parsed only when it applies: a stray
//   variable must not break requests that never use it.
// - proxy_settings.username/password, when either is non-empty, replace the
//   user info of whichever proxy URL applies (explicit or environment).
//
// Proxy URLs (parse_proxy_url)
// ----------------------------
// | URL                                 | result                                         |
// |-------------------------------------|------------------------------------------------|
// | http://proxy:3128                   | proxy:3128, no credentials                     |
// | http://proxy  or  http://proxy/     | proxy:80 (the http default; curl's 1080 is a   |
// |                                     | SOCKS habit and an http:// URL means port 80)  |
// | proxy:3128  or  [::1]:3128          | taken as http://proxy:3128 (as curl does)      |
// | http://us%40er:p%3Ass@proxy:3128    | Proxy-Authorization "Basic " + base64 of       |
// |                                     | "us@er:p:ss" (RFC 7617, percent-decoded)       |
// | https://p, socks5://p, ftp://p      | error::proxy_unsupported                       |
// | http://:3128, http://p:0,           | error::proxy_url_invalid                       |
// | http://p:99999, http://p/path,      |                                                |
// | http://p/?q, http://p#f, http://p:  |                                                |
// | a user name containing ':'          | error::proxy_url_invalid (RFC 7617 forbids it) |
//
// The no_proxy list (no_proxy_list)
// ---------------------------------
// Entries are separated by commas and/or white space; matching ignores case
// and a trailing dot on host or entry. Unusable entries are skipped, never fatal.
// | entry                          | matches                            | does not match                  |
// |--------------------------------|------------------------------------|---------------------------------|
// | *                              | every host                         |                                 |
// | example.com, .example.com,     | example.com, api.example.com,      | badexample.com, example.com.org |
// | *.example.com                  | a.b.example.com, API.EXAMPLE.COM.  |                                 |
// | 10.1.2.3, ::1, [::1]           | that address literal only          | a name that resolves to it      |
// | 10.0.0.0/8, fd00::/8, ::1/128  | IP literals inside the range;      | names; 11.0.0.1                 |
// |                                | ::ffff:10.1.2.3 for 10.0.0.0/8     |                                 |
// | example.com:8443, [::1]:8443,  | that host (or suffix) on port 8443 | the same host on another port   |
// | .example.com:8443, 10.1.2.3:80 |                                    |                                 |
// | 10.0.0.0/33, a*b, [::1, x:y:z, | nothing: the entry is ignored      |                                 |
// | example.com:0, example.com/8   |                                    |                                 |
// Name entries match only names and IP entries only IP literals: hosts are
// never resolved, so "localhost" does not match 127.0.0.1. An IPv4-mapped
// target (::ffff:10.1.2.3) also meets the IPv4 entries, and an IPv4-mapped
// entry (::ffff:10.0.0.0/104) is the IPv4 range it maps. "::1:443" is an IPv6
// address, not a port: write "[::1]:443".
// Go's net/http differs on the leading dot: there ".example.com" matches
// subdomains but not example.com itself; we follow curl, where it matches both.

#include <tetrapak/config.hpp>
#include <tetrapak/diagnostics.hpp>
#include <tetrapak/protocol.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/system/result.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tetrapak::detail {

/// A parsed proxy URL.
struct proxy_endpoint {
    std::string host;          ///< without brackets
    std::string port;          ///< explicit, or "80" (http) when absent
    bool host_is_ip = false;
    std::string authorization; ///< "Basic <base64(user:password)>" (RFC 7617); empty without. A SECRET.
    std::string display;       ///< "http://host:port" for messages and traces: never credentials
};

/// Parses "http://[user[:password]@]host[:port][/]" and, as curl does, a bare
/// "[user[:password]@]host:port" (taken as http). `source` names where the URL
/// came from ("auth_config.proxy.url", "environment variable https_proxy") and
/// starts the diagnostics message, which never contains credentials.
/// `username`/`password`, when either is non-empty, replace the URL's user info.
boost::system::result<proxy_endpoint> parse_proxy_url(std::string_view url, std::string_view source,
                                                      std::string_view username, std::string_view password,
                                                      diagnostics& diag);

/// A NO_PROXY list (syntax in the table above).
class no_proxy_list {
public:
    /// Never fails: unusable entries are ignored.
    static no_proxy_list parse(std::string_view list);
    /// True when `host` (as in endpoint::host: no brackets) on `port` is reached directly.
    bool matches(std::string_view host, std::string_view port) const;
    /// No usable entry.
    bool empty() const noexcept;
    /// How many usable entries the list has ("*" counts as one).
    std::size_t size() const noexcept;

private:
    struct name_rule {
        std::string suffix;     ///< lower case, no leading or trailing dot
        std::uint16_t port = 0; ///< 0: any port
    };
    struct ip_rule {
        boost::asio::ip::address network; ///< an IPv4-mapped IPv6 entry is stored as IPv4
        unsigned prefix = 0;              ///< 32 or 128 for a single address
        std::uint16_t port = 0;           ///< 0: any port
    };

    void add_entry(std::string_view entry);
    bool matches_ip(const boost::asio::ip::address& a, std::uint16_t port) const;

    bool all_ = false;
    std::vector<name_rule> names_;
    std::vector<ip_rule> ips_;
};

/// The proxy variables of the environment, read once.
struct proxy_environment {
    std::string https_proxy, http_proxy, all_proxy, no_proxy; ///< chosen per the precedence rules above
    std::string https_source, http_source, all_source;        ///< the variable each came from, for messages

    /// `getenv` returns nullptr for an unset variable. Values are trimmed;
    /// an empty one counts as unset.
    static proxy_environment read(const std::function<const char*(const char*)>& getenv);
};

/// The proxy for one target; nullopt: connect directly.
boost::system::result<std::optional<proxy_endpoint>> select_proxy(const endpoint& target,
                                                                  const proxy_settings& settings,
                                                                  const proxy_environment& env, diagnostics& diag);

/// "localhost", names ending in ".localhost", 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104
/// (any case, a trailing dot ignored, brackets allowed).
bool is_loopback_host(std::string_view host);

} // namespace tetrapak::detail

#endif
