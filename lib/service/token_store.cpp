// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "token_store.hpp"

#include <chrono>

namespace tetrapak::detail {

namespace {
/// Small caches stay one shard, so their bound is exact LRU; larger ones are
/// split so that concurrent calls for different keys rarely share a lock.
std::size_t shard_count(std::size_t max_entries)
{
    return max_entries >= 1024 ? 16 : 1;
}

std::uint64_t next_store_id()
{
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}
} // namespace

token_store::token_store(std::size_t max_entries) : id_(next_store_id()), count_(shard_count(max_entries ? max_entries : 1))
{
    const std::size_t each = ((max_entries ? max_entries : 1) + count_ - 1) / count_;
    for (std::size_t i = 0; i < count_; ++i)
        shards_[i] = std::make_unique<locked_shard>(each);
}

void token_store::shard::forget(const cache_key& key, const token_job* job)
{
    auto it = inflight.find(key);
    if (it != inflight.end() && it->second.lock().get() == job)
        inflight.erase(it);
}

void token_store::shard::sweep_now_and_then(sys_clock::time_point now)
{
    if (now - last_sweep > std::chrono::seconds(60)) {
        cache.sweep(now);
        last_sweep = now;
    }
}

void token_store::clear()
{
    for (std::size_t i = 0; i < count_; ++i) {
        std::lock_guard lock(shards_[i]->mtx);
        shards_[i]->generation.fetch_add(1, std::memory_order_release);
        shards_[i]->data.cache.clear();
    }
}

std::size_t token_store::size() const
{
    std::size_t n = 0;
    for (std::size_t i = 0; i < count_; ++i) {
        std::lock_guard lock(shards_[i]->mtx);
        n += shards_[i]->data.cache.size();
    }
    return n;
}

} // namespace tetrapak::detail
