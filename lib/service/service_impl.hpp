// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_SERVICE_IMPL_HPP
#define TETRAPAK_LIB_SERVICE_SERVICE_IMPL_HPP

// The state behind an authorization_service, shared by its operations (each
// keeps it alive until it completes).

#include "basic_form_memo.hpp"
#include "discovery.hpp"
#include "endpoint_memo.hpp"
#include "token_store.hpp"

#include "../cache/token_cache.hpp"
#include "../detail/counters.hpp"
#include "../fleet/fleet_store.hpp"
#include "../transport/http_exchange.hpp"

#include <tetrapak/authorization_service.hpp>
#include <tetrapak/dpop.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <mutex>

namespace tetrapak::detail {

struct service_impl {
    explicit service_impl(const auth_config& cfg)
        : counters(std::make_shared<event_counters>()), tokens(cfg.cache.max_entries)
    {
    }

    boost::asio::any_io_executor ex;
    boost::asio::any_completion_executor completion_ex; ///< `ex`, converted once (see waiter)
    std::unique_ptr<boost::asio::ssl::context> own_tls;
    std::shared_ptr<transport_context> transport;
    std::shared_ptr<const auth_config> config;
    digest own_config_digest{};
    config_digest_memo digests; ///< of the configurations that calls bring
    grant_resolver resolver;
    std::shared_ptr<event_counters> counters;
    token_store tokens;
    discovery_cache discovery;
    endpoint_memo token_endpoint;
    basic_form_memo basic_forms; ///< the client_secret_basic form each endpoint and client accepted
    std::shared_ptr<fleet_store> fleet; ///< the shared store (fleet_settings), or null

private:
    std::once_flag own_dpop_once_;
    std::shared_ptr<const dpop_key> own_dpop_key_; ///< written once, under own_dpop_once_

public:

    void report(metric m, boost::system::error_code ec = {}, std::chrono::steady_clock::duration elapsed = {})
    {
        counters->report(m, ec, elapsed);
    }

    /// The DPoP proof key for `cfg`: its own, or the key this service
    /// generates (ES256, in memory) the first time a configuration without
    /// one asks. Null when DPoP is off, or when generating failed (the
    /// request then fails with error::key_load_failed).
    std::shared_ptr<const dpop_key> dpop_key_for(const auth_config& cfg)
    {
        if (!cfg.dpop.enabled)
            return nullptr;
        if (cfg.dpop.key)
            return cfg.dpop.key;
        std::call_once(own_dpop_once_, [this] {
            if (auto k = dpop_key::generate("ES256"))
                own_dpop_key_ = std::move(*k);
        });
        return own_dpop_key_;
    }

    /// The limits of an exchange made for `cfg` (the pool's settings are the service's).
    exchange_limits limits_for(const auth_config& cfg) const
    {
        return {cfg.timeouts, cfg.max_response_size, cfg.max_header_size,
                cfg.tls.insecure_disable_verification_i_know_what_i_am_doing, config->connections};
    }
};

} // namespace tetrapak::detail

#endif
