// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include <tetrapak/config.hpp>
#include <tetrapak/dpop.hpp>
#include <tetrapak/metrics.hpp>
#include <tetrapak/http_client_options.hpp>
#include <tetrapak/trace.hpp>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <ostream>
#include <string>

namespace tetrapak {

std::string_view to_string(grant_type g) noexcept
{
    switch (g) {
    case grant_type::inherited: return "inherited";
    case grant_type::none: return "none";
    case grant_type::client_credentials: return "client_credentials";
    case grant_type::token_exchange: return "token_exchange";
    case grant_type::automatic: return "automatic";
    case grant_type::jwt_bearer: return "jwt_bearer";
    }
    return "unknown";
}

std::string_view to_string(client_auth_method m) noexcept
{
    switch (m) {
    case client_auth_method::client_secret_basic: return "client_secret_basic";
    case client_auth_method::client_secret_post: return "client_secret_post";
    case client_auth_method::client_secret_jwt: return "client_secret_jwt";
    case client_auth_method::private_key_jwt: return "private_key_jwt";
    case client_auth_method::tls_client_auth: return "tls_client_auth";
    case client_auth_method::self_signed_tls_client_auth: return "self_signed_tls_client_auth";
    }
    return "unknown";
}

std::string_view to_string(basic_credentials_encoding e) noexcept
{
    switch (e) {
    case basic_credentials_encoding::rfc6749: return "rfc6749";
    case basic_credentials_encoding::raw: return "raw";
    case basic_credentials_encoding::automatic: return "automatic";
    }
    return "unknown";
}

std::string_view to_string(step s) noexcept
{
    switch (s) {
    case step::discover: return "discover";
    case step::resolve: return "resolve";
    case step::connect: return "connect";
    case step::handshake: return "handshake";
    case step::write: return "write";
    case step::read_header: return "read_header";
    case step::read_body: return "read_body";
    case step::connection_wait: return "connection_wait";
    case step::proxy_connect: return "proxy_connect";
    case step::parse: return "parse";
    }
    return "unknown";
}

std::ostream& operator<<(std::ostream& os, grant_type g) { return os << to_string(g); }
std::ostream& operator<<(std::ostream& os, client_auth_method m) { return os << to_string(m); }
std::ostream& operator<<(std::ostream& os, basic_credentials_encoding e) { return os << to_string(e); }

std::ostream& operator<<(std::ostream& os, const secret& s)
{
    return os << (s.empty() ? "<empty>" : "<redacted>");
}

namespace {

/// A proxy or Redis URL fit to print: its user info (credentials) removed.
/// Text with an '@' left elsewhere (no scheme, an unencoded '/' in a
/// password) may still hold a password: it is not printed at all.
std::string without_credentials(std::string_view url)
{
    auto u = boost::urls::parse_uri_reference(url);
    if (!u)
        return "<not a URL>";
    boost::urls::url copy(*u);
    const bool had_userinfo = copy.has_userinfo();
    copy.remove_userinfo();
    copy.remove_query(); // e.g. ?password=...
    copy.remove_fragment();
    if (copy.buffer().find('@') != std::string_view::npos)
        return "<hidden: not a URL with its credentials in the user info>";
    return std::string(copy.buffer()) + (had_userinfo ? " (credentials hidden)" : "");
}

/// Where assertions come from and which DPoP key: paths and thumbprints, never contents or keys.
void print_sender_and_assertions(std::ostream& os, const auth_config& c)
{
    auto source = [&](const char* name, const external_assertion& a) {
        if (!a.file.empty())
            os << ", " << name << "_file=\"" << a.file << '"';
        else if (a.callback)
            os << ", " << name << "=callback";
    };
    source("client_assertion", c.client_assertion);
    source("jwt_bearer_assertion", c.jwt_bearer_assertion);
    if (!c.jwt_bearer_subject.empty())
        os << ", jwt_bearer_subject=\"" << c.jwt_bearer_subject << '"';
    if (c.dpop.enabled) {
        os << ", dpop=";
        if (c.dpop.key)
            os << *c.dpop.key;
        else
            os << "the service's key";
    }
}

} // namespace

std::ostream& operator<<(std::ostream& os, const auth_config& c)
{
    os << "auth_config{grant=" << c.grant << ", client_id=\"" << c.client_id << "\", client_secret=" << c.client_secret
       << ", auth_method=" << c.auth_method;
    if (c.auth_method == client_auth_method::client_secret_basic)
        os << ", basic_credentials=" << c.basic_credentials;
    os << ", token_endpoint=\"" << c.token_endpoint << "\", scope=\"";
    bool first = true;
    for (auto& s : c.scope) {
        os << (first ? "" : " ") << s;
        first = false;
    }
    os << '"';
    if (!c.resource.empty())
        os << ", resource=\"" << c.resource << '"';
    if (!c.audience.empty())
        os << ", audience=\"" << c.audience << '"';
    if (!c.proxy.url.empty())
        os << ", proxy=\"" << without_credentials(c.proxy.url) << '"';
    if (!c.proxy.no_proxy.empty())
        os << ", no_proxy=\"" << c.proxy.no_proxy << '"';
    print_sender_and_assertions(os, c);
    if (c.fleet.enabled())
        os << ", fleet=\"" << without_credentials(c.fleet.redis_url) << '"';
    if (c.tls.insecure_disable_verification_i_know_what_i_am_doing)
        os << ", TLS-VERIFICATION-DISABLED";
    return os << '}';
}

std::ostream& operator<<(std::ostream& os, const http_client_options& o)
{
    os << "http_client_options{";
    if (o.auth_config)
        os << *o.auth_config;
    else
        os << "auth_config=<service default>";
    return os << ", actor_token=" << o.actor_token << ", force_authorization=" << (o.force_authorization ? "true" : "false")
              << '}';
}

std::ostream& operator<<(std::ostream& os, const trace_event& e)
{
    os << to_string(e.step) << (e.finished ? " finished" : " started");
    if (e.finished) {
        os << " in " << std::chrono::duration_cast<std::chrono::microseconds>(e.elapsed).count() << " us";
        if (e.ec)
            os << " with " << e.ec.category().name() << ':' << e.ec.value() << " (" << e.ec.message() << ')';
    }
    return os;
}

std::string_view to_string(metric m) noexcept
{
    switch (m) {
    case metric::cache_hit: return "cache_hit";
    case metric::cache_miss: return "cache_miss";
    case metric::coalesced: return "coalesced";
    case metric::renewal_started: return "renewal_started";
    case metric::renewal_succeeded: return "renewal_succeeded";
    case metric::renewal_failed: return "renewal_failed";
    case metric::retry: return "retry";
    case metric::failure: return "failure";
    case metric::fetch: return "fetch";
    case metric::retry_after_honoured: return "retry_after_honoured";
    case metric::connection_opened: return "connection_opened";
    case metric::connection_reused: return "connection_reused";
    case metric::tls_resumed: return "tls_resumed";
    case metric::connection_wait: return "connection_wait";
    case metric::fleet_hit: return "fleet_hit";
    case metric::fleet_stored: return "fleet_stored";
    case metric::fleet_waited: return "fleet_waited";
    case metric::fleet_unavailable: return "fleet_unavailable";
    case metric::fleet_breaker: return "fleet_breaker";
    case metric::fleet_rejected: return "fleet_rejected";
    case metric::fleet_dropped: return "fleet_dropped";
    }
    return "unknown";
}

std::ostream& operator<<(std::ostream& os, const metrics_event& e)
{
    os << to_string(e.metric);
    if (e.elapsed.count())
        os << " " << std::chrono::duration_cast<std::chrono::microseconds>(e.elapsed).count() << " us";
    if (e.ec)
        os << " " << e.ec.category().name() << ':' << e.ec.value() << " (" << e.ec.message() << ')';
    return os;
}

std::ostream& operator<<(std::ostream& os, const service_stats& s)
{
    os << '{';
    for (std::size_t i = 0; i < metric_count; ++i)
        os << (i ? ", " : "") << to_string(static_cast<metric>(i)) << '=' << s.counts[i];
    return os << '}';
}

} // namespace tetrapak
