// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "token_cache.hpp"

#include "../detail/sha256.hpp"
#include "../detail/token_state.hpp"

#include <tetrapak/dpop.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <vector>

namespace tetrapak::detail {

std::string_view dpop_identity(const auth_config& cfg) noexcept
{
    if (!cfg.dpop.enabled)
        return {};
    // The service's generated key is one per service, and so is the cache.
    return cfg.dpop.key ? cfg.dpop.key->thumbprint() : std::string_view("dpop: the service's key");
}

digest config_digest(const auth_config& cfg)
{
    sha256 h;
    if (!cfg.token_endpoint.empty()) {
        h.field("token_endpoint");
        h.field(cfg.token_endpoint);
    } else {
        h.field("discovery_document_url");
        h.field(cfg.discovery_document_url);
    }
    h.field(cfg.client_id);
    h.field(cfg.auth_method_from_discovery ? std::string_view("from discovery") : to_string(cfg.auth_method));
    std::vector<std::string_view> scopes(cfg.scope.begin(), cfg.scope.end());
    std::sort(scopes.begin(), scopes.end());
    scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
    h.field(std::to_string(scopes.size()));
    for (auto s : scopes)
        h.field(s);
    h.field(cfg.audience);
    h.field(cfg.resource);
    h.field(cfg.subject_token_type);
    h.field(cfg.requested_token_type);
    h.field(dpop_identity(cfg));
    h.field(cfg.jwt_bearer_subject);
    h.field(cfg.jwt_bearer_assertion.file);
    return h.finish();
}

config_digest_memo::fields::fields(const auth_config& c)
    : token_endpoint(c.token_endpoint), discovery_document_url(c.discovery_document_url), client_id(c.client_id),
      auth_method(c.auth_method), auth_method_from_discovery(c.auth_method_from_discovery), scope(c.scope),
      resource(c.resource), audience(c.audience), subject_token_type(c.subject_token_type),
      requested_token_type(c.requested_token_type), dpop(dpop_identity(c)), jwt_bearer_subject(c.jwt_bearer_subject),
      jwt_bearer_file(c.jwt_bearer_assertion.file)
{
}

bool config_digest_memo::fields::same_as(const auth_config& c) const noexcept
{
    return token_endpoint == c.token_endpoint && discovery_document_url == c.discovery_document_url &&
           client_id == c.client_id && auth_method == c.auth_method &&
           auth_method_from_discovery == c.auth_method_from_discovery && scope == c.scope && resource == c.resource &&
           audience == c.audience && subject_token_type == c.subject_token_type &&
           requested_token_type == c.requested_token_type && dpop == dpop_identity(c) &&
           jwt_bearer_subject == c.jwt_bearer_subject && jwt_bearer_file == c.jwt_bearer_assertion.file;
}

digest config_digest_memo::get(const std::shared_ptr<const auth_config>& cfg)
{
    const auth_config* key = cfg.get();
    {
        std::lock_guard lock(mtx_);
        if (auto it = map_.find(key); it != map_.end()) {
            auto& e = it->second;
            // Same control block: the very object, not a new one at a freed address.
            const bool same_object = !e.owner.owner_before(cfg) && !cfg.owner_before(e.owner) && !e.owner.expired();
            if (same_object && e.f.same_as(*cfg))
                return e.d;
        }
    }
    digest d = config_digest(*cfg);
    fields f(*cfg);
    std::lock_guard lock(mtx_);
    if (map_.size() >= 256) { // bounded: forget the configurations that are gone, or everything
        std::erase_if(map_, [](const auto& kv) { return kv.second.owner.expired(); });
        if (map_.size() >= 256)
            map_.clear();
    }
    map_.insert_or_assign(key, entry{cfg, std::move(f), d});
    return d;
}

std::size_t cache_key_hash::operator()(const cache_key& k) const noexcept
{
    std::size_t a = 0, b = 0;
    std::memcpy(&a, k.config.data(), sizeof a);
    std::memcpy(&b, k.subject.data(), sizeof b);
    return a ^ (b * 0x9e3779b97f4a7c15ull) ^ static_cast<std::size_t>(k.grant);
}

cache_key make_cache_key(const digest& config, grant_type grant, const actor_token& subject) noexcept
{
    cache_key k;
    k.config = config;
    k.grant = grant;
    if (grant == grant_type::token_exchange)
        k.subject = token_digest(subject);
    return k;
}

std::optional<token_times> token_lifetime(const actor_token& token, sys_clock::time_point sent_at,
                                          std::optional<sys_clock::time_point> subject_expiry,
                                          const cache_settings& s, double jitter)
{
    auto expires = token.expires_at();
    if (!expires)
        return std::nullopt; // the parser always sets one; a token without is never cached
    token_times t;
    t.expires = *expires;
    if (subject_expiry && *subject_expiry < t.expires)
        t.expires = *subject_expiry;
    const auto lifetime = t.expires - sent_at;
    if (lifetime <= sys_clock::duration::zero())
        return std::nullopt;
    const auto margin = std::min<sys_clock::duration>(s.min_validity, lifetime / 4);
    const auto lead = std::min<sys_clock::duration>(s.refresh_ahead, lifetime / 2);
    t.usable_until = t.expires - margin;
    jitter = std::clamp(jitter, 0.0, 1.0);
    const double spread = std::clamp(s.refresh_jitter, 0.0, 1.0) * jitter;
    auto early = std::chrono::duration_cast<sys_clock::duration>(lead * spread);
    t.refresh_at = std::max(sent_at, t.expires - lead - early);
    return t;
}

token_cache::lookup_result token_cache::lookup(const cache_key& key, sys_clock::time_point now)
{
    lookup_result r;
    if (!blocked_.empty()) {
        if (auto b = blocked_.find(key); b != blocked_.end()) {
            if (now < b->second.until) {
                r.st = state::blocked;
                r.blocked = true;
                r.failure = b->second.failure;
                auto left = std::chrono::ceil<std::chrono::seconds>(b->second.until - now);
                diagnostics_access::retry_after(r.failure.diag) = left;
            } else {
                blocked_.erase(b);
            }
        }
    }
    auto it = map_.find(key);
    if (it == map_.end())
        return r;
    auto& e = *it->second;
    lru_.splice(lru_.begin(), lru_, it->second);
    if (now >= e.times.usable_until) {
        if (r.st != state::blocked)
            r.refresh_token = e.refresh_token;
        return r;
    }
    // A usable token is served even while a Retry-After runs (stale-if-error).
    r.token = e.token;
    r.st = state::fresh;
    if (now >= e.times.refresh_at && !e.renewing && !r.blocked) {
        e.renewing = true;
        r.st = state::renew;
        r.refresh_token = e.refresh_token;
    }
    return r;
}

token_cache::probe_result token_cache::probe(const cache_key& key, sys_clock::time_point now, actor_token& out,
                                             sys_clock::time_point* serve_until)
{
    auto it = map_.find(key);
    if (it == map_.end())
        return probe_result::unusable;
    auto& e = *it->second;
    if (now >= e.times.usable_until)
        return probe_result::unusable;
    if (now >= e.times.refresh_at && !e.renewing) {
        // lookup starts no renewal while a Retry-After runs; it serves the token.
        auto b = blocked_.empty() ? blocked_.end() : blocked_.find(key);
        if (b == blocked_.end() || now >= b->second.until)
            return probe_result::renew;
    }
    if (it->second != lru_.begin())
        lru_.splice(lru_.begin(), lru_, it->second);
    out = e.token;
    if (serve_until)
        *serve_until = std::min(e.times.refresh_at, e.times.usable_until);
    return probe_result::usable;
}

void token_cache::store(const cache_key& key, actor_token token, const token_times& t, std::string refresh_token)
{
    blocked_.erase(key);
    if (auto it = map_.find(key); it != map_.end()) {
        auto& e = *it->second;
        e.token = std::move(token);
        e.times = t;
        e.refresh_token = std::move(refresh_token);
        e.renewing = false;
        lru_.splice(lru_.begin(), lru_, it->second);
        return;
    }
    lru_.push_front(entry{key, std::move(token), t, std::move(refresh_token), false});
    map_.emplace(key, lru_.begin());
    while (map_.size() > max_entries_) {
        map_.erase(lru_.back().key);
        lru_.pop_back();
    }
}

void token_cache::renewal_failed(const cache_key& key, sys_clock::time_point now, sys_clock::time_point retry_at)
{
    auto it = map_.find(key);
    if (it == map_.end())
        return;
    auto& e = *it->second;
    e.renewing = false;
    // Try again before the token stops being served, if there is room for it.
    if (retry_at >= e.times.usable_until && now < e.times.usable_until)
        retry_at = now + (e.times.usable_until - now) / 2;
    e.times.refresh_at = std::max(retry_at, now);
}

std::string token_cache::refresh_token(const cache_key& key) const
{
    auto it = map_.find(key);
    return it == map_.end() ? std::string() : it->second->refresh_token;
}

void token_cache::drop_refresh_token(const cache_key& key)
{
    if (auto it = map_.find(key); it != map_.end())
        it->second->refresh_token.clear();
}

void token_cache::block(const cache_key& key, sys_clock::time_point until, remembered_failure f)
{
    blocked_[key] = blocked_entry{until, std::move(f)};
    if (blocked_.size() > max_entries_) { // a storm of distinct keys: keep the bound, drop the oldest records
        auto oldest = blocked_.begin();
        for (auto it = blocked_.begin(); it != blocked_.end(); ++it)
            if (it->second.until < oldest->second.until)
                oldest = it;
        blocked_.erase(oldest);
    }
}

bool token_cache::invalidate(const cache_key& key)
{
    blocked_.erase(key);
    auto it = map_.find(key);
    if (it == map_.end())
        return false;
    lru_.erase(it->second);
    map_.erase(it);
    return true;
}

void token_cache::clear()
{
    map_.clear();
    lru_.clear();
    blocked_.clear();
}

std::size_t token_cache::sweep(sys_clock::time_point now)
{
    std::size_t removed = 0;
    for (auto it = lru_.begin(); it != lru_.end();) {
        if (now >= it->times.expires && it->refresh_token.empty() && !it->renewing) {
            map_.erase(it->key);
            it = lru_.erase(it);
            ++removed;
        } else {
            ++it;
        }
    }
    std::erase_if(blocked_, [&](const auto& b) { return now >= b.second.until; });
    return removed;
}

} // namespace tetrapak::detail
