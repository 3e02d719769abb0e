// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_METRICS_HPP
#define TETRAPAK_METRICS_HPP

/// \file
/// What the service counts (cache, single-flight, renewals, retries,
/// connections) and the hook that sees each event as it happens.

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string_view>

namespace tetrapak {

/// The events the service counts: one total each in service_stats, and the
/// `metric` of every metrics_event.
enum class metric {
    cache_hit,          ///< a caller got a cached token (no request)
    cache_miss,         ///< a caller found no usable token and started a fetch
    coalesced,          ///< a caller joined a fetch already in flight for its key
    renewal_started,    ///< a background renewal (refresh ahead) started
    renewal_succeeded,  ///< a background renewal stored a new token
    renewal_failed,     ///< a background renewal failed; the cached token is still served (ec set)
    retry,              ///< a failed attempt will be retried (ec: why; elapsed: the backoff)
    failure,            ///< a fetch failed for good (ec set)
    fetch,              ///< a fetch completed with a token (elapsed: its latency, all attempts)
    retry_after_honoured, ///< a caller was refused at once: the server's Retry-After for its key is running
    connection_opened,  ///< a new connection to a token endpoint (TCP connect)
    connection_reused,  ///< a request went over an idle keep-alive connection
    tls_resumed,        ///< a new connection's TLS handshake resumed an earlier session
    connection_wait,    ///< a request waited for a connection (max_per_endpoint busy); elapsed: the wait, ec: set when it gave up
    // the fleet's shared store (fleet_settings)
    fleet_hit,          ///< a fetch was answered by the shared store (another instance's token; no request)
    fleet_stored,       ///< this instance stored a token it fetched in the shared store
    fleet_waited,       ///< a fetch waited for another instance's (elapsed: how long)
    fleet_unavailable,  ///< Redis failed or the breaker is open (ec: why): this call went on without it
    fleet_breaker,      ///< the breaker opened (ec set) or closed again (no ec)
    fleet_rejected,     ///< a shared value did not open and was ignored (tampered, unknown key id, moved)
    fleet_dropped,      ///< another instance's forced fetch (`force_authorization`) or `invalidate` dropped this one's copy
};
/// The number of metrics: the size of service_stats::counts.
inline constexpr std::size_t metric_count = static_cast<std::size_t>(metric::fleet_dropped) + 1;

/// The enumerator's name, e.g. "cache_hit" ("unknown" for a value not listed).
std::string_view to_string(metric m) noexcept;

/// One event. Carries no secret, no token and no cache key.
struct metrics_event {
    tetrapak::metric metric;                        ///< what happened
    boost::system::error_code ec{};                 ///< why, for the metrics that say "ec"; else empty
    std::chrono::steady_clock::duration elapsed{};  ///< a duration, for the metrics that say "elapsed"; else zero
};

/// Prints the metric's name, the duration in microseconds when non-zero and
/// the error code when set.
std::ostream& operator<<(std::ostream& os, const metrics_event& e);

/// Called for every event, from whichever thread produced it (a caller's
/// thread for cache hits, the service's strands otherwise), never with a lock
/// held. Keep it cheap and non-blocking. Without a hook, an event costs one
/// relaxed atomic increment.
using metrics_hook = std::function<void(const metrics_event&)>;

/// Totals since the service was created (see authorization_service::stats).
struct service_stats {
    std::uint64_t counts[metric_count]{}; ///< one total per metric, indexed by its value
    /// The total of `m`.
    std::uint64_t operator[](metric m) const noexcept { return counts[static_cast<std::size_t>(m)]; }
};

/// Prints every metric as name=total.
std::ostream& operator<<(std::ostream& os, const service_stats& s);

} // namespace tetrapak

#endif
