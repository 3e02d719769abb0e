// Which proxy a request uses: NO_PROXY matching, proxy URL parsing, the
// environment's precedence and the final choice, all without a network.
#include "transport/proxy_rules.hpp"

#include <tetrapak/error.hpp>

#include <boost/test/unit_test.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace tetrapak;
using tetrapak::detail::is_loopback_host;
using tetrapak::detail::no_proxy_list;
using tetrapak::detail::parse_proxy_url;
using tetrapak::detail::proxy_endpoint;
using tetrapak::detail::proxy_environment;
using tetrapak::detail::select_proxy;

namespace {

struct no_proxy_row {
    std::string_view list;
    std::string_view host;
    std::string_view port;
    bool direct;
};

// clang-format off
const no_proxy_row no_proxy_rows[] = {
    // "*" alone
    {"*",                         "anything.example",   "443", true},
    {"*",                         "10.9.8.7",           "80",  true},
    {"foo.com, *",                "bar.org",            "443", true},
    {"*.",                        "bar.org",            "443", false}, // "*." is not "*": no usable name
    // name suffixes on label boundaries, three spellings
    {"example.com",               "example.com",        "443", true},
    {"example.com",               "api.example.com",    "443", true},
    {"example.com",               "a.b.example.com",    "443", true},
    {"example.com",               "badexample.com",     "443", false},
    {"example.com",               "example.com.org",    "443", false},
    {"example.com",               "example.co",         "443", false},
    {".example.com",              "example.com",        "443", true},  // curl's rule; Go would say false
    {".example.com",              "api.example.com",    "443", true},
    {".example.com",              "badexample.com",     "443", false},
    {"*.example.com",             "example.com",        "443", true},
    {"*.example.com",             "api.example.com",    "443", true},
    {"*.example.com",             "badexample.com",     "443", false},
    {"api.example.com",           "example.com",        "443", false}, // a subdomain entry never covers its parent
    // case and trailing dots
    {"EXAMPLE.com",               "Api.Example.COM",    "443", true},
    {"example.com.",              "api.example.com",    "443", true},
    {"example.com",               "api.example.com.",   "443", true},
    {".Example.Com.",             "EXAMPLE.COM.",       "443", true},
    // separators: commas, spaces, tabs, newlines, empty entries
    {" foo.org ,example.com",     "api.example.com",    "443", true},
    {"foo.org example.com",       "example.com",        "443", true},
    {"foo.org\texample.com\n",    "example.com",        "443", true},
    {",,foo.org,,",               "foo.org",            "443", true},
    {"foo.org bar.org",           "example.com",        "443", false},
    {"",                          "example.com",        "443", false},
    // IP literals: exact, never resolved
    {"10.1.2.3",                  "10.1.2.3",           "443", true},
    {"10.1.2.3",                  "10.1.2.4",           "443", false},
    {"::1",                       "::1",                "443", true},
    {"[::1]",                     "::1",                "443", true},
    {"[::1]",                     "::2",                "443", false},
    {"127.0.0.1",                 "localhost",          "443", false}, // no resolution
    {"localhost",                 "127.0.0.1",          "443", false}, // names never match IPs
    {"10.1.2.3",                  "::ffff:10.1.2.3",    "443", true},  // both spellings of one host
    {"10.1.2.3.",                 "10.1.2.3",           "443", true},
    // CIDR ranges
    {"10.0.0.0/8",                "10.200.3.4",         "443", true},
    {"10.0.0.0/8",                "11.0.0.1",           "443", false},
    {"192.168.0.0/16",            "192.168.77.1",       "80",  true},
    {"192.168.0.0/16",            "192.169.0.1",        "80",  false},
    {"172.16.0.0/12",             "172.31.255.255",     "443", true},
    {"172.16.0.0/12",             "172.32.0.0",         "443", false},
    {"10.1.2.3/32",               "10.1.2.3",           "443", true},
    {"0.0.0.0/0",                 "203.0.113.9",        "443", true},
    {"10.0.0.0/8",                "ten.example",        "443", false}, // ranges cover IP literals only
    {"fd00::/8",                  "fd12:3456::1",       "443", true},
    {"fd00::/8",                  "fe80::1",            "443", false},
    {"::1/128",                   "::1",                "443", true},
    {"::1/128",                   "::2",                "443", false},
    {"[fd00::]/8",                "fdff::1",            "443", true},
    {"10.0.0.0/8",                "::ffff:10.1.2.3",    "443", true},  // mapped v4 meets a v4 range
    {"10.0.0.0/8",                "::ffff:11.1.2.3",    "443", false},
    {"::ffff:10.0.0.0/104",       "10.1.2.3",           "443", true},
    {"10.0.0.0/8",                "fd00::a00:1",        "443", false}, // not mapped: no match
    // ports
    {"example.com:8443",          "example.com",        "8443", true},
    {"example.com:8443",          "example.com",        "443",  false},
    {".example.com:8443",         "api.example.com",    "8443", true},
    {".example.com:8443",         "api.example.com",    "443",  false},
    {"10.1.2.3:80",               "10.1.2.3",           "80",   true},
    {"10.1.2.3:80",               "10.1.2.3",           "8080", false},
    {"[::1]:8443",                "::1",                "8443", true},
    {"[::1]:8443",                "::1",                "443",  false},
    {"example.com",               "example.com",        "8443", true},  // no port in the entry: any port
    // bad entries are skipped, the rest still applies
    {"10.0.0.0/33",               "10.1.2.3",           "443", false},
    {"10.0.0.0/33, example.com",  "example.com",        "443", true},
    {"::/129",                    "::1",                "443", false},
    {"a*b.com",                   "a*b.com",            "443", false},
    {"example.com:0",             "example.com",        "443", false},
    {"example.com:99999",         "example.com",        "443", false},
    {"example.com:",              "example.com",        "443", false},
    {"[::1",                      "::1",                "443", false},
    {"example.com/8",             "example.com",        "443", false},
    {"x:y:z",                     "x",                  "443", false},
    {"garbage!, ok.org",          "ok.org",             "443", true},
};
// clang-format on

struct url_row {
    std::string_view url;
    std::string_view host;
    std::string_view port;
    bool is_ip;
    std::string_view authorization;
    std::string_view display;
};

// clang-format off
const url_row good_urls[] = {
    {"http://proxy:3128",                    "proxy",      "3128", false, "",                            "http://proxy:3128"},
    {"http://proxy",                         "proxy",      "80",   false, "",                            "http://proxy:80"},
    {"http://proxy/",                        "proxy",      "80",   false, "",                            "http://proxy:80"},
    {"HTTP://Proxy.Corp:8080/",              "Proxy.Corp", "8080", false, "",                            "http://Proxy.Corp:8080"},
    {"  http://proxy:3128 ",                 "proxy",      "3128", false, "",                            "http://proxy:3128"},
    {"proxy:3128",                           "proxy",      "3128", false, "",                            "http://proxy:3128"},
    {"localhost:3128",                       "localhost",  "3128", false, "",                            "http://localhost:3128"},
    {"proxy",                                "proxy",      "80",   false, "",                            "http://proxy:80"},
    {"10.0.0.5:3128",                        "10.0.0.5",   "3128", true,  "",                            "http://10.0.0.5:3128"},
    {"http://[::1]:3128",                    "::1",        "3128", true,  "",                            "http://[::1]:3128"},
    {"[fd00::5]:3128",                       "fd00::5",    "3128", true,  "",                            "http://[fd00::5]:3128"},
    {"http://us%40er:p%3Ass@proxy:3128",     "proxy",      "3128", false, "Basic dXNAZXI6cDpzcw==",      "http://proxy:3128"},
    {"http://user:pass@proxy",               "proxy",      "80",   false, "Basic dXNlcjpwYXNz",          "http://proxy:80"},
    {"http://bob@proxy:3128",                "proxy",      "3128", false, "Basic Ym9iOg==",              "http://proxy:3128"},
    {"user:pass@proxy:3128",                 "proxy",      "3128", false, "Basic dXNlcjpwYXNz",          "http://proxy:3128"},
    {"http://us:er:pw@proxy",                "proxy",      "80",   false, "Basic dXM6ZXI6cHc=",          "http://proxy:80"}, // ':' in the password
    {"http://@proxy:3128",                   "proxy",      "3128", false, "",                            "http://proxy:3128"},
};
// clang-format on

struct bad_url_row {
    std::string_view url;
    error expected;
};

// clang-format off
const bad_url_row bad_urls[] = {
    {"https://proxy:3128",             error::proxy_unsupported},
    {"HTTPS://user:pw@proxy",          error::proxy_unsupported},
    {"socks5://proxy:1080",            error::proxy_unsupported},
    {"socks5h://user:pw@proxy:1080",   error::proxy_unsupported},
    {"socks4a://proxy",                error::proxy_unsupported},
    {"ftp://proxy",                    error::proxy_unsupported},
    {"",                               error::proxy_url_invalid},
    {"   ",                            error::proxy_url_invalid},
    {"http://",                        error::proxy_url_invalid},
    {"http://:3128",                   error::proxy_url_invalid},
    {"http://user:pw@:3128",           error::proxy_url_invalid},
    {"http://proxy:0",                 error::proxy_url_invalid},
    {"http://proxy:65536",             error::proxy_url_invalid},
    {"http://proxy:99999999999",       error::proxy_url_invalid},
    {"http://proxy:",                  error::proxy_url_invalid},
    {"http://proxy:abc",               error::proxy_url_invalid},
    {"http://proxy:3128/path",         error::proxy_url_invalid},
    {"http://proxy:3128//",            error::proxy_url_invalid},
    {"http://proxy:3128/?q=1",         error::proxy_url_invalid},
    {"http://proxy:3128#frag",         error::proxy_url_invalid},
    {"http://us%3Aer:pw@proxy",        error::proxy_url_invalid}, // a ':' in the decoded user name
    {"http://pr oxy:3128",             error::proxy_url_invalid},
    {"http://pr%20oxy:3128",           error::proxy_url_invalid},
    {"http://pr%0D%0Aoxy:3128",        error::proxy_url_invalid},
    {"http://[::1:3128",               error::proxy_url_invalid},
};
// clang-format on

endpoint target(std::string host, std::string port, bool tls, bool is_ip = false)
{
    endpoint ep;
    ep.host = std::move(host);
    ep.port = std::move(port);
    ep.tls = tls;
    ep.host_is_ip = is_ip;
    return ep;
}

proxy_environment env_of(const std::map<std::string, std::string>& vars)
{
    return proxy_environment::read([&](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    });
}

/// The proxy select_proxy picks, as "host:port", or "direct"; failures fail the test.
std::string chosen(const endpoint& t, const proxy_settings& s, const proxy_environment& env)
{
    diagnostics diag;
    auto r = select_proxy(t, s, env, diag);
    BOOST_TEST_REQUIRE(r.has_value(), "select_proxy failed: " << r.error().message() << " " << diag);
    if (!*r)
        return "direct";
    return (*r)->host + ":" + (*r)->port;
}

} // namespace

