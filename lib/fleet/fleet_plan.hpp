// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_FLEET_FLEET_PLAN_HPP
#define TETRAPAK_LIB_FLEET_FLEET_PLAN_HPP

// What a fetch does next with the fleet's shared store, from what it saw
// there. Pure: the token job's coordinator asks after each look.
//
//   look --token--> adopt (no request)
//        --Retry-After--> blocked (the fleet backs off together)
//        --nothing, unlocked--> lock --won--> fetch holding the lock
//                                    --lost--> look again
//        --nothing, locked--> wait (news or a poll), then look again
//        --Redis unreachable, or waited max_wait--> fetch alone
// A background renewal adopts only a token renewed after its own (one whose
// refresh time has not come); an older one is what it is renewing.

#include "fleet_store.hpp"

namespace tetrapak::detail {

enum class fleet_step { adopt, blocked, lock, wait, fetch_alone };

/// Whether tokens of `cfg` go to the shared store. DPoP tokens bound to a
/// key the service generated are this process's alone; tokens of a
/// configuration with caching off are kept nowhere.
inline bool fleet_shares(const auth_config& cfg) noexcept
{
    return cfg.cache.enabled && !(cfg.dpop.enabled && !cfg.dpop.key);
}

inline fleet_step next_fleet_step(const fleet_view& v, bool background, sys_clock::time_point now,
                                  bool waited_enough) noexcept
{
    if (!v.reachable)
        return fleet_step::fetch_alone;
    if (v.token && (!background || v.token->times.refresh_at > now))
        return fleet_step::adopt;
    if (v.failure)
        return fleet_step::blocked;
    if (!v.locked)
        return fleet_step::lock;
    return waited_enough ? fleet_step::fetch_alone : fleet_step::wait;
}

/// How long to wait for news before looking again: short enough that a
/// missed notification costs little, long enough to keep Redis quiet.
inline std::chrono::milliseconds fleet_poll_interval(const fleet_settings& s) noexcept
{
    return std::clamp(s.lock_ttl / 20, std::chrono::milliseconds(10), std::chrono::milliseconds(100));
}

} // namespace tetrapak::detail

#endif
