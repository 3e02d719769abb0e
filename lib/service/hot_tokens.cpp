// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "hot_tokens.hpp"

#include <algorithm>
#include <array>
#include <chrono>

namespace tetrapak::detail {

namespace {

struct hot_entry {
    std::uint64_t store = 0; ///< 0: empty
    std::uint64_t generation = 0;
    cache_key key{};
    sys_clock::time_point until{};
    actor_token token; ///< an unshared copy: its reference count is this thread's alone; empty: only seen once
};

/// Direct-mapped by key hash: a thread's hot keys are few; a collision only
/// sends a hit through its shard.
constexpr std::size_t table_size = 64;
constexpr std::chrono::seconds max_hold{1};

hot_entry& slot_for(std::size_t hash)
{
    thread_local std::array<hot_entry, table_size> table;
    return table[(hash >> 4) % table_size];
}

} // namespace

bool find_hot_token(const hot_token_ref& ref, sys_clock::time_point now, actor_token& out)
{
    auto& e = slot_for(ref.hash);
    if (e.store != ref.store || e.generation != ref.generation || now >= e.until || e.token.empty() ||
        !(e.key == *ref.key))
        return false;
    out = e.token;
    return true;
}

void remember_hot_token(const hot_token_ref& ref, const actor_token& token, sys_clock::time_point now,
                        sys_clock::time_point until)
{
    until = std::min(until, now + max_hold);
    if (until <= now)
        return;
    auto& e = slot_for(ref.hash);
    const bool same = e.store == ref.store && e.generation == ref.generation && e.key == *ref.key;
    if (!same) {
        // First sight of this key here: remember only the key. A thread that
        // hits keys at random (many keys, few hits each) would otherwise copy a
        // token (an allocation) on every hit and never use the copy.
        e.token = actor_token();
        e.store = ref.store;
        e.generation = ref.generation;
        e.key = *ref.key;
    } else if (e.token.empty()) {
        e.token = unshared_copy(token); // seen again: hot; once per thread and shard change
    }
    e.until = until;
}

} // namespace tetrapak::detail
