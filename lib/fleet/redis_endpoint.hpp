// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_FLEET_REDIS_ENDPOINT_HPP
#define TETRAPAK_LIB_FLEET_REDIS_ENDPOINT_HPP

// Where the shared store is and how to log in: read from fleet_settings.
// Pure (no I/O).

#include <tetrapak/diagnostics.hpp>
#include <tetrapak/fleet.hpp>

#include <boost/system/result.hpp>

#include <string>

namespace tetrapak::detail {

struct redis_endpoint {
    bool tls = false;  ///< rediss://
    std::string host;  ///< a name or an IP literal (no brackets)
    std::string port = "6379";
    std::string username; ///< ACL user; empty: AUTH with the password alone
    std::string password; ///< a secret; empty: no AUTH
    int database = 0;
};

/// The endpoint of `s.redis_url` (redis:// or rediss://, [user[:password]@]
/// host[:port][/db]; user info percent-decoded), with `s.username` and
/// `s.password` taking the place of the URL's when set. Fails with
/// error::config_invalid_value and a message naming fleet.redis_url (never
/// the password) for another scheme, no host, a bad port or database.
boost::system::result<redis_endpoint> read_redis_endpoint(const fleet_settings& s, diagnostics& diag);

} // namespace tetrapak::detail

#endif
