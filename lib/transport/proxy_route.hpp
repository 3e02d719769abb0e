// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_TRANSPORT_PROXY_ROUTE_HPP
#define TETRAPAK_LIB_TRANSPORT_PROXY_ROUTE_HPP

#include "proxy_rules.hpp"

#include <boost/system/error_code.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tetrapak::detail {

/// The proxy each target goes through, decided once per target (scheme, host,
/// port) from a service's settings and the environment read when the service
/// was made: a fetch pays a map lookup, not a NO_PROXY parse. Thread-safe.
class proxy_router {
public:
    void configure(proxy_settings settings, proxy_environment env);

    /// Null: connect directly. A bad proxy URL fails every request it would
    /// carry, with the same code and message.
    boost::system::result<std::shared_ptr<const proxy_endpoint>> route(const endpoint& target, diagnostics& diag);

private:
    struct decision {
        std::shared_ptr<const proxy_endpoint> proxy;
        boost::system::error_code ec;
        std::string message;
    };
    decision decide(const endpoint& target) const;

    proxy_settings settings_;
    proxy_environment env_;
    std::mutex mtx_;
    std::unordered_map<std::string, decision> decided_;
};

} // namespace tetrapak::detail

#endif
