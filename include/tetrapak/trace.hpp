// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TRACE_HPP
#define TETRAPAK_TRACE_HPP

/// \file
/// The steps of one token request and the hook that sees each of them
/// (authorization_service::set_trace).

#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <iosfwd>
#include <string_view>

namespace tetrapak {

/// The steps of one token request, in order (discover only when the token
/// endpoint comes from a discovery document; it spans the shared fetch).
/// resolve and connect name the proxy's address when a proxy is used;
/// proxy_connect is the CONNECT request that opens the tunnel through it;
/// connection_wait is time spent waiting for connections.max_per_endpoint.
enum class step { discover, resolve, connect, handshake, write, read_header, read_body, parse, connection_wait, proxy_connect };

/// The enumerator's name, e.g. "read_header" ("unknown" for a value not listed).
std::string_view to_string(step s) noexcept;

/// One step starting or finishing. Carries no secret and no token.
struct trace_event {
    tetrapak::step step;                    ///< which step
    bool finished = false;                  ///< false: starting; true: finished
    boost::system::error_code ec;           ///< the step's result (finished events)
    std::chrono::steady_clock::duration elapsed{}; ///< the step's duration (finished events)
};

/// Prints the step and what happened: "connect started", or "connect finished
/// in 1234 us" followed by the error code when the step failed.
std::ostream& operator<<(std::ostream& os, const trace_event& e);

/// Called on the service's internal strand for every step of every request.
/// Keep it cheap; it must not block.
using trace_hook = std::function<void(const trace_event&)>;

} // namespace tetrapak

#endif
