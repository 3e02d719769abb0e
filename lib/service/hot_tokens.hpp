// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_HOT_TOKENS_HPP
#define TETRAPAK_LIB_SERVICE_HOT_TOKENS_HPP

// Per-thread copies of the tokens each thread serves, so that a cache hit on a
// hot key writes no memory that another thread touches: no lock, no shared
// reference count. A copy is served only while the shard it came from is
// unchanged (its generation), before its refresh time, and for at most a
// second, after which the thread goes through the shard again (which keeps the
// key's place in the LRU order).

#include "../cache/token_cache.hpp"

#include <tetrapak/actor_token.hpp>

#include <cstdint>

namespace tetrapak::detail {

struct hot_token_ref {
    std::uint64_t store;      ///< token_store::id()
    std::uint64_t generation; ///< the shard's generation when the token was read
    const cache_key* key;
    std::size_t hash; ///< cache_key_hash of *key
};

/// Copies `out` from this thread's table when it holds a servable copy.
bool find_hot_token(const hot_token_ref& ref, sys_clock::time_point now, actor_token& out);

/// Keeps a copy of `token` (read from its shard at `ref.generation`) in this
/// thread's table until `until` (at most a second from `now`).
void remember_hot_token(const hot_token_ref& ref, const actor_token& token, sys_clock::time_point now,
                        sys_clock::time_point until);

} // namespace tetrapak::detail

#endif
