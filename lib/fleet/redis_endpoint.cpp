// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "redis_endpoint.hpp"

#include "../detail/text.hpp"
#include "../detail/url_host.hpp"

#include <tetrapak/error.hpp>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <charconv>

namespace tetrapak::detail {

namespace {
boost::system::result<redis_endpoint> refuse(diagnostics& diag, std::string why)
{
    diagnostics_access::client_message(diag) = "fleet.redis_url: " + why +
                                               " (expected redis://[user:password@]host[:port][/db] or rediss://...)";
    return error::config_invalid_value;
}

/// The database number of a path "" or "/N".
bool read_database(std::string_view path, int& db)
{
    if (path.empty() || path == "/")
        return true;
    path.remove_prefix(1);
    auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
    return ec == std::errc() && end == path.data() + path.size() && db >= 0 && db < 100000;
}
} // namespace

boost::system::result<redis_endpoint> read_redis_endpoint(const fleet_settings& s, diagnostics& diag)
{
    auto parsed = boost::urls::parse_absolute_uri(s.redis_url);
    if (!parsed)
        return refuse(diag, "not a URL");
    const boost::urls::url_view u = *parsed;
    redis_endpoint ep;
    if (iequals(u.scheme(), "rediss"))
        ep.tls = true;
    else if (!iequals(u.scheme(), "redis"))
        return refuse(diag, "the scheme \"" + std::string(u.scheme()) + "\" is not redis or rediss");
    bool is_ip = false;
    if (!read_url_host(u, ep.host, is_ip) || ep.host.empty())
        return refuse(diag, "no host");
    if (u.has_port()) {
        // port_number() wraps modulo 65536 in Boost.URL 1.81: read the digits.
        const auto text = u.port();
        unsigned port = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
        if (ec != std::errc() || end != text.data() + text.size() || port == 0 || port > 65535)
            return refuse(diag, "the port is not 1..65535");
        ep.port = std::to_string(port);
    }
    if (!read_database(u.encoded_path(), ep.database))
        return refuse(diag, "the path is not a database number (/0, /1, ...)");
    if (u.has_query() || u.has_fragment())
        return refuse(diag, "a query or fragment is not supported");
    if (u.has_userinfo()) {
        ep.username = u.user();
        ep.password = u.password();
    }
    if (!s.username.empty())
        ep.username = s.username;
    if (!s.password.empty())
        ep.password = std::string(s.password.reveal());
    if (!ep.username.empty() && ep.password.empty())
        return refuse(diag, "a user without a password");
    return ep;
}

} // namespace tetrapak::detail
