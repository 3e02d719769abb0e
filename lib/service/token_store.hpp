// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_TOKEN_STORE_HPP
#define TETRAPAK_LIB_SERVICE_TOKEN_STORE_HPP

// The service's tokens: the cache and the fetches in flight, split into
// shards by key, each with its own mutex (never held across I/O or a handler
// call). Calls for different keys rarely meet on one lock.

#include "../cache/token_cache.hpp"

#include <array>
#include <atomic>
#include <cstdint>
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

    /// Runs `f(shard&)` with the key's shard locked. The shard counts as
    /// changed: copies of its tokens held per thread (hot_tokens) are no
    /// longer served.
    template <class F>
    decltype(auto) with_shard(const cache_key& key, F&& f)
    {
        auto& s = shard_of(cache_key_hash{}(key));
        std::lock_guard lock(s.mtx);
        s.generation.fetch_add(1, std::memory_order_release);
        return f(s.data);
    }

    /// The cache-hit path: `f(shard&)` with the shard locked, for a call that
    /// changes nothing a served token depends on (it may mark the entry used
    /// or start its renewal); `generation` is the shard's, read under the lock.
    template <class F>
    decltype(auto) probe_shard(std::size_t hash, std::uint64_t& generation, F&& f)
    {
        auto& s = shard_of(hash);
        std::lock_guard lock(s.mtx);
        generation = s.generation.load(std::memory_order_relaxed);
        return f(s.data);
    }

    /// The generation of the shard of a key with this hash (no lock).
    std::uint64_t generation(std::size_t hash) const
    {
        return shard_of(hash).generation.load(std::memory_order_acquire);
    }

    /// Unique per store for the life of the process (never reused).
    std::uint64_t id() const noexcept { return id_; }

    void clear();
    std::size_t size() const;

private:
    struct locked_shard {
        explicit locked_shard(std::size_t max_entries) : data(max_entries) {}
        /// Read by every hit, written only when the shard changes: on a cache
        /// line of its own, away from the mutex that every locked call writes.
        alignas(64) std::atomic<std::uint64_t> generation{1};
        alignas(64) mutable std::mutex mtx;
        shard data;
    };
    locked_shard& shard_of(std::size_t hash) const { return *shards_[hash % count_]; }

    std::uint64_t id_;
    static constexpr std::size_t max_shards = 16;
    std::size_t count_;
    std::array<std::unique_ptr<locked_shard>, max_shards> shards_;
};

} // namespace tetrapak::detail

#endif
