// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_TOKEN_STORE_HPP
#define TETRAPAK_LIB_SERVICE_TOKEN_STORE_HPP

// The service's tokens: the cache and the fetches in flight, split into
// shards by key, each with its own mutex (never held across I/O or a handler
// call). Calls for different keys rarely meet on one lock.

#include "../cache/token_cache.hpp"

#include <array>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace tetrapak::detail {

class token_job;

class token_store {
public:
    /// What one shard holds; touch it only inside with_shard().
    struct shard {
        explicit shard(std::size_t max_entries) : cache(max_entries) {}
        token_cache cache;
        /// The fetch (or background renewal) running for a key.
        std::unordered_map<cache_key, std::weak_ptr<token_job>, cache_key_hash> inflight;
        sys_clock::time_point last_sweep = sys_clock::now();

        /// Removes `job` from the in-flight map, if it is still there.
        void forget(const cache_key& key, const token_job* job);
        /// Sweeps expired entries at most once a minute.
        void sweep_now_and_then(sys_clock::time_point now);
    };

    /// `max_entries` bounds the whole store; large stores are split into
    /// shards with an equal share each (so the bound holds per shard).
    explicit token_store(std::size_t max_entries);

    /// Runs `f(shard&)` with the key's shard locked.
    template <class F>
    decltype(auto) with_shard(const cache_key& key, F&& f)
    {
        auto& s = *shards_[cache_key_hash{}(key) % count_];
        std::lock_guard lock(s.mtx);
        return f(s.data);
    }

    void clear();
    std::size_t size() const;

private:
    struct locked_shard {
        explicit locked_shard(std::size_t max_entries) : data(max_entries) {}
        mutable std::mutex mtx;
        shard data;
    };
    static constexpr std::size_t max_shards = 16;
    std::size_t count_;
    std::array<std::unique_ptr<locked_shard>, max_shards> shards_;
};

} // namespace tetrapak::detail

#endif
