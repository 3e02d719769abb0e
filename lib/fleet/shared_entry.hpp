// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_FLEET_SHARED_ENTRY_HPP
#define TETRAPAK_LIB_FLEET_SHARED_ENTRY_HPP

// What the fleet keeps in Redis for one cache key, and how it is named and
// written there. Pure: no I/O, no clock (the caller passes `now`).
//
// Redis keys (P = fleet.key_prefix, D = hex SHA-256 of the cache key):
//   P t:D        the token, sealed (PX: its usable life)
//   P t:D:ra     the server's Retry-After for the key, sealed (PX: its delay)
//   P t:D:lock   the fetcher's lock: a random owner value (PX: fleet.lock_ttl)
// Channel P events: "ready D" (a token was stored for D) and
// "drop I K" (instance I renewed or invalidated the cache key K, in hex:
// others drop their in-process copy). No raw token, secret or key appears
// in a Redis key or message; D and K are digests.

#include "../cache/token_cache.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace tetrapak::detail {

/// A token as the fleet shares it: with the times every instance uses, so
/// that they all renew ahead at once.
struct shared_token {
    actor_token token;         ///< without its refresh token
    token_times times;
    std::string refresh_token; ///< empty unless fleet.share_refresh_tokens
};

/// A server's Retry-After for a key, shared so that the fleet backs off together.
struct shared_failure {
    remembered_failure failure; ///< only the library's own error categories are shared
    sys_clock::time_point until;
};

struct fleet_names {
    std::string digest; ///< D, 64 hex digits
    std::string token, retry_after, lock;
};

/// `bytes` as lower-case hex.
std::string lower_hex(std::string_view bytes);

fleet_names names_for(std::string_view prefix, const cache_key& key);
std::string channel_for(std::string_view prefix);

/// The cache key as 130 hex digits (for "drop" messages), and back.
std::string key_to_hex(const cache_key& key);
std::optional<cache_key> key_from_hex(std::string_view hex);

/// JSON plaintexts of the envelopes (versioned). decode_* return nothing for
/// anything malformed, and for a token no longer usable at `now`.
std::string encode_token(const shared_token& t);
std::optional<shared_token> decode_token(std::string_view json, sys_clock::time_point now);
std::string encode_failure(const shared_failure& f);
std::optional<shared_failure> decode_failure(std::string_view json, sys_clock::time_point now);

/// A message on the channel.
struct fleet_message {
    enum class kind { ready, drop } what = kind::ready;
    std::string digest;   ///< ready: D
    std::string instance; ///< drop: who sent it
    std::optional<cache_key> key; ///< drop: whose copies to drop
};
std::string ready_message(std::string_view digest);
std::string drop_message(std::string_view instance, const cache_key& key);
std::optional<fleet_message> parse_message(std::string_view text);

} // namespace tetrapak::detail

#endif
