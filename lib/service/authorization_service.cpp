// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The facade: a call is keyed (grant choice, cache key), looked up in the
// token store, and either served from the cache (through the caller's
// executor, never inline), joined to the fetch in flight for its key, or
// given a new token_job (single-flight).

#include "hot_tokens.hpp"
#include "service_impl.hpp"
#include "token_job.hpp"

#include "../fleet/fleet_plan.hpp"
#include "../transport/tls_context.hpp"

#include <tetrapak/authorization_service.hpp>
#include <tetrapak/error.hpp>

#include <cstdlib>

namespace tetrapak {
namespace asio = boost::asio;
using boost::system::error_code;

namespace detail {
namespace {

void init(service_impl& impl, asio::any_io_executor ex, asio::ssl::context* tls, auth_config config)
{
    impl.ex = std::move(ex);
    impl.completion_ex = asio::any_completion_executor(impl.ex);
    impl.transport = std::make_shared<transport_context>();
    impl.transport->ex = impl.ex;
    impl.transport->tls = tls ? tls : impl.own_tls.get();
    impl.transport->counters = impl.counters.get();
    impl.transport->proxies.configure(config.proxy, proxy_environment::read(&std::getenv));
    impl.own_config_digest = config_digest(config);
    impl.config = std::make_shared<const auth_config>(std::move(config));
}

/// The shared store of the service's fleet, when configured. Another
/// instance's renewal or invalidation drops this one's copy of a token.
void start_fleet(const std::shared_ptr<service_impl>& impl)
{
    const auto& settings = impl->config->fleet;
    if (!settings.enabled())
        return;
    impl->fleet = fleet_store::make(impl->ex, settings, impl->counters);
    std::weak_ptr<service_impl> weak = impl;
    impl->fleet->start([weak](const cache_key& key) {
        if (auto svc = weak.lock())
            svc->tokens.with_shard(key, [&](token_store::shard& s) { s.cache.invalidate(key); });
    });
}

/// The grant for `options` and the cache key it is fetched under.
struct keyed_grant {
    /// options.auth_config or the service's: referred to, so that a cache hit
    /// touches no reference count shared with other threads.
    const std::shared_ptr<const auth_config>* cfg;
    grant_type grant;
    cache_key key;
};

boost::system::result<keyed_grant> key_of(service_impl& impl, const http_client_options& options, diagnostics& d)
{
    const auto& cfg = options.auth_config ? options.auth_config : impl.config;
    auto grant = impl.resolver ? impl.resolver(*cfg, options, d) : resolve_grant(cfg->grant, options.actor_token, d);
    if (grant && cfg->token_endpoint.empty() && cfg->discovery_document_url.empty()) {
        diagnostics_access::client_message(d) = "auth_config.token_endpoint and discovery_document_url are empty";
        grant = error::missing_token_endpoint;
    }
    if (!grant)
        return grant.error();
    // The service's own configuration is immutable; any other is digested once
    // per object and re-digested only when its fields change.
    const digest cd = cfg == impl.config ? impl.own_config_digest : impl.digests.get(cfg);
    return keyed_grant{&cfg, *grant, make_cache_key(cd, *grant, options.actor_token)};
}

} // namespace

/// A call that the cache did not serve (see authorization_service::lookup).
struct pending_call {
    std::shared_ptr<service_impl> impl;
    http_client_options options;
    std::shared_ptr<const auth_config> cfg;
    grant_type grant = grant_type::client_credentials;
    cache_key key{};
    error_code ec; ///< set: the call fails at once (grant choice, configuration), with `diag`
    std::unique_ptr<diagnostics> diag;
};

} // namespace detail

authorization_service::authorization_service(executor_type ex, auth_config config)
    : impl_(std::make_shared<detail::service_impl>(config))
{
    impl_->own_tls = detail::make_tls_context(config.tls);
    detail::init(*impl_, std::move(ex), nullptr, std::move(config));
    detail::start_fleet(impl_);
}

authorization_service::authorization_service(executor_type ex, asio::ssl::context& tls, auth_config config)
    : impl_(std::make_shared<detail::service_impl>(config))
{
    detail::init(*impl_, std::move(ex), &tls, std::move(config));
    detail::start_fleet(impl_);
}

authorization_service::authorization_service(authorization_service&&) noexcept = default;
authorization_service& authorization_service::operator=(authorization_service&&) noexcept = default;
authorization_service::~authorization_service() = default;

authorization_service::executor_type authorization_service::get_executor() const noexcept { return impl_->ex; }

authorization_service::executor_type authorization_service::executor_of(const detail::service_impl& impl) noexcept
{
    return impl.ex;
}

const auth_config& authorization_service::config() const noexcept { return *impl_->config; }

void authorization_service::set_trace(trace_hook hook) { impl_->transport->trace = std::move(hook); }

void authorization_service::set_grant_resolver(grant_resolver resolver) { impl_->resolver = std::move(resolver); }

void authorization_service::set_metrics(metrics_hook hook) { impl_->counters->hook = std::move(hook); }

service_stats authorization_service::stats() const noexcept { return impl_->counters->totals(); }

void authorization_service::pending_deleter::operator()(detail::pending_call* p) const noexcept { delete p; }

bool authorization_service::invalidate(http_client_options options)
{
    diagnostics d;
    auto k = detail::key_of(*impl_, options, d);
    if (!k)
        return false;
    if (impl_->fleet && detail::fleet_shares(**k->cfg))
        impl_->fleet->invalidate(k->key);
    return impl_->tokens.with_shard(k->key, [&](detail::token_store::shard& s) { return s.cache.invalidate(k->key); });
}

void authorization_service::clear_cache() { impl_->tokens.clear(); }

std::size_t authorization_service::cache_size() const { return impl_->tokens.size(); }

authorization_service::pending_ptr authorization_service::lookup(const std::shared_ptr<detail::service_impl>& impl,
                                                                 http_client_options& options, actor_token& hit)
{
    using namespace detail;
    diagnostics d;
    auto k = key_of(*impl, options, d);
    if (!k)
        return pending_ptr(new pending_call{impl, {}, {}, {}, {}, k.error(), std::make_unique<diagnostics>(std::move(d))});
    if ((*k->cfg)->cache.enabled && !options.force_authorization) {
        const auto now = std::chrono::system_clock::now();
        const std::size_t hash = cache_key_hash{}(k->key);
        hot_token_ref hot{impl->tokens.id(), impl->tokens.generation(hash), &k->key, hash};
        if (find_hot_token(hot, now, hit)) {
            impl->report(metric::cache_hit);
            return nullptr;
        }
        std::shared_ptr<token_job> renewal;
        sys_clock::time_point serve_until{};
        bool hot_candidate = false;
        const bool served = impl->tokens.probe_shard(hash, hot.generation, [&](token_store::shard& s) {
            const auto probe = s.cache.probe(k->key, now, hit, &serve_until);
            hot_candidate = probe == token_cache::probe_result::usable;
            if (probe != token_cache::probe_result::renew)
                return probe == token_cache::probe_result::usable;
            // Usable, and this caller starts the one background renewal.
            auto r = s.cache.lookup(k->key, now);
            hit = std::move(r.token);
            if (r.st == token_cache::state::renew) {
                auto& slot = s.inflight[k->key];
                if (!slot.lock()) {
                    renewal = token_job::make(
                        impl, fetch_request{*k->cfg, k->grant, options.actor_token, k->key, std::move(r.refresh_token), true});
                    slot = renewal;
                } else { // a fetch already running renews the entry; if it fails, a later caller renews
                    s.cache.renewal_failed(k->key, now, now);
                }
            }
            return true;
        });
        if (hot_candidate)
            remember_hot_token(hot, hit, now, serve_until);
        if (served) {
            impl->report(metric::cache_hit);
            if (renewal) {
                impl->report(metric::renewal_started);
                renewal->start();
            }
            return nullptr;
        }
    }
    auto cfg = *k->cfg; // before `options` moves: it may be options.auth_config
    return pending_ptr(new pending_call{impl, std::move(options), std::move(cfg), k->grant, k->key, {}, {}});
}

void authorization_service::initiate(const std::shared_ptr<detail::service_impl>& impl, http_client_options options,
                                     diagnostics* diag, asio::any_completion_handler<completion_signature> handler)
{
    using namespace detail;
    actor_token hit;
    auto pending = lookup(impl, options, hit);
    if (pending) {
        initiate_pending(std::move(pending), diag, std::move(handler));
        return;
    }
    auto w = std::make_shared<waiter<actor_token>>(std::move(handler), diag, impl->ex);
    watch_cancellation(w);
    complete_waiter<actor_token>(std::move(w), impl->ex, {}, {}, std::move(hit));
}

namespace detail {
namespace {

/// What initiate_pending decided under the shard lock.
struct pending_decision {
    token_cache::lookup_result hit;
    std::shared_ptr<token_job> job;     ///< a new fetch this caller waits on
    std::shared_ptr<token_job> renewal; ///< a background renewal to start
    bool joined = false;                ///< joined the fetch in flight
};

/// The cache is looked up again under the lock: a fetch may have stored the
/// token since lookup(), and a miss needs the expired entry's refresh token.
pending_decision decide(pending_call& call, const std::shared_ptr<waiter<actor_token>>& w, token_store::shard& s)
{
    pending_decision d;
    auto& options = call.options;
    const bool caching = call.cfg->cache.enabled;
    const auto now = std::chrono::system_clock::now();
    auto& hit = d.hit;
    if (caching)
        hit = s.cache.lookup(call.key, now);
    if (options.force_authorization && hit.blocked) {
        hit.st = token_cache::state::blocked; // forcing does not override the server's Retry-After
    } else if (options.force_authorization) {
        if (hit.st == token_cache::state::renew)
            s.cache.renewal_failed(call.key, now, now); // not started after all: the fetch below renews
        if (caching && hit.st != token_cache::state::miss)
            hit.refresh_token = s.cache.refresh_token(call.key);
        hit.st = token_cache::state::miss;
    }
    if (hit.st != token_cache::state::renew && hit.st != token_cache::state::miss)
        return d;
    auto& slot = s.inflight[call.key];
    auto running = slot.lock();
    if (hit.st == token_cache::state::renew) {
        if (!running) { // one background renewal
            d.renewal = token_job::make(
                call.impl, fetch_request{call.cfg, call.grant, options.actor_token, call.key, std::move(hit.refresh_token), true});
            slot = d.renewal;
        } else { // a fetch already running renews the entry; if it fails, a later caller renews
            s.cache.renewal_failed(call.key, now, now);
        }
    } else if (running && !(options.force_authorization && call.impl->fleet) && running->add_waiter(w)) {
        // (A forced call with a fleet gets a fetch of its own: the running one
        // may adopt the very token the caller wants replaced.)
        d.joined = true;
    } else {
        d.job = token_job::make(call.impl, fetch_request{call.cfg, call.grant, std::move(options.actor_token), call.key,
                                                         std::move(hit.refresh_token), false,
                                                         options.force_authorization});
        d.job->add_waiter(w);
        slot = d.job;
    }
    return d;
}

} // namespace
} // namespace detail

void authorization_service::initiate_pending(pending_ptr call, diagnostics* diag,
                                             asio::any_completion_handler<completion_signature> handler)
{
    using namespace detail;
    const auto& impl = call->impl;
    auto w = std::make_shared<waiter<actor_token>>(std::move(handler), diag, impl->completion_ex);
    if (call->ec) {
        complete_waiter<actor_token>(std::move(w), impl->ex, call->ec, *call->diag, {});
        return;
    }
    auto d = impl->tokens.with_shard(call->key, [&](token_store::shard& s) { return decide(*call, w, s); });
    switch (d.hit.st) {
    case token_cache::state::fresh:
    case token_cache::state::renew:
        impl->report(metric::cache_hit);
        watch_cancellation(w);
        complete_waiter<actor_token>(std::move(w), impl->ex, {}, {}, std::move(d.hit.token));
        if (d.renewal) {
            impl->report(metric::renewal_started);
            d.renewal->start();
        }
        return;
    case token_cache::state::blocked:
        impl->report(metric::retry_after_honoured, d.hit.failure.ec);
        watch_cancellation(w);
        complete_waiter<actor_token>(std::move(w), impl->ex, d.hit.failure.ec, d.hit.failure.diag, {});
        return;
    case token_cache::state::miss:
        impl->report(d.joined ? metric::coalesced : metric::cache_miss);
        if (d.job)
            d.job->start();
        return;
    }
}

} // namespace tetrapak
