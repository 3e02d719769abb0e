// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "proxy_route.hpp"

namespace tetrapak::detail {

namespace {

/// Targets remembered before the table starts over (authorized_client may
/// reach many hosts; the token endpoints are a handful).
constexpr std::size_t max_decisions = 1024;

} // namespace

void proxy_router::configure(proxy_settings settings, proxy_environment env)
{
    std::lock_guard lock(mtx_);
    settings_ = std::move(settings);
    env_ = std::move(env);
    decided_.clear();
}

proxy_router::decision proxy_router::decide(const endpoint& target) const
{
    diagnostics d;
    auto r = select_proxy(target, settings_, env_, d);
    if (!r)
        return {nullptr, r.error(), std::string(d.client_message())};
    if (!*r)
        return {};
    return {std::make_shared<const proxy_endpoint>(std::move(**r)), {}, {}};
}

boost::system::result<std::shared_ptr<const proxy_endpoint>> proxy_router::route(const endpoint& target,
                                                                                 diagnostics& diag)
{
    std::string key = (target.tls ? "https://" : "http://") + target.host + ":" + target.port;
    std::lock_guard lock(mtx_);
    auto it = decided_.find(key);
    if (it == decided_.end()) {
        if (decided_.size() >= max_decisions)
            decided_.clear();
        it = decided_.emplace(std::move(key), decide(target)).first;
    }
    if (it->second.ec) {
        diagnostics_access::client_message(diag) = it->second.message;
        return it->second.ec;
    }
    return it->second.proxy;
}

} // namespace tetrapak::detail
