// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_RETRY_POLICY_HPP
#define TETRAPAK_LIB_SERVICE_RETRY_POLICY_HPP

// Which failures are retried and after how long: pure, so unit tests check
// the schedule with chosen random samples.

#include <tetrapak/config.hpp>
#include <tetrapak/diagnostics.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <optional>

namespace tetrapak::detail {

/// True for failures another attempt may cure: transport errors (refused,
/// reset, end of stream, truncated TLS stream, name resolution "try again"),
/// our per-step timeouts, HTTP 5xx and 429. False for everything a repeat
/// cannot change: OAuth errors in a 4xx answer (invalid_client, invalid_grant,
/// unauthorized_client, invalid_scope, invalid_request, ...), certificate
/// failures, malformed answers, configuration errors, cancellation.
bool is_retryable(boost::system::error_code ec, const diagnostics& diag) noexcept;

/// The wait before attempt `attempts_done + 1`, or nothing when the failure
/// is final: not retryable, attempts used up, or a server Retry-After longer
/// than `s.max_delay`. Full jitter: `random01` (in [0, 1)) times
/// min(max_delay, base_delay * 2^(attempts_done - 1)); never shorter than the
/// server's Retry-After.
std::optional<std::chrono::milliseconds> retry_delay(const retry_settings& s, int attempts_done,
                                                     boost::system::error_code ec, const diagnostics& diag,
                                                     double random01) noexcept;

/// A uniform sample in [0, 1) from a per-thread generator (for jitter).
double random_unit() noexcept;

} // namespace tetrapak::detail

#endif
