// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_DETAIL_URL_HOST_HPP
#define TETRAPAK_LIB_DETAIL_URL_HOST_HPP

#include <boost/url/url_view.hpp>

#include <string>

namespace tetrapak::detail {

/// The host of `u` as a connection needs it: an IP literal in canonical form
/// (without brackets) or the decoded name, and whether it is an IP literal.
/// False for the forms no connection is made to (IPvFuture, no host).
inline bool read_url_host(const boost::urls::url_view& u, std::string& host, bool& is_ip)
{
    switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
        host = u.host_ipv4_address().to_string();
        is_ip = true;
        return true;
    case boost::urls::host_type::ipv6:
        host = u.host_ipv6_address().to_string();
        is_ip = true;
        return true;
    case boost::urls::host_type::name:
        host = u.host();
        is_ip = false;
        return true;
    default:
        return false;
    }
}

} // namespace tetrapak::detail

#endif
