// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// How an exchange gets its connection: an idle one, a new one within the
// endpoint's bound, or a place in the endpoint's queue; and, through a proxy,
// the CONNECT request and what its answer means.

#include "connection.hpp"
#include "exchange_parts.hpp"

#include <tetrapak/error.hpp>

#include <string>

namespace tetrapak::detail {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using access = diagnostics_access;

/// The authority the tunnel is asked for: always host:port (RFC 9110 §9.3.6).
static std::string tunnel_authority(const endpoint& ep)
{
    return (ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host) + ":" + ep.port;
}

void http_exchange::prepare_tunnel()
{
    tunnel_ = std::make_unique<tunnel>();
    auto& req = tunnel_->req;
    const std::string authority = tunnel_authority(ep_);
    req.method(http::verb::connect);
    req.target(authority);
    req.version(11);
    req.set(http::field::host, authority);
    if (!proxy_->authorization.empty())
        req.set(http::field::proxy_authorization, proxy_->authorization);
    tunnel_->res.skip(true);
    tunnel_->res.header_limit(static_cast<std::uint32_t>(limits_.max_header));
}

/// What the proxy's answer to CONNECT means for the exchange.
error_code http_exchange::tunnel_result(error_code ec)
{
    if (ec)
        return ec; // translate() names the proxy
    const unsigned status = tunnel_->res.get().result_int();
    tunnel_.reset();
    if (status >= 200 && status < 300)
        return conn_->buffer.size() == 0 ? error_code() : error_code(error::proxy_bad_response);
    access::http_status(diag) = status;
    access::client_message(diag) =
        "proxy " + proxy_->display + " answered " + std::to_string(status) + " to CONNECT " + tunnel_authority(ep_);
    // 407 is the standard answer; some proxies (tinyproxy) answer wrong credentials with 401.
    return status == 407 || status == 401 ? error::proxy_auth_required : error::proxy_refused;
}

/// An idle connection, else a new one if the endpoint's bound allows it, else
/// a place in the endpoint's queue (wait_).
void http_exchange::take_connection()
{
    conn_ = tc_->pool.take(pool_key_, limits_.connections.idle_timeout);
    reused_ = conn_ != nullptr;
    if (reused_) {
        tc_->counters->report(metric::connection_reused);
        return;
    }
    const std::size_t max = limits_.connections.max_per_endpoint;
    if (max == 0) {
        conn_.reset(new connection(tc_->ex, *tc_->tls, nullptr));
        return;
    }
    slots_ = tc_->pool.slots(pool_key_);
    auto wait = std::make_shared<slot_wait>(tc_->ex, strand_);
    if (slots_->acquire_or_queue(max, wait))
        conn_.reset(new connection(tc_->ex, *tc_->tls, slots_));
    else
        wait_ = std::move(wait);
}

/// The wait ended (a slot came, the time ran out, or the call was
/// cancelled): takes what was given, even when cancelled, so that the slot
/// or idle connection is freed with this exchange rather than lost.
error_code http_exchange::end_connection_wait(bool cancelled)
{
    const bool got = slots_->withdraw(wait_);
    if (got && wait_->status == slot_request::state::handed) {
        conn_ = std::move(wait_->handed);
        reused_ = true;
        tc_->counters->report(metric::connection_reused);
    } else if (got) {
        conn_.reset(new connection(tc_->ex, *tc_->tls, slots_));
    }
    const error_code ec = cancelled ? error_code(asio::error::operation_aborted)
                          : got     ? error_code()
                                    : error_code(error::connection_wait_timeout);
    tc_->counters->report(metric::connection_wait, ec, std::chrono::steady_clock::now() - wait_->began);
    wait_.reset();
    return ec;
}

} // namespace tetrapak::detail