BOOST_AUTO_TEST_SUITE(proxy_rules)

BOOST_AUTO_TEST_CASE(no_proxy_table)
{
    BOOST_TEST(std::size(no_proxy_rows) >= 40u);
    for (const auto& row : no_proxy_rows) {
        BOOST_TEST_CONTEXT("list \"" << row.list << "\", host " << row.host << " port " << row.port)
        {
            BOOST_TEST(no_proxy_list::parse(row.list).matches(row.host, row.port) == row.direct);
        }
    }
}

BOOST_AUTO_TEST_CASE(no_proxy_skips_unusable_entries)
{
    BOOST_TEST(no_proxy_list::parse("").empty());
    BOOST_TEST(no_proxy_list::parse(" , ,\t").empty());
    auto bad = no_proxy_list::parse("10.0.0.0/33 ::/129 a*b [::1 x:y:z host:0 host:99999 example.com/8 [::1]x *.");
    BOOST_TEST(bad.empty());
    BOOST_TEST(bad.size() == 0u);
    auto mixed = no_proxy_list::parse("10.0.0.0/33, example.com, .corp:8443, 10.0.0.0/8, [::1]:443, *");
    BOOST_TEST(!mixed.empty());
    BOOST_TEST(mixed.size() == 5u);
}

BOOST_AUTO_TEST_CASE(parse_proxy_url_accepts)
{
    for (const auto& row : good_urls) {
        BOOST_TEST_CONTEXT("url \"" << row.url << "\"")
        {
            diagnostics diag;
            auto r = parse_proxy_url(row.url, "test", "", "", diag);
            BOOST_TEST_REQUIRE(r.has_value(), r.error().message() << " " << diag);
            BOOST_TEST(r->host == row.host);
            BOOST_TEST(r->port == row.port);
            BOOST_TEST(r->host_is_ip == row.is_ip);
            BOOST_TEST(r->authorization == row.authorization);
            BOOST_TEST(r->display == row.display);
            BOOST_TEST(diag.client_message().empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(parse_proxy_url_rejects)
{
    for (const auto& row : bad_urls) {
        BOOST_TEST_CONTEXT("url \"" << row.url << "\"")
        {
            diagnostics diag;
            auto r = parse_proxy_url(row.url, "environment variable https_proxy", "", "", diag);
            BOOST_TEST_REQUIRE(r.has_error());
            BOOST_TEST(r.error() == make_error_code(row.expected), r.error().message());
            BOOST_TEST(diag.client_message().starts_with("proxy URL from environment variable https_proxy: "),
                       diag.client_message());
        }
    }
}

BOOST_AUTO_TEST_CASE(parse_proxy_url_messages_never_carry_credentials)
{
    const std::string_view with_secret[] = {
        "https://alice:Sup3rSecretPw@proxy:3128",
        "socks5://alice:Sup3rSecretPw@proxy",
        "http://alice:Sup3rSecretPw@proxy:3128/path",
        "http://alice:Sup3rSecretPw@proxy:99999",
        "http://alice:Sup3rSecretPw@:3128",
        "http://alice:Sup3rSecretPw@proxy:3128?x",
        "http://al%3Aice:Sup3rSecretPw@proxy",
        "http://alice:Sup3rSecretPw@pr oxy",
        "alice:Sup3rSecretPw@proxy:3128/x",
    };
    for (std::size_t i = 0; i < std::size(with_secret); ++i) {
        BOOST_TEST_CONTEXT("url #" << i)
        {
            const auto url = with_secret[i];
            diagnostics diag;
            auto r = parse_proxy_url(url, "auth_config.proxy.url", "", "", diag);
            BOOST_TEST_REQUIRE(r.has_error());
            BOOST_TEST(!diag.client_message().empty());
            BOOST_TEST(diag.client_message().find("Sup3rSecretPw") == std::string_view::npos);
            BOOST_TEST(diag.client_message().find("alice") == std::string_view::npos);
        }
    }
    // A good URL's display never shows the credentials either.
    diagnostics diag;
    auto ok = parse_proxy_url("http://alice:Sup3rSecretPw@proxy:3128", "auth_config.proxy.url", "", "", diag);
    BOOST_TEST_REQUIRE(ok.has_value());
    BOOST_TEST(ok->display == "http://proxy:3128");
}

BOOST_AUTO_TEST_CASE(explicit_credentials_replace_the_url_user_info)
{
    diagnostics diag;
    auto r = parse_proxy_url("http://user:pass@proxy:3128", "auth_config.proxy.url", "alice", "s3cret", diag);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->authorization == "Basic YWxpY2U6czNjcmV0");
    // Only a password given: it still replaces the URL's pair (user name empty).
    auto p = parse_proxy_url("http://user:pass@proxy:3128", "auth_config.proxy.url", "", "pw", diag);
    BOOST_TEST_REQUIRE(p.has_value());
    BOOST_TEST(p->authorization == "Basic OnB3");
    // Not percent-decoded: explicit credentials are taken literally.
    auto lit = parse_proxy_url("http://proxy:3128", "auth_config.proxy.url", "carol", "pw", diag);
    BOOST_TEST_REQUIRE(lit.has_value());
    BOOST_TEST(lit->authorization == "Basic Y2Fyb2w6cHc=");
    auto colon = parse_proxy_url("http://proxy:3128", "auth_config.proxy.url", "ca:rol", "pw", diag);
    BOOST_TEST(colon.has_error());
    BOOST_TEST(colon.error() == make_error_code(error::proxy_url_invalid));
}

BOOST_AUTO_TEST_CASE(environment_precedence)
{
    struct row {
        std::map<std::string, std::string> vars;
        std::string https, https_source, http, http_source, all, all_source, no_proxy;
    };
    // clang-format off
    const row rows[] = {
        {{},                                                       "", "", "", "", "", "", ""},
        {{{"https_proxy", "a:1"}, {"HTTPS_PROXY", "b:2"}},         "a:1", "https_proxy", "", "", "", "", ""},
        {{{"HTTPS_PROXY", "b:2"}},                                 "b:2", "HTTPS_PROXY", "", "", "", "", ""},
        {{{"https_proxy", ""}, {"HTTPS_PROXY", "b:2"}},            "b:2", "HTTPS_PROXY", "", "", "", "", ""},
        {{{"https_proxy", "  "}, {"HTTPS_PROXY", "b:2"}},          "b:2", "HTTPS_PROXY", "", "", "", "", ""},
        {{{"http_proxy", "c:3"}},                                  "", "", "c:3", "http_proxy", "", "", ""},
        {{{"HTTP_PROXY", "evil:666"}},                             "", "", "", "", "", "", ""},
        {{{"http_proxy", "c:3"}, {"HTTP_PROXY", "evil:666"}},      "", "", "c:3", "http_proxy", "", "", ""},
        {{{"all_proxy", "d:4"}, {"ALL_PROXY", "e:5"}},             "", "", "", "", "d:4", "all_proxy", ""},
        {{{"ALL_PROXY", "e:5"}},                                   "", "", "", "", "e:5", "ALL_PROXY", ""},
        {{{"all_proxy", ""}, {"ALL_PROXY", "e:5"}},                "", "", "", "", "e:5", "ALL_PROXY", ""},
        {{{"no_proxy", "a.org"}, {"NO_PROXY", "b.org"}},           "", "", "", "", "", "", "a.org"},
        {{{"NO_PROXY", "b.org"}},                                  "", "", "", "", "", "", "b.org"},
        {{{"no_proxy", ""}, {"NO_PROXY", "b.org"}},                "", "", "", "", "", "", "b.org"},
    };
    // clang-format on
    for (const auto& r : rows) {
        BOOST_TEST_CONTEXT("row " << (&r - rows))
        {
            auto env = env_of(r.vars);
            BOOST_TEST(env.https_proxy == r.https);
            BOOST_TEST(env.https_source == r.https_source);
            BOOST_TEST(env.http_proxy == r.http);
            BOOST_TEST(env.http_source == r.http_source);
            BOOST_TEST(env.all_proxy == r.all);
            BOOST_TEST(env.all_source == r.all_source);
            BOOST_TEST(env.no_proxy == r.no_proxy);
        }
    }
}

BOOST_AUTO_TEST_CASE(select_from_settings)
{
    const auto env = env_of({{"https_proxy", "envproxy:1"}, {"http_proxy", "envproxy:2"}, {"no_proxy", "env.org"}});
    proxy_settings none{"NONE", "", "", {}};
    BOOST_TEST(chosen(target("api.example.com", "443", true), none, env) == "direct");
    BOOST_TEST(chosen(target("api.example.com", "80", false), none, env) == "direct");

    proxy_settings expl{"http://corp:3128", "", "", {}};
    BOOST_TEST(chosen(target("api.example.com", "443", true), expl, env) == "corp:3128");
    BOOST_TEST(chosen(target("api.example.com", "80", false), expl, env) == "corp:3128");
    // The explicit proxy serves loopback targets too.
    BOOST_TEST(chosen(target("localhost", "8443", true), expl, env) == "corp:3128");
    BOOST_TEST(chosen(target("127.0.0.1", "8443", true, true), expl, env) == "corp:3128");
    BOOST_TEST(chosen(target("::1", "8443", true, true), expl, env) == "corp:3128");
    // Without settings.no_proxy, the environment's list applies.
    BOOST_TEST(chosen(target("api.env.org", "443", true), expl, env) == "direct");

    proxy_settings own_list{"http://corp:3128", "example.com, 127.0.0.0/8", "", {}};
    BOOST_TEST(chosen(target("api.example.com", "443", true), own_list, env) == "direct");
    BOOST_TEST(chosen(target("127.0.0.1", "443", true, true), own_list, env) == "direct");
    BOOST_TEST(chosen(target("api.env.org", "443", true), own_list, env) == "corp:3128"); // replaces env's list
}

BOOST_AUTO_TEST_CASE(select_from_environment)
{
    const proxy_settings defaults;
    const auto env = env_of({{"https_proxy", "secure:1"}, {"http_proxy", "plain:2"}, {"ALL_PROXY", "all:3"},
                             {"NO_PROXY", "internal.corp,10.0.0.0/8"}});
    BOOST_TEST(chosen(target("api.example.com", "443", true), defaults, env) == "secure:1");
    BOOST_TEST(chosen(target("api.example.com", "80", false), defaults, env) == "plain:2");
    BOOST_TEST(chosen(target("auth.internal.corp", "443", true), defaults, env) == "direct");
    BOOST_TEST(chosen(target("10.3.3.3", "443", true, true), defaults, env) == "direct");
    // Loopback never uses an environment proxy.
    for (auto host : {"localhost", "LOCALHOST.", "auth.localhost", "127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"})
        BOOST_TEST(chosen(target(host, "8443", true), defaults, env) == "direct", host);

    // all_proxy is the fallback for both schemes.
    const auto only_all = env_of({{"all_proxy", "all:3"}, {"HTTP_PROXY", "evil:666"}});
    BOOST_TEST(chosen(target("api.example.com", "443", true), defaults, only_all) == "all:3");
    BOOST_TEST(chosen(target("api.example.com", "80", false), defaults, only_all) == "all:3");
    // HTTP_PROXY alone is never used.
    const auto only_upper_http = env_of({{"HTTP_PROXY", "evil:666"}});
    BOOST_TEST(chosen(target("api.example.com", "80", false), defaults, only_upper_http) == "direct");
    // An https proxy variable does not serve http targets, and vice versa.
    const auto only_https = env_of({{"HTTPS_PROXY", "secure:1"}});
    BOOST_TEST(chosen(target("api.example.com", "80", false), defaults, only_https) == "direct");
    BOOST_TEST(chosen(target("api.example.com", "443", true), defaults, only_https) == "secure:1");
    // settings.no_proxy overrides the environment's list.
    proxy_settings own_list{"", "api.example.com", "", {}};
    BOOST_TEST(chosen(target("api.example.com", "443", true), own_list, env) == "direct");
    BOOST_TEST(chosen(target("auth.internal.corp", "443", true), own_list, env) == "secure:1");
    BOOST_TEST(chosen(target("x.org", "443", true), defaults, env_of({})) == "direct");
}

BOOST_AUTO_TEST_CASE(select_carries_credentials_and_errors)
{
    // Settings credentials apply to an environment proxy as well.
    proxy_settings creds{"", "", "alice", tetrapak::secret("s3cret")};
    diagnostics diag;
    auto r = select_proxy(target("api.example.com", "443", true), creds,
                          env_of({{"https_proxy", "http://u:p@secure:1"}}), diag);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST_REQUIRE(r->has_value());
    BOOST_TEST((*r)->authorization == "Basic YWxpY2U6czNjcmV0");

    // A bad environment proxy names its variable...
    auto bad_env = env_of({{"HTTPS_PROXY", "socks5://u:hunter2@s:1"}});
    auto e = select_proxy(target("api.example.com", "443", true), proxy_settings{}, bad_env, diag);
    BOOST_TEST_REQUIRE(e.has_error());
    BOOST_TEST(e.error() == make_error_code(error::proxy_unsupported));
    BOOST_TEST(diag.client_message().starts_with("proxy URL from environment variable HTTPS_PROXY: "));
    BOOST_TEST(diag.client_message().find("hunter2") == std::string_view::npos);
    // ...but is harmless for targets that do not use it.
    BOOST_TEST(chosen(target("localhost", "443", true), proxy_settings{}, bad_env) == "direct");
    BOOST_TEST(chosen(target("api.example.com", "80", false), proxy_settings{}, bad_env) == "direct");

    // A bad explicit proxy is an error for every target, no_proxy-matched ones included.
    proxy_settings bad{"http://corp:3128/path", "*", "", {}};
    diagnostics d2;
    auto x = select_proxy(target("api.example.com", "443", true), bad, proxy_environment{}, d2);
    BOOST_TEST_REQUIRE(x.has_error());
    BOOST_TEST(x.error() == make_error_code(error::proxy_url_invalid));
    BOOST_TEST(d2.client_message().starts_with("proxy URL from auth_config.proxy.url: "));
}

BOOST_AUTO_TEST_CASE(loopback_hosts)
{
    for (auto host : {"localhost", "LocalHost", "localhost.", "a.localhost", "x.y.LOCALHOST", "127.0.0.1",
                      "127.255.255.254", "::1", "[::1]", "::ffff:127.0.0.1"})
        BOOST_TEST(is_loopback_host(host), host);
    for (auto host : {"", "localhost.example.com", "notlocalhost", "xlocalhost", "128.0.0.1", "10.0.0.1", "::2",
                      "::", "::ffff:10.0.0.1", "0.0.0.0", "example.com"})
        BOOST_TEST(!is_loopback_host(host), host);
}

BOOST_AUTO_TEST_SUITE_END()
